//! A typed async client for Yunhu's (云湖) client protocol
//! (`shared/PROTOCOL.md`), usable against a yhconv server or Yunhu's own hosts
//! (`https://chat-go.jwzhd.com`, push socket `wss://chat-ws-go.jwzhd.com/ws`).
//!
//! Module map:
//! - `lib.rs` (here): [`Client`], its configuration and URL handling.
//! - [`error`]: [`Error`], the one error type, and [`Result`].
//! - `http`: every HTTP endpoint as a method on [`Client`], and the request
//!   plumbing (token header, content types, timeout).
//! - `reply`: turning an HTTP answer into a value or an [`Error`] (pure).
//! - [`ws`]: the push socket, [`PushSocket`] and [`PushEvent`].
//! - [`live`]: [`LiveList`], a user's conversation list kept current from
//!   the push socket (and yhconv's list rows and delta lists).
//!
//! Nothing here relies on yhconv's own extensions: fields a stock server does
//! not send (e.g. `unread_count`) simply read as zero.
//!
//! ```no_run
//! # async fn demo() -> yhconv_client::Result<()> {
//! use yhconv_client::Client;
//! let client = Client::new("http://127.0.0.1:8080")?;
//! let token = client.email_login("a@example.com", "pw", "dev-1", "linux").await?;
//! let client = client.with_token(token);
//! for c in client.conversation_list(None).await?.data {
//!     println!("{} {}", c.chat_id, c.name);
//! }
//! # Ok(()) }
//! ```

pub mod error;
mod http;
pub mod live;
mod people;
mod reply;
pub mod ws;

#[cfg(test)]
mod wire_tests;

use std::fmt;
use std::time::Duration;

use reqwest::Url;

pub use error::{Error, Result};
pub use live::LiveList;
pub use ws::{CloseReason, PushEvent, PushOptions, PushSocket};
pub use yhconv_proto::{pb, ChatType, ContentType};

/// The `User-Agent` of every request and of the push socket handshake.
pub const USER_AGENT: &str = concat!("yhconv-client/", env!("CARGO_PKG_VERSION"));

/// How long a request (or the push socket's connect and login) may take
/// unless [`Client::with_timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an idle pooled connection is kept for reuse: below the server's
/// own idle limit (yhconv closes a keep-alive connection silent for 10 s by
/// default), so a request is not sent on a connection the server is closing.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// A handle on one server, optionally logged in. Cheap to clone: clones share
/// the connection pool.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// Scheme, host, port and path prefix; never ends with `/`.
    base_url: String,
    ws_url: String,
    token: Option<String>,
    timeout: Duration,
}

impl Client {
    /// A client for the server at `base_url` (`http` or `https`, e.g.
    /// `http://127.0.0.1:8080`; a trailing slash and a path prefix are
    /// fine). The push socket URL defaults to the same host with `ws`/`wss`
    /// and the path `/ws` (after the prefix, if any).
    pub fn new(base_url: &str) -> Result<Client> {
        let (base_url, ws_url) = normalize_base(base_url)?;
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(DEFAULT_TIMEOUT)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build()?;
        Ok(Client { http, base_url, ws_url, token: None, timeout: DEFAULT_TIMEOUT })
    }

    /// The same client, sending `token` in the `token` header.
    pub fn with_token(self, token: impl Into<String>) -> Client {
        Client { token: Some(token.into()), ..self }
    }

    /// The same client, with the push socket at `ws_url` (`ws://` or
    /// `wss://`, e.g. `wss://chat-ws-go.jwzhd.com/ws` for Yunhu). It is
    /// checked by [`Client::connect_push`].
    pub fn with_ws_url(self, ws_url: &str) -> Client {
        Client { ws_url: ws_url.trim().to_owned(), ..self }
    }

    /// The same client, giving each request (and the push socket's connect
    /// and login) at most `timeout`. The default is [`DEFAULT_TIMEOUT`].
    pub fn with_timeout(self, timeout: Duration) -> Client {
        Client { timeout, ..self }
    }

    /// The token, if the client has one.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The normalized base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The push socket URL.
    pub fn ws_url(&self) -> &str {
        &self.ws_url
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl fmt::Debug for Client {
    /// Never prints the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url)
            .field("ws_url", &self.ws_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Checks a base URL and returns it without a trailing slash, with the push
/// socket URL derived from it.
fn normalize_base(base_url: &str) -> Result<(String, String)> {
    let invalid = |why: &str| Error::InvalidUrl(format!("{base_url:?}: {why}"));
    let url = Url::parse(base_url.trim()).map_err(|e| invalid(&e.to_string()))?;
    let ws_scheme = match url.scheme() {
        "http" => "ws",
        "https" => "wss",
        _ => return Err(invalid("the scheme must be http or https")),
    };
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a base url has no query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("credentials do not belong in the url"));
    }
    let base = url.as_str().trim_end_matches('/').to_owned();
    let mut ws = url.clone();
    let path = format!("{}/ws", url.path().trim_end_matches('/'));
    ws.set_path(&path);
    ws.set_scheme(ws_scheme).map_err(|()| invalid("cannot derive the websocket url"))?;
    Ok((base, ws.to_string()))
}

/// Checks a push socket URL: `ws` or `wss` with a host.
fn check_ws_url(ws_url: &str) -> Result<Url> {
    let invalid = |why: &str| Error::InvalidUrl(format!("{ws_url:?}: {why}"));
    let url = Url::parse(ws_url).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "ws" | "wss") {
        return Err(invalid("the scheme must be ws or wss"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(base: &str) -> (String, String) {
        let c = Client::new(base).unwrap();
        (c.base_url().to_owned(), c.ws_url().to_owned())
    }

    #[test]
    fn http_becomes_ws() {
        let (base, ws) = urls("http://127.0.0.1:8080");
        assert_eq!(base, "http://127.0.0.1:8080");
        assert_eq!(ws, "ws://127.0.0.1:8080/ws");
    }

    #[test]
    fn trailing_slash_is_tolerated() {
        assert_eq!(urls("http://127.0.0.1:8080/"), urls("http://127.0.0.1:8080"));
        assert_eq!(urls("  http://localhost:1/  ").0, "http://localhost:1");
    }

    #[test]
    fn https_becomes_wss() {
        let (base, ws) = urls("https://chat-go.jwzhd.com");
        assert_eq!(base, "https://chat-go.jwzhd.com");
        assert_eq!(ws, "wss://chat-go.jwzhd.com/ws");
    }

    #[test]
    fn path_prefix_is_kept() {
        let (base, ws) = urls("https://example.com/yh/");
        assert_eq!(base, "https://example.com/yh");
        assert_eq!(ws, "wss://example.com/yh/ws");
    }

    #[test]
    fn explicit_ws_url_wins() {
        let c = Client::new("https://chat-go.jwzhd.com").unwrap().with_ws_url("wss://chat-ws-go.jwzhd.com/ws");
        assert_eq!(c.ws_url(), "wss://chat-ws-go.jwzhd.com/ws");
        assert!(check_ws_url(c.ws_url()).is_ok());
    }

    #[test]
    fn bad_urls_are_refused() {
        for bad in ["", "127.0.0.1:8080", "ftp://x", "http://", "http://h/?a=1", "http://u:p@h"] {
            let err = Client::new(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidUrl(_)), "{bad}: {err:?}");
        }
        for bad in ["http://h/ws", "nonsense", "ws://"] {
            assert!(matches!(check_ws_url(bad), Err(Error::InvalidUrl(_))), "{bad}");
        }
    }

    #[test]
    fn token_and_timeout() {
        let c = Client::new("http://h").unwrap();
        assert_eq!(c.token(), None);
        assert_eq!(c.timeout(), DEFAULT_TIMEOUT);
        let c = c.with_token("secret").with_timeout(Duration::from_secs(2));
        assert_eq!(c.token(), Some("secret"));
        assert_eq!(c.timeout(), Duration::from_secs(2));
        assert!(!format!("{c:?}").contains("secret"));
    }
}
