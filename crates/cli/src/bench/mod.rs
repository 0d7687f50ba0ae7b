//! `yhconv bench`: builds a world in a fresh database, starts `yhconv serve`
//! on it as a child process (or targets a running server), drives it over
//! real HTTP on loopback with the project's own client, and reports
//! requests/s, p50 and p99 per scenario, each against the floor (an empty
//! handler on the same server) measured in the same run.
//!
//! - [`world`]: the world, built in-process through the server library.
//! - [`server`]: the child server process, its memory and CPU time.
//! - [`load`]: the load generator: one client and token per connection.
//! - [`report`]: the table, the target checks, `--json`.

mod fanout;
mod live_push;
mod load;
mod membership;
mod report;
mod server;
mod session;
mod world;

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Args;
use yhconv_server::{Config, DbUrl};

use load::{Load, Op, Scenario};
use report::{Machine, Report, ScenarioResult, Step, WorldReport};
use server::ServerProcess;
use world::WorldSpec;

/// The `--only` key of the fan-out scenario.
const FANOUT: &str = "fanout";
/// The `--only` key of the dismissals (a group of 3, then the big group).
const DISMISSALS: &str = "dismissals";
/// The `--only` key of the list-change push scenario.
const LIVE_PUSH: &str = "live_push";

/// The server's memory target with the big world, MiB.
const RSS_LIMIT_MIB: f64 = 300.0;

/// Flags of `yhconv bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Database to build the world in: sqlite://FILE (must not exist yet) or
    /// postgres://... (must be empty). Default: a fresh SQLite file in a
    /// temporary directory, removed afterwards.
    #[arg(long)]
    db: Option<String>,
    /// Server instances on the one database (more than 1 needs a
    /// postgres:// --db): requests are spread over them, and the "list
    /// right after a change" scenario sends through one instance and lists
    /// through another.
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// Concurrent client tasks, each with its own connection and token.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Measured seconds per scenario (after a short warm-up). Default 5, or 1 with --quick.
    #[arg(long)]
    duration: Option<f64>,
    /// Warm-up seconds before each scenario is measured. Default: a fifth of
    /// --duration, between 0.2 and 1.
    #[arg(long)]
    warmup: Option<f64>,
    /// Users in the world. Default 100000 (10000 with --quick).
    #[arg(long)]
    users: Option<usize>,
    /// Groups in the world. Default 1000 (100 with --quick).
    #[arg(long)]
    groups: Option<usize>,
    /// Memberships spread over those groups. Default 1000000 (100000 with --quick).
    #[arg(long)]
    memberships: Option<usize>,
    /// Members of the big group the send scenario posts to (capped at
    /// --users + 1).
    #[arg(long, default_value_t = 100_000)]
    big_group: usize,
    /// Drive an already running server at this base URL instead: no world is
    /// built and only the floor and list scenarios run, as --token's user.
    #[arg(long, requires = "token")]
    target: Option<String>,
    /// With --target: token(s) of the user whose list is fetched (repeatable;
    /// cycled over the connections).
    #[arg(long)]
    token: Vec<String>,
    /// With --target on this machine: the server's process id, so that its
    /// memory and CPU time are reported too.
    #[arg(long, requires = "target")]
    server_pid: Option<u32>,
    /// Run only these scenarios (repeatable; the floor always runs first):
    /// list_50, md5_50, list_1000, md5_1000, list_1000_after_send, dismiss, send_10, send_big,
    /// recall_3, recall_big, rename_1000, rename_3, floor_again, list_50_no_cache,
    /// list_1000_no_cache, fanout, dismissals, live_push. Handy while profiling one of them.
    #[arg(long, value_name = "KEY")]
    only: Vec<String>,
    /// Push sockets online in the fan-out scenario (members of the big
    /// group, one socket each; capped at its size). Default 10000 (500 with
    /// --quick); 0 skips the scenario.
    #[arg(long)]
    sockets: Option<usize>,
    /// Print one JSON object with everything instead of the table.
    #[arg(long)]
    json: bool,
    /// Small world and 1 s per scenario (a smoke test for CI).
    #[arg(long)]
    quick: bool,
    /// With a postgres:// --db on this machine: let PostgreSQL, the servers
    /// and the load generator share its cores as equals. By default (Linux)
    /// the benchmark and its servers go on in a session of their own,
    /// nicer than the rest, so that the database gets a core first, as on
    /// a machine of its own.
    #[arg(long)]
    db_shares_cores: bool,
}

impl BenchArgs {
    fn spec(&self) -> WorldSpec {
        let (users, groups, memberships) =
            if self.quick { (10_000, 100, 100_000) } else { (100_000, 1_000, 1_000_000) };
        WorldSpec {
            users: self.users.unwrap_or(users),
            groups: self.groups.unwrap_or(groups),
            memberships: self.memberships.unwrap_or(memberships),
            big_group: self.big_group.max(2),
            tokens_per_user: self.connections,
            sockets: self.sockets(),
        }
    }

    /// `--sockets`, or none when `--only` leaves the fan-out out.
    fn sockets(&self) -> usize {
        if !self.only.is_empty() && !self.only.iter().any(|k| k == FANOUT) {
            return 0;
        }
        self.sockets.unwrap_or(if self.quick { 500 } else { 10_000 })
    }

    fn load(&self, server_pids: Vec<u32>) -> anyhow::Result<Load> {
        let duration = self.duration.unwrap_or(if self.quick { 1.0 } else { 5.0 });
        let warmup = self.warmup.unwrap_or((duration / 5.0).clamp(0.2, 1.0));
        if !(duration > 0.0 && duration.is_finite() && warmup >= 0.0 && warmup.is_finite()) {
            bail!("--duration must be positive and --warmup not negative");
        }
        if self.connections == 0 {
            bail!("--connections must be at least 1");
        }
        Ok(Load {
            connections: self.connections,
            warmup: Duration::from_secs_f64(warmup),
            duration: Duration::from_secs_f64(duration),
            server_pids,
        })
    }
}

/// Prints a progress line unless the output is JSON.
macro_rules! say {
    ($quiet:expr, $($arg:tt)*) => {
        if !$quiet {
            eprintln!($($arg)*);
        }
    };
}

/// Runs the benchmark and prints its report.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.target.is_none() && session::wanted(args.db.as_deref(), args.db_shares_cores) {
        return session::rerun().await;
    }
    let load_average_start = report::load_average();
    let scratch = tempfile::Builder::new().prefix("yhconv-bench-").tempdir().context("creating a temp dir")?;
    let quiet = args.json;
    let mut notes: Vec<String> = session::lower_priority().into_iter().collect();
    let mut world_report = None;
    let mut server_kind = String::new();
    let mut db_url = None;
    if args.instances == 0 || (args.instances > 1 && !args.db.as_deref().unwrap_or_default().starts_with("postgres")) {
        bail!("--instances must be 1, or more with a postgres:// --db (one server per SQLite file)");
    }
    if args.instances > 1 && args.target.is_some() {
        bail!("--instances starts the servers itself: not with --target");
    }
    let mut live_cast = None;
    let (servers, base_urls, scenarios, big_group, cast, dismissals) = match &args.target {
        Some(url) => {
            server_kind = format!("--target {url}");
            let base = url.trim().trim_end_matches('/').to_owned();
            let scenarios = target_scenarios(&base, &args.token, &mut notes).await?;
            (Vec::new(), vec![base], scenarios, args.big_group, None, None)
        }
        None => {
            let db = choose_db(&args, &scratch).await?;
            server_kind.push_str(if db.starts_with("postgres") { "postgres" } else { "sqlite" });
            if args.instances > 1 {
                server_kind.push_str(&format!(", {} instances", args.instances));
            }
            let spec = args.spec();
            // No list cache: it would hold a list lease that the servers'
            // writes wait for.
            let config = Config { db: DbUrl::parse(&db)?, list_cache_mib: 0, ..Config::default() };
            // `config.db` prints with its password redacted.
            say!(quiet, "building the world in {} ...", config.db);
            let built = {
                let service = yhconv_server::app::open_service(&config).await.context("opening the database")?;
                let built = world::build(&service, spec, quiet).await?;
                service.stop_feed().await;
                built
            };
            say!(quiet, "world built in {:.2} s", built.total.as_secs_f64());
            for (what, took) in &built.steps {
                say!(quiet, "  {:>7.2} s  {what}", took.as_secs_f64());
            }
            world_report = Some(WorldReport {
                counts: built.counts,
                big_group_members: built.big_group_members,
                steps: built.steps.iter().map(|(w, d)| Step { what: w.clone(), secs: d.as_secs_f64() }).collect(),
                total_secs: built.total.as_secs_f64(),
            });
            let servers = start_servers(&db, args.instances, scratch.path(), "server", &[], quiet).await?;
            let base_urls = servers.iter().map(|s| s.base_url.clone()).collect();
            let scenarios = local_scenarios(&built, args.instances);
            db_url = Some(db);
            live_cast = Some(live_push::LiveCast {
                user: (world::L1000, built.l1000_tokens[0].clone()),
                chat: built.l1000_group.clone(),
                bystanders: std::iter::repeat_n(world::L50, 4)
                    .zip(built.l50_tokens.iter().cloned())
                    .chain(built.socket_tokens.iter().take(100).cloned())
                    .collect(),
            });
            let cast = fanout::Cast {
                receivers: built.socket_tokens.clone(),
                group: world::GROUP_BIG.to_string(),
                sender_token: built.sender_tokens[0].clone(),
                probe_sender_token: built.l1000_tokens[0].clone(),
                probe_receiver: (world::L50, built.l50_tokens[0].clone()),
            };
            let dismissals = (built.sender_tokens[0].clone(), built.small_group_members.clone());
            let wanted = args.only.is_empty() || args.only.iter().any(|k| k == DISMISSALS);
            (
                servers,
                base_urls,
                scenarios,
                built.big_group_members,
                Some(cast).filter(|c| !c.receivers.is_empty()),
                Some(dismissals).filter(|_| wanted),
            )
        }
    };
    let scenarios = select(scenarios, &args.only)?;
    let (floor_path, floor_note) = floor_path(&base_urls[0]).await?;
    notes.extend(floor_note);
    let mut servers = servers;
    let server_pids: Vec<u32> = match servers.is_empty() {
        true => args.server_pid.into_iter().collect(),
        false => servers.iter().map(ServerProcess::pid).collect(),
    };
    let server_known = !server_pids.is_empty();
    let mut load = args.load(server_pids)?;
    let memory_at_start = load.server_pids.first().copied().map(server::memory).transpose()?;
    let mut results = Vec::new();
    let mut floor = None;
    let mut base_urls = base_urls;
    for (key, name, op, tokens, sender_tokens) in scenarios {
        if key.ends_with(NO_CACHE) && !servers.is_empty() {
            if let Some(db) = &db_url {
                say!(quiet, "restarting the server(s) with --list-cache-mib 0 ...");
                servers.clear();
                let extra = ["--list-cache-mib", "0"];
                servers = start_servers(db, args.instances, scratch.path(), "server-no-cache", &extra, quiet).await?;
                base_urls = servers.iter().map(|s| s.base_url.clone()).collect();
                load.server_pids = servers.iter().map(ServerProcess::pid).collect();
            }
        }
        let op = match op {
            Op::Floor { .. } => Op::Floor { path: floor_path.clone() },
            other => other,
        };
        let name = name.replace("{floor}", &floor_path);
        say!(quiet, "running {name} ...");
        // The floor runs against the first instance only: one server's
        // empty request, whatever the spread of the others.
        let urls = match op {
            Op::Floor { .. } => &base_urls[..1],
            _ => &base_urls[..],
        };
        let mut scenario_load = load.clone();
        if ONE_CLIENT.contains(&key) {
            scenario_load.connections = 1;
        }
        let measured = load::run(urls, &Scenario { op, tokens, sender_tokens }, &scenario_load).await?;
        let memory_after = match servers.first_mut() {
            Some(_) => {
                for s in servers.iter_mut() {
                    if !s.is_running() {
                        bail!("a server died during {name}");
                    }
                }
                Some(servers[0].memory()?)
            }
            None => args.server_pid.map(server::memory).transpose()?,
        };
        let (floor_rps, floor_p50) = *floor.get_or_insert((measured.requests_per_sec, measured.p50_us));
        say!(
            quiet,
            "  {:.0} req/s, p50 {}, p99 {}, {} errors",
            measured.requests_per_sec,
            report::ms(measured.p50_us),
            report::ms(measured.p99_us),
            measured.errors
        );
        results.push(ScenarioResult {
            key: key.to_owned(),
            name,
            rps_x_floor: measured.requests_per_sec / floor_rps.max(1e-9),
            p50_x_floor: measured.p50_us / floor_p50.max(1e-9),
            measured,
            memory_after,
        });
    }
    let fanout = match cast {
        Some(cast) if !servers.is_empty() => {
            say!(
                quiet,
                "running fan-out: {} push sockets online over {} instance(s) ...",
                cast.receivers.len(),
                servers.len()
            );
            let pids: Vec<u32> = servers.iter().map(|s| s.pid()).collect();
            let progress = |phase: &str| say!(quiet, "  {phase} ...");
            let measured = fanout::run(&base_urls, &floor_path, &pids, cast, load.duration, progress).await?;
            if !servers.iter_mut().all(|s| s.is_running()) {
                bail!("a server died during the fan-out scenario");
            }
            say!(
                quiet,
                "  {:.2} µs server CPU per frame, last socket p99 {:.1} ms, probe p99 {:.1} ms",
                measured.server_cpu_us_per_frame,
                measured.last_socket_p99_ms,
                measured.probe_p99_ms
            );
            Some(measured)
        }
        _ => None,
    };
    let live_push = match (&live_cast, servers.is_empty()) {
        (Some(cast), false) if args.only.is_empty() || args.only.iter().any(|k| k == LIVE_PUSH) => {
            say!(quiet, "running list-change pushes: {} bystander sockets online ...", cast.bystanders.len());
            let cast = live_push::LiveCast {
                user: cast.user.clone(),
                chat: cast.chat.clone(),
                bystanders: cast.bystanders.clone(),
            };
            let measured = live_push::run(&base_urls[0], cast).await?;
            say!(
                quiet,
                "  row on the last socket p50 {:.2} ms, p99 {:.2} ms; {:.2} frames per socket per change; {} to others",
                measured.row_p50_ms,
                measured.row_p99_ms,
                measured.frames_per_socket_per_change,
                measured.bystander_frames
            );
            Some(measured)
        }
        _ => None,
    };
    drift_note(&results, &mut notes, server_known);
    if server_kind.starts_with("postgres") {
        notes.push("with PostgreSQL, OTHER includes the database server's own processes".to_owned());
    }
    if args.instances > 1 {
        notes.push(format!(
            "{} instances: requests spread over them (the floor runs on the first only); SERVER is their sum, \
             SERVER RSS the first's",
            args.instances
        ));
    }
    if results.iter().any(|r| r.key.starts_with("list_") || r.key.starts_with("md5_")) {
        notes.push(
            "list and md5 rows are answered from the server's list cache: nothing changes those lists during a \
             scenario; the 'cache off' rows (the same world, --list-cache-mib 0) show what a list costs after \
             it changed"
                .to_owned(),
        );
    }
    if results.iter().any(|r| r.key.starts_with("send")) {
        notes.push(
            "no push socket is connected during the run: group sends store the message and find nobody online"
                .to_owned(),
        );
    }
    // Last: they delete the big groups' member rows.
    let dismissals = match (dismissals, servers.is_empty()) {
        (Some((sender, members)), false) => {
            say!(
                quiet,
                "running dismissals: groups of 3, then {} groups of {big_group} ...",
                world::DISMISSED_BIG_GROUPS
            );
            // Not while the sockets of the scenarios before are still closing.
            for base_url in &base_urls {
                server::wait_until_quiet(base_url, Duration::from_secs(60)).await?;
            }
            let rounds = if args.quick { 5 } else { 50 };
            let groups: Vec<String> =
                (0..world::DISMISSED_BIG_GROUPS as i64).map(|n| (world::GROUP_DISMISS + n).to_string()).collect();
            let measured = membership::run(&base_urls[0], &sender, &members, &groups, big_group, rounds).await?;
            say!(
                quiet,
                "  group of 3 p50 {}, group of {big_group} p50 {}",
                report::ms(measured.small_p50_us),
                report::ms(measured.big_p50_us)
            );
            Some(measured)
        }
        _ => None,
    };
    let mut report = Report {
        machine: Machine {
            cpu: report::cpu_model(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            yhconv_version: env!("CARGO_PKG_VERSION").to_owned(),
            build_profile: if cfg!(debug_assertions) { "debug" } else { "release" }.to_owned(),
            server: server_kind,
            load_average_start,
            load_average_end: report::load_average(),
        },
        world: world_report,
        floor_path,
        connections: load.connections,
        duration_secs: load.duration.as_secs_f64(),
        warmup_secs: load.warmup.as_secs_f64(),
        memory_at_start,
        scenarios: results,
        fanout,
        dismissals,
        live_push,
        checks: Vec::new(),
        notes,
    };
    report.checks = report::checks(&report, big_group, RSS_LIMIT_MIB);
    drop(servers);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    // Misses are findings, not failures; failed requests are (the figures
    // would be measuring error paths).
    let failed: u64 = report.scenarios.iter().map(|s| s.measured.errors).sum();
    if failed > 0 {
        bail!("{failed} requests failed: the figures above are not valid");
    }
    Ok(())
}

/// A scenario: key, name, what each request does, the tokens it runs as,
/// and (for a list right after a send) the senders' tokens.
type ScenarioPlan = (&'static str, String, Op, Vec<String>, Vec<String>);

/// Scenarios measured with one connection: a latency, not a throughput.
const ONE_CLIENT: &[&str] = &["list_1000_after_send"];

/// Starts `count` servers on `db`, logging to `dir/LOG-N.log`.
async fn start_servers(
    db: &str,
    count: usize,
    dir: &std::path::Path,
    log: &str,
    extra: &[&str],
    quiet: bool,
) -> anyhow::Result<Vec<ServerProcess>> {
    let mut servers = Vec::with_capacity(count);
    for n in 0..count {
        say!(quiet, "starting server {} of {count} ...", n + 1);
        let started = Instant::now();
        let server = ServerProcess::start(db, &dir.join(format!("{log}-{n}.log")), extra).await?;
        say!(
            quiet,
            "server {} (pid {}) answered after {:.2} s",
            server.base_url,
            server.pid(),
            started.elapsed().as_secs_f64()
        );
        servers.push(server);
    }
    Ok(servers)
}

/// The floor and the scenarios `only` names (all of them when it is empty).
fn select(plans: Vec<ScenarioPlan>, only: &[String]) -> anyhow::Result<Vec<ScenarioPlan>> {
    let own_runs = [FANOUT, DISMISSALS, LIVE_PUSH];
    if let Some(unknown) =
        only.iter().find(|k| !own_runs.contains(&k.as_str()) && !plans.iter().any(|p| p.0 == k.as_str()))
    {
        let keys: Vec<&str> = plans.iter().map(|p| p.0).collect();
        bail!("no scenario {unknown:?} here; the keys are {}", keys.join(", "));
    }
    Ok(plans.into_iter().filter(|p| only.is_empty() || p.0 == "floor" || only.iter().any(|k| k == p.0)).collect())
}

fn floor_op() -> Op {
    Op::Floor { path: String::new() }
}

/// The scenarios on a world this run built, in order: reads before the
/// writes that would change them, and the floor again at the end to show
/// how much the machine drifted.
fn local_scenarios(w: &world::BuiltWorld, instances: usize) -> Vec<ScenarioPlan> {
    let big = w.big_group_members;
    let after_send = match instances {
        1 => "list (1000) right after a message in one of its groups, 1 client".to_owned(),
        _ => "list (1000) right after a message through the other instance, 1 client".to_owned(),
    };
    let plans: Vec<(&'static str, String, Op, Vec<String>)> = vec![
        ("floor", "floor: GET {floor}".to_owned(), floor_op(), Vec::new()),
        ("list_50", "list (50)".to_owned(), Op::List { expect: Some(50) }, w.l50_tokens.clone()),
        ("md5_50", "list md5 hit (50)".to_owned(), Op::ListMd5, w.l50_tokens.clone()),
        ("list_1000", "list (1000)".to_owned(), Op::List { expect: Some(1_000) }, w.l1000_tokens.clone()),
        ("md5_1000", "list md5 hit (1000)".to_owned(), Op::ListMd5, w.l1000_tokens.clone()),
        (
            "list_1000_after_send",
            after_send,
            Op::ListAfterSend { group: w.l1000_group.clone(), expect: 1_000 },
            w.l1000_tokens.clone(),
        ),
        (
            "dismiss",
            "dismiss-notification".to_owned(),
            Op::Dismiss { chat: w.dismiss_chat.clone() },
            w.l50_tokens.clone(),
        ),
        (
            "send_10",
            "send to group of 10".to_owned(),
            Op::Send { group: world::GROUP_10.to_string() },
            w.sender_tokens.clone(),
        ),
        (
            "send_big",
            format!("send to group of {big}"),
            Op::Send { group: world::GROUP_BIG.to_string() },
            w.sender_tokens.clone(),
        ),
        (
            "recall_3",
            "recall in group of 3".to_owned(),
            Op::Recall { group: world::GROUP_3.to_string() },
            w.sender_tokens.clone(),
        ),
        (
            "recall_big",
            format!("recall in group of {big}"),
            Op::Recall { group: world::GROUP_BIG.to_string() },
            w.sender_tokens.clone(),
        ),
        ("rename_1000", "rename a user with 1000 conversations".to_owned(), Op::Rename, w.l1000_tokens.clone()),
        ("rename_3", "rename a user in 3 groups".to_owned(), Op::Rename, w.sender_tokens.clone()),
        ("floor_again", "floor again (drift)".to_owned(), floor_op(), Vec::new()),
        // Last, on a server restarted without the list cache: what a list
        // costs when it changed since it was last fetched.
        ("list_50_no_cache", "list (50), cache off".to_owned(), Op::List { expect: Some(50) }, w.l50_tokens.clone()),
        (
            "list_1000_no_cache",
            "list (1000), cache off".to_owned(),
            Op::List { expect: Some(1_000) },
            w.l1000_tokens.clone(),
        ),
    ];
    plans
        .into_iter()
        .map(|(key, name, op, tokens)| {
            let senders = match op {
                Op::ListAfterSend { .. } => w.l1000_group_sender_tokens.clone(),
                _ => Vec::new(),
            };
            (key, name, op, tokens, senders)
        })
        .collect()
}

/// Keys of the scenarios that run on a server with the list cache off.
const NO_CACHE: &str = "_no_cache";

/// With `--target`: the floor and the token user's list, plain and md5-hit.
async fn target_scenarios(base: &str, tokens: &[String], notes: &mut Vec<String>) -> anyhow::Result<Vec<ScenarioPlan>> {
    let client = yhconv_client::Client::new(base)?.with_token(tokens[0].clone());
    let entries = client.conversation_list(None).await.context("listing with --token")?.data.len();
    notes.push(format!("--target: the list checks use --token's user's list of {entries} entries, not L50"));
    Ok(vec![
        ("floor", "floor: GET {floor}".to_owned(), floor_op(), Vec::new(), Vec::new()),
        ("list_50", format!("list ({entries})"), Op::List { expect: Some(entries) }, tokens.to_vec(), Vec::new()),
        ("md5_50", format!("list md5 hit ({entries})"), Op::ListMd5, tokens.to_vec(), Vec::new()),
        ("floor_again", "floor again (drift)".to_owned(), floor_op(), Vec::new(), Vec::new()),
    ])
}

/// `/livez` when the server has it, else `/healthz` (which reads the
/// database, so it is a higher floor), with a note saying so.
async fn floor_path(base: &str) -> anyhow::Result<(String, Option<String>)> {
    let res = reqwest::Client::new().get(format!("{base}/livez")).send().await.context("probing /livez")?;
    if res.status().is_success() {
        return Ok(("/livez".to_owned(), None));
    }
    Ok((
        "/healthz".to_owned(),
        Some(format!(
            "the server answered {} to /livez: the floor is /healthz, which also asks the database",
            res.status()
        )),
    ))
}

/// How far the floor moved between the start and the end of the run.
fn drift_note(results: &[ScenarioResult], notes: &mut Vec<String>, server_known: bool) {
    let rps = |key: &str| results.iter().find(|r| r.key == key).map(|r| r.measured.requests_per_sec);
    if let (Some(first), Some(last)) = (rps("floor"), rps("floor_again")) {
        let drift = (last - first) / first.max(1e-9) * 100.0;
        let verdict = match drift.abs() > 15.0 {
            true => ": the machine's load changed during the run, so the ratios are unreliable; run again",
            false => "",
        };
        notes.push(format!(
            "the floor moved {drift:+.1}% between the start and the end of the run \
             ({first:.0} -> {last:.0} req/s){verdict}"
        ));
    }
    let other = results.iter().map(|r| r.measured.cores_other).fold(0.0, f64::max);
    if !server_known {
        notes.push("the server's process is unknown (--target without --server-pid): OTHER includes it".to_owned());
    } else if other > 0.2 {
        notes
            .push(format!("other processes kept up to {other:.2} cores busy during a scenario: the figures are noisy"));
    }
}

/// The database URL to build in: a fresh SQLite file in `scratch`, or the
/// given one after checking it holds nothing.
async fn choose_db(args: &BenchArgs, scratch: &tempfile::TempDir) -> anyhow::Result<String> {
    let Some(url) = &args.db else {
        return Ok(format!("sqlite://{}", scratch.path().join("bench.db").display()));
    };
    match DbUrl::parse(url)? {
        DbUrl::Sqlite(path) => {
            if path.exists() {
                bail!("{} already exists: bench builds its world in a fresh database", path.display());
            }
        }
        DbUrl::Postgres(pg) => {
            let (client, connection) = tokio_postgres::connect(&pg, tokio_postgres::NoTls)
                .await
                .with_context(|| "connecting to the --db PostgreSQL database")?;
            let connection = tokio::spawn(connection);
            let tables: i64 = client
                .query_one(
                    "SELECT count(*) FROM pg_catalog.pg_tables \
                     WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
                    &[],
                )
                .await?
                .get(0);
            drop(client);
            let _ = connection.await;
            if tables > 0 {
                bail!("the --db database has {tables} tables: bench builds its world only in an empty database");
            }
        }
    }
    Ok(url.clone())
}
