//! `yhconv serve`: flags, `YHCONV_*` environment and a config file (see
//! [`crate::config_file`]) to a server config. The server's own settings
//! are declared once, in [`Config`]; this adds what only the command has.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use yhconv_server::{demo, Application, Config, World};

use crate::client_cmd::text::table;

/// Flags of `yhconv serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// TOML file with any of these settings, under the flags' names (e.g.
    /// `list-cache-mib = 128`); flags and environment variables win over it.
    #[arg(long, env = "YHCONV_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Import this world file before serving.
    #[arg(long, env = "YHCONV_WORLD", value_hint = clap::ValueHint::FilePath)]
    pub(crate) world: Option<PathBuf>,
    /// Load the demo world (with a few active conversations) and print its logins.
    #[arg(long)]
    demo: bool,
    /// The server's settings.
    #[command(flatten)]
    pub(crate) server: Config,
    /// Log filter (tracing env-filter syntax).
    #[arg(long, env = "YHCONV_LOG", default_value = "info")]
    log: String,
    /// Threads that run requests and sockets; default: one per core. With
    /// several instances on one machine, give each its share of the cores.
    #[arg(long, env = "YHCONV_WORKER_THREADS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub(crate) worker_threads: Option<u16>,
}

/// Runs the server until SIGTERM or Ctrl-C.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&args.log).context("bad --log filter")?)
        .with_writer(std::io::stderr)
        .init();
    // `Config::db` prints with its password redacted.
    let db = args.server.db.clone();
    tracing::info!(%db, "opening the database");
    let app = Application::build(args.server).await?;
    if let Some(path) = &args.world {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let stats = app.service().import_world(World::from_json(&text)?).await?;
        tracing::info!(?stats, world = %path.display(), "imported world");
    }
    if args.demo {
        demo::seed(app.service()).await?;
        print_demo_logins(&app).await?;
    }
    tracing::info!(addr = %app.local_addr(), %db, "yhconv listening");
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

#[cfg(test)]
mod tests {
    use clap::{Args, Command, FromArgMatches};

    use super::*;

    /// The README's "Server settings" table has one row per flag of
    /// `yhconv serve`, with its variable and default as declared.
    #[test]
    fn the_readme_table_is_every_serve_flag() {
        let readme = include_str!("../../../README.md");
        let section = readme.split("\n## Server settings\n").nth(1).expect("a Server settings section");
        let section = section.split("\n## ").next().unwrap();
        let cell = |c: &str| c.trim().trim_matches('`').to_owned();
        let mut rows = std::collections::BTreeMap::new();
        for line in section.lines().filter(|l| l.starts_with("| `--")) {
            let cells: Vec<&str> = line.split('|').collect();
            let flag = cell(cells[1]).trim_start_matches("--").split(' ').next().unwrap().to_owned();
            assert!(rows.insert(flag.clone(), (cell(cells[2]), cell(cells[3]))).is_none(), "two rows for --{flag}");
        }
        let command = ServeArgs::augment_args(Command::new("serve"));
        for arg in command.get_arguments() {
            let long = arg.get_long().expect("serve has only --flags");
            let row = rows.remove(long).unwrap_or_else(|| panic!("the README's table has no row for --{long}"));
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
            let default = match arg.get_action().takes_values() {
                true => arg.get_default_values().iter().map(|v| v.to_string_lossy()).collect::<Vec<_>>().join(","),
                false => String::new(),
            };
            assert_eq!(row, (env, default), "the README's row for --{long}: (variable, default)");
        }
        assert!(rows.is_empty(), "the README's table names flags serve does not have: {rows:?}");
    }

    /// `yhconv serve` with nothing given runs with `Config::default()`.
    #[test]
    fn no_flags_is_the_default_config() {
        let command = ServeArgs::augment_args(Command::new("serve")).mut_args(|arg| arg.env(None));
        let args = ServeArgs::from_arg_matches(&command.get_matches_from(["serve"])).unwrap();
        assert_eq!(args.server, Config::default());
        assert_eq!((args.config, args.world, args.demo, args.log.as_str()), (None, None, false, "info"));
    }
}
