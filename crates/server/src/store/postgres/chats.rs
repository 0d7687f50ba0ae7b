//! Conversations and messages: the hot half of the PostgreSQL store
//! (storing a message is in [`super::append`]).

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use yhconv_proto::ChatType;

use super::identities::chat_row;
use super::pipelined::Tx;
use super::{entity_from, entity_select, ENTITY, SENDER};
use crate::domain::error::{Error, Result};
use crate::domain::event::{ChatRef, MessageKey};
use crate::domain::ids::Id;
use crate::domain::list_change::ListFact;
use crate::domain::model::{
    AddressedMessage, ConversationRow, Entity, MentionRow, ReadPosition, SeqWindow, StoredMessage, ViewChange,
};

/// Every conversation of `user` (unordered and unfiltered) in one query:
/// its member rows, with the unread mentions of each (LATERAL) only where
/// something is unread.
pub(super) async fn conversations<C: GenericClient>(client: &C, user: Id) -> Result<Vec<ConversationRow>> {
    let stmt = client.prepare_cached(&conversations_sql("")).await?;
    let rows = client.query(&stmt, &[&user.get()]).await?;
    rows.iter().map(conversation_from).collect()
}

/// The user's conversations with `peers` only, read as [`conversations`]
/// reads them, in one statement.
pub(super) async fn conversations_with<C: GenericClient>(
    client: &C,
    user: Id,
    peers: &[Id],
) -> Result<Vec<ConversationRow>> {
    let stmt = client.prepare_cached(&conversations_sql("AND m.peer_id = ANY($2)")).await?;
    let peers: Vec<i64> = peers.iter().map(|p| p.get()).collect();
    let rows = client.query(&stmt, &[&user.get(), &peers]).await?;
    rows.iter().map(conversation_from).collect()
}

/// The conversations statement, with `only` added to its filter.
fn conversations_sql(only: &str) -> String {
    format!(
        "SELECT {}, m.chat_id AS chat_id, NULLIF(r.remark, '') AS remark, c.last_seq AS last_seq, c.last_preview AS last_preview, \
                c.last_message_ms AS last_message_ms, m.read_seq AS read_seq, m.sort_ms AS sort_ms, m.dnd AS dnd, \
                coalesce(mc.cnt, 0) AS mention_count, mc.min_seq AS first_mention_seq, \
                fm.mentioner_id AS mentioner_id, coalesce(fe.name, '') AS mentioner_name, m.hidden_seq AS hidden_seq, \
                coalesce(rc.recalled, 0) AS recalled_unread \
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
         LEFT JOIN LATERAL ( \
             SELECT count(*) AS recalled FROM message g \
             WHERE g.chat_id = c.id AND g.seq > m.read_seq AND g.recall_ms > 0 \
         ) rc ON c.max_recalled_seq > m.read_seq \
         WHERE m.user_id = $1 AND e.dismissed_ms = 0 {only}",
        entity_select("e", &ENTITY)
    )
}

/// One conversation row of [`conversations_sql`].
fn conversation_from(row: &Row) -> Result<ConversationRow> {
    let first_mention =
        match (row.try_get::<_, Option<i64>>("first_mention_seq")?, row.try_get::<_, Option<i64>>("mentioner_id")?) {
            (Some(seq), Some(mentioner)) => Some(MentionRow {
                seq,
                mentioner_id: Id::from_raw(mentioner),
                mentioner_name: row.try_get("mentioner_name")?,
            }),
            _ => None,
        };
    Ok(ConversationRow {
        peer: entity_from(row, &ENTITY)?,
        chat: ChatRef(row.try_get("chat_id")?),
        remark: row.try_get("remark")?,
        last_seq: row.try_get("last_seq")?,
        preview: row.try_get("last_preview")?,
        last_message_ms: row.try_get("last_message_ms")?,
        read_seq: row.try_get("read_seq")?,
        sort_ms: row.try_get("sort_ms")?,
        do_not_disturb: row.try_get("dnd")?,
        hidden_seq: row.try_get("hidden_seq")?,
        mention_count: row.try_get("mention_count")?,
        first_mention,
        recalled_unread: row.try_get("recalled_unread")?,
    })
}

/// The chat row of the user's conversation with `peer`, if it exists.
async fn member_chat<C: GenericClient>(client: &C, user: Id, peer: Id) -> Result<Option<i64>> {
    let stmt = client
        .prepare_cached(
            "SELECT m.chat_id AS chat_id FROM member m JOIN entity e ON e.id = m.peer_id \
             WHERE m.user_id = $1 AND m.peer_id = $2 AND e.dismissed_ms = 0",
        )
        .await?;
    match client.query_opt(&stmt, &[&user.get(), &peer.get()]).await? {
        Some(r) => Ok(Some(r.try_get("chat_id")?)),
        None => Ok(None),
    }
}

/// The conversation between `user` and a user or bot `peer`, created with
/// its member rows if needed.
pub(super) async fn open_conversation(tx: &Tx, user: Id, peer: &Entity) -> Result<ChatRef> {
    if let Some(chat_id) = member_chat(tx.client(), user, peer.id).await? {
        return Ok(ChatRef(chat_id));
    }
    let add_member = tx
        .prepare_cached(
            "INSERT INTO member (user_id, peer_id, chat_id, read_seq) SELECT $1, $2, $3, last_seq FROM chat WHERE id = $3 \
             ON CONFLICT (user_id, peer_id) DO NOTHING",
        )
        .await?;
    let mut opened = Vec::new();
    let chat_id = match peer.kind {
        ChatType::User => {
            let (a, b) = if user < peer.id { (user, peer.id) } else { (peer.id, user) };
            let chat_id = chat_row(tx.client(), ChatType::User, a.get(), b.get()).await?;
            if tx.execute(&add_member, &[&peer.id.get(), &user.get(), &chat_id]).await? > 0 {
                opened.push(ListFact::Conversations(peer.id));
            }
            chat_id
        }
        ChatType::Bot => chat_row(tx.client(), ChatType::Bot, user.get(), peer.id.get()).await?,
        ChatType::Group => return Err(Error::Internal(anyhow::anyhow!("open_conversation is for users and bots"))),
    };
    if tx.execute(&add_member, &[&user.get(), &peer.id.get(), &chat_id]).await? > 0 {
        opened.push(ListFact::Conversations(user));
    }
    if !opened.is_empty() {
        tx.announce(&opened);
    }
    Ok(ChatRef(chat_id))
}

/// The entity `peer` names, and the user's position in their conversation
/// with it if there is one.
pub(super) async fn read_position<C: GenericClient>(
    client: &C,
    user: Id,
    peer: Id,
) -> Result<Option<(Entity, Option<ReadPosition>)>> {
    let sql = format!(
        "SELECT {}, m.chat_id AS chat_id, m.read_seq AS read_seq, m.gag_until_ms AS gag_until_ms, \
         c.last_seq AS last_seq \
         FROM entity e \
         LEFT JOIN member m ON m.user_id = $1 AND m.peer_id = e.id AND e.dismissed_ms = 0 \
         LEFT JOIN chat c ON c.id = m.chat_id \
         WHERE e.id = $2",
        entity_select("e", &ENTITY)
    );
    let stmt = client.prepare_cached(&sql).await?;
    let Some(row) = client.query_opt(&stmt, &[&user.get(), &peer.get()]).await? else {
        return Ok(None);
    };
    let position = match (
        row.try_get("chat_id")?,
        row.try_get("read_seq")?,
        row.try_get("last_seq")?,
        row.try_get("gag_until_ms")?,
    ) {
        (Some(chat), Some(read_seq), Some(last_seq), Some(gag_until_ms)) => {
            Some(ReadPosition { chat: ChatRef(chat), read_seq, last_seq, gag_until_ms })
        }
        _ => None,
    };
    Ok(Some((entity_from(&row, &ENTITY)?, position)))
}

/// Applies one [`ViewChange`] to the user's member row for `peer`: the
/// update first; only when it changed nothing, a look for the row.
pub(super) async fn change_view<C: GenericClient>(
    client: &C,
    user: Id,
    peer: Id,
    change: ViewChange,
) -> Result<Option<bool>> {
    let (user_id, peer_id) = (user.get(), peer.get());
    let changed = match change {
        ViewChange::MarkRead => {
            let stmt = client
                .prepare_cached(
                    "UPDATE member SET read_seq = c.last_seq FROM chat c \
                     WHERE c.id = member.chat_id AND member.user_id = $1 AND member.peer_id = $2 \
                       AND member.read_seq < c.last_seq",
                )
                .await?;
            client.execute(&stmt, &[&user_id, &peer_id]).await?
        }
        ViewChange::HideAndMarkRead => {
            let stmt = client
                .prepare_cached(
                    "UPDATE member SET read_seq = c.last_seq, hidden_seq = c.last_seq FROM chat c \
                     WHERE c.id = member.chat_id AND member.user_id = $1 AND member.peer_id = $2",
                )
                .await?;
            client.execute(&stmt, &[&user_id, &peer_id]).await?
        }
        ViewChange::Touch { now_ms } => {
            let stmt = client
                .prepare_cached("UPDATE member SET sort_ms = $3, hidden_seq = NULL WHERE user_id = $1 AND peer_id = $2")
                .await?;
            client.execute(&stmt, &[&user_id, &peer_id, &now_ms]).await?
        }
        ViewChange::DoNotDisturb(on) => {
            let stmt = client.prepare_cached("UPDATE member SET dnd = $3 WHERE user_id = $1 AND peer_id = $2").await?;
            client.execute(&stmt, &[&user_id, &peer_id, &on]).await?
        }
    };
    if changed > 0 {
        return Ok(Some(true));
    }
    Ok(member_chat(client, user, peer).await?.map(|_| false))
}

/// The columns of a stored message, with its sender prefixed `s_`.
fn message_select() -> String {
    format!(
        "{}, m.msg_id AS msg_id, m.seq AS seq, m.content_type AS content_type, m.content AS content, \
         m.quote_msg_id AS quote_msg_id, m.sent_ms AS sent_ms, m.edit_ms AS edit_ms, m.recall_ms AS recall_ms",
        entity_select("s", &SENDER)
    )
}

fn message_from(r: &Row) -> Result<StoredMessage> {
    Ok(StoredMessage {
        sender: entity_from(r, &SENDER)?,
        msg_id: r.try_get("msg_id")?,
        seq: r.try_get("seq")?,
        content_type: r.try_get::<_, i64>("content_type")?.max(0) as u64,
        content: r.try_get("content")?,
        quote_msg_id: r.try_get("quote_msg_id")?,
        sent_ms: r.try_get("sent_ms")?,
        edit_ms: r.try_get("edit_ms")?,
        recall_ms: r.try_get("recall_ms")?,
    })
}

/// The messages of one chat in a window of sequence numbers.
pub(super) async fn messages<C: GenericClient>(
    client: &C,
    chat: ChatRef,
    window: SeqWindow,
) -> Result<Vec<StoredMessage>> {
    let order = if window.newest_first { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT {} FROM message m JOIN entity s ON s.id = m.sender_id \
         WHERE m.chat_id = $1 AND m.seq > $2 AND m.seq <= $3 ORDER BY m.seq {order} LIMIT $4",
        message_select()
    );
    let stmt = client.prepare_cached(&sql).await?;
    let rows = client.query(&stmt, &[&chat.0, &window.after, &window.up_to, &i64::from(window.limit)]).await?;
    rows.iter().map(message_from).collect()
}

/// The sequence number of `msg_id` in one chat.
pub(super) async fn message_seq<C: GenericClient>(client: &C, chat: ChatRef, msg_id: &str) -> Result<Option<i64>> {
    let stmt = client.prepare_cached("SELECT seq FROM message WHERE chat_id = $1 AND msg_id = $2").await?;
    match client.query_opt(&stmt, &[&chat.0, &msg_id]).await? {
        Some(r) => Ok(Some(r.try_get("seq")?)),
        None => Ok(None),
    }
}

/// One stored message and the chat as its sender addressed it.
pub(super) async fn pushed_message<C: GenericClient>(client: &C, key: MessageKey) -> Result<Option<AddressedMessage>> {
    let sql = format!(
        "SELECT {}, {}, x.name AS recaller_name, e.dismissed_ms > 0 AS peer_dismissed, \
         (SELECT value FROM meta WHERE key = 'identity_epoch') AS identity_epoch FROM message m \
         JOIN entity s ON s.id = m.sender_id \
         JOIN chat c ON c.id = m.chat_id \
         LEFT JOIN entity x ON x.id = m.recalled_by \
         JOIN entity e ON e.id = CASE WHEN c.kind = 2 THEN c.a WHEN c.a = m.sender_id THEN c.b ELSE c.a END \
         WHERE m.chat_id = $1 AND m.seq = $2",
        message_select(),
        entity_select("e", &ENTITY)
    );
    let stmt = client.prepare_cached(&sql).await?;
    match client.query_opt(&stmt, &[&key.chat.0, &key.seq]).await? {
        Some(r) => Ok(Some(AddressedMessage {
            peer: entity_from(&r, &ENTITY)?,
            message: message_from(&r)?,
            recaller_name: r.try_get("recaller_name")?,
            peer_dismissed: r.try_get("peer_dismissed")?,
            identity_epoch: r.try_get("identity_epoch")?,
        })),
        None => Ok(None),
    }
}
