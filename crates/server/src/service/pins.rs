//! Pins (`/v1/sticky/*`): a user's own list of chats kept at hand, apart
//! from the conversation list (pins do not reorder it; clients place them).
//!
//! Rules:
//! - A user may pin what they may talk to: a user, a bot, or a group they
//!   are in; anything else is `-1` (unknown chat, not a member), for
//!   unpinning too. Yourself: `-1`, as for every call.
//! - Pinning a pinned chat succeeds and keeps its place; unpinning one that
//!   is not pinned succeeds.
//! - Display order: the most recently pinned or moved first (ties by id,
//!   newest first). Moving names a pin by its id; an id the caller has no
//!   pin with is `-1`.

use yhconv_proto::ChatType;

use super::{now_ms, Service};
use crate::domain::error::{Error, Result};
use crate::domain::ids::Id;
use crate::domain::model::{Entity, PinRow};

impl Service {
    /// The caller's pins, in display order.
    pub async fn pins(&self, user: Id) -> Result<Vec<PinRow>> {
        let mut pins = self.store.pins(user).await?;
        sort_pins(&mut pins);
        Ok(pins)
    }

    /// Pins a chat (idempotent: a pinned chat keeps its place).
    pub async fn pin(&self, user: Id, chat_id: &str, chat_type: Option<u64>) -> Result<()> {
        let peer = self.pinnable(user, chat_id, chat_type).await?;
        self.store.add_pin(user, peer.id, now_ms()).await?;
        Ok(())
    }

    /// Unpins a chat (idempotent).
    pub async fn unpin(&self, user: Id, chat_id: &str, chat_type: Option<u64>) -> Result<()> {
        let peer = self.pinnable(user, chat_id, chat_type).await?;
        self.store.delete_pin(user, peer.id).await?;
        Ok(())
    }

    /// Moves the caller's pin `pin_id` first.
    pub async fn move_pin_first(&self, user: Id, pin_id: i64) -> Result<()> {
        match self.store.move_pin(user, pin_id, now_ms()).await? {
            true => Ok(()),
            false => Err(Error::invalid(format!("unknown pin id {pin_id}"))),
        }
    }

    /// The chat `chat_id` names, if the caller may pin it.
    async fn pinnable(&self, user: Id, chat_id: &str, chat_type: Option<u64>) -> Result<Entity> {
        let id = Id::parse(chat_id, "chatId")?;
        self.check_not_self(user, id)?;
        let (peer, position) =
            self.store.read_position(user, id).await?.ok_or_else(|| Error::UnknownChat(id.to_string()))?;
        if let Some(declared) = chat_type {
            if declared != peer.kind.code() {
                return Err(Error::invalid(format!("chat {} is a {}, not chatType {declared}", peer.id, peer.kind)));
            }
        }
        if peer.kind == ChatType::Group && position.is_none() {
            return Err(Error::NotMember(peer.id.to_string()));
        }
        Ok(peer)
    }
}

/// The display order of pins: latest pinned or moved first, ties by id.
pub fn sort_pins(pins: &mut [PinRow]) {
    pins.sort_unstable_by(|a, b| b.sort_ms.cmp(&a.sort_ms).then(b.id.cmp(&a.id)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(id: i64, sort_ms: i64) -> PinRow {
        PinRow {
            id,
            peer: Entity {
                id: Id::from_raw(id + 100),
                kind: ChatType::User,
                name: String::new(),
                avatar_url: String::new(),
                avatar_id: 0,
                certification_level: 0,
            },
            remark: None,
            sort_ms,
            created_ms: sort_ms,
        }
    }

    #[test]
    fn latest_first_then_newest_id() {
        let mut pins = vec![pin(1, 10), pin(2, 30), pin(3, 20), pin(4, 30)];
        sort_pins(&mut pins);
        assert_eq!(pins.iter().map(|p| p.id).collect::<Vec<_>>(), [4, 2, 3, 1]);
    }
}
