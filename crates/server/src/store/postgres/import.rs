//! Writing a whole database into PostgreSQL for `yhconv migrate` (see
//! [`crate::store::transfer`]): the target's schema as `information_schema`
//! describes it, the emptiness check, binary `COPY` of each table, and the
//! serial sequences set past the copied ids.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;
use bytes::BytesMut;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::{Client, NoTls, Transaction};

use crate::store::postgres::PgSettings;
use crate::store::transfer::{quoted, ColumnType, RowFeed, TablePlan, TargetColumn, TargetTable, Value};

/// The engine's own bookkeeping, which migrate neither compares nor copies:
/// each database keeps its own record of the migrations applied to it, and
/// `list_clock` only orders this database's list changes among its
/// instances and `list_lease` names the instances answering lists from
/// memory (they hold no user data; SQLite has no twins: one process
/// writes).
const BOOKKEEPING: &[&str] = &["schema_migrations", "list_clock", "list_lease"];

/// Tables the migrations fill with starting values, and the condition a
/// row the migrations did not write meets. Such a table counts as empty
/// while it holds only starting values, and the source's rows replace them.
const SEEDED: &[(&str, &str)] = &[("meta", "value <> 0")];

/// Connects one plain client (no pool) to `url`.
pub async fn connect(url: &str, settings: &PgSettings) -> anyhow::Result<Client> {
    let mut config: tokio_postgres::Config = url.parse().context("bad PostgreSQL URL")?;
    config.connect_timeout(settings.connect_timeout);
    if config.get_application_name().is_none() {
        config.application_name("yhconv migrate");
    }
    let (client, connection) = config.connect(NoTls).await.context("connecting to PostgreSQL")?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "the migrate connection to PostgreSQL ended");
        }
    });
    Ok(client)
}

/// The schema version the PostgreSQL engine recorded.
pub async fn schema_version(tx: &Transaction<'_>) -> anyhow::Result<i64> {
    let row = tx.query_one("SELECT coalesce(max(version), 0)::bigint AS version FROM schema_migrations", &[]).await?;
    Ok(row.try_get("version")?)
}

/// The tables of the current schema (bookkeeping left out) with their
/// columns, ordered so that every table comes after the tables its foreign
/// keys point at (by name otherwise).
pub async fn tables(tx: &Transaction<'_>) -> anyhow::Result<Vec<TargetTable>> {
    let rows = tx
        .query(
            "SELECT c.table_name::text AS table_name, c.column_name::text AS column_name, \
                    c.data_type::text AS data_type, c.is_nullable::text = 'YES' AS nullable \
             FROM information_schema.columns c \
             JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
             WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
             ORDER BY c.table_name, c.ordinal_position",
            &[],
        )
        .await?;
    let mut by_name: BTreeMap<String, Vec<TargetColumn>> = BTreeMap::new();
    for row in rows {
        let table: String = row.try_get("table_name")?;
        if BOOKKEEPING.contains(&table.as_str()) {
            continue;
        }
        by_name.entry(table).or_default().push(TargetColumn {
            name: row.try_get("column_name")?,
            data_type: row.try_get("data_type")?,
            nullable: row.try_get("nullable")?,
        });
    }
    let edges = tx
        .query(
            "SELECT child.relname::text AS child, parent.relname::text AS parent \
             FROM pg_constraint c \
             JOIN pg_class child ON child.oid = c.conrelid \
             JOIN pg_class parent ON parent.oid = c.confrelid \
             WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace",
            &[],
        )
        .await?;
    let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for edge in edges {
        let (child, parent): (String, String) = (edge.try_get("child")?, edge.try_get("parent")?);
        if child != parent {
            parents.entry(child).or_default().insert(parent);
        }
    }
    let mut ordered = Vec::with_capacity(by_name.len());
    while !by_name.is_empty() {
        let placed: BTreeSet<&str> = ordered.iter().map(|t: &TargetTable| t.name.as_str()).collect();
        let ready = by_name
            .keys()
            .find(|name| parents.get(*name).is_none_or(|ps| ps.iter().all(|p| placed.contains(p.as_str()))))
            .cloned();
        let Some(name) = ready else {
            let left: Vec<&str> = by_name.keys().map(String::as_str).collect();
            anyhow::bail!("the foreign keys between {} form a cycle: no order to copy them in", left.join(", "));
        };
        let columns = by_name.remove(&name).unwrap_or_default();
        ordered.push(TargetTable { name, columns });
    }
    Ok(ordered)
}

/// Locks the planned tables against writes for the rest of `tx` (waiting
/// at most 10 s for a server that is using them), checks they hold no row
/// but the migrations' starting values, and deletes those.
pub async fn lock_and_check_empty(tx: &Transaction<'_>, plans: &[TablePlan]) -> anyhow::Result<()> {
    let names: Vec<String> = plans.iter().map(|p| quoted(&p.name)).collect();
    tx.batch_execute("SET LOCAL lock_timeout = '10s'").await?;
    tx.batch_execute(&format!("LOCK TABLE {} IN EXCLUSIVE MODE", names.join(", ")))
        .await
        .context("locking the target's tables (is a server using the database?)")?;
    let mut holding = Vec::new();
    for plan in plans {
        let not_seeded = SEEDED.iter().find(|(table, _)| *table == plan.name).map(|(_, condition)| *condition);
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM {} WHERE {}) AS any",
            quoted(&plan.name),
            not_seeded.unwrap_or("true")
        );
        if tx.query_one(&sql, &[]).await?.try_get::<_, bool>("any")? {
            holding.push(plan.name.as_str());
        }
    }
    if !holding.is_empty() {
        anyhow::bail!(
            "the PostgreSQL database is not empty ({} hold rows): migrate copies into an empty database only \
             (create one with `createdb`)",
            holding.join(", ")
        );
    }
    for (table, _) in SEEDED.iter().filter(|(table, _)| plans.iter().any(|p| p.name == *table)) {
        tx.batch_execute(&format!("DELETE FROM {}", quoted(table))).await?;
    }
    Ok(())
}

/// Copies the rows `feed` has for table number `index` of the plan into
/// it with binary `COPY`; calls `report` with the rows written after each
/// batch. Returns the rows written.
pub async fn copy_table(
    tx: &Transaction<'_>,
    table: &TablePlan,
    index: usize,
    feed: &mut RowFeed,
    report: &mut impl FnMut(u64, bool),
) -> anyhow::Result<u64> {
    let columns: Vec<String> = table.columns.iter().map(|c| quoted(&c.name)).collect();
    let types: Vec<Type> = table.columns.iter().map(|c| wire_type(c.column_type)).collect();
    let copying = || format!("copying {}", table.name);
    let sql = format!("COPY {} ({}) FROM STDIN (FORMAT binary)", quoted(&table.name), columns.join(", "));
    let sink = tx.copy_in(&sql).await.with_context(copying)?;
    let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, &types));
    let width = table.columns.len();
    let mut written = 0u64;
    while let Some(values) = feed.next_batch(index).await {
        for row in values.chunks(width) {
            writer.as_mut().write_raw(row.iter()).await.with_context(copying)?;
            written += 1;
        }
        report(written, false);
    }
    let copied = writer.as_mut().finish().await.with_context(copying)?;
    if copied != written {
        anyhow::bail!("PostgreSQL took {copied} of the {written} rows of {}", table.name);
    }
    Ok(copied)
}

/// Sets every serial or identity sequence of the schema so that the next
/// id it gives is one past the largest id its column holds.
pub async fn reset_sequences(tx: &Transaction<'_>) -> anyhow::Result<()> {
    let rows = tx
        .query(
            "SELECT table_name, column_name, sequence FROM ( \
                 SELECT c.table_name::text AS table_name, c.column_name::text AS column_name, \
                        pg_get_serial_sequence(quote_ident(c.table_name), c.column_name) AS sequence \
                 FROM information_schema.columns c WHERE c.table_schema = current_schema()) s \
             WHERE sequence IS NOT NULL",
            &[],
        )
        .await?;
    for row in rows {
        let (table, column, sequence): (String, String, String) =
            (row.try_get("table_name")?, row.try_get("column_name")?, row.try_get("sequence")?);
        let sql = format!(
            "SELECT setval($1::text::regclass, coalesce(max({})::bigint, 0) + 1, false) FROM {}",
            quoted(&column),
            quoted(&table)
        );
        tx.execute(&sql, &[&sequence]).await.with_context(|| format!("setting {sequence}"))?;
    }
    Ok(())
}

/// Refreshes the planner's statistics of the copied tables, which would
/// otherwise take the tables for empty until autovacuum gets to them.
pub async fn analyze(client: &Client, plans: &[TablePlan]) -> anyhow::Result<()> {
    let names: Vec<String> = plans.iter().map(|p| quoted(&p.name)).collect();
    client.batch_execute(&format!("ANALYZE {}", names.join(", "))).await.context("analyzing the copied tables")?;
    Ok(())
}

/// The binary wire type of a column type.
fn wire_type(column_type: ColumnType) -> Type {
    match column_type {
        ColumnType::SmallInt => Type::INT2,
        ColumnType::Integer => Type::INT4,
        ColumnType::BigInt => Type::INT8,
        ColumnType::Boolean => Type::BOOL,
        ColumnType::Text => Type::TEXT,
        ColumnType::Bytes => Type::BYTEA,
    }
}

/// Each value is written by its own Rust type's encoding, which checks the
/// column's type (a mismatch is an error, not a wrong value).
impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::SmallInt(v) => v.to_sql(ty, out),
            Value::Integer(v) => v.to_sql(ty, out),
            Value::BigInt(v) => v.to_sql(ty, out),
            Value::Boolean(v) => v.to_sql(ty, out),
            Value::Text(v) => v.to_sql(ty, out),
            Value::Bytes(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn to_sql_checked(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::SmallInt(v) => v.to_sql_checked(ty, out),
            Value::Integer(v) => v.to_sql_checked(ty, out),
            Value::BigInt(v) => v.to_sql_checked(ty, out),
            Value::Boolean(v) => v.to_sql_checked(ty, out),
            Value::Text(v) => v.to_sql_checked(ty, out),
            Value::Bytes(v) => v.to_sql_checked(ty, out),
        }
    }
}
