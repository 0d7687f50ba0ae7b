//! Rate limits: per token on every authenticated call, and per client IP on
//! email login (each try costs an argon2 hash). Generous by default; a
//! caller over its rate gets `-1` with HTTP 429 and may retry shortly.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::Config;
use crate::domain::error::{Error, Result};
use crate::service::user::token_hash;

/// Burst allowance for logins from one IP.
const LOGIN_BURST: u32 = 20;

/// The server's rate limiters.
pub struct RateLimits {
    per_token: Option<DefaultKeyedRateLimiter<[u8; 32]>>,
    per_ip_login: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

fn limiter<K: std::hash::Hash + Eq + Clone>(per_sec: u32, burst: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    let rate = NonZeroU32::new(per_sec)?;
    let burst = NonZeroU32::new(burst.max(per_sec)).unwrap_or(rate);
    Some(RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)))
}

impl RateLimits {
    /// Limiters as configured, and a task that forgets idle keys every minute.
    pub fn start(config: &Config) -> Arc<Self> {
        let limits = Arc::new(Self {
            per_token: limiter(config.rate_limit, config.rate_burst),
            per_ip_login: limiter(config.login_rate_limit, LOGIN_BURST),
        });
        let weak = Arc::downgrade(&limits);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(limits) = weak.upgrade() else { return };
                if let Some(l) = &limits.per_token {
                    l.retain_recent();
                }
                if let Some(l) = &limits.per_ip_login {
                    l.retain_recent();
                }
            }
        });
        limits
    }

    /// One request with `token`.
    pub fn check_token(&self, token: &str) -> Result<()> {
        match &self.per_token {
            Some(l) if l.check_key(&token_hash(token)).is_err() => Err(Error::RateLimited),
            _ => Ok(()),
        }
    }

    /// One login try from `ip`.
    pub fn check_login(&self, ip: IpAddr) -> Result<()> {
        match &self.per_ip_login {
            Some(l) if l.check_key(&ip).is_err() => Err(Error::RateLimited),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_token_over_its_burst_is_refused_and_others_are_not() {
        let config = Config { rate_limit: 1, rate_burst: 3, ..Config::default() };
        let limits = RateLimits::start(&config);
        for _ in 0..3 {
            limits.check_token("a").unwrap();
        }
        assert!(matches!(limits.check_token("a"), Err(Error::RateLimited)));
        limits.check_token("b").unwrap();
    }

    #[tokio::test]
    async fn zero_turns_limits_off() {
        let config = Config { rate_limit: 0, login_rate_limit: 0, ..Config::default() };
        let limits = RateLimits::start(&config);
        for _ in 0..10_000 {
            limits.check_token("a").unwrap();
            limits.check_login(IpAddr::from([127, 0, 0, 1])).unwrap();
        }
    }
}
