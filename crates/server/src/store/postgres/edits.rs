//! Edits, recalls and roles in PostgreSQL: O(1 + mentions) per message,
//! never a member row.

use deadpool_postgres::GenericClient;

use super::pipelined::Tx;
use crate::domain::error::Result;
use crate::domain::event::{ChatRef, Event, MessageKey};
use crate::domain::ids::Id;
use crate::domain::list_change::ListFact;
use crate::domain::model::{EditRecord, MentionTarget, MessageEdit, MessageMeta, Recall, Role};
use crate::store::columns::mention_target_id;

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

/// Replaces the mention rows of one message.
async fn set_mentions(tx: &Tx, chat: ChatRef, seq: i64, mentions: &[MentionTarget], by: i64) -> Result<()> {
    let delete = tx.prepare_cached("DELETE FROM mention WHERE chat_id = $1 AND seq = $2").await?;
    tx.execute(&delete, &[&chat.0, &seq]).await?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO mention (chat_id, target_id, seq, mentioner_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .await?;
    for target in mentions {
        tx.execute(&insert, &[&chat.0, &mention_target_id(target), &seq, &by]).await?;
    }
    Ok(())
}

/// Replaces a message's content, keeping the old one as an edit record.
pub(super) async fn edit_message(tx: &Tx, chat: ChatRef, edit: MessageEdit) -> Result<()> {
    // The chat row first, as a send locks it: edits and sends in one chat
    // take their turns.
    let lock = tx.prepare_cached("SELECT last_seq FROM chat WHERE id = $1 FOR UPDATE").await?;
    tx.query_one(&lock, &[&chat.0]).await?;
    let record = tx
        .prepare_cached(
            "INSERT INTO edit_record (chat_id, seq, content_type, content, edit_ms) \
             SELECT chat_id, seq, content_type, content, $3 FROM message WHERE chat_id = $1 AND seq = $2",
        )
        .await?;
    tx.execute(&record, &[&chat.0, &edit.seq, &edit.edit_ms]).await?;
    let update = tx
        .prepare_cached(
            "UPDATE message SET content_type = $3, content = $4, edit_ms = $5 WHERE chat_id = $1 AND seq = $2 \
             RETURNING sender_id",
        )
        .await?;
    let content_type = edit.content_type.code() as i64;
    let sender: i64 = tx
        .query_one(&update, &[&chat.0, &edit.seq, &content_type, &edit.content, &edit.edit_ms])
        .await?
        .try_get("sender_id")?;
    set_mentions(tx, chat, edit.seq, &edit.mentions, sender).await?;
    let preview = tx.prepare_cached("UPDATE chat SET last_preview = $3 WHERE id = $1 AND last_seq = $2").await?;
    tx.execute(&preview, &[&chat.0, &edit.seq, &edit.preview]).await?;
    tx.notify(&Event::Edited(MessageKey { chat, seq: edit.seq }));
    tx.announce(&[ListFact::Chat(chat)]);
    Ok(())
}

/// Recalls messages: content emptied, mentions dropped, the preview set to
/// the notice when the last message is among them.
pub(super) async fn recall_messages(tx: &Tx, chat: ChatRef, recall: Recall) -> Result<()> {
    let lock = tx.prepare_cached("SELECT last_seq FROM chat WHERE id = $1 FOR UPDATE").await?;
    tx.query_one(&lock, &[&chat.0]).await?;
    let stamp = tx
        .prepare_cached(
            "UPDATE message SET recall_ms = $3, recalled_by = $4, content = ''::bytea \
             WHERE chat_id = $1 AND seq = $2 AND recall_ms = 0",
        )
        .await?;
    let delete = tx.prepare_cached("DELETE FROM mention WHERE chat_id = $1 AND seq = $2").await?;
    let preview = tx
        .prepare_cached(
            "UPDATE chat SET max_recalled_seq = GREATEST(max_recalled_seq, $2), \
               last_preview = CASE WHEN last_seq = $2 THEN $3 ELSE last_preview END WHERE id = $1",
        )
        .await?;
    let mut recalled_any = false;
    for seq in &recall.seqs {
        if tx.execute(&stamp, &[&chat.0, seq, &recall.recall_ms, &recall.by.get()]).await? == 0 {
            continue;
        }
        tx.execute(&delete, &[&chat.0, seq]).await?;
        tx.execute(&preview, &[&chat.0, seq, &recall.notice]).await?;
        tx.notify(&Event::Recalled(MessageKey { chat, seq: *seq }));
        recalled_any = true;
    }
    if recalled_any {
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
