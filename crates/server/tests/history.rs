//! History by sequence over the wire: `list-message-by-seq` (the newest 31,
//! or those after a seq) and `list-message-by-mid-seq` (an anchor and what
//! came before it), at the edges, with the bodies real clients send.

mod common;

use common::*;
use prost::Message;
use yhconv_proto::pb::{ListMessageByMidSeqRequest, ListMessageBySeqRequest, ListMessageResponse, StatusOnly};
use yhconv_proto::ChatType;

fn seqs(msgs: &[yhconv_proto::pb::Msg]) -> Vec<u64> {
    msgs.iter().map(|m| m.msg_seq).collect()
}

/// Posts raw protobuf bytes and decodes the history answer.
async fn post(app: &TestApp, token: &str, path: &str, body: Vec<u8>) -> ListMessageResponse {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", app.base_url))
        .header("token", token)
        .body(body)
        .send()
        .await
        .unwrap();
    ListMessageResponse::decode(response.bytes().await.unwrap()).expect("a history answer")
}

#[tokio::test]
async fn by_seq_windows_at_the_edges() {
    let app = TestApp::spawn().await;
    let (ann, ben) = (app.client(ANN).await, app.client(BEN).await);
    // An empty chat, and one that never began.
    assert!(ann.list_messages_after(GROUP, ChatType::Group, 0).await.unwrap().is_empty());
    assert!(ann.list_messages_after(CAT, ChatType::User, 0).await.unwrap().is_empty());
    for i in 1..=40 {
        let who = if i % 2 == 0 { &ann } else { &ben };
        who.send_text(GROUP, ChatType::Group, &format!("m{i}"), &[]).await.unwrap();
    }
    // 0: the newest 31, oldest first.
    let newest = ann.list_messages_after(GROUP, ChatType::Group, 0).await.unwrap();
    assert_eq!(seqs(&newest), (10..=40).collect::<Vec<_>>());
    // S: the (at most 31) after S.
    assert_eq!(seqs(&ann.list_messages_after(GROUP, ChatType::Group, 5).await.unwrap()), (6..=36).collect::<Vec<_>>());
    assert_eq!(seqs(&ann.list_messages_after(GROUP, ChatType::Group, 38).await.unwrap()), [39, 40]);
    assert!(ann.list_messages_after(GROUP, ChatType::Group, 40).await.unwrap().is_empty(), "S is the last");
    assert!(ann.list_messages_after(GROUP, ChatType::Group, 99).await.unwrap().is_empty(), "S beyond the last");
    let m6 = &ann.list_messages_after(GROUP, ChatType::Group, 5).await.unwrap()[0];
    assert_eq!((m6.direction.as_str(), m6.content.as_ref().unwrap().text.as_str()), ("right", "m6"));

    // int64 -1, as MD3 and the SDKs send it, means "unset": the newest 31; total counts them.
    let body = ListMessageBySeqRequest { msg_seq: -1, chat_type: 2, chat_id: GROUP.into() }.encode_to_vec();
    let answer = post(&app, ann.token().unwrap(), "/v1/msg/list-message-by-seq", body).await;
    assert_eq!((answer.status.unwrap().code, answer.total, answer.msg.len()), (1, 31, 31));
    assert_eq!(answer.msg.last().unwrap().msg_seq, 40);

    // A group's history is for its members.
    let (code, msg) = api_error(app.client(CAT).await.list_messages_after(GROUP, ChatType::Group, 0).await);
    assert_eq!((code, msg), (-1, format!("not a member of group {GROUP}")));
    app.shutdown().await;
}

#[tokio::test]
async fn by_mid_seq_puts_the_anchor_last() {
    let app = TestApp::spawn().await;
    let ann = app.client(ANN).await;
    let mut ids = Vec::new();
    for i in 1..=10 {
        ids.push(ann.send_text(BEN, ChatType::User, &format!("d{i}"), &[]).await.unwrap());
    }
    let ben = app.client(BEN).await;
    // The anchor and up to `count` before it, oldest first.
    let window = ben.list_messages_up_to(ANN, ChatType::User, &ids[6], 3).await.unwrap();
    assert_eq!(seqs(&window), [4, 5, 6, 7]);
    assert_eq!(window.last().unwrap().msg_id, ids[6]);
    // The anchor at the first message: only it.
    let window = ben.list_messages_up_to(ANN, ChatType::User, &ids[0], 5).await.unwrap();
    assert_eq!(seqs(&window), [1]);
    assert_eq!(window[0].direction, "left");
    // An unknown anchor is -1.
    let (code, msg) = api_error(ben.list_messages_up_to(ANN, ChatType::User, "nope", 5).await);
    assert_eq!((code, msg.as_str()), (-1, "unknown msg_id \"nope\" in this chat"));

    // By seq instead of msg_id (msg_id empty), as the docs allow.
    let token = ben.token().unwrap().to_owned();
    let by_seq = |msg_seq: i64, msg_count: u64| ListMessageByMidSeqRequest {
        msg_seq,
        chat_type: 1,
        chat_id: ANN.into(),
        msg_count,
        ..Default::default()
    };
    let answer = post(&app, &token, "/v1/msg/list-message-by-mid-seq", by_seq(10, 2).encode_to_vec()).await;
    assert_eq!((seqs(&answer.msg), answer.total), (vec![8, 9, 10], 3));
    let response = reqwest::Client::new()
        .post(format!("{}/v1/msg/list-message-by-mid-seq", app.base_url))
        .header("token", &token)
        .body(by_seq(11, 2).encode_to_vec())
        .send()
        .await
        .unwrap();
    let status = StatusOnly::decode(response.bytes().await.unwrap()).unwrap().status.unwrap();
    assert_eq!((status.code, status.msg.as_str()), (-1, "unknown msg_seq 11 in this chat"));
    app.shutdown().await;
}
