//! `/v1/bot/*`: a bot's info and board.

use axum::extract::State;
use axum::Router;
use yhconv_proto::endpoints as ep;
use yhconv_proto::pb::{BoardData, BoardRequest, BoardResponse, BotInfoData, BotInfoResponse, IdRequest};

use super::wire::{ok_status, ApiError, Auth, Proto, ProtoBody, ProtoFormat};
use super::{AppState, RouterExt as _};

/// The bot routes.
pub fn router() -> Router<AppState> {
    Router::new().endpoint(&ep::BOT_INFO, info_route).endpoint(&ep::BOT_BOARD, board_route)
}

/// `POST /v1/bot/bot-info`.
async fn info_route(
    State(state): State<AppState>,
    auth: Auth<ProtoFormat>,
    ProtoBody(body): ProtoBody<IdRequest>,
) -> Result<Proto<BotInfoResponse>, ApiError<ProtoFormat>> {
    let info = state.service.bot_info(auth.user, &body.id).await?;
    let facts = info.facts;
    let data = BotInfoData {
        bot_id: facts.entity.id.to_string(),
        name: facts.entity.name,
        name_id: facts.entity.id.get(),
        avatar_url: facts.entity.avatar_url,
        avatar_id: facts.entity.avatar_id,
        introduction: facts.introduction,
        create_by: facts.owner.map(|o| o.to_string()).unwrap_or_default(),
        create_time: facts.created_ms / 1000,
        headcount: info.headcount,
        do_not_disturb: info.do_not_disturb,
        top: info.pinned,
    };
    Ok(Proto(BotInfoResponse { status: ok_status(), data: Some(data) }))
}

/// `POST /v1/bot/board`: the board of a bot or group chat; bots cannot set
/// boards here, so it is empty (its chat named).
async fn board_route(
    State(state): State<AppState>,
    auth: Auth<ProtoFormat>,
    ProtoBody(body): ProtoBody<BoardRequest>,
) -> Result<Proto<BoardResponse>, ApiError<ProtoFormat>> {
    let chat = state.service.board_chat(auth.user, &body.id).await?;
    let data =
        BoardData { chat_id: chat.id.to_string(), chat_type: chat.kind.code(), content_type: 1, ..Default::default() };
    Ok(Proto(BoardResponse { status: ok_status(), data: Some(data) }))
}
