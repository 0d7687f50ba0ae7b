//! Users, groups, bots and remarks: the identity half of the SQLite store.

use rusqlite::{params, OptionalExtension, Transaction};
use yhconv_proto::ChatType;

use crate::domain::error::{Error, Result};
use crate::domain::ids::Id;
use crate::domain::model::{Entity, IdentityBatch, ImportStats, JoinAt};

/// Applies a whole batch inside the caller's transaction.
pub(super) fn apply(tx: &Transaction<'_>, batch: &IdentityBatch) -> Result<ImportStats> {
    let mut stats = ImportStats::default();
    for user in &batch.users {
        upsert_entity(tx, &user.entity, None)?;
        set_account(tx, user.entity.id, user.email.as_deref(), user.password_hash.as_deref())?;
        stats.users += 1;
    }
    for bot in &batch.bots {
        upsert_entity(tx, bot, None)?;
        stats.bots += 1;
    }
    for group in &batch.groups {
        if let Some(owner) = group.owner {
            expect_kind(tx, owner, ChatType::User, &format!("owner {{}} of group {}", group.entity.id))?;
        }
        upsert_entity(tx, &group.entity, group.owner)?;
        let chat_id = group_chat(tx, group.entity.id)?;
        let mut add = tx.prepare_cached(
            "INSERT INTO member (user_id, peer_id, chat_id, read_seq) \
             SELECT ?1, ?2, ?3, CASE WHEN ?4 THEN last_seq ELSE 0 END FROM chat WHERE id = ?3 \
             ON CONFLICT (user_id, peer_id) DO NOTHING",
        )?;
        let at_latest = batch.join_at == JoinAt::Latest;
        for member in group.owner.iter().chain(&group.members) {
            expect_kind(tx, *member, ChatType::User, &format!("member {{}} of group {}", group.entity.id))?;
            add.execute(params![member.get(), group.entity.id.get(), chat_id, at_latest])?;
            stats.memberships += 1;
        }
        for admin in &group.admins {
            expect_kind(tx, *admin, ChatType::User, &format!("admin {{}} of group {}", group.entity.id))?;
            add.execute(params![admin.get(), group.entity.id.get(), chat_id, at_latest])?;
            tx.prepare_cached("UPDATE member SET role = 1 WHERE user_id = ?1 AND peer_id = ?2")?
                .execute(params![admin.get(), group.entity.id.get()])?;
        }
        stats.groups += 1;
    }
    for remark in &batch.remarks {
        expect_kind(tx, remark.user, ChatType::User, "user {} of a remark")?;
        if kind_of(tx, remark.target)?.is_none() {
            return Err(Error::Conflict(format!("remark target {} does not exist", remark.target)));
        }
        tx.prepare_cached(
            "INSERT INTO remark (user_id, target_id, remark) VALUES (?1, ?2, ?3) \
             ON CONFLICT (user_id, target_id) DO UPDATE SET remark = excluded.remark",
        )?
        .execute(params![remark.user.get(), remark.target.get(), remark.remark])?;
        stats.remarks += 1;
    }
    tx.prepare_cached("UPDATE meta SET value = value + 1 WHERE key = 'identity_epoch'")?.execute([])?;
    Ok(stats)
}

fn kind_of(tx: &Transaction<'_>, id: Id) -> Result<Option<i64>> {
    Ok(tx
        .prepare_cached("SELECT kind FROM entity WHERE id = ?1")?
        .query_row([id.get()], |r| r.get("kind"))
        .optional()?)
}

/// Fails unless `id` is a `kind`; `role` describes it, `{}` standing for the id.
fn expect_kind(tx: &Transaction<'_>, id: Id, kind: ChatType, role: &str) -> Result<()> {
    let who = || role.replace("{}", &id.to_string());
    match kind_of(tx, id)? {
        Some(k) if k == kind.code() as i64 => Ok(()),
        Some(_) => Err(Error::Conflict(format!("{} is not a {kind}", who()))),
        None => Err(Error::Conflict(format!("{} does not exist", who()))),
    }
}

/// Creates or updates an entity; an id already used by another kind is a
/// conflict.
fn upsert_entity(tx: &Transaction<'_>, e: &Entity, owner: Option<Id>) -> Result<()> {
    let changed = tx
        .prepare_cached(
            "INSERT INTO entity (id, kind, name, avatar_url, avatar_id, certification_level, owner_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, avatar_url = excluded.avatar_url, \
               avatar_id = excluded.avatar_id, certification_level = excluded.certification_level, \
               owner_id = coalesce(excluded.owner_id, entity.owner_id) \
             WHERE entity.kind = excluded.kind",
        )?
        .execute(params![
            e.id.get(),
            e.kind.code() as i64,
            e.name,
            e.avatar_url,
            e.avatar_id,
            e.certification_level,
            owner.map(Id::get)
        ])?;
    if changed == 0 {
        return Err(Error::Conflict(format!("id {} is already used by something that is not a {}", e.id, e.kind)));
    }
    Ok(())
}

fn set_account(tx: &Transaction<'_>, user: Id, email: Option<&str>, password_hash: Option<&str>) -> Result<()> {
    let result = tx
        .prepare_cached(
            "INSERT INTO account (user_id, email, password_hash) VALUES (?1, ?2, ?3) \
             ON CONFLICT (user_id) DO UPDATE SET email = coalesce(excluded.email, account.email), \
               password_hash = coalesce(excluded.password_hash, account.password_hash)",
        )?
        .execute(params![user.get(), email, password_hash]);
    match result {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
            Err(Error::Conflict(format!("email {} is already used by another user", email.unwrap_or_default())))
        }
        Err(e) => Err(e.into()),
    }
}

/// The chat row of a group, created on first use.
pub(super) fn group_chat(tx: &Transaction<'_>, group: Id) -> Result<i64> {
    chat_row(tx, ChatType::Group, group.get(), 0)
}

/// The chat row for key (kind, a, b), created on first use.
pub(super) fn chat_row(tx: &Transaction<'_>, kind: ChatType, a: i64, b: i64) -> Result<i64> {
    tx.prepare_cached("INSERT INTO chat (kind, a, b) VALUES (?1, ?2, ?3) ON CONFLICT (kind, a, b) DO NOTHING")?
        .execute(params![kind.code() as i64, a, b])?;
    Ok(tx
        .prepare_cached("SELECT id FROM chat WHERE kind = ?1 AND a = ?2 AND b = ?3")?
        .query_row(params![kind.code() as i64, a, b], |r| r.get("id"))?)
}
