//! `/api/v1/entities/{type}/…`: what the widget needs to show an entity as the engine sees it.
//! `search` finds leads, contacts or companies in Kommo (for previews), `snapshot` is the engine's
//! own snapshot of one (fields, related entities, tasks, tags) that the widget renders templates
//! and conditions against with `domain`, and `runs` answers "why didn't anything happen to it":
//! every rule run for its events, newest first, with the conditions that did not hold.

use axum::{extract::State, Json};
use domain::{
    api::{EntityMatch, EntityRun},
    event::EntityRef,
    path::EntityType,
    snapshot::Snapshot,
};
use kommo::models::EntityKind;
use serde::Deserialize;

use super::{
    body::{path_id, ApiPath, ApiQuery},
    dry_run::engine_error,
    page::Paged,
    routes::Route,
    ApiError, ApiResult,
};
use crate::{auth::Caller, engine::snapshot, startup::AppState, store::execution_log};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::read("/api/v1/entities/{entity_type}/search", search),
        Route::read(
            "/api/v1/entities/{entity_type}/{entity_id}/snapshot",
            entity_snapshot,
        ),
        Route::read("/api/v1/entities/{entity_type}/{entity_id}/runs", runs),
    ]
}

/// The most matches a search answers (Kommo's first page).
pub const SEARCH_LIMIT: usize = 50;

/// The longest search text, in characters.
const SEARCH_MAX_CHARS: usize = 200;

/// A lead, contact or company type as the path names it (`leads`, `contacts`, `companies`).
pub(super) fn kommo_entity(segment: &str) -> ApiResult<EntityType> {
    match segment {
        "leads" => Ok(EntityType::Lead),
        "contacts" => Ok(EntityType::Contact),
        "companies" => Ok(EntityType::Company),
        _ => Err(ApiError::not_found(
            "No such entity type here; use leads, contacts or companies.",
        )),
    }
}

/// The search text of `?q=`: trimmed, not empty, at most [`SEARCH_MAX_CHARS`] characters.
pub(super) fn search_text(raw: Option<&str>) -> ApiResult<String> {
    let text = raw.unwrap_or_default().trim();
    if text.is_empty() {
        return Err(ApiError::bad_request(
            "bad_query",
            "Say what to search for: `?q=` a name, phone, email or id.",
        ));
    }
    if text.chars().count() > SEARCH_MAX_CHARS {
        return Err(ApiError::bad_request(
            "bad_query",
            format!("The search text is longer than {SEARCH_MAX_CHARS} characters."),
        ));
    }
    Ok(text.to_owned())
}

/// The search text of a whole query string, read as the handler reads it (for the fuzz target).
pub(super) fn search_query(raw: &str) -> ApiResult<String> {
    let query: SearchQuery = serde_urlencoded::from_str(raw).map_err(|e| {
        ApiError::bad_request(
            "bad_query",
            format!("The query string cannot be read: {e}."),
        )
    })?;
    search_text(query.q.as_deref())
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct SearchQuery {
    #[serde(default)]
    q: Option<String>,
}

async fn search(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(entity_type): ApiPath<String>,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> ApiResult<Json<Vec<EntityMatch>>> {
    let entity_type = kommo_entity(&entity_type)?;
    let text = search_text(query.q.as_deref())?;
    let kind: EntityKind = snapshot::kind_of(entity_type)
        .ok_or_else(|| ApiError::not_found("No such entity type here."))?;
    Ok(Json(
        state
            .engine
            .search_entities(caller.account_id, kind, &text, SEARCH_LIMIT)
            .await
            .map_err(engine_error)?,
    ))
}

async fn entity_snapshot(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((entity_type, entity_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<Snapshot>> {
    let entity = EntityRef {
        entity_type: kommo_entity(&entity_type)?,
        id: path_id(&entity_id, "entity")?,
    };
    Ok(Json(
        state
            .engine
            .entity_snapshot(caller.account_id, entity)
            .await
            .map_err(engine_error)?,
    ))
}

async fn runs(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((entity_type, entity_id)): ApiPath<(String, String)>,
    Paged(page): Paged,
) -> ApiResult<Json<Vec<EntityRun>>> {
    // Task events are logged under their task too.
    let entity_type = match entity_type.as_str() {
        "tasks" => EntityType::Task,
        other => kommo_entity(other)?,
    };
    let id = path_id(&entity_id, "entity")?;
    let runs = execution_log::entity_runs(
        &state.db,
        caller.account_id,
        snapshot::table_name(entity_type),
        id,
        page,
    )
    .await?;
    // Each run's trace as the rule's log shows it to this caller (a member sees no secrets).
    Ok(Json(
        runs.into_iter()
            .map(|run| EntityRun {
                trace: super::rules::shown_to(&caller, run.trace.clone()),
                ..run
            })
            .collect(),
    ))
}
