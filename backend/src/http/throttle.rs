//! A per-account cap on the entry points anyone on the internet can call once they know a URL:
//! inbound webhooks and trigger links. A leaked URL or a misbehaving form then cannot flood the
//! inbox, the queue and, through the rules, the account's Kommo rate limit. Kommo's own webhooks
//! and digital-pipeline requests are not capped: Kommo paces them, and refusing one loses an event.
//! The cap holds per process (with several processes on PostgreSQL, each has its own).

use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota};

use super::error::{ApiError, ApiResult};

/// The per-account limiter of inbound calls.
#[derive(Debug)]
pub struct InboundThrottle {
    limiter: Option<DefaultKeyedRateLimiter<i64>>,
    per_minute: u32,
}

impl InboundThrottle {
    /// `per_minute` calls per account and minute, as a burst refilled evenly; 0 means no limit.
    pub fn new(per_minute: u32) -> Self {
        Self {
            limiter: NonZeroU32::new(per_minute)
                .map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_minute(n))),
            per_minute,
        }
    }

    /// Admits one call for `account_id`, or answers 429.
    pub fn check(&self, account_id: i64) -> ApiResult<()> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(&account_id).map_err(|_| {
            ApiError::too_many_requests(
                "too_many_requests",
                format!(
                    "This account's webhooks and links take {} calls a minute; try again shortly.",
                    self.per_minute
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::InboundThrottle;

    #[test]
    fn each_account_has_its_own_burst_and_zero_means_no_limit() {
        let throttle = InboundThrottle::new(2);
        assert!(throttle.check(1).is_ok());
        assert!(throttle.check(1).is_ok());
        assert!(
            throttle.check(1).is_err(),
            "the third call within the minute"
        );
        assert!(throttle.check(2).is_ok(), "another account is not affected");
        let open = InboundThrottle::new(0);
        assert!((0..10_000).all(|_| open.check(1).is_ok()));
    }
}
