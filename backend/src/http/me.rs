//! `GET /api/v1/me`: who the disposable token says the caller is. Also records the account as seen.

use axum::{extract::State, routing::get, Json, Router};
use domain::api::Me;

use super::ApiResult;
use crate::{auth::Caller, startup::AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/api/v1/me", get(me))
}

async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Me>> {
    let now = chrono::Utc::now().timestamp();
    sqlx::query(
        "INSERT INTO accounts (account_id, subdomain, created_at, last_seen_at) VALUES ($1, $2, $3, $3)
         ON CONFLICT (account_id) DO UPDATE SET subdomain = excluded.subdomain, last_seen_at = excluded.last_seen_at",
    )
    .bind(caller.account_id)
    .bind(&caller.subdomain)
    .bind(now)
    .execute(&state.db.pool)
    .await?;
    Ok(Json(Me {
        account_id: caller.account_id,
        subdomain: caller.subdomain,
        user_id: caller.user_id,
        is_admin: caller.is_admin,
    }))
}
