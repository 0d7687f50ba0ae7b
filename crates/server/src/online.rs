//! Who of this instance's online users is in which group, so that a group
//! message's receivers are found in O(online receivers), not O(members).
//!
//! For each user with a socket here the index holds their groups (read
//! with [`Store::groups_of`] by a loader task when their first socket
//! subscribes, dropped when their last one goes), and for each group the
//! loaded online users in it. A user whose groups are not known is
//! *stale*: just subscribed, or their memberships may have changed since
//! they were read. A group message's receivers are the loaded online users
//! of its group and those of the stale users who are members
//! ([`Store::members_among`], a point lookup each): exactly the group's
//! online members at the moment the message is loaded, as if every online
//! user were looked up.
//!
//! Staying exact: the index is one of the store's [`ListSink`]s. A
//! membership change (a join, leave, kick: `ListFact::Conversations(user)`)
//! makes that user stale; identities (`ListFact::Identities`), a feed that
//! was lost or resyncs, and a moved identity epoch (another process,
//! `yhconv admin`, changed identities; each pushed message carries the
//! epoch) make everyone stale. Each mark bumps the user's version (or the
//! index's generation), and a load that started before it does not install
//! its result: the user stays queued and is read again. The facts of a
//! commit reach the sink before the hub loads any message committed after
//! it (SQLite hands them over right after the commit, before its events
//! reach the hub's queue; PostgreSQL's feed handles notifications in commit
//! order, list changes synchronously), so a message sees every earlier
//! membership change. A dismissed group gets no pushes: each pushed message
//! says whether its group is dismissed (`AddressedMessage::peer_dismissed`).
//!
//! While a shared store's feed is not listening (before its first resync,
//! after it was lost) changes may be missed, so nothing is loaded and
//! everyone stays stale. The loader's queue is a set of users (one entry
//! each, at most one per online user): nothing grows without bound.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::domain::ids::Id;
use crate::domain::list_change::{ListChange, ListFact, ListSink};
use crate::domain::store::Store;

/// Users loaded per round of the loader (between two reads of the
/// identity epoch).
const LOAD_BATCH: usize = 256;
/// How long the loader waits after a failed read before it tries again.
const RETRY_DELAY: Duration = Duration::from_millis(500);

/// The online users' groups, and each group's loaded online users.
pub struct OnlineGroups {
    index: Mutex<Index>,
    /// Whether list changes reach the index (see the module doc); changed
    /// only under the index's lock, and watched by
    /// [`OnlineGroups::wait_listening`].
    listening: tokio::sync::watch::Sender<bool>,
    /// Woken when users are queued or the feed listens again.
    queued: Arc<tokio::sync::Notify>,
}

/// Which load may install its result: the index's generation and the
/// user's version when it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ticket {
    generation: u64,
    version: u64,
}

#[derive(Default)]
struct Index {
    /// Bumped when everyone is marked stale.
    generation: u64,
    /// The last version given to a user marked stale: versions are never
    /// reused, not even by a user who comes back online.
    last_version: u64,
    /// The identity epoch last seen.
    identity_epoch: Option<i64>,
    /// Every online user.
    users: HashMap<Id, IndexedUser>,
    /// Per group, its loaded online users (never a stale one).
    members: HashMap<Id, HashSet<Id>>,
    /// Online users whose groups are not known.
    stale: HashSet<Id>,
    /// Stale users waiting for the loader (not being loaded).
    queued: HashSet<Id>,
}

#[derive(Default)]
struct IndexedUser {
    /// Set each time the user is marked stale.
    version: u64,
    /// `None` while stale.
    groups: Option<Vec<Id>>,
}

/// How big the index is, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexSizes {
    /// Online users the index holds (loaded or stale).
    pub users: usize,
    /// Of them, those whose groups are not loaded.
    pub stale: usize,
}

/// A group message's receivers as the index knows them.
pub struct GroupReceivers {
    /// Loaded online users who are members.
    pub members: Vec<Id>,
    /// Stale online users: those of them who are members receive it too.
    pub stale: Vec<Id>,
}

impl Index {
    /// Forgets what `user`'s groups were and queues them for loading.
    fn mark_stale(&mut self, user: Id) {
        let Some(entry) = self.users.get_mut(&user) else { return };
        self.last_version += 1;
        entry.version = self.last_version;
        if let Some(groups) = entry.groups.take() {
            for group in groups {
                if let Some(members) = self.members.get_mut(&group) {
                    members.remove(&user);
                    if members.is_empty() {
                        self.members.remove(&group);
                    }
                }
            }
        }
        self.stale.insert(user);
        self.queued.insert(user);
    }

    /// Marks every online user stale.
    fn mark_all_stale(&mut self) {
        self.generation += 1;
        self.members.clear();
        for (user, entry) in &mut self.users {
            entry.groups = None;
            self.stale.insert(*user);
            self.queued.insert(*user);
        }
    }

    fn ticket(&self, user: Id) -> Option<Ticket> {
        self.users.get(&user).map(|entry| Ticket { generation: self.generation, version: entry.version })
    }
}

impl Default for OnlineGroups {
    fn default() -> Self {
        Self {
            index: Mutex::default(),
            listening: tokio::sync::watch::Sender::new(false),
            queued: Arc::new(tokio::sync::Notify::new()),
        }
    }
}

impl OnlineGroups {
    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An index that loads with `store`, its loader running until the index
    /// is dropped. It trusts nothing until it hears the store's list changes
    /// through [`OnlineGroups::sink`].
    pub fn start(store: Arc<dyn Store>) -> Arc<Self> {
        let index = Arc::new(Self::default());
        tokio::spawn(load_groups(Arc::downgrade(&index), store));
        index
    }

    /// The sink through which the store's list changes must reach the index
    /// (once). For a store this process alone writes, the index trusts what
    /// it loads from now on; for a shared one, from the feed's first resync.
    pub fn sink(self: &Arc<Self>, shared: bool) -> Arc<dyn ListSink> {
        if !shared {
            let _index = self.lock();
            self.listening.send_replace(true);
            self.queued.notify_one();
        }
        Arc::new(IndexSink(Arc::downgrade(self)))
    }

    /// `user`'s first socket here subscribed: they are stale until loaded.
    pub fn user_online(&self, user: Id) {
        let mut index = self.lock();
        index.users.entry(user).or_default();
        index.mark_stale(user);
        drop(index);
        self.queued.notify_one();
    }

    /// `user`'s last socket here went.
    pub fn user_offline(&self, user: Id) {
        let mut index = self.lock();
        index.mark_stale(user);
        index.users.remove(&user);
        index.stale.remove(&user);
        index.queued.remove(&user);
    }

    /// The identity epoch as a pushed message read it: when it moved, any
    /// membership may have changed, and everyone is stale.
    pub fn saw_identity_epoch(&self, epoch: i64) {
        let mut index = self.lock();
        if index.identity_epoch != Some(epoch) {
            let first = index.identity_epoch.is_none();
            index.identity_epoch = Some(epoch);
            if !first || index.users.values().any(|user| user.groups.is_some()) {
                index.mark_all_stale();
                drop(index);
                self.queued.notify_one();
            }
        }
    }

    /// The online users who are in `group` as far as the index knows, and
    /// the stale ones to look up.
    pub fn receivers(&self, group: Id) -> GroupReceivers {
        let index = self.lock();
        GroupReceivers {
            members: index.members.get(&group).map(|members| members.iter().copied().collect()).unwrap_or_default(),
            stale: index.stale.iter().copied().collect(),
        }
    }

    /// How big the index is.
    pub fn sizes(&self) -> IndexSizes {
        let index = self.lock();
        IndexSizes { users: index.users.len(), stale: index.stale.len() }
    }

    /// Takes up to [`LOAD_BATCH`] queued users with their tickets; none
    /// while the index is not listening.
    fn take_queued(&self) -> Vec<(Id, Ticket)> {
        let mut index = self.lock();
        if !self.is_listening() {
            return Vec::new();
        }
        let users: Vec<Id> = index.queued.iter().copied().take(LOAD_BATCH).collect();
        users
            .into_iter()
            .filter_map(|user| {
                index.queued.remove(&user);
                index.ticket(user).map(|ticket| (user, ticket))
            })
            .collect()
    }

    /// Installs `user`'s groups as a load that started at `ticket` read
    /// them, unless they were marked stale since (then they are queued
    /// again already) or went offline.
    fn install(&self, user: Id, ticket: Ticket, groups: Vec<Id>) {
        let mut index = self.lock();
        if !self.is_listening() || index.ticket(user) != Some(ticket) || !index.stale.contains(&user) {
            return;
        }
        for &group in &groups {
            index.members.entry(group).or_default().insert(user);
        }
        if let Some(entry) = index.users.get_mut(&user) {
            entry.groups = Some(groups);
        }
        index.stale.remove(&user);
    }

    /// Queues `user` again after a failed load (if still stale and online).
    fn requeue(&self, user: Id) {
        let mut index = self.lock();
        if index.stale.contains(&user) {
            index.queued.insert(user);
        }
    }

    fn set_listening(&self, listening: bool) {
        let mut index = self.lock();
        self.listening.send_replace(listening);
        index.mark_all_stale();
        drop(index);
        self.queued.notify_one();
    }

    fn is_listening(&self) -> bool {
        *self.listening.borrow()
    }

    /// Waits until the store's list changes reach the index (for a shared
    /// store: its feed is listening, so every later commit's events reach
    /// this instance), at most `within`; false if they do not yet.
    pub async fn wait_listening(&self, within: Duration) -> bool {
        let mut listening = self.listening.subscribe();
        let listened = tokio::time::timeout(within, listening.wait_for(|&on| on)).await.is_ok_and(|r| r.is_ok());
        listened
    }
}

/// The loader: reads the groups of queued users, a batch at a time, each
/// batch after a read of the identity epoch (so a load never installs
/// memberships older than the epoch the index knows).
async fn load_groups(index: Weak<OnlineGroups>, store: Arc<dyn Store>) {
    let Some(wake) = index.upgrade().map(|online| Arc::clone(&online.queued)) else { return };
    loop {
        let notified = wake.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        let Some(online) = index.upgrade() else { return };
        let has_work = {
            let index = online.lock();
            online.is_listening() && !index.queued.is_empty()
        };
        if !has_work {
            drop(online);
            // Wake now and then to notice the index was dropped.
            let _ = tokio::time::timeout(Duration::from_secs(5), notified).await;
            continue;
        }
        match store.identity_epoch().await {
            Ok(epoch) => online.saw_identity_epoch(epoch),
            Err(e) => {
                tracing::warn!(error = %e, "online index: cannot read the identity epoch");
                drop(online);
                tokio::time::sleep(RETRY_DELAY).await;
                continue;
            }
        }
        let batch = online.take_queued();
        match store.groups_of(batch.iter().map(|&(user, _)| user).collect()).await {
            Ok(pairs) => {
                let mut groups: HashMap<Id, Vec<Id>> = HashMap::new();
                for (user, group) in pairs {
                    groups.entry(user).or_default().push(group);
                }
                for (user, ticket) in batch {
                    online.install(user, ticket, groups.remove(&user).unwrap_or_default());
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, users = batch.len(), "online index: cannot read the users' groups");
                for (user, _) in batch {
                    online.requeue(user);
                }
                tokio::time::sleep(RETRY_DELAY).await;
            }
        }
    }
}

/// Hands the store's list changes to the index.
struct IndexSink(Weak<OnlineGroups>);

impl ListSink for IndexSink {
    fn changed(&self, change: &ListChange) {
        let Some(online) = self.0.upgrade() else { return };
        let mut queued = false;
        {
            let mut index = online.lock();
            for fact in &change.facts {
                match fact {
                    ListFact::Conversations(user) => {
                        index.mark_stale(*user);
                        queued = true;
                    }
                    ListFact::Identities => {
                        index.mark_all_stale();
                        queued = true;
                    }
                    // A dismissal: each pushed message says whether its
                    // group is dismissed. Renames change no membership.
                    ListFact::Peer(_) => {}
                    ListFact::Chat(_) | ListFact::View { .. } | ListFact::Revoked(_) => {}
                }
            }
        }
        if queued {
            online.queued.notify_one();
        }
    }

    fn resync(&self, _clock: i64) {
        if let Some(online) = self.0.upgrade() {
            online.set_listening(true);
        }
    }

    fn lost(&self) {
        if let Some(online) = self.0.upgrade() {
            online.set_listening(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: i64) -> Id {
        Id::from_raw(n)
    }

    fn listening() -> OnlineGroups {
        let online = OnlineGroups::default();
        online.listening.send_replace(true);
        online
    }

    #[test]
    fn a_load_installs_unless_marked_stale_since() {
        let online = listening();
        online.user_online(id(1));
        online.user_online(id(2));
        let tickets: HashMap<Id, Ticket> = online.take_queued().into_iter().collect();
        assert_eq!(online.receivers(id(9)).stale.len(), 2, "stale until loaded");
        // User 2 joins something while their load is in flight.
        online.lock().mark_stale(id(2));
        online.install(id(1), tickets[&id(1)], vec![id(9)]);
        online.install(id(2), tickets[&id(2)], vec![id(8)]);
        let receivers = online.receivers(id(9));
        assert_eq!(receivers.members, vec![id(1)]);
        assert_eq!(receivers.stale, vec![id(2)], "the old load of 2 is not installed");
        assert!(online.receivers(id(8)).members.is_empty());
        // 2 is queued again and loads.
        let again = online.take_queued();
        assert_eq!(again.len(), 1);
        online.install(id(2), again[0].1, vec![id(9)]);
        let mut members = online.receivers(id(9)).members;
        members.sort();
        assert_eq!(members, vec![id(1), id(2)]);
        assert_eq!(online.sizes(), IndexSizes { users: 2, stale: 0 });
        // Leaving: gone from the group at once.
        let (_, old) = {
            online.lock().mark_stale(id(1));
            online.take_queued()[0]
        };
        online.user_offline(id(1));
        assert_eq!(online.receivers(id(9)).members, vec![id(2)]);
        assert_eq!(online.sizes(), IndexSizes { users: 1, stale: 0 });
        // Back online: a load from the last time does not count.
        online.user_online(id(1));
        online.install(id(1), old, vec![id(9)]);
        assert_eq!(online.receivers(id(9)).stale, vec![id(1)]);
    }

    #[test]
    fn a_moved_epoch_or_a_lost_feed_makes_everyone_stale() {
        let online = listening();
        online.saw_identity_epoch(3);
        online.user_online(id(1));
        let (user, ticket) = online.take_queued()[0];
        online.install(user, ticket, vec![id(9)]);
        online.saw_identity_epoch(3);
        assert_eq!(online.receivers(id(9)).members, vec![id(1)], "same epoch: still loaded");
        online.saw_identity_epoch(4);
        let receivers = online.receivers(id(9));
        assert!(receivers.members.is_empty());
        assert_eq!(receivers.stale, vec![id(1)]);
        online.install(user, ticket, vec![id(9)]);
        assert!(online.receivers(id(9)).members.is_empty(), "a load from before the epoch moved is dropped");
        online.set_listening(false);
        assert!(online.take_queued().is_empty(), "nothing loads while the feed is lost");
        online.set_listening(true);
        let (user, ticket) = online.take_queued()[0];
        online.install(user, ticket, vec![id(9)]);
        assert_eq!(online.receivers(id(9)).members, vec![id(1)]);
    }
}
