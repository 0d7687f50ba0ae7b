//! Turning an HTTP answer into a value or an [`Error`], with no I/O.
//!
//! The protocol answers errors in the endpoint's own format and (for `-101`)
//! with a non-2xx status, so the body is decoded first and the status only
//! decides what to say when the body is not a protocol answer.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use yhconv_proto::{pb, CODE_OK};

use crate::error::{Error, Result};

/// A protobuf answer: any message whose field 1 is [`pb::Status`].
pub(crate) trait Answer: prost::Message + Default {
    /// Field 1, if the server sent it.
    fn status(&self) -> Option<&pb::Status>;
}

macro_rules! answer {
    ($($t:ty),*) => {$(
        impl Answer for $t {
            fn status(&self) -> Option<&pb::Status> {
                self.status.as_ref()
            }
        }
    )*};
}
answer!(
    pb::StatusOnly,
    pb::ConversationList,
    pb::UserInfo,
    pb::ListMessageResponse,
    pb::GetUserResponse,
    pb::GroupInfoResponse,
    pb::BotListResponse,
    pb::ListMemberResponse,
    pb::BotInfoResponse,
    pb::BoardResponse,
    pb::AddressBookResponse,
    pb::CreateGroupResponse,
    pb::RequestListResponse
);

/// What came back: HTTP status, `Content-Type` (if any) and body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Raw<'a> {
    pub status: u16,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

impl Raw<'_> {
    fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn says(&self, what: &str) -> bool {
        self.content_type.is_some_and(|ct| ct.to_ascii_lowercase().contains(what))
    }

    /// [`Error::Status`] with the start of the body (or the reason phrase).
    fn status_error(&self) -> Error {
        const MAX_CHARS: usize = 200;
        let text = String::from_utf8_lossy(self.body);
        let text = text.trim();
        let shown = if text.is_empty() {
            reqwest::StatusCode::from_u16(self.status).ok().and_then(|s| s.canonical_reason()).unwrap_or("").to_owned()
        } else {
            text.chars().take(MAX_CHARS).collect()
        };
        Error::Status(self.status, shown)
    }

    /// Decodes a protobuf answer; `code != 1` or a missing status is
    /// [`Error::Api`] (a missing status reads as code 0, its default).
    pub fn protobuf<M: Answer>(&self) -> Result<M> {
        if self.says("json") {
            // A protobuf endpoint answering in JSON (a gateway, or a server
            // that reports some errors in JSON): keep its code and msg.
            if let Ok(env) = serde_json::from_slice::<Envelope>(self.body) {
                if env.code != CODE_OK {
                    return Err(Error::Api { code: env.code, msg: env.msg });
                }
            }
            return Err(match self.is_success() {
                true => Error::Decode("expected protobuf, got JSON".into()),
                false => self.status_error(),
            });
        }
        if !self.is_success() && self.says("text/") {
            return Err(self.status_error());
        }
        let msg = match M::decode(self.body) {
            Ok(m) => m,
            Err(e) if self.is_success() => return Err(e.into()),
            Err(_) => return Err(self.status_error()),
        };
        match msg.status() {
            Some(s) if s.code != CODE_OK => Err(Error::Api { code: s.code, msg: s.msg.clone() }),
            Some(_) if self.is_success() => Ok(msg),
            None if self.is_success() => Err(Error::Api { code: 0, msg: "answer carries no status".into() }),
            _ => Err(self.status_error()),
        }
    }

    /// Decodes a JSON answer `{"code","msg","data"}` and returns its `data`.
    pub fn json(&self) -> Result<Option<serde_json::Value>> {
        match serde_json::from_slice::<Envelope>(self.body) {
            Ok(env) if env.code != CODE_OK => Err(Error::Api { code: env.code, msg: env.msg }),
            Ok(env) if self.is_success() => Ok(env.data),
            Ok(_) => Err(self.status_error()),
            Err(e) if self.is_success() => Err(Error::Decode(format!("JSON answer: {e}"))),
            Err(_) => Err(self.status_error()),
        }
    }
}

/// `data` of a JSON answer as `T`; missing data is a decode error.
pub(crate) fn json_data<T: DeserializeOwned>(data: Option<serde_json::Value>) -> Result<T> {
    let data = data.ok_or_else(|| Error::Decode("JSON answer has no data".into()))?;
    serde_json::from_value(data).map_err(|e| Error::Decode(format!("JSON data: {e}")))
}

/// The JSON answer envelope, lenient about a missing `msg`.
#[derive(Deserialize)]
struct Envelope {
    code: i32,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    const PB: Option<&str> = Some("application/x-protobuf");
    const JSON: Option<&str> = Some("application/json; charset=utf-8");

    fn raw<'a>(status: u16, content_type: Option<&'a str>, body: &'a [u8]) -> Raw<'a> {
        Raw { status, content_type, body }
    }

    fn status_only(code: i32, msg: &str) -> Vec<u8> {
        let s = pb::Status { number: 114514, code, msg: msg.into() };
        pb::StatusOnly { status: Some(s) }.encode_to_vec()
    }

    #[test]
    fn protobuf_success() {
        let list = pb::ConversationList {
            status: Some(pb::Status::ok(1)),
            total: 0,
            md5: "abc".into(),
            data: vec![],
            ..Default::default()
        };
        let body = list.encode_to_vec();
        let got: pb::ConversationList = raw(200, PB, &body).protobuf().unwrap();
        assert_eq!(got, list);
    }

    #[test]
    fn protobuf_minus_101_with_401_is_api() {
        let body = status_only(-101, "未登录");
        let err = raw(401, PB, &body).protobuf::<pb::UserInfo>().unwrap_err();
        assert!(err.is_unauthorized(), "{err:?}");
        assert!(matches!(err, Error::Api { code: -101, ref msg } if msg == "未登录"));
    }

    #[test]
    fn protobuf_error_with_200_is_api() {
        let body = status_only(-1, "unknown chat 42");
        let err = raw(200, PB, &body).protobuf::<pb::ListMessageResponse>().unwrap_err();
        assert_eq!(err.to_string(), "server said -1: unknown chat 42");
    }

    #[test]
    fn protobuf_missing_status_is_api_code_0() {
        let err = raw(200, PB, &[]).protobuf::<pb::StatusOnly>().unwrap_err();
        assert_eq!(err.code(), Some(0));
    }

    #[test]
    fn protobuf_garbage_is_decode() {
        let err = raw(200, PB, &[0xff, 0xff, 0xff]).protobuf::<pb::StatusOnly>().unwrap_err();
        assert!(matches!(err, Error::Decode(_)), "{err:?}");
    }

    #[test]
    fn html_error_page_is_status() {
        let body = b"<html><body>502 Bad Gateway</body></html>";
        let err = raw(502, Some("text/html"), body).protobuf::<pb::StatusOnly>().unwrap_err();
        assert!(matches!(err, Error::Status(502, ref t) if t.contains("Bad Gateway")), "{err:?}");
        let err = raw(404, None, b"").protobuf::<pb::StatusOnly>().unwrap_err();
        assert!(matches!(err, Error::Status(404, ref t) if t == "Not Found"), "{err:?}");
    }

    #[test]
    fn protobuf_endpoint_answering_json_keeps_code() {
        let body = r#"{"code":-101,"msg":"未登录"}"#.as_bytes();
        let err = raw(401, JSON, body).protobuf::<pb::UserInfo>().unwrap_err();
        assert!(err.is_unauthorized());
    }

    #[test]
    fn json_success_and_data() {
        let body = br#"{"code":1,"msg":"success","data":{"token":"t0k"}}"#;
        let data = raw(200, JSON, body).json().unwrap();
        let login: yhconv_proto::json::LoginData = json_data(data).unwrap();
        assert_eq!(login.token, "t0k");
    }

    #[test]
    fn json_errors() {
        let err = raw(200, JSON, br#"{"code":-1,"msg":"wrong password"}"#).json().unwrap_err();
        assert!(matches!(err, Error::Api { code: -1, ref msg } if msg == "wrong password"));
        let err = raw(401, JSON, r#"{"code":-101,"msg":"未登录"}"#.as_bytes()).json().unwrap_err();
        assert!(err.is_unauthorized());
        let err = raw(500, None, b"oops").json().unwrap_err();
        assert!(matches!(err, Error::Status(500, ref t) if t == "oops"));
        let err = raw(200, JSON, b"not json").json().unwrap_err();
        assert!(matches!(err, Error::Decode(_)));
        let err = json_data::<yhconv_proto::json::LoginData>(None).unwrap_err();
        assert!(matches!(err, Error::Decode(_)));
    }

    #[test]
    fn long_bodies_are_cut() {
        let body = "x".repeat(5000);
        let Error::Status(_, text) = raw(503, None, body.as_bytes()).json().unwrap_err() else {
            panic!("not a status error");
        };
        assert_eq!(text.len(), 200);
    }
}
