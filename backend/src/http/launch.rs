//! `POST /api/v1/rules/{id}/run`: a manual rule run now on entities (the card button, bulk runs
//! from a list). Answers 202 with how many runs were queued; see [`crate::launch`] for who may.

use axum::{extract::State, http::StatusCode, Json};
use domain::api::{Queued, RunRule};

use super::{
    body::{path_id, ApiJson, ApiPath},
    routes::{Access, Route, Verb},
    ApiError, ApiResult,
};
use crate::{
    auth::Caller,
    launch::{self, LaunchError},
    startup::AppState,
};

pub(super) fn routes() -> Vec<Route> {
    vec![Route::new(
        Verb::Post,
        "/api/v1/rules/{id}/run",
        Access::MemberAction,
        run,
    )]
}

async fn run(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<RunRule>,
) -> ApiResult<(StatusCode, Json<Queued>)> {
    let id = path_id(&id, "rule")?;
    let queued = launch::launch_manual_runs(&state, &caller, id, &request)
        .await
        .map_err(launch_error)?;
    Ok((StatusCode::ACCEPTED, Json(Queued { queued })))
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
