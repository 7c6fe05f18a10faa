//! The clock, injected so tests can pin it.

use std::sync::atomic::{AtomicI64, Ordering};

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Unix time in milliseconds.
    fn now_ms(&self) -> i64;

    /// Unix time in seconds.
    fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// Deadlines below this are not Unix times (2001-09-09 in milliseconds): they are durations.
const EPOCH_FLOOR_MS: u64 = 1_000_000_000_000;

/// The Unix time in milliseconds by which an invocation must finish its work, keeping
/// `margin_ms` back for reporting. Lambda's runtime API sends `Lambda-Runtime-Deadline-Ms`
/// as a Unix time; some emulators (`cargo lambda watch` sends `600000`) send the time
/// left instead, which read as a Unix time would lie in 1970 and make every record look
/// late. A value below 2001 is therefore read as a duration from `now_ms`.
pub fn invocation_deadline_ms(deadline: u64, now_ms: i64, margin_ms: i64) -> i64 {
    let absolute = if deadline < EPOCH_FLOOR_MS {
        now_ms.saturating_add(i64::try_from(deadline).unwrap_or(i64::MAX))
    } else {
        i64::try_from(deadline).unwrap_or(i64::MAX)
    };
    absolute.saturating_sub(margin_ms)
}

/// A clock that stays where it is set (tests, fixtures).
#[derive(Debug, Default)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    /// A clock at `ms`.
    pub fn at_ms(ms: i64) -> Self {
        Self(AtomicI64::new(ms))
    }

    /// Moves the clock forward by `ms`.
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_569_536_000;

    #[test]
    fn a_unix_deadline_is_kept() {
        let deadline = u64::try_from(NOW + 30_000).unwrap();
        assert_eq!(invocation_deadline_ms(deadline, NOW, 2_000), NOW + 28_000);
    }

    #[test]
    fn an_emulators_duration_is_read_from_now() {
        assert_eq!(invocation_deadline_ms(600_000, NOW, 2_000), NOW + 598_000);
    }

    #[test]
    fn extremes_saturate() {
        assert_eq!(invocation_deadline_ms(u64::MAX, NOW, 0), i64::MAX);
        assert_eq!(invocation_deadline_ms(0, NOW, 2_000), NOW - 2_000);
    }
}
