//! The job kinds. Each is a struct that is its own payload, with its name and its `run`
//! ([`BackgroundJob`](crate::queue::worker::BackgroundJob)), in a file of its own; [`registry`]
//! is the one list of the kinds a worker runs. The data path is one-way: the worker runs a job,
//! the job calls the engine.
//!
//! A job's JSON is the one its kind has always had in the `jobs` table (the names are
//! [`crate::queue::kinds`]), so jobs queued by an older build run unchanged.

mod fire_schedule;
mod process_event;
mod run_delayed_action;
mod run_rule;

use std::sync::Arc;

pub use self::{
    fire_schedule::FireSchedule, process_event::ProcessEvent, run_delayed_action::RunDelayedAction,
    run_rule::RunRule,
};
use crate::{engine::Engine, queue::worker::Registry};

/// Every job kind this process runs, one line each.
pub fn registry(engine: &Arc<Engine>) -> Registry {
    Registry::new()
        .register_job_type::<ProcessEvent>(engine.clone())
        .register_job_type::<RunDelayedAction>(engine.clone())
        .register_job_type::<RunRule>(engine.clone())
        .register_job_type::<FireSchedule>(engine.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{kinds, worker::BackgroundJob};

    #[test]
    fn every_kind_a_row_can_carry_is_a_registered_type() {
        let mut registered = [
            ProcessEvent::JOB_NAME,
            RunDelayedAction::JOB_NAME,
            RunRule::JOB_NAME,
            FireSchedule::JOB_NAME,
        ];
        registered.sort_unstable();
        let mut all = kinds::ALL.to_vec();
        all.sort_unstable();
        assert_eq!(registered.to_vec(), all);
    }

    #[test]
    fn a_payload_keeps_the_shape_older_builds_wrote() {
        let old = serde_json::json!({"event_id": 7});
        let job: ProcessEvent = serde_json::from_value(old.clone()).unwrap();
        assert_eq!(job, ProcessEvent { event_id: 7 });
        assert_eq!(serde_json::to_value(job).unwrap(), old);
        let old = serde_json::json!({"rule_id": 3, "version": 2, "entity": null, "due_at": 1000});
        let job: FireSchedule = serde_json::from_value(old).unwrap();
        assert_eq!((job.0.rule_id, job.0.version, job.0.due_at), (3, 2, 1000));
    }
}
