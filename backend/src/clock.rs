//! The injected clock: every "now" of the queue, the ingest and the stores comes from a [`Clock`], so
//! timers, leases and retries are tested by moving a [`ManualClock`] instead of waiting.

use std::{
    fmt,
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
    time::Duration,
};

/// Unix time in milliseconds: the unit of every timestamp column.
pub type Millis = i64;

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Now, in Unix milliseconds.
    fn now_ms(&self) -> Millis;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the backend's one reader of the wall clock
    fn now_ms(&self) -> Millis {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A clock that moves only when told to; clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock standing at `now_ms`.
    pub fn new(now_ms: Millis) -> Self {
        Self {
            now: Arc::new(AtomicI64::new(now_ms)),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.now.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock to `now_ms`.
    pub fn set(&self, now_ms: Millis) {
        self.now.store(now_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.now.load(Ordering::SeqCst)
    }
}

/// A shared, type-erased clock as the application state holds it.
pub type SharedClock = Arc<dyn Clock>;

/// The same clock as the Kommo client reads it (token expiry, the server's offset): every client the
/// backend builds is given this, so no client keeps a time of its own.
pub fn for_kommo(clock: &SharedClock) -> Arc<dyn kommo::Clock> {
    Arc::new(KommoClock(clock.clone()))
}

#[derive(Debug)]
struct KommoClock(SharedClock);

impl kommo::Clock for KommoClock {
    fn now_unix(&self) -> i64 {
        self.0.now_ms().div_euclid(1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let clock = ManualClock::new(1_000);
        let clone = clock.clone();
        assert_eq!(clock.now_ms(), 1_000);
        clone.advance(Duration::from_secs(2));
        assert_eq!(clock.now_ms(), 3_000);
        clock.set(10);
        assert_eq!(clone.now_ms(), 10);
    }
}
