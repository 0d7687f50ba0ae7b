//! The rules: who may do what, and what each call changes.
//!
//! One [`Service`] is shared by every request. It takes parsed, typed input
//! from the HTTP layer, checks it against the protocol's rules, and asks the
//! [`Store`] to carry the change out. No bytes or SQL here.
//!
//! - [`user`]: login, logout, tokens, profiles.
//! - [`conversation`]: the list and the calls that change it.
//! - [`msg`]: sending and listing messages.
//! - [`identity`]: importing users, groups, bots and remarks.
//! - [`list_cache`]: each user's encoded list, kept until it changes.
//! - [`token_cache`]: which user a token belongs to.

pub mod conversation;
pub mod identity;
pub mod list_cache;
pub mod msg;
pub mod token_cache;
pub mod user;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::domain::error::{Error, Result};
use crate::domain::ids::Id;
use crate::push::Hub;
use crate::store::{Entity, Store};
use list_cache::ListCache;
use token_cache::TokenCache;

/// Most tokens kept in memory (about 100 bytes each).
const TOKEN_CACHE_CAPACITY: usize = 100_000;

/// The server's business logic over a [`Store`].
#[derive(Clone)]
pub struct Service {
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    /// None when lists are not cached (a store shared with other instances,
    /// or a budget of 0).
    lists: Option<Arc<ListCache>>,
    /// None when the store is shared with other instances (their logouts
    /// would not reach it).
    tokens: Option<Arc<TokenCache>>,
}

impl Service {
    /// A service over `store`, publishing pushes to `hub`. When the store is
    /// this process's alone, it keeps up to `list_cache_bytes` of encoded
    /// lists and the users of recently used tokens in memory.
    pub fn new(store: Arc<dyn Store>, hub: Arc<Hub>, list_cache_bytes: u64) -> Self {
        let private = !store.shared();
        let lists = (private && list_cache_bytes > 0).then(|| Arc::new(ListCache::new(list_cache_bytes)));
        let tokens = private.then(|| Arc::new(TokenCache::new(TOKEN_CACHE_CAPACITY)));
        Self { store, hub, lists, tokens }
    }

    /// How the list cache is doing; None when lists are not cached.
    pub fn list_cache_stats(&self) -> Option<list_cache::ListCacheStats> {
        self.lists.as_ref().map(|lists| lists.stats())
    }

    /// Records a committed change to what `user` sees in their list.
    fn list_changed_for(&self, user: Id) {
        if let Some(lists) = &self.lists {
            lists.user_changed(user);
        }
    }

    /// Records a committed message in `group`: every member's list changed.
    fn list_changed_in_group(&self, group: Id) {
        if let Some(lists) = &self.lists {
            lists.group_changed(group);
        }
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The push hub live sockets subscribe to.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// The user, group or bot a wire id names; `UnknownChat` if none.
    async fn resolve(&self, raw_id: &str, what: &str) -> Result<Entity> {
        let id = Id::parse(raw_id, what)?;
        self.store.entity(id).await?.ok_or_else(|| Error::UnknownChat(id.to_string()))
    }
}

/// Milliseconds since the Unix epoch, strictly increasing within this
/// process: two events never share a timestamp here, so the list's order
/// follows the order things happened in.
pub fn now_ms() -> i64 {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let previous =
        LAST.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| Some(wall.max(last + 1))).unwrap_or(wall);
    wall.max(previous + 1)
}
