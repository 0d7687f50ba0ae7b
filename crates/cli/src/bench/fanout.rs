//! The fan-out scenario: push sockets online, messages into the big group.
//!
//! `--sockets` members of the big group log in, one socket each (spread
//! over the instances when there are several, so most frames cross from
//! the sender's instance through the database's feed), with a receiver
//! that only counts frames and notes when each arrived (frames of
//! one chat arrive in order, so the i-th frame is the i-th message). Then:
//! 1. memory: the server's RSS before and after the sockets logged in, per
//!    socket;
//! 2. latency: messages sent one at a time, each waited for on every socket:
//!    when it reached the median socket and the last;
//! 3. saturation: four senders post as fast as they can for `--duration`
//!    while a probe sends a direct message every 50 ms to a user who is not
//!    in the group and times its push: the server's CPU time per frame
//!    delivered, and how long the unrelated chat waited.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use futures_util::{SinkExt as _, StreamExt as _};
use serde::Serialize;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use yhconv_client::{ChatType, Client};

use super::server;

/// Messages of the latency phase.
const LATENCY_MESSAGES: usize = 20;
/// Senders of the saturation phase.
const SENDERS: usize = 4;
/// How often the probe sends its direct message.
const PROBE_EVERY: Duration = Duration::from_millis(50);
/// Longest wait for every socket to have every frame.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);
/// Sockets connecting at once.
const CONNECT_CONCURRENCY: usize = 64;

/// Who takes part, with their tokens.
pub struct Cast {
    /// Members of the big group with a socket each: (user id, token).
    pub receivers: Vec<(i64, String)>,
    /// The big group, and a token of a member who posts there (not one of the receivers).
    pub group: String,
    pub sender_token: String,
    /// The probe's pair, in no group with the receivers: the one who sends,
    /// and the one who receives (user id, token).
    pub probe_sender_token: String,
    pub probe_receiver: (i64, String),
}

/// What the fan-out run measured.
#[derive(Debug, Clone, Serialize)]
pub struct FanoutResult {
    pub sockets: usize,
    /// Servers the sockets were spread over.
    pub instances: usize,
    /// Server RSS growth per logged-in idle socket, KiB.
    pub rss_per_socket_kib: f64,
    /// One message at a time: when it reached the median and the last socket, ms.
    pub median_socket_p50_ms: f64,
    pub last_socket_p50_ms: f64,
    pub last_socket_p99_ms: f64,
    /// One message at a time: CPU per frame of the servers and of this
    /// process (the receivers, on the same cores), µs.
    pub latency_server_cpu_us_per_frame: f64,
    pub latency_load_gen_cpu_us_per_frame: f64,
    /// Of those, the part spent in the kernel, µs: on loopback a send
    /// system call also runs the receiving side of the packet.
    pub latency_server_kernel_us_per_frame: f64,
    pub latency_load_gen_kernel_us_per_frame: f64,
    /// Cores of the machine the phase shared.
    pub cores: usize,
    /// Saturation: messages sent, frames delivered, server CPU per frame.
    pub saturation_messages: usize,
    pub frames_delivered: u64,
    pub server_cpu_us_per_frame: f64,
    /// Saturation: this process's CPU per frame (receivers, senders, probe), µs.
    pub load_gen_cpu_us_per_frame: f64,
    /// From the senders' start to every frame delivered, seconds.
    pub saturation_secs: f64,
    /// The unrelated direct chat's push during saturation, ms.
    pub probe_p50_ms: f64,
    pub probe_p99_ms: f64,
    pub probes: usize,
    /// Of the probe's time: the send until answered (the sender's instance
    /// and the database), and from the answer to the push (the hub and the
    /// socket), p50 and p99, ms.
    pub probe_answered_p50_ms: f64,
    pub probe_answered_p99_ms: f64,
    pub probe_after_answer_p50_ms: f64,
    pub probe_after_answer_p99_ms: f64,
    /// When the slowest probe was sent, ms after the load began.
    pub probe_slowest_sent_ms: f64,
    /// An empty request (the floor's) to the probe's instance, halfway
    /// between two probes: what any answer took meanwhile.
    pub empty_p50_ms: f64,
    pub empty_p99_ms: f64,
    /// The share of the probe's time that some runnable thread of the
    /// machine waited for a core (`/proc/pressure/cpu`), when the kernel
    /// says.
    pub cpu_pressure: Option<f64>,
}

/// Frames arrived on every socket so far, and a wake-up for the one waiting
/// for a total: a receiver pays one atomic add per frame (a semaphore's
/// permits took a lock per frame, in the receivers' hot path).
#[derive(Default)]
struct Arrivals {
    frames: AtomicU64,
    /// The total the waiter waits for.
    wanted: AtomicU64,
    reached: Notify,
}

impl Arrivals {
    fn arrived(&self) {
        let frames = self.frames.fetch_add(1, Ordering::SeqCst) + 1;
        if frames == self.wanted.load(Ordering::SeqCst) {
            self.reached.notify_waiters();
        }
    }

    /// Waits until `total` frames have arrived, at most `within`.
    async fn wait_for(&self, total: u64, within: Duration) -> anyhow::Result<()> {
        self.wanted.store(total, Ordering::SeqCst);
        let reached = async {
            loop {
                let woken = self.reached.notified();
                tokio::pin!(woken);
                woken.as_mut().enable();
                if self.frames.load(Ordering::SeqCst) >= total {
                    return;
                }
                woken.await;
            }
        };
        match tokio::time::timeout(within, reached).await {
            Ok(()) => Ok(()),
            Err(_) => bail!("{total} frames were not all delivered within {within:?}"),
        }
    }
}

/// A logged-in push socket.
type PushSocket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a push socket and logs in; returns once `login_ack` arrived.
async fn open_socket(ws_url: &str, user: i64, token: &str) -> anyhow::Result<PushSocket> {
    // A receiver that costs little: small buffers, frames written at once.
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(ws_url, Some(config), true)
        .await
        .with_context(|| format!("connecting {ws_url}"))?;
    let login = serde_json::json!({
        "seq": "bench", "cmd": "login",
        "data": {"userId": user.to_string(), "token": token, "platform": "linux", "deviceId": "bench"},
    });
    ws.send(Message::text(login.to_string())).await?;
    match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
        Ok(Some(Ok(Message::Binary(_)))) => Ok(ws),
        other => bail!("socket of {user} did not log in: {other:?}"),
    }
}

/// Waits for the next binary frame on `socket`.
async fn next_binary(socket: &mut PushSocket) -> anyhow::Result<()> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Binary(_))) => return Ok(()),
            Some(Ok(_)) => {}
            Some(Err(e)) => bail!("the socket broke: {e}"),
            None => bail!("the socket closed"),
        }
    }
}

/// The unrelated direct chat, timed on a thread and runtime of its own:
/// on the load generator's runtime its socket waited behind the thousands
/// of receivers woken with it, and the probe measured that queue rather
/// than the server's. Halfway between two probes it times an empty
/// request (the floor's) to the same instance: what any answer takes
/// meanwhile.
struct Probe {
    /// Hands the probe the deadline it runs until.
    start: std::sync::mpsc::Sender<Instant>,
    thread: std::thread::JoinHandle<anyhow::Result<(Vec<ProbeTiming>, Vec<f64>)>>,
}

/// One probe, ms from the send's start: when the send was answered, and
/// when the push arrived.
#[derive(Debug, Clone, Copy)]
struct ProbeTiming {
    /// When it was sent, ms after the load began.
    sent_ms: f64,
    answered_ms: f64,
    pushed_ms: f64,
}

impl Probe {
    /// Logs the probe's receiver in and waits until its socket is ready.
    async fn start(
        base_url: &str,
        floor_path: &str,
        ws_url: &str,
        sender_token: &str,
        (receiver, receiver_token): (i64, String),
    ) -> anyhow::Result<Self> {
        let sender = Client::new(base_url)?.with_token(sender_token).with_timeout(Duration::from_secs(60));
        let floor_url = format!("{base_url}{floor_path}");
        let empty = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
        let ws_url = ws_url.to_owned();
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        let (start, deadline) = std::sync::mpsc::channel::<Instant>();
        let thread = std::thread::Builder::new().name("bench-probe".into()).spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async move {
                let mut socket = open_socket(&ws_url, receiver, &receiver_token).await;
                // One push untimed, before the load: the sender's connection
                // is open and the chat exists when the timed ones go, as for
                // a client that was already talking (the first request, on
                // a new connection, took 60-130 ms under the load in three
                // runs out of three, when the next worst of a hundred took
                // 15-33 ms).
                if let Ok(socket) = socket.as_mut() {
                    let warm = async {
                        empty.get(&floor_url).send().await?.error_for_status()?;
                        sender.send_text(&receiver.to_string(), ChatType::User, "probe", &[]).await?;
                        next_binary(socket).await
                    };
                    if let Err(e) =
                        tokio::time::timeout(DRAIN_TIMEOUT, warm).await.map_err(anyhow::Error::from).and_then(|r| r)
                    {
                        let _ = ready_tx.send(Some(format!("the first probe: {e:#}")));
                        return Ok((Vec::new(), Vec::new()));
                    }
                }
                let failed = socket.as_ref().err().map(|e| format!("{e:#}"));
                let _ = ready_tx.send(failed);
                let Ok(deadline) = deadline.recv() else { return Ok((Vec::new(), Vec::new())) };
                let socket = socket.as_mut().map_err(|e| anyhow::anyhow!("{e:#}"))?;
                let mut probe_ms = Vec::new();
                let mut empty_ms = Vec::new();
                let mut tick = tokio::time::interval(PROBE_EVERY);
                let began = Instant::now();
                while Instant::now() < deadline {
                    let ticked = tick.tick().await;
                    let before = Instant::now();
                    sender.send_text(&receiver.to_string(), ChatType::User, "probe", &[]).await?;
                    let answered_ms = before.elapsed().as_secs_f64() * 1e3;
                    match tokio::time::timeout(DRAIN_TIMEOUT, next_binary(socket)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => bail!("the probe's socket: {e:#}"),
                        Err(_) => bail!("the probe's push did not come within {DRAIN_TIMEOUT:?}"),
                    }
                    probe_ms.push(ProbeTiming {
                        sent_ms: before.duration_since(began).as_secs_f64() * 1e3,
                        answered_ms,
                        pushed_ms: before.elapsed().as_secs_f64() * 1e3,
                    });
                    tokio::time::sleep_until(ticked + PROBE_EVERY / 2).await;
                    let before = Instant::now();
                    empty.get(&floor_url).send().await?.error_for_status()?;
                    empty_ms.push(before.elapsed().as_secs_f64() * 1e3);
                }
                Ok((probe_ms, empty_ms))
            })
        })?;
        if let Some(failed) = ready.await.context("the probe's thread ended")? {
            bail!("the probe's socket: {failed}");
        }
        Ok(Self { start, thread })
    }

    /// Probes until `deadline`: how long each took, and each empty request.
    async fn run(self, deadline: Instant) -> anyhow::Result<(Vec<ProbeTiming>, Vec<f64>)> {
        self.start.send(deadline).context("the probe's thread ended")?;
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join())
            .await?
            .map_err(|_| anyhow::anyhow!("the probe's thread panicked"))?
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

/// Runs the scenario against the servers at `base_urls` (processes `pids`,
/// in the same order): sockets spread over them in turn, messages and the
/// probe sent through the first; memory and CPU are the servers' sums.
/// `progress` hears when each phase begins (for a profiler to start on).
pub async fn run(
    base_urls: &[String],
    floor_path: &str,
    pids: &[u32],
    cast: Cast,
    duration: Duration,
    progress: impl Fn(&str),
) -> anyhow::Result<FanoutResult> {
    let base_url = base_urls.first().context("no server to run the fan-out against")?.as_str();
    let open_files = yhconv_server::app::raise_open_files_limit();
    let sockets = cast.receivers.len();
    if sockets as u64 + 256 > open_files {
        bail!("{sockets} sockets need more open files than this process may have ({open_files})");
    }
    let ws_urls: Vec<String> = base_urls.iter().map(|url| format!("{}/ws", url.replacen("http", "ws", 1))).collect();
    let ws_url = ws_urls[0].clone();
    let rss = || -> anyhow::Result<u64> { pids.iter().map(|&pid| Ok(server::memory(pid)?.rss_kib)).sum() };
    let server_ticks = || pids.iter().map(|&pid| server::process_ticks(pid)).sum::<server::ProcessTicks>();
    let own_ticks = || server::process_ticks(std::process::id());
    let rss_before = rss()?;

    // Every socket logs in; each then counts frames into `arrived` and notes
    // when each came.
    let arrived = Arc::new(Arrivals::default());
    let opened: Vec<_> = futures_util::stream::iter(cast.receivers.iter().cloned().enumerate())
        .map(|(n, (user, token))| {
            let ws_url = ws_urls[n % ws_urls.len()].clone();
            async move { open_socket(&ws_url, user, &token).await }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    let mut receivers = Vec::with_capacity(sockets);
    let mut latency_times = Vec::with_capacity(sockets);
    for socket in opened {
        let mut socket = socket?;
        let arrived = Arc::clone(&arrived);
        let (times_tx, times_rx) = tokio::sync::oneshot::channel();
        latency_times.push(times_rx);
        receivers.push(tokio::spawn(async move {
            // When each of the first messages came; handed over once all have.
            let mut times = Vec::with_capacity(LATENCY_MESSAGES);
            let mut times_tx = Some(times_tx);
            while next_binary(&mut socket).await.is_ok() {
                if times.len() < LATENCY_MESSAGES {
                    times.push(Instant::now());
                    if times.len() == LATENCY_MESSAGES {
                        if let Some(tx) = times_tx.take() {
                            let _ = tx.send(std::mem::take(&mut times));
                        }
                    }
                }
                arrived.arrived();
            }
        }));
    }
    // Let the server settle what the logins allocated before reading its memory.
    tokio::task::yield_now().await;
    let rss_per_socket_kib = rss()?.saturating_sub(rss_before) as f64 / sockets.max(1) as f64;

    let sender = Client::new(base_url)?.with_token(&cast.sender_token).with_timeout(Duration::from_secs(60));
    // Every frame expected so far, cumulative.
    let mut expected = 0u64;
    let mut wait_for_all = |frames: usize| {
        expected += frames as u64;
        let (arrived, total) = (Arc::clone(&arrived), expected);
        async move { arrived.wait_for(total, DRAIN_TIMEOUT).await }
    };

    // 2. One message at a time.
    progress("one message at a time");
    let (server_before, load_gen_before) = (server_ticks(), own_ticks());
    let mut sent_at = Vec::new();
    for i in 0..LATENCY_MESSAGES {
        sent_at.push(Instant::now());
        sender.send_text(&cast.group, ChatType::Group, &format!("fan-out {i}"), &[]).await?;
        wait_for_all(sockets).await?;
    }

    let latency_frames = (sockets * LATENCY_MESSAGES).max(1) as f64;
    let per_frame = |ticks: u64, frames: f64| ticks as f64 / server::TICKS_PER_SEC * 1e6 / frames;
    let (latency_server, latency_load_gen) = (server_ticks().since(server_before), own_ticks().since(load_gen_before));

    // 3. Saturation, with the probe.
    let probe =
        Probe::start(base_url, floor_path, &ws_url, &cast.probe_sender_token, cast.probe_receiver.clone()).await?;
    progress(&format!("saturation: {SENDERS} senders and the probe for {:.1} s", duration.as_secs_f64()));
    let (ticks_before, load_gen_before) = (server_ticks(), own_ticks());
    let pressure_before = server::cpu_pressure_us();
    let started = Instant::now();
    let deadline = started + duration;
    let mut senders = Vec::new();
    for k in 0..SENDERS {
        let client = sender.clone();
        let group = cast.group.clone();
        senders.push(tokio::spawn(async move {
            let mut sent = 0usize;
            while Instant::now() < deadline {
                client.send_text(&group, ChatType::Group, &format!("load {k} {sent}"), &[]).await?;
                sent += 1;
            }
            anyhow::Ok(sent)
        }));
    }
    let (probes, empty_ms) = probe.run(deadline).await?;
    let pressure = server::cpu_pressure_us()
        .zip(pressure_before)
        .map(|(after, before)| after.saturating_sub(before) as f64 / started.elapsed().as_micros().max(1) as f64);
    let mut saturation_messages = 0;
    for task in senders {
        saturation_messages += task.await??;
    }
    wait_for_all(sockets * saturation_messages).await?;
    let saturation_secs = started.elapsed().as_secs_f64();
    let ticks = server_ticks().since(ticks_before).total();
    let load_gen_ticks = own_ticks().since(load_gen_before).total();
    let frames_delivered = (sockets * saturation_messages) as u64;

    let mut median_socket = Vec::new();
    let mut last_socket = Vec::new();
    let mut per_message: Vec<Vec<f64>> = (0..LATENCY_MESSAGES).map(|_| Vec::with_capacity(sockets)).collect();
    for times in latency_times {
        let times = times.await.context("a receiver ended before the latency messages came")?;
        for (i, at) in times.iter().enumerate() {
            per_message[i].push(at.duration_since(sent_at[i]).as_secs_f64() * 1e3);
        }
    }
    for receiver in receivers {
        receiver.abort();
    }
    for latencies in per_message {
        let latencies = sorted(latencies);
        median_socket.push(percentile(&latencies, 0.5));
        last_socket.push(latencies.last().copied().unwrap_or(f64::NAN));
    }
    let (median_socket, last_socket) = (sorted(median_socket), sorted(last_socket));
    let probe_slowest_sent_ms =
        probes.iter().max_by(|a, b| a.pushed_ms.total_cmp(&b.pushed_ms)).map_or(f64::NAN, |p| p.sent_ms);
    let probe_ms = sorted(probes.iter().map(|p| p.pushed_ms).collect());
    let answered_ms = sorted(probes.iter().map(|p| p.answered_ms).collect());
    let after_answer_ms = sorted(probes.iter().map(|p| p.pushed_ms - p.answered_ms).collect());
    let empty_ms = sorted(empty_ms);
    Ok(FanoutResult {
        sockets,
        instances: base_urls.len(),
        rss_per_socket_kib,
        median_socket_p50_ms: percentile(&median_socket, 0.5),
        last_socket_p50_ms: percentile(&last_socket, 0.5),
        last_socket_p99_ms: percentile(&last_socket, 0.99),
        saturation_messages,
        frames_delivered,
        latency_server_cpu_us_per_frame: per_frame(latency_server.total(), latency_frames),
        latency_load_gen_cpu_us_per_frame: per_frame(latency_load_gen.total(), latency_frames),
        latency_server_kernel_us_per_frame: per_frame(latency_server.kernel, latency_frames),
        latency_load_gen_kernel_us_per_frame: per_frame(latency_load_gen.kernel, latency_frames),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        server_cpu_us_per_frame: per_frame(ticks, frames_delivered.max(1) as f64),
        load_gen_cpu_us_per_frame: per_frame(load_gen_ticks, frames_delivered.max(1) as f64),
        saturation_secs,
        probe_p50_ms: percentile(&probe_ms, 0.5),
        probe_p99_ms: percentile(&probe_ms, 0.99),
        probes: probe_ms.len(),
        probe_answered_p50_ms: percentile(&answered_ms, 0.5),
        probe_answered_p99_ms: percentile(&answered_ms, 0.99),
        probe_after_answer_p50_ms: percentile(&after_answer_ms, 0.5),
        probe_after_answer_p99_ms: percentile(&after_answer_ms, 0.99),
        probe_slowest_sent_ms,
        empty_p50_ms: percentile(&empty_ms, 0.5),
        empty_p99_ms: percentile(&empty_ms, 0.99),
        cpu_pressure: pressure,
    })
}
