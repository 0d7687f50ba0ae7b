//! The embedded SQLite store: one file, WAL, one writer and a few readers.
//!
//! Every call runs on tokio's blocking pool. Writes take the single writer
//! connection and an IMMEDIATE transaction, so sequence numbers are assigned
//! one at a time; reads use their own connections and see the last commit.

mod chats;
mod identities;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior};
use yhconv_proto::ChatType;

use super::*;
use crate::config::SqliteSync;
use crate::domain::error::{Error, Result};

/// Schema migrations, applied in order; `PRAGMA user_version` counts them.
const MIGRATIONS: &[&str] = &[include_str!("0001_init.sql"), include_str!("0002_identity_epoch.sql")];

/// SQLite-backed [`Store`].
pub struct SqliteStore {
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: AtomicUsize,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path, readers: usize, sync: SqliteSync) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut writer = open_connection(path, false)?;
        let synchronous = match sync {
            SqliteSync::Normal => "NORMAL",
            SqliteSync::Full => "FULL",
        };
        writer.pragma_update(None, "synchronous", synchronous)?;
        migrate(&mut writer).with_context(|| format!("migrating {}", path.display()))?;
        let readers = (0..readers.max(1))
            .map(|_| open_connection(path, true).map(Mutex::new))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self { writer: Arc::new(Mutex::new(writer)), readers: Arc::new(readers), next_reader: AtomicUsize::new(0) })
    }

    /// Runs `f` in an IMMEDIATE transaction on the writer connection.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let writer = Arc::clone(&self.writer);
        blocking(move || {
            let mut conn = writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })
        .await
    }

    /// Runs `f` on a reader connection, on the blocking pool: for reads that
    /// may take a while (lists, history).
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let readers = Arc::clone(&self.readers);
        let index = self.next_reader.fetch_add(1, Ordering::Relaxed) % readers.len();
        blocking(move || {
            let conn = readers[index].lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&conn)
        })
        .await
    }

    /// Runs `f`, a lookup by key that takes microseconds, right here on a
    /// free reader connection; a hand-off to the blocking pool would cost
    /// more than the lookup. Falls back to [`Self::read`] when every reader
    /// is busy.
    async fn read_point<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        for offset in 0..self.readers.len() {
            if let Ok(conn) = self.readers[(start + offset) % self.readers.len()].try_lock() {
                return f(&conn);
            }
        }
        self.read(f).await
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::Internal(anyhow::anyhow!("storage task failed: {e}")))?
}

fn open_connection(path: &Path, read_only: bool) -> anyhow::Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags).with_context(|| format!("opening {}", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    if !read_only {
        // WAL lets readers run beside the writer; a commit is in the WAL
        // before it is answered (see `SqliteSync` for when it is fsynced).
        conn.pragma_update(None, "journal_mode", "WAL")?;
    }
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let applied: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if applied > MIGRATIONS.len() {
        anyhow::bail!("database schema version {applied} is newer than this yhconv knows ({})", MIGRATIONS.len());
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
        tracing::info!(version = index + 1, "applied schema migration");
    }
    Ok(())
}

/// Reads an [`Entity`] from columns `at..at+6`: id, kind, name, avatar_url,
/// avatar_id, certification_level.
fn entity_at(row: &Row<'_>, at: usize) -> rusqlite::Result<Entity> {
    let kind: u64 = row.get(at + 1)?;
    Ok(Entity {
        id: Id::from_raw(row.get(at)?),
        kind: ChatType::from_code(kind).ok_or_else(|| rusqlite::Error::IntegralValueOutOfRange(at + 1, kind as i64))?,
        name: row.get(at + 2)?,
        avatar_url: row.get(at + 3)?,
        avatar_id: row.get(at + 4)?,
        certification_level: row.get(at + 5)?,
    })
}

const ENTITY_COLUMNS: &str = "id, kind, name, avatar_url, avatar_id, certification_level";

#[async_trait]
impl Store for SqliteStore {
    async fn apply_identities(&self, batch: IdentityBatch) -> Result<ImportStats> {
        self.write(move |tx| identities::apply(tx, &batch)).await
    }

    async fn entity(&self, id: Id) -> Result<Option<Entity>> {
        self.read_point(move |conn| {
            let sql = format!("SELECT {ENTITY_COLUMNS} FROM entity WHERE id = ?1");
            Ok(conn.prepare_cached(&sql)?.query_row([id.get()], |r| entity_at(r, 0)).optional()?)
        })
        .await
    }

    async fn credentials(&self, email: &str) -> Result<Option<(Id, Option<String>)>> {
        let email = email.to_owned();
        self.read_point(move |conn| {
            Ok(conn
                .prepare_cached("SELECT user_id, password_hash FROM account WHERE email = ?1")?
                .query_row([email], |r| Ok((Id::from_raw(r.get(0)?), r.get(1)?)))
                .optional()?)
        })
        .await
    }

    async fn profile(&self, user: Id) -> Result<Option<UserProfile>> {
        self.read_point(move |conn| {
            let sql = "SELECT e.id, e.kind, e.name, e.avatar_url, e.avatar_id, e.certification_level, \
                       coalesce(a.email, ''), coalesce(a.phone, '') \
                       FROM entity e LEFT JOIN account a ON a.user_id = e.id WHERE e.id = ?1 AND e.kind = 1";
            Ok(conn
                .prepare_cached(sql)?
                .query_row([user.get()], |r| {
                    Ok(UserProfile { entity: entity_at(r, 0)?, email: r.get(6)?, phone: r.get(7)? })
                })
                .optional()?)
        })
        .await
    }

    async fn insert_token(
        &self,
        token_hash: [u8; 32],
        user: Id,
        device_id: &str,
        platform: &str,
        now_ms: i64,
    ) -> Result<()> {
        let (device_id, platform) = (device_id.to_owned(), platform.to_owned());
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO token (hash, user_id, device_id, platform, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(rusqlite::params![&token_hash[..], user.get(), device_id, platform, now_ms])?;
            Ok(())
        })
        .await
    }

    async fn token_user(&self, token_hash: [u8; 32]) -> Result<Option<Id>> {
        self.read_point(move |conn| {
            Ok(conn
                .prepare_cached("SELECT user_id FROM token WHERE hash = ?1")?
                .query_row([&token_hash[..]], |r| r.get(0).map(Id::from_raw))
                .optional()?)
        })
        .await
    }

    async fn delete_token(&self, token_hash: [u8; 32]) -> Result<bool> {
        self.write(
            move |tx| Ok(tx.prepare_cached("DELETE FROM token WHERE hash = ?1")?.execute([&token_hash[..]])? > 0),
        )
        .await
    }

    async fn conversations(&self, user: Id) -> Result<Vec<ConversationRow>> {
        self.read(move |conn| chats::conversations(conn, user)).await
    }

    async fn identity_epoch(&self) -> Result<i64> {
        self.read_point(|conn| {
            Ok(conn
                .prepare_cached("SELECT value FROM meta WHERE key = 'identity_epoch'")?
                .query_row([], |r| r.get(0))?)
        })
        .await
    }

    async fn read_position(&self, user: Id, peer: Id) -> Result<Option<(Entity, Option<ReadPosition>)>> {
        self.read_point(move |conn| chats::read_position(conn, user, peer)).await
    }

    async fn change_view(&self, user: Id, peer: &Entity, change: ViewChange) -> Result<bool> {
        let peer = peer.clone();
        self.write(move |tx| chats::change_view(tx, user, &peer, change)).await
    }

    async fn append_message(&self, peer: &Entity, msg: NewMessage) -> Result<Appended> {
        let peer = peer.clone();
        self.write(move |tx| chats::append_message(tx, &peer, msg)).await
    }

    async fn messages(
        &self,
        user: Id,
        peer: &Entity,
        before_msg_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredMessage>> {
        let peer = peer.clone();
        let before = before_msg_id.map(str::to_owned);
        self.read(move |conn| chats::messages(conn, user, &peer, before.as_deref(), limit)).await
    }

    async fn members_among(&self, group: Id, candidates: Vec<Id>) -> Result<Vec<Id>> {
        self.read(move |conn| chats::members_among(conn, group, &candidates)).await
    }

    async fn health(&self) -> Result<()> {
        self.read(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?)).await
    }
}
