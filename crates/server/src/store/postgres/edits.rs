//! Edits, recalls and roles in PostgreSQL: O(1 + mentions) per message,
//! never a member row.

use std::collections::HashSet;

use deadpool_postgres::GenericClient;
use futures_util::future::{try_join, try_join4};

use super::pipelined::Tx;
use crate::domain::error::Result;
use crate::domain::event::{ChatRef, Event, MessageKey};
use crate::domain::ids::Id;
use crate::domain::list_change::ListFact;
use crate::domain::model::{EditRecord, MentionTarget, MessageEdit, MessageMeta, Recall, Role};

/// A [`MessageMeta`] from the columns `seq, sender_id, content_type,
/// sent_ms, recall_ms`.
fn meta_from(r: &tokio_postgres::Row) -> Result<MessageMeta> {
    Ok(MessageMeta {
        seq: r.try_get("seq")?,
        sender: Id::from_raw(r.try_get("sender_id")?),
        content_type: r.try_get::<_, i64>("content_type")?.max(0) as u64,
        sent_ms: r.try_get("sent_ms")?,
        recall_ms: r.try_get("recall_ms")?,
    })
}

/// The facts of one message an edit or recall is checked against.
pub(super) async fn message_meta<C: GenericClient>(
    client: &C,
    chat: ChatRef,
    msg_id: &str,
) -> Result<Option<MessageMeta>> {
    let stmt = client
        .prepare_cached(
            "SELECT seq, sender_id, content_type, sent_ms, recall_ms FROM message WHERE chat_id = $1 AND msg_id = $2",
        )
        .await?;
    match client.query_opt(&stmt, &[&chat.0, &msg_id]).await? {
        Some(r) => Ok(Some(meta_from(&r)?)),
        None => Ok(None),
    }
}

/// The message `msg_id` in a chat `user` is a member of.
pub(super) async fn locate_message<C: GenericClient>(
    client: &C,
    user: Id,
    msg_id: &str,
) -> Result<Option<(ChatRef, MessageMeta)>> {
    let stmt = client
        .prepare_cached(
            "SELECT g.chat_id AS chat_id, g.seq AS seq, g.sender_id AS sender_id, g.content_type AS content_type, \
                    g.sent_ms AS sent_ms, g.recall_ms AS recall_ms \
             FROM message g JOIN member m ON m.chat_id = g.chat_id AND m.user_id = $1 \
             JOIN entity d ON d.id = m.peer_id AND d.dismissed_ms = 0 \
             WHERE g.msg_id = $2 LIMIT 1",
        )
        .await?;
    match client.query_opt(&stmt, &[&user.get(), &msg_id]).await? {
        Some(r) => Ok(Some((ChatRef(r.try_get("chat_id")?), meta_from(&r)?))),
        None => Ok(None),
    }
}

/// Locks the chat's row, as a send does, so that sends, edits and recalls
/// in one chat take their turns; sent ahead of the rest in one pipeline.
const LOCK_CHAT: &str = "SELECT last_seq FROM chat WHERE id = $1 FOR UPDATE";

/// Keeps a message's content as an edit record, replaces it and, when it
/// is the chat's last message, the preview; returns its sender. `$1` chat,
/// `$2` seq, `$3` content type, `$4` content, `$5` edit time, `$6` preview.
/// (The record reads the message as it was before the statement.)
const EDIT: &str = "\
    WITH recorded AS ( \
        INSERT INTO edit_record (chat_id, seq, content_type, content, edit_ms) \
        SELECT chat_id, seq, content_type, content, $5 FROM message WHERE chat_id = $1 AND seq = $2), \
    edited AS ( \
        UPDATE message SET content_type = $3, content = $4, edit_ms = $5 WHERE chat_id = $1 AND seq = $2 \
        RETURNING sender_id), \
    previewed AS (UPDATE chat SET last_preview = $6 WHERE id = $1 AND last_seq = $2) \
    SELECT sender_id FROM edited";

/// Mentions `$3` (ids, 0 for all) by the message `$2` of the chat `$1`,
/// its sender the mentioner.
const MENTION: &str = "\
    INSERT INTO mention (chat_id, target_id, seq, mentioner_id) \
    SELECT $1, target, $2, m.sender_id FROM message m, unnest($3::BIGINT[]) AS target \
    WHERE m.chat_id = $1 AND m.seq = $2 \
    ON CONFLICT DO NOTHING";

/// Recalls the messages `$2` (seqs) of the chat `$1` not recalled yet:
/// content emptied, mentions dropped, the chat's recall mark moved and its
/// preview set to `$5` when its last message is among them; returns the
/// seqs recalled. `$3` recall time, `$4` who recalls.
const RECALL: &str = "\
    WITH stamped AS ( \
        UPDATE message SET recall_ms = $3, recalled_by = $4, content = ''::bytea \
        WHERE chat_id = $1 AND seq = ANY($2::BIGINT[]) AND recall_ms = 0 \
        RETURNING seq), \
    unmentioned AS (DELETE FROM mention WHERE chat_id = $1 AND seq IN (SELECT seq FROM stamped)), \
    marked AS ( \
        UPDATE chat SET max_recalled_seq = GREATEST(max_recalled_seq, (SELECT max(seq) FROM stamped)), \
            last_preview = CASE WHEN last_seq IN (SELECT seq FROM stamped) THEN $5 ELSE last_preview END \
        WHERE id = $1 AND EXISTS (SELECT 1 FROM stamped)) \
    SELECT seq FROM stamped";

/// The mention targets as stored: user ids, 0 for all.
fn target_ids(mentions: &[MentionTarget]) -> Vec<i64> {
    mentions
        .iter()
        .map(|target| match target {
            MentionTarget::All => 0,
            MentionTarget::User(id) => id.get(),
        })
        .collect()
}

/// Replaces a message's content, keeping the old one as an edit record: in
/// one pipeline behind `BEGIN` (the chat's row locked first), then the
/// notifications and `COMMIT` in another.
pub(super) async fn edit_message(tx: &Tx, chat: ChatRef, edit: MessageEdit) -> Result<()> {
    let lock = tx.prepare_cached(LOCK_CHAT).await?;
    let edit_stmt = tx.prepare_cached(EDIT).await?;
    let unmention = tx.prepare_cached("DELETE FROM mention WHERE chat_id = $1 AND seq = $2").await?;
    let mention = tx.prepare_cached(MENTION).await?;
    let content_type = edit.content_type.code() as i64;
    let targets = target_ids(&edit.mentions);
    try_join4(
        tx.query_one(&lock, &[&chat.0]),
        tx.query_one(&edit_stmt, &[&chat.0, &edit.seq, &content_type, &edit.content, &edit.edit_ms, &edit.preview]),
        tx.execute(&unmention, &[&chat.0, &edit.seq]),
        tx.execute(&mention, &[&chat.0, &edit.seq, &targets]),
    )
    .await?;
    tx.notify(&Event::Edited(MessageKey { chat, seq: edit.seq }));
    tx.announce(&[ListFact::Chat(chat)]);
    Ok(())
}

/// Recalls messages: content emptied, mentions dropped, the preview set to
/// the notice when the last message is among them; in one pipeline behind
/// `BEGIN` (the chat's row locked first), then the notifications, for the
/// messages not recalled before, and `COMMIT` in another.
pub(super) async fn recall_messages(tx: &Tx, chat: ChatRef, recall: Recall) -> Result<()> {
    let lock = tx.prepare_cached(LOCK_CHAT).await?;
    let recall_stmt = tx.prepare_cached(RECALL).await?;
    let (_, rows) = try_join(
        tx.query_one(&lock, &[&chat.0]),
        tx.query(&recall_stmt, &[&chat.0, &recall.seqs, &recall.recall_ms, &recall.by.get(), &recall.notice]),
    )
    .await?;
    let stamped = rows.iter().map(|r| r.try_get("seq")).collect::<Result<HashSet<i64>, _>>()?;
    // In the order asked for, each once.
    let mut notified = HashSet::new();
    for seq in recall.seqs.iter().filter(|seq| stamped.contains(seq)) {
        if notified.insert(*seq) {
            tx.notify(&Event::Recalled(MessageKey { chat, seq: *seq }));
        }
    }
    if !stamped.is_empty() {
        tx.announce(&[ListFact::Chat(chat)]);
    }
    Ok(())
}

/// A message's edit records, newest first, and how many there are.
pub(super) async fn edit_records<C: GenericClient>(
    client: &C,
    chat: ChatRef,
    seq: i64,
    limit: u32,
    offset: u32,
) -> Result<(Vec<EditRecord>, u64)> {
    let count = client.prepare_cached("SELECT count(*) AS n FROM edit_record WHERE chat_id = $1 AND seq = $2").await?;
    let total: i64 = client.query_one(&count, &[&chat.0, &seq]).await?.try_get("n")?;
    let stmt = client
        .prepare_cached(
            "SELECT id, content_type, content, edit_ms FROM edit_record WHERE chat_id = $1 AND seq = $2 \
             ORDER BY id DESC LIMIT $3 OFFSET $4",
        )
        .await?;
    let rows = client.query(&stmt, &[&chat.0, &seq, &i64::from(limit), &i64::from(offset)]).await?;
    let records = rows
        .iter()
        .map(|r| {
            Ok(EditRecord {
                id: r.try_get("id")?,
                content_type: r.try_get::<_, i64>("content_type")?.max(0) as u64,
                content: r.try_get("content")?,
                edit_ms: r.try_get("edit_ms")?,
            })
        })
        .collect::<Result<_>>()?;
    Ok((records, total.max(0) as u64))
}

/// A user's role in a group, if they are a member.
pub(super) async fn role<C: GenericClient>(client: &C, group: Id, user: Id) -> Result<Option<Role>> {
    let stmt = client
        .prepare_cached(
            "SELECT m.role AS role, e.owner_id = m.user_id AS is_owner FROM member m \
             JOIN entity e ON e.id = m.peer_id WHERE m.user_id = $1 AND m.peer_id = $2 AND e.dismissed_ms = 0",
        )
        .await?;
    match client.query_opt(&stmt, &[&user.get(), &group.get()]).await? {
        Some(r) => Ok(Some(match (r.try_get::<_, Option<bool>>("is_owner")?, r.try_get::<_, i16>("role")?) {
            (Some(true), _) => Role::Owner,
            (_, 1) => Role::Admin,
            _ => Role::Member,
        })),
        None => Ok(None),
    }
}
