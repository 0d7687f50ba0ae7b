//! The benchmark's world, built in-process straight through the server
//! library (no HTTP, no argon2): identities in a few large transactions,
//! one message per listed conversation, and the tokens the scenarios use.
//!
//! Who is who (ids never collide with the ones a demo or a test uses):
//! - `L50` and `L1000`: users with exactly 50 and 1,000 listed
//!   conversations, each with one unread message from the other side (a
//!   tenth of the group ones mention them), so previews, unread counts and
//!   `at` are real. Nine in ten are direct chats, one in ten small groups.
//! - `SENDER`: the user who posts in the group of 10 and the big group.
//! - regular users `REGULAR_BASE + k`, the world's groups `WORLD_GROUP_BASE
//!   + g` holding `memberships / groups` of them each.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use indicatif::{ProgressBar, ProgressStyle};
use yhconv_proto::pb::{MsgContent, SendMessage};
use yhconv_proto::{ChatType, ContentType};
use yhconv_server::domain::model::{Entity, GroupRecord, IdentityBatch, UserRecord};
use yhconv_server::ids::Id;
use yhconv_server::Service;

pub const L50: i64 = 10_001;
pub const L1000: i64 = 10_002;
pub const SENDER: i64 = 10_003;
const REGULAR_BASE: i64 = 1_000_000;
const WORLD_GROUP_BASE: i64 = 2_000_000;
pub const GROUP_10: i64 = 3_000_001;
pub const GROUP_BIG: i64 = 3_000_002;
/// A group of three (the sender and two others), for the recall ratio.
pub const GROUP_3: i64 = 3_000_003;
/// Groups as big as the big group and owned by the sender, each dismissed
/// once: [`DISMISSED_BIG_GROUPS`] ids from this one.
pub const GROUP_DISMISS: i64 = 3_000_004;
/// Big groups dismissed, one at a time (a p50 of several, not one sample).
pub const DISMISSED_BIG_GROUPS: usize = 5;
const L50_GROUP_BASE: i64 = 3_100_000;
const L1000_GROUP_BASE: i64 = 3_200_000;
/// Members of each small group a listed user is in (the user plus these).
const SMALL_GROUP_OTHERS: usize = 4;
/// Memberships per identity transaction while the world's groups are added
/// (so the progress bar moves; one transaction would do as well).
const MEMBERSHIPS_PER_BATCH: usize = 100_000;

/// What to build.
#[derive(Debug, Clone, Copy)]
pub struct WorldSpec {
    pub users: usize,
    pub groups: usize,
    pub memberships: usize,
    pub big_group: usize,
    /// Tokens issued per scenario user.
    pub tokens_per_user: usize,
    /// Members of the big group given a token for a push socket each.
    pub sockets: usize,
}

/// What was built: the ids and tokens the scenarios use, and how long each
/// step took.
#[derive(Debug)]
pub struct BuiltWorld {
    pub l50_tokens: Vec<String>,
    pub l1000_tokens: Vec<String>,
    pub sender_tokens: Vec<String>,
    /// Members of the big group with a token for the fan-out scenario.
    pub socket_tokens: Vec<(i64, String)>,
    /// Tokens of a member of one of L1000's groups ([`BuiltWorld::l1000_group`]).
    pub l1000_group_sender_tokens: Vec<String>,
    /// One of L1000's groups.
    pub l1000_group: String,
    /// The chat L50 marks read in the dismiss scenario.
    pub dismiss_chat: String,
    /// Two users the sender puts in each group of 3 it dismisses.
    pub small_group_members: Vec<String>,
    /// Members of the big group (the sender included).
    pub big_group_members: usize,
    pub counts: WorldCounts,
    pub steps: Vec<(String, Duration)>,
    pub total: Duration,
}

/// Sizes of what was built.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct WorldCounts {
    pub users: usize,
    pub groups: usize,
    pub memberships: usize,
    pub messages: usize,
    pub tokens: usize,
}

fn user(id: i64, name: String) -> UserRecord {
    UserRecord { entity: entity(id, ChatType::User, name), email: None, password_hash: None }
}

fn entity(id: i64, kind: ChatType, name: String) -> Entity {
    Entity { id: Id::from_raw(id), kind, name, avatar_url: String::new(), avatar_id: 0, certification_level: 0 }
}

fn group(id: i64, name: String, members: Vec<i64>) -> GroupRecord {
    GroupRecord {
        entity: entity(id, ChatType::Group, name),
        owner: None,
        members: members.into_iter().map(Id::from_raw).collect(),
        admins: vec![],
    }
}

fn regular(k: usize) -> i64 {
    REGULAR_BASE + k as i64
}

/// One conversation to open by a message from `from` to `to`.
struct Opening {
    from: i64,
    to: i64,
    kind: ChatType,
    mention: Option<i64>,
}

/// The small groups and the openings that give `listed` exactly `count`
/// conversations: nine in ten direct chats with regular users, the rest small
/// groups.
fn conversations_of(listed: i64, count: usize, group_base: i64) -> (Vec<GroupRecord>, Vec<Opening>) {
    let groups = count / 10;
    let direct = count - groups;
    let mut openings: Vec<Opening> =
        (0..direct).map(|k| Opening { from: regular(k), to: listed, kind: ChatType::User, mention: None }).collect();
    let mut records = Vec::with_capacity(groups);
    for i in 0..groups {
        let id = group_base + i as i64;
        let others: Vec<i64> = (0..SMALL_GROUP_OTHERS).map(|j| regular(i * SMALL_GROUP_OTHERS + j)).collect();
        let from = others[0];
        records.push(group(id, format!("小组 {i}"), std::iter::once(listed).chain(others).collect()));
        let mention = (i % 10 == 0).then_some(listed);
        openings.push(Opening { from, to: id, kind: ChatType::Group, mention });
    }
    (records, openings)
}

/// A message text like people write: mixed scripts, some long enough to be cut.
fn text_for(n: usize) -> String {
    match n % 3 {
        0 => format!("hi, it's {n} — see you at 3?"),
        1 => format!("消息 {n}：今天的会议改到下午三点，请大家准时参加，记得带上电脑和上周的报告。谢谢！"),
        _ => format!("**update {n}**\n- build is green\n- 请看一下 PR\n\nthanks"),
    }
}

fn bar(len: u64, what: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template("{msg:28} [{bar:32}] {human_pos}/{human_len} ({elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_owned());
    bar
}

fn spinner(what: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Builds the world into `service`'s fresh database. `quiet` hides the
/// progress bars (e.g. for `--json`).
pub async fn build(service: &Service, spec: WorldSpec, quiet: bool) -> anyhow::Result<BuiltWorld> {
    let per_group = spec.memberships.checked_div(spec.groups).unwrap_or(0);
    if spec.users < 1_000 {
        bail!("--users must be at least 1,000 (L1000's direct chats are with distinct users)");
    }
    if per_group > spec.users {
        bail!(
            "{} memberships over {} groups is more members per group than there are users",
            spec.memberships,
            spec.groups
        );
    }
    let started = Instant::now();
    let mut steps = Vec::new();
    let mut counts = WorldCounts { users: 0, groups: 0, memberships: 0, messages: 0, tokens: 0 };
    let store = service;

    // 1. Every user in one transaction, without passwords.
    let step = Instant::now();
    let progress = spinner(&format!("users ({})", spec.users + 3), quiet);
    let mut users: Vec<UserRecord> = (0..spec.users).map(|k| user(regular(k), format!("用户 {k}"))).collect();
    users.push(user(L50, "L50".to_owned()));
    users.push(user(L1000, "L1000".to_owned()));
    users.push(user(SENDER, "Sender".to_owned()));
    let stats = store.apply_identities(IdentityBatch { users, ..Default::default() }).await.context("adding users")?;
    counts.users = stats.users;
    progress.finish_and_clear();
    steps.push((format!("{} users (1 transaction)", stats.users), step.elapsed()));

    // 2. The world's groups, memberships spread evenly over them.
    let step = Instant::now();
    let progress = bar(spec.memberships as u64, "world groups: memberships", quiet);
    let stride = (spec.users / spec.groups.max(1)).max(1);
    let mut batch = Vec::new();
    let mut in_batch = 0;
    for g in 0..spec.groups {
        let size = per_group + usize::from(g < spec.memberships % spec.groups.max(1));
        let start = g * stride;
        let members = (0..size).map(|j| regular((start + j) % spec.users)).collect();
        batch.push(group(WORLD_GROUP_BASE + g as i64, format!("群 {g}"), members));
        in_batch += size;
        if in_batch >= MEMBERSHIPS_PER_BATCH || g + 1 == spec.groups {
            let stats = store
                .apply_identities(IdentityBatch { groups: std::mem::take(&mut batch), ..Default::default() })
                .await
                .context("adding the world's groups")?;
            counts.groups += stats.groups;
            counts.memberships += stats.memberships;
            progress.inc(in_batch as u64);
            in_batch = 0;
        }
    }
    progress.finish_and_clear();
    steps.push((format!("{} groups, {} memberships", spec.groups, spec.memberships), step.elapsed()));

    // 3. The groups of 3 and 10 and the big group (one transaction each).
    let big_others = (spec.big_group.saturating_sub(1)).min(spec.users);
    let groups = [(GROUP_3, "三人群", 2), (GROUP_10, "十人群", 9), (GROUP_BIG, "大群", big_others)]
        .into_iter()
        .chain((0..DISMISSED_BIG_GROUPS as i64).map(|n| (GROUP_DISMISS + n, "待解散的大群", big_others)));
    for (id, name, others) in groups {
        let step = Instant::now();
        let progress = spinner(&format!("group of {}", others + 1), quiet);
        let members = std::iter::once(SENDER).chain((0..others).map(regular)).collect();
        let mut record = group(id, name.to_owned(), members);
        if id >= GROUP_DISMISS {
            record.owner = Some(Id::from_raw(SENDER));
        }
        let stats = store
            .apply_identities(IdentityBatch { groups: vec![record], ..Default::default() })
            .await
            .with_context(|| format!("adding the group of {}", others + 1))?;
        counts.groups += stats.groups;
        counts.memberships += stats.memberships;
        progress.finish_and_clear();
        steps.push((format!("group of {} members (1 transaction)", stats.memberships), step.elapsed()));
    }

    // 4. L50's and L1000's conversations: small groups, then one message each.
    let (mut small_groups, mut openings) = conversations_of(L50, 50, L50_GROUP_BASE);
    let (more_groups, more_openings) = conversations_of(L1000, 1_000, L1000_GROUP_BASE);
    small_groups.extend(more_groups);
    openings.extend(more_openings);
    let stats = store
        .apply_identities(IdentityBatch { groups: small_groups, ..Default::default() })
        .await
        .context("adding the small groups")?;
    counts.groups += stats.groups;
    counts.memberships += stats.memberships;
    let step = Instant::now();
    let progress = bar(openings.len() as u64, "messages (send_message)", quiet);
    for (n, opening) in openings.iter().enumerate() {
        let req = SendMessage {
            msg_id: format!("bench-world-{n}"),
            chat_id: opening.to.to_string(),
            chat_type: opening.kind.code(),
            content: Some(MsgContent {
                text: text_for(n),
                mentioned_id: opening.mention.iter().map(i64::to_string).collect(),
                ..Default::default()
            }),
            content_type: if n % 3 == 2 { ContentType::Markdown.code() } else { ContentType::Text.code() },
            ..Default::default()
        };
        service.send_message(Id::from_raw(opening.from), req.into()).await.context("sending a world message")?;
        counts.messages += 1;
        progress.inc(1);
    }
    progress.finish_and_clear();
    let per_message = step.elapsed() / openings.len().max(1) as u32;
    steps.push((
        format!("{} messages via send_message ({} µs each)", openings.len(), per_message.as_micros()),
        step.elapsed(),
    ));

    // 5. One token per connection for each user a scenario runs as.
    let step = Instant::now();
    let mut tokens = [Vec::new(), Vec::new(), Vec::new()];
    for (who, out) in [L50, L1000, SENDER].into_iter().zip(tokens.iter_mut()) {
        for _ in 0..spec.tokens_per_user {
            out.push(service.issue_token(Id::from_raw(who), "bench").await.context("issuing a token")?);
        }
    }
    let mut socket_tokens = Vec::new();
    for k in 0..spec.sockets.min(big_others) {
        let member = regular(k);
        socket_tokens
            .push((member, service.issue_token(Id::from_raw(member), "bench").await.context("issuing a token")?));
    }
    counts.tokens = tokens.iter().map(Vec::len).sum::<usize>() + socket_tokens.len();
    steps.push((format!("{} tokens", counts.tokens), step.elapsed()));
    let [l50_tokens, l1000_tokens, sender_tokens] = tokens;
    // The first member after L1000 of L1000's first group sent its opening message.
    let (l1000_groups, _) = conversations_of(L1000, 1_000, L1000_GROUP_BASE);
    let l1000_group = l1000_groups.first().context("L1000 has groups")?;
    let member = l1000_group.members.iter().find(|m| m.get() != L1000).context("a member")?;
    let mut l1000_group_sender_tokens = Vec::new();
    for _ in 0..spec.tokens_per_user {
        l1000_group_sender_tokens.push(service.issue_token(*member, "bench").await.context("issuing a token")?);
    }
    counts.tokens += l1000_group_sender_tokens.len();

    Ok(BuiltWorld {
        l50_tokens,
        l1000_tokens,
        sender_tokens,
        socket_tokens,
        l1000_group_sender_tokens,
        l1000_group: l1000_group.entity.id.to_string(),
        dismiss_chat: regular(0).to_string(),
        small_group_members: vec![regular(0).to_string(), regular(1).to_string()],
        big_group_members: big_others + 1,
        counts,
        steps,
        total: started.elapsed(),
    })
}
