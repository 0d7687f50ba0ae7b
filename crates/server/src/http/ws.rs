//! `GET /ws`: the push socket.
//!
//! Client frames are JSON text (`login`, `heartbeat`, `inputInfo`); server
//! frames are binary protobuf (`heartbeat_ack`, `push_message`,
//! `draft_input`, and `yhconv_list_rows` for a login that asked with
//! `"listChanges": 1`). Before a good login a socket gets nothing back. The session logic is generic over the frame
//! stream and sink, so it is tested without a socket too.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::Router;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::time::Instant;
use yhconv_proto::endpoints as ep;
use yhconv_proto::frames::cmd;
use yhconv_proto::json::{InputInfoData, WsClientFrame, WsLoginData};
use yhconv_proto::CloseReason;

use super::{AppState, RouterExt as _};
use crate::domain::ids::Id;
use crate::push::{encode_draft, encode_heartbeat_ack, encode_login_ack, Subscription};
use crate::service::drafts::DraftCoalescer;
use crate::service::user::token_hash;
use crate::service::Service;

/// Frames that fail to parse before a login, after which the socket closes.
const MAX_BAD_FRAMES_BEFORE_LOGIN: u32 = 16;
/// How long one frame may take to write before the socket is given up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The socket's read buffer: client frames are small (a login, a
/// heartbeat; a bigger one makes the buffer grow for it), an idle socket
/// should cost little memory, and tungstenite zero-fills the whole buffer
/// before every read attempt, which a socket makes each time it wakes up
/// to write a push. Against 4 KiB: 9.4 KiB instead of 12 KiB per idle
/// socket, and 1.7 µs instead of 2.2–3.2 µs of server CPU per frame in
/// `yhconv bench`'s saturated fan-out.
const READ_BUFFER_BYTES: usize = 1024;
/// Bytes of frames gathered before they are written to the socket.
const WRITE_BUFFER_BYTES: usize = 8 * 1024;
/// Most queued push frames written before one flush.
const MAX_FRAMES_PER_WRITE: usize = 64;
/// Most bytes waiting to be written to a socket before it counts as broken
/// (frames are queued in the hub, not here).
const MAX_WRITE_BUFFER_BYTES: usize = 1024 * 1024;

/// The WebSocket route.
pub fn router() -> Router<AppState> {
    Router::new().endpoint(&ep::WS, ws_route)
}

/// `GET /ws`: upgrades to a push socket (any origin).
async fn ws_route(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    let limit = state.config.ws_max_frame_bytes;
    upgrade
        .max_frame_size(limit)
        .max_message_size(limit)
        .read_buffer_size(READ_BUFFER_BYTES)
        // Frames gather up to this much before a write (a flush writes
        // them anyway): a burst of pushes goes out in a few writes.
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "websocket upgrade failed"))
        .on_upgrade(move |socket: WebSocket| async move {
            let (sink, stream) = socket.split();
            let settings = SessionSettings {
                idle_timeout: state.config.ws_idle_timeout(),
                login_timeout: state.config.ws_login_timeout(),
            };
            let closed = run_session(state.service.clone(), settings, state.shutdown.clone(), sink, stream).await;
            state.metrics.socket_closed(closed);
        })
}

/// Per-socket settings.
#[derive(Debug, Clone, Copy)]
pub struct SessionSettings {
    /// Close when nothing arrives from the client for this long.
    pub idle_timeout: Duration,
    /// Close when no good login has come this long after the upgrade.
    pub login_timeout: Duration,
}

/// What to do with one client frame.
enum Action {
    Ignore,
    /// A good login: the user, the hash of the token it used, the seq, and
    /// whether it asked for list rows.
    Login(Id, [u8; 32], String, bool),
    /// A draft, once logged in.
    Draft {
        chat_id: String,
        input: String,
    },
    Answer(axum::body::Bytes),
    Bad,
}

/// Runs one socket until the client leaves, idles out, does not log in in
/// time, falls behind or the server shuts down. Returns why the server
/// closed it, or `None` when the client left.
pub async fn run_session<K, S>(
    service: Service,
    settings: SessionSettings,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    mut sink: K,
    mut stream: S,
) -> Option<CloseReason>
where
    K: Sink<Message> + Unpin,
    S: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let mut subscription: Option<Subscription> = None;
    let mut user: Option<(Id, bool)> = None;
    let mut drafts = DraftCoalescer::default();
    let mut bad_frames = 0u32;
    // The timers and the shutdown signal live across turns of the loop (a
    // push is a turn: making them anew each time would cost a timer-wheel
    // insert and removal per frame).
    let idle = tokio::time::sleep(settings.idle_timeout);
    let mut idle = std::pin::pin!(idle);
    let no_login = tokio::time::sleep(settings.login_timeout);
    let mut no_login = std::pin::pin!(no_login);
    let stopping = shutdown.changed();
    let mut stopping = std::pin::pin!(stopping);
    // None: the client left, or the socket broke; nothing to say.
    let close: Option<CloseReason> = loop {
        tokio::select! {
            incoming = stream.next() => {
                let message = match incoming {
                    Some(Ok(message)) => message,
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "websocket read failed");
                        break Some(CloseReason::BadFrame);
                    }
                    None => break None,
                };
                idle.as_mut().reset(Instant::now() + settings.idle_timeout);
                let text = match message {
                    Message::Text(text) => text.to_string(),
                    Message::Binary(bytes) => match String::from_utf8(bytes.to_vec()) {
                        Ok(text) => text,
                        Err(_) => { bad_frames += 1; String::new() }
                    },
                    Message::Close(_) => break None,
                    Message::Ping(_) | Message::Pong(_) => continue,
                };
                match handle_frame(&service, &text, subscription.is_some()).await {
                    Action::Ignore => {}
                    Action::Bad => bad_frames += 1,
                    Action::Login(login_user, token_hash, seq, list_changes) => {
                        tracing::debug!(user = %login_user, list_changes, "websocket login");
                        if list_changes {
                            if let Err(e) = service.live_login(login_user).await {
                                tracing::error!(error = %e, user = %login_user, "live list: cannot read the list at login");
                            }
                        }
                        subscription = Some(service.subscribe_with(login_user, token_hash, list_changes));
                        user = Some((login_user, list_changes));
                        if !send(&mut sink, Message::Binary(encode_login_ack(&seq))).await {
                            break None;
                        }
                        if !replay_drafts(&service, login_user, &mut sink).await {
                            break None;
                        }
                    }
                    Action::Draft { chat_id, input } => {
                        for (chat_id, input) in drafts.offer(chat_id, input, Instant::now()) {
                            save_draft(&service, user, subscription.as_ref(), &chat_id, &input).await;
                        }
                    }
                    Action::Answer(frame) => {
                        if !send(&mut sink, Message::Binary(frame)).await {
                            break None;
                        }
                    }
                }
                if subscription.is_none() && bad_frames >= MAX_BAD_FRAMES_BEFORE_LOGIN {
                    break Some(CloseReason::TooManyBadFrames);
                }
            }
            frame = next_push(&mut subscription) => match frame {
                Some(frame) => {
                    let queued = subscription.as_mut().map(|sub| &mut sub.frames);
                    if !send_pushes(&mut sink, frame, queued).await {
                        break None;
                    }
                }
                None if subscription.as_ref().is_some_and(Subscription::logged_out) => break Some(CloseReason::LoggedOut),
                None => {
                    tracing::warn!("closing websocket that fell too far behind its pushes");
                    break Some(CloseReason::TooFarBehind);
                }
            },
            _ = sleep_until_due(drafts.next_due()) => {
                for (chat_id, input) in drafts.due(Instant::now()) {
                    save_draft(&service, user, subscription.as_ref(), &chat_id, &input).await;
                }
            }
            _ = &mut idle => break Some(CloseReason::Idle),
            _ = &mut no_login, if subscription.is_none() => break Some(CloseReason::NoLogin),
            _ = &mut stopping => break Some(CloseReason::ShuttingDown),
        }
    };
    if let Some(reason) = close {
        let frame = CloseFrame { code: reason.code(), reason: reason.reason().into() };
        let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
    }
    let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.close()).await;
    // The last draft typed is kept whatever became of the socket.
    for (chat_id, input) in drafts.flush() {
        save_draft(&service, user, subscription.as_ref(), &chat_id, &input).await;
    }
    drop(subscription);
    if let Some((user, true)) = user {
        service.live_logout(user);
    }
    close
}

/// Waits until `due`, or forever when nothing is due.
async fn sleep_until_due(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

/// Stores a draft typed on this socket (a bad one is only logged: the
/// protocol has no answer for `inputInfo`).
async fn save_draft(
    service: &Service,
    user: Option<(Id, bool)>,
    subscription: Option<&Subscription>,
    chat_id: &str,
    input: &str,
) {
    let (Some((user, _)), Some(subscription)) = (user, subscription) else { return };
    if let Err(e) = service.save_draft(user, subscription.origin(), chat_id, input).await {
        tracing::debug!(error = %e, %user, "draft not stored");
    }
}

/// Sends a socket that just logged in the user's drafts; false when the
/// socket broke.
async fn replay_drafts<K: Sink<Message> + Unpin>(service: &Service, user: Id, sink: &mut K) -> bool {
    let drafts = match service.drafts(user).await {
        Ok(drafts) => drafts,
        Err(e) => {
            tracing::error!(error = %e, %user, "cannot read drafts to replay");
            return true;
        }
    };
    for (peer, input) in drafts {
        if !send(sink, Message::Binary(encode_draft(peer, &input))).await {
            return false;
        }
    }
    true
}

/// The next push frame, or pending forever before login.
async fn next_push(subscription: &mut Option<Subscription>) -> Option<axum::body::Bytes> {
    match subscription {
        Some(sub) => sub.frames.recv().await,
        None => std::future::pending().await,
    }
}

/// Writes `first` and the frames queued behind it (up to
/// [`MAX_FRAMES_PER_WRITE`]), then flushes once: a busy socket gets its
/// pushes in a few writes, not one write each.
async fn send_pushes<K: Sink<Message> + Unpin>(
    sink: &mut K,
    first: axum::body::Bytes,
    queued: Option<&mut tokio::sync::mpsc::Receiver<axum::body::Bytes>>,
) -> bool {
    let write = async {
        sink.feed(Message::Binary(first)).await?;
        if let Some(queued) = queued {
            for _ in 1..MAX_FRAMES_PER_WRITE {
                let Ok(frame) = queued.try_recv() else { break };
                sink.feed(Message::Binary(frame)).await?;
            }
        }
        sink.flush().await
    };
    matches!(tokio::time::timeout(WRITE_TIMEOUT, write).await, Ok(Ok(())))
}

async fn send<K: Sink<Message> + Unpin>(sink: &mut K, message: Message) -> bool {
    matches!(tokio::time::timeout(WRITE_TIMEOUT, sink.send(message)).await, Ok(Ok(())))
}

/// A client frame, parsed. Pure, so it is unit-tested and fuzzed on its own
/// (`fuzz/fuzz_targets/ws_frame.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    /// `login` with a well-formed `userId` and a token (not yet checked),
    /// and whether it asks for list rows (`"listChanges": 1`).
    Login { user_id: Id, token: String, seq: String, list_changes: bool },
    /// `inputInfo`: a draft typed in `chat_id` (as the user sees it).
    InputInfo { chat_id: String, input: String },
    /// `heartbeat`, answered with this `seq` once logged in.
    Heartbeat { seq: String },
    /// A well-formed frame with any other command: ignored.
    Other,
    /// Not a frame: not JSON, no `cmd`, wrong types, or a `login` whose data
    /// is malformed. Counts towards [`MAX_BAD_FRAMES_BEFORE_LOGIN`].
    Bad,
}

/// Parses one client text frame (`{"seq","cmd","data"}`).
pub fn parse_client_frame(text: &str) -> ClientFrame {
    let Ok(frame) = serde_json::from_str::<WsClientFrame>(text) else {
        return ClientFrame::Bad;
    };
    match frame.cmd.as_str() {
        cmd::LOGIN => {
            let Ok(login) = serde_json::from_value::<WsLoginData>(frame.data) else {
                return ClientFrame::Bad;
            };
            let Ok(user_id) = Id::parse(&login.user_id, "userId") else {
                return ClientFrame::Bad;
            };
            ClientFrame::Login { user_id, token: login.token, seq: frame.seq, list_changes: login.list_changes != 0 }
        }
        cmd::HEARTBEAT => ClientFrame::Heartbeat { seq: frame.seq },
        cmd::INPUT_INFO => match serde_json::from_value::<InputInfoData>(frame.data) {
            Ok(draft) => ClientFrame::InputInfo { chat_id: draft.chat_id, input: draft.input },
            Err(_) => ClientFrame::Bad,
        },
        _ => ClientFrame::Other,
    }
}

async fn handle_frame(service: &Service, text: &str, logged_in: bool) -> Action {
    match parse_client_frame(text) {
        ClientFrame::Bad => Action::Bad,
        ClientFrame::Login { user_id, token, seq, list_changes } => match service.authenticate(Some(&token)).await {
            Ok(user) if user == user_id => Action::Login(user, token_hash(token.trim()), seq, list_changes),
            _ => Action::Bad,
        },
        ClientFrame::Heartbeat { seq } if logged_in => Action::Answer(encode_heartbeat_ack(&seq)),
        ClientFrame::InputInfo { chat_id, input } if logged_in => Action::Draft { chat_id, input },
        ClientFrame::Heartbeat { .. } | ClientFrame::InputInfo { .. } | ClientFrame::Other => Action::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(user_id: i64, token: &str, seq: &str) -> ClientFrame {
        ClientFrame::Login { user_id: Id::from_raw(user_id), token: token.into(), seq: seq.into(), list_changes: false }
    }

    #[test]
    fn login_frames() {
        let text =
            r#"{"seq":"1","cmd":"login","data":{"userId":"1001","token":"t","platform":"linux","deviceId":"d"}}"#;
        assert_eq!(parse_client_frame(text), login(1001, "t", "1"), "the seq is kept for login_ack");
        // platform, deviceId and seq may be left out; ids are trimmed.
        assert_eq!(parse_client_frame(r#"{"cmd":"login","data":{"userId":" 7 ","token":""}}"#), login(7, "", ""));
        // Extra keys are ignored.
        let extra = r#"{"cmd":"login","x":1,"data":{"userId":"7","token":"t","more":[1]}}"#;
        assert_eq!(parse_client_frame(extra), login(7, "t", ""));
        // yhconv's opt-in for list rows, as a flag or a boolean.
        for flag in ["1", "true", "\"1\""] {
            let text = format!(r#"{{"cmd":"login","data":{{"userId":"7","token":"t","listChanges":{flag}}}}}"#);
            assert_eq!(
                parse_client_frame(&text),
                ClientFrame::Login {
                    user_id: Id::from_raw(7),
                    token: "t".into(),
                    seq: String::new(),
                    list_changes: true
                },
                "{text}"
            );
        }
    }

    #[test]
    fn drafts() {
        let text = r#"{"seq":"1","cmd":"inputInfo","data":{"chatId":"2001","input":"你好","deviceId":"d"}}"#;
        assert_eq!(parse_client_frame(text), ClientFrame::InputInfo { chat_id: "2001".into(), input: "你好".into() });
        let empty = r#"{"cmd":"inputInfo","data":{"chatId":"2001"}}"#;
        assert_eq!(parse_client_frame(empty), ClientFrame::InputInfo { chat_id: "2001".into(), input: String::new() });
        assert_eq!(parse_client_frame(r#"{"cmd":"inputInfo","data":{}}"#), ClientFrame::Bad);
    }

    #[test]
    fn malformed_logins_are_bad() {
        for text in [
            r#"{"cmd":"login"}"#,
            r#"{"cmd":"login","data":{}}"#,
            r#"{"cmd":"login","data":{"userId":"7"}}"#,
            r#"{"cmd":"login","data":{"token":"t"}}"#,
            r#"{"cmd":"login","data":{"userId":7,"token":"t"}}"#,
            r#"{"cmd":"login","data":{"userId":"abc","token":"t"}}"#,
            r#"{"cmd":"login","data":{"userId":"0","token":"t"}}"#,
            r#"{"cmd":"login","data":{"userId":"-3","token":"t"}}"#,
            r#"{"cmd":"login","data":{"userId":"7","token":5}}"#,
            r#"{"cmd":"login","data":"userId"}"#,
        ] {
            assert_eq!(parse_client_frame(text), ClientFrame::Bad, "{text}");
        }
    }

    #[test]
    fn heartbeats_keep_their_seq() {
        let text = r#"{"seq":"42","cmd":"heartbeat","data":{}}"#;
        assert_eq!(parse_client_frame(text), ClientFrame::Heartbeat { seq: "42".into() });
        assert_eq!(parse_client_frame(r#"{"cmd":"heartbeat"}"#), ClientFrame::Heartbeat { seq: String::new() });
        // The data of a heartbeat is not looked at.
        let odd = r#"{"seq":"s","cmd":"heartbeat","data":[1,2]}"#;
        assert_eq!(parse_client_frame(odd), ClientFrame::Heartbeat { seq: "s".into() });
    }

    #[test]
    fn other_commands_are_ignored_not_bad() {
        assert_eq!(parse_client_frame(r#"{"seq":"1","cmd":"subscribe","data":{}}"#), ClientFrame::Other);
        assert_eq!(parse_client_frame(r#"{"cmd":""}"#), ClientFrame::Other);
        assert_eq!(
            parse_client_frame(r#"{"cmd":"Login","data":{}}"#),
            ClientFrame::Other,
            "commands are case-sensitive"
        );
    }

    #[test]
    fn non_frames_are_bad() {
        for text in [
            "",
            " ",
            "null",
            "[]",
            "{}",
            "42",
            r#"{"seq":"1"}"#,
            r#"{"cmd":1}"#,
            r#"{"cmd":"heartbeat","seq":1}"#,
            "{\"cmd\"",
        ] {
            assert_eq!(parse_client_frame(text), ClientFrame::Bad, "{text:?}");
        }
    }
}
