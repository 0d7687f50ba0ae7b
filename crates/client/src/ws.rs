//! The push socket: [`Client::connect_push`], [`PushSocket`] and
//! [`PushEvent`].
//!
//! Client frames are JSON text (`{"seq","cmd","data"}`); server frames are
//! binary protobuf [`pb::WsFrame`]s. A good login is answered `login_ack`
//! (which [`PushSocket::next_event`] skips; Yunhu's own server may not send
//! it) and a bad one only with silence: send a heartbeat and wait for its
//! ack to know the socket works.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::{HeaderValue, USER_AGENT};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use yhconv_proto::frames::cmd;
use yhconv_proto::json::{WsClientFrame, WsLoginData};
use yhconv_proto::pb;

use crate::error::{Error, Result};
use crate::{check_ws_url, Client};

/// What the server pushed.
// Events are handed out one at a time, so the big `Message` variant is not
// worth a `Box` in every caller's pattern.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum PushEvent {
    /// The answer to a heartbeat, carrying its `seq`.
    HeartbeatAck {
        /// The `seq` of the heartbeat being answered.
        seq: String,
    },
    /// A new message in one of the user's conversations, or a recall
    /// (`delete_timestamp` set, the notice as its text).
    Message(pb::PushMsg),
    /// A message was edited: its new content, with `edit_time`.
    Edited(pb::PushMsg),
    /// A draft typed on another device of the user (`draft_input`): it
    /// replaces the chat's draft; an empty one clears it.
    Draft(pb::Draft),
    /// yhconv (sockets opened with [`Client::connect_live_push`]): rows of
    /// the user's list that changed for a reason other than a new message.
    ListRows(pb::ListRows),
    /// A frame with any other `cmd` (or a `push_message` without a message).
    Other {
        /// The frame's `cmd`.
        cmd: String,
    },
}

/// An open, logged-in push socket.
pub struct PushSocket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    timeout: Duration,
    close: Option<CloseReason>,
}

/// How [`Client::connect_push_with`] logs in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushOptions {
    /// Ask yhconv for `yhconv_list_rows` frames (`"listChanges": 1` in the
    /// login's data; other servers ignore it).
    pub list_changes: bool,
    /// Wait for the server's `login_ack` before returning (yhconv sends
    /// one; Yunhu's own server may not).
    pub wait_for_ack: bool,
}

/// Why the server closed the socket, from its close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    /// The WebSocket close code (yhconv: 1000 idle, 1001 shutting down,
    /// 1008 logged out or bad frames, 1013 fell too far behind).
    pub code: u16,
    /// The reason text (yhconv: `idle`, `server shutting down`, `logged
    /// out`, `too far behind`, ...).
    pub reason: String,
    /// Which of yhconv's reasons it is, when it is one.
    pub kind: Option<yhconv_proto::CloseReason>,
}

impl Client {
    /// Opens the push socket at [`Client::ws_url`] and sends the login frame
    /// `{"seq","cmd":"login","data":{"userId","token","platform","deviceId"}}`
    /// with the client's token. `platform` is one of `windows macos android
    /// linux ios fuchsia Web`.
    pub async fn connect_push(&self, user_id: &str, platform: &str, device_id: &str) -> Result<PushSocket> {
        self.connect_push_with(user_id, platform, device_id, PushOptions::default()).await
    }

    /// [`Client::connect_push`] asking yhconv for list rows, and returning
    /// once the login is acknowledged: a list read after this misses no
    /// change, since every later one arrives on the socket.
    pub async fn connect_live_push(&self, user_id: &str, platform: &str, device_id: &str) -> Result<PushSocket> {
        let options = PushOptions { list_changes: true, wait_for_ack: true };
        self.connect_push_with(user_id, platform, device_id, options).await
    }

    /// [`Client::connect_push`] with options.
    pub async fn connect_push_with(
        &self,
        user_id: &str,
        platform: &str,
        device_id: &str,
        options: PushOptions,
    ) -> Result<PushSocket> {
        let token = self.require_token()?.to_owned();
        let url = check_ws_url(&self.ws_url)?;
        let mut request = url.as_str().into_client_request()?;
        request.headers_mut().insert(USER_AGENT, HeaderValue::from_static(crate::USER_AGENT));
        let connect = tokio_tungstenite::connect_async(request);
        let (ws, _response) = tokio::time::timeout(self.timeout, connect)
            .await
            .map_err(|_| Error::WebSocket(format!("connecting to {url} timed out")))??;
        let mut socket = PushSocket { ws, timeout: self.timeout, close: None };
        let login = WsLoginData {
            user_id: user_id.to_owned(),
            token,
            platform: platform.to_owned(),
            device_id: device_id.to_owned(),
            list_changes: u8::from(options.list_changes),
        };
        let data = serde_json::to_value(login).map_err(|e| Error::Decode(e.to_string()))?;
        socket.send_frame(new_seq(), cmd::LOGIN, data).await?;
        if options.wait_for_ack {
            socket.wait_for_login_ack().await?;
        }
        Ok(socket)
    }
}

impl PushSocket {
    /// Reads until the `login_ack` (nothing comes before it from yhconv).
    async fn wait_for_login_ack(&mut self) -> Result<()> {
        let wait = async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Binary(bytes))) => {
                        if let PushEvent::Other { cmd } = decode_frame(&bytes)? {
                            if cmd == cmd::LOGIN_ACK {
                                return Ok(());
                            }
                        }
                    }
                    Some(Ok(Message::Ping(_))) => self.ws.flush().await?,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.into()),
                    None => return Err(Error::WebSocket("the server closed the socket before the login_ack".into())),
                }
            }
        };
        tokio::time::timeout(self.timeout, wait)
            .await
            .map_err(|_| Error::WebSocket("no login_ack: wrong user or token?".into()))?
    }

    /// Sends `{"seq","cmd":"inputInfo","data":{"chatId","input","deviceId"}}`:
    /// the user's draft in `chat_id` (an empty `input` clears it).
    pub async fn send_draft(&mut self, chat_id: &str, input: &str, device_id: &str) -> Result<()> {
        let data = serde_json::to_value(yhconv_proto::json::InputInfoData {
            chat_id: chat_id.to_owned(),
            input: input.to_owned(),
            device_id: device_id.to_owned(),
        })
        .map_err(|e| Error::Decode(e.to_string()))?;
        self.send_frame(new_seq(), cmd::INPUT_INFO, data).await
    }

    /// Sends `{"seq":<new uuid>,"cmd":"heartbeat","data":{}}` and returns the
    /// seq; the ack arrives later through [`PushSocket::next_event`].
    pub async fn heartbeat(&mut self) -> Result<String> {
        let seq = new_seq();
        self.send_frame(seq.clone(), cmd::HEARTBEAT, serde_json::json!({})).await?;
        Ok(seq)
    }

    /// The next event, or `None` once the server has closed the socket.
    /// Answers pings and skips text, pong and empty frames on the way.
    ///
    /// Cancel-safe: dropping the future (e.g. in `tokio::select!`) loses no
    /// event.
    pub async fn next_event(&mut self) -> Result<Option<PushEvent>> {
        loop {
            let msg = match self.ws.next().await {
                None => return Ok(None),
                Some(Ok(msg)) => msg,
                Some(Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed)) => return Ok(None),
                Some(Err(e)) => return Err(e.into()),
            };
            match msg {
                Message::Binary(bytes) => match decode_frame(&bytes)? {
                    // The login's answer says only that it worked; a
                    // heartbeat's ack says the same and more.
                    PushEvent::Other { cmd } if cmd == cmd::LOGIN_ACK => {}
                    event => return Ok(Some(event)),
                },
                // tungstenite queued the pong; send it now, not at the next write.
                Message::Ping(_) => self.ws.flush().await?,
                // The close reply is automatic; the stream ends right after.
                Message::Close(frame) => {
                    self.close = frame.map(|f| {
                        let (code, reason) = (u16::from(f.code), f.reason.to_string());
                        let kind = yhconv_proto::CloseReason::from_frame(code, &reason);
                        CloseReason { code, reason, kind }
                    });
                }
                Message::Text(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }

    /// Why the server closed the socket, once [`PushSocket::next_event`]
    /// returned `None` after a close frame that said so.
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.close.as_ref()
    }

    /// Sends any text frame as is (for testing servers).
    pub async fn send_raw_text(&mut self, text: String) -> Result<()> {
        self.ws.send(Message::text(text)).await?;
        Ok(())
    }

    /// Closes the socket politely: sends a close frame and waits (at most the
    /// client's timeout) for the server's.
    pub async fn close(mut self) -> Result<()> {
        match self.ws.close(None).await {
            Ok(()) | Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {}
            Err(e) => return Err(e.into()),
        }
        let drain = async { while let Some(Ok(_)) = self.ws.next().await {} };
        // A server that never answers the close is its problem, not ours.
        let _ = tokio::time::timeout(self.timeout, drain).await;
        Ok(())
    }

    /// Sends one JSON client frame.
    async fn send_frame(&mut self, seq: String, cmd: &str, data: serde_json::Value) -> Result<()> {
        let frame = WsClientFrame { seq, cmd: cmd.to_owned(), data };
        let text = serde_json::to_string(&frame).map_err(|e| Error::Decode(e.to_string()))?;
        self.send_raw_text(text).await
    }
}

impl std::fmt::Debug for PushSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushSocket").finish_non_exhaustive()
    }
}

/// A fresh frame seq: a uuid v4 in its 32-hex-digit form.
fn new_seq() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The part every server frame shares: its `info` (field 1). Frames are
/// decoded by their `cmd`, since their field 2 differs.
#[derive(Clone, PartialEq, prost::Message)]
struct FrameHead {
    #[prost(message, optional, tag = "1")]
    info: Option<pb::Info>,
}

/// Decodes one binary server frame.
pub(crate) fn decode_frame(bytes: &[u8]) -> Result<PushEvent> {
    let info = FrameHead::decode(bytes)?.info.unwrap_or_default();
    let message = || pb::WsFrame::decode(bytes);
    Ok(match info.cmd.as_str() {
        cmd::HEARTBEAT_ACK => PushEvent::HeartbeatAck { seq: info.seq },
        cmd::PUSH_MESSAGE => match message()?.data.and_then(|d| d.msg) {
            Some(msg) => PushEvent::Message(msg),
            None => PushEvent::Other { cmd: info.cmd },
        },
        cmd::EDIT_MESSAGE => match message()?.data.and_then(|d| d.msg) {
            Some(msg) => PushEvent::Edited(msg),
            None => PushEvent::Other { cmd: info.cmd },
        },
        cmd::DRAFT_INPUT => match pb::DraftFrame::decode(bytes)?.data.and_then(|d| d.draft) {
            Some(draft) => PushEvent::Draft(draft),
            None => PushEvent::Other { cmd: info.cmd },
        },
        cmd::LIST_ROWS => PushEvent::ListRows(pb::ListRowsFrame::decode(bytes)?.rows.unwrap_or_default()),
        _ => PushEvent::Other { cmd: info.cmd },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_heartbeat_ack() {
        let frame = pb::WsFrame { info: Some(pb::Info { seq: "s1".into(), cmd: "heartbeat_ack".into() }), data: None };
        let ev = decode_frame(&frame.encode_to_vec()).unwrap();
        assert_eq!(ev, PushEvent::HeartbeatAck { seq: "s1".into() });
    }

    #[test]
    fn decodes_push_message() {
        let msg = pb::PushMsg { msg_id: "m".into(), chat_id: "7".into(), msg_seq: 3, ..Default::default() };
        let frame = pb::WsFrame {
            info: Some(pb::Info { seq: "".into(), cmd: "push_message".into() }),
            data: Some(pb::PushData { any: yhconv_proto::PUSH_MESSAGE_TYPE_URL.into(), msg: Some(msg.clone()) }),
        };
        assert_eq!(decode_frame(&frame.encode_to_vec()).unwrap(), PushEvent::Message(msg));
    }

    #[test]
    fn other_commands_and_garbage() {
        let frame = pb::WsFrame { info: Some(pb::Info { seq: "".into(), cmd: "edit_message".into() }), data: None };
        let ev = decode_frame(&frame.encode_to_vec()).unwrap();
        assert_eq!(ev, PushEvent::Other { cmd: "edit_message".into() });
        assert!(matches!(decode_frame(&[0xff, 0xff]), Err(Error::Decode(_))));
    }
}
