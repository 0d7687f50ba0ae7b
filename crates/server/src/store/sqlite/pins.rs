//! Pins (`/v1/sticky/*`) in SQLite.

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::{entity_from, entity_select, ENTITY};
use crate::domain::error::Result;
use crate::domain::ids::Id;
use crate::domain::model::PinRow;

/// Every pin of `user`, with the pinned chat and the user's remark for it.
pub(super) fn pins(conn: &Connection, user: Id) -> Result<Vec<PinRow>> {
    let sql = format!(
        "SELECT p.id AS pin_id, p.sort_ms AS sort_ms, p.created_ms AS created_ms, NULLIF(r.remark, '') AS remark, {} \
         FROM pin p JOIN entity e ON e.id = p.peer_id \
         LEFT JOIN remark r ON r.user_id = p.user_id AND r.target_id = p.peer_id \
         WHERE p.user_id = ?1 AND e.dismissed_ms = 0",
        entity_select("e", &ENTITY)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([user.get()], |r| {
        Ok(PinRow {
            id: r.get("pin_id")?,
            peer: entity_from(r, &ENTITY)?,
            remark: r.get("remark")?,
            sort_ms: r.get("sort_ms")?,
            created_ms: r.get("created_ms")?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Pins `peer` unless it is pinned; the pin's id either way.
pub(super) fn add_pin(tx: &Transaction<'_>, user: Id, peer: Id, now_ms: i64) -> Result<i64> {
    tx.prepare_cached(
        "INSERT INTO pin (user_id, peer_id, sort_ms, created_ms) VALUES (?1, ?2, ?3, ?3) \
         ON CONFLICT (user_id, peer_id) DO NOTHING",
    )?
    .execute(params![user.get(), peer.get(), now_ms])?;
    Ok(tx
        .prepare_cached("SELECT id FROM pin WHERE user_id = ?1 AND peer_id = ?2")?
        .query_row([user.get(), peer.get()], |r| r.get("id"))?)
}

/// Unpins `peer`; true when it was pinned.
pub(super) fn delete_pin(tx: &Transaction<'_>, user: Id, peer: Id) -> Result<bool> {
    Ok(tx.prepare_cached("DELETE FROM pin WHERE user_id = ?1 AND peer_id = ?2")?.execute([user.get(), peer.get()])? > 0)
}

/// Sets a pin's sort time; false when `user` has no pin `pin_id`.
pub(super) fn move_pin(tx: &Transaction<'_>, user: Id, pin_id: i64, now_ms: i64) -> Result<bool> {
    let moved = tx
        .prepare_cached("UPDATE pin SET sort_ms = ?3 WHERE id = ?2 AND user_id = ?1 RETURNING id")?
        .query_row(params![user.get(), pin_id, now_ms], |r| r.get::<_, i64>("id"))
        .optional()?;
    Ok(moved.is_some())
}
