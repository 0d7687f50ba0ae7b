//! Every HTTP endpoint of the protocol as a method on [`Client`], and the
//! request plumbing: the `token` header, content types and the timeout.

use bytes::Bytes;
use prost::Message;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::RequestBuilder;
use serde::Serialize;
use yhconv_proto::endpoints as ep;
use yhconv_proto::json::{
    ChatIdBody, EditRecordBody, EditRecordItem, EditRecordList, EmailLoginBody, LoginData, NoNotifyBody,
    SortChangeBody, Sticky, StickyChatBody, StickyIdBody, StickyList,
};
use yhconv_proto::{pb, ChatType, ContentType};

use crate::error::{Error, Result};
use crate::reply::{json_data, Answer, Raw};
use crate::Client;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

impl Client {
    /// `POST /v1/user/email-login`: logs in and returns the token. The client
    /// itself is unchanged; use [`Client::with_token`] to keep the token.
    pub async fn email_login(&self, email: &str, password: &str, device_id: &str, platform: &str) -> Result<String> {
        let body = EmailLoginBody {
            email: email.to_owned(),
            password: password.to_owned(),
            device_id: device_id.to_owned(),
            platform: platform.to_owned(),
        };
        let data = self.post_json(ep::EMAIL_LOGIN.path, &body, false).await?;
        Ok(json_data::<LoginData>(data)?.token)
    }

    /// `POST /v1/user/logout`: revokes the client's token.
    pub async fn logout(&self) -> Result<()> {
        self.post_json(ep::LOGOUT.path, &serde_json::json!({}), true).await?;
        Ok(())
    }

    /// `GET /v1/user/info`: the caller's own profile.
    pub async fn user_info(&self) -> Result<pb::UserInfoData> {
        let req = self.http.get(self.url(ep::USER_INFO.path));
        let info: pb::UserInfo = self.call_proto(req).await?;
        info.data.ok_or_else(|| Error::Decode("user info has no data".into()))
    }

    /// `POST /v1/conversation/list`: the caller's conversation list. With
    /// `md5` equal to the current fingerprint the server answers `data`
    /// empty and the same `md5`; with `None` the request body is empty.
    pub async fn conversation_list(&self, md5: Option<&str>) -> Result<pb::ConversationList> {
        let body = match md5 {
            Some(md5) => pb::ConversationListRequest { md5: md5.to_owned(), ..Default::default() }.encode_to_vec(),
            None => Vec::new(),
        };
        self.post_proto(ep::CONVERSATION_LIST.path, body).await
    }

    /// `POST /v1/conversation/list` as a yhconv delta: only the rows that
    /// differ from `known` (chat id and [`yhconv_proto::live::row_digest`]),
    /// the known chats no longer listed in `removed`, and the list's md5.
    pub async fn conversation_delta(&self, known: Vec<pb::RowDigest>) -> Result<pb::ConversationList> {
        let body = pb::ConversationListRequest { md5: String::new(), known, delta: true }.encode_to_vec();
        self.post_proto(ep::CONVERSATION_LIST.path, body).await
    }

    /// `POST /v1/conversation/dismiss-notification`: marks a conversation
    /// read (unread and `at` back to 0).
    pub async fn dismiss_notification(&self, chat_id: &str) -> Result<()> {
        let body = ChatIdBody { chat_id: chat_id.to_owned() };
        self.post_json(ep::DISMISS_NOTIFICATION.path, &body, true).await?;
        Ok(())
    }

    /// `POST /v1/conversation/sort-change`: brings the conversation with
    /// `target_id` (a user, group or bot id) to the top, creating it if
    /// needed.
    pub async fn sort_change(&self, target_id: &str) -> Result<()> {
        let body = SortChangeBody { user_id: target_id.to_owned() };
        self.post_json(ep::SORT_CHANGE.path, &body, true).await?;
        Ok(())
    }

    /// `POST /v1/conversation/remove`: hides a conversation until its next
    /// message or sort-change.
    pub async fn remove_conversation(&self, chat_id: &str) -> Result<()> {
        let body = ChatIdBody { chat_id: chat_id.to_owned() };
        self.post_json(ep::REMOVE_CONVERSATION.path, &body, true).await?;
        Ok(())
    }

    /// `POST /v1/friend/no-notify`: turns do-not-disturb on or off.
    pub async fn set_no_notify(&self, chat_id: &str, on: bool) -> Result<()> {
        let body = NoNotifyBody { chat_id: chat_id.to_owned(), no_notify: u8::from(on) };
        self.post_json(ep::NO_NOTIFY.path, &body, true).await?;
        Ok(())
    }

    /// `POST /v1/sticky/list`: the caller's pins, in display order.
    pub async fn pins(&self) -> Result<Vec<Sticky>> {
        let data = self.post_json(ep::STICKY_LIST.path, &serde_json::json!({}), true).await?;
        Ok(json_data::<StickyList>(data)?.sticky)
    }

    /// `POST /v1/sticky/add`: pins a chat (pinning a pinned chat keeps its place).
    pub async fn pin(&self, chat_id: &str, chat_type: ChatType) -> Result<()> {
        let body = StickyChatBody { chat_id: chat_id.to_owned(), chat_type: Some(chat_type.code()) };
        self.post_json(ep::STICKY_ADD.path, &body, true).await?;
        Ok(())
    }

    /// `POST /v1/sticky/delete`: unpins a chat.
    pub async fn unpin(&self, chat_id: &str, chat_type: ChatType) -> Result<()> {
        let body = StickyChatBody { chat_id: chat_id.to_owned(), chat_type: Some(chat_type.code()) };
        self.post_json(ep::STICKY_DELETE.path, &body, true).await?;
        Ok(())
    }

    /// `POST /v1/sticky/topping`: moves the pin with this id (a [`Sticky::id`]) first.
    pub async fn move_pin_first(&self, pin_id: i64) -> Result<()> {
        self.post_json(ep::STICKY_TOPPING.path, &StickyIdBody { id: pin_id }, true).await?;
        Ok(())
    }

    /// `POST /v1/friend/delete-friend` with chat type 2: leaves a group.
    pub async fn leave_group(&self, group_id: &str) -> Result<()> {
        let body = yhconv_proto::json::DeleteFriendBody { chat_id: group_id.to_owned(), chat_type: Some(2) };
        self.post_json(ep::DELETE_FRIEND.path, &body, true).await?;
        Ok(())
    }

    /// `POST /v1/msg/send-message`: sends `msg` as given. Resending the same
    /// `msg_id` does not create a second message.
    pub async fn send_message(&self, msg: &pb::SendMessage) -> Result<()> {
        let _: pb::StatusOnly = self.post_proto(ep::SEND_MESSAGE.path, msg.encode_to_vec()).await?;
        Ok(())
    }

    /// Sends a text message with a new msg id (a uuid v4 in its 32-hex-digit
    /// form, as Yunhu's clients write it), mentioning `mentions` (user ids,
    /// or `all`). Returns the msg id.
    pub async fn send_text(&self, chat_id: &str, chat_type: ChatType, text: &str, mentions: &[&str]) -> Result<String> {
        let msg_id = uuid::Uuid::new_v4().simple().to_string();
        let msg = text_message(&msg_id, chat_id, chat_type, text, mentions);
        self.send_message(&msg).await?;
        Ok(msg_id)
    }

    /// `POST /v1/msg/list-message`: the newest `count` messages of a chat, or
    /// those before `before_msg_id`, newest first (as the server sends them).
    pub async fn list_messages(
        &self,
        chat_id: &str,
        chat_type: ChatType,
        count: u64,
        before_msg_id: Option<&str>,
    ) -> Result<Vec<pb::Msg>> {
        let req = pb::ListMessageRequest {
            msg_count: count,
            msg_id: before_msg_id.unwrap_or_default().to_owned(),
            chat_type: chat_type.code(),
            chat_id: chat_id.to_owned(),
        };
        let res: pb::ListMessageResponse = self.post_proto(ep::LIST_MESSAGE.path, req.encode_to_vec()).await?;
        Ok(res.msg)
    }

    /// `POST /v1/msg/list-message-by-seq`: with `after_seq` 0 the newest 31
    /// messages, else the (at most 31) after that sequence number; oldest
    /// first.
    pub async fn list_messages_after(
        &self,
        chat_id: &str,
        chat_type: ChatType,
        after_seq: u64,
    ) -> Result<Vec<pb::Msg>> {
        let req = pb::ListMessageBySeqRequest {
            msg_seq: after_seq.min(i64::MAX as u64) as i64,
            chat_type: chat_type.code(),
            chat_id: chat_id.to_owned(),
        };
        let res: pb::ListMessageResponse = self.post_proto(ep::LIST_MESSAGE_BY_SEQ.path, req.encode_to_vec()).await?;
        Ok(res.msg)
    }

    /// `POST /v1/msg/list-message-by-mid-seq`: the message `anchor_msg_id`
    /// and up to `count` messages before it, oldest first (the anchor last).
    pub async fn list_messages_up_to(
        &self,
        chat_id: &str,
        chat_type: ChatType,
        anchor_msg_id: &str,
        count: u64,
    ) -> Result<Vec<pb::Msg>> {
        let req = pb::ListMessageByMidSeqRequest {
            msg_id: anchor_msg_id.to_owned(),
            msg_count: count,
            chat_type: chat_type.code(),
            chat_id: chat_id.to_owned(),
            ..Default::default()
        };
        let res: pb::ListMessageResponse =
            self.post_proto(ep::LIST_MESSAGE_BY_MID_SEQ.path, req.encode_to_vec()).await?;
        Ok(res.msg)
    }

    /// `POST /v1/msg/edit-message`: gives one's own text message `msg_id`
    /// a new text (and mentions: they replace the old ones).
    pub async fn edit_text(
        &self,
        chat_id: &str,
        chat_type: ChatType,
        msg_id: &str,
        text: &str,
        mentions: &[&str],
    ) -> Result<()> {
        let msg = text_message(msg_id, chat_id, chat_type, text, mentions);
        let _: pb::StatusOnly = self.post_proto(ep::EDIT_MESSAGE.path, msg.encode_to_vec()).await?;
        Ok(())
    }

    /// `POST /v1/msg/recall-msg-batch` (`/v1/msg/recall-msg` for one id):
    /// recalls messages of one chat, all or nothing.
    pub async fn recall(&self, chat_id: &str, chat_type: ChatType, msg_ids: &[&str]) -> Result<()> {
        let req = pb::RecallMsg {
            msg_id: msg_ids.iter().map(|&m| m.to_owned()).collect(),
            chat_id: chat_id.to_owned(),
            chat_type: chat_type.code(),
        };
        let path = if msg_ids.len() == 1 { ep::RECALL_MSG.path } else { ep::RECALL_MSG_BATCH.path };
        let _: pb::StatusOnly = self.post_proto(path, req.encode_to_vec()).await?;
        Ok(())
    }

    /// `POST /v1/msg/list-message-edit-record`: what a message said before
    /// each edit, newest first (page from 1), and how many edits there were.
    pub async fn edit_records(&self, msg_id: &str, size: u64, page: u64) -> Result<(Vec<EditRecordItem>, u64)> {
        let body = EditRecordBody { msg_id: msg_id.to_owned(), size: Some(size), page: Some(page) };
        let data = self.post_json(ep::LIST_MESSAGE_EDIT_RECORD.path, &body, true).await?;
        let records: EditRecordList = json_data(data)?;
        Ok((records.list, records.total))
    }

    /// The full URL of an endpoint path (`/v1/...`).
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The token, or [`Error::NoToken`].
    pub(crate) fn require_token(&self) -> Result<&str> {
        self.token.as_deref().ok_or(Error::NoToken)
    }

    /// A protobuf POST with the token.
    pub(crate) async fn post_proto<M: Answer>(&self, path: &str, body: Vec<u8>) -> Result<M> {
        let req = self.http.post(self.url(path)).header(CONTENT_TYPE, PROTOBUF).body(body);
        self.call_proto(req).await
    }

    /// Sends a request that expects a protobuf answer, with the token.
    async fn call_proto<M: Answer>(&self, req: RequestBuilder) -> Result<M> {
        let req = req.header("token", self.require_token()?).header(ACCEPT, PROTOBUF);
        let (status, content_type, body) = self.send(req).await?;
        Raw { status, content_type: content_type.as_deref(), body: &body }.protobuf()
    }

    /// A JSON POST; returns the answer's `data`.
    pub(crate) async fn post_json<B: Serialize>(
        &self,
        path: &str,
        body: &B,
        with_token: bool,
    ) -> Result<Option<serde_json::Value>> {
        let body = serde_json::to_vec(body).map_err(|e| Error::Decode(e.to_string()))?;
        let mut req = self.http.post(self.url(path));
        if with_token {
            req = req.header("token", self.require_token()?);
        }
        let req = req.header(CONTENT_TYPE, JSON).header(ACCEPT, JSON).body(body);
        let (status, content_type, body) = self.send(req).await?;
        Raw { status, content_type: content_type.as_deref(), body: &body }.json()
    }

    /// Sends with the timeout; returns status, content type and body.
    async fn send(&self, req: RequestBuilder) -> Result<(u16, Option<String>, Bytes)> {
        let res = req.timeout(self.timeout).send().await?;
        let status = res.status().as_u16();
        let content_type = res.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = res.bytes().await?;
        Ok((status, content_type, body))
    }
}

/// A text message's `SendMessage` (send-message's body, and edit-message's).
fn text_message(msg_id: &str, chat_id: &str, chat_type: ChatType, text: &str, mentions: &[&str]) -> pb::SendMessage {
    pb::SendMessage {
        msg_id: msg_id.to_owned(),
        chat_id: chat_id.to_owned(),
        chat_type: chat_type.code(),
        content: Some(pb::MsgContent {
            text: text.to_owned(),
            mentioned_id: mentions.iter().map(|&m| m.to_owned()).collect(),
            ..Default::default()
        }),
        content_type: ContentType::Text.code(),
        ..Default::default()
    }
}
