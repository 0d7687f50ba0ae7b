//! Groups, profiles, the address book and friend requests: the social half
//! of the SQLite store.

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};
use yhconv_proto::ChatType;

use super::identities::chat_row;
use super::{entity_from, entity_select, EntityAt, Outbox, ENTITY, SENDER};
use crate::domain::error::{Error, Result};
use crate::domain::ids::Id;
use crate::domain::list_change::ListFact;
use crate::domain::model::*;
use crate::store::columns::EntityColumns;

/// The requester of a friend request, prefixed `s_` like a sender.
const FROM: EntityColumns = SENDER;
/// The receiver of a friend request, prefixed `t_`.
const TO: EntityColumns =
    EntityColumns(["t_id", "t_kind", "t_name", "t_avatar_url", "t_avatar_id", "t_certification_level"]);

/// Creates a group, its chat and its owner's member row.
pub(super) fn create_group(tx: &Transaction<'_>, outbox: &mut Outbox, group: &NewGroup) -> Result<Id> {
    let id: i64 = tx.query_row("SELECT coalesce(max(id), 0) + 1 FROM entity", [], |r| r.get(0))?;
    tx.prepare_cached(
        "INSERT INTO entity (id, kind, name, avatar_url, owner_id, introduction, created_ms) \
         VALUES (?1, 2, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        id,
        group.name,
        group.avatar_url,
        group.owner.get(),
        group.introduction,
        group.created_ms
    ])?;
    let chat_id = chat_row(tx, ChatType::Group, id, 0)?;
    tx.prepare_cached("INSERT INTO member (user_id, peer_id, chat_id, read_seq, sort_ms) VALUES (?1, ?2, ?3, 0, ?4)")?
        .execute(params![group.owner.get(), id, chat_id, group.created_ms])?;
    outbox.list(ListFact::Conversations(group.owner));
    Ok(Id::from_raw(id))
}

/// Adds users to a group at its last message and at the top of their lists.
pub(super) fn join_group(
    tx: &Transaction<'_>,
    outbox: &mut Outbox,
    group: Id,
    users: &[Id],
    now_ms: i64,
) -> Result<Vec<Id>> {
    let chat_id = chat_row(tx, ChatType::Group, group.get(), 0)?;
    let mut add = tx.prepare_cached(
        "INSERT INTO member (user_id, peer_id, chat_id, read_seq, sort_ms) \
         SELECT ?1, ?2, ?3, last_seq, ?4 FROM chat WHERE id = ?3 \
         ON CONFLICT (user_id, peer_id) DO NOTHING",
    )?;
    let mut added = Vec::new();
    for &user in users {
        if add.execute(params![user.get(), group.get(), chat_id, now_ms])? > 0 {
            outbox.list(ListFact::Conversations(user));
            added.push(user);
        }
    }
    Ok(added)
}

/// Marks a group dismissed: one row.
pub(super) fn dismiss_group(tx: &Transaction<'_>, outbox: &mut Outbox, group: Id, now_ms: i64) -> Result<bool> {
    let changed = tx
        .prepare_cached("UPDATE entity SET dismissed_ms = ?2 WHERE id = ?1 AND kind = 2 AND dismissed_ms = 0")?
        .execute(params![group.get(), now_ms.max(1)])?;
    if changed > 0 {
        outbox.list(ListFact::Peer(group));
    }
    Ok(changed > 0)
}

/// Deletes up to `batch` member rows (and their pins) of a dismissed group.
pub(super) fn purge_dismissed(tx: &Transaction<'_>, group: Id, batch: u32) -> Result<u64> {
    let dismissed: bool = tx
        .prepare_cached("SELECT dismissed_ms > 0 FROM entity WHERE id = ?1")?
        .query_row([group.get()], |r| r.get(0))
        .optional()?
        .unwrap_or(false);
    if !dismissed {
        return Ok(0);
    }
    let chat_id = chat_row(tx, ChatType::Group, group.get(), 0)?;
    let users: Vec<i64> = tx
        .prepare_cached("SELECT user_id FROM member WHERE chat_id = ?1 LIMIT ?2")?
        .query_map(params![chat_id, batch], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut member = tx.prepare_cached("DELETE FROM member WHERE user_id = ?1 AND peer_id = ?2")?;
    let mut pin = tx.prepare_cached("DELETE FROM pin WHERE user_id = ?1 AND peer_id = ?2")?;
    for user in &users {
        member.execute([user, &group.get()])?;
        pin.execute([user, &group.get()])?;
    }
    Ok(users.len() as u64)
}

pub(super) fn unpurged_dismissals(conn: &Connection, limit: u32) -> Result<Vec<Id>> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.id AS id FROM entity e WHERE e.kind = 2 AND e.dismissed_ms > 0 AND EXISTS \
             (SELECT 1 FROM chat c JOIN member m ON m.chat_id = c.id WHERE c.kind = 2 AND c.a = e.id AND c.b = 0) \
         ORDER BY e.id LIMIT ?1",
    )?;
    let ids = stmt.query_map([limit], |r| r.get("id").map(Id::from_raw))?;
    Ok(ids.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn entity_facts(conn: &Connection, id: Id) -> Result<Option<EntityFacts>> {
    let sql = format!(
        "SELECT {}, introduction, created_ms, owner_id, dismissed_ms FROM entity WHERE id = ?1",
        entity_select("entity", &ENTITY)
    );
    Ok(conn.prepare_cached(&sql)?.query_row([id.get()], facts_from).optional()?)
}

fn facts_from(r: &Row<'_>) -> rusqlite::Result<EntityFacts> {
    Ok(EntityFacts {
        entity: entity_from(r, &ENTITY)?,
        introduction: r.get("introduction")?,
        created_ms: r.get("created_ms")?,
        owner: r.get::<_, Option<i64>>("owner_id")?.map(Id::from_raw),
        dismissed: r.get::<_, i64>("dismissed_ms")? > 0,
    })
}

pub(super) fn roster(conn: &Connection, group: Id) -> Result<Roster> {
    let headcount = conn
        .prepare_cached(
            "SELECT count(*) FROM member m JOIN entity e ON e.id = m.peer_id \
             WHERE m.chat_id = (SELECT id FROM chat WHERE kind = 2 AND a = ?1 AND b = 0) AND e.dismissed_ms = 0",
        )?
        .query_row([group.get()], |r| r.get(0))?;
    let admins = conn
        .prepare_cached("SELECT user_id FROM member WHERE peer_id = ?1 AND role = 1 ORDER BY user_id")?
        .query_map([group.get()], |r| Ok(Id::from_raw(r.get(0)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Roster { headcount, admins })
}

pub(super) fn membership(conn: &Connection, group: Id, user: Id) -> Result<Option<Membership>> {
    Ok(conn
        .prepare_cached(
            "SELECT m.role AS role, e.owner_id = m.user_id AS is_owner, m.gag_until_ms AS gag_until_ms, m.dnd AS dnd, \
                    EXISTS (SELECT 1 FROM pin p WHERE p.user_id = m.user_id AND p.peer_id = m.peer_id) AS pinned \
             FROM member m JOIN entity e ON e.id = m.peer_id \
             WHERE m.user_id = ?1 AND m.peer_id = ?2 AND e.kind = 2 AND e.dismissed_ms = 0",
        )?
        .query_row([user.get(), group.get()], |r| {
            Ok(Membership {
                role: role_of(r.get("is_owner")?, r.get("role")?),
                gag_until_ms: r.get("gag_until_ms")?,
                do_not_disturb: r.get::<_, i64>("dnd")? != 0,
                pinned: r.get("pinned")?,
            })
        })
        .optional()?)
}

fn role_of(is_owner: Option<bool>, role: i64) -> Role {
    match (is_owner, role) {
        (Some(true), _) => Role::Owner,
        (_, 1) => Role::Admin,
        _ => Role::Member,
    }
}

pub(super) fn group_members(
    conn: &Connection,
    group: Id,
    keyword: &str,
    limit: u32,
    offset: u32,
) -> Result<(Vec<MemberRow>, u64)> {
    // `instr(lower(name), ?)`: a substring, case-insensitive for ASCII here;
    // the rules layer lower-cases the keyword.
    let filter = "m.peer_id = ?1 AND (?2 = '' OR instr(lower(u.name), ?2) > 0)";
    let total: u64 = conn
        .prepare_cached(&format!("SELECT count(*) FROM member m JOIN entity u ON u.id = m.user_id WHERE {filter}"))?
        .query_row(params![group.get(), keyword], |r| r.get(0))?;
    let sql = format!(
        "SELECT {}, m.role AS role, g.owner_id = m.user_id AS is_owner, m.gag_until_ms AS gag_until_ms \
         FROM member m JOIN entity u ON u.id = m.user_id JOIN entity g ON g.id = m.peer_id \
         WHERE {filter} \
         ORDER BY g.owner_id = m.user_id DESC, m.role DESC, m.user_id LIMIT ?3 OFFSET ?4",
        entity_select("u", &ENTITY)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let at = EntityAt::resolve(&stmt, &ENTITY)?;
    let rows = stmt
        .query_map(params![group.get(), keyword, limit, offset], |r| {
            Ok(MemberRow {
                user: at.read(r)?,
                role: role_of(r.get("is_owner")?, r.get("role")?),
                gag_until_ms: r.get("gag_until_ms")?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok((rows, total))
}

pub(super) fn set_admin(tx: &Transaction<'_>, group: Id, user: Id, admin: bool) -> Result<bool> {
    Ok(tx.prepare_cached("UPDATE member SET role = ?3 WHERE user_id = ?1 AND peer_id = ?2")?.execute(params![
        user.get(),
        group.get(),
        i64::from(admin)
    ])? > 0)
}

pub(super) fn set_gag(tx: &Transaction<'_>, group: Id, user: Id, until_ms: i64) -> Result<bool> {
    Ok(tx
        .prepare_cached("UPDATE member SET gag_until_ms = ?3 WHERE user_id = ?1 AND peer_id = ?2")?
        .execute(params![user.get(), group.get(), until_ms])?
        > 0)
}

pub(super) fn add_group_bot(tx: &Transaction<'_>, group: Id, bot: Id, now_ms: i64) -> Result<bool> {
    Ok(tx
        .prepare_cached(
            "INSERT INTO group_bot (group_id, bot_id, added_ms) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        )?
        .execute(params![group.get(), bot.get(), now_ms])?
        > 0)
}

pub(super) fn group_bots(conn: &Connection, group: Id) -> Result<Vec<EntityFacts>> {
    let sql = format!(
        "SELECT {}, e.introduction AS introduction, e.created_ms AS created_ms, e.owner_id AS owner_id, \
                e.dismissed_ms AS dismissed_ms \
         FROM group_bot b JOIN entity e ON e.id = b.bot_id WHERE b.group_id = ?1 ORDER BY b.added_ms, b.bot_id",
        entity_select("e", &ENTITY)
    );
    Ok(conn.prepare_cached(&sql)?.query_map([group.get()], facts_from)?.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn bot_headcount(conn: &Connection, bot: Id) -> Result<i64> {
    Ok(conn.prepare_cached("SELECT count(*) FROM contact WHERE peer_id = ?1")?.query_row([bot.get()], |r| r.get(0))?)
}

pub(super) fn edit_entity(tx: &Transaction<'_>, outbox: &mut Outbox, id: Id, change: &EntityChange) -> Result<bool> {
    let changed = match change {
        EntityChange::Name(name) => {
            tx.prepare_cached("UPDATE entity SET name = ?2 WHERE id = ?1")?.execute(params![id.get(), name])?
        }
        EntityChange::AvatarUrl(url) => {
            tx.prepare_cached("UPDATE entity SET avatar_url = ?2 WHERE id = ?1")?.execute(params![id.get(), url])?
        }
    };
    if changed > 0 {
        outbox.list(ListFact::Peer(id));
    }
    Ok(changed > 0)
}

pub(super) fn remark(conn: &Connection, user: Id, target: Id) -> Result<Option<RemarkFields>> {
    Ok(conn
        .prepare_cached("SELECT remark, phone, extra FROM remark WHERE user_id = ?1 AND target_id = ?2")?
        .query_row([user.get(), target.get()], |r| {
            Ok(RemarkFields { name: r.get("remark")?, phone: r.get("phone")?, extra: r.get("extra")? })
        })
        .optional()?)
}

pub(super) fn set_remark(
    tx: &Transaction<'_>,
    outbox: &mut Outbox,
    user: Id,
    target: Id,
    remark: Option<&RemarkFields>,
) -> Result<()> {
    match remark {
        Some(r) => tx
            .prepare_cached(
                "INSERT INTO remark (user_id, target_id, remark, phone, extra) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (user_id, target_id) DO UPDATE SET remark = excluded.remark, phone = excluded.phone, \
                 extra = excluded.extra",
            )?
            .execute(params![user.get(), target.get(), r.name, r.phone, r.extra])?,
        None => tx
            .prepare_cached("DELETE FROM remark WHERE user_id = ?1 AND target_id = ?2")?
            .execute([user.get(), target.get()])?,
    };
    outbox.list(ListFact::View { user, peer: target });
    Ok(())
}

pub(super) fn contacts(conn: &Connection, user: Id) -> Result<Vec<ContactRow>> {
    // Friends and added bots (contact rows), then groups and bots with a
    // conversation (member rows); a bot in both shows once.
    let sql = format!(
        "SELECT {}, NULLIF(r.remark, '') AS remark, NULL AS role, NULL AS is_owner, \
                coalesce(m.dnd, 0) AS dnd \
         FROM contact k JOIN entity e ON e.id = k.peer_id \
         LEFT JOIN member m ON m.user_id = k.user_id AND m.peer_id = k.peer_id \
         LEFT JOIN remark r ON r.user_id = k.user_id AND r.target_id = k.peer_id \
         WHERE k.user_id = ?1 \
         UNION ALL \
         SELECT {}, NULLIF(r.remark, '') AS remark, m.role AS role, e.owner_id = m.user_id AS is_owner, m.dnd AS dnd \
         FROM member m JOIN entity e ON e.id = m.peer_id \
         LEFT JOIN remark r ON r.user_id = m.user_id AND r.target_id = m.peer_id \
         WHERE m.user_id = ?1 AND e.kind IN (2, 3) AND e.dismissed_ms = 0 \
           AND NOT EXISTS (SELECT 1 FROM contact k WHERE k.user_id = m.user_id AND k.peer_id = m.peer_id)",
        entity_select("e", &ENTITY),
        entity_select("e", &ENTITY)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let at = EntityAt::resolve(&stmt, &ENTITY)?;
    let rows = stmt
        .query_map([user.get()], |r| {
            let peer = at.read(r)?;
            let role = match peer.kind {
                ChatType::Group => Some(role_of(r.get("is_owner")?, r.get::<_, Option<i64>>("role")?.unwrap_or(0))),
                _ => None,
            };
            Ok(ContactRow { peer, remark: r.get("remark")?, role, do_not_disturb: r.get::<_, i64>("dnd")? != 0 })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

pub(super) fn is_contact(conn: &Connection, user: Id, peer: Id) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM contact WHERE user_id = ?1 AND peer_id = ?2")?
        .exists([user.get(), peer.get()])?)
}

pub(super) fn add_contact(tx: &Transaction<'_>, user: Id, peer: Id, now_ms: i64) -> Result<bool> {
    Ok(tx
        .prepare_cached(
            "INSERT INTO contact (user_id, peer_id, created_ms) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        )?
        .execute(params![user.get(), peer.get(), now_ms])?
        > 0)
}

pub(super) fn remove_contact(tx: &Transaction<'_>, outbox: &mut Outbox, user: Id, peer: Id) -> Result<bool> {
    let mut delete = tx.prepare_cached("DELETE FROM contact WHERE user_id = ?1 AND peer_id = ?2")?;
    let mut removed = delete.execute([user.get(), peer.get()])? > 0;
    let kind: Option<i64> =
        tx.prepare_cached("SELECT kind FROM entity WHERE id = ?1")?.query_row([peer.get()], |r| r.get(0)).optional()?;
    match kind {
        Some(1) => {
            delete.execute([peer.get(), user.get()])?;
        }
        Some(3) => {
            let left = tx
                .prepare_cached("DELETE FROM member WHERE user_id = ?1 AND peer_id = ?2")?
                .execute([user.get(), peer.get()])?;
            tx.prepare_cached("DELETE FROM pin WHERE user_id = ?1 AND peer_id = ?2")?
                .execute([user.get(), peer.get()])?;
            if left > 0 {
                outbox.list(ListFact::Conversations(user));
                removed = true;
            }
        }
        _ => {}
    }
    Ok(removed)
}

pub(super) fn add_request(tx: &Transaction<'_>, from: Id, to: Id, note: &str, now_ms: i64) -> Result<i64> {
    let pending: Option<i64> = tx
        .prepare_cached("SELECT id FROM friend_request WHERE from_id = ?1 AND to_id = ?2 AND state = 0")?
        .query_row([from.get(), to.get()], |r| r.get(0))
        .optional()?;
    if let Some(id) = pending {
        tx.prepare_cached("UPDATE friend_request SET note = ?2, created_ms = ?3 WHERE id = ?1")?
            .execute(params![id, note, now_ms])?;
        return Ok(id);
    }
    tx.prepare_cached("INSERT INTO friend_request (from_id, to_id, note, created_ms) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![from.get(), to.get(), note, now_ms])?;
    let id = tx.last_insert_rowid();
    if id >= i64::from(i32::MAX) {
        return Err(Error::Internal(anyhow::anyhow!("friend request ids are exhausted (2^31)")));
    }
    Ok(id)
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

fn request_from(r: &Row<'_>) -> rusqlite::Result<FriendRequestRow> {
    Ok(FriendRequestRow {
        id: r.get("id")?,
        from: entity_from(r, &FROM)?,
        to: entity_from(r, &TO)?,
        note: r.get("note")?,
        created_ms: r.get("created_ms")?,
        state: RequestState::from_code(r.get("state")?),
        settled_ms: r.get("settled_ms")?,
    })
}

pub(super) fn requests(conn: &Connection, user: Id, limit: u32) -> Result<Vec<FriendRequestRow>> {
    let sql = request_sql("q.id IN (SELECT id FROM friend_request WHERE to_id = ?1 UNION SELECT id FROM friend_request WHERE from_id = ?1) ORDER BY q.id DESC LIMIT ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_map(params![user.get(), limit], request_from)?
        .collect::<rusqlite::Result<_>>()?)
}

pub(super) fn request(conn: &Connection, id: i64) -> Result<Option<FriendRequestRow>> {
    Ok(conn.prepare_cached(&request_sql("q.id = ?1"))?.query_row([id], request_from).optional()?)
}

pub(super) fn settle_request(tx: &Transaction<'_>, id: i64, state: RequestState, now_ms: i64) -> Result<bool> {
    let pair: Option<(i64, i64)> = tx
        .prepare_cached("SELECT from_id, to_id FROM friend_request WHERE id = ?1 AND state = 0")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((from, to)) = pair else { return Ok(false) };
    tx.prepare_cached("UPDATE friend_request SET state = ?2, settled_ms = ?3 WHERE id = ?1")?.execute(params![
        id,
        state.code(),
        now_ms
    ])?;
    if state == RequestState::Agreed {
        add_contact(tx, Id::from_raw(from), Id::from_raw(to), now_ms)?;
        add_contact(tx, Id::from_raw(to), Id::from_raw(from), now_ms)?;
        // Any request the other way is settled by this one.
        tx.prepare_cached(
            "UPDATE friend_request SET state = 1, settled_ms = ?3 WHERE from_id = ?2 AND to_id = ?1 AND state = 0",
        )?
        .execute(params![from, to, now_ms])?;
    }
    Ok(true)
}

pub(super) fn delete_request(tx: &Transaction<'_>, id: i64) -> Result<bool> {
    Ok(tx.prepare_cached("DELETE FROM friend_request WHERE id = ?1")?.execute([id])? > 0)
}
