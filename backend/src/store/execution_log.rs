//! The debugger log and the usage counters: per rule, the last [`KEPT_PER_RULE`] executions with
//! their trace (JSON), pruned as new ones arrive, each naming its event's entity and its verdict
//! (so the runs of one entity answer "why not"); per account and calendar month and day (UTC), the
//! operations performed and the errors met; per rule, its runs, fires, errors and last run.

use domain::api::{AccountStats, DayUsage, EntityRun, RuleStats, Verdict};
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
    /// The entity of its event (`leads`, 123), if any.
    pub entity: Option<(String, i64)>,
    /// How it ended.
    pub outcome: ExecutionOutcome,
    /// What became of it (fired, did not match, …).
    pub verdict: Verdict,
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
    /// What became of it.
    pub verdict: Verdict,
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
            verdict: Some(entry.verdict),
            started_at: entry.started_at,
            duration_ms: entry.duration_ms,
            operations: entry.operations,
            trace: entry.trace,
        }
    }
}

fn utc(now: Millis) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(now).unwrap_or_default()
}

fn month_of(now: Millis) -> String {
    utc(now).format("%Y-%m").to_string()
}

fn day_of(now: Millis) -> String {
    utc(now).format("%Y-%m-%d").to_string()
}

/// The calendar month before the one of `now`.
fn previous_month_of(now: Millis) -> String {
    use chrono::Datelike;
    let now = utc(now);
    let (year, month) = match now.month() {
        1 => (now.year() - 1, 12),
        m => (now.year(), m - 1),
    };
    format!("{year:04}-{month:02}")
}

/// Records an execution, counts it in the month's usage and prunes the rule's log to the last
/// [`KEPT_PER_RULE`] entries, all in one transaction.
pub async fn record_execution(db: &Db, entry: &NewExecution) -> Result<i64, StoreError> {
    let mut tx = db.pool.begin().await?;
    let id: i64 = sqlx::query(
        "INSERT INTO execution_log (account_id, rule_id, event_id, outcome, started_at, duration_ms, operations, trace,
             entity_type, entity_id, verdict)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(entry.account_id)
    .bind(entry.rule_id)
    .bind(entry.event_id)
    .bind(entry.outcome.as_str())
    .bind(entry.started_at)
    .bind(entry.duration_ms)
    .bind(entry.operations)
    .bind(entry.trace.to_string())
    .bind(entry.entity.as_ref().map(|(t, _)| t.as_str()))
    .bind(entry.entity.as_ref().map(|(_, id)| *id))
    .bind(entry.verdict.as_str())
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
    sqlx::query(
        "INSERT INTO account_usage_daily (account_id, day, operations, errors) VALUES ($1, $2, $3, $4)
         ON CONFLICT (account_id, day) DO UPDATE
         SET operations = account_usage_daily.operations + excluded.operations,
             errors = account_usage_daily.errors + excluded.errors",
    )
    .bind(entry.account_id)
    .bind(day_of(entry.started_at))
    .bind(entry.operations)
    .bind(i64::from(entry.outcome == ExecutionOutcome::Error))
    .execute(&mut *tx)
    .await?;
    let fired = matches!(entry.verdict, Verdict::Fired | Verdict::Error);
    sqlx::query(
        "INSERT INTO rule_stats (account_id, rule_id, runs, fires, errors, last_run_at) VALUES ($1, $2, 1, $3, $4, $5)
         ON CONFLICT (account_id, rule_id) DO UPDATE
         SET runs = rule_stats.runs + 1, fires = rule_stats.fires + excluded.fires,
             errors = rule_stats.errors + excluded.errors,
             last_run_at = CASE WHEN rule_stats.last_run_at IS NULL OR rule_stats.last_run_at < excluded.last_run_at
                                THEN excluded.last_run_at ELSE rule_stats.last_run_at END",
    )
    .bind(entry.account_id)
    .bind(entry.rule_id)
    .bind(i64::from(fired))
    .bind(i64::from(entry.outcome == ExecutionOutcome::Error))
    .bind(entry.started_at)
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
        "SELECT id, rule_id, event_id, outcome, started_at, duration_ms, operations, trace, verdict FROM execution_log
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
            let outcome = ExecutionOutcome::parse(&r.try_get::<String, _>(3)?);
            Ok(Execution {
                id: r.try_get(0)?,
                rule_id: r.try_get(1)?,
                event_id: r.try_get(2)?,
                outcome,
                verdict: stored_verdict(r.try_get(8)?, outcome),
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
    let previous_month = previous_month_of(now);
    let months =
        sqlx::query("SELECT month, operations, errors FROM account_usage WHERE account_id = $1")
            .bind(account_id)
            .fetch_all(&db.pool)
            .await?;
    let (mut operations_this_month, mut errors_this_month) = (0, 0);
    let (mut operations_previous_month, mut operations_total, mut errors_total) = (0, 0, 0);
    for row in &months {
        let name: String = row.try_get(0)?;
        let (operations, errors): (i64, i64) = (row.try_get(1)?, row.try_get(2)?);
        operations_total += operations;
        errors_total += errors;
        if name == month {
            (operations_this_month, errors_this_month) = (operations, errors);
        } else if name == previous_month {
            operations_previous_month = operations;
        }
    }
    // Days are `YYYY-MM-DD`, so this month's sort after `YYYY-MM-` and before `YYYY-MM.`.
    let days = sqlx::query(
        "SELECT day, operations, errors FROM account_usage_daily
         WHERE account_id = $1 AND day > $2 AND day < $3 ORDER BY day",
    )
    .bind(account_id)
    .bind(format!("{month}-"))
    .bind(format!("{month}."))
    .fetch_all(&db.pool)
    .await?;
    let operations_by_day = days
        .iter()
        .map(|r| {
            Ok(DayUsage {
                day: r.try_get(0)?,
                operations: r.try_get(1)?,
                errors: r.try_get(2)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(AccountStats {
        queue_length,
        delayed_jobs,
        dead_jobs,
        month,
        operations_this_month,
        errors_this_month,
        previous_month,
        operations_previous_month,
        operations_total,
        errors_total,
        operations_by_day,
    })
}

/// The counters of each of the account's rules, by rule id (a rule that never ran has zeros).
pub async fn rule_stats(
    db: &Db,
    account_id: i64,
    page: super::Page,
) -> Result<Vec<RuleStats>, StoreError> {
    let rows = sqlx::query(
        "SELECT r.id, r.name, COALESCE(s.runs, 0), COALESCE(s.fires, 0), COALESCE(s.errors, 0), s.last_run_at
         FROM rules r LEFT JOIN rule_stats s ON s.account_id = r.account_id AND s.rule_id = r.id
         WHERE r.account_id = $1 ORDER BY r.id LIMIT $2 OFFSET $3",
    )
    .bind(account_id)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            Ok(RuleStats {
                rule_id: r.try_get(0)?,
                name: r.try_get(1)?,
                runs: r.try_get(2)?,
                fires: r.try_get(3)?,
                errors: r.try_get(4)?,
                last_run_at: r.try_get(5)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?)
}

/// A run's stored verdict; a run logged before verdicts were kept reads as its outcome says.
fn stored_verdict(stored: Option<String>, outcome: ExecutionOutcome) -> Verdict {
    stored
        .as_deref()
        .and_then(Verdict::parse)
        .unwrap_or(match outcome {
            ExecutionOutcome::Ok => Verdict::Fired,
            ExecutionOutcome::Error => Verdict::Error,
            ExecutionOutcome::Loop => Verdict::Loop,
        })
}

/// A page of the logged runs for events of one entity (`leads`, 123), newest first. The log keeps
/// the last [`KEPT_PER_RULE`] runs of each rule, so older runs of a busy rule are gone.
pub async fn entity_runs(
    db: &Db,
    account_id: i64,
    entity_type: &str,
    entity_id: i64,
    page: super::Page,
) -> Result<Vec<EntityRun>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, rule_id, event_id, started_at, verdict, outcome, trace, duration_ms, operations
         FROM execution_log WHERE account_id = $1 AND entity_type = $2 AND entity_id = $3
         ORDER BY id DESC LIMIT $4 OFFSET $5",
    )
    .bind(account_id)
    .bind(entity_type)
    .bind(entity_id)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let trace: String = r.try_get(6)?;
            let trace: Value = serde_json::from_str(&trace).unwrap_or(Value::Null);
            let outcome = ExecutionOutcome::parse(&r.try_get::<String, _>(5)?);
            let verdict = stored_verdict(r.try_get(4)?, outcome);
            // A loop's reason, why a named rule could not run, or the first failed action.
            let error = trace["loop"]
                .as_str()
                .or_else(|| trace["error"].as_str())
                .map(str::to_owned)
                .or_else(|| {
                    trace["actions"].as_array().and_then(|actions| {
                        actions
                            .iter()
                            .find_map(|a| a["error"].as_str().map(str::to_owned))
                    })
                });
            Ok(EntityRun {
                id: r.try_get(0)?,
                rule_id: r.try_get(1)?,
                event_id: r.try_get(2)?,
                event: trace["event"]["kind"]["kind"].as_str().map(str::to_owned),
                started_at: r.try_get(3)?,
                verdict,
                failed_conditions: serde_json::from_value(trace["failed_conditions"].clone())
                    .unwrap_or_default(),
                error,
                duration_ms: r.try_get(7)?,
                operations: r.try_get(8)?,
                trace,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}
