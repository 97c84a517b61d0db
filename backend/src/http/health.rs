//! `GET /health`: the process is up and its database answers.

use axum::{extract::State, Json};
use serde_json::{json, Value};

use super::{
    routes::{Access, Route, Verb},
    ApiResult,
};
use crate::{db, startup::AppState};

pub(super) fn routes() -> Vec<Route> {
    vec![Route::new(Verb::Get, "/health", Access::Public, health)]
}

async fn health(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    db::ping(&state.db).await?;
    Ok(Json(
        json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }),
    ))
}
