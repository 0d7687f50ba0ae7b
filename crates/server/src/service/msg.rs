//! Sending and listing messages.

use prost::Message as _;
use yhconv_proto::pb::{MsgContent, SendMessage};
use yhconv_proto::{ChatType, ContentType};

use super::{now_ms, Service};
use crate::domain::error::{Error, Result};
use crate::domain::ids::Id;
use crate::domain::model::{Appended, Entity, MentionTarget, NewMessage, ReadPosition};
use crate::preview::preview;

/// Longest accepted `msg_id`, in bytes.
pub const MAX_MSG_ID_LEN: usize = 128;
/// Longest accepted message text, in bytes.
pub const MAX_TEXT_LEN: usize = 64 * 1024;
/// Most mentions in one message.
pub const MAX_MENTIONS: usize = 100;

/// What a send did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub seq: i64,
    /// True when the `msg_id` had been stored before (a retry).
    pub duplicate: bool,
}

/// A message as a client asks to send it (the `SendMessage` of
/// send-message, without what the server ignores).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outgoing {
    pub msg_id: String,
    pub chat_id: String,
    pub chat_type: u64,
    pub content: Option<MsgContent>,
    pub content_type: u64,
    pub quote_msg_id: String,
}

impl From<SendMessage> for Outgoing {
    fn from(req: SendMessage) -> Self {
        Self {
            msg_id: req.msg_id,
            chat_id: req.chat_id,
            chat_type: req.chat_type,
            content: req.content,
            content_type: req.content_type,
            quote_msg_id: req.quote_msg_id,
        }
    }
}

/// The chat a request names, checked against its declared type, and the
/// caller's position in it (none yet, or not a member).
pub(super) async fn resolve_typed(
    service: &Service,
    user: Id,
    chat_id: &str,
    chat_type: u64,
) -> Result<(Entity, Option<ReadPosition>)> {
    let declared = ChatType::from_code(chat_type)
        .ok_or_else(|| Error::invalid(format!("unknown chat_type {chat_type} (1, 2 or 3)")))?;
    let id = Id::parse(chat_id, "chat_id")?;
    let (peer, position) =
        service.store.read_position(user, id).await?.ok_or_else(|| Error::UnknownChat(id.to_string()))?;
    if peer.kind != declared {
        return Err(Error::invalid(format!(
            "chat {} is a {}, not a {} (chat_type {})",
            peer.id,
            peer.kind,
            declared,
            declared.code()
        )));
    }
    Ok((peer, position))
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

/// Checks a message's content type, text and mentions (a send's or an
/// edit's).
pub fn check_content(
    content_type: u64,
    content: Option<MsgContent>,
) -> Result<(ContentType, MsgContent, Vec<MentionTarget>)> {
    let content_type = ContentType::from_code(content_type)
        .ok_or_else(|| Error::invalid(format!("unknown content_type {content_type}")))?;
    let content = content.ok_or_else(|| Error::invalid("content is required"))?;
    if content_type.is_textual() && content.text.trim().is_empty() {
        return Err(Error::invalid("text is empty"));
    }
    if content.text.len() > MAX_TEXT_LEN {
        return Err(Error::invalid(format!("text is longer than {MAX_TEXT_LEN} bytes")));
    }
    let mentions = parse_mentions(&content)?;
    Ok((content_type, content, mentions))
}

/// Checks the parts of a send request that need no store.
pub fn check_send(req: Outgoing) -> Result<CheckedSend> {
    let msg_id = req.msg_id.trim().to_owned();
    if msg_id.is_empty() {
        return Err(Error::invalid("msg_id is required"));
    }
    if msg_id.len() > MAX_MSG_ID_LEN {
        return Err(Error::invalid(format!("msg_id is longer than {MAX_MSG_ID_LEN} bytes")));
    }
    let (content_type, content, mentions) = check_content(req.content_type, req.content)?;
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

/// The mentions that count: never the sender; in a group, `all` and the
/// members named (`members` says who of them is one); with a user, that
/// user; with a bot, none.
pub fn effective_mentions(
    kind: ChatType,
    sender: Id,
    peer: Id,
    mentions: &[MentionTarget],
    members: &[Id],
) -> Vec<MentionTarget> {
    let mut out: Vec<MentionTarget> = Vec::new();
    for &target in mentions {
        let counts = match (kind, target) {
            (ChatType::Group, MentionTarget::All) => true,
            (_, MentionTarget::User(id)) if id == sender => false,
            (ChatType::Group, MentionTarget::User(id)) => members.contains(&id),
            (ChatType::User, MentionTarget::User(id)) => id == peer,
            (ChatType::User | ChatType::Bot, _) => false,
        };
        if counts && !out.contains(&target) {
            out.push(target);
        }
    }
    out
}

impl Service {
    /// The mentions of a message from `user` to `peer` that count (see
    /// [`effective_mentions`]); asks the store who of the named is a member.
    pub(super) async fn counted_mentions(
        &self,
        user: Id,
        peer: &Entity,
        mentions: &[MentionTarget],
    ) -> Result<Vec<MentionTarget>> {
        let named: Vec<Id> = mentions
            .iter()
            .filter_map(|m| match m {
                MentionTarget::User(id) if peer.kind == ChatType::Group && *id != user => Some(*id),
                _ => None,
            })
            .collect();
        let members = match named.is_empty() {
            true => Vec::new(),
            false => self.store.members_among(peer.id, named).await?,
        };
        Ok(effective_mentions(peer.kind, user, peer.id, mentions, &members))
    }

    /// Stores a message from `user` (the store pushes it); a retried
    /// `msg_id` is answered as a success and stored once.
    pub async fn send_message(&self, user: Id, req: Outgoing) -> Result<Sent> {
        let CheckedSend { msg_id, chat_id, chat_type, content_type, content, mentions, quote_msg_id } =
            check_send(req)?;
        let id = Id::parse(&chat_id, "chat_id")?;
        self.check_not_self(user, id)?;
        // Both lookups at once: with PostgreSQL each is a round trip.
        let ((peer, position), sender) = tokio::try_join!(resolve_typed(self, user, &chat_id, chat_type), async {
            self.store
                .entity(user)
                .await?
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("sender {user} no longer exists")))
        })?;
        let chat = match position {
            Some(position) => position.chat,
            // A group lists its members; a chat with a user or bot begins
            // with its first message.
            None if peer.kind == ChatType::Group => return Err(Error::NotMember(peer.id.to_string())),
            None => self.store.open_conversation(user, &peer).await?,
        };
        if position.is_some_and(|p| super::groups::is_gagged(p.gag_until_ms, now_ms())) {
            return Err(Error::invalid(super::groups::texts::GAGGED));
        }
        let mentions = self.counted_mentions(user, &peer, &mentions).await?;
        let group_sender = (peer.kind == ChatType::Group).then_some(sender.name.as_str());
        let preview = preview(content_type, &content, group_sender);
        // A chat whose pushes lag behind its sends waits here (per-chat
        // back-pressure: other chats' sends do not).
        self.hub.wait_for_room(chat).await;
        // Held until stored, so that send times grow with msg_seq.
        let _order = self.order_lock(user, &peer).lock().await;
        let new = NewMessage {
            sender: user,
            msg_id: msg_id.clone(),
            content_type,
            content: content.encode_to_vec(),
            quote_msg_id,
            preview,
            mentions,
            sent_ms: now_ms(),
            // The sender's own message never counts as unread for them.
            read_by_sender: true,
            sender_peer: peer.id,
        };
        match self.store.append_message(chat, new).await? {
            Appended::New { seq } => Ok(Sent { seq, duplicate: false }),
            Appended::Retry { seq, .. } => Ok(Sent { seq, duplicate: true }),
            Appended::IdTaken => {
                Err(Error::invalid(format!("msg_id {msg_id:?} is already used by another sender in this chat")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: i64) -> Id {
        Id::from_raw(n)
    }

    #[test]
    fn mentions_that_count() {
        let all = MentionTarget::All;
        let user = |n| MentionTarget::User(id(n));
        let named = [user(1), user(2), user(3), all, user(2)];
        // In a group: all, and members other than the sender, once each.
        assert_eq!(effective_mentions(ChatType::Group, id(1), id(9), &named, &[id(2)]), vec![user(2), all]);
        // With a user: only that user; `all` means nothing there.
        assert_eq!(effective_mentions(ChatType::User, id(1), id(3), &named, &[]), vec![user(3)]);
        // With a bot: nobody.
        assert!(effective_mentions(ChatType::Bot, id(1), id(3), &named, &[id(3)]).is_empty());
    }
}
