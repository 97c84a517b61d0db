//! A launch's progress as the list dialog shows it, and how often the dialog asks the backend again
//! (`GET /api/v1/launches/{id}`): DOM-free, so plain `cargo test` covers it.
//!
//! Asking is bounded: every second for the first two minutes, then every five seconds, and it stops
//! once the launch has finished or its count of pending runs has not moved for ten minutes (a
//! switched-off rule holds its runs; Kommo may be slow). The dialog then offers to check again.

use domain::api::Launch;

/// Milliseconds between the first answers.
pub const FAST_MS: u32 = 1_000;
/// How many answers come at [`FAST_MS`].
pub const FAST_POLLS: u32 = 120;
/// Milliseconds between later answers.
pub const SLOW_MS: u32 = 5_000;
/// How long without progress before asking stops, in milliseconds.
pub const STALL_MS: u32 = 10 * 60 * 1_000;

/// How far a launch has got, 0 to 100: its finished runs over its total.
pub fn percent(launch: &Launch) -> u32 {
    if launch.total == 0 {
        return 100;
    }
    let finished = launch.total.saturating_sub(launch.pending);
    u32::try_from(finished.saturating_mul(100) / launch.total).unwrap_or(100)
}

/// The runs of a launch that have finished.
pub fn finished_runs(launch: &Launch) -> u64 {
    launch.total.saturating_sub(launch.pending)
}

/// When to ask again, answer after answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Polling {
    answers: u32,
    last_pending: Option<u64>,
    still_ms: u32,
}

/// What to do after an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Ask again after this many milliseconds.
    AskIn(u32),
    /// Every run has finished.
    Finished,
    /// Nothing moved for [`STALL_MS`]: stop asking until the user checks again.
    Stalled,
}

impl Polling {
    /// Takes an answer into account and says what to do next.
    pub fn after(&mut self, launch: &Launch) -> Next {
        if launch.finished() {
            return Next::Finished;
        }
        let delay = if self.answers < FAST_POLLS {
            FAST_MS
        } else {
            SLOW_MS
        };
        self.answers = self.answers.saturating_add(1);
        if self.last_pending == Some(launch.pending) {
            self.still_ms = self.still_ms.saturating_add(delay);
        } else {
            self.still_ms = 0;
            self.last_pending = Some(launch.pending);
        }
        if self.still_ms >= STALL_MS {
            Next::Stalled
        } else {
            Next::AskIn(delay)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(total: u64, done: u64, pending: u64) -> Launch {
        Launch {
            id: 1,
            rule_id: 2,
            entity_type: "leads".into(),
            user_id: 3,
            created_at: 0,
            total,
            done,
            skipped: 0,
            failed: total - done - pending,
            pending,
            cancelled: false,
            entities: Vec::new(),
        }
    }

    #[test]
    fn percent_counts_finished_runs_of_every_kind() {
        assert_eq!(percent(&launch(200, 0, 200)), 0);
        assert_eq!(percent(&launch(200, 90, 100)), 50);
        assert_eq!(percent(&launch(3, 1, 1)), 66);
        assert_eq!(percent(&launch(200, 200, 0)), 100);
        assert_eq!(percent(&launch(0, 0, 0)), 100);
    }

    #[test]
    fn asking_stops_when_the_launch_finishes() {
        let mut polling = Polling::default();
        assert_eq!(polling.after(&launch(10, 0, 10)), Next::AskIn(FAST_MS));
        assert_eq!(polling.after(&launch(10, 9, 1)), Next::AskIn(FAST_MS));
        assert_eq!(polling.after(&launch(10, 10, 0)), Next::Finished);
    }

    #[test]
    fn asking_slows_down_then_stops_when_nothing_moves() {
        let mut polling = Polling::default();
        for pending in (1..=FAST_POLLS).rev() {
            assert_eq!(
                polling.after(&launch(1_000, 0, u64::from(pending))),
                Next::AskIn(FAST_MS)
            );
        }
        // Still moving: slower now.
        assert_eq!(
            polling.after(&launch(1_000, 0, 1_000)),
            Next::AskIn(SLOW_MS)
        );
        let mut answers = 0;
        let next = loop {
            answers += 1;
            match polling.after(&launch(1_000, 0, 1_000)) {
                Next::AskIn(ms) => assert_eq!(ms, SLOW_MS),
                other => break other,
            }
            assert!(answers < 1_000, "asking never stops");
        };
        assert_eq!(next, Next::Stalled);
        assert_eq!(answers, STALL_MS / SLOW_MS);
        // The user checks again: a fresh polling asks again.
        assert_eq!(
            Polling::default().after(&launch(1_000, 0, 1_000)),
            Next::AskIn(FAST_MS)
        );
    }
}
