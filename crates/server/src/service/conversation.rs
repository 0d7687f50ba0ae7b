//! The conversation list and the calls that change it.

use std::cmp::Ordering;
use std::sync::Arc;

use yhconv_proto::ChatType;

use super::list_cache::{CachedList, CachedRow, EncodedList, ListedRow, Lookup, Stamp};
use super::list_wire::{encode_entry, encode_views, join_entries};
use super::{now_ms, Service};
use crate::domain::error::{Error, Result};
use crate::domain::ids::Id;
use crate::domain::model::{ConversationRow, Entity, MentionRow, ReadPosition, Role, ViewChange};

/// One conversation as the caller should see it: the rules applied, not yet
/// encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationView {
    pub peer: Entity,
    /// The caller's remark, else the peer's name.
    pub display_name: String,
    pub preview: String,
    /// Sort key: the later of the last message and the last sort-change.
    pub timestamp_ms: i64,
    /// Last message time in seconds; the sort time when there is no message.
    pub timestamp_s: i64,
    pub unread_count: u64,
    pub mention_count: u64,
    /// The earliest unread mention, when `mention_count > 0`.
    pub first_mention: Option<MentionRow>,
    pub do_not_disturb: bool,
}

impl ConversationView {
    /// Applies the unread and mention arithmetic to a stored row.
    pub fn from_row(row: ConversationRow) -> Self {
        // Recalled messages count as read: unread is what is above the read
        // position, less the recalled ones among it.
        let unread_count = (row.last_seq - row.read_seq - row.recalled_unread).max(0) as u64;
        let mention_count = if unread_count == 0 { 0 } else { row.mention_count.max(0) as u64 };
        let timestamp_ms = row.last_message_ms.max(row.sort_ms);
        let timestamp_s = if row.last_seq > 0 { row.last_message_ms / 1000 } else { timestamp_ms / 1000 };
        Self {
            display_name: display_name(row.remark, &row.peer.name),
            peer: row.peer,
            preview: row.preview,
            timestamp_ms,
            timestamp_s,
            unread_count,
            mention_count,
            first_mention: if mention_count > 0 { row.first_mention } else { None },
            do_not_disturb: row.do_not_disturb,
        }
    }

    /// The protocol's unread flag (field 6): 1 when anything is unread.
    pub fn unread_flag(&self) -> u64 {
        u64::from(self.unread_count > 0)
    }

    /// The protocol's `at` flag (field 7).
    pub fn at_flag(&self) -> u64 {
        u64::from(self.mention_count > 0)
    }
}

/// What a user sees as a chat's name: their remark for it if they set one,
/// else its own name.
pub fn display_name(remark: Option<String>, name: &str) -> String {
    remark.filter(|r| !r.is_empty()).unwrap_or_else(|| name.to_owned())
}

/// Whether a conversation shows in the list: it has a message or was brought
/// to the top, and was not removed since (a new message brings a removed one
/// back).
pub fn is_listed(row: &ConversationRow) -> bool {
    (row.last_seq > 0 || row.sort_ms > 0) && row.hidden_seq.is_none_or(|hidden| row.last_seq > hidden)
}

/// The list's order: last activity, newest first; ties by peer id, ascending.
pub fn sort_newest_first(views: &mut [ConversationView]) {
    views.sort_unstable_by(|a, b| newest_first((a.timestamp_ms, a.peer.id), (b.timestamp_ms, b.peer.id)));
}

/// The list's order on (sort time, peer id) pairs (see [`sort_newest_first`]).
pub fn newest_first(a: (i64, Id), b: (i64, Id)) -> Ordering {
    b.0.cmp(&a.0).then(a.1.cmp(&b.1))
}

/// Whether `change` creates the conversation when there is none yet (with
/// a user or bot; a group must list the caller as a member): bringing a
/// chat to the top and muting it do, reading and removing do not.
pub fn creates_conversation(change: ViewChange) -> bool {
    matches!(change, ViewChange::Touch { .. } | ViewChange::DoNotDisturb(_))
}

/// The caller's list before encoding.
pub struct ListViews {
    /// The listed conversations, newest first.
    pub views: Vec<ConversationView>,
    /// The caller's own name (for `at_data`); empty when nothing mentions them.
    pub own_name: String,
}

impl Service {
    /// The caller's list as it goes on the wire. Kept in memory and answered
    /// from there until something it shows changes; then only the rows that
    /// changed are read again (see [`super::list_cache`]).
    pub async fn conversation_list(&self, user: Id) -> Result<Arc<EncodedList>> {
        let Some(cache) = &self.lists else {
            let views = self.read_list(user).await?;
            return Ok(Arc::new(encode_views(views, user)));
        };
        let (at, trusted) = cache.stamp(self.clock.read().await?).await;
        let kept = match cache.lookup(user, at, trusted) {
            Lookup::Fresh(list) => return Ok(list),
            Lookup::Changed { kept, peers } => {
                let fresh = self.store.conversations_with(user, peers.clone()).await?;
                self.patch_list(user, at, &kept, &peers, fresh).await?
            }
            Lookup::Missing => {
                let rows = self.store.conversations(user).await?;
                self.assemble_list(user, at, rows, None).await?
            }
        };
        let list = Arc::clone(&kept.list);
        cache.insert(user, kept);
        Ok(list)
    }

    /// A kept list with the rows of `peers` replaced by `fresh` (those of
    /// them still there), read at `at`.
    async fn patch_list(
        &self,
        user: Id,
        at: Stamp,
        kept: &CachedList,
        peers: &[Id],
        fresh: Vec<ConversationRow>,
    ) -> Result<CachedList> {
        let mut unchanged = Vec::with_capacity(kept.rows.len());
        for row in &kept.rows {
            if !peers.contains(&row.peer) {
                unchanged.push(row.clone());
            }
        }
        let (mut list, own_name) = self.encode_rows(user, fresh, kept.own_name.clone()).await?;
        list.extend(unchanged);
        Ok(join_list(at, list, own_name))
    }

    /// A whole list from every row the store read, at `at`.
    async fn assemble_list(
        &self,
        user: Id,
        at: Stamp,
        rows: Vec<ConversationRow>,
        own_name: Option<String>,
    ) -> Result<CachedList> {
        let (list, own_name) = self.encode_rows(user, rows, own_name).await?;
        Ok(join_list(at, list, own_name))
    }

    /// Stored rows as the cache keeps them, listed ones encoded; the
    /// caller's own name is read (once) when an entry mentions them.
    async fn encode_rows(
        &self,
        user: Id,
        rows: Vec<ConversationRow>,
        mut own_name: Option<String>,
    ) -> Result<(Vec<CachedRow>, Option<String>)> {
        let views: Vec<(CachedRow, Option<ConversationView>)> = rows
            .into_iter()
            .map(|row| {
                let kept = CachedRow {
                    peer: row.peer.id,
                    chat: row.chat,
                    read_through: row.read_seq >= row.last_seq,
                    listed: None,
                };
                (kept, is_listed(&row).then(|| ConversationView::from_row(row)))
            })
            .collect();
        if own_name.is_none() && views.iter().any(|(_, v)| v.as_ref().is_some_and(|v| v.first_mention.is_some())) {
            own_name = Some(self.user_info(user).await?.entity.name);
        }
        let name = own_name.as_deref().unwrap_or_default();
        let rows = views
            .into_iter()
            .map(|(kept, view)| CachedRow {
                listed: view.map(|view| ListedRow {
                    timestamp_ms: view.timestamp_ms,
                    entry: encode_entry(view, user, name).into(),
                }),
                ..kept
            })
            .collect();
        Ok((rows, own_name))
    }

    /// The caller's listed conversations, newest first.
    async fn read_list(&self, user: Id) -> Result<ListViews> {
        let rows = self.store.conversations(user).await?;
        let mut views: Vec<ConversationView> =
            rows.into_iter().filter(is_listed).map(ConversationView::from_row).collect();
        sort_newest_first(&mut views);
        let own_name = match views.iter().any(|v| v.first_mention.is_some()) {
            true => self.user_info(user).await?.entity.name,
            false => String::new(),
        };
        Ok(ListViews { views, own_name })
    }

    /// Marks the conversation read (idempotent).
    pub async fn dismiss_notification(&self, user: Id, chat_id: &str) -> Result<()> {
        let id = Id::parse(chat_id, "chatId")?;
        self.check_not_self(user, id)?;
        // Clients mark a chat read every time they open it: when the list
        // cache knows it is read (from the kept list, or an earlier call
        // that found it so) and nothing changed it since, there is nothing
        // to do and nothing to read; otherwise one lookup says whether there
        // is anything to mark, and only then is there a write.
        let stamp = match &self.lists {
            Some(cache) => Some((cache, cache.stamp(self.clock.read().await?).await)),
            None => None,
        };
        if let Some((cache, (at, trusted))) = stamp {
            if cache.shows_read(user, id, at, trusted) {
                return Ok(());
            }
        }
        let (peer, position) = self.store.read_position(user, id).await?.ok_or(Error::UnknownChat(id.to_string()))?;
        match position {
            None => no_conversation(&peer),
            Some(ReadPosition { chat, read_seq, last_seq, .. }) if read_seq >= last_seq => {
                if let Some((cache, (at, true))) = stamp {
                    cache.note_read(user, id, chat, at);
                }
                Ok(())
            }
            Some(_) => self.change_view(user, &peer, ViewChange::MarkRead).await,
        }
    }

    /// Hides the conversation until new activity and clears its unread
    /// state: read up to its last message, hidden until a newer one.
    pub async fn remove_conversation(&self, user: Id, chat_id: &str) -> Result<()> {
        let peer = self.resolve(chat_id, "chatId").await?;
        self.check_not_self(user, peer.id)?;
        self.change_view(user, &peer, ViewChange::HideAndMarkRead).await
    }

    /// Brings the conversation with `target` to the top, creating it if the
    /// caller may talk to the target.
    pub async fn sort_change(&self, user: Id, target: &str) -> Result<()> {
        let peer = self.resolve(target, "userId").await?;
        self.check_not_self(user, peer.id)?;
        self.change_view(user, &peer, ViewChange::Touch { now_ms: now_ms() }).await
    }

    /// Sets the caller's do-not-disturb flag for the conversation.
    pub async fn set_do_not_disturb(&self, user: Id, chat_id: &str, on: bool) -> Result<()> {
        let peer = self.resolve(chat_id, "chatId").await?;
        self.check_not_self(user, peer.id)?;
        self.change_view(user, &peer, ViewChange::DoNotDisturb(on)).await
    }

    /// Takes the caller out of a group (`friend/delete-friend` with chat
    /// type 2): the group leaves their list, their pin of it goes, and from
    /// then on its history, sends and pushes are refused or stop for them.
    /// The owner cannot leave.
    pub async fn leave_group(&self, user: Id, chat_id: &str) -> Result<()> {
        let id = Id::parse(chat_id, "chatId")?;
        let (peer, position) = self.store.read_position(user, id).await?.ok_or(Error::UnknownChat(id.to_string()))?;
        if peer.kind != ChatType::Group {
            return Err(Error::invalid(format!("chat {} is a {}, not a group", peer.id, peer.kind)));
        }
        if position.is_none() {
            return Err(Error::NotMember(peer.id.to_string()));
        }
        if self.store.role(peer.id, user).await? == Some(Role::Owner) {
            return Err(Error::invalid("the owner cannot leave the group"));
        }
        self.store.leave_group(user, peer.id).await?;
        Ok(())
    }

    /// Applies a view change, creating the conversation first when the
    /// change does (see [`creates_conversation`]). The store reports what
    /// changed to the list cache.
    async fn change_view(&self, user: Id, peer: &Entity, change: ViewChange) -> Result<()> {
        match self.store.change_view(user, peer.id, change).await? {
            Some(_) => Ok(()),
            None if creates_conversation(change) && peer.kind != ChatType::Group => {
                self.store.open_conversation(user, peer).await?;
                self.store.change_view(user, peer.id, change).await?;
                Ok(())
            }
            None => no_conversation(peer),
        }
    }

    /// Every call naming the caller's own id gets the same answer.
    pub(super) fn check_not_self(&self, user: Id, peer: Id) -> Result<()> {
        if peer == user {
            return Err(Error::invalid("a conversation with yourself is not supported"));
        }
        Ok(())
    }
}

/// A kept list from its rows: the listed ones sorted (see
/// [`sort_newest_first`]) and joined, each row's entry then a slice of the
/// joined bytes; the others after them.
fn join_list(at: Stamp, rows: Vec<CachedRow>, own_name: Option<String>) -> CachedList {
    let (mut listed, unlisted): (Vec<CachedRow>, Vec<CachedRow>) = rows.into_iter().partition(|r| r.listed.is_some());
    let key = |row: &CachedRow| (row.listed.as_ref().map_or(0, |l| l.timestamp_ms), row.peer);
    listed.sort_unstable_by(|a, b| newest_first(key(a), key(b)));
    let (list, slices) = join_entries(listed.iter().filter_map(|r| r.listed.as_ref()).map(|l| &l.entry[..]));
    for (row, slice) in listed.iter_mut().zip(slices) {
        if let Some(listed) = row.listed.as_mut() {
            listed.entry = slice;
        }
    }
    listed.extend(unlisted);
    CachedList { at, rows: listed, own_name, list: Arc::new(list) }
}

/// What a call on a conversation that does not exist gets: for a group, the
/// caller is not a member (`-1`); with a user or bot, there is nothing to
/// change (success).
pub(super) fn no_conversation(peer: &Entity) -> Result<()> {
    match peer.kind {
        ChatType::Group => Err(Error::NotMember(peer.id.to_string())),
        ChatType::User | ChatType::Bot => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use yhconv_proto::ChatType;

    use super::*;
    use crate::domain::event::ChatRef;

    fn row(last_seq: i64, read_seq: i64, mentions: i64) -> ConversationRow {
        ConversationRow {
            peer: Entity {
                id: Id::from_raw(9),
                kind: ChatType::Group,
                name: "Group".into(),
                avatar_url: String::new(),
                avatar_id: 0,
                certification_level: 0,
            },
            remark: None,
            chat: ChatRef(9),
            last_seq,
            read_seq,
            preview: String::new(),
            last_message_ms: 5_000,
            sort_ms: 0,
            do_not_disturb: false,
            hidden_seq: None,
            mention_count: mentions,
            recalled_unread: 0,
            first_mention: (mentions > 0).then(|| MentionRow {
                seq: read_seq + 1,
                mentioner_id: Id::from_raw(1),
                mentioner_name: "a".into(),
            }),
        }
    }

    #[test]
    fn bringing_to_top_and_muting_create_a_conversation() {
        assert!(creates_conversation(ViewChange::Touch { now_ms: 1 }));
        assert!(creates_conversation(ViewChange::DoNotDisturb(false)));
        assert!(!creates_conversation(ViewChange::MarkRead));
        assert!(!creates_conversation(ViewChange::HideAndMarkRead));
    }

    #[test]
    fn no_conversation_is_refused_only_for_groups() {
        let mut peer = row(0, 0, 0).peer;
        assert!(matches!(no_conversation(&peer), Err(Error::NotMember(_))));
        peer.kind = ChatType::User;
        assert!(no_conversation(&peer).is_ok());
        peer.kind = ChatType::Bot;
        assert!(no_conversation(&peer).is_ok());
    }

    #[test]
    fn unread_is_last_minus_read() {
        let v = ConversationView::from_row(row(7, 3, 0));
        assert_eq!((v.unread_count, v.unread_flag(), v.at_flag()), (4, 1, 0));
    }

    #[test]
    fn read_up_to_date_means_no_flags() {
        let v = ConversationView::from_row(row(7, 7, 2));
        assert_eq!((v.unread_count, v.unread_flag(), v.mention_count, v.at_flag()), (0, 0, 0, 0));
        assert!(v.first_mention.is_none());
    }

    #[test]
    fn read_past_last_never_goes_negative() {
        let v = ConversationView::from_row(row(2, 5, 0));
        assert_eq!(v.unread_count, 0);
    }

    #[test]
    fn mentions_set_at() {
        let v = ConversationView::from_row(row(10, 4, 2));
        assert_eq!((v.mention_count, v.at_flag()), (2, 1));
        assert_eq!(v.first_mention.unwrap().seq, 5);
    }

    #[test]
    fn listed_once_active_and_again_after_news_since_remove() {
        let silent = row(0, 0, 0);
        assert!(!is_listed(&silent), "a group nobody wrote in");
        assert!(is_listed(&ConversationRow { sort_ms: 1, ..silent.clone() }), "brought to the top");
        let removed = ConversationRow { hidden_seq: Some(7), ..row(7, 7, 0) };
        assert!(!is_listed(&removed));
        assert!(is_listed(&ConversationRow { last_seq: 8, ..removed }), "a message since the remove");
    }

    #[test]
    fn remark_wins_over_name_and_sort_time_over_older_message() {
        let mut r = row(1, 1, 0);
        r.remark = Some("备注".into());
        r.sort_ms = 9_000;
        let v = ConversationView::from_row(r);
        assert_eq!(v.display_name, "备注");
        assert_eq!(v.timestamp_ms, 9_000);
        assert_eq!(v.timestamp_s, 5);
        let mut r = row(0, 0, 0);
        r.remark = Some(String::new());
        r.last_message_ms = 0;
        r.sort_ms = 12_345;
        let v = ConversationView::from_row(r);
        assert_eq!(v.display_name, "Group");
        assert_eq!(v.timestamp_s, 12);
    }
}
