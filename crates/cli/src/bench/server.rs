//! The server under test: `yhconv serve` as a child process on a free
//! loopback port, and what `/proc` says about it (memory, CPU time).

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

/// How long the server may take to answer its first request.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `yhconv serve`; killed when dropped.
pub struct ServerProcess {
    child: Child,
    pub base_url: String,
}

/// Memory of a process, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Memory {
    /// Resident set now (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// Peak resident set (`VmHWM`), KiB.
    pub peak_kib: u64,
}

/// A port nobody listens on right now.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

impl ServerProcess {
    /// Starts this executable's `serve` on `db`, with rate limits off and
    /// `extra` flags, logging to `log` (a file), and waits until it answers
    /// `/healthz`.
    pub async fn start(db: &str, log: &Path, extra: &[&str]) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("finding the yhconv executable")?;
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let log_file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        // The URL goes in the environment, not the arguments every user on
        // the machine can read in `ps`: it may hold a password.
        let child = Command::new(exe)
            .env("YHCONV_DB", db)
            .args(["serve", "--listen", &addr.to_string()])
            .args(["--rate-limit", "0", "--login-rate-limit", "0"])
            // Every client of the benchmark has the same address, and the
            // fan-out holds 10,000 sockets besides the HTTP connections.
            .args(["--max-connections-per-ip", "0", "--max-connections", "100000"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .context("starting `yhconv serve`")?;
        let mut server = Self { child, base_url: format!("http://{addr}") };
        server.wait_ready(log).await?;
        Ok(server)
    }

    async fn wait_ready(&mut self, log: &Path) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let url = format!("{}/healthz", self.base_url);
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                let tail = std::fs::read_to_string(log).unwrap_or_default();
                bail!("the server exited ({status}) before answering; its log:\n{}", last_lines(&tail, 20));
            }
            if let Ok(res) = http.get(&url).timeout(Duration::from_secs(2)).send().await {
                if res.status().is_success() {
                    return Ok(());
                }
            }
            if started.elapsed() > START_TIMEOUT {
                bail!("the server did not answer {url} within {} s", START_TIMEOUT.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's memory now.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        memory(self.pid())
    }

    /// True while the server runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `VmRSS` and `VmHWM` of `pid`.
pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    Ok(Memory { rss_kib: field("VmRSS:"), peak_kib: field("VmHWM:") })
}

/// CPU time used so far by one process, in clock ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessTicks {
    /// In user space (`utime`).
    pub user: u64,
    /// In the kernel on the process's behalf (`stime`): system calls, and
    /// on loopback the receiving side of every packet it sends.
    pub kernel: u64,
}

impl ProcessTicks {
    /// Both together.
    pub fn total(self) -> u64 {
        self.user + self.kernel
    }

    /// What was used since `before`.
    pub fn since(self, before: ProcessTicks) -> ProcessTicks {
        ProcessTicks { user: self.user.saturating_sub(before.user), kernel: self.kernel.saturating_sub(before.kernel) }
    }
}

impl std::iter::Sum for ProcessTicks {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(ProcessTicks::default(), |a, b| ProcessTicks { user: a.user + b.user, kernel: a.kernel + b.kernel })
    }
}

/// CPU time used so far by `pid`, split into user space and the kernel
/// (zero when it cannot be read).
pub fn process_ticks(pid: u32) -> ProcessTicks {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return ProcessTicks::default() };
    // Fields after the command name (which may hold spaces) start at field
    // 3; utime and stime are fields 14 and 15.
    let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else { return ProcessTicks::default() };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    ProcessTicks { user: get(14), kernel: get(15) }
}

/// CPU time used so far, in clock ticks, by `pid` (user + system) or, for
/// `None`, by the whole machine (all non-idle time over all cores).
pub fn cpu_ticks(pid: Option<u32>) -> u64 {
    match pid {
        Some(pid) => process_ticks(pid).total(),
        None => {
            let Ok(stat) = std::fs::read_to_string("/proc/stat") else { return 0 };
            let Some(cpu) = stat.lines().next() else { return 0 };
            // user nice system idle iowait irq softirq steal ...
            let values: Vec<u64> = cpu.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
            let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
            values.iter().take(8).sum::<u64>().saturating_sub(idle)
        }
    }
}

/// How long, in µs, some runnable thread of the machine has waited for a
/// core so far (`/proc/pressure/cpu`, its `some` line): `None` where the
/// kernel does not say.
pub fn cpu_pressure_us() -> Option<u64> {
    let pressure = std::fs::read_to_string("/proc/pressure/cpu").ok()?;
    let some = pressure.lines().find(|l| l.starts_with("some "))?;
    some.split_whitespace().find_map(|field| field.strip_prefix("total="))?.parse().ok()
}

/// Clock ticks per second (`USER_HZ`): 100 on every Linux this runs on.
pub const TICKS_PER_SEC: f64 = 100.0;

/// Waits until the server at `base_url` runs no purge of a dismissed
/// group (`/metrics`), at most `within`.
pub async fn wait_until_no_purge(base_url: &str, within: Duration) -> anyhow::Result<()> {
    wait_for_gauges(base_url, within, "a dismissed group's purge", &[("yhconv_group_purges_running", true)]).await
}

/// Waits until the server at `base_url` has no push socket left and no
/// push frame waiting (`/metrics`), at most `within`: a scenario after the
/// fan-out then measures itself, not the closing of 10,000 sockets.
pub async fn wait_until_quiet(base_url: &str, within: Duration) -> anyhow::Result<()> {
    let gauges = [("yhconv_push_sockets", true), ("yhconv_push_frames_pending", false)];
    wait_for_gauges(base_url, within, "push sockets or frames", &gauges).await
}

/// Waits until each of `gauges` (name, and whether the server must show
/// it) reads 0 on the server at `base_url`'s `/metrics`, at most `within`.
async fn wait_for_gauges(base_url: &str, within: Duration, what: &str, gauges: &[(&str, bool)]) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let url = format!("{base_url}/metrics");
    let started = Instant::now();
    loop {
        let body = http.get(&url).timeout(Duration::from_secs(5)).send().await?.error_for_status()?.text().await?;
        let gauge = |name: &str| {
            body.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<f64>().ok())
        };
        let zero = |&(name, required): &(&str, bool)| match gauge(name) {
            Some(value) => value == 0.0,
            None => !required,
        };
        if gauges.iter().all(zero) {
            return Ok(());
        }
        if started.elapsed() > within {
            bail!("{base_url} still had {what} after {} s", within.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
