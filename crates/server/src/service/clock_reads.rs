//! One read of the list clock for every list request waiting at once.
//!
//! A list request may trust its cached list only against a clock read that
//! began after the request did ([`crate::domain::store::Store::list_clock`]:
//! every change committed before the request began is then counted). Such a
//! read can serve every request that was already waiting when it began, so
//! requests that arrive while a read is under way wait for the next one,
//! which starts as soon as the current one ends and serves them all; before
//! it begins, the requests the runtime is about to run get a few turns to
//! join it. Under load this turns one database round trip per list into one
//! per burst (with PostgreSQL the round trip, not the cache, is what a list
//! hit costs the database); an idle server reads once per request.
//!
//! A store that can vouch for the clock with no round trip (a PostgreSQL
//! instance holding a list lease: `Store::list_clock_at_hand`) answers at
//! once instead.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

use crate::domain::error::{Error, Result};
use crate::domain::list_change::ListClock;
use crate::domain::store::Store;

/// Turns of the runtime a read waits at most for requests that are about
/// to ask for one (see [`ClockReads::serve`]).
const JOIN_TURNS: usize = 4;

/// The requests waiting for a clock read, and whether one is under way.
pub struct ClockReads {
    store: Arc<dyn Store>,
    waiting: Mutex<Waiting>,
    /// Requests answered with no round trip.
    at_hand: AtomicU64,
    /// Requests answered by a read of the store's clock.
    read: AtomicU64,
}

/// How list requests learned the list clock, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockReadStats {
    /// With no round trip (under a list lease).
    pub at_hand: u64,
    /// Through a read of the store's clock (shared by the requests of a burst).
    pub read: u64,
}

#[derive(Default)]
struct Waiting {
    /// A reader task is running.
    reading: bool,
    /// Requests that arrived since the reader's last read began.
    next: Vec<oneshot::Sender<Result<ListClock>>>,
}

impl ClockReads {
    /// Reads of `store`'s list clock.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, waiting: Mutex::default(), at_hand: AtomicU64::new(0), read: AtomicU64::new(0) }
    }

    /// How the requests so far learned the clock.
    pub fn stats(&self) -> ClockReadStats {
        ClockReadStats { at_hand: self.at_hand.load(Ordering::Relaxed), read: self.read.load(Ordering::Relaxed) }
    }

    /// The list clock, read after this call began (or vouched for by the
    /// store as of now).
    pub async fn read(self: &Arc<Self>) -> Result<ListClock> {
        if let Some(clock) = self.store.list_clock_at_hand() {
            self.at_hand.fetch_add(1, Ordering::Relaxed);
            return Ok(clock);
        }
        self.read.fetch_add(1, Ordering::Relaxed);
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut waiting = self.lock();
            waiting.next.push(answer);
            !std::mem::replace(&mut waiting.reading, true)
        };
        if start {
            tokio::spawn(Arc::clone(self).serve());
        }
        answered.await.map_err(|_| Error::Internal(anyhow::anyhow!("the list clock's reader stopped")))?
    }

    /// Reads the clock for the requests waiting, again and again, until
    /// none is.
    async fn serve(self: Arc<Self>) {
        let mut reader = Reader { reads: &self, done: false };
        loop {
            // Requests already woken join this read before it begins: let
            // them run while they keep arriving (a few turns at most).
            let mut waiting_before = 0;
            for _ in 0..JOIN_TURNS {
                tokio::task::yield_now().await;
                let waiting_now = self.lock().next.len();
                if waiting_now == waiting_before {
                    break;
                }
                waiting_before = waiting_now;
            }
            let waiters = {
                let mut waiting = self.lock();
                if waiting.next.is_empty() {
                    // Under the lock: a request that comes next starts a
                    // new reader.
                    waiting.reading = false;
                    reader.done = true;
                    return;
                }
                std::mem::take(&mut waiting.next)
            };
            let clock = self.store.list_clock().await;
            for waiter in waiters {
                let _ = waiter.send(match &clock {
                    Ok(clock) => Ok(*clock),
                    Err(e) => Err(shared_error(e)),
                });
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A reader task that ends without saying so (a panic): the requests
/// waiting get an error instead of waiting for ever, and the next request
/// starts a new reader.
struct Reader<'a> {
    reads: &'a ClockReads,
    done: bool,
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if !self.done {
            let mut waiting = self.reads.lock();
            waiting.reading = false;
            waiting.next.clear();
        }
    }
}

/// A store error as each waiting request gets it.
fn shared_error(e: &Error) -> Error {
    match e {
        Error::Unavailable(why) => Error::Unavailable(why.clone()),
        other => Error::Internal(anyhow::anyhow!("reading the list clock: {other:#}")),
    }
}
