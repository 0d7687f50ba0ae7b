//! Several server instances on one PostgreSQL database: sequence numbers,
//! unread counts and retries under real concurrency, and pushes that cross
//! instances, and lists cached by one instance that follow every change
//! made through the other. Runs when `YHCONV_TEST_POSTGRES` is set
//! (`scripts/with-postgres.sh cargo test ...`); says so and passes otherwise.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use yhconv_client::{Client, PushEvent};
use yhconv_proto::pb::{MsgContent, SendMessage};
use yhconv_proto::ChatType;
use yhconv_server::app::open_service;
use yhconv_server::ids::Id;
use yhconv_server::{Config, DbUrl, World};

/// Two instances on one fresh database, or None without PostgreSQL.
async fn two_instances() -> Option<(TestApp, TestApp)> {
    let Some(admin) = postgres_admin_url() else {
        eprintln!("skipped: YHCONV_TEST_POSTGRES is not set (run under scripts/with-postgres.sh)");
        return None;
    };
    let url = fresh_postgres_db(&admin).await;
    let a = TestApp::spawn_on(DbUrl::Postgres(url.clone()), tempfile::tempdir().unwrap(), |_| {}).await;
    let b = TestApp::spawn_on(DbUrl::Postgres(url), tempfile::tempdir().unwrap(), |_| {}).await;
    // Cat joins the group as a silent reader whose unread must count everything.
    let mut world = World::default();
    world.groups = common::world().groups;
    world.groups[0].members.push(CAT.into());
    a.service.import_world(world).await.unwrap();
    Some((a, b))
}

#[tokio::test]
async fn concurrent_sends_through_two_instances_are_gap_free_and_counted_exactly() {
    let Some((a, b)) = two_instances().await else { return };
    const TASKS: usize = 4;
    const EACH: usize = 25;
    let mut senders = Vec::new();
    for (app, user) in [(&a, ANN), (&b, BEN)] {
        for task in 0..TASKS {
            let client = app.client(user).await;
            senders.push(tokio::spawn(async move {
                for i in 0..EACH {
                    client.send_text(GROUP, ChatType::Group, &format!("{task}-{i}"), &[]).await.unwrap();
                }
            }));
        }
    }
    for s in senders {
        s.await.unwrap();
    }
    let total = 2 * TASKS * EACH;
    let history = a.client(CAT).await.list_messages(GROUP, ChatType::Group, 500, None).await.unwrap();
    let mut seqs: Vec<u64> = history.iter().map(|m| m.msg_seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=total as u64).collect::<Vec<_>>(), "gap-free and unique");

    // Unread: Cat never sent, so everything; Ann and Ben: what came after their own last message.
    assert_eq!(entry(&b.client(CAT).await, GROUP).await.unread_count, total as u64);
    for (app, user) in [(&a, ANN), (&b, BEN)] {
        let own_last =
            history.iter().filter(|m| m.sender.as_ref().unwrap().chat_id == user).map(|m| m.msg_seq).max().unwrap();
        let expected = history.iter().filter(|m| m.msg_seq > own_last).count() as u64;
        assert_eq!(entry(&app.client(user).await, GROUP).await.unread_count, expected, "{user}");
    }
    a.shutdown().await;
    b.shutdown().await;
}

/// Sends into one chat that arrive while one of them is being stored go
/// together in the next transaction: each is answered, stored once and
/// gap-free, with send times that grow with the sequence numbers. A batch
/// holding a retried msg_id, or one another sender took, rolls back and is
/// stored one at a time, each answered as it would be alone.
#[tokio::test]
async fn concurrent_sends_into_one_chat_are_stored_together_and_each_answered() {
    let Some((a, b)) = two_instances().await else { return };
    let (ann, ben) = (a.client(ANN).await, a.client(BEN).await);
    let admin = database_client(&a).await;
    let send = |client: &Client, msg_id: String| {
        let client = client.clone();
        let msg = SendMessage {
            content: Some(MsgContent { text: format!("text of {msg_id}"), ..Default::default() }),
            msg_id,
            chat_id: GROUP.into(),
            chat_type: 2,
            content_type: 1,
            ..Default::default()
        };
        tokio::spawn(async move { client.send_message(&msg).await })
    };
    // The group's chat row is held while the sends arrive: the first one's
    // transaction waits for it, and the others wait for that transaction.
    let hold = || async {
        admin.batch_execute("BEGIN").await.unwrap();
        let group: i64 = GROUP.parse().unwrap();
        admin.execute("SELECT 1 FROM chat WHERE kind = 2 AND a = $1 FOR UPDATE", &[&group]).await.unwrap();
    };
    // Until every send reached the store: in a transaction (waiting for
    // the row) or waiting for one.
    let all_arrived = |count: f64| {
        let a = &a;
        async move {
            for _ in 0..3_000 {
                let arrived = a.metric("yhconv_sends_waiting").await + a.metric("yhconv_sends_storing").await;
                if arrived == count {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("the sends never all reached the store");
        }
    };

    // The first transaction holds at most 32 sends: the rest, at least 8,
    // go together in the next ones.
    const SENDS: usize = 40;
    hold().await;
    let tasks: Vec<_> =
        (0..SENDS).map(|i| send(if i % 2 == 0 { &ann } else { &ben }, format!("together-{i}"))).collect();
    all_arrived(SENDS as f64).await;
    admin.batch_execute("COMMIT").await.unwrap();
    for task in tasks {
        task.await.unwrap().expect("every send answered as a success");
    }
    let batches = a.metric("yhconv_send_batches_total").await;
    assert!(batches >= 1.0, "no sends were stored together");
    assert!(a.metric("yhconv_sends_batched_total").await >= (SENDS - 1) as f64);

    // Two retries and a msg_id another sender took: whichever go together
    // fail together, and are stored one at a time.
    hold().await;
    let retries = [send(&ann, "together-0".into()), send(&ben, "together-1".into())];
    let taken = send(&ann, "together-3".into());
    all_arrived(3.0).await;
    admin.batch_execute("COMMIT").await.unwrap();
    for task in retries {
        task.await.unwrap().expect("a retry answered as a success");
    }
    let error = taken.await.unwrap().expect_err("a msg_id another sender used is refused");
    assert!(error.to_string().contains("already used by another sender"), "{error}");
    assert_eq!(a.metric("yhconv_send_batches_total").await, batches, "a failed batch counts as none");
    assert_eq!(a.metric("yhconv_sends_storing").await + a.metric("yhconv_sends_waiting").await, 0.0);

    let history = b.client(CAT).await.list_messages(GROUP, ChatType::Group, 500, None).await.unwrap();
    let mut history: Vec<_> = history.iter().map(|m| (m.msg_seq, m.send_time, m.msg_id.clone())).collect();
    history.sort_unstable();
    let stored = SENDS;
    assert_eq!(history.iter().map(|m| m.0).collect::<Vec<_>>(), (1..=stored as u64).collect::<Vec<_>>());
    assert_eq!(history.iter().map(|m| &m.2).collect::<HashSet<_>>().len(), stored, "each msg_id once");
    assert!(history.windows(2).all(|w| w[0].1 <= w[1].1), "send times grow with msg_seq: {history:?}");
    assert_eq!(entry(&b.client(CAT).await, GROUP).await.unread_count, stored as u64);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_msg_id_retried_concurrently_on_two_instances_is_stored_once() {
    let Some((a, b)) = two_instances().await else { return };
    let (via_a, via_b) = (a.client(ANN).await, b.client(ANN).await);
    const IDS: usize = 30;
    for i in 0..IDS {
        let msg = SendMessage {
            msg_id: format!("retry-{i}"),
            chat_id: GROUP.into(),
            chat_type: 2,
            content: Some(MsgContent { text: format!("once {i}"), ..Default::default() }),
            content_type: 1,
            ..Default::default()
        };
        let (first, second) = tokio::join!(via_a.send_message(&msg), via_b.send_message(&msg));
        first.unwrap();
        second.unwrap();
    }
    let history = a.client(BEN).await.list_messages(GROUP, ChatType::Group, 500, None).await.unwrap();
    assert_eq!(history.len(), IDS);
    let ids: HashSet<_> = history.iter().map(|m| m.msg_id.clone()).collect();
    assert_eq!(ids.len(), IDS);
    assert_eq!(entry(&b.client(BEN).await, GROUP).await.unread_count, IDS as u64);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_message_sent_through_one_instance_is_pushed_from_the_other() {
    let Some((a, b)) = two_instances().await else { return };
    let ben: Client = b.client(BEN).await;
    let mut socket = logged_in_socket(&ben).await;

    let msg_id = a.client(ANN).await.send_text(BEN, ChatType::User, "across instances", &[]).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), socket.next_event()).await.expect("push in time");
    match event.unwrap() {
        Some(PushEvent::Message(push)) => {
            assert_eq!(
                (push.msg_id.as_str(), push.chat_id.as_str(), push.recv_id.as_str()),
                (msg_id.as_str(), ANN, BEN)
            );
            assert_eq!(push.content.unwrap().text, "across instances");
        }
        other => panic!("expected the push, got {other:?}"),
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn start_up_waits_for_the_database_and_healthz_reports_it() {
    let Some(admin) = postgres_admin_url() else {
        eprintln!("skipped: YHCONV_TEST_POSTGRES is not set (run under scripts/with-postgres.sh)");
        return;
    };
    let (admin_client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    // A database that does not exist yet: start-up retries until it does.
    let name = format!("yhconv_late_{}", uuid::Uuid::new_v4().simple());
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let create_later = {
        let name = name.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            admin_client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
            admin_client
        }
    };
    let (app, admin_client) = tokio::join!(
        TestApp::spawn_on(DbUrl::Postgres(url), tempfile::tempdir().unwrap(), |c| {
            c.db_connect_timeout_secs = 1;
            c.db_startup_wait_secs = 30;
        }),
        create_later
    );
    let health = |base: String| async move {
        let r = reqwest::get(format!("{base}/healthz")).await.unwrap();
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap();
        (status, body["code"].as_i64().unwrap(), body["msg"].as_str().unwrap().to_owned())
    };
    assert_eq!(health(app.base_url.clone()).await, (200, 1, "success".into()));

    // The database goes away: /healthz says so; it comes back: /healthz recovers.
    admin_client.batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false")).await.unwrap();
    admin_client
        .batch_execute(&format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        .await
        .unwrap();
    let (status, code, msg) = health(app.base_url.clone()).await;
    assert_eq!((status, code), (503, -1), "{msg}");
    assert!(msg.starts_with("database unavailable"), "{msg}");
    admin_client.batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")).await.unwrap();
    let mut recovered = false;
    for _ in 0..50 {
        if health(app.base_url.clone()).await.0 == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "/healthz recovers with the database");
    app.shutdown().await;
}

#[tokio::test]
async fn a_logout_through_one_instance_closes_the_tokens_sockets_on_the_other() {
    let Some((a, b)) = two_instances().await else { return };
    let ben_on_b: Client = b.client(BEN).await;
    let mut socket = logged_in_socket(&ben_on_b).await;

    // The same token, logged out through instance A.
    let ben_on_a = a.anonymous().with_token(ben_on_b.token().unwrap().to_owned());
    ben_on_a.logout().await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(10), socket.next_event()).await.expect("closed in time");
    assert!(matches!(closed, Ok(None)), "{closed:?}");
    assert!(ben_on_b.conversation_list(None).await.unwrap_err().is_unauthorized());
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn pushes_sent_while_an_instance_reconnects_to_the_database_still_arrive() {
    let Some((a, b)) = two_instances().await else { return };
    let ben = b.client(BEN).await;
    let mut socket = logged_in_socket(&ben).await;

    // Cut the instances' LISTEN connections; they reconnect after a pause,
    // and these messages are announced while nobody listens.
    let admin = database_client(&b).await;
    let cut = cut_feeds(&admin).await;
    assert!(cut > 0, "found the feed connections");
    let ann = a.client(ANN).await;
    let mut sent = Vec::new();
    for i in 0..3 {
        sent.push(ann.send_text(BEN, ChatType::User, &format!("while away {i}"), &[]).await.unwrap());
    }

    let mut pushed = Vec::new();
    while pushed.len() < sent.len() {
        match tokio::time::timeout(Duration::from_secs(15), socket.next_event()).await.expect("push in time") {
            Ok(Some(PushEvent::Message(push))) => pushed.push(push.msg_id),
            other => panic!("expected a push, got {other:?}"),
        }
    }
    assert_eq!(pushed, sent, "every message, once, in order");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn edits_and_recalls_through_one_instance_are_pushed_from_the_other() {
    let Some((a, b)) = two_instances().await else { return };
    let ben: Client = b.client(BEN).await;
    let mut socket = logged_in_socket(&ben).await;
    let ann = a.client(ANN).await;
    // Each step is pushed before the next is taken (a message recalled
    // before its push is pushed only as the recall).
    let msg_id = ann.send_text(GROUP, ChatType::Group, "draft", &[]).await.unwrap();
    assert!(matches!(next(&mut socket).await, PushEvent::Message(m) if m.msg_id == msg_id && m.delete_timestamp == 0));
    ann.edit_text(GROUP, ChatType::Group, &msg_id, "final", &[]).await.unwrap();
    match next(&mut socket).await {
        PushEvent::Edited(m) => assert_eq!(m.content.unwrap().text, "final"),
        other => panic!("expected the edit, got {other:?}"),
    }
    ann.recall(GROUP, ChatType::Group, &[&msg_id]).await.unwrap();
    match next(&mut socket).await {
        PushEvent::Message(m) => {
            assert!(m.delete_timestamp > 0);
            assert_eq!(m.content.unwrap().text, "Ann 撤回了一条消息");
        }
        other => panic!("expected the recall, got {other:?}"),
    }
    // And both instances' lists agree.
    assert_eq!(entry(&ben, GROUP).await.chat_content, "Ann 撤回了一条消息");
    assert_eq!(entry(&a.client(BEN).await, GROUP).await.unread_count, 0);
    a.shutdown().await;
    b.shutdown().await;
}

/// A service on the same database that keeps no list, as another process
/// would open it: every list it gives is read whole.
async fn uncached(db: &DbUrl) -> yhconv_server::Service {
    open_service(&Config { db: db.clone(), list_cache_mib: 0, ..Config::default() }).await.unwrap()
}

/// `user`'s list through `client` (the instance that cached it) is exactly
/// the list read whole, md5 included.
async fn fresh_on(client: &Client, whole: &yhconv_server::Service, user: &str, step: &str) {
    let served = client.conversation_list(None).await.unwrap();
    let read = whole.conversation_list(Id::parse(user, "user").unwrap()).await.unwrap();
    assert_eq!((served.md5.as_str(), served.total), (read.md5.as_str(), read.total), "{step}: {:?}", served.data);
}

/// Every kind of change, made through instance A right after Ann's list was
/// cached by instance B, shows in the very next list B answers: B never
/// answers a list older than a change committed before the request began.
#[tokio::test]
async fn a_list_cached_on_one_instance_follows_every_change_made_through_the_other() {
    let Some((a, b)) = two_instances().await else { return };
    let whole = uncached(&a.db).await;
    let (ann_a, ann_b, ben_a) = (a.client(ANN).await, b.client(ANN).await, a.client(BEN).await);
    ben_a.send_text(GROUP, ChatType::Group, "hello", &[]).await.unwrap();
    fresh_on(&ann_b, &whole, ANN, "start").await;
    assert_eq!(summary(&ann_b).await, pairs(&[(GROUP, 1)]));

    // Each change is made through A; B lists right after, with no pause.
    for round in 2..=20u64 {
        ben_a.send_text(GROUP, ChatType::Group, &format!("message {round}"), &[]).await.unwrap();
        assert_eq!(summary(&ann_b).await, pairs(&[(GROUP, round)]), "round {round}");
    }
    ben_a.send_text(GROUP, ChatType::Group, "@Ann", &[ANN]).await.unwrap();
    fresh_on(&ann_b, &whole, ANN, "a mention").await;
    assert_eq!(entry(&ann_b, GROUP).await.mention_count, 1);
    ann_a.dismiss_notification(GROUP).await.unwrap();
    fresh_on(&ann_b, &whole, ANN, "read").await;
    assert_eq!(entry(&ann_b, GROUP).await.unread_count, 0);
    ben_a.send_text(ANN, ChatType::User, "hi", &[]).await.unwrap();
    fresh_on(&ann_b, &whole, ANN, "a first direct message").await;
    assert_eq!(list(&ann_b).await[0].chat_id, BEN);
    ann_a.set_no_notify(BEN, true).await.unwrap();
    fresh_on(&ann_b, &whole, ANN, "muted").await;
    assert_eq!(entry(&ann_b, BEN).await.do_not_disturb, 1);
    ann_a.sort_change(GROUP).await.unwrap();
    fresh_on(&ann_b, &whole, ANN, "brought to the top").await;
    assert_eq!(list(&ann_b).await[0].chat_id, GROUP);
    let sent = ben_a.send_text(GROUP, ChatType::Group, "draft", &[]).await.unwrap();
    fresh_on(&ann_b, &whole, ANN, "sent").await;
    ben_a.edit_text(GROUP, ChatType::Group, &sent, "final", &[]).await.unwrap();
    fresh_on(&ann_b, &whole, ANN, "edited").await;
    ben_a.recall(GROUP, ChatType::Group, &[&sent]).await.unwrap();
    fresh_on(&ann_b, &whole, ANN, "recalled").await;
    ann_a.remove_conversation(BEN).await.unwrap();
    fresh_on(&ann_b, &whole, ANN, "removed").await;
    assert!(list(&ann_b).await.iter().all(|c| c.chat_id != BEN));
    let renamed = World::from_json(r#"{"remarks": [{"user": "1001", "target": "2001", "remark": "Our team"}]}"#);
    a.service.import_world(renamed.unwrap()).await.unwrap();
    fresh_on(&ann_b, &whole, ANN, "an identity import").await;
    assert_eq!(entry(&ann_b, GROUP).await.name, "Our team");
    let ben_b = b.client(BEN).await;
    fresh_on(&ben_b, &whole, BEN, "Ben's list").await;
    a.client(BEN).await.leave_group(GROUP).await.unwrap();
    fresh_on(&ben_b, &whole, BEN, "left the group").await;
    assert!(list(&ben_b).await.iter().all(|c| c.chat_id != GROUP));
    let stats = b.service.list_cache_stats().expect("B caches lists");
    assert!(stats.hits + stats.patches > 0, "B answered from its cache: {stats:?}");
    a.shutdown().await;
    b.shutdown().await;
}

/// Waits until `app` holds a list lease: its next list learns the list
/// clock with no round trip.
async fn lease_held(app: &TestApp, client: &Client) {
    for _ in 0..500 {
        let before = app.service.list_clock_stats().at_hand;
        list(client).await;
        if app.service.list_clock_stats().at_hand > before {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the instance never held a list lease");
}

/// While B holds a list lease, its lists learn the list clock with no round
/// trip to the database, and each is still exact right after a change made
/// through A: A answers only once B has handed the change on.
#[tokio::test]
async fn lists_under_a_lease_are_exact_with_no_round_trip() {
    let Some((a, b)) = two_instances().await else { return };
    let whole = uncached(&a.db).await;
    let (ann_a, ann_b, ben_a) = (a.client(ANN).await, b.client(ANN).await, a.client(BEN).await);
    ben_a.send_text(GROUP, ChatType::Group, "hello", &[]).await.unwrap();
    lease_held(&b, &ann_b).await;
    let before = (b.service.list_clock_stats(), b.service.list_cache_stats().unwrap());
    for round in 2..=30u64 {
        ben_a.send_text(GROUP, ChatType::Group, &format!("message {round}"), &[]).await.unwrap();
        assert_eq!(summary(&ann_b).await, pairs(&[(GROUP, round)]), "round {round}");
        if round % 10 == 0 {
            ann_a.dismiss_notification(GROUP).await.unwrap();
            assert_eq!(summary(&ann_b).await, pairs(&[(GROUP, 0)]), "read in round {round}");
            fresh_on(&ann_b, &whole, ANN, "read").await;
            // The unread count starts again from the read.
            for _ in 0..round {
                ben_a.send_text(GROUP, ChatType::Group, "filler", &[]).await.unwrap();
            }
            let filler = round;
            assert_eq!(summary(&ann_b).await, pairs(&[(GROUP, filler)]), "after the read in round {round}");
            ann_a.dismiss_notification(GROUP).await.unwrap();
            for _ in 0..round {
                ben_a.send_text(GROUP, ChatType::Group, "again", &[]).await.unwrap();
            }
        }
    }
    let (clock, cache) = (b.service.list_clock_stats(), b.service.list_cache_stats().unwrap());
    assert!(clock.at_hand > before.0.at_hand, "B's lists used its lease: {clock:?}");
    assert!(cache.hits + cache.patches > before.1.hits + before.1.patches, "and its cache: {cache:?}");
    a.shutdown().await;
    b.shutdown().await;
}

/// A push of a message is never ahead of the list of the instance that
/// pushed it, nor of the writer's: under list leases, Ann lists right after
/// each push reaches her socket on B (B hands the change on before it
/// pushes), and through A, which wrote it (A counts its own changes from
/// their commit), and each list shows the message. (The moment those two
/// rules close is microseconds wide on one machine: this test guards the
/// behaviour, it cannot force that race.)
#[tokio::test]
async fn a_list_right_after_a_push_shows_the_pushed_message() {
    let Some((a, b)) = two_instances().await else { return };
    let (ann_a, ann_b, ben_a) = (a.client(ANN).await, b.client(ANN).await, a.client(BEN).await);
    ben_a.send_text(GROUP, ChatType::Group, "hello", &[]).await.unwrap();
    lease_held(&a, &ann_a).await;
    lease_held(&b, &ann_b).await;
    let mut socket = ann_b.connect_push(ANN, "linux", "on-b").await.unwrap();
    socket.heartbeat().await.unwrap();
    for round in 2..=40u64 {
        let text = format!("message {round}");
        let send = {
            let (ben_a, text) = (ben_a.clone(), text.clone());
            tokio::spawn(async move { ben_a.send_text(GROUP, ChatType::Group, &text, &[]).await.unwrap() })
        };
        while next_text(&mut socket, Duration::from_secs(10)).await.as_deref() != Some(text.as_str()) {}
        let through = if round % 2 == 0 { &ann_b } else { &ann_a };
        assert_eq!(summary(through).await, pairs(&[(GROUP, round)]), "round {round}");
        send.await.unwrap();
    }
    a.shutdown().await;
    b.shutdown().await;
}

/// 100,000 list changes numbered 0 (distinct, so PostgreSQL keeps them
/// all): every feed reads and drops them, in order, before what follows.
async fn burst_ahead_of_the_feeds(admin: &tokio_postgres::Client) {
    admin
        .batch_execute("SELECT pg_notify('yhconv_push', 'list:0:c' || i) FROM generate_series(1, 100000) AS i")
        .await
        .unwrap();
}

/// Writes a lease for `holder` that runs out `lasting` after the database's
/// clock now; when it runs out.
async fn fake_lease(admin: &tokio_postgres::Client, holder: i64, lasting: &str) -> std::time::SystemTime {
    admin
        .query_one(
            "INSERT INTO list_lease (holder, expires_at) VALUES ($1, now() + $2::text::interval) RETURNING expires_at",
            &[&holder, &lasting],
        )
        .await
        .unwrap()
        .get(0)
}

/// The database's clock.
async fn database_now(admin: &tokio_postgres::Client) -> std::time::SystemTime {
    admin.query_one("SELECT clock_timestamp()", &[]).await.unwrap().get(0)
}

/// A list change answers only once every list lease in force when it
/// committed was handed the change or ran out: here a holder that never
/// says anything (an instance gone without a word), whose lease the change
/// outwaits.
#[tokio::test]
async fn a_change_outwaits_the_lease_of_a_silent_holder() {
    let Some((a, b)) = two_instances().await else { return };
    let ben_a = a.client(BEN).await;
    let admin = database_client(&a).await;
    let run_outs = "yhconv_list_lease_run_outs_total";
    let ran_out_before = a.metric(run_outs).await;
    let expires = fake_lease(&admin, 42, "600 milliseconds").await;
    ben_a.send_text(GROUP, ChatType::Group, "after the silent lease", &[]).await.unwrap();
    let now = database_now(&admin).await;
    assert!(now >= expires, "the send answered before the silent holder's lease ran out");
    // `/metrics` counts the wait, and that it ran to the lease's end.
    assert!(a.metric(run_outs).await > ran_out_before);
    assert!(a.metric("yhconv_list_lease_wait_seconds_total").await > 0.0);
    assert!(a.metric("yhconv_list_lease_waits_total").await >= 1.0);
    // A holder that lets go is not waited for.
    let expires = fake_lease(&admin, 43, "60 seconds").await;
    admin.batch_execute("SELECT pg_notify('yhconv_lease', '43:released')").await.unwrap();
    ben_a.send_text(GROUP, ChatType::Group, "after the lease was let go", &[]).await.unwrap();
    let now = database_now(&admin).await;
    assert!(now < expires, "the send waited for a lease its holder had let go");
    a.shutdown().await;
    b.shutdown().await;
}

/// An instance that shuts down gives its list lease up first: the changes
/// made through the other right after do not wait for it to run out (a
/// rolling restart would otherwise hold up every instance's writes for up
/// to a lease).
#[tokio::test]
async fn an_instance_that_shuts_down_lets_its_lease_go_first() {
    let Some((a, b)) = two_instances().await else { return };
    let (ann_a, ann_b) = (a.client(ANN).await, b.client(ANN).await);
    lease_held(&a, &ann_a).await;
    lease_held(&b, &ann_b).await;
    let admin = database_client(&a).await;
    let leases = || async { admin.query_one("SELECT count(*) FROM list_lease", &[]).await.unwrap().get::<_, i64>(0) };
    assert_eq!(leases().await, 2);
    let run_outs = "yhconv_list_lease_run_outs_total";
    let ran_out_before = a.metric(run_outs).await;
    b.shutdown().await;
    assert_eq!(leases().await, 1, "B's lease is gone once B has shut down");
    a.client(BEN).await.send_text(GROUP, ChatType::Group, "after B left", &[]).await.unwrap();
    assert_eq!(a.metric(run_outs).await, ran_out_before, "the send waited for B's lease to run out");
    a.shutdown().await;
}

/// While B's feed is disconnected (and until it has caught up), B does not
/// trust its cached lists: changes made through A meanwhile show at once.
#[tokio::test]
async fn lists_stay_fresh_while_an_instances_feed_is_cut() {
    let Some((a, b)) = two_instances().await else { return };
    let whole = uncached(&a.db).await;
    let (ann_b, ben_a) = (b.client(ANN).await, a.client(BEN).await);
    ben_a.send_text(GROUP, ChatType::Group, "before", &[]).await.unwrap();
    fresh_on(&ann_b, &whole, ANN, "cached").await;
    let admin = database_client(&b).await;
    for round in 2..=6u64 {
        cut_feeds(&admin).await;
        ben_a.send_text(GROUP, ChatType::Group, &format!("while cut {round}"), &[]).await.unwrap();
        assert_eq!(summary(&ann_b).await, pairs(&[(GROUP, round)]), "round {round}");
        fresh_on(&ann_b, &whole, ANN, "while cut").await;
    }
    // Once the feeds are back, B caches again and still follows A.
    let mut round = 7;
    loop {
        ben_a.send_text(GROUP, ChatType::Group, &format!("after {round}"), &[]).await.unwrap();
        assert_eq!(summary(&ann_b).await, pairs(&[(GROUP, round)]), "round {round}");
        let before = b.service.list_cache_stats().unwrap();
        list(&ann_b).await;
        if b.service.list_cache_stats().unwrap().hits > before.hits {
            break;
        }
        assert!(round < 200, "B's feed came back and B caches again");
        tokio::time::sleep(Duration::from_millis(50)).await;
        round += 1;
    }
    a.shutdown().await;
    b.shutdown().await;
}

/// A change committed through A while B's feed is far behind (a burst of
/// notifications ahead of it, which B's feed must read first) still shows
/// in B's next list: B holds a list lease, so A answers only once B's feed
/// has handed the change on (without the lease, B would see from the list
/// clock that its feed has not and read the list from the database).
#[tokio::test]
async fn a_list_right_after_a_change_is_fresh_while_the_feed_lags() {
    let Some((a, b)) = two_instances().await else { return };
    let whole = uncached(&a.db).await;
    let (ann_b, ben_a) = (b.client(ANN).await, a.client(BEN).await);
    lease_held(&b, &ann_b).await;
    let admin = database_client(&b).await;
    for round in 1..=5u64 {
        ben_a.send_text(GROUP, ChatType::Group, &format!("settled {round}"), &[]).await.unwrap();
        fresh_on(&ann_b, &whole, ANN, "cached").await;
        burst_ahead_of_the_feeds(&admin).await;
        ben_a.send_text(GROUP, ChatType::Group, &format!("behind the burst {round}"), &[]).await.unwrap();
        assert_eq!(summary(&ann_b).await, pairs(&[(GROUP, 2 * round)]), "round {round}");
    }
    a.shutdown().await;
    b.shutdown().await;
}

/// A writer answers without waiting for its own instance's feed, and that
/// instance still counts the change at once: with one instance under a
/// list lease and its feed far behind (a burst of notifications ahead of
/// the change), a list right after the send shows it.
#[tokio::test]
async fn an_instances_own_change_shows_in_its_next_list_while_its_feed_lags() {
    let Some((a, b)) = two_instances().await else { return };
    b.shutdown().await;
    let (ann_a, ben_a) = (a.client(ANN).await, a.client(BEN).await);
    ben_a.send_text(GROUP, ChatType::Group, "hello", &[]).await.unwrap();
    lease_held(&a, &ann_a).await;
    let admin = database_client(&a).await;
    for round in 1..=5u64 {
        burst_ahead_of_the_feeds(&admin).await;
        ben_a.send_text(GROUP, ChatType::Group, &format!("behind the burst {round}"), &[]).await.unwrap();
        assert_eq!(summary(&ann_a).await, pairs(&[(GROUP, round + 1)]), "round {round}");
    }
    a.shutdown().await;
}

async fn next(socket: &mut yhconv_client::PushSocket) -> PushEvent {
    tokio::time::timeout(Duration::from_secs(10), socket.next_event()).await.expect("in time").unwrap().unwrap()
}

/// Ben's socket on the instance `client` talks to, logged in (its first
/// heartbeat answered).
async fn logged_in_socket(client: &Client) -> yhconv_client::PushSocket {
    let mut socket = client.connect_push(BEN, "linux", "on-b").await.unwrap();
    socket.heartbeat().await.unwrap();
    let ack = tokio::time::timeout(Duration::from_secs(10), socket.next_event()).await.unwrap().unwrap();
    assert!(matches!(ack, Some(PushEvent::HeartbeatAck { .. })));
    socket
}

/// Memberships changed through instance A reach B's push hub before the
/// next message: a kick through A stops Cat's pushes on B at once, a join
/// through A brings them back at once, whether B's index has loaded Cat's
/// groups again or not.
#[tokio::test]
async fn group_pushes_on_one_instance_follow_memberships_changed_through_the_other() {
    let Some((a, b)) = two_instances().await else { return };
    let ann = a.client(ANN).await;
    let mut ben_on_b = acked_push(&b.client(BEN).await, BEN, "ben-on-b").await;
    let mut cat_on_b = acked_push(&b.client(CAT).await, CAT, "cat-on-b").await;
    b.online_index_loaded().await;
    let (wait, quiet) = (Duration::from_secs(10), Duration::from_millis(300));
    ann.send_text(GROUP, ChatType::Group, "all here", &[]).await.unwrap();
    assert_eq!(next_text(&mut cat_on_b, wait).await.as_deref(), Some("all here"));
    assert_eq!(next_text(&mut ben_on_b, wait).await.as_deref(), Some("all here"));
    for loaded in [false, true] {
        ann.remove_member(GROUP, CAT).await.unwrap();
        if loaded {
            b.online_index_loaded().await;
        }
        ann.send_text(GROUP, ChatType::Group, "after the kick", &[]).await.unwrap();
        // Ben's copy comes from the same turn of B's hub as Cat's would.
        assert_eq!(next_text(&mut ben_on_b, wait).await.as_deref(), Some("after the kick"));
        assert_eq!(next_text(&mut cat_on_b, quiet).await, None, "loaded: {loaded}: no push after a kick");
        ann.invite(GROUP, CAT, ChatType::User).await.unwrap();
        if loaded {
            b.online_index_loaded().await;
        }
        ann.send_text(GROUP, ChatType::Group, "back again", &[]).await.unwrap();
        assert_eq!(next_text(&mut cat_on_b, wait).await.as_deref(), Some("back again"), "loaded: {loaded}");
        assert_eq!(next_text(&mut ben_on_b, wait).await.as_deref(), Some("back again"));
    }
    // A leave through A, Cat's own.
    a.client(CAT).await.delete_friend(GROUP, ChatType::Group).await.unwrap();
    ann.send_text(GROUP, ChatType::Group, "after the leave", &[]).await.unwrap();
    assert_eq!(next_text(&mut ben_on_b, wait).await.as_deref(), Some("after the leave"));
    assert_eq!(next_text(&mut cat_on_b, quiet).await, None, "no push after a leave");
    a.shutdown().await;
    b.shutdown().await;
}

/// A send through one instance follows gags, renames and removals made
/// through the other at once, though that instance keeps what its last
/// send by the same user was decided on: the write checks it again.
#[tokio::test]
async fn sends_through_one_instance_follow_gags_renames_and_kicks_made_through_the_other() {
    let Some((a, b)) = two_instances().await else { return };
    let (cat_on_a, cat_on_b, ann_on_b) = (a.client(CAT).await, b.client(CAT).await, b.client(ANN).await);
    cat_on_a.send_text(GROUP, ChatType::Group, "kept", &[]).await.unwrap();
    ann_on_b.gag_member(GROUP, CAT, 60).await.unwrap();
    let gagged = (-1, "you are gagged in this group".to_owned());
    assert_eq!(api_error(cat_on_a.send_text(GROUP, ChatType::Group, "muted", &[]).await), gagged);
    ann_on_b.gag_member(GROUP, CAT, 0).await.unwrap();
    cat_on_a.send_text(GROUP, ChatType::Group, "free", &[]).await.unwrap();
    cat_on_b.edit_nickname("Catherine").await.unwrap();
    cat_on_a.send_text(GROUP, ChatType::Group, "renamed", &[]).await.unwrap();
    assert_eq!(entry(&ann_on_b, GROUP).await.chat_content, "Catherine: renamed", "the preview names her anew");
    ann_on_b.remove_member(GROUP, CAT).await.unwrap();
    let kicked = (-1, format!("not a member of group {GROUP}"));
    assert_eq!(api_error(cat_on_a.send_text(GROUP, ChatType::Group, "gone", &[]).await), kicked);
    let history = ann_on_b.list_messages(GROUP, ChatType::Group, 10, None).await.unwrap();
    let texts: Vec<String> = history.iter().map(|m| m.content.as_ref().unwrap().text.clone()).collect();
    assert_eq!(texts, ["renamed", "free", "kept"], "newest first");
    // A's `/metrics`: the gag, the rename and the kick each made a send
    // decided on kept facts be decided again; every send but the first
    // found its chat kept (the one after the lifted gag was then refused
    // on it, so decided again on fresh facts before the store saw it).
    assert_eq!(a.metric("yhconv_sends_decided_again_total").await, 3.0);
    assert_eq!(a.metric("yhconv_send_targets_found_kept_total").await, 4.0);
    a.shutdown().await;
    b.shutdown().await;
}
