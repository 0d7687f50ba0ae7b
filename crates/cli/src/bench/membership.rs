//! Dismissals, timed one call at a time: a group of 3 (each round creates
//! and fills one, untimed, then dismisses it, timed) against dismissals of
//! groups as big as the big group (built with the world, owned by the
//! sender), spread among them. A dismissal is one write whatever the
//! group's size; its member rows are purged afterwards, in batches, by the
//! server, and each timed dismissal waits until no purge runs (`/metrics`),
//! so that it measures itself, not the purge of the one before.

use std::time::Instant;

use anyhow::Context as _;
use serde::Serialize;
use yhconv_client::{ChatType, Client};

use super::server;

/// What the dismissals took.
#[derive(Debug, Clone, Serialize)]
pub struct DismissalResult {
    /// Dismissals of a group of 3 timed.
    pub small_rounds: usize,
    pub small_p50_us: f64,
    /// Members of each big group, and how many were dismissed.
    pub big_members: usize,
    pub big_rounds: usize,
    pub big_p50_us: f64,
}

/// Dismisses `rounds` fresh groups of the sender and `members`, and the
/// big groups `big_groups` among them, timing each dismissal call.
pub async fn run(
    base_url: &str,
    sender_token: &str,
    members: &[String],
    big_groups: &[String],
    big_members: usize,
    rounds: usize,
) -> anyhow::Result<DismissalResult> {
    let no_purge = || server::wait_until_no_purge(base_url, PURGE_WAIT);
    let client = Client::new(base_url)?.with_token(sender_token.to_owned());
    let (mut small, mut big) = (Vec::with_capacity(rounds), Vec::with_capacity(big_groups.len()));
    // The big ones spread among the small ones, so that both meet the same
    // states of the server (a big purge leaves a longer write-ahead log
    // behind, for one).
    let every = (rounds / big_groups.len().max(1)).max(1);
    let mut big_groups = big_groups.iter();
    for n in 0..rounds {
        let group = client.create_group(&format!("bench dismissal {n}"), "").await.context("creating a group")?;
        for member in members {
            client.invite(&group, member, ChatType::User).await.context("inviting")?;
        }
        no_purge().await?;
        small.push(timed(client.dismiss_group(&group)).await.context("dismissing a group of 3")?);
        if n % every == every / 2 {
            if let Some(group) = big_groups.next() {
                no_purge().await?;
                big.push(timed(client.dismiss_group(group)).await.context("dismissing a big group")?);
            }
        }
    }
    for group in big_groups {
        no_purge().await?;
        big.push(timed(client.dismiss_group(group)).await.context("dismissing a big group")?);
    }
    no_purge().await?;
    Ok(DismissalResult {
        small_rounds: small.len(),
        small_p50_us: p50(small),
        big_members,
        big_rounds: big.len(),
        big_p50_us: p50(big),
    })
}

/// How long `call` took, µs.
async fn timed<T>(call: impl std::future::Future<Output = yhconv_client::Result<T>>) -> yhconv_client::Result<f64> {
    let started = Instant::now();
    call.await?;
    Ok(started.elapsed().as_secs_f64() * 1e6)
}

/// Longest wait for a big group's purge.
const PURGE_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

fn p50(mut took: Vec<f64>) -> f64 {
    took.sort_by(f64::total_cmp);
    took.get(took.len() / 2).copied().unwrap_or(0.0)
}
