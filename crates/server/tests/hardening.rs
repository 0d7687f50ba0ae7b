//! What a client can hold open is bounded: half-sent requests and idle
//! keep-alive connections close at the header deadline, push sockets that
//! never log in close at the login deadline, and the connection caps answer
//! HTTP 503 and `-1`, while a well-behaved client is served throughout.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{TestApp, ANN, GROUP};
use futures_util::{stream, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use yhconv_client::{ChatType, Client};
use yhconv_proto::CloseReason;

/// The start of a request that never finishes.
const HALF_REQUEST: &[u8] =
    b"POST /v1/conversation/list HTTP/1.1\r\nHost: yhconv\r\ncontent-type: application/json\r\n";
/// A WebSocket upgrade request (the key is RFC 6455's sample).
const UPGRADE: &[u8] = b"GET /ws HTTP/1.1\r\nHost: yhconv\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

fn addr(app: &TestApp) -> SocketAddr {
    app.base_url.trim_start_matches("http://").parse().expect("the test server's address")
}

/// A connection to `to` from the loopback address `from` (every 127.x.y.z
/// is this machine, each a different client address to the server).
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::from((from, 0))).expect("bind a loopback source address");
    socket.connect(to).await.expect("connect")
}

/// Reads until the peer closes; `Err` if it is still open after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Result<Vec<u8>, ()> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    });
    read.await.map(|()| got).map_err(|_| ())
}

/// Sends `GET /livez` on `stream` and returns the status line and body.
async fn livez_on(stream: &mut TcpStream) -> (String, String) {
    stream.write_all(b"GET /livez HTTP/1.1\r\nHost: yhconv\r\nConnection: close\r\n\r\n").await.expect("write");
    let answer = closed_within(stream, Duration::from_secs(10)).await.expect("an answer, then the close");
    let text = String::from_utf8(answer).expect("UTF-8");
    let status = text.lines().next().unwrap_or_default().to_owned();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

/// A connection from `from` that the server has accepted: one keep-alive
/// `/livez` answered 200 on it, and it stays open.
async fn accepted_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let mut stream = connect_from(from, to).await;
    stream.write_all(b"GET /livez HTTP/1.1\r\nHost: yhconv\r\n\r\n").await.expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).await.expect("read the answer"), 1, "closed before answering");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).expect("UTF-8");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
        .expect("a content-length");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.expect("the body");
    stream
}

/// Upgrades `stream` to a WebSocket and returns once the 101 is read.
async fn upgrade(stream: &mut TcpStream) {
    stream.write_all(UPGRADE).await.expect("write the upgrade");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).await.expect("read the upgrade answer"), 1, "closed during the upgrade");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
}

/// The close frame a WebSocket server sent: its code and reason.
fn close_frame(bytes: &[u8]) -> Option<(u16, String)> {
    let (&[first, len], rest) = bytes.split_first_chunk::<2>()?;
    let len = usize::from(len & 0x7f);
    if first != 0x88 || len < 2 || rest.len() < len {
        return None;
    }
    Some((u16::from_be_bytes([rest[0], rest[1]]), String::from_utf8_lossy(&rest[2..len]).into_owned()))
}

fn p99(mut latencies: Vec<Duration>) -> Duration {
    latencies.sort();
    latencies[(latencies.len() * 99).div_ceil(100).saturating_sub(1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_silent_clients_are_cut_off_while_others_are_served() {
    const HALF_OPEN: usize = 2000;
    const SILENT_SOCKETS: usize = 2000;
    const DEADLINE: Duration = Duration::from_secs(2);
    // This process holds both ends of every connection.
    let open_files = yhconv_server::app::raise_open_files_limit();
    assert!(open_files >= 10_000, "the test needs 10,000 open files, the limit is {open_files}");
    let app = TestApp::spawn_with(|c| {
        c.header_timeout_secs = DEADLINE.as_secs();
        c.ws_login_timeout_secs = DEADLINE.as_secs();
        c.max_connections_per_ip = 0;
    })
    .await;
    let to = addr(&app);
    let ann = app.client(ANN).await;

    // A well-behaved client lists and sends the whole time.
    let (done, mut done_rx) = tokio::sync::watch::channel(false);
    let normal = {
        let ann: Client = ann.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0u32;
            while !*done_rx.borrow_and_update() {
                let started = Instant::now();
                ann.conversation_list(None).await.expect("list under attack");
                ann.send_text(GROUP, ChatType::Group, &format!("still here {n}"), &[])
                    .await
                    .expect("send under attack");
                latencies.push(started.elapsed() / 2);
                n += 1;
            }
            latencies
        })
    };

    // The attack: half-sent requests, one of them trickling a header line
    // every half second, an idle keep-alive connection, and upgraded sockets
    // that never log in.
    let opened = Instant::now();
    let mut half_open: Vec<TcpStream> = stream::iter(0..HALF_OPEN)
        .map(|_| async move {
            let mut s = TcpStream::connect(to).await.expect("connect");
            s.write_all(HALF_REQUEST).await.expect("write half a request");
            s
        })
        .buffer_unordered(100)
        .collect()
        .await;
    let mut silent: Vec<TcpStream> = stream::iter(0..SILENT_SOCKETS)
        .map(|_| async move {
            let mut s = TcpStream::connect(to).await.expect("connect");
            upgrade(&mut s).await;
            s
        })
        .buffer_unordered(100)
        .collect()
        .await;
    let all_open = opened.elapsed();
    let mut trickler = TcpStream::connect(to).await.unwrap();
    trickler.write_all(HALF_REQUEST).await.unwrap();
    let trickle = tokio::spawn(async move {
        let started = Instant::now();
        for i in 0.. {
            if trickler.write_all(format!("x-slow-{i}: 1\r\n").as_bytes()).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            if started.elapsed() > DEADLINE * 5 {
                panic!("a request trickling its headers was held for {:?}", started.elapsed());
            }
        }
        started.elapsed()
    });
    let mut idle = TcpStream::connect(to).await.unwrap();
    idle.write_all(b"GET /livez HTTP/1.1\r\nHost: yhconv\r\n\r\n").await.unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let idle_since = Instant::now();

    // Every one of them is closed by its deadline, the first opened no later
    // than the deadline after it was opened (with slack for a loaded machine).
    let slack = all_open + DEADLINE * 2 + Duration::from_secs(3);
    for s in &mut half_open {
        let answer = closed_within(s, slack).await.expect("a half-sent request is closed by the header deadline");
        assert!(answer.is_empty() || answer.starts_with(b"HTTP/1.1 408"), "{}", String::from_utf8_lossy(&answer));
    }
    for s in &mut silent {
        let answer = closed_within(s, slack).await.expect("a socket that does not log in is closed");
        let (code, reason) = close_frame(&answer).expect("a close frame");
        assert_eq!((code, reason.as_str()), (CloseReason::NoLogin.code(), CloseReason::NoLogin.reason()));
    }
    closed_within(&mut idle, DEADLINE * 3).await.expect("an idle keep-alive connection is closed");
    assert!(idle_since.elapsed() >= DEADLINE - Duration::from_millis(100), "closed before its deadline");
    let trickled = trickle.await.unwrap();
    assert!(trickled < DEADLINE * 3, "a trickled request was held {trickled:?}");

    done.send(true).unwrap();
    let latencies = normal.await.unwrap();
    assert!(latencies.len() >= 10, "only {} calls were served meanwhile", latencies.len());
    let worst = p99(latencies.clone());
    eprintln!("{} calls served while {HALF_OPEN} half-sent requests and {SILENT_SOCKETS} silent sockets were held (all open after {all_open:?}): p99 {worst:?}", latencies.len());
    assert!(worst < Duration::from_secs(1), "p99 {worst:?} over {} calls under attack", latencies.len());

    let timeouts = app.metric("yhconv_http_header_timeouts_total").await;
    assert!(timeouts >= (HALF_OPEN + 2) as f64, "{timeouts} header time-outs counted");
    let no_login = app.metric("yhconv_push_socket_closes_total{reason=\"no_login_in_time\"}").await;
    assert_eq!(no_login, SILENT_SOCKETS as f64);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_caps_answer_503_and_give_places_back() {
    let app = TestApp::spawn_with(|c| {
        c.max_connections_per_ip = 3;
        c.max_connections = 5;
    })
    .await;
    let to = addr(&app);

    // Two idle connections and one push socket from 127.0.0.2: its cap.
    let mut held = vec![accepted_from([127, 0, 0, 2], to).await, accepted_from([127, 0, 0, 2], to).await];
    let mut socket = connect_from([127, 0, 0, 2], to).await;
    upgrade(&mut socket).await;
    let (status, body) = livez_on(&mut connect_from([127, 0, 0, 2], to).await).await;
    assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
    let answer: serde_json::Value = serde_json::from_str(&body).expect("a JSON answer");
    assert_eq!(answer["code"], -1);
    assert_eq!(answer["msg"], "too many connections from your address (at most 3 at once)");

    // Other addresses are still served, up to the total cap (each
    // connection is known to be accepted before the next one is made).
    held.push(accepted_from([127, 0, 0, 3], to).await);
    held.push(accepted_from([127, 0, 0, 4], to).await);
    let (status, body) = livez_on(&mut connect_from([127, 0, 0, 5], to).await).await;
    assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["msg"], "server busy: it holds its most connections (5); try again shortly");

    // A closed push socket gives its place back (the server sees the close
    // when it reads the socket's end).
    drop(socket);
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = livez_on(&mut connect_from([127, 0, 0, 2], to).await).await;
        if status == "HTTP/1.1 200 OK" {
            break;
        }
        assert!(Instant::now() < deadline, "places were not given back: {status}");
        tokio::task::yield_now().await;
    }
    drop(held);
    let per_address = app.metric("yhconv_connections_refused_total{reason=\"per_address\"}").await;
    let total = app.metric("yhconv_connections_refused_total{reason=\"total\"}").await;
    // The wait above may have been refused a few times more, under either.
    assert!(per_address >= 1.0 && total >= 1.0, "refusals counted: per address {per_address}, total {total}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_request_head_over_64_kib_is_refused_431() {
    let app = TestApp::spawn().await;
    let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
    let head = format!("GET /livez HTTP/1.1\r\nHost: yhconv\r\nx-big: {}\r\n\r\n", "a".repeat(70 * 1024));
    // The server may stop reading once the head is too large.
    let _ = stream.write_all(head.as_bytes()).await;
    let answer = closed_within(&mut stream, Duration::from_secs(10)).await.expect("closed");
    assert!(answer.starts_with(b"HTTP/1.1 431"), "{}", String::from_utf8_lossy(&answer));
    app.shutdown().await;
}
