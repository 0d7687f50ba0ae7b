//! The list-change push scenario: one user's list changes (mute on, mute
//! off, alternately) through HTTP while that user has `DEVICES` live
//! sockets (`"listChanges": 1`) and other users have live sockets too.
//! Measured: when the row reached the user's last socket after the call
//! returned, how many frames and bytes each change cost per socket, and how
//! many frames reached anyone else (none should).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use prost::Message as _;
use serde::Serialize;
use yhconv_client::{Client, PushEvent, PushSocket};

/// Sockets of the changing user.
const DEVICES: usize = 3;
/// Changes measured.
const CHANGES: usize = 200;
/// Longest wait for a change's row on every socket.
const ROW_TIMEOUT: Duration = Duration::from_secs(10);

/// Who takes part.
pub struct LiveCast {
    /// The user whose list changes: id and token.
    pub user: (i64, String),
    /// One of that user's conversations (muted and unmuted).
    pub chat: String,
    /// Other users with live sockets: id and token.
    pub bystanders: Vec<(i64, String)>,
}

/// What the run measured.
#[derive(Debug, Clone, Serialize)]
pub struct LivePushResult {
    pub devices: usize,
    pub bystanders: usize,
    pub changes: usize,
    /// From the call's answer to the row on the user's last socket, ms.
    pub row_p50_ms: f64,
    pub row_p99_ms: f64,
    /// Frames each of the user's sockets got per change (1 is the target).
    pub frames_per_socket_per_change: f64,
    /// Bytes of one list-rows frame, as encoded.
    pub frame_bytes: usize,
    /// Frames any other user's socket got during the run (0 is the target).
    pub bystander_frames: u64,
}

/// Runs the scenario against the server at `base`.
pub async fn run(base: &str, cast: LiveCast) -> anyhow::Result<LivePushResult> {
    let user = Client::new(base)?.with_token(cast.user.1.clone());
    let mut devices = Vec::new();
    for i in 0..DEVICES {
        let socket = user
            .connect_live_push(&cast.user.0.to_string(), "linux", &format!("bench-{i}"))
            .await
            .context("a live socket of the changing user")?;
        devices.push(socket);
    }
    let bystander_frames = Arc::new(AtomicU64::new(0));
    let mut watchers = Vec::new();
    for (id, token) in &cast.bystanders {
        let client = Client::new(base)?.with_token(token.clone());
        let mut socket = client.connect_live_push(&id.to_string(), "linux", "bench-bystander").await?;
        let count = Arc::clone(&bystander_frames);
        watchers.push(tokio::spawn(async move {
            while let Ok(Some(event)) = socket.next_event().await {
                if matches!(event, PushEvent::ListRows(_)) {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let mut latencies = Vec::with_capacity(CHANGES);
    let mut frames = 0u64;
    let mut frame_bytes = 0;
    for i in 0..CHANGES {
        user.set_no_notify(&cast.chat, i % 2 == 0).await.context("mute")?;
        let answered = Instant::now();
        let mut last = Duration::ZERO;
        for socket in &mut devices {
            let rows = next_rows(socket).await?;
            last = last.max(answered.elapsed());
            frames += 1;
            let want = u64::from(i % 2 == 0);
            if !rows.row.iter().any(|r| r.chat_id == cast.chat && r.do_not_disturb == want) {
                bail!("change {i}: the row frame does not show the change");
            }
            frame_bytes = yhconv_proto::pb::ListRowsFrame {
                info: Some(yhconv_proto::pb::Info { seq: String::new(), cmd: "yhconv_list_rows".into() }),
                rows: Some(rows),
            }
            .encoded_len();
        }
        latencies.push(last.as_secs_f64() * 1000.0);
    }
    // Anything more that was coming, then count.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for socket in &mut devices {
        while let Ok(Ok(Some(event))) = tokio::time::timeout(Duration::from_millis(50), socket.next_event()).await {
            if matches!(event, PushEvent::ListRows(_)) {
                frames += 1;
            }
        }
    }
    for watcher in watchers {
        watcher.abort();
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    Ok(LivePushResult {
        devices: DEVICES,
        bystanders: cast.bystanders.len(),
        changes: CHANGES,
        row_p50_ms: at(0.5),
        row_p99_ms: at(0.99),
        frames_per_socket_per_change: frames as f64 / (CHANGES * DEVICES) as f64,
        frame_bytes,
        bystander_frames: bystander_frames.load(Ordering::Relaxed),
    })
}

/// The next list-rows frame on `socket`.
async fn next_rows(socket: &mut PushSocket) -> anyhow::Result<yhconv_proto::pb::ListRows> {
    let wait = async {
        loop {
            match socket.next_event().await? {
                Some(PushEvent::ListRows(rows)) => return Ok(rows),
                Some(_) => {}
                None => bail!("the socket closed"),
            }
        }
    };
    tokio::time::timeout(ROW_TIMEOUT, wait).await.context("no list-rows frame within 10 s")?
}
