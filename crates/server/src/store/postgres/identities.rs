//! Users, groups, bots and remarks in PostgreSQL, applied in bulk
//! (`unnest` arrays, in chunks) so a world of 100,000 users loads quickly.

use deadpool_postgres::GenericClient;

use super::pipelined::Tx;
use tokio_postgres::error::SqlState;
use yhconv_proto::ChatType;

use crate::domain::error::{Error, Result};
use crate::domain::model::{Entity, IdentityBatch, ImportStats, JoinAt};

/// Rows per bulk statement.
const CHUNK: usize = 10_000;

/// Applies a whole batch inside the caller's transaction.
pub(super) async fn apply(tx: &Tx, batch: &IdentityBatch) -> Result<ImportStats> {
    let mut stats = ImportStats::default();
    let users: Vec<Entity> = batch.users.iter().map(|u| u.entity.clone()).collect();
    upsert_entities(tx, &users).await?;
    set_accounts(tx, batch).await?;
    stats.users = users.len();
    upsert_entities(tx, &batch.bots).await?;
    stats.bots = batch.bots.len();
    for group in &batch.groups {
        if let Some(owner) = group.owner {
            expect_users(tx, &[owner.get()], &format!("owner {{}} of group {}", group.entity.id)).await?;
        }
        upsert_entities(tx, std::slice::from_ref(&group.entity)).await?;
        if let Some(owner) = group.owner {
            tx.execute("UPDATE entity SET owner_id = $2 WHERE id = $1", &[&group.entity.id.get(), &owner.get()])
                .await?;
        }
        let chat_id = chat_row(tx.client(), ChatType::Group, group.entity.id.get(), 0).await?;
        let members: Vec<i64> = group.owner.iter().chain(&group.members).map(|m| m.get()).collect();
        for chunk in members.chunks(CHUNK) {
            expect_users(tx, chunk, &format!("member {{}} of group {}", group.entity.id)).await?;
            tx.execute(
                "INSERT INTO member (user_id, peer_id, chat_id, read_seq) \
                 SELECT u, $2, $3, CASE WHEN $4 THEN (SELECT last_seq FROM chat WHERE id = $3) ELSE 0 END \
                 FROM unnest($1::bigint[]) AS u \
                 ON CONFLICT (user_id, peer_id) DO NOTHING",
                &[&chunk, &group.entity.id.get(), &chat_id, &(batch.join_at == JoinAt::Latest)],
            )
            .await?;
        }
        stats.memberships += members.len();
        if !group.admins.is_empty() {
            let admins: Vec<i64> = group.admins.iter().map(|a| a.get()).collect();
            expect_users(tx, &admins, &format!("admin {{}} of group {}", group.entity.id)).await?;
            tx.execute(
                "INSERT INTO member (user_id, peer_id, chat_id, read_seq, role) \
                 SELECT u, $2, $3, CASE WHEN $4 THEN (SELECT last_seq FROM chat WHERE id = $3) ELSE 0 END, 1 \
                 FROM unnest($1::bigint[]) AS u \
                 ON CONFLICT (user_id, peer_id) DO UPDATE SET role = 1",
                &[&admins, &group.entity.id.get(), &chat_id, &(batch.join_at == JoinAt::Latest)],
            )
            .await?;
        }
        stats.groups += 1;
    }
    for remark in &batch.remarks {
        expect_users(tx, &[remark.user.get()], "user {} of a remark").await?;
        if tx.query_opt("SELECT 1 FROM entity WHERE id = $1", &[&remark.target.get()]).await?.is_none() {
            return Err(Error::Conflict(format!("remark target {} does not exist", remark.target)));
        }
        tx.execute(
            "INSERT INTO remark (user_id, target_id, remark) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, target_id) DO UPDATE SET remark = excluded.remark",
            &[&remark.user.get(), &remark.target.get(), &remark.remark],
        )
        .await?;
        stats.remarks += 1;
    }
    tx.execute("UPDATE meta SET value = value + 1 WHERE key = 'identity_epoch'", &[]).await?;
    Ok(stats)
}

/// Fails naming the first of `ids` that is not a user; `role` describes it,
/// `{}` standing for the id.
async fn expect_users(tx: &Tx, ids: &[i64], role: &str) -> Result<()> {
    let missing = tx
        .query_opt(
            "SELECT u, e.kind AS kind FROM unnest($1::bigint[]) AS u LEFT JOIN entity e ON e.id = u \
             WHERE e.kind IS DISTINCT FROM 1 LIMIT 1",
            &[&ids],
        )
        .await?;
    match missing {
        None => Ok(()),
        Some(row) => {
            let who = role.replace("{}", &row.try_get::<_, i64>("u")?.to_string());
            match row.try_get::<_, Option<i16>>("kind")? {
                Some(_) => Err(Error::Conflict(format!("{who} is not a user"))),
                None => Err(Error::Conflict(format!("{who} does not exist"))),
            }
        }
    }
}

/// Creates or updates entities; an id already used by another kind is a
/// conflict.
async fn upsert_entities(tx: &Tx, entities: &[Entity]) -> Result<()> {
    for chunk in entities.chunks(CHUNK) {
        let ids: Vec<i64> = chunk.iter().map(|e| e.id.get()).collect();
        let kinds: Vec<i16> = chunk.iter().map(|e| e.kind.code() as i16).collect();
        let names: Vec<&str> = chunk.iter().map(|e| e.name.as_str()).collect();
        let urls: Vec<&str> = chunk.iter().map(|e| e.avatar_url.as_str()).collect();
        let avatar_ids: Vec<i64> = chunk.iter().map(|e| e.avatar_id).collect();
        let levels: Vec<i64> = chunk.iter().map(|e| e.certification_level).collect();
        let changed = tx
            .execute(
                "INSERT INTO entity (id, kind, name, avatar_url, avatar_id, certification_level) \
                 SELECT * FROM unnest($1::bigint[], $2::smallint[], $3::text[], $4::text[], $5::bigint[], $6::bigint[]) \
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, avatar_url = excluded.avatar_url, \
                   avatar_id = excluded.avatar_id, certification_level = excluded.certification_level \
                 WHERE entity.kind = excluded.kind",
                &[&ids, &kinds, &names, &urls, &avatar_ids, &levels],
            )
            .await;
        let changed = match changed {
            Ok(n) => n,
            Err(e) if e.code() == Some(&SqlState::CARDINALITY_VIOLATION) => {
                return Err(Error::Conflict("the same id appears twice in one import".into()))
            }
            Err(e) => return Err(e.into()),
        };
        if changed as usize != chunk.len() {
            let clash = tx
                .query_opt(
                    "SELECT e.id FROM unnest($1::bigint[], $2::smallint[]) AS x(id, kind) \
                     JOIN entity e ON e.id = x.id AND e.kind <> x.kind LIMIT 1",
                    &[&ids, &kinds],
                )
                .await?;
            let id = match clash {
                Some(r) => r.try_get::<_, i64>("id")?.to_string(),
                None => "?".into(),
            };
            let kind = chunk[0].kind;
            return Err(Error::Conflict(format!("id {id} is already used by something that is not a {kind}")));
        }
    }
    Ok(())
}

async fn set_accounts(tx: &Tx, batch: &IdentityBatch) -> Result<()> {
    for chunk in batch.users.chunks(CHUNK) {
        let ids: Vec<i64> = chunk.iter().map(|u| u.entity.id.get()).collect();
        let emails: Vec<Option<&str>> = chunk.iter().map(|u| u.email.as_deref()).collect();
        let hashes: Vec<Option<&str>> = chunk.iter().map(|u| u.password_hash.as_deref()).collect();
        let result = tx
            .execute(
                "INSERT INTO account (user_id, email, password_hash) \
                 SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[]) \
                 ON CONFLICT (user_id) DO UPDATE SET email = coalesce(excluded.email, account.email), \
                   password_hash = coalesce(excluded.password_hash, account.password_hash)",
                &[&ids, &emails, &hashes],
            )
            .await;
        match result {
            Ok(_) => {}
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                return Err(Error::Conflict(format!("email {} is already used by another user", unique_value(&e))))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The value a unique violation is about, from PostgreSQL's detail
/// `Key (lower(email))=(a@b.c) already exists.`: the one place this engine
/// turns a constraint violation into words.
fn unique_value(e: &tokio_postgres::Error) -> String {
    let detail = e.as_db_error().and_then(|d| d.detail()).unwrap_or_default();
    detail
        .split_once(")=(")
        .and_then(|(_, rest)| rest.rsplit_once(") already exists"))
        .map_or_else(|| "?".to_owned(), |(value, _)| value.to_owned())
}

/// The chat row for key (kind, a, b), created on first use.
pub(super) async fn chat_row<C: GenericClient>(client: &C, kind: ChatType, a: i64, b: i64) -> Result<i64> {
    let kind = kind.code() as i16;
    let insert = client
        .prepare_cached(
            "INSERT INTO chat (kind, a, b) VALUES ($1, $2, $3) ON CONFLICT (kind, a, b) DO NOTHING RETURNING id",
        )
        .await?;
    if let Some(row) = client.query_opt(&insert, &[&kind, &a, &b]).await? {
        return Ok(row.try_get("id")?);
    }
    let select = client.prepare_cached("SELECT id FROM chat WHERE kind = $1 AND a = $2 AND b = $3").await?;
    Ok(client.query_one(&select, &[&kind, &a, &b]).await?.try_get("id")?)
}
