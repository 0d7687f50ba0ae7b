//! The HTTP layer: one module per API area, each with its `router()`; this
//! module merges them and adds the middleware every route shares (CORS,
//! timeouts, panic catcher, tracing).

pub mod bot;
pub mod conn;
pub mod conversation;
pub mod friend;
pub mod group;
pub mod limit;
pub mod metrics;
pub mod misc;
pub mod msg;
pub mod sticky;
pub mod user;
pub mod wire;
pub mod ws;

use std::sync::Arc;

use axum::http::{header, HeaderName, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::FutureExt as _;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;
use yhconv_proto::endpoints as ep;

use crate::config::Config;
use crate::domain::error::Error;
use crate::service::Service;
use wire::{ApiError, JsonFormat};

/// What every handler can reach: one shared allocation, so that the
/// clones axum makes for every request and extractor cost one reference
/// count, not one per field (a profile of list hits on PostgreSQL found
/// about 8% of the server's CPU in cloning and dropping the fields).
#[derive(Clone)]
pub struct AppState(Arc<AppStateFields>);

impl AppState {
    /// The state holding `fields`.
    pub fn new(fields: AppStateFields) -> Self {
        Self(Arc::new(fields))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateFields;
    fn deref(&self) -> &AppStateFields {
        &self.0
    }
}

/// The fields of [`AppState`].
pub struct AppStateFields {
    pub service: Service,
    pub config: Arc<Config>,
    /// Turns true when the server starts shutting down.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Per-token and per-IP rate limits.
    pub limits: Arc<limit::RateLimits>,
    /// Request and socket metrics for `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
    /// Held by the state, so by every live push socket (each holds a
    /// clone of it): shutdown waits until all are gone (see `Application::run_until`).
    pub in_flight: tokio::sync::mpsc::Sender<()>,
    /// The open connections, counted (see [`conn`]).
    pub connections: Arc<conn::Tally>,
}

/// Routing by declaration: each API module adds its endpoints with
/// [`RouterExt::endpoint`], never by a path of its own, so the path, the
/// methods and the answer format of every route come from
/// [`yhconv_proto::endpoints`] (`tests/routes.rs` checks both ways).
pub trait RouterExt {
    /// Routes `endpoint`'s path, for the methods it declares, to `handler`.
    fn endpoint<H, T>(self, endpoint: &ep::Endpoint, handler: H) -> Self
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static;
}

impl RouterExt for Router<AppState> {
    fn endpoint<H, T>(self, endpoint: &ep::Endpoint, handler: H) -> Self
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        let filter = endpoint
            .methods
            .iter()
            .map(|m| match m {
                ep::Method::Get => axum::routing::MethodFilter::GET,
                ep::Method::Post => axum::routing::MethodFilter::POST,
            })
            .reduce(|a, b| a.or(b))
            .unwrap_or(axum::routing::MethodFilter::POST);
        self.route(endpoint.path, axum::routing::on(filter, handler))
    }
}

/// The whole application's routes and middleware.
pub fn router(state: AppState) -> Router {
    let cors = cors_layer(&state.config);
    let guard = axum::middleware::from_fn_with_state(state.config.request_timeout(), guard);
    Router::new()
        .merge(conversation::router())
        .merge(msg::router())
        .merge(user::router())
        .merge(friend::router())
        .merge(group::router())
        .merge(bot::router())
        .merge(sticky::router())
        .merge(misc::router())
        .merge(ws::router())
        .endpoint(&ep::HEALTHZ, healthz_route)
        .endpoint(&ep::LIVEZ, livez_route)
        .endpoint(&ep::METRICS, metrics::metrics_route)
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), metrics::record))
        .method_not_allowed_fallback(method_not_allowed_route)
        .fallback(fallback_route)
        .with_state(state)
        .layer(guard)
        .layer(TraceLayer::new_for_http())
        .layer(cors)
}

fn cors_layer(config: &Config) -> CorsLayer {
    let origins = if config.cors_origin.is_empty() {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(config.cors_origin.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([HeaderName::from_static("token"), header::CONTENT_TYPE])
}

/// `GET /livez`: 200 and `{"code":1}` while the process serves HTTP; no
/// database work (the benchmark's floor).
async fn livez_route() -> impl IntoResponse {
    wire::json_ok::<()>(None)
}

/// `GET /healthz`: 200 and `{"code":1}` while the database answers; 503
/// and `-1` naming the problem when it does not.
async fn healthz_route(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let check = tokio::time::timeout(std::time::Duration::from_secs(5), state.service.health()).await;
    let problem = match check {
        Ok(Ok(())) => return wire::json_ok::<()>(None).into_response(),
        Ok(Err(e)) => format!("database unavailable: {}", e.to_string().trim_start_matches("internal error: ")),
        Err(_) => "database unavailable: no answer within 5 s".to_owned(),
    };
    tracing::warn!(problem, "health check failed");
    ApiError::<JsonFormat>::from(Error::Unavailable(problem)).into_response()
}

/// Any other path: `-1` naming the endpoint, HTTP 404.
async fn fallback_route(method: Method, uri: Uri) -> Response {
    let path = uri.path().to_owned();
    wire::error_response(&path, Error::UnknownEndpoint { method: method.to_string(), path: path.clone() })
}

/// A known path with a method it does not declare: `-1`, HTTP 405, in the
/// endpoint's own format.
async fn method_not_allowed_route(method: Method, uri: Uri) -> Response {
    let path = uri.path().to_owned();
    wire::error_response(&path, Error::MethodNotAllowed { method: method.to_string(), path: path.clone() })
}

/// Answers `-1` (HTTP 503) in the endpoint's own format when a request takes
/// longer than the configured limit (the work is dropped), and `-1` (HTTP
/// 500) when a handler panics (the panic is logged; the process serves on).
async fn guard(
    axum::extract::State(limit): axum::extract::State<std::time::Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let run = std::panic::AssertUnwindSafe(next.run(request)).catch_unwind();
    match tokio::time::timeout(limit, run).await {
        Ok(Ok(response)) => response,
        Ok(Err(panic)) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(path, panic = what, "handler panicked");
            wire::error_response(&path, Error::Internal(anyhow::anyhow!("handler panicked")))
        }
        Err(_) => {
            tracing::warn!(?limit, path, "request timed out");
            wire::error_response(&path, Error::TimedOut(limit))
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use prost::Message as _;
    use tower::ServiceExt as _;
    use yhconv_proto::pb::StatusOnly;

    use super::*;

    /// A router whose handlers panic or hang, behind the guard.
    fn guarded(limit: std::time::Duration) -> Router {
        async fn panics() -> &'static str {
            panic!("on purpose")
        }
        async fn hangs() -> &'static str {
            std::future::pending().await
        }
        Router::new()
            .route(ep::SEND_MESSAGE.path, axum::routing::post(panics))
            .route(ep::STICKY_LIST.path, axum::routing::post(panics))
            .route(ep::LIST_MESSAGE.path, axum::routing::post(hangs))
            .layer(axum::middleware::from_fn_with_state(limit, guard))
    }

    async fn call(router: Router, path: &str) -> (StatusCode, Vec<u8>) {
        let request = Request::post(path).body(Body::empty()).unwrap();
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        (status, axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap().to_vec())
    }

    #[tokio::test]
    async fn a_panic_is_answered_in_the_endpoints_own_format() {
        let router = guarded(std::time::Duration::from_secs(5));
        let (status, body) = call(router.clone(), ep::SEND_MESSAGE.path).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let answer = StatusOnly::decode(body.as_slice()).expect("protobuf").status.unwrap();
        assert_eq!((answer.code, answer.msg.as_str()), (-1, "internal error"));
        let (status, body) = call(router, ep::STICKY_LIST.path).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let answer: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!((answer["code"].as_i64(), answer["msg"].as_str()), (Some(-1), Some("internal error")));
    }

    #[tokio::test]
    async fn a_time_out_is_answered_in_the_endpoints_own_format() {
        let (status, body) = call(guarded(std::time::Duration::from_millis(50)), ep::LIST_MESSAGE.path).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let answer = StatusOnly::decode(body.as_slice()).expect("protobuf").status.unwrap();
        assert_eq!(answer.code, -1);
        assert!(answer.msg.starts_with("request timed out"), "{}", answer.msg);
    }
}
