//! Durability: every message answered `code 1` survives `kill -9` of the
//! server at any moment, and of PostgreSQL under two instances, and SIGTERM
//! lets in-flight requests finish; after a restart, unread counts agree
//! with the messages stored.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use yhconv_client::{ChatType, Client};

/// (sender, chat id as the sender addressed it, chat type, msg_id).
type Acked = Arc<Mutex<Vec<(String, String, ChatType, String)>>>;

/// Who writes where in a load: (sender, chat as the sender addresses it, type).
const LOAD_PLAN: [(&str, &str, ChatType); 4] = [
    ("10001", "20001", ChatType::Group),
    ("10002", "20001", ChatType::Group),
    ("10003", "10001", ChatType::User),
    ("10002", "10003", ChatType::User),
];

/// Loads started, so that every text a load sends is a different one.
static LOAD_RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The demo's three users write into the group and to each other until
/// their server goes away; returns the tasks and what was acknowledged.
fn start_load(server: &Server) -> (Vec<tokio::task::JoinHandle<usize>>, Acked) {
    let acked: Acked = Arc::default();
    let mut tasks = Vec::new();
    let run = LOAD_RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    for (sender, chat, chat_type) in LOAD_PLAN {
        let client = Client::new(&server.base_url)
            .unwrap()
            .with_token(server.token(sender))
            .with_timeout(Duration::from_secs(10));
        let acked = Arc::clone(&acked);
        tasks.push(tokio::spawn(async move {
            let mut failures = 0;
            for i in 0.. {
                match client.send_text(chat, chat_type, &format!("load {run} {sender} {i}"), &[]).await {
                    Ok(msg_id) => acked.lock().unwrap().push((sender.to_owned(), chat.to_owned(), chat_type, msg_id)),
                    Err(yhconv_client::Error::Api { code, msg }) => panic!("a refused send: {code} {msg}"),
                    Err(_) => {
                        // The server is gone (or going): stop after a few tries.
                        failures += 1;
                        if failures >= 3 {
                            return i;
                        }
                    }
                }
            }
            unreachable!()
        }));
    }
    (tasks, acked)
}

async fn wait_for(acked: &Acked, count: usize) {
    for _ in 0..400 {
        if acked.lock().unwrap().len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the load did not get {count} answers in time");
}

/// Every acknowledged message is in its chat's history, sequences have no
/// gaps, and each user's unread count is what the stored messages say.
async fn check_after_restart(server: &Server, acked: &[(String, String, ChatType, String)]) {
    let client = |user: &str| Client::new(&server.base_url).unwrap().with_token(server.token(user));
    let chats: [(&str, &str, ChatType); 3] =
        [("10001", "20001", ChatType::Group), ("10003", "10001", ChatType::User), ("10002", "10003", ChatType::User)];
    for (reader, chat, chat_type) in chats {
        let mut history = Vec::new();
        let mut before: Option<String> = None;
        loop {
            let page = client(reader).list_messages(chat, chat_type, 500, before.as_deref()).await.unwrap();
            let Some(last) = page.last() else { break };
            before = Some(last.msg_id.clone());
            history.extend(page);
        }
        let seqs: Vec<u64> = history.iter().rev().map(|m| m.msg_seq).collect();
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "{chat}: gap-free after restart");
        // Each send is stored once or not at all (every text is different).
        let texts: HashSet<&str> = history.iter().filter_map(|m| Some(m.content.as_ref()?.text.as_str())).collect();
        assert_eq!(texts.len(), history.len(), "{chat}: a message is stored twice");
        let stored: HashSet<&str> = history.iter().map(|m| m.msg_id.as_str()).collect();
        let this_chat = chat_key(reader, chat, chat_type);
        let mut checked = 0;
        for (sender, to, to_type, msg_id) in acked {
            if chat_key(sender, to, *to_type) == this_chat {
                assert!(stored.contains(msg_id.as_str()), "acknowledged {msg_id} from {sender} to {to} was lost");
                checked += 1;
            }
        }
        assert!(checked > 0, "{chat}: the load wrote here");
        // Unread, for every participant who never marked anything read:
        // the messages after their own last one.
        let participants: Vec<&str> = match chat_type {
            ChatType::Group => vec!["10001", "10002", "10003"],
            _ => vec![reader, chat],
        };
        // The chat as each participant sees it: the group, or the other user.
        let peer_of = |user: &str| if chat_type == ChatType::Group || user == reader { chat } else { reader };
        for user in participants {
            let own_last = history
                .iter()
                .filter(|m| m.sender.as_ref().unwrap().chat_id == user)
                .map(|m| m.msg_seq)
                .max()
                .unwrap_or(0);
            let expected = history.iter().filter(|m| m.msg_seq > own_last).count() as u64;
            let list = client(user).conversation_list(None).await.unwrap();
            let entry = list.data.iter().find(|c| c.chat_id == peer_of(user)).expect("listed");
            assert_eq!(entry.unread_count, expected, "{user}'s unread in {chat}");
            assert_eq!(entry.unread_message, u64::from(expected > 0));
        }
    }
}

/// One name per chat: the group id, or the pair of users of a direct chat.
fn chat_key(sender: &str, to: &str, chat_type: ChatType) -> String {
    match chat_type {
        ChatType::Group => to.to_owned(),
        _ if sender < to => format!("{sender}-{to}"),
        _ => format!("{to}-{sender}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path());
    let mut server = Server::start(dir.path(), &db, &["--demo", "--rate-limit", "0"]);
    let logins = std::mem::take(&mut server.logins);
    let mut all_acked = Vec::new();
    // Three crashes in a row, each in the middle of a send load.
    for _ in 0..3 {
        server.logins = logins.clone();
        let (tasks, acked) = start_load(&server);
        wait_for(&acked, 150).await;
        server.kill_now();
        for task in tasks {
            task.await.unwrap();
        }
        all_acked.extend(acked.lock().unwrap().drain(..));
        server = Server::start(dir.path(), &db, &["--rate-limit", "0"]);
    }
    server.logins = logins;
    check_after_restart(&server, &all_acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path());
    let mut server = Server::start(dir.path(), &db, &["--demo", "--rate-limit", "0"]);
    // A push socket open through the shutdown gets a proper close frame.
    let alice = Client::new(&server.base_url).unwrap().with_token(server.token("10001"));
    let mut socket = alice.connect_push("10001", "linux", "sigterm").await.unwrap();
    socket.heartbeat().await.unwrap();
    let (tasks, acked) = start_load(&server);
    wait_for(&acked, 100).await;
    let status =
        tokio::task::block_in_place(|| server.terminate(Duration::from_secs(30))).expect("exits after SIGTERM");
    assert!(status.success(), "clean exit: {status}");
    loop {
        match socket.next_event().await {
            Ok(Some(_)) => continue, // the heartbeat ack and the load's pushes
            Ok(None) => break,
            Err(e) => panic!("the socket was cut instead of closed: {e}"),
        }
    }
    // Every request got an answer or a refused connection; none was refused
    // by the server (the load panics on any -1).
    for task in tasks {
        task.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let mut restarted = Server::start(dir.path(), &db, &["--rate-limit", "0"]);
    restarted.logins = std::mem::take(&mut server.logins);
    check_after_restart(&restarted, &acked).await;
    assert!(server.log().contains("shutting down"), "the log says so:\n{}", server.log());
}

/// A PostgreSQL server of this test's own, to kill. `scripts/with-postgres.sh`
/// names the binaries' directory in `YHCONV_TEST_PG_BIN` (and, when run as
/// root, the user to run them as in `YHCONV_TEST_PG_USER`).
struct OwnPostgres {
    bin: std::path::PathBuf,
    user: Option<String>,
    dir: tempfile::TempDir,
    port: u16,
}

impl OwnPostgres {
    /// initdb and start, or `None` when no binaries are named.
    fn start() -> Option<Self> {
        let bin = std::env::var("YHCONV_TEST_PG_BIN").ok().filter(|b| !b.is_empty())?;
        let user = std::env::var("YHCONV_TEST_PG_USER").ok().filter(|u| !u.is_empty());
        let dir = tempfile::Builder::new().prefix("yhconv-pg-kill").tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        if let Some(user) = &user {
            assert!(std::process::Command::new("chown").arg(user).arg(dir.path()).status().unwrap().success());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let pg = Self { bin: bin.into(), user, dir, port };
        let data = pg.data();
        let initdb = ["-D", &data, "-U", "yhconv", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"];
        assert!(pg.command("initdb").args(initdb).stdout(std::process::Stdio::null()).status().unwrap().success());
        pg.pg_ctl_start();
        Some(pg)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://yhconv@127.0.0.1:{}/postgres", self.port)
    }

    fn command(&self, program: &str) -> std::process::Command {
        let program = self.bin.join(program);
        match &self.user {
            Some(user) => {
                let mut command = std::process::Command::new("runuser");
                command.args(["-u", user, "--"]).arg(program);
                command
            }
            None => std::process::Command::new(program),
        }
    }

    /// Starts the server (after a kill: with crash recovery). Commits are
    /// synchronous: what PostgreSQL acknowledged is in its log before the
    /// answer (fsync is off: the test kills processes, not the machine).
    fn pg_ctl_start(&self) {
        let options =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.path().display());
        let log = self.dir.path().join("log").display().to_string();
        let status = self
            .command("pg_ctl")
            .args(["-D", &self.data(), "-l", &log, "-w", "-t", "60", "-o", &options, "start"])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl start failed:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
    }

    /// `kill -9` of the postmaster and every process it started, at once.
    fn kill_9(&self) {
        let pid_file = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid")).unwrap();
        let postmaster: u32 = pid_file.lines().next().unwrap().trim().parse().unwrap();
        let mut pids = children_of(postmaster);
        pids.push(postmaster);
        let list: Vec<String> = pids.iter().map(u32::to_string).collect();
        std::process::Command::new("kill").arg("-9").args(&list).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while pids.iter().any(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists()) {
            assert!(Instant::now() < deadline, "PostgreSQL's processes outlived kill -9");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = self.command("pg_ctl").args(["-D", &self.data(), "-m", "immediate", "stop"]).output();
    }
}

/// The processes whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid ...: the name may hold spaces and parentheses.
        let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
        if after_name.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()) == Some(parent) {
            children.push(pid);
        }
    }
    children
}

/// `GET /healthz`: the status and the `msg`.
async fn health(server: &Server) -> (u16, String) {
    match reqwest::get(format!("{}/healthz", server.base_url)).await {
        Ok(response) => {
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            (status, body["msg"].as_str().unwrap_or_default().to_owned())
        }
        Err(e) => (0, e.to_string()),
    }
}

/// Per instance: how many sends it acknowledged, and how many failed.
type Tally = Arc<Mutex<Vec<(usize, usize)>>>;

/// Like [`start_load`], spread over several instances, through outages:
/// a send that fails is counted and the next one tried after a pause, until
/// `stop` turns true.
fn start_load_through_outages(
    servers: &[&Server],
    stop: tokio::sync::watch::Receiver<bool>,
) -> (Vec<tokio::task::JoinHandle<()>>, Acked, Tally) {
    let acked: Acked = Arc::default();
    let tally: Tally = Arc::new(Mutex::new(vec![(0, 0); servers.len()]));
    let mut tasks = Vec::new();
    for (k, (sender, chat, chat_type)) in LOAD_PLAN.into_iter().enumerate() {
        let instance = k % servers.len();
        let client = Client::new(&servers[instance].base_url)
            .unwrap()
            .with_token(servers[0].token(sender))
            .with_timeout(Duration::from_secs(10));
        let (acked, tally, stop) = (Arc::clone(&acked), Arc::clone(&tally), stop.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                if *stop.borrow() {
                    return;
                }
                match client.send_text(chat, chat_type, &format!("load {sender} {instance} {i}"), &[]).await {
                    Ok(msg_id) => {
                        acked.lock().unwrap().push((sender.to_owned(), chat.to_owned(), chat_type, msg_id));
                        tally.lock().unwrap()[instance].0 += 1;
                    }
                    Err(_) => {
                        tally.lock().unwrap()[instance].1 += 1;
                        // The database is away: do not spin.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }));
    }
    (tasks, acked, tally)
}

/// Waits until `done` holds, polling `what` every 50 ms for at most `within`.
async fn wait_until<T>(within: Duration, what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "{what} did not happen within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_kill_9_of_postgresql_under_two_instances() {
    let Some(pg) = OwnPostgres::start() else {
        eprintln!("skipped: YHCONV_TEST_PG_BIN is not set (scripts/with-postgres.sh sets it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = pg.url();
    let fast = ["--rate-limit", "0", "--db-connect-timeout-secs", "1"];
    let a = Server::start(dir.path(), &db, &[&["--demo"][..], &fast].concat());
    let mut b = Server::start(dir.path(), &db, &fast);
    b.logins = a.logins.clone();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let (tasks, acked, tally) = start_load_through_outages(&[&a, &b], stop_rx);
    wait_for(&acked, 100).await;

    pg.kill_9();
    let acked_before_kill = acked.lock().unwrap().len();
    // Meanwhile both instances say what is wrong, and sends fail.
    for server in [&a, &b] {
        let (status, msg) = wait_until(Duration::from_secs(20), "an unhealthy /healthz", async || {
            let (status, msg) = health(server).await;
            (status == 503).then_some((status, msg))
        })
        .await;
        assert!(msg.starts_with("database unavailable: "), "{status} {msg}");
    }
    let failed_meanwhile: Vec<usize> = tally.lock().unwrap().iter().map(|t| t.1).collect();
    assert!(failed_meanwhile.iter().all(|&n| n > 0), "sends failed on each instance: {failed_meanwhile:?}");

    // Restarted, both recover by themselves: healthy, and sending again.
    pg.pg_ctl_start();
    for server in [&a, &b] {
        wait_until(Duration::from_secs(60), "a healthy /healthz after the restart", async || {
            (health(server).await.0 == 200).then_some(())
        })
        .await;
    }
    let after_restart: Vec<usize> = tally.lock().unwrap().iter().map(|t| t.0).collect();
    wait_until(Duration::from_secs(60), "sends through both instances after the restart", async || {
        let now = tally.lock().unwrap().clone();
        now.iter().zip(&after_restart).all(|(now, then)| now.0 >= then + 25).then_some(())
    })
    .await;
    // Pushes cross instances again: a message sent through A reaches a
    // socket on B (the push feed reconnected by itself).
    let ben = Client::new(&b.base_url).unwrap().with_token(b.token("10002"));
    let mut socket = ben.connect_push("10002", "linux", "after-kill").await.unwrap();
    let alice = Client::new(&a.base_url).unwrap().with_token(a.token("10001"));
    let marker = "after the restart";
    alice.send_text("20001", ChatType::Group, marker, &[]).await.unwrap();
    let pushed = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match socket.next_event().await.unwrap() {
                Some(yhconv_client::PushEvent::Message(m)) if m.content.as_ref().is_some_and(|c| c.text == marker) => {
                    return
                }
                Some(_) => continue,
                None => panic!("the socket closed"),
            }
        }
    })
    .await;
    assert!(pushed.is_ok(), "a send through A reached B's socket after the restart");

    stop.send(true).unwrap();
    for task in tasks {
        task.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > acked_before_kill, "sends were acknowledged after the restart");
    eprintln!(
        "{} sends acknowledged ({acked_before_kill} before the kill), per instance (acknowledged, failed): {:?}",
        acked.len(),
        tally.lock().unwrap()
    );
    check_after_restart(&a, &acked).await;
    check_after_restart(&b, &acked).await;
}
