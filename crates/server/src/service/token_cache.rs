//! Which user a token belongs to, kept in memory so that a request costs no
//! database lookup to authenticate. Only tokens that exist are kept: a token
//! issued by another process (`yhconv admin token`) is found in the database
//! on its first use. Revoking happens only through this server's logout, so
//! only for stores this process alone writes ([`crate::domain::store::Store::shared`]
//! false).
//!
//! A lookup racing a logout of the same token must not put the revoked token
//! back: a lookup that read the database before a revocation drops what it
//! kept (see [`TokenCache::keep`]).

use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::sync::Cache;

use crate::domain::ids::Id;

/// Tokens and their users, and a count of revocations.
pub struct TokenCache {
    users: Cache<[u8; 32], Id>,
    revocations: AtomicU64,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens.
    pub fn new(capacity: usize) -> Self {
        Self { users: Cache::new(capacity.max(1)), revocations: AtomicU64::new(0) }
    }

    /// The user of a token this cache knows.
    pub fn get(&self, token_hash: &[u8; 32]) -> Option<Id> {
        self.users.get(token_hash)
    }

    /// Read before looking a token up in the database; pass to [`Self::keep`].
    pub fn revocations(&self) -> u64 {
        self.revocations.load(Ordering::SeqCst)
    }

    /// Keeps a token found in the database, unless a revocation happened
    /// since `revocations_before` was read (that one may have been this
    /// token's).
    pub fn keep(&self, token_hash: [u8; 32], user: Id, revocations_before: u64) {
        self.users.insert(token_hash, user);
        // Checked after inserting: a logout that counted itself before this
        // check is seen here; one that counts itself after it removes the
        // entry itself.
        if self.revocations.load(Ordering::SeqCst) != revocations_before {
            self.users.remove(&token_hash);
        }
    }

    /// Forgets a token revoked in the database (call after the revocation
    /// committed, before answering).
    pub fn revoked(&self, token_hash: &[u8; 32]) {
        self.revocations.fetch_add(1, Ordering::SeqCst);
        self.users.remove(token_hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_until_revoked() {
        let cache = TokenCache::new(16);
        let before = cache.revocations();
        cache.keep([1; 32], Id::from_raw(7), before);
        assert_eq!(cache.get(&[1; 32]), Some(Id::from_raw(7)));
        cache.revoked(&[1; 32]);
        assert_eq!(cache.get(&[1; 32]), None);
    }

    #[test]
    fn a_lookup_that_raced_a_revocation_keeps_nothing() {
        let cache = TokenCache::new(16);
        let before = cache.revocations();
        // The database said "user 7", then a logout of this token committed.
        cache.revoked(&[1; 32]);
        cache.keep([1; 32], Id::from_raw(7), before);
        assert_eq!(cache.get(&[1; 32]), None);
    }
}
