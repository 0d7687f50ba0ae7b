//! Sending and listing messages.

use prost::Message as _;
use yhconv_proto::pb::{MsgContent, SendMessage};
use yhconv_proto::{ChatType, ContentType};

use super::send_targets::SendTarget;
use super::{now_ms, Service};
use crate::domain::error::{Error, Result};
use crate::domain::event::ChatRef;
use crate::domain::ids::Id;
use crate::domain::model::{Appended, Entity, MentionTarget, NewMessage, ReadPosition, SendFacts};
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
    let declared = declared_type(chat_type)?;
    let id = Id::parse(chat_id, "chat_id")?;
    read_declared(service, user, id, declared).await
}

/// The chat `id`, checked against the type `declared`, and the caller's
/// position in it.
async fn read_declared(
    service: &Service,
    user: Id,
    id: Id,
    declared: ChatType,
) -> Result<(Entity, Option<ReadPosition>)> {
    let (peer, position) =
        service.store.read_position(user, id).await?.ok_or_else(|| Error::UnknownChat(id.to_string()))?;
    check_declared(peer.id, peer.kind, declared)?;
    Ok((peer, position))
}

/// The chat type a request declares.
fn declared_type(chat_type: u64) -> Result<ChatType> {
    ChatType::from_code(chat_type).ok_or_else(|| Error::invalid(format!("unknown chat_type {chat_type} (1, 2 or 3)")))
}

/// Whether the chat `peer` is of the type the request declared.
fn check_declared(peer: Id, kind: ChatType, declared: ChatType) -> Result<()> {
    if kind != declared {
        return Err(Error::invalid(format!(
            "chat {peer} is a {kind}, not a {declared} (chat_type {})",
            declared.code()
        )));
    }
    Ok(())
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
        peer: Id,
        kind: ChatType,
        mentions: &[MentionTarget],
    ) -> Result<Vec<MentionTarget>> {
        let named: Vec<Id> = mentions
            .iter()
            .filter_map(|m| match m {
                MentionTarget::User(id) if kind == ChatType::Group && *id != user => Some(*id),
                _ => None,
            })
            .collect();
        let members = match named.is_empty() {
            true => Vec::new(),
            false => self.store.members_among(peer, named).await?,
        };
        Ok(effective_mentions(kind, user, peer, mentions, &members))
    }

    /// Stores a message from `user` (the store pushes it); a retried
    /// `msg_id` is answered as a success and stored once.
    ///
    /// The sender's conversation, gag and name come from memory when they
    /// were used before ([`super::send_targets`]); the store checks them
    /// again as it writes, and when they changed the send is decided again
    /// on what the store says now.
    pub async fn send_message(&self, user: Id, req: Outgoing) -> Result<Sent> {
        let checked = check_send(req)?;
        let peer = Id::parse(&checked.chat_id, "chat_id")?;
        self.check_not_self(user, peer)?;
        let declared = declared_type(checked.chat_type)?;
        for fresh in [false, true, true] {
            let (chat, kind, new) = match self.decide_send(user, peer, declared, &checked, fresh).await {
                // Kept facts may let a send through (the store checks
                // them); only the store's own refuse it.
                Err(_) if !fresh => self.decide_send(user, peer, declared, &checked, true).await?,
                decided => decided?,
            };
            // A chat whose pushes lag behind its sends waits here (per-chat
            // back-pressure: other chats' sends do not).
            self.hub.wait_for_room(chat).await;
            // Held until stored, so that send times grow with msg_seq
            // (unless the store keeps them in order itself).
            let _order = match self.store.orders_send_times() {
                true => None,
                false => Some(self.order_lock(user, peer, kind).lock().await),
            };
            match self.store.append_message(chat, NewMessage { sent_ms: now_ms(), ..new }).await? {
                Appended::New { seq } => return Ok(Sent { seq, duplicate: false }),
                Appended::Retry { seq, .. } => return Ok(Sent { seq, duplicate: true }),
                Appended::IdTaken => {
                    let msg_id = &checked.msg_id;
                    return Err(Error::invalid(format!(
                        "msg_id {msg_id:?} is already used by another sender in this chat"
                    )));
                }
                Appended::Stale => self.send_targets.forget(user, peer),
            }
        }
        // Only when the chat changed under three tries in a row.
        Err(Error::invalid("the chat changed while the message was being sent: send it again"))
    }

    /// The message `checked` from `user` to `peer` as the rules let it be
    /// sent (its chat, the chat's type, the message but for its time),
    /// decided on what is kept of the sender and the chat unless `fresh`.
    async fn decide_send(
        &self,
        user: Id,
        peer: Id,
        declared: ChatType,
        checked: &CheckedSend,
        fresh: bool,
    ) -> Result<(ChatRef, ChatType, NewMessage)> {
        // Both at once: with PostgreSQL each is a round trip when not kept.
        let (target, name) =
            tokio::try_join!(self.send_target(user, peer, declared, fresh), self.sender_name(user, fresh))?;
        if super::groups::is_gagged(target.gag_until_ms, now_ms()) {
            return Err(Error::invalid(super::groups::texts::GAGGED));
        }
        let mentions = self.counted_mentions(user, peer, target.kind, &checked.mentions).await?;
        let group_sender = (target.kind == ChatType::Group).then_some(name);
        let new = NewMessage {
            sender: user,
            msg_id: checked.msg_id.clone(),
            content_type: checked.content_type,
            content: checked.content.encode_to_vec(),
            quote_msg_id: checked.quote_msg_id.clone(),
            preview: preview(checked.content_type, &checked.content, group_sender.as_deref()),
            mentions,
            sent_ms: 0,
            // The sender's own message never counts as unread for them.
            read_by_sender: true,
            sender_peer: peer,
            facts: SendFacts { gag_until_ms: target.gag_until_ms, sender_name: group_sender },
        };
        Ok((target.chat, target.kind, new))
    }

    /// `user`'s conversation with `peer`, kept or (when not kept, or
    /// `fresh`) read: a group lists its members; a chat with a user or bot
    /// begins with its first message.
    async fn send_target(&self, user: Id, peer: Id, declared: ChatType, fresh: bool) -> Result<SendTarget> {
        if let Some(kept) = (!fresh).then(|| self.send_targets.target(user, peer)).flatten() {
            check_declared(peer, kept.kind, declared)?;
            return Ok(kept);
        }
        let (entity, position) = read_declared(self, user, peer, declared).await?;
        let (chat, gag_until_ms) = match position {
            Some(position) => (position.chat, position.gag_until_ms),
            None if entity.kind == ChatType::Group => return Err(Error::NotMember(peer.to_string())),
            None => (self.store.open_conversation(user, &entity).await?, 0),
        };
        let target = SendTarget { peer, kind: entity.kind, chat, gag_until_ms };
        self.send_targets.keep_target(user, target);
        Ok(target)
    }

    /// The sender's name, kept or (when not kept, or `fresh`) read.
    async fn sender_name(&self, user: Id, fresh: bool) -> Result<String> {
        if let Some(kept) = (!fresh).then(|| self.send_targets.name(user)).flatten() {
            return Ok(kept);
        }
        let sender = self
            .store
            .entity(user)
            .await?
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("sender {user} no longer exists")))?;
        self.send_targets.keep_name(user, sender.name.clone());
        Ok(sender.name)
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
