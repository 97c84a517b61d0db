//! `/api/v1/account/schema`: the account's schema (pipelines and stages, users, custom fields, task
//! types, tags, Salesbots, loss reasons, timezone, currency, language) as `domain::schema::Schema`,
//! the JSON the widget deserializes and validates rules with. Members read it; it comes from the
//! engine's cache (`engine::schema`) and is read from Kommo when older than
//! `RULEBOOK_SCHEMA_MAX_AGE_S`. Administrators refresh it on demand. Each answer carries the
//! timezone's UTC offsets from two years back to ten ahead of now (`utc_offsets`): the widget has
//! no timezone database and reads dates in them.

use axum::{extract::State, Json};
use domain::{schema::Schema, zone::Zone};

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
    Ok(Json(with_offsets(&cached.schema, &state)))
}

async fn refresh(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Schema>> {
    require_admin(&caller)?;
    let cached = state
        .engine
        .refresh_account_schema(caller.account_id)
        .await
        .map_err(engine_error)?;
    Ok(Json(with_offsets(&cached.schema, &state)))
}

/// The schema with its timezone's offsets around now (none for a zone the database lacks).
fn with_offsets(schema: &Schema, state: &AppState) -> Schema {
    let mut schema = schema.clone();
    let now = chrono::DateTime::from_timestamp_millis(state.clock.now_ms()).unwrap_or_default();
    let years = |n: i64| chrono::Duration::days(365 * n);
    schema.utc_offsets =
        Zone::named(&schema.timezone).map(|zone| zone.utc_offsets(now - years(2), now + years(10)));
    schema
}
