//! Events every server instance must see, in commit order: a stored
//! message, a revoked token. A store emits them inside the transaction that
//! made them (see [`crate::domain::store::Store`]); every instance's push hub
//! receives them from the store's feed and delivers them to its own sockets.
//!
//! Events are small keys, not payloads: PostgreSQL's `NOTIFY` carries at
//! most 8,000 bytes, and a message may hold 64 KiB. The hub loads what it
//! pushes ([`crate::domain::store::Store::pushed_message`]).

use super::ids::Id;

/// A stored message: its chat row and sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageKey {
    pub chat: ChatRef,
    pub seq: i64,
}

/// A chat row: a group, a pair of users, or a user with a bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChatRef(pub i64);

/// Where a store's feed hands its events: bounded, so that when the hub
/// falls behind, writers wait for it (back-pressure) instead of a queue
/// growing without end.
pub type EventSink = tokio::sync::mpsc::Sender<Event>;

/// Events a feed may hold that the hub has not taken yet.
pub const EVENT_QUEUE: usize = 4096;

/// The sha256 of a token, as tokens are stored.
pub type TokenHash = [u8; 32];

/// Something every instance must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new message: push it to every online receiver.
    Message(MessageKey),
    /// A message was edited: push its new content.
    Edited(MessageKey),
    /// A message was recalled: push the recall.
    Recalled(MessageKey),
    /// A token was revoked: close the sockets that logged in with it.
    LoggedOut(TokenHash),
    /// `user`'s draft in the chat with `peer` changed: push it to their
    /// sockets, except the one it was typed on.
    Draft { user: Id, peer: Id, origin: SocketOrigin },
}

/// Which socket something came from, across instances: the instance's
/// random tag and the socket's number there. [`SocketOrigin::NONE`] for
/// none (a change made over HTTP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SocketOrigin {
    pub instance: u64,
    pub socket: u64,
}

impl SocketOrigin {
    /// No socket.
    pub const NONE: SocketOrigin = SocketOrigin { instance: 0, socket: 0 };
}

/// Prefix of a logout's wire form.
const LOGOUT_PREFIX: &str = "logout:";
/// Prefix of an edit's wire form.
const EDIT_PREFIX: &str = "edit:";
/// Prefix of a recall's wire form.
const RECALL_PREFIX: &str = "recall:";
/// Prefix of a draft's wire form.
const DRAFT_PREFIX: &str = "draft:";

impl Event {
    /// The event as text (a `NOTIFY` payload): `CHAT:SEQ` for a message,
    /// `edit:CHAT:SEQ` and `recall:CHAT:SEQ`, `logout:` and the token hash
    /// in hex for a logout.
    pub fn encode(&self) -> String {
        let key = |k: &MessageKey| format!("{}{}", Self::message_payload_prefix(k.chat), k.seq);
        match self {
            Self::Message(k) => key(k),
            Self::Edited(k) => format!("{EDIT_PREFIX}{}", key(k)),
            Self::Recalled(k) => format!("{RECALL_PREFIX}{}", key(k)),
            Self::LoggedOut(hash) => format!("{LOGOUT_PREFIX}{}", hex::encode(hash)),
            Self::Draft { user, peer, origin } => {
                format!("{DRAFT_PREFIX}{}:{}:{}.{}", user.get(), peer.get(), origin.instance, origin.socket)
            }
        }
    }

    /// The text of [`Event::Message`] for `chat` up to its sequence
    /// number: the message's text is this followed by the number, in
    /// decimal (for a store that learns the number only as it writes).
    pub fn message_payload_prefix(chat: ChatRef) -> String {
        format!("{}:", chat.0)
    }

    /// Parses [`Event::encode`]'s text; `None` for anything else.
    pub fn decode(text: &str) -> Option<Self> {
        if let Some(hex_hash) = text.strip_prefix(LOGOUT_PREFIX) {
            let mut hash = [0u8; 32];
            hex::decode_to_slice(hex_hash, &mut hash).ok()?;
            return Some(Self::LoggedOut(hash));
        }
        if let Some(rest) = text.strip_prefix(DRAFT_PREFIX) {
            let mut parts = rest.split(':');
            let user = Id::from_raw(parts.next()?.parse().ok()?);
            let peer = Id::from_raw(parts.next()?.parse().ok()?);
            let (instance, socket) = parts.next()?.split_once('.')?;
            let origin = SocketOrigin { instance: instance.parse().ok()?, socket: socket.parse().ok()? };
            return parts.next().is_none().then_some(Self::Draft { user, peer, origin });
        }
        let key = |text: &str| {
            let (chat, seq) = text.split_once(':')?;
            Some(MessageKey { chat: ChatRef(chat.parse().ok()?), seq: seq.parse().ok()? })
        };
        if let Some(rest) = text.strip_prefix(EDIT_PREFIX) {
            return key(rest).map(Self::Edited);
        }
        if let Some(rest) = text.strip_prefix(RECALL_PREFIX) {
            return key(rest).map(Self::Recalled);
        }
        key(text).map(Self::Message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let key = MessageKey { chat: ChatRef(42), seq: 7 };
        let draft = Event::Draft {
            user: Id::from_raw(1001),
            peer: Id::from_raw(2001),
            origin: SocketOrigin { instance: u64::MAX, socket: 7 },
        };
        let events =
            [Event::Message(key), Event::Edited(key), Event::Recalled(key), Event::LoggedOut([0xab; 32]), draft];
        for event in events {
            assert_eq!(Event::decode(&event.encode()), Some(event.clone()), "{}", event.encode());
        }
        assert_eq!(Event::Message(MessageKey { chat: ChatRef(3), seq: 9 }).encode(), "3:9");
        assert_eq!(Event::message_payload_prefix(ChatRef(3)) + "9", "3:9");
    }

    #[test]
    fn garbage_is_none() {
        for text in [
            "",
            "x",
            "1:",
            ":2",
            "a:b",
            "logout:zz",
            "logout:abcd",
            "edit:",
            "recall:1",
            "draft:1:2",
            "draft:1:2:3",
            "draft:1:2:3.4:5",
        ] {
            assert_eq!(Event::decode(text), None, "{text}");
        }
    }
}
