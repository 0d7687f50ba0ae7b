//! JSON request bodies (`ChatIdBody`, `SortChangeBody`, `NoNotifyBody`,
//! `EmailLoginBody`), parsed as the server's `JsonBody` extractor parses
//! them (`serde_json::from_slice`), then the ids they carry through
//! `Id::parse`. Nothing may panic; a parsed body serializes and parses back
//! to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;
use yhconv_proto::json::{ChatIdBody, EmailLoginBody, NoNotifyBody, SortChangeBody};
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
