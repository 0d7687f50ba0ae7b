//! `yhconv serve`: flags, `YHCONV_*` environment and a config file to a
//! server config.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args};
use yhconv_server::config::PgSettings;
use yhconv_server::{demo, Application, Config, DbUrl, World};

use crate::client_cmd::text::table;
use crate::config_file::ServeFile;

/// Flags of `yhconv serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// TOML file with any of these settings, under the flags' names (e.g.
    /// `list-cache-mib = 128`); flags and environment variables win over it.
    #[arg(long, env = "YHCONV_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "YHCONV_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Database URL: sqlite://FILE or postgres://USER:PASSWORD@HOST:PORT/DB.
    #[arg(long, env = "YHCONV_DB", default_value = "sqlite://yhconv.db")]
    db: String,
    /// Import this world file before serving.
    #[arg(long, env = "YHCONV_WORLD")]
    world: Option<PathBuf>,
    /// Load the demo world (with a few active conversations) and print its logins.
    #[arg(long)]
    demo: bool,
    /// Largest request body, bytes.
    #[arg(long, env = "YHCONV_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    max_body_bytes: usize,
    /// Largest WebSocket frame from a client, bytes.
    #[arg(long, env = "YHCONV_WS_MAX_FRAME_BYTES", default_value_t = 64 * 1024)]
    ws_max_frame_bytes: usize,
    /// Close sockets silent (no heartbeat) for this many seconds.
    #[arg(long, env = "YHCONV_WS_IDLE_SECS", default_value_t = 90)]
    ws_idle_secs: u64,
    /// Push frames queued per socket before it is dropped as too slow.
    #[arg(long, env = "YHCONV_WS_QUEUE", default_value_t = 1024)]
    ws_queue: usize,
    /// Longest a request may take, seconds.
    #[arg(long, env = "YHCONV_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    request_timeout_secs: u64,
    /// Allowed CORS origin (repeatable); none given means any origin.
    #[arg(long = "cors-origin", env = "YHCONV_CORS_ORIGINS", value_delimiter = ',')]
    cors_origins: Vec<String>,
    /// SQLite commit durability: normal (survives crashes and kill -9) or
    /// full (fsync every commit: survives power loss too).
    #[arg(long, env = "YHCONV_SQLITE_SYNC", default_value = "normal")]
    sqlite_sync: yhconv_server::config::SqliteSync,
    /// Memory for encoded conversation lists kept until they change, MiB;
    /// 0 turns the cache off. SQLite only: with PostgreSQL, other instances
    /// write too, so every list is read from the database.
    #[arg(long, env = "YHCONV_LIST_CACHE_MIB", default_value_t = 64)]
    list_cache_mib: u64,
    /// Requests per second allowed per token (sustained); 0 turns the limit off.
    #[arg(long, env = "YHCONV_RATE_LIMIT", default_value_t = 100)]
    rate_limit: u32,
    /// Requests a token may send at once above its rate.
    #[arg(long, env = "YHCONV_RATE_BURST", default_value_t = 400)]
    rate_burst: u32,
    /// Email logins per second allowed per client IP; 0 turns the limit off.
    #[arg(long, env = "YHCONV_LOGIN_RATE_LIMIT", default_value_t = 5)]
    login_rate_limit: u32,
    /// PostgreSQL: most pooled connections.
    #[arg(long, env = "YHCONV_DB_POOL_SIZE", default_value_t = 16)]
    db_pool_size: usize,
    /// PostgreSQL: longest wait for a connection attempt or a pooled connection, seconds.
    #[arg(long, env = "YHCONV_DB_CONNECT_TIMEOUT_SECS", default_value_t = 5)]
    db_connect_timeout_secs: u64,
    /// PostgreSQL: how long start-up retries an unavailable database, seconds.
    #[arg(long, env = "YHCONV_DB_STARTUP_WAIT_SECS", default_value_t = 60)]
    db_startup_wait_secs: u64,
    /// Log filter (tracing env-filter syntax).
    #[arg(long, env = "YHCONV_LOG", default_value = "info")]
    log: String,
}

impl ServeArgs {
    /// Takes every setting given neither as a flag nor in the environment
    /// from the `--config` file, when one is named. `matches` are this
    /// subcommand's, to tell a default from a value someone gave.
    pub fn apply_config_file(&mut self, matches: &ArgMatches) -> anyhow::Result<()> {
        let Some(path) = self.config.clone() else {
            return Ok(());
        };
        let file = ServeFile::read(&path)?.resolve_paths(&path);
        let unset = |id: &str| matches!(matches.value_source(id), None | Some(ValueSource::DefaultValue));
        let invalid = |key: &str, why: String| {
            anyhow::anyhow!("config file {}: {}: {why}", path.display(), key.replace('_', "-"))
        };
        // `take!(file_key => field)` copies a value; `parse` parses a string.
        macro_rules! take {
            ($key:ident => $field:ident) => {
                if let Some(value) = file.$key {
                    if unset(stringify!($field)) {
                        self.$field = value.into();
                    }
                }
            };
            ($key:ident => $field:ident, parse) => {
                if let Some(value) = file.$key {
                    if unset(stringify!($field)) {
                        self.$field = value.parse().map_err(|e| invalid(stringify!($key), format!("{e}")))?;
                    }
                }
            };
        }
        take!(listen => listen, parse);
        take!(db => db);
        take!(world => world);
        take!(max_body_bytes => max_body_bytes);
        take!(ws_max_frame_bytes => ws_max_frame_bytes);
        take!(ws_idle_secs => ws_idle_secs);
        take!(ws_queue => ws_queue);
        take!(request_timeout_secs => request_timeout_secs);
        take!(cors_origin => cors_origins);
        take!(sqlite_sync => sqlite_sync, parse);
        take!(list_cache_mib => list_cache_mib);
        take!(rate_limit => rate_limit);
        take!(rate_burst => rate_burst);
        take!(login_rate_limit => login_rate_limit);
        take!(db_pool_size => db_pool_size);
        take!(db_connect_timeout_secs => db_connect_timeout_secs);
        take!(db_startup_wait_secs => db_startup_wait_secs);
        take!(log => log);
        Ok(())
    }

    fn config(&self) -> anyhow::Result<Config> {
        Ok(Config {
            listen: self.listen,
            db: DbUrl::parse(&self.db)?,
            max_body_bytes: self.max_body_bytes,
            ws_max_frame_bytes: self.ws_max_frame_bytes,
            ws_idle_timeout: Duration::from_secs(self.ws_idle_secs.max(1)),
            ws_queue_capacity: self.ws_queue.max(1),
            request_timeout: Duration::from_secs(self.request_timeout_secs.max(1)),
            cors_origins: self.cors_origins.clone(),
            sqlite_sync: self.sqlite_sync,
            list_cache_mib: self.list_cache_mib,
            rate_limit_per_sec: self.rate_limit,
            rate_limit_burst: self.rate_burst,
            login_limit_per_sec: self.login_rate_limit,
            postgres: PgSettings {
                pool_size: self.db_pool_size.max(1),
                connect_timeout: Duration::from_secs(self.db_connect_timeout_secs.max(1)),
                startup_wait: Duration::from_secs(self.db_startup_wait_secs),
            },
            ..Config::default()
        })
    }
}

/// Runs the server until SIGTERM or Ctrl-C.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&args.log).context("bad --log filter")?)
        .with_writer(std::io::stderr)
        .init();
    let config = args.config()?;
    let app = Application::build(config).await?;
    if let Some(path) = &args.world {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let stats = app.service().import_world(World::from_json(&text)?).await?;
        tracing::info!(?stats, world = %path.display(), "imported world");
    }
    if args.demo {
        demo::seed(app.service()).await?;
        print_demo_logins(&app).await?;
    }
    tracing::info!(addr = %app.local_addr(), db = %args.db, "yhconv listening");
    app.run_until(yhconv_server::app::shutdown_signal()).await
}

/// Prints the demo logins as a table aligned by display width (`小明` takes
/// four columns, not two), so every column lines up in a terminal.
async fn print_demo_logins(app: &Application) -> anyhow::Result<()> {
    let base = format!("http://{}", app.local_addr());
    let mut rows = Vec::new();
    for login in demo::LOGINS {
        let id = yhconv_server::ids::Id::parse(login.id, "id")?;
        let token = app.service().issue_token(id, "demo").await?;
        rows.push(vec![
            login.id.to_owned(),
            login.name.to_owned(),
            login.email.to_owned(),
            login.password.to_owned(),
            token,
        ]);
    }
    println!("yhconv demo world on {base}");
    print!("{}", table(&["ID", "NAME", "EMAIL", "PASSWORD", "TOKEN"], &rows));
    println!("group {} and bot {} are in the world too.", demo::GROUP_ID, demo::BOT_ID);
    Ok(())
}
