//! Pins (`/v1/sticky/*`) in PostgreSQL.

use deadpool_postgres::GenericClient;

use super::{entity_from, entity_select, ENTITY};
use crate::domain::error::Result;
use crate::domain::ids::Id;
use crate::domain::model::PinRow;

/// Every pin of `user`, with the pinned chat and the user's remark for it.
pub(super) async fn pins<C: GenericClient>(client: &C, user: Id) -> Result<Vec<PinRow>> {
    let sql = format!(
        "SELECT p.id AS pin_id, p.sort_ms AS sort_ms, p.created_ms AS created_ms, NULLIF(r.remark, '') AS remark, {} \
         FROM pin p JOIN entity e ON e.id = p.peer_id \
         LEFT JOIN remark r ON r.user_id = p.user_id AND r.target_id = p.peer_id \
         WHERE p.user_id = $1 AND e.dismissed_ms = 0",
        entity_select("e", &ENTITY)
    );
    let stmt = client.prepare_cached(&sql).await?;
    let rows = client.query(&stmt, &[&user.get()]).await?;
    rows.iter()
        .map(|r| {
            Ok(PinRow {
                id: i64::from(r.try_get::<_, i32>("pin_id")?),
                peer: entity_from(r, &ENTITY)?,
                remark: r.try_get("remark")?,
                sort_ms: r.try_get("sort_ms")?,
                created_ms: r.try_get("created_ms")?,
            })
        })
        .collect()
}

/// Pins `peer` unless it is pinned; the pin's id either way.
pub(super) async fn add_pin<C: GenericClient>(client: &C, user: Id, peer: Id, now_ms: i64) -> Result<i64> {
    let insert = client
        .prepare_cached(
            "INSERT INTO pin (user_id, peer_id, sort_ms, created_ms) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (user_id, peer_id) DO NOTHING RETURNING id",
        )
        .await?;
    if let Some(row) = client.query_opt(&insert, &[&user.get(), &peer.get(), &now_ms]).await? {
        return Ok(i64::from(row.try_get::<_, i32>("id")?));
    }
    let select = client.prepare_cached("SELECT id FROM pin WHERE user_id = $1 AND peer_id = $2").await?;
    Ok(i64::from(client.query_one(&select, &[&user.get(), &peer.get()]).await?.try_get::<_, i32>("id")?))
}

/// Unpins `peer`; true when it was pinned.
pub(super) async fn delete_pin<C: GenericClient>(client: &C, user: Id, peer: Id) -> Result<bool> {
    let stmt = client.prepare_cached("DELETE FROM pin WHERE user_id = $1 AND peer_id = $2").await?;
    Ok(client.execute(&stmt, &[&user.get(), &peer.get()]).await? > 0)
}

/// Sets a pin's sort time; false when `user` has no pin `pin_id`.
pub(super) async fn move_pin<C: GenericClient>(client: &C, user: Id, pin_id: i64, now_ms: i64) -> Result<bool> {
    let Ok(pin_id) = i32::try_from(pin_id) else {
        return Ok(false);
    };
    let stmt = client.prepare_cached("UPDATE pin SET sort_ms = $3 WHERE id = $2 AND user_id = $1").await?;
    Ok(client.execute(&stmt, &[&user.get(), &pin_id, &now_ms]).await? > 0)
}
