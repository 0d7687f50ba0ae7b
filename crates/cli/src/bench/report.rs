//! The report: a table of scenarios (each also as a ratio to the floor of
//! the same run), where the CPU went, the target checks, and the machine.

use serde::Serialize;

use super::load::Measurement;
use super::server::Memory;
use crate::client_cmd::text::table;

/// Everything one run found; `--json` prints it as is.
#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub world: Option<WorldReport>,
    /// The floor's path (`/livez`, or `/healthz` on a server without it).
    pub floor_path: String,
    pub connections: usize,
    pub duration_secs: f64,
    pub warmup_secs: f64,
    /// Server memory once the world was loaded and the server answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_at_start: Option<Memory>,
    pub scenarios: Vec<ScenarioResult>,
    /// The fan-out scenario, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fanout: Option<super::fanout::FanoutResult>,
    /// Dismissals of a group of 3 and of the big group, when they ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dismissals: Option<super::membership::DismissalResult>,
    pub live_push: Option<super::live_push::LivePushResult>,
    pub checks: Vec<Check>,
    pub notes: Vec<String>,
}

/// Where the numbers were measured.
#[derive(Debug, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub yhconv_version: String,
    pub build_profile: String,
    /// `sqlite`, `postgres`, or the `--target` URL.
    pub server: String,
    pub load_average_start: String,
    pub load_average_end: String,
}

/// How the world was built.
#[derive(Debug, Serialize)]
pub struct WorldReport {
    pub counts: super::world::WorldCounts,
    pub big_group_members: usize,
    pub steps: Vec<Step>,
    pub total_secs: f64,
}

/// One step of the world build.
#[derive(Debug, Serialize)]
pub struct Step {
    pub what: String,
    pub secs: f64,
}

/// One scenario's figures.
#[derive(Debug, Serialize)]
pub struct ScenarioResult {
    /// Stable key for scripts: `floor`, `list_50`, `md5_50`, `send_big`...
    pub key: String,
    pub name: String,
    #[serde(flatten)]
    pub measured: Measurement,
    /// Requests per second as a fraction of the floor's.
    pub rps_x_floor: f64,
    /// p50 latency as a multiple of the floor's.
    pub p50_x_floor: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_after: Option<Memory>,
}

/// One target: `pass` is `None` when the run could not measure it.
#[derive(Debug, Serialize)]
pub struct Check {
    pub name: String,
    pub target: String,
    pub measured: String,
    pub pass: Option<bool>,
}

impl Report {
    /// The scenario with `key`, if it ran.
    pub fn scenario(&self, key: &str) -> Option<&ScenarioResult> {
        self.scenarios.iter().find(|s| s.key == key)
    }

    /// The readable form.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Some(world) = &self.world {
            let c = &world.counts;
            out.push_str(&format!(
                "world: {} users, {} groups, {} memberships, {} messages, {} tokens; built in {:.2} s\n",
                c.users, c.groups, c.memberships, c.messages, c.tokens, world.total_secs
            ));
            for step in &world.steps {
                out.push_str(&format!("  {:>7.2} s  {}\n", step.secs, step.what));
            }
            out.push('\n');
        }
        out.push_str(&format!(
            "{} connections, {:.1} s per scenario after a {:.1} s warm-up; floor = GET {}\n\n",
            self.connections, self.duration_secs, self.warmup_secs, self.floor_path
        ));
        let rows: Vec<Vec<String>> = self
            .scenarios
            .iter()
            .map(|s| {
                let m = &s.measured;
                vec![
                    s.name.clone(),
                    format!("{:.0}", m.requests_per_sec),
                    ms(m.p50_us),
                    ms(m.p99_us),
                    format!("{:.2}", s.rps_x_floor),
                    format!("{:.1}", s.p50_x_floor),
                    m.errors.to_string(),
                    s.memory_after.map_or("-".to_owned(), |mem| mib(mem.rss_kib)),
                ]
            })
            .collect();
        let headers = ["SCENARIO", "REQ/S", "P50", "P99", "X FLOOR", "P50 X FLOOR", "ERRORS", "SERVER RSS"];
        out.push_str(&table(&headers, &rows));
        let errors: Vec<String> = self
            .scenarios
            .iter()
            .filter_map(|s| s.measured.first_error.as_ref().map(|e| format!("  {}: {e}", s.name)))
            .collect();
        if !errors.is_empty() {
            out.push_str("\nfirst error of each failing scenario:\n");
            out.push_str(&errors.join("\n"));
            out.push('\n');
        }
        out.push_str("\nwhere the CPU went (cores busy on average; the machine has ");
        out.push_str(&format!("{}):\n", self.machine.cores));
        let rows: Vec<Vec<String>> = self
            .scenarios
            .iter()
            .map(|s| {
                let m = &s.measured;
                vec![
                    s.name.clone(),
                    format!("{:.2}", m.cores_server),
                    format!("{:.2}", m.cores_bench),
                    format!("{:.2}", m.cores_other),
                    format!("{:.0}", per_request_us(m.cores_server, m.requests_per_sec)),
                    format!("{:.0}", per_request_us(m.cores_bench, m.requests_per_sec)),
                ]
            })
            .collect();
        let headers = ["SCENARIO", "SERVER", "LOAD GEN", "OTHER", "SERVER µs/REQ", "LOAD GEN µs/REQ"];
        out.push_str(&table(&headers, &rows));
        if let Some(mem) = self.memory_at_start {
            out.push_str(&format!("\nserver memory: {} after start with the world loaded; ", mib(mem.rss_kib)));
            let last = self.scenarios.iter().rev().find_map(|s| s.memory_after);
            if let Some(last) = last {
                out.push_str(&format!("{} at the end, peak {}\n", mib(last.rss_kib), mib(last.peak_kib)));
            } else {
                out.push('\n');
            }
        }
        out.push_str("\ntargets:\n");
        let rows: Vec<Vec<String>> = self
            .checks
            .iter()
            .map(|c| {
                let verdict = match c.pass {
                    Some(true) => "PASS",
                    Some(false) => "MISS",
                    None => "n/a",
                };
                vec![verdict.to_owned(), c.name.clone(), c.target.clone(), c.measured.clone()]
            })
            .collect();
        out.push_str(&table(&["", "CHECK", "TARGET", "MEASURED"], &rows));
        for note in &self.notes {
            out.push_str(&format!("note: {note}\n"));
        }
        if let Some(f) = &self.fanout {
            out.push_str(&format!(
                "\nfan-out: {} push sockets in one group on {} instance(s), {:.1} KiB of server memory each while idle\n\
                 \x20 one message at a time: median socket p50 {:.1} ms, last socket p50 {:.1} ms, p99 {:.1} ms; \
                 CPU per frame: server {:.2} µs ({:.2} in the kernel), receivers {:.2} µs ({:.2} in the kernel)\n\
                 \x20 saturated ({} messages, {} frames in {:.1} s): {:.2} µs of server CPU per frame \
                 (load generator {:.2} µs); a direct chat's push meanwhile p50 {:.1} ms, p99 {:.1} ms ({} probes)\n\
                 \x20 of which the probe's send until answered p50 {:.1} ms, p99 {:.1} ms; from the answer to the push \
                 p50 {:.1} ms, p99 {:.1} ms; the slowest was sent {:.0} ms into the load\n\
                 \x20 meanwhile an empty request (GET {}) to the same instance p50 {:.1} ms, p99 {:.1} ms; {}\n",
                f.sockets,
                f.instances,
                f.rss_per_socket_kib,
                f.median_socket_p50_ms,
                f.last_socket_p50_ms,
                f.last_socket_p99_ms,
                f.latency_server_cpu_us_per_frame,
                f.latency_server_kernel_us_per_frame,
                f.latency_load_gen_cpu_us_per_frame,
                f.latency_load_gen_kernel_us_per_frame,
                f.saturation_messages,
                f.frames_delivered,
                f.saturation_secs,
                f.server_cpu_us_per_frame,
                f.load_gen_cpu_us_per_frame,
                f.probe_p50_ms,
                f.probe_p99_ms,
                f.probes,
                f.probe_answered_p50_ms,
                f.probe_answered_p99_ms,
                f.probe_after_answer_p50_ms,
                f.probe_after_answer_p99_ms,
                f.probe_slowest_sent_ms,
                self.floor_path,
                f.empty_p50_ms,
                f.empty_p99_ms,
                match f.cpu_pressure {
                    Some(share) => format!("some thread waited for a core {:.0}% of the time", share * 100.0),
                    None => "the kernel does not say how long threads waited for a core".to_owned(),
                },
            ));
        }
        if let Some(l) = &self.live_push {
            out.push_str(&format!(
                "\nlist-change push: {} changes (mute on/off) of one user with {} live sockets, {} other users' \
                 live sockets online\n\x20 row on the user's last socket after the call answered: p50 {:.2} ms, \
                 p99 {:.2} ms; {:.2} frames per socket per change, {} bytes each; frames to other users: {}\n",
                l.changes,
                l.devices,
                l.bystanders,
                l.row_p50_ms,
                l.row_p99_ms,
                l.frames_per_socket_per_change,
                l.frame_bytes,
                l.bystander_frames
            ));
        }
        let m = &self.machine;
        out.push_str(&format!(
            "\nmachine: {}, {} cores; yhconv {} ({} build); server: {}; load average {} at start, {} at the end\n",
            m.cpu, m.cores, m.yhconv_version, m.build_profile, m.server, m.load_average_start, m.load_average_end
        ));
        out
    }
}

/// CPU microseconds per request from cores busy and requests per second.
fn per_request_us(cores: f64, rps: f64) -> f64 {
    if rps > 0.0 {
        cores * 1e6 / rps
    } else {
        0.0
    }
}

/// Microseconds as milliseconds, e.g. `0.42 ms`.
pub fn ms(us: f64) -> String {
    if us >= 100_000.0 {
        format!("{:.0} ms", us / 1000.0)
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

/// KiB as MiB, e.g. `41.3 MiB`.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Sends into one group per second at least, with [`SEND_CONNECTIONS`].
const MIN_SENDS_PER_SEC: f64 = 1_500.0;
/// The connections the send target is for.
const SEND_CONNECTIONS: usize = 8;

/// The target checks, from the scenarios that ran.
pub fn checks(report: &Report, big_group: usize, rss_limit_mib: f64) -> Vec<Check> {
    let world = report.world.as_ref().map_or("the target's world".to_owned(), |w| {
        format!("{} users, {} memberships", w.counts.users, w.counts.memberships)
    });
    let s = |key: &str| report.scenario(key).map(|r| &r.measured);
    let floor = s("floor");
    let ratio_check = |name: &str, key: &str, min: f64| {
        let (target, measured, pass) = match (s(key), floor) {
            (Some(m), Some(f)) if f.requests_per_sec > 0.0 => {
                let x = m.requests_per_sec / f.requests_per_sec;
                (
                    format!(">= {min:.2} x floor"),
                    format!("{x:.2} x ({:.0} vs {:.0} req/s)", m.requests_per_sec, f.requests_per_sec),
                    Some(x >= min && m.errors == 0),
                )
            }
            _ => (format!(">= {min:.2} x floor"), "not measured".to_owned(), None),
        };
        Check { name: name.to_owned(), target, measured, pass }
    };
    let p50_check = |name: &str, key: &str, base: &str, max: f64| {
        let (measured, pass) = match (s(key), s(base)) {
            (Some(m), Some(b)) if b.p50_us > 0.0 => {
                let x = m.p50_us / b.p50_us;
                (format!("{x:.2} x ({} vs {})", ms(m.p50_us), ms(b.p50_us)), Some(x <= max && m.errors == 0))
            }
            _ => ("not measured".to_owned(), None),
        };
        Check { name: name.to_owned(), target: format!("p50 <= {max} x"), measured, pass }
    };
    let p50_at_most = |name: &str, key: &str, max_ms: f64| {
        let (measured, pass) = match s(key) {
            Some(m) => (ms(m.p50_us), Some(m.p50_us <= max_ms * 1000.0 && m.errors == 0)),
            None => ("not measured".to_owned(), None),
        };
        Check { name: name.to_owned(), target: format!("p50 <= {max_ms} ms"), measured, pass }
    };
    let after_send = match report.machine.server.starts_with("postgres") {
        true => p50_at_most("list(1000) after a change through another instance", "list_1000_after_send", 5.0),
        false => p50_at_most("list(1000) right after a message in it", "list_1000_after_send", 1.0),
    };
    // The target is for 8 connections: with fewer, fewer sends are
    // in flight, and the figure says nothing of it.
    let sends = {
        let slower = [s("send_10"), s("send_big")]
            .into_iter()
            .flatten()
            .min_by(|a, b| a.requests_per_sec.total_cmp(&b.requests_per_sec));
        let (measured, pass) = match slower {
            Some(_) if report.connections != SEND_CONNECTIONS => {
                (format!("not measured: {} connections", report.connections), None)
            }
            Some(m) => (
                format!("{:.0} req/s", m.requests_per_sec),
                Some(m.requests_per_sec >= MIN_SENDS_PER_SEC && m.errors == 0),
            ),
            None => ("not measured".to_owned(), None),
        };
        Check {
            name: format!("sends into one group, {SEND_CONNECTIONS} connections (the slower of 10 and {big_group})"),
            target: format!(">= {MIN_SENDS_PER_SEC:.0} req/s"),
            measured,
            pass,
        }
    };
    let peak = report.scenarios.iter().filter_map(|r| r.memory_after).map(|m| m.peak_kib).max();
    let rss = Check {
        name: format!("server RSS, peak ({world})"),
        target: format!("<= {rss_limit_mib:.0} MiB"),
        measured: peak.map_or("not measured".to_owned(), mib),
        pass: peak.map(|kib| kib as f64 / 1024.0 <= rss_limit_mib),
    };
    let fanout_check = |name: String, target: &str, value: Option<f64>, unit: &str, max: f64| Check {
        name,
        target: format!("{target} {max} {unit}"),
        measured: value.map_or("not measured".to_owned(), |v| format!("{v:.2} {unit}")),
        pass: value.map(|v| v <= max),
    };
    let f = report.fanout.as_ref();
    let sockets = f.map_or(0, |f| f.sockets);
    let mut checks = vec![
        ratio_check("list(50) throughput", "list_50", 0.30),
        ratio_check("md5-hit list(50) throughput", "md5_50", 0.50),
        p50_check("list(1000) p50 vs list(50) p50", "list_1000", "list_50", 20.0),
        p50_check(&format!("send to {big_group} p50 vs send to 10 p50"), "send_big", "send_10", 1.2),
        sends,
        p50_check(&format!("recall in {big_group} p50 vs recall in 3 p50"), "recall_big", "recall_3", 1.2),
        ratio_check("dismiss throughput", "dismiss", 0.50),
        p50_check("rename: 1000 conversations p50 vs 3", "rename_1000", "rename_3", 1.2),
        after_send,
        rss,
    ];
    if let Some(d) = &report.dismissals {
        let x = d.big_p50_us / d.small_p50_us.max(1e-9);
        checks.push(Check {
            name: format!(
                "dismiss a group of {} vs a group of 3 (p50 of {} and {})",
                d.big_members, d.big_rounds, d.small_rounds
            ),
            target: "<= 2 x".to_owned(),
            measured: format!("{x:.2} x ({} vs {})", ms(d.big_p50_us), ms(d.small_p50_us)),
            pass: Some(x <= 2.0),
        });
    }
    if f.is_some() {
        checks.extend([
            fanout_check("fan-out: server CPU per frame".into(), "<=", f.map(|f| f.server_cpu_us_per_frame), "µs", 3.0),
            fanout_check(
                format!("fan-out: memory per idle socket ({sockets} sockets)"),
                "<=",
                f.map(|f| f.rss_per_socket_kib),
                "KiB",
                16.0,
            ),
            last_socket_check(f),
            fanout_check(
                "fan-out: an unrelated chat's push while saturated, p99".into(),
                "<=",
                f.map(|f| f.probe_p99_ms),
                "ms",
                50.0,
            ),
        ]);
    }
    if let Some(l) = &report.live_push {
        checks.extend([
            fanout_check(
                "list-change push: frames per socket of the user per change".into(),
                "<=",
                Some(l.frames_per_socket_per_change),
                "frames",
                1.0,
            ),
            fanout_check(
                format!("list-change push: frames to other users ({} sockets)", l.bystanders),
                "<=",
                Some(l.bystander_frames as f64),
                "frames",
                0.0,
            ),
        ]);
    }
    checks
}

/// Most ms for one message to reach the last socket.
const MAX_LAST_SOCKET_MS: f64 = 60.0;

/// The last-socket target, with what the CPU alone needs for it: every
/// socket's frame costs the server's CPU and the receivers' on the same
/// cores, so one message to `sockets` sockets takes at least their sum
/// times `sockets` over the cores, and the kernel's part of it is what no
/// server can take away (one send system call per socket).
fn last_socket_check(f: Option<&super::fanout::FanoutResult>) -> Check {
    let (measured, pass) = match f {
        Some(f) => {
            let over_cores = |us_per_frame: f64| us_per_frame * f.sockets as f64 / f.cores.max(1) as f64 / 1e3;
            let cpu = over_cores(f.latency_server_cpu_us_per_frame + f.latency_load_gen_cpu_us_per_frame);
            let kernel = over_cores(f.latency_server_kernel_us_per_frame + f.latency_load_gen_kernel_us_per_frame);
            (
                format!(
                    "{:.2} ms (the CPU of server and receivers alone needs {cpu:.0} ms on {} cores, the kernel's part {kernel:.0} ms)",
                    f.last_socket_p99_ms, f.cores
                ),
                Some(f.last_socket_p99_ms <= MAX_LAST_SOCKET_MS),
            )
        }
        None => ("not measured".to_owned(), None),
    };
    let sockets = f.map_or(0, |f| f.sockets);
    Check {
        name: format!("fan-out: one message to the last of {sockets} sockets, p99"),
        target: format!("<= {MAX_LAST_SOCKET_MS} ms"),
        measured,
        pass,
    }
}

/// `model name` from `/proc/cpuinfo`.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

/// The 1-, 5- and 15-minute load averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_owned())
}
