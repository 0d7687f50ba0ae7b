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
    /// Saturation: messages sent, frames delivered, server CPU per frame.
    pub saturation_messages: usize,
    pub frames_delivered: u64,
    pub server_cpu_us_per_frame: f64,
    /// From the senders' start to every frame delivered, seconds.
    pub saturation_secs: f64,
    /// The unrelated direct chat's push during saturation, ms.
    pub probe_p50_ms: f64,
    pub probe_p99_ms: f64,
    pub probes: usize,
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

/// Opens a push socket and logs in; returns once `login_ack` arrived.
async fn open_socket(
    ws_url: &str,
    user: i64,
    token: &str,
) -> anyhow::Result<tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>> {
    // A receiver that costs little: small buffers, frames written at once.
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(ws_url, Some(config), false)
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
pub async fn run(base_urls: &[String], pids: &[u32], cast: Cast, duration: Duration) -> anyhow::Result<FanoutResult> {
    let base_url = base_urls.first().context("no server to run the fan-out against")?.as_str();
    let open_files = yhconv_server::app::raise_open_files_limit();
    let sockets = cast.receivers.len();
    if sockets as u64 + 256 > open_files {
        bail!("{sockets} sockets need more open files than this process may have ({open_files})");
    }
    let ws_urls: Vec<String> = base_urls.iter().map(|url| format!("{}/ws", url.replacen("http", "ws", 1))).collect();
    let ws_url = ws_urls[0].clone();
    let rss = || -> anyhow::Result<u64> { pids.iter().map(|&pid| Ok(server::memory(pid)?.rss_kib)).sum() };
    let cpu_ticks = || pids.iter().map(|&pid| server::cpu_ticks(Some(pid))).sum::<u64>();
    let rss_before = rss()?;

    // Every socket logs in; each then counts frames into `arrived` and notes
    // when each came.
    let arrived = Arc::new(Arrivals::default());
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let opened: Vec<_> = futures_util::stream::iter(cast.receivers.iter().cloned().enumerate())
        .map(|(n, (user, token))| {
            let ws_url = ws_urls[n % ws_urls.len()].clone();
            async move { open_socket(&ws_url, user, &token).await }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    let mut receivers = Vec::with_capacity(sockets);
    for ws in opened {
        let mut ws = ws?;
        let (arrived, mut stop_rx) = (Arc::clone(&arrived), stop_rx.clone());
        receivers.push(tokio::spawn(async move {
            let mut times = Vec::new();
            loop {
                tokio::select! {
                    frame = ws.next() => match frame {
                        Some(Ok(Message::Binary(_))) => {
                            if times.len() < LATENCY_MESSAGES {
                                times.push(Instant::now());
                            }
                            arrived.arrived();
                        }
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => break,
                    },
                    _ = stop_rx.changed() => break,
                }
            }
            times
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
    let mut sent_at = Vec::new();
    for i in 0..LATENCY_MESSAGES {
        sent_at.push(Instant::now());
        sender.send_text(&cast.group, ChatType::Group, &format!("fan-out {i}"), &[]).await?;
        wait_for_all(sockets).await?;
    }

    // 3. Saturation, with the probe.
    let ticks_before = cpu_ticks();
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
    let probe_sender =
        Client::new(base_url)?.with_token(&cast.probe_sender_token).with_timeout(Duration::from_secs(60));
    let (probe_user, probe_token) = &cast.probe_receiver;
    let mut probe_socket = open_socket(&ws_url, *probe_user, probe_token).await?;
    let mut probe_ms = Vec::new();
    let mut tick = tokio::time::interval(PROBE_EVERY);
    while Instant::now() < deadline {
        tick.tick().await;
        let before = Instant::now();
        probe_sender.send_text(&probe_user.to_string(), ChatType::User, "probe", &[]).await?;
        loop {
            match tokio::time::timeout(DRAIN_TIMEOUT, probe_socket.next()).await {
                Ok(Some(Ok(Message::Binary(_)))) => break,
                Ok(Some(Ok(_))) => continue,
                other => bail!("the probe's socket ended: {other:?}"),
            }
        }
        probe_ms.push(before.elapsed().as_secs_f64() * 1e3);
    }
    let mut saturation_messages = 0;
    for task in senders {
        saturation_messages += task.await??;
    }
    wait_for_all(sockets * saturation_messages).await?;
    let saturation_secs = started.elapsed().as_secs_f64();
    let ticks = cpu_ticks().saturating_sub(ticks_before);
    let frames_delivered = (sockets * saturation_messages) as u64;

    stop.send(true).ok();
    let mut median_socket = Vec::new();
    let mut last_socket = Vec::new();
    let mut per_message: Vec<Vec<f64>> = (0..LATENCY_MESSAGES).map(|_| Vec::with_capacity(sockets)).collect();
    for receiver in receivers {
        let times = receiver.await?;
        for (i, at) in times.iter().take(LATENCY_MESSAGES).enumerate() {
            per_message[i].push(at.duration_since(sent_at[i]).as_secs_f64() * 1e3);
        }
    }
    for latencies in per_message {
        let latencies = sorted(latencies);
        median_socket.push(percentile(&latencies, 0.5));
        last_socket.push(latencies.last().copied().unwrap_or(f64::NAN));
    }
    let (median_socket, last_socket, probe_ms) = (sorted(median_socket), sorted(last_socket), sorted(probe_ms));
    Ok(FanoutResult {
        sockets,
        instances: base_urls.len(),
        rss_per_socket_kib,
        median_socket_p50_ms: percentile(&median_socket, 0.5),
        last_socket_p50_ms: percentile(&last_socket, 0.5),
        last_socket_p99_ms: percentile(&last_socket, 0.99),
        saturation_messages,
        frames_delivered,
        server_cpu_us_per_frame: ticks as f64 / server::TICKS_PER_SEC * 1e6 / frames_delivered.max(1) as f64,
        saturation_secs,
        probe_p50_ms: percentile(&probe_ms, 0.5),
        probe_p99_ms: percentile(&probe_ms, 0.99),
        probes: probe_ms.len(),
    })
}
