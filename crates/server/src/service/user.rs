//! Login, logout, tokens and profiles.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{now_ms, Service};
use crate::domain::error::{AuthFailure, Error, Result};
use crate::domain::event::TokenHash;
use crate::domain::ids::Id;
use crate::domain::model::{NewToken, UserProfile};

/// Longest accepted email or password, in bytes.
const MAX_CREDENTIAL_LEN: usize = 1024;

/// A fresh login token: 256 random bits, hex.
fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What a token is stored as: its sha256.
pub fn token_hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// An email as it is stored and looked up: trimmed, every letter in lower
/// case (so `Ann@Example.com` and `ann@example.com` are one login).
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// An argon2id PHC string for `password`.
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(anyhow::anyhow!("hashing password: {e}")))
}

fn password_matches(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

impl Service {
    /// The user a `token` header names.
    pub async fn authenticate(&self, token: Option<&str>) -> Result<Id> {
        let token = token.map(str::trim).filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(Error::Unauthorized(AuthFailure::Missing));
        };
        if token.len() > MAX_CREDENTIAL_LEN {
            return Err(Error::Unauthorized(AuthFailure::Unknown));
        }
        let hash = token_hash(token);
        let Some(cache) = &self.tokens else {
            return self.store.token_user(hash).await?.ok_or(Error::Unauthorized(AuthFailure::Unknown));
        };
        if let Some(user) = cache.get(&hash) {
            return Ok(user);
        }
        let revocations = cache.revocations();
        let user = self.store.token_user(hash).await?.ok_or(Error::Unauthorized(AuthFailure::Unknown))?;
        cache.keep(hash, user, revocations);
        Ok(user)
    }

    /// Checks email and password; on success stores and returns a new token.
    pub async fn email_login(&self, email: &str, password: &str, device_id: &str, platform: &str) -> Result<String> {
        if email.trim().is_empty() {
            return Err(Error::invalid("email is required"));
        }
        if password.is_empty() {
            return Err(Error::invalid("password is required"));
        }
        if email.len() > MAX_CREDENTIAL_LEN || password.len() > MAX_CREDENTIAL_LEN {
            return Err(Error::invalid("email or password too long"));
        }
        let (user, phc) = match self.store.credentials(&normalize_email(email)).await? {
            Some((user, Some(phc))) => (user, phc),
            _ => return Err(Error::WrongCredentials),
        };
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || password_matches(&password, &phc))
            .await
            .map_err(|e| Error::Internal(e.into()))?;
        if !ok {
            return Err(Error::WrongCredentials);
        }
        let platform: String = platform.chars().take(32).collect();
        tracing::info!(%user, platform, "login");
        self.store_token(user, device_id, &platform).await
    }

    /// Issues a token without a password (admin and demo use).
    pub async fn issue_token(&self, user: Id, device_id: &str) -> Result<String> {
        self.store_token(user, device_id, "admin").await
    }

    /// A new token for `user`, stored by its hash.
    async fn store_token(&self, user: Id, device_id: &str, platform: &str) -> Result<String> {
        let token = new_token();
        let record = NewToken {
            hash: token_hash(&token),
            user,
            device_id: device_id.chars().take(128).collect(),
            platform: platform.chars().take(32).collect(),
            created_ms: now_ms(),
        };
        self.store.insert_token(record).await?;
        Ok(token)
    }

    /// Revokes the caller's token at once; the store's logout event closes
    /// the sockets that logged in with it, on every instance.
    pub async fn logout(&self, token: &str) -> Result<()> {
        let hash = token_hash(token.trim());
        self.store.delete_token(hash).await?;
        if let Some(cache) = &self.tokens {
            cache.revoked(&hash);
        }
        Ok(())
    }

    /// The caller's profile.
    pub async fn user_info(&self, user: Id) -> Result<UserProfile> {
        self.store
            .profile(user)
            .await?
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("token of user {user} who no longer exists")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_distinct() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_ne!(token_hash(&a), token_hash(&b));
    }

    #[test]
    fn emails_fold_every_letter() {
        assert_eq!(normalize_email("  Ann@Example.COM "), "ann@example.com");
        assert_eq!(normalize_email("ÄNN@ÉXAMPLE.cn"), "änn@éxample.cn");
    }

    #[test]
    fn password_hash_round_trip() {
        let phc = hash_password("s3cret").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(password_matches("s3cret", &phc));
        assert!(!password_matches("wrong", &phc));
        assert!(!password_matches("s3cret", "not a hash"));
    }
}
