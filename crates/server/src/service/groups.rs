//! Groups, friends and profiles: how conversations begin and end.
//!
//! Who may do what follows the official server's texts where the research
//! has them (`shared/research/protocol-next.md` §4–§5):
//! - any logged-in user sees a group's public info; members see its
//!   members, bots and their own fields;
//! - any member invites users and bots (no pending state); the owner and
//!   admins remove and gag members, never the owner, and admins only plain
//!   members; the owner alone makes admins and dismisses the group;
//! - a join enters the joiner's list at once, read and at the top; a
//!   removal, leave or dismissal takes the group out of the list, and from
//!   then on its history, sends and pushes stop for that user;
//! - a friend request is seen by its two users only; agreeing makes both
//!   friends (their address books), with no conversation until a message.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use yhconv_proto::ChatType;

use super::{now_ms, Service};
use crate::domain::error::{Error, Result};
use crate::domain::ids::Id;
use crate::domain::model::*;
use crate::domain::store::Store;

/// Longest name of a user or group, and longest remark, in characters.
pub const MAX_NAME_CHARS: usize = 50;
/// Longest group introduction or request note, in characters.
pub const MAX_TEXT_CHARS: usize = 500;
/// Longest avatar URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// Member rows of a dismissed group deleted per transaction.
pub const PURGE_BATCH: u32 = 1000;
/// Members on one page when the client asks for none, and at most.
pub const MEMBER_PAGE_DEFAULT: u32 = 50;
pub const MEMBER_PAGE_MAX: u32 = 500;
/// Most friend requests listed.
pub const MAX_REQUESTS: u32 = 200;

/// The official texts of refusals the research records.
pub mod texts {
    pub const NO_PERMISSION: &str = "您无权操作此群聊，请联系群主或者管理员";
    pub const CANNOT_REMOVE_OWNER: &str = "不可以移除群主！";
    pub const NOT_IN_GROUP: &str = "该用户不在这个群聊，请重试";
    pub const NO_SUCH_USER: &str = "该用户不存在";
    pub const NO_SUCH_GROUP: &str = "群聊不存在";
    /// A send from a member whose gag has not ended (yhconv's own text).
    pub const GAGGED: &str = "you are gagged in this group";
    pub const NO_SUCH_BOT: &str = "机器人不存在";
    pub const USER_NOT_FOUND: &str = "用户不存在";
}

/// What `group/info` answers: the public facts, and the caller's own
/// fields when they are a member.
#[derive(Debug, Clone)]
pub struct GroupInfo {
    pub facts: EntityFacts,
    pub roster: Roster,
    pub bots: Vec<EntityFacts>,
    pub mine: Option<Membership>,
}

/// What `bot/bot-info` answers.
#[derive(Debug, Clone)]
pub struct BotInfo {
    pub facts: EntityFacts,
    pub headcount: i64,
    pub do_not_disturb: bool,
    pub pinned: bool,
}

/// Whom a `group/invite` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invitees {
    /// Users or bots, by wire id (`chatType` 1 or 3, or unset: by the id).
    Some(Vec<String>),
    /// Nobody: the caller joins (one web client's form).
    Myself,
}

/// A page of members.
#[derive(Debug, Clone)]
pub struct MemberPage {
    pub members: Vec<MemberRow>,
    pub total: u64,
}

/// The trimmed `text`, refused when empty or longer than `max` characters.
fn checked_text(text: &str, what: &str, max: usize, required: bool) -> Result<String> {
    let text = text.trim();
    if required && text.is_empty() {
        return Err(Error::invalid(format!("{what} is required")));
    }
    if text.chars().count() > max {
        return Err(Error::invalid(format!("{what} is longer than {max} characters")));
    }
    if text.chars().any(char::is_control) {
        return Err(Error::invalid(format!("{what} may not contain control characters")));
    }
    Ok(text.to_owned())
}

/// An avatar URL: a full `http(s)://` URL (`edit-avatar` says so).
fn checked_url(url: &str) -> Result<String> {
    let url = url.trim();
    if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > MAX_URL_BYTES {
        return Err(Error::invalid(format!("the avatar must be a full http(s) URL of at most {MAX_URL_BYTES} bytes")));
    }
    Ok(url.to_owned())
}

/// The level clients show: 100 owner, 2 admin, 0 member.
pub fn permission_level(role: Role) -> i32 {
    match role {
        Role::Owner => 100,
        Role::Admin => 2,
        Role::Member => 0,
    }
}

/// The friend requests a user sent or received (newest first), and how many
/// they received that wait for their answer.
#[derive(Debug, Clone)]
pub struct FriendRequests {
    pub rows: Vec<FriendRequestRow>,
    pub pending: usize,
}

/// Deletes a dismissed group's member rows and pins, [`PURGE_BATCH`] at a
/// time, yielding between batches; a failure is logged and the rest is
/// left to the next start's sweep ([`sweep_dismissals`]).
async fn purge(store: &dyn Store, group: Id, _running: Running) {
    loop {
        match store.purge_dismissed(group, PURGE_BATCH).await {
            Ok(0) => return,
            Ok(_) => tokio::task::yield_now().await,
            Err(e) => {
                tracing::warn!(%group, error = %e, "purging a dismissed group's members stopped");
                return;
            }
        }
    }
}

/// One purge counted in a gauge from before its task is spawned (so that
/// the gauge shows it as soon as the dismissal is answered) until it ends,
/// however it ends.
struct Running(Arc<AtomicU64>);

impl Running {
    fn start(gauge: &Arc<AtomicU64>) -> Self {
        gauge.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(gauge))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// At start: finishes the purges of dismissed groups that a restart cut
/// short (their rows are invisible to every read meanwhile).
pub(super) async fn sweep_dismissals(store: Arc<dyn Store>, running: Arc<AtomicU64>) {
    match store.unpurged_dismissals(PURGE_BATCH).await {
        Ok(groups) => {
            if !groups.is_empty() {
                tracing::info!(groups = groups.len(), "finishing the purge of dismissed groups");
            }
            for group in groups {
                purge(store.as_ref(), group, Running::start(&running)).await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot look for dismissed groups left to purge"),
    }
}

/// Whether a gag holds at `now_ms`.
pub fn is_gagged(gag_until_ms: i64, now_ms: i64) -> bool {
    gag_until_ms > now_ms
}

impl Service {
    // ---- profiles -------------------------------------------------------

    /// `user/get-user`: a user's public profile, and the caller's remark
    /// for them when the caller is known. Groups, bots and unknown ids:
    /// "该用户不存在".
    pub async fn user_profile(&self, caller: Option<Id>, raw_id: &str) -> Result<(EntityFacts, Option<RemarkFields>)> {
        let id = Id::parse(raw_id, "id").map_err(|_| Error::invalid(texts::NO_SUCH_USER))?;
        let facts = self.store.entity_facts(id).await?;
        let facts = facts.filter(|f| f.entity.kind == ChatType::User).ok_or(Error::invalid(texts::NO_SUCH_USER))?;
        let remark = match caller {
            Some(caller) => self.store.remark(caller, id).await?,
            None => None,
        };
        Ok((facts, remark))
    }

    /// `user/save-user-remarks`: what the caller calls another user or a
    /// bot; an empty name, phone and note clear it.
    pub async fn save_remark(&self, user: Id, target: &str, fields: RemarkFields) -> Result<()> {
        let peer = self.resolve(target, "friendId").await?;
        self.check_not_self(user, peer.id)?;
        if peer.kind == ChatType::Group {
            return Err(Error::invalid("remarks are for users and bots, not groups"));
        }
        let fields = RemarkFields {
            name: checked_text(&fields.name, "name", MAX_NAME_CHARS, false)?,
            phone: checked_text(&fields.phone, "phone", MAX_NAME_CHARS, false)?,
            extra: checked_text(&fields.extra, "others", MAX_TEXT_CHARS, false)?,
        };
        let clear = fields.name.is_empty() && fields.phone.is_empty() && fields.extra.is_empty();
        self.store.set_remark(user, peer.id, (!clear).then_some(fields)).await
    }

    /// `user/edit-nickname`: shows at once wherever the user is shown.
    pub async fn rename_user(&self, user: Id, name: &str) -> Result<()> {
        let name = checked_text(name, "name", MAX_NAME_CHARS, true)?;
        self.store.edit_entity(user, EntityChange::Name(name)).await?;
        Ok(())
    }

    /// `user/edit-avatar`.
    pub async fn set_user_avatar(&self, user: Id, url: &str) -> Result<()> {
        let url = checked_url(url)?;
        self.store.edit_entity(user, EntityChange::AvatarUrl(url)).await?;
        Ok(())
    }

    /// A group by wire id: not a group, unknown or dismissed is `-1`.
    async fn group(&self, raw_id: &str) -> Result<EntityFacts> {
        let id = Id::parse(raw_id, "groupId")?;
        match self.store.entity_facts(id).await? {
            Some(f) if f.entity.kind == ChatType::Group && f.dismissed => {
                Err(Error::invalid(format!("group {id} was dismissed")))
            }
            Some(f) if f.entity.kind == ChatType::Group => Ok(f),
            Some(f) => Err(Error::invalid(format!("{id} is a {}, not a group", f.entity.kind))),
            None => Err(Error::invalid(texts::NO_SUCH_GROUP)),
        }
    }

    /// A group and the caller's membership in it; `NotMember` if none.
    async fn member_of(&self, user: Id, raw_id: &str) -> Result<(EntityFacts, Membership)> {
        let group = self.group(raw_id).await?;
        let mine = self.store.membership(group.entity.id, user).await?;
        let mine = mine.ok_or_else(|| Error::NotMember(group.entity.id.to_string()))?;
        Ok((group, mine))
    }

    /// `group/info`: public fields for anyone logged in; the caller's own
    /// (level, mute, pin) and the bots only for members.
    pub async fn group_info(&self, user: Id, raw_id: &str) -> Result<GroupInfo> {
        let facts = self.group(raw_id).await?;
        let id = facts.entity.id;
        let mine = self.store.membership(id, user).await?;
        let roster = self.store.roster(id).await?;
        let bots = match mine {
            Some(_) => self.store.group_bots(id).await?,
            None => Vec::new(),
        };
        let roster = match mine {
            Some(_) => roster,
            None => Roster { headcount: roster.headcount, admins: Vec::new() },
        };
        Ok(GroupInfo { facts, roster, bots, mine })
    }

    /// `group/list-member`: members only; `page` from 1.
    pub async fn group_members(
        &self,
        user: Id,
        raw_id: &str,
        page: i64,
        size: i64,
        keywords: &str,
    ) -> Result<MemberPage> {
        let (group, _) = self.member_of(user, raw_id).await?;
        let size = match size {
            s if s <= 0 => MEMBER_PAGE_DEFAULT,
            s => (s as u64).min(u64::from(MEMBER_PAGE_MAX)) as u32,
        };
        let page = page.max(1).min(i64::from(u32::MAX / MEMBER_PAGE_MAX)) as u32;
        let keyword = keywords.trim().to_lowercase();
        let (members, total) =
            self.store.group_members(group.entity.id, keyword, size, (page - 1).saturating_mul(size)).await?;
        Ok(MemberPage { members, total })
    }

    /// `group/bot-list`: members only.
    pub async fn group_bot_list(&self, user: Id, raw_id: &str) -> Result<Vec<EntityFacts>> {
        let (group, _) = self.member_of(user, raw_id).await?;
        self.store.group_bots(group.entity.id).await
    }

    /// `bot/bot-info`; `do_not_disturb` and `top` are the caller's.
    pub async fn bot_info(&self, user: Id, raw_id: &str) -> Result<BotInfo> {
        let id = Id::parse(raw_id, "id")?;
        let facts = self.store.entity_facts(id).await?;
        let facts = facts.filter(|f| f.entity.kind == ChatType::Bot).ok_or(Error::invalid(texts::NO_SUCH_BOT))?;
        let headcount = self.store.bot_headcount(id).await?;
        let row = self.store.conversations_with(user, vec![id]).await?;
        let pinned = self.store.pins(user).await?.iter().any(|p| p.peer.id == id);
        Ok(BotInfo { facts, headcount, do_not_disturb: row.first().is_some_and(|r| r.do_not_disturb), pinned })
    }

    /// `bot/board`: the chat a board is asked for must be one the caller
    /// may see (a bot, or a group they are in). No call sets boards, so
    /// the board is empty.
    pub async fn board_chat(&self, user: Id, raw_id: &str) -> Result<Entity> {
        let id = Id::parse(raw_id, "id")?;
        let (peer, position) = self.store.read_position(user, id).await?.ok_or(Error::UnknownChat(id.to_string()))?;
        match peer.kind {
            ChatType::Group if position.is_none() => Err(Error::NotMember(peer.id.to_string())),
            ChatType::User => Err(Error::invalid(format!("{id} is a user; boards belong to bots and groups"))),
            _ => Ok(peer),
        }
    }

    /// `friend/address-book-list`: the caller's friends, groups and bots.
    pub async fn address_book(&self, user: Id) -> Result<Vec<ContactRow>> {
        let mut rows = self.store.contacts(user).await?;
        rows.sort_by_key(|r| (r.peer.kind.code(), r.peer.id));
        Ok(rows)
    }

    // ---- membership -----------------------------------------------------

    /// `group/create-group`: the caller owns it; it is at the top of their
    /// list at once, empty.
    pub async fn create_group(&self, user: Id, name: &str, introduction: &str, avatar_url: &str) -> Result<Id> {
        let name = checked_text(name, "name", MAX_NAME_CHARS, true)?;
        let introduction = checked_text(introduction, "introduction", MAX_TEXT_CHARS, false)?;
        let avatar_url = match avatar_url.trim() {
            "" => String::new(),
            url => checked_url(url)?,
        };
        self.store.create_group(NewGroup { owner: user, name, introduction, avatar_url, created_ms: now_ms() }).await
    }

    /// `group/invite`: any member adds users and bots; the group enters
    /// each user's list at once, read. With nobody named, the caller joins.
    pub async fn invite(&self, user: Id, raw_group: &str, invitees: Invitees) -> Result<()> {
        let Invitees::Some(ids) = invitees else {
            return self.join(user, raw_group).await;
        };
        if ids.is_empty() {
            return Err(Error::invalid("name whom to invite: chatId (or userIdList)"));
        }
        let (group, _) = self.member_of(user, raw_group).await?;
        let (mut users, mut bots) = (Vec::new(), Vec::new());
        for raw in &ids {
            let id = Id::parse(raw, "chatId")?;
            match self.store.entity(id).await? {
                Some(e) if e.kind == ChatType::User => users.push(id),
                Some(e) if e.kind == ChatType::Bot => bots.push(id),
                Some(_) => return Err(Error::invalid(format!("{id} is a group; invite users or bots"))),
                None => return Err(Error::invalid(format!("{}: {id}", texts::USER_NOT_FOUND))),
            }
        }
        let now = now_ms();
        for bot in bots {
            self.store.add_group_bot(group.entity.id, bot, now).await?;
        }
        self.store.join_group(group.entity.id, users, now).await?;
        Ok(())
    }

    /// Joins a group (`friend/apply` with chat type 2).
    pub async fn join(&self, user: Id, raw_group: &str) -> Result<()> {
        let group = self.group(raw_group).await?;
        if self.store.join_group(group.entity.id, vec![user], now_ms()).await?.is_empty() {
            return Err(Error::AlreadyAdded);
        }
        Ok(())
    }

    /// The caller's role, refused unless owner or admin.
    async fn manager_of(&self, user: Id, raw_group: &str) -> Result<(EntityFacts, Role)> {
        let (group, mine) = self.member_of(user, raw_group).await?;
        match mine.role {
            Role::Member => Err(Error::invalid(texts::NO_PERMISSION)),
            role => Ok((group, role)),
        }
    }

    /// A member whom a manager of role `by` may act on.
    async fn managed_member(&self, group: Id, by: Role, raw_user: &str, owner_text: &str) -> Result<Id> {
        let target = Id::parse(raw_user, "userId")?;
        let Some(theirs) = self.store.membership(group, target).await? else {
            return Err(Error::invalid(texts::NOT_IN_GROUP));
        };
        match theirs.role {
            Role::Owner => Err(Error::invalid(owner_text)),
            Role::Admin if by != Role::Owner => Err(Error::invalid(texts::NO_PERMISSION)),
            _ => Ok(target),
        }
    }

    /// `group/remove-member`: the owner removes anyone but themself, an
    /// admin plain members.
    pub async fn remove_member(&self, user: Id, raw_group: &str, raw_user: &str) -> Result<()> {
        let (group, role) = self.manager_of(user, raw_group).await?;
        let target = self.managed_member(group.entity.id, role, raw_user, texts::CANNOT_REMOVE_OWNER).await?;
        self.store.leave_group(target, group.entity.id).await?;
        Ok(())
    }

    /// `group/gag-member`: seconds from now; 0 lifts it, -1 until lifted.
    pub async fn gag_member(&self, user: Id, raw_group: &str, raw_user: &str, seconds: i64) -> Result<()> {
        let until_ms = match seconds {
            0 => 0,
            -1 => GAG_FOREVER,
            s if s > 0 => now_ms().saturating_add(s.saturating_mul(1000)),
            s => {
                return Err(Error::invalid(format!("gagTime must be seconds, 0 (lift) or -1 (until lifted), got {s}")))
            }
        };
        let (group, role) = self.manager_of(user, raw_group).await?;
        let target = self.managed_member(group.entity.id, role, raw_user, "不可以禁言群主！").await?;
        self.store.set_gag(group.entity.id, target, until_ms).await?;
        Ok(())
    }

    /// `group/edit-admin`: the owner makes a member an admin, or a plain
    /// member again.
    pub async fn set_admin(&self, user: Id, raw_group: &str, raw_user: &str, admin: bool) -> Result<()> {
        let (group, mine) = self.member_of(user, raw_group).await?;
        if mine.role != Role::Owner {
            return Err(Error::invalid("only the group's owner can make or unmake admins"));
        }
        let target = self.managed_member(group.entity.id, Role::Owner, raw_user, "the owner is not an admin").await?;
        self.store.set_admin(group.entity.id, target, admin).await?;
        Ok(())
    }

    /// `group/dismiss-group`: the owner only; the group leaves every
    /// member's list at once (one write), and its member rows are purged
    /// in the background in batches nobody can see.
    pub async fn dismiss_group(&self, user: Id, raw_group: &str) -> Result<()> {
        let (group, mine) = self.member_of(user, raw_group).await?;
        if mine.role != Role::Owner {
            return Err(Error::invalid("only the group's owner can dismiss it"));
        }
        let id = group.entity.id;
        if self.store.dismiss_group(id, now_ms()).await? {
            let (store, running) = (Arc::clone(&self.store), Running::start(&self.purges));
            tokio::spawn(async move { purge(store.as_ref(), id, running).await });
        }
        Ok(())
    }

    // ---- friends --------------------------------------------------------

    /// `friend/apply`: 1 asks a user to be friends, 2 joins a group, 3 adds
    /// a bot to the address book. Unset: by the id's kind.
    pub async fn apply(&self, user: Id, raw_id: &str, chat_type: Option<u64>, note: &str) -> Result<()> {
        let id = Id::parse(raw_id, "chatId")?;
        let entity = self.store.entity(id).await?;
        let kind = match chat_type {
            Some(code) => ChatType::from_code(code)
                .ok_or_else(|| Error::invalid(format!("chatType must be 1, 2 or 3, got {code}")))?,
            None => entity.as_ref().map(|e| e.kind).ok_or(Error::invalid(texts::USER_NOT_FOUND))?,
        };
        let missing = match kind {
            ChatType::User => texts::USER_NOT_FOUND,
            ChatType::Group => texts::NO_SUCH_GROUP,
            ChatType::Bot => texts::NO_SUCH_BOT,
        };
        if entity.as_ref().map(|e| e.kind) != Some(kind) {
            return Err(Error::invalid(missing));
        }
        self.check_not_self(user, id)?;
        match kind {
            ChatType::Group => self.join(user, raw_id).await,
            ChatType::Bot => match self.store.add_contact(user, id, now_ms()).await? {
                true => Ok(()),
                false => Err(Error::AlreadyAdded),
            },
            ChatType::User => {
                if self.store.is_contact(user, id).await? {
                    return Err(Error::AlreadyAdded);
                }
                let note = checked_text(note, "remark", MAX_TEXT_CHARS, false)?;
                self.store.add_request(user, id, note, now_ms()).await?;
                Ok(())
            }
        }
    }

    /// `friend/request-list`: the requests the caller sent or received.
    pub async fn requests(&self, user: Id) -> Result<FriendRequests> {
        let rows = self.store.requests(user, MAX_REQUESTS).await?;
        let pending = rows.iter().filter(|r| r.state == RequestState::Pending && r.to.id == user).count();
        Ok(FriendRequests { rows, pending })
    }

    /// A request the caller received, by id or by its sender.
    async fn received_request(&self, user: Id, id: Option<i64>, from: Option<&str>) -> Result<FriendRequestRow> {
        let request = match (id, from) {
            (Some(id), _) => self.store.request(id).await?,
            (None, Some(from)) => {
                let from = Id::parse(from, "userId")?;
                let all = self.store.requests(user, MAX_REQUESTS).await?;
                all.into_iter().find(|r| r.from.id == from && r.to.id == user && r.state == RequestState::Pending)
            }
            (None, None) => return Err(Error::invalid("id (the request's) is required")),
        };
        match request {
            Some(r) if r.to.id == user => Ok(r),
            _ => Err(Error::invalid("no such friend request for you")),
        }
    }

    /// `friend/agree-apply`: 1 agree (both become friends), 2 reject, 3 and
    /// 4 close it (expired, dismissed).
    pub async fn settle_request(&self, user: Id, id: Option<i64>, from: Option<&str>, agree: u64) -> Result<()> {
        let state = match agree {
            1 => RequestState::Agreed,
            2 => RequestState::Rejected,
            3 | 4 => RequestState::Ignored,
            other => return Err(Error::invalid(format!("agree must be 1 (agree) or 2 (reject), got {other}"))),
        };
        let request = self.received_request(user, id, from).await?;
        if !self.store.settle_request(request.id, state, now_ms()).await? {
            return Err(Error::invalid("that friend request was settled already"));
        }
        Ok(())
    }

    /// `friend/ignore-apply`.
    pub async fn ignore_request(&self, user: Id, id: i64) -> Result<()> {
        self.settle_request(user, Some(id), None, 3).await
    }

    /// `friend/delete-request`: either of its users deletes it.
    pub async fn delete_request(&self, user: Id, id: i64) -> Result<()> {
        match self.store.request(id).await? {
            Some(r) if r.from.id == user || r.to.id == user => {
                self.store.delete_request(id).await?;
                Ok(())
            }
            _ => Err(Error::invalid("no such friend request for you")),
        }
    }

    /// `friend/delete-friend` with chat type 1 (unfriend: the conversation
    /// and its history stay) or 3 (the bot leaves the address book and the
    /// list).
    pub async fn remove_contact(&self, user: Id, raw_id: &str, kind: ChatType) -> Result<()> {
        let peer = self.resolve(raw_id, "chatId").await?;
        if peer.kind != kind {
            return Err(Error::invalid(format!("{} is a {}, not a {kind}", peer.id, peer.kind)));
        }
        if !self.store.remove_contact(user, peer.id).await? {
            return Err(Error::invalid(format!("{} is not in your address book", peer.id)));
        }
        Ok(())
    }
}

/// The address book as it goes on the wire: sections `用户`, `我加入的群聊`
/// and `机器人` (each always present, `chat_type` set), and its md5 (hex, of
/// the encoded sections), as for the conversation list.
pub fn address_book_wire(rows: Vec<ContactRow>) -> (Vec<yhconv_proto::pb::AddressBookSection>, String) {
    use md5::{Digest, Md5};
    use prost::Message;
    use yhconv_proto::pb::{AddressBookEntry, AddressBookSection};

    let mut sections: Vec<AddressBookSection> =
        [(ChatType::User, "用户"), (ChatType::Group, "我加入的群聊"), (ChatType::Bot, "机器人")]
            .into_iter()
            .map(|(kind, name)| AddressBookSection {
                list_name: name.to_owned(),
                data: Vec::new(),
                chat_type: kind.code(),
            })
            .collect();
    for row in rows {
        let index = match row.peer.kind {
            ChatType::User => 0,
            ChatType::Group => 1,
            ChatType::Bot => 2,
        };
        let shown = super::conversation::display_name(row.remark, &row.peer.name);
        sections[index].data.push(AddressBookEntry {
            chat_id: row.peer.id.to_string(),
            remark: shown,
            avatar_url: row.peer.avatar_url,
            permisson_level: row.role.map_or(0, permission_level),
            no_disturb: row.do_not_disturb,
            name: row.peer.name,
        });
    }
    let mut bytes = Vec::new();
    for section in &sections {
        section.encode_length_delimited(&mut bytes).expect("a Vec grows");
    }
    (sections, hex::encode(Md5::digest(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_trimmed_and_bounded() {
        assert_eq!(checked_text("  云湖 ", "name", 5, true).unwrap(), "云湖");
        assert!(checked_text("   ", "name", 5, true).is_err());
        assert!(checked_text("abcdef", "name", 5, true).is_err());
        assert!(checked_text("a\u{7}b", "name", 5, true).is_err());
        assert_eq!(checked_text("", "intro", 5, false).unwrap(), "");
    }

    #[test]
    fn avatars_are_full_urls() {
        assert!(checked_url("https://x.example/a.png").is_ok());
        assert!(checked_url("x.example/a.png").is_err());
    }

    #[test]
    fn levels_and_gags() {
        assert_eq!([Role::Owner, Role::Admin, Role::Member].map(permission_level), [100, 2, 0]);
        assert!(is_gagged(GAG_FOREVER, 5));
        assert!(!is_gagged(0, 5));
        assert!(!is_gagged(5, 5));
    }
}
