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

use deadpool_postgres::{GenericClient, Object};

use crate::domain::error::Result;

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
