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
//! While it listens, the connection is also a barrier for list requests
//! ([`Barrier`]): an empty query answered on it tells a request which list
//! changes it must see, with no table read. And while it listens (with a
//! list cache to serve) the instance holds a list lease, which spares list
//! requests even that query: the feed hears on it what every holder handed
//! on, and says what it handed on itself (see [`super::leases`]).
//!
//! When the connection drops it reconnects with backoff and, once listening
//! again, catches up: messages sent since shortly before the drop are looked
//! up by send time and handed on too, skipping those already delivered. An
//! outage longer than [`CATCH_UP_LIMIT`] is not caught up (clients resync
//! with the list, as after any disconnect of their own).

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio_postgres::{AsyncMessage, Client, NoTls};

use super::leases::LEASE_CHANNEL;
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

/// How long a list request waits for the barrier's answer before it reads
/// the clock through a pooled connection instead (the feed is behind the
/// hub, or its connection is failing).
const BARRIER_WAIT: Duration = Duration::from_millis(100);
/// The barrier's query: nothing, said so in `pg_stat_activity`.
const BARRIER_QUERY: &str = "-- yhconv: list barrier";

/// The listening connection as a barrier for list requests.
///
/// PostgreSQL signals every listening session when a transaction with
/// notifications commits, before the committing client hears of the
/// commit, and a signalled session sends its notifications before it reads
/// its next query. So a query sent on the listening connection is answered
/// after the notifications of every transaction committed before it was
/// sent, and the connection's driver notes each list clock it receives
/// before it reads further. Once the answer is in, every list change
/// committed before the query is numbered at most [`Barrier::received`]'s
/// value, and the feed has it: a request learns which changes it must see
/// for the price of an empty query, with no table read and no pooled
/// connection.
#[derive(Default)]
pub(super) struct Barrier {
    /// The listening connection, while it listens (after the resync).
    client: Mutex<Option<Arc<Client>>>,
    /// The highest list clock received on a listening connection, or read
    /// at a resync.
    received: AtomicI64,
}

impl Barrier {
    /// The list clock as of an answer on the listening connection (see
    /// [`Barrier`]); `None` while the feed does not listen, or when the
    /// answer fails or takes longer than [`BARRIER_WAIT`].
    pub(super) async fn pass(&self) -> Option<i64> {
        let client = self.client.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
        match tokio::time::timeout(BARRIER_WAIT, client.batch_execute(BARRIER_QUERY)).await {
            Ok(Ok(())) => Some(self.received.load(Ordering::SeqCst)),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "list barrier failed: reading the clock instead");
                None
            }
            Err(_) => {
                tracing::debug!(wait = ?BARRIER_WAIT, "list barrier slow: reading the clock instead");
                None
            }
        }
    }

    /// Notes a list clock received or read.
    fn received(&self, clock: i64) {
        self.received.fetch_max(clock, Ordering::SeqCst);
    }

    /// Lets requests pass through `client` until the returned guard drops.
    fn open(&self, client: Arc<Client>) -> OpenBarrier<'_> {
        *self.client.lock().unwrap_or_else(|p| p.into_inner()) = Some(client);
        OpenBarrier(self)
    }
}

/// The barrier is open while this lives: on every way out of the listening
/// session, requests stop using its connection.
struct OpenBarrier<'a>(&'a Barrier);

impl Drop for OpenBarrier<'_> {
    fn drop(&mut self) {
        self.0.client.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

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

/// Runs until the hub goes away or [`ListWatch::stop`] is called; either
/// way, lets the list lease go before it returns.
pub(super) async fn run(config: tokio_postgres::Config, pool: Pool, sink: EventSink, lists: Arc<ListWatch>) {
    let mut delay = Duration::from_millis(200);
    let mut delivered = Delivered::default();
    let mut stopping = lists.stopping.subscribe();
    // When the last listening session ended: (wall-clock ms, instant).
    let mut lost: Option<(i64, Instant)> = None;
    while !sink.is_closed() {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                // Bounded: while the hub is behind, the driver stops reading
                // and PostgreSQL holds the notifications.
                let (payloads, mut incoming) = mpsc::channel::<String>(EVENT_QUEUE);
                let watch = Arc::clone(&lists);
                let driver = tokio::spawn(async move {
                    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(message) = messages.next().await {
                        match message {
                            Ok(AsyncMessage::Notification(n)) if n.channel() == LEASE_CHANNEL => {
                                // Heard at once, whatever the hub is doing:
                                // writers wait for it.
                                watch.leases.heard(n.payload());
                            }
                            Ok(AsyncMessage::Notification(n)) => {
                                let payload = n.payload().to_owned();
                                // Noted before the connection is read any
                                // further: a barrier answered after this
                                // notification finds its clock.
                                if let Some(clock) = ListChange::clock_of(&payload) {
                                    watch.barrier.received(clock);
                                }
                                if payloads.send(payload).await.is_err() {
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
                let client = Arc::new(client);
                if let Err(e) = client.batch_execute(&format!("LISTEN {PUSH_CHANNEL}; LISTEN {LEASE_CHANNEL}")).await {
                    tracing::warn!(error = %e, "push feed cannot LISTEN");
                } else if let Err(e) = resync_lists(&pool, &lists).await {
                    tracing::warn!(error = %e, "feed cannot read the list clock");
                } else {
                    tracing::debug!("push feed listening");
                    delay = Duration::from_millis(200);
                    let open = lists.barrier.open(Arc::clone(&client));
                    if let Some((lost_ms, lost_at)) = lost.take() {
                        if !catch_up(&pool, &sink, &mut delivered, lost_ms, lost_at).await {
                            driver.abort();
                            return;
                        }
                    }
                    // Once caught up; and a list lease serves only a list
                    // cache.
                    let mut lease = lists.sink().map(|_| lists.leases.hold(&pool, Arc::clone(&client)));
                    // True when the feed stops for good (the instance shuts
                    // down, or its hub is gone); false when this listening
                    // session ended and another is to begin.
                    let for_good = loop {
                        let payload = tokio::select! {
                            payload = incoming.recv() => payload,
                            () = stopped(&sink, &mut stopping) => break true,
                            () = lists.attached.notified() => {
                                if let Err(e) = resync_lists(&pool, &lists).await {
                                    tracing::warn!(error = %e, "feed cannot read the list clock");
                                    break false;
                                }
                                if lease.is_none() {
                                    lease = Some(lists.leases.hold(&pool, Arc::clone(&client)));
                                }
                                continue;
                            }
                        };
                        let Some(payload) = payload else { break false };
                        if !handle(&sink, &lists, &mut delivered, &payload).await {
                            break true;
                        }
                    };
                    if for_good {
                        // The lease goes first, so that no writer waits for
                        // it to run out.
                        if let Some(lease) = lease.take() {
                            lease.let_go().await;
                        }
                        driver.abort();
                        return;
                    }
                    drop(lease);
                    drop(open);
                    lost = Some((wall_clock_ms(), Instant::now()));
                    if let Some(sink) = lists.sink() {
                        sink.lost();
                    }
                }
                driver.abort();
            }
            Err(e) => tracing::warn!(error = %e, retry_in = ?delay, "push feed cannot connect"),
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stopped(&sink, &mut stopping) => return,
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Completes once the feed must stop for good: [`ListWatch::stop`] was
/// called, or the hub it delivers to is gone.
async fn stopped(sink: &EventSink, stopping: &mut watch::Receiver<bool>) {
    tokio::select! {
        () = sink.closed() => {}
        _ = stopping.wait_for(|stop| *stop) => {}
    }
}

/// Reads the list clock (after `LISTEN` took effect: every change committed
/// later is announced to this connection, every earlier one is up to the
/// clock), notes it for the barrier, and resyncs the list cache with it.
async fn resync_lists(pool: &Pool, lists: &ListWatch) -> Result<(), Error> {
    let clock = read_list_clock(pool).await?;
    lists.barrier.received(clock);
    if let Some(sink) = lists.sink() {
        tracing::debug!(clock, "list cache resynced");
        sink.resync(clock);
    }
    Ok(())
}

/// The list clock, read through a pooled connection: every list change
/// numbered up to it is committed.
pub(super) async fn read_list_clock(pool: &Pool) -> Result<i64, Error> {
    let client = pool.get().await?;
    let stmt = client.prepare_cached("SELECT value FROM list_clock WHERE id = 1").await?;
    Ok(client.query_one(&stmt, &[]).await?.try_get("value")?)
}

/// Hands on what one notification announces (waiting while the hub is
/// behind); false when the hub is gone.
async fn handle(sink: &EventSink, lists: &ListWatch, delivered: &mut Delivered, payload: &str) -> bool {
    if ListChange::is_list_payload(payload) {
        let Some(change) = ListChange::decode(payload) else {
            tracing::error!(payload, "feed: bad list payload");
            return true;
        };
        if let Some(sink) = lists.sink() {
            sink.changed(&change);
        }
        if let Some(clock) = change.clock {
            lists.leases.handed_on(clock);
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
