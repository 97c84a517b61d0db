//! Launches: a manual run by hand (a card's button, a list's bulk run) with one row per entity. A
//! row is `pending` while its `run_rule` job waits or runs; the engine then records the run's
//! verdict against it ([`record`]), before the job's row is deleted. So a `pending` row whose job is
//! gone was cancelled (by [`cancel`], or with the entity's timers): it reads as skipped, `cancelled`.
//!
//! The jobs of one launch carry the job key [`job_key`], which finds them through the jobs' key
//! index: the rows are written from them in one statement, and a cancel removes the waiting ones
//! in one statement.

use domain::api::{Launch, LaunchEntity, RunStatus, SkipReason};
use sqlx::{AnyConnection, Row};

use super::{Page, StoreError};
use crate::{clock::Millis, db::Db};

/// A launch to record.
#[derive(Debug, Clone)]
pub struct NewLaunch {
    /// The tenant.
    pub account_id: i64,
    /// The rule launched.
    pub rule_id: i64,
    /// `leads`, `contacts` or `companies`.
    pub entity_type: String,
    /// Who launched it.
    pub user_id: i64,
    /// How many entities.
    pub total: i64,
    /// When.
    pub created_at: Millis,
}

/// How long a launch is kept after it was made: 30 days.
pub const RETENTION_MS: Millis = 30 * 24 * 3600 * 1000;

/// The job key of the `run_rule` jobs of launch `launch_id`.
pub fn job_key(launch_id: i64) -> String {
    format!("launch:{launch_id}")
}

/// Writes the launch in the caller's transaction and returns its id; its jobs follow, then
/// [`add_runs`].
pub async fn create(conn: &mut AnyConnection, launch: &NewLaunch) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO launches (account_id, rule_id, entity_type, user_id, total, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(launch.account_id)
    .bind(launch.rule_id)
    .bind(&launch.entity_type)
    .bind(launch.user_id)
    .bind(launch.total)
    .bind(launch.created_at)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)
}

/// Writes one `pending` row per job of the launch (those enqueued with its [`job_key`]), in the
/// caller's transaction; returns how many.
pub async fn add_runs(
    conn: &mut AnyConnection,
    account_id: i64,
    launch_id: i64,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "INSERT INTO launch_runs (launch_id, entity_id, account_id, job_id, status)
         SELECT $1, entity_id, account_id, id, 'pending' FROM jobs
         WHERE account_id = $2 AND job_key = $3 AND entity_id IS NOT NULL",
    )
    .bind(launch_id)
    .bind(account_id)
    .bind(job_key(launch_id))
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// How one run of a launch went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    /// Done, skipped or failed.
    pub status: RunStatus,
    /// Why it was skipped.
    pub reason: Option<SkipReason>,
    /// What failed.
    pub error: Option<String>,
}

/// Records how the run of `entity_id` in launch `launch_id` went. A run repeated (its job retried
/// after a crash, a dead job retried by hand) records again; the last word stands.
pub async fn record(
    db: &Db,
    account_id: i64,
    launch_id: i64,
    entity_id: i64,
    run: &RunRecord,
    now: Millis,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE launch_runs SET status = $4, reason = $5, error = $6, finished_at = $7
         WHERE launch_id = $1 AND entity_id = $2 AND account_id = $3",
    )
    .bind(launch_id)
    .bind(entity_id)
    .bind(account_id)
    .bind(run.status.as_str())
    .bind(run.reason.map(SkipReason::as_str))
    .bind(run.error.as_deref())
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Whether the run of `entity_id` in launch `launch_id` has no outcome yet.
pub async fn is_pending(
    db: &Db,
    account_id: i64,
    launch_id: i64,
    entity_id: i64,
) -> Result<bool, sqlx::Error> {
    let status: Option<String> = sqlx::query_scalar(
        "SELECT status FROM launch_runs WHERE launch_id = $1 AND entity_id = $2 AND account_id = $3",
    )
    .bind(launch_id)
    .bind(entity_id)
    .bind(account_id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(status.as_deref() == Some(RunStatus::Pending.as_str()))
}

/// How a row reads: a `pending` row whose job is gone was cancelled.
const EFFECTIVE_STATUS: &str = "CASE WHEN r.status = 'pending' AND NOT EXISTS
        (SELECT 1 FROM jobs j WHERE j.id = r.job_id) THEN 'skipped' ELSE r.status END";
const EFFECTIVE_REASON: &str = "CASE WHEN r.status = 'pending' AND NOT EXISTS
        (SELECT 1 FROM jobs j WHERE j.id = r.job_id) THEN 'cancelled' ELSE r.reason END";

/// The account's launch `launch_id` with its counts, and a page of its skipped and failed runs by
/// entity id.
pub async fn get(
    db: &Db,
    account_id: i64,
    launch_id: i64,
    page: Page,
) -> Result<Launch, StoreError> {
    let row = sqlx::query(
        "SELECT id, rule_id, entity_type, user_id, created_at, total, cancelled_at FROM launches
         WHERE account_id = $1 AND id = $2",
    )
    .bind(account_id)
    .bind(launch_id)
    .fetch_optional(&db.pool)
    .await?
    .ok_or(StoreError::NotFound("launch"))?;
    let total: i64 = row.try_get(5)?;
    let cancelled_at: Option<i64> = row.try_get(6)?;
    let counts = sqlx::query(&format!(
        "SELECT {EFFECTIVE_STATUS} AS s, COUNT(*) FROM launch_runs r
         WHERE r.launch_id = $1 AND r.account_id = $2 GROUP BY s"
    ))
    .bind(launch_id)
    .bind(account_id)
    .fetch_all(&db.pool)
    .await?;
    let (mut done, mut skipped, mut failed) = (0u64, 0u64, 0u64);
    for count in &counts {
        let status: String = count.try_get(0)?;
        let n = u64::try_from(count.try_get::<i64, _>(1)?).unwrap_or(0);
        match RunStatus::parse(&status) {
            Some(RunStatus::Done) => done += n,
            Some(RunStatus::Skipped) => skipped += n,
            Some(RunStatus::Failed) => failed += n,
            Some(RunStatus::Pending) | None => {}
        }
    }
    let total = u64::try_from(total).unwrap_or(0);
    let pending = total.saturating_sub(done + skipped + failed);
    let rows = sqlx::query(&format!(
        "SELECT r.entity_id, {EFFECTIVE_STATUS} AS s, {EFFECTIVE_REASON} AS why, r.error
         FROM launch_runs r WHERE r.launch_id = $1 AND r.account_id = $2
         AND ({EFFECTIVE_STATUS}) IN ('skipped', 'failed')
         ORDER BY r.entity_id LIMIT $3 OFFSET $4"
    ))
    .bind(launch_id)
    .bind(account_id)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(&db.pool)
    .await?;
    let entities = rows
        .iter()
        .map(|r| {
            let status: String = r.try_get(1)?;
            let reason: Option<String> = r.try_get(2)?;
            Ok(LaunchEntity {
                entity_id: r.try_get(0)?,
                status: RunStatus::parse(&status).unwrap_or(RunStatus::Failed),
                reason: reason.as_deref().and_then(SkipReason::parse),
                error: r.try_get(3)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Launch {
        id: row.try_get(0)?,
        rule_id: row.try_get(1)?,
        entity_type: row.try_get(2)?,
        user_id: row.try_get(3)?,
        created_at: row.try_get(4)?,
        total,
        done,
        skipped,
        failed,
        pending,
        cancelled: cancelled_at.is_some(),
        entities,
    })
}

/// Cancels the account's launch `launch_id`: its runs not yet started (jobs waiting, not under a
/// lease) are removed and their rows marked skipped, `cancelled`, in one transaction; runs in
/// flight finish. Returns how many were cancelled; a launch that had finished stays as it was
/// (not marked cancelled).
pub async fn cancel(
    db: &Db,
    account_id: i64,
    launch_id: i64,
    now: Millis,
) -> Result<u64, StoreError> {
    let mut tx = db.pool.begin().await?;
    let exists: Option<i64> =
        sqlx::query_scalar("SELECT id FROM launches WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(launch_id)
            .fetch_optional(&mut *tx)
            .await?;
    if exists.is_none() {
        return Err(StoreError::NotFound("launch"));
    }
    sqlx::query(
        "DELETE FROM jobs WHERE account_id = $1 AND job_key = $2 AND state = 'pending'
         AND (locked_until IS NULL OR locked_until <= $3)",
    )
    .bind(account_id)
    .bind(job_key(launch_id))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    // A run that finished meanwhile recorded its outcome before its job went: only rows whose job
    // is gone without an outcome were cancelled.
    let cancelled = sqlx::query(
        "UPDATE launch_runs SET status = 'skipped', reason = 'cancelled', finished_at = $3
         WHERE launch_id = $1 AND account_id = $2 AND status = 'pending'
         AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = launch_runs.job_id)",
    )
    .bind(launch_id)
    .bind(account_id)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let in_flight: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM launch_runs WHERE launch_id = $1 AND account_id = $2
         AND status = 'pending'",
    )
    .bind(launch_id)
    .bind(account_id)
    .fetch_one(&mut *tx)
    .await?;
    if cancelled > 0 || in_flight > 0 {
        sqlx::query(
            "UPDATE launches SET cancelled_at = $3 WHERE account_id = $1 AND id = $2
             AND cancelled_at IS NULL",
        )
        .bind(account_id)
        .bind(launch_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(cancelled)
}

/// Deletes the launches made longer than [`RETENTION_MS`] before `now`, with their rows, and
/// returns how many. A run of one still held in the queue (its rule switched off) records nothing.
pub async fn prune(db: &Db, now: Millis) -> Result<u64, sqlx::Error> {
    let before = now.saturating_sub(RETENTION_MS);
    let mut tx = db.pool.begin().await?;
    sqlx::query(
        "DELETE FROM launch_runs WHERE launch_id IN (SELECT id FROM launches WHERE created_at < $1)",
    )
    .bind(before)
    .execute(&mut *tx)
    .await?;
    let pruned = sqlx::query("DELETE FROM launches WHERE created_at < $1")
        .bind(before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(pruned)
}
