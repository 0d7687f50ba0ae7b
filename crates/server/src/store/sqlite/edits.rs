//! Edits, recalls and roles in SQLite: O(1 + mentions) per message, never a
//! member row.

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::Outbox;
use crate::domain::error::Result;
use crate::domain::event::{ChatRef, Event, MessageKey};
use crate::domain::ids::Id;
use crate::domain::list_change::ListFact;
use crate::domain::model::{EditRecord, MentionTarget, MessageEdit, MessageMeta, Recall, Role};
use crate::store::columns::mention_target_id;

/// A [`MessageMeta`] from the columns `seq, sender_id, content_type,
/// sent_ms, recall_ms`.
fn meta_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<MessageMeta> {
    Ok(MessageMeta {
        seq: r.get("seq")?,
        sender: Id::from_raw(r.get("sender_id")?),
        content_type: r.get("content_type")?,
        sent_ms: r.get("sent_ms")?,
        recall_ms: r.get("recall_ms")?,
    })
}

/// The facts of one message an edit or recall is checked against.
pub(super) fn message_meta(conn: &Connection, chat: ChatRef, msg_id: &str) -> Result<Option<MessageMeta>> {
    Ok(conn
        .prepare_cached(
            "SELECT seq, sender_id, content_type, sent_ms, recall_ms FROM message WHERE chat_id = ?1 AND msg_id = ?2",
        )?
        .query_row(params![chat.0, msg_id], meta_from)
        .optional()?)
}

/// The message `msg_id` in a chat `user` is a member of.
pub(super) fn locate_message(conn: &Connection, user: Id, msg_id: &str) -> Result<Option<(ChatRef, MessageMeta)>> {
    Ok(conn
        .prepare_cached(
            "SELECT g.chat_id AS chat_id, g.seq AS seq, g.sender_id AS sender_id, g.content_type AS content_type, \
                    g.sent_ms AS sent_ms, g.recall_ms AS recall_ms \
             FROM message g JOIN member m ON m.chat_id = g.chat_id AND m.user_id = ?1 \
             JOIN entity d ON d.id = m.peer_id AND d.dismissed_ms = 0 \
             WHERE g.msg_id = ?2 LIMIT 1",
        )?
        .query_row(params![user.get(), msg_id], |r| Ok((ChatRef(r.get("chat_id")?), meta_from(r)?)))
        .optional()?)
}

/// Replaces the mention rows of one message.
fn set_mentions(tx: &Transaction<'_>, chat: ChatRef, seq: i64, mentions: &[MentionTarget], by: i64) -> Result<()> {
    tx.prepare_cached("DELETE FROM mention WHERE chat_id = ?1 AND seq = ?2")?.execute(params![chat.0, seq])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO mention (chat_id, target_id, seq, mentioner_id) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
    )?;
    for target in mentions {
        insert.execute(params![chat.0, mention_target_id(target), seq, by])?;
    }
    Ok(())
}

/// Replaces a message's content, keeping the old one as an edit record.
pub(super) fn edit_message(tx: &Transaction<'_>, outbox: &mut Outbox, chat: ChatRef, edit: MessageEdit) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO edit_record (chat_id, seq, content_type, content, edit_ms) \
         SELECT chat_id, seq, content_type, content, ?3 FROM message WHERE chat_id = ?1 AND seq = ?2",
    )?
    .execute(params![chat.0, edit.seq, edit.edit_ms])?;
    let sender: i64 = tx
        .prepare_cached(
            "UPDATE message SET content_type = ?3, content = ?4, edit_ms = ?5 WHERE chat_id = ?1 AND seq = ?2 \
             RETURNING sender_id",
        )?
        .query_row(params![chat.0, edit.seq, edit.content_type.code() as i64, edit.content, edit.edit_ms], |r| {
            r.get("sender_id")
        })?;
    set_mentions(tx, chat, edit.seq, &edit.mentions, sender)?;
    tx.prepare_cached("UPDATE chat SET last_preview = ?3 WHERE id = ?1 AND last_seq = ?2")?.execute(params![
        chat.0,
        edit.seq,
        edit.preview
    ])?;
    outbox.push(Event::Edited(MessageKey { chat, seq: edit.seq }));
    outbox.list(ListFact::Chat(chat));
    Ok(())
}

/// Recalls messages: content emptied, mentions dropped, the preview set to
/// the notice when the last message is among them.
pub(super) fn recall_messages(tx: &Transaction<'_>, outbox: &mut Outbox, chat: ChatRef, recall: Recall) -> Result<()> {
    let mut stamp = tx.prepare_cached(
        "UPDATE message SET recall_ms = ?3, recalled_by = ?4, content = x'' \
         WHERE chat_id = ?1 AND seq = ?2 AND recall_ms = 0",
    )?;
    for &seq in &recall.seqs {
        if stamp.execute(params![chat.0, seq, recall.recall_ms, recall.by.get()])? == 0 {
            continue;
        }
        tx.prepare_cached("DELETE FROM mention WHERE chat_id = ?1 AND seq = ?2")?.execute(params![chat.0, seq])?;
        tx.prepare_cached(
            "UPDATE chat SET max_recalled_seq = max(max_recalled_seq, ?2), \
               last_preview = CASE WHEN last_seq = ?2 THEN ?3 ELSE last_preview END WHERE id = ?1",
        )?
        .execute(params![chat.0, seq, recall.notice])?;
        outbox.push(Event::Recalled(MessageKey { chat, seq }));
        outbox.list(ListFact::Chat(chat));
    }
    Ok(())
}

/// A message's edit records, newest first, and how many there are.
pub(super) fn edit_records(
    conn: &Connection,
    chat: ChatRef,
    seq: i64,
    limit: u32,
    offset: u32,
) -> Result<(Vec<EditRecord>, u64)> {
    let total: i64 = conn
        .prepare_cached("SELECT count(*) AS n FROM edit_record WHERE chat_id = ?1 AND seq = ?2")?
        .query_row(params![chat.0, seq], |r| r.get("n"))?;
    let mut stmt = conn.prepare_cached(
        "SELECT id, content_type, content, edit_ms FROM edit_record WHERE chat_id = ?1 AND seq = ?2 \
         ORDER BY id DESC LIMIT ?3 OFFSET ?4",
    )?;
    let rows = stmt.query_map(params![chat.0, seq, limit, offset], |r| {
        Ok(EditRecord {
            id: r.get("id")?,
            content_type: r.get("content_type")?,
            content: r.get("content")?,
            edit_ms: r.get("edit_ms")?,
        })
    })?;
    Ok((rows.collect::<rusqlite::Result<_>>()?, total.max(0) as u64))
}

/// A user's role in a group, if they are a member.
pub(super) fn role(conn: &Connection, group: Id, user: Id) -> Result<Option<Role>> {
    Ok(conn
        .prepare_cached(
            "SELECT m.role AS role, e.owner_id = m.user_id AS is_owner FROM member m \
             JOIN entity e ON e.id = m.peer_id WHERE m.user_id = ?1 AND m.peer_id = ?2 AND e.dismissed_ms = 0",
        )?
        .query_row([user.get(), group.get()], |r| {
            let is_owner: Option<bool> = r.get("is_owner")?;
            Ok(match (is_owner, r.get::<_, i64>("role")?) {
                (Some(true), _) => Role::Owner,
                (_, 1) => Role::Admin,
                _ => Role::Member,
            })
        })
        .optional()?)
}
