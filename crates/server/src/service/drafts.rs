//! Drafts: what a user types in a chat (`inputInfo`), kept per (user, chat),
//! pushed as `draft_input` to the user's other sockets on every instance,
//! replayed to a socket at login, replaced (never appended) by the next
//! one, and cleared by the user's send in that chat.
//!
//! Clients send a draft on every keystroke. Each socket coalesces its own
//! ([`DraftCoalescer`]): per chat, the first draft after a quiet
//! [`DRAFT_INTERVAL`] is stored and pushed at once, later ones only as the
//! latest value once per interval, and the last one always. So a fast
//! typist costs at most one write and one push per socket and chat per
//! interval, and the other devices end on the final text.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use super::{now_ms, Service};
use crate::domain::error::{Error, Result};
use crate::domain::ids::Id;
use crate::push::SocketOrigin;

/// Shortest time between two stored drafts of one socket in one chat.
pub const DRAFT_INTERVAL: Duration = Duration::from_millis(250);
/// Longest draft kept, in bytes.
pub const MAX_DRAFT_BYTES: usize = 16 * 1024;
/// Most chats one socket holds a pending draft for; a socket typing in more
/// gets its oldest pending drafts stored at once.
pub const MAX_PENDING_CHATS: usize = 32;

impl Service {
    /// Stores `user`'s draft in the chat `chat_id` (as they see it; an empty
    /// `input` clears it) and pushes it to their other sockets.
    pub async fn save_draft(&self, user: Id, origin: SocketOrigin, chat_id: &str, input: &str) -> Result<()> {
        let peer = Id::parse(chat_id, "chatId")?;
        self.check_not_self(user, peer)?;
        if input.len() > MAX_DRAFT_BYTES {
            return Err(Error::invalid(format!("a draft holds at most {MAX_DRAFT_BYTES} bytes")));
        }
        if self.store.entity(peer).await?.is_none() {
            return Err(Error::UnknownChat(peer.to_string()));
        }
        self.store.set_draft(user, peer, input.to_owned(), now_ms(), origin).await
    }

    /// `user`'s drafts (chat as they see it, text), for replay at login.
    pub async fn drafts(&self, user: Id) -> Result<Vec<(Id, String)>> {
        self.store.drafts(user).await
    }
}

/// One socket's drafts on their way to the store (see the module doc).
#[derive(Debug, Default)]
pub struct DraftCoalescer {
    chats: HashMap<String, Slot>,
}

#[derive(Debug)]
struct Slot {
    /// When a draft of this chat was last let through.
    last: Instant,
    /// The latest draft not let through yet.
    pending: Option<String>,
}

impl DraftCoalescer {
    /// A draft arrived at `now`: the drafts to store now (this one, if the
    /// chat was quiet long enough; older pending ones if too many chats
    /// wait), in order.
    pub fn offer(&mut self, chat_id: String, input: String, now: Instant) -> Vec<(String, String)> {
        let mut out = Vec::new();
        match self.chats.get_mut(&chat_id) {
            Some(slot) if now < slot.last + DRAFT_INTERVAL => slot.pending = Some(input),
            _ => {
                self.chats.insert(chat_id.clone(), Slot { last: now, pending: None });
                out.push((chat_id, input));
            }
        }
        // Chats whose interval passed and have nothing pending are done.
        self.chats.retain(|_, slot| slot.pending.is_some() || now < slot.last + DRAFT_INTERVAL);
        while self.chats.values().filter(|s| s.pending.is_some()).count() > MAX_PENDING_CHATS {
            let oldest = self.chats.iter().filter(|(_, s)| s.pending.is_some()).min_by_key(|(_, s)| s.last);
            let Some(chat) = oldest.map(|(chat, _)| chat.clone()) else { break };
            if let Some(slot) = self.chats.get_mut(&chat) {
                if let Some(input) = slot.pending.take() {
                    slot.last = now;
                    out.push((chat, input));
                }
            }
        }
        out
    }

    /// The pending drafts whose interval has passed at `now`, to store now.
    pub fn due(&mut self, now: Instant) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (chat, slot) in &mut self.chats {
            if now >= slot.last + DRAFT_INTERVAL {
                if let Some(input) = slot.pending.take() {
                    slot.last = now;
                    out.push((chat.clone(), input));
                }
            }
        }
        out
    }

    /// When the next pending draft is due, if any waits.
    pub fn next_due(&self) -> Option<Instant> {
        self.chats.values().filter(|s| s.pending.is_some()).map(|s| s.last + DRAFT_INTERVAL).min()
    }

    /// Every pending draft, at once (the socket is closing).
    pub fn flush(&mut self) -> Vec<(String, String)> {
        self.chats.drain().filter_map(|(chat, slot)| slot.pending.map(|input| (chat, input))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_costs_one_write_per_interval_and_ends_on_the_last_value() {
        let start = Instant::now();
        let mut drafts = DraftCoalescer::default();
        let mut stored = Vec::new();
        // 50 keystrokes a second for two seconds.
        for i in 0..100u64 {
            let now = start + Duration::from_millis(20 * i);
            stored.extend(drafts.due(now));
            stored.extend(drafts.offer("7".into(), "x".repeat(i as usize + 1), now));
        }
        let end = start + Duration::from_secs(3);
        assert_eq!(drafts.next_due().map(|due| due <= end), Some(true));
        stored.extend(drafts.due(end));
        assert!(stored.len() <= 2 * 4 + 2, "{} writes", stored.len());
        assert_eq!(stored.last().unwrap().1.len(), 100, "the final text is stored");
        assert!(drafts.next_due().is_none());
    }

    #[test]
    fn a_quiet_chat_is_stored_at_once_and_chats_do_not_wait_for_each_other() {
        let now = Instant::now();
        let mut drafts = DraftCoalescer::default();
        assert_eq!(drafts.offer("7".into(), "a".into(), now), vec![("7".into(), "a".into())]);
        assert_eq!(drafts.offer("8".into(), "b".into(), now), vec![("8".into(), "b".into())]);
        assert!(drafts.offer("7".into(), "ab".into(), now).is_empty());
        assert_eq!(drafts.flush(), vec![("7".into(), "ab".into())]);
        let later = now + DRAFT_INTERVAL;
        assert_eq!(drafts.offer("7".into(), "abc".into(), later), vec![("7".into(), "abc".into())]);
    }

    #[test]
    fn too_many_waiting_chats_are_stored_oldest_first() {
        let now = Instant::now();
        let mut drafts = DraftCoalescer::default();
        let mut stored = Vec::new();
        for chat in 0..=MAX_PENDING_CHATS {
            drafts.offer(chat.to_string(), "a".into(), now);
            stored.extend(drafts.offer(chat.to_string(), "ab".into(), now));
        }
        assert_eq!(stored.len(), 1);
        assert_eq!(drafts.flush().len(), MAX_PENDING_CHATS);
    }
}
