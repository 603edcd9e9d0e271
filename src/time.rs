//! Time arithmetic that cannot fail: deadlines that saturate instead of overflowing, and the
//! Unix time the ledger and the delivery targets record. Imports nothing of mailpull's.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `t + d`, saturating far in the future instead of overflowing: every deadline in mailpull
/// is computed with this.
pub fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .or_else(|| t.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(t)
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_saturates() {
        let now = Instant::now();
        assert!(later(now, Duration::MAX) > now);
        assert_eq!(
            later(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
    }
}
