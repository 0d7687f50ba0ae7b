//! `yhconv migrate`'s copy of an SQLite database into PostgreSQL
//! (`store::transfer`): a world with every kind of state answers every
//! list, pin list, profile and history byte for byte the same after it,
//! with the same tokens; a non-empty target, a table or column only one
//! side has, and a value that does not convert are refused, leaving the
//! target empty. Runs when `YHCONV_TEST_POSTGRES` is set
//! (`scripts/with-postgres.sh cargo test ...`); says so and passes otherwise.
//!
//! The timing run, ignored by default (see the README's Operations):
//! `scripts/with-postgres.sh cargo test --release -p yhconv-server --test transfer -- --ignored --nocapture`

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use prost::Message as _;
use yhconv_client::Client;
use yhconv_proto::endpoints as ep;
use yhconv_proto::{pb, ChatType};
use yhconv_server::store::postgres::PgSettings;
use yhconv_server::store::transfer::{self, MigrateSummary};
use yhconv_server::{DbUrl, World};

const DAN: &str = "1004";
/// Ben owns it, Ann is an admin, Cat and Dan are members (Dan leaves).
const OPS: &str = "2002";
const ECHO: &str = "3002";

/// More of everything than `common::world()`: a user without a password, a
/// group with an admin, a second bot, a remark for a group.
fn more_world() -> World {
    World::from_json(
        r#"{
        "users": [{"id": "1004", "name": "Dan"}],
        "groups": [{"id": "2002", "name": "Ops", "owner": "1002", "members": ["1001", "1003", "1004"],
                    "admins": ["1001"]}],
        "bots": [{"id": "3002", "name": "Echo", "avatar_id": 7}],
        "remarks": [{"user": "1003", "target": "2002", "remark": "运维"}]
    }"#,
    )
    .expect("world parses")
}

/// The admin URL, or None (and a note) without PostgreSQL.
fn postgres() -> Option<String> {
    let admin = postgres_admin_url();
    if admin.is_none() {
        eprintln!("skipped: YHCONV_TEST_POSTGRES is not set (run under scripts/with-postgres.sh)");
    }
    admin
}

async fn migrate(source: &Path, target: &str) -> anyhow::Result<MigrateSummary> {
    transfer::sqlite_to_postgres(source, target, &PgSettings::default(), |_| {}).await
}

/// Rows in `table` of the PostgreSQL database at `url`.
async fn pg_rows(url: &str, table: &str) -> i64 {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    client.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.expect("count").get(0)
}

/// What one user's requests answer, as raw bytes, by request.
type Answers = BTreeMap<String, Vec<u8>>;

async fn post_raw(base_url: &str, token: &str, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let res = reqwest::Client::new()
        .post(format!("{base_url}{path}"))
        .header("token", token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("request");
    (res.status().as_u16(), res.bytes().await.expect("body").to_vec())
}

/// Everything `token`'s user sees: the list, the pins, the profile, and
/// the history (newest 500, and by sequence) of each of `chats`, plus the
/// edit records of `edited`.
async fn answers(base_url: &str, token: &str, chats: &[(&str, ChatType)], edited: &[&str]) -> Answers {
    let proto = "application/x-protobuf";
    let json = "application/json";
    let mut out = Answers::new();
    let mut keep = |name: String, (status, body): (u16, Vec<u8>), is_proto: bool| {
        assert_eq!(status, 200, "{name}: {}", String::from_utf8_lossy(&body));
        out.insert(name, if is_proto { without_request_number(&body) } else { body });
    };
    keep("list".into(), post_raw(base_url, token, ep::CONVERSATION_LIST.path, proto, vec![]).await, true);
    keep("pins".into(), post_raw(base_url, token, ep::STICKY_LIST.path, json, b"{}".to_vec()).await, false);
    let info = reqwest::Client::new()
        .get(format!("{base_url}{}", ep::USER_INFO.path))
        .header("token", token)
        .send()
        .await
        .expect("user info");
    keep("user-info".into(), (info.status().as_u16(), info.bytes().await.unwrap().to_vec()), true);
    for &(chat_id, chat_type) in chats {
        let newest = pb::ListMessageRequest {
            msg_count: 500,
            chat_type: chat_type.code(),
            chat_id: chat_id.into(),
            ..Default::default()
        };
        keep(
            format!("history {chat_id}"),
            post_raw(base_url, token, ep::LIST_MESSAGE.path, proto, newest.encode_to_vec()).await,
            true,
        );
        let by_seq = pb::ListMessageBySeqRequest { msg_seq: 1, chat_type: chat_type.code(), chat_id: chat_id.into() };
        keep(
            format!("by-seq {chat_id}"),
            post_raw(base_url, token, ep::LIST_MESSAGE_BY_SEQ.path, proto, by_seq.encode_to_vec()).await,
            true,
        );
    }
    for msg_id in edited {
        let body = serde_json::json!({"msgId": msg_id, "size": 100, "page": 1}).to_string().into_bytes();
        keep(
            format!("edits {msg_id}"),
            post_raw(base_url, token, ep::LIST_MESSAGE_EDIT_RECORD.path, json, body).await,
            false,
        );
    }
    out
}

/// A protobuf answer with its per-request number (`Status.number`, field 1
/// of the leading `Status`) set to 0: every other byte is compared as sent.
fn without_request_number(answer: &[u8]) -> Vec<u8> {
    let mut rest = answer;
    assert_eq!(
        prost::encoding::decode_key(&mut rest).expect("a field"),
        (1, prost::encoding::WireType::LengthDelimited)
    );
    let len = prost::encoding::decode_varint(&mut rest).expect("Status's length") as usize;
    let mut status = pb::Status::decode(&rest[..len]).expect("Status");
    status.number = 0;
    let mut out = pb::StatusOnly { status: Some(status) }.encode_to_vec();
    out.extend_from_slice(&rest[len..]);
    out
}

/// A user (a name for messages), their client, and the chats whose
/// history they read.
type View<'a> = (&'a str, &'a Client, Vec<(&'a str, ChatType)>);

fn token(client: &Client) -> String {
    client.token().expect("logged in").to_owned()
}

#[tokio::test]
async fn a_migrated_world_answers_every_request_byte_for_byte_with_the_same_tokens() {
    let Some(admin) = postgres() else { return };
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source.db");
    let app = TestApp::spawn_on(DbUrl::Sqlite(source.clone()), tempfile::tempdir().unwrap(), |_| {}).await;
    app.service.import_world(more_world()).await.unwrap();
    let (ann, ben, cat, dan) =
        (app.client(ANN).await, app.client(BEN).await, app.client(CAT).await, app.client(DAN).await);
    use ChatType::{Bot, Group, User};

    // Direct messages, a mention, a read position.
    ann.send_text(BEN, User, "hi Ben", &[BEN]).await.unwrap();
    ben.send_text(ANN, User, "hi Ann", &[]).await.unwrap();
    ann.send_text(BEN, User, "how are you?", &[]).await.unwrap();
    ben.dismiss_notification(ANN).await.unwrap();
    // A group: @all, an edit twice (edit records), the owner recalling Ben's message.
    let team = ann.send_text(GROUP, Group, "team @all", &["all"]).await.unwrap();
    let ack = ben.send_text(GROUP, Group, "ack", &[]).await.unwrap();
    ann.edit_text(GROUP, Group, &team, "team, edited", &[BEN]).await.unwrap();
    ann.edit_text(GROUP, Group, &team, "team, edited twice", &[]).await.unwrap();
    ann.recall(GROUP, Group, &[&ack]).await.unwrap();
    // A group with an admin: Ann recalls Cat's message; Dan mentions Cat, then leaves.
    let cats = cat.send_text(OPS, Group, "cat here", &[]).await.unwrap();
    dan.send_text(OPS, Group, "dan here @Cat", &[CAT]).await.unwrap();
    ann.recall(OPS, Group, &[&cats]).await.unwrap();
    ben.send_text(OPS, Group, "the owner speaks", &[]).await.unwrap();
    dan.set_no_notify(OPS, true).await.unwrap();
    dan.leave_group(OPS).await.unwrap();
    // Bots: a message to one, an empty conversation with the other.
    ann.send_text(BOT, Bot, "weather?", &[]).await.unwrap();
    cat.sort_change(ECHO).await.unwrap();
    // Hidden chats, mutes, pins (one moved first).
    ann.remove_conversation(BOT).await.unwrap();
    cat.dismiss_notification(OPS).await.unwrap();
    cat.remove_conversation(OPS).await.unwrap();
    ann.set_no_notify(GROUP, true).await.unwrap();
    ben.set_no_notify(ANN, true).await.unwrap();
    ann.pin(GROUP, Group).await.unwrap();
    ann.pin(BOT, Bot).await.unwrap();
    ann.pin(BEN, User).await.unwrap();
    let group_pin = ann.pins().await.unwrap().into_iter().find(|p| p.chat_id == GROUP).expect("pinned").id;
    ann.move_pin_first(group_pin).await.unwrap();
    ben.pin(ANN, User).await.unwrap();
    // A token that was logged out stays logged out.
    let revoked = app.client(CAT).await;
    revoked.logout().await.unwrap();

    let views: [View<'_>; 4] = [
        ("ann", &ann, vec![(BEN, User), (GROUP, Group), (OPS, Group), (BOT, Bot)]),
        ("ben", &ben, vec![(ANN, User), (GROUP, Group), (OPS, Group)]),
        ("cat", &cat, vec![(OPS, Group), (ECHO, Bot)]),
        ("dan", &dan, vec![(OPS, Group)]),
    ];
    let mut before = BTreeMap::new();
    for (name, client, chats) in &views {
        before.insert(*name, answers(&app.base_url, &token(client), chats, &[&team]).await);
    }
    app.shutdown().await;

    let target = fresh_postgres_db(&admin).await;
    let summary = migrate(&source, &target).await.expect("migrate");
    assert!(summary.rows() > 30, "{summary:?}");
    let copied: BTreeMap<_, _> = summary.tables.iter().cloned().collect();
    for table in ["entity", "account", "token", "chat", "member", "message", "mention", "remark", "pin", "edit_record"]
    {
        assert!(copied.get(table).is_some_and(|&rows| rows > 0), "{table} copied nothing: {summary:?}");
    }

    let app = TestApp::spawn_as_is(DbUrl::Postgres(target.clone()), tempfile::tempdir().unwrap()).await;
    for (name, client, chats) in &views {
        let after = answers(&app.base_url, &token(client), chats, &[&team]).await;
        let was = &before[name];
        assert_eq!(after.keys().collect::<Vec<_>>(), was.keys().collect::<Vec<_>>());
        for (request, bytes) in &after {
            assert!(
                bytes == &was[request],
                "{name}'s {request} differs after the migration:\nbefore {:?}\nafter  {:?}",
                was[request],
                bytes
            );
        }
    }
    // A client holding the list from before the migration is told it is current.
    for (name, client, _) in &views {
        let md5 = pb::ConversationList::decode(&before[name]["list"][..]).expect("a list").md5;
        let again = app.anonymous().with_token(token(client)).conversation_list(Some(&md5)).await.unwrap();
        assert!(again.data.is_empty() && again.md5 == md5, "{name}'s md5 still matches");
    }
    let (status, _) =
        post_raw(&app.base_url, &token(&revoked), ep::CONVERSATION_LIST.path, "application/x-protobuf", vec![]).await;
    assert_eq!(status, 401, "a logged-out token stays logged out");
    // Passwords were copied as their hashes: Ann logs in.
    app.anonymous().email_login("ann@example.com", "ann-pw", "migrated", "linux").await.expect("login");

    // New rows take ids past the copied ones (the sequences were moved).
    let on_pg = |c: &Client| app.anonymous().with_token(token(c));
    let (ann, cat) = (on_pg(&ann), on_pg(&cat));
    cat.sort_change(BEN).await.expect("a new chat");
    cat.send_text(BEN, User, "new chat on PostgreSQL", &[]).await.expect("send in the new chat");
    ann.pin(ECHO, Bot).await.expect("a new pin");
    ann.edit_text(GROUP, Group, &team, "team, edited on PostgreSQL", &[]).await.expect("a new edit record");
    let (records, total) = ann.edit_records(&team, 10, 1).await.unwrap();
    assert_eq!((records.len(), total), (3, 3));
    let seqs: Vec<u64> = ann.list_messages(BEN, User, 10, None).await.unwrap().iter().map(|m| m.msg_seq).collect();
    ann.send_text(BEN, User, "after the move", &[]).await.unwrap();
    let newest = ann.list_messages(BEN, User, 1, None).await.unwrap()[0].msg_seq;
    assert_eq!(newest, seqs[0] + 1, "sequence numbers go on from the copied ones");
    app.shutdown().await;
}

/// A small SQLite world with a message, served once and stopped.
async fn small_sqlite_world(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("small.db");
    let app = TestApp::spawn_on(DbUrl::Sqlite(path.clone()), tempfile::tempdir().unwrap(), |_| {}).await;
    app.client(ANN).await.send_text(BEN, ChatType::User, "hello", &[]).await.unwrap();
    app.shutdown().await;
    path
}

#[tokio::test]
async fn a_target_holding_any_row_is_refused_and_left_as_it_was() {
    let Some(admin) = postgres() else { return };
    let dir = tempfile::tempdir().unwrap();
    let source = small_sqlite_world(dir.path()).await;
    let target = fresh_postgres_db(&admin).await;
    // A database a server already started on (schema, starting values) counts as empty.
    drop(yhconv_server::store::postgres::PostgresStore::connect(&target, &PgSettings::default()).await.unwrap());
    migrate(&source, &target).await.expect("the first migrate");
    let messages = pg_rows(&target, "message").await;
    let err = format!("{:#}", migrate(&source, &target).await.unwrap_err());
    assert!(err.contains("the PostgreSQL database is not empty") && err.contains("entity"), "{err}");
    assert_eq!(pg_rows(&target, "message").await, messages, "nothing was added");
}

#[tokio::test]
async fn both_schemas_have_the_same_tables_and_columns() {
    let Some(admin) = postgres() else { return };
    let dir = tempfile::tempdir().unwrap();
    let source = small_sqlite_world(dir.path()).await;
    let summary = migrate(&source, &fresh_postgres_db(&admin).await).await.expect("migrate");
    let (sqlite_tables, _) = yhconv_server::store::sqlite::export::schema(&source).unwrap();
    let mut copied: Vec<&str> = summary.tables.iter().map(|(name, _)| name.as_str()).collect();
    copied.sort_unstable();
    let all: Vec<&str> = sqlite_tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(copied, all, "every SQLite table is copied");
}

#[tokio::test]
async fn a_table_or_column_only_one_side_has_stops_the_copy_before_it_writes() {
    let Some(admin) = postgres() else { return };
    let dir = tempfile::tempdir().unwrap();
    let source = small_sqlite_world(dir.path()).await;

    let conn = rusqlite::Connection::open(&source).unwrap();
    conn.execute_batch("CREATE TABLE scratch (user_id INTEGER, text TEXT)").unwrap();
    let target = fresh_postgres_db(&admin).await;
    let err = format!("{:#}", migrate(&source, &target).await.unwrap_err());
    assert!(
        err.contains("the SQLite and PostgreSQL schemas differ") && err.contains("table scratch is only in SQLite"),
        "{err}"
    );
    assert_eq!(pg_rows(&target, "entity").await, 0);
    conn.execute_batch("DROP TABLE scratch").unwrap();
    drop(conn);

    let target = fresh_postgres_db(&admin).await;
    drop(yhconv_server::store::postgres::PostgresStore::connect(&target, &PgSettings::default()).await.unwrap());
    let (client, connection) = tokio_postgres::connect(&target, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client.batch_execute("ALTER TABLE message ADD COLUMN reactions TEXT").await.unwrap();
    let err = format!("{:#}", migrate(&source, &target).await.unwrap_err());
    assert!(err.contains("column message.reactions is only in PostgreSQL"), "{err}");
    assert_eq!(pg_rows(&target, "entity").await, 0);
}

#[tokio::test]
async fn a_value_that_does_not_convert_fails_the_copy_and_leaves_the_target_empty() {
    let Some(admin) = postgres() else { return };
    let dir = tempfile::tempdir().unwrap();
    let source = small_sqlite_world(dir.path()).await;
    // member is copied after entity: the entities written first must go too.
    rusqlite::Connection::open(&source).unwrap().execute_batch("UPDATE member SET dnd = 7").unwrap();
    let target = fresh_postgres_db(&admin).await;
    let err = format!("{:#}", migrate(&source, &target).await.unwrap_err());
    assert!(err.contains("member.dnd, row 1: 7 where a boolean (0 or 1) is wanted"), "{err}");
    for table in ["entity", "chat", "member", "message"] {
        assert_eq!(pg_rows(&target, table).await, 0, "{table} is empty after the failed copy");
    }
}

#[tokio::test]
async fn a_row_postgresql_refuses_fails_the_copy_with_its_reason_and_leaves_the_target_empty() {
    let Some(admin) = postgres() else { return };
    let dir = tempfile::tempdir().unwrap();
    let source = small_sqlite_world(dir.path()).await;
    let target = fresh_postgres_db(&admin).await;
    drop(yhconv_server::store::postgres::PostgresStore::connect(&target, &PgSettings::default()).await.unwrap());
    let (client, connection) = tokio_postgres::connect(&target, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client.batch_execute("ALTER TABLE message ADD CONSTRAINT no_messages_here CHECK (seq < 0)").await.unwrap();
    let err = format!("{:#}", migrate(&source, &target).await.unwrap_err());
    assert!(err.contains("copying message") && err.contains("no_messages_here"), "{err}");
    for table in ["entity", "chat", "member", "message"] {
        assert_eq!(pg_rows(&target, table).await, 0, "{table} is empty after the failed copy");
    }
}

/// How many messages the timing run generates (`YHCONV_MIGRATE_MESSAGES`,
/// 1,000,000 by default).
fn generated_messages() -> i64 {
    std::env::var("YHCONV_MIGRATE_MESSAGES").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000_000)
}

/// The timing run: a database with a million messages (one group chat,
/// a mention in every hundredth, a real message's content in each), built
/// with SQL straight into a store the engine created, then migrated; prints
/// the time. Keeps the database at `YHCONV_MIGRATE_KEEP` when set, for
/// timing `yhconv migrate` itself on it.
#[tokio::test]
#[ignore = "a timing run: builds a million messages (see the module doc)"]
async fn a_million_messages_migrate_in_minutes() {
    let Some(admin) = postgres() else { return };
    let dir = tempfile::tempdir().unwrap();
    let source = match std::env::var("YHCONV_MIGRATE_KEEP") {
        Ok(path) if !path.is_empty() => std::path::PathBuf::from(path),
        _ => dir.path().join("million.db"),
    };
    let app = TestApp::spawn_on(DbUrl::Sqlite(source.clone()), tempfile::tempdir().unwrap(), |_| {}).await;
    app.client(ANN)
        .await
        .send_text(GROUP, ChatType::Group, "a message of a typical length, about fifty chars", &[])
        .await
        .unwrap();
    app.shutdown().await;
    let count = generated_messages();
    let built = Instant::now();
    let conn = rusqlite::Connection::open(&source).unwrap();
    conn.execute_batch(&format!(
        "BEGIN;
         WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < {count})
         INSERT INTO message (chat_id, seq, msg_id, sender_id, content_type, content, quote_msg_id, sent_ms)
         SELECT m.chat_id, n.i, printf('%032x', n.i), CASE n.i % 2 WHEN 0 THEN 1001 ELSE 1002 END,
                m.content_type, m.content, '', m.sent_ms + n.i
         FROM n, (SELECT * FROM message WHERE seq = 1) m;
         INSERT INTO mention (chat_id, target_id, seq, mentioner_id)
         SELECT chat_id, 1002, seq, sender_id FROM message WHERE seq % 100 = 0;
         UPDATE chat SET last_seq = {count}, last_message_ms = (SELECT max(sent_ms) FROM message)
         WHERE id = (SELECT chat_id FROM message WHERE seq = 1);
         COMMIT;"
    ))
    .unwrap();
    drop(conn);
    eprintln!("built {count} messages in {:.1} s", built.elapsed().as_secs_f64());

    let target = fresh_postgres_db(&admin).await;
    let summary = transfer::sqlite_to_postgres(&source, &target, &PgSettings::default(), |p| {
        if p.rows_total >= 10_000 {
            eprintln!("  {} {}/{}", p.table, p.rows_done, p.rows_total);
        }
    })
    .await
    .expect("migrate");
    eprintln!("migrated {} rows ({count} messages) in {:.1} s", summary.rows(), summary.elapsed.as_secs_f64());
    assert_eq!(pg_rows(&target, "message").await, count);
    assert!(summary.elapsed < Duration::from_secs(600), "took {:?}", summary.elapsed);
}
