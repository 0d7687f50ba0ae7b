//! What both engines store the same way: the select list they read an
//! [`Entity`] from, by column name, and a mention's target.
//!
//! [`Entity`]: crate::domain::model::Entity

use crate::domain::model::MentionTarget;

/// A mention's `target_id` column: the user's id, or 0 for all.
pub fn mention_target_id(target: &MentionTarget) -> i64 {
    match target {
        MentionTarget::All => 0,
        MentionTarget::User(id) => id.get(),
    }
}

/// The column names an entity is read from, in the order of
/// [`ENTITY_FIELDS`]: `id, kind, name, avatar_url, avatar_id,
/// certification_level`, each after a prefix.
pub struct EntityColumns(pub [&'static str; 6]);

/// An entity's fields in the `entity` table.
pub const ENTITY_FIELDS: [&str; 6] = ["id", "kind", "name", "avatar_url", "avatar_id", "certification_level"];

/// An entity selected with no prefix (the chat, a pin's peer, a profile).
pub const ENTITY: EntityColumns = EntityColumns(ENTITY_FIELDS);
/// A message's sender, prefixed `s_`.
pub const SENDER: EntityColumns =
    EntityColumns(["s_id", "s_kind", "s_name", "s_avatar_url", "s_avatar_id", "s_certification_level"]);

/// The select list for the entity table alias `table`, named as `columns`.
pub fn entity_select(table: &str, columns: &EntityColumns) -> String {
    ENTITY_FIELDS.iter().zip(columns.0).map(|(f, name)| format!("{table}.{f} AS {name}")).collect::<Vec<_>>().join(", ")
}
