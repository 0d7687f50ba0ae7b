//! The edge between HTTP and the service: extractors for the caller's token
//! and for JSON and protobuf bodies, and the two answer formats.
//!
//! Every endpoint answers in its own format, errors included, so each
//! extractor and answer is generic over a [`Format`]: [`JsonFormat`] or
//! [`ProtoFormat`]. [`ApiError`] is where an [`Error`] becomes a response.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use prost::Message;
use serde::de::DeserializeOwned;
use serde::Serialize;
use yhconv_proto::endpoints::Answer;
use yhconv_proto::json::Reply;
use yhconv_proto::pb::{Status, StatusOnly};

use super::AppState;
use crate::domain::error::Error;
use crate::domain::ids::Id;

static REQUEST_NUMBER: AtomicI64 = AtomicI64::new(1);

/// A fresh per-request number for `Status.number`.
pub fn next_request_number() -> i64 {
    REQUEST_NUMBER.fetch_add(1, Ordering::Relaxed)
}

/// Whether the endpoint at `path` answers protobuf (else JSON), as its
/// declaration in [`yhconv_proto::endpoints`] says.
pub fn answers_protobuf(path: &str) -> bool {
    yhconv_proto::endpoints::find(path).is_some_and(|e| e.answer == Answer::Protobuf)
}

/// `error` answered in the format of the endpoint at `path` (JSON for a path
/// that is none): for what happens outside a handler (unknown paths,
/// time-outs, panics).
pub fn error_response(path: &str, error: Error) -> Response {
    match answers_protobuf(path) {
        true => ApiError::<ProtoFormat>::from(error).into_response(),
        false => ApiError::<JsonFormat>::from(error).into_response(),
    }
}

/// An answer format: how an error looks in it.
pub trait Format: Send + Sync + 'static {
    /// The body of an error answer.
    fn error_body(code: i32, msg: String) -> Response;
}

/// JSON answers: `{"code", "msg"}`.
pub struct JsonFormat;
/// Protobuf answers: a message holding only `Status` in field 1.
pub struct ProtoFormat;

impl Format for JsonFormat {
    fn error_body(code: i32, msg: String) -> Response {
        axum::Json(Reply::<()> { code, msg, data: None }).into_response()
    }
}

impl Format for ProtoFormat {
    fn error_body(code: i32, msg: String) -> Response {
        let status = Status { number: next_request_number(), code, msg };
        Proto(StatusOnly { status: Some(status) }).into_response()
    }
}

/// An [`Error`] on its way out in format `F`: [`Error::http_status`],
/// [`Error::code`] and [`Error::public_message`] decide what the caller
/// sees; here only the body's format is chosen, and our own faults logged.
pub struct ApiError<F>(pub Error, PhantomData<F>);

impl<F> From<Error> for ApiError<F> {
    fn from(e: Error) -> Self {
        Self(e, PhantomData)
    }
}

impl<F: Format> IntoResponse for ApiError<F> {
    fn into_response(self) -> Response {
        let error = self.0;
        match &error {
            Error::Internal(e) => tracing::error!(error = %format!("{e:#}"), "internal error"),
            other => tracing::debug!(error = %other, "request refused"),
        }
        let mut response = F::error_body(error.code(), error.public_message());
        *response.status_mut() = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        response
    }
}

/// A protobuf answer (`application/x-protobuf`).
pub struct Proto<T>(pub T);

impl<T: Message> IntoResponse for Proto<T> {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, HeaderValue::from_static("application/x-protobuf"))], self.0.encode_to_vec())
            .into_response()
    }
}

/// A JSON success answer: `{"code":1,"msg":"success"[,"data":...]}`.
pub fn json_ok<T: Serialize>(data: Option<T>) -> axum::Json<Reply<T>> {
    axum::Json(Reply::ok(data))
}

/// A fresh success [`Status`].
pub fn ok_status() -> Option<Status> {
    Some(Status::ok(next_request_number()))
}

/// The logged-in caller, from the `token` header. Rejects with `-101` in
/// format `F`.
pub struct Auth<F> {
    pub user: Id,
    pub token: String,
    _format: PhantomData<F>,
}

impl<F: Format> FromRequestParts<AppState> for Auth<F> {
    type Rejection = ApiError<F>;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = parts.headers.get("token").and_then(|v| v.to_str().ok()).unwrap_or("").trim().to_owned();
        let user = state.service.authenticate(Some(&token)).await?;
        state.limits.check_token(&token)?;
        Ok(Self { user, token, _format: PhantomData })
    }
}

/// The caller when the request carries a valid token, else nobody (for
/// calls that answer anyone, such as `user/get-user`).
pub struct MaybeAuth {
    pub user: Option<Id>,
}

impl FromRequestParts<AppState> for MaybeAuth {
    type Rejection = ApiError<ProtoFormat>;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = parts.headers.get("token").and_then(|v| v.to_str().ok()).unwrap_or("").trim().to_owned();
        if token.is_empty() {
            return Ok(Self { user: None });
        }
        match state.service.authenticate(Some(&token)).await {
            Ok(user) => {
                state.limits.check_token(&token)?;
                Ok(Self { user: Some(user) })
            }
            Err(Error::Unauthorized(_)) => Ok(Self { user: None }),
            Err(other) => Err(other.into()),
        }
    }
}

/// A body read whole, for calls whose clients send either JSON or
/// protobuf (`group/invite`, `friend/request-list`).
pub struct RawBody(pub Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiError<JsonFormat>;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self(body_bytes::<JsonFormat>(req, state).await?))
    }
}

impl RawBody {
    /// Whether the body is a JSON object (its first non-blank byte is `{`).
    pub fn is_json(&self) -> bool {
        self.0.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
    }

    /// The body as JSON of type `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.0).map_err(|e| Error::invalid(format!("malformed JSON body: {e}")))
    }
}

async fn body_bytes<F: Format>(req: Request, state: &AppState) -> Result<Bytes, ApiError<F>> {
    let limit = state.config.max_body_bytes;
    axum::body::to_bytes(req.into_body(), limit).await.map_err(|e| {
        let inner = e.into_inner();
        if inner.is::<http_body_util::LengthLimitError>() {
            Error::invalid(format!("request body is larger than {limit} bytes")).into()
        } else {
            Error::invalid(format!("could not read request body: {inner}")).into()
        }
    })
}

/// A JSON request body; malformed JSON, missing keys and wrong types are
/// `-1` errors naming the problem.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError<JsonFormat>;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes::<JsonFormat>(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::invalid("request body is empty; a JSON object is expected").into());
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| Error::invalid(format!("malformed JSON body: {e}")).into())
    }
}

/// A protobuf request body (an empty body decodes to all defaults), decoded
/// leniently (see [`decode_lenient`]).
pub struct ProtoBody<T>(pub T);

impl<T: Message + Default> FromRequest<AppState> for ProtoBody<T> {
    type Rejection = ApiError<ProtoFormat>;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes::<ProtoFormat>(req, state).await?;
        decode_lenient(&bytes)
            .map(ProtoBody)
            .map_err(|e| Error::invalid(format!("malformed protobuf body: {e}")).into())
    }
}

/// Decodes `bytes` as Yunhu's (Go) server does: a known field sent with the
/// wrong wire type is skipped like an unknown one (one Android client posts
/// a by-mid-seq body, with a varint in field 3, to list-message, whose
/// field 3 is a string). Truncated or unparseable bodies, and strings that
/// are not UTF-8, stay errors.
pub fn decode_lenient<T: Message + Default>(bytes: &[u8]) -> Result<T, prost::DecodeError> {
    let wrong_wire_type = |e: &prost::DecodeError| e.to_string().contains("invalid wire type");
    let first = match T::decode(bytes) {
        Ok(message) => return Ok(message),
        Err(e) if !wrong_wire_type(&e) => return Err(e),
        Err(e) => e,
    };
    // Keep the top-level fields that decode on their own.
    let mut kept = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        let start = bytes.len() - rest.len();
        let (tag, wire_type) = prost::encoding::decode_key(&mut rest)?;
        prost::encoding::skip_field(wire_type, tag, &mut rest, prost::encoding::DecodeContext::default())?;
        let field = &bytes[start..bytes.len() - rest.len()];
        match T::decode(field) {
            Ok(_) => kept.extend_from_slice(field),
            Err(e) if wrong_wire_type(&e) => {}
            Err(_) => return Err(first),
        }
    }
    T::decode(kept.as_slice())
}

#[cfg(test)]
mod tests {
    use yhconv_proto::pb::{ListMessageRequest, SendMessage};

    use super::*;

    #[test]
    fn a_wrong_wire_type_is_skipped_like_an_unknown_field() {
        // MD3's by-mid-seq body sent to list-message: 3 = varint -1, 4 = 2,
        // 5 = "9", 7 = 10, 8 = "m".
        let mut body = vec![0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        body.extend([0x20, 2, 0x2a, 1, b'9', 0x38, 10, 0x42, 1, b'm']);
        let req: ListMessageRequest = decode_lenient(&body).unwrap();
        assert_eq!(req, ListMessageRequest { msg_count: 0, msg_id: String::new(), chat_type: 2, chat_id: "9".into() });
    }

    #[test]
    fn broken_bodies_stay_errors() {
        assert!(decode_lenient::<SendMessage>(&[0x12, 0x10, b'a']).is_err(), "truncated");
        assert!(decode_lenient::<SendMessage>(&[0x17, 0x01]).is_err(), "wire type 7");
        assert!(decode_lenient::<SendMessage>(&[0x12, 0x02, 0xc3, 0x28]).is_err(), "msg_id not UTF-8");
        // A wrong wire type beside a broken field: still an error.
        assert!(decode_lenient::<SendMessage>(&[0x10, 0x01, 0x12, 0x02, 0xc3, 0x28]).is_err());
    }
}
