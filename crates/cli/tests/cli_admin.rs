//! End-to-end tests of identities: `yhconv import` of a world file and
//! `yhconv admin` one identity at a time, checked through a `yhconv serve`
//! on the same database and `yhconv client` commands.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::{json, Value};

/// A small world: Ann (who can log in by email), Ben (no password), the
/// group Team (owner Ann, member Ben), the bot Echo, and Ann's remark for Ben.
fn world() -> Value {
    json!({
        "users": [
            {"id": "10001", "name": "Ann", "email": "ann@example.com", "password": "ann-pw",
             "avatar_url": "https://example.com/ann.png", "avatar_id": 0},
            {"id": "10002", "name": "Ben"}
        ],
        "groups": [
            {"id": "20001", "name": "Team", "owner": "10001", "members": ["10002"]}
        ],
        "bots": [{"id": "30001", "name": "Echo"}],
        "remarks": [{"user": "10001", "target": "10002", "remark": "Benny"}]
    })
}

fn write(dir: &Path, name: &str, world: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(world).unwrap()).unwrap();
    path
}

fn import(db: &str, file: &Path) -> Run {
    run(&["import", "--db", db, file.to_str().unwrap()])
}

fn admin(db: &str, args: &[&str]) -> Run {
    let mut all = vec!["admin", "--db", db];
    all.extend_from_slice(args);
    run(&all)
}

/// `admin token USER`: a fresh login token.
#[track_caller]
fn token(db: &str, user: &str) -> String {
    let out = admin(db, &["token", user]);
    let token = out.ok().trim_end().to_owned();
    assert!(token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()), "{:?}", out.stdout);
    token
}

#[test]
fn import_prints_counts_and_reimport_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path());
    let file = write(dir.path(), "world.json", &world());
    let out = import(&db, &file);
    assert_eq!(out.ok(), format!("imported 2 users, 1 groups (2 memberships), 1 bots, 1 remarks into {db}\n"));
    let ben = token(&db, "10002");
    import(&db, &file).ok();

    let server = Server::start(dir.path(), &db, &[]);
    // Ann logs in with the password from the file; Ben has none.
    let login = |email: &str, password: &str| {
        run_with(server.client_cmd(), &["--email", email, "--password", password, "login"])
    };
    let ann = login("ann@example.com", "ann-pw").ok().trim_end().to_owned();
    assert!(login("ann@example.com", "").fails().contains("--password"));
    assert!(login("ben@example.com", "x").fails().contains("-1"));
    // The token issued before the re-import still works.
    let me = server.client(&ben, &["whoami", "--json"]).json();
    assert_eq!((me["id"].as_str(), me["name"].as_str()), (Some("10002"), Some("Ben")));

    // Ben is in the group, Ann (the owner) too; her remark names him.
    server.client(&ben, &["send", "20001", "--type", "group", "hi team"]).ok();
    server.client(&ben, &["send", "10001", "--type", "user", "hi Ann"]).ok();
    server.client(&ann, &["send", "20001", "--type", "group", "hi Ben"]).ok();
    server.client(&ann, &["top", "30001"]).ok();
    let before = server.list_json(&ann);
    assert_eq!(chat_ids(&before), ["30001", "20001", "10002"]);
    assert_eq!(entry(&before, "10002")["name"], "Benny");
    assert_eq!(entry(&before, "10002")["real_name"], "Ben");
    assert_eq!(entry(&before, "30001")["name"], "Echo");
    assert_eq!(entry(&before, "20001")["name"], "Team");
    let history_before = server.client(&ben, &["messages", "20001", "--type", "group", "--json"]).json();
    server.stop();

    // Once more, with the server down, then up again on the same database.
    let out = import(&db, &file);
    assert!(out.ok().starts_with("imported 2 users"), "{}", out.stdout);
    let server = Server::start(dir.path(), &db, &[]);
    assert_eq!(server.list_json(&ann), before, "re-importing changed Ann's list");
    assert_eq!(server.client(&ben, &["messages", "20001", "--type", "group", "--json"]).json(), history_before);
    assert_eq!(server.client(&ben, &["whoami", "--json"]).json(), me);
}

#[test]
fn reimport_updates_in_place_and_keeps_members() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path());
    import(&db, &write(dir.path(), "world.json", &world())).ok();
    let mut changed = world();
    changed["users"][1]["name"] = json!("Benjamin");
    changed["groups"][0]["name"] = json!("Team 2");
    changed["groups"][0]["members"] = json!([]);
    changed["remarks"][0]["remark"] = json!("老本");
    import(&db, &write(dir.path(), "changed.json", &changed)).ok();

    let (ann, ben) = (token(&db, "10001"), token(&db, "10002"));
    let server = Server::start(dir.path(), &db, &[]);
    assert_eq!(server.client(&ben, &["whoami", "--json"]).json()["name"], "Benjamin");
    // Left out of the file's members, Ben is still one.
    server.client(&ben, &["send", "20001", "--type", "group", "still here"]).ok();
    server.client(&ben, &["send", "10001", "--type", "user", "hi"]).ok();
    let list = server.list_json(&ann);
    let group = entry(&list, "20001");
    assert_eq!(
        (group["name"].as_str(), group["chat_content"].as_str()),
        (Some("Team 2"), Some("Benjamin: still here"))
    );
    let direct = entry(&list, "10002");
    assert_eq!((direct["name"].as_str(), direct["real_name"].as_str()), (Some("老本"), Some("Benjamin")));
}

#[test]
fn a_bad_world_fails_clearly_and_imports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path());
    import(&db, &write(dir.path(), "world.json", &world())).ok();

    // Each file also adds the user 10005 and renames Ann: neither may stay.
    let bad = |mutate: &dyn Fn(&mut Value)| {
        let mut w = world();
        w["users"][0]["name"] = json!("Changed");
        w["users"].as_array_mut().unwrap().push(json!({"id": "10005", "name": "Cat"}));
        mutate(&mut w);
        w
    };
    let cases: Vec<(&str, Value, &[&str])> = vec![
        (
            "an id that is not decimal",
            bad(&|w| w["users"].as_array_mut().unwrap().push(json!({"id": "abc", "name": "X"}))),
            &["id", "abc"],
        ),
        ("a member that does not exist", bad(&|w| w["groups"][0]["members"] = json!(["10002", "99999"])), &["99999"]),
        (
            "a member that is not a user",
            bad(&|w| w["groups"][0]["members"] = json!(["30001"])),
            &["30001", "not a user"],
        ),
        ("an id used twice", bad(&|w| w["bots"][0]["id"] = json!("10005")), &["10005"]),
        (
            "two users with one id",
            bad(&|w| w["users"].as_array_mut().unwrap().push(json!({"id": "10005", "name": "Again"}))),
            &["id 10005 appears more than once"],
        ),
        (
            "a remark for nobody",
            bad(&|w| w["remarks"][0]["target"] = json!("55555")),
            &["remark", "55555", "does not exist"],
        ),
        ("a misspelt field", bad(&|w| w["users"][1]["emial"] = json!("cat@example.com")), &["emial"]),
    ];
    for (i, (what, world, words)) in cases.iter().enumerate() {
        let out = import(&db, &write(dir.path(), &format!("bad-{i}.json"), world));
        let err = out.fails();
        assert!(err.starts_with("error: "), "{what}: {err}");
        assert_eq!(err.lines().count(), 1, "{what}: one line, no backtrace: {err}");
        for word in *words {
            assert!(err.contains(word), "{what}: {word:?} not in {err}");
        }
    }
    let out = import(&db, &dir.path().join("missing.json"));
    assert!(out.fails().contains("missing.json"), "{}", out.stderr);
    std::fs::write(dir.path().join("broken.json"), "{\"users\": [").unwrap();
    assert!(import(&db, &dir.path().join("broken.json")).fails().contains("world file"));

    // Nothing of any of them was written.
    assert!(admin(&db, &["token", "10005"]).fails().contains("no user 10005"));
    let ann = token(&db, "10001");
    let server = Server::start(dir.path(), &db, &[]);
    assert_eq!(server.client(&ann, &["whoami", "--json"]).json()["name"], "Ann");
}

#[test]
fn admin_adds_identities_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path());
    for args in [
        &["add-user", "--id", "10004", "--name", "Dan", "--email", "dan@example.com", "--password", "pw"][..],
        &["add-user", "--id", "10005", "--name", "Eve"],
        &["add-user", "--id", "10006", "--name", "Fay"],
        &["add-group", "--id", "20002", "--name", "Ops", "--owner", "10004", "--admin", "10005"],
        &["add-member", "20002", "10005"],
        &["add-bot", "--id", "30002", "--name", "Echo"],
        &["set-remark", "10004", "10005", "Evie"],
    ] {
        assert_eq!(admin(&db, args).ok(), "ok\n", "{args:?}");
    }
    // The database may also come from YHCONV_DB.
    let mut cmd = yhconv();
    cmd.env("YHCONV_DB", &db);
    let eve = run_with(cmd, &["admin", "token", "10005"]).ok().trim_end().to_owned();
    let fay = token(&db, "10006");

    // Mistakes are refused, one clear line each, and change nothing.
    for (args, words) in [
        (&["add-member", "29999", "10005"][..], &["no group 29999"][..]),
        (&["add-member", "10004", "10006"], &["10004", "not a group"]),
        (&["add-member", "20002", "30002"], &["30002", "not a user"]),
        (&["add-member", "20002", "10099"], &["10099"]),
        (&["token", "30002"], &["no user 30002"]),
        (&["token", "10099"], &["no user 10099"]),
        (&["add-user", "--id", "10007", "--name", "Gus", "--email", "dan@example.com"], &["dan@example.com"]),
        (&["add-bot", "--id", "x1", "--name", "Bad"], &["x1"]),
        (&["set-remark", "10004", "10099", "nobody"], &["10099"]),
    ] {
        let out = admin(&db, args);
        let err = out.fails();
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        for word in words {
            assert!(err.contains(word), "{args:?}: {word:?} not in {err}");
        }
    }

    let server = Server::start(dir.path(), &db, &[]);
    let dan = run_with(server.client_cmd(), &["--email", "dan@example.com", "--password", "pw", "login"])
        .ok()
        .trim_end()
        .to_owned();
    // The new member can post into the group; the owner is a member too.
    server.client(&eve, &["send", "20002", "--type", "group", "hello Ops"]).ok();
    server.client(&dan, &["send", "20002", "--type", "group", "welcome"]).ok();
    // Fay was never added.
    let err = server.client(&fay, &["send", "20002", "--type", "group", "let me in"]);
    assert!(err.fails().contains("-1"), "{}", err.stderr);
    // The remark shows in Dan's list, the bot by its name.
    server.client(&eve, &["send", "10004", "--type", "user", "hi Dan"]).ok();
    server.client(&dan, &["top", "30002"]).ok();
    let list = server.list_json(&dan);
    assert_eq!(chat_ids(&list), ["30002", "10005", "20002"]);
    assert_eq!(entry(&list, "10005")["name"], "Evie");
    assert_eq!(entry(&list, "30002")["name"], "Echo");
    assert_eq!(entry(&list, "20002")["chat_content"], "Dan: welcome");
    let table = server.client(&dan, &["list"]);
    assert!(table.ok().lines().any(|l| l.starts_with("Evie ") && l.ends_with("10005")), "{}", table.stdout);
    let history = server.client(&eve, &["messages", "20002", "--type", "group"]);
    let lines: Vec<&str> = history.ok().lines().collect();
    assert!(
        lines.len() == 2 && lines[0].ends_with("Eve: hello Ops") && lines[1].ends_with("Dan: welcome"),
        "{lines:#?}"
    );
    // --admin made Eve an admin, as group/edit-admin would.
    let info = server.client(&eve, &["group", "info", "20002", "--json"]).json();
    assert_eq!(
        (info["group"]["permisson_level"].as_i64(), &info["group"]["admin"]),
        (Some(2), &serde_json::json!(["10005"]))
    );
}

#[test]
fn a_member_added_later_starts_with_the_history_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path());
    import(&db, &write(dir.path(), "world.json", &world())).ok();
    admin(&db, &["add-user", "--id", "10003", "--name", "Cy"]).ok();
    let (ann, cy) = (token(&db, "10001"), token(&db, "10003"));
    {
        let server = Server::start(dir.path(), &db, &[]);
        server.client(&ann, &["send", "20001", "--type", "group", "before Cy"]).ok();
        let err = server.client(&cy, &["messages", "20001", "--type", "group"]);
        assert!(err.fails().contains("-1"), "not a member yet: {}", err.stderr);
    }
    admin(&db, &["add-member", "20001", "10003"]).ok();
    let server = Server::start(dir.path(), &db, &[]);
    let history = server.client(&cy, &["messages", "20001", "--type", "group"]);
    assert!(history.ok().contains("Ann: before Cy"), "{}", history.stdout);
    // The group is listed with what it already had, all of it read; the
    // next message counts.
    let list = server.list_json(&cy);
    assert_eq!(chat_ids(&list), ["20001"]);
    assert_eq!(entry(&list, "20001")["chat_content"], "Ann: before Cy");
    assert_eq!(
        (entry(&list, "20001")["unread_count"].as_u64(), entry(&list, "20001")["unread_message"].as_u64()),
        (Some(0), Some(0))
    );
    server.client(&ann, &["send", "20001", "--type", "group", "welcome Cy"]).ok();
    let list = server.list_json(&cy);
    assert_eq!(chat_ids(&list), ["20001"]);
    assert_eq!(entry(&list, "20001")["unread_count"], 1);
}
