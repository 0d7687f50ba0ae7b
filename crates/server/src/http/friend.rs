//! `/v1/friend/*`: do-not-disturb, the address book, friend requests, and
//! taking a friend, group or bot out of one's lists.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Router;
use yhconv_proto::endpoints as ep;
use yhconv_proto::json::{
    AgreeBody, ApplyBody, DeleteFriendBody, NoNotifyBody, Reply, RequestIdBody, RequestListData, RequestPageBody,
};
use yhconv_proto::pb::{AddressBookRequest, AddressBookResponse, FriendRequest, RequestListResponse};
use yhconv_proto::ChatType;

use super::wire::{json_ok, ok_status, ApiError, Auth, JsonBody, JsonFormat, Proto, ProtoBody, ProtoFormat, RawBody};
use super::{AppState, RouterExt as _};
use crate::domain::error::Error;
use crate::domain::model::{FriendRequestRow, RequestState};
use crate::service::groups::address_book_wire;

/// The friend routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .endpoint(&ep::NO_NOTIFY, no_notify_route)
        .endpoint(&ep::DELETE_FRIEND, delete_friend_route)
        .endpoint(&ep::ADDRESS_BOOK_LIST, address_book_route)
        .endpoint(&ep::FRIEND_APPLY, apply_route)
        .endpoint(&ep::REQUEST_LIST, request_list_route)
        .endpoint(&ep::AGREE_APPLY, agree_route)
        .endpoint(&ep::IGNORE_APPLY, ignore_route)
        .endpoint(&ep::DELETE_REQUEST, delete_request_route)
}

/// `POST /v1/friend/no-notify`: set the caller's do-not-disturb flag.
async fn no_notify_route(
    State(state): State<AppState>,
    auth: Auth<JsonFormat>,
    JsonBody(body): JsonBody<NoNotifyBody>,
) -> Result<axum::Json<Reply<()>>, ApiError<JsonFormat>> {
    let on = match body.no_notify {
        0 => false,
        1 => true,
        other => return Err(Error::invalid(format!("noNotify must be 0 or 1, got {other}")).into()),
    };
    state.service.set_do_not_disturb(auth.user, &body.chat_id, on).await?;
    Ok(json_ok(None))
}

/// `POST /v1/friend/delete-friend` `{"chatId","chatType"}`: 1 unfriends
/// (the conversation stays), 2 leaves the group, 3 removes the bot.
async fn delete_friend_route(
    State(state): State<AppState>,
    auth: Auth<JsonFormat>,
    JsonBody(body): JsonBody<DeleteFriendBody>,
) -> Result<axum::Json<Reply<()>>, ApiError<JsonFormat>> {
    match body.chat_type {
        Some(2) => state.service.leave_group(auth.user, &body.chat_id).await?,
        Some(1) => state.service.remove_contact(auth.user, &body.chat_id, ChatType::User).await?,
        Some(3) => state.service.remove_contact(auth.user, &body.chat_id, ChatType::Bot).await?,
        Some(other) => return Err(Error::invalid(format!("chatType must be 1, 2 or 3, got {other}")).into()),
        None => return Err(Error::invalid("chatType is required (1 friend, 2 group, 3 bot)").into()),
    }
    Ok(json_ok(None))
}

/// `POST /v1/friend/address-book-list`: sections and md5; a request with
/// the current md5 gets no sections.
async fn address_book_route(
    State(state): State<AppState>,
    auth: Auth<ProtoFormat>,
    ProtoBody(body): ProtoBody<AddressBookRequest>,
) -> Result<Proto<AddressBookResponse>, ApiError<ProtoFormat>> {
    let (sections, md5) = address_book_wire(state.service.address_book(auth.user).await?);
    let data = match body.md5 == md5 {
        true => Vec::new(),
        false => sections,
    };
    Ok(Proto(AddressBookResponse { status: ok_status(), data, md5 }))
}

/// `POST /v1/friend/apply`.
async fn apply_route(
    State(state): State<AppState>,
    auth: Auth<JsonFormat>,
    JsonBody(body): JsonBody<ApplyBody>,
) -> Result<axum::Json<Reply<()>>, ApiError<JsonFormat>> {
    state.service.apply(auth.user, &body.chat_id, body.chat_type, &body.remark).await?;
    Ok(json_ok(None))
}

/// A request as request-list shows it.
fn request_wire(r: FriendRequestRow) -> FriendRequest {
    let invite_at = r.created_ms / 1000;
    FriendRequest {
        receiver_name: r.to.name.clone(),
        receiver_avatar: r.to.avatar_url,
        name: r.from.name,
        avatar: r.from.avatar_url,
        inviter_id: r.from.id.to_string(),
        source_type: 1,
        target_type: 1,
        target_id: r.to.id.to_string(),
        receiver_id: r.to.id.to_string(),
        result: r.state.code() as i32,
        processed_at: r.settled_ms / 1000,
        invite_at,
        invite_at_str: yhconv_proto::dates::utc_datetime(r.created_ms.max(0) as u64),
        request_id: i32::try_from(r.id).unwrap_or(i32::MAX),
        processor_name: match r.state {
            RequestState::Pending => String::new(),
            _ => r.to.name,
        },
        note: r.note,
    }
}

/// `POST /v1/friend/request-list`: protobuf, or JSON `data.list` when the
/// client posts JSON (one client does).
async fn request_list_route(
    State(state): State<AppState>,
    auth: Auth<ProtoFormat>,
    body: RawBody,
) -> Result<Response, ApiError<ProtoFormat>> {
    let found = state.service.requests(auth.user).await?;
    let pending = i32::try_from(found.pending).unwrap_or(i32::MAX);
    let requests: Vec<FriendRequest> = found.rows.into_iter().map(request_wire).collect();
    let total = requests.len() as i32;
    if body.is_json() {
        let _: RequestPageBody = body.json()?;
        return Ok(json_ok(Some(RequestListData { list: requests, total, pending })).into_response());
    }
    Ok(Proto(RequestListResponse { status: ok_status(), requests, total, pending }).into_response())
}

/// `POST /v1/friend/agree-apply`.
async fn agree_route(
    State(state): State<AppState>,
    auth: Auth<JsonFormat>,
    JsonBody(body): JsonBody<AgreeBody>,
) -> Result<axum::Json<Reply<()>>, ApiError<JsonFormat>> {
    let id = body.id.map(|id| i64::try_from(id).unwrap_or(i64::MAX));
    state.service.settle_request(auth.user, id, body.user_id.as_deref(), body.agree.unwrap_or(1)).await?;
    Ok(json_ok(None))
}

/// `POST /v1/friend/ignore-apply`.
async fn ignore_route(
    State(state): State<AppState>,
    auth: Auth<JsonFormat>,
    JsonBody(body): JsonBody<RequestIdBody>,
) -> Result<axum::Json<Reply<()>>, ApiError<JsonFormat>> {
    state.service.ignore_request(auth.user, body.id).await?;
    Ok(json_ok(None))
}

/// `POST /v1/friend/delete-request`.
async fn delete_request_route(
    State(state): State<AppState>,
    auth: Auth<JsonFormat>,
    JsonBody(body): JsonBody<RequestIdBody>,
) -> Result<axum::Json<Reply<()>>, ApiError<JsonFormat>> {
    state.service.delete_request(auth.user, body.id).await?;
    Ok(json_ok(None))
}
