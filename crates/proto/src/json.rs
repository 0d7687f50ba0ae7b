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

/// `{"chatId": "...", "noNotify": 0|1}`: friend/no-notify (`noNotify` may
/// also be `true`/`false`, as one client sends it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoNotifyBody {
    #[serde(rename = "chatId")]
    pub chat_id: String,
    #[serde(rename = "noNotify", deserialize_with = "lenient::flag")]
    pub no_notify: u8,
}

/// friend/delete-friend: `{"chatId","chatType"}`; the chat may also come as
/// `targetId` (one web client) or `userId` (one bot framework).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteFriendBody {
    #[serde(rename = "chatId", alias = "targetId", alias = "userId")]
    pub chat_id: String,
    #[serde(
        rename = "chatType",
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub chat_type: Option<u64>,
}

/// `data` of `GET /v1/misc/configure-distribution`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Distribution {
    pub audio_url: String,
    pub file_url: String,
    pub image_url: String,
    pub server_url: String,
    pub share_url: String,
    pub video_url: String,
    /// The push socket, as the client reached this server.
    pub websocket_url: String,
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
    /// yhconv: 1 (or `true`) asks for `yhconv_list_rows` frames on this
    /// socket. Stock clients never send it.
    #[serde(rename = "listChanges", default, deserialize_with = "lenient::flag", skip_serializing_if = "is_zero")]
    pub list_changes: u8,
}

fn is_zero(flag: &u8) -> bool {
    *flag == 0
}

/// `data` of the WebSocket `inputInfo` command: a draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputInfoData {
    #[serde(rename = "chatId")]
    pub chat_id: String,
    #[serde(default)]
    pub input: String,
    #[serde(rename = "deviceId", default)]
    pub device_id: String,
}

/// `{"chatId": "...", "chatType": 1|2|3}`: sticky/add and sticky/delete.
/// `chatType` may be left out; when given (a number or a numeric string) it
/// must match what `chatId` names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StickyChatBody {
    #[serde(rename = "chatId")]
    pub chat_id: String,
    #[serde(
        rename = "chatType",
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub chat_type: Option<u64>,
}

/// `{"id": 5753}`: sticky/topping (a pin's id, not a chat id; a number or a
/// numeric string).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StickyIdBody {
    #[serde(deserialize_with = "lenient::i64")]
    pub id: i64,
}

/// `data` of sticky/list: the caller's pins in display order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StickyList {
    pub sticky: Vec<Sticky>,
}

/// One pin, as sticky/list shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sticky {
    /// The pin's id (below 2^31: clients parse it as a 32-bit int).
    pub id: i64,
    pub chat_type: u64,
    pub chat_id: String,
    /// What the caller sees: their remark, else the chat's name.
    pub chat_name: String,
    /// When pinned or last moved first, seconds.
    pub sort: i64,
    pub avatar_url: String,
    /// When pinned, seconds.
    pub create_time: i64,
    /// Always 0.
    pub del_flag: i64,
    /// The caller.
    pub user_id: String,
    pub certification_level: i64,
}

/// Deserializers that accept what real clients send for one value.
pub mod lenient {
    use serde::de::{Deserializer, Error};
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrText {
        Number(i64),
        /// Above `i64::MAX`: what a `u64` field writes back.
        Unsigned(u64),
        Text(String),
    }

    /// A 0/1 flag, from a number, `true`/`false`, or a string holding one.
    pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Flag {
            Bool(bool),
            Number(i64),
            Text(String),
        }
        let n = match Flag::deserialize(d)? {
            Flag::Bool(b) => i64::from(b),
            Flag::Number(n) => n,
            Flag::Text(t) => match t.trim() {
                "true" => 1,
                "false" => 0,
                other => other.parse().map_err(|_| D::Error::custom(format!("not a 0/1 flag: {t:?}")))?,
            },
        };
        u8::try_from(n).map_err(|_| D::Error::custom(format!("not a 0/1 flag: {n}")))
    }

    /// An integer, from a JSON number or a string holding one.
    pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        match NumberOrText::deserialize(d)? {
            NumberOrText::Number(n) => Ok(n),
            NumberOrText::Unsigned(n) => i64::try_from(n).map_err(|_| D::Error::custom(format!("not an integer: {n}"))),
            NumberOrText::Text(t) => t.trim().parse().map_err(|_| D::Error::custom(format!("not an integer: {t:?}"))),
        }
    }

    /// An optional unsigned integer, from a number, a numeric string or null.
    pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        match Option::<NumberOrText>::deserialize(d)? {
            None => Ok(None),
            Some(NumberOrText::Number(n)) => {
                u64::try_from(n).map(Some).map_err(|_| D::Error::custom(format!("not a chat type: {n}")))
            }
            Some(NumberOrText::Unsigned(n)) => Ok(Some(n)),
            Some(NumberOrText::Text(t)) => {
                t.trim().parse().map(Some).map_err(|_| D::Error::custom(format!("not a chat type: {t:?}")))
            }
        }
    }
}

/// `{"msgId","size","page"}`: list-message-edit-record (`size` and `page`
/// may be left out, or sent as strings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EditRecordBody {
    #[serde(rename = "msgId")]
    pub msg_id: String,
    #[serde(default, deserialize_with = "lenient::opt_u64", skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64", skip_serializing_if = "Option::is_none")]
    pub page: Option<u64>,
}

/// `data` of list-message-edit-record: the records, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EditRecordList {
    pub list: Vec<EditRecordItem>,
    pub total: u64,
}

/// One edit of a message: what it said before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EditRecordItem {
    pub id: i64,
    pub msg_id: String,
    pub content_type: u64,
    /// The content before this edit, as a JSON string (`{"text": ...}`).
    pub content_old: String,
    /// When the message was sent, ms.
    pub create_time: i64,
    /// When this edit was made, ms.
    pub msg_time: i64,
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
    fn sticky_bodies_take_numbers_or_strings() {
        let body: StickyIdBody = serde_json::from_str(r#"{"id": 5753}"#).unwrap();
        assert_eq!(body.id, 5753);
        let body: StickyIdBody = serde_json::from_str(r#"{"id": "12"}"#).unwrap();
        assert_eq!(body.id, 12);
        assert!(serde_json::from_str::<StickyIdBody>(r#"{"id": "x"}"#).is_err());
        let body: StickyChatBody = serde_json::from_str(r#"{"chatId": "7", "chatType": 2}"#).unwrap();
        assert_eq!(body.chat_type, Some(2));
        let body: StickyChatBody = serde_json::from_str(r#"{"chatId": "7", "chatType": "3"}"#).unwrap();
        assert_eq!(body.chat_type, Some(3));
        let body: StickyChatBody = serde_json::from_str(r#"{"chatId": "7"}"#).unwrap();
        assert_eq!(body.chat_type, None);
    }

    #[test]
    fn unsigned_ids_above_i64_round_trip() {
        // A u64 field read from text writes a number; reading that back
        // must give the same value (found by fuzz/json_bodies).
        let from_text: AgreeBody = serde_json::from_str(r#"{"id": "12173476289545502718"}"#).unwrap();
        let from_number: AgreeBody = serde_json::from_str(r#"{"id": 12173476289545502718}"#).unwrap();
        assert_eq!(
            (from_text.id, from_number.id),
            (Some(12_173_476_289_545_502_718), Some(12_173_476_289_545_502_718))
        );
        let again: AgreeBody = serde_json::from_slice(&serde_json::to_vec(&from_text).unwrap()).unwrap();
        assert_eq!(again, from_text);
        // A signed field still refuses what does not fit.
        assert!(serde_json::from_str::<StickyIdBody>(r#"{"id": 12173476289545502718}"#).is_err());
    }

    #[test]
    fn no_notify_takes_bools_too() {
        for (body, flag) in [(r#"{"chatId":"1","noNotify":true}"#, 1), (r#"{"chatId":"1","noNotify":false}"#, 0)] {
            assert_eq!(serde_json::from_str::<NoNotifyBody>(body).unwrap().no_notify, flag);
        }
        assert_eq!(serde_json::from_str::<NoNotifyBody>(r#"{"chatId":"1","noNotify":"1"}"#).unwrap().no_notify, 1);
        assert!(serde_json::from_str::<NoNotifyBody>(r#"{"chatId":"1","noNotify":[]}"#).is_err());
    }

    #[test]
    fn sticky_keys_are_the_protocols() {
        let pin = Sticky {
            id: 1,
            chat_type: 2,
            chat_id: "7".into(),
            chat_name: "n".into(),
            sort: 3,
            avatar_url: String::new(),
            create_time: 3,
            del_flag: 0,
            user_id: "9".into(),
            certification_level: 0,
        };
        let text = serde_json::to_string(&pin).unwrap();
        assert_eq!(
            text,
            r#"{"id":1,"chatType":2,"chatId":"7","chatName":"n","sort":3,"avatarUrl":"","createTime":3,"delFlag":0,"userId":"9","certificationLevel":0}"#
        );
    }

    #[test]
    fn reply_without_data_omits_it() {
        let body = serde_json::to_string(&Reply::<()>::ok(None)).unwrap();
        assert_eq!(body, r#"{"code":1,"msg":"success"}"#);
    }
}

/// user/save-user-remarks `{"friendId","name","phone","others"}`: an empty
/// `name` clears the remark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SaveRemarkBody {
    #[serde(rename = "friendId", alias = "userId", alias = "chatId")]
    pub friend_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub phone: String,
    /// A JSON string of `[{"key","value"}]` pairs.
    #[serde(default)]
    pub others: String,
}

/// group/invite, in every form clients send: `{"groupId","chatId","chatType"}`
/// (snake_case too), `{"groupId","userIdList":[…]}`, or `{"groupId"}` alone,
/// which one web client sends to join the group itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InviteBody {
    #[serde(rename = "groupId", alias = "group_id")]
    pub group_id: String,
    #[serde(rename = "chatId", alias = "chat_id", alias = "userId", default, skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
    #[serde(
        rename = "chatType",
        alias = "chat_type",
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub chat_type: Option<u64>,
    #[serde(rename = "userIdList", default, skip_serializing_if = "Vec::is_empty")]
    pub user_id_list: Vec<String>,
}

/// group/remove-member `{"groupId","userId"}` (snake_case too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupUserBody {
    #[serde(rename = "groupId", alias = "group_id")]
    pub group_id: String,
    #[serde(rename = "userId", alias = "user_id")]
    pub user_id: String,
}

/// group/gag-member `{"groupId","userId","gagTime"}` (`gag` too): seconds,
/// `0` lifts it, `-1` until lifted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GagBody {
    #[serde(rename = "groupId", alias = "group_id")]
    pub group_id: String,
    #[serde(rename = "userId", alias = "user_id")]
    pub user_id: String,
    #[serde(rename = "gagTime", alias = "gag", deserialize_with = "lenient::i64")]
    pub gag_time: i64,
}

/// group/edit-admin `{"groupId","userId","admin":1|0}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EditAdminBody {
    #[serde(rename = "groupId", alias = "group_id")]
    pub group_id: String,
    #[serde(rename = "userId", alias = "user_id")]
    pub user_id: String,
    #[serde(deserialize_with = "lenient::flag")]
    pub admin: u8,
}

/// friend/apply `{"chatId","chatType","remark"}`, also `{"id","sourceType"}`
/// (one web client) and `{"userId","description"}` (one bot framework; a
/// user then).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyBody {
    #[serde(rename = "chatId", alias = "id", alias = "userId")]
    pub chat_id: String,
    #[serde(
        rename = "chatType",
        alias = "sourceType",
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub chat_type: Option<u64>,
    /// A note for the other user.
    #[serde(default, alias = "description")]
    pub remark: String,
}

/// friend/agree-apply `{"id","agree"}` (1 agree, 2 reject); also
/// `{"requestId","targetId","targetType"}` (agree) and `{"userId"}` (agree
/// to that user's pending request).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgreeBody {
    #[serde(
        alias = "requestId",
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<u64>,
    #[serde(rename = "userId", default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_u64", skip_serializing_if = "Option::is_none")]
    pub agree: Option<u64>,
}

/// friend/ignore-apply `{"id","ignore":1}` and friend/delete-request `{"id"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestIdBody {
    #[serde(alias = "requestId", deserialize_with = "lenient::i64")]
    pub id: i64,
}

/// friend/request-list as one client posts it, in JSON: `{"size","page"}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestPageBody {
    #[serde(default, deserialize_with = "lenient::opt_u64", skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64", skip_serializing_if = "Option::is_none")]
    pub page: Option<u64>,
}

/// `data` of friend/request-list answered in JSON (to a JSON body).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestListData {
    pub list: Vec<crate::pb::FriendRequest>,
    pub total: i32,
    pub pending: i32,
}
