//! The server keeps each user's encoded list until something it shows
//! changes, and then reads only the rows that changed (both engines; with
//! PostgreSQL, `multi_instance.rs` checks changes through another
//! instance). These tests fetch a list so that it is cached, change the
//! world in each way that can change it, and check that the next fetch
//! shows the change, byte for byte what a full read gives.

mod common;

use common::*;
use yhconv_proto::ChatType;
use yhconv_server::app::open_service;
use yhconv_server::ids::Id;
use yhconv_server::{Config, DbUrl, World};

/// A service on the same database as the server, the way `yhconv admin`
/// opens it from another process: it shares no memory with the server.
async fn another_process(db: &DbUrl) -> yhconv_server::Service {
    open_service(&Config { db: db.clone(), sqlite_readers: 1, list_cache_mib: 0, ..Config::default() })
        .await
        .expect("second handle on the database")
}

#[tokio::test]
async fn identity_changes_from_another_process_reach_cached_lists() {
    let app = TestApp::spawn().await;
    let (ann, ben, cat) = (app.client(ANN).await, app.client(BEN).await, app.client(CAT).await);
    ben.send_text(GROUP, ChatType::Group, "hello team", &[]).await.unwrap();
    assert_eq!(entry(&ann, GROUP).await.name, "Team");
    assert!(list(&cat).await.is_empty(), "Cat is not in the group yet");

    let admin = another_process(&app.db).await;
    let world = World::from_json(
        r#"{"groups": [{"id": "2001", "name": "Team 2", "avatar_url": "https://a/team2.png", "members": ["1003"]}],
            "remarks": [{"user": "1001", "target": "1002", "remark": "B."}]}"#,
    )
    .unwrap();
    admin.import_world(world).await.unwrap();

    let renamed = entry(&ann, GROUP).await;
    assert_eq!((renamed.name.as_str(), renamed.avatar_url.as_str()), ("Team 2", "https://a/team2.png"));
    let joined = list(&cat).await;
    assert_eq!(joined.len(), 1, "a new member sees the group it joined: {joined:?}");
    assert_eq!((joined[0].chat_id.as_str(), joined[0].unread_count), (GROUP, 0));

    ben.send_text(ANN, ChatType::User, "hi", &[]).await.unwrap();
    list(&ann).await;
    let admin = another_process(&app.db).await;
    admin
        .import_world(
            World::from_json(r#"{"remarks": [{"user": "1001", "target": "1002", "remark": "Benjamin"}]}"#).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(entry(&ann, BEN).await.name, "Benjamin");
    app.shutdown().await;
}

#[tokio::test]
async fn a_silent_or_removed_group_enters_a_cached_list_with_its_next_message() {
    let app = TestApp::spawn().await;
    let (ann, ben) = (app.client(ANN).await, app.client(BEN).await);
    assert!(list(&ann).await.is_empty(), "nobody wrote in the group yet");
    ben.send_text(GROUP, ChatType::Group, "first", &[]).await.unwrap();
    assert_eq!(summary(&ann).await, pairs(&[(GROUP, 1)]));

    ann.remove_conversation(GROUP).await.unwrap();
    assert!(list(&ann).await.is_empty());
    ben.send_text(GROUP, ChatType::Group, "second", &[]).await.unwrap();
    assert_eq!(summary(&ann).await, pairs(&[(GROUP, 1)]));
    app.shutdown().await;
}

#[tokio::test]
async fn every_change_of_ones_own_view_reaches_the_cached_list() {
    let app = TestApp::spawn().await;
    let (ann, ben) = (app.client(ANN).await, app.client(BEN).await);
    ben.send_text(ANN, ChatType::User, "hi", &[]).await.unwrap();
    ben.send_text(GROUP, ChatType::Group, "@Ann", &[ANN]).await.unwrap();
    let before = ann.conversation_list(None).await.unwrap();
    assert_eq!(before.total, 2);

    ann.dismiss_notification(GROUP).await.unwrap();
    assert_eq!((entry(&ann, GROUP).await.unread_count, entry(&ann, GROUP).await.at), (0, 0));
    ann.set_no_notify(BEN, true).await.unwrap();
    assert_eq!(entry(&ann, BEN).await.do_not_disturb, 1);
    ann.sort_change(BOT).await.unwrap();
    assert_eq!(list(&ann).await[0].chat_id, BOT, "sort-change creates the bot chat at the top");
    ann.send_text(BOT, ChatType::Bot, "weather?", &[]).await.unwrap();
    assert_eq!(entry(&ann, BOT).await.chat_content, "weather?");
    ann.remove_conversation(BEN).await.unwrap();
    assert_eq!(list(&ann).await.iter().map(|c| c.chat_id.as_str()).collect::<Vec<_>>(), [BOT, GROUP]);

    // A direct message changes both lists.
    ann.send_text(CAT, ChatType::User, "hey Cat", &[]).await.unwrap();
    let cat = app.client(CAT).await;
    assert_eq!(summary(&cat).await, pairs(&[(ANN, 1)]));
    ann.send_text(CAT, ChatType::User, "again", &[]).await.unwrap();
    assert_eq!(summary(&cat).await, pairs(&[(ANN, 2)]));
    app.shutdown().await;
}

/// A mark-read of a chat the cache knows is read (from the kept list, or
/// from an earlier mark-read that found it so) is answered without a
/// lookup; once anything that chat shows changes, the next one marks again.
#[tokio::test]
async fn a_mark_read_the_cache_knows_is_needless_stays_exact() {
    let app = TestApp::spawn().await;
    let (ann, ben) = (app.client(ANN).await, app.client(BEN).await);
    for round in 1..=10 {
        ben.send_text(GROUP, ChatType::Group, &format!("round {round}"), &[ANN]).await.unwrap();
        if round % 2 == 0 {
            // The kept list shows the group unread, then read.
            assert_eq!(entry(&ann, GROUP).await.unread_count, 1, "round {round}");
        }
        for _ in 0..3 {
            ann.dismiss_notification(GROUP).await.unwrap();
        }
        let group = entry(&ann, GROUP).await;
        assert_eq!((group.unread_count, group.at), (0, 0), "round {round}: marked read");
        ann.dismiss_notification(GROUP).await.unwrap();
        // Another user's message elsewhere changes nothing here.
        ben.send_text(CAT, ChatType::User, "hi Cat", &[]).await.unwrap();
        ann.dismiss_notification(GROUP).await.unwrap();
        assert_eq!(entry(&ann, GROUP).await.unread_count, 0, "round {round}");
    }
    app.shutdown().await;
}

/// Lists fetched while messages are being stored may be cached with any
/// state; once the sends are answered, the next list must count them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_read_during_sends_never_stay_stale() {
    let app = TestApp::spawn().await;
    let (ann, ben) = (app.client(ANN).await, app.client(BEN).await);
    for round in 1..=5u64 {
        let reader = {
            let ann = ann.clone();
            tokio::spawn(async move {
                for _ in 0..40 {
                    ann.conversation_list(None).await.unwrap();
                }
            })
        };
        let senders: Vec<_> = (0..4)
            .map(|i| {
                let ben = ben.clone();
                tokio::spawn(async move {
                    for j in 0..5 {
                        ben.send_text(GROUP, ChatType::Group, &format!("{i}-{j}"), &[]).await.unwrap();
                    }
                })
            })
            .collect();
        for sender in senders {
            sender.await.unwrap();
        }
        assert_eq!(summary(&ann).await, pairs(&[(GROUP, 20 * round)]), "round {round}");
        reader.await.unwrap();
        assert_eq!(summary(&ann).await, pairs(&[(GROUP, 20 * round)]), "round {round}, after the reader");
    }
    app.shutdown().await;
}

/// Ten more groups Ann and Ben are in, so that a change to one or two rows
/// is patched into the cached list rather than read whole.
fn more_groups() -> World {
    let groups: Vec<String> = (2002..2012)
        .map(|g| format!(r#"{{"id": "{g}", "name": "G{g}", "owner": "1002", "members": ["1001"]}}"#))
        .collect();
    World::from_json(&format!(r#"{{"groups": [{}]}}"#, groups.join(","))).unwrap()
}

/// Ann's list as the server answers it (cached and patched) is byte for
/// byte, md5 included, what another process reading it whole gives.
async fn same_as_a_full_read(client: &yhconv_client::Client, whole: &yhconv_server::Service, step: &str) {
    let served = client.conversation_list(None).await.unwrap();
    let read = whole.conversation_list(Id::parse(ANN, "user").unwrap()).await.unwrap();
    assert_eq!((served.md5.as_str(), served.total), (read.md5.as_str(), read.total), "{step}");
    assert_eq!(served.md5, yhconv_server::service::list_wire::fingerprint(&served.data), "{step}");
    let hit = client.conversation_list(Some(&served.md5)).await.unwrap();
    assert!(hit.data.is_empty(), "{step}: unchanged, the md5 matches");
}

#[tokio::test]
async fn a_list_patched_row_by_row_is_what_a_full_read_gives() {
    let app = TestApp::spawn().await;
    app.service.import_world(more_groups()).await.unwrap();
    let (ann, ben) = (app.client(ANN).await, app.client(BEN).await);
    let whole = another_process(&app.db).await;
    for g in 2002..2012 {
        ben.send_text(&g.to_string(), ChatType::Group, &format!("hello {g}"), &[]).await.unwrap();
    }
    ben.send_text(ANN, ChatType::User, "hi Ann", &[]).await.unwrap();
    same_as_a_full_read(&ann, &whole, "start").await;
    let before = app.service.list_cache_stats().unwrap();

    // One group moves to the top; then one in the middle gets a mention.
    ben.send_text("2005", ChatType::Group, "news", &[]).await.unwrap();
    same_as_a_full_read(&ann, &whole, "a message in one group").await;
    assert_eq!(list(&ann).await[0].chat_id, "2005");
    ben.send_text("2008", ChatType::Group, "@Ann look", &[ANN]).await.unwrap();
    same_as_a_full_read(&ann, &whole, "a mention").await;
    let mentioned = entry(&ann, "2008").await;
    assert_eq!((mentioned.mention_count, mentioned.at_data.unwrap().mentioned_name.as_str()), (1, "Ann"));
    ann.dismiss_notification("2008").await.unwrap();
    same_as_a_full_read(&ann, &whole, "read").await;
    ann.set_no_notify("2003", true).await.unwrap();
    same_as_a_full_read(&ann, &whole, "muted").await;
    ann.sort_change("2002").await.unwrap();
    same_as_a_full_read(&ann, &whole, "brought to the top").await;
    assert_eq!(list(&ann).await[0].chat_id, "2002");
    ann.remove_conversation("2004").await.unwrap();
    same_as_a_full_read(&ann, &whole, "removed").await;
    assert!(list(&ann).await.iter().all(|c| c.chat_id != "2004"));
    ben.send_text("2004", ChatType::Group, "back", &[]).await.unwrap();
    same_as_a_full_read(&ann, &whole, "back with a message").await;
    let sent = ben.send_text("2006", ChatType::Group, "typo", &[]).await.unwrap();
    same_as_a_full_read(&ann, &whole, "sent").await;
    ben.edit_text("2006", ChatType::Group, &sent, "fixed", &[]).await.unwrap();
    same_as_a_full_read(&ann, &whole, "edited").await;
    assert!(entry(&ann, "2006").await.chat_content.contains("fixed"));
    ben.recall("2006", ChatType::Group, &[&sent]).await.unwrap();
    same_as_a_full_read(&ann, &whole, "recalled").await;
    ben.send_text(ANN, ChatType::User, "direct", &[]).await.unwrap();
    same_as_a_full_read(&ann, &whole, "a direct message").await;
    ann.leave_group("2009").await.unwrap();
    same_as_a_full_read(&ann, &whole, "left a group").await;
    assert!(list(&ann).await.iter().all(|c| c.chat_id != "2009"));

    let after = app.service.list_cache_stats().unwrap();
    assert!(after.patches > before.patches, "rows were patched in: {before:?} -> {after:?}");
    app.shutdown().await;
}
