//! End-to-end tests of `yhconv serve` as a user starts it: the demo login
//! table, a restart on the same database, `--world`, and `--config`.

mod common;

use common::*;

const LOGIN_HEADERS: [&str; 5] = ["ID", "NAME", "EMAIL", "PASSWORD", "TOKEN"];

#[test]
fn demo_prints_an_aligned_login_table() {
    let server = Server::demo();
    let out = &server.demo_output;
    assert_eq!(out[0], format!("yhconv demo world on {}", server.base_url), "{out:#?}");
    assert_eq!(out.len(), 6, "address, header, three logins, group and bot: {out:#?}");
    assert_eq!(out[5], "group 20001 and bot 30001 are in the world too.");
    // Every cell starts at its header's display column, 小明 (four columns
    // wide) included.
    let starts = header_columns(&out[1], &LOGIN_HEADERS);
    assert_eq!(cells(&out[1], &starts), LOGIN_HEADERS);
    let rows: Vec<Vec<String>> = out[2..5].iter().map(|l| cells(l, &starts)).collect();
    let expected = [
        [ALICE, "Alice", "alice@example.com", "alice-demo"],
        [BOB, "Bob", "bob@example.com", "bob-demo"],
        [MING, "小明", "xiaoming@example.com", "xiaoming-demo"],
    ];
    for (row, want) in rows.iter().zip(expected) {
        assert_eq!(row[..4], want, "{out:#?}");
        assert_eq!(row[4], server.token(want[0]));
    }
    assert!(out.iter().all(|l| !l.ends_with(' ')), "{out:#?}");
    // Every printed token logs its user in.
    for [id, name, email, _] in expected {
        let me = server.client(&server.token(id), &["whoami", "--json"]).json();
        assert_eq!((me["id"].as_str(), me["name"].as_str(), me["email"].as_str()), (Some(id), Some(name), Some(email)));
    }
}

#[test]
fn demo_again_on_the_same_database_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path());
    let first = Server::start(dir.path(), &db, &["--demo"]);
    let alice = first.token(ALICE);
    first.client(&alice, &["send", GROUP, "--type", "group", "between runs"]).ok();
    let list = first.list_json(&alice);
    let history = first.client(&alice, &["messages", GROUP, "--type", "group", "--json"]).json();
    assert_eq!(history.as_array().map(Vec::len), Some(4));
    first.stop();

    let second = Server::start(dir.path(), &db, &["--demo"]);
    assert_ne!(second.token(ALICE), alice, "a new token each run");
    // The old token still works, and nothing was sent twice.
    assert_eq!(second.list_json(&alice), list);
    assert_eq!(second.client(&second.token(ALICE), &["messages", GROUP, "--type", "group", "--json"]).json(), history);
}

#[test]
fn serve_with_a_world_file_imports_it_first() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path());
    let world = serde_json::json!({
        "users": [{"id": "10001", "name": "Ann", "email": "ann@example.com", "password": "ann-pw"},
                  {"id": "10002", "name": "Ben", "email": "ben@example.com", "password": "ben-pw"}],
        "remarks": [{"user": "10002", "target": "10001", "remark": "安"}]
    });
    let file = dir.path().join("world.json");
    std::fs::write(&file, world.to_string()).unwrap();
    let server = Server::start(dir.path(), &db, &["--world", file.to_str().unwrap()]);
    let login = |email: &str, password: &str| {
        run_with(server.client_cmd(), &["--email", email, "--password", password, "login"]).ok().trim_end().to_owned()
    };
    let (ann, ben) = (login("ann@example.com", "ann-pw"), login("ben@example.com", "ben-pw"));
    server.client(&ann, &["send", "10002", "--type", "user", "hi Ben"]).ok();
    let list = server.list_json(&ben);
    assert_eq!(chat_ids(&list), ["10001"]);
    assert_eq!(entry(&list, "10001")["name"], "安");

    // One server per SQLite file: a second one is refused with a reason.
    let out = run(&["serve", "--db", &db, "--listen", "127.0.0.1:0"]);
    assert!(out.fails().contains("another yhconv server is already serving"), "{}", out.stderr);
    drop(server);

    // A bad world file stops the server before it serves.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"users": [{"id": "ann", "name": "Ann"}]}"#).unwrap();
    let out = run(&["serve", "--db", &db, "--listen", "127.0.0.1:0", "--world", bad.to_str().unwrap()]);
    assert!(out.fails().contains("decimal id"), "{}", out.stderr);
}

#[test]
fn serve_takes_settings_from_a_config_file_below_its_flags() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path());
    let world = serde_json::json!({
        "users": [{"id": "10001", "name": "Ann", "email": "ann@example.com", "password": "ann-pw"},
                  {"id": "10002", "name": "Ben", "email": "ben@example.com", "password": "ben-pw"}]
    });
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    std::fs::write(dir.path().join("etc/world.json"), world.to_string()).unwrap();
    let config = dir.path().join("etc/yhconv.toml");
    // `world` is relative to the file; the body limit is small enough to see.
    std::fs::write(&config, "# yhconv settings\nworld = \"world.json\"\nmax-body-bytes = 300\nlist-cache-mib = 8\nmax-connections-per-ip = 7\n")
        .unwrap();
    let config = config.to_str().unwrap();
    let long_text = "长".repeat(200);
    let send_long = |server: &Server| {
        let login = run_with(server.client_cmd(), &["--email", "ann@example.com", "--password", "ann-pw", "login"]);
        server.client(login.ok().trim_end(), &["send", "10002", "--type", "user", &long_text])
    };

    let server = Server::start(dir.path(), &db, &["--config", config]);
    let refused = send_long(&server);
    assert!(refused.fails().contains("request body is larger than 300 bytes"), "{}", refused.stderr);
    // The log says how many connections the server will hold.
    let log = server.log();
    assert!(log.contains("connections at once (7 per client address)") && log.contains("open_files="), "{log}");
    drop(server);

    let server = Server::start(dir.path(), &db, &["--config", config, "--max-body-bytes", "100000"]);
    send_long(&server).ok();
    drop(server);

    // Mistakes in the file stop the server with the file, line and key.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "listen = \"127.0.0.1:0\"\nlist-cache = 8\n").unwrap();
    let out = run(&["serve", "--db", &db, "--config", bad.to_str().unwrap()]);
    let err = out.fails();
    assert!(err.contains("bad.toml") && err.contains("list-cache") && err.contains("line 2"), "{err}");
    std::fs::write(&bad, "listen = \"everywhere\"\n").unwrap();
    let err = run(&["serve", "--db", &db, "--config", bad.to_str().unwrap()]).fails().to_owned();
    assert!(err.contains("bad.toml: listen: invalid socket address"), "{err}");
}

/// The table checker is not vacuous: a row padded by characters instead of
/// display columns (what the demo table used to print for 小明) is caught.
#[test]
fn the_table_checker_catches_misaligned_rows() {
    let header = format!("{:<8} {:<8} {:<24} TOKEN", "ID", "NAME", "EMAIL");
    let starts = header_columns(&header, &["ID", "NAME", "EMAIL", "TOKEN"]);
    let good = format!("{:<8} {:<8} {:<24} t1", "10001", "Alice", "alice@example.com");
    assert_eq!(cells(&good, &starts), ["10001", "Alice", "alice@example.com", "t1"]);
    let bad = format!("{:<8} {:<8} {:<24} t3", "10003", "小明", "xiaoming@example.com");
    let caught = std::panic::catch_unwind(|| cells(&bad, &starts));
    assert!(caught.is_err(), "misaligned row accepted: {bad:?}");
}

/// A PostgreSQL password given in `--db` appears nowhere in what the server
/// prints, not even when it cannot reach the database; the host does, so
/// the log still says which database was meant.
#[test]
fn the_database_password_never_reaches_the_log() {
    let url = "postgres://u:s3cretpw@127.0.0.1:1/db";
    let args = ["serve", "--db", url, "--db-startup-wait-secs", "0", "--listen", "127.0.0.1:0", "--log", "debug"];
    let started = std::time::Instant::now();
    let out = run(&args);
    let err = out.fails();
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "nothing listens on port 1: it fails fast");
    assert!(!err.contains("s3cretpw") && !out.stdout.contains("s3cretpw"), "{err}");
    assert!(err.contains("postgres://u:***@127.0.0.1:1/db"), "the log names the database: {err}");
    // The same URL from the environment, and a bad URL, are redacted too.
    let mut env = yhconv();
    env.env("YHCONV_DB", url);
    let out = run_with(env, &["serve", "--db-startup-wait-secs", "0", "--listen", "127.0.0.1:0"]);
    assert!(!out.fails().contains("s3cretpw") && out.stderr.contains("127.0.0.1:1"), "{}", out.stderr);
    let out = run(&["serve", "--db", "mysql://u:s3cretpw@127.0.0.1:1/db"]);
    assert!(!out.fails().contains("s3cretpw") && out.stderr.contains("127.0.0.1:1"), "{}", out.stderr);
    // `--help` shows the variable but not its value.
    let mut env = yhconv();
    env.env("YHCONV_DB", url);
    let help = run_with(env, &["serve", "--help"]);
    assert!(help.ok().contains("YHCONV_DB") && !help.stdout.contains("s3cretpw"), "{}", help.stdout);
}
