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
//! only while PostgreSQL runs it: its end, from the list clock's move to
//! the `COMMIT`, is one message ([`Tail`]), which no pause of this server
//! can split.
//!
//! PostgreSQL runs a connection's statements in the order sent; once a
//! statement fails, the rest of the transaction fails too, so a pipeline
//! whose every statement (the `COMMIT` included) succeeded has committed,
//! and any error means it did not (or, when the connection broke, that it
//! is unknown, as for any commit). A failed pipeline is read to its end
//! and rolled back, so the connection is idle and goes back to the pool: a
//! statement that fails (a taken unique key, say) costs a round trip, not
//! a connection.
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
use tokio_postgres::{SimpleQueryMessage, SimpleQueryRow};

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
    /// its row stays locked from here to the commit, which follows in the
    /// same message.
    Announce(String),
    /// Any other statement, with its values.
    Statement { sql: &'static str, values: Vec<Literal> },
}

/// A value written into the text of a transaction's end ([`Tail`]).
#[derive(Debug, Clone)]
pub(super) enum Literal {
    Text(String),
    Int(i64),
}

impl Literal {
    /// Appends the value as SQL: an escape string constant (valid whatever
    /// `standard_conforming_strings` says), or a number.
    fn write_to(&self, sql: &mut String) {
        match self {
            Self::Text(text) => {
                sql.push_str("E'");
                for c in text.chars() {
                    match c {
                        '\\' => sql.push_str("\\\\"),
                        '\'' => sql.push_str("''"),
                        c => sql.push(c),
                    }
                }
                sql.push('\'');
            }
            Self::Int(n) => sql.push_str(&format!("({n})")),
        }
    }
}

/// `template` with `$1`, `$2`… replaced by `values`.
fn render(template: &str, values: &[Literal], sql: &mut String) {
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        sql.push_str(&rest[..at]);
        let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
        let index: usize = rest[at + 1..at + 1 + digits].parse().unwrap_or(0);
        match index.checked_sub(1).and_then(|i| values.get(i)) {
            Some(value) => value.write_to(sql),
            None => panic!("statement {template:?} has no value for ${index}"),
        }
        rest = &rest[at + 1 + digits..];
    }
    sql.push_str(rest);
}

/// The end of a transaction, sent as one simple-protocol message: the list
/// clock's move (first, so that every instance hands a change on to its
/// list cache before it pushes the message or event that came with it),
/// the notifications and deferred statements in the order said, the list
/// leases in force (read once the clock's row is the transaction's own),
/// and `COMMIT`.
///
/// One message, because the clock's row is locked from its move to the
/// commit, and every list change of every instance waits for it: sent as
/// statements of their own, a busy server could let the first ones go out
/// (another worker thread writes the connection while this one is
/// preempted) and the rest tens of milliseconds later.
struct Tail {
    sql: String,
    /// How many list clock moves the end holds: its first statements, each
    /// answering with the clock's new value.
    announces: usize,
    /// The index of the statement reading the leases in force.
    in_force: Option<usize>,
}

impl Tail {
    fn of(mut deferred: Vec<Deferred>) -> Self {
        deferred.sort_by_key(|said| !matches!(said, Deferred::Announce(_)));
        let announces = deferred.iter().filter(|said| matches!(said, Deferred::Announce(_))).count();
        let mut sql = String::new();
        for said in &deferred {
            let channel = Literal::Text(super::PUSH_CHANNEL.to_owned());
            match said {
                Deferred::Notify(payload) => {
                    render(super::NOTIFY, &[channel, Literal::Text(payload.clone())], &mut sql)
                }
                Deferred::Message { chat, before_last } => render(
                    super::NOTIFY_MESSAGE,
                    &[
                        channel,
                        Literal::Text(Event::message_payload_prefix(*chat)),
                        Literal::Int(chat.0),
                        Literal::Int(*before_last),
                    ],
                    &mut sql,
                ),
                Deferred::Announce(facts) => render(
                    super::ANNOUNCE_LISTS,
                    &[channel, Literal::Text(ListChange::payload_prefix().to_owned()), Literal::Text(facts.clone())],
                    &mut sql,
                ),
                Deferred::Statement { sql: template, values } => render(template, values, &mut sql),
            }
            sql.push_str(";\n");
        }
        let in_force = (announces > 0).then(|| {
            sql.push_str(super::leases::IN_FORCE);
            sql.push_str(";\n");
            deferred.len()
        });
        sql.push_str("COMMIT");
        Self { sql, announces, in_force }
    }

    /// From the answers: the list clock's new value (when it moved) and
    /// the leases in force then.
    fn read(&self, answers: &[SimpleQueryMessage]) -> (Option<i64>, Vec<(i64, f64)>) {
        let mut statement = 0;
        let mut moved_to = None::<i64>;
        let mut holders = Vec::new();
        for answer in answers {
            match answer {
                SimpleQueryMessage::CommandComplete(_) => statement += 1,
                SimpleQueryMessage::Row(row) if statement < self.announces => match parsed::<i64>(row, 0) {
                    Some(value) => moved_to = Some(moved_to.map_or(value, |known| known.max(value))),
                    None => tracing::error!(sql = self.sql, "the list clock's new value does not parse"),
                },
                SimpleQueryMessage::Row(row) if Some(statement) == self.in_force => {
                    match (parsed::<i64>(row, 0), parsed::<f64>(row, 1)) {
                        (Some(holder), Some(left_ms)) => holders.push((holder, left_ms)),
                        _ => tracing::error!("a list lease in force does not parse"),
                    }
                }
                _ => {}
            }
        }
        (moved_to, holders)
    }
}

/// Column `index` of a simple-protocol row, parsed (`None` when it is not
/// what the statement returns: PostgreSQL writes bigint and float8 in forms
/// that parse).
fn parsed<T: std::str::FromStr>(row: &SimpleQueryRow, index: usize) -> Option<T> {
    row.try_get(index).ok().flatten()?.parse().ok()
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

    /// Runs `sql` (a statement with `$1`, `$2`… for `values`) when the
    /// transaction commits, after what was announced and notified so far:
    /// for a statement whose own notifications must follow those.
    pub(super) fn on_commit(&self, sql: &'static str, values: Vec<Literal>) {
        self.defer(Deferred::Statement { sql, values });
    }

    /// Sends `writes`, then the transaction's end in one message (see
    /// [`Tail`]): what was announced, notified and deferred, then, when
    /// the list clock moves, a read of the list leases in force, then
    /// `COMMIT`. When any of them failed it rolls back instead (a round
    /// trip more) and returns the first statement's error. Then say
    /// [`Self::finished`].
    pub(super) async fn commit_with<'a>(
        &'a self,
        writes: Vec<Pipelined<'a>>,
    ) -> std::result::Result<(), tokio_postgres::Error> {
        let deferred = std::mem::take(&mut *self.deferred.lock().unwrap_or_else(|p| p.into_inner()));
        let tail = Tail::of(deferred);
        let client = self.client();
        let (written, ended) = join(join_all(writes), client.simple_query(&tail.sql)).await;
        let ended = match (written.into_iter().find_map(|answer| answer.err()), ended) {
            (None, Ok(answers)) => answers,
            (Some(failed), _) | (None, Err(failed)) => {
                // The statements after the first failure did not run, the
                // `COMMIT` among them: end the transaction, so that the
                // connection goes back to the pool idle.
                let rolled_back = client.batch_execute("ROLLBACK").await;
                self.finished.store(rolled_back.is_ok(), Ordering::Relaxed);
                return Err(failed);
            }
        };
        self.finished.store(true, Ordering::Relaxed);
        let (moved_to, holders) = tail.read(&ended);
        if let Some(clock) = moved_to {
            self.leases.wrote(clock);
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
    tx.commit_with(Vec::new()).await?;
    tx.finished().await;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(template: &str, values: &[Literal]) -> String {
        let mut sql = String::new();
        render(template, values, &mut sql);
        sql
    }

    #[test]
    fn values_are_written_as_constants_that_nothing_in_them_can_end() {
        let hostile = Literal::Text(r"it's \'; DROP TABLE chat; --".to_owned());
        assert_eq!(
            rendered("SELECT pg_notify($1, $2)", &[Literal::Text("yhconv".into()), hostile]),
            r"SELECT pg_notify(E'yhconv', E'it''s \\''; DROP TABLE chat; --')"
        );
        assert_eq!(
            rendered(
                "SELECT $2 - $1::BIGINT, $10",
                &[
                    Literal::Int(-3),
                    Literal::Int(7),
                    Literal::Int(0),
                    Literal::Int(0),
                    Literal::Int(0),
                    Literal::Int(0),
                    Literal::Int(0),
                    Literal::Int(0),
                    Literal::Int(0),
                    Literal::Int(10)
                ]
            ),
            "SELECT (7) - (-3)::BIGINT, (10)"
        );
    }

    #[test]
    fn a_transactions_end_moves_the_clock_first_and_commits_last() {
        let tail = Tail::of(vec![
            Deferred::Notify("a".into()),
            Deferred::Announce("c1".into()),
            Deferred::Statement { sql: "SELECT $1", values: vec![Literal::Int(5)] },
        ]);
        let statements: Vec<&str> = tail.sql.split(";\n").collect();
        assert_eq!(statements.len(), 5, "{}", tail.sql);
        assert!(statements[0].contains("UPDATE list_clock"));
        assert!(statements[1].starts_with("SELECT pg_notify(E'yhconv_push', E'a')"), "{}", statements[1]);
        assert_eq!(statements[2], "SELECT (5)");
        assert!(statements[3].contains("FROM list_lease"));
        assert_eq!(statements[4], "COMMIT");
        assert_eq!((tail.announces, tail.in_force), (1, Some(3)));

        let quiet = Tail::of(vec![Deferred::Notify("a".into())]);
        assert!(quiet.sql.ends_with(";\nCOMMIT") && !quiet.sql.contains("list_lease"));
        assert_eq!((quiet.announces, quiet.in_force), (0, None));
    }
}
