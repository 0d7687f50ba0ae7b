//! The load generator: `connections` tasks, each with its own client (its
//! own keep-alive connection) and its own token, calling one endpoint back
//! to back for a warm-up and then for the measured duration.

use std::sync::Arc;
use std::time::{Duration, Instant};

use yhconv_client::pb::{MsgContent, SendMessage};
use yhconv_client::{ChatType, Client, ContentType};

use super::server::{cpu_ticks, TICKS_PER_SEC};

/// What each request of a scenario does.
#[derive(Debug, Clone)]
pub enum Op {
    /// `GET path` with no token: the floor (an empty handler).
    Floor { path: String },
    /// `conversation/list` without md5; the answer must hold `expect` entries.
    List { expect: Option<usize> },
    /// `conversation/list` with the current md5; the answer must be empty.
    ListMd5,
    /// `conversation/dismiss-notification` on `chat`.
    Dismiss { chat: String },
    /// `msg/send-message` of a short text into `group`, a new msg_id each time.
    Send { group: String },
    /// `msg/recall-msg` of a message just sent into `group` (the send is
    /// not timed; the recall is).
    Recall { group: String },
    /// A message into `group` (one of the listing user's, sent by another
    /// member through the next instance, not timed), then the listing
    /// user's `conversation/list` (timed), which must hold `expect` entries
    /// with `group` first.
    ListAfterSend { group: String, expect: usize },
    /// `user/edit-nickname` with a new name each time.
    Rename,
}

/// One scenario to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub op: Op,
    /// One per connection (cycled when fewer).
    pub tokens: Vec<String>,
    /// With [`Op::ListAfterSend`]: the senders' tokens (cycled).
    pub sender_tokens: Vec<String>,
}

/// How long and how wide to drive a scenario.
#[derive(Debug, Clone)]
pub struct Load {
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// The servers' processes when they run on this machine: their CPU
    /// time is reported (summed).
    pub server_pids: Vec<u32>,
}

/// What a scenario measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Measurement {
    pub requests: u64,
    pub errors: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    pub seconds: f64,
    pub requests_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    /// Cores busy on average during the measured window: the server, this
    /// load generator, and everything else on the machine (noise).
    pub cores_server: f64,
    pub cores_bench: f64,
    pub cores_other: f64,
}

/// One connection's client and its per-request work.
struct Worker {
    op: Op,
    client: Client,
    /// With [`Op::ListAfterSend`]: the sender, on the next instance.
    sender: Option<Client>,
    http: reqwest::Client,
    base_url: String,
    md5: String,
    tag: String,
}

impl Worker {
    /// One request; `Some(duration)` when only part of the work is timed.
    async fn once(&self, n: u64) -> Result<Option<Duration>, String> {
        if let Op::Recall { group } = &self.op {
            let msg_id = self.send(group, n).await?;
            let started = Instant::now();
            self.client.recall(group, ChatType::Group, &[&msg_id]).await.map_err(|e| e.to_string())?;
            return Ok(Some(started.elapsed()));
        }
        if let Op::ListAfterSend { group, expect } = &self.op {
            let sender = self.sender.as_ref().ok_or("no sender")?;
            self.send_as(sender, group, n).await?;
            let started = Instant::now();
            let list = self.client.conversation_list(None).await.map_err(|e| e.to_string())?;
            let took = started.elapsed();
            if list.data.len() != *expect || list.data.first().map(|c| c.chat_id.as_str()) != Some(group) {
                return Err(format!("expected {expect} entries with {group} first, got {}", list.data.len()));
            }
            return Ok(Some(took));
        }
        self.untimed(n).await.map(|()| None)
    }

    /// Sends a short text into `group`; its msg_id.
    async fn send(&self, group: &str, n: u64) -> Result<String, String> {
        self.send_as(&self.client, group, n).await
    }

    /// Sends a short text into `group` through `client`; its msg_id.
    async fn send_as(&self, client: &Client, group: &str, n: u64) -> Result<String, String> {
        let msg = SendMessage {
            msg_id: format!("{}-{n}", self.tag),
            chat_id: group.to_owned(),
            chat_type: ChatType::Group.code(),
            content: Some(MsgContent { text: format!("load {n}: 你好 hello"), ..Default::default() }),
            content_type: ContentType::Text.code(),
            ..Default::default()
        };
        client.send_message(&msg).await.map_err(|e| e.to_string())?;
        Ok(msg.msg_id)
    }

    async fn untimed(&self, n: u64) -> Result<(), String> {
        match &self.op {
            Op::Floor { path } => {
                let res = self.http.get(format!("{}{path}", self.base_url)).send().await.map_err(|e| e.to_string())?;
                let status = res.status();
                let _ = res.bytes().await.map_err(|e| e.to_string())?;
                if !status.is_success() {
                    return Err(format!("GET {path} answered {status}"));
                }
                Ok(())
            }
            Op::List { expect } => {
                let list = self.client.conversation_list(None).await.map_err(|e| e.to_string())?;
                match expect {
                    Some(n) if list.data.len() != *n => Err(format!("expected {n} entries, got {}", list.data.len())),
                    _ => Ok(()),
                }
            }
            Op::ListMd5 => {
                let list = self.client.conversation_list(Some(&self.md5)).await.map_err(|e| e.to_string())?;
                if !list.data.is_empty() {
                    return Err(format!("the md5 no longer matched: {} entries came back", list.data.len()));
                }
                Ok(())
            }
            Op::Dismiss { chat } => self.client.dismiss_notification(chat).await.map_err(|e| e.to_string()),
            Op::Send { group } => self.send(group, n).await.map(|_| ()),
            Op::Rename => self.client.edit_nickname(&format!("{} {n}", self.tag)).await.map_err(|e| e.to_string()),
            Op::Recall { .. } | Op::ListAfterSend { .. } => Err("timed on its own".to_owned()),
        }
    }
}

/// What one worker saw.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
    last_finish: Option<Instant>,
}

/// A nonce that keeps msg_ids unique across runs on one database.
fn run_nonce() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0)
}

/// Runs `scenario` against the servers at `base_urls` (connection `i` talks
/// to `base_urls[i % n]`, and sends for [`Op::ListAfterSend`] through the
/// next one) and measures it.
pub async fn run(base_urls: &[String], scenario: &Scenario, load: &Load) -> anyhow::Result<Measurement> {
    let nonce = run_nonce();
    let mut workers = Vec::with_capacity(load.connections);
    for i in 0..load.connections {
        let base_url = &base_urls[i % base_urls.len()];
        let token = scenario.tokens.get(i % scenario.tokens.len().max(1)).cloned().unwrap_or_default();
        let client = Client::new(base_url)?.with_token(token).with_timeout(Duration::from_secs(30));
        let sender = match (&scenario.op, scenario.sender_tokens.is_empty()) {
            (Op::ListAfterSend { .. }, false) => {
                let token = scenario.sender_tokens[i % scenario.sender_tokens.len()].clone();
                let next = &base_urls[(i + 1) % base_urls.len()];
                Some(Client::new(next)?.with_token(token).with_timeout(Duration::from_secs(30)))
            }
            _ => None,
        };
        let md5 = match scenario.op {
            Op::ListMd5 => client.conversation_list(None).await?.md5,
            _ => String::new(),
        };
        workers.push(Worker {
            op: scenario.op.clone(),
            client,
            sender,
            http: reqwest::Client::builder().user_agent(yhconv_client::USER_AGENT).build()?,
            base_url: base_url.clone(),
            md5,
            tag: format!("bench-{nonce}-{i}"),
        });
    }
    let start = Instant::now();
    let measure_from = start + load.warmup;
    let end = measure_from + load.duration;
    let mut tasks = Vec::with_capacity(workers.len());
    for worker in workers {
        tasks.push(tokio::spawn(async move {
            let worker = Arc::new(worker);
            let mut tally = Tally::default();
            let mut n = 0u64;
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let result = worker.once(n).await;
                n += 1;
                if sent < measure_from {
                    continue;
                }
                let done = Instant::now();
                tally.last_finish = Some(done);
                match result {
                    Ok(timed) => {
                        let took = timed.unwrap_or(done - sent);
                        tally.latencies_us.push(took.as_micros().min(u32::MAX as u128) as u32)
                    }
                    Err(e) => {
                        tally.errors += 1;
                        tally.first_error.get_or_insert(e);
                    }
                }
            }
            tally
        }));
    }
    tokio::time::sleep_until(measure_from.into()).await;
    let servers_ticks = || load.server_pids.iter().map(|&p| cpu_ticks(Some(p))).sum::<u64>();
    let cpu_before = (cpu_ticks(None), cpu_ticks(Some(std::process::id())), servers_ticks());
    let mut all = Tally::default();
    for task in tasks {
        let tally = task.await?;
        all.latencies_us.extend(tally.latencies_us);
        all.errors += tally.errors;
        if all.first_error.is_none() {
            all.first_error = tally.first_error;
        }
        all.last_finish = all.last_finish.max(tally.last_finish);
    }
    let cpu_after = (cpu_ticks(None), cpu_ticks(Some(std::process::id())), servers_ticks());
    let seconds = all.last_finish.map_or(load.duration, |t| t.saturating_duration_since(measure_from)).as_secs_f64();
    let cores = |ticks: u64| ticks as f64 / TICKS_PER_SEC / seconds.max(1e-9);
    let busy = cpu_after.0.saturating_sub(cpu_before.0);
    let bench = cpu_after.1.saturating_sub(cpu_before.1);
    let server = cpu_after.2.saturating_sub(cpu_before.2);
    all.latencies_us.sort_unstable();
    let requests = all.latencies_us.len() as u64 + all.errors;
    Ok(Measurement {
        requests,
        errors: all.errors,
        first_error: all.first_error,
        seconds,
        requests_per_sec: requests as f64 / seconds.max(1e-9),
        p50_us: percentile(&all.latencies_us, 0.50),
        p99_us: percentile(&all.latencies_us, 0.99),
        max_us: all.latencies_us.last().copied().unwrap_or(0) as f64,
        cores_server: cores(server),
        cores_bench: cores(bench),
        cores_other: cores(busy.saturating_sub(server + bench)),
    })
}

/// The `q` quantile of sorted values (nearest rank).
fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.50), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&[7], 0.99), 7.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
