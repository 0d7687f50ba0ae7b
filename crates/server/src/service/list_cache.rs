//! Each user's encoded conversation list, kept until something it shows
//! changes. Clients fetch the list at every start and sync, and most of
//! those fetches find it unchanged: a hit costs a few memory reads and one
//! point lookup instead of a pass over the user's conversations.
//!
//! What can change a user's list, and what records the change:
//! - a message in a group: the group's slot ([`ListCache::group_changed`]);
//! - a message in a direct or bot chat, and the user's own view changes
//!   (read, remove, top, mute): the user's slot ([`ListCache::user_changed`]);
//!   a direct message moves both users' slots;
//! - names, avatars, remarks and memberships: the store's identity epoch,
//!   which `yhconv admin` in another process moves too.
//!
//! A slot holds the generation of its last change, drawn from one counter
//! after the change committed. An entry remembers the generation read before
//! its snapshot was taken and stays valid while none of its slots has moved
//! past it. Ids share [`SLOTS`] slots, so a change may drop an unrelated
//! entry too, but never leaves a stale one; a group send stays O(1) however
//! many members see it.
//!
//! Only for stores this process alone writes ([`crate::domain::store::Store::shared`]
//! false): another instance's writes would not reach these slots.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use quick_cache::sync::Cache;
use quick_cache::Weighter;

use crate::domain::ids::Id;

/// Change slots shared by all users and groups (8 bytes each).
pub const SLOTS: usize = 1 << 16;

/// A user's list as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedList {
    /// The entries, each framed as field 2 of `ConversationList`.
    pub entries: Bytes,
    /// The list's fingerprint (hex md5 of `entries`).
    pub md5: String,
    /// How many entries there are.
    pub total: u64,
}

/// What a cached list was read at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// [`ListCache::generation`] before the read.
    pub generation: u64,
    /// The store's identity epoch before the read.
    pub identity_epoch: i64,
}

struct Entry {
    list: Arc<EncodedList>,
    at: Snapshot,
    /// Every group the user is in, listed or not: a message in any of them
    /// can change the list.
    groups: Box<[Id]>,
}

/// Weighs an entry by the memory it holds.
#[derive(Clone)]
struct ByBytes;

impl Weighter<Id, Arc<Entry>> for ByBytes {
    fn weight(&self, _user: &Id, entry: &Arc<Entry>) -> u64 {
        (entry.list.entries.len() + entry.list.md5.len() + entry.groups.len() * 8 + 128) as u64
    }
}

/// The cache: change slots and entries (see the module doc).
pub struct ListCache {
    generation: AtomicU64,
    slots: Box<[AtomicU64]>,
    entries: Cache<Id, Arc<Entry>, ByBytes>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// How the cache is doing, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListCacheStats {
    /// Lists answered from memory.
    pub hits: u64,
    /// Lists read from the store (absent, changed, or evicted).
    pub misses: u64,
    /// Lists kept now.
    pub entries: u64,
    /// Their weight: encoded bytes plus bookkeeping.
    pub bytes: u64,
}

impl ListCache {
    /// A cache holding about `budget_bytes` of encoded lists.
    pub fn new(budget_bytes: u64) -> Self {
        let estimated_entries = (budget_bytes / 4096).clamp(16, 1 << 20) as usize;
        Self {
            generation: AtomicU64::new(0),
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            entries: Cache::with_weighter(estimated_entries, budget_bytes, ByBytes),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The current generation: read it before reading a list to cache.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The user's cached list, if nothing it shows changed since it was read.
    pub fn get(&self, user: Id, identity_epoch: i64) -> Option<Arc<EncodedList>> {
        let found = self.entries.get(&user).filter(|entry| {
            entry.at.identity_epoch == identity_epoch
                && self.unchanged_since(user, entry.at.generation)
                && entry.groups.iter().all(|&group| self.unchanged_since(group, entry.at.generation))
        });
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found.map(|entry| Arc::clone(&entry.list))
    }

    /// Hits, misses and what is kept now.
    pub fn stats(&self) -> ListCacheStats {
        ListCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.entries.len() as u64,
            bytes: self.entries.weight(),
        }
    }

    /// Keeps a list read at `at`; `groups` are all the user's groups.
    pub fn insert(&self, user: Id, at: Snapshot, groups: Vec<Id>, list: Arc<EncodedList>) {
        self.entries.insert(user, Arc::new(Entry { list, at, groups: groups.into_boxed_slice() }));
    }

    /// Records a committed change to what `user` sees (call before answering).
    pub fn user_changed(&self, user: Id) {
        self.changed(user);
    }

    /// Records a committed message in `group` (call before answering).
    pub fn group_changed(&self, group: Id) {
        self.changed(group);
    }

    fn changed(&self, id: Id) {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        self.slot(id).fetch_max(generation, Ordering::SeqCst);
    }

    fn unchanged_since(&self, id: Id, generation: u64) -> bool {
        self.slot(id).load(Ordering::SeqCst) <= generation
    }

    fn slot(&self, id: Id) -> &AtomicU64 {
        // Fibonacci hashing: neighbouring ids land far apart.
        let index = (id.get() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOTS.trailing_zeros());
        &self.slots[index as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(tag: &str) -> Arc<EncodedList> {
        Arc::new(EncodedList { entries: Bytes::from(tag.as_bytes().to_vec()), md5: tag.into(), total: 1 })
    }

    fn id(raw: i64) -> Id {
        Id::from_raw(raw)
    }

    fn at(cache: &ListCache, identity_epoch: i64) -> Snapshot {
        Snapshot { generation: cache.generation(), identity_epoch }
    }

    #[test]
    fn a_list_stays_until_something_it_shows_changes() {
        let cache = ListCache::new(1 << 20);
        let snap = at(&cache, 7);
        cache.insert(id(1), snap, vec![id(100), id(101)], list("a"));
        assert_eq!(cache.get(id(1), 7).as_deref(), Some(&*list("a")));
        cache.user_changed(id(2));
        cache.group_changed(id(102));
        assert!(cache.get(id(1), 7).is_some(), "other users' and groups' changes keep it");
        cache.group_changed(id(101));
        assert!(cache.get(id(1), 7).is_none(), "a message in one of its groups drops it");
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses, stats.entries), (2, 1, 1));
        assert!(stats.bytes > 0);
    }

    #[test]
    fn own_changes_and_identity_changes_drop_it() {
        let cache = ListCache::new(1 << 20);
        cache.insert(id(1), at(&cache, 0), vec![], list("a"));
        assert!(cache.get(id(1), 1).is_none(), "a new identity epoch drops it");
        assert!(cache.get(id(1), 0).is_some());
        cache.user_changed(id(1));
        assert!(cache.get(id(1), 0).is_none());
    }

    #[test]
    fn a_change_during_the_read_drops_what_was_read() {
        let cache = ListCache::new(1 << 20);
        let before_read = at(&cache, 0);
        cache.group_changed(id(100)); // committed while the list was being read
        cache.insert(id(1), before_read, vec![id(100)], list("maybe stale"));
        assert!(cache.get(id(1), 0).is_none());
        cache.insert(id(1), at(&cache, 0), vec![id(100)], list("fresh"));
        assert_eq!(cache.get(id(1), 0).unwrap().md5, "fresh");
    }

    #[test]
    fn the_budget_bounds_memory() {
        let cache = ListCache::new(64 * 1024);
        let big = Arc::new(EncodedList { entries: Bytes::from(vec![0u8; 8 * 1024]), md5: String::new(), total: 1 });
        for user in 0..100 {
            cache.insert(id(user), at(&cache, 0), vec![], Arc::clone(&big));
        }
        let kept = (0..100).filter(|&user| cache.get(id(user), 0).is_some()).count();
        assert!((1..=8).contains(&kept), "kept {kept} lists of 8 KiB in 64 KiB");
    }
}
