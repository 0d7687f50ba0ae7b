//! `/v1/conversation/*`: the list, mark-read, sort-change and remove.

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use md5::{Digest, Md5};
use prost::Message;
use yhconv_proto::json::{ChatIdBody, Reply, SortChangeBody};
use yhconv_proto::pb::{AtData, Conversation, ConversationList, ConversationListRequest};

use super::wire::{json_ok, ok_status, ApiError, Auth, JsonBody, JsonFormat, Proto, ProtoBody, ProtoFormat};
use super::AppState;
use crate::ids::Id;
use crate::service::conversation::ConversationView;

type JsonAnswer = Result<axum::Json<Reply<()>>, ApiError<JsonFormat>>;

/// The conversation routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/conversation/list", post(list_route))
        .route("/v1/conversation/dismiss-notification", post(dismiss_notification_route))
        .route("/v1/conversation/sort-change", post(sort_change_route))
        .route("/v1/conversation/remove", post(remove_route))
}

/// `POST /v1/conversation/list`: the caller's list, or an empty answer when
/// the client's md5 still matches.
async fn list_route(
    State(state): State<AppState>,
    auth: Auth<ProtoFormat>,
    ProtoBody(req): ProtoBody<ConversationListRequest>,
) -> Result<Proto<ConversationList>, ApiError<ProtoFormat>> {
    let views = state.service.conversations(auth.user).await?;
    let mentioned_name = match views.iter().any(|v| v.first_mention.is_some()) {
        true => state.service.user_info(auth.user).await?.entity.name,
        false => String::new(),
    };
    let data: Vec<Conversation> = views.into_iter().map(|v| to_wire(v, auth.user, &mentioned_name)).collect();
    let md5 = fingerprint(&data);
    if !req.md5.is_empty() && req.md5.eq_ignore_ascii_case(&md5) {
        return Ok(Proto(ConversationList { status: ok_status(), data: Vec::new(), total: 0, md5 }));
    }
    Ok(Proto(ConversationList { status: ok_status(), total: data.len() as u64, data, md5 }))
}

/// Hex md5 of the encoded entries: changes whenever anything shown changes.
pub fn fingerprint(data: &[Conversation]) -> String {
    let mut hasher = Md5::new();
    let mut buf = Vec::with_capacity(256);
    for entry in data {
        buf.clear();
        entry.encode_length_delimited(&mut buf).expect("Vec grows as needed");
        hasher.update(&buf);
    }
    hex::encode(hasher.finalize())
}

/// One list entry on the wire.
pub fn to_wire(v: ConversationView, user: Id, mentioned_name: &str) -> Conversation {
    let at_data = v.first_mention.as_ref().map(|m| AtData {
        unknown: 0,
        mentioned_id: user.to_string(),
        mentioned_name: mentioned_name.to_owned(),
        mentioned_in: v.peer.id.to_string(),
        mentioner_id: m.mentioner_id.to_string(),
        mentioner_name: m.mentioner_name.clone(),
        msg_seq: m.seq.max(0) as u64,
    });
    Conversation {
        chat_id: v.peer.id.to_string(),
        chat_type: v.peer.kind.code(),
        unread_message: v.unread_flag(),
        at: v.at_flag(),
        name: v.display_name,
        chat_content: v.preview,
        timestamp_ms: v.timestamp_ms.max(0) as u64,
        avatar_id: v.peer.avatar_id.max(0) as u64,
        avatar_url: v.peer.avatar_url,
        do_not_disturb: u64::from(v.do_not_disturb),
        timestamp: v.timestamp_s.max(0) as u64,
        at_data,
        real_name: v.peer.name,
        certification_level: v.peer.certification_level.max(0) as u64,
        unread_count: v.unread_count,
        mention_count: v.mention_count,
    }
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
