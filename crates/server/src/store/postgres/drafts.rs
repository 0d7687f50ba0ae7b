//! Drafts (`inputInfo` / `draft_input`) in PostgreSQL.

use deadpool_postgres::GenericClient;

use super::pipelined::Tx;

use crate::domain::error::Result;
use crate::domain::event::{Event, SocketOrigin};
use crate::domain::ids::Id;

/// Replaces the draft (an empty one deletes it) and announces it.
pub(super) async fn set_draft(
    tx: &Tx,
    user: Id,
    peer: Id,
    input: &str,
    now_ms: i64,
    origin: SocketOrigin,
) -> Result<()> {
    if input.is_empty() {
        let stmt = tx.prepare_cached("DELETE FROM draft WHERE user_id = $1 AND peer_id = $2").await?;
        tx.execute(&stmt, &[&user.get(), &peer.get()]).await?;
    } else {
        let stmt = tx
            .prepare_cached(
                "INSERT INTO draft (user_id, peer_id, input, updated_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (user_id, peer_id) DO UPDATE SET input = EXCLUDED.input, updated_ms = EXCLUDED.updated_ms",
            )
            .await?;
        tx.execute(&stmt, &[&user.get(), &peer.get(), &input, &now_ms]).await?;
    }
    tx.notify(&Event::Draft { user, peer, origin });
    Ok(())
}

/// Every draft of `user`.
pub(super) async fn drafts<C: GenericClient>(client: &C, user: Id) -> Result<Vec<(Id, String)>> {
    let stmt = client.prepare_cached("SELECT peer_id, input FROM draft WHERE user_id = $1").await?;
    let rows = client.query(&stmt, &[&user.get()]).await?;
    rows.iter().map(|r| Ok((Id::from_raw(r.try_get("peer_id")?), r.try_get("input")?))).collect()
}

/// One draft.
pub(super) async fn draft<C: GenericClient>(client: &C, user: Id, peer: Id) -> Result<Option<String>> {
    let stmt = client.prepare_cached("SELECT input FROM draft WHERE user_id = $1 AND peer_id = $2").await?;
    Ok(match client.query_opt(&stmt, &[&user.get(), &peer.get()]).await? {
        Some(r) => Some(r.try_get("input")?),
        None => None,
    })
}
