//! `/api/v1/rules/{id}/dry-run` and `/api/v1/rules/{id}/replay`: the rule evaluated against a live
//! entity, or against a stored event, with nothing written — the plan and the trace the debugger
//! shows ("what would it do", "why didn't it fire"). A member sees "send webhook" header values as
//! `***`.

use axum::{extract::State, Json};
use domain::{
    eval::Evaluation,
    event::{EntityRef, Event},
    path::EntityType,
};
use serde::{Deserialize, Serialize};

use super::{
    body::{path_id, ApiJson, ApiPath},
    routes::{Access, Route, Verb},
    ApiError, ApiResult,
};
use crate::{
    auth::Caller,
    engine::{events::sample_event, EngineError},
    startup::AppState,
    store::rules,
};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new(
            Verb::Post,
            "/api/v1/rules/{id}/dry-run",
            Access::MemberAction,
            dry_run,
        ),
        Route::new(
            Verb::Post,
            "/api/v1/rules/{id}/replay",
            Access::MemberAction,
            replay,
        ),
    ]
}

/// The body of a dry run.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DryRunRequest {
    /// The entity to evaluate against.
    #[serde(default)]
    entity_id: Option<i64>,
    /// Its type; the rule's trigger decides when absent (a lead for most).
    #[serde(default)]
    entity_type: Option<EntityType>,
    /// The event to evaluate; one the trigger listens to when absent.
    #[serde(default)]
    event: Option<Event>,
}

/// One evaluation: the event evaluated and what the rule would do.
#[derive(Debug, Serialize)]
struct EvaluatedEvent {
    event: Event,
    #[serde(flatten)]
    evaluation: Evaluation,
}

/// The body of a replay.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReplayRequest {
    /// The stored event (as the debugger log names it).
    event_id: i64,
}

/// `body` as JSON, as the caller may see it.
fn for_caller<T: Serialize>(caller: &Caller, body: T) -> ApiResult<Json<serde_json::Value>> {
    let value = serde_json::to_value(body).map_err(ApiError::internal)?;
    Ok(Json(super::rules::shown_to(caller, value)))
}

pub(super) fn engine_error(err: EngineError) -> ApiError {
    match err {
        EngineError::NotConnected(_) => ApiError::conflict(
            "not_connected",
            "This account has not connected Rulebook to Kommo yet; connect it first.",
        ),
        // A dry run that tried to change something, or a job's error: a defect of ours.
        e @ (EngineError::Store(_)
        | EngineError::ReadOnly(_)
        | EngineError::Superseded(_)
        | EngineError::Kommo(kommo::KommoError::ReadOnly(_))) => ApiError::internal(e),
        EngineError::Kommo(kommo::KommoError::NotFound) => {
            ApiError::not_found("Kommo has no such entity in your account.")
        }
        EngineError::Kommo(e) => ApiError::conflict(
            "kommo_unavailable",
            format!("Kommo could not be read just now ({e}); try again in a moment."),
        ),
        EngineError::Malformed(message) => {
            ApiError::not_found(format!("{}.", message.trim_end_matches('.')))
        }
    }
}

async fn stored_rule(
    state: &AppState,
    caller: &Caller,
    raw_id: &str,
) -> ApiResult<domain::rule::Rule> {
    let id = path_id(raw_id, "rule")?;
    let stored = rules::get(&state.db, caller.account_id, id).await?;
    domain::rule::Rule::from_json(&stored.rule.to_string()).map_err(|e| {
        ApiError::conflict(
            "rule_unreadable",
            format!("The stored rule cannot be evaluated: {e}."),
        )
    })
}

async fn dry_run(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<DryRunRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    let rule = stored_rule(&state, &caller, &id).await?;
    let entity_type = request
        .entity_type
        .or_else(|| rule.trigger.entity_type())
        .unwrap_or(EntityType::Lead);
    let entity = request.entity_id.map(|id| EntityRef { entity_type, id });
    let event = match request.event {
        Some(mut event) => {
            event.entity = event.entity.or(entity);
            event
        }
        None => sample_event(&rule.trigger, entity),
    };
    let evaluation = state
        .engine
        .dry_run(caller.account_id, &rule, event.clone())
        .await
        .map_err(engine_error)?;
    for_caller(&caller, EvaluatedEvent { event, evaluation })
}

async fn replay(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<ReplayRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    let rule = stored_rule(&state, &caller, &id).await?;
    let evaluations = state
        .engine
        .replay(caller.account_id, &rule, request.event_id)
        .await
        .map_err(engine_error)?;
    let evaluated: Vec<EvaluatedEvent> = evaluations
        .into_iter()
        .map(|(event, evaluation)| EvaluatedEvent { event, evaluation })
        .collect();
    for_caller(&caller, evaluated)
}
