//! The feed: one dedicated connection LISTENs for the events every
//! instance emits (stored messages, logouts) and hands them to the local
//! hub in commit order, and the list changes (`list:CLOCK:FACTS`) to the
//! list cache.
//!
//! List changes: once listening, and whenever the list cache starts
//! watching, the feed reads the list clock and resyncs the cache with it
//! (changes up to it are unknown to the cache, every later one is handed
//! on); when the connection drops, it tells the cache, which then trusts
//! nothing it holds until the next resync.
//!
//! When the connection drops it reconnects with backoff and, once listening
//! again, catches up: messages sent since shortly before the drop are looked
//! up by send time and handed on too, skipping those already delivered. An
//! outage longer than [`CATCH_UP_LIMIT`] is not caught up (clients resync
//! with the list, as after any disconnect of their own).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

use super::{ListWatch, PUSH_CHANNEL};
use crate::domain::clock::wall_clock_ms;
use crate::domain::error::Error;
use crate::domain::event::{ChatRef, Event, EventSink, MessageKey, EVENT_QUEUE};
use crate::domain::list_change::ListChange;

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
pub(super) async fn run(config: tokio_postgres::Config, pool: Pool, sink: EventSink, lists: Arc<ListWatch>) {
    let mut delay = Duration::from_millis(200);
    let mut delivered = Delivered::default();
    // When the last listening session ended: (wall-clock ms, instant).
    let mut lost: Option<(i64, Instant)> = None;
    while !sink.is_closed() {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                // Bounded: while the hub is behind, the driver stops reading
                // and PostgreSQL holds the notifications.
                let (payloads, mut incoming) = mpsc::channel::<String>(EVENT_QUEUE);
                let driver = tokio::spawn(async move {
                    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(message) = messages.next().await {
                        match message {
                            Ok(AsyncMessage::Notification(n)) => {
                                if payloads.send(n.payload().to_owned()).await.is_err() {
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
                } else if let Err(e) = resync_lists(&pool, &lists).await {
                    tracing::warn!(error = %e, "feed cannot read the list clock");
                } else {
                    tracing::debug!("push feed listening");
                    delay = Duration::from_millis(200);
                    if let Some((lost_ms, lost_at)) = lost.take() {
                        if !catch_up(&pool, &sink, &mut delivered, lost_ms, lost_at).await {
                            driver.abort();
                            return;
                        }
                    }
                    loop {
                        let payload = tokio::select! {
                            payload = incoming.recv() => payload,
                            () = lists.attached.notified() => {
                                if let Err(e) = resync_lists(&pool, &lists).await {
                                    tracing::warn!(error = %e, "feed cannot read the list clock");
                                    break;
                                }
                                continue;
                            }
                        };
                        let Some(payload) = payload else { break };
                        if !handle(&sink, &lists, &mut delivered, &payload).await {
                            driver.abort();
                            return;
                        }
                    }
                    lost = Some((wall_clock_ms(), Instant::now()));
                    if let Some(sink) = lists.sink() {
                        sink.lost();
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

/// Reads the list clock (after `LISTEN` took effect: every change committed
/// later is announced to this connection, every earlier one is up to the
/// clock) and resyncs the list cache with it. A pooled connection reads it,
/// so the listening one shows `LISTEN` as its last statement.
async fn resync_lists(pool: &Pool, lists: &ListWatch) -> Result<(), Error> {
    let Some(sink) = lists.sink() else { return Ok(()) };
    let client = pool.get().await?;
    let stmt = client.prepare_cached("SELECT value FROM list_clock WHERE id = 1").await?;
    let clock: i64 = client.query_one(&stmt, &[]).await?.try_get("value")?;
    tracing::debug!(clock, "list cache resynced");
    sink.resync(clock);
    Ok(())
}

/// Hands on what one notification announces (waiting while the hub is
/// behind); false when the hub is gone.
async fn handle(sink: &EventSink, lists: &ListWatch, delivered: &mut Delivered, payload: &str) -> bool {
    if ListChange::is_list_payload(payload) {
        match (ListChange::decode(payload), lists.sink()) {
            (Some(change), Some(lists)) => lists.changed(&change),
            (None, _) => tracing::error!(payload, "feed: bad list payload"),
            (Some(_), None) => {}
        }
        return true;
    }
    match Event::decode(payload) {
        Some(Event::Message(key)) => deliver(sink, delivered, key).await,
        Some(event) => sink.send(event).await.is_ok(),
        None => {
            tracing::error!(payload, "feed: bad payload");
            true
        }
    }
}

/// Hands on one message unless it was delivered already; false when the
/// hub is gone.
async fn deliver(sink: &EventSink, delivered: &mut Delivered, key: MessageKey) -> bool {
    if !delivered.insert((key.chat.0, key.seq)) {
        return true;
    }
    sink.send(Event::Message(key)).await.is_ok()
}

/// Hands on the messages sent since shortly before the feed was lost, in
/// send order; false when the hub is gone.
async fn catch_up(pool: &Pool, sink: &EventSink, delivered: &mut Delivered, lost_ms: i64, lost_at: Instant) -> bool {
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
        rows.iter()
            .map(|r| Ok(MessageKey { chat: ChatRef(r.try_get("chat_id")?), seq: r.try_get("seq")? }))
            .collect::<Result<Vec<_>, Error>>()
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
        if !deliver(sink, delivered, key).await {
            return false;
        }
    }
    true
}
