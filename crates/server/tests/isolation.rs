//! Isolation and abuse: a token sees and changes only its own user's
//! conversations; secrets are stored hashed; rate limits and frame limits
//! hold, and the server keeps serving.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use yhconv_proto::ChatType;

#[tokio::test]
async fn a_token_changes_only_its_own_users_view() {
    let app = TestApp::spawn().await;
    let (ann, ben, cat) = (app.client(ANN).await, app.client(BEN).await, app.client(CAT).await);
    ben.send_text(ANN, ChatType::User, "private to Ann", &[]).await.unwrap();
    ben.send_text(GROUP, ChatType::Group, "team only", &[ANN]).await.unwrap();
    let before = ann.conversation_list(None).await.unwrap();

    // Cat names the same peers Ann has: every call acts on Cat's own view.
    cat.dismiss_notification(BEN).await.unwrap();
    cat.remove_conversation(BEN).await.unwrap();
    cat.set_no_notify(BEN, true).await.unwrap();
    cat.sort_change(BEN).await.unwrap();
    assert_eq!(api_error(cat.dismiss_notification(GROUP).await).1, "not a member of group 2001");
    assert_eq!(api_error(cat.remove_conversation(GROUP).await).1, "not a member of group 2001");
    assert_eq!(api_error(cat.set_no_notify(GROUP, true).await).1, "not a member of group 2001");
    let after = ann.conversation_list(None).await.unwrap();
    assert_eq!(before.data, after.data, "Ann's list is untouched");
    assert_eq!(before.md5, after.md5);

    // Cat's history with Ben is Cat's own (empty), never Ann's chat with Ben.
    assert!(cat.list_messages(BEN, ChatType::User, 50, None).await.unwrap().is_empty());
    assert!(cat.list_messages(ANN, ChatType::User, 50, None).await.unwrap().is_empty());
    let (code, _) = api_error(cat.list_messages(GROUP, ChatType::Group, 50, None).await);
    assert_eq!(code, -1);
    // Cat's list holds only what Cat opened.
    assert_eq!(summary(&cat).await, pairs(&[(BEN, 0)]));
    app.shutdown().await;
}

#[tokio::test]
async fn tokens_and_passwords_are_stored_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.db");
    let app = TestApp::spawn_on(yhconv_server::DbUrl::Sqlite(path.clone()), tempfile::tempdir().unwrap(), |_| {}).await;
    let token = app.anonymous().email_login("ann@example.com", "ann-pw", "d", "linux").await.unwrap();
    assert_eq!(token.len(), 64, "256 random bits, hex");
    app.shutdown().await;
    let mut bytes = std::fs::read(&path).unwrap();
    for suffix in ["-wal", "-shm"] {
        if let Ok(more) = std::fs::read(format!("{}{suffix}", path.display())) {
            bytes.extend(more);
        }
    }
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(token.as_bytes()), "the token is not stored in the clear");
    assert!(!contains(b"ann-pw"), "the password is not stored in the clear");
    assert!(contains(b"$argon2id$"), "passwords are argon2id hashes");
}

#[tokio::test]
async fn a_token_over_its_rate_is_refused_and_others_keep_going() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limit = 1;
        c.rate_burst = 5;
    })
    .await;
    let (ann, ben) = (app.client(ANN).await, app.client(BEN).await);
    for _ in 0..5 {
        ann.conversation_list(None).await.unwrap();
    }
    let (code, msg) = api_error(ann.conversation_list(None).await);
    assert_eq!((code, msg.as_str()), (-1, "too many requests: slow down and retry shortly"));
    let (code, _) = api_error(ann.dismiss_notification(BEN).await);
    assert_eq!(code, -1, "JSON endpoints too");
    ben.conversation_list(None).await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn login_tries_are_rate_limited_per_address() {
    let app = TestApp::spawn_with(|c| c.login_rate_limit = 1).await;
    let anon = app.anonymous();
    let mut refused = 0;
    for _ in 0..40 {
        if let Err(yhconv_client::Error::Api { msg, .. }) =
            anon.email_login("ann@example.com", "guess", "d", "linux").await
        {
            if msg.starts_with("too many requests") {
                refused += 1;
            }
        }
    }
    assert!(refused > 0, "password guessing is slowed down");
    app.shutdown().await;
}

#[tokio::test]
async fn oversized_and_garbage_websocket_frames_close_only_that_socket() {
    let app = TestApp::spawn_with(|c| c.ws_max_frame_bytes = 1024).await;
    let ws_url = format!("{}/ws", app.base_url.replace("http://", "ws://"));
    use tokio_tungstenite::tungstenite::Message;

    let (mut big, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    big.send(Message::text("x".repeat(10_000))).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match big.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(other)) => assert!(!matches!(other, Message::Binary(_)), "nothing useful comes back"),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the oversized frame closed the socket");

    let (mut garbage, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    for frame in
        [Message::binary(vec![0xff; 100]), Message::text("{\"cmd\":"), Message::text("[]"), Message::text("null")]
    {
        garbage.send(frame).await.unwrap();
    }
    // The server keeps serving sockets and requests.
    let client = app.client(ANN).await;
    let mut socket = client.connect_push(ANN, "linux", "after").await.unwrap();
    socket.heartbeat().await.unwrap();
    let ack = tokio::time::timeout(Duration::from_secs(10), socket.next_event()).await.unwrap().unwrap();
    assert!(matches!(ack, Some(yhconv_client::PushEvent::HeartbeatAck { .. })));
    client.send_text(BEN, ChatType::User, "still serving", &[]).await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn groups_and_friend_requests_stay_with_those_they_belong_to() {
    let app = TestApp::spawn().await;
    let (ann, ben, cat) = (app.client(ANN).await, app.client(BEN).await, app.client(CAT).await);
    let not_member = format!("not a member of group {GROUP}");
    // A non-member sees no members, bots, history or admin fields.
    ann.set_admin(GROUP, BEN, true).await.unwrap();
    assert_eq!(api_error(cat.group_members(GROUP, 1, 50, "").await).1, not_member);
    assert_eq!(api_error(cat.group_bots(GROUP).await).1, not_member);
    assert_eq!(api_error(cat.list_messages_after(GROUP, ChatType::Group, 0).await).1, not_member);
    let public = cat.group_info(GROUP).await.unwrap();
    let data = public.data.unwrap();
    assert!(data.admin.is_empty() && data.permisson_level == 0 && !data.top && public.bot.is_empty());
    // Nor can they act on it.
    assert_eq!(api_error(cat.remove_member(GROUP, BEN).await).1, not_member);
    assert_eq!(api_error(cat.invite(GROUP, CAT, ChatType::User).await).1, not_member);
    assert_eq!(api_error(cat.dismiss_group(GROUP).await).1, not_member);

    // A removed member reads nothing sent after they left, by any history call.
    ann.invite(GROUP, CAT, ChatType::User).await.unwrap();
    let before = ann.send_text(GROUP, ChatType::Group, "while Cat was in", &[]).await.unwrap();
    ann.remove_member(GROUP, CAT).await.unwrap();
    let after = ann.send_text(GROUP, ChatType::Group, "after Cat left", &[CAT]).await.unwrap();
    assert_eq!(api_error(cat.list_messages(GROUP, ChatType::Group, 50, None).await).1, not_member);
    assert_eq!(api_error(cat.list_messages_after(GROUP, ChatType::Group, 0).await).1, not_member);
    for anchor in [&before, &after] {
        assert_eq!(api_error(cat.list_messages_up_to(GROUP, ChatType::Group, anchor, 5).await).1, not_member);
    }
    assert!(list(&cat).await.iter().all(|c| c.chat_id != GROUP), "no row comes back with a mention");

    // Friend requests: only their two users see or answer them.
    cat.apply(BEN, ChatType::User, "secret note").await.unwrap();
    let id = ben.friend_requests().await.unwrap().requests[0].request_id;
    assert!(ann.friend_requests().await.unwrap().requests.is_empty());
    assert_eq!(api_error(ann.answer_request(i64::from(id), true).await).1, "no such friend request for you");
    assert_eq!(api_error(cat.answer_request(i64::from(id), true).await).1, "no such friend request for you");
    assert_eq!(api_error(ann.ignore_request(i64::from(id)).await).1, "no such friend request for you");
    app.shutdown().await;
}
