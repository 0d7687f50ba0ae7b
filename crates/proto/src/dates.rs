//! Dates as the protocol writes them in text fields (`register_time`,
//! `inviteAtStr`) and the CLI prints them: UTC, proleptic Gregorian.

/// `YYYY-MM-DD` (UTC) of a time in milliseconds.
pub fn utc_date(ms: u64) -> String {
    let (y, m, d) = civil_from_days((ms / 1000 / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of a time in milliseconds.
pub fn utc_datetime(ms: u64) -> String {
    let secs = ms / 1000;
    let of_day = secs % 86_400;
    let (h, m, s) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
    format!("{} {h:02}:{m:02}:{s:02}", utc_date(ms))
}

/// Year, month, day of a count of days since 1970-01-01 (proleptic
/// Gregorian; Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        assert_eq!(utc_datetime(0), "1970-01-01 00:00:00");
        assert_eq!(utc_datetime(1_700_000_000_123), "2023-11-14 22:13:20");
        assert_eq!(utc_date(951_782_400_000), "2000-02-29");
    }
}
