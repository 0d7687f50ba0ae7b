//! Identities: the world file, and one-at-a-time admin changes.
//!
//! World file shape (ids are decimal strings; optional fields may be left
//! out):
//! `{"users":[{"id","name","email","password","avatar_url","avatar_id"}],
//!   "groups":[{"id","name","avatar_url","avatar_id","certification_level","owner","members":[ids],"admins":[ids]}],
//!   "bots":[{"id","name","avatar_url","avatar_id"}],
//!   "remarks":[{"user","target","remark"}]}`

use serde::{Deserialize, Serialize};
use yhconv_proto::ChatType;

use super::Service;
use crate::domain::error::{Error, Result};
use crate::domain::ids::Id;
use crate::domain::model::{Entity, GroupRecord, IdentityBatch, ImportStats, JoinAt, RemarkRecord, UserRecord};

/// A world file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct World {
    #[serde(default)]
    pub users: Vec<WorldUser>,
    #[serde(default)]
    pub groups: Vec<WorldGroup>,
    #[serde(default)]
    pub bots: Vec<WorldBot>,
    #[serde(default)]
    pub remarks: Vec<WorldRemark>,
}

/// A user of the world file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldUser {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default)]
    pub avatar_url: String,
    #[serde(default)]
    pub avatar_id: i64,
}

/// A group of the world file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldGroup {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub avatar_url: String,
    #[serde(default)]
    pub avatar_id: i64,
    #[serde(default)]
    pub certification_level: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default)]
    pub members: Vec<String>,
    /// Members who are admins (they may recall anyone's messages).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub admins: Vec<String>,
}

/// A bot of the world file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldBot {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub avatar_url: String,
    #[serde(default)]
    pub avatar_id: i64,
}

/// A remark of the world file: what `user` calls `target`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldRemark {
    pub user: String,
    pub target: String,
    pub remark: String,
}

fn entity(id: &str, kind: ChatType, name: &str, avatar_url: &str, avatar_id: i64, level: i64) -> Result<Entity> {
    if name.trim().is_empty() {
        return Err(Error::invalid(format!("{kind} {id} has no name")));
    }
    Ok(Entity {
        id: Id::parse(id, &format!("{kind} id"))?,
        kind,
        name: name.to_owned(),
        avatar_url: avatar_url.to_owned(),
        avatar_id,
        certification_level: level,
    })
}

impl World {
    /// Parses a world file's text.
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| Error::invalid(format!("world file: {e}")))
    }

    /// Checks ids and turns the world into a store batch, hashing passwords.
    fn into_batch(self) -> Result<IdentityBatch> {
        let mut batch = IdentityBatch::default();
        for u in self.users {
            let password_hash = match u.password.as_deref() {
                Some(p) if !p.is_empty() => Some(super::user::hash_password(p)?),
                _ => None,
            };
            batch.users.push(UserRecord {
                entity: entity(&u.id, ChatType::User, &u.name, &u.avatar_url, u.avatar_id, 0)?,
                email: u.email.filter(|e| !e.trim().is_empty()).map(|e| super::user::normalize_email(&e)),
                password_hash,
            });
        }
        for b in self.bots {
            batch.bots.push(entity(&b.id, ChatType::Bot, &b.name, &b.avatar_url, b.avatar_id, 0)?);
        }
        for g in self.groups {
            let e = entity(&g.id, ChatType::Group, &g.name, &g.avatar_url, g.avatar_id, g.certification_level)?;
            let owner = g.owner.as_deref().map(|o| Id::parse(o, "group owner")).transpose()?;
            let members = g.members.iter().map(|m| Id::parse(m, "group member")).collect::<Result<_>>()?;
            let admins = g.admins.iter().map(|m| Id::parse(m, "group admin")).collect::<Result<_>>()?;
            batch.groups.push(GroupRecord { entity: e, owner, members, admins });
        }
        for r in self.remarks {
            batch.remarks.push(RemarkRecord {
                user: Id::parse(&r.user, "remark user")?,
                target: Id::parse(&r.target, "remark target")?,
                remark: r.remark,
            });
        }
        Ok(batch)
    }
}

/// Fails on an id that appears twice in a batch: ids are unique across
/// users, groups and bots, so it would be a mistake, not an update.
fn check_unique(batch: &IdentityBatch) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    let ids = batch.users.iter().map(|u| u.entity.id).chain(batch.groups.iter().map(|g| g.entity.id));
    for id in ids.chain(batch.bots.iter().map(|b| b.id)) {
        if !seen.insert(id) {
            return Err(Error::invalid(format!("id {id} appears more than once in one import")));
        }
    }
    Ok(())
}

impl Service {
    /// Creates or updates everything in `world`, all or nothing. Importing
    /// the same world again changes nothing.
    pub async fn import_world(&self, world: World) -> Result<ImportStats> {
        let batch =
            tokio::task::spawn_blocking(move || world.into_batch()).await.map_err(|e| Error::Internal(e.into()))??;
        self.apply_identities(batch).await
    }

    /// Applies a batch built in code (the benchmark's bulk world): emails
    /// normalized, ids checked unique, and new group members start with
    /// everything already sent read ([`JoinAt::Latest`]).
    pub async fn apply_identities(&self, mut batch: IdentityBatch) -> Result<ImportStats> {
        check_unique(&batch)?;
        for user in &mut batch.users {
            user.email = user.email.as_deref().map(super::user::normalize_email);
        }
        batch.join_at = JoinAt::Latest;
        self.store.apply_identities(batch).await
    }
}
