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
//! connection broke, that it is unknown, as for any commit).
//!
//! A transaction dropped before [`PipelinedTx::finished`] (an error, or the
//! request's future dropped mid-way) takes its connection out of the pool
//! and closes it, which rolls back whatever was open: a connection never
//! goes back to the pool inside a transaction.

use std::future::Future;
use std::pin::Pin;

use deadpool_postgres::{GenericClient, Object, Pool};
use futures_util::future::{join, try_join_all, BoxFuture};

use crate::domain::error::Result;
use crate::domain::event::Event;
use crate::domain::list_change::{ListChange, ListFact};

/// A statement parameter.
pub(super) type Param<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);

/// One statement of a pipeline: its future, boxed so that several kinds sit
/// in one list.
pub(super) type Pipelined<'a> =
    Pin<Box<dyn Future<Output = std::result::Result<u64, tokio_postgres::Error>> + Send + 'a>>;

/// A pooled connection running one pipelined transaction.
pub(super) struct PipelinedTx {
    /// `None` only while dropping.
    client: Option<Object>,
    /// The transaction's end was answered: the connection is idle again.
    finished: bool,
}

impl PipelinedTx {
    /// Takes `client` for one transaction; send [`Self::begin`] ahead of
    /// the first statements, in the same pipeline.
    pub(super) fn new(client: Object) -> Self {
        Self { client: Some(client), finished: false }
    }

    /// The connection, for the transaction's statements.
    pub(super) fn client(&self) -> &Object {
        self.client.as_ref().expect("the client is taken only on drop")
    }

    /// `BEGIN`: poll it before the first statements (join it ahead of them).
    pub(super) async fn begin(&self) -> std::result::Result<u64, tokio_postgres::Error> {
        self.client().batch_execute("BEGIN").await.map(|()| 0)
    }

    /// `COMMIT`: poll it after the last statements (join it behind them); it
    /// rolls back instead when any of them failed.
    pub(super) async fn commit(&self) -> std::result::Result<u64, tokio_postgres::Error> {
        self.client().batch_execute("COMMIT").await.map(|()| 0)
    }

    /// Rolls back, on a round trip of its own.
    pub(super) async fn rollback(self) -> Result<()> {
        self.client().batch_execute("ROLLBACK").await?;
        self.finished();
        Ok(())
    }

    /// The `COMMIT` (or `ROLLBACK`) was answered: the connection goes back
    /// to the pool.
    pub(super) fn finished(mut self) {
        self.finished = true;
    }
}

impl Drop for PipelinedTx {
    fn drop(&mut self) {
        if !self.finished {
            if let Some(client) = self.client.take() {
                // Out of the pool, then closed: PostgreSQL rolls back.
                drop(Object::take(client));
            }
        }
    }
}

/// What a transaction run by [`transact`] says to every instance when it
/// commits, in the order said: sent in one pipeline with its `COMMIT`.
enum Deferred {
    /// `pg_notify` of an event for the hubs.
    Notify(String),
    /// The list clock's move with these facts ([`super::ANNOUNCE_LISTS`]):
    /// its row stays locked from here to the commit, which follows at once.
    Announce(String),
}

/// The statements' side of a transaction run by [`transact`]: the
/// connection (statements go through it as through any client), and what
/// to announce at the commit.
pub(super) struct Tx<'c> {
    client: &'c Object,
    deferred: std::sync::Mutex<Vec<Deferred>>,
}

impl Tx<'_> {
    /// The connection, for helpers that take any client.
    pub(super) fn client(&self) -> &Object {
        self.client
    }

    /// Notifies every instance of `event` when the transaction commits.
    pub(super) fn notify(&self, event: &Event) {
        self.defer(Deferred::Notify(event.encode()));
    }

    /// Moves the list clock and announces `facts` when the transaction
    /// commits (see [`super::announce_lists`]).
    pub(super) fn announce(&self, facts: &[ListFact]) {
        self.defer(Deferred::Announce(ListChange::encode_facts(facts)));
    }

    fn defer(&self, said: Deferred) {
        self.deferred.lock().unwrap_or_else(|p| p.into_inner()).push(said);
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = Object;

    fn deref(&self) -> &Object {
        self.client
    }
}

/// Runs `work` in one transaction on a connection from `pool`: `BEGIN` in
/// one pipeline with its first statement, and what it notified and
/// announced in one pipeline with `COMMIT`. An error from `work` rolls back.
pub(super) async fn transact<T>(
    pool: &Pool,
    work: impl for<'t> FnOnce(&'t Tx<'t>) -> BoxFuture<'t, Result<T>>,
) -> Result<T> {
    let connection = PipelinedTx::new(pool.get().await?);
    let tx = Tx { client: connection.client(), deferred: std::sync::Mutex::default() };
    // `join` polls `BEGIN` first on every turn, so it is sent first.
    let (begun, worked) = join(connection.begin(), work(&tx)).await;
    begun?;
    let value = match worked {
        Ok(value) => value,
        Err(e) => {
            drop(tx);
            // A failed ROLLBACK drops the connection instead (see `Drop`).
            if let Err(rollback) = connection.rollback().await {
                tracing::warn!(error = %rollback, "rolling back after an error");
            }
            return Err(e);
        }
    };
    let deferred = tx.deferred.into_inner().unwrap_or_else(|p| p.into_inner());
    let client = connection.client();
    let statements = match deferred.is_empty() {
        true => None,
        false => Some((
            client.prepare_cached("SELECT pg_notify($1, $2)").await?,
            client.prepare_cached(super::ANNOUNCE_LISTS).await?,
        )),
    };
    let prefix = ListChange::payload_prefix();
    let mut last: Vec<Pipelined<'_>> = Vec::with_capacity(deferred.len() + 1);
    if let Some((notify, announce)) = &statements {
        for said in &deferred {
            let statement: Pipelined<'_> = match said {
                Deferred::Notify(payload) => {
                    let params: [Param<'_>; 2] = [&super::PUSH_CHANNEL, payload];
                    Box::pin(client.execute_raw(notify, params))
                }
                Deferred::Announce(facts) => {
                    let params: [Param<'_>; 3] = [&super::PUSH_CHANNEL, &prefix, facts];
                    Box::pin(client.execute_raw(announce, params))
                }
            };
            last.push(statement);
        }
    }
    last.push(Box::pin(connection.commit()));
    try_join_all(last).await?;
    connection.finished();
    Ok(value)
}
