//! Storing messages: one send in one transaction of one round trip, or
//! several sends into one chat together (see [`super::send_batches`]).

use futures_util::future::join;
use tokio_postgres::error::SqlState;

use super::pipelined::{Literal, Param, Pipelined, Tx};
use super::PUSH_CHANNEL;
use crate::domain::error::{Error, Result};
use crate::domain::event::{ChatRef, Event, SocketOrigin};
use crate::domain::list_change::ListFact;
use crate::domain::model::{Appended, NewMessage, SendFacts};
use crate::store::columns::mention_target_id;

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

    /// [`CLEAR_DRAFT`]'s values.
    fn draft(&self) -> Vec<Literal> {
        vec![
            Literal::Int(self.sender),
            Literal::Int(self.peer),
            Literal::Text(PUSH_CHANNEL.to_owned()),
            Literal::Text(self.draft_event.clone()),
        ]
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
    let values: Vec<MessageValues> = msgs.iter().map(MessageValues::of).collect();
    let seqs: Vec<std::sync::Mutex<Option<i64>>> = msgs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let mut writes: Vec<Pipelined<'_>> = Vec::with_capacity(msgs.len());
    for ((msg, values), seq) in msgs.iter().zip(&values).zip(&seqs) {
        let (store, chat) = (&store, &chat);
        writes.push(Box::pin(async move {
            let stored: i64 = client.query_one(store, &values.row(chat, msg)).await?.try_get("seq")?;
            *seq.lock().unwrap_or_else(|p| p.into_inner()) = Some(stored);
            Ok(1)
        }));
    }
    // The list change, then the messages, then the cleared drafts: each
    // instance hands the change on to its lists before it pushes a message
    // (see `pipelined::Tail`).
    tx.announce(&[ListFact::Chat(chat)]);
    for before_last in (0..msgs.len() as i64).rev() {
        tx.notify_message_before_last(chat, before_last);
    }
    for values in &values {
        tx.on_commit(CLEAR_DRAFT, values.draft());
    }
    // `join` polls `BEGIN` first, so it is sent first.
    let (begun, committed) = join(tx.begin(), tx.commit_with(writes)).await;
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
