//! `/v1/misc/*`: where the push socket and media are; and the calls this
//! server knows of but does not offer.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::Uri;
use axum::Router;
use yhconv_proto::endpoints as ep;
use yhconv_proto::json::{Distribution, Reply};

use super::wire::{json_ok, ApiError, Auth, JsonFormat};
use super::{AppState, RouterExt as _};
use crate::domain::error::Error;

/// The misc routes.
pub fn router() -> Router<AppState> {
    let router = Router::new().endpoint(&ep::CONFIGURE_DISTRIBUTION, configure_distribution_route);
    ep::NOT_OFFERED.iter().fold(router, |router, endpoint| router.endpoint(endpoint, not_offered_route))
}

/// `GET /v1/misc/configure-distribution`: `websocketUrl` is this server's
/// `/ws` as the client reached it (`Host`, and `X-Forwarded-Proto` behind a
/// TLS proxy); the media URLs are `--media-base-url`.
async fn configure_distribution_route(
    State(state): State<AppState>,
    _auth: Auth<JsonFormat>,
    headers: HeaderMap,
) -> Result<axum::Json<Reply<Distribution>>, ApiError<JsonFormat>> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let host = header("host").filter(|h| !h.is_empty()).unwrap_or("127.0.0.1");
    let secure = header("x-forwarded-proto").is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let (http, ws) = if secure { ("https", "wss") } else { ("http", "ws") };
    let media = state.config.media_base_url.clone();
    Ok(json_ok(Some(Distribution {
        audio_url: media.clone(),
        file_url: media.clone(),
        image_url: media.clone(),
        video_url: media,
        server_url: format!("{http}://{host}/"),
        share_url: format!("{http}://{host}/"),
        websocket_url: format!("{ws}://{host}{}", ep::WS.path),
    })))
}

/// A call Yunhu offers and this server does not: `-1` saying so.
async fn not_offered_route(uri: Uri) -> ApiError<JsonFormat> {
    ApiError::from(Error::NotOffered(uri.path().to_owned()))
}
