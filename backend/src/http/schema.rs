//! `/api/v1/account/schema`: the account's schema (pipelines and stages, users, custom fields, task
//! types, tags, Salesbots, loss reasons, timezone, currency, language) as `domain::schema::Schema`,
//! the JSON the widget deserializes and validates rules with. Members read it; it comes from the
//! engine's cache (`engine::schema`) and is read from Kommo when older than
//! `RULEBOOK_SCHEMA_MAX_AGE_S`. Administrators refresh it on demand.

use axum::{extract::State, Json};
use domain::schema::Schema;

use super::{
    body::require_admin,
    dry_run::engine_error,
    routes::{Route, Verb},
    ApiResult,
};
use crate::{auth::Caller, startup::AppState};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::read("/api/v1/account/schema", read),
        Route::admin(Verb::Post, "/api/v1/account/schema/refresh", refresh),
    ]
}

async fn read(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Schema>> {
    let cached = state
        .engine
        .account_schema(caller.account_id)
        .await
        .map_err(engine_error)?;
    Ok(Json(Schema::clone(&cached.schema)))
}

async fn refresh(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Schema>> {
    require_admin(&caller)?;
    let cached = state
        .engine
        .refresh_account_schema(caller.account_id)
        .await
        .map_err(engine_error)?;
    Ok(Json(Schema::clone(&cached.schema)))
}
