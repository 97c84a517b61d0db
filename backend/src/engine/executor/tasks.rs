//! Tasks: created (looked up by text after a crash) and changed (safe to repeat).

use domain::{
    path::EntityRole,
    rule::{TaskResultOption, TaskScope, UserChoice},
};
use kommo::models::TaskWrite;

use super::{role_name, ActionError, ActionScope};
use crate::engine::{
    records::{self, ResultOption, TaskWithResults},
    Engine,
};

impl Engine {
    /// Creates a task (and keeps its result options, which call rules).
    #[allow(clippy::too_many_arguments)] // the action's own fields, as the dispatch binds them
    pub(super) async fn create_task(
        &self,
        scope: &ActionScope<'_>,
        entity: &EntityRole,
        responsible: &Option<UserChoice>,
        task_type_id: &i64,
        complete_in_seconds: &u32,
        text: &str,
        results: &[TaskResultOption],
    ) -> Result<Option<String>, ActionError> {
        let (kind, target) = scope
            .entity(*entity)
            .ok_or(ActionError::NoEntity(role_name(*entity)))?;
        let responsible = responsible
            .as_ref()
            .and_then(|c| scope.user(c, Some(target)))
            .or(target.responsible_user_id);
        let complete_till = self.clock.now_ms().div_euclid(1000) + i64::from(*complete_in_seconds);
        self.mark(scope, kind, target.id).await?;
        let ids = scope
            .client
            .create_tasks(vec![TaskWrite {
                text: Some(text.to_owned()),
                complete_till: Some(complete_till),
                entity_id: Some(target.id),
                entity_type: Some(kind),
                task_type_id: Some(*task_type_id),
                responsible_user_id: responsible,
                ..TaskWrite::default()
            }])
            .await?;
        let options: Vec<ResultOption> = results
            .iter()
            .filter_map(|r| {
                r.rule_id.map(|rule_id| ResultOption {
                    text: r.text.clone(),
                    rule_id,
                })
            })
            .collect();
        if let (Some(task_id), false) = (ids.first(), options.is_empty()) {
            let task = TaskWithResults {
                options,
                entity_type: kind.plural().to_owned(),
                entity_id: target.id,
            };
            records::save_task_results(&self.db, scope.account_id, *task_id, &task)
                .await
                .map_err(|e| ActionError::Store(e.to_string()))?;
        }
        Ok(Some(format!("task {ids:?}")))
    }

    /// Changes the tasks of an entity found by type.
    #[allow(clippy::too_many_arguments)] // the action's own fields, as the dispatch binds them
    pub(super) async fn change_task(
        &self,
        scope: &ActionScope<'_>,
        entity: &EntityRole,
        task_type_id: &Option<i64>,
        which: &TaskScope,
        responsible: &Option<UserChoice>,
        new_task_type_id: &Option<i64>,
        completed: &Option<bool>,
        text: &Option<String>,
    ) -> Result<Option<String>, ActionError> {
        let (_, target) = scope
            .entity(*entity)
            .ok_or(ActionError::NoEntity(role_name(*entity)))?;
        let mut tasks: Vec<_> = target
            .tasks
            .iter()
            .filter(|t| task_type_id.is_none_or(|id| id == t.task_type_id))
            .collect();
        tasks.sort_by_key(|t| (t.complete_till, t.id));
        if *which == TaskScope::Last {
            tasks = tasks.pop().into_iter().collect();
        }
        let writes: Vec<TaskWrite> = tasks
            .iter()
            .map(|t| TaskWrite {
                id: Some(t.id),
                responsible_user_id: responsible
                    .as_ref()
                    .and_then(|c| scope.user(c, Some(target))),
                task_type_id: *new_task_type_id,
                is_completed: *completed,
                text: text.clone(),
                ..TaskWrite::default()
            })
            .collect();
        let count = writes.len();
        if count > 0 {
            scope.client.update_tasks(writes).await?;
        }
        Ok(Some(format!("{count} task(s) changed")))
    }
}
