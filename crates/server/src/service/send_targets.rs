//! What a send needs to know of its sender and chat, kept in memory so
//! that a send costs no lookup before its write: the chat row of the
//! sender's conversation with a peer, the sender's gag there, and the
//! sender's name.
//!
//! Nothing here needs to be current. The rules decide on what is kept and
//! hand it to the store with the message ([`SendFacts`]); the store writes
//! the message only while those facts still hold, in the write's own
//! transaction, and answers [`Appended::Stale`] otherwise. The send then
//! forgets what it kept and decides again on what the store says now. So
//! a change made anywhere (another instance's gag, a leave, a rename)
//! costs the next send one more try, never a message stored against the
//! rules; and a send decided on what it had just read is checked the same
//! way, which also narrows the gap between its reads and its write to the
//! write's own statement (closes it, with SQLite's one writer).
//!
//! [`SendFacts`]: crate::domain::model::SendFacts
//! [`Appended::Stale`]: crate::domain::model::Appended::Stale

use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::sync::Cache;
use yhconv_proto::ChatType;

use crate::domain::event::ChatRef;
use crate::domain::ids::Id;

/// A sender's conversation with a peer, as a send needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SendTarget {
    pub peer: Id,
    pub kind: ChatType,
    pub chat: ChatRef,
    /// When the sender's gag there ends (ms; 0 when not gagged).
    pub gag_until_ms: i64,
}

/// Recently used send targets and senders' names.
pub(super) struct SendTargets {
    targets: Cache<(Id, Id), SendTarget>,
    names: Cache<Id, String>,
    /// Sends that found their target kept, and sends decided again because
    /// what they were decided on had changed (for `/metrics`).
    kept: AtomicU64,
    decided_again: AtomicU64,
}

/// How sends were decided (running totals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SendTargetStats {
    /// Sends that found their target kept (no lookup, unless a refusal
    /// decided on it had to be decided again on fresh facts).
    pub kept: u64,
    /// Sends the store refused because what they were decided on had
    /// changed, then decided again.
    pub decided_again: u64,
}

impl SendTargets {
    /// Keeps at most `capacity` targets and as many names.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            targets: Cache::new(capacity),
            names: Cache::new(capacity),
            kept: AtomicU64::new(0),
            decided_again: AtomicU64::new(0),
        }
    }

    /// The kept target of `sender`'s sends to `peer`.
    pub fn target(&self, sender: Id, peer: Id) -> Option<SendTarget> {
        let kept = self.targets.get(&(sender, peer));
        if kept.is_some() {
            self.kept.fetch_add(1, Ordering::Relaxed);
        }
        kept
    }

    pub fn keep_target(&self, sender: Id, target: SendTarget) {
        self.targets.insert((sender, target.peer), target);
    }

    /// The kept name of `sender`.
    pub fn name(&self, sender: Id) -> Option<String> {
        self.names.get(&sender)
    }

    pub fn keep_name(&self, sender: Id, name: String) {
        self.names.insert(sender, name);
    }

    /// Forgets what a send to `peer` by `sender` was decided on, once the
    /// store found it no longer holds.
    pub fn forget(&self, sender: Id, peer: Id) {
        self.decided_again.fetch_add(1, Ordering::Relaxed);
        self.targets.remove(&(sender, peer));
        self.names.remove(&sender);
    }

    /// How sends were decided so far.
    pub fn stats(&self) -> SendTargetStats {
        SendTargetStats {
            kept: self.kept.load(Ordering::Relaxed),
            decided_again: self.decided_again.load(Ordering::Relaxed),
        }
    }
}
