//! `/api/v1/entities/{type}/{id}/jobs`: the pending and dead jobs of one entity, and cancelling them
//! (all of them: administrators; one timer from the entity's card: any user, as pressing a rule's
//! button is);
//! `/api/v1/jobs/dead` and `/api/v1/jobs/{id}/retry`: the dead-letter jobs, and another go for one.

use axum::{extract::State, Json};
use serde_json::{json, Value};

use super::{
    body::{path_id, require_admin, ApiPath},
    page::Paged,
    routes::{Access, Route, Verb},
    ApiError, ApiResult,
};
use crate::{
    auth::Caller,
    queue::{JobFilter, JobInfo},
    startup::AppState,
};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::read("/api/v1/entities/{entity_type}/{entity_id}/jobs", list),
        Route::admin(
            Verb::Delete,
            "/api/v1/entities/{entity_type}/{entity_id}/jobs",
            cancel,
        ),
        Route::new(
            Verb::Delete,
            "/api/v1/entities/{entity_type}/{entity_id}/jobs/{job_id}",
            Access::MemberAction,
            cancel_one,
        ),
        Route::read("/api/v1/jobs/dead", list_dead),
        Route::admin(Verb::Post, "/api/v1/jobs/{id}/retry", retry),
    ]
}

/// The filter for one entity; the type is a short lowercase word such as `leads`.
fn entity_filter(entity_type: String, entity_id: &str) -> ApiResult<JobFilter> {
    let plausible = !entity_type.is_empty()
        && entity_type.len() <= 32
        && entity_type
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_');
    if !plausible {
        return Err(ApiError::not_found(
            "No such entity type; use e.g. leads, contacts or companies.",
        ));
    }
    let id = path_id(entity_id, "entity")?;
    Ok(JobFilter {
        entity: Some((entity_type, id)),
        ..JobFilter::default()
    })
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((entity_type, entity_id)): ApiPath<(String, String)>,
    Paged(page): Paged,
) -> ApiResult<Json<Vec<JobInfo>>> {
    let filter = entity_filter(entity_type, &entity_id)?;
    Ok(Json(
        state
            .queue
            .list_jobs_page(caller.account_id, &filter, page)
            .await?,
    ))
}

async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((entity_type, entity_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    require_admin(&caller)?;
    let filter = entity_filter(entity_type, &entity_id)?;
    let cancelled = state.queue.cancel_jobs(caller.account_id, &filter).await?;
    Ok(Json(json!({ "cancelled": cancelled })))
}

async fn cancel_one(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((entity_type, entity_id, job_id)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let filter = entity_filter(entity_type, &entity_id)?;
    let job_id = path_id(&job_id, "timer")?;
    let Some((entity_type, entity_id)) = filter.entity else {
        return Err(ApiError::not_found("No such entity."));
    };
    if state
        .queue
        .cancel_entity_job(caller.account_id, (&entity_type, entity_id), job_id)
        .await?
    {
        Ok(Json(json!({ "cancelled": 1 })))
    } else {
        Err(ApiError::not_found(
            "No waiting timer with this id on this entity; it may have run or been cancelled already.",
        ))
    }
}

async fn list_dead(
    State(state): State<AppState>,
    caller: Caller,
    Paged(page): Paged,
) -> ApiResult<Json<Vec<JobInfo>>> {
    Ok(Json(
        state.queue.list_dead_jobs(caller.account_id, page).await?,
    ))
}

async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    require_admin(&caller)?;
    let id = path_id(&id, "dead job")?;
    if state.queue.retry_dead_job(caller.account_id, id).await? {
        Ok(Json(json!({ "retrying": id })))
    } else {
        Err(ApiError::not_found(
            "No dead job with this id exists in your account.",
        ))
    }
}
