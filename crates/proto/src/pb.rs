//! Protobuf messages of the protocol, derived with prost (no `protoc` needed),
//! and serializable to JSON under their field names (what `yhconv client
//! --json` prints).
//!
//! Field numbers are facts of the protocol (`shared/PROTOCOL.md`); the golden
//! byte tests at the bottom of this file fail if one slips.

use prost::Message;

pub use crate::people::*;

/// Field 1 of every protobuf answer.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct Status {
    /// A per-request id.
    #[prost(int64, tag = "1")]
    pub number: i64,
    /// `1` success, `-101` not logged in, `-1` any other error.
    #[prost(int32, tag = "2")]
    pub code: i32,
    #[prost(string, tag = "3")]
    pub msg: String,
}

/// A protobuf answer that holds only its [`Status`] (send-message, and every
/// protobuf error).
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct StatusOnly {
    #[prost(message, optional, tag = "1")]
    pub status: Option<Status>,
}

/// Body of `POST /v1/conversation/list` (may be empty).
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct ConversationListRequest {
    /// The fingerprint of the list the client already holds.
    #[prost(string, tag = "2")]
    pub md5: String,
    /// yhconv: the rows the client holds, by digest (see
    /// [`crate::live::row_digest`]), when it asks for a delta.
    #[prost(message, repeated, tag = "100")]
    pub known: Vec<RowDigest>,
    /// yhconv: answer only the rows that differ from `known` (and name the
    /// known ones no longer listed in `removed`).
    #[prost(bool, tag = "101")]
    pub delta: bool,
}

/// yhconv: one row a client holds, as a delta request names it.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct RowDigest {
    #[prost(string, tag = "1")]
    pub chat_id: String,
    /// [`crate::live::row_digest`] of the row's bytes.
    #[prost(fixed64, tag = "2")]
    pub digest: u64,
}

/// Answer of `POST /v1/conversation/list`.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct ConversationList {
    #[prost(message, optional, tag = "1")]
    pub status: Option<Status>,
    #[prost(message, repeated, tag = "2")]
    pub data: Vec<Conversation>,
    /// Number of entries in `data`.
    #[prost(uint64, tag = "3")]
    pub total: u64,
    /// Hex md5 fingerprint of the list (the seed's `request_id`).
    #[prost(string, tag = "4")]
    pub md5: String,
    /// yhconv, delta answers only: known chats no longer listed.
    #[prost(string, repeated, tag = "100")]
    pub removed: Vec<String>,
    /// yhconv: true when this is a delta answer (`data` holds only the rows
    /// that differ from the request's `known`).
    #[prost(bool, tag = "101")]
    pub delta: bool,
}

/// One entry of a user's conversation list.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct Conversation {
    /// For a direct chat, the other user's id.
    #[prost(string, tag = "1")]
    pub chat_id: String,
    #[prost(uint64, tag = "2")]
    pub chat_type: u64,
    /// What this user sees: their remark, else the chat's name.
    #[prost(string, tag = "3")]
    pub name: String,
    /// Preview of the last message.
    #[prost(string, tag = "4")]
    pub chat_content: String,
    #[prost(uint64, tag = "5")]
    pub timestamp_ms: u64,
    /// 1 when any message is unread (a flag).
    #[prost(uint64, tag = "6")]
    pub unread_message: u64,
    /// 1 when an unread message mentions this user.
    #[prost(uint64, tag = "7")]
    pub at: u64,
    #[prost(uint64, tag = "8")]
    pub avatar_id: u64,
    #[prost(string, tag = "9")]
    pub avatar_url: String,
    #[prost(uint64, tag = "11")]
    pub do_not_disturb: u64,
    /// Last message send time, seconds.
    #[prost(uint64, tag = "12")]
    pub timestamp: u64,
    /// The earliest unread mention, when `at` is 1.
    #[prost(message, optional, tag = "14")]
    pub at_data: Option<AtData>,
    /// The chat's own name, whatever the remark.
    #[prost(string, tag = "15")]
    pub real_name: String,
    #[prost(uint64, tag = "16")]
    pub certification_level: u64,
    /// yhconv extension: exact number of unread messages.
    #[prost(uint64, tag = "100")]
    pub unread_count: u64,
    /// yhconv extension: unread messages that mention this user.
    #[prost(uint64, tag = "101")]
    pub mention_count: u64,
}

/// Who mentioned this user, where, in which message.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct AtData {
    #[prost(uint64, tag = "1")]
    pub unknown: u64,
    #[prost(string, tag = "2")]
    pub mentioned_id: String,
    #[prost(string, tag = "3")]
    pub mentioned_name: String,
    #[prost(string, tag = "4")]
    pub mentioned_in: String,
    #[prost(string, tag = "6")]
    pub mentioner_id: String,
    #[prost(string, tag = "7")]
    pub mentioner_name: String,
    #[prost(uint64, tag = "8")]
    pub msg_seq: u64,
}

/// Answer of `GET /v1/user/info`.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct UserInfo {
    #[prost(message, optional, tag = "1")]
    pub status: Option<Status>,
    #[prost(message, optional, tag = "2")]
    pub data: Option<UserInfoData>,
}

/// The caller's own profile.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct UserInfoData {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(string, tag = "4")]
    pub avatar_url: String,
    #[prost(int64, tag = "5")]
    pub avatar_id: i64,
    #[prost(string, tag = "6")]
    pub phone: String,
    #[prost(string, tag = "7")]
    pub email: String,
    #[prost(double, tag = "8")]
    pub coin: f64,
    #[prost(bool, tag = "9")]
    pub is_vip: bool,
    #[prost(int64, tag = "10")]
    pub vip_expired_time: i64,
    #[prost(string, tag = "12")]
    pub invitation_code: String,
}

/// Body of `POST /v1/msg/send-message`.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct SendMessage {
    /// Chosen by the client; a retry with the same id is stored once.
    #[prost(string, tag = "2")]
    pub msg_id: String,
    /// The recipient: user, group or bot id.
    #[prost(string, tag = "3")]
    pub chat_id: String,
    #[prost(uint64, tag = "4")]
    pub chat_type: u64,
    #[prost(message, optional, tag = "5")]
    pub content: Option<MsgContent>,
    #[prost(uint64, tag = "6")]
    pub content_type: u64,
    #[prost(int64, tag = "7")]
    pub command_id: i64,
    #[prost(string, tag = "8")]
    pub quote_msg_id: String,
}

/// A message's content; which fields matter depends on its content type.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct MsgContent {
    #[prost(string, tag = "1")]
    pub text: String,
    #[prost(string, tag = "2")]
    pub buttons: String,
    #[prost(string, tag = "3")]
    pub image_url: String,
    #[prost(string, tag = "4")]
    pub file_name: String,
    #[prost(string, tag = "5")]
    pub file_url: String,
    /// User ids, or `all` for everyone in a group.
    #[prost(string, repeated, tag = "6")]
    pub mentioned_id: Vec<String>,
    #[prost(string, tag = "7")]
    pub form: String,
    #[prost(string, tag = "8")]
    pub quote_msg_text: String,
    #[prost(string, tag = "9")]
    pub image: String,
    #[prost(string, tag = "10")]
    pub post_id: String,
    #[prost(string, tag = "11")]
    pub post_title: String,
    #[prost(string, tag = "12")]
    pub post_content: String,
    #[prost(string, tag = "13")]
    pub post_content_type: String,
    #[prost(string, tag = "15")]
    pub expression_id: String,
    #[prost(string, tag = "16")]
    pub quote_image_url: String,
    #[prost(string, tag = "17")]
    pub quote_image_name: String,
    #[prost(int64, tag = "18")]
    pub file_size: i64,
    #[prost(string, tag = "19")]
    pub video_url: String,
    #[prost(string, tag = "21")]
    pub audio_url: String,
    #[prost(int64, tag = "22")]
    pub audio_time: i64,
    #[prost(string, tag = "23")]
    pub quote_video_url: String,
    #[prost(int64, tag = "24")]
    pub quote_video_time: i64,
    #[prost(int64, tag = "25")]
    pub sticker_item_id: i64,
    #[prost(int64, tag = "26")]
    pub sticker_pack_id: i64,
    #[prost(string, tag = "29")]
    pub room_name: String,
    #[prost(string, tag = "32")]
    pub call_status_text: String,
    #[prost(uint64, tag = "33")]
    pub width: u64,
    #[prost(uint64, tag = "34")]
    pub height: u64,
    #[prost(string, tag = "37")]
    pub tip: String,
}

/// Body of `POST /v1/msg/list-message`.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct ListMessageRequest {
    #[prost(uint64, tag = "2")]
    pub msg_count: u64,
    /// When set, list the messages before this one.
    #[prost(string, tag = "3")]
    pub msg_id: String,
    #[prost(uint64, tag = "4")]
    pub chat_type: u64,
    #[prost(string, tag = "5")]
    pub chat_id: String,
}

/// Answer of `POST /v1/msg/list-message` (newest first) and of the two
/// by-sequence calls (oldest first).
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct ListMessageResponse {
    #[prost(message, optional, tag = "1")]
    pub status: Option<Status>,
    #[prost(message, repeated, tag = "2")]
    pub msg: Vec<Msg>,
    /// By-sequence calls: the number of messages in `msg`.
    #[prost(uint64, tag = "3")]
    pub total: u64,
}

/// Body of `POST /v1/msg/recall-msg` and `/v1/msg/recall-msg-batch`.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct RecallMsg {
    /// One id for recall-msg, any number for the batch.
    #[prost(string, repeated, tag = "2")]
    pub msg_id: Vec<String>,
    #[prost(string, tag = "3")]
    pub chat_id: String,
    #[prost(uint64, tag = "4")]
    pub chat_type: u64,
}

/// Body of `POST /v1/msg/list-message-by-seq`.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct ListMessageBySeqRequest {
    /// 0 or unset (clients send -1): the newest messages; S: those after S.
    #[prost(int64, tag = "3")]
    pub msg_seq: i64,
    #[prost(uint64, tag = "4")]
    pub chat_type: u64,
    #[prost(string, tag = "5")]
    pub chat_id: String,
}

/// Body of `POST /v1/msg/list-message-by-mid-seq`.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct ListMessageByMidSeqRequest {
    /// The anchor's sequence number, when `msg_id` is empty.
    #[prost(int64, tag = "3")]
    pub msg_seq: i64,
    #[prost(uint64, tag = "4")]
    pub chat_type: u64,
    #[prost(string, tag = "5")]
    pub chat_id: String,
    #[prost(uint64, tag = "6")]
    pub unknown: u64,
    /// How many messages before the anchor.
    #[prost(uint64, tag = "7")]
    pub msg_count: u64,
    /// The anchor.
    #[prost(string, tag = "8")]
    pub msg_id: String,
}

/// One stored message, as history shows it.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct Msg {
    #[prost(string, tag = "1")]
    pub msg_id: String,
    #[prost(message, optional, tag = "2")]
    pub sender: Option<Sender>,
    /// `left` for others' messages, `right` for the caller's own.
    #[prost(string, tag = "3")]
    pub direction: String,
    #[prost(uint64, tag = "4")]
    pub content_type: u64,
    #[prost(message, optional, tag = "5")]
    pub content: Option<MsgContent>,
    /// Milliseconds.
    #[prost(uint64, tag = "6")]
    pub send_time: u64,
    #[prost(uint64, tag = "8")]
    pub msg_delete_time: u64,
    #[prost(string, tag = "9")]
    pub quote_msg_id: String,
    #[prost(uint64, tag = "10")]
    pub msg_seq: u64,
    #[prost(uint64, tag = "12")]
    pub edit_time: u64,
}

/// Who sent a message.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct Sender {
    #[prost(string, tag = "1")]
    pub chat_id: String,
    #[prost(uint64, tag = "2")]
    pub chat_type: u64,
    #[prost(string, tag = "3")]
    pub name: String,
    #[prost(string, tag = "4")]
    pub avatar_url: String,
}

/// The header of every server WebSocket frame.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct Info {
    #[prost(string, tag = "1")]
    pub seq: String,
    /// `heartbeat_ack` or `push_message`.
    #[prost(string, tag = "2")]
    pub cmd: String,
}

/// A server WebSocket frame: its [`Info`], and for `push_message` the data.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct WsFrame {
    #[prost(message, optional, tag = "1")]
    pub info: Option<Info>,
    #[prost(message, optional, tag = "2")]
    pub data: Option<PushData>,
}

/// The payload of a `push_message` frame.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct PushData {
    /// Always [`crate::PUSH_MESSAGE_TYPE_URL`].
    #[prost(string, tag = "1")]
    pub any: String,
    #[prost(message, optional, tag = "2")]
    pub msg: Option<PushMsg>,
}

/// A new message, as one receiver sees it.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct PushMsg {
    #[prost(string, tag = "1")]
    pub msg_id: String,
    #[prost(message, optional, tag = "2")]
    pub sender: Option<Sender>,
    /// The receiving user.
    #[prost(string, tag = "3")]
    pub recv_id: String,
    /// The conversation as the receiver sees it.
    #[prost(string, tag = "4")]
    pub chat_id: String,
    #[prost(uint64, tag = "5")]
    pub chat_type: u64,
    #[prost(message, optional, tag = "6")]
    pub content: Option<MsgContent>,
    #[prost(uint64, tag = "7")]
    pub content_type: u64,
    /// Milliseconds: the send time (for an edit too).
    #[prost(uint64, tag = "8")]
    pub timestamp: u64,
    /// When it was recalled, ms (a recall is pushed as `push_message`).
    #[prost(uint64, tag = "10")]
    pub delete_timestamp: u64,
    #[prost(string, tag = "11")]
    pub quote_msg_id: String,
    #[prost(uint64, tag = "12")]
    pub msg_seq: u64,
    /// When it was edited, ms (`edit_message` frames).
    #[prost(uint64, tag = "14")]
    pub edit_time: u64,
}

/// yhconv's `yhconv_list_rows` frame: rows of the user's list that changed
/// for a reason other than a new message. Field 2 is never set: a stock
/// client that decodes every frame as `push_message` finds no message in it.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct ListRowsFrame {
    #[prost(message, optional, tag = "1")]
    pub info: Option<Info>,
    #[prost(message, optional, tag = "3")]
    pub rows: Option<ListRows>,
}

/// The payload of [`ListRowsFrame`].
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct ListRows {
    /// Rows as `conversation/list` has them now (new or changed).
    #[prost(message, repeated, tag = "1")]
    pub row: Vec<Conversation>,
    /// Chats no longer listed.
    #[prost(string, repeated, tag = "2")]
    pub removed: Vec<String>,
}

/// The `draft_input` frame (Yunhu's own shape).
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct DraftFrame {
    #[prost(message, optional, tag = "1")]
    pub info: Option<Info>,
    #[prost(message, optional, tag = "2")]
    pub data: Option<DraftData>,
}

/// `data` of a `draft_input` frame.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct DraftData {
    /// Always [`crate::MSG_INPUT_TYPE_URL`].
    #[prost(string, tag = "1")]
    pub any: String,
    #[prost(message, optional, tag = "2")]
    pub draft: Option<Draft>,
}

/// A draft: what the user has typed in a chat, replacing the previous one.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct Draft {
    /// The chat as the user sees it.
    #[prost(string, tag = "1")]
    pub chat_id: String,
    #[prost(string, tag = "2")]
    pub input: String,
}

impl Status {
    /// A success status for request `number`.
    pub fn ok(number: i64) -> Self {
        Self { number, code: crate::CODE_OK, msg: crate::MSG_OK.to_owned() }
    }
}

#[cfg(test)]
mod golden {
    //! Golden bytes: hand-computed encodings that pin field numbers and types.
    use super::*;

    #[test]
    fn status_fields_are_1_2_3() {
        let bytes = Status { number: 114514, code: 1, msg: "ok".into() }.encode_to_vec();
        // 114514 = 0xBF52 -> varint d2 fe 06
        assert_eq!(bytes, [0x08, 0xd2, 0xfe, 0x06, 0x10, 0x01, 0x1a, 0x02, b'o', b'k']);
    }

    #[test]
    fn negative_code_is_a_ten_byte_varint() {
        let bytes = Status { number: 0, code: -101, msg: String::new() }.encode_to_vec();
        assert_eq!(bytes[0], 0x10);
        assert_eq!(bytes.len(), 11);
    }

    #[test]
    fn conversation_field_numbers() {
        let c = Conversation {
            chat_id: "7".into(),
            chat_type: 2,
            name: "n".into(),
            chat_content: "c".into(),
            timestamp_ms: 5,
            unread_message: 1,
            at: 1,
            avatar_id: 8,
            avatar_url: "u".into(),
            do_not_disturb: 1,
            timestamp: 12,
            at_data: Some(AtData { msg_seq: 3, ..Default::default() }),
            real_name: "r".into(),
            certification_level: 2,
            unread_count: 4,
            mention_count: 1,
        };
        let expected: Vec<u8> = vec![
            0x0a, 1, b'7', // 1: chat_id
            0x10, 2, // 2: chat_type
            0x1a, 1, b'n', // 3: name
            0x22, 1, b'c', // 4: chat_content
            0x28, 5, // 5: timestamp_ms
            0x30, 1, // 6: unread_message
            0x38, 1, // 7: at
            0x40, 8, // 8: avatar_id
            0x4a, 1, b'u', // 9: avatar_url
            0x58, 1, // 11: do_not_disturb
            0x60, 12, // 12: timestamp
            0x72, 2, 0x40, 3, // 14: at_data { 8: msg_seq }
            0x7a, 1, b'r', // 15: real_name
            0x80, 0x01, 2, // 16: certification_level
            0xa0, 0x06, 4, // 100: unread_count
            0xa8, 0x06, 1, // 101: mention_count
        ];
        assert_eq!(c.encode_to_vec(), expected);
    }

    #[test]
    fn list_request_md5_is_field_2() {
        let r = ConversationListRequest { md5: "ab".into(), ..Default::default() };
        assert_eq!(r.encode_to_vec(), [0x12, 2, b'a', b'b']);
    }

    #[test]
    fn send_message_field_numbers() {
        let m = SendMessage {
            msg_id: "m".into(),
            chat_id: "9".into(),
            chat_type: 2,
            content: Some(MsgContent { text: "t".into(), mentioned_id: vec!["all".into()], ..Default::default() }),
            content_type: 1,
            command_id: 0,
            quote_msg_id: String::new(),
        };
        let expected: Vec<u8> = vec![
            0x12, 1, b'm', // 2: msg_id
            0x1a, 1, b'9', // 3: chat_id
            0x20, 2, // 4: chat_type
            0x2a, 8, 0x0a, 1, b't', 0x32, 3, b'a', b'l', b'l', // 5: content {1, 6}
            0x30, 1, // 6: content_type
        ];
        assert_eq!(m.encode_to_vec(), expected);
    }

    #[test]
    fn push_frame_field_numbers() {
        let f = WsFrame {
            info: Some(Info { seq: "s".into(), cmd: "c".into() }),
            data: Some(PushData {
                any: "a".into(),
                msg: Some(PushMsg { msg_id: "i".into(), msg_seq: 7, ..Default::default() }),
            }),
        };
        let expected: Vec<u8> = vec![
            0x0a, 6, 0x0a, 1, b's', 0x12, 1, b'c', // 1: info
            0x12, 10, 0x0a, 1, b'a', 0x12, 5, 0x0a, 1, b'i', 0x60, 7, // 2: data
        ];
        assert_eq!(f.encode_to_vec(), expected);
    }

    #[test]
    fn by_seq_request_field_numbers() {
        // msg_seq -1 as clients send it: a ten-byte varint.
        let r = ListMessageBySeqRequest { msg_seq: -1, chat_type: 2, chat_id: "9".into() };
        let mut expected = vec![0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        expected.extend([0x20, 2, 0x2a, 1, b'9']);
        assert_eq!(r.encode_to_vec(), expected);
        let r = ListMessageByMidSeqRequest {
            msg_seq: 5,
            chat_type: 1,
            chat_id: "7".into(),
            unknown: 0,
            msg_count: 10,
            msg_id: "m".into(),
        };
        assert_eq!(r.encode_to_vec(), [0x18, 5, 0x20, 1, 0x2a, 1, b'7', 0x38, 10, 0x42, 1, b'm']);
        let answer = ListMessageResponse { status: None, msg: vec![], total: 3 };
        assert_eq!(answer.encode_to_vec(), [0x18, 3]);
    }

    #[test]
    fn recall_msg_field_numbers() {
        let r = RecallMsg { msg_id: vec!["a".into(), "b".into()], chat_id: "9".into(), chat_type: 2 };
        assert_eq!(r.encode_to_vec(), [0x12, 1, b'a', 0x12, 1, b'b', 0x1a, 1, b'9', 0x20, 2]);
    }

    #[test]
    fn push_msg_edit_and_recall_fields() {
        let m = PushMsg { delete_timestamp: 5, quote_msg_id: "q".into(), edit_time: 6, ..Default::default() };
        assert_eq!(m.encode_to_vec(), [0x50, 5, 0x5a, 1, b'q', 0x70, 6]);
    }

    #[test]
    fn list_message_request_field_numbers() {
        let r = ListMessageRequest { msg_count: 20, msg_id: "x".into(), chat_type: 1, chat_id: "5".into() };
        assert_eq!(r.encode_to_vec(), [0x10, 20, 0x1a, 1, b'x', 0x20, 1, 0x2a, 1, b'5']);
    }
}
