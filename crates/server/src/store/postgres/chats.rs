//! Conversations and messages: the hot half of the PostgreSQL store.

use deadpool_postgres::{GenericClient, Transaction};
use yhconv_proto::ChatType;

use super::{entity_at, identities::chat_row, PUSH_CHANNEL};
use crate::domain::error::{Error, Result};
use crate::domain::ids::Id;
use crate::store::{
    Appended, ConversationRow, Entity, MentionRow, MentionTarget, NewMessage, StoredMessage, ViewChange,
};

/// Every conversation of `user` (unfiltered: the service decides what is
/// listed) in one query: its member rows, with the unread mentions of each
/// (LATERAL) only where something is unread.
pub(super) async fn conversations<C: GenericClient>(client: &C, user: Id) -> Result<Vec<ConversationRow>> {
    let stmt = client
        .prepare_cached(
            "SELECT e.id, e.kind, e.name, e.avatar_url, e.avatar_id, e.certification_level, \
                    r.remark, c.last_seq, c.last_preview, c.last_message_ms, m.read_seq, m.sort_ms, m.dnd, \
                    coalesce(mc.cnt, 0), mc.min_seq, fm.mentioner_id, coalesce(fe.name, ''), m.hidden_seq \
             FROM member m \
             JOIN chat c ON c.id = m.chat_id \
             JOIN entity e ON e.id = m.peer_id \
             LEFT JOIN remark r ON r.user_id = m.user_id AND r.target_id = m.peer_id \
             LEFT JOIN LATERAL ( \
                 SELECT count(DISTINCT n.seq) AS cnt, min(n.seq) AS min_seq FROM mention n \
                 WHERE n.chat_id = c.id AND n.target_id IN ($1, 0) AND n.seq > m.read_seq \
             ) mc ON c.last_seq > m.read_seq \
             LEFT JOIN LATERAL ( \
                 SELECT n.mentioner_id FROM mention n WHERE n.chat_id = c.id AND n.seq = mc.min_seq LIMIT 1 \
             ) fm ON TRUE \
             LEFT JOIN entity fe ON fe.id = fm.mentioner_id \
             WHERE m.user_id = $1",
        )
        .await?;
    let rows = client.query(&stmt, &[&user.get()]).await?;
    rows.iter()
        .map(|row| {
            let first_mention = match (row.try_get::<_, Option<i64>>(14)?, row.try_get::<_, Option<i64>>(15)?) {
                (Some(seq), Some(mentioner)) => {
                    Some(MentionRow { seq, mentioner_id: Id::from_raw(mentioner), mentioner_name: row.try_get(16)? })
                }
                _ => None,
            };
            Ok(ConversationRow {
                peer: entity_at(row, 0)?,
                remark: row.try_get(6)?,
                last_seq: row.try_get(7)?,
                preview: row.try_get(8)?,
                last_message_ms: row.try_get(9)?,
                read_seq: row.try_get(10)?,
                sort_ms: row.try_get(11)?,
                do_not_disturb: row.try_get(12)?,
                hidden_seq: row.try_get(17)?,
                mention_count: row.try_get(13)?,
                first_mention,
            })
        })
        .collect()
}

/// The chat row of the user's conversation with `peer`, if it exists.
async fn member_chat<C: GenericClient>(client: &C, user: Id, peer: Id) -> Result<Option<i64>> {
    let stmt = client.prepare_cached("SELECT chat_id FROM member WHERE user_id = $1 AND peer_id = $2").await?;
    Ok(client.query_opt(&stmt, &[&user.get(), &peer.get()]).await?.map(|r| r.get(0)))
}

/// The chat row of the conversation between `user` and `peer`, created (with
/// its member rows) for a user or bot peer; a group must list the user.
async fn open_conversation(tx: &Transaction<'_>, user: Id, peer: &Entity) -> Result<i64> {
    if let Some(chat_id) = member_chat(tx, user, peer.id).await? {
        return Ok(chat_id);
    }
    let add_member = tx
        .prepare_cached(
            "INSERT INTO member (user_id, peer_id, chat_id, read_seq) SELECT $1, $2, $3, last_seq FROM chat WHERE id = $3 \
             ON CONFLICT (user_id, peer_id) DO NOTHING",
        )
        .await?;
    match peer.kind {
        ChatType::Group => Err(Error::NotMember(peer.id.to_string())),
        ChatType::User => {
            let (a, b) = if user < peer.id { (user, peer.id) } else { (peer.id, user) };
            let chat_id = chat_row(tx, ChatType::User, a.get(), b.get()).await?;
            tx.execute(&add_member, &[&user.get(), &peer.id.get(), &chat_id]).await?;
            tx.execute(&add_member, &[&peer.id.get(), &user.get(), &chat_id]).await?;
            Ok(chat_id)
        }
        ChatType::Bot => {
            let chat_id = chat_row(tx, ChatType::Bot, user.get(), peer.id.get()).await?;
            tx.execute(&add_member, &[&user.get(), &peer.id.get(), &chat_id]).await?;
            Ok(chat_id)
        }
    }
}

/// Applies one [`ViewChange`] to the user's member row for `peer`.
pub(super) async fn change_view(tx: &Transaction<'_>, user: Id, peer: &Entity, change: ViewChange) -> Result<bool> {
    let creates = matches!(change, ViewChange::Touch { .. } | ViewChange::DoNotDisturb(_));
    if creates {
        open_conversation(tx, user, peer).await?;
    } else if member_chat(tx, user, peer.id).await?.is_none() {
        return match peer.kind {
            ChatType::Group => Err(Error::NotMember(peer.id.to_string())),
            _ => Ok(false),
        };
    }
    let (user, peer) = (user.get(), peer.id.get());
    let changed = match change {
        ViewChange::MarkRead => {
            let stmt = tx
                .prepare_cached(
                    "UPDATE member SET read_seq = c.last_seq FROM chat c \
                     WHERE c.id = member.chat_id AND member.user_id = $1 AND member.peer_id = $2 \
                       AND member.read_seq < c.last_seq",
                )
                .await?;
            tx.execute(&stmt, &[&user, &peer]).await?
        }
        ViewChange::Remove => {
            let stmt = tx
                .prepare_cached(
                    "UPDATE member SET read_seq = c.last_seq, hidden_seq = c.last_seq FROM chat c \
                     WHERE c.id = member.chat_id AND member.user_id = $1 AND member.peer_id = $2",
                )
                .await?;
            tx.execute(&stmt, &[&user, &peer]).await?
        }
        ViewChange::Touch { now_ms } => {
            let stmt = tx
                .prepare_cached("UPDATE member SET sort_ms = $3, hidden_seq = NULL WHERE user_id = $1 AND peer_id = $2")
                .await?;
            tx.execute(&stmt, &[&user, &peer, &now_ms]).await?
        }
        ViewChange::DoNotDisturb(on) => {
            let stmt = tx.prepare_cached("UPDATE member SET dnd = $3 WHERE user_id = $1 AND peer_id = $2").await?;
            tx.execute(&stmt, &[&user, &peer, &on]).await?
        }
    };
    Ok(changed > 0)
}

/// Stores one message: O(1 + mentions) rows touched, whatever the chat size.
///
/// The chat row is locked first, so concurrent sends into one chat (from any
/// instance) take sequence numbers one after another, and a retry of the
/// same `msg_id` waits for the first and then finds it.
pub(super) async fn append_message(tx: &Transaction<'_>, peer: &Entity, msg: NewMessage) -> Result<Appended> {
    let chat_id = open_conversation(tx, msg.sender, peer).await?;
    let lock = tx.prepare_cached("SELECT last_seq FROM chat WHERE id = $1 FOR UPDATE").await?;
    tx.query_one(&lock, &[&chat_id]).await?;
    let earlier = tx.prepare_cached("SELECT seq, sent_ms FROM message WHERE sender_id = $1 AND msg_id = $2").await?;
    if let Some(row) = tx.query_opt(&earlier, &[&msg.sender.get(), &msg.msg_id]).await? {
        return Ok(Appended { seq: row.get(0), sent_ms: row.get(1), duplicate: true });
    }
    let bump = tx
        .prepare_cached(
            "UPDATE chat SET last_seq = last_seq + 1, last_preview = $2, last_sender_id = $3, last_message_ms = $4 \
             WHERE id = $1 RETURNING last_seq",
        )
        .await?;
    let seq: i64 = tx.query_one(&bump, &[&chat_id, &msg.preview, &msg.sender.get(), &msg.sent_ms]).await?.get(0);
    let insert = tx
        .prepare_cached(
            "INSERT INTO message (chat_id, seq, msg_id, sender_id, content_type, content, quote_msg_id, sent_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .await?;
    let content_type = msg.content_type.code() as i64;
    let inserted = tx
        .execute(
            &insert,
            &[
                &chat_id,
                &seq,
                &msg.msg_id,
                &msg.sender.get(),
                &content_type,
                &msg.content,
                &msg.quote_msg_id,
                &msg.sent_ms,
            ],
        )
        .await?;
    if inserted == 0 {
        return Err(Error::invalid(format!("msg_id {:?} is already used by another message", msg.msg_id)));
    }
    let mark_read = tx
        .prepare_cached("UPDATE member SET read_seq = GREATEST(read_seq, $3) WHERE user_id = $1 AND peer_id = $2")
        .await?;
    tx.execute(&mark_read, &[&msg.sender.get(), &peer.id.get(), &seq]).await?;
    insert_mentions(tx, chat_id, seq, peer, &msg).await?;
    let notify = tx.prepare_cached("SELECT pg_notify($1, $2)").await?;
    tx.execute(&notify, &[&PUSH_CHANNEL, &format!("{chat_id}:{seq}")]).await?;
    Ok(Appended { seq, sent_ms: msg.sent_ms, duplicate: false })
}

/// One row per mentioned member (one row for `all`); mentions of the sender
/// or of someone outside the chat are dropped.
async fn insert_mentions(tx: &Transaction<'_>, chat_id: i64, seq: i64, peer: &Entity, msg: &NewMessage) -> Result<()> {
    if msg.mentions.is_empty() {
        return Ok(());
    }
    let insert = tx
        .prepare_cached(
            "INSERT INTO mention (chat_id, target_id, seq, mentioner_id) \
             SELECT $1::bigint, $2::bigint, $3::bigint, $4::bigint \
             WHERE $2::bigint = 0 OR EXISTS (SELECT 1 FROM member WHERE chat_id = $1 AND user_id = $2) \
             ON CONFLICT DO NOTHING",
        )
        .await?;
    for target in &msg.mentions {
        let target_id: i64 = match (peer.kind, target) {
            (ChatType::Group, MentionTarget::All) => 0,
            (ChatType::Group | ChatType::User, MentionTarget::User(id)) if *id != msg.sender => id.get(),
            _ => continue,
        };
        tx.execute(&insert, &[&chat_id, &target_id, &seq, &msg.sender.get()]).await?;
    }
    Ok(())
}

/// History of one conversation, newest first.
pub(super) async fn messages<C: GenericClient>(
    client: &C,
    user: Id,
    peer: &Entity,
    before_msg_id: Option<&str>,
    limit: u32,
) -> Result<Vec<StoredMessage>> {
    let Some(chat_id) = member_chat(client, user, peer.id).await? else {
        return match peer.kind {
            ChatType::Group => Err(Error::NotMember(peer.id.to_string())),
            _ => Ok(Vec::new()),
        };
    };
    let before_seq = match before_msg_id {
        None => i64::MAX,
        Some(msg_id) => {
            let stmt = client.prepare_cached("SELECT seq FROM message WHERE chat_id = $1 AND msg_id = $2").await?;
            client
                .query_opt(&stmt, &[&chat_id, &msg_id])
                .await?
                .map(|r| r.get(0))
                .ok_or_else(|| Error::invalid(format!("unknown msg_id {msg_id:?} in this chat")))?
        }
    };
    let stmt = client
        .prepare_cached(
            "SELECT e.id, e.kind, e.name, e.avatar_url, e.avatar_id, e.certification_level, \
                    m.msg_id, m.seq, m.content_type, m.content, m.quote_msg_id, m.sent_ms \
             FROM message m JOIN entity e ON e.id = m.sender_id \
             WHERE m.chat_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3",
        )
        .await?;
    let rows = client.query(&stmt, &[&chat_id, &before_seq, &(limit as i64)]).await?;
    rows.iter()
        .map(|r| {
            Ok(StoredMessage {
                sender: entity_at(r, 0)?,
                msg_id: r.try_get(6)?,
                seq: r.try_get(7)?,
                content_type: r.try_get::<_, i64>(8)?.max(0) as u64,
                content: r.try_get(9)?,
                quote_msg_id: r.try_get(10)?,
                sent_ms: r.try_get(11)?,
            })
        })
        .collect()
}
