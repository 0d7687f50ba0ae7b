//! The one error type of the server, and its mapping to protocol codes.
//!
//! Every failure a handler can meet is an [`Error`]; [`Error::code`] and
//! [`Error::public_message`] are the only place that decides what the caller
//! sees. Internal failures are logged by the HTTP layer and shown as a bare
//! "internal error".

use yhconv_proto::{CODE_ALREADY_ADDED, CODE_ERROR, CODE_UNAUTHORIZED, MSG_UNAUTHORIZED};

/// Why a request carried no valid identity. Both are `-101` on the wire; the
/// distinction is kept for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `token` header, or an empty one.
    Missing,
    /// A token that is unknown, revoked or expired.
    Unknown,
}

/// Everything that can go wrong in a request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `-101`: the caller is not logged in.
    #[error("unauthorized ({0:?})")]
    Unauthorized(AuthFailure),
    /// `-1`: wrong email or password.
    #[error("wrong email or password")]
    WrongCredentials,
    /// `-1`: an id that names nothing the caller can see.
    #[error("unknown chat {0}")]
    UnknownChat(String),
    /// `-1`: the caller is not a member of that group.
    #[error("not a member of group {0}")]
    NotMember(String),
    /// `-1`: the request is malformed or out of range; the text says how.
    #[error("{0}")]
    Invalid(String),
    /// `-1` (HTTP 429): the caller sent more requests than its rate allows.
    #[error("too many requests: slow down and retry shortly")]
    RateLimited,
    /// `-1` (HTTP 503): the request took longer than the configured limit.
    #[error("request timed out after {0:?}")]
    TimedOut(std::time::Duration),
    /// `-1`: a call Yunhu offers that this server does not (HTTP 200, so
    /// clients that raise on any other status read the message).
    #[error("{0} is not offered by this server (yhconv): log in by email; uploads are not supported")]
    NotOffered(String),
    /// `-1` (HTTP 404): no endpoint at this path.
    #[error("unknown endpoint {method} {path}")]
    UnknownEndpoint { method: String, path: String },
    /// `-1` (HTTP 405): the endpoint exists but not for this method.
    #[error("{method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    /// `-1` (HTTP 503): a service the server needs does not answer (the
    /// database, for `/healthz`); the text says which and why.
    #[error("{0}")]
    Unavailable(String),
    /// `-9`: the user, group or bot is in the caller's address book
    /// already (`friend/apply`).
    #[error("您已添加过对方")]
    AlreadyAdded,
    /// An identity change (import, admin) that conflicts with stored data.
    #[error("{0}")]
    Conflict(String),
    /// A failure of ours (storage, a bug): logged, never shown in detail.
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::Invalid(msg.into())
    }

    /// The protocol `code` for this error.
    pub fn code(&self) -> i32 {
        match self {
            Self::Unauthorized(_) => CODE_UNAUTHORIZED,
            Self::AlreadyAdded => CODE_ALREADY_ADDED,
            _ => CODE_ERROR,
        }
    }

    /// The HTTP status that goes with this error: 401 for `-101`, 429 for
    /// too many requests, 404 for an unknown endpoint, 503 for a time-out or
    /// an unavailable database, 500 for our own faults, else 200 (the
    /// protocol's `-1` is an answer, not an HTTP failure).
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Unauthorized(_) => 401,
            Self::RateLimited => 429,
            Self::UnknownEndpoint { .. } => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::TimedOut(_) | Self::Unavailable(_) => 503,
            Self::Internal(_) => 500,
            Self::WrongCredentials
            | Self::UnknownChat(_)
            | Self::NotMember(_)
            | Self::Invalid(_)
            | Self::NotOffered(_)
            | Self::AlreadyAdded
            | Self::Conflict(_) => 200,
        }
    }

    /// The `msg` the caller sees.
    pub fn public_message(&self) -> String {
        match self {
            Self::Unauthorized(_) => MSG_UNAUTHORIZED.to_owned(),
            Self::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        }
    }
}

/// The server's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(Error::Unauthorized(AuthFailure::Missing).code(), -101);
        assert_eq!(Error::Unauthorized(AuthFailure::Unknown).public_message(), "未登录");
        assert_eq!(Error::UnknownChat("42".into()).code(), -1);
        assert_eq!(Error::UnknownChat("42".into()).public_message(), "unknown chat 42");
        let internal = Error::Internal(anyhow::anyhow!("disk on fire"));
        assert_eq!((internal.public_message().as_str(), internal.http_status()), ("internal error", 500));
        let statuses = [
            (Error::Unauthorized(AuthFailure::Missing), 401),
            (Error::RateLimited, 429),
            (Error::UnknownEndpoint { method: "GET".into(), path: "/x".into() }, 404),
            (Error::MethodNotAllowed { method: "PUT".into(), path: "/x".into() }, 405),
            (Error::TimedOut(std::time::Duration::from_secs(1)), 503),
            (Error::Unavailable("database unavailable".into()), 503),
            (Error::invalid("nope"), 200),
        ];
        for (error, status) in statuses {
            assert_eq!(error.http_status(), status, "{error}");
            assert_eq!(error.code(), if status == 401 { -101 } else { -1 });
        }
    }
}
