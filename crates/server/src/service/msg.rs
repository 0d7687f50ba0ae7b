//! Sending and listing messages.

use prost::Message as _;
use yhconv_proto::pb::{MsgContent, SendMessage};
use yhconv_proto::{ChatType, ContentType};

use super::{now_ms, Service};
use crate::domain::error::{Error, Result};
use crate::domain::ids::Id;
use crate::preview::preview;
use crate::push::PushEvent;
use crate::store::{Entity, MentionTarget, NewMessage, StoredMessage};

/// Longest accepted `msg_id`, in bytes.
pub const MAX_MSG_ID_LEN: usize = 128;
/// Longest accepted message text, in bytes.
pub const MAX_TEXT_LEN: usize = 64 * 1024;
/// Most mentions in one message.
pub const MAX_MENTIONS: usize = 100;
/// Messages per history page when the client asks for 0.
pub const DEFAULT_PAGE: u64 = 20;
/// Most messages per history page; larger requests are capped.
pub const MAX_PAGE: u64 = 500;

/// What a send did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub seq: i64,
    /// True when the `msg_id` had been stored before (a retry).
    pub duplicate: bool,
}

/// The chat a request names, checked against its declared type.
async fn resolve_typed(service: &Service, chat_id: &str, chat_type: u64) -> Result<Entity> {
    let declared = ChatType::from_code(chat_type)
        .ok_or_else(|| Error::invalid(format!("unknown chat_type {chat_type} (1, 2 or 3)")))?;
    let peer = service.resolve(chat_id, "chat_id").await?;
    if peer.kind != declared {
        return Err(Error::invalid(format!(
            "chat {} is a {}, not a {} (chat_type {})",
            peer.id,
            peer.kind,
            declared,
            declared.code()
        )));
    }
    Ok(peer)
}

fn parse_mentions(content: &MsgContent) -> Result<Vec<MentionTarget>> {
    if content.mentioned_id.len() > MAX_MENTIONS {
        return Err(Error::invalid(format!("at most {MAX_MENTIONS} mentions per message")));
    }
    content
        .mentioned_id
        .iter()
        .map(|raw| match raw.trim() {
            "all" => Ok(MentionTarget::All),
            _ => Id::parse(raw, "mentioned_id").map(MentionTarget::User),
        })
        .collect()
}

/// A send request checked as far as it can be without the store: the
/// `msg_id`, content type, text and mentions. Pure, so it is fuzzed on its
/// own (`fuzz/fuzz_targets/proto_requests.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedSend {
    /// Trimmed, 1 to [`MAX_MSG_ID_LEN`] bytes.
    pub msg_id: String,
    pub chat_id: String,
    pub chat_type: u64,
    pub content_type: ContentType,
    pub content: MsgContent,
    pub mentions: Vec<MentionTarget>,
    /// Capped to [`MAX_MSG_ID_LEN`] characters.
    pub quote_msg_id: String,
}

/// Checks the parts of a send request that need no store.
pub fn check_send(req: SendMessage) -> Result<CheckedSend> {
    let msg_id = req.msg_id.trim().to_owned();
    if msg_id.is_empty() {
        return Err(Error::invalid("msg_id is required"));
    }
    if msg_id.len() > MAX_MSG_ID_LEN {
        return Err(Error::invalid(format!("msg_id is longer than {MAX_MSG_ID_LEN} bytes")));
    }
    let content_type = ContentType::from_code(req.content_type)
        .ok_or_else(|| Error::invalid(format!("unknown content_type {}", req.content_type)))?;
    let content = req.content.ok_or_else(|| Error::invalid("content is required"))?;
    if content_type.is_textual() && content.text.trim().is_empty() {
        return Err(Error::invalid("text is empty"));
    }
    if content.text.len() > MAX_TEXT_LEN {
        return Err(Error::invalid(format!("text is longer than {MAX_TEXT_LEN} bytes")));
    }
    let mentions = parse_mentions(&content)?;
    Ok(CheckedSend {
        msg_id,
        chat_id: req.chat_id,
        chat_type: req.chat_type,
        content_type,
        content,
        mentions,
        quote_msg_id: req.quote_msg_id.chars().take(MAX_MSG_ID_LEN).collect(),
    })
}

impl Service {
    /// Stores a message from `user` and queues its push; a retried `msg_id`
    /// is answered as a success and stored once.
    pub async fn send_message(&self, user: Id, req: SendMessage) -> Result<Sent> {
        let CheckedSend { msg_id, chat_id, chat_type, content_type, content, mentions, quote_msg_id } =
            check_send(req)?;
        let peer = resolve_typed(self, &chat_id, chat_type).await?;
        self.check_not_self(user, peer.id)?;
        let sender = self
            .store
            .entity(user)
            .await?
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("sender {user} no longer exists")))?;
        let group_sender = (peer.kind == ChatType::Group).then_some(sender.name.as_str());
        // Held until published, so that pushes leave in msg_seq order and
        // send times grow with msg_seq.
        let _order = self.hub.order_lock(user, &peer).lock().await;
        let new = NewMessage {
            sender: user,
            msg_id: msg_id.clone(),
            content_type,
            content: content.encode_to_vec(),
            quote_msg_id,
            preview: preview(content_type, &content, group_sender),
            mentions,
            sent_ms: now_ms(),
        };
        let sent_ms = new.sent_ms;
        let appended = self.store.append_message(&peer, new).await?;
        if !appended.duplicate {
            match peer.kind {
                ChatType::Group => self.list_changed_in_group(peer.id),
                ChatType::User | ChatType::Bot => {
                    self.list_changed_for(user);
                    self.list_changed_for(peer.id);
                }
            }
            self.hub.publish(PushEvent {
                peer,
                sender,
                msg_id,
                seq: appended.seq,
                content_type: content_type.code(),
                content,
                sent_ms,
            });
        }
        Ok(Sent { seq: appended.seq, duplicate: appended.duplicate })
    }

    /// History of a conversation, newest first; `before_msg_id` pages back.
    pub async fn list_messages(
        &self,
        user: Id,
        chat_id: &str,
        chat_type: u64,
        count: u64,
        before_msg_id: Option<&str>,
    ) -> Result<Vec<StoredMessage>> {
        let peer = resolve_typed(self, chat_id, chat_type).await?;
        self.check_not_self(user, peer.id)?;
        let limit = match count {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        let before = before_msg_id.map(str::trim).filter(|m| !m.is_empty());
        self.store.messages(user, &peer, before, limit as u32).await
    }
}
