//! The durable job queue, a table in the same database as everything else.
//!
//! - `run_at` is both the delay of a new job and the time of its next retry.
//! - A worker claims a due job by setting a lease (`locked_until`): on PostgreSQL in one statement
//!   with `FOR UPDATE SKIP LOCKED`; on SQLite a read chooses and an `UPDATE … RETURNING` fenced on the
//!   lease claims, choosing again if another worker was first. It runs the job outside any
//!   transaction, then deletes it, or schedules a retry with capped exponential backoff, or moves it
//!   to the dead-letter state `dead`. While the job runs, a heartbeat extends the lease every third
//!   of it, so a long job is not claimed twice. A crashed worker's lease runs out and the job is
//!   claimed again, so jobs survive restarts and handlers must be idempotent. Each claim is
//!   numbered ([`Lease`]); a worker whose lease was taken over records nothing of its run.
//! - Claims are fair between accounts: among the due jobs, one of the account with the fewest jobs
//!   under a lease, then the oldest (`run_at`, id), so one account's backlog cannot starve the others
//!   (docs/ARCHITECTURE.md, "Queue"; [`worker`] has the query).
//! - [`enqueue`] takes the caller's connection, so a job is written in the caller's transaction.
//! - Jobs that belong to a disabled rule are not claimed; they wait until the rule is enabled, and
//!   [`Queue::drop_expired_held_jobs`] removes those due for longer than [`HELD_JOB_RETENTION_MS`].
//! - Dead jobs are kept for `RULEBOOK_DEAD_JOB_RETENTION_DAYS` after they died (`dead_at`), then
//!   [`Queue::prune_dead_jobs`] removes them.
//! - A job key ("replace pending") lets a newer job replace the waiting one of the same rule, block,
//!   action and entity; delayed jobs can be cancelled by rule, block, action or entity.
//!
//! # Layout
//! - [`worker`]: claiming and running jobs: [`worker::Worker::try_run_one`] and the wake-up loop.
//! - [`kinds`]: the one registration list of job kinds and their handlers.

pub mod kinds;
pub mod worker;

use std::{sync::Arc, time::Duration};

use serde_json::Value;
use sqlx::{any::AnyRow, AnyConnection, Row};
use tokio::sync::Notify;

use crate::{
    clock::{Millis, SharedClock},
    db::Db,
    store::Page,
};

/// How long the jobs of a disabled rule are kept after they fall due: three months.
pub const HELD_JOB_RETENTION_MS: Millis = 90 * 24 * 3600 * 1000;

/// The lifecycle of a job row.
pub mod state {
    /// Waiting for its `run_at`, or running under a lease.
    pub const PENDING: &str = "pending";
    /// Failed for good; kept for inspection.
    pub const DEAD: &str = "dead";
}

/// Tuning of the queue.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// How long a claimed job is reserved for its worker.
    pub lease: Duration,
    /// The delay before the first retry; doubled for each further attempt.
    pub retry_base: Duration,
    /// The longest delay between retries.
    pub retry_cap: Duration,
    /// Attempts of a job before it is dead-lettered, unless the job says otherwise.
    pub max_attempts: i64,
    /// The longest an idle worker sleeps before looking again (covers jobs enqueued by other
    /// processes, which cannot wake this one).
    pub idle_poll: Duration,
    /// How long a dead job is kept for inspection and retry before it is pruned.
    pub dead_job_retention: Duration,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(300),
            retry_base: Duration::from_secs(10),
            retry_cap: Duration::from_secs(3600),
            max_attempts: 8,
            idle_poll: Duration::from_secs(1),
            dead_job_retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

impl QueueSettings {
    /// The tuning the settings ask for; the idle poll stays at its default.
    pub fn from_settings(settings: &crate::config::Settings) -> Self {
        Self {
            lease: Duration::from_secs(settings.job_lease_s.max(1)),
            retry_base: Duration::from_secs(settings.job_retry_base_s),
            retry_cap: Duration::from_secs(settings.job_retry_cap_s),
            max_attempts: settings.job_max_attempts.max(1),
            dead_job_retention: Duration::from_secs(
                u64::from(settings.dead_job_retention_days) * 24 * 3600,
            ),
            ..Self::default()
        }
    }

    /// The delay before the retry that follows attempt number `attempt` (1-based).
    pub fn backoff_ms(&self, attempt: i64) -> Millis {
        let base = i64::try_from(self.retry_base.as_millis()).unwrap_or(i64::MAX);
        let cap = i64::try_from(self.retry_cap.as_millis()).unwrap_or(i64::MAX);
        let shift = u32::try_from(attempt.saturating_sub(1).clamp(0, 40)).unwrap_or(40);
        base.saturating_mul(1_i64 << shift).min(cap)
    }
}

/// A handle on the queue: the database, the clock, and the bell that wakes local workers.
#[derive(Debug, Clone)]
pub struct Queue {
    db: Db,
    clock: SharedClock,
    wake: Arc<Notify>,
    settings: Arc<QueueSettings>,
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The tenant.
    pub account_id: i64,
    /// One of [`kinds`].
    pub kind: &'static str,
    /// The job's input.
    pub payload: Value,
    /// When it falls due, Unix milliseconds.
    pub run_at: Millis,
    /// Attempts before dead-lettering; `None` takes the queue's default.
    pub max_attempts: Option<i64>,
    /// The rule the job belongs to: while it is disabled, the job waits.
    pub rule_id: Option<i64>,
    /// The block of the rule that scheduled it.
    pub block_id: Option<String>,
    /// The action of the block that scheduled it.
    pub action_id: Option<String>,
    /// The entity it acts on, as (`leads`|`contacts`|`companies`|…, id).
    pub entity: Option<(String, i64)>,
    /// A key such as `rule:block:action:entity`; with `replace_pending`, a waiting job with the same
    /// key is removed in the same transaction.
    pub job_key: Option<String>,
    /// Whether to replace a waiting job with the same key.
    pub replace_pending: bool,
}

impl NewJob {
    /// A job of `kind` for `account_id`, due at `run_at`, with no rule, entity or key.
    pub fn new(account_id: i64, kind: &'static str, payload: Value, run_at: Millis) -> Self {
        Self {
            account_id,
            kind,
            payload,
            run_at,
            max_attempts: None,
            rule_id: None,
            block_id: None,
            action_id: None,
            entity: None,
            job_key: None,
            replace_pending: false,
        }
    }
}

/// Selects jobs of one account to list or cancel; unset fields match everything.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only jobs of this rule.
    pub rule_id: Option<i64>,
    /// Only jobs of this block.
    pub block_id: Option<String>,
    /// Only jobs of this action.
    pub action_id: Option<String>,
    /// Only jobs on this entity.
    pub entity: Option<(String, i64)>,
}

/// One claim of a job: the job and the claim's number (`lease_seq`, one more at each claim). The
/// work a claim does is fenced on it: the claim's heartbeat extends only its own lease, its end is
/// recorded only while the job is still its own, and the actions it starts are owned by it, so a
/// worker whose lease ran out changes nothing of whoever claimed the job since.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The job.
    pub job_id: i64,
    /// The claim's number.
    pub seq: i64,
}

/// A job as the API shows it: the widget's type, so the two cannot drift apart.
pub use domain::api::JobInfo;

/// Writes `job` on `conn`, normally inside the caller's transaction, and returns its id. Call
/// [`Queue::wake_workers`] after the commit.
pub async fn enqueue(
    conn: &mut AnyConnection,
    job: &NewJob,
    now: Millis,
    default_max_attempts: i64,
) -> Result<i64, sqlx::Error> {
    if let (true, Some(key)) = (job.replace_pending, &job.job_key) {
        // A job already under a lease runs to its end; only waiting ones are replaced.
        sqlx::query(
            "DELETE FROM jobs WHERE account_id = $1 AND job_key = $2 AND state = 'pending'
             AND (locked_until IS NULL OR locked_until <= $3)",
        )
        .bind(job.account_id)
        .bind(key)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    let (entity_type, entity_id) = match &job.entity {
        Some((t, id)) => (Some(t.as_str()), Some(*id)),
        None => (None, None),
    };
    sqlx::query(
        "INSERT INTO jobs (account_id, kind, payload, state, run_at, attempts, max_attempts, job_key, rule_id,
                           block_id, action_id, entity_type, entity_id, created_at)
         VALUES ($1, $2, $3, 'pending', $4, 0, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(job.account_id)
    .bind(job.kind)
    .bind(job.payload.to_string())
    .bind(job.run_at)
    .bind(job.max_attempts.unwrap_or(default_max_attempts))
    .bind(job.job_key.as_deref())
    .bind(job.rule_id)
    .bind(job.block_id.as_deref())
    .bind(job.action_id.as_deref())
    .bind(entity_type)
    .bind(entity_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)
}

/// `WHERE` conditions and their values for a [`JobFilter`], numbered from `$2` (`$1` is the account).
fn filter_sql(filter: &JobFilter) -> (String, Vec<FilterValue>) {
    let mut sql = String::from("account_id = $1");
    let mut values = Vec::new();
    let mut push = |column: &str, value: FilterValue, sql: &mut String| {
        values.push(value);
        sql.push_str(&format!(" AND {column} = ${}", values.len() + 1));
    };
    if let Some(rule) = filter.rule_id {
        push("rule_id", FilterValue::Int(rule), &mut sql);
    }
    if let Some(block) = &filter.block_id {
        push("block_id", FilterValue::Text(block.clone()), &mut sql);
    }
    if let Some(action) = &filter.action_id {
        push("action_id", FilterValue::Text(action.clone()), &mut sql);
    }
    if let Some((kind, id)) = &filter.entity {
        push("entity_type", FilterValue::Text(kind.clone()), &mut sql);
        push("entity_id", FilterValue::Int(*id), &mut sql);
    }
    (sql, values)
}

enum FilterValue {
    Int(i64),
    Text(String),
}

fn bind_filter<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    values: Vec<FilterValue>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for value in values {
        query = match value {
            FilterValue::Int(v) => query.bind(v),
            FilterValue::Text(v) => query.bind(v),
        };
    }
    query
}

fn job_info(row: &AnyRow, now: Millis) -> Result<JobInfo, sqlx::Error> {
    let locked_until: Option<i64> = row.try_get(11)?;
    Ok(JobInfo {
        id: row.try_get(0)?,
        kind: row.try_get(1)?,
        state: row.try_get(2)?,
        run_at: row.try_get(3)?,
        attempts: row.try_get(4)?,
        last_error: row.try_get(5)?,
        rule_id: row.try_get(6)?,
        block_id: row.try_get(7)?,
        action_id: row.try_get(8)?,
        entity_type: row.try_get(9)?,
        entity_id: row.try_get(10)?,
        running: locked_until.is_some_and(|t| t > now),
    })
}

impl Queue {
    /// A queue over `db`, timed by `clock`.
    pub fn new(db: Db, clock: SharedClock, settings: QueueSettings) -> Self {
        Self {
            db,
            clock,
            wake: Arc::new(Notify::new()),
            settings: Arc::new(settings),
        }
    }

    /// The database the queue lives in.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The queue's clock.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The queue's tuning.
    pub fn settings(&self) -> &QueueSettings {
        &self.settings
    }

    /// Wakes an idle local worker; call after committing new jobs.
    pub fn wake_workers(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn bell(&self) -> &Notify {
        &self.wake
    }

    /// Enqueues `job` in the caller's transaction (see [`enqueue`]), with this queue's clock and defaults.
    pub async fn enqueue_in(
        &self,
        conn: &mut AnyConnection,
        job: &NewJob,
    ) -> Result<i64, sqlx::Error> {
        enqueue(conn, job, self.clock.now_ms(), self.settings.max_attempts).await
    }

    /// Enqueues `job` in a transaction of its own and wakes a worker.
    pub async fn enqueue(&self, job: &NewJob) -> Result<i64, sqlx::Error> {
        let mut tx = self.db.pool.begin().await?;
        let id = self.enqueue_in(&mut tx, job).await?;
        tx.commit().await?;
        self.wake_workers();
        Ok(id)
    }

    /// The account's jobs that match `filter`, soonest first (the first 1000).
    pub async fn list_jobs(
        &self,
        account_id: i64,
        filter: &JobFilter,
    ) -> Result<Vec<JobInfo>, sqlx::Error> {
        let first = Page {
            limit: 1000,
            offset: 0,
        };
        self.list_jobs_in(account_id, filter, None, first).await
    }

    /// A page of the account's jobs that match `filter`, soonest first.
    pub async fn list_jobs_page(
        &self,
        account_id: i64,
        filter: &JobFilter,
        page: Page,
    ) -> Result<Vec<JobInfo>, sqlx::Error> {
        self.list_jobs_in(account_id, filter, None, page).await
    }

    /// A page of the account's dead jobs, oldest due first.
    pub async fn list_dead_jobs(
        &self,
        account_id: i64,
        page: Page,
    ) -> Result<Vec<JobInfo>, sqlx::Error> {
        self.list_jobs_in(account_id, &JobFilter::default(), Some(state::DEAD), page)
            .await
    }

    async fn list_jobs_in(
        &self,
        account_id: i64,
        filter: &JobFilter,
        only_state: Option<&'static str>,
        page: Page,
    ) -> Result<Vec<JobInfo>, sqlx::Error> {
        let (mut conditions, mut values) = filter_sql(filter);
        if let Some(only) = only_state {
            values.push(FilterValue::Text(only.to_string()));
            conditions.push_str(&format!(" AND state = ${}", values.len() + 1));
        }
        let (limit_param, offset_param) = (values.len() + 2, values.len() + 3);
        let sql = format!(
            "SELECT id, kind, state, run_at, attempts, last_error, rule_id, block_id, action_id, entity_type,
                    entity_id, locked_until
             FROM jobs WHERE {conditions} ORDER BY run_at, id LIMIT ${limit_param} OFFSET ${offset_param}"
        );
        let rows = bind_filter(sqlx::query(&sql).bind(account_id), values)
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(&self.db.pool)
            .await?;
        let now = self.clock.now_ms();
        rows.iter().map(|r| job_info(r, now)).collect()
    }

    /// Cancels the account's waiting jobs that match `filter` and returns how many. Jobs running
    /// under a lease finish; dead jobs are removed too.
    pub async fn cancel_jobs(
        &self,
        account_id: i64,
        filter: &JobFilter,
    ) -> Result<u64, sqlx::Error> {
        let (conditions, values) = filter_sql(filter);
        let now_param = values.len() + 2;
        let sql = format!(
            "DELETE FROM jobs WHERE {conditions} AND (locked_until IS NULL OR locked_until <= ${now_param})"
        );
        let query =
            bind_filter(sqlx::query(&sql).bind(account_id), values).bind(self.clock.now_ms());
        Ok(query.execute(&self.db.pool).await?.rows_affected())
    }

    /// Cancels one waiting job of the account acting on `entity` (a timer shown in that entity's
    /// card); `false` if there is no such job, or it is running under a lease right now.
    pub async fn cancel_entity_job(
        &self,
        account_id: i64,
        entity: (&str, i64),
        job_id: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "DELETE FROM jobs WHERE account_id = $1 AND id = $2 AND entity_type = $3 AND entity_id = $4
               AND (locked_until IS NULL OR locked_until <= $5)",
        )
        .bind(account_id)
        .bind(job_id)
        .bind(entity.0.to_owned())
        .bind(entity.1)
        .bind(self.clock.now_ms())
        .execute(&self.db.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Gives a dead job of the account a new set of attempts, due now; `false` if there is no such
    /// dead job.
    pub async fn retry_dead_job(&self, account_id: i64, job_id: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'pending', attempts = 0, run_at = $3, locked_until = NULL
             WHERE account_id = $1 AND id = $2 AND state = 'dead'",
        )
        .bind(account_id)
        .bind(job_id)
        .bind(self.clock.now_ms())
        .execute(&self.db.pool)
        .await?;
        if done.rows_affected() > 0 {
            self.wake_workers();
        }
        Ok(done.rows_affected() > 0)
    }

    /// Pending jobs of every account: those due now, and those waiting for their time.
    pub async fn depth(&self) -> Result<(i64, i64), sqlx::Error> {
        let row = sqlx::query(
            "SELECT
                 COALESCE(SUM(CASE WHEN run_at <= $1 THEN 1 ELSE 0 END), 0),
                 COALESCE(SUM(CASE WHEN run_at > $1 THEN 1 ELSE 0 END), 0)
             FROM jobs WHERE state = 'pending'",
        )
        .bind(self.clock.now_ms())
        .fetch_one(&self.db.pool)
        .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    /// Deletes the dead jobs dead-lettered longer than the retention ago
    /// ([`QueueSettings::dead_job_retention`]), and returns how many.
    pub async fn prune_dead_jobs(&self) -> Result<u64, sqlx::Error> {
        let retention =
            i64::try_from(self.settings.dead_job_retention.as_millis()).unwrap_or(i64::MAX);
        let done = sqlx::query("DELETE FROM jobs WHERE state = 'dead' AND dead_at < $1")
            .bind(self.clock.now_ms().saturating_sub(retention))
            .execute(&self.db.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Deletes the jobs of disabled (or deleted) rules that fell due more than
    /// [`HELD_JOB_RETENTION_MS`] ago, and returns how many.
    pub async fn drop_expired_held_jobs(&self) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(
            "DELETE FROM jobs WHERE state = 'pending' AND rule_id IS NOT NULL AND run_at < $1
             AND NOT EXISTS (SELECT 1 FROM rules r WHERE r.id = jobs.rule_id AND r.enabled = 1)",
        )
        .bind(self.clock.now_ms() - HELD_JOB_RETENTION_MS)
        .execute(&self.db.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_tuning_comes_from_the_settings_with_defaults() {
        let settings = |extra: serde_json::Value| -> crate::config::Settings {
            let mut base = serde_json::json!({
                "bind": "127.0.0.1:0", "database_url": "sqlite::memory:", "public_url": "http://127.0.0.1",
                "kommo_client_id": "id", "kommo_client_secret": "secret",
                "cors_origin_suffixes": [], "cors_extra_origins": [], "token_leeway_s": 5,
            });
            if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
                base.extend(extra.clone());
            }
            figment::Figment::from(figment::providers::Serialized::defaults(base))
                .extract()
                .expect("settings")
        };
        let tuned = QueueSettings::from_settings(&settings(serde_json::json!({
            "job_lease_s": 30, "job_max_attempts": 3, "job_retry_base_s": 2, "job_retry_cap_s": 5,
        })));
        assert_eq!(tuned.lease, Duration::from_secs(30));
        assert_eq!(tuned.max_attempts, 3);
        assert_eq!(
            (
                tuned.backoff_ms(1),
                tuned.backoff_ms(2),
                tuned.backoff_ms(3)
            ),
            (2_000, 4_000, 5_000)
        );
        let defaults = QueueSettings::from_settings(&settings(serde_json::json!({})));
        assert_eq!(defaults.lease, QueueSettings::default().lease);
        assert_eq!(defaults.max_attempts, 8);
    }

    #[test]
    fn backoff_doubles_from_the_base_and_stops_at_the_cap() {
        let s = QueueSettings::default();
        assert_eq!(s.backoff_ms(1), 10_000);
        assert_eq!(s.backoff_ms(2), 20_000);
        assert_eq!(s.backoff_ms(3), 40_000);
        assert_eq!(s.backoff_ms(10), 3_600_000);
        assert_eq!(s.backoff_ms(1_000), 3_600_000);
        assert_eq!(s.backoff_ms(0), 10_000);
    }

    #[test]
    fn filters_number_their_parameters_after_the_account() {
        let filter = JobFilter {
            rule_id: Some(3),
            block_id: None,
            action_id: Some("a1".into()),
            entity: Some(("leads".into(), 9)),
        };
        let (sql, values) = filter_sql(&filter);
        assert_eq!(sql, "account_id = $1 AND rule_id = $2 AND action_id = $3 AND entity_type = $4 AND entity_id = $5");
        assert_eq!(values.len(), 4);
    }
}
