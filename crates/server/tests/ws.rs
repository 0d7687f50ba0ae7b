//! Live pushes over a real WebSocket.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use yhconv_client::{PushEvent, PushSocket};
use yhconv_proto::pb::PushMsg;
use yhconv_proto::ChatType;

const QUIET: Duration = Duration::from_millis(400);

/// A push socket of `user`, known to be logged in (a heartbeat was answered).
async fn socket(app: &TestApp, user: &str, device: &str) -> PushSocket {
    let client = app.client(user).await;
    let mut socket = client.connect_push(user, "linux", device).await.expect("socket connects");
    let seq = socket.heartbeat().await.unwrap();
    match next(&mut socket).await {
        PushEvent::HeartbeatAck { seq: acked } => assert_eq!(acked, seq),
        other => panic!("expected a heartbeat ack, got {other:?}"),
    }
    socket
}

async fn next(socket: &mut PushSocket) -> PushEvent {
    tokio::time::timeout(Duration::from_secs(20), socket.next_event())
        .await
        .expect("an event within 20 s")
        .expect("socket healthy")
        .expect("socket open")
}

async fn next_push(socket: &mut PushSocket) -> PushMsg {
    match next(socket).await {
        PushEvent::Message(m) => m,
        other => panic!("expected a push, got {other:?}"),
    }
}

async fn assert_silent(socket: &mut PushSocket) {
    if let Ok(event) = tokio::time::timeout(QUIET, socket.next_event()).await {
        match event {
            Ok(None) | Err(_) => {}
            Ok(Some(event)) => panic!("expected nothing, got {event:?}"),
        }
    }
}

#[tokio::test]
async fn every_device_of_every_member_gets_a_group_message() {
    let app = TestApp::spawn().await;
    let mut ann_phone = socket(&app, ANN, "phone").await;
    let mut ann_laptop = socket(&app, ANN, "laptop").await;
    let mut ben = socket(&app, BEN, "phone").await;
    let mut cat = socket(&app, CAT, "phone").await;

    let msg_id = app.client(BEN).await.send_text(GROUP, ChatType::Group, "hello team", &[ANN]).await.unwrap();
    for (receiver, socket) in [(ANN, &mut ann_phone), (ANN, &mut ann_laptop), (BEN, &mut ben)] {
        let push = next_push(socket).await;
        assert_eq!((push.msg_id.as_str(), push.chat_id.as_str(), push.chat_type), (msg_id.as_str(), GROUP, 2));
        assert_eq!((push.recv_id.as_str(), push.msg_seq, push.content_type), (receiver, 1, 1));
        let content = push.content.unwrap();
        assert_eq!(
            (content.text.as_str(), content.mentioned_id.as_slice()),
            ("hello team", [ANN.to_string()].as_slice())
        );
        let sender = push.sender.unwrap();
        assert_eq!((sender.chat_id.as_str(), sender.chat_type, sender.name.as_str()), (BEN, 1, "Ben"));
        assert!(push.timestamp > 0);
    }
    assert_silent(&mut cat).await;
    app.shutdown().await;
}

#[tokio::test]
async fn direct_and_bot_pushes_name_the_chat_as_each_receiver_sees_it() {
    let app = TestApp::spawn().await;
    let mut ann = socket(&app, ANN, "a").await;
    let mut ben = socket(&app, BEN, "b").await;
    app.client(BEN).await.send_text(ANN, ChatType::User, "hi", &[]).await.unwrap();
    let to_ann = next_push(&mut ann).await;
    assert_eq!((to_ann.chat_id.as_str(), to_ann.recv_id.as_str(), to_ann.chat_type), (BEN, ANN, 1));
    let to_ben = next_push(&mut ben).await;
    assert_eq!((to_ben.chat_id.as_str(), to_ben.recv_id.as_str()), (ANN, BEN));

    app.client(ANN).await.send_text(BOT, ChatType::Bot, "/help", &[]).await.unwrap();
    let echo = next_push(&mut ann).await;
    assert_eq!((echo.chat_id.as_str(), echo.chat_type), (BOT, 3));
    assert_silent(&mut ben).await;
    // A retried msg_id is not pushed twice.
    let retry = yhconv_proto::pb::SendMessage {
        msg_id: echo.msg_id.clone(),
        chat_id: BOT.into(),
        chat_type: 3,
        content: echo.content.clone(),
        content_type: 1,
        ..Default::default()
    };
    app.client(ANN).await.send_message(&retry).await.unwrap();
    assert_silent(&mut ann).await;
    app.shutdown().await;
}

#[tokio::test]
async fn pushes_within_a_chat_follow_msg_seq() {
    let app = TestApp::spawn().await;
    let mut watcher = socket(&app, ANN, "watcher").await;
    let (ann, ben) = (app.client(ANN).await, app.client(BEN).await);
    const EACH: usize = 60;
    let send_all = |client: yhconv_client::Client| async move {
        for i in 0..EACH {
            client.send_text(GROUP, ChatType::Group, &format!("n{i}"), &[]).await.unwrap();
        }
    };
    tokio::join!(send_all(ann), send_all(ben));
    let mut seqs = Vec::new();
    for _ in 0..2 * EACH {
        seqs.push(next_push(&mut watcher).await.msg_seq);
    }
    let expected: Vec<u64> = (1..=2 * EACH as u64).collect();
    assert_eq!(seqs, expected, "gap-free, in order");
    app.shutdown().await;
}

/// A burst into one group (more messages than a chat may have waiting in
/// the hub, so senders wait for room, and back-to-back messages that are
/// delivered together) and direct messages meanwhile: every socket gets
/// every message of the group once, in msg_seq order, and every direct one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_reaches_every_socket_once_in_order_beside_other_chats() {
    let app = TestApp::spawn().await;
    let mut sockets = vec![
        (ANN, socket(&app, ANN, "a1").await),
        (ANN, socket(&app, ANN, "a2").await),
        (BEN, socket(&app, BEN, "b1").await),
        (BEN, socket(&app, BEN, "b2").await),
        (BEN, socket(&app, BEN, "b3").await),
    ];
    let (ann, ben, cat) = (app.client(ANN).await, app.client(BEN).await, app.client(CAT).await);
    const EACH: usize = 100;
    const DIRECT: usize = 20;
    let burst = |client: yhconv_client::Client, tag: &'static str| async move {
        for i in 0..EACH {
            client.send_text(GROUP, ChatType::Group, &format!("{tag}{i}"), &[]).await.unwrap();
        }
    };
    let direct = async {
        for i in 0..DIRECT {
            cat.send_text(BEN, ChatType::User, &format!("d{i}"), &[]).await.unwrap();
        }
    };
    tokio::join!(burst(ann.clone(), "a"), burst(ann, "A"), burst(ben.clone(), "b"), burst(ben, "B"), direct);
    for (user, socket) in &mut sockets {
        let mut group_seqs = Vec::new();
        let mut directs = 0;
        let expected_directs = if *user == BEN { DIRECT } else { 0 };
        while group_seqs.len() < 4 * EACH || directs < expected_directs {
            let push = next_push(socket).await;
            if push.chat_id == GROUP {
                group_seqs.push(push.msg_seq);
            } else {
                assert_eq!((push.chat_id.as_str(), *user), (CAT, BEN), "a direct message reaches Ben only");
                directs += 1;
            }
        }
        assert_eq!(group_seqs, (1..=4 * EACH as u64).collect::<Vec<_>>(), "{user}: once each, in order");
        assert_silent(socket).await;
    }
    // /metrics counts what the hub delivered, and nothing waits any more.
    assert_eq!(app.metric("yhconv_push_frames_delivered_total").await, (5 * 4 * EACH + 3 * DIRECT) as f64);
    let pending = (app.metric("yhconv_push_events_pending").await, app.metric("yhconv_push_frames_pending").await);
    assert_eq!(pending, (0.0, 0.0));
    assert_eq!(app.metric("yhconv_push_sockets_dropped_total").await, 0.0);
    app.shutdown().await;
}

#[tokio::test]
async fn a_socket_that_never_reads_does_not_hold_up_the_others() {
    let app = TestApp::spawn_with(|c| c.ws_queue = 32).await;
    // A raw socket that logs in as Ann, sees its login work, then never reads.
    let ann = app.client(ANN).await;
    let ws_url = format!("{}/ws", app.base_url.replace("http://", "ws://"));
    let (mut stuck, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    let login = serde_json::json!({"seq": "1", "cmd": "login", "data": {"userId": ANN, "token": ann.token().unwrap(), "platform": "linux", "deviceId": "stuck"}});
    stuck.send(tokio_tungstenite::tungstenite::Message::text(login.to_string())).await.unwrap();
    stuck
        .send(tokio_tungstenite::tungstenite::Message::text(r#"{"seq":"2","cmd":"heartbeat","data":{}}"#))
        .await
        .unwrap();
    assert!(matches!(stuck.next().await, Some(Ok(tokio_tungstenite::tungstenite::Message::Binary(_)))));

    let mut ben_socket = socket(&app, BEN, "reader").await;
    assert_eq!(app.service.socket_count(), 2);
    const BURST: u64 = 1000;
    let reader = tokio::spawn(async move {
        let mut last = 0;
        for _ in 0..BURST {
            let push = next_push(&mut ben_socket).await;
            assert_eq!(push.msg_seq, last + 1);
            last = push.msg_seq;
        }
        last
    });
    // Big messages, so the stuck socket's kernel buffers fill long before the end.
    let body = "x".repeat(16 * 1024);
    for _ in 0..BURST {
        ann.send_text(GROUP, ChatType::Group, &body, &[]).await.unwrap();
    }
    assert_eq!(reader.await.unwrap(), BURST, "the reader got the whole burst");
    assert_eq!(app.service.socket_count(), 1, "the stuck socket was dropped");
    drop(stuck);
    app.shutdown().await;
}

#[tokio::test]
async fn a_wrong_login_gets_nothing() {
    let app = TestApp::spawn().await;
    let ben = app.client(BEN).await;
    // Someone else's token, a made-up token, and Ann's id with Ben's token.
    let mut wrong = app.anonymous().with_token("made-up").connect_push(ANN, "linux", "x").await.unwrap();
    let mut spoof = ben.connect_push(ANN, "linux", "x").await.unwrap();
    for socket in [&mut wrong, &mut spoof] {
        socket.send_raw_text("not json".into()).await.unwrap();
        socket.send_raw_text(r#"{"seq":"1","cmd":"heartbeat","data":{}}"#.into()).await.unwrap();
    }
    ben.send_text(ANN, ChatType::User, "secret", &[]).await.unwrap();
    assert_silent(&mut wrong).await;
    assert_silent(&mut spoof).await;
    assert_eq!(app.service.socket_count(), 0);
    app.shutdown().await;
}

#[tokio::test]
async fn idle_sockets_are_closed_and_shutdown_closes_the_rest() {
    let app = TestApp::spawn_with(|c| c.ws_idle_secs = 1).await;
    let mut idle = socket(&app, ANN, "idle").await;
    let closed = tokio::time::timeout(Duration::from_secs(10), idle.next_event()).await.expect("closed in time");
    assert!(matches!(closed, Ok(None)), "{closed:?}");
    let reason = idle.close_reason().expect("a close frame");
    assert_eq!((reason.code, reason.reason.as_str()), (1000, "idle"));

    // Heartbeats keep a socket open past the idle time.
    let mut busy = socket(&app, BEN, "busy").await;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        busy.heartbeat().await.unwrap();
        assert!(matches!(next(&mut busy).await, PushEvent::HeartbeatAck { .. }));
    }
    let stop = tokio::spawn(app.shutdown());
    let closed = tokio::time::timeout(Duration::from_secs(10), busy.next_event()).await.expect("closed on shutdown");
    assert!(matches!(closed, Ok(None)), "{closed:?}");
    stop.await.unwrap();
}

#[tokio::test]
async fn logout_closes_the_sockets_of_that_token_only() {
    let app = TestApp::spawn().await;
    let ann = app.client(ANN).await;
    let ws_url = format!("{}/ws", app.base_url.replace("http://", "ws://"));
    let (mut raw, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    let login = serde_json::json!({"seq": "1", "cmd": "login", "data": {"userId": ANN, "token": ann.token().unwrap(), "platform": "linux", "deviceId": "old"}});
    raw.send(tokio_tungstenite::tungstenite::Message::text(login.to_string())).await.unwrap();
    raw.send(tokio_tungstenite::tungstenite::Message::text(r#"{"seq":"2","cmd":"heartbeat","data":{}}"#))
        .await
        .unwrap();
    // login_ack, then heartbeat_ack.
    for _ in 0..2 {
        assert!(matches!(raw.next().await, Some(Ok(tokio_tungstenite::tungstenite::Message::Binary(_)))));
    }
    let mut other_device = socket(&app, ANN, "other").await;
    assert_eq!(app.service.socket_count(), 2);

    ann.logout().await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(10), raw.next()).await.expect("closed in time");
    match closed {
        Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(frame)))) => {
            assert_eq!((u16::from(frame.code), frame.reason.as_str()), (1008, "logged out"));
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    app.client(BEN).await.send_text(ANN, ChatType::User, "still there?", &[]).await.unwrap();
    assert_eq!(next_push(&mut other_device).await.content.unwrap().text, "still there?");
    assert_eq!(app.service.socket_count(), 1);
    app.shutdown().await;
}
