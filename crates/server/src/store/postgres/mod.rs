//! The PostgreSQL store, for several server instances on one database.
//!
//! A connection pool (deadpool) serves requests; one more connection
//! LISTENs for new messages so that every instance pushes every message
//! (see [`feed`]). Concurrency rests on row locks under READ COMMITTED: a
//! send locks its chat row, so sequence numbers are gap-free and unique and a
//! retried `msg_id` is seen by the second sender; unread counts are derived
//! (`last_seq - read_seq`), never incremented, so none can be lost. Writes
//! run through [`pipelined`]: `BEGIN` travels with their first statement,
//! and their notifications and `COMMIT` with their last.

mod append;
mod chats;
mod drafts;
mod edits;
mod feed;
mod groups;
mod identities;
pub mod import;
mod leases;
mod pins;
mod pipelined;
mod send_batches;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::{NoTls, Row};
use yhconv_proto::ChatType;

use self::pipelined::transact;
use crate::domain::clock::now_ms;
use crate::domain::error::{Error, Result};
use crate::domain::event::{ChatRef, Event, EventSink, MessageKey, SocketOrigin, TokenHash};
use crate::domain::ids::Id;
use crate::domain::list_change::{ListClock, ListFact, ListSink};
use crate::domain::model::*;
use crate::domain::store::Store;
pub(super) use crate::store::columns::{entity_select, EntityColumns, ENTITY, SENDER};

/// Schema migrations, applied in order under an advisory lock.
const MIGRATIONS: &[&str] = &[
    include_str!("0001_init.sql"),
    include_str!("0002_identity_epoch.sql"),
    include_str!("0003_message_by_sent_ms.sql"),
    include_str!("0004_email_lowercase.sql"),
    include_str!("0005_pins.sql"),
    include_str!("0006_edit_recall.sql"),
    include_str!("0007_list_changes.sql"),
    include_str!("0008_groups_friends.sql"),
    include_str!("0009_drafts.sql"),
    include_str!("0010_list_leases.sql"),
    include_str!("0011_refuse.sql"),
];
/// Advisory lock key held while migrating ("yhconv" in ASCII, as a number).
const MIGRATION_LOCK: i64 = 0x7968_636f_6e76;
/// The channel events are announced on (as [`Event::encode`] writes them).
const PUSH_CHANNEL: &str = "yhconv_push";
/// Longest [`Store::stop_feed`] waits for the feed to let its lease go.
const FEED_STOP_WAIT: Duration = Duration::from_secs(5);
/// An import this large refreshes the planner's statistics at once.
const BULK_IMPORT_ROWS: usize = 1_000;

/// Connection settings for [`PostgresStore::connect`].
#[derive(Debug, Clone)]
pub struct PgSettings {
    /// Most pooled connections. Default 16.
    pub pool_size: usize,
    /// Longest wait for one connection attempt or a free pooled connection. Default 5 s.
    pub connect_timeout: Duration,
    /// How long start-up keeps retrying an unavailable database. Default 60 s.
    pub startup_wait: Duration,
}

impl Default for PgSettings {
    fn default() -> Self {
        Self { pool_size: 16, connect_timeout: Duration::from_secs(5), startup_wait: Duration::from_secs(60) }
    }
}

/// PostgreSQL-backed [`Store`].
pub struct PostgresStore {
    pool: Pool,
    config: tokio_postgres::Config,
    lists: Arc<ListWatch>,
    /// Answers once the feed's thread has ended.
    feed: Mutex<Option<tokio::sync::oneshot::Receiver<()>>>,
    /// Sends into one chat, stored together while one is under way.
    sends: Arc<send_batches::SendBatches>,
}

/// The list cache watching this store's list changes, a wake-up for the
/// feed when it starts watching (the feed then reads the list clock and
/// resyncs it), the feed's connection as a barrier for list requests, and
/// the list leases (this instance's, and what every holder handed on).
#[derive(Default)]
pub(super) struct ListWatch {
    sink: Mutex<Option<Arc<dyn ListSink>>>,
    attached: tokio::sync::Notify,
    barrier: feed::Barrier,
    leases: Arc<leases::Leases>,
    /// Set once: the feed lets its lease go and stops.
    stopping: tokio::sync::watch::Sender<bool>,
}

impl ListWatch {
    /// Tells the feed to let its lease go and stop.
    pub(super) fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// The sink, if the list cache watches.
    pub(super) fn sink(&self) -> Option<Arc<dyn ListSink>> {
        self.sink.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Internal(e.into())
    }
}

impl From<deadpool_postgres::PoolError> for Error {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Self::Internal(anyhow::anyhow!("database unavailable: {e}"))
    }
}

impl PostgresStore {
    /// Connects to `url` and migrates, retrying with backoff while the
    /// database is unavailable for up to `settings.startup_wait`.
    pub async fn connect(url: &str, settings: &PgSettings) -> anyhow::Result<Self> {
        let mut config: tokio_postgres::Config = url.parse().context("bad PostgreSQL URL")?;
        config.connect_timeout(settings.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("yhconv");
        }
        let manager =
            Manager::from_config(config.clone(), NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size.max(1))
            .wait_timeout(Some(settings.connect_timeout))
            .create_timeout(Some(settings.connect_timeout))
            .recycle_timeout(Some(settings.connect_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .context("building the connection pool")?;
        let store = Self { pool, config, lists: Arc::default(), feed: Mutex::default(), sends: Arc::default() };
        let deadline = tokio::time::Instant::now() + settings.startup_wait;
        let mut delay = Duration::from_millis(200);
        loop {
            match store.migrate().await {
                Ok(()) => return Ok(store),
                Err(e) if tokio::time::Instant::now() + delay < deadline => {
                    tracing::warn!(error = %format!("{e:#}"), retry_in = ?delay, "database not ready");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(e.context("database unavailable")),
            }
        }
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INT PRIMARY KEY, applied_ms BIGINT NOT NULL)",
        )
        .await?;
        let applied: i32 = tx.query_one("SELECT coalesce(max(version), 0) FROM schema_migrations", &[]).await?.get(0);
        if applied as usize > MIGRATIONS.len() {
            anyhow::bail!("database schema version {applied} is newer than this yhconv knows ({})", MIGRATIONS.len());
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
            tx.batch_execute(sql).await.with_context(|| format!("migration {}", index + 1))?;
            let version = index as i32 + 1;
            tx.execute("INSERT INTO schema_migrations (version, applied_ms) VALUES ($1, $2)", &[&version, &now_ms()])
                .await?;
            tracing::info!(version, "applied schema migration");
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Reads an [`Entity`] from the columns `columns` names.
pub(super) fn entity_from(row: &Row, columns: &EntityColumns) -> Result<Entity> {
    let [id, kind, name, avatar_url, avatar_id, level] = columns.0;
    let code: i16 = row.try_get(kind)?;
    Ok(Entity {
        id: Id::from_raw(row.try_get(id)?),
        kind: ChatType::from_code(code as u64)
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("stored chat kind {code} is unknown")))?,
        name: row.try_get(name)?,
        avatar_url: row.try_get(avatar_url)?,
        avatar_id: row.try_get(avatar_id)?,
        certification_level: row.try_get(level)?,
    })
}

/// Notifies the channel `$1` with the payload `$2`.
pub(super) const NOTIFY: &str = "SELECT pg_notify($1, $2)";

/// Notifies the channel `$1` of the message `$4` messages before the last
/// of the chat `$3`: the payload is `$2` ([`Event::message_payload_prefix`])
/// and its sequence number, the chat's `last_seq` less `$4`, which is
/// [`Event::Message`]'s text.
pub(super) const NOTIFY_MESSAGE: &str =
    "SELECT pg_notify($1::text, $2::text || (last_seq - $4::BIGINT)::text) FROM chat WHERE id = $3";

/// Moves the list clock and announces facts with its new value to every
/// instance, in one statement (`$1` the channel, `$2` the payload prefix,
/// `$3` the encoded facts), and returns the value: the clock row stays
/// locked until the transaction commits, so clock values follow commit
/// order without gaps (see [`crate::domain::list_change`]).
/// [`pipelined::Tx::announce`] sends it in one pipeline with the `COMMIT`,
/// so that the lock is held briefly.
pub(super) const ANNOUNCE_LISTS: &str =
    "WITH moved AS (UPDATE list_clock SET value = value + 1 WHERE id = 1 RETURNING value) \
     SELECT moved.value, pg_notify($1::text, $2::text || moved.value::text || ':' || $3::text) FROM moved";

#[async_trait]
impl Store for PostgresStore {
    async fn apply_identities(&self, batch: IdentityBatch) -> Result<ImportStats> {
        let stats = transact(&self.pool, &self.lists.leases, |tx| {
            Box::pin(async move {
                let stats = identities::apply(tx, &batch).await?;
                tx.announce(&[ListFact::Identities]);
                Ok(stats)
            })
        })
        .await?;
        if stats.users + stats.memberships + stats.bots + stats.remarks >= BULK_IMPORT_ROWS {
            // Autovacuum would refresh the statistics within a minute or so;
            // until then the planner, seeing tables far smaller than they
            // are, picks sequential scans for every list.
            self.pool.get().await?.batch_execute("ANALYZE entity, account, chat, member, remark").await?;
        }
        Ok(stats)
    }

    async fn entity(&self, id: Id) -> Result<Option<Entity>> {
        let client = self.pool.get().await?;
        let sql = format!("SELECT {} FROM entity e WHERE e.id = $1", entity_select("e", &ENTITY));
        let stmt = client.prepare_cached(&sql).await?;
        client.query_opt(&stmt, &[&id.get()]).await?.map(|r| entity_from(&r, &ENTITY)).transpose()
    }

    async fn credentials(&self, email: &str) -> Result<Option<(Id, Option<String>)>> {
        let client = self.pool.get().await?;
        let stmt = client.prepare_cached("SELECT user_id, password_hash FROM account WHERE email = $1").await?;
        match client.query_opt(&stmt, &[&email]).await? {
            Some(r) => Ok(Some((Id::from_raw(r.try_get("user_id")?), r.try_get("password_hash")?))),
            None => Ok(None),
        }
    }

    async fn profile(&self, user: Id) -> Result<Option<UserProfile>> {
        let client = self.pool.get().await?;
        let sql = format!(
            "SELECT {}, coalesce(a.email, '') AS email, coalesce(a.phone, '') AS phone \
             FROM entity e LEFT JOIN account a ON a.user_id = e.id WHERE e.id = $1 AND e.kind = 1",
            entity_select("e", &ENTITY)
        );
        let stmt = client.prepare_cached(&sql).await?;
        match client.query_opt(&stmt, &[&user.get()]).await? {
            Some(r) => Ok(Some(UserProfile {
                entity: entity_from(&r, &ENTITY)?,
                email: r.try_get("email")?,
                phone: r.try_get("phone")?,
            })),
            None => Ok(None),
        }
    }

    async fn identity_epoch(&self) -> Result<i64> {
        let client = self.pool.get().await?;
        let stmt = client.prepare_cached("SELECT value FROM meta WHERE key = 'identity_epoch'").await?;
        Ok(client.query_one(&stmt, &[]).await?.try_get("value")?)
    }

    /// Through the feed's connection while it listens (an empty query:
    /// see [`feed::Barrier`]), else one point read. The identity epoch is
    /// left at 0: here it moves only with an identities list change, which
    /// the clock numbers like any other.
    async fn list_clock(&self) -> Result<ListClock> {
        let changes = match self.lists.barrier.pass().await {
            Some(clock) => clock,
            None => feed::read_list_clock(&self.pool).await?,
        };
        Ok(ListClock { identity_epoch: 0, changes: Some(changes) })
    }

    /// While this instance holds a list lease (see [`leases`]).
    fn list_clock_at_hand(&self) -> Option<ListClock> {
        let changes = self.lists.leases.clock_at_hand()?;
        Some(ListClock { identity_epoch: 0, changes: Some(changes) })
    }

    fn lease_wait_stats(&self) -> Option<LeaseWaitStats> {
        Some(self.lists.leases.wait_stats())
    }

    fn orders_send_times(&self) -> bool {
        true
    }

    fn send_batch_stats(&self) -> Option<SendBatchStats> {
        Some(self.sends.stats())
    }

    async fn insert_token(&self, token: NewToken) -> Result<()> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO token (hash, user_id, device_id, platform, created_ms) VALUES ($1, $2, $3, $4, $5)",
            )
            .await?;
        client
            .execute(
                &stmt,
                &[&&token.hash[..], &token.user.get(), &token.device_id, &token.platform, &token.created_ms],
            )
            .await?;
        Ok(())
    }

    async fn token_user(&self, hash: TokenHash) -> Result<Option<Id>> {
        let client = self.pool.get().await?;
        let stmt = client.prepare_cached("SELECT user_id FROM token WHERE hash = $1").await?;
        match client.query_opt(&stmt, &[&&hash[..]]).await? {
            Some(r) => Ok(Some(Id::from_raw(r.try_get("user_id")?))),
            None => Ok(None),
        }
    }

    async fn delete_token(&self, hash: TokenHash) -> Result<bool> {
        transact(&self.pool, &self.lists.leases, |tx| {
            Box::pin(async move {
                let stmt = tx.prepare_cached("DELETE FROM token WHERE hash = $1").await?;
                let deleted = tx.execute(&stmt, &[&&hash[..]]).await? > 0;
                if deleted {
                    // The token caches forget it before the hubs close its sockets.
                    tx.announce(&[ListFact::Revoked(hash)]);
                    tx.notify(&Event::LoggedOut(hash));
                }
                Ok(deleted)
            })
        })
        .await
    }

    async fn read_position(&self, user: Id, peer: Id) -> Result<Option<(Entity, Option<ReadPosition>)>> {
        let client = self.pool.get().await?;
        chats::read_position(&client, user, peer).await
    }

    async fn conversations(&self, user: Id) -> Result<Vec<ConversationRow>> {
        let client = self.pool.get().await?;
        chats::conversations(&client, user).await
    }

    async fn conversations_with(&self, user: Id, peers: Vec<Id>) -> Result<Vec<ConversationRow>> {
        let client = self.pool.get().await?;
        chats::conversations_with(&client, user, &peers).await
    }

    async fn open_conversation(&self, user: Id, peer: &Entity) -> Result<ChatRef> {
        let peer = peer.clone();
        transact(&self.pool, &self.lists.leases, |tx| {
            Box::pin(async move { chats::open_conversation(tx, user, &peer).await })
        })
        .await
    }

    async fn change_view(&self, user: Id, peer: Id, change: ViewChange) -> Result<Option<bool>> {
        transact(&self.pool, &self.lists.leases, |tx| {
            Box::pin(async move {
                let changed = chats::change_view(tx.client(), user, peer, change).await?;
                if changed == Some(true) {
                    tx.announce(&[ListFact::View { user, peer }]);
                }
                Ok(changed)
            })
        })
        .await
    }

    async fn append_message(&self, chat: ChatRef, msg: NewMessage) -> Result<Appended> {
        self.sends.append(&self.pool, &self.lists.leases, chat, msg).await
    }

    async fn messages(&self, chat: ChatRef, window: SeqWindow) -> Result<Vec<StoredMessage>> {
        chats::messages(&self.pool.get().await?, chat, window).await
    }

    async fn message_seq(&self, chat: ChatRef, msg_id: &str) -> Result<Option<i64>> {
        chats::message_seq(&self.pool.get().await?, chat, msg_id).await
    }

    async fn message_meta(&self, chat: ChatRef, msg_id: &str) -> Result<Option<MessageMeta>> {
        edits::message_meta(&self.pool.get().await?, chat, msg_id).await
    }

    async fn locate_message(&self, user: Id, msg_id: &str) -> Result<Option<(ChatRef, MessageMeta)>> {
        edits::locate_message(&self.pool.get().await?, user, msg_id).await
    }

    async fn edit_message(&self, chat: ChatRef, edit: MessageEdit) -> Result<()> {
        transact(&self.pool, &self.lists.leases, |tx| Box::pin(edits::edit_message(tx, chat, edit))).await
    }

    async fn recall_messages(&self, chat: ChatRef, recall: Recall) -> Result<()> {
        transact(&self.pool, &self.lists.leases, |tx| Box::pin(edits::recall_messages(tx, chat, recall))).await
    }

    async fn edit_records(&self, chat: ChatRef, seq: i64, limit: u32, offset: u32) -> Result<(Vec<EditRecord>, u64)> {
        edits::edit_records(&self.pool.get().await?, chat, seq, limit, offset).await
    }

    async fn role(&self, group: Id, user: Id) -> Result<Option<Role>> {
        edits::role(&self.pool.get().await?, group, user).await
    }

    async fn pushed_message(&self, key: MessageKey) -> Result<Option<AddressedMessage>> {
        let client = self.pool.get().await?;
        chats::pushed_message(&client, key).await
    }

    async fn members_among(&self, group: Id, candidates: Vec<Id>) -> Result<Vec<Id>> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "SELECT m.user_id AS user_id FROM member m JOIN entity e ON e.id = m.peer_id \
                 WHERE m.peer_id = $1 AND m.user_id = ANY($2) AND e.dismissed_ms = 0",
            )
            .await?;
        let ids: Vec<i64> = candidates.iter().map(|c| c.get()).collect();
        let rows = client.query(&stmt, &[&group.get(), &ids]).await?;
        rows.iter().map(|r| Ok(Id::from_raw(r.try_get("user_id")?))).collect()
    }

    async fn groups_of(&self, users: Vec<Id>) -> Result<Vec<(Id, Id)>> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "SELECT m.user_id AS user_id, m.peer_id AS group_id FROM member m \
                 JOIN chat c ON c.id = m.chat_id JOIN entity e ON e.id = m.peer_id \
                 WHERE m.user_id = ANY($1::BIGINT[]) AND c.kind = 2 AND c.b = 0 AND e.dismissed_ms = 0",
            )
            .await?;
        let users: Vec<i64> = users.iter().map(|user| user.get()).collect();
        let rows = client.query(&stmt, &[&users]).await?;
        rows.iter().map(|r| Ok((Id::from_raw(r.try_get("user_id")?), Id::from_raw(r.try_get("group_id")?)))).collect()
    }

    async fn pins(&self, user: Id) -> Result<Vec<PinRow>> {
        pins::pins(&self.pool.get().await?, user).await
    }

    async fn add_pin(&self, user: Id, peer: Id, now_ms: i64) -> Result<i64> {
        pins::add_pin(&self.pool.get().await?, user, peer, now_ms).await
    }

    async fn delete_pin(&self, user: Id, peer: Id) -> Result<bool> {
        pins::delete_pin(&self.pool.get().await?, user, peer).await
    }

    async fn move_pin(&self, user: Id, pin_id: i64, now_ms: i64) -> Result<bool> {
        pins::move_pin(&self.pool.get().await?, user, pin_id, now_ms).await
    }

    async fn leave_group(&self, user: Id, group: Id) -> Result<bool> {
        transact(&self.pool, &self.lists.leases, |tx| Box::pin(groups::leave_group(tx, user, group))).await
    }

    async fn create_group(&self, group: NewGroup) -> Result<Id> {
        transact(&self.pool, &self.lists.leases, |tx| Box::pin(async move { groups::create_group(tx, &group).await }))
            .await
    }

    async fn join_group(&self, group: Id, users: Vec<Id>, now_ms: i64) -> Result<Vec<Id>> {
        transact(&self.pool, &self.lists.leases, |tx| {
            Box::pin(async move { groups::join_group(tx, group, &users, now_ms).await })
        })
        .await
    }

    async fn dismiss_group(&self, group: Id, now_ms: i64) -> Result<bool> {
        transact(&self.pool, &self.lists.leases, |tx| Box::pin(groups::dismiss_group(tx, group, now_ms))).await
    }

    async fn purge_dismissed(&self, group: Id, batch: u32) -> Result<u64> {
        transact(&self.pool, &self.lists.leases, |tx| Box::pin(groups::purge_dismissed(tx, group, batch))).await
    }

    async fn unpurged_dismissals(&self, limit: u32) -> Result<Vec<Id>> {
        groups::unpurged_dismissals(&self.pool.get().await?, limit).await
    }

    async fn entity_facts(&self, id: Id) -> Result<Option<EntityFacts>> {
        groups::entity_facts(&self.pool.get().await?, id).await
    }

    async fn roster(&self, group: Id) -> Result<Roster> {
        groups::roster(&self.pool.get().await?, group).await
    }

    async fn membership(&self, group: Id, user: Id) -> Result<Option<Membership>> {
        groups::membership(&self.pool.get().await?, group, user).await
    }

    async fn group_members(
        &self,
        group: Id,
        keyword: String,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<MemberRow>, u64)> {
        groups::group_members(&self.pool.get().await?, group, &keyword, limit, offset).await
    }

    async fn set_admin(&self, group: Id, user: Id, admin: bool) -> Result<bool> {
        groups::set_admin(&self.pool.get().await?, group, user, admin).await
    }

    async fn set_gag(&self, group: Id, user: Id, until_ms: i64) -> Result<bool> {
        groups::set_gag(&self.pool.get().await?, group, user, until_ms).await
    }

    async fn add_group_bot(&self, group: Id, bot: Id, now_ms: i64) -> Result<bool> {
        groups::add_group_bot(&self.pool.get().await?, group, bot, now_ms).await
    }

    async fn group_bots(&self, group: Id) -> Result<Vec<EntityFacts>> {
        groups::group_bots(&self.pool.get().await?, group).await
    }

    async fn bot_headcount(&self, bot: Id) -> Result<i64> {
        groups::bot_headcount(&self.pool.get().await?, bot).await
    }

    async fn edit_entity(&self, id: Id, change: EntityChange) -> Result<bool> {
        transact(&self.pool, &self.lists.leases, |tx| {
            Box::pin(async move { groups::edit_entity(tx, id, &change).await })
        })
        .await
    }

    async fn remark(&self, user: Id, target: Id) -> Result<Option<RemarkFields>> {
        groups::remark(&self.pool.get().await?, user, target).await
    }

    async fn set_remark(&self, user: Id, target: Id, remark: Option<RemarkFields>) -> Result<()> {
        transact(&self.pool, &self.lists.leases, |tx| {
            Box::pin(async move { groups::set_remark(tx, user, target, remark.as_ref()).await })
        })
        .await
    }

    async fn set_draft(&self, user: Id, peer: Id, input: String, now_ms: i64, origin: SocketOrigin) -> Result<()> {
        transact(&self.pool, &self.lists.leases, |tx| {
            Box::pin(async move { drafts::set_draft(tx, user, peer, &input, now_ms, origin).await })
        })
        .await
    }

    async fn contacts(&self, user: Id) -> Result<Vec<ContactRow>> {
        groups::contacts(&self.pool.get().await?, user).await
    }

    async fn is_contact(&self, user: Id, peer: Id) -> Result<bool> {
        groups::is_contact(&self.pool.get().await?, user, peer).await
    }

    async fn add_contact(&self, user: Id, bot: Id, now_ms: i64) -> Result<bool> {
        groups::add_contact(&self.pool.get().await?, user, bot, now_ms).await
    }

    async fn remove_contact(&self, user: Id, peer: Id) -> Result<bool> {
        transact(&self.pool, &self.lists.leases, |tx| Box::pin(groups::remove_contact(tx, user, peer))).await
    }

    async fn add_request(&self, from: Id, to: Id, note: String, now_ms: i64) -> Result<i64> {
        transact(&self.pool, &self.lists.leases, |tx| {
            Box::pin(async move { groups::add_request(tx, from, to, &note, now_ms).await })
        })
        .await
    }

    async fn requests(&self, user: Id, limit: u32) -> Result<Vec<FriendRequestRow>> {
        groups::requests(&self.pool.get().await?, user, limit).await
    }

    async fn request(&self, id: i64) -> Result<Option<FriendRequestRow>> {
        groups::request(&self.pool.get().await?, id).await
    }

    async fn settle_request(&self, id: i64, state: RequestState, now_ms: i64) -> Result<bool> {
        transact(&self.pool, &self.lists.leases, |tx| Box::pin(groups::settle_request(tx, id, state, now_ms))).await
    }

    async fn delete_request(&self, id: i64) -> Result<bool> {
        groups::delete_request(&self.pool.get().await?, id).await
    }

    async fn drafts(&self, user: Id) -> Result<Vec<(Id, String)>> {
        drafts::drafts(&self.pool.get().await?, user).await
    }

    async fn draft(&self, user: Id, peer: Id) -> Result<Option<String>> {
        drafts::draft(&self.pool.get().await?, user, peer).await
    }

    async fn health(&self) -> Result<()> {
        let client = self.pool.get().await?;
        client.simple_query("SELECT 1").await?;
        Ok(())
    }

    fn start_feed(&self, sink: EventSink) {
        // Told apart from the pool's in `pg_stat_activity`, where its last
        // query is the list barrier's more often than its `LISTEN`.
        let mut config = self.config.clone();
        let name = format!("{} feed", config.get_application_name().unwrap_or("yhconv"));
        config.application_name(&name);
        let feed = feed::run(config, self.pool.clone(), sink, Arc::clone(&self.lists));
        let (done, stopped) = tokio::sync::oneshot::channel::<()>();
        // A thread and runtime of its own: a list change through another
        // instance answers only once this feed has handed it on and said so
        // (see `leases`), and every push waits for the feed to hear it. On
        // the server's runtime, each of those wake-ups queued behind the
        // push sockets a big group's fan-out had woken.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
        let spawned = runtime.map_err(anyhow::Error::from).and_then(|runtime| {
            std::thread::Builder::new()
                .name("yhconv-feed".into())
                .spawn(move || {
                    runtime.block_on(feed);
                    let _ = done.send(());
                })
                .map_err(anyhow::Error::from)
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the push feed's thread: this instance pushes nothing");
            return;
        }
        *self.feed.lock().unwrap_or_else(|p| p.into_inner()) = Some(stopped);
    }

    async fn stop_feed(&self) {
        self.lists.stop();
        let stopped = self.feed.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(stopped) = stopped {
            if tokio::time::timeout(FEED_STOP_WAIT, stopped).await.is_err() {
                tracing::warn!(
                    "the push feed did not stop within {FEED_STOP_WAIT:?}: its list lease runs out by itself"
                );
            }
        }
    }

    fn watch_lists(&self, sink: Arc<dyn ListSink>) {
        *self.lists.sink.lock().unwrap_or_else(|p| p.into_inner()) = Some(sink);
        self.lists.attached.notify_one();
    }

    fn shared(&self) -> bool {
        true
    }
}
