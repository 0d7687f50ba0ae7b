//! Server settings, with their defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::store::postgres::PgSettings;
pub use crate::store::sqlite::SqliteSync;

/// Where the data lives, from a `--db` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbUrl {
    /// `sqlite://PATH` (relative) or `sqlite:///ABS/PATH`.
    Sqlite(PathBuf),
    /// `postgres://user:password@host:port/database` (or `postgresql://`).
    Postgres(String),
}

impl DbUrl {
    /// Parses `sqlite://path`, `sqlite:path` or a bare file path.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        if let Some(rest) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            if rest.is_empty() {
                anyhow::bail!("database URL {url:?} names no file");
            }
            return Ok(Self::Sqlite(PathBuf::from(rest)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        if url.contains("://") {
            anyhow::bail!("unsupported database URL {url:?}: use sqlite://FILE or postgres://...");
        }
        Ok(Self::Sqlite(PathBuf::from(url)))
    }
}

/// Everything `yhconv serve` can be told.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Database. Default `sqlite://yhconv.db`.
    pub db: DbUrl,
    /// Largest request body. Default 1 MiB.
    pub max_body_bytes: usize,
    /// Largest WebSocket frame or message from a client. Default 64 KiB.
    pub ws_max_frame_bytes: usize,
    /// Close a socket that sent nothing (no heartbeat) for this long. Default 90 s.
    pub ws_idle_timeout: Duration,
    /// Push frames queued per socket before it counts as fallen behind. Default 1024.
    pub ws_queue_capacity: usize,
    /// Longest a request may take. Default 30 s.
    pub request_timeout: Duration,
    /// Allowed CORS origins; empty means any. Default empty.
    pub cors_origins: Vec<String>,
    /// SQLite reader connections. Default 4.
    pub sqlite_readers: usize,
    /// SQLite commit durability. Default [`SqliteSync::Normal`].
    pub sqlite_sync: SqliteSync,
    /// Memory for encoded lists kept until they change (SQLite only; see
    /// `service::list_cache`), MiB; 0 turns the cache off. Default 64.
    pub list_cache_mib: u64,
    /// Requests per second allowed per token (sustained); 0 turns the limit off. Default 100.
    pub rate_limit_per_sec: u32,
    /// Requests a token may send at once above its rate. Default 400.
    pub rate_limit_burst: u32,
    /// Email logins per second allowed per client IP; 0 turns it off. Default 5 (burst 20).
    pub login_limit_per_sec: u32,
    /// PostgreSQL pool size and timeouts.
    pub postgres: PgSettings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            db: DbUrl::Sqlite(PathBuf::from("yhconv.db")),
            max_body_bytes: 1024 * 1024,
            ws_max_frame_bytes: 64 * 1024,
            ws_idle_timeout: Duration::from_secs(90),
            ws_queue_capacity: 1024,
            request_timeout: Duration::from_secs(30),
            cors_origins: Vec::new(),
            sqlite_readers: 4,
            sqlite_sync: SqliteSync::default(),
            list_cache_mib: 64,
            rate_limit_per_sec: 100,
            rate_limit_burst: 400,
            login_limit_per_sec: 5,
            postgres: PgSettings::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sqlite_urls() {
        assert_eq!(DbUrl::parse("sqlite://yhconv.db").unwrap(), DbUrl::Sqlite("yhconv.db".into()));
        assert_eq!(DbUrl::parse("sqlite:///tmp/x.db").unwrap(), DbUrl::Sqlite("/tmp/x.db".into()));
        assert_eq!(DbUrl::parse("data/x.db").unwrap(), DbUrl::Sqlite("data/x.db".into()));
        assert!(DbUrl::parse("sqlite://").is_err());
        assert!(DbUrl::parse("mysql://x").is_err());
        assert_eq!(DbUrl::parse("postgres://u@h/db").unwrap(), DbUrl::Postgres("postgres://u@h/db".into()));
    }
}
