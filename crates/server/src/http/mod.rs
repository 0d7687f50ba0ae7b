//! The HTTP layer: one module per API area, each with its `router()`; this
//! module merges them and adds the middleware every route shares (CORS,
//! timeouts, panic catcher, tracing).

pub mod conversation;
pub mod friend;
pub mod limit;
pub mod metrics;
pub mod msg;
pub mod sticky;
pub mod user;
pub mod wire;
pub mod ws;

use std::sync::Arc;

use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::domain::error::Error;
use crate::service::Service;
use wire::{ApiError, JsonFormat};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub service: Service,
    pub config: Arc<Config>,
    /// Turns true when the server starts shutting down.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Per-token and per-IP rate limits.
    pub limits: Arc<limit::RateLimits>,
    /// Request and socket metrics for `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
    /// Held by every clone of the state, so by every live push socket:
    /// shutdown waits until all are gone (see `Application::run_until`).
    pub in_flight: tokio::sync::mpsc::Sender<()>,
}

/// The whole application's routes and middleware.
pub fn router(state: AppState) -> Router {
    let cors = cors_layer(&state.config);
    let timeout = axum::middleware::from_fn_with_state(state.config.request_timeout(), time_limit);
    Router::new()
        .merge(conversation::router())
        .merge(msg::router())
        .merge(user::router())
        .merge(friend::router())
        .merge(sticky::router())
        .merge(ws::router())
        .route("/healthz", get(healthz_route))
        .route("/livez", get(livez_route))
        .route("/metrics", get(metrics::metrics_route))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), metrics::record))
        .fallback(fallback_route)
        .with_state(state)
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(timeout)
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
    let body = yhconv_proto::json::Reply::<()> { code: yhconv_proto::CODE_ERROR, msg: problem, data: None };
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}

/// Any other path: `-1` naming the endpoint, HTTP 404.
async fn fallback_route(method: Method, uri: Uri) -> Response {
    let mut response =
        ApiError::<JsonFormat>::from(Error::invalid(format!("unknown endpoint {method} {}", uri.path())))
            .into_response();
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

/// Answers `-1` (HTTP 503) in the endpoint's own format when a request takes
/// longer than the configured limit (the work is dropped).
async fn time_limit(
    axum::extract::State(limit): axum::extract::State<std::time::Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let protobuf = wire::answers_protobuf(request.uri().path());
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(?limit, "request timed out");
            let error = Error::TimedOut(limit);
            let mut response = match protobuf {
                true => ApiError::<wire::ProtoFormat>::from(error).into_response(),
                false => ApiError::<JsonFormat>::from(error).into_response(),
            };
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            response
        }
    }
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    ApiError::<JsonFormat>::from(Error::Internal(anyhow::anyhow!("handler panicked"))).into_response()
}
