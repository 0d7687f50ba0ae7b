//! Which user a token belongs to, kept in memory so that a request costs no
//! database lookup to authenticate. Only tokens that exist are kept: a token
//! issued by another process (`yhconv admin token`) is found in the database
//! on its first use.
//!
//! A token is forgotten when it is revoked: by this server's logout before
//! it answers, and through the store's list changes
//! ([`ListFact::Revoked`]) for every revocation any instance commits. For a
//! store other instances write ([`crate::domain::store::Store::shared`]),
//! the cache is used only while the feed hands those changes on: from its
//! first resync until it loses its connection (then everything kept is
//! dropped). An instance thus learns of another's logout as soon as its
//! feed delivers the notification, as its push sockets do.
//!
//! A lookup racing a revocation of the same token must not put the revoked
//! token back: a lookup that read the database before a revocation drops
//! what it kept (see [`TokenCache::keep`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use quick_cache::sync::Cache;

use crate::domain::event::TokenHash;
use crate::domain::ids::Id;
use crate::domain::list_change::{ListChange, ListFact, ListSink};

/// Tokens and their users, and a count of revocations.
pub struct TokenCache {
    users: Cache<TokenHash, Id>,
    revocations: AtomicU64,
    /// Whether what is kept may be used: always for a store this process
    /// alone writes; for a shared one, while the feed is listening.
    usable: AtomicBool,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens; `shared` when other instances
    /// revoke tokens too (it is unusable until [`ListSink::resync`]).
    pub fn new(capacity: usize, shared: bool) -> Self {
        Self { users: Cache::new(capacity.max(1)), revocations: AtomicU64::new(0), usable: AtomicBool::new(!shared) }
    }

    /// The user of a token this cache knows (None while it is unusable).
    pub fn get(&self, token_hash: &TokenHash) -> Option<Id> {
        self.usable.load(Ordering::SeqCst).then(|| self.users.get(token_hash)).flatten()
    }

    /// Read before looking a token up in the database; pass to [`Self::keep`].
    pub fn revocations(&self) -> u64 {
        self.revocations.load(Ordering::SeqCst)
    }

    /// Keeps a token found in the database, unless a revocation happened
    /// since `revocations_before` was read (that one may have been this
    /// token's).
    pub fn keep(&self, token_hash: TokenHash, user: Id, revocations_before: u64) {
        self.users.insert(token_hash, user);
        // Checked after inserting: a revocation that counted itself before
        // this check is seen here; one that counts itself after it removes
        // the entry itself.
        if self.revocations.load(Ordering::SeqCst) != revocations_before {
            self.users.remove(&token_hash);
        }
    }

    /// Forgets a token revoked in the database (call after the revocation
    /// committed, before answering).
    pub fn revoked(&self, token_hash: &TokenHash) {
        self.revocations.fetch_add(1, Ordering::SeqCst);
        self.users.remove(token_hash);
    }
}

impl ListSink for TokenCache {
    fn changed(&self, change: &ListChange) {
        for fact in &change.facts {
            if let ListFact::Revoked(hash) = fact {
                self.revoked(hash);
            }
        }
    }

    fn resync(&self, _clock: i64) {
        // Whatever was looked up while the feed was down may have been
        // revoked meanwhile.
        self.revocations.fetch_add(1, Ordering::SeqCst);
        self.users.clear();
        self.usable.store(true, Ordering::SeqCst);
    }

    fn lost(&self) {
        // Revocations committed from now on would not be heard of.
        self.usable.store(false, Ordering::SeqCst);
        self.revocations.fetch_add(1, Ordering::SeqCst);
        self.users.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_until_revoked() {
        let cache = TokenCache::new(16, false);
        let before = cache.revocations();
        cache.keep([1; 32], Id::from_raw(7), before);
        assert_eq!(cache.get(&[1; 32]), Some(Id::from_raw(7)));
        cache.revoked(&[1; 32]);
        assert_eq!(cache.get(&[1; 32]), None);
    }

    #[test]
    fn a_lookup_that_raced_a_revocation_keeps_nothing() {
        let cache = TokenCache::new(16, false);
        let before = cache.revocations();
        // The database said "user 7", then a logout of this token committed.
        cache.revoked(&[1; 32]);
        cache.keep([1; 32], Id::from_raw(7), before);
        assert_eq!(cache.get(&[1; 32]), None);
    }

    #[test]
    fn a_shared_cache_is_used_only_while_the_feed_listens() {
        let cache = TokenCache::new(16, true);
        let change = |hash| ListChange { clock: Some(1), facts: vec![ListFact::Revoked(hash)] };
        cache.keep([1; 32], Id::from_raw(7), cache.revocations());
        assert_eq!(cache.get(&[1; 32]), None, "unusable before the first resync");
        cache.resync(0);
        cache.keep([1; 32], Id::from_raw(7), cache.revocations());
        cache.keep([2; 32], Id::from_raw(8), cache.revocations());
        assert_eq!(cache.get(&[1; 32]), Some(Id::from_raw(7)));
        // Another instance's logout, through the feed.
        cache.changed(&change([1; 32]));
        assert_eq!(cache.get(&[1; 32]), None);
        assert_eq!(cache.get(&[2; 32]), Some(Id::from_raw(8)));
        // A lookup that began before the feed was lost keeps nothing.
        let before = cache.revocations();
        cache.lost();
        cache.keep([3; 32], Id::from_raw(9), before);
        cache.resync(5);
        assert_eq!(cache.get(&[2; 32]), None, "dropped when the feed was lost");
        assert_eq!(cache.get(&[3; 32]), None);
    }
}
