//! The storage contract, written once and run against every engine: SQLite
//! always, PostgreSQL when `YHCONV_TEST_POSTGRES` names a server (CI's
//! PostgreSQL stage; `scripts/with-postgres.sh cargo test --test
//! store_contract`). Each check names the `Store` method it covers, so an
//! engine that drifts fails a test that says where; error texts are
//! compared exactly, so both engines say the same thing for the same
//! mistake.

mod common;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use yhconv_proto::{ChatType, ContentType};
use yhconv_server::config::{PgSettings, SqliteSync};
use yhconv_server::domain::event::{ChatRef, Event, MessageKey, SocketOrigin};
use yhconv_server::domain::ids::Id;
use yhconv_server::domain::list_change::{ListChange, ListClock, ListFact, ListSink};
use yhconv_server::domain::model::*;
use yhconv_server::domain::store::Store;
use yhconv_server::store::postgres::PostgresStore;
use yhconv_server::store::sqlite::SqliteStore;

const ANN: Id = id(1001);
const BEN: Id = id(1002);
const CAT: Id = id(1003);
const GROUP: Id = id(2001);
const BOT: Id = id(3001);

const fn id(n: i64) -> Id {
    Id::from_raw(n)
}

fn entity(id: Id, kind: ChatType, name: &str) -> Entity {
    Entity {
        id,
        kind,
        name: name.into(),
        avatar_url: format!("https://a/{id}.png"),
        avatar_id: id.get(),
        certification_level: 0,
    }
}

fn user(id: Id, name: &str, email: &str) -> UserRecord {
    UserRecord {
        entity: entity(id, ChatType::User, name),
        email: Some(email.into()),
        password_hash: Some("phc".into()),
    }
}

/// Ann, Ben, Cat; Ann owns the group, Ben is in it; a bot; Ann calls Ben "Benny".
fn world() -> IdentityBatch {
    IdentityBatch {
        users: vec![user(ANN, "Ann", "ann@x.cn"), user(BEN, "Ben", "ben@x.cn"), user(CAT, "Cat", "cat@x.cn")],
        groups: vec![GroupRecord {
            entity: entity(GROUP, ChatType::Group, "Team"),
            owner: Some(ANN),
            members: vec![BEN],
            admins: vec![],
        }],
        bots: vec![entity(BOT, ChatType::Bot, "Helper")],
        remarks: vec![RemarkRecord { user: ANN, target: BEN, remark: "Benny".into() }],
        join_at: JoinAt::Latest,
    }
}

fn text(sender: Id, msg_id: &str, preview: &str, mentions: Vec<MentionTarget>) -> NewMessage {
    NewMessage {
        sender,
        msg_id: msg_id.into(),
        content_type: ContentType::Text,
        content: vec![0x0a, 1, b'x'],
        quote_msg_id: String::new(),
        preview: preview.into(),
        mentions,
        sent_ms: 1_000 + msg_id.len() as i64,
        read_by_sender: true,
        // A chat with oneself, where no draft ever is (the drafts test
        // names a real one).
        sender_peer: sender,
        // Not gagged, and a preview that names nobody.
        facts: SendFacts::default(),
    }
}

/// A store of every engine available, each on a fresh database, with its
/// feed started and known to be delivering.
async fn engines() -> Vec<(&'static str, Arc<dyn Store>, mpsc::Receiver<Event>, tempfile::TempDir)> {
    let mut out = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("c.db"), 2, SqliteSync::Normal).unwrap());
    out.push(("sqlite", sqlite, dir));
    if let Some(admin) = common::postgres_admin_url() {
        let url = common::fresh_postgres_db(&admin).await;
        let pg: Arc<dyn Store> = Arc::new(PostgresStore::connect(&url, &PgSettings::default()).await.unwrap());
        out.push(("postgres", pg, tempfile::tempdir().unwrap()));
    } else {
        eprintln!("PostgreSQL half skipped: YHCONV_TEST_POSTGRES is not set (run under scripts/with-postgres.sh)");
    }
    let mut ready = Vec::new();
    for (name, store, dir) in out {
        // Room for every event a test emits: nothing here waits for the reader.
        let (sink, mut events) = mpsc::channel(1 << 16);
        store.start_feed(sink);
        store.apply_identities(world()).await.unwrap();
        feed_is_listening(store.as_ref(), &mut events).await;
        ready.push((name, store, events, dir));
    }
    ready
}

/// Waits until the feed delivers (PostgreSQL's LISTEN connects on its own
/// time): revokes throwaway tokens until a logout comes back, then drains.
async fn feed_is_listening(store: &dyn Store, events: &mut mpsc::Receiver<Event>) {
    for attempt in 0..200u8 {
        let hash = [attempt; 32];
        let token = NewToken { hash, user: ANN, device_id: "probe".into(), platform: "linux".into(), created_ms: 1 };
        store.insert_token(token).await.unwrap();
        assert!(store.delete_token(hash).await.unwrap());
        if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(100), events.recv()).await {
            while events.try_recv().is_ok() {}
            return;
        }
    }
    panic!("the feed never delivered");
}

/// The next event within a few seconds.
async fn next_event(events: &mut mpsc::Receiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(10), events.recv()).await.expect("an event in time").expect("feed open")
}

async fn row(store: &dyn Store, user: Id, peer: Id) -> ConversationRow {
    let rows = store.conversations(user).await.unwrap();
    rows.into_iter().find(|r| r.peer.id == peer).unwrap_or_else(|| panic!("{user} has no row for {peer}"))
}

/// One user's groups, read through the batch read.
async fn groups_of(store: &dyn Store, user: Id) -> Vec<Id> {
    let pairs = store.groups_of(vec![user]).await.unwrap();
    assert!(pairs.iter().all(|&(of, _)| of == user), "only the user asked about: {pairs:?}");
    pairs.into_iter().map(|(_, group)| group).collect()
}

async fn position(store: &dyn Store, user: Id, peer: Id) -> Option<ReadPosition> {
    store.read_position(user, peer).await.unwrap().expect("peer exists").1
}

async fn conflict(store: &dyn Store, batch: IdentityBatch) -> String {
    match store.apply_identities(batch).await {
        Err(yhconv_server::Error::Conflict(text)) => text,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn identities() {
    for (engine, store, _events, _dir) in engines().await {
        let store = store.as_ref();
        // apply_identities: counts, and idempotent.
        let epoch = store.identity_epoch().await.unwrap();
        let stats = store.apply_identities(world()).await.unwrap();
        assert_eq!(stats, ImportStats { users: 3, groups: 1, memberships: 2, bots: 1, remarks: 1 }, "{engine}");
        assert!(store.identity_epoch().await.unwrap() > epoch, "{engine}: identity_epoch moves");
        // entity
        assert_eq!(store.entity(BOT).await.unwrap(), Some(entity(BOT, ChatType::Bot, "Helper")), "{engine}");
        assert_eq!(store.entity(id(999)).await.unwrap(), None, "{engine}");
        // profile: users only
        let ann = store.profile(ANN).await.unwrap().expect("Ann's profile");
        assert_eq!(
            (ann.entity.name.as_str(), ann.email.as_str(), ann.phone.as_str()),
            ("Ann", "ann@x.cn", ""),
            "{engine}"
        );
        assert_eq!(store.profile(GROUP).await.unwrap(), None, "{engine}");
        // credentials: exact
        assert_eq!(store.credentials("ben@x.cn").await.unwrap(), Some((BEN, Some("phc".into()))), "{engine}");
        assert_eq!(store.credentials("nobody@x.cn").await.unwrap(), None, "{engine}");
        // Conflicts, worded the same by every engine.
        let mut batch = IdentityBatch::default();
        batch.groups.push(GroupRecord {
            entity: entity(id(2002), ChatType::Group, "G"),
            owner: Some(id(9)),
            members: vec![],
            admins: vec![],
        });
        assert_eq!(conflict(store, batch).await, "owner 9 of group 2002 does not exist", "{engine}");
        let mut batch = IdentityBatch::default();
        batch.groups.push(GroupRecord {
            entity: entity(id(2002), ChatType::Group, "G"),
            owner: None,
            members: vec![BOT],
            admins: vec![],
        });
        assert_eq!(conflict(store, batch).await, "member 3001 of group 2002 is not a user", "{engine}");
        let batch = IdentityBatch { bots: vec![entity(ANN, ChatType::Bot, "B")], ..Default::default() };
        assert_eq!(conflict(store, batch).await, "id 1001 is already used by something that is not a bot", "{engine}");
        let batch = IdentityBatch { users: vec![user(id(1004), "Dan", "ann@x.cn")], ..Default::default() };
        assert_eq!(conflict(store, batch).await, "email ann@x.cn is already used by another user", "{engine}");
        let batch = IdentityBatch {
            remarks: vec![RemarkRecord { user: ANN, target: id(77), remark: "?".into() }],
            ..Default::default()
        };
        assert_eq!(conflict(store, batch).await, "remark target 77 does not exist", "{engine}");
        assert_eq!(store.entity(id(1004)).await.unwrap(), None, "{engine}: a failed batch changes nothing");
        // health, shared
        store.health().await.unwrap();
        assert_eq!(store.shared(), engine == "postgres");
    }
}

#[tokio::test]
async fn tokens_and_the_logout_event() {
    for (engine, store, mut events, _dir) in engines().await {
        let hash = [7u8; 32];
        let token = NewToken { hash, user: BEN, device_id: "d".into(), platform: "linux".into(), created_ms: 5 };
        store.insert_token(token).await.unwrap();
        assert_eq!(store.token_user(hash).await.unwrap(), Some(BEN), "{engine}");
        assert!(store.delete_token(hash).await.unwrap(), "{engine}");
        assert_eq!(next_event(&mut events).await, Event::LoggedOut(hash), "{engine}: delete_token emits");
        assert!(!store.delete_token(hash).await.unwrap(), "{engine}: gone");
        assert_eq!(store.token_user(hash).await.unwrap(), None, "{engine}");
    }
}

#[tokio::test]
async fn conversations_open_and_change() {
    for (engine, store, _events, _dir) in engines().await {
        let store = store.as_ref();
        // read_position: unknown, no conversation, member.
        assert!(store.read_position(ANN, id(999)).await.unwrap().is_none(), "{engine}");
        assert_eq!(position(store, ANN, CAT).await, None, "{engine}");
        let in_group = position(store, BEN, GROUP).await.expect("Ben is in the group");
        assert_eq!((in_group.read_seq, in_group.last_seq), (0, 0), "{engine}");
        assert_eq!(position(store, CAT, GROUP).await, None, "{engine}: Cat is not");
        // change_view without a conversation: None.
        assert_eq!(store.change_view(ANN, CAT, ViewChange::MarkRead).await.unwrap(), None, "{engine}");
        // open_conversation: a direct chat gives both users a row; idempotent.
        let chat = store.open_conversation(ANN, &entity(CAT, ChatType::User, "Cat")).await.unwrap();
        assert_eq!(store.open_conversation(ANN, &entity(CAT, ChatType::User, "Cat")).await.unwrap(), chat, "{engine}");
        assert_eq!(store.open_conversation(CAT, &entity(ANN, ChatType::User, "Ann")).await.unwrap(), chat, "{engine}");
        assert_eq!(position(store, CAT, ANN).await.map(|p| p.chat), Some(chat), "{engine}");
        // A bot chat is the user's alone.
        let bot_chat = store.open_conversation(BEN, &entity(BOT, ChatType::Bot, "Helper")).await.unwrap();
        assert_ne!(bot_chat, chat, "{engine}");
        assert_eq!(position(store, ANN, BOT).await, None, "{engine}");
        // change_view: each change, and whether it changed anything.
        assert_eq!(store.change_view(ANN, CAT, ViewChange::MarkRead).await.unwrap(), Some(false), "{engine}");
        assert_eq!(
            store.change_view(ANN, CAT, ViewChange::Touch { now_ms: 77 }).await.unwrap(),
            Some(true),
            "{engine}"
        );
        assert_eq!(store.change_view(ANN, CAT, ViewChange::DoNotDisturb(true)).await.unwrap(), Some(true), "{engine}");
        let r = row(store, ANN, CAT).await;
        assert_eq!((r.sort_ms, r.do_not_disturb, r.hidden_seq, r.last_seq), (77, true, None, 0), "{engine}");
        store.append_message(chat, text(CAT, "m1", "hi", vec![])).await.unwrap();
        assert_eq!(store.change_view(ANN, CAT, ViewChange::HideAndMarkRead).await.unwrap(), Some(true), "{engine}");
        let r = row(store, ANN, CAT).await;
        assert_eq!((r.read_seq, r.hidden_seq), (1, Some(1)), "{engine}: hidden at the last message, read");
        store.change_view(ANN, CAT, ViewChange::Touch { now_ms: 88 }).await.unwrap();
        assert_eq!(row(store, ANN, CAT).await.hidden_seq, None, "{engine}: touch unhides");
        store.append_message(chat, text(CAT, "m2", "again", vec![])).await.unwrap();
        assert_eq!(store.change_view(ANN, CAT, ViewChange::MarkRead).await.unwrap(), Some(true), "{engine}");
        assert_eq!(row(store, ANN, CAT).await.read_seq, 2, "{engine}");
        // conversations: every member row, silent group included, with the remark.
        let rows = store.conversations(ANN).await.unwrap();
        let mut peers: Vec<i64> = rows.iter().map(|r| r.peer.id.get()).collect();
        peers.sort_unstable();
        assert_eq!(peers, [1003, 2001], "{engine}");
        let ben = store.open_conversation(ANN, &entity(BEN, ChatType::User, "Ben")).await.unwrap();
        assert_ne!(ben, chat);
        assert_eq!(row(store, ANN, BEN).await.remark.as_deref(), Some("Benny"), "{engine}");
        assert_eq!(row(store, BEN, ANN).await.remark, None, "{engine}");
    }
}

#[tokio::test]
async fn messages_mentions_and_the_message_event() {
    for (engine, store, mut events, _dir) in engines().await {
        let store = store.as_ref();
        let group = position(store, ANN, GROUP).await.unwrap().chat;
        // append_message: new, emitted, sender's read position advanced.
        let first = text(ANN, "g1", "Ann: hi @Ben", vec![MentionTarget::User(BEN)]);
        assert_eq!(store.append_message(group, first.clone()).await.unwrap(), Appended::New { seq: 1 }, "{engine}");
        assert_eq!(next_event(&mut events).await, Event::Message(MessageKey { chat: group, seq: 1 }), "{engine}");
        assert_eq!(position(store, ANN, GROUP).await.unwrap().read_seq, 1, "{engine}: read_by_sender");
        // A retry changes nothing and emits nothing; another sender's msg_id is taken.
        assert_eq!(store.append_message(group, first).await.unwrap(), Appended::Retry { seq: 1, sent_ms: 1_002 });
        assert_eq!(store.append_message(group, text(BEN, "g1", "x", vec![])).await.unwrap(), Appended::IdTaken);
        let both = vec![MentionTarget::User(BEN), MentionTarget::All];
        let mut unread = text(ANN, "g2", "Ann: all", both);
        unread.read_by_sender = false;
        assert_eq!(store.append_message(group, unread).await.unwrap(), Appended::New { seq: 2 }, "{engine}");
        assert_eq!(next_event(&mut events).await, Event::Message(MessageKey { chat: group, seq: 2 }), "{engine}");
        assert_eq!(position(store, ANN, GROUP).await.unwrap().read_seq, 1, "{engine}: not read_by_sender");
        // conversations: the preview, and unread mentions (one per message).
        let r = row(store, BEN, GROUP).await;
        assert_eq!(
            (r.last_seq, r.read_seq, r.preview.as_str(), r.last_message_ms),
            (2, 0, "Ann: all", 1_002),
            "{engine}"
        );
        assert_eq!(r.mention_count, 2, "{engine}");
        assert_eq!(r.first_mention, Some(MentionRow { seq: 1, mentioner_id: ANN, mentioner_name: "Ann".into() }));
        store.change_view(BEN, GROUP, ViewChange::MarkRead).await.unwrap();
        let r = row(store, BEN, GROUP).await;
        assert_eq!((r.mention_count, r.first_mention), (0, None), "{engine}: read mentions no longer count");
        // messages: a window from either end; message_seq.
        let window = |after, up_to, limit, newest_first| SeqWindow { after, up_to, limit, newest_first };
        let all = store.messages(group, window(0, i64::MAX, 10, true)).await.unwrap();
        let seqs: Vec<i64> = all.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [2, 1], "{engine}");
        assert_eq!((all[1].msg_id.as_str(), all[1].sender.name.as_str()), ("g1", "Ann"), "{engine}");
        assert_eq!((all[1].content_type, all[1].content.as_slice()), (1, [0x0a, 1, b'x'].as_slice()), "{engine}");
        let seqs = |msgs: Vec<StoredMessage>| msgs.iter().map(|m| m.seq).collect::<Vec<_>>();
        assert_eq!(seqs(store.messages(group, window(0, i64::MAX, 1, true)).await.unwrap()), [2], "{engine}");
        assert_eq!(seqs(store.messages(group, window(0, i64::MAX, 1, false)).await.unwrap()), [1], "{engine}");
        assert_eq!(seqs(store.messages(group, window(1, i64::MAX, 9, false)).await.unwrap()), [2], "{engine}");
        assert_eq!(seqs(store.messages(group, window(0, 1, 9, true)).await.unwrap()), [1], "{engine}");
        assert!(store.messages(group, window(2, i64::MAX, 9, false)).await.unwrap().is_empty(), "{engine}");
        assert_eq!(store.message_seq(group, "g2").await.unwrap(), Some(2), "{engine}");
        assert_eq!(store.message_seq(group, "nope").await.unwrap(), None, "{engine}");
        // pushed_message: the chat as the sender addressed it.
        let pushed = store.pushed_message(MessageKey { chat: group, seq: 2 }).await.unwrap().unwrap();
        assert_eq!((pushed.peer.id, pushed.message.msg_id.as_str()), (GROUP, "g2"), "{engine}");
        // ... with whether the group is dismissed and the identity epoch.
        let epoch = store.identity_epoch().await.unwrap();
        assert_eq!((pushed.peer_dismissed, pushed.identity_epoch), (false, epoch), "{engine}");
        let direct = store.open_conversation(BEN, &entity(ANN, ChatType::User, "Ann")).await.unwrap();
        store.append_message(direct, text(BEN, "d1", "hey", vec![])).await.unwrap();
        let pushed = store.pushed_message(MessageKey { chat: direct, seq: 1 }).await.unwrap().unwrap();
        assert_eq!((pushed.peer.id, pushed.message.sender.id), (ANN, BEN), "{engine}");
        store.append_message(direct, text(ANN, "d2", "ho", vec![])).await.unwrap();
        let pushed = store.pushed_message(MessageKey { chat: direct, seq: 2 }).await.unwrap().unwrap();
        assert_eq!((pushed.peer.id, pushed.message.sender.id), (BEN, ANN), "{engine}");
        let bot = store.open_conversation(ANN, &entity(BOT, ChatType::Bot, "Helper")).await.unwrap();
        store.append_message(bot, text(ANN, "b1", "/help", vec![])).await.unwrap();
        let pushed = store.pushed_message(MessageKey { chat: bot, seq: 1 }).await.unwrap().unwrap();
        assert_eq!(pushed.peer.id, BOT, "{engine}");
        assert_eq!(store.pushed_message(MessageKey { chat: bot, seq: 9 }).await.unwrap(), None, "{engine}");
        assert_eq!(store.pushed_message(MessageKey { chat: ChatRef(999_999), seq: 1 }).await.unwrap(), None);
    }
}

#[tokio::test]
async fn members_and_where_joiners_start() {
    for (engine, store, _events, _dir) in engines().await {
        let store = store.as_ref();
        let group = position(store, ANN, GROUP).await.unwrap().chat;
        store.append_message(group, text(ANN, "j1", "before", vec![])).await.unwrap();
        // Many users, to cover both ways an engine may answer members_among.
        let many: Vec<UserRecord> = (0..300).map(|k| user(id(5000 + k), "U", &format!("u{k}@x.cn"))).collect();
        let members: Vec<Id> = many.iter().map(|u| u.entity.id).collect();
        let batch = IdentityBatch {
            users: many,
            groups: vec![GroupRecord {
                entity: entity(GROUP, ChatType::Group, "Team"),
                owner: None,
                members: members.clone(),
                admins: vec![],
            }],
            join_at: JoinAt::Latest,
            ..Default::default()
        };
        store.apply_identities(batch).await.unwrap();
        assert_eq!(position(store, id(5000), GROUP).await.unwrap().read_seq, 1, "{engine}: JoinAt::Latest");
        let batch = IdentityBatch {
            groups: vec![GroupRecord {
                entity: entity(GROUP, ChatType::Group, "Team"),
                owner: None,
                members: vec![CAT],
                admins: vec![],
            }],
            join_at: JoinAt::Start,
            ..Default::default()
        };
        store.apply_identities(batch).await.unwrap();
        assert_eq!(position(store, CAT, GROUP).await.unwrap().read_seq, 0, "{engine}: JoinAt::Start");
        for asked in [vec![ANN, BOT, id(5001), id(4000)], members.iter().copied().chain([BOT, id(4000)]).collect()] {
            let mut found = store.members_among(GROUP, asked.clone()).await.unwrap();
            found.sort_unstable();
            let mut expected: Vec<Id> = asked.into_iter().filter(|u| *u == ANN || u.get() >= 5000).collect();
            expected.sort_unstable();
            assert_eq!(found, expected, "{engine}");
        }
    }
}

#[tokio::test]
async fn drafts_and_the_draft_event() {
    for (engine, store, mut events, _dir) in engines().await {
        let store = store.as_ref();
        let origin = SocketOrigin { instance: 9, socket: 4 };
        assert!(store.drafts(ANN).await.unwrap().is_empty(), "{engine}");
        // set_draft: stored, replaced (not appended), announced with its origin.
        store.set_draft(ANN, BEN, "草稿 one".into(), 10, origin).await.unwrap();
        assert_eq!(next_event(&mut events).await, Event::Draft { user: ANN, peer: BEN, origin }, "{engine}");
        store.set_draft(ANN, BEN, "two".into(), 20, origin).await.unwrap();
        next_event(&mut events).await;
        store.set_draft(ANN, GROUP, "three".into(), 30, SocketOrigin::NONE).await.unwrap();
        next_event(&mut events).await;
        assert_eq!(store.draft(ANN, BEN).await.unwrap().as_deref(), Some("two"), "{engine}");
        let mut all = store.drafts(ANN).await.unwrap();
        all.sort();
        assert_eq!(all, vec![(BEN, "two".to_owned()), (GROUP, "three".to_owned())], "{engine}");
        assert!(store.drafts(BEN).await.unwrap().is_empty(), "{engine}: per user");
        // An empty draft deletes it, and is announced too.
        store.set_draft(ANN, GROUP, String::new(), 40, origin).await.unwrap();
        assert_eq!(next_event(&mut events).await, Event::Draft { user: ANN, peer: GROUP, origin }, "{engine}");
        assert_eq!(store.draft(ANN, GROUP).await.unwrap(), None, "{engine}");
        // A message from Ann to Ben deletes her draft there in its
        // transaction, announced (from no socket) after the message; the next
        // one finds none and announces only itself. A retry changes nothing.
        let direct = store.open_conversation(ANN, &entity(BEN, ChatType::User, "Ben")).await.unwrap();
        let to_ben = |msg_id| NewMessage { sender_peer: BEN, ..text(ANN, msg_id, "hi", vec![]) };
        store.append_message(direct, to_ben("s1")).await.unwrap();
        assert_eq!(next_event(&mut events).await, Event::Message(MessageKey { chat: direct, seq: 1 }), "{engine}");
        let cleared = Event::Draft { user: ANN, peer: BEN, origin: SocketOrigin::NONE };
        assert_eq!(next_event(&mut events).await, cleared, "{engine}");
        assert!(store.drafts(ANN).await.unwrap().is_empty(), "{engine}");
        store.set_draft(ANN, BEN, "kept".into(), 50, origin).await.unwrap();
        next_event(&mut events).await;
        assert_eq!(
            store.append_message(direct, to_ben("s1")).await.unwrap(),
            Appended::Retry { seq: 1, sent_ms: 1_002 }
        );
        assert_eq!(store.draft(ANN, BEN).await.unwrap().as_deref(), Some("kept"), "{engine}: a retry keeps it");
        store.set_draft(ANN, BEN, String::new(), 60, origin).await.unwrap();
        next_event(&mut events).await;
        store.append_message(direct, to_ben("s2")).await.unwrap();
        assert_eq!(next_event(&mut events).await, Event::Message(MessageKey { chat: direct, seq: 2 }), "{engine}");
        assert!(tokio::time::timeout(Duration::from_millis(300), events.recv()).await.is_err(), "{engine}: no event");
    }
}

#[tokio::test]
async fn pins() {
    for (engine, store, _events, _dir) in engines().await {
        let store = store.as_ref();
        assert!(store.pins(ANN).await.unwrap().is_empty(), "{engine}");
        // add_pin: an id below 2^31, the same id again, the same place.
        let ben = store.add_pin(ANN, BEN, 10_000).await.unwrap();
        let group = store.add_pin(ANN, GROUP, 20_000).await.unwrap();
        assert!(ben > 0 && ben < i64::from(i32::MAX) && group != ben, "{engine}");
        assert_eq!(store.add_pin(ANN, BEN, 30_000).await.unwrap(), ben, "{engine}: already pinned");
        let mut pins = store.pins(ANN).await.unwrap();
        pins.sort_by_key(|p| p.id);
        assert_eq!(pins.len(), 2, "{engine}");
        let first = &pins[0];
        assert_eq!((first.peer.id, first.sort_ms, first.created_ms), (BEN, 10_000, 10_000), "{engine}");
        assert_eq!(first.remark.as_deref(), Some("Benny"), "{engine}");
        // move_pin: only one's own.
        assert!(store.move_pin(ANN, ben, 40_000).await.unwrap(), "{engine}");
        assert!(!store.move_pin(BEN, ben, 50_000).await.unwrap(), "{engine}: not Ben's pin");
        assert!(!store.move_pin(ANN, 9_999_999_999, 50_000).await.unwrap(), "{engine}: no such pin");
        let moved = store.pins(ANN).await.unwrap().into_iter().find(|p| p.id == ben).unwrap();
        assert_eq!((moved.sort_ms, moved.created_ms), (40_000, 10_000), "{engine}");
        // delete_pin
        assert!(store.delete_pin(ANN, BEN).await.unwrap(), "{engine}");
        assert!(!store.delete_pin(ANN, BEN).await.unwrap(), "{engine}");
        assert_eq!(store.pins(ANN).await.unwrap().len(), 1, "{engine}");
        assert!(store.pins(BEN).await.unwrap().is_empty(), "{engine}");
    }
}

#[tokio::test]
async fn edits_recalls_and_roles() {
    for (engine, store, mut events, _dir) in engines().await {
        let store = store.as_ref();
        let group = position(store, ANN, GROUP).await.unwrap().chat;
        store.append_message(group, text(BEN, "e1", "Ben: one", vec![MentionTarget::User(ANN)])).await.unwrap();
        store.append_message(group, text(BEN, "e2", "Ben: two", vec![])).await.unwrap();
        for seq in [1, 2] {
            assert_eq!(next_event(&mut events).await, Event::Message(MessageKey { chat: group, seq }), "{engine}");
        }
        // message_meta, locate_message (members only).
        let meta = store.message_meta(group, "e1").await.unwrap().unwrap();
        assert_eq!((meta.seq, meta.sender, meta.content_type, meta.recall_ms), (1, BEN, 1, 0), "{engine}");
        assert_eq!(store.message_meta(group, "zz").await.unwrap(), None, "{engine}");
        assert_eq!(store.locate_message(ANN, "e2").await.unwrap().map(|(c, m)| (c, m.seq)), Some((group, 2)));
        assert_eq!(store.locate_message(CAT, "e2").await.unwrap(), None, "{engine}: not Cat's chat");
        // edit_message: content, mentions, the preview of the last message only, a record, the event.
        let edit = |seq, preview: &str, mentions| MessageEdit {
            seq,
            content_type: ContentType::Markdown,
            content: vec![0x0a, 1, b'y'],
            preview: preview.into(),
            mentions,
            edit_ms: 9_000 + seq,
        };
        store.edit_message(group, edit(2, "Ben: *two*", vec![MentionTarget::All])).await.unwrap();
        assert_eq!(next_event(&mut events).await, Event::Edited(MessageKey { chat: group, seq: 2 }), "{engine}");
        store.edit_message(group, edit(1, "Ben: not shown", vec![])).await.unwrap();
        let r = row(store, ANN, GROUP).await;
        assert_eq!((r.preview.as_str(), r.last_message_ms), ("Ben: *two*", 1_002), "{engine}: time stays");
        assert_eq!(r.first_mention.map(|m| m.seq), Some(2), "{engine}: mentions replaced");
        let window = SeqWindow { after: 0, up_to: i64::MAX, limit: 9, newest_first: true };
        let edited = store.messages(group, window).await.unwrap();
        assert_eq!(
            (edited[0].content_type, edited[0].edit_ms, edited[0].content.clone()),
            (3, 9_002, vec![0x0a, 1, b'y'])
        );
        let (records, total) = store.edit_records(group, 2, 10, 0).await.unwrap();
        assert_eq!((records.len(), total, records[0].content_type), (1, 1, 1), "{engine}");
        assert_eq!((records[0].content.clone(), records[0].edit_ms), (vec![0x0a, 1, b'x'], 9_002), "{engine}");
        store.edit_message(group, edit(2, "Ben: again", vec![])).await.unwrap();
        let (records, total) = store.edit_records(group, 2, 1, 0).await.unwrap();
        assert_eq!((records.len(), total, records[0].content_type), (1, 2, 3), "{engine}: newest first");
        let (older, _) = store.edit_records(group, 2, 1, 1).await.unwrap();
        assert_eq!(older[0].content_type, 1, "{engine}");
        for seq in [1, 2] {
            assert_eq!(next_event(&mut events).await, Event::Edited(MessageKey { chat: group, seq }), "{engine}");
        }
        // recall_messages: emptied, unread no more, notice as the preview, once.
        let recall =
            |seqs: Vec<i64>| Recall { seqs, by: ANN, recall_ms: 7_777, notice: "Ann 撤回了一条消息".into() };
        store.recall_messages(group, recall(vec![1, 2])).await.unwrap();
        let mut recalled = vec![next_event(&mut events).await, next_event(&mut events).await];
        recalled.sort_by_key(|e| format!("{e:?}"));
        assert_eq!(recalled, [1, 2].map(|seq| Event::Recalled(MessageKey { chat: group, seq })), "{engine}");
        store.recall_messages(group, recall(vec![2])).await.unwrap();
        let r = row(store, BEN, GROUP).await;
        assert_eq!((r.preview.as_str(), r.recalled_unread), ("Ann 撤回了一条消息", 0), "{engine}");
        let r = row(store, ANN, GROUP).await;
        assert_eq!((r.last_seq, r.read_seq, r.recalled_unread, r.mention_count), (2, 0, 2, 0), "{engine}");
        let gone = store.messages(group, window).await.unwrap();
        assert!(gone.iter().all(|m| m.recall_ms == 7_777 && m.content.is_empty()), "{engine}");
        let pushed = store.pushed_message(MessageKey { chat: group, seq: 2 }).await.unwrap().unwrap();
        assert_eq!(pushed.recaller_name.as_deref(), Some("Ann"), "{engine}");
        // role: owner, admin, member, none.
        let batch = IdentityBatch {
            groups: vec![GroupRecord {
                entity: entity(GROUP, ChatType::Group, "Team"),
                owner: None,
                members: vec![],
                admins: vec![CAT],
            }],
            ..Default::default()
        };
        store.apply_identities(batch).await.unwrap();
        assert_eq!(store.role(GROUP, ANN).await.unwrap(), Some(Role::Owner), "{engine}");
        assert_eq!(store.role(GROUP, CAT).await.unwrap(), Some(Role::Admin), "{engine}");
        assert_eq!(store.role(GROUP, BEN).await.unwrap(), Some(Role::Member), "{engine}");
        assert_eq!(store.role(GROUP, id(5)).await.unwrap(), None, "{engine}");
    }
}

#[tokio::test]
async fn leave_group() {
    for (engine, store, _events, _dir) in engines().await {
        let store = store.as_ref();
        store.add_pin(BEN, GROUP, 1).await.unwrap();
        store.add_pin(BEN, ANN, 2).await.unwrap();
        assert!(store.leave_group(BEN, GROUP).await.unwrap(), "{engine}");
        assert_eq!(position(store, BEN, GROUP).await, None, "{engine}");
        let pins: Vec<Id> = store.pins(BEN).await.unwrap().into_iter().map(|p| p.peer.id).collect();
        assert_eq!(pins, [ANN], "{engine}");
        assert!(!store.leave_group(BEN, GROUP).await.unwrap(), "{engine}: not a member any more");
        assert!(store.members_among(GROUP, vec![ANN, BEN]).await.unwrap() == [ANN], "{engine}");
        assert!(groups_of(store, BEN).await.is_empty(), "{engine}: left");
        assert_eq!(groups_of(store, ANN).await, [GROUP], "{engine}");
    }
}

/// Records what a store hands its list sink.
#[derive(Default)]
struct ListRecorder {
    changes: std::sync::Mutex<Vec<ListChange>>,
    resynced: std::sync::Mutex<Option<i64>>,
}

impl ListSink for ListRecorder {
    fn changed(&self, change: &ListChange) {
        self.changes.lock().unwrap().push(change.clone());
    }
    fn resync(&self, clock: i64) {
        *self.resynced.lock().unwrap() = Some(clock);
    }
    fn lost(&self) {}
}

impl ListRecorder {
    /// The facts handed on since the last call, once `expected` of them
    /// (counted once each) arrived or a few seconds passed; with their
    /// clocks.
    async fn take(&self, expected: usize) -> (Vec<ListFact>, Vec<Option<i64>>) {
        for _ in 0..500 {
            let distinct = {
                let changes = self.changes.lock().unwrap();
                let mut facts: Vec<ListFact> = changes.iter().flat_map(|c| c.facts.clone()).collect();
                facts.dedup();
                facts.len()
            };
            if distinct >= expected {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let changes = std::mem::take(&mut *self.changes.lock().unwrap());
        let clocks = changes.iter().map(|c| c.clock).collect();
        let mut facts: Vec<ListFact> = Vec::new();
        for fact in changes.into_iter().flat_map(|c| c.facts) {
            if !facts.contains(&fact) {
                facts.push(fact);
            }
        }
        (facts, clocks)
    }
}

/// watch_lists, list_clock, conversations_with: every write that can change
/// a list reports what it changed, in its transaction; a shared store numbers
/// the changes with its list clock, one after another.
#[tokio::test]
async fn list_changes_and_the_list_clock() {
    for (engine, store, _events, _dir) in engines().await {
        let recorder = Arc::new(ListRecorder::default());
        store.watch_lists(Arc::clone(&recorder) as Arc<dyn ListSink>);
        let shared = store.shared();
        let mut clock = store.list_clock().await.unwrap();
        assert_eq!(clock.changes.is_some(), shared, "{engine}");
        if shared {
            for _ in 0..500 {
                if recorder.resynced.lock().unwrap().is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let resynced = recorder.resynced.lock().unwrap().expect("the feed resyncs the sink");
            assert_eq!(Some(resynced), clock.changes, "{engine}: resynced at the clock");
        }
        // Each write, what it reports, and (shared) one clock step each.
        let check = async |what: &str, expected: Vec<ListFact>, clock: &mut ListClock| {
            let (facts, clocks) = recorder.take(expected.len()).await;
            assert_eq!(facts, expected, "{engine}: {what}");
            let now = store.list_clock().await.unwrap();
            match shared {
                true => {
                    let step = (!expected.is_empty()) as i64;
                    assert_eq!(now.changes, clock.changes.map(|c| c + step), "{engine}: {what} moves the clock");
                    assert!(
                        clocks.iter().all(|c| *c == now.changes) && clocks.len() as i64 == step,
                        "{engine}: {what}"
                    );
                }
                false => assert!(clocks.iter().all(Option::is_none), "{engine}: {what}"),
            }
            *clock = now;
        };
        let group_chat = position(store.as_ref(), ANN, GROUP).await.unwrap().chat;
        store.append_message(group_chat, text(BEN, "m1", "hi", vec![])).await.unwrap();
        check("a group message", vec![ListFact::Chat(group_chat)], &mut clock).await;
        store.append_message(group_chat, text(BEN, "m1", "hi", vec![])).await.unwrap();
        check("a retry", vec![], &mut clock).await;
        let ben = store.entity(BEN).await.unwrap().unwrap();
        let direct = store.open_conversation(ANN, &ben).await.unwrap();
        check("opened", vec![ListFact::Conversations(BEN), ListFact::Conversations(ANN)], &mut clock).await;
        store.open_conversation(ANN, &ben).await.unwrap();
        check("opened again", vec![], &mut clock).await;
        store.change_view(ANN, GROUP, ViewChange::MarkRead).await.unwrap();
        check("read", vec![ListFact::View { user: ANN, peer: GROUP }], &mut clock).await;
        store.change_view(ANN, GROUP, ViewChange::MarkRead).await.unwrap();
        check("read again", vec![], &mut clock).await;
        store.change_view(ANN, BEN, ViewChange::DoNotDisturb(true)).await.unwrap();
        check("muted", vec![ListFact::View { user: ANN, peer: BEN }], &mut clock).await;
        let edit = MessageEdit {
            seq: 1,
            content_type: ContentType::Text,
            content: vec![],
            preview: "edited".into(),
            mentions: vec![],
            edit_ms: 5_000,
        };
        store.edit_message(group_chat, edit).await.unwrap();
        check("edited", vec![ListFact::Chat(group_chat)], &mut clock).await;
        let recall = Recall { seqs: vec![1], by: BEN, recall_ms: 6_000, notice: "recalled".into() };
        store.recall_messages(group_chat, recall.clone()).await.unwrap();
        check("recalled", vec![ListFact::Chat(group_chat)], &mut clock).await;
        store.recall_messages(group_chat, recall).await.unwrap();
        check("recalled again", vec![], &mut clock).await;
        assert!(store.leave_group(BEN, GROUP).await.unwrap());
        check("left", vec![ListFact::Conversations(BEN)], &mut clock).await;
        store.apply_identities(world()).await.unwrap();
        check("identities", vec![ListFact::Identities], &mut clock).await;
        // A shared store numbers identity changes with the clock (above);
        // one this process alone writes reports the epoch.
        let epoch = if shared { 0 } else { store.identity_epoch().await.unwrap() };
        assert_eq!(clock.identity_epoch, epoch, "{engine}");

        // conversations_with: the rows conversations gives, for those peers.
        let all = store.conversations(ANN).await.unwrap();
        let some = store.conversations_with(ANN, vec![BEN, CAT]).await.unwrap();
        let ben_row = all.iter().find(|r| r.peer.id == BEN).unwrap();
        assert_eq!(some, vec![ben_row.clone()], "{engine}: Ann has no conversation with Cat");
        assert_eq!(ben_row.chat, direct, "{engine}");
        let mut both = store.conversations_with(ANN, vec![GROUP, BEN]).await.unwrap();
        both.sort_by_key(|r| r.peer.id);
        let mut expected: Vec<_> = all.into_iter().filter(|r| [GROUP, BEN].contains(&r.peer.id)).collect();
        expected.sort_by_key(|r| r.peer.id);
        assert_eq!(both, expected, "{engine}");
    }
}

/// create_group, join_group, membership, roster, group_members, set_admin,
/// set_gag, dismiss_group, purge_dismissed: a dismissal hides the group at
/// once from every read, and the purge deletes in batches.
#[tokio::test]
async fn groups_from_creation_to_dismissal() {
    for (engine, store, _events, _dir) in engines().await {
        let store = store.as_ref();
        let recorder = Arc::new(ListRecorder::default());
        store.watch_lists(Arc::clone(&recorder) as Arc<dyn ListSink>);
        let group = NewGroup {
            owner: CAT,
            name: "Club".into(),
            introduction: "we meet".into(),
            avatar_url: String::new(),
            created_ms: 7_000,
        };
        let club = store.create_group(group).await.unwrap();
        assert!(club.get() > BOT.get(), "{engine}: one above every id in use");
        let facts = store.entity_facts(club).await.unwrap().unwrap();
        assert_eq!(
            (facts.entity.kind, facts.introduction.as_str(), facts.created_ms, facts.owner, facts.dismissed),
            (ChatType::Group, "we meet", 7_000, Some(CAT), false),
            "{engine}"
        );
        let cat_row = row(store, CAT, club).await;
        assert_eq!((cat_row.sort_ms, cat_row.last_seq), (7_000, 0), "{engine}: at the top, empty");
        let chat = cat_row.chat;
        store.append_message(chat, text(CAT, "c1", "Cat: hi", vec![])).await.unwrap();
        // groups_of: the groups a user is in, whatever else they talk to.
        store.open_conversation(ANN, &entity(BOT, ChatType::Bot, "Helper")).await.unwrap();
        store.open_conversation(ANN, &entity(CAT, ChatType::User, "Cat")).await.unwrap();
        let sorted = |mut groups: Vec<Id>| {
            groups.sort();
            groups
        };
        assert_eq!(groups_of(store, CAT).await, [club], "{engine}: a new group's owner");
        assert_eq!(groups_of(store, ANN).await, [GROUP], "{engine}: not the user or the bot");
        assert_eq!(store.join_group(club, vec![ANN, BEN, CAT], 8_000).await.unwrap(), [ANN, BEN], "{engine}");
        assert_eq!(sorted(groups_of(store, ANN).await), sorted(vec![GROUP, club]), "{engine}: joined");
        assert!(groups_of(store, id(4242)).await.is_empty(), "{engine}: nobody");
        // Several users in one read: each user's groups, nobody's for a stranger.
        let mut pairs = store.groups_of(vec![ANN, CAT, id(4242)]).await.unwrap();
        pairs.sort_unstable();
        let mut expected = vec![(ANN, GROUP), (ANN, club), (CAT, club)];
        expected.sort_unstable();
        assert_eq!(pairs, expected, "{engine}: a batch");
        let ann_row = row(store, ANN, club).await;
        assert_eq!((ann_row.read_seq, ann_row.sort_ms), (1, 8_000), "{engine}: joined read, at the top");
        let owner = store.membership(club, CAT).await.unwrap().unwrap();
        assert_eq!((owner.role, owner.gag_until_ms), (Role::Owner, 0), "{engine}");
        assert!(store.set_admin(club, ANN, true).await.unwrap(), "{engine}");
        assert!(store.set_gag(club, BEN, GAG_FOREVER).await.unwrap(), "{engine}");
        assert!(!store.set_gag(club, id(4242), 1).await.unwrap(), "{engine}: not a member");
        let roster = store.roster(club).await.unwrap();
        assert_eq!((roster.headcount, roster.admins), (3, vec![ANN]), "{engine}");
        let (page, total) = store.group_members(club, String::new(), 2, 0).await.unwrap();
        let who: Vec<(Id, Role)> = page.iter().map(|m| (m.user.id, m.role)).collect();
        assert_eq!((who, total), (vec![(CAT, Role::Owner), (ANN, Role::Admin)], 3), "{engine}");
        let (page, total) = store.group_members(club, "be".into(), 10, 0).await.unwrap();
        assert_eq!((page[0].user.id, page[0].gag_until_ms, total), (BEN, GAG_FOREVER, 1), "{engine}");
        store.add_pin(BEN, club, 9_000).await.unwrap();
        recorder.take(0).await;

        assert!(store.dismiss_group(club, 10_000).await.unwrap(), "{engine}");
        assert!(!store.dismiss_group(club, 11_000).await.unwrap(), "{engine}: once");
        let (facts, _) = recorder.take(1).await;
        assert_eq!(facts, [ListFact::Peer(club)], "{engine}");
        assert!(store.entity_facts(club).await.unwrap().unwrap().dismissed, "{engine}");
        for user in [ANN, BEN, CAT] {
            assert!(store.conversations(user).await.unwrap().iter().all(|r| r.peer.id != club), "{engine}");
            assert_eq!(position(store, user, club).await, None, "{engine}");
            assert_eq!(store.membership(club, user).await.unwrap(), None, "{engine}");
        }
        assert!(store.pins(BEN).await.unwrap().is_empty(), "{engine}: its pins are hidden");
        assert!(store.members_among(club, vec![ANN, BEN, CAT]).await.unwrap().is_empty(), "{engine}");
        assert_eq!(groups_of(store, ANN).await, [GROUP], "{engine}: a dismissed group is nobody's");
        assert!(groups_of(store, CAT).await.is_empty(), "{engine}");
        let said = store.pushed_message(MessageKey { chat, seq: 1 }).await.unwrap().unwrap();
        assert!(said.peer_dismissed, "{engine}: a push of a dismissed group's message knows it");
        assert_eq!(store.roster(club).await.unwrap().headcount, 0, "{engine}");
        assert_eq!(store.unpurged_dismissals(10).await.unwrap(), [club], "{engine}");
        assert_eq!(store.purge_dismissed(club, 2).await.unwrap(), 2, "{engine}: a batch");
        assert_eq!(store.unpurged_dismissals(10).await.unwrap(), [club], "{engine}: one row left");
        assert_eq!(store.purge_dismissed(club, 2).await.unwrap(), 1, "{engine}");
        assert_eq!(store.purge_dismissed(club, 2).await.unwrap(), 0, "{engine}: nothing left");
        assert!(store.unpurged_dismissals(10).await.unwrap().is_empty(), "{engine}");
        assert_eq!(store.purge_dismissed(GROUP, 2).await.unwrap(), 0, "{engine}: only dismissed groups");
    }
}

/// edit_entity, remark, set_remark, contacts, requests: a rename is one
/// row every reader sees; remarks and the address book are per user.
#[tokio::test]
async fn profiles_contacts_and_requests() {
    for (engine, store, _events, _dir) in engines().await {
        let store = store.as_ref();
        let recorder = Arc::new(ListRecorder::default());
        store.watch_lists(Arc::clone(&recorder) as Arc<dyn ListSink>);
        let ben = store.entity(BEN).await.unwrap().unwrap();
        store.open_conversation(CAT, &ben).await.unwrap();
        recorder.take(2).await;
        assert!(store.edit_entity(BEN, EntityChange::Name("Benjamin".into())).await.unwrap(), "{engine}");
        assert!(!store.edit_entity(id(4242), EntityChange::Name("x".into())).await.unwrap(), "{engine}");
        assert_eq!(recorder.take(1).await.0, [ListFact::Peer(BEN)], "{engine}");
        assert_eq!(row(store, CAT, BEN).await.peer.name, "Benjamin", "{engine}");
        store.edit_entity(BEN, EntityChange::AvatarUrl("https://b/new.png".into())).await.unwrap();
        assert_eq!(row(store, CAT, BEN).await.peer.avatar_url, "https://b/new.png", "{engine}");
        recorder.take(1).await;

        let fields = RemarkFields { name: "Benno".into(), phone: "123".into(), extra: "[]".into() };
        store.set_remark(CAT, BEN, Some(fields.clone())).await.unwrap();
        assert_eq!(recorder.take(1).await.0, [ListFact::View { user: CAT, peer: BEN }], "{engine}");
        assert_eq!(store.remark(CAT, BEN).await.unwrap(), Some(fields), "{engine}");
        assert_eq!(row(store, CAT, BEN).await.remark.as_deref(), Some("Benno"), "{engine}");
        let no_name = RemarkFields { name: String::new(), phone: "123".into(), extra: String::new() };
        store.set_remark(CAT, BEN, Some(no_name)).await.unwrap();
        assert_eq!(row(store, CAT, BEN).await.remark, None, "{engine}: an empty name shows no remark");
        store.set_remark(CAT, BEN, None).await.unwrap();
        assert_eq!(store.remark(CAT, BEN).await.unwrap(), None, "{engine}");

        let first = store.add_request(CAT, ANN, "hi".into(), 1_000).await.unwrap();
        let again = store.add_request(CAT, ANN, "hello".into(), 2_000).await.unwrap();
        assert_eq!(first, again, "{engine}: a pending request is updated, not repeated");
        assert!((1..i64::from(i32::MAX)).contains(&first), "{engine}");
        let request = store.request(first).await.unwrap().unwrap();
        assert_eq!(
            (request.from.id, request.to.id, request.note.as_str(), request.state),
            (CAT, ANN, "hello", RequestState::Pending),
            "{engine}"
        );
        assert_eq!(store.requests(BEN, 10).await.unwrap(), vec![], "{engine}: only its two users");
        assert_eq!(store.requests(ANN, 10).await.unwrap(), vec![request.clone()], "{engine}");
        assert!(store.settle_request(first, RequestState::Agreed, 3_000).await.unwrap(), "{engine}");
        assert!(!store.settle_request(first, RequestState::Rejected, 4_000).await.unwrap(), "{engine}: once");
        assert!(store.is_contact(ANN, CAT).await.unwrap() && store.is_contact(CAT, ANN).await.unwrap(), "{engine}");
        assert!(store.add_contact(CAT, BOT, 5_000).await.unwrap(), "{engine}");
        assert!(!store.add_contact(CAT, BOT, 5_000).await.unwrap(), "{engine}");
        assert_eq!(store.bot_headcount(BOT).await.unwrap(), 1, "{engine}");
        let mut book: Vec<(Id, Option<Role>)> =
            store.contacts(ANN).await.unwrap().into_iter().map(|c| (c.peer.id, c.role)).collect();
        book.sort();
        assert_eq!(book, [(CAT, None), (GROUP, Some(Role::Owner))], "{engine}");
        assert!(store.remove_contact(CAT, ANN).await.unwrap(), "{engine}");
        assert!(!store.is_contact(ANN, CAT).await.unwrap(), "{engine}: both ways");
        assert!(store.remove_contact(CAT, BOT).await.unwrap(), "{engine}");
        assert!(store.contacts(CAT).await.unwrap().iter().all(|c| c.peer.id != BOT), "{engine}");
        assert!(store.delete_request(first).await.unwrap(), "{engine}");
        assert_eq!(store.request(first).await.unwrap(), None, "{engine}");
    }
}

/// unpurged_dismissals, as the service's start-up sweep uses it: a
/// dismissal whose purge never ran (the server stopped first) is finished
/// by the next service started on the store.
#[tokio::test]
async fn the_next_start_finishes_a_purge_cut_short() {
    for (engine, store, _events, _dir) in engines().await {
        let group = NewGroup {
            owner: CAT,
            name: "Left".into(),
            introduction: String::new(),
            avatar_url: String::new(),
            created_ms: 7_000,
        };
        let left = store.create_group(group).await.unwrap();
        store.join_group(left, vec![ANN, BEN], 7_001).await.unwrap();
        assert!(store.dismiss_group(left, 7_002).await.unwrap(), "{engine}");
        assert_eq!(store.unpurged_dismissals(10).await.unwrap(), [left], "{engine}");
        let hub = yhconv_server::push::Hub::start(Arc::clone(&store), 16);
        let _service = yhconv_server::service::Service::new(Arc::clone(&store), hub, 0);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !store.unpurged_dismissals(10).await.unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "{engine}: the sweep did not purge it");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// One message sent many times at once (a client retrying before its first
/// try was answered): stored once, every other try answered as its retry,
/// one event; then another sender's tries of that msg_id are all refused,
/// and the store goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_many_times_at_once_is_stored_once() {
    for (engine, store, mut events, _dir) in engines().await {
        let group = position(store.as_ref(), ANN, GROUP).await.unwrap().chat;
        let tries = |sender: Id| {
            let tasks: Vec<_> = (0..24)
                .map(|_| {
                    let store = Arc::clone(&store);
                    tokio::spawn(async move { store.append_message(group, text(sender, "once", "hi", vec![])).await })
                })
                .collect();
            async move {
                let mut answers = Vec::new();
                for task in tasks {
                    answers.push(task.await.unwrap().unwrap());
                }
                answers
            }
        };
        let answers = tries(ANN).await;
        let new = answers.iter().filter(|a| **a == Appended::New { seq: 1 }).count();
        let retries = answers.iter().filter(|a| matches!(a, Appended::Retry { seq: 1, .. })).count();
        assert_eq!((new, retries), (1, answers.len() - 1), "{engine}: {answers:?}");
        assert_eq!(next_event(&mut events).await, Event::Message(MessageKey { chat: group, seq: 1 }), "{engine}");
        assert!(tries(BEN).await.iter().all(|a| *a == Appended::IdTaken), "{engine}");
        let next = store.append_message(group, text(BEN, "next", "hi", vec![])).await.unwrap();
        assert_eq!(next, Appended::New { seq: 2 }, "{engine}: the sequence has no gap");
        assert_eq!(next_event(&mut events).await, Event::Message(MessageKey { chat: group, seq: 2 }), "{engine}");
    }
}

/// list_clock through the service's shared reads (`service::clock_reads`):
/// many requests at once each get a clock read after they began.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_clock_reads_answer_every_request_with_a_read_begun_after_it() {
    use yhconv_server::service::clock_reads::ClockReads;
    for (engine, store, _events, _dir) in engines().await {
        let reads = Arc::new(ClockReads::new(Arc::clone(&store)));
        let first = reads.read().await.unwrap();
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let reads = Arc::clone(&reads);
                tokio::spawn(async move { reads.read().await })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap(), first, "{engine}");
        }
        // A change of identities moves the clock: a read that begins after
        // it has committed sees it.
        store.apply_identities(IdentityBatch::default()).await.unwrap();
        assert_ne!(reads.read().await.unwrap(), first, "{engine}");
    }
}

/// append_message abandoned at every point (the request's future dropped
/// mid-way, as when a client goes away): each send is stored whole or not
/// at all, sequence numbers stay gapless, and every connection it may have
/// used serves the next sends outside any leftover transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_abandoned_mid_way_is_stored_whole_or_not_at_all() {
    for (engine, store, _events, _dir) in engines().await {
        let group = position(store.as_ref(), ANN, GROUP).await.unwrap().chat;
        // More abandoned sends than the pool has connections, cut short
        // after 0 to 3 ms.
        for n in 0..48u64 {
            let send = store.append_message(group, text(ANN, &format!("cut{n}"), "Ann: cut", vec![]));
            let _ = tokio::time::timeout(Duration::from_micros(n % 4 * 1_000), send).await;
        }
        for n in 0..32 {
            let sent = store.append_message(group, text(BEN, &format!("whole{n}"), "Ben: whole", vec![])).await;
            assert!(matches!(sent, Ok(Appended::New { .. })), "{engine}: {sent:?}");
        }
        let window = SeqWindow { after: 0, up_to: i64::MAX, limit: 500, newest_first: false };
        let stored = store.messages(group, window).await.unwrap();
        let seqs: Vec<i64> = stored.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (1..=stored.len() as i64).collect::<Vec<_>>(), "{engine}: gapless");
        assert_eq!(row(store.as_ref(), BEN, GROUP).await.last_seq, stored.len() as i64, "{engine}: the chat's row");
        let whole = stored.iter().filter(|m| m.msg_id.starts_with("whole")).count();
        assert_eq!(whole, 32, "{engine}");
        // A cut send that was stored is a retry now; one that was not is new.
        for n in 0..48u64 {
            let msg_id = format!("cut{n}");
            let was_stored = stored.iter().find(|m| m.msg_id == msg_id).map(|m| m.seq);
            let again = store.append_message(group, text(ANN, &msg_id, "Ann: cut", vec![])).await.unwrap();
            match (was_stored, again) {
                (Some(seq), Appended::Retry { seq: retried, .. }) => assert_eq!(seq, retried, "{engine}"),
                (None, Appended::New { .. }) => {}
                (was, again) => panic!("{engine}: {msg_id} stored as {was:?}, sent again: {again:?}"),
            }
        }
    }
}

/// append_message and its SendFacts: a message is stored only while what
/// its send was decided on holds (the sender a member of a chat not
/// dismissed, with that gag and that name); otherwise it is refused whole:
/// nothing stored, no gap in the sequence, the sender's draft kept.
#[tokio::test]
async fn a_send_decided_on_facts_that_no_longer_hold_is_refused() {
    for (engine, store, _events, _dir) in engines().await {
        let store = store.as_ref();
        let group = position(store, BEN, GROUP).await.unwrap().chat;
        let from = |sender, msg_id, name: &str, gag_until_ms| NewMessage {
            sender_peer: GROUP,
            facts: SendFacts { gag_until_ms, sender_name: Some(name.into()) },
            ..text(sender, msg_id, "hi", vec![])
        };
        assert_eq!(store.append_message(group, from(BEN, "f1", "Ben", 0)).await.unwrap(), Appended::New { seq: 1 });
        // Another name, or another gag, than the stored ones.
        let renamed = store.append_message(group, from(BEN, "f2", "Benjamin", 0)).await.unwrap();
        assert_eq!(renamed, Appended::Stale, "{engine}: the name");
        assert!(store.set_gag(GROUP, BEN, 5_000).await.unwrap(), "{engine}");
        store.set_draft(BEN, GROUP, "typing".into(), 1, SocketOrigin::NONE).await.unwrap();
        let gagged = store.append_message(group, from(BEN, "f3", "Ben", 0)).await.unwrap();
        assert_eq!(gagged, Appended::Stale, "{engine}: the gag");
        assert_eq!(store.draft(BEN, GROUP).await.unwrap().as_deref(), Some("typing"), "{engine}: kept");
        // A retry of a stored message with a stale fact is refused too: the
        // rules decide again before the retry is answered.
        assert_eq!(store.append_message(group, from(BEN, "f1", "Ben", 0)).await.unwrap(), Appended::Stale);
        // With the facts as they are now, stored, the next number.
        let current = store.append_message(group, from(BEN, "f3", "Ben", 5_000)).await.unwrap();
        assert_eq!(current, Appended::New { seq: 2 }, "{engine}");
        assert_eq!(store.draft(BEN, GROUP).await.unwrap(), None, "{engine}: sent, so cleared");
        // A member no more; a group dismissed.
        assert!(store.leave_group(BEN, GROUP).await.unwrap(), "{engine}");
        assert_eq!(store.append_message(group, from(BEN, "f4", "Ben", 5_000)).await.unwrap(), Appended::Stale);
        assert!(store.dismiss_group(GROUP, 9_000).await.unwrap(), "{engine}");
        assert_eq!(store.append_message(group, from(ANN, "f5", "Ann", 0)).await.unwrap(), Appended::Stale);
        let window = SeqWindow { after: 0, up_to: i64::MAX, limit: 9, newest_first: false };
        let stored: Vec<(i64, String)> =
            store.messages(group, window).await.unwrap().into_iter().map(|m| (m.seq, m.msg_id)).collect();
        assert_eq!(stored, [(1, "f1".to_owned()), (2, "f3".to_owned())], "{engine}");
    }
}
