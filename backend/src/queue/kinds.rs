//! The one registration list of job kinds: every kind a job row can carry, and the handlers this
//! process runs. A kind without a handler here is never claimed by this process (its jobs wait).

use super::worker::{ClaimedJob, JobError, Registry};
use crate::{engine::pipeline::job_error, startup::AppState};

/// Process one event of the inbox (payload `{"event_id": …}`): parse it, match the account's rules
/// and run them. Enqueued by [`crate::ingest`] in the transaction that stores the event.
pub const PROCESS_EVENT: &str = "process_event";

/// Run a delayed action of a rule (payload chosen by the rule engine).
pub const RUN_DELAYED_ACTION: &str = "run_delayed_action";

/// Run a rule for an entity on another rule's behalf: execute rule, a task result, a webhook
/// follow-up (payload [`crate::engine::pipeline::RuleCallJob`]).
pub const RUN_RULE: &str = "run_rule";

/// Fire a scheduled rule (payload [`crate::engine::schedule::ScheduleJob`]).
pub const FIRE_SCHEDULE: &str = "fire_schedule";

/// Every job kind.
pub const ALL: &[&str] = &[PROCESS_EVENT, RUN_DELAYED_ACTION, RUN_RULE, FIRE_SCHEDULE];

/// The handlers this process runs, one line per kind; all of them are the rule engine's
/// ([`crate::engine::pipeline`]).
pub fn registry(state: &AppState) -> Registry {
    let (events, delayed, calls, schedules) = (
        state.engine.clone(),
        state.engine.clone(),
        state.engine.clone(),
        state.engine.clone(),
    );
    Registry::new()
        .register(PROCESS_EVENT, move |job: ClaimedJob| {
            let engine = events.clone();
            async move {
                let event_id = job.payload["event_id"]
                    .as_i64()
                    .ok_or_else(|| JobError::Permanent("the payload names no event_id".into()))?;
                engine
                    .process_event(job.account_id, event_id, job.lease())
                    .await
                    .map_err(job_error)
            }
        })
        .register(RUN_DELAYED_ACTION, move |job: ClaimedJob| {
            let engine = delayed.clone();
            async move {
                engine
                    .run_delayed(job.account_id, job.lease(), &job.payload)
                    .await
                    .map_err(job_error)
            }
        })
        .register(RUN_RULE, move |job: ClaimedJob| {
            let engine = calls.clone();
            async move {
                let result = engine
                    .run_rule_call(job.account_id, job.lease(), &job.payload)
                    .await
                    .map_err(job_error);
                // A run of a launch that will not be tried again counts as failed in its launch.
                if let Err(error) = &result {
                    let last = matches!(error, JobError::Permanent(_))
                        || job.attempt >= job.max_attempts;
                    if last {
                        if let Err(e) = engine
                            .record_launch_failure(job.account_id, &job.payload, &error.to_string())
                            .await
                        {
                            tracing::error!(error = %e, job.id = job.id, "a launch's failed run was not recorded");
                        }
                    }
                }
                result
            }
        })
        .register(FIRE_SCHEDULE, move |job: ClaimedJob| {
            let engine = schedules.clone();
            async move {
                engine
                    .fire_schedule(job.account_id, job.lease(), &job.payload)
                    .await
                    .map_err(job_error)
            }
        })
}
