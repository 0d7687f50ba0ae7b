//! Each user's encoded conversation list, kept row by row until something
//! it shows changes. Clients fetch the list at every start and sync, and
//! most of those fetches find it unchanged: a hit costs a few memory reads
//! and one point lookup instead of a pass over the user's conversations.
//! When some rows changed, only those are read again and the list is put
//! back together from the encoded rows it kept.
//!
//! What changes a list, as the stores report it ([`ListFact`], after every
//! commit, on both engines): a message, edit or recall in a chat moves the
//! chat's slot; a user's read, remove, top or mute moves the slot of that
//! user's row; opening a conversation or joining or leaving a group moves
//! the user's slot; a rename, new avatar or dismissal moves the slot of
//! every row whose peer it is; identities move everyone's (and the identity epoch, which
//! `yhconv admin` in another process moves too, is checked at every list).
//!
//! A slot holds the number of the last change that moved it; an entry
//! remembers the number it was read at (its [`Stamp`]) and a row of it
//! stays valid while none of its slots moved past that. Keys share
//! [`SLOTS`] slots, so a change may send an unrelated row to be read again
//! too, but never leaves a stale one; a group send moves one slot however
//! many members see it.
//!
//! Who numbers the changes:
//! - A store this process alone writes (SQLite): this cache, from one
//!   counter. The store reports each write's facts twice, before and after
//!   its commit, so a list read while the commit is under way is dropped
//!   and a request that begins after the commit never trusts what it moved.
//! - A shared store (PostgreSQL): the database's list clock, which every
//!   list-changing transaction moves in commit order; every instance's feed
//!   hands the numbered changes on. A request learns the clock with no
//!   round trip while the instance holds a list lease (the writers then
//!   wait until it has handed their changes on; see the PostgreSQL store's
//!   `leases`), else reads it (with an empty query on the feed's own
//!   connection while it listens; see its `Barrier`), and trusts the cache only once the
//!   feed has handed on every change up to it, waiting up to [`FEED_WAIT`]
//!   for it; while the feed is disconnected, or after that wait, it reads
//!   the list from the database. So on both engines an answer reflects
//!   every change committed before the request began.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use quick_cache::sync::Cache;
use quick_cache::Weighter;
use tokio::sync::watch;

use crate::domain::event::ChatRef;
use crate::domain::ids::Id;
use crate::domain::list_change::{ListChange, ListClock, ListFact, ListSink};

/// Change slots shared by all keys (8 bytes each).
pub const SLOTS: usize = 1 << 16;
/// Conversations remembered as read (about 64 bytes each; see
/// [`ListCache::shows_read`]).
pub const READ_MARKS: usize = 100_000;
/// Longest a list request waits for the feed to hand on the changes the
/// database's list clock says are committed, before reading from the
/// database instead.
pub const FEED_WAIT: Duration = Duration::from_millis(200);

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
pub struct Stamp {
    /// The number of the last change the read may miss none of: every
    /// change numbered up to it is in what was read.
    pub generation: u64,
    /// The store's identity epoch before the read.
    pub identity_epoch: i64,
}

/// One of a user's conversations as the cache keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedRow {
    pub peer: Id,
    pub chat: ChatRef,
    /// The user has read up to the chat's last message: marking it read
    /// would change nothing.
    pub read_through: bool,
    /// Set when the conversation shows in the list.
    pub listed: Option<ListedRow>,
}

/// A conversation that shows in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedRow {
    /// Its sort key (with the peer id): newest first.
    pub timestamp_ms: i64,
    /// Its entry as it goes on the wire (a slice of the list's bytes).
    pub entry: Bytes,
}

/// A user's list, kept: every conversation (listed or not, since a
/// message can bring a silent one into the list), the listed ones in list
/// order, and their bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedList {
    pub at: Stamp,
    /// Every conversation; the listed ones first, in list order.
    pub rows: Vec<CachedRow>,
    /// The caller's own name, when a row needed it (for `at_data`).
    pub own_name: Option<String>,
    pub list: Arc<EncodedList>,
}

/// What the cache holds for a user, against a request's stamp.
pub enum Lookup {
    /// Nothing it shows changed.
    Fresh(Arc<EncodedList>),
    /// These rows (by peer) may have changed; the rest did not.
    Changed { kept: Arc<CachedList>, peers: Vec<Id> },
    /// Nothing kept, or too much changed to patch: read it all.
    Missing,
}

/// Weighs an entry by the memory it holds.
#[derive(Clone)]
struct ByBytes;

impl Weighter<Id, Arc<CachedList>> for ByBytes {
    fn weight(&self, _user: &Id, entry: &Arc<CachedList>) -> u64 {
        let own = entry.own_name.as_ref().map_or(0, String::len);
        (entry.list.entries.len() + entry.list.md5.len() + entry.rows.len() * 64 + own + 128) as u64
    }
}

/// The cache: change slots and entries (see the module doc).
pub struct ListCache {
    /// True when the database numbers the changes (a shared store).
    shared: bool,
    /// This process's counter (not shared), or the number of the last change
    /// the feed handed on with none missing before it (shared).
    generation: AtomicU64,
    /// Shared: the feed is listening and `generation` follows it.
    live: AtomicBool,
    /// Shared: `generation`, for requests waiting for the feed.
    applied: watch::Sender<u64>,
    /// Shared: changes handed on ahead of one still missing.
    pending: Mutex<BTreeMap<u64, Vec<ListFact>>>,
    /// The last change every list may show (identities, a resync).
    everyone: AtomicU64,
    slots: Box<[AtomicU64]>,
    entries: Cache<Id, Arc<CachedList>, ByBytes>,
    /// Conversations a mark-read found read up to their last message, by
    /// (user, peer): the chat and the stamp of the request that found it.
    read_marks: Cache<(Id, Id), (ChatRef, Stamp)>,
    hits: AtomicU64,
    patches: AtomicU64,
    misses: AtomicU64,
}

/// How the cache is doing, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListCacheStats {
    /// Lists answered from memory.
    pub hits: u64,
    /// Lists put back together after reading only their changed rows.
    pub patches: u64,
    /// Lists read whole from the store (absent, changed a lot, evicted, or
    /// not to be trusted while a shared store's feed was behind).
    pub misses: u64,
    /// Lists kept now.
    pub entries: u64,
    /// Their weight: encoded bytes plus bookkeeping.
    pub bytes: u64,
}

/// A key's slot tag: which kind of fact it is.
const CHAT: u64 = 1;
const VIEW: u64 = 2;
const CONVERSATIONS: u64 = 3;
const PEER: u64 = 4;

impl ListCache {
    /// A cache holding about `budget_bytes` of encoded lists; `shared` when
    /// the store's changes are numbered by the database (see the module doc).
    pub fn new(budget_bytes: u64, shared: bool) -> Self {
        let estimated_entries = (budget_bytes / 4096).clamp(16, 1 << 20) as usize;
        Self {
            shared,
            generation: AtomicU64::new(0),
            live: AtomicBool::new(false),
            applied: watch::Sender::new(0),
            pending: Mutex::new(BTreeMap::new()),
            everyone: AtomicU64::new(0),
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            entries: Cache::with_weighter(estimated_entries, budget_bytes, ByBytes),
            read_marks: Cache::new(READ_MARKS),
            hits: AtomicU64::new(0),
            patches: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The stamp a request that read `clock` reads lists at, and whether it
    /// may trust what the cache holds: always for a store this process
    /// alone writes; for a shared one, once the feed has handed on every
    /// change up to the clock (waiting up to [`FEED_WAIT`]).
    pub async fn stamp(&self, clock: ListClock) -> (Stamp, bool) {
        let Some(committed) = clock.changes.filter(|_| self.shared) else {
            let generation = self.generation.load(Ordering::SeqCst);
            return (Stamp { generation, identity_epoch: clock.identity_epoch }, true);
        };
        let committed = committed.max(0) as u64;
        let at = Stamp { generation: committed, identity_epoch: clock.identity_epoch };
        if !self.live.load(Ordering::SeqCst) {
            return (at, false);
        }
        if self.generation.load(Ordering::SeqCst) >= committed {
            return (at, true);
        }
        let mut applied = self.applied.subscribe();
        let settled = applied.wait_for(|&n| n >= committed || !self.live.load(Ordering::SeqCst));
        let _ = tokio::time::timeout(FEED_WAIT, settled).await;
        let trusted = self.live.load(Ordering::SeqCst) && self.generation.load(Ordering::SeqCst) >= committed;
        (at, trusted)
    }

    /// What is kept for `user`, checked against a request's stamp `now`;
    /// nothing when the request may not trust the cache (see
    /// [`ListCache::stamp`]).
    pub fn lookup(&self, user: Id, now: Stamp, trusted: bool) -> Lookup {
        let Some(kept) = self.kept(user, now).filter(|_| trusted) else {
            return self.count(Lookup::Missing);
        };
        let peers: Vec<Id> = kept
            .rows
            .iter()
            .filter(|row| self.conversation_moved(user, row.peer, row.chat, kept.at))
            .map(|row| row.peer)
            .collect();
        if peers.is_empty() {
            return self.count(Lookup::Fresh(Arc::clone(&kept.list)));
        }
        // Reading most rows one by one costs more than one pass over them.
        if peers.len() * 4 > kept.rows.len().max(8) {
            return self.count(Lookup::Missing);
        }
        self.count(Lookup::Changed { kept, peers })
    }

    /// Whether `user` has read the conversation with `peer` up to its last
    /// message, as far as the cache knows for a request stamped `now`: its
    /// kept list says so, or an earlier mark-read found it so
    /// ([`ListCache::note_read`]), and nothing that would change it moved
    /// since. False when the cache cannot say.
    pub fn shows_read(&self, user: Id, peer: Id, now: Stamp, trusted: bool) -> bool {
        if !trusted {
            return false;
        }
        let in_kept_list = self.kept(user, now).is_some_and(|kept| {
            kept.rows
                .iter()
                .find(|row| row.peer == peer)
                .is_some_and(|row| row.read_through && !self.conversation_moved(user, peer, row.chat, kept.at))
        });
        in_kept_list
            || self.read_marks.get(&(user, peer)).is_some_and(|(chat, at)| {
                !self.user_moved(user, at, now) && !self.conversation_moved(user, peer, chat, at)
            })
    }

    /// Notes that a request stamped `at` found `user` had read the
    /// conversation with `peer` (in `chat`) up to its last message, reading
    /// after it took the stamp.
    pub fn note_read(&self, user: Id, peer: Id, chat: ChatRef, at: Stamp) {
        self.read_marks.insert((user, peer), (chat, at));
    }

    /// The list kept for `user` if a request stamped `now` may use it:
    /// neither identities nor the user's set of conversations changed since
    /// it was read (its rows may have).
    fn kept(&self, user: Id, now: Stamp) -> Option<Arc<CachedList>> {
        let kept = self.entries.get(&user)?;
        (!self.user_moved(user, kept.at, now)).then_some(kept)
    }

    /// Whether anything that changes all of `user`'s conversations moved
    /// since `at`, for a request stamped `now`: identities, or the user's
    /// set of conversations.
    fn user_moved(&self, user: Id, at: Stamp, now: Stamp) -> bool {
        at.identity_epoch != now.identity_epoch
            || self.everyone.load(Ordering::SeqCst) > at.generation
            || self.moved(CONVERSATIONS, user.get(), 0) > at.generation
    }

    /// Whether something `user`'s conversation with `peer` (in `chat`)
    /// shows may have changed since `at`.
    fn conversation_moved(&self, user: Id, peer: Id, chat: ChatRef, at: Stamp) -> bool {
        let at = at.generation;
        self.moved(CHAT, chat.0, 0) > at
            || self.moved(VIEW, user.get(), peer.get()) > at
            || self.moved(PEER, peer.get(), 0) > at
    }

    fn count(&self, lookup: Lookup) -> Lookup {
        let counter = match lookup {
            Lookup::Fresh(_) => &self.hits,
            Lookup::Changed { .. } => &self.patches,
            Lookup::Missing => &self.misses,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        lookup
    }

    /// Keeps a user's list.
    pub fn insert(&self, user: Id, list: CachedList) {
        self.entries.insert(user, Arc::new(list));
    }

    /// Hits, patches, misses and what is kept now.
    pub fn stats(&self) -> ListCacheStats {
        ListCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            patches: self.patches.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.entries.len() as u64,
            bytes: self.entries.weight(),
        }
    }

    /// Records `facts` as change number `generation`.
    fn record(&self, facts: &[ListFact], generation: u64) {
        for fact in facts {
            match *fact {
                ListFact::Chat(chat) => self.bump(CHAT, chat.0, 0, generation),
                ListFact::View { user, peer } => self.bump(VIEW, user.get(), peer.get(), generation),
                ListFact::Conversations(user) => self.bump(CONVERSATIONS, user.get(), 0, generation),
                ListFact::Peer(peer) => self.bump(PEER, peer.get(), 0, generation),
                ListFact::Identities => {
                    self.everyone.fetch_max(generation, Ordering::SeqCst);
                }
                ListFact::Revoked(_) => {}
            }
        }
    }

    fn bump(&self, tag: u64, a: i64, b: i64, generation: u64) {
        self.slots[slot_index(tag, a, b)].fetch_max(generation, Ordering::SeqCst);
    }

    fn moved(&self, tag: u64, a: i64, b: i64) -> u64 {
        self.slots[slot_index(tag, a, b)].load(Ordering::SeqCst)
    }

    /// Shared: makes `generation` and its waiters follow the feed.
    fn publish(&self, generation: u64) {
        self.generation.store(generation, Ordering::SeqCst);
        self.applied.send_replace(generation);
    }
}

impl ListSink for ListCache {
    fn changed(&self, change: &ListChange) {
        let Some(clock) = change.clock.filter(|_| self.shared) else {
            let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
            return self.record(&change.facts, generation);
        };
        let clock = clock.max(0) as u64;
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        // Before the first resync nothing is trusted; at or below the
        // current number it was covered by a resync.
        if !self.live.load(Ordering::SeqCst) || clock <= self.generation.load(Ordering::SeqCst) {
            return;
        }
        pending.insert(clock, change.facts.clone());
        let mut generation = self.generation.load(Ordering::SeqCst);
        while let Some(facts) = pending.remove(&(generation + 1)) {
            generation += 1;
            self.record(&facts, generation);
        }
        self.publish(generation);
    }

    fn resync(&self, clock: i64) {
        let clock = clock.max(0) as u64;
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        // Whatever changed up to `clock` is unknown here: nothing read
        // before it is trusted again.
        self.everyone.fetch_max(clock, Ordering::SeqCst);
        self.entries.clear();
        pending.retain(|&n, _| n > clock);
        let mut generation = clock;
        while let Some(facts) = pending.remove(&(generation + 1)) {
            generation += 1;
            self.record(&facts, generation);
        }
        self.publish(generation);
        self.live.store(true, Ordering::SeqCst);
    }

    fn lost(&self) {
        self.live.store(false, Ordering::SeqCst);
        // Wakes the requests waiting for the feed: it will not catch up.
        self.applied.send_modify(|_| {});
    }
}

/// The slot of a key: Fibonacci hashing, so neighbouring ids land far apart.
fn slot_index(tag: u64, a: i64, b: i64) -> usize {
    const PHI: u64 = 0x9E37_79B9_7F4A_7C15;
    let mixed = ((tag.wrapping_mul(PHI) ^ a as u64).wrapping_mul(PHI) ^ b as u64).wrapping_mul(PHI);
    (mixed >> (64 - SLOTS.trailing_zeros())) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: i64) -> Id {
        Id::from_raw(raw)
    }

    fn clock(identity_epoch: i64, changes: Option<i64>) -> ListClock {
        ListClock { identity_epoch, changes }
    }

    /// A kept list of `user` in chats `chats` (peer = chat id), read at `at`.
    fn kept(at: Stamp, chats: &[i64], tag: &str) -> CachedList {
        CachedList {
            at,
            rows: chats
                .iter()
                .map(|&c| CachedRow { peer: id(c), chat: ChatRef(c), read_through: c % 2 == 0, listed: None })
                .collect(),
            own_name: None,
            list: Arc::new(EncodedList { entries: Bytes::from(tag.as_bytes().to_vec()), md5: tag.into(), total: 1 }),
        }
    }

    fn local(facts: &[ListFact]) -> ListChange {
        ListChange { clock: None, facts: facts.to_vec() }
    }

    fn fresh_md5(lookup: Lookup) -> Option<String> {
        match lookup {
            Lookup::Fresh(list) => Some(list.md5.clone()),
            _ => None,
        }
    }

    fn changed_peers(lookup: Lookup) -> Option<Vec<Id>> {
        match lookup {
            Lookup::Changed { peers, .. } => Some(peers),
            _ => None,
        }
    }

    #[tokio::test]
    async fn a_list_stays_until_something_it_shows_changes() {
        let cache = ListCache::new(1 << 20, false);
        let (at, trusted) = cache.stamp(clock(7, None)).await;
        assert!(trusted);
        let chats: Vec<i64> = (100..120).collect();
        cache.insert(id(1), kept(at, &chats, "a"));
        assert_eq!(fresh_md5(cache.lookup(id(1), at, true)).as_deref(), Some("a"));
        cache.changed(&local(&[ListFact::Chat(ChatRef(999)), ListFact::View { user: id(2), peer: id(101) }]));
        assert!(fresh_md5(cache.lookup(id(1), at, true)).is_some(), "other chats' and users' changes keep it");
        cache.changed(&local(&[ListFact::Chat(ChatRef(101))]));
        assert_eq!(changed_peers(cache.lookup(id(1), at, true)), Some(vec![id(101)]), "a message in one chat: one row");
        cache.changed(&local(&[ListFact::View { user: id(1), peer: id(105) }]));
        assert_eq!(changed_peers(cache.lookup(id(1), at, true)), Some(vec![id(101), id(105)]), "its own view change");
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.patches, stats.misses, stats.entries), (2, 2, 0, 1));
        assert!(stats.bytes > 0);
    }

    #[tokio::test]
    async fn a_kept_row_says_it_is_read_until_something_it_shows_changes() {
        let cache = ListCache::new(1 << 20, false);
        let (at, _) = cache.stamp(clock(0, None)).await;
        assert!(!cache.shows_read(id(1), id(100), at, true), "nothing kept");
        cache.insert(id(1), kept(at, &[100, 101, 102], "a"));
        assert!(cache.shows_read(id(1), id(100), at, true), "kept as read");
        assert!(!cache.shows_read(id(1), id(101), at, true), "kept as unread");
        assert!(!cache.shows_read(id(1), id(200), at, true), "not in the list");
        assert!(!cache.shows_read(id(1), id(100), at, false), "a request that may not trust the cache");
        cache.changed(&local(&[ListFact::Chat(ChatRef(102))]));
        assert!(cache.shows_read(id(1), id(100), at, true), "another row changed");
        cache.changed(&local(&[ListFact::Chat(ChatRef(100))]));
        assert!(!cache.shows_read(id(1), id(100), at, true), "a message in it");
        assert!(!cache.shows_read(id(1), id(102), at, true), "its message before");
        let (at, _) = cache.stamp(clock(0, None)).await;
        cache.insert(id(1), kept(at, &[100, 102], "b"));
        cache.changed(&local(&[ListFact::View { user: id(1), peer: id(102) }]));
        assert!(!cache.shows_read(id(1), id(102), at, true), "its own view changed");
        cache.changed(&local(&[ListFact::Peer(id(100))]));
        assert!(!cache.shows_read(id(1), id(100), at, true), "its peer changed");
        let (at, _) = cache.stamp(clock(0, None)).await;
        cache.insert(id(1), kept(at, &[100], "c"));
        cache.changed(&local(&[ListFact::Conversations(id(1))]));
        assert!(!cache.shows_read(id(1), id(100), at, true), "the user's conversations changed");
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.patches, stats.misses), (0, 0, 0), "not counted as list lookups");
    }

    #[tokio::test]
    async fn a_conversation_found_read_stays_read_until_something_it_shows_changes() {
        let cache = ListCache::new(1 << 20, false);
        let (at, _) = cache.stamp(clock(0, None)).await;
        assert!(!cache.shows_read(id(1), id(7), at, true));
        cache.note_read(id(1), id(7), ChatRef(70), at);
        assert!(cache.shows_read(id(1), id(7), at, true), "noted, nothing kept");
        assert!(!cache.shows_read(id(1), id(7), at, false), "a request that may not trust the cache");
        assert!(!cache.shows_read(id(2), id(7), at, true), "another user");
        assert!(!cache.shows_read(id(1), id(7), Stamp { identity_epoch: 1, ..at }, true), "a new epoch");
        cache.changed(&local(&[ListFact::Chat(ChatRef(71)), ListFact::View { user: id(2), peer: id(7) }]));
        assert!(cache.shows_read(id(1), id(7), at, true), "other chats and users");
        for fact in [
            ListFact::Chat(ChatRef(70)),
            ListFact::View { user: id(1), peer: id(7) },
            ListFact::Peer(id(7)),
            ListFact::Conversations(id(1)),
            ListFact::Identities,
        ] {
            let (at, _) = cache.stamp(clock(0, None)).await;
            cache.note_read(id(1), id(7), ChatRef(70), at);
            assert!(cache.shows_read(id(1), id(7), at, true));
            cache.changed(&local(&[fact]));
            assert!(!cache.shows_read(id(1), id(7), at, true), "{fact:?}");
        }
    }

    #[tokio::test]
    async fn structure_and_identity_changes_drop_it() {
        let cache = ListCache::new(1 << 20, false);
        let (at, _) = cache.stamp(clock(0, None)).await;
        cache.insert(id(1), kept(at, &[100], "a"));
        assert!(matches!(cache.lookup(id(1), Stamp { identity_epoch: 1, ..at }, true), Lookup::Missing), "a new epoch");
        cache.changed(&local(&[ListFact::Conversations(id(1))]));
        assert!(matches!(cache.lookup(id(1), at, true), Lookup::Missing), "a conversation opened or left");
        let (at, _) = cache.stamp(clock(0, None)).await;
        cache.insert(id(1), kept(at, &[100], "b"));
        assert!(fresh_md5(cache.lookup(id(1), at, true)).is_some());
        cache.changed(&local(&[ListFact::Identities]));
        assert!(matches!(cache.lookup(id(1), at, true), Lookup::Missing), "identities");
    }

    #[tokio::test]
    async fn a_change_during_the_read_drops_what_was_read() {
        let cache = ListCache::new(1 << 20, false);
        let (before_read, _) = cache.stamp(clock(0, None)).await;
        cache.changed(&local(&[ListFact::Chat(ChatRef(100))])); // committed while the list was being read
        cache.insert(id(1), kept(before_read, &[100, 101, 102, 103], "maybe stale"));
        assert_eq!(changed_peers(cache.lookup(id(1), before_read, true)), Some(vec![id(100)]));
    }

    #[tokio::test]
    async fn a_shared_cache_trusts_only_a_feed_that_caught_up() {
        let cache = ListCache::new(1 << 20, true);
        let shared = |n: i64, facts: &[ListFact]| ListChange { clock: Some(n), facts: facts.to_vec() };
        let (_, trusted) = cache.stamp(clock(0, Some(5))).await;
        assert!(!trusted, "before the feed listens");
        cache.resync(5);
        let (at, trusted) = cache.stamp(clock(0, Some(5))).await;
        assert!(trusted);
        cache.insert(id(1), kept(at, &[100, 101, 102, 103], "a"));
        // Change 7 arrives before 6: nothing counts until 6 is there.
        cache.changed(&shared(7, &[ListFact::Chat(ChatRef(101))]));
        let (_, trusted) = cache.stamp(clock(0, Some(7))).await;
        assert!(!trusted, "the feed is behind the clock");
        let (now, trusted) = cache.stamp(clock(0, Some(5))).await;
        assert!(trusted && fresh_md5(cache.lookup(id(1), now, true)).is_some(), "what the clock said then is known");
        cache.changed(&shared(6, &[ListFact::View { user: id(1), peer: id(100) }]));
        let (now, trusted) = cache.stamp(clock(0, Some(7))).await;
        assert!(trusted);
        assert_eq!(changed_peers(cache.lookup(id(1), now, true)), Some(vec![id(100), id(101)]));
        cache.changed(&shared(6, &[ListFact::Chat(ChatRef(102))]));
        assert_eq!(changed_peers(cache.lookup(id(1), now, true)), Some(vec![id(100), id(101)]), "a repeat is ignored");
        cache.lost();
        let (_, trusted) = cache.stamp(clock(0, Some(7))).await;
        assert!(!trusted, "the feed is down");
        cache.resync(9);
        assert!(matches!(cache.lookup(id(1), now, true), Lookup::Missing), "a resync drops what was kept");
        let (_, trusted) = cache.stamp(clock(0, Some(9))).await;
        assert!(trusted);
    }

    #[tokio::test]
    async fn a_request_waits_for_the_feed() {
        let cache = Arc::new(ListCache::new(1 << 20, true));
        cache.resync(1);
        let feed = Arc::clone(&cache);
        let handed_on = tokio::spawn(async move {
            tokio::task::yield_now().await;
            feed.changed(&ListChange { clock: Some(2), facts: vec![ListFact::Chat(ChatRef(5))] });
        });
        let (at, trusted) = cache.stamp(clock(0, Some(2))).await;
        handed_on.await.unwrap();
        assert!(trusted);
        assert_eq!(at.generation, 2);
    }

    #[tokio::test]
    async fn the_budget_bounds_memory() {
        let cache = ListCache::new(64 * 1024, false);
        let (at, _) = cache.stamp(clock(0, None)).await;
        for user in 0..100 {
            let mut list = kept(at, &[], "");
            list.list =
                Arc::new(EncodedList { entries: Bytes::from(vec![0u8; 8 * 1024]), md5: String::new(), total: 1 });
            cache.insert(id(user), list);
        }
        let kept = (0..100).filter(|&user| fresh_md5(cache.lookup(id(user), at, true)).is_some()).count();
        assert!((1..=8).contains(&kept), "kept {kept} lists of 8 KiB in 64 KiB");
    }
}
