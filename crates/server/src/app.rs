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
use crate::http::limit::RateLimits;
use crate::http::metrics::Metrics;
use crate::http::{self, AppState};
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
}

/// How long shutdown waits for push sockets to say goodbye.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

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
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another yhconv server is already serving {} (it holds {}); several instances need PostgreSQL",
            db.display(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
    }
}

impl Application {
    /// Opens the store and binds `config.listen` (port 0 picks a free one).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let sqlite_lock = match &config.db {
            DbUrl::Sqlite(path) => Some(lock_sqlite(path)?),
            DbUrl::Postgres(_) => None,
        };
        let service = open_service(&config).await?;
        let listener = TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        let limits = RateLimits::start(&config);
        let metrics = Metrics::new(&service);
        let (in_flight, drained) = tokio::sync::mpsc::channel(1);
        let state = AppState { service, config: Arc::new(config), shutdown: shutdown_rx, limits, metrics, in_flight };
        Ok(Self { listener, _sqlite_lock: sqlite_lock, state, shutdown, drained })
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
        let Self { listener, _sqlite_lock, state, shutdown, mut drained } = self;
        let router = http::router(state);
        let served = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                stop.await;
                tracing::info!("shutting down: finishing in-flight requests");
                let _ = shutdown.send(true);
            })
            .await
            .context("serving HTTP");
        if tokio::time::timeout(DRAIN_TIMEOUT, drained.recv()).await.is_err() {
            tracing::warn!("some push sockets did not close within {DRAIN_TIMEOUT:?}");
        }
        tracing::info!("stopped");
        served
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
