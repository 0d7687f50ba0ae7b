//! Every error path with its code, auth, CORS, and bodies no client should
//! send: all answered in the endpoint's own format, never a crash or a 500.

mod common;

use common::*;
use prost::Message;
use reqwest::{header, StatusCode};
use yhconv_proto::endpoints::{Answer, Method, ALL};
use yhconv_proto::pb::{ConversationList, StatusOnly, UserInfo};
use yhconv_proto::ChatType;

/// (HTTP status, code, msg) of a JSON answer.
async fn json_answer(response: reqwest::Response) -> (StatusCode, i64, String) {
    let status = response.status();
    let body: serde_json::Value = response.json().await.expect("a JSON body");
    (status, body["code"].as_i64().unwrap(), body["msg"].as_str().unwrap().to_owned())
}

/// (HTTP status, code, msg) of a protobuf answer.
async fn proto_answer(response: reqwest::Response) -> (StatusCode, i32, String) {
    let status = response.status();
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/x-protobuf");
    let body = response.bytes().await.unwrap();
    let s = StatusOnly::decode(body).expect("a protobuf body").status.expect("a status");
    (status, s.code, s.msg)
}

/// The declared endpoints that need a token, answering `answer`, POST.
fn endpoints(answer: Answer) -> Vec<&'static str> {
    ALL.iter().filter(|e| e.auth && e.answer == answer && e.methods.contains(&Method::Post)).map(|e| e.path).collect()
}

/// Request bodies where field 2 is not what these bodies may hold.
const MALFORMED_FOR: [&str; 3] = ["/v1/conversation/list", "/v1/msg/send-message", "/v1/msg/list-message"];

#[tokio::test]
async fn missing_or_bad_tokens_are_minus_101_with_401_everywhere() {
    let app = TestApp::spawn().await;
    let http = reqwest::Client::new();
    for token in [None, Some(""), Some("not-a-token"), Some(&*"f".repeat(5000))] {
        for path in endpoints(Answer::Json) {
            let mut req =
                http.post(format!("{}{path}", app.base_url)).body(r#"{"chatId":"1002","userId":"1002","noNotify":1}"#);
            if let Some(t) = token {
                req = req.header("token", t);
            }
            let answer = json_answer(req.send().await.unwrap()).await;
            assert_eq!(answer, (StatusCode::UNAUTHORIZED, -101, "未登录".into()), "{path} {token:?}");
        }
        for path in endpoints(Answer::Protobuf) {
            let mut req = http.post(format!("{}{path}", app.base_url));
            if let Some(t) = token {
                req = req.header("token", t);
            }
            let answer = proto_answer(req.send().await.unwrap()).await;
            assert_eq!(answer, (StatusCode::UNAUTHORIZED, -101, "未登录".into()), "{path} {token:?}");
        }
        let mut req = http.get(format!("{}/v1/user/info", app.base_url));
        if let Some(t) = token {
            req = req.header("token", t);
        }
        assert_eq!(proto_answer(req.send().await.unwrap()).await.0, StatusCode::UNAUTHORIZED);
    }
    // The typed client keeps code and message.
    let err = app.anonymous().with_token("nope").conversation_list(None).await.unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    app.shutdown().await;
}

#[tokio::test]
async fn login_logout_and_user_info() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous();
    let (code, msg) = api_error(anon.email_login("ann@example.com", "wrong", "d", "linux").await);
    assert_eq!((code, msg.as_str()), (-1, "wrong email or password"));
    let (code, _) = api_error(anon.email_login("nobody@example.com", "x", "d", "linux").await);
    assert_eq!(code, -1);
    let (code, msg) = api_error(anon.email_login("", "x", "d", "linux").await);
    assert_eq!((code, msg.as_str()), (-1, "email is required"));

    let token = anon.email_login("ANN@example.com", "ann-pw", "d", "linux").await.unwrap();
    assert!(token.len() >= 32);
    let ann = app.anonymous().with_token(token.clone());
    let info = ann.user_info().await.unwrap();
    assert_eq!((info.id.as_str(), info.name.as_str(), info.email.as_str()), (ANN, "Ann", "ann@example.com"));
    assert_eq!((info.avatar_url.as_str(), info.avatar_id), ("https://a/ann.png", 11));

    // Raw bytes: field 1 Status, field 2 data.
    let raw = reqwest::Client::new()
        .get(format!("{}/v1/user/info", app.base_url))
        .header("token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::OK);
    let decoded = UserInfo::decode(raw.bytes().await.unwrap()).unwrap();
    assert_eq!(decoded.status.unwrap().code, 1);

    // Logout revokes at once; other tokens of the same user keep working.
    let other = app.client(ANN).await;
    ann.logout().await.unwrap();
    assert!(ann.user_info().await.unwrap_err().is_unauthorized());
    assert!(ann.conversation_list(None).await.unwrap_err().is_unauthorized());
    other.user_info().await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn malformed_json_bodies_are_minus_1() {
    let app = TestApp::spawn().await;
    let ann = app.client(ANN).await;
    let token = ann.token().unwrap().to_owned();
    let http = reqwest::Client::new();
    let cases: [(&str, &str, &str); 10] = [
        ("/v1/conversation/dismiss-notification", "", "request body is empty; a JSON object is expected"),
        (
            "/v1/conversation/dismiss-notification",
            "{",
            "malformed JSON body: EOF while parsing an object at line 1 column 1",
        ),
        (
            "/v1/conversation/dismiss-notification",
            r#"{"chatId": 1002}"#,
            "malformed JSON body: invalid type: integer `1002`, expected a string at line 1 column 15",
        ),
        ("/v1/conversation/remove", r#"{}"#, "malformed JSON body: missing field `chatId` at line 1 column 2"),
        (
            "/v1/conversation/remove",
            r#"[1,2]"#,
            "malformed JSON body: invalid type: integer `1`, expected a string at line 1 column 2",
        ),
        (
            "/v1/conversation/sort-change",
            r#"{"userId": null}"#,
            "malformed JSON body: invalid type: null, expected a string at line 1 column 15",
        ),
        (
            "/v1/friend/no-notify",
            r#"{"chatId":"1002","noNotify":"yes"}"#,
            "malformed JSON body: not a 0/1 flag: \"yes\" at line 1 column 34",
        ),
        ("/v1/friend/no-notify", r#"{"chatId":"1002","noNotify":2}"#, "noNotify must be 0 or 1, got 2"),
        ("/v1/conversation/dismiss-notification", r#"{"chatId":"-3"}"#, "chatId must be a decimal id, got \"-3\""),
        ("/v1/conversation/dismiss-notification", r#"{"chatId":"777"}"#, "unknown chat 777"),
    ];
    for (path, body, expected) in cases {
        let response =
            http.post(format!("{}{path}", app.base_url)).header("token", &token).body(body).send().await.unwrap();
        assert_eq!(json_answer(response).await, (StatusCode::OK, -1, expected.to_string()), "{path} {body}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn malformed_protobuf_and_oversized_bodies_are_minus_1() {
    let app = TestApp::spawn_with(|c| c.max_body_bytes = 4096).await;
    let ann = app.client(ANN).await;
    let token = ann.token().unwrap().to_owned();
    let http = reqwest::Client::new();
    let bodies: [(&str, Vec<u8>); 4] = [
        ("truncated", vec![0x12, 0x10, b'a']),
        ("bad wire type", vec![0x17, 0x01]),
        ("garbage", b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff".to_vec()),
        // Field 2 is a string in the first two: not UTF-8 is malformed. (In
        // list-message it is a varint: sent as bytes it is skipped, below.)
        ("field 2 as invalid utf-8 bytes", vec![0x12, 0x02, 0xc3, 0x28]),
    ];
    for path in MALFORMED_FOR {
        for (what, body) in &bodies {
            if path == "/v1/msg/list-message" && what.starts_with("field 2") {
                continue;
            }
            let response = http
                .post(format!("{}{path}", app.base_url))
                .header("token", &token)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let (status, code, msg) = proto_answer(response).await;
            assert_eq!((status, code), (StatusCode::OK, -1), "{path}: {what}");
            assert!(msg.starts_with("malformed protobuf body"), "{path}: {what}: {msg}");
        }
        let response = http
            .post(format!("{}{path}", app.base_url))
            .header("token", &token)
            .body(vec![0u8; 10_000])
            .send()
            .await
            .unwrap();
        assert_eq!(proto_answer(response).await, (StatusCode::OK, -1, "request body is larger than 4096 bytes".into()));
    }
    let response = http
        .post(format!("{}/v1/conversation/remove", app.base_url))
        .header("token", &token)
        .body(format!(r#"{{"chatId":"{}"}}"#, "9".repeat(10_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(json_answer(response).await, (StatusCode::OK, -1, "request body is larger than 4096 bytes".into()));
    // A known field with the wrong wire type is skipped, as Yunhu's server
    // does (MD3 posts a by-mid-seq body to list-message): the newest page.
    ann.send_text(BEN, ChatType::User, "still here", &[]).await.unwrap();
    let mut by_mid_seq = vec![0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x20, 1];
    by_mid_seq.extend([0x2a, 4, b'1', b'0', b'0', b'2', 0x38, 20, 0x42, 1, b'x']);
    let response = http
        .post(format!("{}/v1/msg/list-message", app.base_url))
        .header("token", &token)
        .body(by_mid_seq)
        .send()
        .await
        .unwrap();
    let answer = yhconv_proto::pb::ListMessageResponse::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(answer.status.unwrap().code, 1);
    assert_eq!(answer.msg[0].content.as_ref().unwrap().text, "still here");
    app.shutdown().await;
}

#[tokio::test]
async fn cors_and_unknown_endpoints() {
    let app = TestApp::spawn().await;
    let http = reqwest::Client::new();
    let preflight = http
        .request(reqwest::Method::OPTIONS, format!("{}/v1/conversation/list", app.base_url))
        .header("origin", "https://web.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "token, content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    let methods = h["access-control-allow-methods"].to_str().unwrap();
    assert!(methods.contains("GET") && methods.contains("POST"), "{methods}");
    let headers = h["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(headers.contains("token") && headers.contains("content-type"), "{headers}");

    // Errors carry the header too.
    let denied = http
        .post(format!("{}/v1/conversation/list", app.base_url))
        .header("origin", "https://web.example")
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(denied.headers()["access-control-allow-origin"], "*");

    let unknown = http.post(format!("{}/v1/nope", app.base_url)).header("origin", "https://x").send().await.unwrap();
    assert_eq!(unknown.headers()["access-control-allow-origin"], "*");
    assert_eq!(json_answer(unknown).await, (StatusCode::NOT_FOUND, -1, "unknown endpoint POST /v1/nope".into()));

    let health = http.get(format!("{}/healthz", app.base_url)).send().await.unwrap();
    assert_eq!(json_answer(health).await, (StatusCode::OK, 1, "success".into()));
    app.shutdown().await;
}

#[tokio::test]
async fn the_list_endpoint_accepts_an_empty_body_and_numbers_each_answer() {
    let app = TestApp::spawn().await;
    let token = app.client(ANN).await.token().unwrap().to_owned();
    let http = reqwest::Client::new();
    let mut numbers = Vec::new();
    for _ in 0..2 {
        let response =
            http.post(format!("{}/v1/conversation/list", app.base_url)).header("token", &token).send().await.unwrap();
        let list = ConversationList::decode(response.bytes().await.unwrap()).unwrap();
        let status = list.status.unwrap();
        assert_eq!((status.code, status.msg.as_str(), list.total), (1, "success", 0));
        numbers.push(status.number);
    }
    assert_ne!(numbers[0], numbers[1]);
    app.shutdown().await;
}

/// Sends a request whose body never finishes arriving, and returns the raw
/// answer the server gives up with.
async fn stalled_request(base_url: &str, path: &str, token: &str) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base_url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ntoken: {token}\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(20), stream.read_to_end(&mut answer)).await.unwrap().unwrap();
    answer
}

/// (HTTP status line, body) of a raw HTTP/1.1 answer.
fn split_answer(answer: &[u8]) -> (String, Vec<u8>) {
    let at = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete answer");
    let head = String::from_utf8_lossy(&answer[..at]).to_string();
    (head.lines().next().unwrap().to_owned(), answer[at + 4..].to_vec())
}

#[tokio::test]
async fn a_request_over_the_time_limit_is_answered_in_its_own_format() {
    let app = TestApp::spawn_with(|c| c.request_timeout_secs = 1).await;
    let token = app.client(ANN).await.token().unwrap().to_owned();

    let (status, body) = split_answer(&stalled_request(&app.base_url, "/v1/conversation/list", &token).await);
    assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
    let answer = StatusOnly::decode(body.as_slice()).expect("a protobuf answer").status.unwrap();
    assert_eq!(answer.code, -1);
    assert!(answer.msg.starts_with("request timed out"), "{}", answer.msg);

    let (status, body) = split_answer(&stalled_request(&app.base_url, "/v1/conversation/remove", &token).await);
    assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
    let answer: serde_json::Value = serde_json::from_slice(&body).expect("a JSON answer");
    assert_eq!(answer["code"], -1);
    assert!(answer["msg"].as_str().unwrap().starts_with("request timed out"), "{answer}");
    app.shutdown().await;
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_live_sockets() {
    let app = TestApp::spawn().await;
    let ann = app.client(ANN).await;
    ann.conversation_list(None).await.unwrap();
    ann.conversation_list(None).await.unwrap();
    let _ = app.anonymous().with_token("nope").conversation_list(None).await;
    let mut socket = ann.connect_push(ANN, "linux", "m").await.unwrap();
    socket.heartbeat().await.unwrap();
    socket.next_event().await.unwrap();
    let text = reqwest::get(format!("{}/metrics", app.base_url)).await.unwrap().text().await.unwrap();
    let line = |prefix: &str| {
        text.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("{prefix} in\n{text}")).to_owned()
    };
    assert!(
        line(r#"yhconv_http_requests_total{method="POST",route="/v1/conversation/list",status="200"}"#).ends_with(" 2")
    );
    assert!(
        line(r#"yhconv_http_requests_total{method="POST",route="/v1/conversation/list",status="401"}"#).ends_with(" 1")
    );
    assert!(text.lines().any(|l| l.starts_with("yhconv_http_request_duration_seconds_bucket{")
        && l.contains(r#"route="/v1/conversation/list""#)));
    assert_eq!(line("yhconv_push_sockets "), "yhconv_push_sockets 1");
    // Both engines keep lists in memory: the first list was read, the second
    // was not (with PostgreSQL, once the feed caught up with the list clock).
    assert_eq!(line("yhconv_list_cache_misses_total "), "yhconv_list_cache_misses_total 1");
    assert_eq!(line("yhconv_list_cache_hits_total "), "yhconv_list_cache_hits_total 1");
    assert_eq!(line("yhconv_list_cache_entries "), "yhconv_list_cache_entries 1");
    app.shutdown().await;
}
