//! Test harness: a real server on an ephemeral port with a fresh database,
//! a small world, and typed clients logged in as its users.

#![allow(dead_code)]

use std::time::Duration;

use yhconv_client::Client;
use yhconv_proto::pb::Conversation;
use yhconv_server::ids::Id;
use yhconv_server::{Application, Config, DbUrl, Service, World};

pub const ANN: &str = "1001";
pub const BEN: &str = "1002";
pub const CAT: &str = "1003";
/// Ann (owner) and Ben are members; Cat is not.
pub const GROUP: &str = "2001";
pub const BOT: &str = "3001";

/// The test world: three users, a group, a bot, and Ann's remark for Ben.
pub fn world() -> World {
    World::from_json(
        r#"{
        "users": [
            {"id": "1001", "name": "Ann", "email": "ann@example.com", "password": "ann-pw", "avatar_url": "https://a/ann.png", "avatar_id": 11},
            {"id": "1002", "name": "Ben", "email": "ben@example.com", "password": "ben-pw"},
            {"id": "1003", "name": "Cat", "email": "cat@example.com", "password": "cat-pw"}
        ],
        "groups": [
            {"id": "2001", "name": "Team", "avatar_url": "https://a/team.png", "avatar_id": 21,
             "certification_level": 1, "owner": "1001", "members": ["1002"]}
        ],
        "bots": [{"id": "3001", "name": "Helper", "avatar_url": "https://a/bot.png"}],
        "remarks": [{"user": "1001", "target": "1002", "remark": "Benny"}]
    }"#,
    )
    .expect("test world parses")
}

/// A running server.
pub struct TestApp {
    pub base_url: String,
    /// The database it serves.
    pub db: DbUrl,
    pub service: Service,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    /// A server on the test world with default settings.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// A server on the test world, settings adjusted by `tweak`, on the
    /// backend [`test_db`] picks.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = test_db(&dir).await;
        Self::spawn_on(db, dir, tweak).await
    }

    /// A server on `db` (already holding the test world or not: importing
    /// it again is harmless).
    pub async fn spawn_on(db: DbUrl, dir: tempfile::TempDir, tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start(db, dir, tweak, true).await
    }

    /// A server on `db` as it is: no world imported (for a database that
    /// already holds everything, such as a migrated one).
    pub async fn spawn_as_is(db: DbUrl, dir: tempfile::TempDir) -> Self {
        Self::start(db, dir, |_| {}, false).await
    }

    async fn start(db: DbUrl, dir: tempfile::TempDir, tweak: impl FnOnce(&mut Config), import_world: bool) -> Self {
        // Tests drive the server much harder than a person would: no rate
        // limits unless a test asks for them.
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            db,
            rate_limit: 0,
            login_rate_limit: 0,
            ..Config::default()
        };
        tweak(&mut config);
        let db = config.db.clone();
        let app = Application::build(config).await.expect("server builds");
        if import_world {
            app.service().import_world(world()).await.expect("world imports");
        }
        let base_url = format!("http://{}", app.local_addr());
        let service = app.service().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        Self { base_url, db, service, stop: Some(stop), handle: Some(handle), _dir: dir }
    }

    /// A client with no token.
    pub fn anonymous(&self) -> Client {
        Client::new(&self.base_url).expect("client").with_timeout(Duration::from_secs(30))
    }

    /// A client logged in as `user` (token issued directly, not by password).
    pub async fn client(&self, user: &str) -> Client {
        let token = self.service.issue_token(Id::parse(user, "user").unwrap(), "test").await.expect("token");
        self.anonymous().with_token(token)
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("server task").expect("server ran cleanly");
        }
    }
}

/// The database for one test: a fresh SQLite file in `dir`, or, when
/// `YHCONV_TEST_POSTGRES` holds an admin URL (see `scripts/with-postgres.sh`),
/// a fresh database on that PostgreSQL server.
pub async fn test_db(dir: &tempfile::TempDir) -> DbUrl {
    match std::env::var("YHCONV_TEST_POSTGRES") {
        Ok(admin_url) if !admin_url.is_empty() => DbUrl::Postgres(fresh_postgres_db(&admin_url).await),
        _ => DbUrl::Sqlite(dir.path().join("test.db")),
    }
}

/// The admin URL of the test PostgreSQL server, if the suite runs on it.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("YHCONV_TEST_POSTGRES").ok().filter(|u| !u.is_empty())
}

/// Creates an empty database and returns its URL.
pub async fn fresh_postgres_db(admin_url: &str) -> String {
    let (client, connection) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls).await.expect("test postgres");
    tokio::spawn(connection);
    let name = format!("yhconv_test_{}", uuid::Uuid::new_v4().simple());
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create test database");
    let base = admin_url.rsplit_once('/').map(|(base, _)| base).expect("admin URL names a database");
    format!("{base}/{name}")
}

/// The list, as `(chat_id, unread_count)` pairs in order.
pub async fn summary(client: &Client) -> Vec<(String, u64)> {
    list(client).await.into_iter().map(|c| (c.chat_id, c.unread_count)).collect()
}

/// The full list entries.
pub async fn list(client: &Client) -> Vec<Conversation> {
    let list = client.conversation_list(None).await.expect("list");
    assert_eq!(list.total as usize, list.data.len(), "total counts the entries");
    list.data
}

/// The entry for `chat_id`, which must be listed.
pub async fn entry(client: &Client, chat_id: &str) -> Conversation {
    list(client).await.into_iter().find(|c| c.chat_id == chat_id).unwrap_or_else(|| panic!("{chat_id} is not listed"))
}

/// Pairs of owned strings, for comparing with [`summary`].
pub fn pairs(items: &[(&str, u64)]) -> Vec<(String, u64)> {
    items.iter().map(|(id, n)| (id.to_string(), *n)).collect()
}

/// The `-1`/`-101` code and message of a failed call.
pub fn api_error<T: std::fmt::Debug>(result: yhconv_client::Result<T>) -> (i32, String) {
    match result {
        Err(yhconv_client::Error::Api { code, msg }) => (code, msg),
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

impl TestApp {
    /// The value of the `/metrics` line that starts with `series` (a name,
    /// with its labels if it has any).
    pub async fn metric(&self, series: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.base_url)).await.unwrap().text().await.unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no metric {series} in\n{text}"))
    }

    /// Waits until the push hub has loaded the groups of every online user
    /// (so the next pushes are found through its index, not looked up).
    pub async fn online_index_loaded(&self) {
        for _ in 0..500 {
            if self.metric("yhconv_push_online_users_stale").await == 0.0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the push hub never loaded its online users' groups");
    }
}

/// Ends every instance's LISTEN connection to the database `admin` is on
/// (they reconnect by themselves); returns how many were ended.
pub async fn cut_feeds(admin: &tokio_postgres::Client) -> usize {
    let ended = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'yhconv feed' AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    ended.len()
}

/// A connection of the test's own to the PostgreSQL database `app` serves.
pub async fn database_client(app: &TestApp) -> tokio_postgres::Client {
    let DbUrl::Postgres(url) = &app.db else { unreachable!("only on PostgreSQL") };
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// The next message text `socket` gets within `wait`, if any.
pub async fn next_text(socket: &mut yhconv_client::PushSocket, wait: Duration) -> Option<String> {
    loop {
        match tokio::time::timeout(wait, socket.next_event()).await {
            Ok(Ok(Some(yhconv_client::PushEvent::Message(m)))) => {
                return Some(m.content.map(|c| c.text).unwrap_or_default())
            }
            Ok(Ok(Some(_))) => continue,
            _ => return None,
        }
    }
}

/// A push socket of `user` through `client`, returned once the server
/// acknowledged its login (so it is registered for every later push).
pub async fn acked_push(client: &Client, user: &str, device: &str) -> yhconv_client::PushSocket {
    let options = yhconv_client::PushOptions { list_changes: false, wait_for_ack: true };
    client.connect_push_with(user, "linux", device, options).await.expect("push socket logged in")
}
