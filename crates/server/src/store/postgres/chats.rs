//! Conversations and messages: the hot half of the PostgreSQL store.

use deadpool_postgres::GenericClient;
use futures_util::future::join;
use tokio_postgres::error::SqlState;
use tokio_postgres::Row;
use yhconv_proto::ChatType;

use super::identities::chat_row;
use super::pipelined::{Param, Pipelined, Tx};
use super::{entity_from, entity_select, ENTITY, PUSH_CHANNEL, SENDER};
use crate::domain::error::{Error, Result};
use crate::domain::event::{ChatRef, Event, MessageKey, SocketOrigin};
use crate::domain::ids::Id;
use crate::domain::list_change::ListFact;
use crate::domain::model::{
    AddressedMessage, Appended, ConversationRow, Entity, MentionRow, NewMessage, ReadPosition, SendFacts, SeqWindow,
    StoredMessage, ViewChange,
};
use crate::store::columns::mention_target_id;

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

/// Stores a message, its mentions and the sender's read position in one
/// statement: the chat's row is bumped first (which locks it until the
/// commit, so concurrent sends into one chat, from any instance, take
/// sequence numbers one after another) and the new number goes on to the
/// other writes. `$1` chat, `$2` preview, `$3` sender, `$4` sent time,
/// `$5` msg_id, `$6` content type, `$7` content, `$8` quoted msg_id, `$9`
/// whether the sender has read it, `$10` the mentioned ids (0 for all),
/// `$11` and `$12` the [`SendFacts`]: nothing is bumped unless they hold,
/// and then the statement refuses.
const STORE_MESSAGE: &str = "\
    WITH bumped AS ( \
        UPDATE chat SET last_seq = last_seq + 1, last_preview = $2, last_sender_id = $3, last_message_ms = $4 \
        WHERE id = $1 \
          AND EXISTS (SELECT 1 FROM member m JOIN entity e ON e.id = m.peer_id \
                      WHERE m.chat_id = $1 AND m.user_id = $3 AND e.dismissed_ms = 0 AND m.gag_until_ms = $11) \
          AND ($12::TEXT IS NULL OR EXISTS (SELECT 1 FROM entity WHERE id = $3 AND name = $12)) \
        RETURNING last_seq), \
    stored AS ( \
        INSERT INTO message (chat_id, seq, msg_id, sender_id, content_type, content, quote_msg_id, sent_ms) \
        SELECT $1, last_seq, $5, $3, $6, $7, $8, $4 FROM bumped RETURNING seq), \
    read AS ( \
        UPDATE member SET read_seq = GREATEST(read_seq, bumped.last_seq) FROM bumped \
        WHERE $9 AND member.chat_id = $1 AND member.user_id = $3), \
    mentioned AS ( \
        INSERT INTO mention (chat_id, target_id, seq, mentioner_id) \
        SELECT $1, target, bumped.last_seq, $3 FROM bumped, unnest($10::BIGINT[]) AS target \
        ON CONFLICT DO NOTHING) \
    SELECT COALESCE((SELECT seq FROM stored), yhconv_refuse('send facts changed')) AS seq";

/// The SQLSTATE of `yhconv_refuse` (migration 0011).
const REFUSED: &str = "YH001";

/// Clears the sender's draft in the chat, notifying its event only when
/// there was one (`$1` the sender, `$2` the peer, `$3` the channel, `$4`
/// the event).
const CLEAR_DRAFT: &str = "WITH gone AS (DELETE FROM draft WHERE user_id = $1 AND peer_id = $2 RETURNING 1) \
     SELECT pg_notify($3, $4) FROM gone";

/// One message's values, owned, for the statements that store it.
struct MessageValues {
    sender: i64,
    content_type: i64,
    targets: Vec<i64>,
    peer: i64,
    draft_event: String,
}

impl MessageValues {
    fn of(msg: &NewMessage) -> Self {
        Self {
            sender: msg.sender.get(),
            content_type: msg.content_type.code() as i64,
            targets: msg.mentions.iter().map(mention_target_id).collect(),
            peer: msg.sender_peer.get(),
            draft_event: Event::Draft { user: msg.sender, peer: msg.sender_peer, origin: SocketOrigin::NONE }.encode(),
        }
    }

    /// [`STORE_MESSAGE`]'s parameters.
    fn row<'a>(&'a self, chat: &'a ChatRef, msg: &'a NewMessage) -> [Param<'a>; 12] {
        let SendFacts { gag_until_ms, sender_name } = &msg.facts;
        [
            &chat.0,
            &msg.preview,
            &self.sender,
            &msg.sent_ms,
            &msg.msg_id,
            &self.content_type,
            &msg.content,
            &msg.quote_msg_id,
            &msg.read_by_sender,
            &self.targets,
            gag_until_ms,
            sender_name,
        ]
    }

    /// [`CLEAR_DRAFT`]'s parameters.
    fn draft(&self) -> [Param<'_>; 4] {
        [&self.sender, &self.peer, &PUSH_CHANNEL, &self.draft_event]
    }
}

/// Stores one message in one transaction of one round trip: O(1 +
/// mentions) rows touched, whatever the chat size. `BEGIN`, the message
/// ([`STORE_MESSAGE`]), its notifications (the list clock's row locked
/// last), the cleared draft and `COMMIT` go in one pipeline, so the chat's
/// row stays locked only while PostgreSQL runs it. A retry, or a msg_id
/// another sender took in the chat, fails the insert on a unique index and
/// rolls the whole back; the stored message then says which it was. So
/// does a message whose [`SendFacts`] no longer hold: it refuses
/// (`yhconv_refuse`, SQLSTATE [`REFUSED`]) before anything is written.
pub(super) async fn append_message(tx: Tx, chat: ChatRef, msg: NewMessage) -> Result<Appended> {
    match store_messages(&tx, chat, std::slice::from_ref(&msg)).await {
        Ok(seqs) => {
            tx.finished().await;
            seqs.first()
                .map(|&seq| Appended::New { seq })
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("chat {} to store a message in is gone", chat.0)))
        }
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => taken_msg_id(tx, chat, &msg, e).await,
        Err(e) if e.code().map(SqlState::code) == Some(REFUSED) => {
            tx.finished().await;
            Ok(Appended::Stale)
        }
        Err(e) => Err(e.into()),
    }
}

/// Stores several messages into one chat in one transaction of one round
/// trip, as [`append_message`] stores one: their sequence numbers, in
/// order. Any failure (a taken msg_id, facts that no longer hold) rolls
/// every one of them back: store them one at a time then, to learn which.
pub(super) async fn append_messages(tx: Tx, chat: ChatRef, msgs: &[NewMessage]) -> Result<Vec<i64>> {
    let seqs = store_messages(&tx, chat, msgs).await?;
    tx.finished().await;
    if seqs.len() != msgs.len() {
        return Err(Error::Internal(anyhow::anyhow!("chat {} to store messages in is gone", chat.0)));
    }
    Ok(seqs)
}

/// The pipeline of [`append_message`] and [`append_messages`]: `BEGIN`,
/// each message, the list change, each message's notification (in order:
/// the k-th of n is the chat's `n - 1 - k`-th before its last), each
/// cleared draft, `COMMIT`. The sequence numbers stored, in order.
async fn store_messages(
    tx: &Tx,
    chat: ChatRef,
    msgs: &[NewMessage],
) -> std::result::Result<Vec<i64>, tokio_postgres::Error> {
    let client = tx.client();
    let store = client.prepare_cached(STORE_MESSAGE).await?;
    let clear_draft = client.prepare_cached(CLEAR_DRAFT).await?;
    let values: Vec<MessageValues> = msgs.iter().map(MessageValues::of).collect();
    let seqs: Vec<std::sync::Mutex<Option<i64>>> = msgs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let mut writes: Vec<Pipelined<'_>> = Vec::with_capacity(msgs.len());
    let mut after: Vec<Pipelined<'_>> = Vec::with_capacity(msgs.len());
    for ((msg, values), seq) in msgs.iter().zip(&values).zip(&seqs) {
        let (store, chat) = (&store, &chat);
        writes.push(Box::pin(async move {
            let stored: i64 = client.query_one(store, &values.row(chat, msg)).await?.try_get("seq")?;
            *seq.lock().unwrap_or_else(|p| p.into_inner()) = Some(stored);
            Ok(1)
        }));
        after.push(Box::pin(client.execute_raw(&clear_draft, values.draft())));
    }
    // The list change, then the messages, then the cleared drafts: each
    // instance hands the change on to its lists before it pushes a message
    // (see `Tx::commit_with`).
    tx.announce(&[ListFact::Chat(chat)]);
    for before_last in (0..msgs.len() as i64).rev() {
        tx.notify_message_before_last(chat, before_last);
    }
    // `join` polls `BEGIN` first, so it is sent first.
    let (begun, committed) = join(tx.begin(), tx.commit_with(writes, after)).await;
    committed?;
    begun?;
    Ok(seqs.into_iter().filter_map(|seq| seq.into_inner().unwrap_or_else(|p| p.into_inner())).collect())
}

/// After a send rolled back on a unique index: the sender's earlier
/// message with this msg_id (a retry), or another sender's in the chat.
async fn taken_msg_id(tx: Tx, chat: ChatRef, msg: &NewMessage, violation: tokio_postgres::Error) -> Result<Appended> {
    let client = tx.client();
    let earlier =
        client.prepare_cached("SELECT seq, sent_ms FROM message WHERE sender_id = $1 AND msg_id = $2").await?;
    if let Some(row) = client.query_opt(&earlier, &[&msg.sender.get(), &msg.msg_id]).await? {
        let retry = Appended::Retry { seq: row.try_get("seq")?, sent_ms: row.try_get("sent_ms")? };
        tx.finished().await;
        return Ok(retry);
    }
    let taken = client.prepare_cached("SELECT 1 FROM message WHERE chat_id = $1 AND msg_id = $2").await?;
    let found = client.query_opt(&taken, &[&chat.0, &msg.msg_id]).await?;
    tx.finished().await;
    match found {
        Some(_) => Ok(Appended::IdTaken),
        None => Err(violation.into()),
    }
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
