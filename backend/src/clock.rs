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

    /// For a clock that moves in jumps (a [`ManualClock`] a test moves), a receiver that changes
    /// at each jump, so timers on this clock (the queue's lease heartbeat) look again at once;
    /// `None` for a clock that flows by itself.
    fn jumps(&self) -> Option<tokio::sync::watch::Receiver<Millis>> {
        None
    }
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
    moved: Arc<tokio::sync::watch::Sender<Millis>>,
}

impl ManualClock {
    /// A clock standing at `now_ms`.
    pub fn new(now_ms: Millis) -> Self {
        Self {
            now: Arc::new(AtomicI64::new(now_ms)),
            moved: Arc::new(tokio::sync::watch::Sender::new(now_ms)),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let now = self.now.fetch_add(ms, Ordering::SeqCst).saturating_add(ms);
        self.moved.send_replace(now);
    }

    /// Sets the clock to `now_ms`.
    pub fn set(&self, now_ms: Millis) {
        self.now.store(now_ms, Ordering::SeqCst);
        self.moved.send_replace(now_ms);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.now.load(Ordering::SeqCst)
    }

    fn jumps(&self) -> Option<tokio::sync::watch::Receiver<Millis>> {
        Some(self.moved.subscribe())
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

/// Nanoseconds on the monotonic clock since the first reading in this process: the stopwatch that
/// times each condition of an evaluation (`domain::eval::EvalContext::timed`). It measures
/// durations only; it is never a time of day.
pub fn monotonic_ns() -> u64 {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let origin = *ORIGIN.get_or_init(std::time::Instant::now);
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
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

    #[test]
    fn a_manual_clock_tells_its_watchers_of_each_jump() {
        let clock = ManualClock::new(1_000);
        let mut jumps = clock.clone().jumps().expect("a manual clock jumps");
        assert!(!jumps.has_changed().expect("open"));
        clock.advance(Duration::from_secs(1));
        assert!(jumps.has_changed().expect("open"));
        assert_eq!(*jumps.borrow_and_update(), 2_000);
        assert!(SystemClock.jumps().is_none(), "the wall clock flows");
    }

    #[test]
    fn the_stopwatch_never_runs_backwards() {
        let first = monotonic_ns();
        assert!(monotonic_ns() >= first);
    }
}
