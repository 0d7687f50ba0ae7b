//! Server settings: each declared once, in [`Config`], with its flag,
//! `YHCONV_*` variable, default and help text. `yhconv serve` flattens
//! `Config` into its flags (so clap gives flag > variable > `--config` file >
//! default); [`Config::default`] is what those declarations give with no flag.

mod db_url;

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, FromArgMatches as _};

pub use crate::store::postgres::PgSettings;
pub use crate::store::sqlite::SqliteSync;
pub use db_url::{redact_url, DbUrl, DbUrlParser};

impl<'de> serde::Deserialize<'de> for SqliteSync {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// Everything `yhconv serve` can be told about the server, in the units of
/// its flags. Also `Deserialize`, under the flags' names (`list-cache-mib`),
/// for embedding; absent keys take their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Args, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "YHCONV_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Database URL: sqlite://FILE or postgres://USER:PASSWORD@HOST:PORT/DB.
    #[arg(long, env = "YHCONV_DB", default_value = "sqlite://yhconv.db", hide_env_values = true)]
    pub db: DbUrl,
    /// Largest request body, bytes.
    #[arg(long, env = "YHCONV_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Largest WebSocket frame from a client, bytes.
    #[arg(long, env = "YHCONV_WS_MAX_FRAME_BYTES", default_value_t = 64 * 1024)]
    pub ws_max_frame_bytes: usize,
    /// Close sockets silent (no heartbeat) for this many seconds.
    #[arg(long, env = "YHCONV_WS_IDLE_SECS", default_value_t = 90)]
    pub ws_idle_secs: u64,
    /// Push frames queued per socket before it is dropped as too slow.
    #[arg(long, env = "YHCONV_WS_QUEUE", default_value_t = 1024)]
    pub ws_queue: usize,
    /// A push socket that has not logged in this many seconds after the
    /// upgrade is closed.
    #[arg(long, env = "YHCONV_WS_LOGIN_TIMEOUT_SECS", default_value_t = 5)]
    pub ws_login_timeout_secs: u64,
    /// Longest a request may take, seconds, reading its body included.
    #[arg(long, env = "YHCONV_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// A request's headers must arrive within this many seconds of the
    /// connection being ready for it; so an idle keep-alive connection is
    /// closed after it too.
    #[arg(long, env = "YHCONV_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Most connections open at once, push sockets included (lowered to
    /// what the open-files limit allows).
    #[arg(long, env = "YHCONV_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Most connections open at once from one client address; 0: no cap
    /// (behind a reverse proxy every client has the proxy's address).
    #[arg(long, env = "YHCONV_MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: usize,
    /// Allowed CORS origin (repeatable); none given means any origin.
    #[arg(long, env = "YHCONV_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origin: Vec<String>,
    /// Base URL of the media (images, files, audio, video) that
    /// `/v1/misc/configure-distribution` gives clients; empty: none (this
    /// server stores no uploads).
    #[arg(long, env = "YHCONV_MEDIA_BASE_URL", default_value = "")]
    pub media_base_url: String,
    /// SQLite reader connections (the writer is one more).
    #[arg(long, env = "YHCONV_SQLITE_READERS", default_value_t = 4)]
    pub sqlite_readers: usize,
    /// SQLite commit durability: normal (survives crashes and kill -9) or
    /// full (fsync every commit: survives power loss too).
    #[arg(long, env = "YHCONV_SQLITE_SYNC", default_value = "normal")]
    pub sqlite_sync: SqliteSync,
    /// Memory for encoded conversation lists kept until they change, MiB
    /// (both engines; with PostgreSQL every instance follows the others'
    /// changes through the list clock and its feed); 0 turns the cache off.
    #[arg(long, env = "YHCONV_LIST_CACHE_MIB", default_value_t = 64)]
    pub list_cache_mib: u64,
    /// Requests per second allowed per token (sustained); 0 turns the limit off.
    #[arg(long, env = "YHCONV_RATE_LIMIT", default_value_t = 100)]
    pub rate_limit: u32,
    /// Requests a token may send at once above its rate.
    #[arg(long, env = "YHCONV_RATE_BURST", default_value_t = 400)]
    pub rate_burst: u32,
    /// Email logins per second allowed per client IP (burst 20); 0 turns the limit off.
    #[arg(long, env = "YHCONV_LOGIN_RATE_LIMIT", default_value_t = 5)]
    pub login_rate_limit: u32,
    /// PostgreSQL: most pooled connections.
    #[arg(long, env = "YHCONV_DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: usize,
    /// PostgreSQL: longest wait for a connection attempt or a pooled connection, seconds.
    #[arg(long, env = "YHCONV_DB_CONNECT_TIMEOUT_SECS", default_value_t = 5)]
    pub db_connect_timeout_secs: u64,
    /// PostgreSQL: how long start-up retries an unavailable database, seconds.
    #[arg(long, env = "YHCONV_DB_STARTUP_WAIT_SECS", default_value_t = 60)]
    pub db_startup_wait_secs: u64,
}

impl Config {
    /// `--ws-idle-secs` (at least one second).
    pub fn ws_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.ws_idle_secs.max(1))
    }

    /// `--ws-queue` (at least one frame).
    pub fn ws_queue_capacity(&self) -> usize {
        self.ws_queue.max(1)
    }

    /// `--ws-login-timeout-secs` (at least one second).
    pub fn ws_login_timeout(&self) -> Duration {
        Duration::from_secs(self.ws_login_timeout_secs.max(1))
    }

    /// `--header-timeout-secs` (at least one second).
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs.max(1))
    }

    /// `--request-timeout-secs` (at least one second).
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(1))
    }

    /// `--list-cache-mib` in bytes.
    pub fn list_cache_bytes(&self) -> u64 {
        self.list_cache_mib.saturating_mul(1024 * 1024)
    }

    /// The `--db-*` settings as [`PostgresStore::connect`] takes them (a pool
    /// of at least one, timeouts of at least a second).
    ///
    /// [`PostgresStore::connect`]: crate::store::postgres::PostgresStore::connect
    pub fn postgres(&self) -> PgSettings {
        PgSettings {
            pool_size: self.db_pool_size.max(1),
            connect_timeout: Duration::from_secs(self.db_connect_timeout_secs.max(1)),
            startup_wait: Duration::from_secs(self.db_startup_wait_secs),
        }
    }
}

/// What `yhconv serve` runs with given no flag, variable or file: the
/// declared defaults, read by parsing an empty command line (with every
/// `YHCONV_*` variable ignored, so the environment cannot change it).
impl Default for Config {
    fn default() -> Self {
        let command = Self::augment_args(clap::Command::new("yhconv-serve")).mut_args(|arg| arg.env(None));
        let matches = command.try_get_matches_from(["yhconv-serve"]).expect("every declared default parses");
        Self::from_arg_matches(&matches).expect("every declared default parses")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command() -> clap::Command {
        Config::augment_args(clap::Command::new("serve")).mut_args(|arg| arg.env(None))
    }

    #[test]
    fn defaults_are_the_declared_ones() {
        let config = Config::default();
        assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(config.db, DbUrl::Sqlite("yhconv.db".into()));
        assert_eq!((config.max_body_bytes, config.ws_idle_timeout()), (1024 * 1024, Duration::from_secs(90)));
        assert!(config.cors_origin.is_empty());
        assert_eq!(config.postgres().startup_wait, Duration::from_secs(60));
    }

    /// Serde reads the flags' own names: every flag's default, written under
    /// its long name, deserializes to `Config::default()`.
    #[test]
    fn serde_keys_are_the_flag_names() {
        let mut table = serde_json::Map::new();
        for arg in command().get_arguments() {
            let long = arg.get_long().expect("every setting is a --flag");
            let values: Vec<String> =
                arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
            let value = match (arg.get_action(), values.as_slice()) {
                (clap::ArgAction::Append, _) => serde_json::json!(values),
                (_, [one]) => one.parse::<u64>().map_or_else(|_| serde_json::json!(one), |n| serde_json::json!(n)),
                _ => panic!("--{long} has no single default"),
            };
            table.insert(long.to_owned(), value);
        }
        let config: Config = serde_json::from_value(table.into()).expect("every flag name is a key");
        assert_eq!(config, Config::default());

        let given = serde_json::json!({
            "db": "postgres://u:pw@h/db", "cors-origin": ["https://a"], "ws-idle-secs": 5, "sqlite-sync": "full",
        });
        let parsed = command().get_matches_from([
            "serve",
            "--db",
            "postgres://u:pw@h/db",
            "--cors-origin",
            "https://a",
            "--ws-idle-secs",
            "5",
            "--sqlite-sync",
            "full",
        ]);
        assert_eq!(serde_json::from_value::<Config>(given).unwrap(), Config::from_arg_matches(&parsed).unwrap());
        assert!(serde_json::from_value::<Config>(serde_json::json!({"list-cache": 1})).is_err());
    }

    #[test]
    fn debug_hides_the_database_password() {
        let config = Config { db: DbUrl::parse("postgres://u:s3cretpw@h/db").unwrap(), ..Config::default() };
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cretpw") && debug.contains("postgres://u:***@h/db"), "{debug}");
    }
}
