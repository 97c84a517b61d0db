//! `/api/v1/variables`: the account's global variables. Everyone reads; administrators write.

use axum::{extract::State, http::StatusCode, Json};
use domain::api::Variable;
use serde::Deserialize;

use super::{
    body::{require_admin, ApiJson, ApiPath},
    routes::{Route, Verb},
    ApiError, ApiResult,
};
use crate::{auth::Caller, startup::AppState, store::variables};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::read("/api/v1/variables", list),
        Route::read("/api/v1/variables/{name}", read),
        Route::admin(Verb::Put, "/api/v1/variables/{name}", write),
        Route::admin(Verb::Delete, "/api/v1/variables/{name}", remove),
    ]
}

/// The body of a write.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub(super) struct WriteVariable {
    pub(super) value: String,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    super::page::Paged(page): super::page::Paged,
) -> ApiResult<Json<Vec<Variable>>> {
    let list = variables::list_variables(&state.db, caller.account_id, page).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Variable>> {
    variables::get_variable(&state.db, caller.account_id, &name)
        .await?
        .map(|v| Json(v.into()))
        .ok_or_else(|| ApiError::not_found("No variable with this name exists in your account."))
}

async fn write(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(input): ApiJson<WriteVariable>,
) -> ApiResult<Json<Variable>> {
    require_admin(&caller)?;
    let now = state.clock.now_ms();
    variables::set_variable(&state.db, caller.account_id, &name, &input.value, now).await?;
    Ok(Json(Variable {
        name,
        value: input.value,
        updated_at: now,
    }))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    require_admin(&caller)?;
    if variables::delete_variable(&state.db, caller.account_id, &name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(
            "No variable with this name exists in your account.",
        ))
    }
}
