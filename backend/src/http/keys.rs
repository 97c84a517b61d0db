//! Each rule's own inbound webhook key (the URL every rule has had since before receivers, see
//! `receivers`). Administrators list, rotate and revoke them; members never see them.
//!
//! - `GET /api/v1/inbound-keys`: every rule's inbound key and URL (`null` when revoked), paged.
//! - `POST /api/v1/rules/{id}/inbound-key/rotate`: a new key; the old URL stops working.
//! - `DELETE /api/v1/rules/{id}/inbound-key`: no key reaches the rule until it is rotated.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::Serialize;

use super::{
    body::{path_id, require_admin},
    page::Paged,
    routes::{Route, Verb},
    ApiResult,
};
use crate::{auth::Caller, startup::AppState, store::rules};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::admin(Verb::Get, "/api/v1/inbound-keys", list_inbound_keys),
        Route::admin(
            Verb::Post,
            "/api/v1/rules/{id}/inbound-key/rotate",
            rotate_key,
        ),
        Route::admin(Verb::Delete, "/api/v1/rules/{id}/inbound-key", revoke_key),
    ]
}

fn base(state: &AppState) -> &str {
    state.settings.public_url.as_str().trim_end_matches('/')
}

/// A rule's inbound key and the URL it makes.
#[derive(Serialize, schemars::JsonSchema)]
struct InboundKeyView {
    rule_id: i64,
    name: String,
    inbound_hook_key: Option<String>,
    url: Option<String>,
}

fn inbound_url(state: &AppState, account_id: i64, key: &str) -> String {
    format!("{}/hooks/in/{account_id}/{key}", base(state))
}

async fn list_inbound_keys(
    State(state): State<AppState>,
    caller: Caller,
    Paged(page): Paged,
) -> ApiResult<Json<Vec<InboundKeyView>>> {
    require_admin(&caller)?;
    let keys = rules::list_inbound_keys(&state.db, caller.account_id, page).await?;
    Ok(Json(
        keys.into_iter()
            .map(|k| InboundKeyView {
                url: k
                    .inbound_hook_key
                    .as_deref()
                    .map(|key| inbound_url(&state, caller.account_id, key)),
                rule_id: k.rule_id,
                name: k.name,
                inbound_hook_key: k.inbound_hook_key,
            })
            .collect(),
    ))
}

/// A rotated inbound key.
#[derive(Serialize, schemars::JsonSchema)]
struct RotatedKey {
    rule_id: i64,
    inbound_hook_key: String,
    url: String,
}

async fn rotate_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<RotatedKey>> {
    require_admin(&caller)?;
    let rule_id = path_id(&id, "rule")?;
    let key = rules::rotate_inbound_key(&state.db, caller.account_id, rule_id).await?;
    Ok(Json(RotatedKey {
        rule_id,
        url: inbound_url(&state, caller.account_id, &key),
        inbound_hook_key: key,
    }))
}

async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    require_admin(&caller)?;
    let rule_id = path_id(&id, "rule")?;
    rules::revoke_inbound_key(&state.db, caller.account_id, rule_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
