//! What the client puts on the wire, against tiny scripted servers on
//! loopback (no yhconv server needed): paths, headers, bodies and frames.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use yhconv_proto::pb;

use crate::{ChatType, Client, Error, PushEvent};

/// One captured request: the head (request line and headers, lower-cased
/// header names) and the body.
struct Captured {
    head: String,
    body: Vec<u8>,
}

impl Captured {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or_default()
    }
}

/// Serves one HTTP request with `status`, `content_type` and `body`.
async fn one_shot(status: &str, content_type: &str, body: Vec<u8>) -> (String, JoinHandle<Captured>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let status = status.to_owned();
    let content_type = content_type.to_owned();
    let task = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let head_end = loop {
            let mut chunk = [0u8; 4096];
            let n = sock.read(&mut chunk).await.unwrap();
            assert!(n > 0, "client hung up");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
        let mut captured = Captured { head, body: Vec::new() };
        let len: usize = captured.header("content-length").map_or(0, |v| v.parse().unwrap());
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 4096];
            let n = sock.read(&mut chunk).await.unwrap();
            buf.extend_from_slice(&chunk[..n]);
        }
        captured.body = buf[head_end..head_end + len].to_vec();
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        sock.write_all(head.as_bytes()).await.unwrap();
        sock.write_all(&body).await.unwrap();
        sock.shutdown().await.unwrap();
        captured
    });
    (base, task)
}

fn ok_status() -> Vec<u8> {
    pb::StatusOnly { status: Some(pb::Status::ok(1)) }.encode_to_vec()
}

#[tokio::test]
async fn login_posts_json_without_token() {
    let answer = br#"{"code":1,"msg":"success","data":{"token":"tok-1"}}"#.to_vec();
    let (base, server) = one_shot("200 OK", "application/json", answer).await;
    let token = Client::new(&base).unwrap().email_login("a@b.c", "pw", "dev", "linux").await.unwrap();
    assert_eq!(token, "tok-1");
    let req = server.await.unwrap();
    assert_eq!(req.request_line(), "POST /v1/user/email-login HTTP/1.1");
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("token"), None);
    assert!(req.header("user-agent").unwrap().starts_with("yhconv-client/"));
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body, serde_json::json!({"email":"a@b.c","password":"pw","deviceId":"dev","platform":"linux"}));
}

#[tokio::test]
async fn send_text_posts_protobuf_with_token_header() {
    let (base, server) = one_shot("200 OK", "application/x-protobuf", ok_status()).await;
    let client = Client::new(&format!("{base}/")).unwrap().with_token("t0k");
    let msg_id = client.send_text("42", ChatType::Group, "你好", &["7", "all"]).await.unwrap();
    let req = server.await.unwrap();
    assert_eq!(req.request_line(), "POST /v1/msg/send-message HTTP/1.1");
    assert_eq!(req.header("token"), Some("t0k"));
    assert_eq!(req.header("content-type"), Some("application/x-protobuf"));
    let sent = pb::SendMessage::decode(req.body.as_slice()).unwrap();
    assert_eq!(sent.msg_id, msg_id);
    assert_eq!(msg_id.len(), 32);
    assert_eq!((sent.chat_id.as_str(), sent.chat_type, sent.content_type), ("42", 2, 1));
    let content = sent.content.unwrap();
    assert_eq!(content.text, "你好");
    assert_eq!(content.mentioned_id, ["7", "all"]);
}

#[tokio::test]
async fn list_without_md5_sends_an_empty_body() {
    let list = pb::ConversationList {
        status: Some(pb::Status::ok(1)),
        data: vec![pb::Conversation { chat_id: "9".into(), ..Default::default() }],
        total: 1,
        md5: "m".into(),
        ..Default::default()
    };
    let (base, server) = one_shot("200 OK", "application/x-protobuf", list.encode_to_vec()).await;
    let got = Client::new(&base).unwrap().with_token("t").conversation_list(None).await.unwrap();
    assert_eq!(got, list);
    let req = server.await.unwrap();
    assert_eq!(req.request_line(), "POST /v1/conversation/list HTTP/1.1");
    assert!(req.body.is_empty());
}

#[tokio::test]
async fn unauthorized_401_keeps_code_and_msg() {
    let body = pb::StatusOnly { status: Some(pb::Status { number: 1, code: -101, msg: "未登录".into() }) };
    let (base, server) = one_shot("401 Unauthorized", "application/x-protobuf", body.encode_to_vec()).await;
    let err = Client::new(&base).unwrap().with_token("bad").user_info().await.unwrap_err();
    assert!(err.is_unauthorized(), "{err:?}");
    assert_eq!(err.to_string(), "server said -101: 未登录");
    assert_eq!(server.await.unwrap().request_line(), "GET /v1/user/info HTTP/1.1");
}

#[tokio::test]
async fn json_endpoints_send_their_bodies() {
    let ok = br#"{"code":1,"msg":"success"}"#.to_vec();
    let cases: [(&str, &str, serde_json::Value); 4] = [
        ("read", "/v1/conversation/dismiss-notification", serde_json::json!({"chatId":"5"})),
        ("top", "/v1/conversation/sort-change", serde_json::json!({"userId":"5"})),
        ("remove", "/v1/conversation/remove", serde_json::json!({"chatId":"5"})),
        ("mute", "/v1/friend/no-notify", serde_json::json!({"chatId":"5","noNotify":1})),
    ];
    for (what, path, expected) in cases {
        let (base, server) = one_shot("200 OK", "application/json", ok.clone()).await;
        let c = Client::new(&base).unwrap().with_token("t");
        match what {
            "read" => c.dismiss_notification("5").await,
            "top" => c.sort_change("5").await,
            "remove" => c.remove_conversation("5").await,
            _ => c.set_no_notify("5", true).await,
        }
        .unwrap();
        let req = server.await.unwrap();
        assert_eq!(req.request_line(), format!("POST {path} HTTP/1.1"));
        assert_eq!(req.header("token"), Some("t"));
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body, expected, "{what}");
    }
}

#[tokio::test]
async fn calls_needing_a_token_fail_without_one() {
    let c = Client::new("http://127.0.0.1:9").unwrap();
    assert!(matches!(c.user_info().await, Err(Error::NoToken)));
    assert!(matches!(c.dismiss_notification("1").await, Err(Error::NoToken)));
    assert!(matches!(c.connect_push("1", "linux", "d").await, Err(Error::NoToken)));
}

#[tokio::test]
async fn timeout_is_an_http_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let _hold = tokio::spawn(async move {
        let (_sock, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    let c = Client::new(&base).unwrap().with_token("t").with_timeout(Duration::from_millis(200));
    let err = c.conversation_list(None).await.unwrap_err();
    assert!(matches!(err, Error::Http(ref e) if e.is_timeout()), "{err:?}");
}

#[tokio::test]
async fn push_socket_logs_in_acks_pings_and_ends() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(sock).await.unwrap();
        let text = |m: Option<Result<Message, _>>| match m {
            Some(Ok(Message::Text(t))) => serde_json::from_str::<serde_json::Value>(&t).unwrap(),
            other => panic!("expected a text frame, got {other:?}"),
        };
        let login = text(ws.next().await);
        let heartbeat = text(ws.next().await);
        ws.send(Message::text("ignored")).await.unwrap();
        ws.send(Message::Ping(b"p".to_vec().into())).await.unwrap();
        let ack = pb::WsFrame {
            info: Some(pb::Info { seq: heartbeat["seq"].as_str().unwrap().into(), cmd: "heartbeat_ack".into() }),
            data: None,
        };
        ws.send(Message::binary(ack.encode_to_vec())).await.unwrap();
        let pong = ws.next().await;
        assert!(matches!(pong, Some(Ok(Message::Pong(ref p))) if &p[..] == b"p"), "{pong:?}");
        ws.close(None).await.unwrap();
        (login, heartbeat)
    });
    let client = Client::new(&base).unwrap().with_token("tk");
    assert_eq!(client.ws_url(), format!("{}/ws", base.replace("http", "ws")));
    let mut push = client.connect_push("u1", "linux", "dev-9").await.unwrap();
    let seq = push.heartbeat().await.unwrap();
    let ev = push.next_event().await.unwrap();
    assert_eq!(ev, Some(PushEvent::HeartbeatAck { seq: seq.clone() }));
    assert_eq!(push.next_event().await.unwrap(), None);
    let (login, heartbeat) = server.await.unwrap();
    assert_eq!(login["cmd"], "login");
    assert_eq!(login["data"], serde_json::json!({"userId":"u1","token":"tk","platform":"linux","deviceId":"dev-9"}));
    assert!(!login["seq"].as_str().unwrap().is_empty());
    assert_eq!(heartbeat, serde_json::json!({"seq": seq, "cmd": "heartbeat", "data": {}}));
}

#[tokio::test]
async fn push_socket_close_is_polite() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ws_url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(sock).await.unwrap();
        let mut got_close = false;
        while let Some(Ok(m)) = ws.next().await {
            got_close |= m.is_close();
        }
        got_close
    });
    let client = Client::new("http://unused.invalid").unwrap().with_token("t").with_ws_url(&ws_url);
    let push = client.connect_push("u", "Web", "d").await.unwrap();
    push.close().await.unwrap();
    assert!(server.await.unwrap(), "the server saw no close frame");
}
