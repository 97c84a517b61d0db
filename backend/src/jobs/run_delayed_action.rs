//! `run_delayed_action`: a delayed action of a rule, or a delayed block, once it falls due.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{
    engine::{
        pipeline::{job_error, DelayedJob},
        Engine,
    },
    queue::{
        kinds,
        worker::{BackgroundJob, ClaimedJob, JobError},
    },
};

/// Run a delayed action (or block) of a rule, on a fresh snapshot. Queued by the engine with the
/// done mark of the action that planned it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunDelayedAction(pub DelayedJob);

impl BackgroundJob for RunDelayedAction {
    const JOB_NAME: &'static str = kinds::RUN_DELAYED_ACTION;
    type Context = Arc<Engine>;

    async fn run(self, engine: Arc<Engine>, job: ClaimedJob) -> Result<(), JobError> {
        engine
            .run_delayed(job.account_id, job.lease(), self.0)
            .await
            .map_err(job_error)
    }
}
