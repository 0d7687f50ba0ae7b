//! `yhconv backup`, `restore` and `migrate` as a self-hoster runs them,
//! against real `yhconv serve` processes: a backup taken under send load
//! holds every message acknowledged before it started; a restore brings
//! back exactly the backup (stale WAL of the replaced file and all) and
//! refuses what it must; a migrated demo world lists the same on
//! PostgreSQL (when `YHCONV_TEST_POSTGRES` is set, see
//! `scripts/with-postgres.sh`; said and skipped otherwise).

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use yhconv_client::{ChatType, Client};

/// The msg ids a load got `code 1` for, in order.
type Acked = Arc<Mutex<Vec<String>>>;

/// Two senders (Alice to Bob, Bob into the group) until `stop` is set;
/// each task returns how many it sent.
fn start_load(server: &Server, stop: &Arc<AtomicBool>) -> (Vec<tokio::task::JoinHandle<usize>>, Acked) {
    let acked: Acked = Arc::default();
    let mut tasks = Vec::new();
    for (sender, chat, chat_type) in [(ALICE, BOB, ChatType::User), (BOB, GROUP, ChatType::Group)] {
        let client = Client::new(&server.base_url).unwrap().with_token(server.token(sender));
        let (acked, stop) = (Arc::clone(&acked), Arc::clone(stop));
        tasks.push(tokio::spawn(async move {
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) {
                let msg_id = client.send_text(chat, chat_type, &format!("load {sender} {sent}"), &[]).await.unwrap();
                acked.lock().unwrap().push(msg_id);
                sent += 1;
            }
            sent
        }));
    }
    (tasks, acked)
}

/// Every msg id in `chat`'s whole history as `reader` reads it.
async fn history_ids(server: &Server, reader: &str, chat: &str, chat_type: ChatType) -> HashSet<String> {
    let client = Client::new(&server.base_url).unwrap().with_token(server.token(reader));
    let mut ids = HashSet::new();
    let mut before: Option<String> = None;
    loop {
        let page = client.list_messages(chat, chat_type, 500, before.as_deref()).await.unwrap();
        let Some(last) = page.last() else { break };
        before = Some(last.msg_id.clone());
        ids.extend(page.into_iter().map(|m| m.msg_id));
    }
    ids
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temp path")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_send_load_holds_every_message_acknowledged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path());
    let mut server = Server::start(dir.path(), &db, &["--demo", "--rate-limit", "0"]);
    let stop = Arc::new(AtomicBool::new(false));
    let (tasks, acked) = start_load(&server, &stop);
    while acked.lock().unwrap().len() < 200 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let acked_before: Vec<String> = acked.lock().unwrap().clone();
    let out = dir.path().join("backup.db");
    let args = ["backup".to_owned(), "--db".to_owned(), db.clone(), path_str(&out).to_owned()];
    let backup =
        tokio::task::spawn_blocking(move || run(&args.iter().map(String::as_str).collect::<Vec<_>>())).await.unwrap();
    assert!(backup.ok().starts_with(&format!("backed up {db} to {}: schema version", out.display())), "{backup:?}");
    let acked_during = acked.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        assert!(task.await.unwrap() > 0, "both senders sent");
    }
    let acked_total = acked.lock().unwrap().len();
    assert!(acked_total > acked_during, "the load went on after the backup");
    let logins = std::mem::take(&mut server.logins);
    server.kill_now();

    // The copy serves, with the demo's tokens, and holds what was acknowledged.
    let mut copy = Server::start(dir.path(), &format!("sqlite://{}", out.display()), &[]);
    copy.logins = logins;
    let mut stored = history_ids(&copy, ALICE, BOB, ChatType::User).await;
    stored.extend(history_ids(&copy, BOB, GROUP, ChatType::Group).await);
    let lost: Vec<&String> = acked_before.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged messages are not in the backup: {lost:?}",
        lost.len(),
        acked_before.len()
    );
    eprintln!(
        "acknowledged: {} before the backup, {acked_during} when it ended, {acked_total} in all; {} in the copy",
        acked_before.len(),
        stored.len()
    );
    // The demo's own messages plus what the load wrote, and never more than was sent.
    assert!(stored.len() <= acked_total + 20, "{} stored, {acked_total} sent", stored.len());
}

#[test]
fn backup_refuses_an_existing_file_without_force_and_postgres_and_a_missing_database() {
    let server = Server::demo();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b.db");
    std::fs::write(&out, "keep me").unwrap();
    let err = run(&["backup", "--db", &server.db, path_str(&out)]).fails().to_owned();
    assert!(err.contains(&format!("{} exists: pass --force to replace it", out.display())), "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
    run(&["backup", "--db", &server.db, path_str(&out), "--force"]).ok();
    assert!(std::fs::read(&out).unwrap().starts_with(b"SQLite format 3\0"));

    let err = run(&["backup", "--db", "postgres://yhconv:s3cret@127.0.0.1:1/yhconv", "x.db"]).fails().to_owned();
    assert!(err.contains("pg_dump -Fc") && err.contains("postgres://yhconv:***@127.0.0.1:1/yhconv"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");

    let missing = dir.path().join("missing.db");
    let err = run(&["backup", "--db", path_str(&missing), path_str(&dir.path().join("c.db"))]).fails().to_owned();
    assert!(err.contains(&format!("no SQLite database at {}", missing.display())), "{err}");
    assert!(!missing.exists(), "backup does not create the database it reads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_brings_back_the_backup_and_refuses_what_it_must() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("x.db");
    let db = db_url(dir.path());
    let mut server = Server::start(dir.path(), &db, &["--demo", "--rate-limit", "0"]);
    let alice = server.token(ALICE);
    server.client(&alice, &["send", BOB, "--type", "user", "in the backup"]).ok();
    let list_at_backup = server.list_json(&alice);
    let backup = dir.path().join("backup.db");
    run(&["backup", "--db", &db, path_str(&backup)]).ok();
    server.client(&alice, &["send", BOB, "--type", "user", "after the backup"]).ok();
    assert_ne!(server.list_json(&alice), list_at_backup);

    // Not while a server serves the file, even with --force.
    let err = run(&["restore", path_str(&backup), "--db", &db, "--force"]).fails().to_owned();
    assert!(err.contains(&format!("restoring into {db} needs its server stopped")), "{err}");
    server.kill_now();
    let wal = dir.path().join("x.db-wal");
    assert!(wal.exists(), "kill -9 left a write-ahead log holding the later message");
    // Not over an existing file without --force.
    let err = run(&["restore", path_str(&backup), "--db", &db]).fails().to_owned();
    assert!(err.contains(&format!("{} exists: pass --force to replace it", db_path.display())), "{err}");
    // Not from something that is not a yhconv database; the target stays as it was.
    let size = std::fs::metadata(&db_path).unwrap().len();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a database at all, just some text that is long enough to be a header").unwrap();
    let bare = dir.path().join("bare.db");
    rusqlite::Connection::open(&bare).unwrap().execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
    let newer = dir.path().join("newer.db");
    std::fs::copy(&backup, &newer).unwrap();
    rusqlite::Connection::open(&newer).unwrap().pragma_update(None, "user_version", 99).unwrap();
    let altered = dir.path().join("altered.db");
    std::fs::copy(&backup, &altered).unwrap();
    rusqlite::Connection::open(&altered).unwrap().execute_batch("DROP TABLE pin").unwrap();
    let missing = dir.path().join("missing.db");
    for (bad, why) in [
        (&text, "is not an SQLite database"),
        (&bare, "is not a yhconv database (it has no yhconv schema)"),
        (&newer, "has schema version 99, newer than this yhconv knows"),
        (&altered, "is not a yhconv database: its tables differ from yhconv schema version"),
        (&missing, "no file at"),
    ] {
        let err = run(&["restore", path_str(bad), "--db", &db, "--force"]).fails().to_owned();
        assert!(err.contains(&bad.display().to_string()) && err.contains(why), "{why}: {err}");
        assert_eq!(std::fs::metadata(&db_path).unwrap().len(), size, "the target is untouched");
    }

    let restored = run(&["restore", path_str(&backup), "--db", &db, "--force"]);
    assert!(restored.ok().starts_with(&format!("restored {} to {db}: schema version", backup.display())));
    assert!(!wal.exists(), "the replaced file's write-ahead log is gone");
    assert!(!std::fs::read_dir(dir.path()).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains(".partial")));
    let server = Server::start(dir.path(), &db, &[]);
    assert_eq!(server.list_json(&alice), list_at_backup, "the list is the backup's");
    let texts = server.client(&alice, &["messages", BOB, "--type", "user", "--count", "50", "--json"]).ok().to_owned();
    assert!(texts.contains("in the backup") && !texts.contains("after the backup"), "{texts}");
    server.stop();

    // Into a new file (and directory) too.
    let fresh = dir.path().join("new").join("y.db");
    std::fs::create_dir(fresh.parent().unwrap()).unwrap();
    run(&["restore", path_str(&backup), "--db", &format!("sqlite://{}", fresh.display())]).ok();
    let server = Server::start(dir.path(), &format!("sqlite://{}", fresh.display()), &[]);
    assert_eq!(server.list_json(&alice), list_at_backup);
}

#[test]
fn migrate_takes_sqlite_to_postgres_only_and_hides_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path());
    let err =
        run(&["migrate", "--from", "postgres://u:s3cret@h/a", "--to", "postgres://u:s3cret@h/b"]).fails().to_owned();
    assert!(err.contains("--from must be an sqlite:// database") && err.contains("postgres://u:***@h/a"), "{err}");
    let err = run(&["migrate", "--from", &db, "--to", &db]).fails().to_owned();
    assert!(err.contains("--to must be a postgres:// database"), "{err}");
    let err = run(&["migrate", "--from", &db, "--to", "postgres://u:s3cret@127.0.0.1:1/b"]).fails().to_owned();
    assert!(err.contains("no SQLite database at") && !err.contains("s3cret"), "{err}");
}

/// A new empty database on the test PostgreSQL server, as a URL with a
/// password in it (the test server trusts loopback, so it is never asked
/// for: it is there to be hidden), or None without PostgreSQL.
async fn fresh_postgres_db() -> Option<String> {
    let Some(admin) = std::env::var("YHCONV_TEST_POSTGRES").ok().filter(|u| !u.is_empty()) else {
        eprintln!("skipped: YHCONV_TEST_POSTGRES is not set (run under scripts/with-postgres.sh)");
        return None;
    };
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await.expect("test postgres");
    tokio::spawn(connection);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let name = format!("yhconv_cli_test_{}_{nanos}", std::process::id());
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create test database");
    let (scheme, rest) = admin.split_once("://").expect("a URL");
    let rest = rest.split_once('@').map_or(rest, |(_, host)| host);
    let base = rest.rsplit_once('/').map(|(base, _)| base).expect("the admin URL names a database");
    Some(format!("{scheme}://yhconv:s3cret@{base}/{name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migrated_demo_lists_the_same_on_postgres_and_a_second_migrate_is_refused() {
    let Some(target) = fresh_postgres_db().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path());
    let mut server = Server::start(dir.path(), &db, &["--demo", "--rate-limit", "0"]);
    let alice = server.token(ALICE);
    server.client(&alice, &["send", GROUP, "--type", "group", "before the move"]).ok();
    server.client(&alice, &["pin", GROUP, "--type", "group"]).ok();
    let lists: Vec<_> = server.logins.iter().map(|l| server.list_json(&l.token)).collect();
    let err = run(&["migrate", "--from", &db, "--to", &target]).fails().to_owned();
    assert!(err.contains("needs its server stopped"), "{err}");
    let logins = std::mem::take(&mut server.logins);
    server.stop();

    let migrated = run(&["migrate", "--from", &db, "--to", &target]);
    let out = migrated.ok();
    assert!(out.starts_with(&format!("migrated {db} to postgres://yhconv:***@")) && out.contains("message "), "{out}");
    assert!(!out.contains("s3cret") && !migrated.stderr.contains("s3cret"), "{migrated:?}");

    let mut on_postgres = Server::start(dir.path(), &target, &[]);
    on_postgres.logins = logins;
    let after: Vec<_> = on_postgres.logins.iter().map(|l| on_postgres.list_json(&l.token)).collect();
    assert_eq!(after, lists, "every demo user's list is the same on PostgreSQL");
    let pins = on_postgres.client(&alice, &["pins", "--json"]).ok().to_owned();
    assert!(pins.contains(GROUP), "{pins}");
    on_postgres.stop();

    let again = run(&["migrate", "--from", &db, "--to", &target]);
    let err = again.fails();
    assert!(err.contains("the PostgreSQL database is not empty") && !err.contains("s3cret"), "{err}");
}
