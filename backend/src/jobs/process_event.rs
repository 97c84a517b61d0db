//! `process_event`: one stored event of the inbox through every matching rule of its account.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{
    engine::{pipeline::job_error, Engine},
    queue::{
        kinds,
        worker::{BackgroundJob, ClaimedJob, JobError},
    },
};

/// Process one event of the inbox: parse it, match the account's rules and run them. Enqueued by
/// [`crate::ingest`] in the transaction that stores the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessEvent {
    /// The stored event (`events.id`).
    pub event_id: i64,
}

impl BackgroundJob for ProcessEvent {
    const JOB_NAME: &'static str = kinds::PROCESS_EVENT;
    type Context = Arc<Engine>;

    async fn run(self, engine: Arc<Engine>, job: ClaimedJob) -> Result<(), JobError> {
        engine
            .process_event(job.account_id, self.event_id, job.lease())
            .await
            .map_err(job_error)
    }
}
