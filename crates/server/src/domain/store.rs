//! The storage contract: what the rules layer asks of a storage engine.
//!
//! An engine carries out each call atomically and decides nothing a user
//! could observe: who may do what, what a missing row means and which call
//! changes what are the rules layer's. `crates/server/tests/store_contract.rs`
//! runs the same checks of every method against every engine.
//!
//! Events: the calls that say so emit an [`Event`] inside their write
//! transaction, so every instance's feed sees events in commit order
//! (in-process for SQLite, `LISTEN`/`NOTIFY` for PostgreSQL).
//!
//! List facts: the writes that can change a conversation list report what
//! they changed as [`crate::domain::list_change::ListFact`]s in their
//! transaction, to the sink given to [`Store::watch_lists`] (see
//! [`crate::domain::list_change`]). Each method below says which.

use async_trait::async_trait;

use super::error::Result;
use super::event::{ChatRef, EventSink, MessageKey, SocketOrigin, TokenHash};
use super::ids::Id;
use super::list_change::{ListClock, ListSink};
use super::model::*;

/// Storage for identities, tokens, conversations and messages.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates or updates identities, all or nothing; moves the identity
    /// epoch and reports `ListFact::Identities`. Fails with `Conflict` naming the first id that is missing,
    /// of the wrong kind, or an email used by another user.
    async fn apply_identities(&self, batch: IdentityBatch) -> Result<ImportStats>;
    /// A user, group or bot by id.
    async fn entity(&self, id: Id) -> Result<Option<Entity>>;
    /// A user's id and password hash by email, compared exactly.
    async fn credentials(&self, email: &str) -> Result<Option<(Id, Option<String>)>>;
    /// A user's own profile (`None` for groups, bots and unknown ids).
    async fn profile(&self, user: Id) -> Result<Option<UserProfile>>;
    /// A number that changes whenever identities (names, avatars, remarks,
    /// memberships) change, by any process using the database.
    async fn identity_epoch(&self) -> Result<i64>;
    /// What a list request checks its cached list against, read after the
    /// call began: for a store this process alone writes, the identity
    /// epoch; for a shared store, the list clock (identity changes are list
    /// changes there, numbered by the clock; the epoch is left at 0).
    async fn list_clock(&self) -> Result<ListClock>;
    /// What [`Store::list_clock`] would answer, with no round trip, when
    /// the store can vouch for it now (a PostgreSQL instance holding a list
    /// lease); `None` otherwise.
    fn list_clock_at_hand(&self) -> Option<ListClock> {
        None
    }
    /// How long this process's writes waited for other instances' list
    /// leases so far; `None` for a store without leases.
    fn lease_wait_stats(&self) -> Option<LeaseWaitStats> {
        None
    }
    /// True when [`Store::append_message`] keeps the send times of a
    /// chat's messages from going back as their sequence numbers grow (a
    /// message stored after another that was sent later gets that one's
    /// time): the service then need not hold a lock of its own from taking
    /// the time until the message is stored.
    fn orders_send_times(&self) -> bool {
        false
    }
    /// How many sends were stored together so far; `None` for a store
    /// that does not batch them this way.
    fn send_batch_stats(&self) -> Option<SendBatchStats> {
        None
    }

    /// Stores a token.
    async fn insert_token(&self, token: NewToken) -> Result<()>;
    /// The user a token belongs to.
    async fn token_user(&self, hash: TokenHash) -> Result<Option<Id>>;
    /// Revokes a token; true when it existed, and then emits
    /// [`Event::LoggedOut`] and reports `ListFact::Revoked`.
    async fn delete_token(&self, hash: TokenHash) -> Result<bool>;

    /// The entity `peer` names and, if `user` has a conversation with it,
    /// the user's position in it, in one lookup.
    async fn read_position(&self, user: Id, peer: Id) -> Result<Option<(Entity, Option<ReadPosition>)>>;
    /// Every conversation the user has (member rows, including silent groups
    /// and hidden chats), in no particular order.
    async fn conversations(&self, user: Id) -> Result<Vec<ConversationRow>>;
    /// The user's conversations with these peers only (those that exist),
    /// exactly as [`Store::conversations`] reads them, in one snapshot.
    async fn conversations_with(&self, user: Id, peers: Vec<Id>) -> Result<Vec<ConversationRow>>;
    /// The conversation between `user` and a user or bot `peer`, created
    /// with its member rows if needed (both users' for a direct chat, read
    /// up to the chat's last message). Idempotent.
    async fn open_conversation(&self, user: Id, peer: &Entity) -> Result<ChatRef>;
    /// Applies a change to `user`'s view of the conversation with `peer`:
    /// `None` when there is no such conversation, else whether anything
    /// changed; when it did, `ListFact::View`.
    async fn change_view(&self, user: Id, peer: Id, change: ViewChange) -> Result<Option<bool>>;
    /// Stores a message in `chat` in one transaction: O(1 + mentions) rows,
    /// whatever the chat's size. Idempotent on (sender, msg_id): a retry
    /// changes nothing. A new message emits [`Event::Message`] and
    /// `ListFact::Chat`.
    async fn append_message(&self, chat: ChatRef, msg: NewMessage) -> Result<Appended>;
    /// The messages of `chat` in `window`.
    async fn messages(&self, chat: ChatRef, window: SeqWindow) -> Result<Vec<StoredMessage>>;
    /// The sequence number of the message `msg_id` in `chat`, if it is there.
    async fn message_seq(&self, chat: ChatRef, msg_id: &str) -> Result<Option<i64>>;
    /// The facts about message `msg_id` in `chat` that an edit or recall
    /// is checked against.
    async fn message_meta(&self, chat: ChatRef, msg_id: &str) -> Result<Option<MessageMeta>>;
    /// The message `msg_id` in any chat `user` is a member of.
    async fn locate_message(&self, user: Id, msg_id: &str) -> Result<Option<(ChatRef, MessageMeta)>>;
    /// Replaces a message's content and mentions in one transaction, keeping
    /// the old content as an edit record; sets the chat's preview when it is
    /// the chat's last message (its time does not move). O(1 + mentions).
    /// Emits [`Event::Edited`] and `ListFact::Chat`.
    async fn edit_message(&self, chat: ChatRef, edit: MessageEdit) -> Result<()>;
    /// Recalls messages in one transaction: empties their content, drops
    /// their mentions, and sets the chat's preview to the notice when its
    /// last message is among them; messages already recalled are left as
    /// they are. O(messages + mentions), never O(members). Emits
    /// [`Event::Recalled`] for each message it recalled, and `ListFact::Chat`
    /// when it recalled any.
    async fn recall_messages(&self, chat: ChatRef, recall: Recall) -> Result<()>;
    /// A message's edit records, newest first: `limit` of them after
    /// skipping `offset`, and how many there are in all.
    async fn edit_records(&self, chat: ChatRef, seq: i64, limit: u32, offset: u32) -> Result<(Vec<EditRecord>, u64)>;
    /// `user`'s role in `group`, if they are a member.
    async fn role(&self, group: Id, user: Id) -> Result<Option<Role>>;
    /// A stored message and the chat as its sender addressed it.
    async fn pushed_message(&self, key: MessageKey) -> Result<Option<AddressedMessage>>;
    /// Those of `candidates` who are members of `group`.
    async fn members_among(&self, group: Id, candidates: Vec<Id>) -> Result<Vec<Id>>;
    /// The groups each of `users` is a member of, dismissed ones left out,
    /// as (user, group) pairs in no particular order: one key range of each
    /// user's member rows, all in one read (what the push hub indexes for
    /// each online user, a batch at a time, see `crate::online`).
    async fn groups_of(&self, users: Vec<Id>) -> Result<Vec<(Id, Id)>>;

    /// The user's pins, in no particular order.
    async fn pins(&self, user: Id) -> Result<Vec<PinRow>>;
    /// Pins `peer` for `user` at `now_ms` unless it is pinned already (then
    /// it keeps its place); returns the pin's id.
    async fn add_pin(&self, user: Id, peer: Id, now_ms: i64) -> Result<i64>;
    /// Unpins `peer`; true when it was pinned.
    async fn delete_pin(&self, user: Id, peer: Id) -> Result<bool>;
    /// Sets the sort time of `user`'s pin `pin_id`; false when the user has
    /// no such pin.
    async fn move_pin(&self, user: Id, pin_id: i64, now_ms: i64) -> Result<bool>;

    /// Takes `user` out of `group`: their member row and their pin of it go
    /// (their history in it stays, unreachable to them). True when they were
    /// a member, and then `ListFact::Conversations`.
    async fn leave_group(&self, user: Id, group: Id) -> Result<bool>;

    /// Creates a group with its chat row and its owner's member row, at the
    /// top of the owner's list (sort time `created_ms`); returns its id, one
    /// above every id in use. `ListFact::Conversations(owner)`.
    async fn create_group(&self, group: NewGroup) -> Result<Id>;
    /// Adds users to a group, reading from its last message and at the top
    /// of their lists (sort time `now_ms`); returns those who were not
    /// members. O(1) per new member. `ListFact::Conversations` for each.
    async fn join_group(&self, group: Id, users: Vec<Id>, now_ms: i64) -> Result<Vec<Id>>;
    /// Dismisses a group in one O(1) write: from then on no read finds
    /// its member rows or pins (they are purged afterwards, in batches, by
    /// [`Store::purge_dismissed`]). True when it was not dismissed yet;
    /// then `ListFact::Peer(group)`.
    async fn dismiss_group(&self, group: Id, now_ms: i64) -> Result<bool>;
    /// Deletes up to `batch` member rows and pins of a dismissed group;
    /// returns how many went (0: none left).
    async fn purge_dismissed(&self, group: Id, batch: u32) -> Result<u64>;
    /// Dismissed groups that still have member rows (a purge that a
    /// restart cut short), at most `limit`.
    async fn unpurged_dismissals(&self, limit: u32) -> Result<Vec<Id>>;
    /// What the profile screens show of a user, group or bot.
    async fn entity_facts(&self, id: Id) -> Result<Option<EntityFacts>>;
    /// A group's member count and admins.
    async fn roster(&self, group: Id) -> Result<Roster>;
    /// What `user` is in `group`, if a member (never of a dismissed group).
    async fn membership(&self, group: Id, user: Id) -> Result<Option<Membership>>;
    /// A group's members whose name contains `keyword` (lower case;
    /// empty: all), owner first, then admins, then by id: `limit` of them
    /// after skipping `offset`, and how many match in all.
    async fn group_members(&self, group: Id, keyword: String, limit: u32, offset: u32)
        -> Result<(Vec<MemberRow>, u64)>;
    /// Makes a member an admin or a plain member again; false when they
    /// are not a member.
    async fn set_admin(&self, group: Id, user: Id, admin: bool) -> Result<bool>;
    /// Gags a member until `until_ms` (0 lifts it); false when they are
    /// not a member.
    async fn set_gag(&self, group: Id, user: Id, until_ms: i64) -> Result<bool>;
    /// Adds a bot to a group (idempotent).
    async fn add_group_bot(&self, group: Id, bot: Id, now_ms: i64) -> Result<bool>;
    /// The bots in a group, in the order they were added.
    async fn group_bots(&self, group: Id) -> Result<Vec<EntityFacts>>;
    /// How many users have `bot` in their address book.
    async fn bot_headcount(&self, bot: Id) -> Result<i64>;

    /// Renames an entity or gives it a new avatar: one row, whatever the
    /// number of lists that show it. False when there is no such entity.
    /// `ListFact::Peer(id)`.
    async fn edit_entity(&self, id: Id, change: EntityChange) -> Result<bool>;
    /// What `user` noted about `target`.
    async fn remark(&self, user: Id, target: Id) -> Result<Option<RemarkFields>>;
    /// Sets (`Some`) or clears (`None`) `user`'s remark for `target`.
    /// `ListFact::View { user, peer: target }`.
    async fn set_remark(&self, user: Id, target: Id, remark: Option<RemarkFields>) -> Result<()>;

    /// The user's address book: friends, groups (member rows) and bots
    /// (added, or with a conversation), in no particular order.
    async fn contacts(&self, user: Id) -> Result<Vec<ContactRow>>;
    /// Whether `peer` is in `user`'s address book as a friend or an added bot.
    async fn is_contact(&self, user: Id, peer: Id) -> Result<bool>;
    /// Puts a bot in the user's address book; true when it was not there.
    async fn add_contact(&self, user: Id, bot: Id, now_ms: i64) -> Result<bool>;
    /// Takes a friend (both ways) or a bot (and the conversation with it)
    /// out of the user's address book; true when it was there. A bot's
    /// removal: `ListFact::Conversations(user)`.
    async fn remove_contact(&self, user: Id, peer: Id) -> Result<bool>;
    /// Stores a pending request from `from` to `to`, or updates the note of
    /// the one pending already; returns its id.
    async fn add_request(&self, from: Id, to: Id, note: String, now_ms: i64) -> Result<i64>;
    /// The requests `user` sent or received, newest first, at most `limit`.
    async fn requests(&self, user: Id, limit: u32) -> Result<Vec<FriendRequestRow>>;
    /// One request.
    async fn request(&self, id: i64) -> Result<Option<FriendRequestRow>>;
    /// Settles a pending request; agreeing makes both users friends, in the
    /// same transaction. False when it was not pending.
    async fn settle_request(&self, id: i64, state: RequestState, now_ms: i64) -> Result<bool>;
    /// Deletes a request; true when it existed.
    async fn delete_request(&self, id: i64) -> Result<bool>;
    /// Replaces `user`'s draft in the chat with `peer` (an empty `input`
    /// deletes it) and emits [`Event::Draft`] naming `origin`.
    async fn set_draft(&self, user: Id, peer: Id, input: String, now_ms: i64, origin: SocketOrigin) -> Result<()>;
    /// Every draft of `user` (peer, input), in no particular order.
    async fn drafts(&self, user: Id) -> Result<Vec<(Id, String)>>;
    /// `user`'s draft in the chat with `peer`, if any.
    async fn draft(&self, user: Id, peer: Id) -> Result<Option<String>>;

    /// Checks that the database answers.
    async fn health(&self) -> Result<()>;

    /// Delivers every event this store emits from now on (for a shared
    /// store: emitted by any instance) to `sink`, in commit order. Called
    /// once, by the push hub. When `sink` is full, writes wait for room
    /// after their commit (and before answering).
    fn start_feed(&self, sink: EventSink);

    /// Stops the feed for good, for a process that shuts down: what it
    /// holds for other instances (a list lease) is given up first, so that
    /// none of their writes waits for it to run out. Nothing for a store
    /// no other instance writes.
    async fn stop_feed(&self) {}

    /// Hands every list change committed from now on (for a shared store:
    /// by any instance, through the feed) to `sink`. Called once, by the
    /// list cache.
    fn watch_lists(&self, sink: std::sync::Arc<dyn ListSink>);

    /// True when other server instances may write the same database: no
    /// answer may be kept in memory unless every instance can check it is
    /// still current (the list cache does, with the list clock and the
    /// feed, and so does the token cache). False when this process makes every
    /// change to conversations and revokes every token (other processes
    /// only import identities, which move [`Store::identity_epoch`], and
    /// issue new tokens).
    fn shared(&self) -> bool;
}
