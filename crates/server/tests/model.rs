//! Property test: random sequences of sends, edits, recalls, mark-reads,
//! removes, sort-changes, mutes, joins, leaves, kicks, renames and remarks,
//! applied both to a real server (over HTTP) and to a
//! plain in-memory model written from the README's "Behaviour" rules (not
//! from the server's code). After every step, every user's conversation list
//! must match the model's: order, unread count and flag, mention count, `at`,
//! the earliest unread mention, mute flag, preview, names.
//!
//! `PROPTEST_CASES=N` changes the number of cases (default 64, about ten
//! seconds in a debug build on SQLite).

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{TestApp, ANN, BEN, BOT, CAT, GROUP};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};
use yhconv_client::Client;
use yhconv_proto::pb::{MsgContent, SendMessage};
use yhconv_proto::{ChatType, ContentType};
use yhconv_server::service::list_wire::fingerprint;
use yhconv_server::DbUrl;

// ---------------------------------------------------------------------------
// The world, as the model sees it.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Who {
    Ann,
    Ben,
    Cat,
}

const EVERYONE: [Who; 3] = [Who::Ann, Who::Ben, Who::Cat];
/// Members of GROUP at the start (Ann owns it and never leaves).
const GROUP_MEMBERS: [Who; 2] = [Who::Ann, Who::Ben];
/// Names a user may take.
const NAMES: [&str; 3] = ["Zed", "云湖用户", "Ben"];
/// Remarks a user may set for another ("" clears it).
const REMARKS: [&str; 3] = ["pal", "老王", ""];

impl Who {
    fn id(self) -> &'static str {
        match self {
            Who::Ann => ANN,
            Who::Ben => BEN,
            Who::Cat => CAT,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Who::Ann => "Ann",
            Who::Ben => "Ben",
            Who::Cat => "Cat",
        }
    }
}

/// What an operation names: a user, the group, or the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    User(Who),
    Group,
    Bot,
}

impl Target {
    fn id(self) -> &'static str {
        match self {
            Target::User(w) => w.id(),
            Target::Group => GROUP,
            Target::Bot => BOT,
        }
    }

    fn chat_type(self) -> ChatType {
        match self {
            Target::User(_) => ChatType::User,
            Target::Group => ChatType::Group,
            Target::Bot => ChatType::Bot,
        }
    }
}

/// One conversation, whoever looks at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ChatKey {
    /// A direct chat; the two users in order.
    Direct(Who, Who),
    Group,
    /// A user's chat with the bot.
    Bot(Who),
}

impl ChatKey {
    fn of(user: Who, target: Target) -> Self {
        match target {
            Target::User(other) => ChatKey::Direct(user.min(other), user.max(other)),
            Target::Group => ChatKey::Group,
            Target::Bot => ChatKey::Bot(user),
        }
    }

    /// Who is in the chat, given the group's members now.
    fn members(self, group: &BTreeSet<Who>) -> Vec<Who> {
        match self {
            ChatKey::Direct(a, b) => vec![a, b],
            ChatKey::Group => group.iter().copied().collect(),
            ChatKey::Bot(u) => vec![u],
        }
    }

    /// `chat_id` as `user` sees it: the other user, the group or the bot.
    fn chat_id(self, user: Who) -> &'static str {
        match self {
            ChatKey::Direct(a, b) => {
                if a == user {
                    b.id()
                } else {
                    a.id()
                }
            }
            ChatKey::Group => GROUP,
            ChatKey::Bot(_) => BOT,
        }
    }

    fn chat_type(self) -> u64 {
        match self {
            ChatKey::Direct(..) => 1,
            ChatKey::Group => 2,
            ChatKey::Bot(_) => 3,
        }
    }
}

// ---------------------------------------------------------------------------
// Operations.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mention {
    User(Who),
    All,
    /// A decimal id that is no user of any chat (the bot, the group, nobody).
    Other(&'static str),
}

impl Mention {
    fn wire(self) -> &'static str {
        match self {
            Mention::User(w) => w.id(),
            Mention::All => "all",
            Mention::Other(id) => id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Body {
    /// Text, markdown or html with this text.
    Textual(ContentType, &'static str),
    /// Any other type (its `text`, if any, is not shown).
    Tagged(ContentType),
}

#[derive(Debug, Clone)]
enum Op {
    Send {
        from: Who,
        to: Target,
        mentions: Vec<Mention>,
        body: Body,
    },
    /// Sends the last accepted message again, same `msg_id`.
    Retry,
    Dismiss {
        who: Who,
        chat: Target,
    },
    Remove {
        who: Who,
        chat: Target,
    },
    SortChange {
        who: Who,
        target: Target,
    },
    NoNotify {
        who: Who,
        chat: Target,
        on: bool,
    },
    /// Edits the `nth` accepted message (modulo their number), as `by` (a
    /// member of its chat, the `by`-th of them modulo their number).
    Edit {
        nth: usize,
        by: usize,
        mentions: Vec<Mention>,
        text: &'static str,
    },
    /// Recalls the `nth` accepted message as `by` (as for [`Op::Edit`]).
    Recall {
        nth: usize,
        by: usize,
    },
    /// `who` joins the group (`friend/apply` with chat type 2).
    Join {
        who: Who,
    },
    /// `who` leaves the group (`friend/delete-friend` type 2).
    Leave {
        who: Who,
    },
    /// `by` removes `who` from the group (`group/remove-member`).
    Kick {
        by: Who,
        who: Who,
    },
    /// `who` takes a new name (`user/edit-nickname`).
    Rename {
        who: Who,
        name: &'static str,
    },
    /// `who` sets (or, with "", clears) a remark for `other`.
    Remark {
        who: Who,
        other: Who,
        remark: &'static str,
    },
}

const TEXTS: &[&str] = &[
    "hi",
    "  hello \n\n\t world  ",
    "x\u{3000}y\u{a0}z",
    "<b>bold</b>  **md**",
    // Exactly 60 characters: not cut.
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    // 59 characters, a space, one more word: cut after the space.
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa12345678 b",
    // 62 CJK characters.
    "云湖云湖云湖云湖云湖云湖云湖云湖云湖云湖云湖云湖云湖云湖云湖云湖云湖云湖云湖云湖云湖云湖云湖云湖云湖云湖云湖云湖云湖云湖云湖",
    // 61 emoji.
    "😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀",
    // Blank: refused for textual types.
    " \n\t ",
];

const TAGGED: [(ContentType, &str); 8] = [
    (ContentType::Image, "[图片]"),
    (ContentType::File, "[文件]"),
    (ContentType::Form, "[表单]"),
    (ContentType::Post, "[文章]"),
    (ContentType::Sticker, "[表情]"),
    (ContentType::Video, "[视频]"),
    (ContentType::Audio, "[语音]"),
    (ContentType::Call, "[语音通话]"),
];

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![Just(Who::Ann), Just(Who::Ben), Just(Who::Cat)]
}

/// Someone and a target chosen relative to them: mostly another user or
/// the group, sometimes the bot, rarely themselves (always refused or
/// unspecified), so that most steps touch chats that already exist.
fn actor_and_target() -> impl Strategy<Value = (Who, Target)> {
    #[derive(Debug, Clone, Copy)]
    enum Rel {
        Other(bool),
        Myself,
        Group,
        Bot,
    }
    let rel = prop_oneof![
        5 => any::<bool>().prop_map(Rel::Other),
        1 => Just(Rel::Myself),
        4 => Just(Rel::Group),
        2 => Just(Rel::Bot),
    ];
    (who(), rel).prop_map(|(who, rel)| {
        let target = match rel {
            Rel::Other(first) => {
                let others: Vec<Who> = EVERYONE.into_iter().filter(|w| *w != who).collect();
                Target::User(others[usize::from(!first)])
            }
            Rel::Myself => Target::User(who),
            Rel::Group => Target::Group,
            Rel::Bot => Target::Bot,
        };
        (who, target)
    })
}

fn mention() -> impl Strategy<Value = Mention> {
    prop_oneof![
        4 => who().prop_map(Mention::User),
        2 => Just(Mention::All),
        1 => prop_oneof![Just(Mention::Other(BOT)), Just(Mention::Other(GROUP)), Just(Mention::Other("9999"))],
    ]
}

fn body() -> impl Strategy<Value = Body> {
    let textual = prop_oneof![Just(ContentType::Text), Just(ContentType::Markdown), Just(ContentType::Html)];
    prop_oneof![
        4 => (textual, proptest::sample::select(TEXTS)).prop_map(|(t, s)| Body::Textual(t, s)),
        1 => proptest::sample::select(&TAGGED[..]).prop_map(|(t, _)| Body::Tagged(t)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (actor_and_target(), proptest::collection::vec(mention(), 0..3), body())
            .prop_map(|((from, to), mentions, body)| Op::Send { from, to, mentions, body }),
        1 => Just(Op::Retry),
        3 => actor_and_target().prop_map(|(who, chat)| Op::Dismiss { who, chat }),
        3 => actor_and_target().prop_map(|(who, chat)| Op::Remove { who, chat }),
        3 => actor_and_target().prop_map(|(who, target)| Op::SortChange { who, target }),
        1 => (actor_and_target(), any::<bool>()).prop_map(|((who, chat), on)| Op::NoNotify { who, chat, on }),
        2 => (any::<usize>(), any::<usize>(), proptest::collection::vec(mention(), 0..3), proptest::sample::select(TEXTS))
            .prop_map(|(nth, by, mentions, text)| Op::Edit { nth, by, mentions, text }),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(nth, by)| Op::Recall { nth, by }),
        2 => who().prop_map(|who| Op::Join { who }),
        1 => who().prop_map(|who| Op::Leave { who }),
        1 => (who(), who()).prop_map(|(by, who)| Op::Kick { by, who }),
        1 => (who(), proptest::sample::select(&NAMES[..])).prop_map(|(who, name)| Op::Rename { who, name }),
        1 => (who(), who(), proptest::sample::select(&REMARKS[..]))
            .prop_map(|(who, other, remark)| Op::Remark { who, other, remark }),
    ]
}

// ---------------------------------------------------------------------------
// The model.

/// What the rules say a call must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Ok,
    Err,
    /// The README does not say (a call on a group one is not in, or on a
    /// chat with oneself, other than send and sort-change): either answer
    /// is accepted, and nothing visible may change.
    Either,
}

#[derive(Debug, Clone)]
struct ModelMsg {
    seq: u64,
    sender: Who,
    msg_id: String,
    /// Text, markdown or html (the only ones that may be edited).
    textual: bool,
    recalled: bool,
    /// Users this message mentions, after the rules dropped the rest.
    mentions: BTreeSet<Who>,
}

#[derive(Debug, Clone, Default)]
struct Chat {
    messages: Vec<ModelMsg>,
    last_time: u64,
    preview: String,
}

/// One user's side of one chat.
#[derive(Debug, Clone, Default)]
struct View {
    /// Has had a message or a sort-change: in the list unless hidden.
    entered: bool,
    hidden: bool,
    read_seq: u64,
    sort_time: u64,
    muted: bool,
}

#[derive(Debug)]
struct Model {
    /// Every message and sort-change is one tick later than the last.
    clock: u64,
    /// The group's members now.
    group: BTreeSet<Who>,
    /// Each user's name now.
    names: BTreeMap<Who, &'static str>,
    /// What a user calls another.
    remarks: BTreeMap<(Who, Who), &'static str>,
    chats: BTreeMap<ChatKey, Chat>,
    views: BTreeMap<(Who, ChatKey), View>,
    /// The last accepted send, for [`Op::Retry`].
    last_send: Option<(Who, SendMessage)>,
    /// Every accepted message, in order: its chat and seq.
    sent: Vec<(ChatKey, u64)>,
}

impl Default for Model {
    fn default() -> Self {
        Self {
            clock: 0,
            group: GROUP_MEMBERS.into_iter().collect(),
            names: EVERYONE.into_iter().map(|w| (w, w.name())).collect(),
            remarks: [((Who::Ann, Who::Ben), "Benny")].into_iter().collect(),
            chats: BTreeMap::new(),
            views: BTreeMap::new(),
            last_send: None,
            sent: Vec::new(),
        }
    }
}

/// The README's mention rule: the sender never; in a group `all` is every
/// member and a named member counts; elsewhere a named member of the chat.
fn counted_mentions(key: ChatKey, group: &BTreeSet<Who>, from: Who, mentions: &[Mention]) -> BTreeSet<Who> {
    let members = key.members(group);
    let mut mentioned = BTreeSet::new();
    for m in mentions {
        match m {
            Mention::User(w) if *w != from && members.contains(w) => {
                mentioned.insert(*w);
            }
            Mention::All if key == ChatKey::Group => {
                mentioned.extend(members.iter().copied().filter(|w| *w != from));
            }
            _ => {}
        }
    }
    mentioned
}

/// Who edits or recalls, and which message, for an [`Op::Edit`] or
/// [`Op::Recall`]: `None` before any message was accepted.
fn pick(sent: &[(ChatKey, u64)], group: &BTreeSet<Who>, nth: usize, by: usize) -> Option<(ChatKey, u64, Who)> {
    let (key, seq) = *sent.get(nth % sent.len().max(1))?;
    let members = key.members(group);
    Some((key, seq, members[by % members.len()]))
}

/// One list entry, as compared.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    chat_id: String,
    chat_type: u64,
    name: String,
    preview: String,
    unread_count: u64,
    unread_flag: u64,
    at: u64,
    mention_count: u64,
    /// `at_data.msg_seq` and `at_data.mentioner_id`.
    first_mention: Option<(u64, String)>,
    muted: u64,
}

/// The README's preview rule for text: one line, trimmed, 60 characters then
/// `…`.
fn text_preview(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 60 {
        let mut cut: String = line.chars().take(60).collect();
        cut.push('…');
        cut
    } else {
        line
    }
}

impl Model {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn view(&mut self, user: Who, chat: ChatKey) -> &mut View {
        self.views.entry((user, chat)).or_default()
    }

    fn in_group(&self, who: Who) -> bool {
        self.group.contains(&who)
    }

    fn name(&self, who: Who) -> &'static str {
        self.names[&who]
    }

    /// Field 3: the user's remark for the chat, else its name.
    fn display_name(&self, key: ChatKey, user: Who) -> String {
        match key.chat_id(user) {
            GROUP => "Team".to_owned(),
            BOT => "Helper".to_owned(),
            id => {
                let other = *EVERYONE.iter().find(|w| w.id() == id).unwrap();
                match self.remarks.get(&(user, other)) {
                    Some(remark) => (*remark).to_owned(),
                    None => self.name(other).to_owned(),
                }
            }
        }
    }

    /// Applies `op` if the rules accept it; says what the server must answer.
    fn apply(&mut self, op: &Op, wire: Option<&SendMessage>) -> Expect {
        match op {
            Op::Send { from, to, mentions, body } => {
                if *to == Target::User(*from) || (*to == Target::Group && !self.in_group(*from)) {
                    return Expect::Err;
                }
                let preview = match body {
                    Body::Textual(_, text) if text.trim().is_empty() => return Expect::Err,
                    Body::Textual(_, text) => text_preview(text),
                    Body::Tagged(t) => TAGGED.iter().find(|(c, _)| c == t).unwrap().1.to_owned(),
                };
                let key = ChatKey::of(*from, *to);
                let members = key.members(&self.group);
                let mentioned = counted_mentions(key, &self.group, *from, mentions);
                let sender_name = self.name(*from);
                let time = self.tick();
                let chat = self.chats.entry(key).or_default();
                let seq = chat.messages.len() as u64 + 1;
                let msg_id = wire.map(|w| w.msg_id.clone()).unwrap_or_default();
                let textual = matches!(body, Body::Textual(..));
                chat.messages.push(ModelMsg {
                    seq,
                    sender: *from,
                    msg_id,
                    textual,
                    recalled: false,
                    mentions: mentioned,
                });
                self.sent.push((key, seq));
                chat.last_time = time;
                chat.preview = match key {
                    ChatKey::Group => format!("{sender_name}: {preview}"),
                    _ => preview,
                };
                for m in members {
                    let view = self.view(m, key);
                    view.entered = true;
                    view.hidden = false;
                    if m == *from {
                        view.read_seq = seq;
                    }
                }
                self.last_send = wire.map(|w| (*from, w.clone()));
                Expect::Ok
            }
            // Answered success, stored once: nothing changes. After the
            // sender left the group, a retry is refused like any send.
            Op::Retry => match &self.last_send {
                Some((from, msg)) if msg.chat_type == ChatType::Group.code() && !self.in_group(*from) => Expect::Err,
                _ => Expect::Ok,
            },
            Op::Dismiss { who, chat } | Op::Remove { who, chat } => {
                if *chat == Target::User(*who) || (*chat == Target::Group && !self.in_group(*who)) {
                    return Expect::Either;
                }
                let key = ChatKey::of(*who, *chat);
                let last = self.chats.get(&key).map_or(0, |c| c.messages.len() as u64);
                let remove = matches!(op, Op::Remove { .. });
                let view = self.view(*who, key);
                view.read_seq = last;
                if remove && view.entered {
                    view.hidden = true;
                }
                Expect::Ok
            }
            Op::SortChange { who, target } => {
                if *target == Target::User(*who) || (*target == Target::Group && !self.in_group(*who)) {
                    return Expect::Err;
                }
                let key = ChatKey::of(*who, *target);
                let time = self.tick();
                let view = self.view(*who, key);
                view.entered = true;
                view.hidden = false;
                view.sort_time = time;
                Expect::Ok
            }
            Op::NoNotify { who, chat, on } => {
                if *chat == Target::User(*who) || (*chat == Target::Group && !self.in_group(*who)) {
                    return Expect::Either;
                }
                self.view(*who, ChatKey::of(*who, *chat)).muted = *on;
                Expect::Ok
            }
            Op::Edit { nth, by, mentions, text } => {
                let Some((key, seq, by)) = pick(&self.sent, &self.group, *nth, *by) else { return Expect::Ok };
                let counted = counted_mentions(key, &self.group, by, mentions);
                let by_name = self.name(by);
                let chat = self.chats.get_mut(&key).unwrap();
                let last = chat.messages.len() as u64 == seq;
                let msg = &mut chat.messages[seq as usize - 1];
                if msg.sender != by || !msg.textual || msg.recalled || text.trim().is_empty() {
                    return Expect::Err;
                }
                msg.mentions = counted;
                if last {
                    chat.preview = match key {
                        ChatKey::Group => format!("{by_name}: {}", text_preview(text)),
                        _ => text_preview(text),
                    };
                }
                Expect::Ok
            }
            Op::Recall { nth, by } => {
                let Some((key, seq, by)) = pick(&self.sent, &self.group, *nth, *by) else { return Expect::Ok };
                let by_name = self.name(by);
                let chat = self.chats.get_mut(&key).unwrap();
                let last = chat.messages.len() as u64 == seq;
                let msg = &mut chat.messages[seq as usize - 1];
                // The sender, or the group's owner (Ann).
                if msg.sender != by && !(key == ChatKey::Group && by == Who::Ann) {
                    return Expect::Err;
                }
                if !msg.recalled {
                    msg.recalled = true;
                    msg.mentions.clear();
                    if last {
                        chat.preview = format!("{by_name} 撤回了一条消息");
                    }
                }
                Expect::Ok
            }
            // A joiner starts read, at the top; already a member: -9.
            Op::Join { who } => {
                if !self.group.insert(*who) {
                    return Expect::Err;
                }
                let last = self.chats.get(&ChatKey::Group).map_or(0, |c| c.messages.len() as u64);
                let time = self.tick();
                *self.view(*who, ChatKey::Group) =
                    View { entered: true, hidden: false, read_seq: last, sort_time: time, muted: false };
                Expect::Ok
            }
            // The owner (Ann) cannot leave; a non-member is refused.
            Op::Leave { who } => {
                if *who == Who::Ann || !self.group.remove(who) {
                    return Expect::Err;
                }
                self.views.remove(&(*who, ChatKey::Group));
                Expect::Ok
            }
            // Only the owner (no admins here) removes, never herself.
            Op::Kick { by, who } => {
                if *by != Who::Ann || *who == Who::Ann || !self.in_group(*who) {
                    return Expect::Err;
                }
                self.group.remove(who);
                self.views.remove(&(*who, ChatKey::Group));
                Expect::Ok
            }
            Op::Rename { who, name } => {
                self.names.insert(*who, name);
                Expect::Ok
            }
            Op::Remark { who, other, remark } => {
                if who == other {
                    return Expect::Err;
                }
                match remark.is_empty() {
                    true => self.remarks.remove(&(*who, *other)),
                    false => self.remarks.insert((*who, *other), remark),
                };
                Expect::Ok
            }
        }
    }

    /// `user`'s list, newest activity first.
    fn list(&self, user: Who) -> Vec<Entry> {
        let mut listed: Vec<(u64, Entry)> = Vec::new();
        for ((u, key), view) in &self.views {
            if *u != user || !view.entered || view.hidden {
                continue;
            }
            let empty = Chat::default();
            let chat = self.chats.get(key).unwrap_or(&empty);
            let unread: Vec<&ModelMsg> =
                chat.messages.iter().filter(|m| m.seq > view.read_seq && !m.recalled).collect();
            let mentioning: Vec<&&ModelMsg> = unread.iter().filter(|m| m.mentions.contains(&user)).collect();
            let entry = Entry {
                chat_id: key.chat_id(user).to_owned(),
                chat_type: key.chat_type(),
                name: self.display_name(*key, user),
                preview: chat.preview.clone(),
                unread_count: unread.len() as u64,
                unread_flag: u64::from(!unread.is_empty()),
                at: u64::from(!mentioning.is_empty()),
                mention_count: mentioning.len() as u64,
                first_mention: mentioning.first().map(|m| (m.seq, m.sender.id().to_owned())),
                muted: u64::from(view.muted),
            };
            listed.push((chat.last_time.max(view.sort_time), entry));
        }
        listed.sort_by_key(|(time, _)| std::cmp::Reverse(*time));
        listed.into_iter().map(|(_, e)| e).collect()
    }
}

// ---------------------------------------------------------------------------
// The real server.

struct Real {
    app: TestApp,
    /// With PostgreSQL, a second instance on the same database: every
    /// change goes through `app`, every list is read through both, so a list
    /// cached by this one must follow changes made through the other.
    other: Option<TestApp>,
    clients: BTreeMap<Who, Client>,
    other_clients: BTreeMap<Who, Client>,
}

impl Real {
    async fn start() -> Self {
        let app = TestApp::spawn().await;
        let other = match &app.db {
            DbUrl::Postgres(url) => {
                Some(TestApp::spawn_on(DbUrl::Postgres(url.clone()), tempfile::tempdir().unwrap(), |_| {}).await)
            }
            DbUrl::Sqlite(_) => None,
        };
        let (mut clients, mut other_clients) = (BTreeMap::new(), BTreeMap::new());
        for w in EVERYONE {
            clients.insert(w, app.client(w.id()).await);
            if let Some(other) = &other {
                other_clients.insert(w, other.client(w.id()).await);
            }
        }
        Self { app, other, clients, other_clients }
    }

    fn client(&self, w: Who) -> &Client {
        &self.clients[&w]
    }

    async fn shutdown(self) {
        self.app.shutdown().await;
        if let Some(other) = self.other {
            other.shutdown().await;
        }
    }

    /// The user's list through every instance, checked to be one list: the
    /// same entries everywhere, each md5 the fingerprint of its entries, and
    /// an md5 request with it answered empty.
    async fn list(&self, user: Who) -> Result<Vec<Entry>, String> {
        let mut lists = vec![self.list_via(self.client(user), user).await?];
        if let Some(client) = self.other_clients.get(&user) {
            lists.push(self.list_via(client, user).await?);
        }
        let first = lists.swap_remove(0);
        match lists.pop() {
            Some(other) if other != first => {
                Err(format!("{user:?}'s list differs between instances:\n  {first:#?}\n  {other:#?}"))
            }
            _ => Ok(first),
        }
    }

    async fn list_via(&self, client: &Client, user: Who) -> Result<Vec<Entry>, String> {
        let list = client.conversation_list(None).await.map_err(|e| format!("list for {user:?}: {e}"))?;
        if list.total as usize != list.data.len() {
            return Err(format!("total {} but {} entries", list.total, list.data.len()));
        }
        if list.md5 != fingerprint(&list.data) {
            return Err(format!("{user:?}'s md5 {} is not its entries' fingerprint", list.md5));
        }
        let again = client.conversation_list(Some(&list.md5)).await.map_err(|e| format!("md5 list: {e}"))?;
        if !again.data.is_empty() || again.md5 != list.md5 {
            return Err(format!("{user:?}'s list changed between two reads with nothing sent: {again:?}"));
        }
        Ok(list
            .data
            .into_iter()
            .map(|c| Entry {
                chat_id: c.chat_id,
                chat_type: c.chat_type,
                name: c.name,
                preview: c.chat_content,
                unread_count: c.unread_count,
                unread_flag: c.unread_message,
                at: c.at,
                mention_count: c.mention_count,
                first_mention: c.at_data.map(|a| (a.msg_seq, a.mentioner_id)),
                muted: c.do_not_disturb,
            })
            .collect())
    }
}

fn wire_message(n: usize, from: Who, to: Target, mentions: &[Mention], body: &Body) -> SendMessage {
    let (content_type, text) = match body {
        Body::Textual(t, text) => (*t, *text),
        Body::Tagged(t) => (*t, "not shown"),
    };
    SendMessage {
        msg_id: format!("m{n}-{}", from.id()),
        chat_id: to.id().to_owned(),
        chat_type: to.chat_type().code(),
        content: Some(MsgContent {
            text: text.to_owned(),
            mentioned_id: mentions.iter().map(|m| m.wire().to_owned()).collect(),
            ..Default::default()
        }),
        content_type: content_type.code(),
        ..Default::default()
    }
}

/// Runs `ops` against a fresh server and the model, comparing after each.
async fn check(ops: &[Op]) -> Result<(), String> {
    let real = Real::start().await;
    let mut model = Model::default();
    let mut history = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let mut wire = None;
        let answer = match op {
            Op::Send { from, to, mentions, body } => {
                let msg = wire_message(i, *from, *to, mentions, body);
                let answer = real.client(*from).send_message(&msg).await;
                wire = Some(msg);
                answer
            }
            Op::Retry => match &model.last_send {
                Some((from, msg)) => real.client(*from).send_message(msg).await,
                None => Ok(()),
            },
            Op::Dismiss { who, chat } => real.client(*who).dismiss_notification(chat.id()).await,
            Op::Remove { who, chat } => real.client(*who).remove_conversation(chat.id()).await,
            Op::SortChange { who, target } => real.client(*who).sort_change(target.id()).await,
            Op::NoNotify { who, chat, on } => real.client(*who).set_no_notify(chat.id(), *on).await,
            Op::Edit { nth, by, mentions, text } => match pick(&model.sent, &model.group, *nth, *by) {
                Some((key, seq, by)) => {
                    let msg_id = &model.chats[&key].messages[seq as usize - 1].msg_id;
                    let mentions: Vec<&str> = mentions.iter().map(|m| m.wire()).collect();
                    let chat_type = ChatType::from_code(key.chat_type()).unwrap();
                    real.client(by).edit_text(key.chat_id(by), chat_type, msg_id, text, &mentions).await
                }
                None => Ok(()),
            },
            Op::Recall { nth, by } => match pick(&model.sent, &model.group, *nth, *by) {
                Some((key, seq, by)) => {
                    let msg_id = &model.chats[&key].messages[seq as usize - 1].msg_id;
                    let chat_type = ChatType::from_code(key.chat_type()).unwrap();
                    real.client(by).recall(key.chat_id(by), chat_type, &[msg_id]).await
                }
                None => Ok(()),
            },
            Op::Join { who } => real.client(*who).apply(GROUP, ChatType::Group, "").await,
            Op::Leave { who } => real.client(*who).leave_group(GROUP).await,
            Op::Kick { by, who } => real.client(*by).remove_member(GROUP, who.id()).await,
            Op::Rename { who, name } => real.client(*who).edit_nickname(name).await,
            Op::Remark { who, other, remark } => real.client(*who).save_remark(other.id(), remark).await,
        };
        let expected = model.apply(op, wire.as_ref());
        history.push(format!("{i}: {op:?} -> {}", if answer.is_ok() { "ok".into() } else { format!("{answer:?}") }));
        let refused = matches!(answer, Err(yhconv_client::Error::Api { code: -1 | -9, .. }));
        let right = match expected {
            Expect::Ok => answer.is_ok(),
            Expect::Err => refused,
            Expect::Either => answer.is_ok() || refused,
        };
        if !right {
            return Err(format!(
                "step {i}: model expects {expected:?}, server answered {answer:?}\n{}",
                history.join("\n")
            ));
        }
        for user in EVERYONE {
            let got = real.list(user).await?;
            let want = model.list(user);
            if got != want {
                return Err(format!(
                    "step {i}: {user:?}'s list differs\n  server: {got:#?}\n  model:  {want:#?}\nsteps:\n{}",
                    history.join("\n")
                ));
            }
        }
    }
    real.shutdown().await;
    Ok(())
}

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    Config { cases, max_shrink_iters: 400, ..Config::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn lists_follow_the_model(ops in proptest::collection::vec(op(), 1..=25)) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        runtime.block_on(check(&ops)).map_err(TestCaseError::fail)?;
    }
}

// ---------------------------------------------------------------------------
// The model's own rules, checked by hand.

#[test]
fn model_preview_rules() {
    assert_eq!(text_preview("  hello \n\n\t world  "), "hello world");
    assert_eq!(text_preview(TEXTS[4]), TEXTS[4]);
    assert!(text_preview(TEXTS[5]).ends_with(" …"));
    assert_eq!(text_preview(TEXTS[6]).chars().count(), 61);
}

#[test]
fn model_mentions_and_hiding() {
    let mut m = Model::default();
    let send = |from, to, mentions: Vec<Mention>| Op::Send {
        from,
        to,
        mentions,
        body: Body::Textual(ContentType::Text, "hi"),
    };
    assert_eq!(m.apply(&send(Who::Ben, Target::Group, vec![Mention::All, Mention::User(Who::Ann)]), None), Expect::Ok);
    assert_eq!(m.apply(&send(Who::Cat, Target::Group, vec![]), None), Expect::Err);
    assert_eq!(m.apply(&send(Who::Ann, Target::User(Who::Ben), vec![Mention::All]), None), Expect::Ok);
    let ann = m.list(Who::Ann);
    assert_eq!(
        ann.iter().map(|e| (e.chat_id.as_str(), e.unread_count, e.mention_count)).collect::<Vec<_>>(),
        [(BEN, 0, 0), (GROUP, 1, 1)]
    );
    let ben = m.list(Who::Ben);
    assert_eq!(
        ben.iter().map(|e| (e.chat_id.as_str(), e.unread_count, e.mention_count)).collect::<Vec<_>>(),
        [(ANN, 1, 0), (GROUP, 0, 0)]
    );
    assert_eq!(m.apply(&Op::Remove { who: Who::Ben, chat: Target::User(Who::Ann) }, None), Expect::Ok);
    assert_eq!(m.list(Who::Ben).len(), 1);
    assert_eq!(m.apply(&Op::SortChange { who: Who::Cat, target: Target::Group }, None), Expect::Err);
    assert!(m.list(Who::Cat).is_empty());
}
