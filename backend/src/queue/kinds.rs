//! The one registration list of job kinds: every kind a job row can carry, and the handlers this
//! process runs. A kind without a handler here is never claimed by this process (its jobs wait).

use super::worker::Registry;
use crate::startup::AppState;

/// Process one event of the inbox (payload `{"event_id": …}`): parse it, match the account's rules
/// and run them. Enqueued by [`crate::ingest`] in the transaction that stores the event.
pub const PROCESS_EVENT: &str = "process_event";

/// Run a delayed action of a rule (payload chosen by the rule engine).
pub const RUN_DELAYED_ACTION: &str = "run_delayed_action";

/// Every job kind.
pub const ALL: &[&str] = &[PROCESS_EVENT, RUN_DELAYED_ACTION];

/// The handlers this process runs, one line per kind.
///
/// The rule engine that handles [`PROCESS_EVENT`] and [`RUN_DELAYED_ACTION`] is not part of the
/// backend yet, so no kind is registered: stored events and delayed jobs stay pending, durably,
/// until a build that registers their handlers here picks them up.
pub fn registry(_state: &AppState) -> Registry {
    Registry::new()
}
