//! The conversation list as it goes on the wire: entries encoded once, for
//! both the answer and its fingerprint (md5), and kept that way by the list
//! cache.

use md5::{Digest, Md5};
use prost::Message;
use yhconv_proto::pb::{AtData, Conversation, Status};

use bytes::Bytes;

use super::conversation::{ConversationView, ListViews};
use super::list_cache::EncodedList;
use crate::domain::ids::Id;

/// The caller's list on the wire.
pub fn encode_views(list: ListViews, user: Id) -> EncodedList {
    let data: Vec<Conversation> = list.views.into_iter().map(|v| to_wire(v, user, &list.own_name)).collect();
    let (entries, md5) = encode_entries(&data);
    EncodedList { entries: entries.into(), md5, total: data.len() as u64 }
}

/// One entry as it goes on the wire, framed as field 2 of
/// `ConversationList`: the bytes [`encode_entries`] writes for it.
pub fn encode_entry(view: ConversationView, user: Id, own_name: &str) -> Vec<u8> {
    let entry = to_wire(view, user, own_name);
    let mut out = Vec::with_capacity(entry.encoded_len() + 3);
    prost::encoding::message::encode(2, &entry, &mut out);
    out
}

/// A list from entries each encoded by [`encode_entry`], in list order:
/// their bytes one after the other (exactly what [`encode_entries`] writes
/// for the same entries) and their md5; and each entry's place in those
/// bytes, as slices of them.
pub fn join_entries<'a>(entries: impl Iterator<Item = &'a [u8]>) -> (EncodedList, Vec<Bytes>) {
    let mut joined = Vec::new();
    let mut ends = Vec::new();
    for entry in entries {
        joined.extend_from_slice(entry);
        ends.push(joined.len());
    }
    let md5 = hex::encode(Md5::digest(&joined));
    let joined = Bytes::from(joined);
    let total = ends.len() as u64;
    let mut start = 0;
    let slices = ends
        .into_iter()
        .map(|end| {
            let slice = joined.slice(start..end);
            start = end;
            slice
        })
        .collect();
    (EncodedList { entries: joined, md5, total }, slices)
}

/// The entries as they go on the wire (each framed as field 2 of
/// `ConversationList`), and their fingerprint: the hex md5 of those bytes.
/// It changes whenever anything shown changes. Encoding once serves both.
pub fn encode_entries(data: &[Conversation]) -> (Vec<u8>, String) {
    let mut entries = Vec::with_capacity(data.iter().map(|c| c.encoded_len() + 3).sum());
    for entry in data {
        prost::encoding::message::encode(2, entry, &mut entries);
    }
    let md5 = hex::encode(Md5::digest(&entries));
    (entries, md5)
}

/// The list's fingerprint (see [`encode_entries`]).
pub fn fingerprint(data: &[Conversation]) -> String {
    encode_entries(data).1
}

/// A whole `ConversationList` answer around entries already encoded by
/// [`encode_entries`]; byte for byte what prost would write.
pub fn encode_list(status: Status, entries: &[u8], total: u64, md5: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() + md5.len() + 64);
    prost::encoding::message::encode(1, &status, &mut out);
    out.extend_from_slice(entries);
    if total != 0 {
        prost::encoding::uint64::encode(3, &total, &mut out);
    }
    if !md5.is_empty() {
        prost::encoding::string::encode(4, &md5.to_owned(), &mut out);
    }
    out
}

/// One list entry on the wire.
pub fn to_wire(v: ConversationView, user: Id, mentioned_name: &str) -> Conversation {
    let at_data = v.first_mention.as_ref().map(|m| AtData {
        unknown: 0,
        mentioned_id: user.to_string(),
        mentioned_name: mentioned_name.to_owned(),
        mentioned_in: v.peer.id.to_string(),
        mentioner_id: m.mentioner_id.to_string(),
        mentioner_name: m.mentioner_name.clone(),
        msg_seq: m.seq.max(0) as u64,
    });
    Conversation {
        chat_id: v.peer.id.to_string(),
        chat_type: v.peer.kind.code(),
        unread_message: v.unread_flag(),
        at: v.at_flag(),
        name: v.display_name,
        chat_content: v.preview,
        timestamp_ms: v.timestamp_ms.max(0) as u64,
        avatar_id: v.peer.avatar_id.max(0) as u64,
        avatar_url: v.peer.avatar_url,
        do_not_disturb: u64::from(v.do_not_disturb),
        timestamp: v.timestamp_s.max(0) as u64,
        at_data,
        real_name: v.peer.name,
        certification_level: v.peer.certification_level.max(0) as u64,
        unread_count: v.unread_count,
        mention_count: v.mention_count,
    }
}

#[cfg(test)]
mod tests {
    use yhconv_proto::pb::ConversationList;

    use super::*;

    fn entry(i: u64) -> Conversation {
        Conversation {
            chat_id: format!("{}", 1000 + i),
            chat_type: 1 + i % 3,
            name: format!("名字 {i}"),
            chat_content: "hi".into(),
            timestamp_ms: 1_700_000_000_000 + i,
            unread_message: i % 2,
            unread_count: i,
            ..Default::default()
        }
    }

    #[test]
    fn the_hand_built_answer_is_what_prost_writes() {
        for n in [0, 1, 50] {
            let data: Vec<Conversation> = (0..n).map(entry).collect();
            let (entries, md5) = encode_entries(&data);
            let status = Status::ok(7);
            let expected = ConversationList {
                status: Some(status.clone()),
                data: data.clone(),
                total: n,
                md5: md5.clone(),
                ..Default::default()
            };
            assert_eq!(encode_list(status, &entries, n, &md5), expected.encode_to_vec(), "{n} entries");
        }
    }

    #[test]
    fn entries_joined_one_by_one_are_the_list_encode_entries_writes() {
        let data: Vec<Conversation> = (0..20).map(entry).collect();
        let (entries, md5) = encode_entries(&data);
        let one_by_one: Vec<Vec<u8>> = data
            .iter()
            .map(|c| {
                let mut out = Vec::new();
                prost::encoding::message::encode(2, c, &mut out);
                out
            })
            .collect();
        let (joined, slices) = join_entries(one_by_one.iter().map(Vec::as_slice));
        assert_eq!((&joined.entries[..], joined.md5.as_str(), joined.total), (&entries[..], md5.as_str(), 20));
        assert_eq!(slices.iter().map(|s| s.to_vec()).collect::<Vec<_>>(), one_by_one);
    }

    #[test]
    fn the_fingerprint_follows_the_content() {
        let data: Vec<Conversation> = (0..3).map(entry).collect();
        let mut changed = data.clone();
        changed[1].unread_count += 1;
        assert_eq!(fingerprint(&data), fingerprint(&data.clone()));
        assert_ne!(fingerprint(&data), fingerprint(&changed));
        assert_eq!(fingerprint(&data).len(), 32);
    }
}
