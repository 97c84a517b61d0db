//! Backend calls: one generic request function and one short function per endpoint.

use serde::de::DeserializeOwned;

use crate::{
    bridge::Backend,
    state::{decode, UiError},
};
use domain::api::{
    Cancelled, ExecutionEntry, JobInfo, Launch, Me, Queued, RuleRecord, RuleSummary, RunRule,
    SaveRule, Variable,
};

/// Sends a request through the bridge and decodes the answer.
pub async fn request<T: DeserializeOwned>(
    backend: &Backend,
    method: &str,
    path: &str,
    body: Option<String>,
) -> Result<T, UiError> {
    decode(&backend.send(method, path, body).await)
}

fn json<T: serde::Serialize>(body: &T) -> Option<String> {
    serde_json::to_string(body).ok()
}

/// Items per page when a whole list is read (the backend's largest page).
const PAGE: usize = 500;

/// Every item of a paged list (`?limit&offset`), page after page until a short one.
async fn all_pages<T: DeserializeOwned>(backend: &Backend, path: &str) -> Result<Vec<T>, UiError> {
    let mut items = Vec::new();
    loop {
        let page: Vec<T> = request(
            backend,
            "GET",
            &format!("{path}?limit={PAGE}&offset={}", items.len()),
            None,
        )
        .await?;
        let full = page.len() == PAGE;
        items.extend(page);
        if !full {
            return Ok(items);
        }
    }
}

/// `GET /api/v1/me`.
pub async fn me(backend: &Backend) -> Result<Me, UiError> {
    request(backend, "GET", "/api/v1/me", None).await
}

/// `GET /api/v1/rules`, every page.
pub async fn rules(backend: &Backend) -> Result<Vec<RuleSummary>, UiError> {
    all_pages(backend, "/api/v1/rules").await
}

/// `GET /api/v1/rules/{id}`.
pub async fn rule(backend: &Backend, id: i64) -> Result<RuleRecord, UiError> {
    request(backend, "GET", &format!("/api/v1/rules/{id}"), None).await
}

/// `POST /api/v1/rules`.
pub async fn create_rule(backend: &Backend, body: &SaveRule) -> Result<RuleRecord, UiError> {
    request(backend, "POST", "/api/v1/rules", json(body)).await
}

/// `PUT /api/v1/rules/{id}`.
pub async fn save_rule(backend: &Backend, id: i64, body: &SaveRule) -> Result<RuleRecord, UiError> {
    request(backend, "PUT", &format!("/api/v1/rules/{id}"), json(body)).await
}

/// `POST /api/v1/rules/{id}/enable` or `/disable`.
pub async fn set_rule_enabled(
    backend: &Backend,
    id: i64,
    enabled: bool,
) -> Result<RuleRecord, UiError> {
    let verb = if enabled { "enable" } else { "disable" };
    request(backend, "POST", &format!("/api/v1/rules/{id}/{verb}"), None).await
}

/// `GET /api/v1/rules/{id}/log`: the rule's last runs, newest first.
pub async fn rule_log(backend: &Backend, id: i64) -> Result<Vec<ExecutionEntry>, UiError> {
    request(backend, "GET", &format!("/api/v1/rules/{id}/log"), None).await
}

/// `GET /api/v1/variables`, every page.
pub async fn variables(backend: &Backend) -> Result<Vec<Variable>, UiError> {
    all_pages(backend, "/api/v1/variables").await
}

/// `GET /api/v1/entities/{type}/{id}/jobs`: the entity's pending timers and failed jobs.
pub async fn entity_jobs(
    backend: &Backend,
    entity_type: &str,
    id: i64,
) -> Result<Vec<JobInfo>, UiError> {
    request(
        backend,
        "GET",
        &format!("/api/v1/entities/{entity_type}/{id}/jobs"),
        None,
    )
    .await
}

/// `DELETE /api/v1/entities/{type}/{id}/jobs`: cancels every pending timer of the entity.
pub async fn cancel_entity_jobs(
    backend: &Backend,
    entity_type: &str,
    id: i64,
) -> Result<Cancelled, UiError> {
    request(
        backend,
        "DELETE",
        &format!("/api/v1/entities/{entity_type}/{id}/jobs"),
        None,
    )
    .await
}

/// `POST /api/v1/rules/{id}/run`: runs a manual rule on entities now.
pub async fn run_rule(backend: &Backend, id: i64, body: &RunRule) -> Result<Queued, UiError> {
    request(
        backend,
        "POST",
        &format!("/api/v1/rules/{id}/run"),
        json(body),
    )
    .await
}

/// `GET /api/v1/launches/{id}`: how a launch's runs went (its first skipped and failed runs).
pub async fn launch(backend: &Backend, id: i64) -> Result<Launch, UiError> {
    request(backend, "GET", &format!("/api/v1/launches/{id}"), None).await
}

/// `POST /api/v1/launches/{id}/cancel`: the runs not yet started are cancelled.
pub async fn cancel_launch(backend: &Backend, id: i64) -> Result<Launch, UiError> {
    request(
        backend,
        "POST",
        &format!("/api/v1/launches/{id}/cancel"),
        Some("{}".into()),
    )
    .await
}

/// `GET /api/v1/account/schema`: the account's pipelines, users, fields, task types, tags, bots.
pub async fn schema(backend: &Backend) -> Result<domain::schema::Schema, UiError> {
    request(backend, "GET", "/api/v1/account/schema", None).await
}

/// Sends a request whose answer carries nothing to read (a `204 No Content` delete, a move): any
/// 2xx is success, anything else the user-facing error.
pub async fn send(
    backend: &Backend,
    method: &str,
    path: &str,
    body: Option<String>,
) -> Result<(), UiError> {
    let raw = backend.send(method, path, body).await;
    if (200..300).contains(&raw.status) {
        Ok(())
    } else {
        Err(UiError::from_response(&raw))
    }
}
