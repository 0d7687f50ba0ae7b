//! Reading a whole SQLite database for `yhconv migrate` (see
//! [`crate::store::transfer`]): its schema, and every row of every table in
//! one snapshot, each value converted to its PostgreSQL column's type.

use std::path::Path;

use anyhow::Context as _;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::mpsc;

use crate::store::transfer::{quoted, Chunk, ColumnType, PlannedColumn, SourceTable, TablePlan, Value};

/// Opens `path` read-only (it must exist).
fn open_read_only(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .with_context(|| format!("opening {}", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

/// The tables of the database at `path` (SQLite's own `sqlite_*` tables
/// left out) with their columns, and its schema version.
pub fn schema(path: &Path) -> anyhow::Result<(Vec<SourceTable>, i64)> {
    let conn = open_read_only(path)?;
    Ok((tables(&conn)?, conn.pragma_query_value(None, "user_version", |r| r.get(0))?))
}

/// The tables of `conn`'s main database and their columns, by name.
pub(crate) fn tables(conn: &Connection) -> anyhow::Result<Vec<SourceTable>> {
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")?
        .query_map([], |r| r.get("name"))?
        .collect::<rusqlite::Result<_>>()?;
    let mut columns = conn.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")?;
    names
        .into_iter()
        .map(|name| {
            let cols = columns.query_map([&name], |r| r.get("name"))?.collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(SourceTable { name, columns: cols })
        })
        .collect()
}

/// Reads every row of the planned tables from the database at `path`, in
/// one read transaction: first [`Chunk::Counted`], then each table's rows
/// in batches of `batch_rows`, in plan order. Stops with an error naming
/// the table, row and column of a value that does not fit its PostgreSQL
/// column. Stops without an error when the receiver went away: the writer
/// stopped, and its error is the one to report.
pub fn stream(path: &Path, plans: &[TablePlan], batch_rows: usize, out: &mpsc::Sender<Chunk>) -> anyhow::Result<()> {
    let mut conn = open_read_only(path)?;
    // Deferred: the snapshot is taken by the first read, and every read
    // after it sees the same one.
    let tx = conn.transaction()?;
    let mut counts = Vec::with_capacity(plans.len());
    for table in plans {
        let count: i64 = tx.query_row(&format!("SELECT count(*) FROM {}", quoted(&table.name)), [], |r| r.get(0))?;
        counts.push(count as u64);
    }
    if !send(out, Chunk::Counted(counts)) {
        return Ok(());
    }
    for (index, table) in plans.iter().enumerate() {
        let columns: Vec<String> = table.columns.iter().map(|c| quoted(&c.name)).collect();
        let sql = format!("SELECT {} FROM {}", columns.join(", "), quoted(&table.name));
        let mut stmt = tx.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        let width = table.columns.len();
        let mut values = Vec::with_capacity(batch_rows * width);
        let mut row_number = 0u64;
        while let Some(row) = rows.next()? {
            row_number += 1;
            for (at, column) in table.columns.iter().enumerate() {
                let value = convert(row.get_ref(at)?, column)
                    .map_err(|why| anyhow::anyhow!("{}.{}, row {row_number}: {why}", table.name, column.name))?;
                values.push(value);
            }
            if values.len() >= batch_rows * width {
                let full = std::mem::replace(&mut values, Vec::with_capacity(batch_rows * width));
                if !send(out, Chunk::Rows { table: index, values: full }) {
                    return Ok(());
                }
            }
        }
        if !values.is_empty() && !send(out, Chunk::Rows { table: index, values }) {
            return Ok(());
        }
    }
    Ok(())
}

/// Hands `chunk` to the writer; false when the writer is gone.
fn send(out: &mpsc::Sender<Chunk>, chunk: Chunk) -> bool {
    out.blocking_send(chunk).is_ok()
}

/// `value` as a value of `column`'s PostgreSQL type, or why it cannot be.
/// Integers must fit, booleans are 0 or 1, text is UTF-8; nothing else is
/// converted (a float, or text in an integer column, is refused rather than
/// guessed at).
pub(crate) fn convert(value: ValueRef<'_>, column: &PlannedColumn) -> Result<Value, String> {
    let integer = |wanted: &str| match value {
        ValueRef::Integer(i) => Ok(i),
        other => Err(format!("{} where {wanted} is wanted", describe(other))),
    };
    Ok(match (column.column_type, value) {
        (_, ValueRef::Null) if column.nullable => Value::Null,
        (_, ValueRef::Null) => return Err("NULL, and the PostgreSQL column is NOT NULL".to_owned()),
        (ColumnType::SmallInt, _) => {
            let i = integer("a smallint")?;
            Value::SmallInt(i16::try_from(i).map_err(|_| format!("{i} does not fit a smallint"))?)
        }
        (ColumnType::Integer, _) => {
            let i = integer("an integer")?;
            Value::Integer(i32::try_from(i).map_err(|_| format!("{i} does not fit an integer"))?)
        }
        (ColumnType::BigInt, _) => Value::BigInt(integer("a bigint")?),
        (ColumnType::Boolean, _) => match integer("a boolean (0 or 1)")? {
            0 => Value::Boolean(false),
            1 => Value::Boolean(true),
            i => return Err(format!("{i} where a boolean (0 or 1) is wanted")),
        },
        (ColumnType::Text, ValueRef::Text(bytes)) if bytes.contains(&0) => {
            return Err("text with a NUL character, which PostgreSQL text cannot hold".to_owned())
        }
        (ColumnType::Text, ValueRef::Text(bytes)) => {
            Value::Text(String::from_utf8(bytes.to_vec()).map_err(|_| "text that is not UTF-8".to_owned())?)
        }
        (ColumnType::Text, other) => return Err(format!("{} where text is wanted", describe(other))),
        (ColumnType::Bytes, ValueRef::Blob(bytes) | ValueRef::Text(bytes)) => Value::Bytes(bytes.to_vec()),
        (ColumnType::Bytes, other) => return Err(format!("{} where bytes are wanted", describe(other))),
    })
}

/// What an SQLite value is, for an error.
fn describe(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => "NULL".to_owned(),
        ValueRef::Integer(i) => format!("the integer {i}"),
        ValueRef::Real(f) => format!("the real number {f}"),
        ValueRef::Text(_) => "text".to_owned(),
        ValueRef::Blob(b) => format!("a blob of {} bytes", b.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(column_type: ColumnType, nullable: bool) -> PlannedColumn {
        PlannedColumn { name: "c".into(), column_type, nullable }
    }

    #[test]
    fn values_convert_to_their_columns_types() {
        let cases = [
            (ValueRef::Integer(7), ColumnType::SmallInt, Value::SmallInt(7)),
            (ValueRef::Integer(1 << 30), ColumnType::Integer, Value::Integer(1 << 30)),
            (ValueRef::Integer(i64::MIN), ColumnType::BigInt, Value::BigInt(i64::MIN)),
            (ValueRef::Integer(1), ColumnType::Boolean, Value::Boolean(true)),
            (ValueRef::Integer(0), ColumnType::Boolean, Value::Boolean(false)),
            (ValueRef::Text("小明".as_bytes()), ColumnType::Text, Value::Text("小明".into())),
            (ValueRef::Blob(&[0, 255]), ColumnType::Bytes, Value::Bytes(vec![0, 255])),
            (ValueRef::Text(b"ab"), ColumnType::Bytes, Value::Bytes(b"ab".to_vec())),
            (ValueRef::Null, ColumnType::BigInt, Value::Null),
        ];
        for (value, column_type, want) in cases {
            assert_eq!(convert(value, &column(column_type, true)), Ok(want), "{value:?} as {column_type:?}");
        }
    }

    #[test]
    fn values_that_do_not_fit_are_refused_with_the_reason() {
        let cases = [
            (ValueRef::Integer(40_000), ColumnType::SmallInt, "40000 does not fit a smallint"),
            (ValueRef::Integer(1 << 31), ColumnType::Integer, "2147483648 does not fit an integer"),
            (ValueRef::Integer(2), ColumnType::Boolean, "2 where a boolean (0 or 1) is wanted"),
            (ValueRef::Real(1.5), ColumnType::BigInt, "the real number 1.5 where a bigint is wanted"),
            (ValueRef::Text(b"12"), ColumnType::BigInt, "text where a bigint is wanted"),
            (ValueRef::Blob(&[1]), ColumnType::Text, "a blob of 1 bytes where text is wanted"),
            (ValueRef::Text(&[0xff]), ColumnType::Text, "text that is not UTF-8"),
            (ValueRef::Text(b"a\0b"), ColumnType::Text, "text with a NUL character, which PostgreSQL text cannot hold"),
            (ValueRef::Null, ColumnType::Text, "NULL, and the PostgreSQL column is NOT NULL"),
        ];
        for (value, column_type, want) in cases {
            assert_eq!(convert(value, &column(column_type, false)), Err(want.to_owned()), "{value:?}");
        }
    }
}
