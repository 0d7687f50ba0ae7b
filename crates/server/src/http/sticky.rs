//! `/v1/sticky/*`: the caller's pins (JSON).

use axum::extract::State;
use axum::Router;
use yhconv_proto::endpoints as ep;
use yhconv_proto::json::{Reply, Sticky, StickyChatBody, StickyIdBody, StickyList};

use super::wire::{json_ok, ApiError, Auth, JsonBody, JsonFormat};
use super::{AppState, RouterExt as _};
use crate::domain::ids::Id;
use crate::domain::model::PinRow;
use crate::service::conversation::display_name;

type JsonAnswer<T = ()> = Result<axum::Json<Reply<T>>, ApiError<JsonFormat>>;

/// The pin routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .endpoint(&ep::STICKY_LIST, list_route)
        .endpoint(&ep::STICKY_ADD, add_route)
        .endpoint(&ep::STICKY_DELETE, delete_route)
        .endpoint(&ep::STICKY_TOPPING, topping_route)
}

/// `POST /v1/sticky/list`: the caller's pins (whatever the body: clients
/// send none, or `{}`).
async fn list_route(State(state): State<AppState>, auth: Auth<JsonFormat>) -> JsonAnswer<StickyList> {
    let pins = state.service.pins(auth.user).await?;
    let sticky = pins.into_iter().map(|p| to_wire(p, auth.user)).collect();
    Ok(json_ok(Some(StickyList { sticky })))
}

/// `POST /v1/sticky/add` `{"chatId","chatType"}`: pin a chat.
async fn add_route(
    State(state): State<AppState>,
    auth: Auth<JsonFormat>,
    JsonBody(body): JsonBody<StickyChatBody>,
) -> JsonAnswer {
    state.service.pin(auth.user, &body.chat_id, body.chat_type).await?;
    Ok(json_ok(None))
}

/// `POST /v1/sticky/delete` `{"chatId","chatType"}`: unpin a chat.
async fn delete_route(
    State(state): State<AppState>,
    auth: Auth<JsonFormat>,
    JsonBody(body): JsonBody<StickyChatBody>,
) -> JsonAnswer {
    state.service.unpin(auth.user, &body.chat_id, body.chat_type).await?;
    Ok(json_ok(None))
}

/// `POST /v1/sticky/topping` `{"id"}`: move a pin first.
async fn topping_route(
    State(state): State<AppState>,
    auth: Auth<JsonFormat>,
    JsonBody(body): JsonBody<StickyIdBody>,
) -> JsonAnswer {
    state.service.move_pin_first(auth.user, body.id).await?;
    Ok(json_ok(None))
}

fn to_wire(pin: PinRow, user: Id) -> Sticky {
    Sticky {
        id: pin.id,
        chat_type: pin.peer.kind.code(),
        chat_id: pin.peer.id.to_string(),
        chat_name: display_name(pin.remark, &pin.peer.name),
        sort: pin.sort_ms / 1000,
        avatar_url: pin.peer.avatar_url,
        create_time: pin.created_ms / 1000,
        del_flag: 0,
        user_id: user.to_string(),
        certification_level: pin.peer.certification_level,
    }
}
