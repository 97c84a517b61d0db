//! The debugger log and the account's usage counters: per rule, the last [`KEPT_PER_RULE`]
//! executions with their trace (JSON), pruned as new ones arrive; per account and calendar month,
//! the operations performed and the errors met.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;

use super::StoreError;
use crate::{clock::Millis, db::Db};

/// How many executions of each rule the log keeps.
pub const KEPT_PER_RULE: i64 = 100;

/// How an execution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionOutcome {
    /// Every action that ran succeeded (or the conditions chose none).
    Ok,
    /// At least one action failed.
    Error,
    /// Stopped because the event chain was too deep.
    Loop,
}

impl ExecutionOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Loop => "loop",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "error" => Self::Error,
            "loop" => Self::Loop,
            _ => Self::Ok,
        }
    }
}

/// An execution to record.
#[derive(Debug, Clone)]
pub struct NewExecution {
    /// The tenant.
    pub account_id: i64,
    /// The rule that ran.
    pub rule_id: i64,
    /// The event it ran for, if any (timers have none).
    pub event_id: Option<i64>,
    /// How it ended.
    pub outcome: ExecutionOutcome,
    /// When it started, Unix milliseconds.
    pub started_at: Millis,
    /// How long it took.
    pub duration_ms: i64,
    /// Kommo operations it performed (counted in the monthly usage).
    pub operations: i64,
    /// The full trace: blocks, conditions with actual and expected values, actions and results.
    pub trace: Value,
}

/// A recorded execution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Execution {
    /// The entry's id; later entries have larger ids.
    pub id: i64,
    /// The rule that ran.
    pub rule_id: i64,
    /// The event it ran for.
    pub event_id: Option<i64>,
    /// How it ended.
    pub outcome: ExecutionOutcome,
    /// When it started, Unix milliseconds.
    pub started_at: Millis,
    /// How long it took.
    pub duration_ms: i64,
    /// Kommo operations performed.
    pub operations: i64,
    /// The trace.
    pub trace: Value,
}

impl From<Execution> for domain::api::ExecutionEntry {
    fn from(entry: Execution) -> Self {
        Self {
            id: entry.id,
            rule_id: entry.rule_id,
            event_id: entry.event_id,
            outcome: entry.outcome.as_str().to_string(),
            started_at: entry.started_at,
            duration_ms: entry.duration_ms,
            operations: entry.operations,
            trace: entry.trace,
        }
    }
}

/// The statistics of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct AccountStats {
    /// Jobs due now: waiting for a worker or running.
    pub queue_length: i64,
    /// Jobs that wait for their time (timers, delayed actions, birthdays): not a backlog.
    pub delayed_jobs: i64,
    /// Jobs that failed for good.
    pub dead_jobs: i64,
    /// The calendar month (UTC) of the counters below, e.g. `2026-11`.
    pub month: String,
    /// Kommo operations performed this month.
    pub operations_this_month: i64,
    /// Executions that ended in an error this month.
    pub errors_this_month: i64,
}

fn month_of(now: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(now)
        .unwrap_or_default()
        .format("%Y-%m")
        .to_string()
}

/// Records an execution, counts it in the month's usage and prunes the rule's log to the last
/// [`KEPT_PER_RULE`] entries, all in one transaction.
pub async fn record_execution(db: &Db, entry: &NewExecution) -> Result<i64, StoreError> {
    let mut tx = db.pool.begin().await?;
    let id: i64 = sqlx::query(
        "INSERT INTO execution_log (account_id, rule_id, event_id, outcome, started_at, duration_ms, operations, trace)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(entry.account_id)
    .bind(entry.rule_id)
    .bind(entry.event_id)
    .bind(entry.outcome.as_str())
    .bind(entry.started_at)
    .bind(entry.duration_ms)
    .bind(entry.operations)
    .bind(entry.trace.to_string())
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    sqlx::query(
        "DELETE FROM execution_log WHERE rule_id = $1 AND id <= (
             SELECT id FROM execution_log WHERE rule_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
    )
    .bind(entry.rule_id)
    .bind(KEPT_PER_RULE)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO account_usage (account_id, month, operations, errors) VALUES ($1, $2, $3, $4)
         ON CONFLICT (account_id, month) DO UPDATE
         SET operations = account_usage.operations + excluded.operations, errors = account_usage.errors + excluded.errors",
    )
    .bind(entry.account_id)
    .bind(month_of(entry.started_at))
    .bind(entry.operations)
    .bind(i64::from(entry.outcome == ExecutionOutcome::Error))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// A page of the logged executions of one of the account's rules, newest first.
pub async fn list_executions(
    db: &Db,
    account_id: i64,
    rule_id: i64,
    page: super::Page,
) -> Result<Vec<Execution>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, rule_id, event_id, outcome, started_at, duration_ms, operations, trace FROM execution_log
         WHERE account_id = $1 AND rule_id = $2 ORDER BY id DESC LIMIT $3 OFFSET $4",
    )
    .bind(account_id)
    .bind(rule_id)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let trace: String = r.try_get(7)?;
            Ok(Execution {
                id: r.try_get(0)?,
                rule_id: r.try_get(1)?,
                event_id: r.try_get(2)?,
                outcome: ExecutionOutcome::parse(&r.try_get::<String, _>(3)?),
                started_at: r.try_get(4)?,
                duration_ms: r.try_get(5)?,
                operations: r.try_get(6)?,
                trace: serde_json::from_str(&trace)
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            })
        })
        .collect()
}

/// The account's queue length (due work), delayed jobs, dead jobs and this month's usage.
pub async fn account_stats(
    db: &Db,
    account_id: i64,
    now: Millis,
) -> Result<AccountStats, StoreError> {
    let counts = sqlx::query(
        "SELECT
             COALESCE(SUM(CASE WHEN state = 'pending' AND run_at <= $2 THEN 1 ELSE 0 END), 0),
             COALESCE(SUM(CASE WHEN state = 'pending' AND run_at > $2 THEN 1 ELSE 0 END), 0),
             COALESCE(SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END), 0)
         FROM jobs WHERE account_id = $1",
    )
    .bind(account_id)
    .bind(now)
    .fetch_one(&db.pool)
    .await?;
    let queue_length: i64 = counts.try_get(0)?;
    let delayed_jobs: i64 = counts.try_get(1)?;
    let dead_jobs: i64 = counts.try_get(2)?;
    let month = month_of(now);
    let usage = sqlx::query(
        "SELECT operations, errors FROM account_usage WHERE account_id = $1 AND month = $2",
    )
    .bind(account_id)
    .bind(&month)
    .fetch_optional(&db.pool)
    .await?;
    let (operations_this_month, errors_this_month) = match usage {
        Some(r) => (r.try_get(0)?, r.try_get(1)?),
        None => (0, 0),
    };
    Ok(AccountStats {
        queue_length,
        delayed_jobs,
        dead_jobs,
        month,
        operations_this_month,
        errors_this_month,
    })
}
