//! Incoming events: Kommo account webhooks, digital-pipeline requests, inbound user webhooks and
//! trigger links. Each handler authenticates by the URL's secret (at the widget's static `/hooks/dp`,
//! by the rule key in the action's settings), stores the raw request and queues its processing in
//! one transaction ([`ingest::accept`]), and only then answers 200.

use axum::{
    extract::{Path, State},
    http::{header, HeaderMap},
    response::{IntoResponse, Redirect, Response},
    routing::{any, get, post},
    Json, Router,
};

use super::{body::RawBody, ApiError, ApiResult};
use crate::{
    ingest::{self, authenticate, dedupe, digital_pipeline, Accepted, EventSource, RawEvent},
    startup::AppState,
    store::trigger_links,
};

/// The path of a request as it may be logged: the secrets in hook and trigger-link URLs are
/// replaced by `***` (`/hooks/kommo/42/***`, `/t/***`); other paths are unchanged.
pub fn redact_secret_path(path: &str) -> std::borrow::Cow<'_, str> {
    for prefix in ["/hooks/kommo/", "/hooks/dp/", "/hooks/in/"] {
        if let Some(rest) = path.strip_prefix(prefix) {
            let account = rest.split('/').next().unwrap_or("");
            return format!("{prefix}{account}/***").into();
        }
    }
    if path.starts_with("/t/") {
        return "/t/***".into();
    }
    path.into()
}

pub(super) fn router() -> Router<AppState> {
    Router::new()
        // Kommo's own requests answer 413 past what their parser takes, rather than 200 and a
        // job that can only die.
        .route(
            "/hooks/kommo/{account_id}/{secret}",
            post(kommo_webhook).layer(kommo_body_limit()),
        )
        .route(
            "/hooks/dp",
            post(digital_pipeline_by_rule_key).layer(kommo_body_limit()),
        )
        .route(
            "/hooks/dp/{account_id}/{secret}",
            post(digital_pipeline).layer(kommo_body_limit()),
        )
        .route("/hooks/in/{account_id}/{hook_key}", any(inbound_hook))
        .route("/t/{token}", get(trigger_link).post(trigger_link))
        .route(
            "/t/{token}/{entity_id}/{kind}",
            get(trigger_link_for_entity).post(trigger_link_for_entity),
        )
}

fn kommo_body_limit() -> axum::extract::DefaultBodyLimit {
    axum::extract::DefaultBodyLimit::max(kommo::incoming::MAX_BODY_BYTES)
}

fn refused(err: authenticate::HookAuthError) -> ApiError {
    match err {
        authenticate::HookAuthError::BadSecret => ApiError::unauthorized(
            "hook_unauthorized",
            "This hook URL is not valid; copy it again from Rulebook.",
        ),
        authenticate::HookAuthError::Store(err) => err.into(),
    }
}

fn account_in_path(raw: &str) -> ApiResult<i64> {
    raw.parse()
        .map_err(|_| refused(authenticate::HookAuthError::BadSecret))
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

async fn kommo_webhook(
    State(state): State<AppState>,
    Path((account_id, secret)): Path<(String, String)>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Json<Accepted>> {
    let account_id = account_in_path(&account_id)?;
    authenticate::account_hook(&state.db, account_id, &secret)
        .await
        .map_err(refused)?;
    let event = RawEvent {
        account_id,
        source: EventSource::KommoWebhook,
        dedupe_key: dedupe::kommo_webhook(&body),
        rule_id: None,
        link_id: None,
        entity: None,
        content_type: content_type(&headers),
        body: &body,
    };
    Ok(Json(ingest::accept(&state.queue, &event).await?))
}

async fn digital_pipeline(
    State(state): State<AppState>,
    Path((account_id, secret)): Path<(String, String)>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Json<Accepted>> {
    let account_id = account_in_path(&account_id)?;
    authenticate::account_hook(&state.db, account_id, &secret)
        .await
        .map_err(refused)?;
    let content_type = content_type(&headers);
    let event = RawEvent {
        account_id,
        source: EventSource::DigitalPipeline,
        dedupe_key: dedupe::digital_pipeline(content_type, &body),
        rule_id: None,
        link_id: None,
        entity: None,
        content_type,
        body: &body,
    };
    Ok(Json(ingest::accept(&state.queue, &event).await?))
}

/// The widget's static `dp.webhook_url`: the account is in the body and the action's hidden
/// setting holds the rule's key.
async fn digital_pipeline_by_rule_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Json<Accepted>> {
    let content_type = content_type(&headers);
    let (account_id, rule_key) = digital_pipeline::routing(content_type, &body)
        .ok_or_else(|| refused(authenticate::HookAuthError::BadSecret))?;
    let rule_id = authenticate::inbound_hook(&state.db, account_id, &rule_key)
        .await
        .map_err(refused)?;
    let event = RawEvent {
        account_id,
        source: EventSource::DigitalPipeline,
        dedupe_key: dedupe::digital_pipeline(content_type, &body),
        rule_id: Some(rule_id),
        link_id: None,
        entity: None,
        content_type,
        body: &body,
    };
    Ok(Json(ingest::accept(&state.queue, &event).await?))
}

async fn inbound_hook(
    State(state): State<AppState>,
    Path((account_id, hook_key)): Path<(String, String)>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Json<Accepted>> {
    let account_id = account_in_path(&account_id)?;
    let rule_id = authenticate::inbound_hook(&state.db, account_id, &hook_key)
        .await
        .map_err(refused)?;
    state.inbound_throttle.check(account_id)?;
    let idempotency_key = headers
        .get(dedupe::IDEMPOTENCY_HEADER)
        .and_then(|v| v.to_str().ok());
    let event = RawEvent {
        account_id,
        source: EventSource::InboundHook,
        dedupe_key: dedupe::inbound_hook(idempotency_key),
        rule_id: Some(rule_id),
        link_id: None,
        entity: None,
        content_type: content_type(&headers),
        body: &body,
    };
    Ok(Json(ingest::accept(&state.queue, &event).await?))
}

async fn trigger_link(
    state: State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<Response> {
    record_click(state, &token, None, &headers, body).await
}

/// A manual link: the entity is in the URL (`/t/{token}/{entity_id}/{kind}`, kind 1 contact, 2
/// lead, 3 company), substituted by a template such as `{{lead.id}}`.
async fn trigger_link_for_entity(
    state: State<AppState>,
    Path((token, entity_id, kind)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<Response> {
    let entity = trigger_links::entity_of_kind(&kind)
        .zip(entity_id.parse::<i64>().ok())
        .ok_or_else(|| {
            ApiError::not_found(
                "This link names no contact (1), lead (2) or company (3) with a numeric id.",
            )
        })?;
    record_click(state, &token, Some(entity), &headers, body).await
}

/// Records a click and sends the visitor on to the link's page, if it has one.
async fn record_click(
    State(state): State<AppState>,
    token: &str,
    entity: Option<(&str, i64)>,
    headers: &HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Response> {
    let link = authenticate::trigger_link(&state.db, token)
        .await
        .map_err(refused)?;
    state.inbound_throttle.check(link.account_id)?;
    let event = RawEvent {
        account_id: link.account_id,
        source: EventSource::TriggerLink,
        dedupe_key: dedupe::unique(),
        rule_id: Some(link.rule_id),
        link_id: Some(link.link_id),
        entity,
        content_type: content_type(headers),
        body: &body,
    };
    let accepted = ingest::accept(&state.queue, &event).await?;
    Ok(match link.target_url {
        Some(target) => Redirect::to(&target).into_response(),
        None => Json(accepted).into_response(),
    })
}

#[cfg(test)]
mod tests {
    use super::redact_secret_path;

    #[test]
    fn secrets_in_hook_and_link_paths_are_redacted_for_logs() {
        assert_eq!(
            redact_secret_path("/hooks/kommo/42/s3cr3t"),
            "/hooks/kommo/42/***"
        );
        assert_eq!(
            redact_secret_path("/hooks/dp/42/s3cr3t"),
            "/hooks/dp/42/***"
        );
        assert_eq!(
            redact_secret_path("/hooks/in/42/7-s3cr3t"),
            "/hooks/in/42/***"
        );
        assert_eq!(redact_secret_path("/t/9-s3cr3t"), "/t/***");
        assert_eq!(redact_secret_path("/api/v1/rules/3"), "/api/v1/rules/3");
    }
}
