//! List leases: list requests answered from the cache with no round trip
//! to PostgreSQL, and still exact.
//!
//! Without a lease, a list request learns from the database which changes
//! it must see (the feed's barrier: one round trip per burst of requests,
//! which is most of what a cached list costs). With one, the writers do
//! that work instead, and lists, which are read far more often than they
//! change, cost no round trip:
//!
//! - **Holding.** While its feed listens, an instance grants itself a lease
//!   (a `list_lease` row per listening session, expiring [`LEASE`] after
//!   the database's clock at the grant) and renews it every
//!   [`RENEW_EVERY`], through the feed's own connection: a feed that
//!   stopped reading it stops renewing. The grant takes the list clock's row (`FOR SHARE`),
//!   so it is ordered with every change: one committed before the grant is
//!   numbered at most the clock the grant read, and one committed after it
//!   finds the lease (below). The holder trusts a grant until
//!   [`TRUSTED_SHARE`] of the lease has passed since it sent it, by its own
//!   clock: never later than the row's expiry.
//! - **Writing.** A transaction that moves the list clock reads the leases
//!   in force once the clock's row is its own, in the pipeline of its
//!   `COMMIT`. Committed, and before it answers, it waits until each other
//!   holder said it handed the change on (a holder's feed NOTIFYs
//!   [`LEASE_CHANNEL`] with `holder:clock` after handing changes on to its
//!   cache), or until that lease has run out by the writer's own clock.
//!   Its own instance needs no word: it counts the change from the commit
//!   (see Reading).
//! - **Reading.** While a grant is trusted, a list request's clock is the
//!   highest of the grant's clock, what this instance's feed handed on and
//!   what this process committed: every change committed before the
//!   request began is numbered at most that, whether another process wrote
//!   and answered it (its writer waited for this holder), this one did, or
//!   it was committed before the grant.
//! - **Giving up.** When its feed stops listening, an instance stops
//!   trusting its lease at once, then deletes the row and says
//!   `holder:released`, so that writers stop waiting for it. A holder that
//!   vanishes without a word delays the writes of that moment by at most
//!   one [`LEASE`].
//!
//! A process with no feed (`yhconv admin`) holds no lease and hears no
//! holder: its list changes wait until the leases they found run out.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use tokio::sync::watch;
use tokio_postgres::{Client, Statement};

use crate::domain::error::Result;
use crate::domain::model::LeaseWaitStats;

/// The channel holders say what they handed on (and that they let go) on.
pub(super) const LEASE_CHANNEL: &str = "yhconv_lease";
/// How long a grant lasts, from the database's clock at the grant: the
/// longest a vanished holder can hold up a write.
pub(super) const LEASE: Duration = Duration::from_millis(1_000);
/// How often a holder renews its lease.
const RENEW_EVERY: Duration = Duration::from_millis(200);
/// The share of a lease a holder trusts, from when it sent the grant: a
/// margin for clocks of two machines running at slightly different rates.
const TRUSTED_SHARE: f64 = 0.9;
/// What a holder says when it lets its lease go.
const RELEASED: &str = "released";
/// Most holders remembered (one per listening session of any instance);
/// forgetting them is safe (their writers then wait out the leases).
const REMEMBERED_HOLDERS: usize = 4_096;

/// Grants or renews a lease (`$1` the holder, `$2` its length in ms), in
/// one statement that holds the list clock's row until it commits, and
/// returns the clock.
const GRANT: &str = "WITH clock AS (SELECT value FROM list_clock WHERE id = 1 FOR SHARE), \
     granted AS (INSERT INTO list_lease (holder, expires_at) \
         VALUES ($1, now() + $2::float8 * interval '1 millisecond') \
         ON CONFLICT (holder) DO UPDATE SET expires_at = excluded.expires_at RETURNING holder) \
     SELECT clock.value FROM clock, granted";
/// The leases in force, each with the ms left by the database's clock as
/// the statement runs (so never less than is left once it is answered).
pub(super) const IN_FORCE: &str = "SELECT holder, \
     extract(epoch FROM expires_at - clock_timestamp())::float8 * 1000 AS left_ms \
     FROM list_lease WHERE expires_at > clock_timestamp()";

/// What this process knows of list leases: its own, and what every holder
/// said it handed on.
pub(super) struct Leases {
    /// This instance's lease, while its feed listens.
    held: Mutex<Option<Held>>,
    /// The highest list clock each holder said it handed on (`i64::MAX`
    /// once it let go).
    handed_on: watch::Sender<HashMap<i64, i64>>,
    /// The highest list clock this instance's feed handed on.
    own: watch::Sender<i64>,
    /// The highest one of those that another process wrote, as far as this
    /// one knows: what its holder must say (nobody waits to hear of a
    /// process's own changes: it counts them from their commit).
    to_say: watch::Sender<i64>,
    /// The list clocks of changes this process committed that its feed has
    /// not handed on yet.
    written: Mutex<BTreeSet<i64>>,
    /// What this process's writers waited for, for `/metrics`.
    waits: WaitCounters,
}

/// Running totals behind [`LeaseWaitStats`].
#[derive(Debug, Default)]
struct WaitCounters {
    changes: AtomicU64,
    micros: AtomicU64,
    ran_out: AtomicU64,
}

/// A lease held by this instance.
#[derive(Debug, Clone, Copy)]
struct Held {
    holder: i64,
    /// Until when the last grant is trusted; `None` before the first.
    trusted_until: Option<Instant>,
    /// The list clock the last grant read.
    clock: i64,
}

/// What a committed list change waits for before it answers.
#[derive(Debug)]
pub(super) struct Handoff {
    /// The change's list clock.
    pub clock: i64,
    /// The leases in force at the change: (holder, ms left).
    pub holders: Vec<(i64, f64)>,
    /// When the commit was answered (the leases' time left counts from it).
    pub answered_at: Instant,
}

impl Default for Leases {
    fn default() -> Self {
        Self {
            held: Mutex::default(),
            handed_on: watch::Sender::new(HashMap::new()),
            own: watch::Sender::new(0),
            to_say: watch::Sender::new(0),
            written: Mutex::default(),
            waits: WaitCounters::default(),
        }
    }
}

impl Leases {
    /// The list clock a request that begins now must see, with no round
    /// trip: `Some` while this instance holds a trusted lease.
    pub(super) fn clock_at_hand(&self) -> Option<i64> {
        let held = (*self.held.lock().unwrap_or_else(|p| p.into_inner()))?;
        held.trusted_until.filter(|until| Instant::now() < *until)?;
        // This process's own changes its feed has not handed on yet count
        // too: a request may follow their writers' answers (which do not
        // wait for this feed) or a push of one of them.
        let written = self.written.lock().unwrap_or_else(|p| p.into_inner()).last().copied().unwrap_or(i64::MIN);
        Some(held.clock.max(*self.own.borrow()).max(written))
    }

    /// This process committed the list change numbered `clock`.
    pub(super) fn wrote(&self, clock: i64) {
        if self.held.lock().unwrap_or_else(|p| p.into_inner()).is_none() {
            // No feed hands changes on here: nothing to tell apart.
            return;
        }
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        if clock > *self.own.borrow() {
            written.insert(clock);
        }
    }

    /// The feed handed on the list change numbered `clock`.
    pub(super) fn handed_on(&self, clock: i64) {
        let mine = {
            let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
            let mine = written.remove(&clock);
            // The feed hands changes on in commit order: earlier ones it
            // has not handed on by now it never will (a resync covered them).
            while written.first().is_some_and(|&first| first < clock) {
                written.pop_first();
            }
            self.own.send_if_modified(|own| {
                let moved = clock > *own;
                *own = (*own).max(clock);
                moved
            });
            mine
        };
        if !mine {
            self.to_say.send_if_modified(|to_say| {
                let moved = clock > *to_say;
                *to_say = (*to_say).max(clock);
                moved
            });
        }
    }

    /// A holder's word on [`LEASE_CHANNEL`]: `holder:clock` or
    /// `holder:released`.
    pub(super) fn heard(&self, payload: &str) {
        let Some((holder, said)) = payload.split_once(':') else { return };
        let Ok(holder) = holder.parse::<i64>() else { return };
        let clock = if said == RELEASED { i64::MAX } else { said.parse::<i64>().unwrap_or(i64::MIN) };
        self.note(holder, clock);
    }

    fn note(&self, holder: i64, clock: i64) {
        self.handed_on.send_if_modified(|handed_on| {
            if handed_on.len() >= REMEMBERED_HOLDERS && !handed_on.contains_key(&holder) {
                handed_on.clear();
            }
            let known = handed_on.entry(holder).or_insert(i64::MIN);
            let moved = clock > *known;
            *known = (*known).max(clock);
            moved
        });
    }

    /// Waits until every holder of `handoff` handed its change on, or its
    /// lease ran out.
    pub(super) async fn wait(&self, handoff: Handoff) {
        // Not for this process's own lease: its lists count their own
        // changes from the commit ([`Self::clock_at_hand`]).
        let own = self.held.lock().unwrap_or_else(|p| p.into_inner()).map(|held| held.holder);
        let mut heard = self.handed_on.subscribe();
        let mut others = handoff.holders.into_iter().filter(|(holder, _)| Some(*holder) != own).peekable();
        if others.peek().is_none() {
            return;
        }
        let began = Instant::now();
        for (holder, left_ms) in others {
            // At most one lease: no grant is longer.
            let left = Duration::from_secs_f64((left_ms / 1_000.0).clamp(0.0, LEASE.as_secs_f64()));
            let deadline = handoff.answered_at + left;
            let handed_on = heard.wait_for(|known| known.get(&holder).is_some_and(|&c| c >= handoff.clock));
            if tokio::time::timeout_at(deadline.into(), handed_on).await.is_err() {
                self.waits.ran_out.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(holder, clock = handoff.clock, "a list lease ran out before its holder said so");
            }
        }
        self.waits.changes.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.waits.micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// What this process's writers waited for so far.
    pub(super) fn wait_stats(&self) -> LeaseWaitStats {
        LeaseWaitStats {
            changes: self.waits.changes.load(Ordering::Relaxed),
            seconds: self.waits.micros.load(Ordering::Relaxed) as f64 / 1e6,
            ran_out: self.waits.ran_out.load(Ordering::Relaxed),
        }
    }

    /// Holds a lease while the returned session lives: grants and renews it
    /// and says what the feed handed on, both through `feed` (the listening
    /// connection); `pool` deletes leases long run out, and this one when
    /// it is let go. Call once the feed listens, the list cache has
    /// resynced and the feed has caught up.
    pub(super) fn hold(self: &Arc<Self>, pool: &Pool, feed: Arc<Client>) -> Session {
        let holder = loop {
            let id = rand::random::<i64>();
            if id > 0 {
                break id;
            }
        };
        *self.held.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Held { holder, trusted_until: None, clock: i64::MIN });
        let renew = tokio::spawn(Arc::clone(self).renew(pool.clone(), Arc::clone(&feed), holder));
        let say = tokio::spawn(Arc::clone(self).say(feed, holder));
        Session { leases: Arc::clone(self), pool: pool.clone(), holder, tasks: [renew, say], let_go: false }
    }

    /// Grants the lease, then renews it, for ever, through the feed's own
    /// connection: a feed whose connection died, or that stopped reading
    /// it (its hub behind), stops renewing, and its lease runs out by
    /// itself.
    async fn renew(self: Arc<Self>, pool: Pool, feed: Arc<Client>, holder: i64) {
        if let Err(e) = forget_old_leases(&pool).await {
            tracing::debug!(error = %e, "cannot delete old list leases");
        }
        let mut failing = false;
        let mut statement = None;
        loop {
            let sent = Instant::now();
            match grant(&feed, &mut statement, holder).await {
                Ok(clock) => {
                    failing = false;
                    let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(held) = held.as_mut().filter(|held| held.holder == holder) {
                        held.trusted_until = Some(sent + LEASE.mul_f64(TRUSTED_SHARE));
                        held.clock = held.clock.max(clock);
                    }
                }
                // Said once per outage; once the lease runs out, lists
                // learn the clock from the database, as without one.
                Err(e) if !std::mem::replace(&mut failing, true) => {
                    tracing::warn!(error = %e, "cannot renew the list lease")
                }
                Err(e) => tracing::debug!(error = %e, "cannot renew the list lease"),
            }
            tokio::time::sleep(RENEW_EVERY).await;
        }
    }

    /// Says what the feed handed on whenever that covers a change another
    /// process wrote, one word at a time, for ever.
    async fn say(self: Arc<Self>, feed: Arc<Client>, holder: i64) {
        let notify = match feed.prepare(super::NOTIFY).await {
            Ok(notify) => notify,
            Err(e) => {
                // A holder that cannot speak must not be trusted: writers
                // would wait for it.
                tracing::warn!(error = %e, "cannot say what the feed handed on: giving up the list lease");
                *self.held.lock().unwrap_or_else(|p| p.into_inner()) = None;
                return;
            }
        };
        let mut to_say = self.to_say.subscribe();
        let mut said = i64::MIN;
        loop {
            if *to_say.borrow_and_update() > said {
                // All this feed handed on, which covers what must be said.
                let clock = *self.own.borrow();
                let word = format!("{holder}:{clock}");
                match feed.execute(&notify, &[&LEASE_CHANNEL, &word]).await {
                    Ok(_) => said = clock,
                    // The feed's connection is failing: the feed will end
                    // this session.
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot say what the feed handed on");
                        tokio::time::sleep(RENEW_EVERY).await;
                    }
                }
                continue;
            }
            if to_say.changed().await.is_err() {
                return;
            }
        }
    }
}

/// A lease held while this lives (see [`Leases::hold`]); dropped, the
/// instance stops trusting it at once, then lets it go.
pub(super) struct Session {
    leases: Arc<Leases>,
    pool: Pool,
    holder: i64,
    tasks: [tokio::task::JoinHandle<()>; 2],
    /// [`Session::let_go`] deleted the row already.
    let_go: bool,
}

impl Session {
    /// Lets the lease go now, and returns once the database knows: writers
    /// through every instance stop waiting for this one. For a feed that
    /// stops for good (the process shuts down), where a release spawned on
    /// drop could die with the runtime.
    pub(super) async fn let_go(mut self) {
        self.stop_trusting();
        self.let_go = true;
        if let Err(e) = release(&self.pool, self.holder).await {
            tracing::warn!(error = %e, "cannot let the list lease go: writers wait until it runs out");
        }
    }

    /// This instance stops trusting its lease, stops renewing it and
    /// saying what its feed handed on, and its own writers stop waiting
    /// for it (its feed may be gone, and with it the word it says).
    fn stop_trusting(&self) {
        *self.leases.held.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.leases.note(self.holder, i64::MAX);
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.let_go {
            return;
        }
        self.stop_trusting();
        let (pool, holder) = (self.pool.clone(), self.holder);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = release(&pool, holder).await {
                    tracing::debug!(error = %e, "cannot let the list lease go: writers wait until it runs out");
                }
            });
        }
    }
}

/// Grants or renews `holder`'s lease through `feed` (preparing the
/// statement the first time); the list clock it read.
async fn grant(feed: &Client, statement: &mut Option<Statement>, holder: i64) -> Result<i64> {
    let statement = match statement {
        Some(statement) => statement,
        None => statement.insert(feed.prepare(GRANT).await?),
    };
    let lease_ms = LEASE.as_secs_f64() * 1_000.0;
    Ok(feed.query_one(statement, &[&holder, &lease_ms]).await?.try_get(0)?)
}

/// Deletes `holder`'s lease and says so, in one transaction.
async fn release(pool: &Pool, holder: i64) -> Result<()> {
    let client = pool.get().await?;
    let word = format!("{holder}:{RELEASED}");
    client
        .execute(
            "WITH gone AS (DELETE FROM list_lease WHERE holder = $1) SELECT pg_notify($2, $3)",
            &[&holder, &LEASE_CHANNEL, &word],
        )
        .await?;
    Ok(())
}

/// Deletes leases that ran out long ago (instances gone without a word).
async fn forget_old_leases(pool: &Pool) -> Result<()> {
    let client = pool.get().await?;
    client.execute("DELETE FROM list_lease WHERE expires_at < now() - interval '1 hour'", &[]).await?;
    Ok(())
}
