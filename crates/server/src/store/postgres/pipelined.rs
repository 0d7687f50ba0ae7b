//! A transaction whose `BEGIN` travels in one pipeline with its first
//! statements and whose `COMMIT` in one pipeline with its last.
//!
//! `tokio_postgres::Transaction` waits for `BEGIN` and for `COMMIT` each on
//! its own round trip: four round trips for a read-then-write transaction,
//! and a lock taken by the last statements (the chat's row, the list clock's
//! row every change moves) stays held across a round trip to this server,
//! which, when the server is busy, waits its turn in the runtime's queue
//! while every other writer of that row waits for it. Here the same
//! transaction is two round trips, and what the last pipeline locks is held
//! only while PostgreSQL runs it.
//!
//! PostgreSQL runs a connection's statements in the order sent; once a
//! statement fails, the rest of the transaction fails too and its `COMMIT`
//! rolls back, so a pipeline whose every statement (the `COMMIT` included)
//! succeeded has committed, and any error means it did not (or, when the
//! connection broke, that it is unknown, as for any commit). A failed
//! pipeline is still read to its end, so when its `COMMIT` was answered the
//! connection is idle and goes back to the pool: a statement that fails
//! (a taken unique key, say) costs no connection.
//!
//! A transaction that moved the list clock reads the list leases in force
//! in the pipeline of its `COMMIT`, and [`Tx::finished`] waits for their
//! holders once the connection is back in the pool (see [`super::leases`]).
//!
//! A transaction dropped before [`Tx::finished`] (an error, or the
//! request's future dropped mid-way) whose end was not answered takes its
//! connection out of the pool and closes it, which rolls back whatever was
//! open: a connection never goes back to the pool inside a transaction.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use deadpool_postgres::{GenericClient, Object, Pool};
use futures_util::future::{join, join_all, BoxFuture};

use super::leases::{Handoff, Leases};
use crate::domain::error::Result;
use crate::domain::event::{ChatRef, Event};
use crate::domain::list_change::{ListChange, ListFact};

/// A statement parameter.
pub(super) type Param<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);

/// One statement of a pipeline: its future, boxed so that several kinds sit
/// in one list.
pub(super) type Pipelined<'a> =
    Pin<Box<dyn Future<Output = std::result::Result<u64, tokio_postgres::Error>> + Send + 'a>>;

/// What a transaction says to every instance when it commits, in the order
/// said: sent in one pipeline with its `COMMIT`.
enum Deferred {
    /// `pg_notify` of an event for the hubs.
    Notify(String),
    /// `pg_notify` of [`Event::Message`] for the chat's message
    /// `before_last` messages before its last, whose sequence number the
    /// transaction took ([`super::NOTIFY_MESSAGE`]).
    Message { chat: ChatRef, before_last: i64 },
    /// The list clock's move with these facts ([`super::ANNOUNCE_LISTS`]):
    /// its row stays locked from here to the commit, which follows at once.
    Announce(String),
}

/// A pooled connection running one pipelined transaction: its statements
/// go through it as through any client (it derefs to the connection), and
/// what it notifies and announces waits for the `COMMIT`.
pub(super) struct Tx {
    /// `None` only while dropping.
    client: Option<Object>,
    deferred: Mutex<Vec<Deferred>>,
    /// What a committed list change waits for before it answers.
    leases: Arc<Leases>,
    handoff: Mutex<Option<Handoff>>,
    /// The transaction's end was answered: the connection is idle again.
    finished: AtomicBool,
}

impl Tx {
    /// Takes `client` for one transaction; send [`Self::begin`] ahead of
    /// the first statements, in the same pipeline.
    pub(super) fn new(client: Object, leases: &Arc<Leases>) -> Self {
        Self {
            client: Some(client),
            deferred: Mutex::default(),
            leases: Arc::clone(leases),
            handoff: Mutex::default(),
            finished: AtomicBool::new(false),
        }
    }

    /// The connection, for helpers that take any client.
    pub(super) fn client(&self) -> &Object {
        self.client.as_ref().expect("the client is taken only on drop")
    }

    /// `BEGIN`: poll it before the first statements (join it ahead of them).
    /// READ COMMITTED whatever the database's default: each statement sees
    /// what committed before it began (the list leases rely on it).
    pub(super) async fn begin(&self) -> std::result::Result<u64, tokio_postgres::Error> {
        self.client().batch_execute("BEGIN ISOLATION LEVEL READ COMMITTED").await.map(|()| 0)
    }

    /// Notifies every instance of `event` when the transaction commits.
    pub(super) fn notify(&self, event: &Event) {
        self.defer(Deferred::Notify(event.encode()));
    }

    /// Notifies every instance of the message this transaction stored in
    /// `chat` `before_last` messages before its last one (0: the last; its
    /// sequence number is read in the pipeline, so it need not be known
    /// here) when the transaction commits.
    pub(super) fn notify_message_before_last(&self, chat: ChatRef, before_last: i64) {
        self.defer(Deferred::Message { chat, before_last });
    }

    /// Moves the list clock and announces `facts` when the transaction
    /// commits (see [`crate::domain::list_change`]).
    pub(super) fn announce(&self, facts: &[ListFact]) {
        self.defer(Deferred::Announce(ListChange::encode_facts(facts)));
    }

    fn defer(&self, said: Deferred) {
        self.deferred.lock().unwrap_or_else(|p| p.into_inner()).push(said);
    }

    /// Sends `writes`, then what was announced and notified, then `after`
    /// (statements whose own notifications follow those), then, when the
    /// list clock moves, a read of the list leases in force, then `COMMIT`,
    /// in one pipeline; it rolls back instead when any of them failed, and
    /// returns the first statement's error. Then say [`Self::finished`].
    pub(super) async fn commit_with<'a>(
        &'a self,
        writes: Vec<Pipelined<'a>>,
        after: Vec<Pipelined<'a>>,
    ) -> std::result::Result<(), tokio_postgres::Error> {
        // The list clock's new value, and the leases in force once it moved.
        let moved_to = Mutex::new(None::<i64>);
        let holders = Mutex::new(Vec::new());
        let mut writes: Vec<Pipelined<'_>> = writes;
        let mut deferred = std::mem::take(&mut *self.deferred.lock().unwrap_or_else(|p| p.into_inner()));
        // The list changes first: an instance's feed then hands a change on
        // to its list cache before it pushes the message or event that
        // came with it, so a list fetched through that instance right
        // after the push shows it.
        deferred.sort_by_key(|said| !matches!(said, Deferred::Announce(_)));
        let client = self.client();
        let announces = deferred.iter().any(|said| matches!(said, Deferred::Announce(_)));
        if !deferred.is_empty() {
            let notify = client.prepare_cached(super::NOTIFY).await?;
            let notify_message = client.prepare_cached(super::NOTIFY_MESSAGE).await?;
            let announce = client.prepare_cached(super::ANNOUNCE_LISTS).await?;
            for said in deferred {
                // Each owns what it sends, and sends it on its first poll.
                let (notify, notify_message, announce) = (notify.clone(), notify_message.clone(), announce.clone());
                let moved_to = &moved_to;
                writes.push(match said {
                    Deferred::Notify(payload) => Box::pin(async move {
                        let params: [Param<'_>; 2] = [&super::PUSH_CHANNEL, &payload];
                        client.execute_raw(&notify, params).await
                    }),
                    Deferred::Message { chat, before_last } => Box::pin(async move {
                        let prefix = Event::message_payload_prefix(chat);
                        let params: [Param<'_>; 4] = [&super::PUSH_CHANNEL, &prefix, &chat.0, &before_last];
                        client.execute_raw(&notify_message, params).await
                    }),
                    Deferred::Announce(facts) => Box::pin(async move {
                        let params: [Param<'_>; 3] = [&super::PUSH_CHANNEL, &ListChange::payload_prefix(), &facts];
                        let value: i64 = client.query_one(&announce, &params).await?.try_get(0)?;
                        let mut moved_to = moved_to.lock().unwrap_or_else(|p| p.into_inner());
                        *moved_to = Some(moved_to.map_or(value, |known| known.max(value)));
                        Ok(1)
                    }),
                });
            }
        }
        writes.extend(after);
        if announces {
            let in_force = client.prepare_cached(super::leases::IN_FORCE).await?;
            let holders = &holders;
            writes.push(Box::pin(async move {
                let rows = client.query(&in_force, &[]).await?;
                let found = rows
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                    .collect::<std::result::Result<Vec<(i64, f64)>, tokio_postgres::Error>>()?;
                *holders.lock().unwrap_or_else(|p| p.into_inner()) = found;
                Ok(0)
            }));
        }
        writes.push(Box::pin(async move { client.batch_execute("COMMIT").await.map(|()| 0) }));
        // Every answer is read, so that a failed pipeline leaves the
        // connection idle (its `COMMIT` rolled back) rather than mid-way.
        let mut answers = join_all(writes).await;
        let ended = answers.pop().expect("the COMMIT is in the pipeline");
        self.finished.store(ended.is_ok(), Ordering::Relaxed);
        if let Some(failed) = answers.into_iter().find_map(|answer| answer.err()) {
            return Err(failed);
        }
        ended?;
        if let Some(clock) = moved_to.into_inner().unwrap_or_else(|p| p.into_inner()) {
            self.leases.wrote(clock);
            let holders = holders.into_inner().unwrap_or_else(|p| p.into_inner());
            *self.handoff.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(Handoff { clock, holders, answered_at: Instant::now() });
        }
        Ok(())
    }

    /// Rolls back, on a round trip of its own.
    pub(super) async fn rollback(self) -> Result<()> {
        self.client().batch_execute("ROLLBACK").await?;
        self.finished.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// The `COMMIT` was answered: the connection goes back to the pool,
    /// then a list change waits until the holders of list leases have
    /// handed it on (see [`super::leases`]).
    pub(super) async fn finished(mut self) {
        *self.finished.get_mut() = true;
        let handoff = self.handoff.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        let leases = Arc::clone(&self.leases);
        drop(self);
        if let Some(handoff) = handoff {
            leases.wait(handoff).await;
        }
    }
}

impl std::ops::Deref for Tx {
    type Target = Object;

    fn deref(&self) -> &Object {
        self.client()
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if !*self.finished.get_mut() {
            if let Some(client) = self.client.take() {
                // Out of the pool, then closed: PostgreSQL rolls back.
                drop(Object::take(client));
            }
        }
    }
}

/// Runs `work` in one transaction on a connection from `pool`: `BEGIN` in
/// one pipeline with its first statement, and what it notified and
/// announced in one pipeline with `COMMIT`. An error from `work` rolls back.
pub(super) async fn transact<T>(
    pool: &Pool,
    leases: &Arc<Leases>,
    work: impl for<'t> FnOnce(&'t Tx) -> BoxFuture<'t, Result<T>>,
) -> Result<T> {
    let tx = Tx::new(pool.get().await?, leases);
    // `join` polls `BEGIN` first on every turn, so it is sent first.
    let (begun, worked) = join(tx.begin(), work(&tx)).await;
    begun?;
    let value = match worked {
        Ok(value) => value,
        Err(e) => {
            // A failed ROLLBACK drops the connection instead (see `Drop`).
            if let Err(rollback) = tx.rollback().await {
                tracing::warn!(error = %rollback, "rolling back after an error");
            }
            return Err(e);
        }
    };
    tx.commit_with(Vec::new(), Vec::new()).await?;
    tx.finished().await;
    Ok(value)
}
