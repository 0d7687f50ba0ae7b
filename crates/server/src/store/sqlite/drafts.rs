//! Drafts (`inputInfo` / `draft_input`) in SQLite.

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::Outbox;
use crate::domain::error::Result;
use crate::domain::event::{Event, SocketOrigin};
use crate::domain::ids::Id;

/// Replaces the draft (an empty one deletes it) and announces it.
pub(super) fn set_draft(
    tx: &Transaction<'_>,
    outbox: &mut Outbox,
    user: Id,
    peer: Id,
    input: &str,
    now_ms: i64,
    origin: SocketOrigin,
) -> Result<()> {
    if input.is_empty() {
        tx.prepare_cached("DELETE FROM draft WHERE user_id = ?1 AND peer_id = ?2")?
            .execute([user.get(), peer.get()])?;
    } else {
        tx.prepare_cached(
            "INSERT INTO draft (user_id, peer_id, input, updated_ms) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (user_id, peer_id) DO UPDATE SET input = excluded.input, updated_ms = excluded.updated_ms",
        )?
        .execute(params![user.get(), peer.get(), input, now_ms])?;
    }
    outbox.push(Event::Draft { user, peer, origin });
    Ok(())
}

/// Deletes the draft; true (and announced) when there was one.
pub(super) fn clear_draft(tx: &Transaction<'_>, outbox: &mut Outbox, user: Id, peer: Id) -> Result<bool> {
    let deleted = tx
        .prepare_cached("DELETE FROM draft WHERE user_id = ?1 AND peer_id = ?2")?
        .execute([user.get(), peer.get()])?
        > 0;
    if deleted {
        outbox.push(Event::Draft { user, peer, origin: SocketOrigin::NONE });
    }
    Ok(deleted)
}

/// Every draft of `user`.
pub(super) fn drafts(conn: &Connection, user: Id) -> Result<Vec<(Id, String)>> {
    let mut stmt = conn.prepare_cached("SELECT peer_id, input FROM draft WHERE user_id = ?1")?;
    let rows = stmt.query_map([user.get()], |r| Ok((Id::from_raw(r.get("peer_id")?), r.get("input")?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One draft.
pub(super) fn draft(conn: &Connection, user: Id, peer: Id) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT input FROM draft WHERE user_id = ?1 AND peer_id = ?2")?
        .query_row([user.get(), peer.get()], |r| r.get("input"))
        .optional()?)
}
