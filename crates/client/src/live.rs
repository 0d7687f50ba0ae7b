//! [`LiveList`]: a user's conversation list held in memory and kept equal
//! to the server's from the push socket.
//!
//! How it stays exact (against yhconv; see the README, "Protocol additions"):
//! - It opens its socket with [`Client::connect_live_push`], so yhconv sends
//!   `yhconv_list_rows` frames: the new row, as `conversation/list` has it,
//!   whenever a row changes for any reason but a new message (read, mute,
//!   remove, sort-change, rename, remark, membership, edit or recall).
//! - A new message (`push_message`) is applied here with the server's own
//!   rules: it moves the row to the top with the message's time and preview
//!   ([`yhconv_proto::preview`]), and counts as unread unless the user sent
//!   it. A message it cannot apply exactly (a chat it does not hold, one
//!   that mentions the user, an unknown content type) makes it ask for a
//!   [`LiveList::resync`].
//! - [`LiveList::resync`] asks for a delta list (only the rows that differ
//!   from the digests of the rows it holds) and checks the result against
//!   the server's md5, which it recomputes from its own rows.

use std::collections::HashMap;

use md5::{Digest, Md5};
use prost::Message as _;
use yhconv_proto::live::{digest_of, list_order};
use yhconv_proto::pb::{Conversation, Draft, ListRows, PushMsg, RowDigest};
use yhconv_proto::preview::preview;
use yhconv_proto::{ChatType, ContentType};

use crate::{Client, PushEvent, Result};

/// Delta requests [`LiveList::resync`] makes at most before it reads the
/// whole list.
const RESYNC_ATTEMPTS: usize = 3;

/// A user's conversation list, kept current by the pushes it is given.
#[derive(Debug, Clone, Default)]
pub struct LiveList {
    /// The user whose list it is.
    me: String,
    rows: HashMap<String, Conversation>,
    drafts: HashMap<String, String>,
}

/// What [`LiveList::apply`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The list changed (or the event said nothing about it): it is exact.
    Done,
    /// The event changes the list in a way only the server can say: call
    /// [`LiveList::resync`].
    NeedsResync,
}

impl LiveList {
    /// An empty list of user `me` (fill it with [`LiveList::resync`]).
    pub fn new(me: &str) -> Self {
        Self { me: me.to_owned(), ..Self::default() }
    }

    /// The rows in the list's order (newest first, ties by chat id).
    pub fn rows(&self) -> Vec<&Conversation> {
        let mut rows: Vec<&Conversation> = self.rows.values().collect();
        rows.sort_by(|a, b| list_order(a, b));
        rows
    }

    /// The row of `chat_id`, if listed.
    pub fn row(&self, chat_id: &str) -> Option<&Conversation> {
        self.rows.get(chat_id)
    }

    /// The user's draft in `chat_id`, as their last device typed it.
    pub fn draft(&self, chat_id: &str) -> Option<&str> {
        self.drafts.get(chat_id).map(String::as_str)
    }

    /// Unread messages over every row.
    pub fn unread_total(&self) -> u64 {
        self.rows.values().map(|r| r.unread_count).sum()
    }

    /// The md5 the server gives this list: the hex md5 of its rows encoded
    /// in order, each framed as field 2 of `ConversationList`.
    pub fn md5(&self) -> String {
        let mut bytes = Vec::new();
        for row in self.rows() {
            prost::encoding::message::encode(2, row, &mut bytes);
        }
        Md5::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Applies one push.
    pub fn apply(&mut self, event: &PushEvent) -> Applied {
        match event {
            PushEvent::ListRows(rows) => self.apply_rows(rows),
            PushEvent::Draft(draft) => {
                self.apply_draft(draft);
                Applied::Done
            }
            // A recall's or an edit's effect on the row comes as list rows.
            PushEvent::Message(msg) if msg.delete_timestamp > 0 => Applied::Done,
            PushEvent::Message(msg) => self.apply_message(msg),
            PushEvent::Edited(_) | PushEvent::HeartbeatAck { .. } | PushEvent::Other { .. } => Applied::Done,
        }
    }

    /// Applies `yhconv_list_rows`: each row replaces the one it names. A
    /// row's time never goes back, so a row older than the one held was
    /// read before a message this list already applied: that one asks for
    /// a resync instead.
    pub fn apply_rows(&mut self, rows: &ListRows) -> Applied {
        let mut applied = Applied::Done;
        for row in &rows.row {
            match self.rows.get(&row.chat_id) {
                Some(held) if held.timestamp_ms > row.timestamp_ms => applied = Applied::NeedsResync,
                _ => {
                    self.rows.insert(row.chat_id.clone(), row.clone());
                }
            }
        }
        for chat_id in &rows.removed {
            self.rows.remove(chat_id);
        }
        applied
    }

    /// Applies a `draft_input`: it replaces the chat's draft.
    pub fn apply_draft(&mut self, draft: &Draft) {
        match draft.input.is_empty() {
            true => self.drafts.remove(&draft.chat_id),
            false => self.drafts.insert(draft.chat_id.clone(), draft.input.clone()),
        };
    }

    /// Applies a new message as the server does to the row.
    fn apply_message(&mut self, msg: &PushMsg) -> Applied {
        let Some(row) = self.rows.get_mut(&msg.chat_id) else { return Applied::NeedsResync };
        let (Some(content_type), Some(chat_type)) =
            (ContentType::from_code(msg.content_type), ChatType::from_code(msg.chat_type))
        else {
            return Applied::NeedsResync;
        };
        let content = msg.content.clone().unwrap_or_default();
        let sender = msg.sender.clone().unwrap_or_default();
        let mine = sender.chat_id == self.me;
        if !mine && !content.mentioned_id.is_empty() {
            // Whether a mention counts depends on who is a member.
            return Applied::NeedsResync;
        }
        if msg.timestamp <= row.timestamp_ms {
            // Not newer than the row: the row may hold it already (a resync
            // read it before its push came).
            return Applied::NeedsResync;
        }
        let group_sender = (chat_type == ChatType::Group).then_some(sender.name.as_str());
        row.chat_content = preview(content_type, &content, group_sender);
        row.timestamp_ms = row.timestamp_ms.max(msg.timestamp);
        row.timestamp = msg.timestamp / 1000;
        if mine {
            row.unread_count = 0;
            row.mention_count = 0;
            row.unread_message = 0;
            row.at = 0;
            row.at_data = None;
        } else {
            row.unread_count += 1;
            row.unread_message = 1;
        }
        Applied::Done
    }

    /// Brings the list up to the server's: a delta of the rows that differ
    /// from these, checked against the list's md5 (again, up to
    /// [`RESYNC_ATTEMPTS`] times, if pushes crossed it), then the whole
    /// list if it still differs.
    pub async fn resync(&mut self, client: &Client) -> Result<()> {
        for _ in 0..RESYNC_ATTEMPTS {
            let known = self
                .rows
                .values()
                .map(|row| RowDigest { chat_id: row.chat_id.clone(), digest: digest_of(row) })
                .collect();
            let delta = client.conversation_delta(known).await?;
            for row in delta.data {
                self.rows.insert(row.chat_id.clone(), row);
            }
            for chat_id in &delta.removed {
                self.rows.remove(chat_id);
            }
            if self.md5() == delta.md5 {
                return Ok(());
            }
        }
        let list = client.conversation_list(None).await?;
        self.rows = list.data.into_iter().map(|row| (row.chat_id.clone(), row)).collect();
        Ok(())
    }

    /// The bytes of the list as `conversation/list` sends its rows (for
    /// comparing with a fresh one).
    pub fn encoded_rows(&self) -> Vec<Vec<u8>> {
        self.rows().into_iter().map(|row| row.encode_to_vec()).collect()
    }
}

#[cfg(test)]
mod tests {
    use yhconv_proto::pb::{MsgContent, Sender};

    use super::*;

    fn row(id: &str, ts: u64, unread: u64) -> Conversation {
        Conversation {
            chat_id: id.into(),
            chat_type: 2,
            timestamp_ms: ts,
            unread_count: unread,
            unread_message: u64::from(unread > 0),
            ..Default::default()
        }
    }

    fn message(chat: &str, from: &str, text: &str, ts: u64) -> PushMsg {
        PushMsg {
            msg_id: "m".into(),
            sender: Some(Sender { chat_id: from.into(), chat_type: 1, name: "Ann".into(), avatar_url: String::new() }),
            chat_id: chat.into(),
            chat_type: 2,
            content: Some(MsgContent { text: text.into(), ..Default::default() }),
            content_type: 1,
            timestamp: ts,
            ..Default::default()
        }
    }

    #[test]
    fn rows_replace_and_remove() {
        let mut list = LiveList::new("1001");
        assert_eq!(
            list.apply_rows(&ListRows { row: vec![row("7", 5, 1), row("8", 9, 0)], removed: vec![] }),
            Applied::Done
        );
        assert_eq!(list.rows().iter().map(|r| r.chat_id.as_str()).collect::<Vec<_>>(), ["8", "7"]);
        list.apply(&PushEvent::ListRows(ListRows { row: vec![row("7", 5, 0)], removed: vec!["8".into()] }));
        assert_eq!(list.rows().len(), 1);
        assert_eq!(list.unread_total(), 0);
        let stale = ListRows { row: vec![row("7", 4, 3)], removed: vec![] };
        assert_eq!(list.apply_rows(&stale), Applied::NeedsResync, "a row older than the one held");
        assert_eq!(list.unread_total(), 0);
    }

    #[test]
    fn a_message_moves_its_row_up_and_counts_unless_mine() {
        let mut list = LiveList::new("1001");
        list.apply_rows(&ListRows { row: vec![row("7", 5, 0), row("8", 9, 0)], removed: vec![] });
        assert_eq!(list.apply(&PushEvent::Message(message("7", "1002", "hi  there", 20_000))), Applied::Done);
        let top = list.rows()[0].clone();
        assert_eq!((top.chat_id.as_str(), top.unread_count, top.timestamp), ("7", 1, 20));
        assert_eq!(top.chat_content, "Ann: hi there");
        list.apply(&PushEvent::Message(message("7", "1001", "mine", 21_000)));
        assert_eq!(list.row("7").unwrap().unread_count, 0);
        assert_eq!(list.apply(&PushEvent::Message(message("99", "1002", "new chat", 1))), Applied::NeedsResync);
        assert_eq!(list.apply(&PushEvent::Message(message("7", "1002", "old", 21_000))), Applied::NeedsResync);
    }

    #[test]
    fn drafts_replace_and_clear() {
        let mut list = LiveList::new("1001");
        list.apply(&PushEvent::Draft(Draft { chat_id: "7".into(), input: "a".into() }));
        list.apply(&PushEvent::Draft(Draft { chat_id: "7".into(), input: "ab".into() }));
        assert_eq!(list.draft("7"), Some("ab"));
        list.apply(&PushEvent::Draft(Draft { chat_id: "7".into(), input: String::new() }));
        assert_eq!(list.draft("7"), None);
    }
}
