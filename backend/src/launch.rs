//! Launching rules by hand: the card button (one entity) and bulk runs from a list (up to 10,000
//! entities). Each launch is recorded with its entities (`store::launches`) and each entity gets
//! one `run_rule` job, the engine's own mechanism for manual runs, so launched runs share the
//! workers, the durable queue and the account's Kommo rate limit with everything else; a run is
//! recorded once per job, so a retried job never acts twice. The engine records each run's verdict
//! against its launch, which `GET /api/v1/launches/{id}` counts; a cancel removes the runs not yet
//! started.
//!
//! Which rules: those `domain::rule::Trigger::launchable_by_hand` allows for the entity type
//! (manual rules, and "added" and "updated" rules, as the Triggers manual has it).
//!
//! Who may launch: any user of the account may run a rule on one entity (Kommo's Triggers lets
//! everyone press the card button); a run on several entities at once is a bulk change of the
//! account's data and needs an administrator, and so does cancelling a launch.

use domain::{
    event::{Event, EventKind},
    path::EntityType,
    rule::Trigger,
};
use serde_json::json;

use crate::{
    auth::Caller,
    queue::{kinds, NewJob},
    startup::AppState,
    store::{
        launches::{self, NewLaunch},
        rules, StoreError,
    },
};

/// The most entities one launch may name.
pub const MAX_ENTITIES: usize = 10_000;

/// Why a launch was refused.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The entity type is not one a manual rule runs on.
    #[error("{0:?} is not an entity type a rule can run on (leads, contacts or companies)")]
    UnknownEntityType(String),
    /// No entities, too many, or an id that cannot be one.
    #[error("{0}")]
    BadEntityIds(String),
    /// A bulk run by someone who is not an administrator.
    #[error("only an account administrator can run a rule on several entities at once")]
    BulkNeedsAdmin,
    /// The rule does not start by hand, or not for this entity type.
    #[error(
        "the rule cannot be launched by hand on {0}: only manual rules and rules of the \"added\" \
         and \"updated\" kinds of that entity type can"
    )]
    NotManual(&'static str),
    /// The rule is switched off.
    #[error("the rule is disabled")]
    Disabled,
    /// The rule does not exist, or the database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for LaunchError {
    fn from(err: sqlx::Error) -> Self {
        Self::Store(StoreError::Db(err))
    }
}

/// The entity type of a URL name (`leads`).
pub(crate) fn entity_type(name: &str) -> Result<EntityType, LaunchError> {
    match name {
        "leads" => Ok(EntityType::Lead),
        "contacts" => Ok(EntityType::Contact),
        "companies" => Ok(EntityType::Company),
        other => Err(LaunchError::UnknownEntityType(other.to_owned())),
    }
}

/// The entities, checked and without repeats (a repeated id would run the rule twice on it).
pub(crate) fn entity_ids(ids: &[i64]) -> Result<Vec<i64>, LaunchError> {
    if ids.is_empty() || ids.len() > MAX_ENTITIES {
        return Err(LaunchError::BadEntityIds(format!(
            "name between 1 and {MAX_ENTITIES} entities; {} were given",
            ids.len()
        )));
    }
    if let Some(bad) = ids.iter().find(|id| **id <= 0) {
        return Err(LaunchError::BadEntityIds(format!(
            "{bad} is not an entity id"
        )));
    }
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    Ok(ids.iter().copied().filter(|id| seen.insert(*id)).collect())
}

/// What a launch queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Launched {
    /// The launch's id.
    pub launch_id: i64,
    /// How many runs were queued (one per distinct entity).
    pub queued: u64,
}

/// Records a launch of `rule_id` and queues one run per entity, all in one transaction.
pub async fn launch_manual_runs(
    state: &AppState,
    caller: &Caller,
    rule_id: i64,
    request: &domain::api::RunRule,
) -> Result<Launched, LaunchError> {
    let target = entity_type(&request.entity_type)?;
    let ids = entity_ids(&request.entity_ids)?;
    if ids.len() > 1 && !caller.is_admin {
        return Err(LaunchError::BulkNeedsAdmin);
    }
    let rule = rules::get(&state.db, caller.account_id, rule_id).await?;
    let by_hand = serde_json::from_value::<Trigger>(rule.rule["trigger"].clone())
        .ok()
        .and_then(|t| t.launchable_by_hand());
    if by_hand != Some(target) {
        return Err(LaunchError::NotManual(plural(target)));
    }
    if !rule.enabled {
        return Err(LaunchError::Disabled);
    }
    let now = state.clock.now_ms();
    let mut tx = state.db.pool.begin().await?;
    let launch_id = launches::create(
        &mut tx,
        &NewLaunch {
            account_id: caller.account_id,
            rule_id,
            entity_type: request.entity_type.clone(),
            user_id: caller.user_id,
            total: i64::try_from(ids.len()).unwrap_or(i64::MAX),
            created_at: now,
        },
    )
    .await?;
    for id in &ids {
        let event = Event::about(
            target,
            *id,
            EventKind::Manual {
                user_id: Some(caller.user_id),
            },
        );
        let mut job = NewJob::new(
            caller.account_id,
            kinds::RUN_RULE,
            json!({ "rule_id": rule_id, "event": event, "depth": 0, "launch_id": launch_id }),
            now,
        );
        job.rule_id = Some(rule_id);
        job.entity = Some((request.entity_type.clone(), *id));
        job.job_key = Some(launches::job_key(launch_id));
        state.queue.enqueue_in(&mut tx, &job).await?;
    }
    launches::add_runs(&mut tx, caller.account_id, launch_id).await?;
    tx.commit().await?;
    state.queue.wake_workers();
    tracing::info!(
        account.id = caller.account_id,
        rule.id = rule_id,
        launch.id = launch_id,
        runs = ids.len(),
        "manual runs queued"
    );
    Ok(Launched {
        launch_id,
        queued: ids.len() as u64,
    })
}

/// The entity type as a list names it, for messages.
fn plural(entity: EntityType) -> &'static str {
    match entity {
        EntityType::Lead => "leads",
        EntityType::Contact => "contacts",
        EntityType::Company => "companies",
        EntityType::Task => "tasks",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_ids_are_bounded_positive_and_deduplicated() {
        assert_eq!(entity_ids(&[3, 1, 3, 2]).unwrap(), vec![3, 1, 2]);
        assert!(matches!(entity_ids(&[]), Err(LaunchError::BadEntityIds(_))));
        assert!(matches!(
            entity_ids(&[1, 0]),
            Err(LaunchError::BadEntityIds(_))
        ));
        let many: Vec<i64> = (1..=10_001).collect();
        assert!(matches!(
            entity_ids(&many),
            Err(LaunchError::BadEntityIds(_))
        ));
        assert_eq!(entity_ids(&many[..10_000]).unwrap().len(), 10_000);
    }

    #[test]
    fn only_entity_types_of_manual_rules_are_known() {
        assert_eq!(entity_type("leads").unwrap(), EntityType::Lead);
        assert_eq!(entity_type("companies").unwrap(), EntityType::Company);
        assert!(matches!(
            entity_type("tasks"),
            Err(LaunchError::UnknownEntityType(_))
        ));
    }
}
