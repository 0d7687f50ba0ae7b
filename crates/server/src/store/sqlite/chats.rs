//! Conversations and messages: the hot half of the SQLite store.

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use yhconv_proto::ChatType;

use super::identities::chat_row;
use super::{entity_from, entity_select, EntityAt, Outbox, ENTITY, SENDER};
use crate::domain::error::{Error, Result};
use crate::domain::event::{ChatRef, Event, MessageKey};
use crate::domain::ids::Id;
use crate::domain::list_change::ListFact;
use crate::domain::model::{
    AddressedMessage, Appended, ConversationRow, Entity, MentionRow, NewMessage, ReadPosition, SendFacts, SeqWindow,
    StoredMessage, ViewChange,
};
use crate::store::columns::mention_target_id;

/// Every conversation of `user` (unordered and unfiltered), in two indexed
/// passes over its member rows: one for the conversations, one for every
/// unread mention of the user. No temporary b-trees, no per-row queries.
pub(super) fn conversations(conn: &Connection, user: Id) -> Result<Vec<ConversationRow>> {
    // One read transaction for both passes: one snapshot, one WAL read lock.
    let tx = conn.unchecked_transaction()?;
    let rows = conversations_in(&tx, user, None)?;
    tx.commit()?;
    Ok(rows)
}

/// The user's conversations with `peers` (those that exist), read as
/// [`conversations`] reads them, in one snapshot: a point read per peer.
pub(super) fn conversations_with(conn: &Connection, user: Id, peers: &[Id]) -> Result<Vec<ConversationRow>> {
    let tx = conn.unchecked_transaction()?;
    let mut rows = Vec::with_capacity(peers.len());
    for &peer in peers {
        rows.extend(conversations_in(&tx, user, Some(peer))?);
    }
    tx.commit()?;
    Ok(rows)
}

/// The user's conversations, or only the one with `peer`.
fn conversations_in(conn: &Connection, user: Id, peer: Option<Id>) -> Result<Vec<ConversationRow>> {
    // The same statements either way; one peer adds its key to each, so
    // each pass is a point lookup instead of a pass over every member row.
    let (only_peer, peer_param) = match peer {
        Some(peer) => ("AND m.peer_id = ?2", peer.get()),
        None => ("AND ?2 = 0", 0),
    };
    let sql = format!(
        "SELECT {}, NULLIF(r.remark, '') AS remark, c.id AS chat_id, c.last_seq AS last_seq, c.last_preview AS last_preview, \
                c.last_message_ms AS last_message_ms, m.read_seq AS read_seq, m.sort_ms AS sort_ms, m.dnd AS dnd, \
                m.hidden_seq AS hidden_seq, c.max_recalled_seq AS max_recalled_seq \
         FROM member m \
         JOIN chat c ON c.id = m.chat_id \
         JOIN entity e ON e.id = m.peer_id \
         LEFT JOIN remark r ON r.user_id = m.user_id AND r.target_id = m.peer_id \
         WHERE m.user_id = ?1 AND e.dismissed_ms = 0 {only_peer}",
        entity_select("e", &ENTITY)
    );
    let mut list = conn.prepare_cached(&sql)?;
    // Columns by name, looked up once for the statement rather than per row.
    let peer_at = EntityAt::resolve(&list, &ENTITY)?;
    let col = |name: &str| list.column_index(name);
    let [chat_id, remark, last_seq, preview, last_message_ms, read_seq, sort_ms, dnd, hidden_seq, max_recalled] = [
        col("chat_id")?,
        col("remark")?,
        col("last_seq")?,
        col("last_preview")?,
        col("last_message_ms")?,
        col("read_seq")?,
        col("sort_ms")?,
        col("dnd")?,
        col("hidden_seq")?,
        col("max_recalled_seq")?,
    ];
    let mut out = Vec::new();
    let mut chat_ids = Vec::new();
    let mut recalled_unread = false;
    let mut rows = list.query([user.get(), peer_param])?;
    while let Some(row) = rows.next()? {
        let chat = row.get::<_, i64>(chat_id)?;
        chat_ids.push(chat);
        recalled_unread |= row.get::<_, i64>(max_recalled)? > row.get::<_, i64>(read_seq)?;
        out.push(ConversationRow {
            peer: peer_at.read(row)?,
            chat: ChatRef(chat),
            remark: row.get(remark)?,
            last_seq: row.get(last_seq)?,
            preview: row.get(preview)?,
            last_message_ms: row.get(last_message_ms)?,
            read_seq: row.get(read_seq)?,
            sort_ms: row.get(sort_ms)?,
            do_not_disturb: row.get::<_, i64>(dnd)? != 0,
            hidden_seq: row.get(hidden_seq)?,
            mention_count: 0,
            first_mention: None,
            recalled_unread: 0,
        });
    }
    if out.iter().any(|c| c.last_seq > c.read_seq) {
        let mut mentions = conn.prepare_cached(&format!(
            "SELECT n.chat_id AS chat_id, n.seq AS seq, n.mentioner_id AS mentioner_id, \
                    coalesce(e.name, '') AS mentioner_name \
             FROM member m \
             JOIN chat c ON c.id = m.chat_id \
             JOIN mention n ON n.chat_id = m.chat_id AND n.target_id IN (m.user_id, 0) AND n.seq > m.read_seq \
             LEFT JOIN entity e ON e.id = n.mentioner_id \
             WHERE m.user_id = ?1 AND c.last_seq > m.read_seq {only_peer}"
        ))?;
        let found = mentions.query_map([user.get(), peer_param], |r| {
            Ok((
                r.get::<_, i64>("chat_id")?,
                MentionRow {
                    seq: r.get("seq")?,
                    mentioner_id: Id::from_raw(r.get("mentioner_id")?),
                    mentioner_name: r.get("mentioner_name")?,
                },
            ))
        })?;
        let found = found.collect::<rusqlite::Result<Vec<_>>>()?;
        attach_mentions(&mut out, &chat_ids, found);
    }
    if recalled_unread {
        // Recalled messages the user has not read count as read: found by
        // the partial index over recalled messages, only in the chats whose
        // latest recall is above the user's position (a handful at most).
        let mut recalled = conn.prepare_cached(&format!(
            "SELECT m.chat_id AS chat_id FROM member m \
             JOIN chat c ON c.id = m.chat_id \
             JOIN message g ON g.chat_id = m.chat_id AND g.seq > m.read_seq AND g.recall_ms > 0 \
             WHERE m.user_id = ?1 AND c.max_recalled_seq > m.read_seq {only_peer}"
        ))?;
        let mut by_chat: std::collections::HashMap<i64, i64> = std::collections::HashMap::new();
        for chat in recalled.query_map([user.get(), peer_param], |r| r.get::<_, i64>("chat_id"))? {
            *by_chat.entry(chat?).or_default() += 1;
        }
        if !by_chat.is_empty() {
            for (row, chat) in out.iter_mut().zip(&chat_ids) {
                row.recalled_unread = by_chat.get(chat).copied().unwrap_or(0);
            }
        }
    }
    Ok(out)
}

/// Adds each chat's unread mentions to its row: how many messages mention
/// the user (a message naming the user and `all` counts once), and the
/// earliest of them.
fn attach_mentions(rows: &mut [ConversationRow], chat_ids: &[i64], mut found: Vec<(i64, MentionRow)>) {
    if found.is_empty() {
        return;
    }
    found.sort_unstable_by_key(|(chat, m)| (*chat, m.seq));
    found.dedup_by_key(|(chat, m)| (*chat, m.seq));
    let mut by_chat: std::collections::HashMap<i64, (i64, MentionRow)> = std::collections::HashMap::new();
    for (chat, mention) in found {
        by_chat.entry(chat).and_modify(|(count, _)| *count += 1).or_insert((1, mention));
    }
    for (row, chat) in rows.iter_mut().zip(chat_ids) {
        if let Some((count, first)) = by_chat.remove(chat) {
            row.mention_count = count;
            row.first_mention = Some(first);
        }
    }
}

/// The chat row of the user's conversation with `peer`, if it exists.
fn member_chat(conn: &Connection, user: Id, peer: Id) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT m.chat_id AS chat_id FROM member m JOIN entity e ON e.id = m.peer_id \
             WHERE m.user_id = ?1 AND m.peer_id = ?2 AND e.dismissed_ms = 0",
        )?
        .query_row([user.get(), peer.get()], |r| r.get("chat_id"))
        .optional()?)
}

/// The conversation between `user` and a user or bot `peer`, created with
/// its member rows if needed.
pub(super) fn open_conversation(tx: &Transaction<'_>, outbox: &mut Outbox, user: Id, peer: &Entity) -> Result<ChatRef> {
    if let Some(chat_id) = member_chat(tx, user, peer.id)? {
        return Ok(ChatRef(chat_id));
    }
    let mut add_member = tx.prepare_cached(
        "INSERT INTO member (user_id, peer_id, chat_id, read_seq) SELECT ?1, ?2, ?3, last_seq FROM chat WHERE id = ?3 \
         ON CONFLICT (user_id, peer_id) DO NOTHING",
    )?;
    let chat_id = match peer.kind {
        ChatType::User => {
            let (a, b) = if user < peer.id { (user, peer.id) } else { (peer.id, user) };
            let chat_id = chat_row(tx, ChatType::User, a.get(), b.get())?;
            if add_member.execute(params![peer.id.get(), user.get(), chat_id])? > 0 {
                outbox.list(ListFact::Conversations(peer.id));
            }
            chat_id
        }
        ChatType::Bot => chat_row(tx, ChatType::Bot, user.get(), peer.id.get())?,
        ChatType::Group => return Err(Error::Internal(anyhow::anyhow!("open_conversation is for users and bots"))),
    };
    if add_member.execute(params![user.get(), peer.id.get(), chat_id])? > 0 {
        outbox.list(ListFact::Conversations(user));
    }
    Ok(ChatRef(chat_id))
}

/// The entity `peer` names, and the user's position in their conversation
/// with it if there is one.
pub(super) fn read_position(conn: &Connection, user: Id, peer: Id) -> Result<Option<(Entity, Option<ReadPosition>)>> {
    let sql = format!(
        "SELECT {}, m.chat_id AS chat_id, m.read_seq AS read_seq, m.gag_until_ms AS gag_until_ms, \
         c.last_seq AS last_seq \
         FROM entity e \
         LEFT JOIN member m ON m.user_id = ?1 AND m.peer_id = e.id AND e.dismissed_ms = 0 \
         LEFT JOIN chat c ON c.id = m.chat_id \
         WHERE e.id = ?2",
        entity_select("e", &ENTITY)
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([user.get(), peer.get()], |r| {
            let position = match (r.get("chat_id")?, r.get("read_seq")?, r.get("last_seq")?, r.get("gag_until_ms")?) {
                (Some(chat), Some(read_seq), Some(last_seq), Some(gag_until_ms)) => {
                    Some(ReadPosition { chat: ChatRef(chat), read_seq, last_seq, gag_until_ms })
                }
                _ => None,
            };
            Ok((entity_from(r, &ENTITY)?, position))
        })
        .optional()?)
}

/// Applies one [`ViewChange`] to the user's member row for `peer`.
pub(super) fn change_view(
    tx: &Transaction<'_>,
    outbox: &mut Outbox,
    user: Id,
    peer: Id,
    change: ViewChange,
) -> Result<Option<bool>> {
    if member_chat(tx, user, peer)?.is_none() {
        return Ok(None);
    }
    let fact = ListFact::View { user, peer };
    let (user, peer) = (user.get(), peer.get());
    let changed = match change {
        ViewChange::MarkRead => tx
            .prepare_cached(
                "UPDATE member SET read_seq = c.last_seq FROM chat c \
                 WHERE c.id = member.chat_id AND member.user_id = ?1 AND member.peer_id = ?2 \
                   AND member.read_seq < c.last_seq",
            )?
            .execute(params![user, peer])?,
        ViewChange::HideAndMarkRead => tx
            .prepare_cached(
                "UPDATE member SET read_seq = c.last_seq, hidden_seq = c.last_seq FROM chat c \
                 WHERE c.id = member.chat_id AND member.user_id = ?1 AND member.peer_id = ?2",
            )?
            .execute(params![user, peer])?,
        ViewChange::Touch { now_ms } => tx
            .prepare_cached("UPDATE member SET sort_ms = ?3, hidden_seq = NULL WHERE user_id = ?1 AND peer_id = ?2")?
            .execute(params![user, peer, now_ms])?,
        ViewChange::DoNotDisturb(on) => tx
            .prepare_cached("UPDATE member SET dnd = ?3 WHERE user_id = ?1 AND peer_id = ?2")?
            .execute(params![user, peer, on as i64])?,
    };
    if changed > 0 {
        outbox.list(fact);
    }
    Ok(Some(changed > 0))
}

/// Stores one message: O(1 + mentions) rows touched, whatever the chat size.
pub(super) fn append_message(
    tx: &Transaction<'_>,
    outbox: &mut Outbox,
    chat: ChatRef,
    msg: NewMessage,
) -> Result<Appended> {
    if !send_facts_hold(tx, chat, &msg)? {
        return Ok(Appended::Stale);
    }
    let earlier = tx
        .prepare_cached("SELECT seq, sent_ms FROM message WHERE sender_id = ?1 AND msg_id = ?2")?
        .query_row(params![msg.sender.get(), msg.msg_id], |r| Ok((r.get("seq")?, r.get("sent_ms")?)))
        .optional()?;
    if let Some((seq, sent_ms)) = earlier {
        return Ok(Appended::Retry { seq, sent_ms });
    }
    let taken = tx
        .prepare_cached("SELECT 1 FROM message WHERE chat_id = ?1 AND msg_id = ?2")?
        .exists(params![chat.0, msg.msg_id])?;
    if taken {
        return Ok(Appended::IdTaken);
    }
    let seq: i64 = tx
        .prepare_cached(
            "UPDATE chat SET last_seq = last_seq + 1, last_preview = ?2, last_sender_id = ?3, last_message_ms = ?4 \
             WHERE id = ?1 RETURNING last_seq",
        )?
        .query_row(params![chat.0, msg.preview, msg.sender.get(), msg.sent_ms], |r| r.get("last_seq"))?;
    tx.prepare_cached(
        "INSERT INTO message (chat_id, seq, msg_id, sender_id, content_type, content, quote_msg_id, sent_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        chat.0,
        seq,
        msg.msg_id,
        msg.sender.get(),
        msg.content_type.code() as i64,
        msg.content,
        msg.quote_msg_id,
        msg.sent_ms
    ])?;
    if msg.read_by_sender {
        tx.prepare_cached("UPDATE member SET read_seq = max(read_seq, ?3) WHERE chat_id = ?1 AND user_id = ?2")?
            .execute(params![chat.0, msg.sender.get(), seq])?;
    }
    let mut mention = tx.prepare_cached(
        "INSERT INTO mention (chat_id, target_id, seq, mentioner_id) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
    )?;
    for target in &msg.mentions {
        mention.execute(params![chat.0, mention_target_id(target), seq, msg.sender.get()])?;
    }
    outbox.push(Event::Message(MessageKey { chat, seq }));
    outbox.list(ListFact::Chat(chat));
    super::drafts::clear_draft(tx, outbox, msg.sender, msg.sender_peer)?;
    Ok(Appended::New { seq })
}

/// Whether the [`SendFacts`] a message was decided on still hold: the
/// sender's member row in the chat, its peer not a dismissed group, with
/// that gag, and the sender named so when the preview names them.
fn send_facts_hold(tx: &Transaction<'_>, chat: ChatRef, msg: &NewMessage) -> Result<bool> {
    let SendFacts { gag_until_ms, sender_name } = &msg.facts;
    let member = tx
        .prepare_cached(
            "SELECT 1 FROM member m JOIN entity e ON e.id = m.peer_id \
             WHERE m.chat_id = ?1 AND m.user_id = ?2 AND e.dismissed_ms = 0 AND m.gag_until_ms = ?3",
        )?
        .exists(params![chat.0, msg.sender.get(), gag_until_ms])?;
    let named = match sender_name {
        None => true,
        Some(name) => tx
            .prepare_cached("SELECT 1 FROM entity WHERE id = ?1 AND name = ?2")?
            .exists(params![msg.sender.get(), name])?,
    };
    Ok(member && named)
}

/// The columns of a stored message, with its sender prefixed `s_`.
fn message_select() -> String {
    format!(
        "{}, m.msg_id AS msg_id, m.seq AS seq, m.content_type AS content_type, m.content AS content, \
         m.quote_msg_id AS quote_msg_id, m.sent_ms AS sent_ms, m.edit_ms AS edit_ms, m.recall_ms AS recall_ms",
        entity_select("s", &SENDER)
    )
}

fn message_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredMessage> {
    Ok(StoredMessage {
        sender: entity_from(r, &SENDER)?,
        msg_id: r.get("msg_id")?,
        seq: r.get("seq")?,
        content_type: r.get("content_type")?,
        content: r.get("content")?,
        quote_msg_id: r.get("quote_msg_id")?,
        sent_ms: r.get("sent_ms")?,
        edit_ms: r.get("edit_ms")?,
        recall_ms: r.get("recall_ms")?,
    })
}

/// The messages of one chat in a window of sequence numbers.
pub(super) fn messages(conn: &Connection, chat: ChatRef, window: SeqWindow) -> Result<Vec<StoredMessage>> {
    let order = if window.newest_first { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT {} FROM message m JOIN entity s ON s.id = m.sender_id \
         WHERE m.chat_id = ?1 AND m.seq > ?2 AND m.seq <= ?3 ORDER BY m.seq {order} LIMIT ?4",
        message_select()
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![chat.0, window.after, window.up_to, window.limit], message_from)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The sequence number of `msg_id` in one chat.
pub(super) fn message_seq(conn: &Connection, chat: ChatRef, msg_id: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT seq FROM message WHERE chat_id = ?1 AND msg_id = ?2")?
        .query_row(params![chat.0, msg_id], |r| r.get("seq"))
        .optional()?)
}

/// One stored message and the chat as its sender addressed it.
pub(super) fn pushed_message(conn: &Connection, key: MessageKey) -> Result<Option<AddressedMessage>> {
    let sql = format!(
        "SELECT {}, {}, x.name AS recaller_name, e.dismissed_ms > 0 AS peer_dismissed, \
         (SELECT value FROM meta WHERE key = 'identity_epoch') AS identity_epoch FROM message m \
         JOIN entity s ON s.id = m.sender_id \
         JOIN chat c ON c.id = m.chat_id \
         LEFT JOIN entity x ON x.id = m.recalled_by \
         JOIN entity e ON e.id = CASE WHEN c.kind = 2 THEN c.a WHEN c.a = m.sender_id THEN c.b ELSE c.a END \
         WHERE m.chat_id = ?1 AND m.seq = ?2",
        message_select(),
        entity_select("e", &ENTITY)
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![key.chat.0, key.seq], |r| {
            Ok(AddressedMessage {
                peer: entity_from(r, &ENTITY)?,
                message: message_from(r)?,
                recaller_name: r.get("recaller_name")?,
                peer_dismissed: r.get("peer_dismissed")?,
                identity_epoch: r.get("identity_epoch")?,
            })
        })
        .optional()?)
}

/// The groups `user` is a member of, dismissed ones left out: one range of
/// the member table's key (the user's rows).
pub(super) fn groups_of(conn: &Connection, users: &[Id]) -> Result<Vec<(Id, Id)>> {
    // One read transaction for all: one snapshot, one WAL read lock.
    let tx = conn.unchecked_transaction()?;
    let mut stmt = tx.prepare_cached(
        "SELECT m.peer_id AS group_id FROM member m JOIN chat c ON c.id = m.chat_id \
         JOIN entity e ON e.id = m.peer_id \
         WHERE m.user_id = ?1 AND c.kind = 2 AND c.b = 0 AND e.dismissed_ms = 0",
    )?;
    let mut pairs = Vec::new();
    for &user in users {
        for group in stmt.query_map([user.get()], |r| r.get::<_, i64>("group_id"))? {
            pairs.push((user, Id::from_raw(group?)));
        }
    }
    drop(stmt);
    tx.commit()?;
    Ok(pairs)
}

/// Those of `candidates` who are members of `group`: a key lookup each when
/// few are asked about, else one scan of the group's members.
pub(super) fn members_among(conn: &Connection, group: Id, candidates: &[Id]) -> Result<Vec<Id>> {
    const LOOKUP_LIMIT: usize = 256;
    let dismissed =
        conn.prepare_cached("SELECT 1 FROM entity WHERE id = ?1 AND dismissed_ms > 0")?.exists([group.get()])?;
    if dismissed {
        return Ok(Vec::new());
    }
    if candidates.len() <= LOOKUP_LIMIT {
        let mut is_member = conn.prepare_cached("SELECT 1 FROM member WHERE user_id = ?1 AND peer_id = ?2")?;
        let mut out = Vec::new();
        for user in candidates {
            if is_member.exists([user.get(), group.get()])? {
                out.push(*user);
            }
        }
        return Ok(out);
    }
    let wanted: std::collections::HashSet<i64> = candidates.iter().map(|id| id.get()).collect();
    let mut stmt = conn.prepare_cached(
        "SELECT m.user_id AS user_id FROM member m JOIN chat c ON c.id = m.chat_id \
         WHERE c.kind = 2 AND c.a = ?1 AND c.b = 0",
    )?;
    let members = stmt.query_map([group.get()], |r| r.get::<_, i64>("user_id"))?;
    let mut out = Vec::new();
    for member in members {
        let member = member?;
        if wanted.contains(&member) {
            out.push(Id::from_raw(member));
        }
    }
    Ok(out)
}
