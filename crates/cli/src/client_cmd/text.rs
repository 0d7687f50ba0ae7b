//! Terminal text: display widths (CJK is two columns wide), truncation,
//! aligned tables, and times (UTC; no time zone database is consulted).

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Columns between two table columns.
const GAP: &str = "  ";
/// What a cut string ends with: ASCII, so its width is 3 in every terminal
/// (`…` is "ambiguous width" and takes two columns in some CJK locales).
const ELLIPSIS: &str = "...";

/// How many terminal columns `s` takes.
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `s` on one line: control characters (newlines, tabs, escapes) become
/// spaces, so a name or message cannot break a table or a terminal.
pub fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// `s` cut to at most `max` columns, ending in `...` when cut. Never splits a
/// character: a wide character that would straddle the limit is left out.
pub fn truncate(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_owned();
    }
    let (budget, tail) = if max > ELLIPSIS.len() { (max - ELLIPSIS.len(), ELLIPSIS) } else { (max, "") };
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > budget {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push_str(tail);
    out
}

/// An aligned table: a header line, then one line per row. Columns are as
/// wide as their widest cell (in display columns); the last column is not
/// padded, so no line ends in spaces.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(cell));
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len().saturating_sub(1);
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                out.push_str(&" ".repeat(widths[i].saturating_sub(width(cell))));
                out.push_str(GAP);
            }
        }
        out.push('\n');
    }
    out
}

/// How long ago `then_ms` was, seen at `now_ms`: `just now`, `5m ago`,
/// `3h ago`, `2d ago` (under a week), else the UTC date. Empty for 0 (never).
pub fn relative_time(then_ms: u64, now_ms: u64) -> String {
    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    if then_ms == 0 {
        return String::new();
    }
    // A clock ahead of ours reads as "just now", not as the future.
    let secs = now_ms.saturating_sub(then_ms) / 1000;
    match secs {
        s if s < MINUTE => "just now".to_owned(),
        s if s < HOUR => format!("{}m ago", s / MINUTE),
        s if s < DAY => format!("{}h ago", s / HOUR),
        s if s < 7 * DAY => format!("{}d ago", s / DAY),
        _ => utc_date(then_ms),
    }
}

pub use yhconv_proto::dates::{utc_date, utc_datetime};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cjk_is_two_columns() {
        assert_eq!(width("abc"), 3);
        assert_eq!(width("云湖"), 4);
        assert_eq!(width("云湖 chat"), 9);
    }

    #[test]
    fn truncate_never_splits_a_wide_char() {
        assert_eq!(truncate("hello", 5), "hello");
        assert_eq!(truncate("hello world", 8), "hello...");
        // 5 columns of budget: two CJK chars (4), the third would straddle.
        assert_eq!(truncate("云湖聊天软件", 8), "云湖...");
        assert_eq!(truncate("a云湖聊天", 8), "a云湖...");
        for max in 0..12 {
            let cut = truncate("云a湖b聊c天d软件", max);
            assert!(width(&cut) <= max, "{max}: {cut:?}");
        }
        assert_eq!(truncate("云湖", 1), "");
    }

    #[test]
    fn one_line_removes_controls() {
        assert_eq!(one_line("a\nb\tc\u{1b}[31m"), "a b c [31m");
    }

    #[test]
    fn table_aligns_cjk_by_display_width() {
        let rows = vec![
            vec!["云湖群".to_owned(), "group".to_owned(), "1".to_owned()],
            vec!["bob".to_owned(), "user".to_owned(), "22".to_owned()],
        ];
        let out = table(&["NAME", "TYPE", "ID"], &rows);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines, ["NAME    TYPE   ID", "云湖群  group  1", "bob     user   22"]);
        // Every column starts at the same display column on every line.
        let col = |line: &str, needle: &str| width(&line[..line.find(needle).unwrap()]);
        assert_eq!(col(lines[0], "TYPE"), col(lines[1], "group"));
        assert_eq!(col(lines[1], "group"), col(lines[2], "user"));
        assert!(out.lines().all(|l| !l.ends_with(' ')));
    }

    #[test]
    fn relative_times() {
        let now = 1_700_000_000_000;
        assert_eq!(relative_time(0, now), "");
        assert_eq!(relative_time(now, now), "just now");
        assert_eq!(relative_time(now + 5_000, now), "just now");
        assert_eq!(relative_time(now - 59_999, now), "just now");
        assert_eq!(relative_time(now - 5 * 60_000, now), "5m ago");
        assert_eq!(relative_time(now - 3 * 3_600_000 - 1, now), "3h ago");
        assert_eq!(relative_time(now - 2 * 86_400_000, now), "2d ago");
        assert_eq!(relative_time(now - 6 * 86_400_000, now), "6d ago");
        // 1_700_000_000 s is 2023-11-14 22:13:20 UTC.
        assert_eq!(relative_time(now - 8 * 86_400_000, now), "2023-11-06");
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc_datetime(0), "1970-01-01 00:00:00");
        assert_eq!(utc_datetime(1_700_000_000_000), "2023-11-14 22:13:20");
        assert_eq!(utc_date(951_782_400_000), "2000-02-29");
        assert_eq!(utc_date(978_307_199_000), "2000-12-31");
        assert_eq!(utc_datetime(4_102_444_800_000), "2100-01-01 00:00:00");
    }
}
