//! `/api/v1/rules`: the account's rules, their versions, their debugger log and trigger links.
//! Everyone in the account reads; only administrators write. Bodies are `domain::api` types, the
//! ones the widget uses.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post},
    Json, Router,
};
use domain::{
    api::{ExecutionEntry, FieldError, RuleRecord, RuleSummary, SaveRule},
    rule::{Action, ActionKind, Trigger},
};
use serde::{Deserialize, Serialize};

use super::{
    body::{json_body, path_id, require_admin, RawBody},
    ApiError, ApiResult,
};
use crate::{
    auth::Caller,
    startup::AppState,
    store::{
        accounts, execution_log,
        rules::{self, parse_rule_body, RuleEdit, RuleName, RuleVersion},
        trigger_links::{self, NewTriggerLink, TriggerLink},
        StoreError,
    },
};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/rules", get(list).post(create))
        .route("/api/v1/rules/{id}", get(read).put(update).delete(remove))
        .route("/api/v1/rules/{id}/enable", post(enable))
        .route("/api/v1/rules/{id}/disable", post(disable))
        .route("/api/v1/rules/{id}/history", get(history))
        .route("/api/v1/rules/{id}/log", get(log))
        .route("/api/v1/rules/{id}/links", post(create_link))
}

/// The name and definition of a create or a save, checked.
pub(super) fn parse_save(body: &[u8]) -> ApiResult<(SaveRule, RuleName, rules::RuleBody)> {
    let input: SaveRule = json_body(body)?;
    let name = RuleName::parse(&input.name).map_err(StoreError::from)?;
    let rule = parse_rule_body(input.rule.clone()).map_err(StoreError::from)?;
    refuse_unavailable_in_kommo(rule.as_json())?;
    Ok((input, name, rule))
}

/// The stable code of a rule part Kommo's public API cannot serve.
const UNAVAILABLE_IN_KOMMO: &str = "unavailable_in_kommo";

/// Refuses a definition whose trigger or actions cannot work through Kommo's public API, so that
/// such a rule is never saved or enabled to silently never fire or fail later. Each field error's
/// path points into the definition (`trigger`, `blocks[0].actions[1]`), as `domain::validate`'s
/// do. Rules stored before this check still load and list; they only cannot be enabled, or saved
/// as they are.
fn refuse_unavailable_in_kommo(definition: &serde_json::Value) -> ApiResult<()> {
    // A definition that does not parse was refused by `parse_rule_body` already (or, stored, is
    // not this check's concern).
    let Ok(rule) = domain::rule::Rule::from_json(&definition.to_string()) else {
        return Ok(());
    };
    let mut errors = Vec::new();
    if let Trigger::OutgoingMessageSeen { .. } = rule.trigger {
        errors.push(FieldError {
            path: "trigger".into(),
            code: UNAVAILABLE_IN_KOMMO.into(),
            message: "The trigger \"outgoing message seen\" cannot work: Kommo tells integrations \
                      nothing when a client reads a message (only the chat channel that delivered \
                      it learns the read status)."
                .into(),
        });
    }
    let mut check = |actions: &[Action], at: String| {
        for (a, action) in actions.iter().enumerate() {
            if let ActionKind::ChatSubscription { .. } = action.kind {
                errors.push(FieldError {
                    path: format!("{at}.actions[{a}]"),
                    code: UNAVAILABLE_IN_KOMMO.into(),
                    message: "The action \"chat subscription\" cannot work: Kommo's public API \
                              offers no way to subscribe users to a lead's chat."
                        .into(),
                });
            }
        }
    };
    for (b, block) in rule.blocks.iter().enumerate() {
        check(&block.actions, format!("blocks[{b}]"));
    }
    if let Some(scenario) = &rule.else_scenario {
        check(&scenario.actions, "else_scenario".into());
    }
    if errors.is_empty() {
        return Ok(());
    }
    let detail = if errors.len() == 1 {
        errors[0].message.clone()
    } else {
        format!(
            "{} parts of this rule cannot work through Kommo's public API: {}",
            errors.len(),
            errors
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        )
    };
    Err(ApiError::unprocessable(UNAVAILABLE_IN_KOMMO, detail).with_errors(errors))
}

async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<RuleSummary>>> {
    let rules = rules::list(&state.db, caller.account_id).await?;
    Ok(Json(rules.into_iter().map(Into::into).collect()))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<RuleRecord>)> {
    require_admin(&caller)?;
    let (_, name, rule) = parse_save(&body)?;
    let now = state.clock.now_ms();
    accounts::ensure_account(&state.db, caller.account_id, &caller.subdomain, now).await?;
    let created = rules::create(
        &state.db,
        caller.account_id,
        caller.user_id,
        &name,
        &rule,
        now,
    )
    .await?;
    state.engine.schedules_changed(caller.account_id);
    Ok((StatusCode::CREATED, Json(created.into())))
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<RuleRecord>> {
    let rule = rules::get(&state.db, caller.account_id, path_id(&id, "rule")?).await?;
    Ok(Json(rule.into()))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> ApiResult<Json<RuleRecord>> {
    require_admin(&caller)?;
    let id = path_id(&id, "rule")?;
    let (input, name, rule) = parse_save(&body)?;
    let edit = RuleEdit {
        name,
        body: rule,
        expected_version: input.expected_version,
    };
    let saved = rules::update(
        &state.db,
        caller.account_id,
        caller.user_id,
        id,
        &edit,
        state.clock.now_ms(),
    )
    .await?;
    state.engine.schedules_changed(caller.account_id);
    Ok(Json(saved.into()))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    require_admin(&caller)?;
    rules::delete(&state.db, caller.account_id, path_id(&id, "rule")?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn enable(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
) -> ApiResult<Json<RuleRecord>> {
    switch(state, caller, id, true).await
}

async fn disable(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
) -> ApiResult<Json<RuleRecord>> {
    switch(state, caller, id, false).await
}

async fn switch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    on: bool,
) -> ApiResult<Json<RuleRecord>> {
    require_admin(&caller)?;
    let id = path_id(&id, "rule")?;
    if on {
        let stored = rules::get(&state.db, caller.account_id, id).await?;
        refuse_unavailable_in_kommo(&stored.rule)?;
    }
    let rule =
        rules::set_enabled(&state.db, caller.account_id, id, on, state.clock.now_ms()).await?;
    if on {
        // Its held jobs may be due already.
        state.queue.wake_workers();
        state.engine.schedules_changed(caller.account_id);
    }
    Ok(Json(rule.into()))
}

async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<RuleVersion>>> {
    Ok(Json(
        rules::history(&state.db, caller.account_id, path_id(&id, "rule")?).await?,
    ))
}

async fn log(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ExecutionEntry>>> {
    let id = path_id(&id, "rule")?;
    rules::get(&state.db, caller.account_id, id).await?;
    let entries = execution_log::list_executions(&state.db, caller.account_id, id).await?;
    Ok(Json(entries.into_iter().map(Into::into).collect()))
}

/// The body of a new trigger link: a name, the page to open, and optionally the entity every click
/// is about.
#[derive(Debug, Default, Deserialize)]
struct NewLink {
    name: Option<String>,
    target_url: Option<String>,
    entity_type: Option<String>,
    entity_id: Option<i64>,
}

/// The link a create-link body asks for (an empty body asks for a plain link).
pub(super) fn parse_new_link(body: &[u8]) -> ApiResult<NewTriggerLink> {
    let input: NewLink = if body.is_empty() {
        NewLink::default()
    } else {
        json_body(body)?
    };
    Ok(NewTriggerLink {
        name: input.name,
        target_url: input.target_url,
        entity: input.entity_type.zip(input.entity_id),
    })
}

/// A created trigger link and its full URL.
#[derive(Debug, Serialize)]
struct CreatedLink {
    #[serde(flatten)]
    link: TriggerLink,
    url: String,
}

async fn create_link(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<CreatedLink>)> {
    require_admin(&caller)?;
    let id = path_id(&id, "rule")?;
    let link = parse_new_link(&body)?;
    let link = trigger_links::create_link(
        &state.db,
        caller.account_id,
        id,
        &link,
        state.clock.now_ms(),
    )
    .await?;
    let base = state.settings.public_url.as_str().trim_end_matches('/');
    let url = format!("{base}/t/{}", link.token);
    Ok((StatusCode::CREATED, Json(CreatedLink { link, url })))
}
