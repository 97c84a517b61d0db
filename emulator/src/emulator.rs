//! The emulator itself: many accounts behind one mutex, the request gate (rate limit, blocking,
//! tokens, injected faults), OAuth grants, disposable tokens and the outbound delivery queue.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use crate::clock::{EmulatorClock, UnixMillis};
use crate::model::{Account, DpAction, EntityKind, FaultRule, Talk};
use crate::ops::{dispatch, ApiCall, ApiLimits, ApiOutcome, Change};
use crate::outbound::{
    self, ChatMessage, Delivery, DeliveryAttempt, DeliveryKind, WEBHOOK_DISABLE_AFTER_INVALID,
    WEBHOOK_RETRY_DELAYS_MS,
};
use crate::problem::ApiFailure;
use crate::ratelimit::{TrafficCounters, WindowVerdict};
use crate::seed::{build_account, AccountSeed, DpActionSeed, SeedError};

/// Thresholds and limits of the emulated Kommo.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Requests per sliding second per account before 429 (Kommo: 7).
    pub requests_per_second: u32,
    /// Excess requests within a minute that block the account (403 on everything).
    pub block_after_excess: u32,
    /// Most entities per POST/PATCH array.
    pub max_write_batch: usize,
    /// Largest page (`limit`).
    pub max_page: usize,
    /// Access token lifetime in seconds (Kommo: 86,400).
    pub access_token_ttl_s: i64,
    /// How long an outbound request may take before it counts as failed (Kommo: 2 s).
    pub delivery_timeout: Duration,
    /// Requests the request log keeps; older ones are dropped and counted
    /// ([`Emulator::request_log_dropped`]).
    pub request_log_capacity: usize,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            requests_per_second: 7,
            block_after_excess: 50,
            max_write_batch: 250,
            max_page: 250,
            access_token_ttl_s: 86_400,
            delivery_timeout: Duration::from_secs(2),
            request_log_capacity: 20_000,
        }
    }
}

/// An access/refresh token pair as `/oauth2/access_token` returns it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TokenPair {
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds the access token lives.
    pub expires_in: i64,
    /// Server time, unix seconds.
    pub server_time: i64,
    /// The access token.
    pub access_token: String,
    /// The single-use refresh token.
    pub refresh_token: String,
}

/// Why a control operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No such account.
    #[error("no account with subdomain {0:?}")]
    UnknownAccount(String),
    /// No such integration in the account.
    #[error("the account has no integration {0:?}")]
    UnknownIntegration(String),
    /// No such entity.
    #[error("no {0} with id {1}")]
    UnknownEntity(String, i64),
    /// Seeding failed.
    #[error(transparent)]
    Seed(#[from] SeedError),
    /// Token signing failed.
    #[error("could not sign the token: {0}")]
    Signing(String),
}

/// One API request as the log keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct RequestLogEntry {
    /// Emulator time of arrival.
    pub at_ms: UnixMillis,
    /// Account subdomain.
    pub subdomain: String,
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Status answered (0 when the connection was left hanging).
    pub status: u16,
}

#[derive(Debug, Clone)]
struct AccessGrant {
    subdomain: String,
    /// The integration it was issued to (`long-lived` for a private integration's token).
    client_id: String,
    user_id: i64,
    expires_at_ms: UnixMillis,
}

#[derive(Debug, Clone)]
struct RefreshGrant {
    subdomain: String,
    client_id: String,
}

#[derive(Debug, Clone)]
struct CodeGrant {
    subdomain: String,
    client_id: String,
    expires_at_ms: UnixMillis,
}

#[derive(Debug, Default)]
struct World {
    accounts: BTreeMap<String, Account>,
    access: HashMap<String, AccessGrant>,
    refresh: HashMap<String, RefreshGrant>,
    codes: HashMap<String, CodeGrant>,
    deliveries: Vec<Delivery>,
    log: VecDeque<RequestLogEntry>,
    /// Entries dropped from the full log.
    log_dropped: u64,
    next_account_id: i64,
}

#[derive(Debug)]
struct Shared {
    config: EmulatorConfig,
    clock: EmulatorClock,
    world: Mutex<World>,
    http: reqwest::Client,
    signing_key: String,
}

/// A handle on the emulator; cheap to clone.
#[derive(Debug, Clone)]
pub struct Emulator {
    shared: Arc<Shared>,
}

/// One HTTP request to an account's API, as the router hands it over.
pub(crate) struct ApiRequest<'a> {
    /// The account's subdomain (first path segment).
    pub subdomain: &'a str,
    /// HTTP method.
    pub method: &'a str,
    /// The path after `/api/`.
    pub rest: &'a str,
    /// The raw query string.
    pub raw_query: &'a str,
    /// The bearer token, if any.
    pub bearer: Option<&'a str>,
    /// The raw body.
    pub body: &'a [u8],
    /// `http://host` for `_links`.
    pub host_base: &'a str,
}

/// What the gate decided for an API request.
pub(crate) enum GateDecision {
    /// Answer now.
    Respond(Result<ApiOutcome, ApiFailure>),
    /// Leave the connection hanging (injected timeout).
    Hang,
    /// Answer after a real delay (injected latency).
    Delayed(Duration, Result<ApiOutcome, ApiFailure>),
}

impl Emulator {
    /// An emulator following real time.
    pub fn new(config: EmulatorConfig) -> Self {
        Self::with_clock(config, EmulatorClock::real())
    }

    /// An emulator with the given clock.
    pub fn with_clock(config: EmulatorConfig, clock: EmulatorClock) -> Self {
        let http = reqwest::Client::builder()
            .timeout(config.delivery_timeout)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            shared: Arc::new(Shared {
                config,
                clock,
                world: Mutex::new(World {
                    next_account_id: 30_000_000,
                    ..World::default()
                }),
                http,
                signing_key: uuid::Uuid::new_v4().to_string(),
            }),
        }
    }

    fn world(&self) -> MutexGuard<'_, World> {
        // A panic while holding the lock would be a bug; the data is still consistent enough to serve.
        self.shared
            .world
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The emulator clock.
    pub fn clock(&self) -> &EmulatorClock {
        &self.shared.clock
    }

    /// The configuration.
    pub fn config(&self) -> &EmulatorConfig {
        &self.shared.config
    }

    fn limits(&self) -> ApiLimits {
        ApiLimits {
            max_page: self.shared.config.max_page,
            max_write_batch: self.shared.config.max_write_batch,
        }
    }

    /// Creates an account from a seed; its entities go through the API write path (no webhooks).
    pub fn seed(&self, seed: &AccountSeed) -> Result<(i64, String), ControlError> {
        let mut world = self.world();
        if world.accounts.contains_key(&seed.subdomain) {
            return Err(SeedError::Duplicate(seed.subdomain.clone()).into());
        }
        let id = match seed.id {
            Some(id) => id,
            None => {
                world.next_account_id += 1;
                world.next_account_id
            }
        };
        let mut account = build_account(seed, id)?;
        let now = self.shared.clock.now_unix();
        let user_id = account.users.first().map(|u| u.id).unwrap_or(0);
        for (kind_name, items) in &seed.entities {
            let kind = EntityKind::parse(kind_name)
                .ok_or_else(|| SeedError::EntityKind(kind_name.clone()))?;
            for chunk in items.chunks(self.shared.config.max_write_batch.max(1)) {
                let path = format!("v4/{}", kind.plural());
                let call = ApiCall {
                    method: "POST",
                    segments: path.split('/').collect(),
                    query: Vec::new(),
                    body: Some(Value::Array(chunk.to_vec())),
                    base: format!("https://{}.kommo.com", seed.subdomain),
                    now,
                    user_id,
                };
                dispatch(&mut account, self.limits(), &call).map_err(|failure| {
                    SeedError::Entity {
                        kind: kind_name.clone(),
                        index: 0,
                        detail: format!("{failure:?}"),
                    }
                })?;
            }
        }
        account.events.clear();
        let subdomain = account.subdomain.clone();
        world.accounts.insert(subdomain.clone(), account);
        Ok((id, subdomain))
    }

    /// Creates accounts from a seed document (one account, a list, or `{"accounts": [...]}`).
    pub fn seed_json(&self, document: Value) -> Result<Vec<(i64, String)>, ControlError> {
        let file: crate::seed::SeedFile =
            serde_json::from_value(document).map_err(|e| SeedError::Shape(e.to_string()))?;
        file.into_accounts()
            .iter()
            .map(|seed| self.seed(seed))
            .collect()
    }

    fn require<'w>(world: &'w mut World, subdomain: &str) -> Result<&'w mut Account, ControlError> {
        world
            .accounts
            .get_mut(subdomain)
            .ok_or_else(|| ControlError::UnknownAccount(subdomain.to_owned()))
    }

    fn new_access_token(&self, account: &Account, client_id: &str) -> Result<String, ControlError> {
        // Kommo's access tokens are JWTs carrying the account; the emulator signs with its own key.
        let now = self.shared.clock.now_unix();
        let claims = json!({
            "aud": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now,
            "nbf": now,
            "exp": now + self.shared.config.access_token_ttl_s,
            "sub": account.users.first().map(|u| u.id.to_string()).unwrap_or_default(),
            "account_id": account.id,
            "base_domain": "kommo.com",
            "api_domain": "api-c.kommo.com",
            "scopes": ["crm", "notifications"],
        });
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(self.shared.signing_key.as_bytes()),
        )
        .map_err(|e| ControlError::Signing(e.to_string()))
    }

    fn issue_pair(
        &self,
        world: &mut World,
        subdomain: &str,
        client_id: &str,
    ) -> Result<TokenPair, ControlError> {
        let account = Self::require(world, subdomain)?;
        let user_id = account.users.first().map(|u| u.id).unwrap_or(0);
        let access_token = self.new_access_token(account, client_id)?;
        let refresh_token = format!("def50200{}", uuid::Uuid::new_v4().simple());
        let now_ms = self.shared.clock.now_ms();
        let ttl = self.shared.config.access_token_ttl_s;
        world.access.insert(
            access_token.clone(),
            AccessGrant {
                subdomain: subdomain.to_owned(),
                client_id: client_id.to_owned(),
                user_id,
                expires_at_ms: now_ms + ttl * 1000,
            },
        );
        world.refresh.insert(
            refresh_token.clone(),
            RefreshGrant {
                subdomain: subdomain.to_owned(),
                client_id: client_id.to_owned(),
            },
        );
        Ok(TokenPair {
            token_type: "Bearer".into(),
            expires_in: ttl,
            server_time: now_ms / 1000,
            access_token,
            refresh_token,
        })
    }

    /// Issues an access/refresh pair for an integration of the account (the first one when `None`,
    /// or a synthetic one when the account has none).
    pub fn issue_tokens(
        &self,
        subdomain: &str,
        client_id: Option<&str>,
    ) -> Result<TokenPair, ControlError> {
        let mut world = self.world();
        let account = Self::require(&mut world, subdomain)?;
        let client_id = match client_id {
            Some(id) if account.integrations.iter().any(|i| i.client_id == id) => id.to_owned(),
            Some(id) => return Err(ControlError::UnknownIntegration(id.to_owned())),
            None => account
                .integrations
                .first()
                .map(|i| i.client_id.clone())
                .unwrap_or_else(|| "emulator".into()),
        };
        self.issue_pair(&mut world, subdomain, &client_id)
    }

    /// Issues a long-lived token (private integrations): no refresh, expires after `ttl_s`.
    pub fn issue_long_lived_token(
        &self,
        subdomain: &str,
        ttl_s: i64,
    ) -> Result<String, ControlError> {
        let mut world = self.world();
        let account = Self::require(&mut world, subdomain)?;
        let user_id = account.users.first().map(|u| u.id).unwrap_or(0);
        let token = self.new_access_token(account, "long-lived")?;
        let expires_at_ms = self.shared.clock.now_ms() + ttl_s * 1000;
        world.access.insert(
            token.clone(),
            AccessGrant {
                subdomain: subdomain.to_owned(),
                client_id: "long-lived".to_owned(),
                user_id,
                expires_at_ms,
            },
        );
        Ok(token)
    }

    /// An admin disconnects the integration `client_id` from the account (or, for `long-lived`,
    /// revokes the private integration's long-lived tokens): every access and refresh token issued
    /// to it stops working at once (401 on API calls, "Token has been revoked" on refresh), as in
    /// Kommo. Returns how many tokens went. Kommo then sends the integration its "access revoked"
    /// notification, which tests send themselves.
    pub fn revoke_access(&self, subdomain: &str, client_id: &str) -> Result<usize, ControlError> {
        let mut world = self.world();
        Self::require(&mut world, subdomain)?;
        let before = world.access.len() + world.refresh.len();
        world
            .access
            .retain(|_, g| !(g.subdomain == subdomain && g.client_id == client_id));
        world
            .refresh
            .retain(|_, g| !(g.subdomain == subdomain && g.client_id == client_id));
        Ok(before - world.access.len() - world.refresh.len())
    }

    /// Issues an authorization code (20 minutes) for the OAuth `authorization_code` grant.
    pub fn issue_auth_code(
        &self,
        subdomain: &str,
        client_id: &str,
    ) -> Result<String, ControlError> {
        let mut world = self.world();
        let account = Self::require(&mut world, subdomain)?;
        if !account
            .integrations
            .iter()
            .any(|i| i.client_id == client_id)
        {
            return Err(ControlError::UnknownIntegration(client_id.to_owned()));
        }
        let code = format!("def502{}", uuid::Uuid::new_v4().simple());
        let expires_at_ms = self.shared.clock.now_ms() + 20 * 60_000;
        world.codes.insert(
            code.clone(),
            CodeGrant {
                subdomain: subdomain.to_owned(),
                client_id: client_id.to_owned(),
                expires_at_ms,
            },
        );
        Ok(code)
    }

    /// Mints a widget disposable token (`X-Auth-Token`): HS256 with the client secret, claims of
    /// Kommo's one-time tokens, 30 minutes.
    pub fn mint_disposable_token(
        &self,
        subdomain: &str,
        user_id: i64,
        client_id: Option<&str>,
    ) -> Result<String, ControlError> {
        let mut world = self.world();
        let account = Self::require(&mut world, subdomain)?;
        let integration = match client_id {
            Some(id) => account.integrations.iter().find(|i| i.client_id == id),
            None => account.integrations.first(),
        }
        .ok_or_else(|| {
            ControlError::UnknownIntegration(client_id.unwrap_or("(none)").to_owned())
        })?;
        let audience = url::Url::parse(&integration.redirect_uri)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| integration.redirect_uri.clone());
        let is_admin = account.users.iter().any(|u| u.id == user_id && u.is_admin);
        let now = self.shared.clock.now_unix();
        let claims = json!({
            "iss": format!("https://{}.kommo.com", account.subdomain),
            "aud": audience,
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now,
            "nbf": now,
            "exp": now + 30 * 60,
            "account_id": account.id,
            "subdomain": account.subdomain,
            "client_uuid": integration.client_id,
            "user_id": user_id,
            "is_admin": is_admin,
        });
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(integration.client_secret.as_bytes()),
        )
        .map_err(|e| ControlError::Signing(e.to_string()))
    }

    /// Handles `POST /oauth2/access_token`. Refresh tokens are single-use: a second use fails with
    /// "Token has been revoked", as in Kommo.
    pub fn oauth_token(&self, subdomain: &str, body: &Value) -> Result<TokenPair, (u16, Value)> {
        let text = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let (client_id, client_secret, grant_type) =
            (text("client_id"), text("client_secret"), text("grant_type"));
        let refused = |status: u16, hint: &str| {
            (
                status,
                json!({"title": "Invalid request", "type": format!("https://httpstatus.es/{status}"), "status": status, "detail": hint, "hint": hint}),
            )
        };
        let mut world = self.world();
        let Some(account) = world.accounts.get_mut(subdomain) else {
            return Err(refused(404, "Account not found"));
        };
        let Some(integration) = account
            .integrations
            .iter()
            .find(|i| i.client_id == client_id)
            .cloned()
        else {
            return Err(refused(401, "Client authentication failed"));
        };
        if integration.client_secret != client_secret {
            return Err(refused(401, "Client authentication failed"));
        }
        match grant_type.as_str() {
            "authorization_code" => {
                let code = text("code");
                let now = self.shared.clock.now_ms();
                match world.codes.remove(&code) {
                    Some(grant)
                        if grant.subdomain == subdomain
                            && grant.client_id == client_id
                            && grant.expires_at_ms > now => {}
                    _ => return Err(refused(400, "Authorization code has been revoked")),
                }
                if text("redirect_uri") != integration.redirect_uri {
                    return Err(refused(400, "Invalid redirect_uri"));
                }
            }
            "refresh_token" => {
                let token = text("refresh_token");
                match world.refresh.remove(&token) {
                    Some(grant) if grant.subdomain == subdomain && grant.client_id == client_id => {
                    }
                    _ => return Err(refused(400, "Token has been revoked")),
                }
                if let Some(account) = world.accounts.get_mut(subdomain) {
                    account.counters.token_refreshes += 1;
                }
            }
            _ => return Err(refused(400, "Unsupported grant type")),
        }
        self.issue_pair(&mut world, subdomain, &client_id)
            .map_err(|e| refused(500, &e.to_string()))
    }

    /// The traffic counters of an account.
    pub fn counters(&self, subdomain: &str) -> Option<TrafficCounters> {
        self.world()
            .accounts
            .get(subdomain)
            .map(|a| a.counters.clone())
    }

    /// Queues a fault for the account's next matching requests.
    pub fn inject_fault(&self, subdomain: &str, rule: FaultRule) -> Result<(), ControlError> {
        let mut world = self.world();
        Self::require(&mut world, subdomain)?.faults.push_back(rule);
        Ok(())
    }

    /// Places our widget's action on a stage of a digital pipeline, with the settings the widget's
    /// `dpSettings` wrote, as an admin saving the pipeline does. A stage may hold several actions
    /// of one widget (each with its own settings), as Kommo's pipeline editor allows; saving an
    /// action identical to one already on the stage (same widget, same settings) keeps one. From
    /// then on a lead reaching the stage sends each action's request.
    pub fn save_dp_action(
        &self,
        subdomain: &str,
        action: &DpActionSeed,
    ) -> Result<(), ControlError> {
        let mut world = self.world();
        let account = Self::require(&mut world, subdomain)?;
        let stage_exists = account
            .pipelines
            .iter()
            .filter(|p| p.id == action.pipeline_id)
            .any(|p| p.statuses.iter().any(|s| s.id == action.status_id));
        if !stage_exists {
            return Err(ControlError::UnknownEntity(
                format!("stage of pipeline {}", action.pipeline_id),
                action.status_id,
            ));
        }
        account.dp_actions.retain(|a| {
            !(a.pipeline_id == action.pipeline_id
                && a.status_id == action.status_id
                && a.webhook_url == action.webhook_url
                && a.settings == action.settings)
        });
        account.dp_actions.push(DpAction {
            pipeline_id: action.pipeline_id,
            status_id: action.status_id,
            webhook_url: action.webhook_url.clone(),
            settings: action.settings.clone(),
        });
        Ok(())
    }

    /// Removes all queued faults and lifts a block.
    pub fn clear_faults(&self, subdomain: &str) -> Result<(), ControlError> {
        let mut world = self.world();
        let account = Self::require(&mut world, subdomain)?;
        account.faults.clear();
        account.blocked = false;
        Ok(())
    }

    /// The request log, oldest first: the last [`EmulatorConfig::request_log_capacity`] requests.
    pub fn request_log(&self) -> Vec<RequestLogEntry> {
        self.world().log.iter().cloned().collect()
    }

    /// How many requests the log dropped because it was full: a test that counts requests in the
    /// log counts all of them only while this is 0.
    pub fn request_log_dropped(&self) -> u64 {
        self.world().log_dropped
    }

    /// Runs bot `bot_id` on an entity (`leads`/`contacts`, or 2/1) up to its `widget_request`
    /// step, as a trigger or a person starting the bot does: Kommo POSTs the step's request to its
    /// `url` and the bot waits. The request (kommo-platform.md §6.3 and §7; S13
    /// `parseBotDisposableToken`/`BotDisposableTokenModel`; S17) is JSON: `token`, a JWT signed
    /// HS512 with the integration's client secret (claims `iss`, `subdomain`, `account_id`,
    /// `client_uuid`, `entity_id`, `entity_type`, `bot_type`, `exp`), the step's `data`, and
    /// `return_url`, the continue endpoint of this step. The token lives 30 minutes. Returns the
    /// step's continue id.
    pub fn run_bot(
        &self,
        subdomain: &str,
        bot_id: i64,
        entity_type: &str,
        entity_id: i64,
        client_id: Option<&str>,
    ) -> Result<i64, ControlError> {
        let now_ms = self.shared.clock.now_ms();
        let now = now_ms.div_euclid(1000);
        let mut world = self.world();
        let account = Self::require(&mut world, subdomain)?;
        let kind = match entity_type {
            "2" | "lead" | "leads" => EntityKind::Leads,
            "1" | "contact" | "contacts" => EntityKind::Contacts,
            other => return Err(ControlError::UnknownEntity(other.to_owned(), entity_id)),
        };
        if !account
            .records
            .get(&kind)
            .is_some_and(|r| r.contains_key(&entity_id))
        {
            return Err(ControlError::UnknownEntity(
                kind.plural().to_owned(),
                entity_id,
            ));
        }
        let step = account
            .bots
            .iter()
            .find(|b| b.id == bot_id)
            .and_then(|b| b.widget_request.clone())
            .ok_or_else(|| ControlError::UnknownEntity("bot with a widget step".into(), bot_id))?;
        let integration = match client_id {
            Some(id) => account.integrations.iter().find(|i| i.client_id == id),
            None => account.integrations.first(),
        }
        .ok_or_else(|| ControlError::UnknownIntegration(client_id.unwrap_or("(none)").to_owned()))?
        .clone();
        let continue_id = account.allocate_id();
        let claims = json!({
            "iss": format!("https://{}.kommo.com", account.subdomain),
            "subdomain": account.subdomain,
            "account_id": account.id,
            "client_uuid": integration.client_id,
            "entity_id": entity_id,
            "entity_type": kind.plural(),
            "bot_type": "salesbot",
            "exp": now + 30 * 60,
        });
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(integration.client_secret.as_bytes()),
        )
        .map_err(|e| ControlError::Signing(e.to_string()))?;
        let body = json!({
            "token": token,
            "data": step.data,
            "return_url": format!(
                "https://{}.kommo.com/api/v4/salesbot/{bot_id}/continue/{continue_id}",
                account.subdomain
            ),
        });
        account.bot_steps.push(crate::model::BotStep {
            bot_type: "salesbot".into(),
            bot_id,
            continue_id,
            entity_type: kind.plural().to_owned(),
            entity_id,
            url: step.url.clone(),
            status: "waiting".into(),
            continued_data: None,
            execute_handlers: None,
            continued_at: None,
            refused_continues: 0,
        });
        let subdomain = account.subdomain.clone();
        push_delivery(
            &mut world,
            &subdomain,
            DeliveryKind::SalesbotWidgetRequest,
            step.url,
            body.to_string(),
            "widget_request".into(),
            now_ms,
        );
        Ok(continue_id)
    }

    /// Saves a bot with its widget step, as an admin saving it in the Salesbot designer does (a bot
    /// of that id is replaced).
    pub fn save_bot(
        &self,
        subdomain: &str,
        bot_id: i64,
        name: &str,
        step: crate::model::WidgetRequestStep,
    ) -> Result<(), ControlError> {
        let mut world = self.world();
        let account = Self::require(&mut world, subdomain)?;
        account.bots.retain(|b| b.id != bot_id);
        account.bots.push(crate::model::Bot {
            id: bot_id,
            name: name.to_owned(),
            active: true,
            widget_request: Some(step),
        });
        Ok(())
    }

    /// The executions of the account's bot widget steps, with what each was continued with.
    pub fn bot_steps(&self, subdomain: &str) -> Vec<crate::model::BotStep> {
        self.world()
            .accounts
            .get(subdomain)
            .map(|a| a.bot_steps.clone())
            .unwrap_or_default()
    }

    /// Salesbot runs requested through the API.
    pub fn salesbot_runs(&self, subdomain: &str) -> Vec<Value> {
        self.world()
            .accounts
            .get(subdomain)
            .map(|a| a.salesbot_runs.clone())
            .unwrap_or_default()
    }

    /// Calls the account's API directly, without token, rate limit or faults (for tests and seeding
    /// scenarios). Outbound traffic is queued as for HTTP calls.
    pub fn call(
        &self,
        subdomain: &str,
        method: &str,
        path_and_query: &str,
        body: Option<Value>,
    ) -> Result<(u16, Option<Value>), ControlError> {
        let mut world = self.world();
        let now = self.shared.clock.now_unix();
        let account = Self::require(&mut world, subdomain)?;
        let user_id = account.users.first().map(|u| u.id).unwrap_or(0);
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let path = path.trim_start_matches('/').trim_start_matches("api/");
        let call = ApiCall {
            method,
            segments: path.split('/').collect(),
            query: form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
            body,
            base: format!("https://{subdomain}.kommo.com"),
            now,
            user_id,
        };
        let result = dispatch(account, self.limits(), &call);
        drop(world);
        Ok(match result {
            Ok(outcome) => {
                let status = outcome.status.as_u16();
                self.enqueue_changes(subdomain, &outcome.changes, now);
                (status, outcome.body)
            }
            Err(failure) => {
                let response = axum::response::IntoResponse::into_response(failure);
                (response.status().as_u16(), None)
            }
        })
    }

    /// One entity rendered as `GET /api/v4/{kind}/{id}` would (with contacts and leads embedded).
    pub fn entity(&self, subdomain: &str, kind: &str, id: i64) -> Option<Value> {
        let world = self.world();
        let account = world.accounts.get(subdomain)?;
        let kind = EntityKind::parse(kind)?;
        let record = account.records.get(&kind)?.get(&id)?;
        Some(account.render_record(
            kind,
            record,
            &format!("https://{subdomain}.kommo.com"),
            &["contacts", "leads", "companies"],
        ))
    }

    /// All entities of a kind, rendered, by id.
    pub fn entities(&self, subdomain: &str, kind: &str) -> Vec<Value> {
        let world = self.world();
        let (Some(account), Some(kind)) = (world.accounts.get(subdomain), EntityKind::parse(kind))
        else {
            return Vec::new();
        };
        let base = format!("https://{subdomain}.kommo.com");
        account
            .records
            .get(&kind)
            .map(|r| {
                r.values()
                    .map(|rec| account.render_record(kind, rec, &base, &[]))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// All notes of the account, rendered.
    pub fn notes(&self, subdomain: &str) -> Vec<Value> {
        let world = self.world();
        let Some(account) = world.accounts.get(subdomain) else {
            return Vec::new();
        };
        let base = format!("https://{subdomain}.kommo.com");
        account
            .notes
            .values()
            .map(|n| account.render_note(n, &base))
            .collect()
    }

    /// All tasks of the account, rendered.
    pub fn tasks(&self, subdomain: &str) -> Vec<Value> {
        let world = self.world();
        let Some(account) = world.accounts.get(subdomain) else {
            return Vec::new();
        };
        let base = format!("https://{subdomain}.kommo.com");
        account
            .tasks
            .values()
            .map(|t| account.render_task(t, &base))
            .collect()
    }

    /// Records an incoming chat message from a contact (creating the contact when `contact_id` is
    /// `None`); see [`Emulator::chat_message`].
    pub fn receive_message(
        &self,
        subdomain: &str,
        contact_id: Option<i64>,
        author_name: &str,
        text: &str,
        origin: &str,
    ) -> Result<ChatMessage, ControlError> {
        self.chat_message(
            subdomain,
            &ChatMessageRequest {
                contact_id,
                lead_id: None,
                author_name: author_name.to_owned(),
                text: text.to_owned(),
                origin: origin.to_owned(),
                outgoing: false,
            },
        )
    }

    /// A chat message in the chat of a contact (or of a lead's main contact; a new contact when
    /// neither is given, or the lead has none) on a channel. When the chat has no open talk, a
    /// talk is created (`add_talk`) and the message belongs to it (`add_message`); a message in an
    /// open talk is `add_message` plus `update_talk` (its `updated_at` changed).
    pub fn chat_message(
        &self,
        subdomain: &str,
        request: &ChatMessageRequest,
    ) -> Result<ChatMessage, ControlError> {
        let mut world = self.world();
        let now = self.shared.clock.now_unix();
        let account = Self::require(&mut world, subdomain)?;
        let has = |account: &crate::model::Account, kind: EntityKind, id: i64| {
            account
                .records
                .get(&kind)
                .is_some_and(|m| m.contains_key(&id))
        };
        if let Some(lead) = request.lead_id {
            if !has(account, EntityKind::Leads, lead) {
                return Err(ControlError::UnknownEntity("lead".into(), lead));
            }
        }
        let lead_contact = request.lead_id.and_then(|lead| {
            let linked = account.linked(EntityKind::Leads, lead, EntityKind::Contacts);
            linked
                .iter()
                .find(|(_, main)| *main)
                .or(linked.first())
                .map(|(id, _)| *id)
        });
        let contact_id = match request.contact_id.or(lead_contact) {
            Some(id) if has(account, EntityKind::Contacts, id) => id,
            Some(id) => return Err(ControlError::UnknownEntity("contact".into(), id)),
            None => {
                let id = account.allocate_id();
                let record = crate::model::Record {
                    id,
                    name: request.author_name.clone(),
                    first_name: request.author_name.clone(),
                    created_at: now,
                    updated_at: now,
                    ..Default::default()
                };
                account
                    .records
                    .entry(EntityKind::Contacts)
                    .or_default()
                    .insert(id, record);
                if let Some(lead) = request.lead_id {
                    account.links.insert(
                        ((EntityKind::Leads, lead), (EntityKind::Contacts, id)),
                        true,
                    );
                }
                id
            }
        };
        let chat_id = account
            .chats
            .entry((contact_id, request.origin.clone()))
            .or_insert_with(|| uuid::Uuid::new_v4().to_string())
            .clone();
        let open = account
            .talks
            .values()
            .find(|t| t.chat_id == chat_id && t.is_in_work)
            .map(|t| t.id);
        let (talk_id, added) = match open {
            Some(id) => {
                if let Some(talk) = account.talks.get_mut(&id) {
                    talk.updated_at = now;
                    talk.is_read = request.outgoing;
                    if talk.lead_id.is_none() {
                        talk.lead_id = request.lead_id;
                    }
                }
                (id, false)
            }
            None => {
                let id = account.allocate_id();
                account.talks.insert(
                    id,
                    Talk {
                        id,
                        chat_id: chat_id.clone(),
                        contact_id,
                        lead_id: request.lead_id,
                        origin: request.origin.clone(),
                        created_at: now,
                        updated_at: now,
                        rate: 0,
                        is_in_work: true,
                        is_read: request.outgoing,
                    },
                );
                (id, true)
            }
        };
        let lead_id = account.talks.get(&talk_id).and_then(|t| t.lead_id);
        let message = ChatMessage {
            id: uuid::Uuid::new_v4().to_string(),
            chat_id,
            talk_id,
            contact_id,
            lead_id,
            text: request.text.clone(),
            created_at: now,
            author_name: request.author_name.clone(),
            origin: request.origin.clone(),
            outgoing: request.outgoing,
            user_id: account.users.first().map(|u| u.id).unwrap_or(0),
        };
        let talk_bodies = outbound::webhook_bodies(account, &[Change::Talk { id: talk_id, added }]);
        let mut queued: Vec<(String, String, String)> = Vec::new();
        let talk_out: Vec<(String, String, String)> = talk_bodies
            .into_iter()
            .flat_map(|b| {
                subscribed(account, &b.event)
                    .into_iter()
                    .map(move |url| (url, b.body.clone(), b.event.clone()))
            })
            .collect();
        let message_body = outbound::message_body(account, &message);
        let message_out = subscribed(account, "add_message")
            .into_iter()
            .map(|url| (url, message_body.clone(), "add_message".to_owned()));
        // A new talk comes before its first message; an update follows the message that caused it.
        if added {
            queued.extend(talk_out);
            queued.extend(message_out);
        } else {
            queued.extend(message_out);
            queued.extend(talk_out);
        }
        let now_ms = self.shared.clock.now_ms();
        for (url, body, event) in queued {
            push_delivery(
                &mut world,
                subdomain,
                DeliveryKind::AccountWebhook,
                url,
                body,
                event,
                now_ms,
            );
        }
        Ok(message)
    }

    /// Closes a talk as a manager does in the UI (`update_talk` with `is_in_work` 0; nothing when it
    /// is closed already).
    pub fn close_talk(&self, subdomain: &str, talk_id: i64) -> Result<(), ControlError> {
        let now = self.shared.clock.now_unix();
        let changes = {
            let mut world = self.world();
            let account = Self::require(&mut world, subdomain)?;
            crate::ops::close_talk(account, talk_id, now)
                .map_err(|_| ControlError::UnknownEntity("talk".into(), talk_id))?
        };
        self.enqueue_changes(subdomain, &changes, now);
        Ok(())
    }

    /// An email received (`income`) or sent through Kommo's mail integration, filed on a lead,
    /// contact or company (`kind`: `leads`, `contacts`, `companies`) as the mail integration files
    /// it: a note of type `amomail_message` whose params carry `income`, `subject` and
    /// `content_summary`, announced by `note_<entity>` like every note. The API cannot create such
    /// notes (Kommo's note-type list, developers.kommo.com/reference/notes-types, names no mail
    /// type among the creatable ones); the type name and params are those the notes API returns
    /// for mail (**UNCONFIRMED** in Kommo's reference; seen in public API clients that filter
    /// `filter[note_type]=amomail_message` and read `params.income`). Returns the note's id.
    pub fn receive_email(
        &self,
        subdomain: &str,
        kind: &str,
        entity_id: i64,
        income: bool,
        subject: &str,
        summary: &str,
    ) -> Result<i64, ControlError> {
        let now = self.shared.clock.now_unix();
        let (id, changes) = {
            let mut world = self.world();
            let account = Self::require(&mut world, subdomain)?;
            let kind = EntityKind::parse(kind)
                .ok_or_else(|| ControlError::UnknownEntity(kind.to_owned(), entity_id))?;
            if !account
                .records
                .get(&kind)
                .is_some_and(|m| m.contains_key(&entity_id))
            {
                return Err(ControlError::UnknownEntity(
                    kind.singular().to_owned(),
                    entity_id,
                ));
            }
            let user = account.users.first().map(|u| u.id).unwrap_or(0);
            let id = account.allocate_id();
            account.notes.insert(
                id,
                crate::model::Note {
                    id,
                    entity: (kind, entity_id),
                    note_type: "amomail_message".to_owned(),
                    params: json!({"income": income, "subject": subject,
                                   "content_summary": summary, "private": false}),
                    created_by: user,
                    created_at: now,
                    updated_at: now,
                    is_pinned: false,
                },
            );
            let event_id = account.allocate_id();
            let account_id = account.id;
            account.events.push(json!({
                "id": format!("{event_id:x}"), "type": "amomail_message_note_added",
                "entity_id": entity_id, "entity_type": kind.singular(), "created_by": user,
                "created_at": now, "value_after": [{"note": {"id": id}}], "value_before": [],
                "account_id": account_id,
            }));
            (id, vec![Change::Note { id }])
        };
        self.enqueue_changes(subdomain, &changes, now);
        Ok(id)
    }

    /// Marks a talk read as a manager opening it does (`update_talk` when it was unread).
    pub fn read_talk(&self, subdomain: &str, talk_id: i64) -> Result<(), ControlError> {
        let now = self.shared.clock.now_unix();
        let changes = {
            let mut world = self.world();
            let account = Self::require(&mut world, subdomain)?;
            let talk = account
                .talks
                .get_mut(&talk_id)
                .ok_or_else(|| ControlError::UnknownEntity("talk".into(), talk_id))?;
            if talk.is_read {
                Vec::new()
            } else {
                talk.is_read = true;
                talk.updated_at = now;
                vec![Change::Talk {
                    id: talk_id,
                    added: false,
                }]
            }
        };
        self.enqueue_changes(subdomain, &changes, now);
        Ok(())
    }

    /// A talk rendered as `GET /api/v4/talks/{id}` would.
    pub fn talk(&self, subdomain: &str, talk_id: i64) -> Option<Value> {
        let world = self.world();
        let account = world.accounts.get(subdomain)?;
        let talk = account.talks.get(&talk_id)?;
        Some(account.render_talk(talk, &format!("https://{subdomain}.kommo.com")))
    }

    fn enqueue_changes(&self, subdomain: &str, changes: &[Change], now: i64) {
        if changes.is_empty() {
            return;
        }
        let now_ms = self.shared.clock.now_ms();
        let mut world = self.world();
        let Some(account) = world.accounts.get(subdomain) else {
            return;
        };
        let mut queued = Vec::new();
        for body in outbound::webhook_bodies(account, changes) {
            for url in subscribed(account, &body.event) {
                queued.push((
                    DeliveryKind::AccountWebhook,
                    url,
                    body.body.clone(),
                    body.event.clone(),
                ));
            }
        }
        for change in changes {
            if let Change::Entity {
                kind: EntityKind::Leads,
                id,
                added,
                old_status,
                ..
            } = *change
            {
                if added || old_status.is_some() {
                    let code = if added {
                        "lead_added"
                    } else {
                        "lead_status_changed"
                    };
                    for (url, body) in outbound::dp_bodies(account, id, added, now) {
                        queued.push((DeliveryKind::DigitalPipeline, url, body, code.to_owned()));
                    }
                }
            }
        }
        for (kind, url, body, event) in queued {
            push_delivery(&mut world, subdomain, kind, url, body, event, now_ms);
        }
    }

    /// Every outbound delivery so far (queued, delivered or given up), oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.world().deliveries.clone()
    }

    /// Sends every delivery that is due by the emulator clock, waits for the answers, and
    /// reschedules failures on Kommo's schedule. Returns how many requests were sent.
    pub async fn deliver_due(&self) -> usize {
        let now = self.shared.clock.now_ms();
        let due: Vec<(u64, String, String, String)> = self
            .world()
            .deliveries
            .iter()
            .filter(|d| d.next_attempt_at_ms.is_some_and(|at| at <= now))
            .map(|d| (d.id, d.url.clone(), d.content_type.clone(), d.body.clone()))
            .collect();
        let mut tasks = tokio::task::JoinSet::new();
        for (id, url, content_type, body) in due {
            let http = self.shared.http.clone();
            tasks.spawn(async move {
                let result = http
                    .post(&url)
                    .header("content-type", content_type)
                    .body(body)
                    .send()
                    .await;
                (id, result.ok().map(|r| r.status().as_u16()))
            });
        }
        let mut sent = 0;
        while let Some(joined) = tasks.join_next().await {
            let Ok((id, status)) = joined else { continue };
            sent += 1;
            self.record_attempt(id, status, now);
        }
        sent
    }

    fn record_attempt(&self, id: u64, status: Option<u16>, at_ms: UnixMillis) {
        let mut world = self.world();
        let ok = status.is_some_and(|s| (100..300).contains(&s));
        let Some(delivery) = world.deliveries.iter_mut().find(|d| d.id == id) else {
            return;
        };
        delivery
            .attempts
            .push(DeliveryAttempt { at_ms, status, ok });
        let attempt = delivery.attempts.len();
        delivery.next_attempt_at_ms = match (ok, delivery.kind) {
            (true, _)
            | (false, DeliveryKind::DigitalPipeline | DeliveryKind::SalesbotWidgetRequest) => None,
            (false, DeliveryKind::AccountWebhook) => WEBHOOK_RETRY_DELAYS_MS
                .get(attempt - 1)
                .map(|delay| at_ms + delay),
        };
        let (subdomain, url, kind) = (
            delivery.subdomain.clone(),
            delivery.url.clone(),
            delivery.kind,
        );
        if kind != DeliveryKind::AccountWebhook {
            return;
        }
        let Some(account) = world.accounts.get_mut(&subdomain) else {
            return;
        };
        if let Some(hook) = account.webhooks.iter_mut().find(|h| h.destination == url) {
            while hook
                .invalid_responses
                .front()
                .is_some_and(|&t| t <= at_ms - 2 * 3_600_000)
            {
                hook.invalid_responses.pop_front();
            }
            if !ok {
                hook.invalid_responses.push_back(at_ms);
                if hook.invalid_responses.len() > WEBHOOK_DISABLE_AFTER_INVALID {
                    hook.disabled = true;
                }
            }
        }
    }

    /// Runs the gate and the API for one HTTP request.
    pub(crate) fn handle_api(&self, request: ApiRequest<'_>) -> (GateDecision, Option<FaultRule>) {
        let ApiRequest {
            subdomain,
            method,
            rest,
            raw_query,
            bearer,
            body,
            host_base,
        } = request;
        let now_ms = self.shared.clock.now_ms();
        let config = &self.shared.config;
        let mut world = self.world();
        let path = format!(
            "/{subdomain}/api/{rest}{}{raw_query}",
            if raw_query.is_empty() { "" } else { "?" }
        );
        let decision = self.gate_and_run(
            &mut world, subdomain, method, rest, raw_query, bearer, body, host_base, now_ms, config,
        );
        let (decision, fault, changes) = decision;
        let status = match &decision {
            GateDecision::Respond(r) | GateDecision::Delayed(_, r) => match r {
                Ok(o) => o.status.as_u16(),
                Err(f) => axum::response::IntoResponse::into_response(f.clone())
                    .status()
                    .as_u16(),
            },
            GateDecision::Hang => 0,
        };
        world.log.push_back(RequestLogEntry {
            at_ms: now_ms,
            subdomain: subdomain.to_owned(),
            method: method.to_owned(),
            path,
            status,
        });
        while world.log.len() > config.request_log_capacity {
            world.log.pop_front();
            world.log_dropped += 1;
        }
        drop(world);
        self.enqueue_changes(subdomain, &changes, now_ms.div_euclid(1000));
        (decision, fault)
    }

    #[allow(clippy::too_many_arguments)]
    fn gate_and_run(
        &self,
        world: &mut World,
        subdomain: &str,
        method: &str,
        rest: &str,
        raw_query: &str,
        bearer: Option<&str>,
        body: &[u8],
        host_base: &str,
        now_ms: UnixMillis,
        config: &EmulatorConfig,
    ) -> (GateDecision, Option<FaultRule>, Vec<Change>) {
        let respond =
            |r: Result<ApiOutcome, ApiFailure>| (GateDecision::Respond(r), None, Vec::new());
        let grant = bearer.and_then(|t| world.access.get(t)).cloned();
        let Some(account) = world.accounts.get_mut(subdomain) else {
            return respond(Err(ApiFailure::NotFound));
        };
        if account.blocked {
            account.counters.responses_403 += 1;
            return respond(Err(ApiFailure::Blocked));
        }
        match account.window.arrive(
            now_ms,
            config.requests_per_second,
            config.block_after_excess,
            &mut account.counters,
        ) {
            WindowVerdict::Admit => {}
            WindowVerdict::Exceeded => {
                account.counters.responses_429 += 1;
                return respond(Err(ApiFailure::TooManyRequests));
            }
            WindowVerdict::Block => {
                account.blocked = true;
                account.counters.responses_403 += 1;
                return respond(Err(ApiFailure::Blocked));
            }
        }
        let user_id = match grant {
            None => return respond(Err(ApiFailure::Unauthorized("Token is invalid"))),
            Some(g) if g.subdomain != subdomain => {
                return respond(Err(ApiFailure::Unauthorized("Token is invalid")))
            }
            Some(g) if g.expires_at_ms <= now_ms => {
                return respond(Err(ApiFailure::Unauthorized("Token has expired")))
            }
            Some(g) => g.user_id,
        };
        let fault = take_fault(account, method);
        let mut apply_then_hang = false;
        let mut latency = None;
        match fault.as_ref().map(|f| &f.fault) {
            Some(crate::model::Fault::Status { status }) => {
                account.counters.injected_5xx += 1;
                let status = axum::http::StatusCode::from_u16(*status)
                    .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
                return (
                    GateDecision::Respond(Err(ApiFailure::Injected(status))),
                    fault,
                    Vec::new(),
                );
            }
            Some(crate::model::Fault::TooManyRequests) => {
                account.counters.injected_429 += 1;
                return (
                    GateDecision::Respond(Err(ApiFailure::TooManyRequests)),
                    fault,
                    Vec::new(),
                );
            }
            Some(crate::model::Fault::Timeout { after_apply }) => {
                account.counters.injected_timeouts += 1;
                if !after_apply {
                    return (GateDecision::Hang, fault, Vec::new());
                }
                apply_then_hang = true;
            }
            Some(crate::model::Fault::Latency { ms }) => latency = Some(Duration::from_millis(*ms)),
            None => {}
        }
        let parsed = if body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            match serde_json::from_slice::<Value>(body) {
                Ok(v) => Some(v),
                Err(e) => {
                    return (
                        GateDecision::Respond(Err(ApiFailure::BadRequest(format!(
                            "The body is not valid JSON: {e}"
                        )))),
                        fault,
                        Vec::new(),
                    )
                }
            }
        };
        let call = ApiCall {
            method,
            segments: rest.split('/').collect(),
            query: form_urlencoded::parse(raw_query.as_bytes())
                .into_owned()
                .collect(),
            body: parsed,
            base: format!("{host_base}/{subdomain}"),
            now: now_ms.div_euclid(1000),
            user_id,
        };
        let mut result = dispatch(
            account,
            ApiLimits {
                max_page: config.max_page,
                max_write_batch: config.max_write_batch,
            },
            &call,
        );
        let changes = match &mut result {
            Ok(outcome) => {
                if method != "GET" {
                    account.counters.applied_writes += 1;
                }
                std::mem::take(&mut outcome.changes)
            }
            Err(_) => Vec::new(),
        };
        let decision = if apply_then_hang {
            GateDecision::Hang
        } else if let Some(delay) = latency {
            GateDecision::Delayed(delay, result)
        } else {
            GateDecision::Respond(result)
        };
        (decision, fault, changes)
    }

    /// Resolves the subdomain of an access token (`/oauth2/account/subdomain`).
    pub fn token_subdomain(&self, bearer: &str) -> Option<(i64, String)> {
        let world = self.world();
        let now = self.shared.clock.now_ms();
        let grant = world.access.get(bearer).filter(|g| g.expires_at_ms > now)?;
        let account = world.accounts.get(&grant.subdomain)?;
        Some((account.id, account.subdomain.clone()))
    }
}

fn take_fault(account: &mut Account, method: &str) -> Option<FaultRule> {
    let index = account.faults.iter().position(|f| {
        f.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
    })?;
    let rule = account.faults.get_mut(index)?;
    let taken = rule.clone();
    rule.count = rule.count.saturating_sub(1);
    if rule.count == 0 {
        account.faults.remove(index);
    }
    Some(taken)
}

fn subscribed(account: &Account, event: &str) -> Vec<String> {
    let mut hooks: Vec<_> = account
        .webhooks
        .iter()
        .filter(|h| !h.disabled && h.settings.iter().any(|s| s == event))
        .collect();
    hooks.sort_by_key(|h| h.sort);
    hooks.into_iter().map(|h| h.destination.clone()).collect()
}

fn push_delivery(
    world: &mut World,
    subdomain: &str,
    kind: DeliveryKind,
    url: String,
    body: String,
    event: String,
    now_ms: UnixMillis,
) {
    let id = world.deliveries.len() as u64 + 1;
    let content_type = match kind {
        DeliveryKind::SalesbotWidgetRequest => "application/json",
        _ => "application/x-www-form-urlencoded",
    };
    world.deliveries.push(Delivery {
        id,
        subdomain: subdomain.to_owned(),
        kind,
        url,
        content_type: content_type.into(),
        body,
        event,
        attempts: Vec::new(),
        next_attempt_at_ms: Some(now_ms),
    });
}

/// A chat message to make with [`Emulator::chat_message`].
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ChatMessageRequest {
    /// The contact whose chat it is.
    #[serde(default)]
    pub contact_id: Option<i64>,
    /// The lead the chat is about.
    #[serde(default)]
    pub lead_id: Option<i64>,
    /// Author's display name (a new contact's name).
    #[serde(default)]
    pub author_name: String,
    /// Text.
    #[serde(default)]
    pub text: String,
    /// Channel.
    #[serde(default)]
    pub origin: String,
    /// Written by a manager rather than the client.
    #[serde(default)]
    pub outgoing: bool,
}
