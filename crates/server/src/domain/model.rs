//! Entities and rows: what the rules layer and the storage engines hand
//! each other. Plain data; the rules live in `service`.

use yhconv_proto::{ChatType, ContentType};

use super::event::ChatRef;
use super::ids::Id;

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
    /// Already normalized by the rules layer (stored and compared as is).
    pub email: Option<String>,
    pub password_hash: Option<String>,
}

/// A group to create or update, with members to add (never removed here).
#[derive(Debug, Clone)]
pub struct GroupRecord {
    pub entity: Entity,
    pub owner: Option<Id>,
    pub members: Vec<Id>,
    /// Members (added if need be) who are the group's admins.
    pub admins: Vec<Id>,
}

/// A remark: what `user` calls `target` in their own list.
#[derive(Debug, Clone)]
pub struct RemarkRecord {
    pub user: Id,
    pub target: Id,
    pub remark: String,
}

/// Where a new member's read position starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JoinAt {
    /// At the group's last message: nothing sent before counts as unread.
    #[default]
    Latest,
    /// Before the first message: everything counts as unread.
    Start,
}

/// A batch of identities, applied in one transaction. Re-applying the same
/// batch changes nothing. Owners and members must be users; ids are unique
/// across users, groups and bots.
#[derive(Debug, Clone, Default)]
pub struct IdentityBatch {
    pub users: Vec<UserRecord>,
    pub groups: Vec<GroupRecord>,
    pub bots: Vec<Entity>,
    pub remarks: Vec<RemarkRecord>,
    /// Where new members of `groups` start reading.
    pub join_at: JoinAt,
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

/// One of a user's conversations, listed or not (the rules decide), before
/// it is put on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationRow {
    /// The peer: the other user, the group, or the bot.
    pub peer: Entity,
    /// The chat row the conversation's messages are in.
    pub chat: ChatRef,
    /// The user's remark for the peer, if any.
    pub remark: Option<String>,
    pub last_seq: i64,
    pub read_seq: i64,
    pub preview: String,
    /// Send time of the last message (0 when there is none).
    pub last_message_ms: i64,
    /// When the user last brought it to the top (0 if never).
    pub sort_ms: i64,
    /// Set by a hide: hidden until `last_seq` passes it.
    pub hidden_seq: Option<i64>,
    pub do_not_disturb: bool,
    /// Unread messages (seq above `read_seq`) that mention this user or
    /// `all`; a message naming both counts once.
    pub mention_count: i64,
    /// The earliest of them.
    pub first_mention: Option<MentionRow>,
    /// Recalled messages above `read_seq`: they count as read.
    pub recalled_unread: i64,
}

/// Where a user stands in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadPosition {
    /// The chat row.
    pub chat: ChatRef,
    /// The last message the user has read.
    pub read_seq: i64,
    /// The chat's last message.
    pub last_seq: i64,
    /// When the user's gag in this group ends (ms; 0 when not gagged, and
    /// in chats with users and bots).
    pub gag_until_ms: i64,
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
    /// One user.
    User(Id),
}

/// A message to store. Its mentions are the ones that count (the rules
/// layer dropped the rest).
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
    /// Advance the sender's read position to this message.
    pub read_by_sender: bool,
    /// The chat as the sender sees it (the group, or the other user or
    /// bot): the sender's draft there is deleted with the message, emitting
    /// [`crate::domain::event::Event::Draft`] when there was one.
    pub sender_peer: Id,
    /// What the send was decided on, checked again as it is stored.
    pub facts: SendFacts,
}

/// What the rules found of a message's sender when they let it be sent: a
/// member of the chat (whose peer is not a dismissed group), gagged until
/// `gag_until_ms`, and named `sender_name` when the preview names the
/// sender. The store writes the message only while all of it still holds,
/// in the write's own transaction, and answers [`Appended::Stale`]
/// otherwise, so that a send decided on what it remembered is never
/// stored against the rules, nor one decided on what changed just after
/// it looked (PostgreSQL: unless that commits while the write waits for
/// the chat's row).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendFacts {
    /// When the sender's gag in the chat ends (ms; 0 when not gagged).
    pub gag_until_ms: i64,
    /// The sender's name as the preview shows it; None when it shows none.
    pub sender_name: Option<String>,
}

/// Sends a store wrote together, one transaction for several messages of
/// one chat (running totals; see `store/postgres/send_batches.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SendBatchStats {
    /// Transactions that stored more than one message.
    pub batches: u64,
    /// The messages those stored.
    pub messages: u64,
    /// Sends waiting now for a transaction of their chat under way.
    pub waiting: u64,
    /// Sends being stored now.
    pub storing: u64,
}

/// What a store's writes waited for under other instances' list leases
/// (running totals; see `store/postgres/leases.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LeaseWaitStats {
    /// Changes answered only once other instances said they had them.
    pub changes: u64,
    /// The time those changes waited, in all.
    pub seconds: f64,
    /// Holders waited for until their lease ran out (gone, or stuck).
    pub ran_out: u64,
}

/// What storing a message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Stored with this sequence number.
    New { seq: i64 },
    /// This sender had stored this `msg_id` before (a retry): nothing changed.
    Retry { seq: i64, sent_ms: i64 },
    /// Another sender's message in this chat has this `msg_id`: nothing changed.
    IdTaken,
    /// The message's [`SendFacts`] no longer hold (the sender left or was
    /// gagged or renamed, the group was dismissed): nothing changed.
    Stale,
}

/// A stored message, as history shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub msg_id: String,
    pub seq: i64,
    pub sender: Entity,
    pub content_type: u64,
    /// Encoded `MsgContent`; empty once recalled.
    pub content: Vec<u8>,
    pub quote_msg_id: String,
    pub sent_ms: i64,
    /// When last edited (0: never), ms.
    pub edit_ms: i64,
    /// When recalled (0: not recalled), ms.
    pub recall_ms: i64,
}

/// What the rules need to know of one message to allow an edit or recall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageMeta {
    pub seq: i64,
    pub sender: Id,
    pub content_type: u64,
    pub sent_ms: i64,
    /// When recalled (0: not recalled), ms.
    pub recall_ms: i64,
}

/// A new content for a stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageEdit {
    pub seq: i64,
    pub content_type: ContentType,
    /// Encoded `MsgContent`.
    pub content: Vec<u8>,
    /// The chat's preview, should this be its last message.
    pub preview: String,
    /// The mentions that count now (they replace the old ones).
    pub mentions: Vec<MentionTarget>,
    pub edit_ms: i64,
}

/// Messages to recall in one chat, all or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recall {
    pub seqs: Vec<i64>,
    /// Who recalls them.
    pub by: Id,
    pub recall_ms: i64,
    /// The chat's preview, should its last message be among them.
    pub notice: String,
}

/// The content a message had before one of its edits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditRecord {
    pub id: i64,
    pub content_type: u64,
    /// Encoded `MsgContent`, as it was before the edit.
    pub content: Vec<u8>,
    pub edit_ms: i64,
}

/// A user's role in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Member,
    Admin,
    Owner,
}

/// A window of a chat's history: messages with `after < seq <= up_to`,
/// at most `limit` of them, taken from the newest end or the oldest end of
/// the range and returned in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqWindow {
    pub after: i64,
    pub up_to: i64,
    pub limit: u32,
    /// True: the newest `limit` of the range, newest first. False: the
    /// oldest `limit`, oldest first.
    pub newest_first: bool,
}

/// A stored message with the chat it was sent to, as its sender addressed
/// it (the other user, the group or the bot): what a push needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressedMessage {
    pub peer: Entity,
    pub message: StoredMessage,
    /// Who recalled it, when it was recalled.
    pub recaller_name: Option<String>,
    /// The peer is a dismissed group (nobody is to get the push).
    pub peer_dismissed: bool,
    /// The identity epoch when the message was read (see
    /// [`crate::domain::store::Store::identity_epoch`]): a push that sees
    /// it move knows memberships may have changed behind its back.
    pub identity_epoch: i64,
}

/// A change to one user's view of one conversation, as storage carries it
/// out. Which call makes which change is the rules layer's business.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewChange {
    /// Read up to the chat's last message.
    MarkRead,
    /// Read up to the chat's last message, and hide it until a newer one.
    HideAndMarkRead,
    /// Set the sort time and unhide.
    Touch { now_ms: i64 },
    /// Set do-not-disturb.
    DoNotDisturb(bool),
}

/// A login token to store (by its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub hash: super::event::TokenHash,
    pub user: Id,
    pub device_id: String,
    pub platform: String,
    pub created_ms: i64,
}

/// One of a user's pins (`/v1/sticky/*`), with what the list of pins shows
/// of the pinned chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinRow {
    /// The pin's id: positive, below 2^31.
    pub id: i64,
    pub peer: Entity,
    /// The user's remark for the peer, if any.
    pub remark: Option<String>,
    /// When it was pinned or last moved first, ms.
    pub sort_ms: i64,
    /// When it was pinned, ms.
    pub created_ms: i64,
}

/// What the profile screens show of a user, group or bot beyond its
/// [`Entity`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityFacts {
    pub entity: Entity,
    pub introduction: String,
    /// When it was created (a user: registered), ms; 0 when unknown.
    pub created_ms: i64,
    /// A group's owner, a bot's creator.
    pub owner: Option<Id>,
    /// A group that was dismissed: it is nobody's any more.
    pub dismissed: bool,
}

/// A group's member count and admins (not counting the owner).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roster {
    pub headcount: i64,
    pub admins: Vec<Id>,
}

/// What a user is in a group they belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    pub role: Role,
    /// Gagged until then, ms ([`GAG_FOREVER`]: until lifted; 0: not gagged).
    pub gag_until_ms: i64,
    pub do_not_disturb: bool,
    /// The user pinned the group.
    pub pinned: bool,
}

/// `gag_until_ms` of a gag that lasts until it is lifted.
pub const GAG_FOREVER: i64 = i64::MAX;

/// One member, as the member list shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    pub user: Entity,
    pub role: Role,
    pub gag_until_ms: i64,
}

/// A group to create: its owner is its first member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGroup {
    pub owner: Id,
    pub name: String,
    pub introduction: String,
    pub avatar_url: String,
    pub created_ms: i64,
}

/// A change to how a user, group or bot shows everywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntityChange {
    Name(String),
    AvatarUrl(String),
}

/// What a user noted about another (`user/save-user-remarks`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemarkFields {
    /// The name the user sees the other by.
    pub name: String,
    pub phone: String,
    /// A JSON string of key/value pairs.
    pub extra: String,
}

/// One entry of a user's address book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRow {
    pub peer: Entity,
    /// The user's remark for the peer, if any.
    pub remark: Option<String>,
    /// Groups: the user's role in it.
    pub role: Option<Role>,
    pub do_not_disturb: bool,
}

/// What became of a friend request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestState {
    Pending,
    Agreed,
    Rejected,
    Ignored,
}

impl RequestState {
    /// The number the protocol and the database use.
    pub fn code(self) -> i64 {
        match self {
            Self::Pending => 0,
            Self::Agreed => 1,
            Self::Rejected => 2,
            Self::Ignored => 3,
        }
    }

    /// The state a stored number means (unknown numbers read as ignored).
    pub fn from_code(code: i64) -> Self {
        match code {
            0 => Self::Pending,
            1 => Self::Agreed,
            2 => Self::Rejected,
            _ => Self::Ignored,
        }
    }
}

/// A friend request, with both users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FriendRequestRow {
    /// Positive, below 2^31 (clients parse it as a 32-bit int).
    pub id: i64,
    pub from: Entity,
    pub to: Entity,
    pub note: String,
    pub created_ms: i64,
    pub state: RequestState,
    /// When it was agreed, rejected or ignored (0: still pending), ms.
    pub settled_ms: i64,
}
