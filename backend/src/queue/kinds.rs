//! The names of the job kinds: every kind a job row can carry. Each kind is a type of
//! [`crate::jobs`] (its payload and its `run`), registered there in one list; a kind a process has
//! not registered is never claimed by it (its jobs wait).

/// Process one event of the inbox ([`crate::jobs::ProcessEvent`]): parse it, match the account's
/// rules and run them. Enqueued by [`crate::ingest`] in the transaction that stores the event.
pub const PROCESS_EVENT: &str = "process_event";

/// Run a delayed action of a rule ([`crate::jobs::RunDelayedAction`]).
pub const RUN_DELAYED_ACTION: &str = "run_delayed_action";

/// Run a rule for an entity on another rule's behalf: execute rule, a task result, a webhook
/// follow-up ([`crate::jobs::RunRule`]).
pub const RUN_RULE: &str = "run_rule";

/// Fire a scheduled rule ([`crate::jobs::FireSchedule`]).
pub const FIRE_SCHEDULE: &str = "fire_schedule";

/// Every job kind.
pub const ALL: &[&str] = &[PROCESS_EVENT, RUN_DELAYED_ACTION, RUN_RULE, FIRE_SCHEDULE];
