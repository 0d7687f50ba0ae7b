//! Durability: every message answered `code 1` survives `kill -9` of the
//! server at any moment, and SIGTERM lets in-flight requests finish; after a
//! restart, unread counts agree with the messages stored.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use yhconv_client::{ChatType, Client};

/// (sender, chat id as the sender addressed it, chat type, msg_id).
type Acked = Arc<Mutex<Vec<(String, String, ChatType, String)>>>;

/// The demo's three users write into the group and to each other until
/// their server goes away; returns the tasks and what was acknowledged.
fn start_load(server: &Server) -> (Vec<tokio::task::JoinHandle<usize>>, Acked) {
    let acked: Acked = Arc::default();
    let plan: [(&str, &str, ChatType); 4] = [
        ("10001", "20001", ChatType::Group),
        ("10002", "20001", ChatType::Group),
        ("10003", "10001", ChatType::User),
        ("10002", "10003", ChatType::User),
    ];
    let mut tasks = Vec::new();
    for (sender, chat, chat_type) in plan {
        let client = Client::new(&server.base_url)
            .unwrap()
            .with_token(server.token(sender))
            .with_timeout(Duration::from_secs(10));
        let acked = Arc::clone(&acked);
        tasks.push(tokio::spawn(async move {
            let mut failures = 0;
            for i in 0.. {
                match client.send_text(chat, chat_type, &format!("load {sender} {i}"), &[]).await {
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
