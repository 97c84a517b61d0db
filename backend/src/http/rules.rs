//! `/api/v1/rules`: the account's rules, their versions, their debugger log and trigger links.
//! Everyone in the account reads; only administrators write.

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post},
    Json, Router,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    body::{json_body, path_id, require_admin},
    ApiResult,
};
use crate::{
    auth::Caller,
    startup::AppState,
    store::{
        accounts,
        execution_log::{self, Execution},
        rules::{self, parse_rule_body, Rule, RuleEdit, RuleName, RuleSummary, RuleVersion},
        trigger_links::{self, TriggerLink},
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

/// The body of a create or a save.
#[derive(Debug, Deserialize)]
struct SaveRule {
    name: String,
    rule: Value,
    /// On save: the version the edit started from; a newer stored version answers 409.
    #[serde(default)]
    expected_version: Option<i64>,
}

async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<RuleSummary>>> {
    Ok(Json(rules::list(&state.db, caller.account_id).await?))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Rule>)> {
    require_admin(&caller)?;
    let input: SaveRule = json_body(&body)?;
    let name = RuleName::parse(&input.name).map_err(crate::store::StoreError::from)?;
    let rule = parse_rule_body(input.rule).map_err(crate::store::StoreError::from)?;
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
    Ok((StatusCode::CREATED, Json(created)))
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Rule>> {
    Ok(Json(
        rules::get(&state.db, caller.account_id, path_id(&id, "rule")?).await?,
    ))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Rule>> {
    require_admin(&caller)?;
    let id = path_id(&id, "rule")?;
    let input: SaveRule = json_body(&body)?;
    let name = RuleName::parse(&input.name).map_err(crate::store::StoreError::from)?;
    let rule = parse_rule_body(input.rule).map_err(crate::store::StoreError::from)?;
    let now = state.clock.now_ms();
    let edit = RuleEdit {
        name,
        body: rule,
        expected_version: input.expected_version,
    };
    let saved = rules::update(&state.db, caller.account_id, caller.user_id, id, &edit, now).await?;
    Ok(Json(saved))
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

async fn enable(state: State<AppState>, caller: Caller, id: Path<String>) -> ApiResult<Json<Rule>> {
    switch(state, caller, id, true).await
}

async fn disable(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
) -> ApiResult<Json<Rule>> {
    switch(state, caller, id, false).await
}

async fn switch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    on: bool,
) -> ApiResult<Json<Rule>> {
    require_admin(&caller)?;
    let rule = rules::set_enabled(
        &state.db,
        caller.account_id,
        path_id(&id, "rule")?,
        on,
        state.clock.now_ms(),
    )
    .await?;
    if on {
        // Its held jobs may be due already.
        state.queue.wake_workers();
    }
    Ok(Json(rule))
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
) -> ApiResult<Json<Vec<Execution>>> {
    let id = path_id(&id, "rule")?;
    rules::get(&state.db, caller.account_id, id).await?;
    Ok(Json(
        execution_log::list_executions(&state.db, caller.account_id, id).await?,
    ))
}

/// The body of a new trigger link: optionally the entity the click is about.
#[derive(Debug, Default, Deserialize)]
struct NewLink {
    entity_type: Option<String>,
    entity_id: Option<i64>,
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
    body: Bytes,
) -> ApiResult<(StatusCode, Json<CreatedLink>)> {
    require_admin(&caller)?;
    let id = path_id(&id, "rule")?;
    let input: NewLink = if body.is_empty() {
        NewLink::default()
    } else {
        json_body(&body)?
    };
    let entity = input.entity_type.as_deref().zip(input.entity_id);
    let link = trigger_links::create_link(
        &state.db,
        caller.account_id,
        id,
        entity,
        state.clock.now_ms(),
    )
    .await?;
    let url = format!(
        "{}/t/{}",
        state.settings.public_url.as_str().trim_end_matches('/'),
        link.token
    );
    Ok((StatusCode::CREATED, Json(CreatedLink { link, url })))
}
