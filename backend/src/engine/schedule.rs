//! Scheduled rule events: `at_date_time` and `recurring` rules fire at their next local time in
//! the account's timezone, `relative_to_date_field` rules N hours before or after the date in an
//! entity's field. Each pending firing is one `fire_schedule` job with a key, so a rule edit or a
//! changed field replaces it instead of adding another; each firing schedules the next one.

use chrono::{DateTime, Utc};
use domain::{
    eval::CompiledRule,
    event::{EntityRef, Event, EventKind},
    rule::Trigger,
    snapshot::Snapshot,
};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{pipeline::RuleCallJob, snapshot::table_name, Engine, EngineError};
use crate::queue::{kinds, JobFilter, NewJob};

/// The payload of a `fire_schedule` job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScheduleJob {
    /// The rule.
    pub rule_id: i64,
    /// The rule's version when scheduled; a job of an older version is dropped.
    pub version: i64,
    /// The entity, for `relative_to_date_field`.
    #[serde(default)]
    pub entity: Option<EntityRef>,
    /// When it was due, Unix milliseconds.
    pub due_at: i64,
}

/// The key of a rule's pending firing (per entity for date-field rules).
pub fn schedule_key(rule_id: i64, version: i64, entity: Option<EntityRef>) -> String {
    match entity {
        Some(e) => format!("schedule:{rule_id}:{}:{}", table_name(e.entity_type), e.id),
        None => format!("schedule:{rule_id}:v{version}"),
    }
}

impl Engine {
    async fn pending_with_key(&self, account_id: i64, key: &str) -> Result<bool, EngineError> {
        let row = sqlx::query(
            "SELECT COUNT(*) FROM jobs WHERE account_id = $1 AND job_key = $2 AND state = 'pending'",
        )
        .bind(account_id)
        .bind(key)
        .fetch_one(&self.db.pool)
        .await?;
        Ok(row.try_get::<i64, _>(0)? > 0)
    }

    async fn enqueue_firing(
        &self,
        account_id: i64,
        job: &ScheduleJob,
        key: String,
    ) -> Result<(), EngineError> {
        let mut new = NewJob::new(
            account_id,
            kinds::FIRE_SCHEDULE,
            serde_json::to_value(job).unwrap_or_default(),
            job.due_at,
        );
        new.rule_id = Some(job.rule_id);
        new.entity = job
            .entity
            .map(|e| (table_name(e.entity_type).to_owned(), e.id));
        new.job_key = Some(key);
        new.replace_pending = true;
        self.queue.enqueue(&new).await?;
        Ok(())
    }

    /// Makes sure every enabled `at_date_time` and `recurring` rule of the account has its next
    /// firing queued. Cheap when nothing changed; call it after rules are saved or enabled.
    pub async fn sync_schedules(&self, account_id: i64) -> Result<usize, EngineError> {
        let rules = super::records::enabled_rules(&self.db, account_id).await?;
        let scheduled: Vec<(i64, i64, std::sync::Arc<CompiledRule>)> = rules
            .into_iter()
            .filter_map(|(id, version, body)| {
                let rule = self.compiled(id, version, &body).ok()?;
                matches!(
                    rule.rule().trigger,
                    Trigger::AtDateTime { .. } | Trigger::Recurring { .. }
                )
                .then_some((id, version, rule))
            })
            .collect();
        if scheduled.is_empty() {
            return Ok(0);
        }
        let client = self.account_client(account_id).await?;
        let facts = self.account_facts(account_id, &client).await?;
        let now = DateTime::from_timestamp_millis(self.clock.now_ms()).unwrap_or_default();
        let mut queued = 0;
        for (rule_id, version, rule) in scheduled {
            let key = schedule_key(rule_id, version, None);
            if self.pending_with_key(account_id, &key).await? {
                continue;
            }
            let Some(due) =
                domain::timer::next_due(&rule.rule().trigger, now, &facts.timezone.into())
            else {
                continue;
            };
            let job = ScheduleJob {
                rule_id,
                version,
                entity: None,
                due_at: due.timestamp_millis(),
            };
            self.enqueue_firing(account_id, &job, key).await?;
            queued += 1;
        }
        Ok(queued)
    }

    /// Re-plans the account's scheduled rules in the background, after a rule was saved or
    /// switched on; a failure (Kommo unreachable, account not connected) is logged, and the next
    /// event of the account plans them again.
    pub fn schedules_changed(self: &std::sync::Arc<Self>, account_id: i64) {
        let engine = self.clone();
        tokio::spawn(async move {
            if let Err(error) = engine.sync_schedules(account_id).await {
                tracing::warn!(account.id = account_id, %error, "scheduled rules not planned yet");
            }
        });
    }

    /// Queues (or moves, or cancels) the firing of a `relative_to_date_field` rule for the entity
    /// in `snapshot`, after the entity was added or changed.
    pub async fn schedule_date_field(
        &self,
        account_id: i64,
        rule_id: i64,
        version: i64,
        rule: &CompiledRule,
        entity: EntityRef,
        snapshot: &Snapshot,
    ) -> Result<(), EngineError> {
        let key = schedule_key(rule_id, version, Some(entity));
        let now = self.clock.now_ms();
        match domain::timer::due_for_snapshot(&rule.rule().trigger, snapshot) {
            Some(due) if due.timestamp_millis() > now => {
                let job = ScheduleJob {
                    rule_id,
                    version,
                    entity: Some(entity),
                    due_at: due.timestamp_millis(),
                };
                self.enqueue_firing(account_id, &job, key).await
            }
            _ => {
                let filter = JobFilter {
                    rule_id: Some(rule_id),
                    entity: Some((table_name(entity.entity_type).to_owned(), entity.id)),
                    ..JobFilter::default()
                };
                self.queue.cancel_jobs(account_id, &filter).await?;
                Ok(())
            }
        }
    }

    /// Handles a `fire_schedule` job: runs the rule with a `scheduled` event and queues the next
    /// firing of a recurring rule.
    pub async fn fire_schedule(
        &self,
        account_id: i64,
        lease: crate::queue::Lease,
        job: ScheduleJob,
    ) -> Result<(), EngineError> {
        let Some((version, body, _)) =
            super::records::rule_body(&self.db, account_id, job.rule_id).await?
        else {
            return Ok(());
        };
        if version != job.version && job.entity.is_none() {
            // The rule was edited; its current version has a firing of its own.
            return self.sync_schedules(account_id).await.map(drop);
        }
        let rule = self
            .compiled(job.rule_id, version, &body)
            .map_err(EngineError::Malformed)?;
        let event = Event {
            entity: job.entity,
            kind: EventKind::Scheduled,
            vars: Default::default(),
        };
        let call = RuleCallJob {
            rule_id: job.rule_id,
            event,
            depth: 0,
            launch_id: None,
        };
        self.run_rule_call(account_id, lease, call).await?;
        if job.entity.is_none() {
            let client = self.account_client(account_id).await?;
            let facts = self.account_facts(account_id, &client).await?;
            let after = DateTime::<Utc>::from_timestamp_millis(job.due_at.max(self.clock.now_ms()))
                .unwrap_or_default();
            if let Some(next) =
                domain::timer::next_due(&rule.rule().trigger, after, &facts.timezone.into())
            {
                let next_job = ScheduleJob {
                    due_at: next.timestamp_millis(),
                    ..job
                };
                let key = schedule_key(next_job.rule_id, version, None);
                self.enqueue_firing(account_id, &next_job, key).await?;
            }
        }
        Ok(())
    }
}
