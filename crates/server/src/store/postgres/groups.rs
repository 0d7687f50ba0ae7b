//! Groups, profiles, the address book and friend requests in PostgreSQL.
//! Writes run in [`Tx`]s: what they announce goes with their commit.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use yhconv_proto::ChatType;

use super::identities::chat_row;
use super::pipelined::Tx;
use super::{entity_from, entity_select, ENTITY, SENDER};
use crate::domain::error::Result;
use crate::domain::ids::Id;
use crate::domain::list_change::ListFact;
use crate::domain::model::*;
use crate::store::columns::EntityColumns;

/// The requester of a friend request, prefixed `s_` like a sender.
const FROM: EntityColumns = SENDER;
/// The receiver of a friend request, prefixed `t_`.
const TO: EntityColumns =
    EntityColumns(["t_id", "t_kind", "t_name", "t_avatar_url", "t_avatar_id", "t_certification_level"]);

/// Serializes the allocation of new entity ids (one above every id in use).
const ENTITY_ID_LOCK: i64 = 0x7968_636f_6e76_0001;

pub(super) async fn create_group(tx: &Tx, group: &NewGroup) -> Result<Id> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ENTITY_ID_LOCK]).await?;
    let row = tx.query_one("SELECT coalesce(max(id), 0) + 1 AS id FROM entity", &[]).await?;
    let id: i64 = row.try_get("id")?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO entity (id, kind, name, avatar_url, owner_id, introduction, created_ms) \
             VALUES ($1, 2, $2, $3, $4, $5, $6)",
        )
        .await?;
    tx.execute(
        &insert,
        &[&id, &group.name, &group.avatar_url, &group.owner.get(), &group.introduction, &group.created_ms],
    )
    .await?;
    let chat_id = chat_row(tx.client(), ChatType::Group, id, 0).await?;
    let member = tx
        .prepare_cached("INSERT INTO member (user_id, peer_id, chat_id, read_seq, sort_ms) VALUES ($1, $2, $3, 0, $4)")
        .await?;
    tx.execute(&member, &[&group.owner.get(), &id, &chat_id, &group.created_ms]).await?;
    tx.announce(&[ListFact::Conversations(group.owner)]);
    Ok(Id::from_raw(id))
}

pub(super) async fn join_group(tx: &Tx, group: Id, users: &[Id], now_ms: i64) -> Result<Vec<Id>> {
    let chat_id = chat_row(tx.client(), ChatType::Group, group.get(), 0).await?;
    let add = tx
        .prepare_cached(
            "INSERT INTO member (user_id, peer_id, chat_id, read_seq, sort_ms) \
             SELECT $1, $2, $3, last_seq, $4 FROM chat WHERE id = $3 \
             ON CONFLICT (user_id, peer_id) DO NOTHING",
        )
        .await?;
    let mut added = Vec::new();
    for &user in users {
        if tx.execute(&add, &[&user.get(), &group.get(), &chat_id, &now_ms]).await? > 0 {
            added.push(user);
        }
    }
    if !added.is_empty() {
        let facts: Vec<ListFact> = added.iter().map(|&u| ListFact::Conversations(u)).collect();
        tx.announce(&facts);
    }
    Ok(added)
}

pub(super) async fn dismiss_group(tx: &Tx, group: Id, now_ms: i64) -> Result<bool> {
    let stmt = tx
        .prepare_cached("UPDATE entity SET dismissed_ms = $2 WHERE id = $1 AND kind = 2 AND dismissed_ms = 0")
        .await?;
    let changed = tx.execute(&stmt, &[&group.get(), &now_ms.max(1)]).await? > 0;
    if changed {
        tx.announce(&[ListFact::Peer(group)]);
    }
    Ok(changed)
}

pub(super) async fn purge_dismissed(tx: &Tx, group: Id, batch: u32) -> Result<u64> {
    let dismissed =
        tx.query_opt("SELECT 1 FROM entity WHERE id = $1 AND dismissed_ms > 0", &[&group.get()]).await?.is_some();
    if !dismissed {
        return Ok(0);
    }
    // Through the group's chat row: member rows are indexed by chat.
    let stmt = tx
        .prepare_cached(
            "WITH chat_row AS (SELECT id FROM chat WHERE kind = 2 AND a = $1 AND b = 0), \
             gone AS ( \
                 DELETE FROM member WHERE chat_id = (SELECT id FROM chat_row) AND user_id IN \
                     (SELECT user_id FROM member WHERE chat_id = (SELECT id FROM chat_row) LIMIT $2) \
                 RETURNING user_id), \
             pins AS (DELETE FROM pin WHERE peer_id = $1 AND user_id IN (SELECT user_id FROM gone)) \
             SELECT count(*) AS n FROM gone",
        )
        .await?;
    let row = tx.query_one(&stmt, &[&group.get(), &i64::from(batch)]).await?;
    Ok(row.try_get::<_, i64>("n")? as u64)
}

fn facts_from(r: &Row) -> Result<EntityFacts> {
    Ok(EntityFacts {
        entity: entity_from(r, &ENTITY)?,
        introduction: r.try_get("introduction")?,
        created_ms: r.try_get("created_ms")?,
        owner: r.try_get::<_, Option<i64>>("owner_id")?.map(Id::from_raw),
        dismissed: r.try_get::<_, i64>("dismissed_ms")? > 0,
    })
}

pub(super) async fn unpurged_dismissals<C: GenericClient>(client: &C, limit: u32) -> Result<Vec<Id>> {
    let stmt = client
        .prepare_cached(
            "SELECT e.id AS id FROM entity e WHERE e.kind = 2 AND e.dismissed_ms > 0 AND EXISTS \
                 (SELECT 1 FROM chat c JOIN member m ON m.chat_id = c.id WHERE c.kind = 2 AND c.a = e.id AND c.b = 0) \
             ORDER BY e.id LIMIT $1",
        )
        .await?;
    let rows = client.query(&stmt, &[&i64::from(limit)]).await?;
    rows.iter().map(|r| Ok(Id::from_raw(r.try_get("id")?))).collect()
}

pub(super) async fn entity_facts<C: GenericClient>(client: &C, id: Id) -> Result<Option<EntityFacts>> {
    let sql = format!(
        "SELECT {}, introduction, created_ms, owner_id, dismissed_ms FROM entity WHERE id = $1",
        entity_select("entity", &ENTITY)
    );
    let stmt = client.prepare_cached(&sql).await?;
    client.query_opt(&stmt, &[&id.get()]).await?.as_ref().map(facts_from).transpose()
}

pub(super) async fn roster<C: GenericClient>(client: &C, group: Id) -> Result<Roster> {
    let count = client
        .prepare_cached(
            "SELECT count(*) AS n FROM member m JOIN entity e ON e.id = m.peer_id \
             WHERE m.peer_id = $1 AND e.dismissed_ms = 0",
        )
        .await?;
    let headcount: i64 = client.query_one(&count, &[&group.get()]).await?.try_get("n")?;
    let admins =
        client.prepare_cached("SELECT user_id FROM member WHERE peer_id = $1 AND role = 1 ORDER BY user_id").await?;
    let admins = client
        .query(&admins, &[&group.get()])
        .await?
        .iter()
        .map(|r| Ok(Id::from_raw(r.try_get("user_id")?)))
        .collect::<Result<_>>()?;
    Ok(Roster { headcount, admins })
}

fn role_of(is_owner: Option<bool>, role: i16) -> Role {
    match (is_owner, role) {
        (Some(true), _) => Role::Owner,
        (_, 1) => Role::Admin,
        _ => Role::Member,
    }
}

pub(super) async fn membership<C: GenericClient>(client: &C, group: Id, user: Id) -> Result<Option<Membership>> {
    let stmt = client
        .prepare_cached(
            "SELECT m.role AS role, e.owner_id = m.user_id AS is_owner, m.gag_until_ms AS gag_until_ms, m.dnd AS dnd, \
                    EXISTS (SELECT 1 FROM pin p WHERE p.user_id = m.user_id AND p.peer_id = m.peer_id) AS pinned \
             FROM member m JOIN entity e ON e.id = m.peer_id \
             WHERE m.user_id = $1 AND m.peer_id = $2 AND e.kind = 2 AND e.dismissed_ms = 0",
        )
        .await?;
    client
        .query_opt(&stmt, &[&user.get(), &group.get()])
        .await?
        .map(|r| {
            Ok(Membership {
                role: role_of(r.try_get("is_owner")?, r.try_get("role")?),
                gag_until_ms: r.try_get("gag_until_ms")?,
                do_not_disturb: r.try_get("dnd")?,
                pinned: r.try_get("pinned")?,
            })
        })
        .transpose()
}

pub(super) async fn group_members<C: GenericClient>(
    client: &C,
    group: Id,
    keyword: &str,
    limit: u32,
    offset: u32,
) -> Result<(Vec<MemberRow>, u64)> {
    let filter = "m.peer_id = $1 AND ($2 = '' OR strpos(lower(u.name), $2) > 0)";
    let count = client
        .prepare_cached(&format!("SELECT count(*) AS n FROM member m JOIN entity u ON u.id = m.user_id WHERE {filter}"))
        .await?;
    let total: i64 = client.query_one(&count, &[&group.get(), &keyword]).await?.try_get("n")?;
    let sql = format!(
        "SELECT {}, m.role AS role, g.owner_id = m.user_id AS is_owner, m.gag_until_ms AS gag_until_ms \
         FROM member m JOIN entity u ON u.id = m.user_id JOIN entity g ON g.id = m.peer_id \
         WHERE {filter} \
         ORDER BY (g.owner_id = m.user_id) DESC, m.role DESC, m.user_id LIMIT $3 OFFSET $4",
        entity_select("u", &ENTITY)
    );
    let stmt = client.prepare_cached(&sql).await?;
    let rows = client
        .query(&stmt, &[&group.get(), &keyword, &i64::from(limit), &i64::from(offset)])
        .await?
        .iter()
        .map(|r| {
            Ok(MemberRow {
                user: entity_from(r, &ENTITY)?,
                role: role_of(r.try_get("is_owner")?, r.try_get("role")?),
                gag_until_ms: r.try_get("gag_until_ms")?,
            })
        })
        .collect::<Result<_>>()?;
    Ok((rows, total as u64))
}

pub(super) async fn set_admin<C: GenericClient>(client: &C, group: Id, user: Id, admin: bool) -> Result<bool> {
    let stmt = client.prepare_cached("UPDATE member SET role = $3 WHERE user_id = $1 AND peer_id = $2").await?;
    Ok(client.execute(&stmt, &[&user.get(), &group.get(), &i16::from(admin)]).await? > 0)
}

pub(super) async fn set_gag<C: GenericClient>(client: &C, group: Id, user: Id, until_ms: i64) -> Result<bool> {
    let stmt = client.prepare_cached("UPDATE member SET gag_until_ms = $3 WHERE user_id = $1 AND peer_id = $2").await?;
    Ok(client.execute(&stmt, &[&user.get(), &group.get(), &until_ms]).await? > 0)
}

pub(super) async fn add_group_bot<C: GenericClient>(client: &C, group: Id, bot: Id, now_ms: i64) -> Result<bool> {
    let stmt = client
        .prepare_cached("INSERT INTO group_bot (group_id, bot_id, added_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .await?;
    Ok(client.execute(&stmt, &[&group.get(), &bot.get(), &now_ms]).await? > 0)
}

pub(super) async fn group_bots<C: GenericClient>(client: &C, group: Id) -> Result<Vec<EntityFacts>> {
    let sql = format!(
        "SELECT {}, e.introduction AS introduction, e.created_ms AS created_ms, e.owner_id AS owner_id, \
                e.dismissed_ms AS dismissed_ms \
         FROM group_bot b JOIN entity e ON e.id = b.bot_id WHERE b.group_id = $1 ORDER BY b.added_ms, b.bot_id",
        entity_select("e", &ENTITY)
    );
    let stmt = client.prepare_cached(&sql).await?;
    client.query(&stmt, &[&group.get()]).await?.iter().map(facts_from).collect()
}

pub(super) async fn bot_headcount<C: GenericClient>(client: &C, bot: Id) -> Result<i64> {
    let stmt = client.prepare_cached("SELECT count(*) AS n FROM contact WHERE peer_id = $1").await?;
    Ok(client.query_one(&stmt, &[&bot.get()]).await?.try_get("n")?)
}

pub(super) async fn edit_entity(tx: &Tx, id: Id, change: &EntityChange) -> Result<bool> {
    let (sql, value) = match change {
        EntityChange::Name(name) => ("UPDATE entity SET name = $2 WHERE id = $1", name),
        EntityChange::AvatarUrl(url) => ("UPDATE entity SET avatar_url = $2 WHERE id = $1", url),
    };
    let stmt = tx.prepare_cached(sql).await?;
    let changed = tx.execute(&stmt, &[&id.get(), value]).await? > 0;
    if changed {
        tx.announce(&[ListFact::Peer(id)]);
    }
    Ok(changed)
}

pub(super) async fn remark<C: GenericClient>(client: &C, user: Id, target: Id) -> Result<Option<RemarkFields>> {
    let stmt =
        client.prepare_cached("SELECT remark, phone, extra FROM remark WHERE user_id = $1 AND target_id = $2").await?;
    client
        .query_opt(&stmt, &[&user.get(), &target.get()])
        .await?
        .map(|r| {
            Ok(RemarkFields { name: r.try_get("remark")?, phone: r.try_get("phone")?, extra: r.try_get("extra")? })
        })
        .transpose()
}

pub(super) async fn set_remark(tx: &Tx, user: Id, target: Id, remark: Option<&RemarkFields>) -> Result<()> {
    match remark {
        Some(r) => {
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO remark (user_id, target_id, remark, phone, extra) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (user_id, target_id) DO UPDATE SET remark = excluded.remark, \
                     phone = excluded.phone, extra = excluded.extra",
                )
                .await?;
            tx.execute(&stmt, &[&user.get(), &target.get(), &r.name, &r.phone, &r.extra]).await?
        }
        None => {
            let stmt = tx.prepare_cached("DELETE FROM remark WHERE user_id = $1 AND target_id = $2").await?;
            tx.execute(&stmt, &[&user.get(), &target.get()]).await?
        }
    };
    tx.announce(&[ListFact::View { user, peer: target }]);
    Ok(())
}

pub(super) async fn contacts<C: GenericClient>(client: &C, user: Id) -> Result<Vec<ContactRow>> {
    let sql = format!(
        "SELECT {}, NULLIF(r.remark, '') AS remark, NULL::smallint AS role, NULL::boolean AS is_owner, \
                coalesce(m.dnd, false) AS dnd \
         FROM contact k JOIN entity e ON e.id = k.peer_id \
         LEFT JOIN member m ON m.user_id = k.user_id AND m.peer_id = k.peer_id \
         LEFT JOIN remark r ON r.user_id = k.user_id AND r.target_id = k.peer_id \
         WHERE k.user_id = $1 \
         UNION ALL \
         SELECT {}, NULLIF(r.remark, '') AS remark, m.role AS role, e.owner_id = m.user_id AS is_owner, m.dnd AS dnd \
         FROM member m JOIN entity e ON e.id = m.peer_id \
         LEFT JOIN remark r ON r.user_id = m.user_id AND r.target_id = m.peer_id \
         WHERE m.user_id = $1 AND e.kind IN (2, 3) AND e.dismissed_ms = 0 \
           AND NOT EXISTS (SELECT 1 FROM contact k WHERE k.user_id = m.user_id AND k.peer_id = m.peer_id)",
        entity_select("e", &ENTITY),
        entity_select("e", &ENTITY)
    );
    let stmt = client.prepare_cached(&sql).await?;
    client
        .query(&stmt, &[&user.get()])
        .await?
        .iter()
        .map(|r| {
            let peer = entity_from(r, &ENTITY)?;
            let role = match peer.kind {
                ChatType::Group => {
                    Some(role_of(r.try_get("is_owner")?, r.try_get::<_, Option<i16>>("role")?.unwrap_or(0)))
                }
                _ => None,
            };
            Ok(ContactRow { peer, remark: r.try_get("remark")?, role, do_not_disturb: r.try_get("dnd")? })
        })
        .collect()
}

pub(super) async fn is_contact<C: GenericClient>(client: &C, user: Id, peer: Id) -> Result<bool> {
    let stmt = client.prepare_cached("SELECT 1 FROM contact WHERE user_id = $1 AND peer_id = $2").await?;
    Ok(client.query_opt(&stmt, &[&user.get(), &peer.get()]).await?.is_some())
}

pub(super) async fn add_contact<C: GenericClient>(client: &C, user: Id, peer: Id, now_ms: i64) -> Result<bool> {
    let stmt = client
        .prepare_cached("INSERT INTO contact (user_id, peer_id, created_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .await?;
    Ok(client.execute(&stmt, &[&user.get(), &peer.get(), &now_ms]).await? > 0)
}

/// Takes `user` out of `group` (their member row and pin); false when they
/// were not in it.
pub(super) async fn leave_group(tx: &Tx, user: Id, group: Id) -> Result<bool> {
    let member = tx.prepare_cached("DELETE FROM member WHERE user_id = $1 AND peer_id = $2").await?;
    let left = tx.execute(&member, &[&user.get(), &group.get()]).await? > 0;
    let pin = tx.prepare_cached("DELETE FROM pin WHERE user_id = $1 AND peer_id = $2").await?;
    tx.execute(&pin, &[&user.get(), &group.get()]).await?;
    if left {
        tx.announce(&[ListFact::Conversations(user)]);
    }
    Ok(left)
}

pub(super) async fn remove_contact(tx: &Tx, user: Id, peer: Id) -> Result<bool> {
    let delete = tx.prepare_cached("DELETE FROM contact WHERE user_id = $1 AND peer_id = $2").await?;
    let mut removed = tx.execute(&delete, &[&user.get(), &peer.get()]).await? > 0;
    let kind: Option<i16> =
        tx.query_opt("SELECT kind FROM entity WHERE id = $1", &[&peer.get()]).await?.map(|r| r.get(0));
    match kind {
        Some(1) => {
            tx.execute(&delete, &[&peer.get(), &user.get()]).await?;
        }
        Some(3) => removed |= leave_group(tx, user, peer).await?,
        _ => {}
    }
    Ok(removed)
}

pub(super) async fn add_request(tx: &Tx, from: Id, to: Id, note: &str, now_ms: i64) -> Result<i64> {
    let pending = tx
        .prepare_cached("SELECT id FROM friend_request WHERE from_id = $1 AND to_id = $2 AND state = 0 FOR UPDATE")
        .await?;
    if let Some(row) = tx.query_opt(&pending, &[&from.get(), &to.get()]).await? {
        let id: i32 = row.try_get("id")?;
        let update = tx.prepare_cached("UPDATE friend_request SET note = $2, created_ms = $3 WHERE id = $1").await?;
        tx.execute(&update, &[&id, &note, &now_ms]).await?;
        return Ok(i64::from(id));
    }
    let insert = tx
        .prepare_cached(
            "INSERT INTO friend_request (from_id, to_id, note, created_ms) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .await?;
    let id: i32 = tx.query_one(&insert, &[&from.get(), &to.get(), &note, &now_ms]).await?.try_get("id")?;
    Ok(i64::from(id))
}

fn request_sql(filter: &str) -> String {
    format!(
        "SELECT q.id AS id, q.note AS note, q.created_ms AS created_ms, q.state AS state, q.settled_ms AS settled_ms, \
                {}, {} \
         FROM friend_request q JOIN entity s ON s.id = q.from_id JOIN entity t ON t.id = q.to_id \
         WHERE {filter}",
        entity_select("s", &FROM),
        entity_select("t", &TO)
    )
}

fn request_from(r: &Row) -> Result<FriendRequestRow> {
    Ok(FriendRequestRow {
        id: i64::from(r.try_get::<_, i32>("id")?),
        from: entity_from(r, &FROM)?,
        to: entity_from(r, &TO)?,
        note: r.try_get("note")?,
        created_ms: r.try_get("created_ms")?,
        state: RequestState::from_code(i64::from(r.try_get::<_, i16>("state")?)),
        settled_ms: r.try_get("settled_ms")?,
    })
}

pub(super) async fn requests<C: GenericClient>(client: &C, user: Id, limit: u32) -> Result<Vec<FriendRequestRow>> {
    let stmt =
        client.prepare_cached(&request_sql("(q.to_id = $1 OR q.from_id = $1) ORDER BY q.id DESC LIMIT $2")).await?;
    client.query(&stmt, &[&user.get(), &i64::from(limit)]).await?.iter().map(request_from).collect()
}

pub(super) async fn request<C: GenericClient>(client: &C, id: i64) -> Result<Option<FriendRequestRow>> {
    let Ok(id) = i32::try_from(id) else { return Ok(None) };
    let stmt = client.prepare_cached(&request_sql("q.id = $1")).await?;
    client.query_opt(&stmt, &[&id]).await?.as_ref().map(request_from).transpose()
}

pub(super) async fn settle_request(tx: &Tx, id: i64, state: RequestState, now_ms: i64) -> Result<bool> {
    let Ok(id) = i32::try_from(id) else { return Ok(false) };
    let settle = tx
        .prepare_cached(
            "UPDATE friend_request SET state = $2, settled_ms = $3 WHERE id = $1 AND state = 0 \
             RETURNING from_id, to_id",
        )
        .await?;
    let Some(row) = tx.query_opt(&settle, &[&id, &(state.code() as i16), &now_ms]).await? else {
        return Ok(false);
    };
    let (from, to): (i64, i64) = (row.try_get("from_id")?, row.try_get("to_id")?);
    if state == RequestState::Agreed {
        add_contact(tx.client(), Id::from_raw(from), Id::from_raw(to), now_ms).await?;
        add_contact(tx.client(), Id::from_raw(to), Id::from_raw(from), now_ms).await?;
        let other_way = tx
            .prepare_cached(
                "UPDATE friend_request SET state = 1, settled_ms = $3 WHERE from_id = $2 AND to_id = $1 AND state = 0",
            )
            .await?;
        tx.execute(&other_way, &[&from, &to, &now_ms]).await?;
    }
    Ok(true)
}

pub(super) async fn delete_request<C: GenericClient>(client: &C, id: i64) -> Result<bool> {
    let Ok(id) = i32::try_from(id) else { return Ok(false) };
    let stmt = client.prepare_cached("DELETE FROM friend_request WHERE id = $1").await?;
    Ok(client.execute(&stmt, &[&id]).await? > 0)
}
