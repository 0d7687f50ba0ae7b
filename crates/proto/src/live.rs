//! What a live copy of a conversation list needs to agree with the server:
//! a row's digest (for delta requests, `ConversationListRequest.known`) and
//! the list's order.

use std::cmp::Ordering;

use crate::pb::Conversation;

/// A row's digest: 64-bit FNV-1a of the row's protobuf bytes (the
/// `Conversation` message alone, as prost writes it). The server and any
/// client compute it the same way, so equal digests mean equal rows.
pub fn row_digest(row_bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    row_bytes.iter().fold(OFFSET, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(PRIME))
}

/// The digest of a decoded row (see [`row_digest`]).
pub fn digest_of(row: &Conversation) -> u64 {
    row_digest(&prost::Message::encode_to_vec(row))
}

/// The list's order: `timestamp_ms` newest first, ties by chat id
/// ascending (as numbers).
pub fn list_order(a: &Conversation, b: &Conversation) -> Ordering {
    let id = |c: &Conversation| c.chat_id.parse::<i64>().unwrap_or(i64::MAX);
    b.timestamp_ms.cmp(&a.timestamp_ms).then(id(a).cmp(&id(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_follows_every_byte() {
        // FNV-1a's published test vectors.
        assert_eq!(row_digest(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(row_digest(b"a"), 0xaf63_dc4c_8601_ec8c);
        let row = Conversation { chat_id: "7".into(), unread_count: 1, ..Default::default() };
        let other = Conversation { unread_count: 2, ..row.clone() };
        assert_ne!(digest_of(&row), digest_of(&other));
    }

    #[test]
    fn order_is_newest_first_then_id() {
        let row = |id: &str, ts| Conversation { chat_id: id.into(), timestamp_ms: ts, ..Default::default() };
        let mut rows = [row("10", 5), row("9", 5), row("3", 7)];
        rows.sort_by(list_order);
        let ids: Vec<&str> = rows.iter().map(|r| r.chat_id.as_str()).collect();
        assert_eq!(ids, ["3", "9", "10"]);
    }
}
