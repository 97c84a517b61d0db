//! `/api/v1/rules/{id}/dry-run` and `/api/v1/rules/{id}/replay`: the rule evaluated against a live
//! entity, or against a stored event, with nothing written — the plan and the trace the debugger
//! shows ("what would it do", "why didn't it fire"). `/api/v1/rules/dry-run` and
//! `/api/v1/rules/replay` do the same for an unsaved draft sent in the body (`{"rule": …}`).
//!
//! Each answer holds the trace (every block, every condition's actual against expected value),
//! the plan, the rendered texts of each planned action (`texts`), the Kommo requests the executor
//! would send for each (`requests`: method, path, body, recorded by the read-only client from the
//! executor's own code), and the planned timers (`timers`: when each delayed action or block
//! would run). A member sees "send webhook" header values as `***`.

use axum::{extract::State, Json};
use chrono::{DateTime, Utc};
use domain::{
    event::{EntityRef, Event},
    path::EntityType,
    rule::Rule,
};
use serde::{Deserialize, Serialize};

use super::{
    body::{path_id, ApiJson, ApiPath},
    routes::{Access, Route, Verb},
    ApiError, ApiResult,
};
use crate::{
    auth::Caller,
    engine::{events::sample_event, pipeline::DryEvaluation, EngineError},
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
        Route::new(
            Verb::Post,
            "/api/v1/rules/dry-run",
            Access::MemberAction,
            draft_dry_run,
        ),
        Route::new(
            Verb::Post,
            "/api/v1/rules/replay",
            Access::MemberAction,
            draft_replay,
        ),
    ]
}

/// The body of a dry run.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
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

/// The body of a draft's dry run: the unsaved rule and what a dry run takes.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DraftDryRunRequest {
    /// The rule definition, as a save would send it.
    pub(super) rule: serde_json::Value,
    /// The entity to evaluate against.
    #[serde(default)]
    entity_id: Option<i64>,
    /// Its type; the rule's trigger decides when absent.
    #[serde(default)]
    entity_type: Option<EntityType>,
    /// The event to evaluate; one the trigger listens to when absent.
    #[serde(default)]
    event: Option<Event>,
}

/// What a dry run takes besides the rule.
#[derive(Debug)]
struct DryRunFields {
    entity_id: Option<i64>,
    entity_type: Option<EntityType>,
    event: Option<Event>,
}

/// The body of a draft's replay.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DraftReplayRequest {
    /// The rule definition, as a save would send it.
    pub(super) rule: serde_json::Value,
    /// The stored event (as the debugger log names it).
    event_id: i64,
}

/// One evaluation: the event evaluated and what the rule would do.
#[derive(Debug, Serialize)]
struct EvaluatedEvent {
    event: Event,
    #[serde(flatten)]
    evaluation: DryEvaluation,
    /// The rendered texts of the planned actions.
    texts: Vec<RenderedText>,
    /// When each delayed action or block would run.
    timers: Vec<PlannedTimer>,
}

/// One rendered text of a planned action.
#[derive(Debug, Serialize)]
struct RenderedText {
    block: Option<usize>,
    action_index: usize,
    /// Which of the action's texts (`text`, `name`, `fields[0].value`, …).
    field: String,
    text: String,
}

/// A delayed action or block and when it would run.
#[derive(Debug, Serialize)]
struct PlannedTimer {
    /// `action` or `block`.
    kind: &'static str,
    block: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action_index: Option<usize>,
    run_at: DateTime<Utc>,
}

impl EvaluatedEvent {
    fn new(event: Event, evaluation: DryEvaluation) -> Self {
        let plan = &evaluation.evaluation.plan;
        let texts = plan
            .iter()
            .flat_map(|planned| {
                planned
                    .action
                    .templates()
                    .into_iter()
                    .map(|(field, text)| RenderedText {
                        block: planned.block,
                        action_index: planned.action_index,
                        field,
                        text: text.clone(),
                    })
            })
            .collect();
        let now = evaluation.evaluation.trace.evaluated_at;
        let actions = plan.iter().filter_map(|planned| {
            let run_at = planned.run_at.filter(|at| *at > now)?;
            Some(PlannedTimer {
                kind: "action",
                block: planned.block,
                action_index: Some(planned.action_index),
                run_at,
            })
        });
        let blocks = evaluation
            .evaluation
            .deferred_blocks
            .iter()
            .map(|deferred| PlannedTimer {
                kind: "block",
                block: Some(deferred.block),
                action_index: None,
                run_at: deferred.run_at,
            });
        let timers = actions.chain(blocks).collect();
        Self {
            event,
            evaluation,
            texts,
            timers,
        }
    }
}

/// The body of a replay.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
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

/// A draft from a body, read as a save reads it: 422 at `/rule…` when it is not a rule.
pub(super) fn draft_rule(definition: serde_json::Value) -> ApiResult<Rule> {
    let body = rules::parse_rule_body(definition).map_err(|invalid| {
        ApiError::invalid(
            invalid.message.clone(),
            vec![domain::api::FieldError {
                path: format!("/rule{}", invalid.path),
                code: invalid.code.to_owned(),
                message: invalid.message,
            }],
        )
    })?;
    Rule::from_json(&body.as_json().to_string()).map_err(|e| {
        ApiError::unprocessable("invalid", format!("The rule cannot be evaluated: {e}."))
    })
}

async fn dry_run(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<DryRunRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    let rule = stored_rule(&state, &caller, &id).await?;
    let run = DryRunFields {
        entity_id: request.entity_id,
        entity_type: request.entity_type,
        event: request.event,
    };
    evaluate(&state, &caller, &rule, run).await
}

async fn draft_dry_run(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<DraftDryRunRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    let rule = draft_rule(request.rule)?;
    let run = DryRunFields {
        entity_id: request.entity_id,
        entity_type: request.entity_type,
        event: request.event,
    };
    evaluate(&state, &caller, &rule, run).await
}

async fn evaluate(
    state: &AppState,
    caller: &Caller,
    rule: &Rule,
    request: DryRunFields,
) -> ApiResult<Json<serde_json::Value>> {
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
        .dry_run(caller.account_id, rule, event.clone())
        .await
        .map_err(engine_error)?;
    for_caller(caller, EvaluatedEvent::new(event, evaluation))
}

async fn replay(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<ReplayRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    let rule = stored_rule(&state, &caller, &id).await?;
    replay_rule(&state, &caller, &rule, request.event_id).await
}

async fn draft_replay(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<DraftReplayRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    let rule = draft_rule(request.rule)?;
    replay_rule(&state, &caller, &rule, request.event_id).await
}

async fn replay_rule(
    state: &AppState,
    caller: &Caller,
    rule: &Rule,
    event_id: i64,
) -> ApiResult<Json<serde_json::Value>> {
    let evaluations = state
        .engine
        .replay(caller.account_id, rule, event_id)
        .await
        .map_err(engine_error)?;
    let evaluated: Vec<EvaluatedEvent> = evaluations
        .into_iter()
        .map(|(event, evaluation)| EvaluatedEvent::new(event, evaluation))
        .collect();
    for_caller(caller, evaluated)
}
