//! `fire_schedule`: a scheduled rule's firing.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{
    engine::{pipeline::job_error, schedule::ScheduleJob, Engine},
    queue::{
        kinds,
        worker::{BackgroundJob, ClaimedJob, JobError},
    },
};

/// Fire a scheduled rule (and queue its next firing).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FireSchedule(pub ScheduleJob);

impl BackgroundJob for FireSchedule {
    const JOB_NAME: &'static str = kinds::FIRE_SCHEDULE;
    type Context = Arc<Engine>;

    async fn run(self, engine: Arc<Engine>, job: ClaimedJob) -> Result<(), JobError> {
        engine
            .fire_schedule(job.account_id, job.lease(), self.0)
            .await
            .map_err(job_error)
    }
}
