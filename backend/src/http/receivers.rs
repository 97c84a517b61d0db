//! `/api/v1/receivers`: the account's inbound webhook receivers and their last requests. A
//! receiver's URL is a secret and a request's body is customer data, so every route is for
//! administrators only, reads included.
//!
//! - `GET /api/v1/receivers`: the receivers with their URLs, by name, paged.
//! - `POST /api/v1/receivers` `{"name"}`: a new receiver with a new URL (201).
//! - `PUT /api/v1/receivers/{id}` `{"name"}`: renamed; the URL stays.
//! - `POST /api/v1/receivers/{id}/rotate`: a new URL; the old one answers 404 from now on.
//! - `DELETE /api/v1/receivers/{id}`: gone with its requests; its URL answers 404.
//! - `GET /api/v1/receivers/{id}/requests`: its last 100 requests, newest first, paged.
//! - `GET /api/v1/receivers/{id}/requests/{request_id}`: one request, with `event`: the inbound
//!   event it makes, ready to be a dry run's `event`.

use axum::{extract::State, http::StatusCode, Json};
use domain::event::{Event, EventKind};
use serde::{Deserialize, Serialize};

use super::{
    body::{path_id, require_admin, ApiJson, ApiPath},
    page::Paged,
    routes::{Route, Verb},
    ApiResult,
};
use crate::{
    auth::Caller,
    startup::AppState,
    store::receivers::{self, Receiver, ReceiverRequest},
};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::admin(Verb::Get, "/api/v1/receivers", list),
        Route::admin(Verb::Post, "/api/v1/receivers", create),
        Route::admin(Verb::Put, "/api/v1/receivers/{id}", rename),
        Route::admin(Verb::Delete, "/api/v1/receivers/{id}", delete),
        Route::admin(Verb::Post, "/api/v1/receivers/{id}/rotate", rotate),
        Route::admin(Verb::Get, "/api/v1/receivers/{id}/requests", requests),
        Route::admin(
            Verb::Get,
            "/api/v1/receivers/{id}/requests/{request_id}",
            request,
        ),
    ]
}

/// The body of a create or a rename.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NameReceiver {
    pub(super) name: String,
}

/// A receiver with its full URL.
#[derive(Serialize, schemars::JsonSchema)]
struct ReceiverView {
    #[serde(flatten)]
    receiver: Receiver,
    url: String,
}

fn view(state: &AppState, account_id: i64, receiver: Receiver) -> ReceiverView {
    let base = state.settings.public_url.as_str().trim_end_matches('/');
    ReceiverView {
        url: format!("{base}/hooks/in/{account_id}/{}", receiver.key),
        receiver,
    }
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Paged(page): Paged,
) -> ApiResult<Json<Vec<ReceiverView>>> {
    require_admin(&caller)?;
    let list = receivers::list(&state.db, caller.account_id, page).await?;
    Ok(Json(
        list.into_iter()
            .map(|r| view(&state, caller.account_id, r))
            .collect(),
    ))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<NameReceiver>,
) -> ApiResult<(StatusCode, Json<ReceiverView>)> {
    require_admin(&caller)?;
    let receiver = receivers::create(
        &state.db,
        caller.account_id,
        &input.name,
        state.clock.now_ms(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(view(&state, caller.account_id, receiver)),
    ))
}

async fn rename(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<NameReceiver>,
) -> ApiResult<Json<ReceiverView>> {
    require_admin(&caller)?;
    let id = path_id(&id, "receiver")?;
    let receiver = receivers::rename(&state.db, caller.account_id, id, &input.name).await?;
    Ok(Json(view(&state, caller.account_id, receiver)))
}

async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ReceiverView>> {
    require_admin(&caller)?;
    let id = path_id(&id, "receiver")?;
    let receiver = receivers::rotate(&state.db, caller.account_id, id).await?;
    Ok(Json(view(&state, caller.account_id, receiver)))
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    require_admin(&caller)?;
    let id = path_id(&id, "receiver")?;
    receivers::delete(&state.db, caller.account_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn requests(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    Paged(page): Paged,
) -> ApiResult<Json<Vec<ReceiverRequest>>> {
    require_admin(&caller)?;
    let id = path_id(&id, "receiver")?;
    Ok(Json(
        receivers::list_requests(&state.db, caller.account_id, id, page).await?,
    ))
}

/// A stored request and the inbound event it makes.
#[derive(Serialize, schemars::JsonSchema)]
struct RequestView {
    #[serde(flatten)]
    request: ReceiverRequest,
    /// The event a rule on this receiver evaluates (without the contact the run looks up from
    /// the variables): a dry run's or a template preview's `event`.
    event: Event,
}

async fn request(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, request_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<RequestView>> {
    require_admin(&caller)?;
    let id = path_id(&id, "receiver")?;
    let request_id = path_id(&request_id, "request")?;
    let request = receivers::get_request(&state.db, caller.account_id, id, request_id).await?;
    let event = Event {
        entity: None,
        kind: EventKind::InboundWebhook {
            hook_id: String::new(),
            receiver_id: Some(id),
            found: None,
        },
        vars: request.variables.clone(),
    };
    Ok(Json(RequestView { request, event }))
}
