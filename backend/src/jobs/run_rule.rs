//! `run_rule`: a rule run for an entity on another's behalf ("execute rule", a task's result, a
//! webhook's follow-up) or by hand (a launch).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{
    engine::{
        pipeline::{job_error, RuleCallJob},
        Engine,
    },
    queue::{
        kinds,
        worker::{BackgroundJob, ClaimedJob, JobError},
    },
};

/// Run a rule for an entity. A run of a launch that will not be tried again counts as failed in
/// its launch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunRule(pub RuleCallJob);

impl BackgroundJob for RunRule {
    const JOB_NAME: &'static str = kinds::RUN_RULE;
    type Context = Arc<Engine>;

    async fn run(self, engine: Arc<Engine>, job: ClaimedJob) -> Result<(), JobError> {
        let result = engine
            .run_rule_call(job.account_id, job.lease(), self.0.clone())
            .await
            .map_err(job_error);
        if let Err(error) = &result {
            let last = matches!(error, JobError::Permanent(_)) || job.attempt >= job.max_attempts;
            if last {
                if let Err(e) = engine
                    .record_launch_failure(job.account_id, &self.0, &error.to_string())
                    .await
                {
                    tracing::error!(error = %e, job.id = job.id, "a launch's failed run was not recorded");
                }
            }
        }
        result
    }
}
