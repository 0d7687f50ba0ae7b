//! Live pushes: which sockets are logged in as whom, and fan-out of events
//! to them.
//!
//! Sending never waits for a socket. Every event comes the same way, on
//! both engines: the store emits it with the write that made it, and its
//! feed hands it to this instance's hub in commit order (see
//! [`crate::domain::event`]). One fan-out task loads each new message,
//! works out who is online among the chat's members, encodes one frame per
//! receiver and `try_send`s it into each socket's bounded queue. A socket
//! whose queue is full has fallen too far behind: it is dropped from the
//! hub, and its connection closes saying why.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use prost::Message as _;
use tokio::sync::mpsc;
use yhconv_proto::frames::cmd;
use yhconv_proto::pb::{Info, MsgContent, PushData, PushMsg, Sender, WsFrame};
use yhconv_proto::{ChatType, PUSH_MESSAGE_TYPE_URL};

use crate::domain::event::{Event, MessageKey, TokenHash};
use crate::domain::ids::Id;
use crate::domain::model::AddressedMessage;
use crate::domain::store::Store;
use crate::preview::recall_notice;

struct SocketEntry {
    id: u64,
    /// The hash of the token the socket logged in with.
    token_hash: TokenHash,
    queue: mpsc::Sender<Bytes>,
    lagged: Arc<AtomicBool>,
    logged_out: Arc<AtomicBool>,
}

/// Registry of logged-in sockets, fed by the store's events.
pub struct Hub {
    sockets: RwLock<HashMap<Id, Vec<SocketEntry>>>,
    next_socket_id: AtomicU64,
    queue_capacity: usize,
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
        store.start_feed(events);
        let hub = Arc::new(Self {
            sockets: RwLock::new(HashMap::new()),
            next_socket_id: AtomicU64::new(1),
            queue_capacity: queue_capacity.max(1),
        });
        tokio::spawn(fan_out(Arc::downgrade(&hub), store, rx));
        hub
    }

    /// Registers a socket of `user`, logged in with the token whose hash is
    /// `token_hash`.
    pub fn subscribe(self: &Arc<Self>, user: Id, token_hash: TokenHash) -> Subscription {
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
    fn log_out(&self, token_hash: &TokenHash) {
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

/// The fan-out task: one event at a time, in commit order.
async fn fan_out(hub: std::sync::Weak<Hub>, store: Arc<dyn Store>, mut events: mpsc::UnboundedReceiver<Event>) {
    while let Some(event) = events.recv().await {
        let Some(hub) = hub.upgrade() else { return };
        match event {
            Event::LoggedOut(token_hash) => hub.log_out(&token_hash),
            Event::Message(key) => push_message(&hub, store.as_ref(), key, PushKind::New).await,
            Event::Edited(key) => push_message(&hub, store.as_ref(), key, PushKind::Edited).await,
            Event::Recalled(key) => push_message(&hub, store.as_ref(), key, PushKind::Recalled).await,
        }
    }
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

/// Pushes one stored message to every online receiver.
async fn push_message(hub: &Hub, store: &dyn Store, key: MessageKey, kind: PushKind) {
    if hub.socket_count() == 0 {
        return;
    }
    let stored = match store.pushed_message(key).await {
        Ok(Some(stored)) => stored,
        Ok(None) => return tracing::warn!(?key, "push: announced message not found"),
        Err(e) => return tracing::error!(error = %e, ?key, "push: cannot load message"),
    };
    // A message recalled by the time it is pushed shows nothing of itself
    // any more: its recall's push (which follows) says what became of it.
    if kind != PushKind::Recalled && stored.message.recall_ms > 0 {
        return;
    }
    let (sender, peer) = (stored.message.sender.id, stored.peer.id);
    // (receiver, chat id as the receiver sees it)
    let receivers: Vec<(Id, Id)> = match stored.peer.kind {
        ChatType::User => vec![(sender, peer), (peer, sender)],
        ChatType::Bot => vec![(sender, peer)],
        ChatType::Group => match store.members_among(peer, hub.online_users()).await {
            Ok(members) => members.into_iter().map(|m| (m, peer)).collect(),
            Err(e) => return tracing::error!(error = %e, group = %peer, "push: cannot read group members"),
        },
    };
    let content = match kind {
        PushKind::Recalled => MsgContent {
            text: recall_notice(stored.recaller_name.as_deref().unwrap_or_default()),
            ..Default::default()
        },
        // Stored bytes were encoded by us from a decoded message.
        PushKind::New | PushKind::Edited => MsgContent::decode(stored.message.content.as_slice()).unwrap_or_default(),
    };
    for (receiver, chat_id) in receivers {
        hub.deliver(receiver, encode_push(&stored, &content, kind, receiver, chat_id));
    }
}

/// The frame of `stored` (whose content to show is `content`) for one
/// receiver.
pub fn encode_push(
    stored: &AddressedMessage,
    content: &MsgContent,
    kind: PushKind,
    receiver: Id,
    chat_id: Id,
) -> Bytes {
    let message = &stored.message;
    let cmd = match kind {
        PushKind::New | PushKind::Recalled => cmd::PUSH_MESSAGE,
        PushKind::Edited => cmd::EDIT_MESSAGE,
    };
    let frame = WsFrame {
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
                recv_id: receiver.to_string(),
                chat_id: chat_id.to_string(),
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
    };
    Bytes::from(frame.encode_to_vec())
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
