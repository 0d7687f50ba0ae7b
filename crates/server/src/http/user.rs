//! `/v1/user/*`: email login, logout, the caller's profile, other users'
//! profiles, remarks, nickname and avatar.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::Router;
use yhconv_proto::endpoints as ep;
use yhconv_proto::json::{EmailLoginBody, LoginData, Reply, SaveRemarkBody};
use yhconv_proto::pb::{
    EditAvatarRequest, EditNicknameRequest, GetUserResponse, IdRequest, ProfileInfo, RemarkInfo, StatusResponse,
    UserInfo, UserInfoData, UserProfileData,
};

use super::wire::{json_ok, ok_status, ApiError, Auth, JsonBody, JsonFormat, MaybeAuth, Proto, ProtoBody, ProtoFormat};
use super::{AppState, RouterExt as _};
use crate::domain::model::RemarkFields;

/// The user routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .endpoint(&ep::EMAIL_LOGIN, email_login_route)
        .endpoint(&ep::LOGOUT, logout_route)
        .endpoint(&ep::USER_INFO, info_route)
        .endpoint(&ep::GET_USER, get_user_route)
        .endpoint(&ep::SAVE_USER_REMARKS, save_remarks_route)
        .endpoint(&ep::EDIT_NICKNAME, edit_nickname_route)
        .endpoint(&ep::EDIT_AVATAR, edit_avatar_route)
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

/// `POST /v1/user/get-user`: anyone's public profile, answered without a
/// valid token too; the caller's remark only with one.
async fn get_user_route(
    State(state): State<AppState>,
    auth: MaybeAuth,
    ProtoBody(body): ProtoBody<IdRequest>,
) -> Result<Proto<GetUserResponse>, ApiError<ProtoFormat>> {
    let (facts, remark) = state.service.user_profile(auth.user, &body.id).await?;
    let data = UserProfileData {
        id: facts.entity.id.to_string(),
        name: facts.entity.name,
        name_id: facts.entity.id.get().max(0) as u64,
        avatar_url: facts.entity.avatar_url,
        avatar_id: facts.entity.avatar_id.max(0) as u64,
        register_time: match facts.created_ms {
            0 => String::new(),
            ms => yhconv_proto::dates::utc_datetime(ms.max(0) as u64),
        },
        remark_info: auth.user.map(|_| {
            let remark = remark.unwrap_or_default();
            RemarkInfo { remark_name: remark.name, phone: remark.phone, extra_remark: remark.extra }
        }),
        profile_info: Some(ProfileInfo { last_active_time: String::new(), introduction: facts.introduction }),
        ..Default::default()
    };
    Ok(Proto(GetUserResponse { status: ok_status(), data: Some(data) }))
}

/// `POST /v1/user/save-user-remarks`.
async fn save_remarks_route(
    State(state): State<AppState>,
    auth: Auth<JsonFormat>,
    JsonBody(body): JsonBody<SaveRemarkBody>,
) -> Result<axum::Json<Reply<()>>, ApiError<JsonFormat>> {
    let fields = RemarkFields { name: body.name, phone: body.phone, extra: body.others };
    state.service.save_remark(auth.user, &body.friend_id, fields).await?;
    Ok(json_ok(None))
}

/// `POST /v1/user/edit-nickname`.
async fn edit_nickname_route(
    State(state): State<AppState>,
    auth: Auth<ProtoFormat>,
    ProtoBody(body): ProtoBody<EditNicknameRequest>,
) -> Result<Proto<StatusResponse>, ApiError<ProtoFormat>> {
    state.service.rename_user(auth.user, &body.name).await?;
    Ok(Proto(StatusResponse { status: ok_status() }))
}

/// `POST /v1/user/edit-avatar`.
async fn edit_avatar_route(
    State(state): State<AppState>,
    auth: Auth<ProtoFormat>,
    ProtoBody(body): ProtoBody<EditAvatarRequest>,
) -> Result<Proto<StatusResponse>, ApiError<ProtoFormat>> {
    state.service.set_user_avatar(auth.user, &body.url).await?;
    Ok(Proto(StatusResponse { status: ok_status() }))
}
