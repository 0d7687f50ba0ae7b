//! Live pushes: which sockets are logged in as whom, and fan-out of events
//! to them.
//!
//! Sending never waits for a socket. Every event comes the same way, on
//! both engines: the store emits it with the write that made it, and its
//! feed hands it to this instance's hub in commit order (see
//! [`crate::domain::event`]) through a bounded queue: when the hub is
//! behind, writers wait. One fan-out task takes each event into its chat's
//! queue and serves the chats in turns: a turn loads a message (and who is
//! online among the chat's members) or delivers a slice of about [`SLICE`]
//! frames, so a big group's message does not hold up a small chat's, and
//! each chat's messages keep their order; and a turn begins only once the
//! runtime's shared queue holds at most a slice of woken tasks, so the
//! sockets of the last turns write before more are woken, and a request or
//! a small chat's socket woken meanwhile waits behind a slice or two, not
//! behind a whole message to thousands. Consecutive messages of a chat to
//! the same receivers are delivered together (up to [`MAX_BATCH`]), so a
//! socket gets them in one write. A send into a chat with [`CHAT_BACKLOG`]
//! messages waiting first waits for room ([`Hub::wait_for_room`]). A frame
//! is the message's shared bytes with the receiver's ids spliced in
//! ([`PushFrames`]), `try_send` into each socket's bounded queue. A socket
//! whose queue is full has fallen too far behind: it is dropped from the
//! hub, and its connection closes saying why. What waits and what was
//! dropped is counted in [`PushStats`], for `/metrics`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use prost::Message as _;
use tokio::sync::mpsc;
use yhconv_proto::frames::cmd;
use yhconv_proto::pb::{Draft, DraftData, DraftFrame, Info, MsgContent, PushData, PushMsg, Sender, WsFrame};
use yhconv_proto::{ChatType, MSG_INPUT_TYPE_URL, PUSH_MESSAGE_TYPE_URL};

pub use crate::domain::event::SocketOrigin;
use crate::domain::event::{ChatRef, Event, MessageKey, TokenHash, EVENT_QUEUE};
use crate::domain::ids::Id;
use crate::domain::list_change::ListSink;
use crate::domain::model::AddressedMessage;
use crate::domain::store::Store;
use crate::online::{GroupReceivers, IndexSizes, OnlineGroups};
use crate::preview::recall_notice;

struct SocketEntry {
    id: u64,
    /// The hash of the token the socket logged in with.
    token_hash: TokenHash,
    queue: mpsc::Sender<Bytes>,
    lagged: Arc<AtomicBool>,
    logged_out: Arc<AtomicBool>,
    /// The socket asked for `yhconv_list_rows` frames at login.
    list_changes: bool,
}

/// What the live lists ([`crate::service::live`]) should look at again:
/// sent by the hub for edits and recalls, by the list facts for the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListHint {
    /// One user's list may have changed.
    User(Id),
    /// Any list may have changed.
    Everyone,
}

/// The live lists' pending work: the users whose lists may have changed,
/// each once, and whether every list may have. Senders never wait and it
/// never grows past one entry per user (hints arriving for a user already
/// pending merge into one), so it is no unbounded queue.
#[derive(Default)]
pub struct ListHints {
    pending: Mutex<(std::collections::HashSet<Id>, bool)>,
    ready: tokio::sync::Notify,
}

impl ListHints {
    /// Notes a hint; the taker wakes.
    pub fn send(&self, hint: ListHint) {
        {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            match hint {
                ListHint::User(user) => {
                    pending.0.insert(user);
                }
                ListHint::Everyone => pending.1 = true,
            }
        }
        self.ready.notify_one();
    }

    /// Waits for hints and takes every one pending: the users, and whether
    /// every list may have changed.
    pub async fn take(&self) -> (std::collections::HashSet<Id>, bool) {
        loop {
            {
                let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                if !pending.0.is_empty() || pending.1 {
                    return std::mem::take(&mut *pending);
                }
            }
            self.ready.notified().await;
        }
    }

    /// Users pending now (for metrics and tests).
    pub fn len(&self) -> usize {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).0.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.0.is_empty() && !pending.1
    }
}

/// Registry of logged-in sockets, fed by the store's events.
pub struct Hub {
    sockets: RwLock<HashMap<Id, Vec<SocketEntry>>>,
    next_socket_id: AtomicU64,
    queue_capacity: usize,
    stats: PushStats,
    /// Messages waiting in the hub, per chat (see [`CHAT_BACKLOG`]).
    backlog: Mutex<HashMap<ChatRef, usize>>,
    /// Woken when a chat's backlog shrinks.
    room: tokio::sync::Notify,
    /// This instance's random tag (see [`SocketOrigin`]).
    instance: u64,
    /// Where hints for the live lists go, once they run.
    list_hints: std::sync::OnceLock<Arc<ListHints>>,
    /// The groups of the users online here (a group message's receivers).
    online_groups: Arc<OnlineGroups>,
}

/// One logged-in socket's end of the hub. Dropping it unregisters the socket.
pub struct Subscription {
    hub: Arc<Hub>,
    user: Id,
    id: u64,
    /// Encoded frames to write to the socket, in order.
    pub frames: mpsc::Receiver<Bytes>,
    lagged: Arc<AtomicBool>,
    logged_out: Arc<AtomicBool>,
}

impl Subscription {
    /// Where this socket is, for events that must skip it.
    pub fn origin(&self) -> SocketOrigin {
        SocketOrigin { instance: self.hub.instance, socket: self.id }
    }

    /// True when the hub dropped this socket for falling behind.
    pub fn lagged(&self) -> bool {
        self.lagged.load(Ordering::Relaxed)
    }

    /// True when the hub dropped this socket because its token was revoked.
    pub fn logged_out(&self) -> bool {
        self.logged_out.load(Ordering::Relaxed)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unregister(self.user, self.id);
    }
}

impl Hub {
    /// A hub whose sockets each queue at most `queue_capacity` frames, with
    /// its fan-out task running on `store`.
    pub fn start(store: Arc<dyn Store>, queue_capacity: usize) -> Arc<Self> {
        let (events, rx) = mpsc::channel(EVENT_QUEUE);
        store.start_feed(events);
        let hub = Arc::new(Self {
            sockets: RwLock::new(HashMap::new()),
            next_socket_id: AtomicU64::new(1),
            queue_capacity: queue_capacity.max(1),
            stats: PushStats::default(),
            backlog: Mutex::default(),
            room: tokio::sync::Notify::new(),
            instance: rand::random::<u64>().max(1),
            list_hints: std::sync::OnceLock::new(),
            online_groups: OnlineGroups::start(Arc::clone(&store)),
        });
        tokio::spawn(fan_out(Arc::downgrade(&hub), store, rx));
        hub
    }

    /// Registers a socket of `user`, logged in with the token whose hash is
    /// `token_hash`.
    pub fn subscribe(self: &Arc<Self>, user: Id, token_hash: TokenHash) -> Subscription {
        self.subscribe_with(user, token_hash, false)
    }

    /// [`Hub::subscribe`], for a socket that asked for `yhconv_list_rows`
    /// frames when `list_changes`.
    pub fn subscribe_with(self: &Arc<Self>, user: Id, token_hash: TokenHash, list_changes: bool) -> Subscription {
        let (queue, frames) = mpsc::channel(self.queue_capacity);
        let id = self.next_socket_id.fetch_add(1, Ordering::Relaxed);
        let lagged = Arc::new(AtomicBool::new(false));
        let logged_out = Arc::new(AtomicBool::new(false));
        let entry = SocketEntry {
            id,
            token_hash,
            queue,
            lagged: Arc::clone(&lagged),
            logged_out: Arc::clone(&logged_out),
            list_changes,
        };
        {
            let mut sockets = self.sockets.write().unwrap_or_else(|p| p.into_inner());
            let list = sockets.entry(user).or_default();
            if list.is_empty() {
                self.online_groups.user_online(user);
            }
            list.push(entry);
        }
        Subscription { hub: Arc::clone(self), user, id, frames, lagged, logged_out }
    }

    /// Drops every socket of this instance logged in with a revoked token:
    /// each gets the frames already queued, then closes saying why.
    fn log_out(&self, token_hash: &TokenHash) {
        let mut sockets = self.sockets.write().unwrap_or_else(|p| p.into_inner());
        sockets.retain(|user, list| {
            list.retain(|socket| {
                let revoked = socket.token_hash == *token_hash;
                if revoked {
                    socket.logged_out.store(true, Ordering::Relaxed);
                }
                !revoked
            });
            if list.is_empty() {
                self.online_groups.user_offline(*user);
            }
            !list.is_empty()
        });
    }

    fn unregister(&self, user: Id, id: u64) {
        let mut sockets = self.sockets.write().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = sockets.get_mut(&user) {
            list.retain(|s| s.id != id);
            if list.is_empty() {
                sockets.remove(&user);
                self.online_groups.user_offline(user);
            }
        }
    }

    /// Waits until the store's feed delivers to this hub (at once for a
    /// store this process alone writes), at most `within`; false if not
    /// yet. A message committed before then reaches no socket here.
    pub async fn wait_for_feed(&self, within: std::time::Duration) -> bool {
        self.online_groups.wait_listening(within).await
    }

    /// Number of logged-in sockets.
    pub fn socket_count(&self) -> usize {
        self.sockets.read().unwrap_or_else(|p| p.into_inner()).values().map(Vec::len).sum()
    }

    /// The sink through which the store's list changes must reach the
    /// index of online users' groups (once; see [`crate::online`]), for a
    /// store other instances write too when `shared`.
    pub fn online_groups_sink(&self, shared: bool) -> Arc<dyn ListSink> {
        self.online_groups.sink(shared)
    }

    /// How big the index of online users' groups is.
    pub fn online_groups_sizes(&self) -> IndexSizes {
        self.online_groups.sizes()
    }

    /// Starts handing [`ListHint`]s to `hints` (once).
    pub fn send_list_hints(&self, hints: Arc<ListHints>) {
        let _ = self.list_hints.set(hints);
    }

    /// Whether `user` has a socket here that asked for list rows.
    pub fn wants_list_rows(&self, user: Id) -> bool {
        let sockets = self.sockets.read().unwrap_or_else(|p| p.into_inner());
        sockets.get(&user).is_some_and(|list| list.iter().any(|s| s.list_changes))
    }

    /// Users with a socket here that asked for list rows.
    pub fn list_row_users(&self) -> Vec<Id> {
        let sockets = self.sockets.read().unwrap_or_else(|p| p.into_inner());
        sockets.iter().filter(|(_, list)| list.iter().any(|s| s.list_changes)).map(|(user, _)| *user).collect()
    }

    /// Queues `frame` for every socket of `user` here (only those that asked
    /// for list rows when `list_rows_only`), except socket `except` of this
    /// instance; drops sockets whose queue is full. How many got it.
    pub fn send_to_user(&self, user: Id, frame: Bytes, list_rows_only: bool, except: SocketOrigin) -> usize {
        let mut lagging = Vec::new();
        let mut delivered = 0;
        {
            let sockets = self.sockets.read().unwrap_or_else(|p| p.into_inner());
            let Some(list) = sockets.get(&user) else { return 0 };
            for socket in list {
                if (list_rows_only && !socket.list_changes)
                    || (except.instance == self.instance && except.socket == socket.id)
                {
                    continue;
                }
                match socket.queue.try_send(frame.clone()) {
                    Ok(()) => delivered += 1,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        socket.lagged.store(true, Ordering::Relaxed);
                        lagging.push(socket.id);
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => lagging.push(socket.id),
                }
            }
        }
        self.stats.frames_delivered.fetch_add(delivered as u64, Ordering::Relaxed);
        for id in lagging {
            tracing::warn!(%user, socket = id, capacity = self.queue_capacity, "push queue full: dropping socket");
            self.stats.sockets_dropped.fetch_add(1, Ordering::Relaxed);
            self.unregister(user, id);
        }
        delivered
    }

    /// Tells the live lists that these users' lists may have changed.
    fn hint_lists(&self, users: impl IntoIterator<Item = Id>) {
        if let Some(hints) = self.list_hints.get() {
            for user in users {
                if self.wants_list_rows(user) {
                    hints.send(ListHint::User(user));
                }
            }
        }
    }

    /// Delivers each message of `batch`, in order, to every socket of each
    /// of `receivers`, taking the registry's lock once; drops sockets whose
    /// queue is full (they close saying they fell too far behind).
    fn deliver_slice(&self, batch: &[PushFrames], receivers: &[(Id, Id)]) {
        let mut lagging = Vec::new();
        let mut delivered = 0u64;
        {
            let sockets = self.sockets.read().unwrap_or_else(|p| p.into_inner());
            for &(receiver, chat_id) in receivers {
                let Some(list) = sockets.get(&receiver) else { continue };
                for frames in batch {
                    let frame = frames.frame(receiver, chat_id);
                    for socket in list {
                        match socket.queue.try_send(frame.clone()) {
                            Ok(()) => delivered += 1,
                            Err(mpsc::error::TrySendError::Full(_)) => {
                                socket.lagged.store(true, Ordering::Relaxed);
                                lagging.push((receiver, socket.id));
                            }
                            Err(mpsc::error::TrySendError::Closed(_)) => lagging.push((receiver, socket.id)),
                        }
                    }
                }
            }
        }
        self.stats.frames_delivered.fetch_add(delivered, Ordering::Relaxed);
        lagging.sort_unstable();
        lagging.dedup();
        for (user, id) in lagging {
            tracing::warn!(%user, socket = id, capacity = self.queue_capacity, "push queue full: dropping socket");
            self.stats.sockets_dropped.fetch_add(1, Ordering::Relaxed);
            self.unregister(user, id);
        }
    }

    /// What the hub has done and has waiting.
    pub fn stats(&self) -> &PushStats {
        &self.stats
    }

    /// Waits (at most [`ROOM_WAIT`]) while `chat` has [`CHAT_BACKLOG`]
    /// messages waiting in this hub: called before a send into it is
    /// stored, so a chat that sends faster than its pushes go out is slowed
    /// down, and other chats are not.
    pub async fn wait_for_room(&self, chat: ChatRef) {
        let deadline = tokio::time::Instant::now() + ROOM_WAIT;
        let mut slowed = false;
        loop {
            let notified = self.room.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.backlog.lock().unwrap_or_else(|p| p.into_inner()).get(&chat).copied().unwrap_or(0) < CHAT_BACKLOG {
                return;
            }
            if !slowed {
                slowed = true;
                self.stats.sends_slowed.fetch_add(1, Ordering::Relaxed);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }

    /// Counts a message of `chat` taken in (`+1`) or done with (`-1`).
    fn backlog_changed(&self, chat: ChatRef, by: isize) {
        let mut backlog = self.backlog.lock().unwrap_or_else(|p| p.into_inner());
        let count = backlog.entry(chat).or_default();
        let before = *count;
        *count = count.saturating_add_signed(by);
        let left = *count;
        if left == 0 {
            backlog.remove(&chat);
        }
        drop(backlog);
        if before >= CHAT_BACKLOG && left < CHAT_BACKLOG {
            self.room.notify_waiters();
        }
    }
}

/// Frames delivered in one turn before the next chat waiting for the hub
/// gets its turn: a big group's messages are delivered in slices, and a
/// small chat's message goes out between two of them.
const SLICE: usize = 512;
/// Receivers served in one turn at least, however many messages go to each.
const MIN_RECEIVERS_PER_TURN: usize = 32;
/// Events taken in and waiting for their turn; while this many wait, no
/// more are taken in (the feed's queue fills, and writers wait).
const MAX_PENDING_PUSHES: usize = 8192;
/// Messages of one chat that may wait in the hub before a new send into
/// that chat waits for room ([`Hub::wait_for_room`]): a chat that sends
/// faster than its pushes go out is slowed down, and no other chat is.
pub const CHAT_BACKLOG: usize = 64;
/// Longest a send waits for room before it goes ahead anyway.
const ROOM_WAIT: Duration = Duration::from_secs(10);

/// What the hub has done and has waiting, for `/metrics`.
#[derive(Debug, Default)]
pub struct PushStats {
    /// Events in the feed's queue, not yet taken in (as of the last turn).
    pub events_queued: AtomicU64,
    /// Events taken in and waiting for their turn.
    pub events_pending: AtomicU64,
    /// Frames of loaded messages not yet delivered.
    pub frames_pending: AtomicU64,
    /// Frames put in sockets' queues.
    pub frames_delivered: AtomicU64,
    /// Sockets dropped because their queue was full.
    pub sockets_dropped: AtomicU64,
    /// Sends that waited for room in their chat's backlog.
    pub sends_slowed: AtomicU64,
}

/// Messages of one chat delivered together at most: a socket gets them in
/// one write instead of one each.
const MAX_BATCH: usize = 16;

/// One message, or several of one chat in a row, on the way to their online
/// receivers.
enum Job {
    /// Announced, not loaded yet (it is loaded in its chat's first turn).
    Announced(MessageKey, PushKind),
    /// Loaded: the frames of each message, in order, and who is online to
    /// receive them (the same receivers for all).
    Loaded {
        frames: Vec<PushFrames>,
        /// (receiver, chat id as the receiver sees it)
        receivers: Vec<(Id, Id)>,
        /// Receivers served so far.
        done: usize,
    },
}

/// The messages waiting for delivery, by chat, taken in turns: each turn
/// loads or delivers one slice of the oldest message of the chat next in
/// the ring, so chats share the hub fairly and each chat's messages keep
/// their order.
#[derive(Default)]
struct Turns {
    by_chat: HashMap<ChatRef, VecDeque<Job>>,
    ring: VecDeque<ChatRef>,
    jobs: usize,
    frames: usize,
}

impl Turns {
    fn announce(&mut self, hub: &Hub, key: MessageKey, kind: PushKind) {
        self.jobs += 1;
        hub.backlog_changed(key.chat, 1);
        let queue = self.by_chat.entry(key.chat).or_default();
        if queue.is_empty() {
            self.ring.push_back(key.chat);
        }
        queue.push_back(Job::Announced(key, kind));
    }

    fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// One turn of the next chat: loads its oldest message if it is not
    /// loaded yet, or else loads one more behind it (so that a big group's
    /// next messages are ready when its current one is done), then delivers
    /// a slice of about [`SLICE`] frames of its oldest. Before their first
    /// slice, the loaded messages behind the oldest that go to the same
    /// receivers join it (up to [`MAX_BATCH`]), so each socket gets them in
    /// one write.
    async fn take_turn(&mut self, hub: &Hub, store: &dyn Store) {
        let Some(chat) = self.ring.pop_front() else { return };
        let Some(queue) = self.by_chat.get_mut(&chat) else { return };
        let next_to_load = queue.iter().take(MAX_BATCH + 1).position(|job| matches!(job, Job::Announced(..)));
        if let Some(at) = next_to_load {
            let Job::Announced(key, kind) = queue[at] else { unreachable!("found above") };
            match load(hub, store, key, kind).await {
                Some((frames, receivers)) if !receivers.is_empty() => {
                    // An edit or recall may change the row of every receiver.
                    if kind != PushKind::New {
                        hub.hint_lists(receivers.iter().map(|&(user, _)| user));
                    }
                    self.frames += receivers.len();
                    queue[at] = Job::Loaded { frames: vec![frames], receivers, done: 0 };
                }
                _ => {
                    queue.remove(at);
                    self.jobs -= 1;
                    hub.backlog_changed(chat, -1);
                }
            }
        }
        while queue.len() > 1 {
            let joins = match (&queue[0], &queue[1]) {
                (
                    Job::Loaded { frames, receivers, done: 0 },
                    Job::Loaded { frames: next, receivers: next_receivers, done: 0 },
                ) => frames.len() + next.len() <= MAX_BATCH && receivers == next_receivers,
                _ => false,
            };
            if !joins {
                break;
            }
            if let (Some(Job::Loaded { frames: more, .. }), Some(Job::Loaded { frames, .. })) =
                (queue.remove(1), queue.front_mut())
            {
                frames.extend(more);
            }
        }
        if let Some(Job::Loaded { frames, receivers, done }) = queue.front_mut() {
            let per_turn = (SLICE / frames.len()).max(MIN_RECEIVERS_PER_TURN);
            let end = (*done + per_turn).min(receivers.len());
            hub.deliver_slice(frames, &receivers[*done..end]);
            self.frames -= (end - *done) * frames.len();
            *done = end;
            if *done == receivers.len() {
                let messages = frames.len();
                queue.pop_front();
                self.jobs -= messages;
                hub.backlog_changed(chat, -(messages as isize));
            }
        }
        if queue.is_empty() {
            self.by_chat.remove(&chat);
        } else {
            self.ring.push_back(chat);
        }
    }
}

/// The fan-out task: takes in every event that has arrived (up to
/// [`MAX_PENDING_PUSHES`] waiting), each into its chat's queue, and serves
/// the chats in turns.
async fn fan_out(hub: std::sync::Weak<Hub>, store: Arc<dyn Store>, mut events: mpsc::Receiver<Event>) {
    let mut turns = Turns::default();
    let runtime = tokio::runtime::Handle::current();
    loop {
        let first = if turns.is_empty() {
            match events.recv().await {
                Some(event) => Some(event),
                None => return,
            }
        } else {
            None
        };
        let Some(hub) = hub.upgrade() else { return };
        let mut next = first;
        loop {
            if next.is_none() && turns.jobs < MAX_PENDING_PUSHES {
                next = events.try_recv().ok();
            }
            let Some(event) = next.take() else { break };
            match event {
                // Frames of messages committed before the logout go out first.
                Event::LoggedOut(token_hash) => {
                    while !turns.is_empty() {
                        turns.take_turn(&hub, store.as_ref()).await;
                    }
                    hub.log_out(&token_hash);
                }
                Event::Message(key) => turns.announce(&hub, key, PushKind::New),
                Event::Edited(key) => turns.announce(&hub, key, PushKind::Edited),
                Event::Recalled(key) => turns.announce(&hub, key, PushKind::Recalled),
                Event::Draft { user, peer, origin } => deliver_draft(&hub, store.as_ref(), user, peer, origin).await,
            }
        }
        // The sockets woken by the last turns write first: while the
        // runtime's shared queue holds more than a slice of woken tasks,
        // a new turn would only put its sockets behind them, and every
        // task woken meanwhile (a request, a small chat's socket) too.
        while runtime.metrics().global_queue_depth() > SLICE {
            tokio::task::yield_now().await;
        }
        turns.take_turn(&hub, store.as_ref()).await;
        hub.stats.events_queued.store(events.len() as u64, Ordering::Relaxed);
        hub.stats.events_pending.store(turns.jobs as u64, Ordering::Relaxed);
        hub.stats.frames_pending.store(turns.frames as u64, Ordering::Relaxed);
        // Let sockets write what they were given before the next turn.
        tokio::task::yield_now().await;
    }
}

/// Pushes `user`'s current draft in the chat with `peer` to their sockets
/// here, except the one it was typed on (nothing for a user not online).
async fn deliver_draft(hub: &Hub, store: &dyn Store, user: Id, peer: Id, origin: SocketOrigin) {
    let online = hub.sockets.read().unwrap_or_else(|p| p.into_inner()).contains_key(&user);
    if !online {
        return;
    }
    match store.draft(user, peer).await {
        Ok(input) => {
            hub.send_to_user(user, encode_draft(peer, input.as_deref().unwrap_or_default()), false, origin);
        }
        Err(e) => tracing::error!(error = %e, %user, %peer, "push: cannot load draft"),
    }
}

/// The `draft_input` frame of a draft in the chat `peer` (an empty `input`
/// clears it).
pub fn encode_draft(peer: Id, input: &str) -> Bytes {
    let frame = DraftFrame {
        info: Some(Info { seq: String::new(), cmd: cmd::DRAFT_INPUT.into() }),
        data: Some(DraftData {
            any: MSG_INPUT_TYPE_URL.into(),
            draft: Some(Draft { chat_id: peer.to_string(), input: input.to_owned() }),
        }),
    };
    Bytes::from(frame.encode_to_vec())
}

/// What happened to a pushed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushKind {
    /// It was sent: `push_message`.
    New,
    /// It was edited: `edit_message`, with `edit_time`.
    Edited,
    /// It was recalled: `push_message` with `delete_timestamp` and the
    /// notice as its text.
    Recalled,
}

/// Loads one stored message and who among its receivers is online: its
/// frames and their receivers, or `None` when nobody is to get it.
async fn load(hub: &Hub, store: &dyn Store, key: MessageKey, kind: PushKind) -> Option<(PushFrames, Vec<(Id, Id)>)> {
    if hub.socket_count() == 0 {
        return None;
    }
    let stored = match store.pushed_message(key).await {
        Ok(Some(stored)) => stored,
        Ok(None) => {
            tracing::warn!(?key, "push: announced message not found");
            return None;
        }
        Err(e) => {
            tracing::error!(error = %e, ?key, "push: cannot load message");
            return None;
        }
    };
    // A message recalled by the time it is pushed shows nothing of itself
    // any more: its recall's push (which follows) says what became of it.
    if kind != PushKind::Recalled && stored.message.recall_ms > 0 {
        return None;
    }
    hub.online_groups.saw_identity_epoch(stored.identity_epoch);
    let (sender, peer) = (stored.message.sender.id, stored.peer.id);
    let receivers: Vec<(Id, Id)> = match stored.peer.kind {
        ChatType::User => vec![(sender, peer), (peer, sender)],
        ChatType::Bot => vec![(sender, peer)],
        ChatType::Group if stored.peer_dismissed => return None,
        ChatType::Group => {
            let GroupReceivers { mut members, stale } = hub.online_groups.receivers(peer);
            if !stale.is_empty() {
                match store.members_among(peer, stale).await {
                    Ok(more) => members.extend(more),
                    Err(e) => {
                        tracing::error!(error = %e, group = %peer, "push: cannot read group members");
                        return None;
                    }
                }
            }
            group_receivers(peer, members)
        }
    };
    let content = match kind {
        PushKind::Recalled => MsgContent {
            text: recall_notice(stored.recaller_name.as_deref().unwrap_or_default()),
            ..Default::default()
        },
        // Stored bytes were encoded by us from a decoded message.
        PushKind::New | PushKind::Edited => MsgContent::decode(stored.message.content.as_slice()).unwrap_or_default(),
    };
    Some((PushFrames::new(&stored, &content, kind), receivers))
}

/// A group message's receivers, in the order of their ids whatever order
/// the online index's sets and the database's answer came in: consecutive
/// messages join into one delivery (one write per socket) only when their
/// receivers compare equal, and without one order they did not whenever
/// the index had changed or was still loading between two loads.
fn group_receivers(group: Id, mut members: Vec<Id>) -> Vec<(Id, Id)> {
    members.sort_unstable();
    members.into_iter().map(|member| (member, group)).collect()
}

/// One message's push frames, encoded once for all its receivers. The
/// frames of two receivers differ only in `recv_id` and `chat_id` (fields 3
/// and 4 of `PushMsg`), so each is the bytes before and after those two
/// fields with them and the enclosing lengths written in between: the same
/// bytes [`encode_push`] gives, for a copy instead of an encode.
pub struct PushFrames {
    /// `WsFrame` field 1 (`info`), whole.
    info: Vec<u8>,
    /// `PushData` field 1 (`any`), whole.
    any: Vec<u8>,
    /// `PushMsg` fields 1 and 2.
    head: Vec<u8>,
    /// `PushMsg` fields 5 and on.
    tail: Vec<u8>,
}

impl PushFrames {
    /// The frames of `stored`, showing `content`, as `kind` pushes them.
    pub fn new(stored: &AddressedMessage, content: &MsgContent, kind: PushKind) -> Self {
        let frame = push_frame(stored, content, kind, String::new(), String::new());
        let data = frame.data.expect("a push frame has data");
        let msg = data.msg.expect("a push frame has a message");
        let info = WsFrame { info: frame.info, data: None }.encode_to_vec();
        let any = PushData { any: data.any, msg: None }.encode_to_vec();
        let head = PushMsg { msg_id: msg.msg_id.clone(), sender: msg.sender.clone(), ..Default::default() };
        let tail = PushMsg { msg_id: String::new(), sender: None, ..msg };
        Self { info, any, head: head.encode_to_vec(), tail: tail.encode_to_vec() }
    }

    /// The frame for `receiver`, who sees the chat as `chat_id`.
    pub fn frame(&self, receiver: Id, chat_id: Id) -> Bytes {
        use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
        let mut receiver_digits = itoa::Buffer::new();
        let receiver = receiver_digits.format(receiver.get());
        let mut chat_digits = itoa::Buffer::new();
        let chat_id = chat_digits.format(chat_id.get());
        // Fields 3 and 4: a one-byte key, the length, the digits.
        let field_len = |digits: &str| 1 + encoded_len_varint(digits.len() as u64) + digits.len();
        let ids_len = field_len(receiver) + field_len(chat_id);
        let msg_len = self.head.len() + ids_len + self.tail.len();
        let data_len = self.any.len() + 1 + encoded_len_varint(msg_len as u64) + msg_len;
        let frame_len = self.info.len() + 1 + encoded_len_varint(data_len as u64) + data_len;
        let mut out = BytesMut::with_capacity(frame_len);
        out.extend_from_slice(&self.info);
        encode_key(2, WireType::LengthDelimited, &mut out);
        encode_varint(data_len as u64, &mut out);
        out.extend_from_slice(&self.any);
        encode_key(2, WireType::LengthDelimited, &mut out);
        encode_varint(msg_len as u64, &mut out);
        out.extend_from_slice(&self.head);
        for (tag, digits) in [(3, receiver), (4, chat_id)] {
            encode_key(tag, WireType::LengthDelimited, &mut out);
            encode_varint(digits.len() as u64, &mut out);
            out.extend_from_slice(digits.as_bytes());
        }
        out.extend_from_slice(&self.tail);
        debug_assert_eq!(out.len(), frame_len);
        out.freeze()
    }
}

/// The frame of `stored` (whose content to show is `content`) for one
/// receiver, encoded whole (the reference [`PushFrames`] is checked against).
pub fn encode_push(
    stored: &AddressedMessage,
    content: &MsgContent,
    kind: PushKind,
    receiver: Id,
    chat_id: Id,
) -> Bytes {
    Bytes::from(push_frame(stored, content, kind, receiver.to_string(), chat_id.to_string()).encode_to_vec())
}

/// The push frame of `stored` for `recv_id`, who sees the chat as `chat_id`.
fn push_frame(
    stored: &AddressedMessage,
    content: &MsgContent,
    kind: PushKind,
    recv_id: String,
    chat_id: String,
) -> WsFrame {
    let message = &stored.message;
    let cmd = match kind {
        PushKind::New | PushKind::Recalled => cmd::PUSH_MESSAGE,
        PushKind::Edited => cmd::EDIT_MESSAGE,
    };
    WsFrame {
        info: Some(Info { seq: message.msg_id.clone(), cmd: cmd.into() }),
        data: Some(PushData {
            any: PUSH_MESSAGE_TYPE_URL.into(),
            msg: Some(PushMsg {
                msg_id: message.msg_id.clone(),
                sender: Some(Sender {
                    chat_id: message.sender.id.to_string(),
                    chat_type: message.sender.kind.code(),
                    name: message.sender.name.clone(),
                    avatar_url: message.sender.avatar_url.clone(),
                }),
                recv_id,
                chat_id,
                chat_type: stored.peer.kind.code(),
                content: Some(content.clone()),
                content_type: message.content_type,
                timestamp: message.sent_ms.max(0) as u64,
                delete_timestamp: if kind == PushKind::Recalled { message.recall_ms.max(0) as u64 } else { 0 },
                quote_msg_id: message.quote_msg_id.clone(),
                msg_seq: message.seq.max(0) as u64,
                edit_time: if kind == PushKind::Edited { message.edit_ms.max(0) as u64 } else { 0 },
            }),
        }),
    }
}

/// The `login_ack` frame answering a good login `seq`.
pub fn encode_login_ack(seq: &str) -> Bytes {
    let frame = WsFrame { info: Some(Info { seq: seq.to_owned(), cmd: cmd::LOGIN_ACK.into() }), data: None };
    Bytes::from(frame.encode_to_vec())
}

/// The `heartbeat_ack` frame answering heartbeat `seq`.
pub fn encode_heartbeat_ack(seq: &str) -> Bytes {
    let frame = WsFrame { info: Some(Info { seq: seq.to_owned(), cmd: cmd::HEARTBEAT_ACK.into() }), data: None };
    Bytes::from(frame.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{Entity, StoredMessage};

    #[test]
    fn the_same_members_in_any_order_are_the_same_receivers() {
        let group = Id::from_raw(9);
        let members: Vec<Id> = (1..=50).map(Id::from_raw).collect();
        let mut shuffled = members.clone();
        shuffled.reverse();
        shuffled.swap(3, 40);
        assert_eq!(group_receivers(group, members), group_receivers(group, shuffled));
    }

    fn entity(id: i64, kind: ChatType, name: &str) -> Entity {
        Entity {
            id: Id::from_raw(id),
            kind,
            name: name.into(),
            avatar_url: "https://a/x.png".into(),
            avatar_id: 0,
            certification_level: 0,
        }
    }

    fn stored(peer: Entity, text_len: usize) -> AddressedMessage {
        let content = MsgContent { text: "长".repeat(text_len), ..Default::default() };
        AddressedMessage {
            peer,
            message: StoredMessage {
                msg_id: "0f3c9a".into(),
                seq: 41,
                sender: entity(1001, ChatType::User, "Ann"),
                content_type: 1,
                content: content.encode_to_vec(),
                quote_msg_id: String::new(),
                sent_ms: 1_700_000_000_000,
                edit_ms: 1_700_000_000_500,
                recall_ms: 1_700_000_001_000,
            },
            recaller_name: Some("Ann".into()),
            peer_dismissed: false,
            identity_epoch: 0,
        }
    }

    /// The spliced frames are byte for byte what a whole encode gives, for
    /// every kind, ids of every length and contents whose lengths take one,
    /// two and three bytes to write.
    #[test]
    fn spliced_frames_are_the_whole_encodes() {
        let peers = [
            entity(2001, ChatType::Group, "Team"),
            entity(1002, ChatType::User, "Ben"),
            entity(3001, ChatType::Bot, "Helper"),
        ];
        let ids = [1, 9, 10, 1002, 123_456_789, i64::from(i32::MAX), i64::MAX];
        for peer in peers {
            for text_len in [0, 3, 50, 30_000] {
                let message = stored(peer.clone(), text_len);
                let content = MsgContent::decode(message.message.content.as_slice()).unwrap();
                for kind in [PushKind::New, PushKind::Edited, PushKind::Recalled] {
                    let frames = PushFrames::new(&message, &content, kind);
                    for receiver in ids {
                        for chat in ids {
                            let (receiver, chat) = (Id::from_raw(receiver), Id::from_raw(chat));
                            assert_eq!(
                                frames.frame(receiver, chat),
                                encode_push(&message, &content, kind, receiver, chat),
                                "{kind:?} to {receiver} in {chat}, {text_len} characters"
                            );
                        }
                    }
                }
            }
        }
    }
}
