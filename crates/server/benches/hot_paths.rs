//! Micro-benchmarks of the pure functions on the list and send paths: what
//! `POST /v1/conversation/list` does besides reading the store (entries to
//! wire form, the md5 fingerprint, protobuf encoding), the list cache's
//! freshness check on a hit, the preview every send computes, and a push
//! frame per receiver.
//!
//! `cargo bench -p yhconv-server --bench hot_paths`; CI only builds them.
//! Whole-server numbers (HTTP, store, concurrency) come from `yhconv bench`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use prost::Message;
use yhconv_proto::pb::{Conversation, ConversationList, MsgContent, Status};
use yhconv_proto::{ChatType, ContentType};
use yhconv_server::domain::model::{Entity, MentionRow};
use yhconv_server::ids::Id;
use yhconv_server::preview::preview;
use yhconv_server::service::conversation::ConversationView;
use yhconv_server::service::list_wire::{fingerprint, to_wire};

const USER: i64 = 10_002;

/// `n` list entries like a busy user's: nine in ten direct chats, one in ten
/// groups (a tenth of those with an unread mention), all unread, mixed-script
/// previews.
fn views(n: usize) -> Vec<ConversationView> {
    (0..n)
        .map(|i| {
            let group = i % 10 == 9;
            let (id, kind, name) = if group {
                (3_200_000 + i as i64, ChatType::Group, format!("小组 {i}"))
            } else {
                (1_000_000 + i as i64, ChatType::User, format!("用户 {i}"))
            };
            let text = match i % 3 {
                0 => format!("hi, it's {i} — see you at 3?"),
                1 => format!("消息 {i}：今天的会议改到下午三点，请大家准时参加，记得带上电脑和上周的报告。"),
                _ => format!("**update {i}** - build is green - 请看一下 PR thanks"),
            };
            let mention = (group && i % 100 == 9).then(|| MentionRow {
                seq: 1,
                mentioner_id: Id::from_raw(1_000_000 + i as i64),
                mentioner_name: format!("用户 {i}"),
            });
            ConversationView {
                peer: Entity {
                    id: Id::from_raw(id),
                    kind,
                    name: name.clone(),
                    avatar_url: format!("https://chat-img.example.com/avatar/{id}.jpg"),
                    avatar_id: id,
                    certification_level: 0,
                },
                display_name: name,
                preview: if group { format!("用户 {i}: {text}") } else { text },
                timestamp_ms: 1_764_000_000_000 - i as i64 * 1_000,
                timestamp_s: 1_764_000_000 - i as i64,
                unread_count: 1,
                mention_count: u64::from(mention.is_some()),
                first_mention: mention,
                do_not_disturb: i % 7 == 0,
            }
        })
        .collect()
}

fn wire(views: &[ConversationView]) -> Vec<Conversation> {
    views.iter().cloned().map(|v| to_wire(v, Id::from_raw(USER), "L1000")).collect()
}

fn list(c: &mut Criterion) {
    let mut group = c.benchmark_group("list");
    for n in [50usize, 1_000] {
        let input = views(n);
        let data = wire(&input);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("to_wire", n), &input, |b, input| b.iter(|| wire(black_box(input))));
        group.bench_with_input(BenchmarkId::new("fingerprint", n), &data, |b, data| {
            b.iter(|| fingerprint(black_box(data)))
        });
        let answer = ConversationList {
            status: Some(Status { number: 1, code: 1, msg: "success".into() }),
            total: data.len() as u64,
            data: data.clone(),
            md5: fingerprint(&data),
            ..Default::default()
        };
        group.bench_with_input(BenchmarkId::new("encode", n), &answer, |b, answer| {
            b.iter(|| black_box(answer).encode_to_vec())
        });
        // Everything the list handler does after the store answers.
        group.bench_with_input(BenchmarkId::new("handler_pure_part", n), &input, |b, input| {
            b.iter(|| {
                let data = wire(black_box(input));
                let md5 = fingerprint(&data);
                let list = ConversationList {
                    status: Some(Status { number: 1, code: 1, msg: "success".into() }),
                    total: data.len() as u64,
                    data,
                    md5,
                    ..Default::default()
                };
                black_box(list.encode_to_vec())
            })
        });
    }
    group.finish();
}

fn previews(c: &mut Criterion) {
    let text = |t: &str| MsgContent { text: t.to_owned(), ..Default::default() };
    let cases = [
        ("short_ascii", ContentType::Text, text("see you at 3?"), None),
        ("long_cjk", ContentType::Text, text(&"今天的会议改到下午三点，请大家准时参加。".repeat(50)), None),
        (
            "markdown_in_group",
            ContentType::Markdown,
            text("# Release notes\n\n- **faster** list\n- fixed `md5`\n\n> 请看一下 PR #42\n\nthanks!"),
            Some("用户 7"),
        ),
        ("image_tag_in_group", ContentType::Image, MsgContent::default(), Some("用户 7")),
    ];
    let mut group = c.benchmark_group("preview");
    for (name, content_type, content, sender) in &cases {
        group.bench_function(*name, |b| b.iter(|| preview(*content_type, black_box(content), *sender)));
    }
    group.finish();
}

/// A list cache hit: the entry's 50 rows' slots checked.
fn cache_hit(c: &mut Criterion) {
    use std::sync::Arc;
    use yhconv_server::domain::event::ChatRef;
    use yhconv_server::service::list_cache::{CachedList, CachedRow, EncodedList, ListCache, Stamp};
    let cache = ListCache::new(64 << 20, false);
    let at = Stamp { generation: 0, identity_epoch: 1 };
    let rows = (0..50)
        .map(|g| CachedRow { peer: Id::from_raw(2_000_000 + g), chat: ChatRef(g), read_through: true, listed: None })
        .collect();
    let list = Arc::new(EncodedList { entries: vec![0u8; 5_000].into(), md5: "0".repeat(32), total: 50 });
    cache.insert(Id::from_raw(10_001), CachedList { at, rows, own_name: None, list });
    c.bench_function("list cache hit (50 rows)", |b| {
        b.iter(|| match cache.lookup(black_box(Id::from_raw(10_001)), at, true) {
            yhconv_server::service::list_cache::Lookup::Fresh(list) => black_box(list),
            _ => panic!("a hit"),
        })
    });
}

/// One push frame per receiver: encoded whole (what every receiver cost
/// before) against spliced from the message's shared bytes (what the hub
/// does), for a short text and a long one.
fn push_frames(c: &mut Criterion) {
    use yhconv_server::domain::model::{AddressedMessage, StoredMessage};
    use yhconv_server::push::{encode_push, PushFrames, PushKind};
    let entity = |id: i64, kind: ChatType, name: &str| Entity {
        id: Id::from_raw(id),
        kind,
        name: name.into(),
        avatar_url: "https://chat-img.jwznb.com/avatar.png".into(),
        avatar_id: 0,
        certification_level: 0,
    };
    let mut group = c.benchmark_group("push frame per receiver");
    group.throughput(Throughput::Elements(1));
    for (label, text) in [("short", "明天下午三点开会".to_owned()), ("2 KiB", "长消息".repeat(230))] {
        let content = MsgContent { text, ..Default::default() };
        let stored = AddressedMessage {
            peer: entity(3_000_002, ChatType::Group, "大群"),
            message: StoredMessage {
                msg_id: "9f1c2d3e4b5a69788796a5b4c3d2e1f0".into(),
                seq: 123_456,
                sender: entity(10_003, ChatType::User, "发送者"),
                content_type: ContentType::Text.code(),
                content: content.encode_to_vec(),
                quote_msg_id: String::new(),
                sent_ms: 1_764_633_600_000,
                edit_ms: 0,
                recall_ms: 0,
            },
            recaller_name: None,
            peer_dismissed: false,
            identity_epoch: 0,
        };
        let receiver = Id::from_raw(1_004_321);
        let chat = Id::from_raw(3_000_002);
        group.bench_function(BenchmarkId::new("whole encode", label), |b| {
            b.iter(|| encode_push(black_box(&stored), &content, PushKind::New, receiver, chat))
        });
        let frames = PushFrames::new(&stored, &content, PushKind::New);
        group
            .bench_function(BenchmarkId::new("spliced", label), |b| b.iter(|| frames.frame(black_box(receiver), chat)));
    }
    group.finish();
}

criterion_group!(benches, list, previews, cache_hit, push_frames);
criterion_main!(benches);
