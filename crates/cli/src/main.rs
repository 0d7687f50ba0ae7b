//! `yhconv`: serve, administer, import, script and benchmark a Yunhu
//! conversation server.
//!
//! - [`serve`]: `yhconv serve` runs the server.
//! - [`admin`]: `yhconv import` and `yhconv admin` manage identities.
//! - [`decode`]: `yhconv decode` turns protobuf answers into text.
//! - [`client_cmd`]: `yhconv client` speaks the protocol to any server.
//! - [`bench`]: `yhconv bench` measures the server under load.
//! - [`ops`]: `yhconv backup`, `restore` and `migrate` copy databases.

mod admin;
mod bench;
mod client_cmd;
mod config_file;
mod decode;
mod ops;
mod serve;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Per-thread heaps: the push path allocates a frame per receiver on every
/// worker thread (see the dependency's note in Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A Yunhu-compatible conversation server, and tools around it.
#[derive(Parser, Debug)]
#[command(name = "yhconv", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server.
    Serve(serve::ServeArgs),
    /// Load a world file (users, groups, bots, remarks) into a database.
    Import(admin::ImportArgs),
    /// Add users, groups, members and bots one at a time; issue tokens.
    Admin(admin::AdminArgs),
    /// Decode a protobuf answer read from stdin (e.g. piped from curl).
    Decode(decode::DecodeArgs),
    /// Talk to a server (this one or Yunhu's own) from the shell.
    Client(client_cmd::ClientArgs),
    /// Measure the server: build a world, drive it over HTTP, report.
    Bench(bench::BenchArgs),
    /// Copy a SQLite database, while a server may be writing to it, to a backup file.
    Backup(ops::BackupArgs),
    /// Put a backup back as a SQLite database (no server may be serving it).
    Restore(ops::RestoreArgs),
    /// Copy everything from a SQLite database into an empty PostgreSQL one.
    Migrate(ops::MigrateArgs),
}

fn main() -> std::process::ExitCode {
    let matches = match config_file::get_matches(Cli::command()) {
        Ok(matches) => matches,
        Err(e) => {
            eprintln!("error: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Command::Serve(serve::ServeArgs { worker_threads: Some(threads), .. }) = &cli.command {
        runtime.worker_threads(usize::from(*threads));
    }
    let runtime = match runtime.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Import(args) => admin::import(args).await,
            Command::Admin(args) => admin::run(args).await,
            Command::Decode(args) => decode::run(args),
            Command::Client(args) => client_cmd::run(args).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Backup(args) => ops::backup(args).await,
            Command::Restore(args) => ops::restore(args).await,
            Command::Migrate(args) => ops::migrate(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
