//! `/api/v1/account/…`: the account's webhook URLs (with their secret; administrators only), their
//! rotation (which moves Kommo's webhook subscription to the new URL) and the account's statistics;
//! `/api/v1/rules/stats`: each rule's runs, fires, errors and last run; `/api/v1/account/settings`:
//! settings Kommo's API does not expose (working hours), read by members, changed by administrators.

use axum::{extract::State, Json};

use super::{body::ApiJson, ApiError};
use domain::api::{AccountStats, RuleStats};
use serde::Serialize;

use super::{
    body::require_admin,
    page::Paged,
    routes::{Route, Verb},
    ApiResult,
};
use crate::{
    auth::Caller,
    startup::AppState,
    store::{
        account_settings::{self, AccountSettings},
        accounts, execution_log,
    },
};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::admin(Verb::Get, "/api/v1/account/hooks", hook_urls),
        Route::admin(Verb::Post, "/api/v1/account/hooks/rotate", rotate),
        Route::read("/api/v1/account/stats", stats),
        Route::read("/api/v1/rules/stats", rule_stats),
        Route::read("/api/v1/account/settings", settings),
        Route::admin(Verb::Put, "/api/v1/account/settings", save_settings),
    ]
}

/// The URLs to give Kommo: account webhooks and the digital-pipeline action.
#[derive(Debug, Serialize, schemars::JsonSchema)]
struct HookUrls {
    kommo_webhook_url: String,
    digital_pipeline_url: String,
}

fn hook_urls_for(state: &AppState, account_id: i64, secret: &str) -> HookUrls {
    let base = state
        .settings
        .public_url
        .as_str()
        .trim_end_matches('/')
        .to_string();
    HookUrls {
        kommo_webhook_url: format!("{base}/hooks/kommo/{account_id}/{secret}"),
        digital_pipeline_url: format!("{base}/hooks/dp/{account_id}/{secret}"),
    }
}

async fn hook_urls(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<HookUrls>> {
    require_admin(&caller)?;
    accounts::ensure_account(
        &state.db,
        caller.account_id,
        &caller.subdomain,
        state.clock.now_ms(),
    )
    .await?;
    let secret = accounts::ensure_webhook_secret(&state.db, caller.account_id).await?;
    Ok(Json(hook_urls_for(&state, caller.account_id, &secret)))
}

async fn rotate(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<HookUrls>> {
    require_admin(&caller)?;
    accounts::ensure_account(
        &state.db,
        caller.account_id,
        &caller.subdomain,
        state.clock.now_ms(),
    )
    .await?;
    // A connected account's Kommo webhook moves to the new URL before the old one is refused.
    let secret = crate::connect::rotate_webhook_secret(&state, caller.account_id)
        .await
        .map_err(super::oauth::connect_error)?;
    Ok(Json(hook_urls_for(&state, caller.account_id, &secret)))
}

async fn stats(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<AccountStats>> {
    Ok(Json(
        execution_log::account_stats(&state.db, caller.account_id, state.clock.now_ms()).await?,
    ))
}

async fn settings(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<AccountSettings>> {
    Ok(Json(
        account_settings::get(&state.db, caller.account_id).await?,
    ))
}

/// Settings as a request body: refused with 422, a sentence and a pointer per problem when they
/// cannot be kept.
pub(super) fn checked_settings(input: AccountSettings) -> ApiResult<AccountSettings> {
    let errors = account_settings::check(&input);
    match errors.first() {
        None => Ok(input),
        Some(first) => Err(ApiError::invalid(first.message.clone(), errors)),
    }
}

async fn save_settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<AccountSettings>,
) -> ApiResult<Json<AccountSettings>> {
    require_admin(&caller)?;
    let input = checked_settings(input)?;
    account_settings::put(&state.db, caller.account_id, &input, state.clock.now_ms()).await?;
    Ok(Json(input))
}

async fn rule_stats(
    State(state): State<AppState>,
    caller: Caller,
    Paged(page): Paged,
) -> ApiResult<Json<Vec<RuleStats>>> {
    Ok(Json(
        execution_log::rule_stats(&state.db, caller.account_id, page).await?,
    ))
}
