//! `POST /api/v1/rules/{id}/run`: a rule run by hand now on entities (the card button, bulk runs
//! from a list); answers 202 with how many runs were queued and the launch's id. `GET
//! /api/v1/launches/{id}`: how the launch's runs went; `POST /api/v1/launches/{id}/cancel`
//! (administrators): its runs not yet started are cancelled. See [`crate::launch`] for who may.

use axum::{extract::State, http::StatusCode, Json};
use domain::api::{Launch, Queued, RunRule};

use super::{
    body::{path_id, ApiJson, ApiPath},
    page::{Paged, DEFAULT_LIMIT},
    routes::{Access, Route, Verb},
    ApiError, ApiResult,
};
use crate::{
    auth::Caller,
    launch::{self, LaunchError},
    startup::AppState,
    store::{launches, Page},
};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new(
            Verb::Post,
            "/api/v1/rules/{id}/run",
            Access::MemberAction,
            run,
        ),
        Route::read("/api/v1/launches/{id}", show),
        Route::admin(Verb::Post, "/api/v1/launches/{id}/cancel", cancel),
    ]
}

async fn run(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<RunRule>,
) -> ApiResult<(StatusCode, Json<Queued>)> {
    let id = path_id(&id, "rule")?;
    let launched = launch::launch_manual_runs(&state, &caller, id, &request)
        .await
        .map_err(launch_error)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Queued {
            queued: launched.queued,
            launch_id: launched.launch_id,
        }),
    ))
}

/// The launch with its counts; its skipped and failed runs are paged (`?limit=`, `?offset=`).
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    Paged(page): Paged,
) -> ApiResult<Json<Launch>> {
    let id = path_id(&id, "launch")?;
    Ok(Json(
        launches::get(&state.db, caller.account_id, id, page).await?,
    ))
}

/// Cancels the runs not yet started and answers the launch as it then stands (its first page).
async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Launch>> {
    let id = path_id(&id, "launch")?;
    let now = state.clock.now_ms();
    let cancelled = launches::cancel(&state.db, caller.account_id, id, now).await?;
    tracing::info!(
        account.id = caller.account_id,
        launch.id = id,
        cancelled,
        "launch cancelled"
    );
    let first = Page {
        limit: DEFAULT_LIMIT,
        offset: 0,
    };
    Ok(Json(
        launches::get(&state.db, caller.account_id, id, first).await?,
    ))
}

pub(super) fn launch_error(err: LaunchError) -> ApiError {
    let sentence = |err: &LaunchError| {
        let text = err.to_string();
        let mut chars = text.chars();
        let first: String = chars
            .next()
            .map(|c| c.to_uppercase().collect())
            .unwrap_or_default();
        format!("{first}{}.", chars.as_str())
    };
    match err {
        LaunchError::UnknownEntityType(_) | LaunchError::BadEntityIds(_) => {
            ApiError::unprocessable("invalid_entities", sentence(&err))
        }
        LaunchError::BulkNeedsAdmin => ApiError::forbidden("admin_required", sentence(&err)),
        LaunchError::NotManual(_) => ApiError::unprocessable("not_manual", sentence(&err)),
        LaunchError::Disabled => ApiError::conflict(
            "rule_disabled",
            "The rule is disabled; enable it to run it.",
        ),
        LaunchError::Store(e) => e.into(),
    }
}
