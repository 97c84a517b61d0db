//! The emulator's settable clock: real time plus an offset that tests move forward, so token expiry,
//! webhook retry schedules and the rate-limit window are exercised without waiting.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch as the emulator sees them.
pub type UnixMillis = i64;

/// A clock that follows real time shifted by an offset, or stays frozen at a set instant.
#[derive(Debug, Default)]
pub struct EmulatorClock {
    /// Added to real time; moved by [`EmulatorClock::advance`].
    offset_ms: AtomicI64,
    /// When non-zero, the clock is frozen at this instant (plus any advance since).
    frozen_at_ms: AtomicI64,
}

impl EmulatorClock {
    /// A clock that follows real time.
    pub fn real() -> Self {
        Self::default()
    }

    /// A clock frozen at `at`: it moves only through [`EmulatorClock::advance`].
    pub fn frozen(at: UnixMillis) -> Self {
        Self {
            offset_ms: AtomicI64::new(0),
            frozen_at_ms: AtomicI64::new(at.max(1)),
        }
    }

    /// The current emulator time in milliseconds.
    pub fn now_ms(&self) -> UnixMillis {
        let frozen = self.frozen_at_ms.load(Ordering::SeqCst);
        let base = if frozen != 0 { frozen } else { real_now_ms() };
        base + self.offset_ms.load(Ordering::SeqCst)
    }

    /// The current emulator time in whole seconds, as Kommo's timestamps are.
    pub fn now_unix(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Moves the clock forward (or back, with a negative value) by `ms` milliseconds.
    pub fn advance(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

#[allow(clippy::disallowed_methods)] // the emulator's one reader of the wall clock
fn real_now_ms() -> UnixMillis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_clock_moves_only_when_advanced() {
        let clock = EmulatorClock::frozen(1_700_000_000_000);
        assert_eq!(clock.now_ms(), 1_700_000_000_000);
        clock.advance(90_000);
        assert_eq!(clock.now_ms(), 1_700_000_090_000);
        assert_eq!(clock.now_unix(), 1_700_000_090);
    }
}
