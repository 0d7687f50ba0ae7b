//! End-to-end tests of `yhconv client`: the real binary against a real
//! `yhconv serve --demo`, checking its tables, JSON and errors as a user or a
//! script sees them.
//!
//! The demo world, as Alice (10001) sees it, newest first: the bot 30001
//! (her `/weather 上海`), the group 20001 (three unread from others, one of
//! them mentioning her, the last an image from 小明) and Bob 10002 (shown by
//! her remark `老鲍 (Bob)`; her reply is the last message).

mod common;

use common::*;
use serde_json::Value;

const LIST_HEADERS: [&str; 8] = ["NAME", "TYPE", "UNREAD", "@", "MUTED", "LAST MESSAGE", "WHEN", "CHAT ID"];

/// The list table as cells, cut at the header's display columns.
#[track_caller]
fn list_table(server: &Server, token: &str) -> Vec<Vec<String>> {
    let out = server.client(token, &["list"]);
    let text = out.ok();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 1, "no rows:\n{text}");
    assert!(lines.iter().all(|l| !l.ends_with(' ')), "a line ends in blanks:\n{text}");
    let starts = header_columns(lines[0], &LIST_HEADERS);
    assert_eq!(cells(lines[0], &starts), LIST_HEADERS, "header:\n{text}");
    lines[1..].iter().map(|l| cells(l, &starts)).collect()
}

/// The row of `chat_id` (the last cell) in a list table.
#[track_caller]
fn row<'a>(rows: &'a [Vec<String>], chat_id: &str) -> &'a [String] {
    rows.iter().find(|r| r[7] == chat_id).unwrap_or_else(|| panic!("{chat_id} not in {rows:#?}"))
}

fn is_token(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[test]
fn login_prints_a_token_that_works() {
    let server = Server::demo();
    let alice = server.login(ALICE);
    let out = run_with(server.client_cmd(), &["--email", &alice.email, "--password", &alice.password, "login"]);
    let token = out.ok().trim_end_matches('\n').to_owned();
    assert!(is_token(&token), "not a token: {:?}", out.stdout);
    assert_eq!(out.stdout, format!("{token}\n"), "login prints the token alone");
    let me = server.client(&token, &["whoami"]);
    assert_eq!(me.ok(), "id     10001\nname   Alice\nemail  alice@example.com\n");

    let out =
        run_with(server.client_cmd(), &["login", "--json", "--email", &alice.email, "--password", &alice.password]);
    let json = out.json();
    assert_eq!(json.as_object().map(|o| o.len()), Some(1), "{json}");
    let token = json["token"].as_str().expect("token is a string");
    assert!(is_token(token), "{json}");
    let me = server.client(token, &["whoami", "--json"]).json();
    assert_eq!((me["id"].as_str(), me["name"].as_str()), (Some(ALICE), Some("Alice")));

    let out = run_with(server.client_cmd(), &["--email", &alice.email, "--password", "not-it", "login"]);
    let err = out.fails();
    assert!(err.contains("login") && err.contains("-1"), "{err}");
}

#[test]
fn list_table_is_aligned_and_shows_the_demo() {
    let server = Server::demo();
    let rows = list_table(&server, &server.token(ALICE));
    let ids: Vec<&str> = rows.iter().map(|r| r[7].as_str()).collect();
    assert_eq!(ids, [BOT, GROUP, BOB], "{rows:#?}");
    // The WHEN cell depends on the clock; every other cell is known.
    let without_when = |r: &[String]| [&r[..6], &r[7..]].concat();
    assert_eq!(without_when(&rows[0]), ["天气机器人", "bot", "", "", "", "/weather 上海", BOT]);
    assert_eq!(without_when(&rows[1]), ["yhconv 开发组", "group", "3", "@", "", "小明: [图片]", GROUP]);
    assert_eq!(without_when(&rows[2]), ["老鲍 (Bob)", "user", "", "", "", "好呀，七点见 🍜", BOB]);
    assert!(rows.iter().all(|r| !r[6].is_empty()), "WHEN is empty: {rows:#?}");

    // Bob's own view: no remark, 小明's markdown on one line, unread from her.
    let rows = list_table(&server, &server.token(BOB));
    let ming = row(&rows, MING);
    assert_eq!(ming[..6], ["小明", "user", "1", "", "", "**周报** 已经写好了 请查收"]);
    assert_eq!(row(&rows, ALICE)[0], "Alice");
}

#[test]
fn list_json_has_the_documented_fields() {
    let server = Server::demo();
    let list = server.list_json(&server.token(ALICE));
    assert_eq!(chat_ids(&list), [BOT, GROUP, BOB]);
    let fields = [
        "chat_id",
        "chat_type",
        "name",
        "chat_content",
        "timestamp_ms",
        "unread_message",
        "at",
        "avatar_id",
        "avatar_url",
        "do_not_disturb",
        "timestamp",
        "at_data",
        "real_name",
        "certification_level",
        "unread_count",
        "mention_count",
        "md5",
    ];
    let md5 = list[0]["md5"].as_str().expect("md5 is a string").to_owned();
    assert!(md5.len() == 32 && md5.bytes().all(|b| b.is_ascii_hexdigit()), "{md5}");
    for c in &list {
        let mut keys: Vec<&str> = c.as_object().expect("an object").keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut want = fields.to_vec();
        want.sort_unstable();
        assert_eq!(keys, want);
        assert_eq!(c["md5"], md5.as_str(), "one md5 for the whole list");
        assert_eq!(c["timestamp"].as_u64().unwrap(), c["timestamp_ms"].as_u64().unwrap() / 1000, "{c}");
    }
    let times: Vec<u64> = list.iter().map(|c| c["timestamp_ms"].as_u64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] > w[1]), "not newest first: {times:?}");

    let bot = entry(&list, BOT);
    assert_eq!((bot["chat_type"].as_u64(), bot["name"].as_str()), (Some(3), Some("天气机器人")));
    assert_eq!((bot["unread_count"].as_u64(), bot["unread_message"].as_u64()), (Some(0), Some(0)));
    assert_eq!(bot["at_data"], Value::Null);

    let group = entry(&list, GROUP);
    assert_eq!(group["chat_type"], 2);
    assert_eq!((group["name"].as_str(), group["real_name"].as_str()), (Some("yhconv 开发组"), Some("yhconv 开发组")));
    assert_eq!(group["chat_content"], "小明: [图片]");
    assert_eq!(group["unread_count"], 3);
    assert_eq!(group["unread_message"], 1, "field 6 is a flag");
    assert_eq!((group["at"].as_u64(), group["mention_count"].as_u64()), (Some(1), Some(1)));
    let at = &group["at_data"];
    assert_eq!(at["mentioned_id"], ALICE);
    assert_eq!(at["mentioned_in"], GROUP);
    assert_eq!((at["mentioner_id"].as_str(), at["mentioner_name"].as_str()), (Some(BOB), Some("Bob")));
    assert_eq!(at["msg_seq"], 2, "Bob's message is the group's second");
    assert_eq!(group["do_not_disturb"], 0);

    let bob = entry(&list, BOB);
    assert_eq!(bob["chat_type"], 1);
    assert_eq!((bob["name"].as_str(), bob["real_name"].as_str()), (Some("老鲍 (Bob)"), Some("Bob")));
    assert_eq!(bob["chat_content"], "好呀，七点见 🍜");
    assert_eq!(bob["avatar_url"], "https://example.com/avatar/10002.png");
}

#[test]
fn send_then_messages_shows_the_text() {
    let server = Server::demo();
    let (alice, bob) = (server.token(ALICE), server.token(BOB));
    let text = "hello 大家 from the cli";
    let out = server.client(&alice, &["send", GROUP, "--type", "group", text, "--mention", BOB]);
    let msg_id = out.ok().trim_end().to_owned();
    assert!(!msg_id.is_empty() && !msg_id.contains(char::is_whitespace), "{:?}", out.stdout);
    assert_eq!(out.stdout, format!("{msg_id}\n"));

    let out = server.client(&alice, &["messages", GROUP, "--type", "group", "--count", "5"]);
    let lines: Vec<&str> = out.ok().lines().collect();
    assert_eq!(lines.len(), 4, "three demo messages and hers, oldest first:\n{}", out.stdout);
    assert!(lines[0].ends_with("  小明: 大家好 👋 新版本今天发布"), "{lines:#?}");
    assert!(lines[1].ends_with("  Bob: @Alice 请看一下 PR #42"), "{lines:#?}");
    assert!(lines[2].ends_with("  小明: [image]"), "{lines:#?}");
    assert!(lines[3].ends_with(&format!("  Alice: {text}")), "{lines:#?}");

    let msgs = server.client(&bob, &["messages", GROUP, "--type", "group", "--count", "1", "--json"]).json();
    let last = &msgs[0];
    assert_eq!(msgs.as_array().map(Vec::len), Some(1), "{msgs}");
    assert_eq!(last["msg_id"], msg_id.as_str());
    assert_eq!(last["content"]["text"], text);
    assert_eq!(last["content"]["mentioned_id"], serde_json::json!([BOB]));
    assert_eq!(last["sender"]["chat_id"], ALICE);
    assert_eq!(last["direction"], "left", "Bob did not send it");
    let mine = server.client(&alice, &["messages", GROUP, "--type", "group", "--count", "1", "--json"]).json();
    assert_eq!(mine[0]["direction"], "right", "{mine}");

    // --before pages back from a msg id (the demo's are fixed).
    let out = server.client(&bob, &["messages", GROUP, "--type", "group", "--count", "1", "--before", "demo-5"]);
    let lines: Vec<&str> = out.ok().lines().collect();
    assert!(lines.len() == 1 && lines[0].ends_with("  Bob: @Alice 请看一下 PR #42"), "{lines:#?}");

    // The sender's list: the group first, read; Bob's: mentioned.
    let list = server.list_json(&alice);
    assert_eq!(chat_ids(&list)[0], GROUP);
    let group = entry(&list, GROUP);
    assert_eq!(group["chat_content"], format!("Alice: {text}"));
    assert_eq!((group["unread_count"].as_u64(), group["at"].as_u64()), (Some(0), Some(0)), "{group}");
    let group = server.list_json(&bob).into_iter().find(|c| c["chat_id"] == GROUP).expect("listed for Bob");
    assert_eq!(group["unread_count"], 2, "小明's image and Alice's message: {group}");
    assert_eq!((group["at"].as_u64(), group["mention_count"].as_u64()), (Some(1), Some(1)), "{group}");
    assert_eq!(group["at_data"]["mentioner_id"], ALICE);

    // --json answers the msg id as an object.
    let sent = server.client(&bob, &["send", ALICE, "--type", "user", "好的", "--json"]).json();
    let id = sent["msg_id"].as_str().expect("msg_id");
    let msgs = server.client(&alice, &["messages", BOB, "--type", "user", "--count", "1", "--json"]).json();
    assert_eq!(msgs[0]["msg_id"], id);
    assert_eq!(msgs[0]["content"]["text"], "好的");
}

#[test]
fn read_clears_unread() {
    let server = Server::demo();
    let alice = server.token(ALICE);
    assert_eq!(server.client(&alice, &["read", GROUP]).ok(), "ok\n");
    let list = server.list_json(&alice);
    let group = entry(&list, GROUP);
    for field in ["unread_count", "unread_message", "at", "mention_count"] {
        assert_eq!(group[field], 0, "{field}: {group}");
    }
    assert_eq!(group["at_data"], Value::Null);
    assert_eq!(chat_ids(&list), [BOT, GROUP, BOB], "reading does not reorder");
    let rows = list_table(&server, &alice);
    assert_eq!(row(&rows, GROUP)[2..4], ["", ""], "no unread, no @");

    // Bob has one unread from 小明; --json confirms with an object.
    let bob = server.token(BOB);
    assert_eq!(entry(&server.list_json(&bob), MING)["unread_count"], 1);
    assert_eq!(server.client(&bob, &["read", MING, "--json"]).json(), serde_json::json!({ "ok": true }));
    assert_eq!(entry(&server.list_json(&bob), MING)["unread_count"], 0);
}

#[test]
fn mute_on_and_off_show_in_do_not_disturb() {
    let server = Server::demo();
    let alice = server.token(ALICE);
    assert_eq!(server.client(&alice, &["mute", GROUP, "on"]).ok(), "ok\n");
    let list = server.list_json(&alice);
    let group = entry(&list, GROUP);
    assert_eq!(group["do_not_disturb"], 1);
    assert_eq!(group["unread_count"], 3, "muted chats still count unread");
    assert_eq!(entry(&list, BOB)["do_not_disturb"], 0, "only that chat");
    assert_eq!(row(&list_table(&server, &alice), GROUP)[4], "yes");
    // Per user: Bob's view of the group is not muted.
    assert_eq!(entry(&server.list_json(&server.token(BOB)), GROUP)["do_not_disturb"], 0);

    assert_eq!(server.client(&alice, &["mute", GROUP, "off"]).ok(), "ok\n");
    assert_eq!(entry(&server.list_json(&alice), GROUP)["do_not_disturb"], 0);
    assert_eq!(row(&list_table(&server, &alice), GROUP)[4], "");
}

#[test]
fn top_brings_a_chat_first() {
    let server = Server::demo();
    let (alice, bob) = (server.token(ALICE), server.token(BOB));
    server.client(&alice, &["send", BOB, "--type", "user", "see you"]).ok();
    assert_eq!(chat_ids(&server.list_json(&alice)), [BOB, BOT, GROUP]);
    assert_eq!(server.client(&alice, &["top", BOT]).ok(), "ok\n");
    let list = server.list_json(&alice);
    assert_eq!(chat_ids(&list), [BOT, BOB, GROUP]);
    assert_eq!(entry(&list, BOT)["chat_content"], "/weather 上海", "top keeps the preview");

    // Bob never talked to the bot: top creates the conversation, first, for him only.
    assert!(!chat_ids(&server.list_json(&bob)).contains(&BOT.to_owned()));
    server.client(&bob, &["top", BOT]).ok();
    let list = server.list_json(&bob);
    assert_eq!(chat_ids(&list)[0], BOT);
    let bot = entry(&list, BOT);
    assert_eq!((bot["name"].as_str(), bot["chat_content"].as_str()), (Some("天气机器人"), Some("")));
    assert_eq!(bot["unread_count"], 0);
    assert_eq!(row(&list_table(&server, &bob), BOT)[..6], ["天气机器人", "bot", "", "", "", ""]);
}

#[test]
fn remove_hides_until_the_next_message() {
    let server = Server::demo();
    let (alice, bob) = (server.token(ALICE), server.token(BOB));
    assert_eq!(server.client(&alice, &["remove", BOB]).ok(), "ok\n");
    assert_eq!(chat_ids(&server.list_json(&alice)), [BOT, GROUP]);
    let table = server.client(&alice, &["list"]);
    assert!(!table.ok().contains("老鲍"), "{}", table.stdout);
    // Only for her: Bob still lists Alice.
    assert!(chat_ids(&server.list_json(&bob)).contains(&ALICE.to_owned()));

    server.client(&bob, &["send", ALICE, "--type", "user", "还在吗？"]).ok();
    let list = server.list_json(&alice);
    assert_eq!(chat_ids(&list), [BOB, BOT, GROUP]);
    let entry = entry(&list, BOB);
    assert_eq!((entry["unread_count"].as_u64(), entry["chat_content"].as_str()), (Some(1), Some("还在吗？")));
}

#[test]
fn watch_json_prints_a_message_pushed_by_another_user() {
    let server = Server::demo();
    let (alice, bob) = (server.token(ALICE), server.token(BOB));
    let mut cmd = server.client_cmd();
    cmd.args(["--token", &alice, "watch", "--json"]);
    let alice_watch = Spawned::new(cmd);
    let mut cmd = server.client_cmd();
    cmd.args(["--token", &bob, "watch"]);
    let bob_watch = Spawned::new(cmd);
    // `watch` says so on stderr once the socket is logged in and subscribed.
    for (watch, name) in [(&alice_watch, "Alice (10001)"), (&bob_watch, "Bob (10002)")] {
        let (line, _) = watch.stderr.until("the watching line", |l| l.starts_with("watching as"));
        assert!(line.contains(name), "{line}");
    }

    let text = "ping 🛎 over the socket";
    let msg_id = server.client(&bob, &["send", ALICE, "--type", "user", text]).ok().trim_end().to_owned();

    let (line, before) = alice_watch.stdout.until("the pushed message", |l| l.contains(&msg_id));
    assert!(before.is_empty(), "other output first: {before:#?}");
    let push: Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
    assert_eq!(push["msg_id"], msg_id.as_str());
    assert_eq!(push["chat_id"], BOB, "chat_id as the receiver sees it");
    assert_eq!(push["chat_type"], 1);
    assert_eq!(push["recv_id"], ALICE);
    assert_eq!((push["sender"]["chat_id"].as_str(), push["sender"]["name"].as_str()), (Some(BOB), Some("Bob")));
    assert_eq!(push["content"]["text"], text);
    assert_eq!(push["msg_seq"], 3, "the direct chat's third message");

    // The sender's own socket gets it too, as a text line naming Alice.
    let (line, _) = bob_watch.stdout.until("the pushed line", |l| l.contains(text));
    assert!(line.ends_with(&format!("  user {ALICE}  Bob  #3  {text}")), "{line}");

    // Logging out closes the token's socket: watch ends, saying why, non-zero.
    server.client(&bob, &["logout"]).ok();
    let (line, _) = bob_watch.stderr.until("the close reason", |l| l.contains("closed"));
    assert_eq!(line, "error: push socket: the server closed it: logged out (1008)");
    let mut bob_watch = bob_watch;
    assert_eq!(bob_watch.child.wait().unwrap().code(), Some(1));
    assert!(server.client(&bob, &["whoami"]).fails().contains("-101"));
}

#[test]
fn live_on_two_terminals_of_one_user_follows_a_mark_read_made_elsewhere() {
    let server = Server::demo();
    let alice = server.token(ALICE);
    let spawn = |device: &str| {
        let mut cmd = server.client_cmd();
        cmd.args(["--token", &alice, "--device-id", device, "live", "--json"]);
        Spawned::new(cmd)
    };
    let (phone, desktop) = (spawn("phone"), spawn("desktop"));
    let rows = |line: &str| -> Vec<Value> {
        serde_json::from_str::<Value>(line)
            .unwrap_or_else(|e| panic!("one JSON array per line ({e}): {line}"))
            .as_array()
            .unwrap()
            .clone()
    };
    let (first, _) = phone.stdout.until("the first view", |l| l.starts_with('['));
    desktop.stdout.until("the first view", |l| l.starts_with('['));
    let unread =
        rows(&first).into_iter().find(|c| c["unread_count"].as_u64() > Some(0)).expect("the demo has an unread chat");
    let chat = unread["chat_id"].as_str().unwrap().to_owned();

    // Marked read from a third device: both views update by themselves.
    server.client(&alice, &["read", &chat]).ok();
    for view in [&phone, &desktop] {
        view.stdout.until("the view with the chat read", |l| {
            l.starts_with('[') && rows(l).iter().any(|c| c["chat_id"] == chat.as_str() && c["unread_count"] == 0)
        });
    }
}

#[test]
fn errors_are_reported_with_the_server_code() {
    let server = Server::demo();
    let alice = server.token(ALICE);
    for args in [
        &["read", "99999"][..],
        &["send", "99999", "--type", "user", "hi"],
        &["read", "99999", "--json"],
        &["mute", "99999", "on"],
    ] {
        let out = server.client(&alice, args);
        let err = out.fails();
        assert!(err.contains("-1") && err.contains("unknown chat") && err.contains("99999"), "{args:?}: {err}");
    }
    let out = server.client(&alice, &["send", BOB, "--type", "user", " \n "]);
    assert!(out.fails().contains("-1"), "blank text is refused");

    let out = server.client("0123456789abcdef", &["list"]);
    let err = out.fails();
    assert!(err.contains("-101") && err.contains("log in again"), "{err}");
    let out = server.client("0123456789abcdef", &["watch", "--json"]);
    assert!(out.fails().contains("-101"));

    let out = run_with(server.client_cmd(), &["list"]);
    let err = out.fails();
    assert!(err.contains("--token") && err.contains("--email"), "{err}");

    // Nothing listens on a port we held and released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = run(&["client", "--base-url", &format!("http://127.0.0.1:{port}"), "--token", &alice, "list"]);
    assert!(out.fails().starts_with("error: list: "), "{}", out.stderr);
}

#[test]
fn environment_variables_replace_flags() {
    let server = Server::demo();
    let alice = server.login(ALICE);
    let mut cmd = yhconv();
    cmd.env("YHCONV_TOKEN", &alice.token).env("YHCONV_BASE_URL", &server.base_url);
    let out = run_with(cmd, &["client", "whoami", "--json"]);
    assert_eq!(out.json()["email"], "alice@example.com");

    let mut cmd = yhconv();
    cmd.env("YHCONV_TOKEN", &alice.token).env("YHCONV_BASE_URL", &server.base_url);
    assert_eq!(chat_ids(run_with(cmd, &["client", "list", "--json"]).json().as_array().unwrap()), [BOT, GROUP, BOB]);

    // A flag wins over the environment.
    let mut cmd = yhconv();
    cmd.env("YHCONV_TOKEN", "not-a-token").env("YHCONV_BASE_URL", &server.base_url);
    let out = run_with(cmd, &["client", "--token", &alice.token, "whoami"]);
    assert!(out.ok().contains("Alice"));

    // Email and password from the environment; an empty token counts as none.
    let mut cmd = yhconv();
    cmd.env("YHCONV_BASE_URL", &server.base_url)
        .env("YHCONV_TOKEN", "")
        .env("YHCONV_EMAIL", &alice.email)
        .env("YHCONV_PASSWORD", &alice.password);
    assert!(run_with(cmd, &["client", "whoami"]).ok().contains("alice@example.com"));
    let mut cmd = yhconv();
    cmd.env("YHCONV_BASE_URL", &server.base_url)
        .env("YHCONV_EMAIL", &alice.email)
        .env("YHCONV_PASSWORD", &alice.password);
    assert!(is_token(run_with(cmd, &["client", "login"]).ok().trim_end()));
}

#[test]
fn pins_edit_recall_and_history_from_the_cli() {
    let server = Server::demo();
    let (alice, bob) = (server.token(ALICE), server.token(BOB));
    // Pins: pin two, see them newest first, unpin one.
    assert_eq!(server.client(&alice, &["pins"]).ok(), "no pins\n");
    server.client(&alice, &["pin", GROUP, "--type", "group"]).ok();
    server.client(&alice, &["pin", BOB, "--type", "user"]).ok();
    let out = server.client(&alice, &["pins"]);
    let lines: Vec<&str> = out.ok().lines().collect();
    assert!(lines[0].starts_with("NAME") && lines.len() == 3, "{lines:#?}");
    assert!(lines[1].starts_with("老鲍 (Bob)") && lines[2].starts_with("yhconv 开发组"), "{lines:#?}");
    server.client(&alice, &["unpin", BOB, "--type", "user"]).ok();
    let pins = server.client(&alice, &["pins", "--json"]).json();
    assert_eq!(pins.as_array().map(Vec::len), Some(1), "{pins}");
    assert_eq!((pins[0]["chatId"].as_str(), pins[0]["chatType"].as_u64()), (Some(GROUP), Some(2)));

    // Edit: the list and history follow.
    let msg_id = server.client(&alice, &["send", BOB, "--type", "user", "teh typo"]).ok().trim().to_owned();
    server.client(&alice, &["edit", BOB, "--type", "user", &msg_id, "the typo, fixed"]).ok();
    let list = server.list_json(&bob);
    assert_eq!(entry(&list, ALICE)["chat_content"], "the typo, fixed");
    let history = server.client(&bob, &["history", ALICE, "--type", "user"]).ok().to_owned();
    assert!(history.lines().last().unwrap().ends_with("  Alice: the typo, fixed"), "{history}");
    let out = server.client(&bob, &["edit", ALICE, "--type", "user", &msg_id, "not mine"]);
    assert!(out.fails().contains("only its sender may edit a message"), "{}", out.stderr);

    // Recall: gone from the preview and the history, and not unread.
    server.client(&alice, &["recall", BOB, "--type", "user", &msg_id]).ok();
    let list = server.list_json(&bob);
    let alice_row = entry(&list, ALICE);
    assert_eq!(alice_row["chat_content"], "Alice 撤回了一条消息");
    let history = server.client(&bob, &["history", ALICE, "--type", "user"]).ok().to_owned();
    assert!(history.lines().last().unwrap().ends_with("  Alice: [recalled]"), "{history}");
    assert!(!history.contains("typo"), "{history}");
    // --after: only what came after a seq.
    let after = server.client(&bob, &["history", ALICE, "--type", "user", "--after", "1", "--json"]).json();
    let seqs: Vec<u64> = after.as_array().unwrap().iter().map(|m| m["msg_seq"].as_u64().unwrap()).collect();
    assert!(seqs.iter().all(|s| *s > 1) && !seqs.is_empty(), "{after}");
}
