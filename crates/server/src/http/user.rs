//! `/v1/user/*`: email login, logout, and the caller's profile.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::Router;
use yhconv_proto::endpoints as ep;
use yhconv_proto::json::{EmailLoginBody, LoginData, Reply};
use yhconv_proto::pb::{UserInfo, UserInfoData};

use super::wire::{json_ok, ok_status, ApiError, Auth, JsonBody, JsonFormat, Proto, ProtoFormat};
use super::{AppState, RouterExt as _};

/// The user routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .endpoint(&ep::EMAIL_LOGIN, email_login_route)
        .endpoint(&ep::LOGOUT, logout_route)
        .endpoint(&ep::USER_INFO, info_route)
}

/// `POST /v1/user/email-login`: a token for a correct email and password.
async fn email_login_route(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    JsonBody(body): JsonBody<EmailLoginBody>,
) -> Result<axum::Json<Reply<LoginData>>, ApiError<JsonFormat>> {
    state.limits.check_login(peer.ip())?;
    let token = state.service.email_login(&body.email, &body.password, &body.device_id, &body.platform).await?;
    Ok(json_ok(Some(LoginData { token })))
}

/// `POST /v1/user/logout`: revokes the caller's token.
async fn logout_route(
    State(state): State<AppState>,
    auth: Auth<JsonFormat>,
) -> Result<axum::Json<Reply<()>>, ApiError<JsonFormat>> {
    state.service.logout(&auth.token).await?;
    Ok(json_ok(None))
}

/// `GET /v1/user/info`: the caller's profile.
async fn info_route(
    State(state): State<AppState>,
    auth: Auth<ProtoFormat>,
) -> Result<Proto<UserInfo>, ApiError<ProtoFormat>> {
    let profile = state.service.user_info(auth.user).await?;
    let data = UserInfoData {
        id: profile.entity.id.to_string(),
        name: profile.entity.name,
        avatar_url: profile.entity.avatar_url,
        avatar_id: profile.entity.avatar_id,
        phone: profile.phone,
        email: profile.email,
        ..Default::default()
    };
    Ok(Proto(UserInfo { status: ok_status(), data: Some(data) }))
}
