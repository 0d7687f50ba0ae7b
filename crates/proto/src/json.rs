//! JSON request and response bodies.
//!
//! Keys are spelled as the protocol spells them (`chatId`, `noNotify`, ...).
//! Extra keys are ignored; missing required keys and wrong types are errors.

use serde::{Deserialize, Serialize};

/// Every JSON answer: `{"code": 1, "msg": "success", "data": ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply<T> {
    pub code: i32,
    pub msg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
}

impl<T> Reply<T> {
    /// A success answer carrying `data`.
    pub fn ok(data: Option<T>) -> Self {
        Self { code: crate::CODE_OK, msg: crate::MSG_OK.to_owned(), data }
    }
}

/// `{"chatId": "..."}`: dismiss-notification and remove.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatIdBody {
    #[serde(rename = "chatId")]
    pub chat_id: String,
}

/// `{"userId": "..."}`: sort-change (the target's id, whatever its type).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SortChangeBody {
    #[serde(rename = "userId")]
    pub user_id: String,
}

/// `{"chatId": "...", "noNotify": 0|1}`: friend/no-notify.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoNotifyBody {
    #[serde(rename = "chatId")]
    pub chat_id: String,
    #[serde(rename = "noNotify")]
    pub no_notify: u8,
}

/// `POST /v1/user/email-login` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailLoginBody {
    pub email: String,
    pub password: String,
    #[serde(rename = "deviceId", default)]
    pub device_id: String,
    #[serde(default)]
    pub platform: String,
}

/// `data` of a successful login.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginData {
    pub token: String,
}

/// A client WebSocket frame: `{"seq", "cmd", "data"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WsClientFrame {
    #[serde(default)]
    pub seq: String,
    pub cmd: String,
    #[serde(default)]
    pub data: serde_json::Value,
}

/// `data` of the WebSocket `login` command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WsLoginData {
    #[serde(rename = "userId")]
    pub user_id: String,
    pub token: String,
    #[serde(default)]
    pub platform: String,
    #[serde(rename = "deviceId", default)]
    pub device_id: String,
}

/// Platforms a WebSocket login may name.
pub const PLATFORMS: [&str; 7] = ["windows", "macos", "android", "linux", "ios", "fuchsia", "Web"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_camel_case() {
        let body = serde_json::to_string(&NoNotifyBody { chat_id: "1".into(), no_notify: 1 }).unwrap();
        assert_eq!(body, r#"{"chatId":"1","noNotify":1}"#);
    }

    #[test]
    fn numeric_chat_id_is_rejected() {
        assert!(serde_json::from_str::<ChatIdBody>(r#"{"chatId": 5}"#).is_err());
    }

    #[test]
    fn reply_without_data_omits_it() {
        let body = serde_json::to_string(&Reply::<()>::ok(None)).unwrap();
        assert_eq!(body, r#"{"code":1,"msg":"success"}"#);
    }
}
