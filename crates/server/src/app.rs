//! Building and running the server: open the store, start the push hub,
//! bind, serve until told to stop, then close sockets cleanly.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::config::{Config, DbUrl};
use crate::domain::store::Store;
use crate::http::conn::{ConnectionLimits, Tally};
use crate::http::limit::RateLimits;
use crate::http::metrics::Metrics;
use crate::http::{self, AppState, AppStateFields};
use crate::push::Hub;
use crate::service::Service;
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    /// Held while serving an SQLite file, so that a second server cannot
    /// open it (see [`lock_sqlite`]).
    _sqlite_lock: Option<std::fs::File>,
    state: AppState,
    shutdown: tokio::sync::watch::Sender<bool>,
    /// Closes when every clone of `state` is gone.
    drained: tokio::sync::mpsc::Receiver<()>,
    limits: ConnectionLimits,
}

/// How long shutdown waits for HTTP requests to finish, and then for push
/// sockets to say goodbye.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Open files kept back from connections: the database and its journal,
/// the log, and a margin.
const RESERVED_FILES: usize = 64;

/// Raises the process's soft open-files limit to its hard limit, and
/// returns the soft limit then in force.
pub fn raise_open_files_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap_or((1024, 1024));
            tracing::warn!(error = %e, soft, "could not raise the open-files limit");
            soft
        }
    }
}

/// The connection limits `config` asks for, `--max-connections` lowered to
/// what `open_files` leaves room for beside the database's own files.
pub fn connection_limits(config: &Config, open_files: u64) -> ConnectionLimits {
    let database = match config.db {
        DbUrl::Sqlite(_) => 2 * (config.sqlite_readers.max(1) + 1),
        DbUrl::Postgres(_) => config.db_pool_size.max(1) + 1,
    };
    let room = usize::try_from(open_files).unwrap_or(usize::MAX).saturating_sub(RESERVED_FILES + database).max(1);
    if config.max_connections > room {
        tracing::warn!(
            "--max-connections {} lowered to {room}: the open-files limit is {open_files} (raise it with `ulimit -n` or LimitNOFILE=)",
            config.max_connections
        );
    }
    ConnectionLimits {
        total: config.max_connections.clamp(1, room),
        per_address: config.max_connections_per_ip,
        header_timeout: config.header_timeout(),
        drain_timeout: DRAIN_TIMEOUT,
    }
}

/// How long start-up waits for the push feed to listen before it serves
/// anyway (it reconnects and catches up by itself).
const FEED_READY_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens the store a config names (waiting for PostgreSQL if it is not up yet).
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    match &config.db {
        DbUrl::Sqlite(path) => Ok(Arc::new(SqliteStore::open(path, config.sqlite_readers.max(1), config.sqlite_sync)?)),
        DbUrl::Postgres(url) => Ok(Arc::new(
            // `config.db` prints with its password redacted.
            PostgresStore::connect(url, &config.postgres()).await.with_context(|| format!("opening {}", config.db))?,
        )),
    }
}

/// A service over the store a config names (for import and admin).
pub async fn open_service(config: &Config) -> anyhow::Result<Service> {
    let store = open_store(config).await?;
    let hub = Hub::start(Arc::clone(&store), config.ws_queue_capacity());
    Ok(Service::new(store, hub, config.list_cache_bytes()))
}

/// Takes the serve lock of an SQLite database: `PATH-serve.lock`, locked
/// for as long as the returned file is open (the OS lets go when the process
/// ends, however it ends). One server per SQLite file: it keeps lists and
/// push subscriptions in memory, which a second server's writes would not
/// reach. `yhconv admin` and `yhconv import` do not take it.
pub fn lock_sqlite(db: &Path) -> anyhow::Result<std::fs::File> {
    let mut name = db.as_os_str().to_owned();
    name.push("-serve.lock");
    let path = PathBuf::from(name);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            anyhow::bail!("another yhconv server is already serving {} (it holds {})", db.display(), path.display())
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
    }
}

impl Application {
    /// Opens the store and binds `config.listen` (port 0 picks a free one).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let sqlite_lock = match &config.db {
            DbUrl::Sqlite(path) => {
                Some(lock_sqlite(path).context("one server per SQLite file (several instances need PostgreSQL)")?)
            }
            DbUrl::Postgres(_) => None,
        };
        let service = open_service(&config).await?;
        // Requests are taken only once pushes of what they commit reach this
        // instance's sockets (PostgreSQL: the feed's LISTEN took effect).
        if !service.wait_for_feed(FEED_READY_WAIT).await {
            tracing::warn!(wait = ?FEED_READY_WAIT, "serving before the push feed listens: pushes of messages sent meanwhile reach no socket here");
        }
        let open_files = raise_open_files_limit();
        let limits = connection_limits(&config, open_files);
        tracing::info!(
            open_files,
            "holding up to {} connections at once ({} per client address)",
            limits.total,
            if limits.per_address == 0 { "any number".to_owned() } else { limits.per_address.to_string() }
        );
        let listener = TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        let rate_limits = RateLimits::start(&config);
        let metrics = Metrics::new(&service);
        let (in_flight, drained) = tokio::sync::mpsc::channel(1);
        let connections = Arc::new(Tally::default());
        let state = AppState::new(AppStateFields {
            service,
            config: Arc::new(config),
            shutdown: shutdown_rx,
            limits: rate_limits,
            metrics,
            in_flight,
            connections,
        });
        Ok(Self { listener, _sqlite_lock: sqlite_lock, state, shutdown, drained, limits })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// The service, e.g. to import a world before serving.
    pub fn service(&self) -> &Service {
        &self.state.service
    }

    /// Serves until `stop` completes; then stops accepting, tells sockets to
    /// close, lets in-flight requests finish, and waits for every socket to
    /// have sent its close frame.
    pub async fn run_until(self, stop: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Self { listener, _sqlite_lock, state, shutdown, mut drained, limits } = self;
        let tally = Arc::clone(&state.connections);
        let metrics = Arc::clone(&state.metrics);
        let service = state.service.clone();
        let router = http::router(state);
        let stop = async move {
            stop.await;
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = shutdown.send(true);
        };
        http::conn::serve(listener, router, limits, tally, metrics, stop).await;
        if tokio::time::timeout(DRAIN_TIMEOUT, drained.recv()).await.is_err() {
            tracing::warn!("some push sockets did not close within {DRAIN_TIMEOUT:?}");
        }
        // Other instances' writes stop waiting for this one's list lease.
        service.stop_feed().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_connections_is_lowered_to_what_the_open_files_allow() {
        let config = Config { max_connections: 10_000, max_connections_per_ip: 9, ..Config::default() };
        let roomy = connection_limits(&config, 1 << 20);
        assert_eq!((roomy.total, roomy.per_address), (10_000, 9));
        // SQLite with 4 readers keeps 10 files, and 64 more are kept back.
        assert_eq!(connection_limits(&config, 1024).total, 1024 - 64 - 10);
        assert_eq!(connection_limits(&config, 10).total, 1, "never nothing");
        assert!(raise_open_files_limit() >= 1);
    }
}
