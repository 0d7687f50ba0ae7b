//! Pins (`/v1/sticky/*`) over the wire: the round trip, display order,
//! moving first, idempotency, refusals, what real clients send, and that
//! pins leave the conversation list alone.

mod common;

use common::*;
use yhconv_proto::ChatType;

#[tokio::test]
async fn pins_round_trip_in_display_order() {
    let app = TestApp::spawn().await;
    let ann = app.client(ANN).await;
    assert!(ann.pins().await.unwrap().is_empty());

    ann.pin(BEN, ChatType::User).await.unwrap();
    ann.pin(GROUP, ChatType::Group).await.unwrap();
    ann.pin(BOT, ChatType::Bot).await.unwrap();
    let pins = ann.pins().await.unwrap();
    let order: Vec<&str> = pins.iter().map(|p| p.chat_id.as_str()).collect();
    assert_eq!(order, [BOT, GROUP, BEN], "the latest pinned first");
    let ben = &pins[2];
    assert_eq!((ben.chat_type, ben.chat_name.as_str(), ben.user_id.as_str(), ben.del_flag), (1, "Benny", ANN, 0));
    let team = &pins[1];
    assert_eq!(
        (team.chat_name.as_str(), team.avatar_url.as_str(), team.certification_level),
        ("Team", "https://a/team.png", 1)
    );
    for pin in &pins {
        assert!(pin.id > 0 && pin.id < i64::from(i32::MAX), "ids fit an int32: {}", pin.id);
        assert!(pin.sort >= pin.create_time && pin.create_time > 1_700_000_000, "seconds: {pin:?}");
    }

    // Pinning again keeps the place; moving first changes it.
    ann.pin(BEN, ChatType::User).await.unwrap();
    assert_eq!(ann.pins().await.unwrap(), pins, "a pinned chat keeps its place and id");
    ann.move_pin_first(ben.id).await.unwrap();
    let order: Vec<String> = ann.pins().await.unwrap().into_iter().map(|p| p.chat_id).collect();
    assert_eq!(order, [BEN, BOT, GROUP]);

    // Unpinning, twice.
    ann.unpin(BOT, ChatType::Bot).await.unwrap();
    ann.unpin(BOT, ChatType::Bot).await.unwrap();
    let order: Vec<String> = ann.pins().await.unwrap().into_iter().map(|p| p.chat_id).collect();
    assert_eq!(order, [BEN, GROUP]);

    // Pins are the caller's own.
    assert!(app.client(BEN).await.pins().await.unwrap().is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn what_may_not_be_pinned_is_refused() {
    let app = TestApp::spawn().await;
    let (ann, cat) = (app.client(ANN).await, app.client(CAT).await);
    assert_eq!(api_error(cat.pin(GROUP, ChatType::Group).await), (-1, format!("not a member of group {GROUP}")));
    assert_eq!(api_error(cat.unpin(GROUP, ChatType::Group).await), (-1, format!("not a member of group {GROUP}")));
    assert_eq!(api_error(ann.pin("424242", ChatType::User).await), (-1, "unknown chat 424242".into()));
    assert_eq!(
        api_error(ann.pin(ANN, ChatType::User).await),
        (-1, "a conversation with yourself is not supported".into())
    );
    assert_eq!(
        api_error(ann.pin(GROUP, ChatType::User).await),
        (-1, format!("chat {GROUP} is a group, not chatType 1"))
    );
    ann.pin(BEN, ChatType::User).await.unwrap();
    let bens_pin = ann.pins().await.unwrap()[0].id;
    assert_eq!(api_error(cat.move_pin_first(bens_pin).await), (-1, format!("unknown pin id {bens_pin}")));
    assert_eq!(api_error(ann.move_pin_first(99_999).await), (-1, "unknown pin id 99999".into()));
    app.shutdown().await;
}

#[tokio::test]
async fn the_bodies_real_clients_send() {
    let app = TestApp::spawn().await;
    let ann = app.client(ANN).await;
    let http = reqwest::Client::new();
    let token = ann.token().unwrap().to_owned();
    let post = |path: &str, body: Option<&str>| {
        let mut req = http.post(format!("{}{path}", app.base_url)).header("token", &token);
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body.to_owned());
        }
        req
    };
    // add with chatType as a string, and without one.
    for (path, body) in
        [("/v1/sticky/add", r#"{"chatId":"1002","chatType":"1"}"#), ("/v1/sticky/add", r#"{"chatId":"3001"}"#)]
    {
        let answer: serde_json::Value = post(path, Some(body)).send().await.unwrap().json().await.unwrap();
        assert_eq!(answer["code"], 1, "{body}: {answer}");
    }
    // list with no body (MD3, the SDK) and with `{}` (web, Windows Phone).
    for body in [None, Some("{}")] {
        let answer: serde_json::Value = post("/v1/sticky/list", body).send().await.unwrap().json().await.unwrap();
        assert_eq!(answer["code"], 1);
        let pins = answer["data"]["sticky"].as_array().expect("data.sticky");
        assert_eq!(pins.len(), 2);
        for key in [
            "id",
            "chatType",
            "chatId",
            "chatName",
            "sort",
            "avatarUrl",
            "createTime",
            "delFlag",
            "userId",
            "certificationLevel",
        ] {
            assert!(pins[0].get(key).is_some(), "{key} in {}", pins[0]);
        }
        assert!(pins[0]["chatName"].is_string() && pins[0]["avatarUrl"].is_string() && pins[0]["userId"].is_string());
    }
    // topping names the pin by id, a number (the SDK) or a string.
    let pins = ann.pins().await.unwrap();
    let last = pins.last().unwrap();
    let answer: serde_json::Value = post("/v1/sticky/topping", Some(&format!(r#"{{"id":"{}"}}"#, last.id)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["code"], 1);
    assert_eq!(ann.pins().await.unwrap()[0].chat_id, last.chat_id);
    app.shutdown().await;
}

#[tokio::test]
async fn pins_leave_the_conversation_list_alone() {
    let app = TestApp::spawn().await;
    let (ann, ben) = (app.client(ANN).await, app.client(BEN).await);
    ben.send_text(ANN, ChatType::User, "hi", &[]).await.unwrap();
    ben.send_text(GROUP, ChatType::Group, "team", &[]).await.unwrap();
    let before = ann.conversation_list(None).await.unwrap();
    ann.pin(BEN, ChatType::User).await.unwrap();
    let after = ann.conversation_list(None).await.unwrap();
    assert_eq!(after.data, before.data, "pins do not reorder the list");
    assert_eq!(after.md5, before.md5);
    app.shutdown().await;
}

#[tokio::test]
async fn leaving_a_group_ends_its_pin_its_row_and_its_messages() {
    let app = TestApp::spawn().await;
    let (ann, ben) = (app.client(ANN).await, app.client(BEN).await);
    ann.send_text(GROUP, ChatType::Group, "welcome", &[]).await.unwrap();
    ben.pin(GROUP, ChatType::Group).await.unwrap();
    ben.pin(ANN, ChatType::User).await.unwrap();
    assert!(list(&ben).await.iter().any(|c| c.chat_id == GROUP));

    ben.leave_group(GROUP).await.unwrap();
    let pins: Vec<String> = ben.pins().await.unwrap().into_iter().map(|p| p.chat_id).collect();
    assert_eq!(pins, [ANN], "the group's pin went with it");
    assert!(list(&ben).await.iter().all(|c| c.chat_id != GROUP), "the group left Ben's list");
    let not_member = (-1, format!("not a member of group {GROUP}"));
    assert_eq!(api_error(ben.send_text(GROUP, ChatType::Group, "hello?", &[]).await), not_member);
    assert_eq!(api_error(ben.list_messages(GROUP, ChatType::Group, 10, None).await), not_member);
    assert_eq!(api_error(ben.pin(GROUP, ChatType::Group).await), not_member);
    assert_eq!(api_error(ben.leave_group(GROUP).await), not_member);
    // The owner stays; others carry on without Ben.
    assert_eq!(api_error(ann.leave_group(GROUP).await), (-1, "the owner cannot leave the group".into()));
    ann.send_text(GROUP, ChatType::Group, "after", &[]).await.unwrap();
    assert!(list(&ben).await.iter().all(|c| c.chat_id != GROUP));
    assert_eq!(entry(&ann, GROUP).await.chat_content, "Ann: after");
    app.shutdown().await;
}
