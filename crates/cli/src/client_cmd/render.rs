//! Protocol values as terminal text and as JSON (snake_case keys, as the
//! proto names them). Pure: the caller passes the current time.

use serde_json::Value;
use yhconv_proto::{pb, ChatType, ContentType};

use super::text::{one_line, relative_time, table, truncate, utc_datetime};

/// Widest NAME cell of the list table, in columns.
const NAME_COLUMNS: usize = 24;
/// Widest LAST MESSAGE cell of the list table, in columns.
const PREVIEW_COLUMNS: usize = 36;

/// The conversation list as an aligned table.
pub fn conversation_table(list: &[pb::Conversation], now_ms: u64) -> String {
    if list.is_empty() {
        return "no conversations\n".to_owned();
    }
    let headers = ["NAME", "TYPE", "UNREAD", "@", "MUTED", "LAST MESSAGE", "WHEN", "CHAT ID"];
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|c| {
            let when = if c.timestamp_ms != 0 { c.timestamp_ms } else { c.timestamp * 1000 };
            vec![
                truncate(&one_line(&c.name), NAME_COLUMNS),
                chat_type_name(c.chat_type),
                unread_cell(c),
                if c.at != 0 { "@".into() } else { String::new() },
                if c.do_not_disturb != 0 { "yes".into() } else { String::new() },
                truncate(&one_line(&c.chat_content), PREVIEW_COLUMNS),
                relative_time(when, now_ms),
                c.chat_id.clone(),
            ]
        })
        .collect();
    table(&headers, &rows)
}

/// The pins as an aligned table, in the order given.
pub fn pin_table(pins: &[yhconv_proto::json::Sticky], now_ms: u64) -> String {
    if pins.is_empty() {
        return "no pins\n".to_owned();
    }
    let headers = ["NAME", "TYPE", "CHAT ID", "PINNED", "PIN ID"];
    let rows: Vec<Vec<String>> = pins
        .iter()
        .map(|p| {
            vec![
                truncate(&one_line(&p.chat_name), NAME_COLUMNS),
                chat_type_name(p.chat_type),
                p.chat_id.clone(),
                relative_time(p.sort.max(0) as u64 * 1000, now_ms),
                p.id.to_string(),
            ]
        })
        .collect();
    table(&headers, &rows)
}

/// The UNREAD cell: the exact count (yhconv's field 100) when the server
/// sent one, else what field 6 says: a flag on stock servers, where `1+`
/// reads "at least one".
pub fn unread_cell(c: &pb::Conversation) -> String {
    match (c.unread_count, c.unread_message) {
        (0, 0) => String::new(),
        (0, 1) => "1+".into(),
        (0, n) => n.to_string(),
        (n, _) => n.to_string(),
    }
}

/// `user`, `group`, `bot`, or the number for anything else.
pub fn chat_type_name(code: u64) -> String {
    ChatType::from_code(code).map_or_else(|| code.to_string(), |t| t.as_str().to_owned())
}

/// One conversation with every field (as the protobuf names them), plus
/// the list's `md5`.
pub fn conversation_json(c: &pb::Conversation, md5: &str) -> Value {
    let mut value = to_json(c);
    value["md5"] = Value::String(md5.to_owned());
    value
}

/// Any protocol message as JSON under its field names: every field, always.
pub fn to_json<T: serde::Serialize>(message: &T) -> Value {
    serde_json::to_value(message).unwrap_or(Value::Null)
}

/// What a message says on one line: its text, or a placeholder such as
/// `[image]` for content that is not text.
pub fn summary(content_type: u64, content: Option<&pb::MsgContent>) -> String {
    let empty = pb::MsgContent::default();
    let c = content.unwrap_or(&empty);
    let labelled = |label: &str, detail: &str| match detail {
        "" => format!("[{label}]"),
        d => format!("[{label}: {}]", one_line(d)),
    };
    match ContentType::from_code(content_type) {
        Some(t) if t.is_textual() => one_line(&c.text),
        Some(ContentType::Image) => "[image]".into(),
        Some(ContentType::File) => labelled("file", &c.file_name),
        Some(ContentType::Form) => "[form]".into(),
        Some(ContentType::Post) => labelled("post", &c.post_title),
        Some(ContentType::Sticker) => "[sticker]".into(),
        Some(ContentType::Video) => "[video]".into(),
        Some(ContentType::Audio) => "[audio]".into(),
        Some(ContentType::Call) => labelled("call", &c.call_status_text),
        _ => format!("[content type {content_type}]"),
    }
}

/// `time  sender: text` for a history message (time in UTC).
pub fn message_line(m: &pb::Msg) -> String {
    let text = match m.msg_delete_time {
        0 => summary(m.content_type, m.content.as_ref()),
        _ => "[recalled]".into(),
    };
    format!("{}  {}: {text}", utc_datetime(m.send_time), sender_name(m.sender.as_ref()))
}

/// `time  type chat_id  sender  #seq  text` for a pushed message (UTC).
pub fn push_line(p: &pb::PushMsg) -> String {
    format!(
        "{}  {} {}  {}  #{}  {}",
        utc_datetime(p.timestamp),
        chat_type_name(p.chat_type),
        p.chat_id,
        sender_name(p.sender.as_ref()),
        p.msg_seq,
        match p.delete_timestamp {
            0 => summary(p.content_type, p.content.as_ref()),
            _ => format!("[recalled] {}", p.content.as_ref().map_or("", |c| c.text.as_str())),
        },
    )
}

/// The sender's name, else its id, else `?`.
fn sender_name(sender: Option<&pb::Sender>) -> String {
    match sender {
        Some(s) if !s.name.is_empty() => one_line(&s.name),
        Some(s) if !s.chat_id.is_empty() => s.chat_id.clone(),
        _ => "?".into(),
    }
}

/// A history message with every field.
pub fn message_json(m: &pb::Msg) -> Value {
    to_json(m)
}

/// A pushed message with every field.
pub fn push_json(p: &pb::PushMsg) -> Value {
    to_json(p)
}

/// The caller's profile with every field.
pub fn user_json(u: &pb::UserInfoData) -> Value {
    to_json(u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_cmd::text::width;

    fn conv(chat_id: &str, name: &str, preview: &str) -> pb::Conversation {
        pb::Conversation {
            chat_id: chat_id.into(),
            chat_type: 2,
            name: name.into(),
            chat_content: preview.into(),
            timestamp_ms: 1_700_000_000_000,
            ..Default::default()
        }
    }

    #[test]
    fn list_table_is_aligned_with_cjk_names() {
        let now = 1_700_000_000_000 + 5 * 60_000;
        let mut a = conv("100", "云湖开发者群", "大家好，今天的会议改到下午三点，请准时参加，谢谢大家");
        a.unread_count = 12;
        a.unread_message = 1;
        a.at = 1;
        let mut b = conv("7", "bob", "hi\nthere");
        b.chat_type = 1;
        b.unread_message = 1; // a stock server: flag only
        b.do_not_disturb = 1;
        let out = conversation_table(&[a, b], now);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        let start = |line: &str, needle: &str| width(&line[..line.find(needle).unwrap()]);
        let when = start(lines[0], "WHEN");
        assert_eq!(start(lines[1], "5m ago"), when);
        assert_eq!(start(lines[2], "5m ago"), when);
        let id = start(lines[0], "CHAT ID");
        let last = |line: &str, needle: &str| width(&line[..line.rfind(needle).unwrap()]);
        assert_eq!(last(lines[1], "100"), id);
        assert_eq!(last(lines[2], "7"), id);
        assert!(lines[1].contains(" 12 ") && lines[1].contains(" @ "));
        assert!(lines[2].contains(" 1+ ") && lines[2].contains(" yes "));
        assert!(lines[2].contains("hi there"), "newline kept: {out}");
        assert!(lines[1].contains("..."), "long preview not cut: {out}");
    }

    #[test]
    fn unread_cells() {
        let mut c = conv("1", "n", "");
        assert_eq!(unread_cell(&c), "");
        c.unread_message = 1;
        assert_eq!(unread_cell(&c), "1+");
        c.unread_count = 3;
        assert_eq!(unread_cell(&c), "3");
    }

    #[test]
    fn conversation_json_has_every_field() {
        let mut c = conv("1", "n", "p");
        c.at_data = Some(pb::AtData { msg_seq: 4, mentioner_name: "amy".into(), ..Default::default() });
        let v = conversation_json(&c, "abc");
        assert_eq!(v.as_object().unwrap().len(), 17);
        assert_eq!(v["md5"], "abc");
        assert_eq!(v["at_data"]["msg_seq"], 4);
        assert_eq!(conversation_json(&conv("1", "n", ""), "")["at_data"], Value::Null);
    }

    #[test]
    fn summaries_and_lines() {
        let text = pb::MsgContent { text: "你好\nworld".into(), file_name: "a.pdf".into(), ..Default::default() };
        assert_eq!(summary(1, Some(&text)), "你好 world");
        assert_eq!(summary(4, Some(&text)), "[file: a.pdf]");
        assert_eq!(summary(2, None), "[image]");
        assert_eq!(summary(99, None), "[content type 99]");
        let m = pb::Msg {
            sender: Some(pb::Sender { chat_id: "5".into(), name: "Amy".into(), ..Default::default() }),
            content_type: 1,
            content: Some(text),
            send_time: 1_700_000_000_000,
            ..Default::default()
        };
        assert_eq!(message_line(&m), "2023-11-14 22:13:20  Amy: 你好 world");
        let p = pb::PushMsg {
            chat_id: "42".into(),
            chat_type: 2,
            sender: m.sender.clone(),
            content_type: 1,
            content: m.content.clone(),
            timestamp: 1_700_000_000_000,
            msg_seq: 17,
            ..Default::default()
        };
        assert_eq!(push_line(&p), "2023-11-14 22:13:20  group 42  Amy  #17  你好 world");
        assert_eq!(push_json(&p)["content"]["text"], "你好\nworld");
        assert_eq!(message_json(&m)["sender"]["name"], "Amy");
    }
}
