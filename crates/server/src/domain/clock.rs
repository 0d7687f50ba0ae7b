//! The server's clock.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, strictly increasing within this
/// process: two events never share a timestamp here, so the list's order
/// follows the order things happened in.
pub fn now_ms() -> i64 {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let wall = wall_clock_ms();
    let previous =
        LAST.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| Some(wall.max(last + 1))).unwrap_or(wall);
    wall.max(previous + 1)
}

/// The wall clock in milliseconds since the Unix epoch (may repeat or go back).
pub fn wall_clock_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn strictly_increasing() {
        let a = super::now_ms();
        let b = super::now_ms();
        assert!(b > a);
    }
}
