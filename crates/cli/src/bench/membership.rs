//! Dismissals, timed one call at a time: a group of 3 (each round creates
//! and fills one, untimed, then dismisses it, timed) against one dismissal
//! of a group as big as the big group (built with the world, owned by the
//! sender). A dismissal is one write whatever the group's size; its member
//! rows are purged afterwards, in batches, by the server.

use std::time::Instant;

use anyhow::Context as _;
use serde::Serialize;
use yhconv_client::{ChatType, Client};

/// What the dismissals took.
#[derive(Debug, Clone, Serialize)]
pub struct DismissalResult {
    /// Dismissals of a group of 3 timed.
    pub small_rounds: usize,
    pub small_p50_us: f64,
    /// Members of the big group dismissed once.
    pub big_members: usize,
    pub big_us: f64,
}

/// Dismisses `rounds` fresh groups of the sender and `members`, then the
/// big group `big_group`, timing each dismissal call.
pub async fn run(
    base_url: &str,
    sender_token: &str,
    members: &[String],
    big_group: &str,
    big_members: usize,
    rounds: usize,
) -> anyhow::Result<DismissalResult> {
    let client = Client::new(base_url)?.with_token(sender_token.to_owned());
    let mut took = Vec::with_capacity(rounds);
    for n in 0..rounds {
        let group = client.create_group(&format!("bench dismissal {n}"), "").await.context("creating a group")?;
        for member in members {
            client.invite(&group, member, ChatType::User).await.context("inviting")?;
        }
        let started = Instant::now();
        client.dismiss_group(&group).await.context("dismissing a group of 3")?;
        took.push(started.elapsed().as_secs_f64() * 1e6);
    }
    took.sort_by(f64::total_cmp);
    let small_p50_us = took.get(took.len() / 2).copied().unwrap_or(0.0);
    let started = Instant::now();
    client.dismiss_group(big_group).await.context("dismissing the big group")?;
    let big_us = started.elapsed().as_secs_f64() * 1e6;
    Ok(DismissalResult { small_rounds: rounds, small_p50_us, big_members, big_us })
}
