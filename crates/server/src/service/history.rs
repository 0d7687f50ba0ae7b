//! Reading a chat's history: by page (`list-message`), after a sequence
//! number (`list-message-by-seq`), and up to an anchor
//! (`list-message-by-mid-seq`).
//!
//! Rules: a group's history is for its members; a chat with a user or bot
//! that never began has an empty history; `msg_seq` rises by exactly one per
//! message in each chat, so clients count and page by it. A sequence number
//! that is negative (clients send int64 -1) means "unset".

use super::conversation::no_conversation;
use super::msg::resolve_typed;
use super::Service;
use crate::domain::error::{Error, Result};
use crate::domain::ids::Id;
use crate::domain::model::{SeqWindow, StoredMessage};

/// Messages per `list-message` page when the client asks for 0.
pub const DEFAULT_PAGE: u64 = 20;
/// Most messages per page; larger requests are capped.
pub const MAX_PAGE: u64 = 500;
/// Messages per `list-message-by-seq` answer.
pub const BY_SEQ_PAGE: u32 = 31;

/// Which part of a chat's history a call asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryQuery<'a> {
    /// The newest `count` messages (0: [`DEFAULT_PAGE`]), or those before
    /// `msg_id`; newest first.
    Before { msg_id: Option<&'a str>, count: u64 },
    /// With no `seq` (or 0): the newest [`BY_SEQ_PAGE`]; with `seq` S: the
    /// first [`BY_SEQ_PAGE`] after S. Oldest first.
    AfterSeq { seq: Option<i64> },
    /// The anchor (`msg_id`, else the message at `seq`) and up to `count`
    /// (0: [`DEFAULT_PAGE`]) before it, oldest first: the anchor is last.
    UpTo { msg_id: Option<&'a str>, seq: Option<i64>, count: u64 },
}

/// A page size as asked (0: the default), capped at [`MAX_PAGE`].
fn page(count: u64) -> u32 {
    match count {
        0 => DEFAULT_PAGE as u32,
        n => n.min(MAX_PAGE) as u32,
    }
}

/// A sequence number as a client sent it: `None` when unset (0 or negative).
pub fn given_seq(seq: i64) -> Option<i64> {
    (seq > 0).then_some(seq)
}

/// A count as a client sent it: values of 2^63 and above (an int64 -1 read
/// as unsigned) mean "unset", that is 0.
pub fn given_count(count: u64) -> u64 {
    if count >= 1 << 63 {
        0
    } else {
        count
    }
}

impl Service {
    /// The part of a conversation's history `query` names.
    pub async fn history(
        &self,
        user: Id,
        chat_id: &str,
        chat_type: u64,
        query: HistoryQuery<'_>,
    ) -> Result<Vec<StoredMessage>> {
        let id = Id::parse(chat_id, "chat_id")?;
        self.check_not_self(user, id)?;
        let (peer, position) = resolve_typed(self, user, chat_id, chat_type).await?;
        let Some(position) = position else {
            return no_conversation(&peer).map(|()| Vec::new());
        };
        let chat = position.chat;
        let unknown = |what: String| Error::invalid(format!("unknown {what} in this chat"));
        let newest = |after, up_to, limit| SeqWindow { after, up_to, limit, newest_first: true };
        match query {
            HistoryQuery::Before { msg_id, count } => {
                let up_to = match msg_id.map(str::trim).filter(|m| !m.is_empty()) {
                    None => i64::MAX,
                    Some(msg_id) => {
                        let seq = self.store.message_seq(chat, msg_id).await?;
                        seq.ok_or_else(|| unknown(format!("msg_id {msg_id:?}")))? - 1
                    }
                };
                self.store.messages(chat, newest(0, up_to, page(count))).await
            }
            HistoryQuery::AfterSeq { seq: None } => {
                let mut newest = self.store.messages(chat, newest(0, i64::MAX, BY_SEQ_PAGE)).await?;
                newest.reverse();
                Ok(newest)
            }
            HistoryQuery::AfterSeq { seq: Some(after) } => {
                let window = SeqWindow { after, up_to: i64::MAX, limit: BY_SEQ_PAGE, newest_first: false };
                self.store.messages(chat, window).await
            }
            HistoryQuery::UpTo { msg_id, seq, count } => {
                let anchor = match (msg_id.map(str::trim).filter(|m| !m.is_empty()), seq) {
                    (Some(msg_id), _) => self
                        .store
                        .message_seq(chat, msg_id)
                        .await?
                        .ok_or_else(|| unknown(format!("msg_id {msg_id:?}")))?,
                    (None, Some(seq)) if seq <= position.last_seq => seq,
                    (None, Some(seq)) => return Err(unknown(format!("msg_seq {seq}"))),
                    (None, None) => return Err(Error::invalid("msg_id or msg_seq is required")),
                };
                let mut before = self.store.messages(chat, newest(0, anchor, page(count).saturating_add(1))).await?;
                if before.first().map(|m| m.seq) != Some(anchor) {
                    return Err(unknown(format!("msg_seq {anchor}")));
                }
                before.reverse();
                Ok(before)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_seqs() {
        assert_eq!((page(0), page(7), page(10_000)), (20, 7, 500));
        assert_eq!((given_seq(0), given_seq(-1), given_seq(5)), (None, None, Some(5)));
        assert_eq!((given_count(u64::MAX), given_count(9)), (0, 9));
    }
}
