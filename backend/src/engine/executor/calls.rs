//! What stays in our own store and queue: rule calls (queued with their done mark), cancelled
//! delayed actions and global variables.

use domain::{event::Event, path::EntityRole, rule::VariableChange};
use kommo::models::EntityKind;
use serde_json::json;

use super::{role_name, ActionError, ActionScope};
use crate::{
    engine::{records, Engine},
    queue::{self, kinds, JobFilter, NewJob},
    store::variables,
};

impl Engine {
    /// Calls a rule: its `run_rule` job and the done mark in one transaction.
    pub(super) async fn execute_rule(
        &self,
        scope: &ActionScope<'_>,
        action_key: &str,
        entity: &EntityRole,
        rule_id: &i64,
    ) -> Result<Option<String>, ActionError> {
        let (kind, target) = scope
            .entity(*entity)
            .ok_or(ActionError::NoEntity(role_name(*entity)))?;
        // The called rule gets the caller's variables (an inbound webhook's included)
        // and reads the caller's entities (see `EventKind::RuleCall`).
        let mut event = Event::about(
            entity_type_of(kind),
            target.id,
            domain::event::EventKind::RuleCall {
                parent_rule_id: Some(scope.rule_id),
                parent_entity: scope.event.entity,
            },
        );
        event.vars = scope.event.vars.clone();
        let detail = format!("rule {rule_id} queued");
        let job = self.rule_call_job(scope.account_id, *rule_id, &event, scope.depth + 1);
        self.queue_and_finish(scope, Some(&job), action_key, &detail)
            .await?;
        Ok(Some(detail))
    }

    /// Cancels pending delayed actions of the entity.
    pub(super) async fn cancel_delayed(
        &self,
        scope: &ActionScope<'_>,
        rule_id: &Option<i64>,
        block_id: &Option<u32>,
        action_id: &Option<u32>,
    ) -> Result<Option<String>, ActionError> {
        let filter = JobFilter {
            rule_id: Some(rule_id.unwrap_or(scope.rule_id)),
            block_id: block_id.map(|b| b.to_string()),
            action_id: action_id.map(|a| a.to_string()),
            entity: scope.event.entity.map(|e| {
                (
                    crate::engine::snapshot::table_name(e.entity_type).to_owned(),
                    e.id,
                )
            }),
        };
        let cancelled = self
            .queue
            .cancel_jobs(scope.account_id, &filter)
            .await
            .map_err(|e| ActionError::Store(e.to_string()))?;
        Ok(Some(format!("{cancelled} job(s) cancelled")))
    }

    /// Sets or appends to a global variable.
    pub(super) async fn change_global_variable(
        &self,
        scope: &ActionScope<'_>,
        name: &str,
        change: &VariableChange,
        value: &str,
    ) -> Result<Option<String>, ActionError> {
        let now = self.clock.now_ms();
        let result = match change {
            VariableChange::Set => {
                variables::set_variable(&self.db, scope.account_id, name, value, now)
                    .await
                    .map(|()| value.to_owned())
            }
            VariableChange::Append => {
                variables::append_to_variable(&self.db, scope.account_id, name, value, now).await
            }
            VariableChange::Calculate => {
                variables::set_variable(&self.db, scope.account_id, name, value, now)
                    .await
                    .map(|()| value.to_owned())
            }
        };
        let stored = result.map_err(|e| ActionError::Store(e.to_string()))?;
        Ok(Some(format!(
            "{name} = {}",
            stored.chars().take(100).collect::<String>()
        )))
    }

    /// Queues a run of a (manual) rule for an entity, as "execute rule", task results and webhook
    /// follow-ups do.
    pub async fn enqueue_rule_call(
        &self,
        account_id: i64,
        rule_id: i64,
        event: &Event,
        depth: u32,
    ) -> Result<(), ActionError> {
        let job = self.rule_call_job(account_id, rule_id, event, depth);
        self.queue
            .enqueue(&job)
            .await
            .map_err(|e| ActionError::Store(e.to_string()))?;
        Ok(())
    }

    /// The `run_rule` job of a rule call, due now.
    pub(super) fn rule_call_job(
        &self,
        account_id: i64,
        rule_id: i64,
        event: &Event,
        depth: u32,
    ) -> NewJob {
        let mut job = NewJob::new(
            account_id,
            kinds::RUN_RULE,
            json!({ "rule_id": rule_id, "event": event, "depth": depth }),
            self.clock.now_ms(),
        );
        job.rule_id = Some(rule_id);
        job.entity = event.entity.map(|e| {
            (
                crate::engine::snapshot::table_name(e.entity_type).to_owned(),
                e.id,
            )
        });
        job
    }

    /// Queues `job` (if any) and marks the action run `action_key` done with `detail`, in one
    /// transaction: whatever the crash point, the job is queued exactly once, and a run found
    /// started but not done queued nothing yet. When the action is no longer this claim's (its
    /// lease was taken over), nothing is queued: the new owner does it.
    pub(super) async fn queue_and_finish(
        &self,
        scope: &ActionScope<'_>,
        job: Option<&NewJob>,
        action_key: &str,
        detail: &str,
    ) -> Result<(), ActionError> {
        let Some(lease) = scope.lease else {
            return Err(ActionError::NotPerformed("a dry run queues nothing"));
        };
        let store = |e: sqlx::Error| ActionError::Store(e.to_string());
        let account_id = scope.account_id;
        let mut tx = self.db.pool.begin().await.map_err(store)?;
        if let Some(job) = job {
            queue::enqueue(
                &mut tx,
                job,
                self.clock.now_ms(),
                self.queue.settings().max_attempts,
            )
            .await
            .map_err(store)?;
        }
        if !records::finish_action_in(&mut tx, account_id, action_key, lease, Some(detail))
            .await
            .map_err(store)?
        {
            tx.rollback().await.map_err(store)?;
            return Err(ActionError::LeaseLost);
        }
        tx.commit().await.map_err(store)?;
        if job.is_some() {
            self.queue.wake_workers();
        }
        Ok(())
    }
}

fn entity_type_of(kind: EntityKind) -> domain::path::EntityType {
    match kind {
        EntityKind::Leads => domain::path::EntityType::Lead,
        EntityKind::Contacts => domain::path::EntityType::Contact,
        EntityKind::Companies => domain::path::EntityType::Company,
    }
}
