//! The embedded SQLite store: one file, WAL, one writer and a few readers.
//!
//! Every call runs on tokio's blocking pool (point lookups inline on a free
//! reader). Writes take the single writer connection and an IMMEDIATE
//! transaction, so sequence numbers are assigned one at a time; reads use
//! their own connections and see the last commit. The events a write emits
//! go to the feed right after its commit, while the writer is still held, so
//! the feed sees them in commit order.

pub mod backup;
mod chats;
mod drafts;
mod edits;
pub mod export;
mod groups;
mod identities;
mod pins;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior};

use yhconv_proto::ChatType;

use crate::domain::error::{Error, Result};
use crate::domain::event::{ChatRef, Event, EventSink, MessageKey, SocketOrigin, TokenHash};
use crate::domain::ids::Id;
use crate::domain::list_change::{ListChange, ListClock, ListFact, ListSink};
use crate::domain::model::*;
use crate::domain::store::Store;
pub(super) use crate::store::columns::{entity_select, EntityColumns, ENTITY, SENDER};

/// Schema migrations, applied in order; `PRAGMA user_version` counts them.
/// Numbered like PostgreSQL's, so a version means the same on both.
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

/// How hard SQLite syncs a commit to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteSync {
    /// WAL with `synchronous=NORMAL`: a commit survives the server crashing
    /// or being killed; the last commits may be lost if the machine loses
    /// power (the database stays consistent). The default.
    #[default]
    Normal,
    /// `synchronous=FULL`: every commit is fsynced before it is answered, so
    /// it survives power loss too; each write costs an fsync.
    Full,
}

impl std::str::FromStr for SqliteSync {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "normal" => Ok(Self::Normal),
            "full" => Ok(Self::Full),
            other => Err(format!("unknown SQLite sync mode {other:?} (normal or full)")),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Self::Internal(e.into())
    }
}

/// Where committed events go: the push hub's feed, once it started.
type FeedSink = Arc<Mutex<Option<EventSink>>>;
/// Where committed list changes go: the list cache, once it watches.
type ListSinkSlot = Arc<Mutex<Option<Arc<dyn ListSink>>>>;

/// What a write reports, handed on after its commit: events for the push
/// hub, list facts for the list cache.
#[derive(Default)]
pub(super) struct Outbox {
    events: Vec<Event>,
    lists: Vec<ListFact>,
}

impl Outbox {
    /// An event for every instance's hub.
    pub(super) fn push(&mut self, event: Event) {
        self.events.push(event);
    }

    /// A change some users' lists show.
    pub(super) fn list(&mut self, fact: ListFact) {
        if !self.lists.contains(&fact) {
            self.lists.push(fact);
        }
    }
}

/// SQLite-backed [`Store`].
pub struct SqliteStore {
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: AtomicUsize,
    feed: FeedSink,
    lists: ListSinkSlot,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path, readers: usize, sync: SqliteSync) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut writer = open_connection(path, false)?;
        let synchronous = match sync {
            SqliteSync::Normal => "NORMAL",
            SqliteSync::Full => "FULL",
        };
        writer.pragma_update(None, "synchronous", synchronous)?;
        migrate(&mut writer).with_context(|| format!("migrating {}", path.display()))?;
        let readers = (0..readers.max(1))
            .map(|_| open_connection(path, true).map(Mutex::new))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(readers),
            next_reader: AtomicUsize::new(0),
            feed: Arc::default(),
            lists: Arc::default(),
        })
    }

    /// Runs `f` in an IMMEDIATE transaction on the writer connection; the
    /// events `f` pushes onto its outbox reach the feed, and its list facts
    /// the list cache, after the commit, before the writer is released.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>, &mut Outbox) -> Result<T> + Send + 'static,
    {
        let writer = Arc::clone(&self.writer);
        let feed = Arc::clone(&self.feed);
        let lists = Arc::clone(&self.lists);
        blocking(move || {
            let mut conn = writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut outbox = Outbox::default();
            let value = f(&tx, &mut outbox)?;
            let list_sink = match outbox.lists.is_empty() {
                true => None,
                false => lists.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            };
            let change = ListChange { clock: None, facts: std::mem::take(&mut outbox.lists) };
            // Before the commit, so that no request beginning after it trusts
            // a list it changed; after, so that a list read meanwhile (which
            // may not have seen it) is dropped too.
            if let Some(sink) = &list_sink {
                sink.changed(&change);
            }
            tx.commit()?;
            if let Some(sink) = &list_sink {
                sink.changed(&change);
            }
            if !outbox.events.is_empty() {
                if let Some(sink) = feed.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                    for event in outbox.events {
                        // Waits while the hub is behind; a hub that went
                        // away wants no more events.
                        let _ = sink.blocking_send(event);
                    }
                }
            }
            Ok(value)
        })
        .await
    }

    /// Runs `f` on a reader connection, on the blocking pool: for reads that
    /// may take a while (lists, history).
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let readers = Arc::clone(&self.readers);
        let index = self.next_reader.fetch_add(1, Ordering::Relaxed) % readers.len();
        blocking(move || {
            let conn = readers[index].lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&conn)
        })
        .await
    }

    /// Runs `f`, a lookup by key that takes microseconds, right here on a
    /// free reader connection; a hand-off to the blocking pool would cost
    /// more than the lookup. Falls back to [`Self::read`] when every reader
    /// is busy.
    async fn read_point<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        for offset in 0..self.readers.len() {
            if let Ok(conn) = self.readers[(start + offset) % self.readers.len()].try_lock() {
                return f(&conn);
            }
        }
        self.read(f).await
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::Internal(anyhow::anyhow!("storage task failed: {e}")))?
}

fn open_connection(path: &Path, read_only: bool) -> anyhow::Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags).with_context(|| format!("opening {}", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    if !read_only {
        // WAL lets readers run beside the writer; a commit is in the WAL
        // before it is answered (see `SqliteSync` for when it is fsynced).
        conn.pragma_update(None, "journal_mode", "WAL")?;
    }
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let applied: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if applied > MIGRATIONS.len() {
        anyhow::bail!("database schema version {applied} is newer than this yhconv knows ({})", MIGRATIONS.len());
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
        tracing::info!(version = index + 1, "applied schema migration");
    }
    Ok(())
}

/// The positions of an entity's columns in one statement: looked up by
/// name once, for statements that read many rows.
pub(super) struct EntityAt([usize; 6]);

impl EntityAt {
    /// Where `columns` are in `stmt`.
    pub(super) fn resolve(stmt: &rusqlite::Statement<'_>, columns: &EntityColumns) -> rusqlite::Result<Self> {
        let mut at = [0; 6];
        for (slot, name) in at.iter_mut().zip(columns.0) {
            *slot = stmt.column_index(name)?;
        }
        Ok(Self(at))
    }

    /// The entity in `row`.
    pub(super) fn read(&self, row: &Row<'_>) -> rusqlite::Result<Entity> {
        let [id, kind, name, avatar_url, avatar_id, level] = self.0;
        let code: u64 = row.get(kind)?;
        Ok(Entity {
            id: Id::from_raw(row.get(id)?),
            kind: ChatType::from_code(code).ok_or(rusqlite::Error::IntegralValueOutOfRange(kind, code as i64))?,
            name: row.get(name)?,
            avatar_url: row.get(avatar_url)?,
            avatar_id: row.get(avatar_id)?,
            certification_level: row.get(level)?,
        })
    }
}

/// Reads an [`Entity`] from the columns `columns` names (for a row or two;
/// loops over many rows resolve an [`EntityAt`] once).
pub(super) fn entity_from(row: &Row<'_>, columns: &EntityColumns) -> rusqlite::Result<Entity> {
    EntityAt::resolve(row.as_ref(), columns)?.read(row)
}

#[async_trait]
impl Store for SqliteStore {
    async fn apply_identities(&self, batch: IdentityBatch) -> Result<ImportStats> {
        self.write(move |tx, outbox| {
            let stats = identities::apply(tx, &batch)?;
            outbox.list(ListFact::Identities);
            Ok(stats)
        })
        .await
    }

    async fn entity(&self, id: Id) -> Result<Option<Entity>> {
        self.read_point(move |conn| {
            let sql = format!("SELECT {} FROM entity e WHERE e.id = ?1", entity_select("e", &ENTITY));
            Ok(conn.prepare_cached(&sql)?.query_row([id.get()], |r| entity_from(r, &ENTITY)).optional()?)
        })
        .await
    }

    async fn credentials(&self, email: &str) -> Result<Option<(Id, Option<String>)>> {
        let email = email.to_owned();
        self.read_point(move |conn| {
            Ok(conn
                .prepare_cached("SELECT user_id, password_hash FROM account WHERE email = ?1")?
                .query_row([email], |r| Ok((Id::from_raw(r.get("user_id")?), r.get("password_hash")?)))
                .optional()?)
        })
        .await
    }

    async fn profile(&self, user: Id) -> Result<Option<UserProfile>> {
        self.read_point(move |conn| {
            let sql = format!(
                "SELECT {}, coalesce(a.email, '') AS email, coalesce(a.phone, '') AS phone \
                 FROM entity e LEFT JOIN account a ON a.user_id = e.id WHERE e.id = ?1 AND e.kind = 1",
                entity_select("e", &ENTITY)
            );
            Ok(conn
                .prepare_cached(&sql)?
                .query_row([user.get()], |r| {
                    Ok(UserProfile { entity: entity_from(r, &ENTITY)?, email: r.get("email")?, phone: r.get("phone")? })
                })
                .optional()?)
        })
        .await
    }

    async fn identity_epoch(&self) -> Result<i64> {
        self.read_point(|conn| {
            Ok(conn
                .prepare_cached("SELECT value FROM meta WHERE key = 'identity_epoch'")?
                .query_row([], |r| r.get("value"))?)
        })
        .await
    }

    async fn list_clock(&self) -> Result<ListClock> {
        Ok(ListClock { identity_epoch: self.identity_epoch().await?, changes: None })
    }

    async fn insert_token(&self, token: NewToken) -> Result<()> {
        self.write(move |tx, _| {
            tx.prepare_cached(
                "INSERT INTO token (hash, user_id, device_id, platform, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(rusqlite::params![
                &token.hash[..],
                token.user.get(),
                token.device_id,
                token.platform,
                token.created_ms
            ])?;
            Ok(())
        })
        .await
    }

    async fn token_user(&self, hash: TokenHash) -> Result<Option<Id>> {
        self.read_point(move |conn| {
            Ok(conn
                .prepare_cached("SELECT user_id FROM token WHERE hash = ?1")?
                .query_row([&hash[..]], |r| r.get("user_id").map(Id::from_raw))
                .optional()?)
        })
        .await
    }

    async fn delete_token(&self, hash: TokenHash) -> Result<bool> {
        self.write(move |tx, outbox| {
            let deleted = tx.prepare_cached("DELETE FROM token WHERE hash = ?1")?.execute([&hash[..]])? > 0;
            if deleted {
                outbox.push(Event::LoggedOut(hash));
                outbox.list(ListFact::Revoked(hash));
            }
            Ok(deleted)
        })
        .await
    }

    async fn read_position(&self, user: Id, peer: Id) -> Result<Option<(Entity, Option<ReadPosition>)>> {
        self.read_point(move |conn| chats::read_position(conn, user, peer)).await
    }

    async fn conversations(&self, user: Id) -> Result<Vec<ConversationRow>> {
        self.read(move |conn| chats::conversations(conn, user)).await
    }

    async fn conversations_with(&self, user: Id, peers: Vec<Id>) -> Result<Vec<ConversationRow>> {
        self.read_point(move |conn| chats::conversations_with(conn, user, &peers)).await
    }

    async fn open_conversation(&self, user: Id, peer: &Entity) -> Result<ChatRef> {
        let peer = peer.clone();
        self.write(move |tx, outbox| chats::open_conversation(tx, outbox, user, &peer)).await
    }

    async fn change_view(&self, user: Id, peer: Id, change: ViewChange) -> Result<Option<bool>> {
        self.write(move |tx, outbox| chats::change_view(tx, outbox, user, peer, change)).await
    }

    async fn append_message(&self, chat: ChatRef, msg: NewMessage) -> Result<Appended> {
        self.write(move |tx, outbox| chats::append_message(tx, outbox, chat, msg)).await
    }

    async fn messages(&self, chat: ChatRef, window: SeqWindow) -> Result<Vec<StoredMessage>> {
        self.read(move |conn| chats::messages(conn, chat, window)).await
    }

    async fn message_seq(&self, chat: ChatRef, msg_id: &str) -> Result<Option<i64>> {
        let msg_id = msg_id.to_owned();
        self.read_point(move |conn| chats::message_seq(conn, chat, &msg_id)).await
    }

    async fn message_meta(&self, chat: ChatRef, msg_id: &str) -> Result<Option<MessageMeta>> {
        let msg_id = msg_id.to_owned();
        self.read_point(move |conn| edits::message_meta(conn, chat, &msg_id)).await
    }

    async fn locate_message(&self, user: Id, msg_id: &str) -> Result<Option<(ChatRef, MessageMeta)>> {
        let msg_id = msg_id.to_owned();
        self.read_point(move |conn| edits::locate_message(conn, user, &msg_id)).await
    }

    async fn edit_message(&self, chat: ChatRef, edit: MessageEdit) -> Result<()> {
        self.write(move |tx, outbox| edits::edit_message(tx, outbox, chat, edit)).await
    }

    async fn recall_messages(&self, chat: ChatRef, recall: Recall) -> Result<()> {
        self.write(move |tx, outbox| edits::recall_messages(tx, outbox, chat, recall)).await
    }

    async fn edit_records(&self, chat: ChatRef, seq: i64, limit: u32, offset: u32) -> Result<(Vec<EditRecord>, u64)> {
        self.read(move |conn| edits::edit_records(conn, chat, seq, limit, offset)).await
    }

    async fn role(&self, group: Id, user: Id) -> Result<Option<Role>> {
        self.read_point(move |conn| edits::role(conn, group, user)).await
    }

    async fn pushed_message(&self, key: MessageKey) -> Result<Option<AddressedMessage>> {
        self.read_point(move |conn| chats::pushed_message(conn, key)).await
    }

    async fn members_among(&self, group: Id, candidates: Vec<Id>) -> Result<Vec<Id>> {
        self.read(move |conn| chats::members_among(conn, group, &candidates)).await
    }

    async fn groups_of(&self, users: Vec<Id>) -> Result<Vec<(Id, Id)>> {
        self.read(move |conn| chats::groups_of(conn, &users)).await
    }

    async fn pins(&self, user: Id) -> Result<Vec<PinRow>> {
        self.read(move |conn| pins::pins(conn, user)).await
    }

    async fn add_pin(&self, user: Id, peer: Id, now_ms: i64) -> Result<i64> {
        self.write(move |tx, _| pins::add_pin(tx, user, peer, now_ms)).await
    }

    async fn delete_pin(&self, user: Id, peer: Id) -> Result<bool> {
        self.write(move |tx, _| pins::delete_pin(tx, user, peer)).await
    }

    async fn move_pin(&self, user: Id, pin_id: i64, now_ms: i64) -> Result<bool> {
        self.write(move |tx, _| pins::move_pin(tx, user, pin_id, now_ms)).await
    }

    async fn leave_group(&self, user: Id, group: Id) -> Result<bool> {
        self.write(move |tx, outbox| {
            let left = tx
                .prepare_cached("DELETE FROM member WHERE user_id = ?1 AND peer_id = ?2")?
                .execute([user.get(), group.get()])?;
            tx.prepare_cached("DELETE FROM pin WHERE user_id = ?1 AND peer_id = ?2")?
                .execute([user.get(), group.get()])?;
            if left > 0 {
                outbox.list(ListFact::Conversations(user));
            }
            Ok(left > 0)
        })
        .await
    }

    async fn create_group(&self, group: NewGroup) -> Result<Id> {
        self.write(move |tx, outbox| groups::create_group(tx, outbox, &group)).await
    }

    async fn join_group(&self, group: Id, users: Vec<Id>, now_ms: i64) -> Result<Vec<Id>> {
        self.write(move |tx, outbox| groups::join_group(tx, outbox, group, &users, now_ms)).await
    }

    async fn dismiss_group(&self, group: Id, now_ms: i64) -> Result<bool> {
        self.write(move |tx, outbox| groups::dismiss_group(tx, outbox, group, now_ms)).await
    }

    async fn purge_dismissed(&self, group: Id, batch: u32) -> Result<u64> {
        self.write(move |tx, _| groups::purge_dismissed(tx, group, batch)).await
    }

    async fn unpurged_dismissals(&self, limit: u32) -> Result<Vec<Id>> {
        self.read_point(move |conn| groups::unpurged_dismissals(conn, limit)).await
    }

    async fn entity_facts(&self, id: Id) -> Result<Option<EntityFacts>> {
        self.read_point(move |conn| groups::entity_facts(conn, id)).await
    }

    async fn roster(&self, group: Id) -> Result<Roster> {
        self.read(move |conn| groups::roster(conn, group)).await
    }

    async fn membership(&self, group: Id, user: Id) -> Result<Option<Membership>> {
        self.read_point(move |conn| groups::membership(conn, group, user)).await
    }

    async fn group_members(
        &self,
        group: Id,
        keyword: String,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<MemberRow>, u64)> {
        self.read(move |conn| groups::group_members(conn, group, &keyword, limit, offset)).await
    }

    async fn set_admin(&self, group: Id, user: Id, admin: bool) -> Result<bool> {
        self.write(move |tx, _| groups::set_admin(tx, group, user, admin)).await
    }

    async fn set_gag(&self, group: Id, user: Id, until_ms: i64) -> Result<bool> {
        self.write(move |tx, _| groups::set_gag(tx, group, user, until_ms)).await
    }

    async fn add_group_bot(&self, group: Id, bot: Id, now_ms: i64) -> Result<bool> {
        self.write(move |tx, _| groups::add_group_bot(tx, group, bot, now_ms)).await
    }

    async fn group_bots(&self, group: Id) -> Result<Vec<EntityFacts>> {
        self.read(move |conn| groups::group_bots(conn, group)).await
    }

    async fn bot_headcount(&self, bot: Id) -> Result<i64> {
        self.read(move |conn| groups::bot_headcount(conn, bot)).await
    }

    async fn edit_entity(&self, id: Id, change: EntityChange) -> Result<bool> {
        self.write(move |tx, outbox| groups::edit_entity(tx, outbox, id, &change)).await
    }

    async fn remark(&self, user: Id, target: Id) -> Result<Option<RemarkFields>> {
        self.read_point(move |conn| groups::remark(conn, user, target)).await
    }

    async fn set_remark(&self, user: Id, target: Id, remark: Option<RemarkFields>) -> Result<()> {
        self.write(move |tx, outbox| groups::set_remark(tx, outbox, user, target, remark.as_ref())).await
    }

    async fn contacts(&self, user: Id) -> Result<Vec<ContactRow>> {
        self.read(move |conn| groups::contacts(conn, user)).await
    }

    async fn is_contact(&self, user: Id, peer: Id) -> Result<bool> {
        self.read_point(move |conn| groups::is_contact(conn, user, peer)).await
    }

    async fn add_contact(&self, user: Id, bot: Id, now_ms: i64) -> Result<bool> {
        self.write(move |tx, _| groups::add_contact(tx, user, bot, now_ms)).await
    }

    async fn remove_contact(&self, user: Id, peer: Id) -> Result<bool> {
        self.write(move |tx, outbox| groups::remove_contact(tx, outbox, user, peer)).await
    }

    async fn add_request(&self, from: Id, to: Id, note: String, now_ms: i64) -> Result<i64> {
        self.write(move |tx, _| groups::add_request(tx, from, to, &note, now_ms)).await
    }

    async fn requests(&self, user: Id, limit: u32) -> Result<Vec<FriendRequestRow>> {
        self.read(move |conn| groups::requests(conn, user, limit)).await
    }

    async fn request(&self, id: i64) -> Result<Option<FriendRequestRow>> {
        self.read_point(move |conn| groups::request(conn, id)).await
    }

    async fn settle_request(&self, id: i64, state: RequestState, now_ms: i64) -> Result<bool> {
        self.write(move |tx, _| groups::settle_request(tx, id, state, now_ms)).await
    }

    async fn delete_request(&self, id: i64) -> Result<bool> {
        self.write(move |tx, _| groups::delete_request(tx, id)).await
    }

    async fn set_draft(&self, user: Id, peer: Id, input: String, now_ms: i64, origin: SocketOrigin) -> Result<()> {
        self.write(move |tx, outbox| drafts::set_draft(tx, outbox, user, peer, &input, now_ms, origin)).await
    }

    async fn drafts(&self, user: Id) -> Result<Vec<(Id, String)>> {
        self.read_point(move |conn| drafts::drafts(conn, user)).await
    }

    async fn draft(&self, user: Id, peer: Id) -> Result<Option<String>> {
        self.read_point(move |conn| drafts::draft(conn, user, peer)).await
    }

    async fn health(&self) -> Result<()> {
        self.read(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?)).await
    }

    fn start_feed(&self, sink: EventSink) {
        *self.feed.lock().unwrap_or_else(|p| p.into_inner()) = Some(sink);
    }

    fn watch_lists(&self, sink: Arc<dyn ListSink>) {
        *self.lists.lock().unwrap_or_else(|p| p.into_inner()) = Some(sink);
    }

    fn shared(&self) -> bool {
        false
    }
}
