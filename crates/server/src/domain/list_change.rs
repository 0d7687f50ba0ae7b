//! What a committed write changed in users' conversation lists, as facts
//! about the rows it wrote: the list cache turns them into the entries it
//! must re-read (see `service::list_cache`).
//!
//! Every write that can change a list reports its [`ListFact`]s inside its
//! transaction, on both engines (`crates/server/tests/store_contract.rs`
//! checks each):
//! - SQLite hands them to the [`ListSink`] right after the commit, while the
//!   writer is still held: in commit order, before the write returns.
//! - PostgreSQL moves the database's list clock (one row, `list_clock`) in
//!   the same statement as a `NOTIFY` carrying the new clock value and the
//!   facts. The clock row is locked until the commit, so clock values are
//!   taken in commit order with no gaps: a reader that sees clock `n` sees
//!   every list change numbered up to `n` committed, and every instance's
//!   feed hands the notifications on as [`ListChange`]s numbered
//!   `1, 2, 3, …`.

use std::sync::Arc;

use super::event::{ChatRef, TokenHash};
use super::ids::Id;

/// One thing a write changed that some users' lists show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListFact {
    /// A message was stored, edited or recalled in the chat: every member's
    /// row of it may show something new.
    Chat(ChatRef),
    /// The user's view of their conversation with `peer` changed (read,
    /// removed, brought to the top, muted).
    View { user: Id, peer: Id },
    /// The user's set of conversations changed: one was opened, or they
    /// left a group.
    Conversations(Id),
    /// Every row whose peer is this user, group or bot changed, in every
    /// list that shows it: a rename, a new avatar, a dismissal.
    Peer(Id),
    /// Identities changed (names, avatars, remarks, memberships): any list
    /// may show it.
    Identities,
    /// A token was revoked (a logout). No list shows it, but it travels with
    /// the list changes so that every instance that keeps tokens in memory
    /// forgets it in commit order with them (`service::token_cache`).
    Revoked(TokenHash),
}

/// The facts of one committed transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListChange {
    /// The database's list clock after the change (shared stores); `None`
    /// when the store is this process's alone and the receiver numbers
    /// changes itself.
    pub clock: Option<i64>,
    pub facts: Vec<ListFact>,
}

/// Receives every [`ListChange`] a store commits, in commit order.
pub trait ListSink: Send + Sync + 'static {
    /// One committed change (for a shared store, possibly out of order:
    /// the clock says where it belongs).
    fn changed(&self, change: &ListChange);
    /// A shared store's feed is listening (again) and the database's list
    /// clock was `clock` when it started: changes up to it are unknown to
    /// the receiver, every later one will be handed on.
    fn resync(&self, clock: i64);
    /// A shared store's feed lost its connection: changes committed from now
    /// until the next [`ListSink::resync`] are not handed on.
    fn lost(&self);
}

/// Hands every list change to each of several sinks, in the order given.
pub struct ListSinks(pub Vec<Arc<dyn ListSink>>);

impl ListSink for ListSinks {
    fn changed(&self, change: &ListChange) {
        self.0.iter().for_each(|sink| sink.changed(change));
    }
    fn resync(&self, clock: i64) {
        self.0.iter().for_each(|sink| sink.resync(clock));
    }
    fn lost(&self) {
        self.0.iter().for_each(|sink| sink.lost());
    }
}

/// Where a request stands against the list changes, read in one lookup
/// (see [`crate::domain::store::Store::list_clock`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListClock {
    /// The identity epoch (which `yhconv admin` in another process moves);
    /// 0 for a shared store, where identity changes move the list clock.
    pub identity_epoch: i64,
    /// A shared store's list clock: every list change numbered up to it is
    /// committed. `None` for a store this process alone writes.
    pub changes: Option<i64>,
}

/// Prefix of a list change's `NOTIFY` payload.
const LIST_PREFIX: &str = "list:";

impl ListFact {
    /// The fact as text: `cCHAT`, `vUSER.PEER`, `uUSER`, `pPEER`, `i` or
    /// `tHASH` (hex).
    pub fn encode(&self) -> String {
        match self {
            Self::Chat(chat) => format!("c{}", chat.0),
            Self::View { user, peer } => format!("v{}.{}", user.get(), peer.get()),
            Self::Conversations(user) => format!("u{}", user.get()),
            Self::Peer(peer) => format!("p{}", peer.get()),
            Self::Identities => "i".to_owned(),
            Self::Revoked(hash) => format!("t{}", hex::encode(hash)),
        }
    }

    /// Parses [`ListFact::encode`]'s text.
    pub fn decode(text: &str) -> Option<Self> {
        let id = |s: &str| s.parse::<i64>().ok();
        match text.split_at_checked(1)? {
            ("c", rest) => Some(Self::Chat(ChatRef(id(rest)?))),
            ("v", rest) => {
                let (user, peer) = rest.split_once('.')?;
                Some(Self::View { user: Id::from_raw(id(user)?), peer: Id::from_raw(id(peer)?) })
            }
            ("u", rest) => Some(Self::Conversations(Id::from_raw(id(rest)?))),
            ("p", rest) => Some(Self::Peer(Id::from_raw(id(rest)?))),
            ("i", "") => Some(Self::Identities),
            ("t", rest) => {
                let mut hash = [0u8; 32];
                hex::decode_to_slice(rest, &mut hash).ok()?;
                Some(Self::Revoked(hash))
            }
            _ => None,
        }
    }
}

impl ListChange {
    /// The facts as the tail of a `NOTIFY` payload (after the clock):
    /// comma-separated.
    pub fn encode_facts(facts: &[ListFact]) -> String {
        facts.iter().map(ListFact::encode).collect::<Vec<_>>().join(",")
    }

    /// Parses a payload `list:CLOCK:FACTS`; `None` for anything else.
    pub fn decode(payload: &str) -> Option<Self> {
        let rest = payload.strip_prefix(LIST_PREFIX)?;
        let (clock, facts) = rest.split_once(':')?;
        let facts = match facts {
            "" => Vec::new(),
            facts => facts.split(',').map(ListFact::decode).collect::<Option<Vec<_>>>()?,
        };
        Some(Self { clock: Some(clock.parse().ok()?), facts })
    }

    /// The clock of a payload `list:CLOCK:FACTS`, read without parsing the
    /// facts; `None` for anything else.
    pub fn clock_of(payload: &str) -> Option<i64> {
        payload.strip_prefix(LIST_PREFIX)?.split_once(':')?.0.parse().ok()
    }

    /// Whether a payload is a list change's (and not a push event's).
    pub fn is_list_payload(payload: &str) -> bool {
        payload.starts_with(LIST_PREFIX)
    }

    /// The payload prefix, for the SQL that builds it around the clock.
    pub fn payload_prefix() -> &'static str {
        LIST_PREFIX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let facts = vec![
            ListFact::Chat(ChatRef(42)),
            ListFact::View { user: Id::from_raw(7), peer: Id::from_raw(9) },
            ListFact::Conversations(Id::from_raw(3)),
            ListFact::Peer(Id::from_raw(5)),
            ListFact::Identities,
            ListFact::Revoked([0xab; 32]),
        ];
        let payload = format!("list:17:{}", ListChange::encode_facts(&facts));
        assert_eq!(payload, format!("list:17:c42,v7.9,u3,p5,i,t{}", "ab".repeat(32)));
        assert_eq!(ListChange::decode(&payload), Some(ListChange { clock: Some(17), facts }));
        assert_eq!(ListChange::clock_of(&payload), Some(17));
        assert_eq!(ListChange::clock_of("list:18:"), Some(18));
        assert!(ListChange::is_list_payload(&payload));
        assert!(!ListChange::is_list_payload("3:9"));
    }

    #[test]
    fn garbage_is_none() {
        for text in [
            "",
            "list:",
            "list:x:c1",
            "list:1:q1",
            "list:1:c",
            "list:1:v1",
            "3:9",
            "list:1:i2",
            "list:1:tab",
            "list:1:t",
        ] {
            assert_eq!(ListChange::decode(text), None, "{text}");
        }
        for text in ["", "list:", "list:x:c1", "list:7", "3:9"] {
            assert_eq!(ListChange::clock_of(text), None, "{text}");
        }
    }
}
