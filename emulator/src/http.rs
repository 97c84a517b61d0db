//! The emulator's HTTP face. Accounts are addressed by a path prefix: what Kommo serves at
//! `https://{subdomain}.kommo.com/api/v4/...` the emulator serves at `/{subdomain}/api/v4/...`, so a
//! client's per-account base URL is `http://127.0.0.1:PORT/{subdomain}`. The control API for tests
//! and the sandbox lives under `/_control/`.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::emulator::{ApiRequest, ChatMessageRequest, ControlError, Emulator, GateDecision};
use crate::model::FaultRule;
use crate::seed::DpActionSeed;

/// The emulator's routes: account APIs, OAuth and the control API.
pub fn router(emulator: Emulator) -> Router {
    Router::new()
        .route("/{subdomain}/api/{*rest}", any(api))
        .route("/{subdomain}/oauth2/access_token", post(oauth_token))
        .route(
            "/{subdomain}/oauth2/account/subdomain",
            get(oauth_subdomain),
        )
        .route("/_control/accounts", post(control_seed))
        .route(
            "/_control/accounts/{subdomain}/counters",
            get(control_counters),
        )
        .route(
            "/_control/accounts/{subdomain}/tokens",
            post(control_tokens),
        )
        .route(
            "/_control/accounts/{subdomain}/long_lived_tokens",
            post(control_long_lived),
        )
        .route(
            "/_control/accounts/{subdomain}/auth_codes",
            post(control_auth_code),
        )
        .route(
            "/_control/accounts/{subdomain}/disposable_tokens",
            post(control_disposable),
        )
        .route(
            "/_control/accounts/{subdomain}/faults",
            post(control_fault).delete(control_clear_faults),
        )
        .route(
            "/_control/accounts/{subdomain}/dp_actions",
            post(control_dp_action),
        )
        .route(
            "/_control/accounts/{subdomain}/messages",
            post(control_message),
        )
        .route(
            "/_control/accounts/{subdomain}/talks/{talk_id}/close",
            post(control_close_talk),
        )
        .route(
            "/_control/accounts/{subdomain}/talks/{talk_id}/read",
            post(control_read_talk),
        )
        .route(
            "/_control/accounts/{subdomain}/salesbot_runs",
            get(control_salesbot_runs),
        )
        .route(
            "/_control/accounts/{subdomain}/bots",
            post(control_save_bot),
        )
        .route(
            "/_control/accounts/{subdomain}/bots/{bot_id}/run",
            post(control_run_bot),
        )
        .route(
            "/_control/accounts/{subdomain}/bot_steps",
            get(control_bot_steps),
        )
        .route("/_control/requests", get(control_requests))
        .route("/_control/deliveries", get(control_deliveries))
        .route("/_control/deliveries/run", post(control_deliver))
        .route("/_control/clock", get(control_clock))
        .route("/_control/clock/advance", post(control_advance))
        .with_state(emulator)
}

/// A running emulator server.
#[derive(Debug)]
pub struct RunningEmulator {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The bound address.
    pub addr: SocketAddr,
    /// The emulator behind it.
    pub emulator: Emulator,
    /// The server task.
    pub task: tokio::task::JoinHandle<()>,
}

impl RunningEmulator {
    /// The base URL of an account, for the client: `http://127.0.0.1:PORT/{subdomain}`.
    pub fn account_url(&self, subdomain: &str) -> String {
        format!("{}/{subdomain}", self.url)
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `app` on `bind` (port 0 picks a free port) in a background task.
pub async fn serve(
    emulator: Emulator,
    app: Router,
    bind: SocketAddr,
) -> std::io::Result<RunningEmulator> {
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "emulator server stopped");
        }
    });
    Ok(RunningEmulator {
        url: format!("http://{addr}"),
        addr,
        emulator,
        task,
    })
}

/// Serves the emulator's own routes on a free loopback port.
pub async fn spawn_on_loopback(emulator: Emulator) -> std::io::Result<RunningEmulator> {
    let app = router(emulator.clone());
    serve(emulator, app, SocketAddr::from(([127, 0, 0, 1], 0))).await
}

fn host_base(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

async fn api(
    State(emulator): State<Emulator>,
    Path((subdomain, rest)): Path<(String, String)>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::to_owned);
    let host = host_base(&headers);
    let (decision, _fault) = emulator.handle_api(ApiRequest {
        subdomain: &subdomain,
        method: method.as_str(),
        rest: &rest,
        raw_query: query.as_deref().unwrap_or(""),
        bearer: bearer.as_deref(),
        body: &body,
        host_base: &host,
    });
    let result = match decision {
        GateDecision::Respond(result) => result,
        GateDecision::Delayed(delay, result) => {
            // Injected latency: the server is slow; the test does not wait on this, the client does.
            tokio::time::sleep(delay).await;
            result
        }
        GateDecision::Hang => {
            // Injected timeout: never answer; the future is dropped when the client disconnects.
            std::future::pending::<()>().await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
    };
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let mut response = match result {
        Ok(outcome) => match outcome.body {
            Some(body) => {
                let mut r = (outcome.status, body.to_string()).into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("application/hal+json"),
                );
                r
            }
            None => outcome.status.into_response(),
        },
        Err(failure) => failure.into_response(),
    };
    if let Ok(value) = header::HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    // The Date header follows the emulator clock, as Kommo's follows Kommo's.
    let date = chrono::DateTime::from_timestamp(emulator.clock().now_unix(), 0)
        .map(|d| d.format("%a, %d %b %Y %H:%M:%S GMT").to_string());
    if let Some(value) = date.and_then(|d| header::HeaderValue::from_str(&d).ok()) {
        response.headers_mut().insert(header::DATE, value);
    }
    response
}

async fn oauth_token(
    State(emulator): State<Emulator>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let parsed: Value = if is_form {
        Value::Object(
            form_urlencoded::parse(&body)
                .into_owned()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        )
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return problem(StatusCode::BAD_REQUEST, "The body must be JSON"),
        }
    };
    match emulator.oauth_token(&subdomain, &parsed) {
        Ok(pair) => Json(pair).into_response(),
        Err((status, body)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            let mut r = (status, body.to_string()).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/problem+json"),
            );
            r
        }
    }
}

async fn oauth_subdomain(State(emulator): State<Emulator>, headers: HeaderMap) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "));
    match bearer.and_then(|b| emulator.token_subdomain(b)) {
        Some((id, subdomain)) => Json(json!({"id": id, "subdomain": subdomain, "domain": "kommo.com", "top_level_domain": "com"})).into_response(),
        None => problem(StatusCode::UNAUTHORIZED, "Unauthorized"),
    }
}

fn problem(status: StatusCode, detail: &str) -> Response {
    let body = json!({"title": status.canonical_reason(), "type": format!("https://httpstatus.es/{}", status.as_u16()), "status": status.as_u16(), "detail": detail});
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/problem+json"),
    );
    r
}

fn control_error(error: ControlError) -> Response {
    let status = match error {
        ControlError::UnknownAccount(_) | ControlError::UnknownEntity(..) => StatusCode::NOT_FOUND,
        ControlError::Signing(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let code = match error {
        ControlError::UnknownAccount(_) => "unknown_account",
        ControlError::UnknownIntegration(_) => "unknown_integration",
        ControlError::UnknownEntity(..) => "unknown_entity",
        ControlError::Seed(_) => "invalid_seed",
        ControlError::Signing(_) => "signing_failed",
    };
    let body = json!({"type": "about:blank", "title": status.canonical_reason(), "status": status.as_u16(), "code": code, "detail": error.to_string()});
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/problem+json"),
    );
    r
}

/// A refused control request: 400 problem+json with a code and a sentence.
#[derive(Debug)]
struct Rejection {
    code: &'static str,
    detail: String,
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let body = json!({"type": "about:blank", "title": "Bad Request", "status": 400, "code": self.code, "detail": self.detail});
        (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response()
    }
}

fn json_body(body: &Bytes) -> Result<Value, Rejection> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| Rejection {
        code: "invalid_json",
        detail: format!("The body is not valid JSON: {e}"),
    })
}

/// Parses a JSON body into `T`, refusing with `code` when it has another shape.
fn json_request<T: serde::de::DeserializeOwned>(
    body: &Bytes,
    code: &'static str,
) -> Result<T, Rejection> {
    serde_json::from_value(json_body(body)?).map_err(|e| Rejection {
        code,
        detail: e.to_string(),
    })
}

async fn control_seed(State(emulator): State<Emulator>, body: Bytes) -> Response {
    let document = match json_body(&body) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    match emulator.seed_json(document) {
        Ok(accounts) => (
            StatusCode::CREATED,
            Json(json!({"accounts": accounts.into_iter().map(|(id, subdomain)| json!({"id": id, "subdomain": subdomain})).collect::<Vec<_>>()})),
        )
            .into_response(),
        Err(e) => control_error(e),
    }
}

async fn control_counters(
    State(emulator): State<Emulator>,
    Path(subdomain): Path<String>,
) -> Response {
    match emulator.counters(&subdomain) {
        Some(c) => Json(c).into_response(),
        None => control_error(ControlError::UnknownAccount(subdomain)),
    }
}

#[derive(Debug, Deserialize, Default)]
struct TokenRequest {
    client_id: Option<String>,
    user_id: Option<i64>,
    ttl_s: Option<i64>,
}

fn token_request(body: &Bytes) -> Result<TokenRequest, Rejection> {
    json_request(body, "invalid_request")
}

async fn control_tokens(
    State(emulator): State<Emulator>,
    Path(subdomain): Path<String>,
    body: Bytes,
) -> Response {
    let request = match token_request(&body) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    match emulator.issue_tokens(&subdomain, request.client_id.as_deref()) {
        Ok(pair) => Json(pair).into_response(),
        Err(e) => control_error(e),
    }
}

async fn control_long_lived(
    State(emulator): State<Emulator>,
    Path(subdomain): Path<String>,
    body: Bytes,
) -> Response {
    let request = match token_request(&body) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    match emulator.issue_long_lived_token(&subdomain, request.ttl_s.unwrap_or(365 * 86_400)) {
        Ok(token) => Json(json!({"access_token": token})).into_response(),
        Err(e) => control_error(e),
    }
}

async fn control_auth_code(
    State(emulator): State<Emulator>,
    Path(subdomain): Path<String>,
    body: Bytes,
) -> Response {
    let request = match token_request(&body) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    let Some(client_id) = request.client_id else {
        return control_error(ControlError::UnknownIntegration(
            "(missing client_id)".into(),
        ));
    };
    match emulator.issue_auth_code(&subdomain, &client_id) {
        Ok(code) => {
            Json(json!({"code": code, "referer": format!("{subdomain}.kommo.com")})).into_response()
        }
        Err(e) => control_error(e),
    }
}

async fn control_disposable(
    State(emulator): State<Emulator>,
    Path(subdomain): Path<String>,
    body: Bytes,
) -> Response {
    let request = match token_request(&body) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    match emulator.mint_disposable_token(
        &subdomain,
        request.user_id.unwrap_or(1),
        request.client_id.as_deref(),
    ) {
        Ok(token) => Json(json!({"token": token})).into_response(),
        Err(e) => control_error(e),
    }
}

async fn control_fault(
    State(emulator): State<Emulator>,
    Path(subdomain): Path<String>,
    body: Bytes,
) -> Response {
    let value = match json_body(&body) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let rules: Vec<FaultRule> = match value {
        Value::Array(_) => serde_json::from_value(value),
        other => serde_json::from_value(other).map(|r| vec![r]),
    }
    .unwrap_or_default();
    if rules.is_empty() {
        let body = json!({"type": "about:blank", "title": "Bad Request", "status": 400, "code": "invalid_fault", "detail": "Expected a fault like {\"kind\":\"status\",\"status\":503,\"count\":2}"});
        return (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response();
    }
    for rule in rules {
        if let Err(e) = emulator.inject_fault(&subdomain, rule) {
            return control_error(e);
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn control_clear_faults(
    State(emulator): State<Emulator>,
    Path(subdomain): Path<String>,
) -> Response {
    match emulator.clear_faults(&subdomain) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => control_error(e),
    }
}

#[derive(Debug, Deserialize)]
struct MessageRequest {
    contact_id: Option<i64>,
    lead_id: Option<i64>,
    #[serde(default = "default_author")]
    author_name: String,
    text: String,
    #[serde(default = "default_origin")]
    origin: String,
    #[serde(default = "default_direction")]
    direction: String,
}

fn default_direction() -> String {
    "incoming".into()
}

fn default_author() -> String {
    "Client".into()
}

fn default_origin() -> String {
    "whatsapp".into()
}

async fn control_message(
    State(emulator): State<Emulator>,
    Path(subdomain): Path<String>,
    body: Bytes,
) -> Response {
    let request: MessageRequest = match json_request(&body, "invalid_message") {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    let outgoing = match request.direction.as_str() {
        "incoming" => false,
        "outgoing" => true,
        other => {
            let body = json!({"type": "about:blank", "title": "Unprocessable Entity", "status": 422, "code": "invalid_message", "detail": format!("direction must be incoming or outgoing, not {other:?}")});
            return (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
        }
    };
    let chat = ChatMessageRequest {
        contact_id: request.contact_id,
        lead_id: request.lead_id,
        author_name: request.author_name,
        text: request.text,
        origin: request.origin,
        outgoing,
    };
    match emulator.chat_message(&subdomain, &chat) {
        Ok(m) => (StatusCode::CREATED, Json(json!({"id": m.id, "contact_id": m.contact_id, "lead_id": m.lead_id, "talk_id": m.talk_id, "chat_id": m.chat_id}))).into_response(),
        Err(e) => control_error(e),
    }
}

async fn control_dp_action(
    State(emulator): State<Emulator>,
    Path(subdomain): Path<String>,
    body: Bytes,
) -> Response {
    let action: DpActionSeed = match json_request(&body, "invalid_dp_action") {
        Ok(action) => action,
        Err(r) => return r.into_response(),
    };
    match emulator.save_dp_action(&subdomain, &action) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => control_error(e),
    }
}

async fn control_close_talk(
    State(emulator): State<Emulator>,
    Path((subdomain, talk_id)): Path<(String, i64)>,
) -> Response {
    match emulator.close_talk(&subdomain, talk_id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => control_error(e),
    }
}

async fn control_read_talk(
    State(emulator): State<Emulator>,
    Path((subdomain, talk_id)): Path<(String, i64)>,
) -> Response {
    match emulator.read_talk(&subdomain, talk_id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => control_error(e),
    }
}

async fn control_salesbot_runs(
    State(emulator): State<Emulator>,
    Path(subdomain): Path<String>,
) -> Response {
    Json(json!({"runs": emulator.salesbot_runs(&subdomain)})).into_response()
}

/// What `POST /_control/accounts/{subdomain}/bots/{bot_id}/run` takes.
#[derive(Debug, serde::Deserialize)]
struct RunBotRequest {
    entity_id: i64,
    #[serde(default = "leads")]
    entity_type: String,
    #[serde(default)]
    client_id: Option<String>,
}

fn leads() -> String {
    "leads".into()
}

async fn control_run_bot(
    State(emulator): State<Emulator>,
    Path((subdomain, bot_id)): Path<(String, i64)>,
    body: Bytes,
) -> Response {
    let request: RunBotRequest = match json_request(&body, "invalid_bot_run") {
        Ok(request) => request,
        Err(r) => return r.into_response(),
    };
    match emulator.run_bot(
        &subdomain,
        bot_id,
        &request.entity_type,
        request.entity_id,
        request.client_id.as_deref(),
    ) {
        Ok(continue_id) => (
            StatusCode::CREATED,
            Json(json!({"continue_id": continue_id})),
        )
            .into_response(),
        Err(e) => control_error(e),
    }
}

/// What `POST /_control/accounts/{subdomain}/bots` takes: a bot with its widget step.
#[derive(Debug, serde::Deserialize)]
struct SaveBotRequest {
    id: i64,
    name: String,
    widget_request: crate::model::WidgetRequestStep,
}

async fn control_save_bot(
    State(emulator): State<Emulator>,
    Path(subdomain): Path<String>,
    body: Bytes,
) -> Response {
    let request: SaveBotRequest = match json_request(&body, "invalid_bot") {
        Ok(request) => request,
        Err(r) => return r.into_response(),
    };
    match emulator.save_bot(
        &subdomain,
        request.id,
        &request.name,
        request.widget_request,
    ) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => control_error(e),
    }
}

async fn control_bot_steps(
    State(emulator): State<Emulator>,
    Path(subdomain): Path<String>,
) -> Response {
    Json(json!({"steps": emulator.bot_steps(&subdomain)})).into_response()
}

async fn control_requests(State(emulator): State<Emulator>) -> Response {
    Json(json!({"requests": emulator.request_log()})).into_response()
}

async fn control_deliveries(State(emulator): State<Emulator>) -> Response {
    Json(json!({"deliveries": emulator.deliveries()})).into_response()
}

async fn control_deliver(State(emulator): State<Emulator>) -> Response {
    let sent = emulator.deliver_due().await;
    Json(json!({"sent": sent})).into_response()
}

async fn control_clock(State(emulator): State<Emulator>) -> Response {
    Json(json!({"now_ms": emulator.clock().now_ms()})).into_response()
}

#[derive(Debug, Deserialize)]
struct AdvanceRequest {
    ms: i64,
}

async fn control_advance(State(emulator): State<Emulator>, body: Bytes) -> Response {
    let request: AdvanceRequest = match json_request(&body, "invalid_advance") {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    emulator.clock().advance(request.ms);
    Json(json!({"now_ms": emulator.clock().now_ms()})).into_response()
}
