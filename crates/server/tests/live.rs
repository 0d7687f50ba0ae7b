//! Live lists on every device: list rows pushed to the user's own sockets
//! that asked for them, drafts, delta resync, and the client's `LiveList`
//! kept equal to a fresh `conversation/list` — on the engine the suite runs
//! on, and across two instances when it is PostgreSQL.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use rand::{Rng, SeedableRng};
use yhconv_client::live::Applied;
use yhconv_client::{Client, LiveList, PushEvent, PushSocket};
use yhconv_proto::pb::{Conversation, WsFrame};
use yhconv_proto::ChatType;
use yhconv_server::{DbUrl, World};

/// Long enough for a push that is coming to arrive.
const QUIET: Duration = Duration::from_millis(500);

/// One server, or two instances on one PostgreSQL database when the suite
/// runs on PostgreSQL (sockets and calls are spread over both).
async fn instances() -> Vec<TestApp> {
    let first = TestApp::spawn().await;
    let mut apps = vec![];
    if let DbUrl::Postgres(url) = &first.db {
        let url = url.clone();
        apps.push(first);
        apps.push(TestApp::spawn_on(DbUrl::Postgres(url), tempfile::tempdir().unwrap(), |_| {}).await);
    } else {
        apps.push(first);
    }
    apps
}

/// The `i`th instance, round robin.
fn pick(apps: &[TestApp], i: usize) -> &TestApp {
    &apps[i % apps.len()]
}

/// A live socket of Ann's on `app`.
async fn live_socket(app: &TestApp, device: &str) -> (Client, PushSocket) {
    let client = app.client(ANN).await;
    let socket = client.connect_live_push(ANN, "linux", device).await.expect("live socket");
    (client, socket)
}

/// The next event within `wait`, if any.
async fn event_within(socket: &mut PushSocket, wait: Duration) -> Option<PushEvent> {
    tokio::time::timeout(wait, socket.next_event()).await.ok().map(|e| e.expect("socket healthy").expect("open"))
}

/// Events until `wanted` matches one (within 10 s), returning it.
async fn until(socket: &mut PushSocket, wanted: impl Fn(&PushEvent) -> bool) -> PushEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match event_within(socket, left).await {
            Some(event) if wanted(&event) => return event,
            Some(_) => {}
            None => panic!("the awaited event did not come"),
        }
    }
}

/// The events that arrive before a heartbeat's answer: everything pushed
/// to the socket so far (after a pause for pushes under way).
async fn drain(socket: &mut PushSocket) -> Vec<PushEvent> {
    tokio::time::sleep(QUIET).await;
    let seq = socket.heartbeat().await.unwrap();
    let mut events = Vec::new();
    loop {
        match event_within(socket, Duration::from_secs(10)).await.expect("heartbeat answered") {
            PushEvent::HeartbeatAck { seq: acked } if acked == seq => return events,
            event => events.push(event),
        }
    }
}

fn encoded(rows: &[Conversation]) -> Vec<Vec<u8>> {
    rows.iter().map(|r| r.encode_to_vec()).collect()
}

/// Applies the socket's pushes to `live` until it equals a fresh list (10 s
/// at most), resyncing when a push asks for it.
async fn settle(live: &mut LiveList, socket: &mut PushSocket, client: &Client, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let fresh = list(client).await;
        if live.encoded_rows() == encoded(&fresh) {
            assert_eq!(live.md5(), client.conversation_list(None).await.unwrap().md5, "{what}: md5");
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("{what}: the live list never matched\nlive:  {:?}\nfresh: {:?}", live.rows(), fresh);
        }
        if let Some(event) = event_within(socket, Duration::from_millis(200)).await {
            if live.apply(&event) == Applied::NeedsResync {
                live.resync(client).await.unwrap();
            }
        }
    }
}

#[tokio::test]
async fn a_mark_read_on_one_device_clears_the_badge_on_the_others() {
    let apps = instances().await;
    let (ann_a, mut a) = live_socket(pick(&apps, 0), "phone").await;
    let (ann_b, mut b) = live_socket(pick(&apps, 1), "desktop").await;
    let ben = pick(&apps, 1).client(BEN).await;
    ben.send_text(GROUP, ChatType::Group, "hello team", &[]).await.unwrap();
    ben.send_text(ANN, ChatType::User, "hi Ann", &[]).await.unwrap();
    let mut live_a = LiveList::new(ANN);
    let mut live_b = LiveList::new(ANN);
    live_a.resync(&ann_a).await.unwrap();
    live_b.resync(&ann_b).await.unwrap();
    assert_eq!(live_b.row(GROUP).unwrap().unread_count, 1);
    drain(&mut b).await;

    ann_a.dismiss_notification(GROUP).await.unwrap();
    let PushEvent::ListRows(rows) = until(&mut b, |e| matches!(e, PushEvent::ListRows(_))).await else {
        unreachable!()
    };
    // The group's row, read; it may come with the row Ben's message changed
    // (rows are compared with what was last sent, and the frame for the
    // conversation Ben opened may have been read before his message).
    let group = rows.row.iter().find(|r| r.chat_id == GROUP).unwrap_or_else(|| panic!("the group's row: {rows:?}"));
    assert_eq!((group.unread_count, group.unread_message), (0, 0));
    assert!(rows.row.iter().all(|r| r.chat_id == GROUP || r.chat_id == BEN) && rows.removed.is_empty(), "{rows:?}");
    live_b.apply(&PushEvent::ListRows(rows));
    assert_eq!(live_b.row(GROUP).unwrap().unread_count, 0, "the badge cleared by itself");
    settle(&mut live_b, &mut b, &ann_b, "device b after the mark-read").await;
    settle(&mut live_a, &mut a, &ann_a, "device a after its own mark-read").await;

    // Nothing goes to anyone else: Ben's live socket got no rows of Ann's.
    let mut ben_socket = ben.connect_live_push(BEN, "linux", "ben").await.unwrap();
    ann_b.set_no_notify(BEN, true).await.unwrap();
    until(
        &mut a,
        |e| matches!(e, PushEvent::ListRows(r) if r.row.iter().any(|r| r.chat_id == BEN && r.do_not_disturb == 1)),
    )
    .await;
    assert!(drain(&mut ben_socket).await.iter().all(|e| !matches!(e, PushEvent::ListRows(_))));
    for app in apps {
        app.shutdown().await;
    }
}

#[tokio::test]
async fn list_rows_go_only_to_sockets_that_asked_and_stock_clients_see_no_message_in_them() {
    let apps = instances().await;
    let app = pick(&apps, 0);
    let ann = app.client(ANN).await;
    let ben = app.client(BEN).await;
    let msg_id = ben.send_text(GROUP, ChatType::Group, "first", &[]).await.unwrap();
    ann.send_text(BEN, ChatType::User, "to Ben", &[]).await.unwrap();
    let mut stock = ann.connect_push(ANN, "android", "old").await.unwrap();

    // A raw socket that asked, whose every frame is checked the way the old
    // Android client decodes frames: all of them as `push_message`, a
    // message shown whenever `data.msg` (field 2 of field 2) decodes.
    let ws_url = format!("{}/ws", app.base_url.replace("http://", "ws://"));
    let (mut raw, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let token =
        pick(&apps, 1).service.issue_token(yhconv_server::ids::Id::parse(ANN, "u").unwrap(), "t").await.unwrap();
    let login = serde_json::json!({"seq": "1", "cmd": "login",
        "data": {"userId": ANN, "token": token, "platform": "android", "deviceId": "raw", "listChanges": 1}});
    raw.send(tokio_tungstenite::tungstenite::Message::text(login.to_string())).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), raw.next()).await.unwrap().unwrap().unwrap();
    let ack = WsFrame::decode(first.into_data().as_ref()).unwrap();
    assert_eq!(ack.info.unwrap().cmd, "login_ack");

    // Every kind of row change.
    ann.dismiss_notification(GROUP).await.unwrap();
    ann.set_no_notify(GROUP, true).await.unwrap();
    ann.sort_change(BOT).await.unwrap();
    ann.remove_conversation(BEN).await.unwrap();
    ben.edit_text(GROUP, ChatType::Group, &msg_id, "first, edited", &[]).await.unwrap();
    ben.recall(GROUP, ChatType::Group, &[&msg_id]).await.unwrap();
    let remark = serde_json::json!({"user": ANN, "target": GROUP, "remark": "我们"});
    let renamed = World { remarks: vec![serde_json::from_value(remark).unwrap()], ..World::default() };
    app.service.import_world(renamed).await.unwrap();

    let mut rows_frames = 0;
    let mut seen = Vec::new();
    let mut removed = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, raw.next()).await {
        let bytes = frame.into_data();
        let as_push = WsFrame::decode(bytes.as_ref()).expect("every frame decodes as push_message");
        let cmd = as_push.info.as_ref().map(|i| i.cmd.clone()).unwrap_or_default();
        if cmd == "yhconv_list_rows" {
            rows_frames += 1;
            assert!(as_push.data.as_ref().and_then(|d| d.msg.as_ref()).is_none(), "a row frame shows no message");
            let rows = yhconv_proto::pb::ListRowsFrame::decode(bytes.as_ref()).unwrap().rows.unwrap();
            assert!(!rows.row.is_empty() || !rows.removed.is_empty());
            seen.extend(rows.row);
            removed.extend(rows.removed);
        }
    }
    // Changes close together may share a frame; each shows in one.
    assert!(rows_frames >= 1);
    let group = |check: &dyn Fn(&Conversation) -> bool| seen.iter().any(|r| r.chat_id == GROUP && check(r));
    assert!(group(&|r| r.unread_count == 0), "read");
    assert!(group(&|r| r.do_not_disturb == 1), "muted");
    assert!(seen.iter().any(|r| r.chat_id == BOT), "brought to the top");
    assert!(removed.iter().any(|id| id == BEN), "removed");
    assert!(group(&|r| r.chat_content.contains("撤回了一条消息")), "recalled");
    assert!(group(&|r| r.name == "我们" && r.real_name == "Team"), "remark");

    // The stock socket got messages and edits only, never a row.
    let stock_events = drain(&mut stock).await;
    assert!(!stock_events.is_empty());
    assert!(stock_events.iter().all(|e| matches!(e, PushEvent::Message(_) | PushEvent::Edited(_))), "{stock_events:?}");
    for app in apps {
        app.shutdown().await;
    }
}

#[tokio::test]
async fn drafts_reach_the_other_devices_only_replay_at_login_and_clear_on_send() {
    let apps = instances().await;
    let (ann, mut a) = live_socket(pick(&apps, 0), "phone").await;
    let (_, mut b) = live_socket(pick(&apps, 1), "desktop").await;
    a.send_draft(BEN, "see you", "phone").await.unwrap();
    let PushEvent::Draft(draft) = until(&mut b, |e| matches!(e, PushEvent::Draft(_))).await else { unreachable!() };
    assert_eq!((draft.chat_id.as_str(), draft.input.as_str()), (BEN, "see you"));
    assert!(drain(&mut a).await.iter().all(|e| !matches!(e, PushEvent::Draft(_))), "not echoed to its own socket");

    // Replaced, not appended; replayed to a socket that logs in later.
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.send_draft(BEN, "see you soon", "phone").await.unwrap();
    until(&mut b, |e| matches!(e, PushEvent::Draft(d) if d.chat_id == BEN && d.input == "see you soon")).await;
    let (_, mut c) = live_socket(pick(&apps, 1), "tablet").await;
    let replayed: Vec<_> = drain(&mut c).await;
    assert!(
        replayed.iter().any(|e| matches!(e, PushEvent::Draft(d) if d.chat_id == BEN && d.input == "see you soon")),
        "{replayed:?}"
    );

    // The user's send in that chat clears it everywhere.
    ann.send_text(BEN, ChatType::User, "see you soon", &[]).await.unwrap();
    for socket in [&mut a, &mut b, &mut c] {
        let cleared = until(socket, |e| matches!(e, PushEvent::Draft(_))).await;
        assert!(matches!(cleared, PushEvent::Draft(d) if d.chat_id == BEN && d.input.is_empty()));
    }
    let (_, mut d) = live_socket(pick(&apps, 0), "laptop").await;
    assert!(drain(&mut d).await.iter().all(|e| !matches!(e, PushEvent::Draft(_))), "nothing to replay");

    // A bad draft is ignored, not fatal.
    a.send_draft("not-an-id", "x", "phone").await.unwrap();
    a.send_draft(ANN, "myself", "phone").await.unwrap();
    assert!(drain(&mut b).await.iter().all(|e| !matches!(e, PushEvent::Draft(_))));

    // A draft many times longer than a socket's read buffer (1 KiB) arrives whole.
    let long = "长".repeat(3000);
    a.send_draft(GROUP, &long, "phone").await.unwrap();
    until(&mut b, |e| matches!(e, PushEvent::Draft(d) if d.chat_id == GROUP && d.input == long)).await;
    for app in apps {
        app.shutdown().await;
    }
}

#[tokio::test]
async fn a_fifty_frames_a_second_typist_costs_a_few_pushes_and_ends_on_the_final_text() {
    let apps = instances().await;
    let (_, mut a) = live_socket(pick(&apps, 0), "phone").await;
    let (_, mut b) = live_socket(pick(&apps, 1), "desktop").await;
    let mut text = String::new();
    let start = tokio::time::Instant::now();
    for i in 0..50 {
        text.push(if i % 2 == 0 { '字' } else { 'a' });
        a.send_draft(GROUP, &text, "phone").await.unwrap();
        tokio::time::sleep_until(start + Duration::from_millis(20 * (i + 1))).await;
    }
    let drafts: Vec<String> = drain(&mut b)
        .await
        .into_iter()
        .filter_map(|e| match e {
            PushEvent::Draft(d) => Some(d.input),
            _ => None,
        })
        .collect();
    // One second of typing: at most one push per 250 ms, plus the last.
    assert!((2..=6).contains(&drafts.len()), "{} pushes: {drafts:?}", drafts.len());
    assert_eq!(drafts.last(), Some(&text), "the final text arrives");
    for app in apps {
        app.shutdown().await;
    }
}

#[tokio::test]
async fn a_dropped_socket_resyncs_with_only_the_rows_that_changed() {
    let apps = instances().await;
    let ben = pick(&apps, 1).client(BEN).await;
    let cat = pick(&apps, 0).client(CAT).await;
    ben.send_text(GROUP, ChatType::Group, "one", &[]).await.unwrap();
    ben.send_text(ANN, ChatType::User, "two", &[]).await.unwrap();
    cat.send_text(ANN, ChatType::User, "three", &[]).await.unwrap();
    let (ann, socket) = live_socket(pick(&apps, 0), "phone").await;
    let mut live = LiveList::new(ANN);
    live.resync(&ann).await.unwrap();
    assert_eq!(live.rows().len(), 3);
    drop(socket);

    // While it is gone: a message, a mark-read from another device.
    ben.send_text(ANN, ChatType::User, "missed", &[]).await.unwrap();
    pick(&apps, 1).client(ANN).await.dismiss_notification(CAT).await.unwrap();
    let known: Vec<_> = live
        .rows()
        .iter()
        .map(|r| yhconv_proto::pb::RowDigest { chat_id: r.chat_id.clone(), digest: yhconv_proto::live::digest_of(r) })
        .collect();
    let delta = ann.conversation_delta(known).await.unwrap();
    let mut changed: Vec<&str> = delta.data.iter().map(|r| r.chat_id.as_str()).collect();
    changed.sort_unstable();
    assert_eq!(changed, [BEN, CAT], "only the two rows that changed");
    assert!(delta.delta && delta.removed.is_empty());

    let (_, mut socket) = live_socket(pick(&apps, 1), "phone").await;
    live.resync(&ann).await.unwrap();
    settle(&mut live, &mut socket, &ann, "after the reconnect").await;
    assert_eq!(live.row(BEN).unwrap().unread_count, 2);
    for app in apps {
        app.shutdown().await;
    }
}

#[tokio::test]
async fn live_lists_on_several_devices_agree_with_a_fresh_list_after_random_actions() {
    let apps = instances().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(14);
    let (ann_a, mut a) = live_socket(pick(&apps, 0), "phone").await;
    let (ann_b, mut b) = live_socket(pick(&apps, 1), "desktop").await;
    let ann = [ann_a.clone(), ann_b.clone()];
    let ben = [pick(&apps, 0).client(BEN).await, pick(&apps, 1).client(BEN).await];
    let cat = pick(&apps, 1).client(CAT).await;
    let mut live_a = LiveList::new(ANN);
    let mut live_b = LiveList::new(ANN);
    live_a.resync(&ann_a).await.unwrap();
    live_b.resync(&ann_b).await.unwrap();
    let mut last_from_ben: Option<(String, &str, ChatType)> = None;
    for step in 0..40 {
        let device = rng.gen_range(0..2);
        let action = rng.gen_range(0..11);
        let what = match action {
            0 | 1 => {
                let id = ben[device].send_text(GROUP, ChatType::Group, &format!("g{step}"), &[]).await.unwrap();
                last_from_ben = Some((id, GROUP, ChatType::Group));
                "Ben writes in the group"
            }
            2 => {
                let id = ben[device].send_text(ANN, ChatType::User, &format!("d{step}"), &[]).await.unwrap();
                last_from_ben = Some((id, ANN, ChatType::User));
                "Ben writes to Ann"
            }
            3 => {
                cat.send_text(ANN, ChatType::User, &format!("c{step}"), &[]).await.unwrap();
                "Cat writes to Ann"
            }
            4 => {
                ann[device].send_text(GROUP, ChatType::Group, &format!("a{step}"), &[]).await.unwrap();
                "Ann writes in the group"
            }
            5 => {
                let chat = [GROUP, BEN, CAT][rng.gen_range(0..3)];
                let _ = ann[device].dismiss_notification(chat).await;
                "Ann marks a chat read"
            }
            6 => {
                ann[device].set_no_notify([GROUP, BEN][rng.gen_range(0..2)], rng.gen_bool(0.5)).await.unwrap();
                "Ann mutes or unmutes"
            }
            7 => {
                ann[device].remove_conversation([GROUP, BEN, CAT][rng.gen_range(0..3)]).await.unwrap();
                "Ann removes a chat"
            }
            8 => {
                ann[device].sort_change([GROUP, BEN, BOT][rng.gen_range(0..3)]).await.unwrap();
                "Ann brings a chat to the top"
            }
            9 => match &last_from_ben {
                Some((id, chat, kind)) => {
                    let _ = ben[device].edit_text(chat, *kind, id, &format!("edited {step}"), &[]).await;
                    "Ben edits his last message"
                }
                None => "nothing",
            },
            _ => match last_from_ben.take() {
                Some((id, chat, kind)) => {
                    ben[device].recall(chat, kind, &[&id]).await.unwrap();
                    "Ben recalls his last message"
                }
                None => "nothing",
            },
        };
        let what = format!("step {step}: {what}");
        settle(&mut live_a, &mut a, &ann_a, &what).await;
        settle(&mut live_b, &mut b, &ann_b, &what).await;
    }
    for app in apps {
        app.shutdown().await;
    }
}

#[tokio::test]
async fn joins_kicks_dismissals_renames_and_remarks_reach_every_device() {
    let apps = instances().await;
    let (ann_a, mut a) = live_socket(pick(&apps, 0), "phone").await;
    let (ann_b, mut b) = live_socket(pick(&apps, 1), "desktop").await;
    let (ben, cat) = (pick(&apps, 1).client(BEN).await, pick(&apps, 0).client(CAT).await);
    cat.send_text(ANN, ChatType::User, "hi", &[]).await.unwrap();
    ben.send_text(ANN, ChatType::User, "hello", &[]).await.unwrap();
    let mut live_a = LiveList::new(ANN);
    let mut live_b = LiveList::new(ANN);
    live_a.resync(&ann_a).await.unwrap();
    live_b.resync(&ann_b).await.unwrap();
    let club = cat.create_group("Club", "").await.unwrap();

    cat.invite(&club, ANN, ChatType::User).await.unwrap();
    settle(&mut live_b, &mut b, &ann_b, "joined").await;
    settle(&mut live_a, &mut a, &ann_a, "joined").await;
    assert!(live_b.row(&club).is_some(), "the new group is on the other device");
    cat.remove_member(&club, ANN).await.unwrap();
    settle(&mut live_b, &mut b, &ann_b, "kicked").await;
    settle(&mut live_a, &mut a, &ann_a, "kicked").await;
    assert!(live_b.row(&club).is_none());
    ben.edit_nickname("Benjamin").await.unwrap();
    settle(&mut live_a, &mut a, &ann_a, "Ben renamed").await;
    assert_eq!(live_a.row(BEN).map(|r| r.real_name.as_str()), Some("Benjamin"));
    ann_a.save_remark(CAT, "Kitty").await.unwrap();
    settle(&mut live_b, &mut b, &ann_b, "a remark from the other device").await;
    assert_eq!(live_b.row(CAT).map(|r| r.name.as_str()), Some("Kitty"));
    pick(&apps, 0).client(ANN).await.dismiss_group(GROUP).await.unwrap();
    settle(&mut live_b, &mut b, &ann_b, "dismissed").await;
    settle(&mut live_a, &mut a, &ann_a, "dismissed").await;
    assert!(live_a.row(GROUP).is_none() && live_b.row(GROUP).is_none());
    for app in apps {
        app.shutdown().await;
    }
}

#[tokio::test]
async fn a_change_made_while_the_feeds_are_cut_still_reaches_the_other_instance_s_sockets() {
    let apps = instances().await;
    if apps.len() < 2 {
        eprintln!("skipped: two instances need PostgreSQL (run under scripts/with-postgres.sh)");
        return;
    }
    let ben = apps[1].client(BEN).await;
    ben.send_text(GROUP, ChatType::Group, "before the cut", &[]).await.unwrap();
    let (ann_a, mut a) = live_socket(&apps[0], "phone").await;
    let mut live = LiveList::new(ANN);
    live.resync(&ann_a).await.unwrap();
    assert_eq!(live.row(GROUP).unwrap().unread_count, 1);

    // Both instances' feeds go down; the mark-read through B is committed
    // while (at least) A may not hear of it. A's feed resyncs when it is
    // back, and the row reaches A's socket all the same.
    let admin = database_client(&apps[1]).await;
    assert!(cut_feeds(&admin).await >= 1);
    apps[1].client(ANN).await.dismiss_notification(GROUP).await.unwrap();
    let read = until(
        &mut a,
        |e| matches!(e, PushEvent::ListRows(r) if r.row.iter().any(|r| r.chat_id == GROUP && r.unread_count == 0)),
    )
    .await;
    live.apply(&read);
    settle(&mut live, &mut a, &ann_a, "after the feeds came back").await;
    for app in apps {
        app.shutdown().await;
    }
}
