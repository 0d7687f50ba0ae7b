//! `/v1/msg/*`: send and list messages.

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use prost::Message as _;
use yhconv_proto::pb::{ListMessageRequest, ListMessageResponse, Msg, MsgContent, SendMessage, Sender, StatusOnly};

use super::wire::{ok_status, ApiError, Auth, Proto, ProtoBody, ProtoFormat};
use super::AppState;
use crate::domain::ids::Id;
use crate::domain::model::StoredMessage;

/// The message routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/msg/send-message", post(send_message_route))
        .route("/v1/msg/list-message", post(list_message_route))
}

/// `POST /v1/msg/send-message`: store a message (idempotent on `msg_id`).
async fn send_message_route(
    State(state): State<AppState>,
    auth: Auth<ProtoFormat>,
    ProtoBody(req): ProtoBody<SendMessage>,
) -> Result<Proto<StatusOnly>, ApiError<ProtoFormat>> {
    state.service.send_message(auth.user, req.into()).await?;
    Ok(Proto(StatusOnly { status: ok_status() }))
}

/// `POST /v1/msg/list-message`: history, newest first.
async fn list_message_route(
    State(state): State<AppState>,
    auth: Auth<ProtoFormat>,
    ProtoBody(req): ProtoBody<ListMessageRequest>,
) -> Result<Proto<ListMessageResponse>, ApiError<ProtoFormat>> {
    let before = Some(req.msg_id.as_str()).filter(|m| !m.is_empty());
    let stored = state.service.list_messages(auth.user, &req.chat_id, req.chat_type, req.msg_count, before).await?;
    let msg = stored.into_iter().map(|m| to_wire(m, auth.user)).collect();
    Ok(Proto(ListMessageResponse { status: ok_status(), msg }))
}

fn to_wire(m: StoredMessage, caller: Id) -> Msg {
    let direction = if m.sender.id == caller { "right" } else { "left" };
    Msg {
        msg_id: m.msg_id,
        sender: Some(Sender {
            chat_id: m.sender.id.to_string(),
            chat_type: m.sender.kind.code(),
            name: m.sender.name,
            avatar_url: m.sender.avatar_url,
        }),
        direction: direction.to_owned(),
        content_type: m.content_type,
        // Stored bytes were encoded by us from a decoded message.
        content: MsgContent::decode(m.content.as_slice()).ok(),
        send_time: m.sent_ms.max(0) as u64,
        msg_delete_time: 0,
        quote_msg_id: m.quote_msg_id,
        msg_seq: m.seq.max(0) as u64,
        edit_time: 0,
    }
}
