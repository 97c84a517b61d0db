//! `GET /api/v1/me`: who the disposable token says the caller is. Also records the account as seen.

use axum::{extract::State, Json};
use domain::api::Me;

use super::{routes::Route, ApiResult};
use crate::{auth::Caller, startup::AppState, store::accounts};

pub(super) fn routes() -> Vec<Route> {
    vec![Route::read("/api/v1/me", me)]
}

async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Me>> {
    accounts::ensure_account(
        &state.db,
        caller.account_id,
        &caller.subdomain,
        state.clock.now_ms(),
    )
    .await?;
    Ok(Json(Me {
        account_id: caller.account_id,
        subdomain: caller.subdomain,
        user_id: caller.user_id,
        is_admin: caller.is_admin,
    }))
}
