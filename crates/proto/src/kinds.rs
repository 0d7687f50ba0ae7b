//! The protocol's enumerations: chat types and message content types.

use std::fmt;

/// What a chat id names: `1` user, `2` group, `3` bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChatType {
    User = 1,
    Group = 2,
    Bot = 3,
}

impl ChatType {
    /// The wire value.
    pub fn code(self) -> u64 {
        self as u64
    }

    /// Parses a wire value; `None` for anything but 1, 2 or 3.
    pub fn from_code(code: u64) -> Option<Self> {
        match code {
            1 => Some(Self::User),
            2 => Some(Self::Group),
            3 => Some(Self::Bot),
            _ => None,
        }
    }

    /// The lower-case English name (`user`, `group`, `bot`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Group => "group",
            Self::Bot => "bot",
        }
    }
}

impl fmt::Display for ChatType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ChatType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "user" | "1" => Ok(Self::User),
            "group" | "2" => Ok(Self::Group),
            "bot" | "3" => Ok(Self::Bot),
            other => Err(format!("unknown chat type {other:?} (user, group or bot)")),
        }
    }
}

/// A message's `content_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentType {
    Text = 1,
    Image = 2,
    Markdown = 3,
    File = 4,
    Form = 5,
    Post = 6,
    Sticker = 7,
    Html = 8,
    Video = 10,
    Audio = 11,
    Call = 13,
}

impl ContentType {
    /// Every content type the protocol defines.
    pub const ALL: [ContentType; 11] = [
        Self::Text,
        Self::Image,
        Self::Markdown,
        Self::File,
        Self::Form,
        Self::Post,
        Self::Sticker,
        Self::Html,
        Self::Video,
        Self::Audio,
        Self::Call,
    ];

    /// The wire value.
    pub fn code(self) -> u64 {
        self as u64
    }

    /// Parses a wire value; `None` for values the protocol does not define.
    pub fn from_code(code: u64) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }

    /// Whether the message's substance is `content.text`.
    pub fn is_textual(self) -> bool {
        matches!(self, Self::Text | Self::Markdown | Self::Html)
    }
}
