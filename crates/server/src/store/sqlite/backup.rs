//! Backing up an SQLite database while a server writes to it, checking
//! that a file is a yhconv database, and restoring one.
//!
//! Both copies are made with `VACUUM INTO` rather than SQLite's online
//! backup API (rusqlite's `backup` feature):
//! - It is one statement in one read transaction: the copy is the database
//!   as of one commit, and in WAL mode the server's writer is never
//!   blocked while it runs. The backup API copies pages in steps, and when
//!   another process (the server) writes between two steps it starts over,
//!   so under steady load a stepped backup may never end; copying in a
//!   single step holds one read transaction, exactly as `VACUUM INTO` does.
//! - The copy is a single self-contained file, compacted, in rollback
//!   journal mode: no `-wal` to carry along, nothing replayed on opening.
//! - It needs no extra feature, and restore reads a backup the same way, so
//!   a backup that is itself a live WAL database (copied with its `-wal`)
//!   restores with its last commits.
//!
//! SQLite does not sync `VACUUM INTO`'s output, so both write to a
//! temporary file next to the destination, sync it, check it, and only then
//! rename it into place (and sync the directory): the destination is
//! either the old file or a complete new one, never half a copy.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rusqlite::{Connection, OpenFlags};

use super::export::tables;
use super::MIGRATIONS;

/// What a checked yhconv database holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSummary {
    /// Its schema version (migrations applied).
    pub schema_version: i64,
    /// Users, groups and bots.
    pub entities: u64,
    /// Messages, recalled ones included.
    pub messages: u64,
    /// The file's size in bytes.
    pub bytes: u64,
}

/// Copies the database at `source` (which a server may be writing to) to
/// `out`, replacing `out` if it exists (the caller decides whether that is
/// wanted), and checks the copy with [`inspect`].
pub fn backup(source: &Path, out: &Path) -> anyhow::Result<DatabaseSummary> {
    if !source.is_file() {
        anyhow::bail!("no SQLite database at {}", source.display());
    }
    let conn = open_read_only(source)?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .with_context(|| format!("{} is not an SQLite database", source.display()))?;
    if version == 0 {
        anyhow::bail!("{} is not a yhconv database (it has no yhconv schema)", source.display());
    }
    let partial = Partial::next_to(out)?;
    vacuum_into(&conn, &partial.path).with_context(|| format!("copying {}", source.display()))?;
    drop(conn);
    sync_file(&partial.path)?;
    let summary = inspect(&partial.path).context("checking the copy")?;
    partial.persist(out)?;
    Ok(summary)
}

/// Checks that `path` is a yhconv database this yhconv can serve: an
/// SQLite file that passes `PRAGMA quick_check`, at a schema version it
/// knows (an older one is migrated when served), with exactly the tables
/// and columns that version has. Returns what it holds.
pub fn inspect(path: &Path) -> anyhow::Result<DatabaseSummary> {
    if !path.is_file() {
        anyhow::bail!("no file at {}", path.display());
    }
    let conn = open_read_only(path)?;
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .with_context(|| format!("{} is not an SQLite database", path.display()))?;
    if check != "ok" {
        anyhow::bail!("{} is damaged: {check}", path.display());
    }
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version == 0 {
        anyhow::bail!("{} is not a yhconv database (it has no yhconv schema)", path.display());
    }
    if version > known {
        anyhow::bail!(
            "{} has schema version {version}, newer than this yhconv knows ({known}): use a newer yhconv",
            path.display()
        );
    }
    let expected = Connection::open_in_memory()?;
    for sql in &MIGRATIONS[..version as usize] {
        expected.execute_batch(sql)?;
    }
    let (found, wanted) = (tables(&conn)?, tables(&expected)?);
    if found != wanted {
        let names = |ts: &[crate::store::transfer::SourceTable]| {
            ts.iter().map(|t| format!("{}({})", t.name, t.columns.join(", "))).collect::<Vec<_>>().join(" ")
        };
        anyhow::bail!(
            "{} is not a yhconv database: its tables differ from yhconv schema version {version}\n  found:  {}\n  wanted: {}",
            path.display(),
            names(&found),
            names(&wanted)
        );
    }
    let count = |table: &str| -> anyhow::Result<u64> {
        Ok(conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get::<_, i64>(0))? as u64)
    };
    Ok(DatabaseSummary {
        schema_version: version,
        entities: count("entity")?,
        messages: count("message")?,
        bytes: std::fs::metadata(path)?.len(),
    })
}

/// Replaces the database at `target` (or creates it) with a copy of the
/// backup at `backup`, after checking the backup with [`inspect`]. The
/// target's stale `-wal`, `-shm` and `-journal` files are removed, so none
/// is replayed onto the restored file. The caller makes sure no server has
/// `target` open (its serve lock).
pub fn restore(backup: &Path, target: &Path) -> anyhow::Result<DatabaseSummary> {
    let summary = inspect(backup)?;
    if let (Ok(a), Ok(b)) = (backup.canonicalize(), target.canonicalize()) {
        if a == b {
            anyhow::bail!("{} is the backup itself: restore it to another file", target.display());
        }
    }
    let partial = Partial::next_to(target)?;
    let conn = open_read_only(backup)?;
    vacuum_into(&conn, &partial.path).with_context(|| format!("copying {}", backup.display()))?;
    drop(conn);
    sync_file(&partial.path)?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut stale = target.as_os_str().to_owned();
        stale.push(suffix);
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", Path::new(&stale).display())),
        }
    }
    partial.persist(target)?;
    Ok(DatabaseSummary { bytes: std::fs::metadata(target)?.len(), ..summary })
}

fn open_read_only(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .with_context(|| format!("opening {}", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

fn vacuum_into(conn: &Connection, out: &Path) -> anyhow::Result<()> {
    let out = out.to_str().with_context(|| format!("{} is not a UTF-8 path", out.display()))?;
    conn.execute("VACUUM INTO ?1", [out])?;
    Ok(())
}

fn sync_file(path: &Path) -> anyhow::Result<()> {
    std::fs::File::open(path).and_then(|f| f.sync_all()).with_context(|| format!("syncing {}", path.display()))
}

/// A copy being written next to its destination, removed unless it is
/// persisted.
struct Partial {
    path: PathBuf,
}

impl Partial {
    /// A fresh temporary name in `dest`'s directory (same file system, so
    /// the rename is atomic).
    fn next_to(dest: &Path) -> anyhow::Result<Self> {
        let name = dest.file_name().with_context(|| format!("{} names no file", dest.display()))?;
        let dir = dest.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !dir.is_dir() {
            anyhow::bail!("no directory {} to write {} in", dir.display(), dest.display());
        }
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let mut partial = std::ffi::OsString::from(".");
        partial.push(name);
        partial.push(format!(".partial-{}-{nanos}", std::process::id()));
        Ok(Self { path: dir.join(partial) })
    }

    /// Renames the copy to `dest` and syncs the directory.
    fn persist(mut self, dest: &Path) -> anyhow::Result<()> {
        std::fs::rename(&self.path, dest).with_context(|| format!("renaming the copy to {}", dest.display()))?;
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            sync_file(dir)?;
        }
        self.path = PathBuf::new();
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
