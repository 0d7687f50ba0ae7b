//! `/v1/msg/*`: send and list messages.

use axum::extract::State;
use axum::Router;
use prost::Message as _;
use yhconv_proto::endpoints as ep;
use yhconv_proto::json::{EditRecordBody, EditRecordItem, EditRecordList, Reply};
use yhconv_proto::pb::{
    ListMessageByMidSeqRequest, ListMessageBySeqRequest, ListMessageRequest, ListMessageResponse, Msg, MsgContent,
    RecallMsg, SendMessage, Sender, StatusOnly,
};

use super::wire::{json_ok, ok_status, ApiError, Auth, JsonBody, JsonFormat, Proto, ProtoBody, ProtoFormat};
use super::{AppState, RouterExt as _};
use crate::domain::ids::Id;
use crate::domain::model::StoredMessage;
use crate::service::edits::content_json;
use crate::service::history::{given_count, given_seq, HistoryQuery};

/// The message routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .endpoint(&ep::SEND_MESSAGE, send_message_route)
        .endpoint(&ep::LIST_MESSAGE, list_message_route)
        .endpoint(&ep::LIST_MESSAGE_BY_SEQ, list_message_by_seq_route)
        .endpoint(&ep::LIST_MESSAGE_BY_MID_SEQ, list_message_by_mid_seq_route)
        .endpoint(&ep::EDIT_MESSAGE, edit_message_route)
        .endpoint(&ep::RECALL_MSG, recall_route)
        .endpoint(&ep::RECALL_MSG_BATCH, recall_route)
        .endpoint(&ep::LIST_MESSAGE_EDIT_RECORD, edit_record_route)
}

type History = Result<Proto<ListMessageResponse>, ApiError<ProtoFormat>>;

/// `POST /v1/msg/send-message`: store a message (idempotent on `msg_id`).
async fn send_message_route(
    State(state): State<AppState>,
    auth: Auth<ProtoFormat>,
    ProtoBody(req): ProtoBody<SendMessage>,
) -> Result<Proto<StatusOnly>, ApiError<ProtoFormat>> {
    state.service.send_message(auth.user, req.into()).await?;
    Ok(Proto(StatusOnly { status: ok_status() }))
}

/// `POST /v1/msg/edit-message`: a new content for one's own message (the
/// body of send-message, `msg_id` naming the message).
async fn edit_message_route(
    State(state): State<AppState>,
    auth: Auth<ProtoFormat>,
    ProtoBody(req): ProtoBody<SendMessage>,
) -> Result<Proto<StatusOnly>, ApiError<ProtoFormat>> {
    state.service.edit_message(auth.user, req.into()).await?;
    Ok(Proto(StatusOnly { status: ok_status() }))
}

/// `POST /v1/msg/recall-msg` and `/v1/msg/recall-msg-batch`: recall
/// messages of one chat, all or nothing.
async fn recall_route(
    State(state): State<AppState>,
    auth: Auth<ProtoFormat>,
    ProtoBody(req): ProtoBody<RecallMsg>,
) -> Result<Proto<StatusOnly>, ApiError<ProtoFormat>> {
    state.service.recall_messages(auth.user, &req.chat_id, req.chat_type, &req.msg_id).await?;
    Ok(Proto(StatusOnly { status: ok_status() }))
}

/// `POST /v1/msg/list-message-edit-record` `{"msgId","size","page"}`: what
/// a message said before each edit, newest first.
async fn edit_record_route(
    State(state): State<AppState>,
    auth: Auth<JsonFormat>,
    JsonBody(body): JsonBody<EditRecordBody>,
) -> Result<axum::Json<Reply<EditRecordList>>, ApiError<JsonFormat>> {
    let size = body.size.unwrap_or(0).min(u64::from(u32::MAX)) as u32;
    let page = body.page.unwrap_or(1).min(u64::from(u32::MAX)) as u32;
    let (records, total) = state.service.edit_records(auth.user, &body.msg_id, size, page).await?;
    let list = records
        .into_iter()
        .map(|r| EditRecordItem {
            id: r.record.id,
            msg_id: r.msg_id,
            content_type: r.record.content_type,
            content_old: content_json(&r.record.content),
            create_time: r.sent_ms,
            msg_time: r.record.edit_ms,
        })
        .collect();
    Ok(json_ok(Some(EditRecordList { list, total })))
}

/// `POST /v1/msg/list-message`: history, newest first.
async fn list_message_route(
    State(state): State<AppState>,
    auth: Auth<ProtoFormat>,
    ProtoBody(req): ProtoBody<ListMessageRequest>,
) -> History {
    let query = HistoryQuery::Before { msg_id: Some(req.msg_id.as_str()), count: given_count(req.msg_count) };
    let stored = state.service.history(auth.user, &req.chat_id, req.chat_type, query).await?;
    Ok(answer(stored, auth.user, false))
}

/// `POST /v1/msg/list-message-by-seq`: the newest 31 messages, or the 31
/// after `msg_seq`; oldest first.
async fn list_message_by_seq_route(
    State(state): State<AppState>,
    auth: Auth<ProtoFormat>,
    ProtoBody(req): ProtoBody<ListMessageBySeqRequest>,
) -> History {
    let query = HistoryQuery::AfterSeq { seq: given_seq(req.msg_seq) };
    let stored = state.service.history(auth.user, &req.chat_id, req.chat_type, query).await?;
    Ok(answer(stored, auth.user, true))
}

/// `POST /v1/msg/list-message-by-mid-seq`: an anchor and the messages
/// before it, oldest first (the anchor last).
async fn list_message_by_mid_seq_route(
    State(state): State<AppState>,
    auth: Auth<ProtoFormat>,
    ProtoBody(req): ProtoBody<ListMessageByMidSeqRequest>,
) -> History {
    let query = HistoryQuery::UpTo {
        msg_id: Some(req.msg_id.as_str()),
        seq: given_seq(req.msg_seq),
        count: given_count(req.msg_count),
    };
    let stored = state.service.history(auth.user, &req.chat_id, req.chat_type, query).await?;
    Ok(answer(stored, auth.user, true))
}

/// A history answer; the by-sequence calls also say how many there are.
fn answer(stored: Vec<StoredMessage>, caller: Id, with_total: bool) -> Proto<ListMessageResponse> {
    let msg: Vec<Msg> = stored.into_iter().map(|m| to_wire(m, caller)).collect();
    let total = if with_total { msg.len() as u64 } else { 0 };
    Proto(ListMessageResponse { status: ok_status(), msg, total })
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
        // Stored bytes were encoded by us from a decoded message; a recalled
        // message has none.
        content: if m.recall_ms > 0 { None } else { MsgContent::decode(m.content.as_slice()).ok() },
        send_time: m.sent_ms.max(0) as u64,
        msg_delete_time: m.recall_ms.max(0) as u64,
        quote_msg_id: m.quote_msg_id,
        msg_seq: m.seq.max(0) as u64,
        edit_time: m.edit_ms.max(0) as u64,
    }
}
