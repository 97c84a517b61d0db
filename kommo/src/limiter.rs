//! Rate limiting per Kommo account. Kommo allows 7 requests per second; the in-process limiter
//! spaces requests evenly (default 6 per second, no burst), so no sliding 1-second window ever sees
//! more than 6 of them, across second boundaries too. Several backend processes share the limit
//! through an implementation of [`RateLimiter`] backed by their common database.

use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota};

/// A boxed future, as the pluggable traits return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Grants permission to send one request to an account. Shared by every task of a process; an
/// implementation backed by PostgreSQL shares it between processes.
pub trait RateLimiter: Send + Sync + 'static {
    /// Resolves when one request to `account` may be sent.
    fn acquire<'a>(&'a self, account: &'a str) -> BoxFuture<'a, ()>;
}

/// The in-process limiter: one GCRA cell per account with a burst of one.
#[derive(Debug)]
pub struct InProcessLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    per_second: u32,
}

impl InProcessLimiter {
    /// `per_second` evenly spaced requests per account (at least 1).
    pub fn new(per_second: u32) -> Self {
        let per_second = per_second.max(1);
        let period = Duration::from_nanos(1_000_000_000 / u64::from(per_second));
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::MIN);
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            per_second,
        }
    }

    /// The configured rate.
    pub fn per_second(&self) -> u32 {
        self.per_second
    }
}

impl RateLimiter for InProcessLimiter {
    fn acquire<'a>(&'a self, account: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let key = account.to_owned();
            self.limiter.until_key_ready(&key).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn permits_are_spaced_by_the_period_so_no_second_holds_more_than_the_rate() {
        let limiter = InProcessLimiter::new(20);
        let mut times = Vec::new();
        let start = Instant::now();
        for _ in 0..12 {
            limiter.acquire("acme").await;
            times.push(start.elapsed());
        }
        for pair in times.windows(2) {
            // 50 ms period; allow a little scheduling slack below it.
            assert!(pair[1] - pair[0] >= Duration::from_millis(45), "{:?}", pair);
        }
        // Another account is not held back by the first.
        let other = Instant::now();
        limiter.acquire("other").await;
        assert!(other.elapsed() < Duration::from_millis(20));
    }
}
