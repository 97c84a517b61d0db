//! The per-account request window: Kommo allows 7 requests per second; past that it answers 429,
//! and after repeated excess it blocks the account (403 on everything).
//!
//! The window is sliding: a request is an excess when the account already received `limit` requests
//! in the 1,000 ms before it. Every arrival counts, rejected or not, so a client that keeps under the
//! limit sees no 429 at all and the `excess` counter proves it.

use std::collections::VecDeque;

use serde::Serialize;

use crate::clock::UnixMillis;

/// Length of the sliding window.
pub const WINDOW_MS: i64 = 1_000;

/// Counters of one account's traffic, as the control API reports them.
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct TrafficCounters {
    /// API requests received (OAuth and control calls excluded).
    pub requests: u64,
    /// Requests that arrived with the window already full: would have exceeded the limit.
    pub rate_limit_excess: u64,
    /// 429 answers given for rate-limit excess.
    pub responses_429: u64,
    /// 429 answers given because a test injected them.
    pub injected_429: u64,
    /// 403 answers given because the account is blocked.
    pub responses_403: u64,
    /// Injected 5xx answers.
    pub injected_5xx: u64,
    /// Injected timeouts (the connection hangs until the client gives up).
    pub injected_timeouts: u64,
    /// The most requests seen in any sliding 1-second window.
    pub max_requests_in_window: u64,
    /// Successful `refresh_token` grants.
    pub token_refreshes: u64,
    /// Write requests (POST/PATCH/DELETE) that changed state.
    pub applied_writes: u64,
}

/// The sliding window of one account.
#[derive(Debug, Default)]
pub struct RequestWindow {
    arrivals: VecDeque<UnixMillis>,
    /// Times of recent excess arrivals, to decide on blocking.
    recent_excess: VecDeque<UnixMillis>,
}

/// What the window says about one arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowVerdict {
    /// Under the limit.
    Admit,
    /// Past the limit: answer 429.
    Exceeded,
    /// Past the limit too often: block the account.
    Block,
}

impl RequestWindow {
    /// Records an arrival at `now` and says whether it is within `limit` requests per second.
    /// `block_after` excess arrivals within a minute block the account.
    pub fn arrive(
        &mut self,
        now: UnixMillis,
        limit: u32,
        block_after: u32,
        counters: &mut TrafficCounters,
    ) -> WindowVerdict {
        while self.arrivals.front().is_some_and(|&t| t <= now - WINDOW_MS) {
            self.arrivals.pop_front();
        }
        let full = self.arrivals.len() >= limit as usize;
        self.arrivals.push_back(now);
        counters.requests += 1;
        counters.max_requests_in_window = counters
            .max_requests_in_window
            .max(self.arrivals.len() as u64);
        if !full {
            return WindowVerdict::Admit;
        }
        counters.rate_limit_excess += 1;
        while self
            .recent_excess
            .front()
            .is_some_and(|&t| t <= now - 60_000)
        {
            self.recent_excess.pop_front();
        }
        self.recent_excess.push_back(now);
        if self.recent_excess.len() >= block_after as usize {
            WindowVerdict::Block
        } else {
            WindowVerdict::Exceeded
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eighth_request_within_one_second_is_an_excess_even_across_a_second_boundary() {
        let mut window = RequestWindow::default();
        let mut counters = TrafficCounters::default();
        // Seven requests from 0.5 s to 1.1 s straddle a second boundary and all pass.
        for i in 0..7 {
            assert_eq!(
                window.arrive(500 + i * 100, 7, 100, &mut counters),
                WindowVerdict::Admit
            );
        }
        assert_eq!(
            window.arrive(1_400, 7, 100, &mut counters),
            WindowVerdict::Exceeded
        );
        assert_eq!(counters.rate_limit_excess, 1);
        // 1,000 ms after the first arrival, it has left the window.
        let mut spaced = RequestWindow::default();
        let mut spaced_counters = TrafficCounters::default();
        for i in 0..20 {
            assert_eq!(
                spaced.arrive(i * 143, 7, 100, &mut spaced_counters),
                WindowVerdict::Admit,
                "arrival {i}"
            );
        }
        assert_eq!(spaced_counters.rate_limit_excess, 0);
        assert_eq!(spaced_counters.max_requests_in_window, 7);
    }

    #[test]
    fn repeated_excess_blocks_the_account() {
        let mut window = RequestWindow::default();
        let mut counters = TrafficCounters::default();
        let verdicts: Vec<_> = (0..10)
            .map(|_| window.arrive(0, 7, 3, &mut counters))
            .collect();
        assert_eq!(verdicts[6], WindowVerdict::Admit);
        assert_eq!(verdicts[7], WindowVerdict::Exceeded);
        assert_eq!(verdicts[9], WindowVerdict::Block);
    }
}
