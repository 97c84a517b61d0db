//! Claiming and running jobs. [`Worker::try_run_one`] claims at most one due job, runs it and
//! settles it, so tests drain the queue step by step; [`Worker::run`] loops on it, sleeping until the
//! next job falls due or a local enqueue rings the bell.

use std::{collections::HashMap, future::Future, pin::Pin, sync::Arc, time::Duration};

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use sqlx::{any::AnyRow, Row};
use tokio::sync::{oneshot, watch};
use tracing::Instrument;

use super::{state, Lease, Queue};
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
    /// The number of this claim of the job (see [`Lease`]).
    pub lease_seq: i64,
}

impl ClaimedJob {
    /// The lease this claim holds: what its work is fenced on.
    pub fn lease(&self) -> Lease {
        Lease {
            job_id: self.id,
            seq: self.lease_seq,
        }
    }
}

/// What the heartbeat of a running job last did, for whoever watches a worker
/// ([`Worker::lease_events`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseEvent {
    /// The lease was extended to `until`.
    Renewed {
        /// The claim.
        lease: Lease,
        /// The new end of the lease, Unix milliseconds.
        until: Millis,
    },
    /// The lease had run out (another worker may have claimed the job): the job's end will not be
    /// recorded, and the actions it has not started yet are not started.
    Lost {
        /// The claim.
        lease: Lease,
    },
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

/// A job kind as a type: the struct is the job's payload (its JSON in the `jobs` table), with
/// the kind's name and what running it does. Registered with [`Registry::register_job_type`].
pub trait BackgroundJob: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The kind's name in the `jobs` table (one of [`super::kinds`]).
    const JOB_NAME: &'static str;
    /// What `run` needs besides the payload (the engine), cloned for each job.
    type Context: Clone + Send + Sync + 'static;
    /// Performs the job held under `job`'s claim. Must be safe to repeat: a job whose worker died
    /// is run again.
    fn run(
        self,
        ctx: Self::Context,
        job: ClaimedJob,
    ) -> impl Future<Output = Result<(), JobError>> + Send;
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

    /// Adds the job kind `J`: its payload is read into `J` (a payload that does not parse fails
    /// for good) and run with `ctx`.
    #[must_use]
    pub fn register_job_type<J: BackgroundJob>(self, ctx: J::Context) -> Self {
        self.register(J::JOB_NAME, move |job: ClaimedJob| {
            let ctx = ctx.clone();
            async move {
                let payload: J = serde_json::from_value(job.payload.clone()).map_err(|e| {
                    JobError::Permanent(format!("a {} payload does not parse: {e}", J::JOB_NAME))
                })?;
                payload.run(ctx, job).await
            }
        })
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
    /// A job ran, but its lease ran out meanwhile and was not renewed in time, so how it ended was
    /// not recorded: the job belongs to whoever claimed it since (or runs again).
    Superseded {
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
    claim: Arc<ClaimSql>,
    next_due_sql: Arc<str>,
    kinds: Arc<[&'static str]>,
    lease_events: Arc<watch::Sender<Option<LeaseEvent>>>,
}

/// The columns of a [`ClaimedJob`].
const RETURNING: &str =
    "RETURNING id, account_id, kind, payload, attempts, max_attempts, run_at, rule_id, lease_seq";

/// What a claim sets: the lease, the attempt and the claim's number.
const CLAIM_SET: &str = "locked_until = $2, attempts = attempts + 1, lease_seq = lease_seq + 1";

/// `$first, $first+1, …` for `count` parameters, or `NULL` (an `IN` that matches nothing).
fn numbered(count: usize, first: usize) -> String {
    if count == 0 {
        return "NULL".to_string();
    }
    (0..count)
        .map(|i| format!("${}", i + first))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The claimable due jobs: not under a lease, of the worker's kinds (`IN (…)`), not held by a
/// disabled rule.
fn claimable(kind_params: &str) -> String {
    format!(
        "j.state = 'pending' AND j.run_at <= $1 AND (j.locked_until IS NULL OR j.locked_until <= $1)
         AND j.kind IN ({kind_params}) AND {RUNNABLE}"
    )
}

/// Whether the account of the job `j` has a job under a lease.
const ACCOUNT_BUSY: &str =
    "EXISTS (SELECT 1 FROM jobs f WHERE f.account_id = j.account_id AND f.locked_until > $1)";

/// `columns` of the oldest claimable job `j`, with `$1` = now and the kinds numbered from
/// `$first_kind`. When its account has nothing in flight, it is also first in the fair order, which
/// is the common case and costs one index seek.
fn head_sql(columns: &str, kinds: usize, first_kind: usize, lock: &str) -> String {
    let claimable = claimable(&numbered(kinds, first_kind));
    format!(
        "SELECT {columns} FROM jobs j WHERE {claimable}
         ORDER BY j.run_at, j.id LIMIT 1{lock}"
    )
}

/// The id of the job to claim next in the fair order (see the module docs), with `$1` = now and
/// the kinds numbered from `$first_kind`. The accounts with pending jobs are walked one index seek
/// at a time; each gives its oldest claimable job; the account with the fewest jobs under a lease
/// wins, then the oldest job. The cost grows with the number of accounts that have pending jobs,
/// not with the number of jobs. `heads` is materialized: inlined, SQLite evaluates the walk many
/// times over.
fn fair_sql(kinds: usize, first_kind: usize, lock: &str) -> String {
    let claimable = claimable(&numbered(kinds, first_kind));
    format!(
        "WITH RECURSIVE pending_accounts(account_id) AS (
             SELECT MIN(account_id) FROM jobs WHERE state = 'pending'
             UNION ALL
             SELECT (SELECT MIN(p.account_id) FROM jobs p WHERE p.state = 'pending' AND p.account_id > a.account_id)
             FROM pending_accounts a WHERE a.account_id IS NOT NULL
         ),
         heads(account_id, job_id) AS MATERIALIZED (
             SELECT a.account_id,
                    (SELECT j.id FROM jobs j WHERE j.account_id = a.account_id AND {claimable}
                     ORDER BY j.run_at, j.id LIMIT 1)
             FROM pending_accounts a WHERE a.account_id IS NOT NULL
         )
         SELECT j.id FROM heads h JOIN jobs j ON j.id = h.job_id
         WHERE j.state = 'pending' AND (j.locked_until IS NULL OR j.locked_until <= $1)
         ORDER BY (SELECT COUNT(*) FROM jobs f WHERE f.account_id = h.account_id AND f.locked_until > $1),
                  j.run_at, j.id
         LIMIT 1{lock}"
    )
}

/// The statements of a claim, by dialect.
#[derive(Debug)]
enum ClaimSql {
    /// One statement each, locking the chosen row and skipping rows other workers are claiming:
    /// first the oldest job if its account has nothing in flight, else the fair choice.
    /// `$1` = now, `$2` = lease end, `$3..` = the kinds. `plain` takes the oldest claimable job
    /// whatever its account: the last resort when the fair choice was being claimed by another
    /// worker at that instant, so a claim never comes back empty while a job is claimable.
    Postgres {
        head: String,
        fair: String,
        plain: String,
    },
    /// Reads choose (the oldest job, then if its account is busy the fair choice; `$1` = now,
    /// `$2..` = the kinds) so that choosing never holds SQLite's one write lock; `take` claims the
    /// chosen job (`$1` = now, `$2` = lease end, `$3` = the job), fenced against a worker that
    /// claimed it in between. When it did, `plain` claims the oldest claimable job in one
    /// statement (`$1` = now, `$2` = lease end, `$3..` = the kinds), which cannot race on SQLite.
    Sqlite {
        head: String,
        fair: String,
        take: String,
        plain: String,
    },
}

impl ClaimSql {
    fn new(dialect: Dialect, kinds: usize) -> Self {
        let claim = |choice: String| {
            format!("UPDATE jobs SET {CLAIM_SET} WHERE id = ({choice}) {RETURNING}")
        };
        match dialect {
            Dialect::Postgres => Self::Postgres {
                head: claim(format!(
                    "SELECT h.id FROM ({}) h
                     WHERE NOT EXISTS (SELECT 1 FROM jobs f WHERE f.account_id = h.account_id AND f.locked_until > $1)",
                    head_sql("j.id, j.account_id", kinds, 3, " FOR UPDATE OF j SKIP LOCKED")
                )),
                fair: claim(fair_sql(kinds, 3, " FOR UPDATE OF j SKIP LOCKED")),
                plain: claim(head_sql("j.id", kinds, 3, " FOR UPDATE OF j SKIP LOCKED")),
            },
            Dialect::Sqlite => Self::Sqlite {
                head: head_sql(&format!("j.id, {ACCOUNT_BUSY}"), kinds, 2, ""),
                fair: fair_sql(kinds, 2, ""),
                take: format!(
                    "UPDATE jobs SET {CLAIM_SET}
                     WHERE id = $3 AND state = 'pending' AND (locked_until IS NULL OR locked_until <= $1)
                     {RETURNING}"
                ),
                plain: claim(head_sql("j.id", kinds, 3, "")),
            },
        }
    }
}

/// Jobs not held back by a disabled rule.
const RUNNABLE: &str = "(j.rule_id IS NULL OR EXISTS (SELECT 1 FROM rules r WHERE r.id = j.rule_id AND r.enabled = 1))";

impl Worker {
    /// A worker on `queue` running the handlers of `registry`.
    pub fn new(queue: Queue, registry: Registry) -> Self {
        let kinds: Arc<[&'static str]> = registry.kinds().into();
        let claim = ClaimSql::new(queue.db().dialect, kinds.len());
        // $1 = now, $2.. = the kinds.
        let kind_params = numbered(kinds.len(), 2);
        let next_due_sql = format!(
            "SELECT MIN(j.run_at) FROM jobs j
             WHERE j.state = 'pending' AND (j.locked_until IS NULL OR j.locked_until <= $1)
               AND j.kind IN ({kind_params}) AND {RUNNABLE}"
        );
        Self {
            queue,
            registry: Arc::new(registry),
            claim: Arc::new(claim),
            next_due_sql: next_due_sql.into(),
            kinds,
            lease_events: Arc::new(watch::Sender::new(None)),
        }
    }

    /// What the heartbeats of this worker's (and its clones') running jobs last did.
    pub fn lease_events(&self) -> watch::Receiver<Option<LeaseEvent>> {
        self.lease_events.subscribe()
    }

    /// The queue this worker serves.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Claims one due job under a lease, or `None`. Among the due jobs it takes one of the account
    /// with the fewest jobs under a lease, and of that account the oldest, so that one account's
    /// backlog cannot starve the others.
    pub async fn try_claim(&self) -> Result<Option<ClaimedJob>, WorkerError> {
        let pool = &self.queue.db().pool;
        let lease_ms = i64::try_from(self.queue.settings().lease.as_millis()).unwrap_or(i64::MAX);
        // `$1` = now, then the kinds.
        let choose = |sql, now: Millis| {
            self.kinds
                .iter()
                .fold(sqlx::query(sql).bind(now), |query, kind| query.bind(*kind))
        };
        // `$1` = now, `$2` = lease end, then the kinds.
        let claim = |sql, now: Millis, lease_end: Millis| {
            self.kinds
                .iter()
                .fold(sqlx::query(sql).bind(now).bind(lease_end), |query, kind| {
                    query.bind(*kind)
                })
        };
        let now = self.queue.clock().now_ms();
        let lease_end = now.saturating_add(lease_ms);
        let row = match &*self.claim {
            ClaimSql::Postgres { head, fair, plain } => {
                match claim(head, now, lease_end).fetch_optional(pool).await? {
                    Some(row) => Some(row),
                    None => match claim(fair, now, lease_end).fetch_optional(pool).await? {
                        Some(row) => Some(row),
                        None => claim(plain, now, lease_end).fetch_optional(pool).await?,
                    },
                }
            }
            ClaimSql::Sqlite {
                head,
                fair,
                take,
                plain,
            } => {
                let Some(oldest) = choose(head, now).fetch_optional(pool).await? else {
                    return Ok(None);
                };
                let busy: bool = oldest.try_get::<i64, _>(1)? != 0;
                let choice: Option<i64> = if busy {
                    match choose(fair, now).fetch_optional(pool).await? {
                        Some(fair) => Some(fair.try_get(0)?),
                        None => None,
                    }
                } else {
                    Some(oldest.try_get(0)?)
                };
                let taken = match choice {
                    Some(id) => {
                        sqlx::query(take)
                            .bind(now)
                            .bind(lease_end)
                            .bind(id)
                            .fetch_optional(pool)
                            .await?
                    }
                    None => None,
                };
                match taken {
                    Some(row) => Some(row),
                    // Another worker claimed the choice first: the oldest claimable job instead.
                    None => claim(plain, now, lease_end).fetch_optional(pool).await?,
                }
            }
        };
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
            let (stop, stopped) = oneshot::channel();
            let run = async {
                let result = match self.registry.handlers.get(job.kind.as_str()) {
                    // Spawned so that a panicking handler becomes a failed attempt instead of a
                    // dead worker.
                    Some(handler) => {
                        match tokio::spawn(handler.run(job.clone()).in_current_span()).await {
                            Ok(result) => result,
                            Err(join) => {
                                Err(JobError::Transient(format!("the handler panicked: {join}")))
                            }
                        }
                    }
                    None => Err(JobError::Permanent(format!(
                        "no handler for job kind {:?}",
                        job.kind
                    ))),
                };
                let _ = stop.send(());
                result
            };
            let started = std::time::Instant::now();
            let (result, ()) = tokio::join!(run, self.heartbeat(job.lease(), stopped));
            metrics::histogram!(
                "rulebook_job_duration_seconds",
                "kind" => job.kind.clone(),
                "outcome" => match &result {
                    Ok(_) => "done",
                    Err(JobError::Transient(_)) => "retry",
                    Err(_) => "failed",
                }
            )
            .record(started.elapsed().as_secs_f64());
            self.settle(&job, result).await
        }
        .instrument(span)
        .await
    }

    /// Keeps `lease` while its job runs, until `stopped`: every third of the lease (on the monotonic
    /// clock, or when the injected clock jumps that far) the lease is extended to a full lease from
    /// now. A lease that has already run out is not extended (another worker may be running the
    /// job): the heartbeat reports it lost and stops.
    async fn heartbeat(&self, lease: Lease, mut stopped: oneshot::Receiver<()>) {
        let clock = self.queue.clock().clone();
        let lease_len = self.queue.settings().lease;
        let lease_ms = i64::try_from(lease_len.as_millis()).unwrap_or(i64::MAX);
        let every = lease_len / 3;
        let every_ms = lease_ms / 3;
        let mut jumps = clock.jumps();
        let mut renewed_at = clock.now_ms();
        loop {
            let jumped = async {
                match jumps.as_mut() {
                    Some(jumps) => jumps.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            // `Some(true)`: the monotonic timer; `Some(false)`: the clock jumped; `None`: the
            // clock's sender is gone.
            let woke = tokio::select! {
                _ = &mut stopped => return,
                () = tokio::time::sleep(every) => Some(true),
                open = jumped => open.then_some(false),
            };
            let Some(timer) = woke else {
                jumps = None;
                continue;
            };
            let now = clock.now_ms();
            if !timer && now.saturating_sub(renewed_at) < every_ms {
                continue;
            }
            let until = now.saturating_add(lease_ms);
            let renewed = sqlx::query(
                "UPDATE jobs SET locked_until = $4
                 WHERE id = $1 AND lease_seq = $2 AND state = 'pending' AND locked_until > $3",
            )
            .bind(lease.job_id)
            .bind(lease.seq)
            .bind(now)
            .bind(until)
            .execute(&self.queue.db().pool)
            .await;
            match renewed {
                Ok(done) if done.rows_affected() > 0 => {
                    renewed_at = now;
                    self.lease_events
                        .send_replace(Some(LeaseEvent::Renewed { lease, until }));
                }
                Ok(_) => {
                    tracing::warn!(
                        job.id = lease.job_id,
                        "the job's lease ran out before it was renewed; its end will not be recorded"
                    );
                    self.lease_events
                        .send_replace(Some(LeaseEvent::Lost { lease }));
                    return;
                }
                // The next beat tries again; the lease still has two thirds to run.
                Err(error) => {
                    tracing::error!(%error, job.id = lease.job_id, "could not renew a lease")
                }
            }
        }
    }

    async fn settle(
        &self,
        job: &ClaimedJob,
        result: Result<(), JobError>,
    ) -> Result<Outcome, WorkerError> {
        let pool = &self.queue.db().pool;
        // The claim's number fences the update: if our lease ran out and another worker claimed the
        // job, the row no longer matches and we leave it alone.
        let superseded = || {
            tracing::warn!(
                job.id = job.id,
                "the job's lease was taken over while it ran; its end is not recorded"
            );
            Ok(Outcome::Superseded { job_id: job.id })
        };
        match result {
            Ok(()) => {
                let done = sqlx::query("DELETE FROM jobs WHERE id = $1 AND lease_seq = $2")
                    .bind(job.id)
                    .bind(job.lease_seq)
                    .execute(pool)
                    .await?;
                if done.rows_affected() == 0 {
                    return superseded();
                }
                Ok(Outcome::Completed { job_id: job.id })
            }
            Err(JobError::Transient(error)) if job.attempt < job.max_attempts => {
                let retry_at =
                    self.queue.clock().now_ms() + self.queue.settings().backoff_ms(job.attempt);
                let done = sqlx::query(
                    "UPDATE jobs SET run_at = $3, locked_until = NULL, last_error = $4 WHERE id = $1 AND lease_seq = $2",
                )
                .bind(job.id)
                .bind(job.lease_seq)
                .bind(retry_at)
                .bind(&error)
                .execute(pool)
                .await?;
                if done.rows_affected() == 0 {
                    return superseded();
                }
                tracing::warn!(%error, attempt = job.attempt, retry_at, "job failed; will retry");
                Ok(Outcome::Retrying {
                    job_id: job.id,
                    retry_at,
                })
            }
            Err(error) => {
                let error = error.to_string();
                let done = sqlx::query(
                    "UPDATE jobs SET state = $3, locked_until = NULL, last_error = $4, dead_at = $5
                     WHERE id = $1 AND lease_seq = $2",
                )
                .bind(job.id)
                .bind(job.lease_seq)
                .bind(state::DEAD)
                .bind(&error)
                .bind(self.queue.clock().now_ms())
                .execute(pool)
                .await?;
                if done.rows_affected() == 0 {
                    return superseded();
                }
                tracing::error!(%error, attempt = job.attempt, "job failed for good; dead-lettered");
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
    /// a local enqueue, or at most `idle_poll`. Once a minute it drops expired held jobs, prunes dead
    /// jobs, used token ids and launches past their retention, and purges processed events past
    /// theirs.
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
                match self.queue.prune_dead_jobs().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(pruned = n, "pruned dead jobs past their retention"),
                    Err(error) => tracing::error!(%error, "could not prune dead jobs"),
                }
                if let Err(error) =
                    crate::store::seen_tokens::prune(self.queue.db(), now.div_euclid(1000)).await
                {
                    tracing::error!(%error, "could not prune expired token ids");
                }
                match crate::store::launches::prune(self.queue.db(), now).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(pruned = n, "pruned launches past their retention"),
                    Err(error) => tracing::error!(%error, "could not prune launches"),
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
        lease_seq: row.try_get(8)?,
    })
}
