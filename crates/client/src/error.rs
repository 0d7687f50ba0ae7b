//! The client's one error type.
//!
//! A server that answers with a protocol body (`code != 1`) becomes
//! [`Error::Api`] with its `code` and `msg` kept exactly, whatever the HTTP
//! status (`-101` comes with 401); everything else says which layer failed.

use yhconv_proto::CODE_UNAUTHORIZED;

/// `Result` with the client's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with a protocol body whose `code` is not 1.
    #[error("server said {code}: {msg}")]
    Api {
        /// The protocol code: `-101` not logged in, `-1` any other error.
        code: i32,
        /// The server's message, verbatim.
        msg: String,
    },
    /// The request could not be sent or its answer not read (connect,
    /// timeout, TLS, ...).
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// A non-2xx answer without a parseable protocol body: the HTTP status and
    /// the start of the body.
    #[error("http status {0}: {1}")]
    Status(u16, String),
    /// A 2xx answer that is not the protobuf or JSON message it should be.
    #[error("cannot decode the answer: {0}")]
    Decode(String),
    /// The push socket failed to connect, or failed while open.
    #[error("websocket: {0}")]
    WebSocket(String),
    /// The call needs a token and the client has none.
    #[error("no token: log in first or give one")]
    NoToken,
    /// A base or WebSocket URL that cannot be used.
    #[error("invalid url: {0}")]
    InvalidUrl(String),
}

impl Error {
    /// The protocol code, for [`Error::Api`] only.
    pub fn code(&self) -> Option<i32> {
        match self {
            Error::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether the server said the token is missing, unknown, expired or
    /// revoked (code `-101`).
    pub fn is_unauthorized(&self) -> bool {
        self.code() == Some(CODE_UNAUTHORIZED)
    }
}

impl From<tokio_tungstenite::tungstenite::Error> for Error {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        Error::WebSocket(e.to_string())
    }
}

impl From<prost::DecodeError> for Error {
    fn from(e: prost::DecodeError) -> Self {
        Error::Decode(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_display_shows_code_and_msg() {
        let e = Error::Api { code: -1, msg: "unknown chat 42".into() };
        assert_eq!(e.to_string(), "server said -1: unknown chat 42");
        assert_eq!(e.code(), Some(-1));
        assert!(!e.is_unauthorized());
    }

    #[test]
    fn minus_101_is_unauthorized() {
        let e = Error::Api { code: -101, msg: "未登录".into() };
        assert!(e.is_unauthorized());
        assert_eq!(e.to_string(), "server said -101: 未登录");
    }

    #[test]
    fn other_errors_have_no_code() {
        for e in [
            Error::Status(502, "bad gateway".into()),
            Error::Decode("x".into()),
            Error::WebSocket("x".into()),
            Error::NoToken,
            Error::InvalidUrl("x".into()),
        ] {
            assert_eq!(e.code(), None);
            assert!(!e.is_unauthorized());
        }
    }
}
