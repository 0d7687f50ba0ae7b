//! Copying a whole database from SQLite to PostgreSQL (`yhconv migrate`).
//!
//! Nothing here names a table or a column. Both schemas are read from the
//! databases themselves (SQLite's `sqlite_schema` and `pragma_table_info`,
//! PostgreSQL's `information_schema`), after both engines have migrated
//! them to the current version, and [`plan`] matches them by name: a table
//! or column that only one side has, or a PostgreSQL column type with no
//! conversion, stops the copy before it writes anything, listing every
//! difference. So a table a later migration adds is copied with no change
//! here, or the copy fails loudly; it is never silently left behind.
//!
//! The rows stream: [`sqlite::export`](crate::store::sqlite::export) reads
//! them on a blocking thread in one read transaction (one snapshot),
//! converting each value to its PostgreSQL column's type, and hands them
//! over in batches through a bounded channel;
//! [`postgres::import`](crate::store::postgres::import) writes them with
//! binary `COPY ... FROM STDIN`, parents before children (foreign keys), in
//! one transaction that also checks the target is empty and then sets every
//! serial sequence past the copied ids. A failed copy commits nothing.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::mpsc;

use crate::store::postgres::{import, PgSettings, PostgresStore};
use crate::store::sqlite::{export, SqliteStore, SqliteSync};

/// Rows per batch handed from the SQLite reader to the PostgreSQL writer.
const BATCH_ROWS: usize = 2048;
/// Batches buffered between the reader and the writer.
const BATCHES_IN_FLIGHT: usize = 8;
/// How often progress is reported while a table is being copied.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// An SQL identifier, quoted (both engines read `"name"` as the name itself).
pub fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The PostgreSQL column types the copy converts SQLite values to; any other
/// type in the target schema stops [`plan`] (add a conversion first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// `smallint` (int2).
    SmallInt,
    /// `integer` (int4, `SERIAL`).
    Integer,
    /// `bigint` (int8, `BIGSERIAL`).
    BigInt,
    /// `boolean`, from SQLite's 0 and 1.
    Boolean,
    /// `text`.
    Text,
    /// `bytea`.
    Bytes,
}

impl ColumnType {
    /// The type `information_schema.columns.data_type` names, if the copy
    /// converts to it.
    pub fn from_information_schema(data_type: &str) -> Option<Self> {
        Some(match data_type {
            "smallint" => Self::SmallInt,
            "integer" => Self::Integer,
            "bigint" => Self::BigInt,
            "boolean" => Self::Boolean,
            "text" => Self::Text,
            "bytea" => Self::Bytes,
            _ => return None,
        })
    }
}

/// A table as SQLite has it: its name and its columns' names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceTable {
    /// The table's name.
    pub name: String,
    /// Its columns, in the order SQLite declares them.
    pub columns: Vec<String>,
}

/// A column as PostgreSQL has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetColumn {
    /// The column's name.
    pub name: String,
    /// Its `information_schema.columns.data_type`, e.g. `bigint`.
    pub data_type: String,
    /// Whether it accepts NULL.
    pub nullable: bool,
}

/// A table as PostgreSQL has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetTable {
    /// The table's name.
    pub name: String,
    /// Its columns, in the order PostgreSQL declares them.
    pub columns: Vec<TargetColumn>,
}

/// A column to copy: read from SQLite by `name`, written as `column_type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedColumn {
    /// The column's name on both sides.
    pub name: String,
    /// The PostgreSQL type each value is converted to.
    pub column_type: ColumnType,
    /// Whether PostgreSQL accepts NULL in it.
    pub nullable: bool,
}

/// A table to copy, with every one of its columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePlan {
    /// The table's name on both sides.
    pub name: String,
    /// Every column, in PostgreSQL's order.
    pub columns: Vec<PlannedColumn>,
}

/// One value on its way to PostgreSQL, already of its column's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// For a `smallint` column.
    SmallInt(i16),
    /// For an `integer` column.
    Integer(i32),
    /// For a `bigint` column.
    BigInt(i64),
    /// For a `boolean` column.
    Boolean(bool),
    /// For a `text` column.
    Text(String),
    /// For a `bytea` column.
    Bytes(Vec<u8>),
}

/// What the SQLite reader sends the PostgreSQL writer.
#[derive(Debug)]
pub enum Chunk {
    /// First: the number of rows of each planned table, in plan order, as
    /// the reader's snapshot holds them.
    Counted(Vec<u64>),
    /// Rows of the planned table `table`: its columns' values, row after row.
    Rows {
        /// The table's index in the plan.
        table: usize,
        /// `columns.len()` values per row.
        values: Vec<Value>,
    },
}

/// Where a copy stands, reported about every second while a table is being
/// copied and once when it is done.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// The table being copied.
    pub table: &'a str,
    /// Rows written so far.
    pub rows_done: u64,
    /// Rows the table has.
    pub rows_total: u64,
    /// Whether the table is finished.
    pub finished: bool,
}

/// What a finished migration copied.
#[derive(Debug, Clone)]
pub struct MigrateSummary {
    /// Each table and its row count, in copy order.
    pub tables: Vec<(String, u64)>,
    /// The schema version of both databases.
    pub schema_version: i64,
    /// How long the copy took, from opening the databases to the commit.
    pub elapsed: Duration,
}

impl MigrateSummary {
    /// Rows copied, all tables together.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, rows)| rows).sum()
    }
}

/// Matches the two schemas. Every table and every column must be on both
/// sides, and every PostgreSQL column of a type the copy converts to;
/// otherwise the error lists every difference. The plan keeps `target`'s
/// table order (the writer's, parents first) and column order.
pub fn plan(source: &[SourceTable], target: &[TargetTable]) -> anyhow::Result<Vec<TablePlan>> {
    let mut problems = Vec::new();
    let target_names: BTreeSet<&str> = target.iter().map(|t| t.name.as_str()).collect();
    for table in source.iter().filter(|t| !target_names.contains(t.name.as_str())) {
        problems.push(format!("table {} is only in SQLite", table.name));
    }
    let mut plans = Vec::new();
    for table in target {
        let Some(source_table) = source.iter().find(|s| s.name == table.name) else {
            problems.push(format!("table {} is only in PostgreSQL", table.name));
            continue;
        };
        for column in &source_table.columns {
            if !table.columns.iter().any(|c| &c.name == column) {
                problems.push(format!("column {}.{column} is only in SQLite", table.name));
            }
        }
        let mut columns = Vec::new();
        for column in &table.columns {
            if !source_table.columns.contains(&column.name) {
                problems.push(format!("column {}.{} is only in PostgreSQL", table.name, column.name));
                continue;
            }
            match ColumnType::from_information_schema(&column.data_type) {
                Some(column_type) => {
                    columns.push(PlannedColumn { name: column.name.clone(), column_type, nullable: column.nullable })
                }
                None => problems.push(format!(
                    "column {}.{} has PostgreSQL type {}, which migrate has no conversion to",
                    table.name, column.name, column.data_type
                )),
            }
        }
        plans.push(TablePlan { name: table.name.clone(), columns });
    }
    if !problems.is_empty() {
        anyhow::bail!(
            "the SQLite and PostgreSQL schemas differ, so migrate cannot copy everything:\n  {}",
            problems.join("\n  ")
        );
    }
    Ok(plans)
}

/// Copies every row of the SQLite database at `source` into the empty
/// PostgreSQL database at `target_url`, in one transaction: afterwards the
/// target holds exactly what the source held. Both databases are first
/// migrated to the current schema by their engines. Refuses a target that
/// holds any row (see [`import::check_empty`]). Calls `progress` about once
/// a second while a table is copied and once as each table ends.
///
/// The caller keeps servers off `source` (its serve lock) for the copy's
/// duration: what is written to it meanwhile would not be copied.
pub async fn sqlite_to_postgres(
    source: &Path,
    target_url: &str,
    settings: &PgSettings,
    mut progress: impl FnMut(Progress<'_>),
) -> anyhow::Result<MigrateSummary> {
    let started = Instant::now();
    if !source.is_file() {
        anyhow::bail!("no SQLite database at {}", source.display());
    }
    // Connect first, so that a wrong URL or password fails at once rather
    // than after the engine's start-up retries.
    let mut client = import::connect(target_url, settings).await?;
    drop(SqliteStore::open(source, 1, SqliteSync::Normal).with_context(|| format!("opening {}", source.display()))?);
    drop(PostgresStore::connect(target_url, settings).await?);

    let source_path = source.to_owned();
    let (source_tables, source_version) = tokio::task::spawn_blocking(move || export::schema(&source_path))
        .await
        .context("reading the SQLite schema")??;
    let tx = client.transaction().await?;
    let target_version = import::schema_version(&tx).await?;
    if source_version != target_version {
        anyhow::bail!(
            "the SQLite database is at schema version {source_version} and PostgreSQL at {target_version} \
             after migrating both: they cannot be copied one into the other"
        );
    }
    let target_tables = import::tables(&tx).await?;
    let plans = plan(&source_tables, &target_tables)?;
    import::lock_and_check_empty(&tx, &plans).await?;

    let (sender, receiver) = mpsc::channel(BATCHES_IN_FLIGHT);
    let reader = {
        let source = source.to_owned();
        let plans = plans.clone();
        tokio::task::spawn_blocking(move || export::stream(&source, &plans, BATCH_ROWS, &sender))
    };
    let copied = copy_all(&tx, &plans, receiver, &mut progress).await;
    // A reader's error explains a copy that ended early, so it comes first;
    // a reader that stopped because the writer failed returns no error.
    reader.await.context("the SQLite reader stopped")??;
    let tables = copied?;
    import::reset_sequences(&tx).await?;
    tx.commit().await.context("committing the copy")?;
    import::analyze(&client, &plans).await?;
    Ok(MigrateSummary { tables, schema_version: source_version, elapsed: started.elapsed() })
}

/// Writes the reader's rows, table after table, checking each table got
/// every row the reader counted.
async fn copy_all(
    tx: &tokio_postgres::Transaction<'_>,
    plans: &[TablePlan],
    receiver: mpsc::Receiver<Chunk>,
    progress: &mut impl FnMut(Progress<'_>),
) -> anyhow::Result<Vec<(String, u64)>> {
    let mut feed = RowFeed { receiver, pending: None };
    let totals = match feed.receiver.recv().await {
        Some(Chunk::Counted(totals)) if totals.len() == plans.len() => totals,
        _ => anyhow::bail!("the SQLite reader sent no row counts"),
    };
    let mut tables = Vec::with_capacity(plans.len());
    for (index, (table, &rows_total)) in plans.iter().zip(&totals).enumerate() {
        let mut last_report = Instant::now();
        let mut report = |rows_done: u64, finished: bool| {
            if finished || last_report.elapsed() >= PROGRESS_EVERY {
                last_report = Instant::now();
                progress(Progress { table: &table.name, rows_done, rows_total, finished });
            }
        };
        let written = import::copy_table(tx, table, index, &mut feed, &mut report).await?;
        report(written, true);
        if written != rows_total {
            anyhow::bail!("copied {written} of the {rows_total} rows of {}", table.name);
        }
        tables.push((table.name.clone(), written));
    }
    Ok(tables)
}

/// The reader's rows, handed out one table at a time.
pub struct RowFeed {
    receiver: mpsc::Receiver<Chunk>,
    /// A batch of a later table, read while looking for the end of the
    /// current one.
    pending: Option<Chunk>,
}

impl RowFeed {
    /// The next batch of values of table `table`, or `None` once the reader
    /// moved past it (or stopped).
    pub async fn next_batch(&mut self, table: usize) -> Option<Vec<Value>> {
        let chunk = match self.pending.take() {
            Some(chunk) => chunk,
            None => self.receiver.recv().await?,
        };
        match chunk {
            Chunk::Rows { table: of, values } if of == table => Some(values),
            later => {
                self.pending = Some(later);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(name: &str, columns: &[&str]) -> SourceTable {
        SourceTable { name: name.into(), columns: columns.iter().map(|c| c.to_string()).collect() }
    }

    fn target(name: &str, columns: &[(&str, &str)]) -> TargetTable {
        TargetTable {
            name: name.into(),
            columns: columns
                .iter()
                .map(|(c, t)| TargetColumn { name: c.to_string(), data_type: t.to_string(), nullable: false })
                .collect(),
        }
    }

    #[test]
    fn matching_schemas_plan_every_column_in_the_targets_order() {
        let plans = plan(
            &[source("message", &["seq", "content", "chat_id"]), source("chat", &["id", "dnd"])],
            &[
                target("chat", &[("id", "bigint"), ("dnd", "boolean")]),
                target("message", &[("chat_id", "bigint"), ("seq", "integer"), ("content", "bytea")]),
            ],
        )
        .unwrap();
        assert_eq!(plans.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["chat", "message"]);
        let message: Vec<_> = plans[1].columns.iter().map(|c| (c.name.as_str(), c.column_type)).collect();
        assert_eq!(
            message,
            [("chat_id", ColumnType::BigInt), ("seq", ColumnType::Integer), ("content", ColumnType::Bytes)]
        );
    }

    #[test]
    fn every_difference_is_named() {
        let err = plan(
            &[source("chat", &["id", "old"]), source("draft", &["user_id"])],
            &[
                target("chat", &[("id", "bigint"), ("new", "text"), ("at", "timestamptz")]),
                target("pin", &[("id", "integer")]),
            ],
        )
        .unwrap_err()
        .to_string();
        for want in [
            "table draft is only in SQLite",
            "table pin is only in PostgreSQL",
            "column chat.old is only in SQLite",
            "column chat.new is only in PostgreSQL",
            "column chat.at is only in PostgreSQL",
        ] {
            assert!(err.contains(want), "{want:?} missing from:\n{err}");
        }
    }

    #[test]
    fn a_type_without_conversion_is_refused() {
        let err = plan(&[source("t", &["x"])], &[target("t", &[("x", "numeric")])]).unwrap_err().to_string();
        assert!(err.contains("column t.x has PostgreSQL type numeric, which migrate has no conversion to"), "{err}");
    }
}
