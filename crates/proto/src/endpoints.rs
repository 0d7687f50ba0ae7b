//! Every HTTP endpoint, declared once: its path, the methods it answers and
//! its answer format. The server routes by these declarations (and decides
//! the format of an error, a time-out or a panic from them), the client
//! calls by them, and the tests walk [`ALL`].

/// How an endpoint answers, errors included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `{"code","msg"[,"data"]}`.
    Json,
    /// A protobuf message whose field 1 is `Status`.
    Protobuf,
    /// Operations: plain text (Prometheus) or a WebSocket upgrade.
    Other,
}

/// An HTTP method an endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// One endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub path: &'static str,
    pub methods: &'static [Method],
    pub answer: Answer,
    /// Needs a `token`.
    pub auth: bool,
}

const fn post(path: &'static str, answer: Answer) -> Endpoint {
    Endpoint { path, methods: &[Method::Post], answer, auth: true }
}

use Answer::{Json, Other, Protobuf};

/// `POST` (or `GET`, as one client asks first) `/v1/conversation/list`.
pub const CONVERSATION_LIST: Endpoint =
    Endpoint { path: "/v1/conversation/list", methods: &[Method::Get, Method::Post], answer: Protobuf, auth: true };
pub const DISMISS_NOTIFICATION: Endpoint = post("/v1/conversation/dismiss-notification", Json);
pub const SORT_CHANGE: Endpoint = post("/v1/conversation/sort-change", Json);
pub const REMOVE_CONVERSATION: Endpoint = post("/v1/conversation/remove", Json);
pub const NO_NOTIFY: Endpoint = post("/v1/friend/no-notify", Json);
pub const DELETE_FRIEND: Endpoint = post("/v1/friend/delete-friend", Json);
pub const SEND_MESSAGE: Endpoint = post("/v1/msg/send-message", Protobuf);
pub const LIST_MESSAGE: Endpoint = post("/v1/msg/list-message", Protobuf);
pub const LIST_MESSAGE_BY_SEQ: Endpoint = post("/v1/msg/list-message-by-seq", Protobuf);
pub const LIST_MESSAGE_BY_MID_SEQ: Endpoint = post("/v1/msg/list-message-by-mid-seq", Protobuf);
pub const EDIT_MESSAGE: Endpoint = post("/v1/msg/edit-message", Protobuf);
pub const LIST_MESSAGE_EDIT_RECORD: Endpoint = post("/v1/msg/list-message-edit-record", Json);
pub const RECALL_MSG: Endpoint = post("/v1/msg/recall-msg", Protobuf);
pub const RECALL_MSG_BATCH: Endpoint = post("/v1/msg/recall-msg-batch", Protobuf);
pub const STICKY_LIST: Endpoint = post("/v1/sticky/list", Json);
pub const STICKY_ADD: Endpoint = post("/v1/sticky/add", Json);
pub const STICKY_DELETE: Endpoint = post("/v1/sticky/delete", Json);
pub const STICKY_TOPPING: Endpoint = post("/v1/sticky/topping", Json);
pub const EMAIL_LOGIN: Endpoint = Endpoint { auth: false, ..post("/v1/user/email-login", Json) };
pub const LOGOUT: Endpoint = post("/v1/user/logout", Json);
pub const USER_INFO: Endpoint =
    Endpoint { path: "/v1/user/info", methods: &[Method::Get], answer: Protobuf, auth: true };
/// `user/get-user` answers without a valid token too (public fields only).
pub const GET_USER: Endpoint = Endpoint { auth: false, ..post("/v1/user/get-user", Protobuf) };
pub const SAVE_USER_REMARKS: Endpoint = post("/v1/user/save-user-remarks", Json);
pub const EDIT_NICKNAME: Endpoint = post("/v1/user/edit-nickname", Protobuf);
pub const EDIT_AVATAR: Endpoint = post("/v1/user/edit-avatar", Protobuf);
pub const GROUP_INFO: Endpoint = post("/v1/group/info", Protobuf);
pub const GROUP_LIST_MEMBER: Endpoint = post("/v1/group/list-member", Protobuf);
pub const GROUP_BOT_LIST: Endpoint = post("/v1/group/bot-list", Protobuf);
pub const CREATE_GROUP: Endpoint = post("/v1/group/create-group", Protobuf);
pub const GROUP_INVITE: Endpoint = post("/v1/group/invite", Json);
pub const REMOVE_MEMBER: Endpoint = post("/v1/group/remove-member", Json);
pub const DISMISS_GROUP: Endpoint = post("/v1/group/dismiss-group", Protobuf);
pub const GAG_MEMBER: Endpoint = post("/v1/group/gag-member", Json);
pub const EDIT_ADMIN: Endpoint = post("/v1/group/edit-admin", Json);
pub const BOT_INFO: Endpoint = post("/v1/bot/bot-info", Protobuf);
pub const BOT_BOARD: Endpoint = post("/v1/bot/board", Protobuf);
pub const ADDRESS_BOOK_LIST: Endpoint = post("/v1/friend/address-book-list", Protobuf);
pub const FRIEND_APPLY: Endpoint = post("/v1/friend/apply", Json);
pub const REQUEST_LIST: Endpoint = post("/v1/friend/request-list", Protobuf);
pub const AGREE_APPLY: Endpoint = post("/v1/friend/agree-apply", Json);
pub const IGNORE_APPLY: Endpoint = post("/v1/friend/ignore-apply", Json);
pub const DELETE_REQUEST: Endpoint = post("/v1/friend/delete-request", Json);
/// `GET /v1/misc/configure-distribution`: where the push socket and media are.
pub const CONFIGURE_DISTRIBUTION: Endpoint =
    Endpoint { path: "/v1/misc/configure-distribution", methods: &[Method::Get], answer: Json, auth: true };
/// The push socket.
pub const WS: Endpoint = Endpoint { path: "/ws", methods: &[Method::Get], answer: Other, auth: false };
pub const LIVEZ: Endpoint = Endpoint { path: "/livez", methods: &[Method::Get], answer: Json, auth: false };
pub const HEALTHZ: Endpoint = Endpoint { path: "/healthz", methods: &[Method::Get], answer: Json, auth: false };
pub const METRICS: Endpoint = Endpoint { path: "/metrics", methods: &[Method::Get], answer: Other, auth: false };

/// Every endpoint the server answers.
pub const ALL: &[Endpoint] = &[
    CONVERSATION_LIST,
    DISMISS_NOTIFICATION,
    SORT_CHANGE,
    REMOVE_CONVERSATION,
    NO_NOTIFY,
    DELETE_FRIEND,
    SEND_MESSAGE,
    LIST_MESSAGE,
    LIST_MESSAGE_BY_SEQ,
    LIST_MESSAGE_BY_MID_SEQ,
    EDIT_MESSAGE,
    LIST_MESSAGE_EDIT_RECORD,
    RECALL_MSG,
    RECALL_MSG_BATCH,
    STICKY_LIST,
    STICKY_ADD,
    STICKY_DELETE,
    STICKY_TOPPING,
    EMAIL_LOGIN,
    LOGOUT,
    USER_INFO,
    GET_USER,
    SAVE_USER_REMARKS,
    EDIT_NICKNAME,
    EDIT_AVATAR,
    GROUP_INFO,
    GROUP_LIST_MEMBER,
    GROUP_BOT_LIST,
    CREATE_GROUP,
    GROUP_INVITE,
    REMOVE_MEMBER,
    DISMISS_GROUP,
    GAG_MEMBER,
    EDIT_ADMIN,
    BOT_INFO,
    BOT_BOARD,
    ADDRESS_BOOK_LIST,
    FRIEND_APPLY,
    REQUEST_LIST,
    AGREE_APPLY,
    IGNORE_APPLY,
    DELETE_REQUEST,
    CONFIGURE_DISTRIBUTION,
    WS,
    LIVEZ,
    HEALTHZ,
    METRICS,
];

const fn not_offered(path: &'static str, method: &'static [Method]) -> Endpoint {
    Endpoint { path, methods: method, answer: Json, auth: false }
}

/// Calls Yunhu offers and this server knows of but does not (captcha and
/// phone login, upload tokens): answered `-1` saying so, HTTP 200, never a
/// bare 404.
pub const NOT_OFFERED: &[Endpoint] = &[
    not_offered("/v1/user/captcha", &[Method::Post]),
    not_offered("/v1/user/verification-login", &[Method::Post]),
    not_offered("/v1/misc/qiniu-token", &[Method::Get]),
    not_offered("/v1/misc/qiniu-token2", &[Method::Get]),
    not_offered("/v1/misc/qiniu-token-audio", &[Method::Get]),
    not_offered("/v1/misc/qiniu-token-video", &[Method::Get]),
    not_offered("/v1/misc/qiniu-token-group-disk", &[Method::Get]),
];

/// The endpoint at `path`, if any.
pub fn find(path: &str) -> Option<&'static Endpoint> {
    ALL.iter().chain(NOT_OFFERED).find(|e| e.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_unique_and_under_v1_or_operations() {
        let mut paths: Vec<&str> = ALL.iter().map(|e| e.path).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), ALL.len(), "a path declared twice");
        for e in ALL {
            assert!(e.path.starts_with("/v1/") || e.answer != Protobuf, "{e:?}");
            assert!(!e.methods.is_empty(), "{e:?}");
        }
        assert_eq!(find("/v1/msg/send-message").map(|e| e.answer), Some(Protobuf));
        assert_eq!(find("/nope"), None);
    }
}
