//! `/v1/conversation/*`: the list, mark-read, sort-change and remove.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Router;
use yhconv_proto::endpoints as ep;
use yhconv_proto::json::{ChatIdBody, Reply, SortChangeBody};
use yhconv_proto::pb::ConversationListRequest;

use super::wire::{json_ok, ok_status, ApiError, Auth, JsonBody, JsonFormat, ProtoBody, ProtoFormat};
use super::{AppState, RouterExt as _};
use crate::service::list_wire::encode_list;

type JsonAnswer = Result<axum::Json<Reply<()>>, ApiError<JsonFormat>>;

/// The conversation routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .endpoint(&ep::CONVERSATION_LIST, list_route)
        .endpoint(&ep::DISMISS_NOTIFICATION, dismiss_notification_route)
        .endpoint(&ep::SORT_CHANGE, sort_change_route)
        .endpoint(&ep::REMOVE_CONVERSATION, remove_route)
}

/// `POST /v1/conversation/list`: the caller's list, or an empty answer when
/// the client's md5 still matches; with yhconv's `delta`, only the rows that
/// differ from the client's `known` ones.
async fn list_route(
    State(state): State<AppState>,
    auth: Auth<ProtoFormat>,
    ProtoBody(req): ProtoBody<ConversationListRequest>,
) -> Result<Response, ApiError<ProtoFormat>> {
    let status = ok_status().unwrap_or_default();
    if req.delta {
        let body = state.service.conversation_delta(auth.user, status, &req.md5, &req.known).await?;
        return Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/x-protobuf"))], body).into_response());
    }
    let list = state.service.conversation_list(auth.user).await?;
    let body = if !req.md5.is_empty() && req.md5.eq_ignore_ascii_case(&list.md5) {
        encode_list(status, &[], 0, &list.md5)
    } else {
        encode_list(status, &list.entries, list.total, &list.md5)
    };
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/x-protobuf"))], body).into_response())
}

/// `POST /v1/conversation/dismiss-notification`: mark read.
async fn dismiss_notification_route(
    State(state): State<AppState>,
    auth: Auth<JsonFormat>,
    JsonBody(body): JsonBody<ChatIdBody>,
) -> JsonAnswer {
    state.service.dismiss_notification(auth.user, &body.chat_id).await?;
    Ok(json_ok(None))
}

/// `POST /v1/conversation/sort-change`: bring to top, or create.
async fn sort_change_route(
    State(state): State<AppState>,
    auth: Auth<JsonFormat>,
    JsonBody(body): JsonBody<SortChangeBody>,
) -> JsonAnswer {
    state.service.sort_change(auth.user, &body.user_id).await?;
    Ok(json_ok(None))
}

/// `POST /v1/conversation/remove`: hide until new activity.
async fn remove_route(
    State(state): State<AppState>,
    auth: Auth<JsonFormat>,
    JsonBody(body): JsonBody<ChatIdBody>,
) -> JsonAnswer {
    state.service.remove_conversation(auth.user, &body.chat_id).await?;
    Ok(json_ok(None))
}
