//! The conversation list over the wire: unread counts, mentions, order,
//! mark-read, remove, sort-change, mute and the md5 fingerprint.

mod common;

use common::*;
use yhconv_proto::ChatType;

#[tokio::test]
async fn list_follows_every_step_of_a_conversation() {
    let app = TestApp::spawn().await;
    let (ann, ben) = (app.client(ANN).await, app.client(BEN).await);

    // Being a member of a silent group lists nothing.
    assert!(list(&ann).await.is_empty());

    // Ben writes to Ann: listed for both; unread only for Ann.
    ben.send_text(ANN, ChatType::User, "hi Ann", &[]).await.unwrap();
    assert_eq!(summary(&ann).await, pairs(&[(BEN, 1)]));
    assert_eq!(summary(&ben).await, pairs(&[(ANN, 0)]));
    let e = entry(&ann, BEN).await;
    assert_eq!((e.chat_type, e.name.as_str(), e.real_name.as_str()), (1, "Benny", "Ben"));
    assert_eq!((e.chat_content.as_str(), e.unread_message, e.at), ("hi Ann", 1, 0));
    assert_eq!(e.timestamp, e.timestamp_ms / 1000);
    let seen_by_ben = entry(&ben, ANN).await;
    assert_eq!(
        (seen_by_ben.name.as_str(), seen_by_ben.avatar_url.as_str(), seen_by_ben.avatar_id),
        ("Ann", "https://a/ann.png", 11)
    );

    // Ben mentions Ann in the group: the group goes on top, with at_data.
    ben.send_text(GROUP, ChatType::Group, "@Ann look", &[ANN]).await.unwrap();
    assert_eq!(summary(&ann).await, pairs(&[(GROUP, 1), (BEN, 1)]));
    assert_eq!(summary(&ben).await, pairs(&[(GROUP, 0), (ANN, 0)]));
    let g = entry(&ann, GROUP).await;
    assert_eq!((g.chat_type, g.name.as_str(), g.chat_content.as_str()), (2, "Team", "Ben: @Ann look"));
    assert_eq!((g.unread_message, g.at, g.mention_count, g.certification_level), (1, 1, 1, 1));
    let at = g.at_data.expect("at_data while the mention is unread");
    assert_eq!((at.mentioned_id.as_str(), at.mentioned_name.as_str(), at.mentioned_in.as_str()), (ANN, "Ann", GROUP));
    assert_eq!((at.mentioner_id.as_str(), at.mentioner_name.as_str(), at.msg_seq), (BEN, "Ben", 1));
    assert_eq!(entry(&ben, GROUP).await.at, 0, "the mentioner is not mentioned");

    // Ann answers with @all: her own message clears her unread and mention;
    // Ben now has one unread mention through `all`.
    ann.send_text(GROUP, ChatType::Group, "on it, everyone", &["all"]).await.unwrap();
    assert_eq!(summary(&ann).await, pairs(&[(GROUP, 0), (BEN, 1)]));
    let a = entry(&ann, GROUP).await;
    assert_eq!((a.at, a.unread_message, a.at_data), (0, 0, None));
    let b = entry(&ben, GROUP).await;
    assert_eq!((b.unread_count, b.at, b.mention_count), (1, 1, 1));
    assert_eq!(b.at_data.unwrap().msg_seq, 2);

    // Ann talks to the bot: a third kind of chat, on top.
    ann.send_text(BOT, ChatType::Bot, "/help", &[]).await.unwrap();
    assert_eq!(summary(&ann).await, pairs(&[(BOT, 0), (GROUP, 0), (BEN, 1)]));
    let bot = entry(&ann, BOT).await;
    assert_eq!((bot.chat_type, bot.name.as_str(), bot.chat_content.as_str()), (3, "Helper", "/help"));

    // Mark-read, idempotently.
    ann.dismiss_notification(BEN).await.unwrap();
    ann.dismiss_notification(BEN).await.unwrap();
    assert_eq!(summary(&ann).await, pairs(&[(BOT, 0), (GROUP, 0), (BEN, 0)]));
    ben.dismiss_notification(GROUP).await.unwrap();
    let b = entry(&ben, GROUP).await;
    assert_eq!((b.unread_message, b.at, b.mention_count, b.at_data), (0, 0, 0, None));
    app.shutdown().await;
}

#[tokio::test]
async fn exact_counts_and_the_earliest_mention() {
    let app = TestApp::spawn().await;
    let (ann, ben) = (app.client(ANN).await, app.client(BEN).await);
    ben.send_text(GROUP, ChatType::Group, "one", &[]).await.unwrap();
    ben.send_text(GROUP, ChatType::Group, "two @Ann", &[ANN]).await.unwrap();
    ben.send_text(GROUP, ChatType::Group, "three @all @Ann", &["all", ANN]).await.unwrap();
    ben.send_text(GROUP, ChatType::Group, "four", &[]).await.unwrap();
    let g = entry(&ann, GROUP).await;
    assert_eq!((g.unread_message, g.unread_count, g.at, g.mention_count), (1, 4, 1, 2));
    assert_eq!(g.at_data.unwrap().msg_seq, 2, "at_data names the earliest unread mention");
    // Ann reads; a new plain message is one unread without mention.
    ann.dismiss_notification(GROUP).await.unwrap();
    ben.send_text(GROUP, ChatType::Group, "five", &[]).await.unwrap();
    let g = entry(&ann, GROUP).await;
    assert_eq!((g.unread_count, g.at, g.mention_count), (1, 0, 0));
    // Mentioning someone outside the group, or oneself, marks nobody.
    ben.send_text(GROUP, ChatType::Group, "hey Cat", &[CAT, BEN]).await.unwrap();
    assert_eq!(entry(&ben, GROUP).await.at, 0);
    assert_eq!(entry(&ann, GROUP).await.at, 0);
    assert!(list(&app.client(CAT).await).await.is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn remove_hides_until_new_activity() {
    let app = TestApp::spawn().await;
    let (ann, ben) = (app.client(ANN).await, app.client(BEN).await);
    ben.send_text(ANN, ChatType::User, "1", &[]).await.unwrap();
    ben.send_text(ANN, ChatType::User, "2", &[]).await.unwrap();
    ben.send_text(GROUP, ChatType::Group, "g", &[]).await.unwrap();
    assert_eq!(summary(&ann).await, pairs(&[(GROUP, 1), (BEN, 2)]));

    ann.remove_conversation(BEN).await.unwrap();
    assert_eq!(summary(&ann).await, pairs(&[(GROUP, 1)]));
    assert_eq!(summary(&ben).await, pairs(&[(GROUP, 0), (ANN, 0)]), "removal is Ann's alone");

    // A new message brings it back, counting unread from zero.
    ben.send_text(ANN, ChatType::User, "3", &[]).await.unwrap();
    assert_eq!(summary(&ann).await, pairs(&[(BEN, 1), (GROUP, 1)]));

    // Removed again, sort-change brings it back with nothing unread.
    ann.remove_conversation(BEN).await.unwrap();
    ann.remove_conversation(GROUP).await.unwrap();
    assert!(list(&ann).await.is_empty());
    ann.sort_change(BEN).await.unwrap();
    assert_eq!(summary(&ann).await, pairs(&[(BEN, 0)]));
    assert_eq!(entry(&ann, BEN).await.chat_content, "3");

    // Removing a conversation that was never listed is harmless.
    ann.remove_conversation(BOT).await.unwrap();
    assert_eq!(summary(&ann).await, pairs(&[(BEN, 0)]));
    app.shutdown().await;
}

#[tokio::test]
async fn sort_change_brings_to_top_or_creates() {
    let app = TestApp::spawn().await;
    let (ann, ben, cat) = (app.client(ANN).await, app.client(BEN).await, app.client(CAT).await);
    ben.send_text(ANN, ChatType::User, "old", &[]).await.unwrap();
    ann.send_text(BOT, ChatType::Bot, "newer", &[]).await.unwrap();
    assert_eq!(summary(&ann).await, pairs(&[(BOT, 0), (BEN, 1)]));

    // Existing conversation: to the top, unread untouched.
    ann.sort_change(BEN).await.unwrap();
    assert_eq!(summary(&ann).await, pairs(&[(BEN, 1), (BOT, 0)]));

    // New target (a user Ann never talked to): created, empty, on top.
    ann.sort_change(CAT).await.unwrap();
    assert_eq!(summary(&ann).await, pairs(&[(CAT, 0), (BEN, 1), (BOT, 0)]));
    let c = entry(&ann, CAT).await;
    assert_eq!((c.chat_type, c.name.as_str(), c.chat_content.as_str()), (1, "Cat", ""));
    assert!(c.timestamp_ms > 0);
    assert!(list(&cat).await.is_empty(), "an empty conversation is listed only for the one who opened it");

    // A silent group Ann belongs to can be created too.
    ann.sort_change(GROUP).await.unwrap();
    assert_eq!(list(&ann).await[0].chat_id, GROUP);

    // Not a member, unknown id, bad id.
    assert_eq!(api_error(cat.sort_change(GROUP).await), (-1, "not a member of group 2001".into()));
    assert_eq!(api_error(cat.sort_change("999999").await), (-1, "unknown chat 999999".into()));
    let (code, msg) = api_error(cat.sort_change("abc").await);
    assert_eq!(code, -1);
    assert!(msg.contains("userId must be a decimal id"), "{msg}");
    app.shutdown().await;
}

#[tokio::test]
async fn do_not_disturb_is_per_user() {
    let app = TestApp::spawn().await;
    let (ann, ben) = (app.client(ANN).await, app.client(BEN).await);
    ben.send_text(GROUP, ChatType::Group, "g", &[]).await.unwrap();
    ann.set_no_notify(GROUP, true).await.unwrap();
    assert_eq!(entry(&ann, GROUP).await.do_not_disturb, 1);
    assert_eq!(entry(&ben, GROUP).await.do_not_disturb, 0);
    // Muted conversations still count unread.
    assert_eq!(entry(&ann, GROUP).await.unread_count, 1);
    ann.set_no_notify(GROUP, false).await.unwrap();
    assert_eq!(entry(&ann, GROUP).await.do_not_disturb, 0);
    // Muting before any message keeps the flag for later.
    ann.set_no_notify(CAT, true).await.unwrap();
    app.client(CAT).await.send_text(ANN, ChatType::User, "hello", &[]).await.unwrap();
    assert_eq!(entry(&ann, CAT).await.do_not_disturb, 1);
    app.shutdown().await;
}

#[tokio::test]
async fn md5_round_trip() {
    let app = TestApp::spawn().await;
    let (ann, ben) = (app.client(ANN).await, app.client(BEN).await);
    ben.send_text(ANN, ChatType::User, "hi", &[]).await.unwrap();
    let first = ann.conversation_list(None).await.unwrap();
    assert_eq!(first.md5.len(), 32);
    assert_eq!(first.total, 1);

    let same = ann.conversation_list(Some(&first.md5)).await.unwrap();
    assert_eq!((same.data.len(), same.total, same.md5.as_str()), (0, 0, first.md5.as_str()));
    assert_eq!(same.status.unwrap().code, 1);

    // A stale fingerprint gets the full list.
    let stale = ann.conversation_list(Some("0123456789abcdef0123456789abcdef")).await.unwrap();
    assert_eq!((stale.total, stale.md5.as_str()), (1, first.md5.as_str()));

    // Any change changes the fingerprint: a message, a read, a mute.
    ben.send_text(ANN, ChatType::User, "again", &[]).await.unwrap();
    let second = ann.conversation_list(Some(&first.md5)).await.unwrap();
    assert_eq!(second.total, 1);
    assert_ne!(second.md5, first.md5);
    ann.dismiss_notification(BEN).await.unwrap();
    let third = ann.conversation_list(Some(&second.md5)).await.unwrap();
    assert_ne!(third.md5, second.md5);
    assert_eq!(third.total, 1);
    app.shutdown().await;
}

#[tokio::test]
async fn every_call_naming_yourself_is_refused_alike() {
    let app = TestApp::spawn().await;
    let ann = app.client(ANN).await;
    let expected = (-1, "a conversation with yourself is not supported".to_string());
    assert_eq!(api_error(ann.dismiss_notification(ANN).await), expected);
    assert_eq!(api_error(ann.remove_conversation(ANN).await), expected);
    assert_eq!(api_error(ann.sort_change(ANN).await), expected);
    assert_eq!(api_error(ann.set_no_notify(ANN, true).await), expected);
    assert_eq!(api_error(ann.send_text(ANN, ChatType::User, "me", &[]).await), expected);
    assert_eq!(api_error(ann.list_messages(ANN, ChatType::User, 10, None).await), expected);
    assert!(list(&ann).await.is_empty());
    app.shutdown().await;
}
