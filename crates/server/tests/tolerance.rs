//! What real clients send, byte for byte (research §0): GET on the list,
//! the JSON login in a binary WebSocket frame and its `login_ack`, a
//! `Token` header with an `Authorization` beside it, `noNotify` as a bool,
//! configure-distribution, and the calls this server does not offer.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio_tungstenite::tungstenite::Message;
use yhconv_proto::pb::{ConversationList, WsFrame};
use yhconv_proto::ChatType;

#[tokio::test]
async fn the_list_answers_get_like_post_with_an_empty_body() {
    let app = TestApp::spawn().await;
    let (ann, ben) = (app.client(ANN).await, app.client(BEN).await);
    ben.send_text(ANN, ChatType::User, "hi", &[]).await.unwrap();
    let token = ann.token().unwrap().to_owned();
    let http = reqwest::Client::new();
    // Windows Phone: GET first, `Token` spelled its way, a Bearer header beside it.
    let response = http
        .get(format!("{}/v1/conversation/list", app.base_url))
        .header("Token", &token)
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let by_get = ConversationList::decode(response.bytes().await.unwrap()).unwrap();
    let by_post = ann.conversation_list(None).await.unwrap();
    assert_eq!((by_get.data, by_get.md5), (by_post.data, by_post.md5));
    app.shutdown().await;
}

#[tokio::test]
async fn no_notify_takes_a_bool() {
    let app = TestApp::spawn().await;
    let ann = app.client(ANN).await;
    ann.send_text(BEN, ChatType::User, "hi", &[]).await.unwrap();
    let http = reqwest::Client::new();
    let post = |body: &'static str| {
        http.post(format!("{}/v1/friend/no-notify", app.base_url))
            .header("token", ann.token().unwrap())
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let answer: serde_json::Value =
        post(r#"{"chatId":"1002","noNotify":true,"chatType":1}"#).await.unwrap().json().await.unwrap();
    assert_eq!(answer["code"], 1, "{answer}");
    assert_eq!(entry(&ann, BEN).await.do_not_disturb, 1);
    post(r#"{"chatId":"1002","noNotify":false}"#).await.unwrap();
    assert_eq!(entry(&ann, BEN).await.do_not_disturb, 0);
    app.shutdown().await;
}

#[tokio::test]
async fn a_binary_login_frame_is_answered_login_ack() {
    let app = TestApp::spawn().await;
    let ann = app.client(ANN).await;
    let ws_url = format!("{}/ws", app.base_url.replace("http://", "ws://"));
    let (mut socket, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    let login = format!(
        r#"{{"seq":"L1","cmd":"login","data":{{"userId":"{ANN}","token":"{}","platform":"windows","deviceId":"wp81_{ANN}"}}}}"#,
        ann.token().unwrap()
    );
    socket.send(Message::binary(login.into_bytes())).await.unwrap();
    let frame = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.unwrap().unwrap().unwrap();
    let frame = WsFrame::decode(frame.into_data()).unwrap();
    let info = frame.info.unwrap();
    assert_eq!((info.cmd.as_str(), info.seq.as_str()), ("login_ack", "L1"));
    // Pushes follow, to this binary-speaking socket too.
    app.client(BEN).await.send_text(ANN, ChatType::User, "to your phone", &[]).await.unwrap();
    let frame = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.unwrap().unwrap().unwrap();
    let frame = WsFrame::decode(frame.into_data()).unwrap();
    assert_eq!(frame.info.unwrap().cmd, "push_message");
    assert_eq!(frame.data.unwrap().msg.unwrap().content.unwrap().text, "to your phone");
    app.shutdown().await;
}

#[tokio::test]
async fn configure_distribution_points_at_this_server() {
    let app = TestApp::spawn_with(|c| c.media_base_url = "https://media.example.com/".into()).await;
    let token = app.client(ANN).await.token().unwrap().to_owned();
    let http = reqwest::Client::new();
    let url = format!("{}/v1/misc/configure-distribution", app.base_url);
    let answer: serde_json::Value = http.get(&url).header("token", &token).send().await.unwrap().json().await.unwrap();
    assert_eq!(answer["code"], 1, "{answer}");
    let host = app.base_url.trim_start_matches("http://");
    assert_eq!(answer["data"]["websocketUrl"], format!("ws://{host}/ws"));
    assert_eq!(answer["data"]["imageUrl"], "https://media.example.com/");
    // Behind a TLS proxy.
    let answer: serde_json::Value = http
        .get(&url)
        .header("token", &token)
        .header("host", "chat.example.com")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["data"]["websocketUrl"], "wss://chat.example.com/ws");
    assert_eq!(answer["data"]["serverUrl"], "https://chat.example.com/");
    app.shutdown().await;
}

#[tokio::test]
async fn calls_not_offered_say_so_with_200() {
    let app = TestApp::spawn().await;
    let http = reqwest::Client::new();
    for (get, path) in
        [(false, "/v1/user/captcha"), (false, "/v1/user/verification-login"), (true, "/v1/misc/qiniu-token")]
    {
        let url = format!("{}{path}", app.base_url);
        let request = if get { http.get(&url) } else { http.post(&url).body(r#"{"mobile":"1"}"#) };
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(answer["code"], -1);
        assert!(answer["msg"].as_str().unwrap().contains("not offered by this server"), "{answer}");
    }
    app.shutdown().await;
}
