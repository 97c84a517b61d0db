//! The engine's own tables: per rule and entity the run state, the last seen tags and fields of each
//! entity, our write marks (loop protection), the rule runs already done, and the result options of
//! tasks we created.

use domain::eval::EntityRuleState;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::events::SeenState;
use crate::{clock::Millis, db::Db, queue::Lease};

/// The rule's state for an entity (never run: the default).
pub async fn rule_state(
    db: &Db,
    rule_id: i64,
    entity_type: &str,
    entity_id: i64,
) -> Result<EntityRuleState, sqlx::Error> {
    let row = sqlx::query(
        "SELECT last_run_at, fired_once FROM rule_entity_state
         WHERE rule_id = $1 AND entity_type = $2 AND entity_id = $3",
    )
    .bind(rule_id)
    .bind(entity_type)
    .bind(entity_id)
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else {
        return Ok(EntityRuleState::default());
    };
    let last: Option<i64> = row.try_get(0)?;
    Ok(EntityRuleState {
        last_run_at: last.and_then(chrono::DateTime::from_timestamp_millis),
        fired_once: row.try_get::<i64, _>(1)? != 0,
    })
}

/// Stores the rule's state for an entity.
pub async fn save_rule_state(
    db: &Db,
    account_id: i64,
    rule_id: i64,
    entity_type: &str,
    entity_id: i64,
    state: &EntityRuleState,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO rule_entity_state (account_id, rule_id, entity_type, entity_id, last_run_at, fired_once)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (rule_id, entity_type, entity_id) DO UPDATE
         SET last_run_at = excluded.last_run_at, fired_once = excluded.fired_once",
    )
    .bind(account_id)
    .bind(rule_id)
    .bind(entity_type)
    .bind(entity_id)
    .bind(state.last_run_at.map(|t| t.timestamp_millis()))
    .bind(i64::from(state.fired_once))
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Remembers what an entity looks like now and returns what it looked like before (if it was seen).
/// An older state than the remembered one does not replace it. Concurrent swaps of one entity are
/// serialised, so each difference is reported once.
pub async fn swap_memory(
    db: &Db,
    account_id: i64,
    seen: &SeenState,
) -> Result<Option<SeenState>, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    // Write first: SQLite then holds the write lock before reading (a read that later turns into a
    // write fails when another writer got in between); `updated_at = -1` marks "never seen".
    sqlx::query(
        "INSERT INTO entity_memory (account_id, entity_type, entity_id, updated_at, tags, fields)
         VALUES ($1, $2, $3, -1, '[]', '{}') ON CONFLICT (account_id, entity_type, entity_id) DO NOTHING",
    )
    .bind(account_id)
    .bind(seen.entity_type.as_str())
    .bind(seen.entity_id)
    .execute(&mut *tx)
    .await?;
    let lock = match db.dialect {
        crate::db::Dialect::Postgres => " FOR UPDATE",
        crate::db::Dialect::Sqlite => "",
    };
    let row = sqlx::query(&format!(
        "SELECT updated_at, tags, fields FROM entity_memory
         WHERE account_id = $1 AND entity_type = $2 AND entity_id = $3{lock}"
    ))
    .bind(account_id)
    .bind(seen.entity_type.as_str())
    .bind(seen.entity_id)
    .fetch_one(&mut *tx)
    .await?;
    let updated_at: i64 = row.try_get(0)?;
    let previous = if updated_at < 0 {
        None
    } else {
        let tags: String = row.try_get(1)?;
        let fields: String = row.try_get(2)?;
        Some(SeenState {
            entity_type: seen.entity_type,
            entity_id: seen.entity_id,
            updated_at,
            tags: serde_json::from_str(&tags).unwrap_or_default(),
            fields: serde_json::from_str(&fields).unwrap_or_default(),
        })
    };
    sqlx::query(
        "UPDATE entity_memory SET updated_at = $4, tags = $5, fields = $6
         WHERE account_id = $1 AND entity_type = $2 AND entity_id = $3 AND updated_at <= $4",
    )
    .bind(account_id)
    .bind(seen.entity_type.as_str())
    .bind(seen.entity_id)
    .bind(seen.updated_at)
    .bind(serde_json::to_string(&seen.tags).unwrap_or_default())
    .bind(serde_json::to_string(&seen.fields).unwrap_or_default())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(previous)
}

/// Marks that we are about to write to an entity while handling an event at `depth`.
pub async fn mark_write(
    db: &Db,
    account_id: i64,
    entity_type: &str,
    entity_id: i64,
    depth: u32,
    expires_at: Millis,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO engine_writes (account_id, entity_type, entity_id, depth, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(account_id)
    .bind(entity_type)
    .bind(entity_id)
    .bind(i64::from(depth))
    .bind(expires_at)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The chain depth of an event about an entity: one more than the deepest of our unexpired writes
/// to it, or 0 when we did not write to it lately (a person or another integration did).
pub async fn chain_depth(
    db: &Db,
    account_id: i64,
    entity_type: &str,
    entity_id: i64,
    now: Millis,
) -> Result<u32, sqlx::Error> {
    let row = sqlx::query(
        "SELECT MAX(depth) FROM engine_writes
         WHERE account_id = $1 AND entity_type = $2 AND entity_id = $3 AND expires_at > $4",
    )
    .bind(account_id)
    .bind(entity_type)
    .bind(entity_id)
    .bind(now)
    .fetch_one(&db.pool)
    .await?;
    let deepest: Option<i64> = row.try_get(0)?;
    Ok(deepest.map_or(0, |d| {
        u32::try_from(d.saturating_add(1)).unwrap_or(u32::MAX)
    }))
}

/// How long finished rule and action runs are remembered: far longer than any job is retried.
pub const RUN_MEMORY_MS: Millis = 7 * 24 * 3_600_000;

/// How long a talk nothing was heard of is remembered. Forgetting one is harmless for its start
/// (a talk whose `talk[add]` we do not know never starts); a closing update of a talk silent
/// this long is taken as a close of an open talk.
pub const TALK_MEMORY_MS: Millis = 180 * 24 * 3_600_000;

/// Forgets expired write marks, rule and action runs older than [`RUN_MEMORY_MS`], and talks not
/// heard of for [`TALK_MEMORY_MS`].
pub async fn prune_write_marks(db: &Db, now: Millis) -> Result<u64, sqlx::Error> {
    let mut pruned = sqlx::query("DELETE FROM engine_writes WHERE expires_at <= $1")
        .bind(now)
        .execute(&db.pool)
        .await?
        .rows_affected();
    for (sql, memory) in [
        ("DELETE FROM rule_runs WHERE done_at < $1", RUN_MEMORY_MS),
        (
            "DELETE FROM action_runs WHERE started_at < $1",
            RUN_MEMORY_MS,
        ),
        ("DELETE FROM talk_memory WHERE seen_at < $1", TALK_MEMORY_MS),
    ] {
        pruned += sqlx::query(sql)
            .bind(now - memory)
            .execute(&db.pool)
            .await?
            .rows_affected();
    }
    Ok(pruned)
}

/// Whether a rule run (named by `run_key`) was already done.
pub async fn run_done(db: &Db, account_id: i64, run_key: &str) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("SELECT 1 FROM rule_runs WHERE account_id = $1 AND run_key = $2")
            .bind(account_id)
            .bind(run_key)
            .fetch_optional(&db.pool)
            .await?
            .is_some(),
    )
}

/// Records a rule run as done.
pub async fn mark_run_done(
    db: &Db,
    account_id: i64,
    run_key: &str,
    now: Millis,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO rule_runs (account_id, run_key, done_at) VALUES ($1, $2, $3)
         ON CONFLICT (account_id, run_key) DO NOTHING",
    )
    .bind(account_id)
    .bind(run_key)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// A result option of a task we created: its text and the rule it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultOption {
    /// The result text.
    pub text: String,
    /// The rule to run.
    pub rule_id: i64,
}

/// A task with result options, and the entity it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskWithResults {
    /// The options.
    pub options: Vec<ResultOption>,
    /// `leads`, `contacts` or `companies`.
    pub entity_type: String,
    /// The entity.
    pub entity_id: i64,
}

/// Remembers the result options of a created task.
pub async fn save_task_results(
    db: &Db,
    account_id: i64,
    task_id: i64,
    task: &TaskWithResults,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO task_results (account_id, task_id, options, entity_type, entity_id)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, task_id) DO NOTHING",
    )
    .bind(account_id)
    .bind(task_id)
    .bind(serde_json::to_string(&task.options).unwrap_or_default())
    .bind(&task.entity_type)
    .bind(task.entity_id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Takes the result options of a task (each closed task starts its rule once).
pub async fn take_task_results(
    db: &Db,
    account_id: i64,
    task_id: i64,
) -> Result<Option<TaskWithResults>, sqlx::Error> {
    let row = sqlx::query(
        "DELETE FROM task_results WHERE account_id = $1 AND task_id = $2
         RETURNING options, entity_type, entity_id",
    )
    .bind(account_id)
    .bind(task_id)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| {
        let options: String = r.try_get(0)?;
        Ok(TaskWithResults {
            options: serde_json::from_str(&options).unwrap_or_default(),
            entity_type: r.try_get(1)?,
            entity_id: r.try_get(2)?,
        })
    })
    .transpose()
}

/// The account's enabled rules: (id, version, body), by id.
pub async fn enabled_rules(
    db: &Db,
    account_id: i64,
) -> Result<Vec<(i64, i64, String)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, version, body FROM rules WHERE account_id = $1 AND enabled = 1 ORDER BY id",
    )
    .bind(account_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}

/// One rule of the account, enabled or not: (version, body, enabled).
pub async fn rule_body(
    db: &Db,
    account_id: i64,
    rule_id: i64,
) -> Result<Option<(i64, String, bool)>, sqlx::Error> {
    let row =
        sqlx::query("SELECT version, body, enabled FROM rules WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(rule_id)
            .fetch_optional(&db.pool)
            .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get::<i64, _>(2)? != 0)))
        .transpose()
}

/// What [`claim_action`] found: whether this performer may send an action that is not safe to
/// repeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionClaim {
    /// Never started: now recorded `started` by this claim, which sends it.
    New,
    /// Done already, with what it did: not sent again.
    Done(Option<String>),
    /// Started by a claim whose lease is gone (it crashed, or its lease ran out), and now taken
    /// over by this one: whether it reached Kommo is unknown, so the action's after-a-crash rule
    /// decides (look it up, send again, or not repeat it).
    Abandoned,
    /// Started by another claim whose lease still holds: it is being sent right now, and this
    /// performer must not send it.
    InFlight,
    /// This claim's own lease has run out: it starts nothing more.
    LeaseLost,
}

/// `1` when the claim `($job, $seq)` still holds its lease at `$now`, else `0`.
fn lease_holds(job: &str, seq: &str, now: &str) -> String {
    format!(
        "(SELECT COUNT(*) FROM jobs l WHERE l.id = {job} AND l.lease_seq = {seq} AND l.locked_until > {now})"
    )
}

/// Claims an action for the claim `lease` of a job, atomically: the `started` record is inserted
/// only if there is none (`INSERT … ON CONFLICT DO NOTHING`), and only while `lease` holds, so of
/// concurrent performers of one action key exactly one gets [`ActionClaim::New`]. A `started`
/// record left by a claim whose lease is gone is taken over with a compare-and-set on its owner,
/// so of the performers that find it exactly one gets [`ActionClaim::Abandoned`].
pub async fn claim_action(
    db: &Db,
    account_id: i64,
    action_key: &str,
    lease: Lease,
    now: Millis,
) -> Result<ActionClaim, sqlx::Error> {
    let ours = lease_holds("$4", "$5", "$3");
    let inserted = sqlx::query(&format!(
        "INSERT INTO action_runs (account_id, action_key, state, started_at, owner_job, owner_lease)
         SELECT $1, $2, 'started', $3, $4, $5 WHERE {ours} > 0
         ON CONFLICT (account_id, action_key) DO NOTHING"
    ))
    .bind(account_id)
    .bind(action_key)
    .bind(now)
    .bind(lease.job_id)
    .bind(lease.seq)
    .execute(&db.pool)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(ActionClaim::New);
    }
    let theirs = lease_holds("r.owner_job", "r.owner_lease", "$3");
    let row = sqlx::query(&format!(
        "SELECT r.state, r.detail, r.owner_job, r.owner_lease, {theirs}, {ours}
         FROM action_runs r WHERE r.account_id = $1 AND r.action_key = $2"
    ))
    .bind(account_id)
    .bind(action_key)
    .bind(now)
    .bind(lease.job_id)
    .bind(lease.seq)
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else {
        // Nothing recorded, and the insert did not happen: our lease is gone.
        return Ok(ActionClaim::LeaseLost);
    };
    if row.try_get::<String, _>(0)? == "done" {
        return Ok(ActionClaim::Done(row.try_get(1)?));
    }
    let owner_job: Option<i64> = row.try_get(2)?;
    let owner_lease: Option<i64> = row.try_get(3)?;
    let owner_holds = row.try_get::<i64, _>(4)? > 0;
    let we_hold = row.try_get::<i64, _>(5)? > 0;
    if !we_hold {
        return Ok(ActionClaim::LeaseLost);
    }
    let mine = owner_job == Some(lease.job_id) && owner_lease == Some(lease.seq);
    if owner_holds && !mine {
        return Ok(ActionClaim::InFlight);
    }
    let taken = sqlx::query(&format!(
        "UPDATE action_runs SET owner_job = $4, owner_lease = $5, started_at = $3
         WHERE account_id = $1 AND action_key = $2 AND state = 'started'
           AND COALESCE(owner_job, -1) = $6 AND COALESCE(owner_lease, -1) = $7 AND {ours} > 0"
    ))
    .bind(account_id)
    .bind(action_key)
    .bind(now)
    .bind(lease.job_id)
    .bind(lease.seq)
    .bind(owner_job.unwrap_or(-1))
    .bind(owner_lease.unwrap_or(-1))
    .execute(&db.pool)
    .await?;
    Ok(if taken.rows_affected() == 1 {
        ActionClaim::Abandoned
    } else {
        // Another performer took it over (or finished it) first.
        ActionClaim::InFlight
    })
}

/// Records that an action was done, if it is still owned by the claim `lease`; returns whether it
/// was (a performer whose lease was taken over does not overwrite the new owner's record).
pub async fn finish_action(
    db: &Db,
    account_id: i64,
    action_key: &str,
    lease: Lease,
    detail: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let mut conn = db.pool.acquire().await?;
    finish_action_in(&mut conn, account_id, action_key, lease, detail).await
}

/// [`finish_action`] on `conn`: inside the caller's transaction, so the mark and what the action
/// wrote to our own database (such as the job of a rule call) commit together, or not at all when
/// the action is no longer the claim's.
pub async fn finish_action_in(
    conn: &mut sqlx::AnyConnection,
    account_id: i64,
    action_key: &str,
    lease: Lease,
    detail: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE action_runs SET state = 'done', detail = $3
         WHERE account_id = $1 AND action_key = $2 AND owner_job = $4 AND owner_lease = $5",
    )
    .bind(account_id)
    .bind(action_key)
    .bind(detail)
    .bind(lease.job_id)
    .bind(lease.seq)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}
