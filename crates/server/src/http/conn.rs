//! Accepting connections: how many may be open at once (in all, and per
//! client address), how long a request's headers may take, and graceful
//! shutdown. With `ws.rs`'s login deadline, this bounds everything a client
//! can hold open: a half-sent request, an idle keep-alive connection, a
//! push socket that never logs in.
//!
//! A request's body has no deadline of its own: the handler reads it, so
//! the request deadline (`--request-timeout-secs`, the guard in `mod.rs`)
//! covers it, and a body trickled in slower than that is cut off.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

use super::metrics::Metrics;

/// Largest request head (request line and headers) a connection buffers.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Refusals being written at once; past it a refused connection is just
/// closed, so refusing costs no more descriptors than this.
const MAX_REFUSING: usize = 64;
/// How long a refusal may take to write and drain.
const REFUSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Pause after an accept error that is not the client's (e.g. out of
/// descriptors), so the loop does not spin while nothing can be accepted.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The connection settings, from the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most connections open at once, HTTP and push sockets together.
    pub total: usize,
    /// Most open at once from one client address; 0: no per-address cap.
    pub per_address: usize,
    /// How long a request's headers may take to arrive, counted from when
    /// the connection is ready for a request: also how long an idle
    /// keep-alive connection stays open.
    pub header_timeout: Duration,
    /// How long shutdown waits for open HTTP connections to finish.
    pub drain_timeout: Duration,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server holds its most connections.
    Total,
    /// The client's address holds its most connections.
    PerAddress,
}

impl Refusal {
    /// The `reason` label of `yhconv_connections_refused_total`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Total => "total",
            Self::PerAddress => "per_address",
        }
    }

    /// What the client is told.
    fn message(self, limits: &ConnectionLimits) -> String {
        match self {
            Self::Total => format!("server busy: it holds its most connections ({}); try again shortly", limits.total),
            Self::PerAddress => {
                format!("too many connections from your address (at most {} at once)", limits.per_address)
            }
        }
    }
}

/// The open connections, counted in all and per client address.
#[derive(Debug, Default)]
pub struct Tally {
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

impl Tally {
    /// A place for one more connection from `address`, or why there is none.
    pub fn admit(self: &Arc<Self>, address: IpAddr, limits: &ConnectionLimits) -> Result<Slot, Refusal> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if counts.total >= limits.total {
            return Err(Refusal::Total);
        }
        let from_address = counts.per_address.entry(address).or_default();
        if limits.per_address > 0 && *from_address >= limits.per_address {
            return Err(Refusal::PerAddress);
        }
        *from_address += 1;
        counts.total += 1;
        Ok(Slot { tally: Arc::clone(self), address })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner).total
    }
}

/// One admitted connection's place in the [`Tally`], given back on drop.
#[derive(Debug)]
pub struct Slot {
    tally: Arc<Tally>,
    address: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.tally.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.total -= 1;
        if let Some(n) = counts.per_address.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                counts.per_address.remove(&self.address);
            }
        }
    }
}

/// A TCP stream that holds its [`Slot`]: after a WebSocket upgrade the
/// stream lives on in the socket's task, and its place in the tally with it.
/// The slot is declared first so it is given back before the stream closes:
/// a client that has seen the close finds the place free.
struct Counted {
    _slot: Slot,
    stream: TcpStream,
}

impl AsyncRead for Counted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Serves `router` on `listener` until `stop` completes: each connection
/// admitted against `limits` (a refused one gets HTTP 503 and `-1`), its
/// requests' headers under the deadline. Then stops accepting, lets open
/// HTTP connections finish (up to the drain timeout) and returns; push
/// sockets are told to close through the application's shutdown signal.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    tally: Arc<Tally>,
    metrics: Arc<Metrics>,
    stop: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let slot = match tally.admit(peer.ip(), &limits) {
            Ok(slot) => slot,
            Err(refusal) => {
                metrics.connection_refused(refusal);
                tracing::debug!(%peer, reason = refusal.label(), "connection refused");
                refuse(stream, refusal.message(&limits), &refusing);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(Counted { _slot: slot, stream });
        let service = router.clone().map_request(move |mut request: axum::http::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let connection = builder.serve_connection_with_upgrades(io, TowerToHyperService::new(service));
            if let Err(e) = watcher.watch(connection).await {
                if e.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_timeout) {
                    metrics.header_timed_out();
                    tracing::debug!(%peer, "closed a connection whose request headers did not arrive in time");
                } else {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown()).await.is_err() {
        tracing::warn!("some HTTP connections were still open {:?} after shutdown began", limits.drain_timeout);
    }
}

/// Errors of one connection attempt, not of the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// Answers a refused connection HTTP 503 with `{"code":-1,"msg":…}` and
/// closes it. The answer follows the request's head (an HTTP client takes
/// an answer that comes before its request for a broken connection), and
/// what else the client sent is read before the close (closing with unread
/// data would reset the connection and lose the answer). At most
/// [`MAX_REFUSING`] at a time, each for at most [`REFUSE_TIMEOUT`]; past
/// that the connection is closed unanswered.
fn refuse(mut stream: TcpStream, message: String, refusing: &Arc<Semaphore>) {
    let Ok(permit) = Arc::clone(refusing).try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _permit = permit;
        let body = serde_json::json!({ "code": -1, "msg": message }).to_string();
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             retry-after: 1\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = tokio::time::timeout(REFUSE_TIMEOUT, async {
            let mut head = Vec::new();
            let mut buf = [0u8; 2048];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD_BYTES {
                match stream.read(&mut buf).await? {
                    0 => break,
                    n => head.extend_from_slice(&buf[..n]),
                }
            }
            stream.write_all(answer.as_bytes()).await?;
            stream.shutdown().await?;
            while stream.read(&mut buf).await? > 0 {}
            Ok::<_, io::Error>(())
        })
        .await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_address: usize) -> ConnectionLimits {
        ConnectionLimits {
            total,
            per_address,
            header_timeout: Duration::from_secs(1),
            drain_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn the_tally_caps_in_all_and_per_address_and_gives_places_back() {
        let tally = Arc::new(Tally::default());
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let caps = limits(3, 2);
        let first = tally.admit(a, &caps).unwrap();
        let _second = tally.admit(a, &caps).unwrap();
        assert_eq!(tally.admit(a, &caps).unwrap_err(), Refusal::PerAddress);
        let _third = tally.admit(b, &caps).unwrap();
        assert_eq!(tally.admit(b, &caps).unwrap_err(), Refusal::Total);
        assert_eq!(tally.open(), 3);
        drop(first);
        assert_eq!(tally.open(), 2);
        let _again = tally.admit(a, &caps).expect("a place given back is free again");
        // No per-address cap: only the total counts.
        let open = Arc::new(Tally::default());
        let slots: Vec<Slot> = (0..5).map(|_| open.admit(a, &limits(5, 0)).unwrap()).collect();
        assert_eq!(open.admit(b, &limits(5, 0)).unwrap_err(), Refusal::Total);
        drop(slots);
        assert_eq!(open.open(), 0);
        assert!(open.counts.lock().unwrap().per_address.is_empty(), "no entry is kept for an address with none open");
    }
}
