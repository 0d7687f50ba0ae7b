//! Sending and listing messages over the wire.

mod common;

use common::*;
use yhconv_proto::pb::{MsgContent, SendMessage};
use yhconv_proto::{ChatType, ContentType};

fn message(
    msg_id: &str,
    chat_id: &str,
    chat_type: ChatType,
    content_type: ContentType,
    content: MsgContent,
) -> SendMessage {
    SendMessage {
        msg_id: msg_id.into(),
        chat_id: chat_id.into(),
        chat_type: chat_type.code(),
        content: Some(content),
        content_type: content_type.code(),
        command_id: 0,
        quote_msg_id: String::new(),
    }
}

fn text(t: &str) -> MsgContent {
    MsgContent { text: t.into(), ..Default::default() }
}

#[tokio::test]
async fn a_retried_msg_id_is_stored_once() {
    let app = TestApp::spawn().await;
    let (ann, ben) = (app.client(ANN).await, app.client(BEN).await);
    let msg = message("uuid-1", ANN, ChatType::User, ContentType::Text, text("once"));
    ben.send_message(&msg).await.unwrap();
    ben.send_message(&msg).await.unwrap();
    assert_eq!(summary(&ann).await, pairs(&[(BEN, 1)]));
    let history = ann.list_messages(BEN, ChatType::User, 20, None).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].msg_id, "uuid-1");
    // Another sender may use the same id elsewhere.
    let cats = message("uuid-1", ANN, ChatType::User, ContentType::Text, text("cat's own"));
    app.client(CAT).await.send_message(&cats).await.unwrap();
    assert_eq!(summary(&ann).await, pairs(&[(CAT, 1), (BEN, 1)]));
    app.shutdown().await;
}

#[tokio::test]
async fn history_is_newest_first_with_direction_and_paging() {
    let app = TestApp::spawn().await;
    let (ann, ben) = (app.client(ANN).await, app.client(BEN).await);
    for i in 1..=5 {
        let sender = if i % 2 == 1 { &ben } else { &ann };
        sender
            .send_message(&message(
                &format!("m{i}"),
                GROUP,
                ChatType::Group,
                ContentType::Text,
                text(&format!("text {i}")),
            ))
            .await
            .unwrap();
    }
    let page = ann.list_messages(GROUP, ChatType::Group, 3, None).await.unwrap();
    let ids: Vec<_> = page.iter().map(|m| (m.msg_id.as_str(), m.msg_seq, m.direction.as_str())).collect();
    assert_eq!(ids, [("m5", 5, "left"), ("m4", 4, "right"), ("m3", 3, "left")]);
    let sender = page[0].sender.as_ref().unwrap();
    assert_eq!((sender.chat_id.as_str(), sender.chat_type, sender.name.as_str()), (BEN, 1, "Ben"));
    assert_eq!(page[0].content.as_ref().unwrap().text, "text 5");
    assert!(page[0].send_time >= page[1].send_time);

    let older = ann.list_messages(GROUP, ChatType::Group, 3, Some("m3")).await.unwrap();
    let ids: Vec<_> = older.iter().map(|m| m.msg_id.as_str()).collect();
    assert_eq!(ids, ["m2", "m1"]);
    // msg_count 0 means a default page.
    assert_eq!(ann.list_messages(GROUP, ChatType::Group, 0, None).await.unwrap().len(), 5);
    let (code, msg) = api_error(ann.list_messages(GROUP, ChatType::Group, 3, Some("nope")).await);
    assert_eq!((code, msg.as_str()), (-1, "unknown msg_id \"nope\" in this chat"));
    // Nobody else's chat can be read.
    let cat = app.client(CAT).await;
    assert_eq!(
        api_error(cat.list_messages(GROUP, ChatType::Group, 3, None).await),
        (-1, "not a member of group 2001".into())
    );
    assert!(
        cat.list_messages(BEN, ChatType::User, 3, None).await.unwrap().is_empty(),
        "Cat's own chat with Ben is empty"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn previews_per_content_type() {
    let app = TestApp::spawn().await;
    let (ann, ben) = (app.client(ANN).await, app.client(BEN).await);
    let cases = [
        (ContentType::Image, MsgContent { image_url: "https://x/cat.jpg".into(), ..Default::default() }, "[图片]"),
        (ContentType::File, MsgContent { file_name: "a.pdf".into(), ..Default::default() }, "[文件]"),
        (ContentType::Form, MsgContent::default(), "[表单]"),
        (ContentType::Post, MsgContent { post_title: "t".into(), ..Default::default() }, "[文章]"),
        (ContentType::Sticker, MsgContent::default(), "[表情]"),
        (ContentType::Video, MsgContent::default(), "[视频]"),
        (ContentType::Audio, MsgContent::default(), "[语音]"),
        (ContentType::Call, MsgContent::default(), "[语音通话]"),
        (ContentType::Markdown, text("# 标题\n\n正文"), "# 标题 正文"),
        (ContentType::Html, text("<b>hi</b>"), "<b>hi</b>"),
    ];
    for (i, (content_type, content, expected)) in cases.into_iter().enumerate() {
        ben.send_message(&message(&format!("d{i}"), ANN, ChatType::User, content_type, content.clone())).await.unwrap();
        assert_eq!(entry(&ann, BEN).await.chat_content, expected, "{content_type:?} in a direct chat");
        ben.send_message(&message(&format!("g{i}"), GROUP, ChatType::Group, content_type, content)).await.unwrap();
        assert_eq!(entry(&ann, GROUP).await.chat_content, format!("Ben: {expected}"), "{content_type:?} in a group");
    }
    let long = "长".repeat(500);
    ben.send_text(ANN, ChatType::User, &long, &[]).await.unwrap();
    let preview = entry(&ann, BEN).await.chat_content;
    assert_eq!(preview.chars().count(), 61);
    assert!(preview.ends_with('…'));
    // The stored message keeps the whole text.
    let last = ann.list_messages(BEN, ChatType::User, 1, None).await.unwrap();
    assert_eq!(last[0].content.as_ref().unwrap().text, long);
    app.shutdown().await;
}

#[tokio::test]
async fn a_non_member_cannot_send_into_a_group() {
    let app = TestApp::spawn().await;
    let cat = app.client(CAT).await;
    let (code, msg) = api_error(cat.send_text(GROUP, ChatType::Group, "let me in", &[]).await);
    assert_eq!((code, msg.as_str()), (-1, "not a member of group 2001"));
    assert!(list(&app.client(ANN).await).await.is_empty(), "nothing was stored");
    app.shutdown().await;
}

#[tokio::test]
async fn send_errors_are_precise() {
    let app = TestApp::spawn().await;
    let ann = app.client(ANN).await;
    let ok = message("e1", BEN, ChatType::User, ContentType::Text, text("fine"));
    let cases: Vec<(SendMessage, &str)> = vec![
        (SendMessage { msg_id: String::new(), ..ok.clone() }, "msg_id is required"),
        (SendMessage { msg_id: "x".repeat(129), ..ok.clone() }, "msg_id is longer than 128 bytes"),
        (SendMessage { content: Some(text("   \n ")), ..ok.clone() }, "text is empty"),
        (SendMessage { content: None, ..ok.clone() }, "content is required"),
        (SendMessage { content_type: 9, ..ok.clone() }, "unknown content_type 9"),
        (SendMessage { chat_type: 7, ..ok.clone() }, "unknown chat_type 7 (1, 2 or 3)"),
        (SendMessage { chat_type: 2, ..ok.clone() }, "chat 1002 is a user, not a group (chat_type 2)"),
        (SendMessage { chat_id: "424242".into(), ..ok.clone() }, "unknown chat 424242"),
        (SendMessage { chat_id: "12ab".into(), ..ok.clone() }, "chat_id must be a decimal id, got \"12ab\""),
        (SendMessage { chat_id: ANN.into(), ..ok.clone() }, "a conversation with yourself is not supported"),
        (
            SendMessage {
                content: Some(MsgContent { text: "x".into(), mentioned_id: vec!["bob".into()], ..Default::default() }),
                ..ok.clone()
            },
            "mentioned_id must be a decimal id, got \"bob\"",
        ),
    ];
    for (msg, expected) in cases {
        assert_eq!(api_error(ann.send_message(&msg).await), (-1, expected.to_string()));
    }
    ann.send_message(&ok).await.unwrap();
    app.shutdown().await;
}
