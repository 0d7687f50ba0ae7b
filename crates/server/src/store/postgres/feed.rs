//! The push feed: one dedicated connection LISTENs for new messages stored
//! by any instance, and hands each one (loaded in full) to the local hub,
//! in commit order; and for logouts, whose sockets the hub closes. It reconnects with backoff when the connection drops;
//! pushes announced while it is down are not replayed (clients resync with
//! the list, as after any disconnect).

use std::time::Duration;

use deadpool_postgres::Pool;
use futures_util::StreamExt;
use prost::Message as _;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};
use yhconv_proto::pb::MsgContent;
use yhconv_proto::ChatType;

use super::{entity_at, LOGOUT_PREFIX, PUSH_CHANNEL};
use crate::error::{Error, Result};
use crate::push::{FeedEvent, PushEvent};

/// Runs until the hub goes away.
pub(super) async fn run(config: tokio_postgres::Config, pool: Pool, sink: mpsc::UnboundedSender<FeedEvent>) {
    let mut delay = Duration::from_millis(200);
    while !sink.is_closed() {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let (payloads, mut incoming) = mpsc::unbounded_channel::<String>();
                let driver = tokio::spawn(async move {
                    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(message) = messages.next().await {
                        match message {
                            Ok(AsyncMessage::Notification(n)) => {
                                if payloads.send(n.payload().to_owned()).is_err() {
                                    return;
                                }
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "push feed connection lost");
                                return;
                            }
                        }
                    }
                });
                if let Err(e) = client.batch_execute(&format!("LISTEN {PUSH_CHANNEL}")).await {
                    tracing::warn!(error = %e, "push feed cannot LISTEN");
                } else {
                    tracing::debug!("push feed listening");
                    delay = Duration::from_millis(200);
                    while let Some(payload) = incoming.recv().await {
                        if let Some(hex_hash) = payload.strip_prefix(LOGOUT_PREFIX) {
                            let mut token_hash = [0u8; 32];
                            match hex::decode_to_slice(hex_hash, &mut token_hash) {
                                Ok(()) => {
                                    if sink.send(FeedEvent::LoggedOut(token_hash)).is_err() {
                                        driver.abort();
                                        return;
                                    }
                                }
                                Err(e) => tracing::error!(error = %e, payload, "push feed: bad logout payload"),
                            }
                            continue;
                        }
                        match load(&pool, &payload).await {
                            Ok(Some(event)) => {
                                if sink.send(FeedEvent::Message(Box::new(event))).is_err() {
                                    driver.abort();
                                    return;
                                }
                            }
                            Ok(None) => tracing::warn!(payload, "push feed: announced message not found"),
                            Err(e) => tracing::error!(error = %e, payload, "push feed: cannot load message"),
                        }
                    }
                }
                driver.abort();
            }
            Err(e) => tracing::warn!(error = %e, retry_in = ?delay, "push feed cannot connect"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Loads the message a `chat:seq` payload announces.
async fn load(pool: &Pool, payload: &str) -> Result<Option<PushEvent>> {
    let (chat, seq) = payload
        .split_once(':')
        .and_then(|(c, s)| Some((c.parse::<i64>().ok()?, s.parse::<i64>().ok()?)))
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("bad push payload {payload:?}")))?;
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "SELECT s.id, s.kind, s.name, s.avatar_url, s.avatar_id, s.certification_level, \
                    m.msg_id, m.content_type, m.content, m.sent_ms, c.kind, c.a, c.b \
             FROM message m JOIN chat c ON c.id = m.chat_id JOIN entity s ON s.id = m.sender_id \
             WHERE m.chat_id = $1 AND m.seq = $2",
        )
        .await?;
    let Some(row) = client.query_opt(&stmt, &[&chat, &seq]).await? else {
        return Ok(None);
    };
    let sender = entity_at(&row, 0)?;
    let (kind, a, b): (i16, i64, i64) = (row.get(10), row.get(11), row.get(12));
    let peer_id = match ChatType::from_code(kind as u64) {
        Some(ChatType::Group) => a,
        Some(ChatType::User) if a == sender.id.get() => b,
        Some(ChatType::User) => a,
        Some(ChatType::Bot) => b,
        None => return Err(Error::Internal(anyhow::anyhow!("chat {chat} has unknown kind {kind}"))),
    };
    let peer_stmt = client
        .prepare_cached("SELECT id, kind, name, avatar_url, avatar_id, certification_level FROM entity WHERE id = $1")
        .await?;
    let Some(peer_row) = client.query_opt(&peer_stmt, &[&peer_id]).await? else {
        return Ok(None);
    };
    let content: Vec<u8> = row.get(8);
    Ok(Some(PushEvent {
        peer: entity_at(&peer_row, 0)?,
        sender,
        msg_id: row.get(6),
        seq,
        content_type: row.get::<_, i64>(7).max(0) as u64,
        content: MsgContent::decode(content.as_slice()).unwrap_or_default(),
        sent_ms: row.get(9),
    }))
}
