//! The push feed: one dedicated connection LISTENs for new messages stored
//! by any instance, and hands each one (loaded in full) to the local hub,
//! in commit order; and for logouts, whose sockets the hub closes.
//!
//! When the connection drops it reconnects with backoff and, once listening
//! again, catches up: messages sent since shortly before the drop are looked
//! up by send time and handed on too, skipping those already delivered. An
//! outage longer than [`CATCH_UP_LIMIT`] is not caught up (clients resync
//! with the list, as after any disconnect of their own).

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use futures_util::StreamExt;
use prost::Message as _;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};
use yhconv_proto::pb::MsgContent;
use yhconv_proto::ChatType;

use super::{entity_at, LOGOUT_PREFIX, PUSH_CHANNEL};
use crate::domain::error::{Error, Result};
use crate::push::{FeedEvent, PushEvent};

/// How far before a drop the catch-up looks: a message's send time is taken
/// before its transaction commits, so one committed just after the drop may
/// carry an earlier time.
const CATCH_UP_MARGIN_MS: i64 = 5_000;
/// Longest outage that is caught up.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(300);
/// Most messages one catch-up hands on.
const CATCH_UP_MAX_MESSAGES: i64 = 10_000;
/// How long a delivered message is remembered, to skip it in a catch-up.
const REMEMBER: Duration = Duration::from_secs(60);

/// Messages delivered lately, by (chat row, seq).
#[derive(Default)]
struct Delivered {
    order: VecDeque<(Instant, (i64, i64))>,
    keys: HashSet<(i64, i64)>,
}

impl Delivered {
    /// Records a delivery; false when it was delivered already.
    fn insert(&mut self, key: (i64, i64)) -> bool {
        let now = Instant::now();
        while self.order.front().is_some_and(|(at, _)| now.duration_since(*at) > REMEMBER) {
            if let Some((_, old)) = self.order.pop_front() {
                self.keys.remove(&old);
            }
        }
        if !self.keys.insert(key) {
            return false;
        }
        self.order.push_back((now, key));
        true
    }
}

/// Runs until the hub goes away.
pub(super) async fn run(config: tokio_postgres::Config, pool: Pool, sink: mpsc::UnboundedSender<FeedEvent>) {
    let mut delay = Duration::from_millis(200);
    let mut delivered = Delivered::default();
    // When the last listening session ended: (wall-clock ms, instant).
    let mut lost: Option<(i64, Instant)> = None;
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
                    if let Some((lost_ms, lost_at)) = lost.take() {
                        if !catch_up(&pool, &sink, &mut delivered, lost_ms, lost_at).await {
                            driver.abort();
                            return;
                        }
                    }
                    while let Some(payload) = incoming.recv().await {
                        if !handle(&pool, &sink, &mut delivered, &payload).await {
                            driver.abort();
                            return;
                        }
                    }
                    lost = Some((wall_clock_ms(), Instant::now()));
                }
                driver.abort();
            }
            Err(e) => tracing::warn!(error = %e, retry_in = ?delay, "push feed cannot connect"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Hands on what one notification announces; false when the hub is gone.
async fn handle(
    pool: &Pool,
    sink: &mpsc::UnboundedSender<FeedEvent>,
    delivered: &mut Delivered,
    payload: &str,
) -> bool {
    if let Some(hex_hash) = payload.strip_prefix(LOGOUT_PREFIX) {
        let mut token_hash = [0u8; 32];
        return match hex::decode_to_slice(hex_hash, &mut token_hash) {
            Ok(()) => sink.send(FeedEvent::LoggedOut(token_hash)).is_ok(),
            Err(e) => {
                tracing::error!(error = %e, payload, "push feed: bad logout payload");
                true
            }
        };
    }
    let Some(key) = payload.split_once(':').and_then(|(c, s)| Some((c.parse::<i64>().ok()?, s.parse::<i64>().ok()?)))
    else {
        tracing::error!(payload, "push feed: bad payload");
        return true;
    };
    deliver(pool, sink, delivered, key).await
}

/// Loads and hands on one message unless it was delivered already; false
/// when the hub is gone.
async fn deliver(
    pool: &Pool,
    sink: &mpsc::UnboundedSender<FeedEvent>,
    delivered: &mut Delivered,
    (chat, seq): (i64, i64),
) -> bool {
    if !delivered.insert((chat, seq)) {
        return true;
    }
    match load(pool, chat, seq).await {
        Ok(Some(event)) => sink.send(FeedEvent::Message(Box::new(event))).is_ok(),
        Ok(None) => {
            tracing::warn!(chat, seq, "push feed: announced message not found");
            true
        }
        Err(e) => {
            tracing::error!(error = %e, chat, seq, "push feed: cannot load message");
            true
        }
    }
}

/// Hands on the messages sent since shortly before the feed was lost, in
/// send order; false when the hub is gone.
async fn catch_up(
    pool: &Pool,
    sink: &mpsc::UnboundedSender<FeedEvent>,
    delivered: &mut Delivered,
    lost_ms: i64,
    lost_at: Instant,
) -> bool {
    if lost_at.elapsed() > CATCH_UP_LIMIT {
        tracing::warn!(outage = ?lost_at.elapsed(), "push feed was down too long to catch up; clients resync with the list");
        return true;
    }
    let missed = async {
        let client = pool.get().await?;
        let stmt = client
            .prepare_cached(
                "SELECT chat_id, seq FROM message WHERE sent_ms >= $1 ORDER BY sent_ms, chat_id, seq LIMIT $2",
            )
            .await?;
        let rows = client.query(&stmt, &[&(lost_ms - CATCH_UP_MARGIN_MS), &CATCH_UP_MAX_MESSAGES]).await?;
        Ok::<_, Error>(rows.iter().map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1))).collect::<Vec<_>>())
    };
    let missed = match missed.await {
        Ok(missed) => missed,
        Err(e) => {
            tracing::error!(error = %e, "push feed cannot catch up");
            return true;
        }
    };
    tracing::info!(candidates = missed.len(), "push feed catching up after reconnecting");
    for key in missed {
        if !deliver(pool, sink, delivered, key).await {
            return false;
        }
    }
    true
}

/// Loads one stored message as a push.
async fn load(pool: &Pool, chat: i64, seq: i64) -> Result<Option<PushEvent>> {
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
