//! Claiming and running jobs. [`Worker::try_run_one`] claims at most one due job, runs it and
//! settles it, so tests drain the queue step by step; [`Worker::run`] loops on it, sleeping until the
//! next job falls due or a local enqueue rings the bell.

use std::{collections::HashMap, future::Future, pin::Pin, sync::Arc, time::Duration};

use serde_json::Value;
use sqlx::{any::AnyRow, Row};
use tracing::Instrument;

use super::{state, Queue};
use crate::{clock::Millis, db::Dialect};

/// A job a worker holds under a lease.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// The job's id.
    pub id: i64,
    /// The tenant.
    pub account_id: i64,
    /// Its kind.
    pub kind: String,
    /// Its input.
    pub payload: Value,
    /// This attempt's number, from 1; more than 1 means an earlier attempt may have done part of the
    /// work, which is why handlers must be idempotent.
    pub attempt: i64,
    /// The attempts allowed.
    pub max_attempts: i64,
    /// When it fell due.
    pub run_at: Millis,
    /// Its rule, if any.
    pub rule_id: Option<i64>,
}

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth trying again later (e.g. Kommo answered 429 or 5xx).
    #[error("{0}")]
    Transient(String),
    /// Will never succeed (e.g. the entity is gone); dead-letter at once.
    #[error("{0}")]
    Permanent(String),
}

/// What a handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;

/// Runs the jobs of one kind.
pub trait JobHandler: Send + Sync + 'static {
    /// Performs `job`. Must be safe to repeat: a job whose worker died is run again.
    fn run(&self, job: ClaimedJob) -> HandlerFuture;
}

impl<F, Fut> JobHandler for F
where
    F: Fn(ClaimedJob) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), JobError>> + Send + 'static,
{
    fn run(&self, job: ClaimedJob) -> HandlerFuture {
        Box::pin(self(job))
    }
}

/// The handlers a worker runs, by job kind. A worker claims only kinds it has a handler for, so
/// jobs of other kinds wait for a process that knows them.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<&'static str, Arc<dyn JobHandler>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("kinds", &self.kinds())
            .finish()
    }
}

impl Registry {
    /// No handlers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the handler of `kind`.
    #[must_use]
    pub fn register(mut self, kind: &'static str, handler: impl JobHandler) -> Self {
        self.handlers.insert(kind, Arc::new(handler));
        self
    }

    /// The registered kinds, sorted.
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut kinds: Vec<_> = self.handlers.keys().copied().collect();
        kinds.sort_unstable();
        kinds
    }
}

/// What one [`Worker::try_run_one`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No job was due.
    Idle,
    /// A job ran and is done.
    Completed {
        /// The job's id.
        job_id: i64,
    },
    /// A job failed and will be retried at `retry_at`.
    Retrying {
        /// The job's id.
        job_id: i64,
        /// When it runs again.
        retry_at: Millis,
    },
    /// A job failed for good and is now dead.
    DeadLettered {
        /// The job's id.
        job_id: i64,
    },
}

/// Why the worker itself (not a job) failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Claims and runs jobs of the registered kinds.
#[derive(Debug, Clone)]
pub struct Worker {
    queue: Queue,
    registry: Arc<Registry>,
    claim_sql: Arc<str>,
    next_due_sql: Arc<str>,
    kinds: Arc<[&'static str]>,
}

/// Jobs not held back by a disabled rule.
const RUNNABLE: &str = "(j.rule_id IS NULL OR EXISTS (SELECT 1 FROM rules r WHERE r.id = j.rule_id AND r.enabled = 1))";

impl Worker {
    /// A worker on `queue` running the handlers of `registry`.
    pub fn new(queue: Queue, registry: Registry) -> Self {
        let kinds: Arc<[&'static str]> = registry.kinds().into();
        // $1 = now, $2 = lease end, $3.. = the kinds.
        let kind_params = (0..kinds.len())
            .map(|i| format!("${}", i + 3))
            .collect::<Vec<_>>()
            .join(", ");
        let kind_params = if kind_params.is_empty() {
            "NULL".to_string()
        } else {
            kind_params
        };
        let skip_locked = match queue.db().dialect {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let claim_sql = format!(
            "UPDATE jobs SET locked_until = $2, attempts = attempts + 1
             WHERE id = (
                 SELECT j.id FROM jobs j
                 WHERE j.state = 'pending' AND j.run_at <= $1 AND (j.locked_until IS NULL OR j.locked_until <= $1)
                   AND j.kind IN ({kind_params}) AND {RUNNABLE}
                 ORDER BY j.run_at, j.id LIMIT 1{skip_locked})
             RETURNING id, account_id, kind, payload, attempts, max_attempts, run_at, rule_id"
        );
        // $1 = now, $2.. = the kinds (shifted by one against the claim).
        let kind_params = (0..kinds.len())
            .map(|i| format!("${}", i + 2))
            .collect::<Vec<_>>()
            .join(", ");
        let kind_params = if kind_params.is_empty() {
            "NULL".to_string()
        } else {
            kind_params
        };
        let next_due_sql = format!(
            "SELECT MIN(j.run_at) FROM jobs j
             WHERE j.state = 'pending' AND (j.locked_until IS NULL OR j.locked_until <= $1)
               AND j.kind IN ({kind_params}) AND {RUNNABLE}"
        );
        Self {
            queue,
            registry: Arc::new(registry),
            claim_sql: claim_sql.into(),
            next_due_sql: next_due_sql.into(),
            kinds,
        }
    }

    /// The queue this worker serves.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Claims one due job under a lease, or `None`.
    pub async fn try_claim(&self) -> Result<Option<ClaimedJob>, WorkerError> {
        let now = self.queue.clock().now_ms();
        let lease_ms = i64::try_from(self.queue.settings().lease.as_millis()).unwrap_or(i64::MAX);
        let mut query = sqlx::query(&self.claim_sql)
            .bind(now)
            .bind(now.saturating_add(lease_ms));
        for kind in self.kinds.iter() {
            query = query.bind(*kind);
        }
        let row = query.fetch_optional(&self.queue.db().pool).await?;
        row.map(|r| claimed_job(&r))
            .transpose()
            .map_err(WorkerError::from)
    }

    /// Claims one due job, runs it and settles it: deleted when done, rescheduled with backoff when it
    /// failed transiently and has attempts left, dead otherwise.
    pub async fn try_run_one(&self) -> Result<Outcome, WorkerError> {
        let Some(job) = self.try_claim().await? else {
            return Ok(Outcome::Idle);
        };
        let span = tracing::info_span!("job", job.id = job.id, job.kind = %job.kind, account.id = job.account_id);
        async {
            let result = match self.registry.handlers.get(job.kind.as_str()) {
                // Spawned so that a panicking handler becomes a failed attempt instead of a dead worker.
                Some(handler) => match tokio::spawn(handler.run(job.clone()).in_current_span())
                    .await
                {
                    Ok(result) => result,
                    Err(join) => Err(JobError::Transient(format!("the handler panicked: {join}"))),
                },
                None => Err(JobError::Permanent(format!(
                    "no handler for job kind {:?}",
                    job.kind
                ))),
            };
            self.settle(&job, result).await
        }
        .instrument(span)
        .await
    }

    async fn settle(
        &self,
        job: &ClaimedJob,
        result: Result<(), JobError>,
    ) -> Result<Outcome, WorkerError> {
        let pool = &self.queue.db().pool;
        // `attempts` fences the update: if our lease ran out and another worker claimed the job,
        // the row no longer matches and we leave it alone.
        match result {
            Ok(()) => {
                sqlx::query("DELETE FROM jobs WHERE id = $1 AND attempts = $2")
                    .bind(job.id)
                    .bind(job.attempt)
                    .execute(pool)
                    .await?;
                Ok(Outcome::Completed { job_id: job.id })
            }
            Err(JobError::Transient(error)) if job.attempt < job.max_attempts => {
                let retry_at =
                    self.queue.clock().now_ms() + self.queue.settings().backoff_ms(job.attempt);
                tracing::warn!(%error, attempt = job.attempt, retry_at, "job failed; will retry");
                sqlx::query(
                    "UPDATE jobs SET run_at = $3, locked_until = NULL, last_error = $4 WHERE id = $1 AND attempts = $2",
                )
                .bind(job.id)
                .bind(job.attempt)
                .bind(retry_at)
                .bind(&error)
                .execute(pool)
                .await?;
                Ok(Outcome::Retrying {
                    job_id: job.id,
                    retry_at,
                })
            }
            Err(error) => {
                let error = error.to_string();
                tracing::error!(%error, attempt = job.attempt, "job failed for good; dead-lettered");
                sqlx::query(
                    "UPDATE jobs SET state = $3, locked_until = NULL, last_error = $4 WHERE id = $1 AND attempts = $2",
                )
                .bind(job.id)
                .bind(job.attempt)
                .bind(state::DEAD)
                .bind(&error)
                .execute(pool)
                .await?;
                Ok(Outcome::DeadLettered { job_id: job.id })
            }
        }
    }

    /// When the next runnable job falls due, if any.
    pub async fn next_due(&self) -> Result<Option<Millis>, WorkerError> {
        let mut query = sqlx::query(&self.next_due_sql).bind(self.queue.clock().now_ms());
        for kind in self.kinds.iter() {
            query = query.bind(*kind);
        }
        let row = query.fetch_one(&self.queue.db().pool).await?;
        Ok(row.try_get::<Option<i64>, _>(0)?)
    }

    /// Runs jobs until `shutdown` completes: drains what is due, then sleeps until the next due time,
    /// a local enqueue, or at most `idle_poll`. Once a minute it drops expired held jobs and purges
    /// processed events past their retention.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        let mut last_maintenance: Millis = Millis::MIN;
        let idle_poll_ms =
            i64::try_from(self.queue.settings().idle_poll.as_millis()).unwrap_or(1_000);
        loop {
            let now = self.queue.clock().now_ms();
            if now.saturating_sub(last_maintenance) >= 60_000 {
                last_maintenance = now;
                match self.queue.drop_expired_held_jobs().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        dropped = n,
                        "dropped jobs of disabled rules held for over 3 months"
                    ),
                    Err(error) => tracing::error!(%error, "could not drop expired held jobs"),
                }
                match crate::ingest::purge_processed_events(self.queue.db(), now).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(purged = n, "purged processed events past their retention")
                    }
                    Err(error) => tracing::error!(%error, "could not purge processed events"),
                }
            }
            let wait_ms = match self.try_run_one().await {
                Ok(Outcome::Idle) => match self.next_due().await {
                    Ok(Some(due)) => (due - self.queue.clock().now_ms()).clamp(0, idle_poll_ms),
                    Ok(None) => idle_poll_ms,
                    Err(error) => {
                        tracing::error!(%error, "could not read the next due time");
                        idle_poll_ms
                    }
                },
                Ok(_) => 0,
                Err(error) => {
                    tracing::error!(%error, "could not claim a job");
                    idle_poll_ms
                }
            };
            let wait = Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0));
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = self.queue.bell().notified(), if wait_ms > 0 => {}
                () = tokio::time::sleep(wait), if wait_ms > 0 => {}
                () = std::future::ready(()), if wait_ms == 0 => {}
            }
        }
    }
}

fn claimed_job(row: &AnyRow) -> Result<ClaimedJob, sqlx::Error> {
    let payload: String = row.try_get(3)?;
    Ok(ClaimedJob {
        id: row.try_get(0)?,
        account_id: row.try_get(1)?,
        kind: row.try_get(2)?,
        payload: serde_json::from_str(&payload).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        attempt: row.try_get(4)?,
        max_attempts: row.try_get(5)?,
        run_at: row.try_get(6)?,
        rule_id: row.try_get(7)?,
    })
}
