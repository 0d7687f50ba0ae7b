//! Storage: the [`Store`] trait and the rows it deals in.
//!
//! SQL lives only below this module. The service layer decides who may do
//! what; a store carries it out atomically. Backends:
//! - [`sqlite`]: the embedded default, one file in WAL mode.
//! - [`postgres`]: for several server instances on one database.

pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;
use tokio::sync::mpsc;
use yhconv_proto::{ChatType, ContentType};

use crate::domain::error::Result;
use crate::domain::ids::Id;
use crate::push::FeedEvent;

/// A user, group or bot: what a conversation shows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    pub id: Id,
    pub kind: ChatType,
    pub name: String,
    pub avatar_url: String,
    pub avatar_id: i64,
    pub certification_level: i64,
}

/// A user's own profile (`GET /v1/user/info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserProfile {
    pub entity: Entity,
    pub email: String,
    pub phone: String,
}

/// A user to create or update. `password_hash` is an argon2 PHC string;
/// `None` keeps the stored one (or leaves the user unable to log in by email).
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub entity: Entity,
    pub email: Option<String>,
    pub password_hash: Option<String>,
}

/// A group to create or update, with members to add (never removed here).
#[derive(Debug, Clone)]
pub struct GroupRecord {
    pub entity: Entity,
    pub owner: Option<Id>,
    pub members: Vec<Id>,
}

/// A remark: what `user` calls `target` in their own list.
#[derive(Debug, Clone)]
pub struct RemarkRecord {
    pub user: Id,
    pub target: Id,
    pub remark: String,
}

/// A batch of identities, applied in one transaction. Re-applying the same
/// batch changes nothing.
#[derive(Debug, Clone, Default)]
pub struct IdentityBatch {
    pub users: Vec<UserRecord>,
    pub groups: Vec<GroupRecord>,
    pub bots: Vec<Entity>,
    pub remarks: Vec<RemarkRecord>,
}

/// Counts of what a batch touched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportStats {
    pub users: usize,
    pub groups: usize,
    pub memberships: usize,
    pub bots: usize,
    pub remarks: usize,
}

/// One of a user's conversations, listed or not (the service's
/// `is_listed` decides), before it is put on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationRow {
    /// The peer: the other user, the group, or the bot.
    pub peer: Entity,
    /// The user's remark for the peer, if any.
    pub remark: Option<String>,
    pub last_seq: i64,
    pub read_seq: i64,
    pub preview: String,
    /// Send time of the last message (0 when there is none).
    pub last_message_ms: i64,
    /// When the user last brought it to the top (0 if never).
    pub sort_ms: i64,
    /// Set by remove: hidden until `last_seq` passes it.
    pub hidden_seq: Option<i64>,
    pub do_not_disturb: bool,
    /// Unread messages that mention this user (or `all`).
    pub mention_count: i64,
    /// The earliest unread mention.
    pub first_mention: Option<MentionRow>,
}

/// Where a user stands in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadPosition {
    /// The last message the user has read.
    pub read_seq: i64,
    /// The chat's last message.
    pub last_seq: i64,
}

/// A stored mention, with the mentioner's display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MentionRow {
    pub seq: i64,
    pub mentioner_id: Id,
    pub mentioner_name: String,
}

/// Whom a message mentions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MentionTarget {
    /// Everyone in the group.
    All,
    /// One user; ignored when they are not in the chat.
    User(Id),
}

/// A message to store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub sender: Id,
    pub msg_id: String,
    pub content_type: ContentType,
    /// Encoded `MsgContent`.
    pub content: Vec<u8>,
    pub quote_msg_id: String,
    pub preview: String,
    pub mentions: Vec<MentionTarget>,
    pub sent_ms: i64,
}

/// What storing a message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The message's sequence number in its chat.
    pub seq: i64,
    /// Its send time (the first one, for a retry).
    pub sent_ms: i64,
    /// True when this `msg_id` was already stored for this sender.
    pub duplicate: bool,
}

/// A stored message, as history shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub msg_id: String,
    pub seq: i64,
    pub sender: Entity,
    pub content_type: u64,
    pub content: Vec<u8>,
    pub quote_msg_id: String,
    pub sent_ms: i64,
}

/// A change to one user's view of one conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewChange {
    /// Mark everything read.
    MarkRead,
    /// Hide until new activity, and mark read.
    Remove,
    /// Bring to the top at this time (and unhide).
    Touch { now_ms: i64 },
    /// Set do-not-disturb.
    DoNotDisturb(bool),
}

/// Storage for identities, tokens, conversations and messages.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates or updates identities, all or nothing.
    async fn apply_identities(&self, batch: IdentityBatch) -> Result<ImportStats>;
    /// A user, group or bot by id.
    async fn entity(&self, id: Id) -> Result<Option<Entity>>;
    /// A user's id and password hash by email (case-insensitive).
    async fn credentials(&self, email: &str) -> Result<Option<(Id, Option<String>)>>;
    /// A user's own profile.
    async fn profile(&self, user: Id) -> Result<Option<UserProfile>>;

    /// Stores a token (by its hash) for a user.
    async fn insert_token(
        &self,
        token_hash: [u8; 32],
        user: Id,
        device_id: &str,
        platform: &str,
        now_ms: i64,
    ) -> Result<()>;
    /// The user a token hash belongs to.
    async fn token_user(&self, token_hash: [u8; 32]) -> Result<Option<Id>>;
    /// Revokes a token; true when it existed.
    async fn delete_token(&self, token_hash: [u8; 32]) -> Result<bool>;

    /// The entity `peer` names and, if the user has a conversation with it,
    /// the user's read position and the chat's last sequence, in one lookup.
    async fn read_position(&self, user: Id, peer: Id) -> Result<Option<(Entity, Option<ReadPosition>)>>;
    /// Every conversation the user has (member rows, including silent groups
    /// and removed chats), in no particular order.
    async fn conversations(&self, user: Id) -> Result<Vec<ConversationRow>>;
    /// A number that changes whenever identities (names, avatars, remarks,
    /// memberships) change, by any process using the database.
    async fn identity_epoch(&self) -> Result<i64>;
    /// Applies a change to the user's view of the conversation with `peer`,
    /// creating the conversation when `change` may (touch, do-not-disturb)
    /// and the user may talk to the peer. Errors `NotMember` for a group the
    /// user is not in. Returns false when there was nothing to change.
    async fn change_view(&self, user: Id, peer: &Entity, change: ViewChange) -> Result<bool>;
    /// Stores a message from `msg.sender` to `peer`, creating the
    /// conversation as needed, in one transaction; idempotent on
    /// (sender, msg_id). Errors `NotMember` for a group the sender is not in.
    async fn append_message(&self, peer: &Entity, msg: NewMessage) -> Result<Appended>;
    /// History of the conversation between `user` and `peer`, newest first:
    /// at most `limit` messages, before `before_msg_id` when given.
    async fn messages(
        &self,
        user: Id,
        peer: &Entity,
        before_msg_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredMessage>>;
    /// Those of `candidates` who are members of `group` (for push fan-out).
    async fn members_among(&self, group: Id, candidates: Vec<Id>) -> Result<Vec<Id>>;

    /// Checks that the database answers.
    async fn health(&self) -> Result<()>;

    /// True when other server instances may write the same database, so no
    /// answer may be kept in memory beyond one request. False when this
    /// process makes every change to conversations and revokes every token
    /// (other processes only import identities, which move
    /// [`Store::identity_epoch`], and issue new tokens).
    fn shared(&self) -> bool {
        false
    }

    /// A store shared by several server instances delivers every stored
    /// message and every revoked token, from any instance, to `sink` in
    /// commit order and returns true. A store private to this process
    /// returns false: the service then publishes its own messages.
    fn start_push_feed(&self, sink: mpsc::UnboundedSender<FeedEvent>) -> bool {
        let _ = sink;
        false
    }
}
