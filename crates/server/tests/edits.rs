//! Edits and recalls over the wire: every member's list stays exact
//! (preview, unread flag and count, `at`, `at_data`, mention count), who may
//! do what, the batch's all or nothing, history, edit records and pushes.

mod common;

use std::time::Duration;

use common::*;
use yhconv_client::{PushEvent, PushSocket};
use yhconv_proto::ChatType;
use yhconv_server::World;

/// Cat joins the group as an admin; Dan (a new user) as a plain member.
async fn with_admin(app: &TestApp) {
    let mut world = World::from_json(
        r#"{"users": [{"id": "1004", "name": "Dan"}],
            "groups": [{"id": "2001", "name": "Team", "avatar_url": "https://a/team.png", "avatar_id": 21,
                        "certification_level": 1, "members": ["1004"], "admins": ["1003"]}]}"#,
    )
    .unwrap();
    world.groups[0].owner = Some(ANN.into());
    app.service.import_world(world).await.unwrap();
}

#[tokio::test]
async fn an_edit_changes_preview_and_mentions_but_not_the_time() {
    let app = TestApp::spawn().await;
    let (ann, ben) = (app.client(ANN).await, app.client(BEN).await);
    let first = ben.send_text(GROUP, ChatType::Group, "hello team", &[]).await.unwrap();
    let last = ben.send_text(GROUP, ChatType::Group, "see you", &[]).await.unwrap();
    let before = entry(&ann, GROUP).await;
    assert_eq!((before.chat_content.as_str(), before.unread_count, before.at), ("Ben: see you", 2, 0));

    // Editing the last message: the preview follows; the time stays.
    ben.edit_text(GROUP, ChatType::Group, &last, "see you @Ann", &[ANN]).await.unwrap();
    let after = entry(&ann, GROUP).await;
    assert_eq!(after.chat_content, "Ben: see you @Ann");
    assert_eq!((after.timestamp_ms, after.unread_count), (before.timestamp_ms, 2));
    assert_eq!((after.at, after.mention_count), (1, 1), "an edit that mentions an unread reader raises at");
    assert_eq!(after.at_data.as_ref().unwrap().msg_seq, 2);
    assert_eq!(entry(&ben, GROUP).await.chat_content, "Ben: see you @Ann");

    // Editing an older message: the preview stays; mentions move.
    ben.edit_text(GROUP, ChatType::Group, &first, "hello @Ann", &[ANN]).await.unwrap();
    let e = entry(&ann, GROUP).await;
    assert_eq!((e.chat_content.as_str(), e.mention_count), ("Ben: see you @Ann", 2));
    assert_eq!(e.at_data.as_ref().unwrap().msg_seq, 1, "at_data names the earliest unread mention");
    ben.edit_text(GROUP, ChatType::Group, &first, "hello", &[]).await.unwrap();
    let e = entry(&ann, GROUP).await;
    assert_eq!((e.mention_count, e.at_data.as_ref().unwrap().msg_seq), (1, 2), "dropping it moves at_data on");
    ben.edit_text(GROUP, ChatType::Group, &last, "see you", &[]).await.unwrap();
    let e = entry(&ann, GROUP).await;
    assert_eq!((e.at, e.mention_count, e.at_data.is_none()), (0, 0, true));

    // History shows the new content and the edit time; records keep the old.
    let history = ann.list_messages(GROUP, ChatType::Group, 10, None).await.unwrap();
    let m = history.iter().find(|m| m.msg_id == last).unwrap();
    assert_eq!(m.content.as_ref().unwrap().text, "see you");
    assert!(m.edit_time >= m.send_time && m.edit_time > 0);
    let (records, total) = ann.edit_records(&last, 10, 1).await.unwrap();
    assert_eq!(total, 2);
    assert_eq!(records.len(), 2);
    let newest: serde_json::Value = serde_json::from_str(&records[0].content_old).unwrap();
    assert_eq!(newest["text"], "see you @Ann", "newest first: what it said before the last edit");
    assert_eq!(records[1].content_old, r#"{"text":"see you"}"#);
    assert_eq!((records[0].create_time as u64, records[0].msg_id.as_str()), (m.send_time, last.as_str()));
    let (page2, _) = ann.edit_records(&last, 1, 2).await.unwrap();
    assert_eq!(page2, records[1..]);
    assert_eq!(api_error(app.client(CAT).await.edit_records(&last, 10, 1).await).0, -1, "not Cat's chat");
    app.shutdown().await;
}

#[tokio::test]
async fn edits_are_refused_where_the_rules_say() {
    let app = TestApp::spawn().await;
    let (ann, ben) = (app.client(ANN).await, app.client(BEN).await);
    let bens = ben.send_text(GROUP, ChatType::Group, "mine", &[]).await.unwrap();
    let (code, msg) = api_error(ann.edit_text(GROUP, ChatType::Group, &bens, "theirs", &[]).await);
    assert_eq!((code, msg.as_str()), (-1, "only its sender may edit a message"));
    let (code, msg) = api_error(ben.edit_text(GROUP, ChatType::Group, "nope", "x", &[]).await);
    assert_eq!((code, msg.as_str()), (-1, "unknown msg_id \"nope\" in this chat"));
    let (code, msg) = api_error(ben.edit_text(GROUP, ChatType::Group, &bens, "  ", &[]).await);
    assert_eq!((code, msg.as_str()), (-1, "text is empty"));
    let (code, _) = api_error(ben.edit_text(ANN, ChatType::User, &bens, "wrong chat", &[]).await);
    assert_eq!(code, -1, "the chat must match");
    ben.recall(GROUP, ChatType::Group, &[&bens]).await.unwrap();
    let (code, msg) = api_error(ben.edit_text(GROUP, ChatType::Group, &bens, "back", &[]).await);
    assert_eq!((code, msg.as_str()), (-1, "a recalled message cannot be edited"));
    app.shutdown().await;
}

#[tokio::test]
async fn a_recall_stops_counting_for_everyone_and_its_text_is_gone() {
    let app = TestApp::spawn().await;
    let (ann, ben) = (app.client(ANN).await, app.client(BEN).await);
    ben.send_text(GROUP, ChatType::Group, "one", &[]).await.unwrap();
    let secret = ben.send_text(GROUP, ChatType::Group, "secret @Ann", &[ANN]).await.unwrap();
    let e = entry(&ann, GROUP).await;
    assert_eq!((e.unread_count, e.mention_count, e.at), (2, 1, 1));
    let md5 = ann.conversation_list(None).await.unwrap().md5;

    ben.recall(GROUP, ChatType::Group, &[&secret]).await.unwrap();
    let e = entry(&ann, GROUP).await;
    assert_eq!((e.unread_count, e.unread_message, e.mention_count, e.at), (1, 1, 0, 0), "a recall counts as read");
    assert!(e.at_data.is_none());
    assert_eq!(e.chat_content, "Ben 撤回了一条消息");
    assert_ne!(ann.conversation_list(None).await.unwrap().md5, md5);
    assert_eq!(entry(&ben, GROUP).await.chat_content, "Ben 撤回了一条消息");

    // History keeps the place (seq) and the time of the recall, not the text.
    for reader in [&ann, &ben] {
        let history = reader.list_messages(GROUP, ChatType::Group, 10, None).await.unwrap();
        let m = history.iter().find(|m| m.msg_id == secret).unwrap();
        assert!(m.msg_delete_time > 0 && m.content.is_none(), "{m:?}");
        assert_eq!(m.msg_seq, 2);
        let by_seq = reader.list_messages_after(GROUP, ChatType::Group, 0).await.unwrap();
        assert!(by_seq.iter().all(|m| m.content.as_ref().is_none_or(|c| !c.text.contains("secret"))));
    }
    // Recalling again succeeds and changes nothing; the only other message
    // recalled leaves nothing unread.
    ben.recall(GROUP, ChatType::Group, &[&secret]).await.unwrap();
    let one = &ann.list_messages(GROUP, ChatType::Group, 10, None).await.unwrap()[1];
    ben.recall(GROUP, ChatType::Group, &[&one.msg_id]).await.unwrap();
    let e = entry(&ann, GROUP).await;
    assert_eq!((e.unread_count, e.unread_message), (0, 0));
    assert_eq!(e.chat_content, "Ben 撤回了一条消息", "the last message's notice stays");
    app.shutdown().await;
}

#[tokio::test]
async fn admins_and_owners_recall_anyones_members_only_their_own_and_batches_are_all_or_nothing() {
    let app = TestApp::spawn().await;
    with_admin(&app).await;
    let (ann, ben, cat, dan) =
        (app.client(ANN).await, app.client(BEN).await, app.client(CAT).await, app.client("1004").await);
    let b1 = ben.send_text(GROUP, ChatType::Group, "b1", &[]).await.unwrap();
    let b2 = ben.send_text(GROUP, ChatType::Group, "b2", &[]).await.unwrap();
    let d1 = dan.send_text(GROUP, ChatType::Group, "d1", &[]).await.unwrap();
    // A plain member may not recall someone else's; a batch with one such id changes nothing.
    let (code, msg) = api_error(dan.recall(GROUP, ChatType::Group, &[&d1, &b1]).await);
    assert_eq!((code, msg), (-1, format!("you may not recall message {b1:?}: it is not yours")));
    let history = ann.list_messages(GROUP, ChatType::Group, 10, None).await.unwrap();
    assert!(history.iter().all(|m| m.msg_delete_time == 0), "nothing was recalled");
    let (code, _) = api_error(dan.recall(GROUP, ChatType::Group, &[&d1, "nope"]).await);
    assert_eq!(code, -1);
    // The admin and the owner may.
    cat.recall(GROUP, ChatType::Group, &[&b1, &d1]).await.unwrap();
    ann.recall(GROUP, ChatType::Group, &[&b2]).await.unwrap();
    let history = ann.list_messages(GROUP, ChatType::Group, 10, None).await.unwrap();
    assert!(history.iter().all(|m| m.msg_delete_time > 0));
    assert_eq!(entry(&ben, GROUP).await.chat_content, "Cat 撤回了一条消息", "the last message, by its recaller");
    // In a direct chat only one's own.
    let to_ben = ann.send_text(BEN, ChatType::User, "hi", &[]).await.unwrap();
    assert_eq!(api_error(ben.recall(ANN, ChatType::User, &[&to_ben]).await).0, -1);
    app.shutdown().await;
}

async fn socket(app: &TestApp, user: &str, device: &str) -> PushSocket {
    let mut socket = app.client(user).await.connect_push(user, "linux", device).await.unwrap();
    socket.heartbeat().await.unwrap();
    assert!(matches!(next(&mut socket).await, PushEvent::HeartbeatAck { .. }));
    socket
}

async fn next(socket: &mut PushSocket) -> PushEvent {
    tokio::time::timeout(Duration::from_secs(20), socket.next_event()).await.unwrap().unwrap().unwrap()
}

#[tokio::test]
async fn edit_and_recall_pushes_reach_every_device_in_order() {
    let app = TestApp::spawn().await;
    let ben = app.client(BEN).await;
    let mut sockets =
        vec![socket(&app, ANN, "phone").await, socket(&app, ANN, "desktop").await, socket(&app, BEN, "b").await];
    // Each step's push reaches every device before the next step, in order
    // after what came before it.
    let m = ben.send_text(GROUP, ChatType::Group, "draft", &[]).await.unwrap();
    let mut sent_at = Vec::new();
    for socket in &mut sockets {
        let PushEvent::Message(sent) = next(socket).await else { panic!("the message first") };
        assert_eq!((sent.msg_id.as_str(), sent.msg_seq), (m.as_str(), 1));
        sent_at.push(sent.timestamp);
    }
    ben.edit_text(GROUP, ChatType::Group, &m, "final", &[]).await.unwrap();
    for (socket, sent_at) in sockets.iter_mut().zip(&sent_at) {
        match next(socket).await {
            PushEvent::Edited(edit) => {
                assert_eq!((edit.msg_id.as_str(), edit.msg_seq, edit.timestamp), (m.as_str(), 1, *sent_at));
                assert_eq!(edit.content.as_ref().unwrap().text, "final");
                assert!(edit.edit_time > 0 && edit.sender.as_ref().unwrap().chat_id == BEN);
            }
            other => panic!("expected the edit, got {other:?}"),
        }
    }
    ben.recall(GROUP, ChatType::Group, &[&m]).await.unwrap();
    ben.send_text(GROUP, ChatType::Group, "after", &[]).await.unwrap();
    for socket in &mut sockets {
        let PushEvent::Message(recall) = next(socket).await else { panic!("then the recall") };
        assert_eq!((recall.msg_id.as_str(), recall.msg_seq), (m.as_str(), 1));
        assert!(recall.delete_timestamp > 0);
        assert_eq!(recall.content.as_ref().unwrap().text, "Ben 撤回了一条消息", "the notice, never the text");
        let PushEvent::Message(after) = next(socket).await else { panic!("then the next message") };
        assert_eq!(after.msg_seq, 2);
    }
    app.shutdown().await;
}
