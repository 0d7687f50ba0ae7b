//! `/v1/friend/*`: do-not-disturb.

use axum::extract::State;
use axum::Router;
use yhconv_proto::endpoints as ep;
use yhconv_proto::json::{DeleteFriendBody, NoNotifyBody, Reply};

use super::wire::{json_ok, ApiError, Auth, JsonBody, JsonFormat};
use super::{AppState, RouterExt as _};
use crate::domain::error::Error;

/// The friend routes.
pub fn router() -> Router<AppState> {
    Router::new().endpoint(&ep::NO_NOTIFY, no_notify_route).endpoint(&ep::DELETE_FRIEND, delete_friend_route)
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

/// `POST /v1/friend/delete-friend` `{"chatId","chatType"}`: with chat type
/// 2, leave the group. Unfriending (1) and removing a bot from the address
/// book (3) need friendships and an address book, which this server does not
/// keep yet: `-1` saying so.
async fn delete_friend_route(
    State(state): State<AppState>,
    auth: Auth<JsonFormat>,
    JsonBody(body): JsonBody<DeleteFriendBody>,
) -> Result<axum::Json<Reply<()>>, ApiError<JsonFormat>> {
    match body.chat_type {
        Some(2) => state.service.leave_group(auth.user, &body.chat_id).await?,
        Some(1 | 3) => {
            return Err(Error::invalid(
                "unfriending and removing bots are not offered yet: this server keeps no friendships or address book",
            )
            .into())
        }
        Some(other) => return Err(Error::invalid(format!("chatType must be 1, 2 or 3, got {other}")).into()),
        None => return Err(Error::invalid("chatType is required (2: leave a group)").into()),
    }
    Ok(json_ok(None))
}
