//! Identifiers, parsed once at the edge.
//!
//! Ids are decimal strings on the wire and unique across users, groups and
//! bots; inside the server they are positive `i64`s.

use std::fmt;

use crate::domain::error::{Error, Result};

/// The id of a user, group or bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(i64);

impl Id {
    /// Parses a wire id: 1 to 18 decimal digits naming a positive number.
    /// `what` names the field in the error message.
    pub fn parse(raw: &str, what: &str) -> Result<Self> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(Error::invalid(format!("{what} is required")));
        }
        if trimmed.len() > 18 || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid(format!("{what} must be a decimal id, got {:?}", truncate_for_message(raw))));
        }
        match trimmed.parse::<i64>() {
            Ok(n) if n > 0 => Ok(Self(n)),
            _ => Err(Error::invalid(format!("{what} must be a positive decimal id"))),
        }
    }

    /// Wraps a stored id.
    pub const fn from_raw(n: i64) -> Self {
        Self(n)
    }

    /// The stored form.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Caps caller-supplied text quoted in an error message.
pub(crate) fn truncate_for_message(raw: &str) -> String {
    const MAX_CHARS: usize = 40;
    if raw.chars().count() <= MAX_CHARS {
        raw.to_owned()
    } else {
        let mut s: String = raw.chars().take(MAX_CHARS).collect();
        s.push('…');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimal_ids() {
        assert_eq!(Id::parse("7356666", "chatId").unwrap().get(), 7356666);
        assert_eq!(Id::parse(" 12 ", "chatId").unwrap().get(), 12);
    }

    #[test]
    fn rejects_everything_else() {
        for bad in ["", "abc", "-5", "0", "1e5", "12345678901234567890", "１２"] {
            let err = Id::parse(bad, "chatId").unwrap_err();
            assert!(err.public_message().contains("chatId"), "{bad}: {err}");
        }
    }

    #[test]
    fn long_input_is_not_echoed_whole() {
        let err = Id::parse(&"x".repeat(10_000), "chatId").unwrap_err();
        assert!(err.public_message().len() < 200);
    }
}
