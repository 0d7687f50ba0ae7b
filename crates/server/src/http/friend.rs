//! `/v1/friend/*`: do-not-disturb.

use axum::extract::State;
use axum::Router;
use yhconv_proto::endpoints as ep;
use yhconv_proto::json::{NoNotifyBody, Reply};

use super::wire::{json_ok, ApiError, Auth, JsonBody, JsonFormat};
use super::{AppState, RouterExt as _};
use crate::domain::error::Error;

/// The friend routes.
pub fn router() -> Router<AppState> {
    Router::new().endpoint(&ep::NO_NOTIFY, no_notify_route)
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
