//! `/api/v1/variables`: the account's global variables. Everyone reads; administrators write.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::get,
    Json, Router,
};
use domain::api::Variable;
use serde::Deserialize;

use super::{
    body::{json_body, require_admin, RawBody},
    ApiError, ApiResult,
};
use crate::{auth::Caller, startup::AppState, store::variables};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/api/v1/variables", get(list)).route(
        "/api/v1/variables/{name}",
        get(read).put(write).delete(remove),
    )
}

/// The body of a write.
#[derive(Debug, Deserialize)]
pub(super) struct WriteVariable {
    pub(super) value: String,
}

async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Variable>>> {
    let list = variables::list_variables(&state.db, caller.account_id).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Variable>> {
    variables::get_variable(&state.db, caller.account_id, &name)
        .await?
        .map(|v| Json(v.into()))
        .ok_or_else(|| ApiError::not_found("No variable with this name exists in your account."))
}

async fn write(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    RawBody(body): RawBody,
) -> ApiResult<Json<Variable>> {
    require_admin(&caller)?;
    let input: WriteVariable = json_body(&body)?;
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
    Path(name): Path<String>,
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
