//! `yhconv backup`, `yhconv restore` and `yhconv migrate`: copies of a
//! database for a self-hoster. The copying is the storage engines' (see
//! `yhconv_server::store::sqlite::backup` and
//! `yhconv_server::store::transfer`); this module checks what the user
//! asked for, holds the serve lock where a running server must be kept
//! away, and reports.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use yhconv_server::app::lock_sqlite;
use yhconv_server::store::postgres::PgSettings;
use yhconv_server::store::sqlite::backup::{self, DatabaseSummary};
use yhconv_server::store::transfer::{self, Progress};
use yhconv_server::DbUrl;

/// Tables with fewer rows than this are copied without progress lines (the
/// summary counts them).
const LARGE_TABLE_ROWS: u64 = 10_000;

/// Flags of `yhconv backup`.
#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Database to back up: sqlite://FILE. A server may be serving it; the
    /// copy is the database as of one commit.
    #[arg(long, env = "YHCONV_DB", default_value = "sqlite://yhconv.db", hide_env_values = true)]
    db: DbUrl,
    /// The file to write the copy to.
    out: PathBuf,
    /// Replace OUT if it exists.
    #[arg(long)]
    force: bool,
}

/// Flags of `yhconv restore`.
#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The backup to restore (a file `yhconv backup` wrote).
    backup: PathBuf,
    /// Database to create or replace: sqlite://FILE. No server may be
    /// serving it. Required (no default, no environment variable): a
    /// restore replaces what is there.
    #[arg(long)]
    db: DbUrl,
    /// Replace the database if it exists.
    #[arg(long)]
    force: bool,
}

/// Flags of `yhconv migrate`.
#[derive(Args, Debug)]
pub struct MigrateArgs {
    /// The SQLite database to copy: sqlite://FILE. No server may be serving
    /// it while it is copied.
    #[arg(long)]
    from: DbUrl,
    /// The empty PostgreSQL database to copy into: postgres://USER:PASSWORD@HOST:PORT/DB.
    #[arg(long)]
    to: DbUrl,
}

/// Runs `yhconv backup`.
pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let source = match &args.db {
        DbUrl::Sqlite(path) => path.clone(),
        DbUrl::Postgres(_) => anyhow::bail!(
            "yhconv backup copies SQLite databases; back up PostgreSQL ({}) with pg_dump -Fc \
             (see the README, Operations: Backups)",
            args.db
        ),
    };
    refuse_existing(&args.out, args.force)?;
    let started = Instant::now();
    let out = args.out.clone();
    let summary = tokio::task::spawn_blocking(move || backup::backup(&source, &out)).await??;
    println!(
        "backed up {} to {}: {} in {:.1} s",
        args.db,
        args.out.display(),
        describe(&summary),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs `yhconv restore`.
pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let target = match &args.db {
        DbUrl::Sqlite(path) => path.clone(),
        DbUrl::Postgres(_) => anyhow::bail!(
            "yhconv restore writes SQLite databases; restore PostgreSQL ({}) with pg_restore \
             (see the README, Operations: Backups)",
            args.db
        ),
    };
    // Held until the restore is done, so no server starts on the file meanwhile.
    let _serve_lock =
        lock_sqlite(&target).with_context(|| format!("restoring into {} needs its server stopped", args.db))?;
    refuse_existing(&target, args.force)?;
    let backup_path = args.backup.clone();
    let summary = tokio::task::spawn_blocking(move || backup::restore(&backup_path, &target)).await??;
    println!(
        "restored {} to {}: {}; a server started on it migrates an older schema",
        args.backup.display(),
        args.db,
        describe(&summary)
    );
    Ok(())
}

/// Runs `yhconv migrate`.
pub async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let DbUrl::Sqlite(source) = &args.from else {
        anyhow::bail!("--from must be an sqlite:// database (migrate copies SQLite into PostgreSQL), not {}", args.from)
    };
    let DbUrl::Postgres(target_url) = &args.to else {
        anyhow::bail!("--to must be a postgres:// database (migrate copies SQLite into PostgreSQL), not {}", args.to)
    };
    let _serve_lock =
        lock_sqlite(source).with_context(|| format!("migrating {} needs its server stopped", args.from))?;
    let settings =
        PgSettings { pool_size: 2, connect_timeout: Duration::from_secs(5), startup_wait: Duration::from_secs(10) };
    let summary = transfer::sqlite_to_postgres(source, target_url, &settings, print_progress)
        .await
        .with_context(|| format!("migrating {} to {}", args.from, args.to))?;
    let tables: Vec<String> = summary.tables.iter().map(|(name, rows)| format!("{name} {rows}")).collect();
    println!(
        "migrated {} to {}: {} rows in {:.1} s (schema version {}; {})",
        args.from,
        args.to,
        summary.rows(),
        summary.elapsed.as_secs_f64(),
        summary.schema_version,
        tables.join(", ")
    );
    Ok(())
}

/// Progress on stderr for a large table: a line per second, and one as it
/// ends.
fn print_progress(p: Progress<'_>) {
    if p.rows_total < LARGE_TABLE_ROWS {
        return;
    }
    let percent = (p.rows_done * 100).checked_div(p.rows_total).unwrap_or(100);
    let state = if p.finished { "done" } else { "copying" };
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "migrate: {:<12} {}/{} rows ({percent}%) {state}", p.table, p.rows_done, p.rows_total);
}

fn refuse_existing(path: &Path, force: bool) -> anyhow::Result<()> {
    if path.exists() && !force {
        anyhow::bail!("{} exists: pass --force to replace it", path.display());
    }
    Ok(())
}

fn describe(summary: &DatabaseSummary) -> String {
    format!(
        "schema version {}, {} users/groups/bots, {} messages, {:.1} MiB",
        summary.schema_version,
        summary.entities,
        summary.messages,
        summary.bytes as f64 / (1024.0 * 1024.0)
    )
}
