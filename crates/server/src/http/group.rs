//! `/v1/group/*`: group info, members, bots, and membership changes.

use axum::extract::State;
use axum::Router;
use yhconv_proto::endpoints as ep;
use yhconv_proto::json::{EditAdminBody, GagBody, GroupUserBody, InviteBody, Reply};
use yhconv_proto::pb::{
    BotData, BotListResponse, CreateGroupRequest, CreateGroupResponse, GroupData, GroupIdRequest, GroupInfoResponse,
    GroupMember, InviteRequest, ListMemberRequest, ListMemberResponse, MemberUser, StatusResponse,
};

use super::wire::{
    decode_lenient, json_ok, ok_status, ApiError, Auth, JsonBody, JsonFormat, Proto, ProtoBody, ProtoFormat, RawBody,
};
use super::{AppState, RouterExt as _};
use crate::domain::error::Error;
use crate::domain::model::{EntityFacts, GAG_FOREVER};
use crate::service::groups::{is_gagged, permission_level, Invitees};
use crate::service::now_ms;

/// The group routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .endpoint(&ep::GROUP_INFO, info_route)
        .endpoint(&ep::GROUP_LIST_MEMBER, list_member_route)
        .endpoint(&ep::GROUP_BOT_LIST, bot_list_route)
        .endpoint(&ep::CREATE_GROUP, create_route)
        .endpoint(&ep::GROUP_INVITE, invite_route)
        .endpoint(&ep::REMOVE_MEMBER, remove_member_route)
        .endpoint(&ep::DISMISS_GROUP, dismiss_route)
        .endpoint(&ep::GAG_MEMBER, gag_route)
        .endpoint(&ep::EDIT_ADMIN, edit_admin_route)
}

/// Seconds of a time in milliseconds.
fn seconds(ms: i64) -> u64 {
    (ms.max(0) / 1000) as u64
}

/// A bot as group/info and bot-list show it.
pub(super) fn bot_data(bot: EntityFacts) -> BotData {
    BotData {
        id: bot.entity.id.to_string(),
        name: bot.entity.name,
        avatar_url: bot.entity.avatar_url,
        avatar_id: bot.entity.avatar_id.max(0) as u64,
        introduction: bot.introduction,
        create_by: bot.owner.map(|o| o.to_string()).unwrap_or_default(),
        create_time: seconds(bot.created_ms),
    }
}

/// `POST /v1/group/info`.
async fn info_route(
    State(state): State<AppState>,
    auth: Auth<ProtoFormat>,
    ProtoBody(body): ProtoBody<GroupIdRequest>,
) -> Result<Proto<GroupInfoResponse>, ApiError<ProtoFormat>> {
    let info = state.service.group_info(auth.user, &body.group_id).await?;
    let owner = info.facts.owner.map(|o| o.to_string()).unwrap_or_default();
    let mine = info.mine;
    let data = GroupData {
        group_id: info.facts.entity.id.to_string(),
        name: info.facts.entity.name,
        avatar_url: info.facts.entity.avatar_url,
        avatar_id: info.facts.entity.avatar_id.max(0) as u64,
        introduction: info.facts.introduction,
        headcount: info.roster.headcount.max(0) as u64,
        create_by: owner.clone(),
        permisson_level: mine.map_or(0, |m| permission_level(m.role)),
        do_not_disturb: mine.is_some_and(|m| m.do_not_disturb),
        top: mine.is_some_and(|m| m.pinned),
        admin: info.roster.admins.iter().map(|a| a.to_string()).collect(),
        create_time: seconds(info.facts.created_ms),
        owner,
        my_group_nickname: String::new(),
    };
    let bot = info.bots.into_iter().map(bot_data).collect();
    Ok(Proto(GroupInfoResponse { status: ok_status(), data: Some(data), bot }))
}

/// `POST /v1/group/list-member`: paged, filtered by `keywords`.
async fn list_member_route(
    State(state): State<AppState>,
    auth: Auth<ProtoFormat>,
    ProtoBody(body): ProtoBody<ListMemberRequest>,
) -> Result<Proto<ListMemberResponse>, ApiError<ProtoFormat>> {
    let page = body.data.unwrap_or_default();
    let found = state
        .service
        .group_members(auth.user, &body.group_id, i64::from(page.page), i64::from(page.size), &body.keywords)
        .await?;
    let now = now_ms();
    let user = found
        .members
        .into_iter()
        .map(|m| GroupMember {
            group_id: body.group_id.trim().to_owned(),
            user_info: Some(MemberUser {
                user_id: m.user.id.to_string(),
                name: m.user.name,
                avatar_url: m.user.avatar_url,
                is_vip: false,
            }),
            permission_level: permission_level(m.role),
            gag_time: match m.gag_until_ms {
                GAG_FOREVER => -1,
                until if is_gagged(until, now) => until / 1000,
                _ => 0,
            },
            is_gag: is_gagged(m.gag_until_ms, now),
        })
        .collect();
    let total = i32::try_from(found.total).unwrap_or(i32::MAX);
    Ok(Proto(ListMemberResponse { status: ok_status(), user, total }))
}

/// `POST /v1/group/bot-list`.
async fn bot_list_route(
    State(state): State<AppState>,
    auth: Auth<ProtoFormat>,
    ProtoBody(body): ProtoBody<GroupIdRequest>,
) -> Result<Proto<BotListResponse>, ApiError<ProtoFormat>> {
    let bots = state.service.group_bot_list(auth.user, &body.group_id).await?;
    Ok(Proto(BotListResponse { status: ok_status(), bot: bots.into_iter().map(bot_data).collect() }))
}

/// `POST /v1/group/create-group`: the new group's id.
async fn create_route(
    State(state): State<AppState>,
    auth: Auth<ProtoFormat>,
    ProtoBody(body): ProtoBody<CreateGroupRequest>,
) -> Result<Proto<CreateGroupResponse>, ApiError<ProtoFormat>> {
    let id = state.service.create_group(auth.user, &body.name, &body.introduction, &body.avatar_url).await?;
    Ok(Proto(CreateGroupResponse { status: ok_status(), group_id: id.to_string() }))
}

/// `POST /v1/group/invite`, in every form clients send (JSON, one client's
/// protobuf; see [`InviteBody`]).
async fn invite_route(
    State(state): State<AppState>,
    auth: Auth<JsonFormat>,
    body: RawBody,
) -> Result<axum::Json<Reply<()>>, ApiError<JsonFormat>> {
    let (group_id, invitees) = match body.is_json() {
        true => {
            let body: InviteBody = body.json()?;
            if body.chat_type.is_some_and(|t| t == 2) {
                return Err(Error::invalid("chatType 2: a group cannot be invited into a group").into());
            }
            let mut ids = body.user_id_list;
            ids.extend(body.chat_id);
            let invitees = match ids.is_empty() {
                true => Invitees::Myself,
                false => Invitees::Some(ids),
            };
            (body.group_id, invitees)
        }
        false => {
            let body: InviteRequest = decode_lenient(&body.0).map_err(|e| {
                Error::invalid(format!(
                    "expected a JSON object {{\"groupId\",\"chatId\",\"chatType\"}} or a protobuf {{2: groupId, 3: userId}}: {e}"
                ))
            })?;
            (body.group_id, Invitees::Some(body.user_id))
        }
    };
    state.service.invite(auth.user, &group_id, invitees).await?;
    Ok(json_ok(None))
}

/// `POST /v1/group/remove-member`.
async fn remove_member_route(
    State(state): State<AppState>,
    auth: Auth<JsonFormat>,
    JsonBody(body): JsonBody<GroupUserBody>,
) -> Result<axum::Json<Reply<()>>, ApiError<JsonFormat>> {
    state.service.remove_member(auth.user, &body.group_id, &body.user_id).await?;
    Ok(json_ok(None))
}

/// `POST /v1/group/dismiss-group`.
async fn dismiss_route(
    State(state): State<AppState>,
    auth: Auth<ProtoFormat>,
    ProtoBody(body): ProtoBody<GroupIdRequest>,
) -> Result<Proto<StatusResponse>, ApiError<ProtoFormat>> {
    state.service.dismiss_group(auth.user, &body.group_id).await?;
    Ok(Proto(StatusResponse { status: ok_status() }))
}

/// `POST /v1/group/gag-member`.
async fn gag_route(
    State(state): State<AppState>,
    auth: Auth<JsonFormat>,
    JsonBody(body): JsonBody<GagBody>,
) -> Result<axum::Json<Reply<()>>, ApiError<JsonFormat>> {
    state.service.gag_member(auth.user, &body.group_id, &body.user_id, body.gag_time).await?;
    Ok(json_ok(None))
}

/// `POST /v1/group/edit-admin`.
async fn edit_admin_route(
    State(state): State<AppState>,
    auth: Auth<JsonFormat>,
    JsonBody(body): JsonBody<EditAdminBody>,
) -> Result<axum::Json<Reply<()>>, ApiError<JsonFormat>> {
    state.service.set_admin(auth.user, &body.group_id, &body.user_id, body.admin == 1).await?;
    Ok(json_ok(None))
}
