//! The edge between HTTP and the service: extractors for the caller's token
//! and for JSON and protobuf bodies, and the two answer formats.
//!
//! Every endpoint answers in its own format, errors included, so each
//! extractor and answer is generic over a [`Format`]: [`JsonFormat`] or
//! [`ProtoFormat`]. [`ApiError`] is where an [`Error`] becomes a response.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use prost::Message;
use serde::de::DeserializeOwned;
use serde::Serialize;
use yhconv_proto::endpoints::Answer;
use yhconv_proto::json::Reply;
use yhconv_proto::pb::{Status, StatusOnly};

use super::AppState;
use crate::domain::error::Error;
use crate::domain::ids::Id;

static REQUEST_NUMBER: AtomicI64 = AtomicI64::new(1);

/// A fresh per-request number for `Status.number`.
pub fn next_request_number() -> i64 {
    REQUEST_NUMBER.fetch_add(1, Ordering::Relaxed)
}

/// Whether the endpoint at `path` answers protobuf (else JSON), as its
/// declaration in [`yhconv_proto::endpoints`] says.
pub fn answers_protobuf(path: &str) -> bool {
    yhconv_proto::endpoints::find(path).is_some_and(|e| e.answer == Answer::Protobuf)
}

/// `error` answered in the format of the endpoint at `path` (JSON for a path
/// that is none): for what happens outside a handler (unknown paths,
/// time-outs, panics).
pub fn error_response(path: &str, error: Error) -> Response {
    match answers_protobuf(path) {
        true => ApiError::<ProtoFormat>::from(error).into_response(),
        false => ApiError::<JsonFormat>::from(error).into_response(),
    }
}

/// An answer format: how an error looks in it.
pub trait Format: Send + Sync + 'static {
    /// The body of an error answer.
    fn error_body(code: i32, msg: String) -> Response;
}

/// JSON answers: `{"code", "msg"}`.
pub struct JsonFormat;
/// Protobuf answers: a message holding only `Status` in field 1.
pub struct ProtoFormat;

impl Format for JsonFormat {
    fn error_body(code: i32, msg: String) -> Response {
        axum::Json(Reply::<()> { code, msg, data: None }).into_response()
    }
}

impl Format for ProtoFormat {
    fn error_body(code: i32, msg: String) -> Response {
        let status = Status { number: next_request_number(), code, msg };
        Proto(StatusOnly { status: Some(status) }).into_response()
    }
}

/// An [`Error`] on its way out in format `F`: [`Error::http_status`],
/// [`Error::code`] and [`Error::public_message`] decide what the caller
/// sees; here only the body's format is chosen, and our own faults logged.
pub struct ApiError<F>(pub Error, PhantomData<F>);

impl<F> From<Error> for ApiError<F> {
    fn from(e: Error) -> Self {
        Self(e, PhantomData)
    }
}

impl<F: Format> IntoResponse for ApiError<F> {
    fn into_response(self) -> Response {
        let error = self.0;
        match &error {
            Error::Internal(e) => tracing::error!(error = %format!("{e:#}"), "internal error"),
            other => tracing::debug!(error = %other, "request refused"),
        }
        let mut response = F::error_body(error.code(), error.public_message());
        *response.status_mut() = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        response
    }
}

/// A protobuf answer (`application/x-protobuf`).
pub struct Proto<T>(pub T);

impl<T: Message> IntoResponse for Proto<T> {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, HeaderValue::from_static("application/x-protobuf"))], self.0.encode_to_vec())
            .into_response()
    }
}

/// A JSON success answer: `{"code":1,"msg":"success"[,"data":...]}`.
pub fn json_ok<T: Serialize>(data: Option<T>) -> axum::Json<Reply<T>> {
    axum::Json(Reply::ok(data))
}

/// A fresh success [`Status`].
pub fn ok_status() -> Option<Status> {
    Some(Status::ok(next_request_number()))
}

/// The logged-in caller, from the `token` header. Rejects with `-101` in
/// format `F`.
pub struct Auth<F> {
    pub user: Id,
    pub token: String,
    _format: PhantomData<F>,
}

impl<F: Format> FromRequestParts<AppState> for Auth<F> {
    type Rejection = ApiError<F>;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = parts.headers.get("token").and_then(|v| v.to_str().ok()).unwrap_or("").trim().to_owned();
        let user = state.service.authenticate(Some(&token)).await?;
        state.limits.check_token(&token)?;
        Ok(Self { user, token, _format: PhantomData })
    }
}

async fn body_bytes<F: Format>(req: Request, state: &AppState) -> Result<Bytes, ApiError<F>> {
    let limit = state.config.max_body_bytes;
    axum::body::to_bytes(req.into_body(), limit).await.map_err(|e| {
        let inner = e.into_inner();
        if inner.is::<http_body_util::LengthLimitError>() {
            Error::invalid(format!("request body is larger than {limit} bytes")).into()
        } else {
            Error::invalid(format!("could not read request body: {inner}")).into()
        }
    })
}

/// A JSON request body; malformed JSON, missing keys and wrong types are
/// `-1` errors naming the problem.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError<JsonFormat>;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes::<JsonFormat>(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::invalid("request body is empty; a JSON object is expected").into());
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| Error::invalid(format!("malformed JSON body: {e}")).into())
    }
}

/// A protobuf request body (an empty body decodes to all defaults).
pub struct ProtoBody<T>(pub T);

impl<T: Message + Default> FromRequest<AppState> for ProtoBody<T> {
    type Rejection = ApiError<ProtoFormat>;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes::<ProtoFormat>(req, state).await?;
        T::decode(bytes).map(ProtoBody).map_err(|e| Error::invalid(format!("malformed protobuf body: {e}")).into())
    }
}
