//! Retry timing: capped exponential backoff with jitter, slept through an injectable [`Sleeper`]
//! so tests decide how long "waiting" takes; and the [`Clock`] that says when tokens expire.

use std::time::Duration;

use rand::Rng;

use crate::limiter::BoxFuture;

/// How failed attempts are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    /// Delay before the first retry.
    pub base_delay: Duration,
    /// The cap of the delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1-based): `base * 2^(retry-1)` capped, then jittered
    /// uniformly into its upper half so concurrent clients spread out.
    pub fn delay(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20));
        let capped = exp.min(self.max_delay);
        let half = capped / 2;
        let jitter_ns =
            rand::thread_rng().gen_range(0..=half.as_nanos().min(u128::from(u64::MAX)) as u64);
        half + Duration::from_nanos(jitter_ns)
    }
}

/// Waits. The real one uses tokio's timer; tests can count or shorten waits.
pub trait Sleeper: Send + Sync + 'static {
    /// Waits for `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()>;
}

/// Sleeps on tokio's timer.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1_000),
        };
        for _ in 0..50 {
            let first = policy.delay(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.delay(3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let capped = policy.delay(12);
            assert!(capped >= Duration::from_millis(500) && capped <= Duration::from_millis(1_000));
        }
    }
}
