//! The engine side of the backend: stored events become domain events, each is matched against
//! the account's enabled rules, evaluated by `domain` against one snapshot read through the Kommo
//! client, and the planned actions are performed through that client (or queued as delayed jobs).
//!
//! # Layout
//! - [`events`]: Kommo webhooks, digital-pipeline requests, inbound hooks and trigger links
//!   translated into [`domain::event::Event`]s, with the changed fields and tags worked out.
//! - [`schema`]: the account's schema (pipelines, users, fields, task types, tags, Salesbots, loss
//!   reasons, timezone) read through the client, stored for every process, and cached: the API
//!   answers it, validation checks rules against it, and the engine's account facts come from it.
//! - [`snapshot`]: the entity snapshot and the account facts (timezone, users, field
//!   definitions, from the schema), read through the client.
//! - [`executor`]: planned actions performed through the client, entity updates of all the rules of
//!   an event merged into as few requests as possible.
//! - [`pipeline`]: the `process_event`, `run_delayed_action` and `run_rule` job handlers, the dry run.
//! - [`records`]: the engine's own tables: per-entity rule state, entity memory, our write marks
//!   (loop protection), finished rule runs, task result options.
//! - [`schedule`]: scheduled rule events (`at_date_time`, `recurring`, `relative_to_date_field`)
//!   as `fire_schedule` jobs in the account's timezone.
//! - [`talks`]: conversations (Kommo's talks) started and closed, from what was seen of each talk.
//! - [`tokens`]: the Kommo client's token store over the accounts table.
//! - [`outbound`]: "send webhook" requests with the private-network guard.

pub mod events;
pub mod executor;
pub mod outbound;
pub mod pipeline;
pub mod records;
pub mod schedule;
pub mod schema;
pub mod snapshot;
pub mod talks;
pub mod tokens;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use domain::eval::CompiledRule;
use kommo::{AccountClient, AccountEndpoint, ClientConfig, KommoClient, KommoError, OAuthApp};
use secrecy::ExposeSecret;
use sqlx::Row;

use crate::{
    clock::{Millis, SharedClock},
    config::Settings,
    db::Db,
    queue::Queue,
    store::{rate_limit::SharedRateLimiter, token_cipher::TokenCipher, StoreError},
};

/// How the engine behaves; from [`Settings`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Events deeper than this in a chain caused by our own writes are not processed.
    pub chain_limit: u32,
    /// How long after one of our writes an event about the same entity counts as caused by it.
    pub write_mark_ttl_ms: Millis,
    /// How much later than its talk a message may be stamped and still be the one that opened it
    /// ("conversation started"), in seconds.
    pub talk_first_message_slack_s: i64,
    /// How "send webhook" sends: which addresses it may reach, its deadline, how much of an
    /// answer it reads.
    pub webhook: outbound::OutboundConfig,
    /// How old the account's schema (timezone, users, fields, pipelines…) may be before it is
    /// read from Kommo again.
    pub schema_max_age_ms: Millis,
    /// The Kommo client's settings.
    pub client: ClientConfig,
    /// The backend's public URL without a trailing slash: the base of trigger-link URLs.
    pub public_url: String,
}

impl EngineConfig {
    /// The configuration the settings ask for.
    pub fn from_settings(settings: &Settings) -> Self {
        let client = ClientConfig {
            requests_per_second: settings.kommo_requests_per_second.max(1),
            ..ClientConfig::default()
        };
        Self {
            chain_limit: settings.engine_chain_limit,
            write_mark_ttl_ms: i64::try_from(settings.engine_write_mark_ttl_s.saturating_mul(1000))
                .unwrap_or(Millis::MAX),
            talk_first_message_slack_s: i64::from(settings.engine_talk_first_message_slack_s),
            webhook: outbound::OutboundConfig {
                allow_private_targets: settings.allow_private_webhook_targets,
                timeout: std::time::Duration::from_secs(settings.webhook_timeout_s.get()),
                max_response_bytes: settings.webhook_max_response_bytes.get(),
            },
            schema_max_age_ms: i64::try_from(settings.schema_max_age_s.saturating_mul(1000))
                .unwrap_or(Millis::MAX),
            client,
            public_url: settings
                .public_url
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
        }
    }
}

/// Whether a run of the engine may change anything: the one switch of every path that looks up or
/// creates entities or writes to our own tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// A job's run, under the job's lease: what it performs is claimed by that lease.
    Live(crate::queue::Lease),
    /// A dry run or a replay: Kommo is only read (the account's client is read-only, so a write
    /// fails before it is sent), our tables are only read, nothing is queued or performed.
    Dry,
}

/// Why the engine could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Kommo failed or refused.
    #[error("Kommo: {0}")]
    Kommo(#[from] KommoError),
    /// The account has not connected Rulebook to Kommo yet.
    #[error("account {0} has no Kommo tokens; connect it first")]
    NotConnected(i64),
    /// The stored event or job cannot be understood; retrying will not help.
    #[error("{0}")]
    Malformed(String),
    /// A dry run or a replay was asked to change something; nothing was changed.
    #[error("a dry run or a replay was asked to {0}; it changes nothing")]
    ReadOnly(&'static str),
    /// The job's work belongs to another claim right now (another worker is performing one of its
    /// actions, or this claim's lease ran out): this run stops without recording anything.
    #[error("stopped: {0}")]
    Superseded(String),
}

impl From<sqlx::Error> for EngineError {
    fn from(err: sqlx::Error) -> Self {
        Self::Store(StoreError::Db(err))
    }
}

impl EngineError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Store(_) | Self::Superseded(_) => true,
            Self::Kommo(e) => !matches!(
                e,
                KommoError::NotFound
                    | KommoError::Decode(_)
                    | KommoError::BaseUrl(_)
                    | KommoError::Rejected(_)
                    | KommoError::NoToken(_)
                    | KommoError::ReadOnly(_)
            ),
            Self::NotConnected(_) | Self::Malformed(_) | Self::ReadOnly(_) => false,
        }
    }
}

/// The engine: the database, the clock, the queue, the Kommo client, and caches of compiled rules
/// and account schemas. One per process; cheap to share behind an `Arc`.
pub struct Engine {
    db: Db,
    clock: SharedClock,
    queue: Queue,
    kommo: KommoClient,
    oauth: OAuthApp,
    config: EngineConfig,
    rules: Mutex<HashMap<i64, (i64, Arc<CompiledRule>)>>,
    schemas: schema::SchemaCache,
    coalescer: executor::UpdateCoalescer,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over `db` and `queue`, with tokens opened by `cipher`.
    pub fn new(
        db: Db,
        clock: SharedClock,
        queue: Queue,
        cipher: Arc<TokenCipher>,
        settings: &Settings,
    ) -> Result<Self, KommoError> {
        let config = EngineConfig::from_settings(settings);
        let store = tokens::DbTokenStore::new(db.clone(), cipher);
        let mut builder = KommoClient::builder(Arc::new(store))
            .config(config.client.clone())
            .clock(crate::clock::for_kommo(&clock));
        if db.dialect == crate::db::Dialect::Postgres && settings.kommo_rate_limit_shared {
            // Several processes share the account's Kommo rate limit through the database.
            builder = builder.limiter(Arc::new(SharedRateLimiter::new(
                db.clone(),
                clock.clone(),
                config.client.requests_per_second,
            )));
        }
        let kommo = builder.build()?;
        let oauth = OAuthApp {
            client_id: settings.kommo_client_id.clone(),
            client_secret: settings.kommo_client_secret.expose_secret().to_owned(),
            redirect_uri: settings.oauth_redirect_uri(),
        };
        Ok(Self {
            db,
            clock,
            queue,
            kommo,
            oauth,
            config,
            rules: Mutex::new(HashMap::new()),
            schemas: schema::SchemaCache::default(),
            coalescer: executor::UpdateCoalescer::default(),
        })
    }

    /// The settings in force.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The process-wide Kommo client.
    pub fn kommo(&self) -> &KommoClient {
        &self.kommo
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The Kommo client of one account, at its configured base URL.
    pub async fn account_client(&self, account_id: i64) -> Result<AccountClient, EngineError> {
        let row =
            sqlx::query("SELECT subdomain, kommo_base_url FROM accounts WHERE account_id = $1")
                .bind(account_id)
                .fetch_optional(&self.db.pool)
                .await?
                .ok_or(EngineError::NotConnected(account_id))?;
        let subdomain: String = row.try_get(0)?;
        let base: Option<String> = row.try_get(1)?;
        let base = base.unwrap_or_else(|| format!("https://{subdomain}.kommo.com"));
        let endpoint =
            AccountEndpoint::at(&account_id.to_string(), &base, Some(self.oauth.clone()))?;
        Ok(self.kommo.account(endpoint))
    }

    /// The compiled current version of a rule, from the cache when it is fresh.
    fn compiled(
        &self,
        rule_id: i64,
        version: i64,
        body: &str,
    ) -> Result<Arc<CompiledRule>, String> {
        let mut cache = self
            .rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((cached_version, rule)) = cache.get(&rule_id) {
            if *cached_version == version {
                return Ok(rule.clone());
            }
        }
        let rule = domain::rule::Rule::from_json(body).map_err(|e| e.to_string())?;
        let compiled = Arc::new(CompiledRule::new(rule));
        cache.insert(rule_id, (version, compiled.clone()));
        Ok(compiled)
    }
}

/// Points an account's Kommo API at `base_url` (the emulator, a proxy); `None` restores
/// `https://{subdomain}.kommo.com`.
pub async fn set_kommo_base_url(
    db: &Db,
    account_id: i64,
    base_url: Option<&str>,
) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE accounts SET kommo_base_url = $2 WHERE account_id = $1")
        .bind(account_id)
        .bind(base_url)
        .execute(&db.pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound("account"));
    }
    Ok(())
}
