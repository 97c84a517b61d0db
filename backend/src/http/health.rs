//! `GET /health`: the process is up and its database answers.

use axum::{extract::State, routing::get, Json, Router};
use serde_json::{json, Value};

use super::ApiResult;
use crate::{db, startup::AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

async fn health(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    db::ping(&state.db).await?;
    Ok(Json(
        json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }),
    ))
}
