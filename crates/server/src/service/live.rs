//! Live lists: every change to a user's list that is not a new message
//! (mark-read, mute, pin order, remove, sort-change, rename, remark,
//! membership, edit or recall of a row's message) reaches that user's
//! sockets on this instance that asked for it, as one `yhconv_list_rows`
//! frame carrying the rows as `conversation/list` now has them, or their
//! removal. And the delta answer of `conversation/list`: only the rows that
//! differ from what the client says it holds.
//!
//! Where the changes come from, on both engines and every instance: the
//! store's list facts (after each commit; for PostgreSQL through every
//! instance's feed) name the users whose rows changed, and the hub names the
//! receivers of an edit or a recall. Each becomes a [`ListHint`]; one task
//! takes the hints that arrived together, reads each named user's list (the
//! list cache makes that a patch of the rows that changed) and compares it
//! with the rows it last sent that user (kept only while the user has a
//! socket here that asked), so a user gets exactly the rows that changed
//! and nothing goes to anyone else. Facts about new messages are skipped:
//! clients learn of those from `push_message`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use prost::encoding::{decode_varint, encode_key, encode_varint, WireType};
use yhconv_proto::frames::cmd;
use yhconv_proto::live::row_digest;
use yhconv_proto::pb::{Info, RowDigest, Status};

use super::list_cache::{EncodedList, ListCache};
use super::Service;
use crate::domain::error::Result;
use crate::domain::ids::Id;
use crate::domain::list_change::{ListChange, ListFact, ListSink};
use crate::domain::store::Store;
use crate::push::{Hub, ListHint, ListHints, SocketOrigin};

/// How long the live lists wait after a hint for the hints that come with
/// it (a write reports its facts once or twice; a group edit names many
/// receivers), so that each user's list is read once for all of them.
const GATHER: Duration = Duration::from_millis(5);

/// The rows last sent to each user who has a socket here that asked for
/// list rows: the entry bytes (`Conversation`) by peer.
#[derive(Default)]
pub struct LiveLists {
    sent: Mutex<HashMap<Id, HashMap<Id, Bytes>>>,
    hints: std::sync::OnceLock<Arc<ListHints>>,
}

impl LiveLists {
    fn hint(&self, hint: ListHint) {
        if let Some(hints) = self.hints.get() {
            hints.send(hint);
        }
    }
}

/// Turns list facts into hints: the users whose own rows changed, or
/// everyone for identities; never the facts of messages in a chat.
struct FactHints(Arc<ListHints>);

impl ListSink for FactHints {
    fn changed(&self, change: &ListChange) {
        for fact in &change.facts {
            let hint = match fact {
                ListFact::View { user, .. } | ListFact::Conversations(user) => ListHint::User(*user),
                // A rename, new avatar or dismissal: whoever shows that peer
                // (each live user's list is compared with what they were sent).
                ListFact::Identities | ListFact::Peer(_) => ListHint::Everyone,
                // New messages are pushed as such; edits and recalls come
                // from the hub, which knows their receivers.
                ListFact::Chat(_) => continue,
                ListFact::Revoked(_) => continue,
            };
            self.0.send(hint);
        }
    }

    fn resync(&self, _clock: i64) {
        // Changes may have been missed while the feed was down.
        self.0.send(ListHint::Everyone);
    }

    fn lost(&self) {}
}

/// Starts the live lists of a service being built; the hub's hints reach
/// them, and the store's list changes must reach the sink returned (after
/// `cache`, which the live lists read). The task that serves them runs
/// until the store or the hub is gone.
pub(super) fn start(
    store: &Arc<dyn Store>,
    hub: &Arc<Hub>,
    cache: Option<&Arc<ListCache>>,
) -> (Arc<LiveLists>, Arc<dyn ListSink>) {
    let live = Arc::new(LiveLists::default());
    let hints = Arc::new(ListHints::default());
    let _ = live.hints.set(Arc::clone(&hints));
    hub.send_list_hints(Arc::clone(&hints));
    let facts: Arc<dyn ListSink> = Arc::new(FactHints(Arc::clone(&hints)));
    let parts = Parts {
        store: Arc::downgrade(store),
        hub: Arc::downgrade(hub),
        cache: cache.map(Arc::downgrade),
        live: Arc::downgrade(&live),
        // Its services send nothing: one that keeps nothing, made once.
        send_targets: Arc::new(super::send_targets::SendTargets::new(1)),
    };
    tokio::spawn(serve(parts, hints));
    (live, facts)
}

/// What the live lists' task reads lists with, held weakly so that the task
/// does not keep a stopped server alive.
struct Parts {
    store: Weak<dyn Store>,
    hub: Weak<Hub>,
    cache: Option<Weak<ListCache>>,
    live: Weak<LiveLists>,
    send_targets: Arc<super::send_targets::SendTargets>,
}

impl Parts {
    /// A service to read lists with, while the server still runs.
    fn service(&self) -> Option<Service> {
        let cache = match &self.cache {
            Some(cache) => Some(cache.upgrade()?),
            None => None,
        };
        let store = self.store.upgrade()?;
        Some(Service {
            clock: Arc::new(super::clock_reads::ClockReads::new(Arc::clone(&store))),
            store,
            hub: self.hub.upgrade()?,
            lists: cache,
            tokens: None,
            order_locks: Arc::from(Vec::new()),
            send_targets: Arc::clone(&self.send_targets),
            live: self.live.upgrade()?,
            purges: Arc::default(),
        })
    }
}

/// The live lists' task: gathers the hints that arrive together and sends
/// each named user the rows of their list that changed.
async fn serve(parts: Parts, hints: Arc<ListHints>) {
    loop {
        // Gathers what comes together: wait for the first hint, then a
        // moment for the rest.
        let (mut users, mut everyone) = hints.take().await;
        tokio::time::sleep(GATHER).await;
        if !hints.is_empty() {
            let (more, all) = hints.take().await;
            users.extend(more);
            everyone |= all;
        }
        let Some(service) = parts.service() else { return };
        if everyone {
            users.extend(service.hub.list_row_users());
        }
        for user in users {
            if let Err(e) = service.push_list_rows(user).await {
                tracing::error!(error = %e, %user, "live list: cannot read the list");
            }
        }
    }
}

impl Service {
    /// A socket of `user` asked for list rows at login: from now on its
    /// rows are compared with what the list is now (unless another socket
    /// of the user here asked before). Call before answering the login, so
    /// that a list the client reads after the answer misses no change.
    pub async fn live_login(&self, user: Id) -> Result<()> {
        if self.live.sent.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&user) {
            return Ok(());
        }
        let list = self.conversation_list(user).await?;
        let rows = split_entries(&list.entries).into_iter().collect();
        self.live.sent.lock().unwrap_or_else(|p| p.into_inner()).entry(user).or_insert(rows);
        Ok(())
    }

    /// A socket of `user` closed: forget their rows once no socket of
    /// theirs here asks for them.
    pub fn live_logout(&self, user: Id) {
        self.live.hint(ListHint::User(user));
    }

    /// Sends `user`'s sockets that asked for them the rows of their list
    /// that changed since the last time, in one frame.
    async fn push_list_rows(&self, user: Id) -> Result<()> {
        if !self.hub.wants_list_rows(user) {
            self.live.sent.lock().unwrap_or_else(|p| p.into_inner()).remove(&user);
            return Ok(());
        }
        let list = self.conversation_list(user).await?;
        let now: HashMap<Id, Bytes> = split_entries(&list.entries).into_iter().collect();
        let frame = {
            let mut sent = self.live.sent.lock().unwrap_or_else(|p| p.into_inner());
            // No rows noted at login (its read failed): every row is news.
            let before = sent.entry(user).or_default();
            let changed: Vec<&Bytes> =
                now.iter().filter(|(peer, row)| before.get(peer) != Some(row)).map(|(_, row)| row).collect();
            let removed: Vec<Id> = before.keys().filter(|peer| !now.contains_key(peer)).copied().collect();
            if changed.is_empty() && removed.is_empty() {
                return Ok(());
            }
            let frame = encode_list_rows(&changed, &removed);
            *before = now;
            frame
        };
        self.hub.send_to_user(user, frame, true, SocketOrigin::NONE);
        Ok(())
    }

    /// The caller's list as a delta against the rows the client holds
    /// (`known`, by digest): only the rows that differ or are new, the known
    /// ones no longer listed, and the whole list's md5; an answer with no
    /// rows when `md5` is the list's.
    pub async fn conversation_delta(
        &self,
        user: Id,
        status: Status,
        md5: &str,
        known: &[RowDigest],
    ) -> Result<Vec<u8>> {
        let list = self.conversation_list(user).await?;
        Ok(encode_delta(status, &list, md5, known))
    }
}

/// A list's entries (each framed as field 2 of `ConversationList`) as
/// (peer, the `Conversation` bytes), in list order.
pub fn split_entries(entries: &Bytes) -> Vec<(Id, Bytes)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < entries.len() {
        let mut rest = &entries[at + 1..];
        let before = rest.len();
        let Ok(len) = decode_varint(&mut rest) else { break };
        let start = at + 1 + (before - rest.len());
        let end = start + len as usize;
        let row = entries.slice(start..end);
        out.push((chat_id_of(&row), row));
        at = end;
    }
    out
}

/// Field 1 (`chat_id`) of an encoded `Conversation`: prost writes it
/// first, and every row has one.
fn chat_id_of(row: &[u8]) -> Id {
    let mut rest = row.get(1..).unwrap_or_default();
    let len = decode_varint(&mut rest).unwrap_or(0) as usize;
    let digits = std::str::from_utf8(rest.get(..len).unwrap_or_default()).unwrap_or_default();
    Id::from_raw(digits.parse().unwrap_or(0))
}

/// A `yhconv_list_rows` frame: `info` (field 1) and the rows (field 3);
/// field 2 stays empty (see `ListRowsFrame`).
pub fn encode_list_rows(changed: &[&Bytes], removed: &[Id]) -> Bytes {
    let info = Info { seq: String::new(), cmd: cmd::LIST_ROWS.into() };
    let mut rows = BytesMut::new();
    for row in changed {
        encode_key(1, WireType::LengthDelimited, &mut rows);
        encode_varint(row.len() as u64, &mut rows);
        rows.extend_from_slice(row);
    }
    for peer in removed {
        prost::encoding::string::encode(2, &peer.to_string(), &mut rows);
    }
    let mut out = BytesMut::with_capacity(rows.len() + 32);
    prost::encoding::message::encode(1, &info, &mut out);
    encode_key(3, WireType::LengthDelimited, &mut out);
    encode_varint(rows.len() as u64, &mut out);
    out.extend_from_slice(&rows);
    out.freeze()
}

/// A delta `ConversationList` answer (see [`Service::conversation_delta`]).
pub fn encode_delta(status: Status, list: &EncodedList, md5: &str, known: &[RowDigest]) -> Vec<u8> {
    let mut out = Vec::new();
    prost::encoding::message::encode(1, &status, &mut out);
    let mut total = 0u64;
    let mut removed: Vec<&str> = Vec::new();
    if md5.is_empty() || !md5.eq_ignore_ascii_case(&list.md5) {
        let rows = split_entries(&list.entries);
        let known_digests: HashMap<&str, u64> = known.iter().map(|k| (k.chat_id.trim(), k.digest)).collect();
        let listed: HashSet<String> = rows.iter().map(|(peer, _)| peer.to_string()).collect();
        for (peer, row) in &rows {
            if known_digests.get(peer.to_string().as_str()) != Some(&row_digest(row)) {
                encode_key(2, WireType::LengthDelimited, &mut out);
                encode_varint(row.len() as u64, &mut out);
                out.extend_from_slice(row);
                total += 1;
            }
        }
        removed = known.iter().map(|k| k.chat_id.trim()).filter(|id| !listed.contains(*id)).collect();
        removed.sort_unstable();
        removed.dedup();
    }
    if total != 0 {
        prost::encoding::uint64::encode(3, &total, &mut out);
    }
    prost::encoding::string::encode(4, &list.md5, &mut out);
    for id in removed {
        prost::encoding::string::encode(100, &id.to_owned(), &mut out);
    }
    prost::encoding::bool::encode(101, &true, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use prost::Message as _;
    use yhconv_proto::pb::{Conversation, ConversationList, ListRowsFrame};

    use super::*;
    use crate::service::list_wire::encode_entries;

    fn row(id: &str, unread: u64) -> Conversation {
        Conversation { chat_id: id.into(), name: "名字".into(), unread_count: unread, ..Default::default() }
    }

    fn encoded(rows: &[Conversation]) -> EncodedList {
        let (entries, md5) = encode_entries(rows);
        EncodedList { entries: entries.into(), md5, total: rows.len() as u64 }
    }

    #[test]
    fn entries_split_into_their_rows() {
        let rows: Vec<Conversation> = (1..=300).map(|i| row(&i.to_string(), i)).collect();
        let split = split_entries(&encoded(&rows).entries);
        assert_eq!(split.len(), 300);
        for ((peer, bytes), row) in split.iter().zip(&rows) {
            assert_eq!(peer.to_string(), row.chat_id);
            assert_eq!(&Conversation::decode(bytes.as_ref()).unwrap(), row);
        }
    }

    #[test]
    fn a_delta_has_only_what_differs() {
        let list = encoded(&[row("7", 1), row("8", 0), row("9", 2)]);
        let digest = |r: &Conversation| row_digest(&r.encode_to_vec());
        let known = vec![
            RowDigest { chat_id: "7".into(), digest: digest(&row("7", 1)) },
            RowDigest { chat_id: "8".into(), digest: digest(&row("8", 5)) },
            RowDigest { chat_id: "10".into(), digest: 1 },
        ];
        let answer = ConversationList::decode(&encode_delta(Status::ok(1), &list, "", &known)[..]).unwrap();
        assert_eq!(answer.data, vec![row("8", 0), row("9", 2)]);
        assert_eq!((answer.total, answer.removed, answer.delta), (2, vec!["10".to_owned()], true));
        assert_eq!(answer.md5, list.md5);
        let same = ConversationList::decode(&encode_delta(Status::ok(1), &list, &list.md5, &known)[..]).unwrap();
        assert!(same.data.is_empty() && same.removed.is_empty() && same.delta);
    }

    #[test]
    fn a_rows_frame_decodes_and_has_no_field_2() {
        let rows = [row("7", 0), row("8", 3)];
        let bytes: Vec<Bytes> = rows.iter().map(|r| Bytes::from(r.encode_to_vec())).collect();
        let frame = encode_list_rows(&bytes.iter().collect::<Vec<_>>(), &[Id::from_raw(9)]);
        let decoded = ListRowsFrame::decode(frame.as_ref()).unwrap();
        assert_eq!(decoded.info.unwrap().cmd, "yhconv_list_rows");
        let payload = decoded.rows.unwrap();
        assert_eq!(payload.row, rows);
        assert_eq!(payload.removed, vec!["9".to_owned()]);
        let plain = yhconv_proto::pb::WsFrame::decode(frame.as_ref()).unwrap();
        assert!(plain.data.is_none(), "a push_message decoder finds no data in it");
    }
}
