//! Protobuf request bodies (`ConversationListRequest`, `SendMessage`,
//! `ListMessageRequest`), decoded as the server decodes them, then run
//! through the pure checks the server applies: `check_send`, the preview of
//! every content type, and `Id::parse` on every id. Nothing may panic, and
//! the outputs keep their documented shape.

#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use yhconv_proto::pb::{ConversationListRequest, ListMessageRequest, MsgContent, SendMessage};
use yhconv_proto::{ChatType, ContentType};
use yhconv_server::ids::Id;
use yhconv_server::preview::{preview, PREVIEW_MAX_CHARS};
use yhconv_server::service::msg::check_send;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = ConversationListRequest::decode(data) {
        let _ = req.md5.eq_ignore_ascii_case("0123456789abcdef0123456789abcdef");
        round_trip(&req);
    }
    if let Ok(req) = ListMessageRequest::decode(data) {
        round_trip(&req);
        id(&req.chat_id);
        let _ = ChatType::from_code(req.chat_type);
        let _ = req.msg_id.trim();
    }
    if let Ok(req) = SendMessage::decode(data) {
        round_trip(&req);
        id(&req.chat_id);
        if let Some(content) = &req.content {
            previews(content);
        }
        match check_send(req.clone().into()) {
            Ok(checked) => {
                assert!(!checked.msg_id.is_empty() && checked.msg_id.len() <= 128);
                assert!(checked.quote_msg_id.chars().count() <= 128);
                assert_eq!(checked.mentions.len(), req.content.as_ref().unwrap().mentioned_id.len());
                let _ = preview(checked.content_type, &checked.content, Some("Ann"));
            }
            Err(e) => {
                let _ = e.public_message();
                let _ = e.code();
            }
        }
    }
});

fn round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(m: &M) {
    let again = M::decode(m.encode_to_vec().as_slice()).expect("a decoded message re-encodes");
    assert_eq!(&again, m);
}

fn id(raw: &str) {
    match Id::parse(raw, "chat_id") {
        Ok(id) => {
            assert!(id.get() > 0);
            assert_eq!(Id::parse(&id.to_string(), "chat_id").unwrap(), id);
        }
        // The id is quoted cut to 40 characters, each escaped to at most
        // 10 (`\u{10ffff}`): bounded, however long the input.
        Err(e) => assert!(e.public_message().chars().count() < 512),
    }
}

fn previews(content: &MsgContent) {
    for raw in &content.mentioned_id {
        if raw.trim() != "all" {
            id(raw);
        }
    }
    for t in ContentType::ALL {
        let p = preview(t, content, None);
        if t.is_textual() {
            let chars = p.chars().count();
            assert!(chars <= PREVIEW_MAX_CHARS + 1, "{chars} characters");
            assert_eq!(p.trim(), p, "trimmed");
            assert!(!p.contains("  ") && !p.contains('\n'), "one line, single spaces");
            assert!(chars <= PREVIEW_MAX_CHARS || p.ends_with('…'));
        }
        let grouped = preview(t, content, Some("小明"));
        assert_eq!(grouped, format!("小明: {p}"));
    }
}
