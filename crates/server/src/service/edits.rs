//! Editing and recalling messages, and reading edit records.
//!
//! Rules:
//! - Only a message's sender may edit it; only text, markdown and html
//!   messages, into one of those; a recalled message cannot be edited. The
//!   edit replaces the message's mentions (an edit without `mentioned_id`
//!   clears them) and, when it is the chat's last message, its preview; the
//!   chat's time does not move. The old content is kept as an edit record.
//! - The sender may recall their own messages; in a group its owner and
//!   admins may recall anyone's. A batch is all or nothing; recalling a
//!   recalled message succeeds. A recalled message's content is gone for
//!   good; it no longer counts as unread or as a mention for anyone, and
//!   when it was the last message the preview reads `NAME 撤回了一条消息`
//!   (the recaller's name).
//! - Neither costs anything per member: the store touches the message, its
//!   mention rows and the chat row; lists count recalled messages above each
//!   reader's position when they are read.

use prost::Message as _;
use yhconv_proto::pb::MsgContent;
use yhconv_proto::{ChatType, ContentType};

use super::msg::{check_content, resolve_typed, Outgoing};
use super::{now_ms, Service};
use crate::domain::error::{Error, Result};
use crate::domain::event::ChatRef;
use crate::domain::ids::Id;
use crate::domain::model::{EditRecord, Entity, MessageEdit, MessageMeta, Recall, Role};
use crate::preview::{preview, recall_notice};

/// Most messages one recall-msg-batch may name.
pub const MAX_RECALL_BATCH: usize = 100;
/// Edit records per page when the client asks for 0, and at most.
pub const EDIT_RECORD_PAGE: (u32, u32) = (10, 100);

/// One edit record, with the message's send time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditRecordView {
    pub record: EditRecord,
    pub msg_id: String,
    pub sent_ms: i64,
}

impl Service {
    /// Edits a message of `user` (`req.msg_id` names it); returns the edit
    /// time.
    pub async fn edit_message(&self, user: Id, req: Outgoing) -> Result<i64> {
        let msg_id = req.msg_id.trim().to_owned();
        if msg_id.is_empty() {
            return Err(Error::invalid("msg_id is required"));
        }
        let (content_type, content, mentions) = check_content(req.content_type, req.content)?;
        if !content_type.is_textual() {
            return Err(Error::invalid("only text, markdown and html messages can be edited"));
        }
        let (peer, chat) = self.chat_of(user, &req.chat_id, req.chat_type).await?;
        let meta = self.message(chat, &msg_id).await?;
        if meta.sender != user {
            return Err(Error::invalid("only its sender may edit a message"));
        }
        if meta.recall_ms > 0 {
            return Err(Error::invalid("a recalled message cannot be edited"));
        }
        if !ContentType::from_code(meta.content_type).is_some_and(ContentType::is_textual) {
            return Err(Error::invalid("only text, markdown and html messages can be edited"));
        }
        let mentions = self.counted_mentions(user, peer.id, peer.kind, &mentions).await?;
        let group_sender = match peer.kind {
            ChatType::Group => Some(self.name_of(user).await?),
            ChatType::User | ChatType::Bot => None,
        };
        let edit_ms = now_ms();
        let edit = MessageEdit {
            seq: meta.seq,
            content_type,
            content: content.encode_to_vec(),
            preview: preview(content_type, &content, group_sender.as_deref()),
            mentions,
            edit_ms,
        };
        self.store.edit_message(chat, edit).await?;
        Ok(edit_ms)
    }

    /// Recalls messages of one chat, all or nothing.
    pub async fn recall_messages(&self, user: Id, chat_id: &str, chat_type: u64, msg_ids: &[String]) -> Result<()> {
        let msg_ids: Vec<&str> = msg_ids.iter().map(|m| m.trim()).filter(|m| !m.is_empty()).collect();
        if msg_ids.is_empty() {
            return Err(Error::invalid("msg_id is required"));
        }
        if msg_ids.len() > MAX_RECALL_BATCH {
            return Err(Error::invalid(format!("at most {MAX_RECALL_BATCH} messages per recall")));
        }
        let (peer, chat) = self.chat_of(user, chat_id, chat_type).await?;
        let role = match peer.kind {
            ChatType::Group => self.store.role(peer.id, user).await?,
            ChatType::User | ChatType::Bot => None,
        };
        let mut seqs = Vec::with_capacity(msg_ids.len());
        for msg_id in msg_ids {
            let meta = self.message(chat, msg_id).await?;
            if !may_recall(user, &meta, role) {
                return Err(Error::invalid(format!("you may not recall message {msg_id:?}: it is not yours")));
            }
            if meta.recall_ms == 0 {
                seqs.push(meta.seq);
            }
        }
        if seqs.is_empty() {
            return Ok(());
        }
        let notice = recall_notice(&self.name_of(user).await?);
        self.store.recall_messages(chat, Recall { seqs, by: user, recall_ms: now_ms(), notice }).await?;
        Ok(())
    }

    /// The edit records of a message in one of the caller's chats, newest
    /// first: page `page` (from 1) of `size` (0: the default), and the total.
    pub async fn edit_records(
        &self,
        user: Id,
        msg_id: &str,
        size: u32,
        page: u32,
    ) -> Result<(Vec<EditRecordView>, u64)> {
        let msg_id = msg_id.trim();
        if msg_id.is_empty() {
            return Err(Error::invalid("msgId is required"));
        }
        let (chat, meta) = self
            .store
            .locate_message(user, msg_id)
            .await?
            .ok_or_else(|| Error::invalid(format!("unknown msgId {msg_id:?}")))?;
        let size = match size {
            0 => EDIT_RECORD_PAGE.0,
            n => n.min(EDIT_RECORD_PAGE.1),
        };
        let offset = page.max(1).saturating_sub(1).saturating_mul(size);
        let (records, total) = self.store.edit_records(chat, meta.seq, size, offset).await?;
        let views = records
            .into_iter()
            .map(|record| EditRecordView { record, msg_id: msg_id.to_owned(), sent_ms: meta.sent_ms })
            .collect();
        Ok((views, total))
    }

    /// The chat a request names and its row, for a member of it.
    async fn chat_of(&self, user: Id, chat_id: &str, chat_type: u64) -> Result<(Entity, ChatRef)> {
        let id = Id::parse(chat_id, "chat_id")?;
        self.check_not_self(user, id)?;
        let (peer, position) = resolve_typed(self, user, chat_id, chat_type).await?;
        match position {
            Some(position) => Ok((peer, position.chat)),
            None if peer.kind == ChatType::Group => Err(Error::NotMember(peer.id.to_string())),
            None => Err(Error::invalid(format!("no conversation with {}", peer.id))),
        }
    }

    /// A message of `chat`, or `-1` naming it.
    async fn message(&self, chat: ChatRef, msg_id: &str) -> Result<MessageMeta> {
        self.store
            .message_meta(chat, msg_id)
            .await?
            .ok_or_else(|| Error::invalid(format!("unknown msg_id {msg_id:?} in this chat")))
    }

    /// A user's own name.
    async fn name_of(&self, user: Id) -> Result<String> {
        Ok(self.user_info(user).await?.entity.name)
    }
}

/// Whether `user` may recall `message`: their own, or anyone's in a group
/// they own or administer.
pub fn may_recall(user: Id, message: &MessageMeta, role_in_group: Option<Role>) -> bool {
    message.sender == user || matches!(role_in_group, Some(Role::Owner | Role::Admin))
}

/// The content of an edit record as JSON text (`contentOld`).
pub fn content_json(content: &[u8]) -> String {
    let content = MsgContent::decode(content).unwrap_or_default();
    let mut object = serde_json::Map::new();
    let mut put = |key: &str, value: &str| {
        if !value.is_empty() {
            object.insert(key.to_owned(), serde_json::Value::String(value.to_owned()));
        }
    };
    put("text", &content.text);
    put("buttons", &content.buttons);
    put("quote_msg_text", &content.quote_msg_text);
    if !content.mentioned_id.is_empty() {
        object.insert("mentioned_id".into(), content.mentioned_id.clone().into());
    }
    serde_json::Value::Object(object).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(sender: i64) -> MessageMeta {
        MessageMeta { seq: 1, sender: Id::from_raw(sender), content_type: 1, sent_ms: 0, recall_ms: 0 }
    }

    #[test]
    fn who_may_recall() {
        let me = Id::from_raw(1);
        assert!(may_recall(me, &meta(1), None), "one's own");
        assert!(!may_recall(me, &meta(2), None), "someone else's in a direct chat");
        assert!(!may_recall(me, &meta(2), Some(Role::Member)));
        assert!(may_recall(me, &meta(2), Some(Role::Admin)));
        assert!(may_recall(me, &meta(2), Some(Role::Owner)));
    }

    #[test]
    fn old_content_as_json() {
        let content = MsgContent { text: "hi \"x\"".into(), mentioned_id: vec!["7".into()], ..Default::default() };
        assert_eq!(content_json(&content.encode_to_vec()), r#"{"mentioned_id":["7"],"text":"hi \"x\""}"#);
        assert_eq!(content_json(&[]), "{}");
    }
}
