//! `/api/v1/rules`: the account's rules, their versions, their debugger log and trigger links.
//! Everyone in the account reads; only administrators write. Bodies are `domain::api` types, the
//! ones the widget uses. Members see no secret: no inbound key, no DP key, and "send webhook"
//! header values `***` in rules, versions and the log. Lists, histories and the log are paged
//! (`?limit&offset`).
//!
//! A rule is checked before it is stored or enabled ([`check_definition`]): `domain::validate`'s
//! limits always, and what it names of the account (custom fields, users, pipelines, stages,
//! Salesbots) against the account's cached schema. Every problem answers 422 with a JSON pointer
//! into the rule.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    Json,
};
use domain::{
    api::{ExecutionEntry, FieldError, RuleRecord, RuleSummary, SaveRule},
    rule::Rule,
    validate::{validate, validate_with, ProblemCode},
};
use serde::Deserialize;

use super::{
    body::{optional_json_body, path_id, require_admin, ApiJson, ApiPath, RawBody},
    page::Paged,
    routes::{Route, Verb},
    ApiError, ApiResult,
};
use crate::{
    auth::Caller,
    ingest::digital_pipeline,
    startup::AppState,
    store::{
        accounts, execution_log,
        rules::{self, parse_rule_body, RuleEdit, RuleName, RuleVersion},
        trigger_links::{self, NewTriggerLink},
        StoreError,
    },
};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::read("/api/v1/rules", list),
        Route::admin(Verb::Post, "/api/v1/rules", create),
        Route::read("/api/v1/rules/{id}", read),
        Route::admin(Verb::Put, "/api/v1/rules/{id}", update),
        Route::admin(Verb::Delete, "/api/v1/rules/{id}", remove),
        Route::admin(Verb::Post, "/api/v1/rules/{id}/enable", enable),
        Route::admin(Verb::Post, "/api/v1/rules/{id}/disable", disable),
        Route::read("/api/v1/rules/{id}/history", history),
        Route::read("/api/v1/rules/{id}/log", log),
        Route::admin(Verb::Post, "/api/v1/rules/{id}/links", create_link),
    ]
}

/// The name and definition of a create or a save, checked.
async fn parse_save(
    state: &AppState,
    caller: &Caller,
    input: &SaveRule,
) -> ApiResult<(RuleName, rules::RuleBody)> {
    let (name, rule) = parse_save_body(input)?;
    check_definition(state, caller.account_id, rule.as_json()).await?;
    Ok((name, rule))
}

/// The name and definition of a create or a save, parsed (before the account is consulted).
pub(super) fn parse_save_body(input: &SaveRule) -> ApiResult<(RuleName, rules::RuleBody)> {
    let name = RuleName::parse(&input.name).map_err(StoreError::from)?;
    let rule = parse_rule_body(input.rule.clone()).map_err(StoreError::from)?;
    Ok((name, rule))
}

/// A definition read as a save reads it, before the account is consulted.
pub(super) fn parse_rule_body_checked(value: serde_json::Value) -> ApiResult<rules::RuleBody> {
    Ok(parse_rule_body(value).map_err(StoreError::from)?)
}

/// Refuses a definition that is not fit to store or enable: `domain::validate`'s problems against
/// the account's schema (its limits, and the custom fields, operators, list values, users,
/// pipelines, stages and Salesbots it names), and the parts Kommo's public API cannot serve. Any
/// validation problem answers 422 `invalid` with every problem at its JSON pointer; only parts
/// Kommo cannot serve answer 422 `unavailable_in_kommo`. Saving, enabling and importing all call
/// this one function.
///
/// The schema is the engine's cached one (read from Kommo when older than the configured age). When
/// the rule names something the schema lacks and the schema is older than
/// [`RECHECK_AFTER_MS`], it is read again first, so that a field created a moment ago is accepted.
/// When Kommo cannot be read and nothing is stored, only the limits are checked (and logged so).
pub(crate) async fn check_definition(
    state: &AppState,
    account_id: i64,
    definition: &serde_json::Value,
) -> ApiResult<()> {
    // A definition that does not parse was refused by `parse_rule_body` already (or, stored, is
    // not this check's concern).
    let Ok(rule) = Rule::from_json(&definition.to_string()) else {
        return Ok(());
    };
    let cached = validation_schema(state, account_id).await;
    let mut problems = validate_with(&rule, cached.as_ref().map(|c| c.schema.as_ref()));
    let names_unknown = problems.iter().any(|p| {
        matches!(
            p.code,
            ProblemCode::UnknownField
                | ProblemCode::UnknownUser
                | ProblemCode::UnknownPipeline
                | ProblemCode::UnknownStage
                | ProblemCode::UnknownSalesbot
        )
    });
    let stale = cached
        .as_ref()
        .is_some_and(|c| state.clock.now_ms() - c.fetched_at > RECHECK_AFTER_MS);
    if names_unknown && stale {
        match state.engine.refresh_account_schema(account_id).await {
            Ok(fresh) => {
                problems = validate(&rule, &fresh.schema);
            }
            Err(err) => {
                tracing::warn!(account.id = account_id, error = %err, "the account's schema could not be read again; the rule is checked against the stored one");
            }
        }
    }
    let unavailable = unavailable_in_kommo(&rule);
    if problems.is_empty() {
        return refuse_unavailable(unavailable);
    }
    let detail = format!(
        "The rule has {} at {}: {}.",
        if problems.len() == 1 {
            "a problem".to_owned()
        } else {
            format!("{} problems; the first", problems.len())
        },
        if problems[0].path.is_empty() {
            "its top"
        } else {
            problems[0].path.as_str()
        },
        problems[0].message.trim_end_matches('.')
    );
    let mut errors: Vec<FieldError> = problems.into_iter().map(Into::into).collect();
    errors.extend(unavailable);
    Err(ApiError::invalid(detail, errors))
}

/// How old a schema must be before a rule naming something it lacks makes it read again.
pub(crate) const RECHECK_AFTER_MS: i64 = 60_000;

/// The schema to check rules with: the cached one (read from Kommo when none is fresh), else the
/// stored one however old when Kommo cannot be read; `None` when there is none (the account is
/// not connected, or Kommo has never answered), and then only the limits are checked.
async fn validation_schema(
    state: &AppState,
    account_id: i64,
) -> Option<std::sync::Arc<crate::engine::schema::CachedSchema>> {
    let err = match state.engine.account_schema(account_id).await {
        Ok(cached) => return Some(cached),
        Err(err) => err,
    };
    match state.engine.stored_account_schema(account_id).await {
        Ok(Some(stored)) => {
            tracing::warn!(account.id = account_id, error = %err, "the account's schema could not be read; rules are checked against the stored one");
            Some(stored)
        }
        Ok(None) | Err(_) => {
            tracing::warn!(account.id = account_id, error = %err, "the account's schema is not known; only the rule's limits are checked");
            None
        }
    }
}

/// The stable code of a rule part Kommo's public API cannot serve.
const UNAVAILABLE_IN_KOMMO: &str = domain::unavailable::CODE;

/// The parts of a rule whose trigger or actions cannot work through Kommo's public API
/// (`domain::unavailable`, the list the builder reads too), so that such a rule is never saved or
/// enabled to silently never fire or fail later. Each field error's path is a JSON pointer into the
/// definition (`/trigger`, `/blocks/0/actions/1`), as `domain::validate`'s are. Rules stored before
/// this check still load and list; they only cannot be enabled, or saved as they are.
fn unavailable_in_kommo(rule: &Rule) -> Vec<FieldError> {
    domain::unavailable::in_rule(rule)
        .into_iter()
        .map(|(path, what)| FieldError {
            path,
            code: UNAVAILABLE_IN_KOMMO.into(),
            message: what.reason().into(),
        })
        .collect()
}

/// Answers 422 `unavailable_in_kommo` when a rule has parts Kommo cannot serve.
fn refuse_unavailable(errors: Vec<FieldError>) -> ApiResult<()> {
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

/// What a caller may see of a rule definition, a version or a trace: all of it for an
/// administrator; without webhook header values for a member.
pub(super) fn shown_to(caller: &Caller, mut value: serde_json::Value) -> serde_json::Value {
    if !caller.is_admin {
        domain::api::redact_webhook_headers(&mut value);
    }
    value
}

/// A rule as the caller may see it: an administrator gets its DP key too; a member gets no inbound
/// key, no DP key and no header values.
pub(super) async fn record(
    state: &AppState,
    caller: &Caller,
    rule: rules::Rule,
) -> ApiResult<RuleRecord> {
    if !caller.is_admin {
        let mut record = RuleRecord::from(rule);
        record.inbound_hook_key = String::new();
        record.rule = shown_to(caller, record.rule);
        return Ok(record);
    }
    let dp_key = digital_pipeline::key_of_rule(&state.db, caller.account_id, rule.id).await?;
    let mut record = RuleRecord::from(rule);
    record.dp_key = dp_key;
    Ok(record)
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Paged(page): Paged,
) -> ApiResult<Json<Vec<RuleSummary>>> {
    let rules = rules::list(&state.db, caller.account_id, page).await?;
    Ok(Json(rules.into_iter().map(Into::into).collect()))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<SaveRule>,
) -> ApiResult<(StatusCode, Json<RuleRecord>)> {
    require_admin(&caller)?;
    let (name, rule) = parse_save(&state, &caller, &input).await?;
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
    let created = record(&state, &caller, created).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<RuleRecord>> {
    let rule = rules::get(&state.db, caller.account_id, path_id(&id, "rule")?).await?;
    Ok(Json(record(&state, &caller, rule).await?))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<SaveRule>,
) -> ApiResult<Json<RuleRecord>> {
    require_admin(&caller)?;
    let id = path_id(&id, "rule")?;
    let (name, rule) = parse_save(&state, &caller, &input).await?;
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
    Ok(Json(record(&state, &caller, saved).await?))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    require_admin(&caller)?;
    rules::delete(&state.db, caller.account_id, path_id(&id, "rule")?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn enable(
    state: State<AppState>,
    caller: Caller,
    id: ApiPath<String>,
) -> ApiResult<Json<RuleRecord>> {
    switch(state, caller, id, true).await
}

async fn disable(
    state: State<AppState>,
    caller: Caller,
    id: ApiPath<String>,
) -> ApiResult<Json<RuleRecord>> {
    switch(state, caller, id, false).await
}

async fn switch(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    on: bool,
) -> ApiResult<Json<RuleRecord>> {
    require_admin(&caller)?;
    let id = path_id(&id, "rule")?;
    if on {
        let stored = rules::get(&state.db, caller.account_id, id).await?;
        check_definition(&state, caller.account_id, &stored.rule).await?;
    }
    let rule =
        rules::set_enabled(&state.db, caller.account_id, id, on, state.clock.now_ms()).await?;
    if on {
        // Its held jobs may be due already.
        state.queue.wake_workers();
        state.engine.schedules_changed(caller.account_id);
    }
    Ok(Json(record(&state, &caller, rule).await?))
}

async fn history(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    Paged(page): Paged,
) -> ApiResult<Json<Vec<RuleVersion>>> {
    let versions =
        rules::history(&state.db, caller.account_id, path_id(&id, "rule")?, page).await?;
    Ok(Json(
        versions
            .into_iter()
            .map(|v| RuleVersion {
                rule: shown_to(&caller, v.rule),
                ..v
            })
            .collect(),
    ))
}

async fn log(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    Paged(page): Paged,
) -> ApiResult<Json<Vec<ExecutionEntry>>> {
    let id = path_id(&id, "rule")?;
    rules::get(&state.db, caller.account_id, id).await?;
    let entries = execution_log::list_executions(&state.db, caller.account_id, id, page).await?;
    Ok(Json(
        entries
            .into_iter()
            .map(|e| {
                let entry = ExecutionEntry::from(e);
                ExecutionEntry {
                    trace: shown_to(&caller, entry.trace.clone()),
                    ..entry
                }
            })
            .collect(),
    ))
}

/// The body of a new trigger link: a name, the page to open, and optionally the entity every click
/// is about.
#[derive(Debug, Default, Deserialize)]
pub(super) struct NewLink {
    name: Option<String>,
    target_url: Option<String>,
    entity_type: Option<String>,
    entity_id: Option<i64>,
}

/// The link a create-link body asks for (an empty body asks for a plain link).
pub(super) fn new_link(input: NewLink) -> NewTriggerLink {
    NewTriggerLink {
        name: input.name,
        target_url: input.target_url,
        entity: input.entity_type.zip(input.entity_id),
    }
}

async fn create_link(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<super::links::LinkView>)> {
    require_admin(&caller)?;
    let id = path_id(&id, "rule")?;
    let link = new_link(optional_json_body(&headers, &body)?);
    let link = trigger_links::create_link(
        &state.db,
        caller.account_id,
        id,
        &link,
        state.clock.now_ms(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(super::links::link_view(&state, link)),
    ))
}
