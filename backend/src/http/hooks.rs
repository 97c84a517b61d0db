//! Incoming events: Kommo account webhooks, digital-pipeline requests, inbound user webhooks and
//! trigger links. Each handler authenticates by the URL's secret (a digital-pipeline request also
//! by the rule's DP key in the action's settings; a manual trigger link also by the MAC of the
//! entity it names), stores the raw request and queues its processing in one transaction
//! ([`ingest::commit::Ingest::accept`]), and only then answers 200.

use axum::{
    extract::{RawQuery, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
    Json,
};

use super::{
    body::{ApiPath, RawBody},
    routes::{Route, Verb},
    ApiError, ApiResult,
};
use crate::{
    ingest::{
        authenticate, dedupe, digital_pipeline, salesbot, Accepted, EventSource, RawEvent,
        ReceiverCall,
    },
    startup::AppState,
    store::{accounts, receivers, trigger_links},
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

pub(super) fn routes() -> Vec<Route> {
    vec![
        // Kommo's own requests answer 413 past what their parser takes, rather than 200 and a
        // job that can only die.
        Route::hook(
            Verb::Post,
            "/hooks/kommo/{account_id}/{secret}",
            kommo_webhook,
        )
        .body_limit(kommo::incoming::MAX_BODY_BYTES),
        Route::hook(Verb::Post, "/hooks/dp", digital_pipeline_by_rule_key)
            .body_limit(kommo::incoming::MAX_BODY_BYTES),
        Route::hook(
            Verb::Post,
            "/hooks/dp/{account_id}/{secret}",
            digital_pipeline,
        )
        .body_limit(kommo::incoming::MAX_BODY_BYTES),
        Route::hook(Verb::Post, "/hooks/salesbot", salesbot_step)
            .body_limit(kommo::incoming::MAX_BODY_BYTES),
        Route::hook(Verb::Any, "/hooks/in/{account_id}/{hook_key}", inbound_hook),
        Route::hook(Verb::Get, "/t/{token}", trigger_link),
        Route::hook(Verb::Post, "/t/{token}", trigger_link),
        Route::hook(
            Verb::Get,
            "/t/{token}/{entity_id}/{kind}",
            unsigned_manual_link,
        ),
        Route::hook(
            Verb::Post,
            "/t/{token}/{entity_id}/{kind}",
            unsigned_manual_link,
        ),
        Route::hook(
            Verb::Get,
            "/t/{token}/{entity_id}/{kind}/{mac}",
            trigger_link_for_entity,
        ),
        Route::hook(
            Verb::Post,
            "/t/{token}/{entity_id}/{kind}/{mac}",
            trigger_link_for_entity,
        ),
    ]
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
    ApiPath((account_id, secret)): ApiPath<(String, String)>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Json<Accepted>> {
    let account_id = account_in_path(&account_id)?;
    authenticate::account_hook(&state.db, account_id, &secret)
        .await
        .map_err(refused)?;
    // The account is the URL's: a body without `account[id]` (older amoCRM accounts, Kommo's
    // task samples) is about it, and a body naming another account is not this URL's to take.
    if let Ok(Some(named)) = kommo::incoming::webhook_account_id(&body) {
        if named != account_id {
            return Err(ApiError::unprocessable(
                "other_account",
                "The webhook's body names another Kommo account than its URL; it was not accepted.",
            ));
        }
    }
    let event = RawEvent {
        account_id,
        source: EventSource::KommoWebhook,
        dedupe_key: dedupe::kommo_webhook(&body),
        rule_id: None,
        link_id: None,
        entity: None,
        content_type: content_type(&headers),
        query: None,
        body: &body,
        receiver: None,
    };
    Ok(Json(state.ingest.accept(&event).await?))
}

/// The account's own DP URL: the path proves the account, and the action's settings must still
/// carry the DP key of the rule to run, for this account.
async fn digital_pipeline(
    State(state): State<AppState>,
    ApiPath((account_id, secret)): ApiPath<(String, String)>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Json<Accepted>> {
    let account_id = account_in_path(&account_id)?;
    authenticate::account_hook(&state.db, account_id, &secret)
        .await
        .map_err(refused)?;
    let content_type = content_type(&headers);
    let (named, rule_key) = digital_pipeline::routing(content_type, &body)
        .filter(|(named, _)| *named == account_id)
        .ok_or_else(|| refused(authenticate::HookAuthError::BadSecret))?;
    accept_digital_pipeline(&state, named, &rule_key, content_type, &body).await
}

/// The widget's static `dp.webhook_url`: the account is in the body and the action's hidden
/// setting holds the rule's DP key.
async fn digital_pipeline_by_rule_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Json<Accepted>> {
    let content_type = content_type(&headers);
    let (account_id, rule_key) = digital_pipeline::routing(content_type, &body)
        .ok_or_else(|| refused(authenticate::HookAuthError::BadSecret))?;
    accept_digital_pipeline(&state, account_id, &rule_key, content_type, &body).await
}

/// Stores a digital-pipeline request as an event of exactly the rule its DP key names.
async fn accept_digital_pipeline(
    state: &AppState,
    account_id: i64,
    rule_key: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> ApiResult<Json<Accepted>> {
    let rule_id = authenticate::dp_key(&state.db, account_id, rule_key)
        .await
        .map_err(refused)?;
    let event = RawEvent {
        account_id,
        source: EventSource::DigitalPipeline,
        dedupe_key: dedupe::digital_pipeline(rule_id, content_type, body),
        rule_id: Some(rule_id),
        link_id: None,
        entity: None,
        content_type,
        query: None,
        body,
        receiver: None,
    };
    Ok(Json(state.ingest.accept(&event).await?))
}

/// A Salesbot's `widget_request` step (the widget saves it with `url: "<backend>/hooks/salesbot"`
/// and `data: {rule_id}`): the bot token (HS512, the integration's secret) names the account and
/// the entity; the request is stored and its rule queued, and the bot is continued once the rule
/// has run (`engine::pipeline`). A token that does not verify gets 401 (nothing can be continued
/// for it), a body without a step to continue 400; a rule that is unknown, disabled or cannot run
/// on the entity is accepted and answered through the bot, which continues with status `error`.
async fn salesbot_step(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Json<Accepted>> {
    let content_type = content_type(&headers);
    let request = salesbot::parse_request(content_type, &body).map_err(salesbot_refused)?;
    let claims = salesbot::BotTokenVerifier::new(&state.settings)
        .verify(&request.token, state.clock.now_ms().div_euclid(1000))
        .map_err(salesbot_refused)?;
    let account_id = claims.account_id;
    if !accounts::is_known(&state.db, account_id).await? {
        return Err(ApiError::conflict(
            "not_connected",
            "This account has not connected Rulebook to Kommo yet; connect it first.",
        ));
    }
    let call = salesbot::StoredCall::new(&request, &claims);
    let stored = call.to_body();
    let event = RawEvent {
        account_id,
        source: EventSource::Salesbot,
        dedupe_key: call.dedupe_key(),
        rule_id: salesbot::rule_of(&request.data),
        link_id: None,
        entity: salesbot::entity_table(&claims.entity_type).map(|t| (t, claims.entity_id)),
        content_type: Some("application/json"),
        query: None,
        body: &stored,
        receiver: None,
    };
    Ok(Json(state.ingest.accept(&event).await?))
}

fn salesbot_refused(err: salesbot::SalesbotError) -> ApiError {
    match err {
        salesbot::SalesbotError::BadToken(why) => {
            tracing::info!(reason = why, "Salesbot token rejected");
            ApiError::unauthorized("bot_token_invalid", why)
        }
        salesbot::SalesbotError::Malformed(why) => {
            ApiError::bad_request("salesbot_request_invalid", why)
        }
    }
}

/// An inbound webhook: a receiver's URL (`r{id}-{secret}`: every enabled rule whose trigger names
/// the receiver runs, and the request is logged) or a rule's own (`{rule_id}-{secret}`).
async fn inbound_hook(
    State(state): State<AppState>,
    ApiPath((account_id, hook_key)): ApiPath<(String, String)>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Json<Accepted>> {
    let account_id = account_in_path(&account_id)?;
    let (rule_id, receiver) = match receivers::split_key(&hook_key) {
        Some((receiver_id, presented)) => {
            authenticate::receiver(&state.db, account_id, receiver_id, presented)
                .await
                .map_err(|err| match err {
                    authenticate::HookAuthError::BadSecret => no_such_receiver(),
                    err => refused(err),
                })?;
            let call = ReceiverCall {
                receiver_id,
                method: method.as_str(),
                body_cap: state.settings.receiver_log_max_body_bytes,
            };
            (None, Some(call))
        }
        None => {
            let rule_id = authenticate::inbound_hook(&state.db, account_id, &hook_key)
                .await
                .map_err(refused)?;
            (Some(rule_id), None)
        }
    };
    state.inbound_throttle.check(account_id)?;
    let idempotency_key = headers
        .get(dedupe::IDEMPOTENCY_HEADER)
        .and_then(|v| v.to_str().ok());
    let event = RawEvent {
        account_id,
        source: EventSource::InboundHook,
        dedupe_key: dedupe::inbound_hook(idempotency_key),
        rule_id,
        link_id: None,
        entity: None,
        content_type: content_type(&headers),
        query: query.as_deref(),
        body: &body,
        receiver,
    };
    Ok(Json(state.ingest.accept(&event).await?))
}

/// A receiver URL that names no receiver of the account, or not with this key (rotated or
/// deleted): there is nothing at this path.
fn no_such_receiver() -> ApiError {
    ApiError::not_found("No receiver has this URL; copy the receiver's URL again from Rulebook.")
}

async fn trigger_link(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<Response> {
    let link = authenticate::trigger_link(&state.db, &token)
        .await
        .map_err(refused)?;
    record_click(&state, &link, None, &headers, body).await
}

fn unsigned_entity() -> ApiError {
    ApiError::not_found(
        "This link does not name a contact (1), lead (2) or company (3) it was made for; \
         use the link exactly as Rulebook wrote it.",
    )
}

/// A manual link without the signature of its entity (`/t/{token}/{entity_id}/{kind}`): it cannot
/// say which entity it was made for.
async fn unsigned_manual_link() -> ApiError {
    unsigned_entity()
}

/// A manual link: the entity is in the URL (`/t/{token}/{entity_id}/{kind}/{mac}`, kind 1
/// contact, 2 lead, 3 company) with its MAC, as `{tglink:N}` renders it; a forged or changed
/// entity gets 404.
async fn trigger_link_for_entity(
    State(state): State<AppState>,
    ApiPath((token, entity_id, kind, mac)): ApiPath<(String, String, String, String)>,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<Response> {
    let link = authenticate::trigger_link(&state.db, &token)
        .await
        .map_err(refused)?;
    // The id exactly as the link was written ("+5" or "05" is not lead 5).
    let id = entity_id
        .parse::<i64>()
        .ok()
        .filter(|id| id.to_string() == entity_id);
    let entity = trigger_links::entity_of_kind(&kind)
        .zip(id)
        .ok_or_else(unsigned_entity)?;
    let signed = match accounts::webhook_secret(&state.db, link.account_id).await? {
        Some(secret) => {
            trigger_links::entity_mac_matches(&secret, link.link_id, entity.0, entity.1, &mac)
        }
        None => false,
    };
    if !signed {
        return Err(unsigned_entity());
    }
    record_click(&state, &link, Some(entity), &headers, body).await
}

/// Records a click and sends the visitor on to the link's page, if it has one.
async fn record_click(
    state: &AppState,
    link: &authenticate::AuthenticatedLink,
    entity: Option<(&str, i64)>,
    headers: &HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Response> {
    state.inbound_throttle.check(link.account_id)?;
    let event = RawEvent {
        account_id: link.account_id,
        source: EventSource::TriggerLink,
        dedupe_key: dedupe::unique(),
        rule_id: Some(link.rule_id),
        link_id: Some(link.link_id),
        entity,
        content_type: content_type(headers),
        query: None,
        body: &body,
        receiver: None,
    };
    let accepted = state.ingest.accept(&event).await?;
    Ok(match link.target_url.as_deref().and_then(location) {
        Some(location) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
        None => Json(accepted).into_response(),
    })
}

/// The `Location` of a link's page: the URL as parsed, if it is a web URL that fits in a header
/// (a target stored before control characters were refused is answered without a redirect).
fn location(target: &str) -> Option<HeaderValue> {
    let url = url::Url::parse(target).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    HeaderValue::from_str(url.as_str()).ok()
}

#[cfg(test)]
mod tests {
    use super::{location, redact_secret_path};

    #[test]
    fn a_stored_target_never_breaks_the_redirect_header() {
        assert_eq!(
            location("https://example.com/a b").expect("a web page"),
            "https://example.com/a%20b"
        );
        for bad in [
            "javascript:alert(1)",
            "not a url",
            "https://exa\u{0}mple.com/",
            "",
        ] {
            assert_eq!(location(bad), None, "{bad:?}");
        }
        // A target stored before line breaks were refused cannot split the header.
        assert_eq!(
            location("https://example.com/\r\nx").expect("a web page"),
            "https://example.com/x"
        );
    }

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
