//! Live pushes: which sockets are logged in as whom, and fan-out of new
//! messages to them.
//!
//! Sending never waits for a socket. The service hands each stored message
//! to [`Hub::publish`] (in `msg_seq` order per chat, see [`Hub::order_lock`]);
//! one fan-out task works out who is online among the chat's members, encodes
//! one frame per receiver and `try_send`s it into each socket's bounded
//! queue. A socket whose queue is full has fallen too far behind: it is
//! dropped from the hub, and its connection closes saying why.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use prost::Message as _;
use tokio::sync::mpsc;
use yhconv_proto::pb::{Info, MsgContent, PushData, PushMsg, Sender, WsFrame};
use yhconv_proto::{ChatType, PUSH_MESSAGE_TYPE_URL};

use crate::domain::ids::Id;
use crate::store::{Entity, Store};

/// A stored message to push.
#[derive(Debug, Clone)]
pub struct PushEvent {
    /// The chat as the sender addressed it: the other user, group or bot.
    pub peer: Entity,
    pub sender: Entity,
    pub msg_id: String,
    pub seq: i64,
    pub content_type: u64,
    pub content: MsgContent,
    pub sent_ms: i64,
}

/// What the fan-out task acts on: a stored message, or a revoked token whose
/// sockets must close. With a shared store both arrive from the store's feed,
/// from whichever instance they happened on.
#[derive(Debug, Clone)]
pub enum FeedEvent {
    Message(Box<PushEvent>),
    /// The sha256 of a token that was logged out.
    LoggedOut([u8; 32]),
}

struct SocketEntry {
    id: u64,
    /// The hash of the token the socket logged in with.
    token_hash: [u8; 32],
    queue: mpsc::Sender<Bytes>,
    lagged: Arc<AtomicBool>,
    logged_out: Arc<AtomicBool>,
}

/// Registry of logged-in sockets and the fan-out queue.
pub struct Hub {
    sockets: RwLock<HashMap<Id, Vec<SocketEntry>>>,
    next_socket_id: AtomicU64,
    queue_capacity: usize,
    events: mpsc::UnboundedSender<FeedEvent>,
    /// True when the store feeds every stored message (from any instance).
    store_feeds: bool,
    order_locks: Vec<tokio::sync::Mutex<()>>,
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
        let (events, rx) = mpsc::unbounded_channel();
        let store_feeds = store.start_push_feed(events.clone());
        let hub = Arc::new(Self {
            sockets: RwLock::new(HashMap::new()),
            next_socket_id: AtomicU64::new(1),
            queue_capacity: queue_capacity.max(1),
            events,
            store_feeds,
            order_locks: (0..64).map(|_| tokio::sync::Mutex::new(())).collect(),
        });
        tokio::spawn(fan_out(Arc::downgrade(&hub), store, rx));
        hub
    }

    /// Registers a socket of `user`, logged in with the token whose hash is
    /// `token_hash`.
    pub fn subscribe(self: &Arc<Self>, user: Id, token_hash: [u8; 32]) -> Subscription {
        let (queue, frames) = mpsc::channel(self.queue_capacity);
        let id = self.next_socket_id.fetch_add(1, Ordering::Relaxed);
        let lagged = Arc::new(AtomicBool::new(false));
        let logged_out = Arc::new(AtomicBool::new(false));
        let entry =
            SocketEntry { id, token_hash, queue, lagged: Arc::clone(&lagged), logged_out: Arc::clone(&logged_out) };
        self.sockets.write().unwrap_or_else(|p| p.into_inner()).entry(user).or_default().push(entry);
        Subscription { hub: Arc::clone(self), user, id, frames, lagged, logged_out }
    }

    /// Drops every socket of this instance logged in with a revoked token:
    /// each gets the frames already queued, then closes saying why.
    pub fn log_out(&self, token_hash: &[u8; 32]) {
        let mut sockets = self.sockets.write().unwrap_or_else(|p| p.into_inner());
        sockets.retain(|_, list| {
            list.retain(|socket| {
                let revoked = socket.token_hash == *token_hash;
                if revoked {
                    socket.logged_out.store(true, Ordering::Relaxed);
                }
                !revoked
            });
            !list.is_empty()
        });
    }

    fn unregister(&self, user: Id, id: u64) {
        let mut sockets = self.sockets.write().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = sockets.get_mut(&user) {
            list.retain(|s| s.id != id);
            if list.is_empty() {
                sockets.remove(&user);
            }
        }
    }

    /// Number of logged-in sockets.
    pub fn socket_count(&self) -> usize {
        self.sockets.read().unwrap_or_else(|p| p.into_inner()).values().map(Vec::len).sum()
    }

    /// Users with at least one logged-in socket.
    fn online_users(&self) -> Vec<Id> {
        self.sockets.read().unwrap_or_else(|p| p.into_inner()).keys().copied().collect()
    }

    /// The lock that orders stores and publishes within one chat: hold it
    /// from before a message is stored until it is published, so pushes
    /// leave in `msg_seq` order.
    pub fn order_lock(&self, sender: Id, peer: &Entity) -> &tokio::sync::Mutex<()> {
        let key = match peer.kind {
            ChatType::Group => peer.id.get() as u64,
            _ => (sender.get() as u64) ^ (peer.id.get() as u64),
        };
        &self.order_locks[(key % self.order_locks.len() as u64) as usize]
    }

    /// Queues a message this process stored for fan-out; never blocks.
    /// Does nothing when the store feeds pushes itself (they arrive from it).
    pub fn publish(&self, event: PushEvent) {
        if self.store_feeds {
            return;
        }
        if self.events.send(FeedEvent::Message(Box::new(event))).is_err() {
            tracing::warn!("push fan-out task is gone; push dropped");
        }
    }

    /// Delivers `frame` to every socket of `user`; drops sockets whose queue
    /// is full.
    fn deliver(&self, user: Id, frame: Bytes) {
        let mut lagging = Vec::new();
        if let Some(list) = self.sockets.read().unwrap_or_else(|p| p.into_inner()).get(&user) {
            for socket in list {
                match socket.queue.try_send(frame.clone()) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        socket.lagged.store(true, Ordering::Relaxed);
                        lagging.push(socket.id);
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => lagging.push(socket.id),
                }
            }
        }
        for id in lagging {
            tracing::warn!(%user, socket = id, capacity = self.queue_capacity, "push queue full: dropping socket");
            self.unregister(user, id);
        }
    }
}

/// The fan-out task: one event at a time, in publish order.
async fn fan_out(hub: std::sync::Weak<Hub>, store: Arc<dyn Store>, mut events: mpsc::UnboundedReceiver<FeedEvent>) {
    while let Some(event) = events.recv().await {
        let Some(hub) = hub.upgrade() else { return };
        let event = match event {
            FeedEvent::Message(event) => *event,
            FeedEvent::LoggedOut(token_hash) => {
                hub.log_out(&token_hash);
                continue;
            }
        };
        let receivers: Vec<(Id, Id)> = match event.peer.kind {
            // (receiver, chat id as the receiver sees it)
            ChatType::User => vec![(event.sender.id, event.peer.id), (event.peer.id, event.sender.id)],
            ChatType::Bot => vec![(event.sender.id, event.peer.id)],
            ChatType::Group => {
                let online = hub.online_users();
                if online.is_empty() {
                    continue;
                }
                match store.members_among(event.peer.id, online).await {
                    Ok(members) => members.into_iter().map(|m| (m, event.peer.id)).collect(),
                    Err(e) => {
                        tracing::error!(error = %e, group = %event.peer.id, "push: cannot read group members");
                        continue;
                    }
                }
            }
        };
        for (receiver, chat_id) in receivers {
            hub.deliver(receiver, encode_push(&event, receiver, chat_id));
        }
    }
}

/// The `push_message` frame for one receiver.
pub fn encode_push(event: &PushEvent, receiver: Id, chat_id: Id) -> Bytes {
    let frame = WsFrame {
        info: Some(Info { seq: event.msg_id.clone(), cmd: "push_message".into() }),
        data: Some(PushData {
            any: PUSH_MESSAGE_TYPE_URL.into(),
            msg: Some(PushMsg {
                msg_id: event.msg_id.clone(),
                sender: Some(Sender {
                    chat_id: event.sender.id.to_string(),
                    chat_type: event.sender.kind.code(),
                    name: event.sender.name.clone(),
                    avatar_url: event.sender.avatar_url.clone(),
                }),
                recv_id: receiver.to_string(),
                chat_id: chat_id.to_string(),
                chat_type: event.peer.kind.code(),
                content: Some(event.content.clone()),
                content_type: event.content_type,
                timestamp: event.sent_ms.max(0) as u64,
                msg_seq: event.seq.max(0) as u64,
            }),
        }),
    };
    Bytes::from(frame.encode_to_vec())
}

/// The `heartbeat_ack` frame answering heartbeat `seq`.
pub fn encode_heartbeat_ack(seq: &str) -> Bytes {
    let frame = WsFrame { info: Some(Info { seq: seq.to_owned(), cmd: "heartbeat_ack".into() }), data: None };
    Bytes::from(frame.encode_to_vec())
}
