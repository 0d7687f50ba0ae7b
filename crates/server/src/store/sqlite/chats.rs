//! Conversations and messages: the hot half of the SQLite store.

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use yhconv_proto::ChatType;

use super::{entity_at, identities::chat_row};
use crate::domain::error::{Error, Result};
use crate::domain::ids::Id;
use crate::store::{
    Appended, ConversationRow, Entity, MentionRow, MentionTarget, NewMessage, ReadPosition, StoredMessage, ViewChange,
};

/// Every conversation of `user` (unordered and unfiltered: the service
/// decides what is listed and sorts), in two indexed passes over its member
/// rows: one for the conversations, one for every unread mention of the
/// user. No temporary b-trees, no per-row queries.
pub(super) fn conversations(conn: &Connection, user: Id) -> Result<Vec<ConversationRow>> {
    // One read transaction for both passes: one snapshot, one WAL read lock.
    let tx = conn.unchecked_transaction()?;
    let rows = conversations_in(&tx, user)?;
    tx.commit()?;
    Ok(rows)
}

fn conversations_in(conn: &Connection, user: Id) -> Result<Vec<ConversationRow>> {
    let mut list = conn.prepare_cached(
        "SELECT e.id, e.kind, e.name, e.avatar_url, e.avatar_id, e.certification_level, \
                r.remark, c.id, c.last_seq, c.last_preview, c.last_message_ms, \
                m.read_seq, m.sort_ms, m.dnd, m.hidden_seq \
         FROM member m \
         JOIN chat c ON c.id = m.chat_id \
         JOIN entity e ON e.id = m.peer_id \
         LEFT JOIN remark r ON r.user_id = m.user_id AND r.target_id = m.peer_id \
         WHERE m.user_id = ?1",
    )?;
    let mut out = Vec::new();
    let mut chat_ids = Vec::new();
    let mut rows = list.query([user.get()])?;
    while let Some(row) = rows.next()? {
        chat_ids.push(row.get::<_, i64>(7)?);
        out.push(ConversationRow {
            peer: entity_at(row, 0)?,
            remark: row.get(6)?,
            last_seq: row.get(8)?,
            preview: row.get(9)?,
            last_message_ms: row.get(10)?,
            read_seq: row.get(11)?,
            sort_ms: row.get(12)?,
            do_not_disturb: row.get::<_, i64>(13)? != 0,
            hidden_seq: row.get(14)?,
            mention_count: 0,
            first_mention: None,
        });
    }
    if out.iter().any(|c| c.last_seq > c.read_seq) {
        let mut mentions = conn.prepare_cached(
            "SELECT n.chat_id, n.seq, n.mentioner_id, coalesce(e.name, '') \
             FROM member m \
             JOIN chat c ON c.id = m.chat_id \
             JOIN mention n ON n.chat_id = m.chat_id AND n.target_id IN (m.user_id, 0) AND n.seq > m.read_seq \
             LEFT JOIN entity e ON e.id = n.mentioner_id \
             WHERE m.user_id = ?1 AND c.last_seq > m.read_seq",
        )?;
        let found = mentions.query_map([user.get()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                MentionRow { seq: r.get(1)?, mentioner_id: Id::from_raw(r.get(2)?), mentioner_name: r.get(3)? },
            ))
        })?;
        let found = found.collect::<rusqlite::Result<Vec<_>>>()?;
        attach_mentions(&mut out, &chat_ids, found);
    }
    Ok(out)
}

/// Adds each chat's unread mentions to its row: how many messages mention
/// the user (a message naming the user and `all` counts once), and the
/// earliest of them.
pub(super) fn attach_mentions(rows: &mut [ConversationRow], chat_ids: &[i64], mut found: Vec<(i64, MentionRow)>) {
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
        .prepare_cached("SELECT chat_id FROM member WHERE user_id = ?1 AND peer_id = ?2")?
        .query_row([user.get(), peer.get()], |r| r.get(0))
        .optional()?)
}

/// The chat row of the conversation between `user` and `peer`, created (with
/// its member rows) for a user or bot peer. A group must already list the
/// user as a member.
fn open_conversation(tx: &Transaction<'_>, user: Id, peer: &Entity) -> Result<i64> {
    if let Some(chat_id) = member_chat(tx, user, peer.id)? {
        return Ok(chat_id);
    }
    let mut add_member = tx.prepare_cached(
        "INSERT INTO member (user_id, peer_id, chat_id, read_seq) SELECT ?1, ?2, ?3, last_seq FROM chat WHERE id = ?3 \
         ON CONFLICT (user_id, peer_id) DO NOTHING",
    )?;
    match peer.kind {
        ChatType::Group => Err(Error::NotMember(peer.id.to_string())),
        ChatType::User => {
            let (a, b) = if user < peer.id { (user, peer.id) } else { (peer.id, user) };
            let chat_id = chat_row(tx, ChatType::User, a.get(), b.get())?;
            add_member.execute(params![user.get(), peer.id.get(), chat_id])?;
            add_member.execute(params![peer.id.get(), user.get(), chat_id])?;
            Ok(chat_id)
        }
        ChatType::Bot => {
            let chat_id = chat_row(tx, ChatType::Bot, user.get(), peer.id.get())?;
            add_member.execute(params![user.get(), peer.id.get(), chat_id])?;
            Ok(chat_id)
        }
    }
}

/// The entity `peer` names, and the user's position in their conversation
/// with it if there is one.
pub(super) fn read_position(conn: &Connection, user: Id, peer: Id) -> Result<Option<(Entity, Option<ReadPosition>)>> {
    Ok(conn
        .prepare_cached(
            "SELECT e.id, e.kind, e.name, e.avatar_url, e.avatar_id, e.certification_level, m.read_seq, c.last_seq \
             FROM entity e \
             LEFT JOIN member m ON m.user_id = ?1 AND m.peer_id = e.id \
             LEFT JOIN chat c ON c.id = m.chat_id \
             WHERE e.id = ?2",
        )?
        .query_row([user.get(), peer.get()], |r| {
            let position = match (r.get::<_, Option<i64>>(6)?, r.get::<_, Option<i64>>(7)?) {
                (Some(read_seq), Some(last_seq)) => Some(ReadPosition { read_seq, last_seq }),
                _ => None,
            };
            Ok((entity_at(r, 0)?, position))
        })
        .optional()?)
}

/// Applies one [`ViewChange`] to the user's member row for `peer`.
pub(super) fn change_view(tx: &Transaction<'_>, user: Id, peer: &Entity, change: ViewChange) -> Result<bool> {
    let creates = matches!(change, ViewChange::Touch { .. } | ViewChange::DoNotDisturb(_));
    if creates {
        open_conversation(tx, user, peer)?;
    } else if member_chat(tx, user, peer.id)?.is_none() {
        return match peer.kind {
            ChatType::Group => Err(Error::NotMember(peer.id.to_string())),
            _ => Ok(false),
        };
    }
    let (user, peer) = (user.get(), peer.id.get());
    let changed = match change {
        ViewChange::MarkRead => tx
            .prepare_cached(
                "UPDATE member SET read_seq = c.last_seq FROM chat c \
                 WHERE c.id = member.chat_id AND member.user_id = ?1 AND member.peer_id = ?2 \
                   AND member.read_seq < c.last_seq",
            )?
            .execute(params![user, peer])?,
        ViewChange::Remove => tx
            .prepare_cached(
                "UPDATE member SET read_seq = (SELECT last_seq FROM chat WHERE chat.id = member.chat_id), \
                   hidden_seq = (SELECT last_seq FROM chat WHERE chat.id = member.chat_id) \
                 WHERE user_id = ?1 AND peer_id = ?2",
            )?
            .execute(params![user, peer])?,
        ViewChange::Touch { now_ms } => tx
            .prepare_cached("UPDATE member SET sort_ms = ?3, hidden_seq = NULL WHERE user_id = ?1 AND peer_id = ?2")?
            .execute(params![user, peer, now_ms])?,
        ViewChange::DoNotDisturb(on) => tx
            .prepare_cached("UPDATE member SET dnd = ?3 WHERE user_id = ?1 AND peer_id = ?2")?
            .execute(params![user, peer, on as i64])?,
    };
    Ok(changed > 0)
}

/// Stores one message: O(1 + mentions) rows touched, whatever the chat size.
pub(super) fn append_message(tx: &Transaction<'_>, peer: &Entity, msg: NewMessage) -> Result<Appended> {
    let earlier = tx
        .prepare_cached("SELECT seq, sent_ms FROM message WHERE sender_id = ?1 AND msg_id = ?2")?
        .query_row(params![msg.sender.get(), msg.msg_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if let Some((seq, sent_ms)) = earlier {
        return Ok(Appended { seq, sent_ms, duplicate: true });
    }
    let chat_id = open_conversation(tx, msg.sender, peer)?;
    let seq: i64 = tx
        .prepare_cached(
            "UPDATE chat SET last_seq = last_seq + 1, last_preview = ?2, last_sender_id = ?3, last_message_ms = ?4 \
             WHERE id = ?1 RETURNING last_seq",
        )?
        .query_row(params![chat_id, msg.preview, msg.sender.get(), msg.sent_ms], |r| r.get(0))?;
    let inserted = tx
        .prepare_cached(
            "INSERT INTO message (chat_id, seq, msg_id, sender_id, content_type, content, quote_msg_id, sent_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (chat_id, msg_id) DO NOTHING",
        )?
        .execute(params![
            chat_id,
            seq,
            msg.msg_id,
            msg.sender.get(),
            msg.content_type.code() as i64,
            msg.content,
            msg.quote_msg_id,
            msg.sent_ms
        ])?;
    if inserted == 0 {
        return Err(Error::invalid(format!("msg_id {:?} is already used by another sender in this chat", msg.msg_id)));
    }
    tx.prepare_cached("UPDATE member SET read_seq = max(read_seq, ?3) WHERE user_id = ?1 AND peer_id = ?2")?
        .execute(params![msg.sender.get(), peer.id.get(), seq])?;
    insert_mentions(tx, chat_id, seq, peer, &msg)?;
    Ok(Appended { seq, sent_ms: msg.sent_ms, duplicate: false })
}

/// One row per mentioned member (one row for `all`); mentions of the sender
/// or of someone outside the chat are dropped.
fn insert_mentions(tx: &Transaction<'_>, chat_id: i64, seq: i64, peer: &Entity, msg: &NewMessage) -> Result<()> {
    if msg.mentions.is_empty() {
        return Ok(());
    }
    let mut insert_member = tx.prepare_cached(
        "INSERT INTO mention (chat_id, target_id, seq, mentioner_id) \
         SELECT chat_id, user_id, ?3, ?4 FROM member WHERE chat_id = ?1 AND user_id = ?2 \
         ON CONFLICT DO NOTHING",
    )?;
    for target in &msg.mentions {
        let target_id = match (peer.kind, target) {
            (ChatType::Group, MentionTarget::All) => 0,
            (ChatType::Group | ChatType::User, MentionTarget::User(id)) if *id != msg.sender => id.get(),
            _ => continue,
        };
        if target_id == 0 {
            tx.prepare_cached(
                "INSERT INTO mention (chat_id, target_id, seq, mentioner_id) VALUES (?1, 0, ?2, ?3) \
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![chat_id, seq, msg.sender.get()])?;
        } else {
            insert_member.execute(params![chat_id, target_id, seq, msg.sender.get()])?;
        }
    }
    Ok(())
}

/// History of one conversation, newest first.
pub(super) fn messages(
    conn: &Connection,
    user: Id,
    peer: &Entity,
    before_msg_id: Option<&str>,
    limit: u32,
) -> Result<Vec<StoredMessage>> {
    let Some(chat_id) = member_chat(conn, user, peer.id)? else {
        return match peer.kind {
            ChatType::Group => Err(Error::NotMember(peer.id.to_string())),
            _ => Ok(Vec::new()),
        };
    };
    let before_seq = match before_msg_id {
        None => i64::MAX,
        Some(msg_id) => conn
            .prepare_cached("SELECT seq FROM message WHERE chat_id = ?1 AND msg_id = ?2")?
            .query_row(params![chat_id, msg_id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| Error::invalid(format!("unknown msg_id {msg_id:?} in this chat")))?,
    };
    let mut stmt = conn.prepare_cached(
        "SELECT e.id, e.kind, e.name, e.avatar_url, e.avatar_id, e.certification_level, \
                m.msg_id, m.seq, m.content_type, m.content, m.quote_msg_id, m.sent_ms \
         FROM message m JOIN entity e ON e.id = m.sender_id \
         WHERE m.chat_id = ?1 AND m.seq < ?2 ORDER BY m.seq DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![chat_id, before_seq, limit], |r| {
        Ok(StoredMessage {
            sender: entity_at(r, 0)?,
            msg_id: r.get(6)?,
            seq: r.get(7)?,
            content_type: r.get(8)?,
            content: r.get(9)?,
            quote_msg_id: r.get(10)?,
            sent_ms: r.get(11)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Those of `candidates` who are members of `group`: a key lookup each when
/// few are asked about, else one scan of the group's members.
pub(super) fn members_among(conn: &Connection, group: Id, candidates: &[Id]) -> Result<Vec<Id>> {
    const LOOKUP_LIMIT: usize = 256;
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
        "SELECT m.user_id FROM member m JOIN chat c ON c.id = m.chat_id WHERE c.kind = 2 AND c.a = ?1 AND c.b = 0",
    )?;
    let members = stmt.query_map([group.get()], |r| r.get::<_, i64>(0))?;
    let mut out = Vec::new();
    for member in members {
        let member = member?;
        if wanted.contains(&member) {
            out.push(Id::from_raw(member));
        }
    }
    Ok(out)
}
