//! The rules: who may do what, and what each call changes.
//!
//! One [`Service`] is shared by every request. It takes parsed, typed input
//! from the HTTP layer, checks it against the protocol's rules, and asks the
//! [`Store`] to carry the change out. No SQL and no sockets here; the only
//! bytes are the encoded list the list cache keeps.
//!
//! - [`user`]: login, logout, tokens, profiles.
//! - [`conversation`]: the list and the calls that change it.
//! - [`list_wire`]: the list as it goes on the wire, and its md5.
//! - [`msg`]: sending messages.
//! - [`edits`]: editing and recalling messages.
//! - [`history`]: reading them back: by page, after a seq, up to an anchor.
//! - [`pins`]: a user's pinned chats.
//! - [`groups`]: groups, friends, profiles and the address book.
//! - [`identity`]: importing users, groups, bots and remarks.
//! - [`list_cache`]: each user's encoded list, kept until it changes.
//! - [`live`]: list rows pushed to the user's sockets when they change, and
//!   delta lists.
//! - [`drafts`]: what users type, kept per chat and pushed to their other
//!   devices.
//! - [`token_cache`]: which user a token belongs to.
//! - [`send_targets`]: what recent sends were decided on (a sender's chat,
//!   gag and name), which the store checks again as it writes.
//! - [`clock_reads`]: one read of the list clock for the list requests
//!   waiting at once.
//!
//! The README's Behaviour section, rule by rule, and where each lives:
//! - Who is listed: [`conversation::is_listed`]; joiners start read:
//!   [`identity`] (`JoinAt::Latest`).
//! - Names: [`conversation::display_name`]. Unread and mentions:
//!   [`conversation::ConversationView::from_row`]; which mentions count:
//!   [`msg::effective_mentions`].
//! - Remove, sort-change, mute, mark-read, and what a chat that does not
//!   exist yet means for each: [`conversation::creates_conversation`],
//!   `conversation::no_conversation`. Yourself: `check_not_self`.
//! - Order: [`conversation::sort_newest_first`]. Preview: [`crate::preview`].
//!   md5: [`list_wire::encode_entries`].
//! - Sending and history: [`msg::check_send`], [`Service::send_message`]
//!   (the sender's own message is read), [`Service::history`].
//! - Pins: [`pins`].

pub mod clock_reads;
pub mod conversation;
pub mod drafts;
pub mod edits;
pub mod groups;
pub mod history;
pub mod identity;
pub mod list_cache;
pub mod list_wire;
pub mod live;
pub mod msg;
pub mod pins;
pub mod send_targets;
pub mod token_cache;
pub mod user;

use std::sync::Arc;

use yhconv_proto::ChatType;

use crate::domain::error::{Error, Result};
use crate::domain::event::TokenHash;
use crate::domain::ids::Id;
use crate::domain::list_change::{ListSink, ListSinks};
use crate::domain::model::Entity;
use crate::domain::store::Store;
use crate::push::{Hub, Subscription};
use list_cache::ListCache;
use token_cache::TokenCache;

/// Most tokens kept in memory (about 100 bytes each).
const TOKEN_CACHE_CAPACITY: usize = 100_000;
/// Most send targets kept, and most senders' names (each a few dozen
/// bytes; see [`send_targets`]).
const SEND_TARGETS_CAPACITY: usize = 65_536;
/// Locks that order sends within a chat (see [`Service::order_lock`]).
const ORDER_LOCKS: usize = 64;

/// The server's business logic over a [`Store`].
#[derive(Clone)]
pub struct Service {
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    /// None when lists are not cached (a budget of 0).
    lists: Option<Arc<ListCache>>,
    /// None only in the live lists' own service, which authenticates
    /// nobody.
    tokens: Option<Arc<TokenCache>>,
    order_locks: Arc<[tokio::sync::Mutex<()>]>,
    /// What recent sends were decided on (see [`send_targets`]).
    send_targets: Arc<send_targets::SendTargets>,
    live: Arc<live::LiveLists>,
    clock: Arc<clock_reads::ClockReads>,
    /// Purges of dismissed groups' member rows running (see `groups::purge`).
    purges: Arc<std::sync::atomic::AtomicU64>,
}

impl Service {
    /// A service over `store`, whose events reach `hub`'s sockets. It keeps
    /// up to `list_cache_bytes` of encoded lists in memory, which the
    /// store's list changes keep current (see [`list_cache`]), and the
    /// users of recently used tokens (see [`token_cache`]).
    pub fn new(store: Arc<dyn Store>, hub: Arc<Hub>, list_cache_bytes: u64) -> Self {
        let shared = store.shared();
        let lists = (list_cache_bytes > 0).then(|| Arc::new(ListCache::new(list_cache_bytes, shared)));
        let tokens = Arc::new(TokenCache::new(TOKEN_CACHE_CAPACITY, shared));
        let (live, live_sink) = live::start(&store, &hub, lists.as_ref());
        // Revocations first; the list cache hears of each change before the
        // live lists, which read it.
        let mut sinks: Vec<Arc<dyn ListSink>> = vec![Arc::clone(&tokens) as Arc<dyn ListSink>];
        sinks.extend(lists.iter().map(|lists| Arc::clone(lists) as Arc<dyn ListSink>));
        sinks.push(live_sink);
        // The hub's index of online users' groups: a group message loaded
        // after a commit must find that commit's memberships in it.
        sinks.push(hub.online_groups_sink(shared));
        store.watch_lists(Arc::new(ListSinks(sinks)));
        let tokens = Some(tokens);
        let order_locks = (0..ORDER_LOCKS).map(|_| tokio::sync::Mutex::new(())).collect();
        let purges = Arc::default();
        tokio::spawn(groups::sweep_dismissals(Arc::clone(&store), Arc::clone(&purges)));
        let clock = Arc::new(clock_reads::ClockReads::new(Arc::clone(&store)));
        let send_targets = Arc::new(send_targets::SendTargets::new(SEND_TARGETS_CAPACITY));
        Self { store, hub, lists, tokens, order_locks, send_targets, live, clock, purges }
    }

    /// How sends were decided: on kept facts, or again once those changed.
    pub fn send_target_stats(&self) -> send_targets::SendTargetStats {
        self.send_targets.stats()
    }

    /// How the list cache is doing; None when lists are not cached.
    pub fn list_cache_stats(&self) -> Option<list_cache::ListCacheStats> {
        self.lists.as_ref().map(|lists| lists.stats())
    }

    /// How list requests learned the list clock so far.
    pub fn list_clock_stats(&self) -> clock_reads::ClockReadStats {
        self.clock.stats()
    }

    /// What this instance's writes waited for under other instances' list
    /// leases; `None` without leases (one process alone on its store).
    pub fn lease_wait_stats(&self) -> Option<crate::domain::model::LeaseWaitStats> {
        self.store.lease_wait_stats()
    }

    /// Sends this instance stored together, several in one transaction;
    /// `None` for a store that does not batch them this way.
    pub fn send_batch_stats(&self) -> Option<crate::domain::model::SendBatchStats> {
        self.store.send_batch_stats()
    }

    /// Purges of dismissed groups' member rows running on this instance.
    pub fn purges_running(&self) -> u64 {
        self.purges.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Checks that the database answers (`/healthz`).
    pub async fn health(&self) -> Result<()> {
        self.store.health().await
    }

    /// Waits until the store's feed delivers this instance's pushes, at
    /// most `within` (see [`Hub::wait_for_feed`]); false if not yet.
    pub async fn wait_for_feed(&self, within: std::time::Duration) -> bool {
        self.hub.wait_for_feed(within).await
    }

    /// Stops the store's feed for good, letting go of what it holds for
    /// other instances (see [`Store::stop_feed`]): the last step of a
    /// shutdown.
    pub async fn stop_feed(&self) {
        self.store.stop_feed().await
    }

    /// Number of logged-in push sockets on this instance.
    pub fn socket_count(&self) -> usize {
        self.hub.socket_count()
    }

    /// What this instance's push hub has done and has waiting.
    pub fn push_stats(&self) -> &crate::push::PushStats {
        self.hub.stats()
    }

    /// How many online users the push hub's group index holds, and how
    /// many of them are not loaded yet.
    pub fn online_groups_sizes(&self) -> crate::online::IndexSizes {
        self.hub.online_groups_sizes()
    }

    /// Registers a push socket of `user`, logged in with the token whose
    /// hash is `token_hash` (its logout closes the socket).
    pub fn subscribe(&self, user: Id, token_hash: TokenHash) -> Subscription {
        self.hub.subscribe(user, token_hash)
    }

    /// [`Service::subscribe`], for a socket that asked for list rows when
    /// `list_changes` (see [`live`]).
    pub fn subscribe_with(&self, user: Id, token_hash: TokenHash, list_changes: bool) -> Subscription {
        self.hub.subscribe_with(user, token_hash, list_changes)
    }

    /// The user, group or bot `id` names, if any (for admin tools).
    pub async fn entity(&self, id: Id) -> Result<Option<Entity>> {
        self.store.entity(id).await
    }

    /// The user, group or bot a wire id names; `UnknownChat` if none.
    async fn resolve(&self, raw_id: &str, what: &str) -> Result<Entity> {
        let id = Id::parse(raw_id, what)?;
        self.store.entity(id).await?.ok_or_else(|| Error::UnknownChat(id.to_string()))
    }

    /// The lock that orders sends within one chat: held from before a
    /// message's send time is taken until it is stored, so send times grow
    /// with `msg_seq` (the store emits pushes in commit order).
    fn order_lock(&self, sender: Id, peer: Id, kind: ChatType) -> &tokio::sync::Mutex<()> {
        let key = match kind {
            ChatType::Group => peer.get() as u64,
            _ => (sender.get() as u64) ^ (peer.get() as u64),
        };
        &self.order_locks[(key % self.order_locks.len() as u64) as usize]
    }
}

/// The server's clock (see [`crate::domain::clock::now_ms`]).
pub use crate::domain::clock::now_ms;
