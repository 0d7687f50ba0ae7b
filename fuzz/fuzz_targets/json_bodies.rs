//! JSON request bodies (`ChatIdBody`, `SortChangeBody`, `NoNotifyBody`,
//! `EmailLoginBody`, and those of groups, friends and remarks), parsed as
//! the server's `JsonBody` extractor parses
//! them (`serde_json::from_slice`), then the ids they carry through
//! `Id::parse`. Nothing may panic; a parsed body serializes and parses back
//! to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;
use yhconv_proto::json::{
    AgreeBody, ApplyBody, ChatIdBody, EditAdminBody, EmailLoginBody, GagBody, GroupUserBody, InviteBody, NoNotifyBody,
    RequestIdBody, SaveRemarkBody, SortChangeBody,
};
use yhconv_server::ids::Id;

fuzz_target!(|data: &[u8]| {
    if let Some(b) = parse::<ChatIdBody>(data) {
        id(&b.chat_id);
    }
    if let Some(b) = parse::<SortChangeBody>(data) {
        id(&b.user_id);
    }
    if let Some(b) = parse::<NoNotifyBody>(data) {
        id(&b.chat_id);
    }
    if let Some(b) = parse::<EmailLoginBody>(data) {
        let _ = b.email.trim();
    }
    if let Some(b) = parse::<InviteBody>(data) {
        id(&b.group_id);
        b.chat_id.iter().chain(&b.user_id_list).for_each(|c| id(c));
    }
    for (group, user) in [
        parse::<GroupUserBody>(data).map(|b| (b.group_id, b.user_id)),
        parse::<GagBody>(data).map(|b| (b.group_id, b.user_id)),
        parse::<EditAdminBody>(data).map(|b| (b.group_id, b.user_id)),
    ]
    .into_iter()
    .flatten()
    {
        id(&group);
        id(&user);
    }
    if let Some(b) = parse::<ApplyBody>(data) {
        id(&b.chat_id);
    }
    if let Some(b) = parse::<SaveRemarkBody>(data) {
        id(&b.friend_id);
    }
    if let Some(b) = parse::<AgreeBody>(data) {
        b.user_id.iter().for_each(|u| id(u));
    }
    let _ = parse::<RequestIdBody>(data);
});

fn parse<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(data: &[u8]) -> Option<T> {
    let body: T = serde_json::from_slice(data).ok()?;
    let again: T = serde_json::from_slice(&serde_json::to_vec(&body).unwrap()).expect("round trip");
    assert_eq!(again, body);
    Some(body)
}

fn id(raw: &str) {
    match Id::parse(raw, "chatId") {
        Ok(id) => assert_eq!(Id::parse(&id.to_string(), "chatId").unwrap(), id),
        // The id is quoted cut to 40 characters, each escaped to at most
        // 10 (`\u{10ffff}`): bounded, however long the input.
        Err(e) => assert!(e.public_message().chars().count() < 512),
    }
}
