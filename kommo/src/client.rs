//! The HTTP core of the client: one [`KommoClient`] per process holds the connection pool, the
//! shared rate limiter, the token store and per-account state; an [`AccountClient`] sends requests
//! for one account with rate limiting, retries, token refresh (single-flight) and the 403 alert.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

use crate::error::{KommoError, Problem};
use crate::limiter::{InProcessLimiter, RateLimiter};
use crate::tokens::{StoredToken, TokenStore};
use crate::{
    clock::{Clock, SystemClock},
    retry::{RetryPolicy, Sleeper, TokioSleeper},
};

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Requests per second per account for the default in-process limiter (Kommo allows 7).
    pub requests_per_second: u32,
    /// Entities per write request (Kommo recommends at most 50).
    pub write_batch: usize,
    /// Entities per page when reading (Kommo allows at most 250).
    pub page_size: usize,
    /// Retries.
    pub retry: RetryPolicy,
    /// Time limit of one HTTP request.
    pub request_timeout: Duration,
    /// Refresh access tokens this many seconds before they expire.
    pub refresh_margin_s: i64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            requests_per_second: 6,
            write_batch: 50,
            page_size: 250,
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(20),
            refresh_margin_s: 300,
        }
    }
}

/// The integration's OAuth credentials, needed to refresh tokens.
#[derive(Clone)]
pub struct OAuthApp {
    /// Integration id.
    pub client_id: String,
    /// Secret key.
    pub client_secret: String,
    /// Redirect URI registered with the integration.
    pub redirect_uri: String,
}

impl std::fmt::Debug for OAuthApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthApp")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Where an account lives and how to refresh its tokens.
#[derive(Debug, Clone)]
pub struct AccountEndpoint {
    /// The key of the account in the token store and rate limiter (e.g. its subdomain).
    pub account: String,
    /// The account's base URL: `https://{subdomain}.kommo.com`, or the emulator's
    /// `http://127.0.0.1:PORT/{subdomain}`. `/api/v4/...` and `/oauth2/...` are appended to it.
    pub base_url: Url,
    /// OAuth credentials; `None` for long-lived tokens.
    pub oauth: Option<OAuthApp>,
}

impl AccountEndpoint {
    /// The endpoint of `https://{subdomain}.kommo.com`.
    pub fn kommo(subdomain: &str, oauth: Option<OAuthApp>) -> Result<Self, KommoError> {
        let base_url = Url::parse(&format!("https://{subdomain}.kommo.com"))
            .map_err(|e| KommoError::BaseUrl(e.to_string()))?;
        Ok(Self {
            account: subdomain.to_owned(),
            base_url,
            oauth,
        })
    }

    /// An endpoint at any base URL (the emulator, a proxy).
    pub fn at(account: &str, base_url: &str, oauth: Option<OAuthApp>) -> Result<Self, KommoError> {
        let base_url = Url::parse(base_url).map_err(|e| KommoError::BaseUrl(e.to_string()))?;
        Ok(Self {
            account: account.to_owned(),
            base_url,
            oauth,
        })
    }

    fn url(&self, path: &str) -> Result<Url, KommoError> {
        let base = self.base_url.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{path}")).map_err(|e| KommoError::BaseUrl(e.to_string()))
    }
}

/// Why an account is stopped; the backend raises an alert for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountAlert {
    /// Kommo answered 403: blocked for rate-limit excess or by support.
    Blocked,
    /// The refresh token was refused; the account must be reconnected.
    RefreshRejected(String),
}

/// Counters of what the client did, for benchmarks and metrics.
#[derive(Debug, Default)]
pub struct ClientStats {
    requests: AtomicU64,
    responses_429: AtomicU64,
    retries: AtomicU64,
    refreshes: AtomicU64,
}

/// A snapshot of [`ClientStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientStatsSnapshot {
    /// HTTP requests sent to the API (refreshes excluded).
    pub requests: u64,
    /// 429 answers seen.
    pub responses_429: u64,
    /// Retries made.
    pub retries: u64,
    /// Token refreshes made.
    pub refreshes: u64,
}

struct ClientInner {
    http: reqwest::Client,
    config: ClientConfig,
    limiter: Arc<dyn RateLimiter>,
    tokens: Arc<dyn TokenStore>,
    sleeper: Arc<dyn Sleeper>,
    clock: Arc<dyn Clock>,
    accounts: Mutex<HashMap<String, Arc<AccountState>>>,
    stats: ClientStats,
}

#[derive(Default)]
struct AccountState {
    /// Held while refreshing, so one refresh runs at a time per account.
    refresh_gate: tokio::sync::Mutex<()>,
    alert: Mutex<Option<AccountAlert>>,
    /// Kommo's clock minus ours, from the `Date` header of the last response.
    server_offset_s: AtomicI64,
    has_server_offset: AtomicBool,
}

/// The process-wide Kommo client. Cheap to clone.
#[derive(Clone)]
pub struct KommoClient {
    inner: Arc<ClientInner>,
}

impl std::fmt::Debug for KommoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KommoClient")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Builds a [`KommoClient`].
pub struct KommoClientBuilder {
    config: ClientConfig,
    tokens: Arc<dyn TokenStore>,
    limiter: Option<Arc<dyn RateLimiter>>,
    sleeper: Arc<dyn Sleeper>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for KommoClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KommoClientBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl KommoClientBuilder {
    /// Settings.
    pub fn config(mut self, config: ClientConfig) -> Self {
        self.config = config;
        self
    }

    /// A shared limiter (e.g. one backed by PostgreSQL); the default is in-process.
    pub fn limiter(mut self, limiter: Arc<dyn RateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// How retries wait.
    pub fn sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// The clock for token expiry.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<KommoClient, KommoError> {
        let http = reqwest::Client::builder()
            .timeout(self.config.request_timeout)
            .build()
            .map_err(|e| KommoError::BaseUrl(e.to_string()))?;
        let limiter = self
            .limiter
            .unwrap_or_else(|| Arc::new(InProcessLimiter::new(self.config.requests_per_second)));
        Ok(KommoClient {
            inner: Arc::new(ClientInner {
                http,
                config: self.config,
                limiter,
                tokens: self.tokens,
                sleeper: self.sleeper,
                clock: self.clock,
                accounts: Mutex::new(HashMap::new()),
                stats: ClientStats::default(),
            }),
        })
    }
}

impl KommoClient {
    /// A builder around the token store.
    pub fn builder(tokens: Arc<dyn TokenStore>) -> KommoClientBuilder {
        KommoClientBuilder {
            config: ClientConfig::default(),
            tokens,
            limiter: None,
            sleeper: Arc::new(TokioSleeper),
            clock: Arc::new(SystemClock),
        }
    }

    /// The client for one account. Every `AccountClient` of the same account shares its state
    /// (refresh gate, alert).
    pub fn account(&self, endpoint: AccountEndpoint) -> AccountClient {
        let state = self
            .inner
            .accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(endpoint.account.clone())
            .or_default()
            .clone();
        AccountClient {
            inner: self.inner.clone(),
            state,
            endpoint: Arc::new(endpoint),
            read_only: false,
            recorder: None,
        }
    }

    /// Exchanges an authorization code (Kommo's redirect after a user granted access, or the
    /// install of a public integration) for the account's first token pair: the
    /// `authorization_code` grant at `{base_url}/oauth2/access_token`. Codes are single-use and
    /// live 20 minutes; a refused one is [`KommoError::CodeRejected`]. Nothing is stored: the
    /// caller learns the account first, then stores the pair.
    pub async fn exchange_code(
        &self,
        endpoint: &AccountEndpoint,
        code: &str,
    ) -> Result<StoredToken, KommoError> {
        let Some(oauth) = &endpoint.oauth else {
            return Err(KommoError::CodeRejected(
                "no OAuth credentials are configured for this account".into(),
            ));
        };
        let body = json!({
            "client_id": oauth.client_id,
            "client_secret": oauth.client_secret,
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": oauth.redirect_uri,
        });
        let url = endpoint.url("/oauth2/access_token")?;
        let response = self
            .inner
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| KommoError::RetriesExhausted {
                attempts: 1,
                last: format!("code exchange: {e}"),
            })?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            let hint = token_error_hint(&text).unwrap_or_else(|| format!("HTTP {status}"));
            if (400..500).contains(&status) {
                return Err(KommoError::CodeRejected(hint));
            }
            return Err(KommoError::UnexpectedStatus { status, body: hint });
        }
        let parsed: TokenResponse =
            serde_json::from_str(&text).map_err(|e| KommoError::Decode(e.to_string()))?;
        Ok(StoredToken {
            access_token: parsed.access_token,
            refresh_token: parsed.refresh_token,
            expires_at: self.inner.clock.now_unix() + parsed.expires_in,
        })
    }

    /// What the client did so far.
    pub fn stats(&self) -> ClientStatsSnapshot {
        let s = &self.inner.stats;
        ClientStatsSnapshot {
            requests: s.requests.load(Ordering::Relaxed),
            responses_429: s.responses_429.load(Ordering::Relaxed),
            retries: s.retries.load(Ordering::Relaxed),
            refreshes: s.refreshes.load(Ordering::Relaxed),
        }
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }
}

/// Whether a request may be replayed blindly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replay {
    /// Reads and idempotent writes (absolute PATCH values, tag add/delete): retry on anything.
    Safe,
    /// Creations: retry only when Kommo surely did not apply it (429, refused connection); a
    /// timeout or 5xx is reported as [`Outcome::Ambiguous`] for the caller to check.
    Unsafe,
}

/// The answer of one logical request.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// A 2xx answer; `None` for an empty body (204).
    Done(Option<Value>),
    /// An unsafe request may or may not have been applied.
    Ambiguous(String),
}

/// One account's API.
#[derive(Clone)]
pub struct AccountClient {
    inner: Arc<ClientInner>,
    state: Arc<AccountState>,
    endpoint: Arc<AccountEndpoint>,
    /// Refuses every request but `GET` (see [`AccountClient::read_only`]).
    read_only: bool,
    /// Where a read-only client writes down the requests it refused
    /// (see [`AccountClient::recording`]).
    recorder: Option<Arc<RequestRecorder>>,
}

/// A request a read-only client refused instead of sending: what would have gone to Kommo.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RecordedRequest {
    /// `POST`, `PATCH`, …
    pub method: String,
    /// The path under the account's base URL, e.g. `/api/v4/tasks`.
    pub path: String,
    /// The query parameters.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<(String, String)>,
    /// The JSON body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

/// The requests a recording client refused, in order (see [`AccountClient::recording`]).
#[derive(Debug, Default)]
pub struct RequestRecorder {
    requests: std::sync::Mutex<Vec<RecordedRequest>>,
}

impl RequestRecorder {
    /// Takes the requests recorded so far, leaving none.
    pub fn take(&self) -> Vec<RecordedRequest> {
        std::mem::take(
            &mut *self
                .requests
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    fn record(&self, request: RecordedRequest) {
        self.requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(request);
    }
}

impl std::fmt::Debug for AccountClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountClient")
            .field("endpoint", &self.endpoint)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

/// The sentence of a refused token request: Kommo's `hint`, else its `detail`.
fn token_error_hint(body: &str) -> Option<String> {
    let value = serde_json::from_str::<Value>(body).ok()?;
    value
        .get("hint")
        .or_else(|| value.get("detail"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    refresh_token: String,
    expires_in: i64,
}

impl AccountClient {
    /// The same account's client that only reads: every request other than `GET` fails with
    /// [`KommoError::ReadOnly`] before it is sent. Token refreshes still happen (reading needs a
    /// valid token). The one gate of dry runs and replays: whatever path a caller takes, it cannot
    /// change the account through this client.
    pub fn read_only(&self) -> AccountClient {
        AccountClient {
            read_only: true,
            recorder: None,
            ..self.clone()
        }
    }

    /// A read-only client (see [`AccountClient::read_only`]) that also writes down each request
    /// it refuses, exactly as it would have sent it, in the returned recorder: how a dry run
    /// learns what the executor would send, from the executor's own code. The refused request
    /// still fails with [`KommoError::ReadOnly`], so whatever would follow from its answer does
    /// not happen either.
    pub fn recording(&self) -> (AccountClient, Arc<RequestRecorder>) {
        let recorder = Arc::new(RequestRecorder::default());
        let client = AccountClient {
            read_only: true,
            recorder: Some(recorder.clone()),
            ..self.clone()
        };
        (client, recorder)
    }

    /// Whether this client only reads.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The account key.
    pub fn account(&self) -> &str {
        &self.endpoint.account
    }

    /// The settings.
    pub(crate) fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Why the account is stopped, if it is.
    pub fn alert(&self) -> Option<AccountAlert> {
        self.state
            .alert
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Lets calls through again after an operator dealt with the alert.
    pub fn clear_alert(&self) {
        *self
            .state
            .alert
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    fn raise(&self, alert: AccountAlert) {
        tracing::error!(account = %self.endpoint.account, ?alert, "Kommo account stopped");
        *self
            .state
            .alert
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(alert);
    }

    fn check_alert(&self) -> Result<(), KommoError> {
        match self.alert() {
            None => Ok(()),
            Some(AccountAlert::Blocked) => {
                Err(KommoError::AccountBlocked(self.endpoint.account.clone()))
            }
            Some(AccountAlert::RefreshRejected(why)) => Err(KommoError::RefreshRejected(why)),
        }
    }

    /// Kommo's current time as estimated from the last `Date` header, unix seconds.
    pub(crate) fn server_now(&self) -> Option<i64> {
        self.state
            .has_server_offset
            .load(Ordering::SeqCst)
            .then(|| {
                self.inner.clock.now_unix() + self.state.server_offset_s.load(Ordering::SeqCst)
            })
    }

    fn note_server_date(&self, headers: &reqwest::header::HeaderMap) {
        let date = headers
            .get(reqwest::header::DATE)
            .and_then(|d| d.to_str().ok())
            .and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok());
        if let Some(date) = date {
            self.state.server_offset_s.store(
                date.timestamp() - self.inner.clock.now_unix(),
                Ordering::SeqCst,
            );
            self.state.has_server_offset.store(true, Ordering::SeqCst);
        }
    }

    async fn current_token(&self) -> Result<StoredToken, KommoError> {
        let token = self
            .inner
            .tokens
            .load(&self.endpoint.account)
            .await
            .map_err(|e| KommoError::TokenStore(e.0))?
            .ok_or_else(|| KommoError::NoToken(self.endpoint.account.clone()))?;
        if !token.refresh_token.is_empty() && self.expiring(&token) {
            return self.refresh(Some(&token.access_token)).await;
        }
        Ok(token)
    }

    fn expiring(&self, token: &StoredToken) -> bool {
        token.expires_at - self.inner.config.refresh_margin_s <= self.inner.clock.now_unix()
    }

    /// Refreshes the account's token unless another task already did: at most one refresh runs
    /// per account at a time, and a task that waited for it uses its result. `stale_access` is the
    /// token the caller found wanting.
    pub async fn refresh(&self, stale_access: Option<&str>) -> Result<StoredToken, KommoError> {
        let _gate = self.state.refresh_gate.lock().await;
        self.check_alert()?;
        let account = &self.endpoint.account;
        let current = self
            .inner
            .tokens
            .load(account)
            .await
            .map_err(|e| KommoError::TokenStore(e.0))?
            .ok_or_else(|| KommoError::NoToken(account.clone()))?;
        let replaced_meanwhile = stale_access.is_some_and(|stale| stale != current.access_token);
        if replaced_meanwhile && !self.expiring(&current) {
            return Ok(current);
        }
        if current.refresh_token.is_empty() {
            return Err(KommoError::Unauthorized);
        }
        let Some(oauth) = self.endpoint.oauth.clone() else {
            return Err(KommoError::Unauthorized);
        };
        let body = json!({
            "client_id": oauth.client_id,
            "client_secret": oauth.client_secret,
            "grant_type": "refresh_token",
            "refresh_token": current.refresh_token,
            "redirect_uri": oauth.redirect_uri,
        });
        let url = self.endpoint.url("/oauth2/access_token")?;
        let response = self
            .inner
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| KommoError::RetriesExhausted {
                attempts: 1,
                last: format!("token refresh: {e}"),
            })?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            let hint = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| {
                    v.get("hint")
                        .or_else(|| v.get("detail"))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| format!("HTTP {status}"));
            if (400..500).contains(&status) {
                self.raise(AccountAlert::RefreshRejected(hint.clone()));
                return Err(KommoError::RefreshRejected(hint));
            }
            return Err(KommoError::UnexpectedStatus { status, body: hint });
        }
        let parsed: TokenResponse =
            serde_json::from_str(&text).map_err(|e| KommoError::Decode(e.to_string()))?;
        let fresh = StoredToken {
            access_token: parsed.access_token,
            refresh_token: parsed.refresh_token,
            expires_at: self.inner.clock.now_unix() + parsed.expires_in,
        };
        self.inner.stats.refreshes.fetch_add(1, Ordering::Relaxed);
        let swapped = self
            .inner
            .tokens
            .replace(account, &current.refresh_token, fresh.clone())
            .await
            .map_err(|e| KommoError::TokenStore(e.0))?;
        if swapped {
            return Ok(fresh);
        }
        // Another process stored a newer pair first; theirs is the valid one.
        self.inner
            .tokens
            .load(account)
            .await
            .map_err(|e| KommoError::TokenStore(e.0))?
            .ok_or_else(|| KommoError::NoToken(account.clone()))
    }

    /// Sends one logical request with rate limiting, retries and refresh.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
        replay: Replay,
    ) -> Result<Outcome, KommoError> {
        if self.read_only && method != Method::GET {
            if let Some(recorder) = &self.recorder {
                recorder.record(RecordedRequest {
                    method: method.to_string(),
                    path: path.to_owned(),
                    query: query.to_vec(),
                    body: body.cloned(),
                });
            }
            return Err(KommoError::ReadOnly(format!("{method} {path}")));
        }
        let policy = self.inner.config.retry.clone();
        let url = self.endpoint.url(path)?;
        let mut attempt = 0;
        let mut refreshed = false;
        loop {
            attempt += 1;
            self.check_alert()?;
            let token = self.current_token().await?;
            self.inner.limiter.acquire(&self.endpoint.account).await;
            self.inner.stats.requests.fetch_add(1, Ordering::Relaxed);
            let mut request = self
                .inner
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(&token.access_token);
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let last = match request.send().await {
                Err(error) => {
                    metrics::counter!(
                        "kommo_requests_total",
                        "method" => method.as_str().to_owned(),
                        "status" => "transport"
                    )
                    .increment(1);
                    let surely_unsent = error.is_connect();
                    let why = format!("transport: {error}");
                    if replay == Replay::Unsafe && !surely_unsent {
                        return Ok(Outcome::Ambiguous(why));
                    }
                    why
                }
                Ok(response) => {
                    self.note_server_date(response.headers());
                    let status = response.status().as_u16();
                    metrics::counter!(
                        "kommo_requests_total",
                        "method" => method.as_str().to_owned(),
                        "status" => status.to_string()
                    )
                    .increment(1);
                    match status {
                        200..=299 => {
                            let bytes = response.bytes().await;
                            let bytes = match bytes {
                                Ok(b) => b,
                                Err(e) if replay == Replay::Unsafe => {
                                    return Ok(Outcome::Ambiguous(e.to_string()))
                                }
                                Err(e) => {
                                    self.backoff(attempt, &policy, &format!("body: {e}"))
                                        .await?;
                                    continue;
                                }
                            };
                            if bytes.iter().all(u8::is_ascii_whitespace) {
                                return Ok(Outcome::Done(None));
                            }
                            let value = serde_json::from_slice(&bytes)
                                .map_err(|e| KommoError::Decode(e.to_string()))?;
                            return Ok(Outcome::Done(Some(value)));
                        }
                        401 => {
                            if refreshed {
                                return Err(KommoError::Unauthorized);
                            }
                            refreshed = true;
                            self.refresh(Some(&token.access_token)).await?;
                            attempt -= 1;
                            continue;
                        }
                        403 => {
                            self.raise(AccountAlert::Blocked);
                            return Err(KommoError::AccountBlocked(self.endpoint.account.clone()));
                        }
                        429 => {
                            metrics::counter!("kommo_responses_429_total").increment(1);
                            self.inner
                                .stats
                                .responses_429
                                .fetch_add(1, Ordering::Relaxed);
                            "429 Too Many Requests".to_owned()
                        }
                        400 | 422 => {
                            let text = response.text().await.unwrap_or_default();
                            let problem: Problem = serde_json::from_str(&text).unwrap_or(Problem {
                                detail: text,
                                status,
                                ..Problem::default()
                            });
                            return Err(KommoError::Rejected(problem));
                        }
                        404 => return Err(KommoError::NotFound),
                        500..=599 => {
                            let why = format!("HTTP {status}");
                            if replay == Replay::Unsafe {
                                return Ok(Outcome::Ambiguous(why));
                            }
                            why
                        }
                        other => {
                            let text = response.text().await.unwrap_or_default();
                            return Err(KommoError::UnexpectedStatus {
                                status: other,
                                body: text.chars().take(200).collect(),
                            });
                        }
                    }
                }
            };
            self.backoff(attempt, &policy, &last).await?;
        }
    }

    async fn backoff(
        &self,
        attempt: u32,
        policy: &RetryPolicy,
        last: &str,
    ) -> Result<(), KommoError> {
        if attempt >= policy.max_attempts {
            return Err(KommoError::RetriesExhausted {
                attempts: attempt,
                last: last.to_owned(),
            });
        }
        tracing::warn!(account = %self.endpoint.account, attempt, failure = last, "retrying Kommo request");
        self.inner.stats.retries.fetch_add(1, Ordering::Relaxed);
        self.inner.sleeper.sleep(policy.delay(attempt)).await;
        Ok(())
    }

    /// Waits the backoff of a retry round (used by read-back loops).
    pub(crate) async fn pause(&self, round: u32) {
        self.inner
            .sleeper
            .sleep(self.inner.config.retry.delay(round))
            .await;
    }
}
