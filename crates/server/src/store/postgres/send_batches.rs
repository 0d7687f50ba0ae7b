//! Sends into one chat through this instance, stored together.
//!
//! Every send into a chat holds the chat's row from its message's insert to
//! its commit, so the sends into one busy chat take turns at PostgreSQL,
//! each paying for a whole transaction: its round trip, the list clock's
//! move, the commit, and the wait for the other instances' word under list
//! leases. Here a send that finds none of this instance's transactions
//! under way in its chat goes at once, alone; the sends that arrive while
//! one is under way wait for it, then go together in the next, up to
//! [`MAX_BATCH`] (group commit). Nothing is answered before the
//! transaction that stored it committed. A batch that fails (a retried
//! msg_id, a sender gagged meanwhile) rolls back whole, and its messages
//! are stored again one at a time, each getting its own answer.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use deadpool_postgres::Pool;
use tokio::sync::oneshot;

use super::append;
use super::leases::Leases;
use super::pipelined::Tx;
use crate::domain::error::{Error, Result};
use crate::domain::event::ChatRef;
use crate::domain::model::{Appended, NewMessage, SendBatchStats};

/// Most messages one transaction stores.
const MAX_BATCH: usize = 32;

/// The sends waiting, by chat, while a writer of this instance is under way
/// in it.
#[derive(Default)]
pub(super) struct SendBatches {
    /// A chat is here while its writer runs, with the sends waiting for it.
    chats: Mutex<HashMap<i64, ChatQueue>>,
    /// Transactions that stored more than one message, and those messages.
    batches: AtomicU64,
    batched: AtomicU64,
    /// Sends taken from their queue and not answered yet.
    storing: AtomicU64,
}

/// The sends waiting for one chat's writer.
struct ChatQueue {
    waiting: VecDeque<Queued>,
    /// The latest send time queued so far: one queued later, so stored with
    /// a higher sequence number, gets at least this time. (Only while the
    /// chat has a writer: a send whose time was taken just before another's
    /// and that reaches an idle chat just after it may still show a time a
    /// moment earlier, as sends through two instances may.)
    last_sent_ms: i64,
}

/// A send waiting for its chat's writer.
struct Queued {
    msg: NewMessage,
    answer: oneshot::Sender<Result<Appended>>,
}

impl SendBatches {
    /// Stores `msg` in `chat`: at once when no writer of this instance is
    /// under way in it, or else with the other sends that arrive meanwhile,
    /// in the writer's next transaction. A send queued behind another gets
    /// at least its send time, so the send times of a chat's messages
    /// through this instance never go back as their sequence numbers grow.
    /// Answers once it is committed (and the list leases' holders have it).
    pub(super) async fn append(
        self: &Arc<Self>,
        pool: &Pool,
        leases: &Arc<Leases>,
        chat: ChatRef,
        mut msg: NewMessage,
    ) -> Result<Appended> {
        let (answer, answered) = oneshot::channel();
        let first = {
            let mut chats = self.chats.lock().unwrap_or_else(|p| p.into_inner());
            match chats.entry(chat.0) {
                Entry::Occupied(mut queue) => {
                    let queue = queue.get_mut();
                    msg.sent_ms = msg.sent_ms.max(queue.last_sent_ms);
                    queue.last_sent_ms = msg.sent_ms;
                    queue.waiting.push_back(Queued { msg, answer });
                    false
                }
                Entry::Vacant(idle) => {
                    let last_sent_ms = msg.sent_ms;
                    idle.insert(ChatQueue { waiting: VecDeque::from([Queued { msg, answer }]), last_sent_ms });
                    true
                }
            }
        };
        if first {
            // A task of its own: a request dropped mid-way (its client gone)
            // must not leave the sends queued behind it waiting for ever.
            tokio::spawn(Arc::clone(self).write(pool.clone(), Arc::clone(leases), chat));
        }
        answered
            .await
            .unwrap_or_else(|_| Err(Error::Internal(anyhow::anyhow!("the chat's writer stopped before answering"))))
    }

    /// Running totals, for `/metrics`.
    pub(super) fn stats(&self) -> SendBatchStats {
        let waiting =
            self.chats.lock().unwrap_or_else(|p| p.into_inner()).values().map(|q| q.waiting.len()).sum::<usize>();
        SendBatchStats {
            batches: self.batches.load(Ordering::Relaxed),
            messages: self.batched.load(Ordering::Relaxed),
            waiting: waiting as u64,
            storing: self.storing.load(Ordering::Relaxed),
        }
    }

    /// The chat's writer: stores what waits, a batch at a time, until
    /// nothing does.
    async fn write(self: Arc<Self>, pool: Pool, leases: Arc<Leases>, chat: ChatRef) {
        // Ends the chat's turn however this task ends: a send arriving
        // afterwards starts a writer of its own, and the sends still
        // queued (after a panic) are answered with an error.
        let mut writing = Writing { batches: &self, chat, ended: false, storing: 0 };
        loop {
            let batch: Vec<Queued> = {
                let mut chats = self.chats.lock().unwrap_or_else(|p| p.into_inner());
                let Some(ChatQueue { waiting, .. }) = chats.get_mut(&chat.0) else { return };
                if waiting.is_empty() {
                    chats.remove(&chat.0);
                    // Under the lock: a send from now on starts a writer of
                    // its own, whose entry this one must not touch.
                    writing.ended = true;
                    return;
                }
                let take = waiting.len().min(MAX_BATCH);
                // Under the lock: a send is always counted waiting or storing.
                self.storing.fetch_add(take as u64, Ordering::Relaxed);
                writing.storing = take as u64;
                waiting.drain(..take).collect()
            };
            self.store(&pool, &leases, chat, batch).await;
            self.storing.fetch_sub(std::mem::take(&mut writing.storing), Ordering::Relaxed);
        }
    }

    /// Stores one batch and answers each of its sends.
    async fn store(&self, pool: &Pool, leases: &Arc<Leases>, chat: ChatRef, batch: Vec<Queued>) {
        let (msgs, answers): (Vec<NewMessage>, Vec<_>) = batch.into_iter().map(|q| (q.msg, q.answer)).unzip();
        if msgs.len() > 1 {
            let together = async { append::append_messages(Tx::new(pool.get().await?, leases), chat, &msgs).await };
            match together.await {
                Ok(seqs) => {
                    self.batches.fetch_add(1, Ordering::Relaxed);
                    self.batched.fetch_add(seqs.len() as u64, Ordering::Relaxed);
                    for (seq, answer) in seqs.into_iter().zip(answers) {
                        let _ = answer.send(Ok(Appended::New { seq }));
                    }
                    return;
                }
                Err(e) => {
                    tracing::debug!(error = %e, chat = chat.0, "a batch of sends failed: storing them one at a time")
                }
            }
        }
        for (msg, answer) in msgs.into_iter().zip(answers) {
            let alone = async { append::append_message(Tx::new(pool.get().await?, leases), chat, msg).await };
            let _ = answer.send(alone.await);
        }
    }
}

/// A chat's turn to write; dropped before it ended (a panic), the chat is
/// free again, the sends still waiting are answered with an error, and the
/// batch under way no longer counts as being stored.
struct Writing<'a> {
    batches: &'a SendBatches,
    chat: ChatRef,
    /// The writer found nothing waiting and gave the chat up itself.
    ended: bool,
    /// Sends of the batch under way, counted in [`SendBatches::storing`].
    storing: u64,
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        self.batches.storing.fetch_sub(self.storing, Ordering::Relaxed);
        if !self.ended {
            self.batches.chats.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.chat.0);
        }
    }
}
