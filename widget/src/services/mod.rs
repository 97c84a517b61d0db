//! Backend calls: one generic request function and one short function per endpoint.

use serde::de::DeserializeOwned;

use crate::{
    bridge::Backend,
    state::{decode, UiError},
};
use domain::api::{
    AccountSettings, Cancelled, EntityRun, ExecutionEntry, JobInfo, Launch, Me, Queued, RuleRecord,
    RuleSummary, RunRule, SaveRule, Variable,
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

/// `DELETE /api/v1/entities/{type}/{id}/jobs/{job}`: cancels one waiting timer of the entity.
pub async fn cancel_entity_job(
    backend: &Backend,
    entity_type: &str,
    id: i64,
    job: i64,
) -> Result<Cancelled, UiError> {
    request(
        backend,
        "DELETE",
        &format!("/api/v1/entities/{entity_type}/{id}/jobs/{job}"),
        None,
    )
    .await
}

/// `GET /api/v1/entities/{type}/{id}/runs`: the entity's last `limit` rule runs, newest first.
pub async fn entity_runs(
    backend: &Backend,
    entity_type: &str,
    id: i64,
    limit: usize,
) -> Result<Vec<EntityRun>, UiError> {
    request(
        backend,
        "GET",
        &format!("/api/v1/entities/{entity_type}/{id}/runs?limit={limit}"),
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

/// `GET /api/v1/account/settings`: the account's working hours.
pub async fn account_settings(backend: &Backend) -> Result<AccountSettings, UiError> {
    request(backend, "GET", "/api/v1/account/settings", None).await
}

/// `PUT /api/v1/account/settings` (administrators): the settings as kept.
pub async fn save_account_settings(
    backend: &Backend,
    body: &AccountSettings,
) -> Result<AccountSettings, UiError> {
    request(backend, "PUT", "/api/v1/account/settings", json(body)).await
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

/// An inbound webhook receiver as `GET /api/v1/receivers` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Receiver {
    /// Its id.
    pub id: i64,
    /// Its name, unique in the account.
    pub name: String,
    /// Its full URL (a secret: only administrators get it).
    pub url: String,
}

/// One request a receiver logged (`GET /api/v1/receivers/{id}/requests`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ReceiverRequest {
    /// Its id.
    pub id: i64,
    /// The HTTP method.
    pub method: String,
    /// Its `Content-Type`, if it had one.
    #[serde(default)]
    pub content_type: Option<String>,
    /// Its query string, if it had one.
    #[serde(default)]
    pub query: Option<String>,
    /// The start of the body as text.
    #[serde(default)]
    pub body: String,
    /// The size of the whole body, in bytes.
    #[serde(default)]
    pub body_bytes: i64,
    /// Whether only the start of the body was kept.
    #[serde(default)]
    pub truncated: bool,
    /// The variables read from the whole request, by `parent_child` name.
    #[serde(default)]
    pub variables: std::collections::BTreeMap<String, String>,
    /// When it arrived, Unix milliseconds.
    pub received_at: i64,
}

/// `GET /api/v1/receivers`, every page.
pub async fn receivers(backend: &Backend) -> Result<Vec<Receiver>, UiError> {
    all_pages(backend, "/api/v1/receivers").await
}

/// `POST /api/v1/receivers` (a new receiver) or `PUT /api/v1/receivers/{id}` (renamed).
pub async fn save_receiver(
    backend: &Backend,
    id: Option<i64>,
    name: &str,
) -> Result<Receiver, UiError> {
    let body = json(&serde_json::json!({ "name": name }));
    match id {
        Some(id) => request(backend, "PUT", &format!("/api/v1/receivers/{id}"), body).await,
        None => request(backend, "POST", "/api/v1/receivers", body).await,
    }
}

/// `POST /api/v1/receivers/{id}/rotate`: a new URL; the old one stops working.
pub async fn rotate_receiver(backend: &Backend, id: i64) -> Result<Receiver, UiError> {
    request(
        backend,
        "POST",
        &format!("/api/v1/receivers/{id}/rotate"),
        None,
    )
    .await
}

/// `DELETE /api/v1/receivers/{id}`.
pub async fn delete_receiver(backend: &Backend, id: i64) -> Result<(), UiError> {
    send(backend, "DELETE", &format!("/api/v1/receivers/{id}"), None).await
}

/// `GET /api/v1/receivers/{id}/requests?limit=`: the newest `limit` requests, newest first.
pub async fn receiver_requests(
    backend: &Backend,
    id: i64,
    limit: usize,
) -> Result<Vec<ReceiverRequest>, UiError> {
    let path = format!("/api/v1/receivers/{id}/requests?limit={limit}");
    request(backend, "GET", &path, None).await
}

/// A trigger link as `GET /api/v1/links` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct TriggerLink {
    /// Its id: the `N` of `{tglink:N}`.
    pub id: i64,
    /// The rule a click runs.
    pub rule_id: i64,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// The page a click is sent on to.
    #[serde(default)]
    pub target_url: Option<String>,
    /// The entity type of an auto link (`leads`, `contacts`, `companies`).
    #[serde(default)]
    pub entity_type: Option<String>,
    /// The entity of an auto link.
    #[serde(default)]
    pub entity_id: Option<i64>,
    /// Clicks accepted so far.
    #[serde(default)]
    pub clicks: i64,
    /// `auto` (about one entity of its own) or `manual` (the entity is in each URL).
    pub kind: String,
    /// `{tglink:N}`.
    pub variable: String,
    /// Its URL (a secret: only administrators get it).
    pub url: String,
}

/// `GET /api/v1/links`, every page.
pub async fn links(backend: &Backend) -> Result<Vec<TriggerLink>, UiError> {
    all_pages(backend, "/api/v1/links").await
}

/// `POST /api/v1/links` (a new link) or `PUT /api/v1/links/{id}` (changed; URL and clicks stay).
pub async fn save_link(
    backend: &Backend,
    id: Option<i64>,
    body: &serde_json::Value,
) -> Result<TriggerLink, UiError> {
    match id {
        Some(id) => request(backend, "PUT", &format!("/api/v1/links/{id}"), json(body)).await,
        None => request(backend, "POST", "/api/v1/links", json(body)).await,
    }
}

/// `POST /api/v1/links/{id}/rotate`: a new URL; the old one stops working.
pub async fn rotate_link(backend: &Backend, id: i64) -> Result<TriggerLink, UiError> {
    request(backend, "POST", &format!("/api/v1/links/{id}/rotate"), None).await
}

/// `DELETE /api/v1/links/{id}`.
pub async fn delete_link(backend: &Backend, id: i64) -> Result<(), UiError> {
    send(backend, "DELETE", &format!("/api/v1/links/{id}"), None).await
}

/// `GET /api/v1/entities/{type}/search?q=`: leads, contacts or companies by name, phone or email.
pub async fn search_entities(
    backend: &Backend,
    entity_type: &str,
    text: &str,
) -> Result<Vec<domain::api::EntityMatch>, UiError> {
    let query: String = js_sys::encode_uri_component(text).into();
    request(
        backend,
        "GET",
        &format!("/api/v1/entities/{entity_type}/search?q={query}"),
        None,
    )
    .await
}

/// `POST /api/v1/rules/{id}/replay`: the stored event evaluated against the rule as it is now, as
/// a dry run (nothing written); one evaluation per item of the event.
pub async fn replay(
    backend: &Backend,
    rule_id: i64,
    event_id: i64,
) -> Result<serde_json::Value, UiError> {
    request(
        backend,
        "POST",
        &format!("/api/v1/rules/{rule_id}/replay"),
        json(&serde_json::json!({ "event_id": event_id })),
    )
    .await
}
