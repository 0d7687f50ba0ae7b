//! Shared by the server (which writes previews) and the client (whose live
//! list writes the same preview for a pushed message).
//!
//! The preview (`chat_content`) shown for a conversation's last message.
//!
//! Rules (also in the README):
//! - text, markdown and html: the text on one line (every run of whitespace,
//!   newlines included, becomes one space), trimmed, and cut to
//!   [`PREVIEW_MAX_CHARS`] characters with `…` appended when cut. Cuts fall on
//!   character boundaries, never inside a multi-byte character.
//! - every other type: a bracketed tag, `[图片]`, `[文件]`, ...
//! - in groups: prefixed by the sender's name and `: `.

use crate::{pb::MsgContent, ContentType};

/// Longest text preview, in characters (not bytes), before the ellipsis.
pub const PREVIEW_MAX_CHARS: usize = 60;

/// The tag shown for a non-text content type.
pub fn content_tag(content_type: ContentType) -> Option<&'static str> {
    Some(match content_type {
        ContentType::Text | ContentType::Markdown | ContentType::Html => return None,
        ContentType::Image => "[图片]",
        ContentType::File => "[文件]",
        ContentType::Form => "[表单]",
        ContentType::Post => "[文章]",
        ContentType::Sticker => "[表情]",
        ContentType::Video => "[视频]",
        ContentType::Audio => "[语音]",
        ContentType::Call => "[语音通话]",
    })
}

/// The preview of a message; `group_sender` is the sender's name in a group.
pub fn preview(content_type: ContentType, content: &MsgContent, group_sender: Option<&str>) -> String {
    let body = match content_tag(content_type) {
        Some(tag) => tag.to_owned(),
        None => one_line(&content.text, PREVIEW_MAX_CHARS),
    };
    match group_sender {
        Some(name) => format!("{name}: {body}"),
        None => body,
    }
}

/// The preview (and pushed text) of a recalled message.
pub fn recall_notice(recaller_name: &str) -> String {
    format!("{recaller_name} 撤回了一条消息")
}

/// Collapses whitespace to single spaces, trims, and cuts to `max_chars`.
pub fn one_line(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 4 + 3));
    let mut chars = 0;
    for word in text.split_whitespace() {
        if chars > 0 {
            if chars == max_chars {
                out.push('…');
                return out;
            }
            out.push(' ');
            chars += 1;
        }
        for c in word.chars() {
            if chars == max_chars {
                out.push('…');
                return out;
            }
            out.push(c);
            chars += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> MsgContent {
        MsgContent { text: t.into(), ..Default::default() }
    }

    #[test]
    fn text_is_one_trimmed_line() {
        let p = preview(ContentType::Text, &text("  hello\n\n  world \t!  "), None);
        assert_eq!(p, "hello world !");
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary() {
        let long = "云湖".repeat(100);
        let p = preview(ContentType::Markdown, &text(&long), None);
        assert_eq!(p.chars().count(), PREVIEW_MAX_CHARS + 1);
        assert!(p.ends_with('…'));
        assert!(p.starts_with("云湖云湖"));
    }

    #[test]
    fn exact_length_is_not_cut() {
        let exact = "a".repeat(PREVIEW_MAX_CHARS);
        assert_eq!(one_line(&exact, PREVIEW_MAX_CHARS), exact);
        let with_space = format!("{} b", "a".repeat(PREVIEW_MAX_CHARS));
        assert_eq!(one_line(&with_space, PREVIEW_MAX_CHARS), format!("{exact}…"));
    }

    #[test]
    fn emoji_and_combining_text_never_split_bytes() {
        let s = "😀".repeat(70);
        let p = one_line(&s, PREVIEW_MAX_CHARS);
        assert!(p.is_char_boundary(p.len()));
        assert_eq!(p.chars().filter(|c| *c == '😀').count(), PREVIEW_MAX_CHARS);
    }

    #[test]
    fn tags_for_every_other_type() {
        let empty = MsgContent::default();
        let expected = [
            (ContentType::Image, "[图片]"),
            (ContentType::File, "[文件]"),
            (ContentType::Form, "[表单]"),
            (ContentType::Post, "[文章]"),
            (ContentType::Sticker, "[表情]"),
            (ContentType::Video, "[视频]"),
            (ContentType::Audio, "[语音]"),
            (ContentType::Call, "[语音通话]"),
        ];
        for (t, tag) in expected {
            assert_eq!(preview(t, &empty, None), tag);
        }
    }

    #[test]
    fn groups_prefix_the_sender() {
        assert_eq!(preview(ContentType::Html, &text("<b>hi</b>"), Some("Alice")), "Alice: <b>hi</b>");
        assert_eq!(preview(ContentType::Image, &text(""), Some("小明")), "小明: [图片]");
    }
}
