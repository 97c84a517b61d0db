//! The per-account Kommo rate limit, shared by every backend process on the same database.
//!
//! Each request reserves the next free slot of its account in one atomic upsert: slots are spaced
//! by the period (1000 ms / rate, rounded up) with no burst, so no one-second window ever holds more
//! than the rate, whichever process sent the requests. The caller then waits until its slot.

use std::time::Duration;

use kommo::limiter::{BoxFuture, RateLimiter};
use sqlx::Row;

use crate::{
    clock::{Millis, SharedClock},
    db::Db,
};

/// A [`RateLimiter`] whose state lives in the `rate_limits` table.
#[derive(Debug, Clone)]
pub struct SharedRateLimiter {
    db: Db,
    clock: SharedClock,
    period_ms: Millis,
}

impl SharedRateLimiter {
    /// `per_second` evenly spaced requests per account (at least 1), timed by `clock`.
    pub fn new(db: Db, clock: SharedClock, per_second: u32) -> Self {
        let per_second = i64::from(per_second.max(1));
        Self {
            db,
            clock,
            period_ms: (1000 + per_second - 1) / per_second,
        }
    }

    /// The spacing between two requests to one account.
    pub fn period_ms(&self) -> Millis {
        self.period_ms
    }

    /// Reserves the next free slot of `key` and returns when it starts (now, if the account was
    /// idle).
    pub async fn reserve(&self, key: &str) -> Result<Millis, sqlx::Error> {
        let now = self.clock.now_ms();
        let row = sqlx::query(
            "INSERT INTO rate_limits (limit_key, next_free_at) VALUES ($1, $2 + $3)
             ON CONFLICT (limit_key) DO UPDATE SET next_free_at =
                 CASE WHEN rate_limits.next_free_at > $2 THEN rate_limits.next_free_at + $3 ELSE $2 + $3 END
             RETURNING next_free_at",
        )
        .bind(key)
        .bind(now)
        .bind(self.period_ms)
        .fetch_one(&self.db.pool)
        .await?;
        let next_free_at: i64 = row.try_get(0)?;
        Ok(next_free_at - self.period_ms)
    }
}

impl RateLimiter for SharedRateLimiter {
    fn acquire<'a>(&'a self, account: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let wait_ms = match self.reserve(account).await {
                Ok(slot) => slot - self.clock.now_ms(),
                Err(error) => {
                    // Without the shared state, pace this process alone rather than stop working.
                    tracing::warn!(%error, "shared rate limit unavailable; pacing locally");
                    self.period_ms
                }
            };
            if wait_ms > 0 {
                tokio::time::sleep(Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0)))
                    .await;
            }
        })
    }
}
