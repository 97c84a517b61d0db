//! Settings, merged from defaults, an optional TOML file and the environment (later wins).
//!
//! Every key can be set as `RULEBOOK_<KEY>` (e.g. `RULEBOOK_KOMMO_CLIENT_SECRET`); `DATABASE_URL` is
//! also read without the prefix, as most tooling expects.

use std::{
    net::SocketAddr,
    num::{NonZeroU64, NonZeroUsize},
    path::Path,
};

use figment::{
    providers::{Env, Format, Serialized, Toml},
    Figment,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

/// The backend's settings. Its `Debug` shows no secret: the client secret and the encryption key
/// are [`SecretString`]s, and the password of `database_url` is masked.
#[derive(Clone, Deserialize)]
pub struct Settings {
    /// Where the HTTP server listens.
    pub bind: SocketAddr,
    /// `sqlite://…` (the embedded default) or `postgres://…`.
    pub database_url: String,
    /// Our public origin as Kommo sees it (`scheme://host[:port]`): the `aud` of disposable tokens.
    pub public_url: Url,
    /// The integration's id in Kommo: the `client_uuid` claim of disposable tokens.
    pub kommo_client_id: String,
    /// The integration's secret key: signs disposable tokens (HS256).
    pub kommo_client_secret: SecretString,
    /// Host suffixes of Kommo account pages allowed by CORS, e.g. `.kommo.com`.
    pub cors_origin_suffixes: Vec<String>,
    /// Exact extra origins allowed by CORS, e.g. the sandbox host page.
    pub cors_extra_origins: Vec<String>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub token_leeway_s: u64,
    /// Encrypts Kommo OAuth tokens at rest: base64 of 32 random bytes (`openssl rand -base64 32`).
    /// The default is a public sandbox key; production must set its own.
    #[serde(default = "sandbox_token_encryption_key")]
    pub token_encryption_key: SecretString,
    /// How many jobs this process runs at once.
    #[serde(default = "default_worker_count")]
    pub worker_count: usize,
    /// How long a claimed job is reserved for its worker before another may claim it, in seconds.
    #[serde(default = "default_job_lease_s")]
    pub job_lease_s: u64,
    /// Attempts of a job before it is dead-lettered.
    #[serde(default = "default_job_max_attempts")]
    pub job_max_attempts: i64,
    /// The delay before a job's first retry, in seconds; doubled for each further attempt.
    #[serde(default = "default_job_retry_base_s")]
    pub job_retry_base_s: u64,
    /// The longest delay between retries, in seconds.
    #[serde(default = "default_job_retry_cap_s")]
    pub job_retry_cap_s: u64,
    /// Events deeper than this in a chain caused by Rulebook's own changes stop (loop protection).
    #[serde(default = "default_chain_limit")]
    pub engine_chain_limit: u32,
    /// How long after one of Rulebook's own writes to an entity an event about that entity counts
    /// as caused by it (and so one step deeper in its chain), in seconds. Raise it when Kommo's
    /// webhooks reach the backend late.
    #[serde(default = "default_write_mark_ttl_s")]
    pub engine_write_mark_ttl_s: u64,
    /// How much later than its talk a chat message may be stamped and still count as the message
    /// that opened it ("conversation started"), in seconds. Kommo does not document how far apart
    /// the two are.
    #[serde(default = "default_talk_first_message_slack_s")]
    pub engine_talk_first_message_slack_s: u32,
    /// How old, in seconds, the account's schema read from Kommo (pipelines, users, fields…) may
    /// be before it is read again; `POST /api/v1/account/schema/refresh` reads it at once.
    #[serde(default = "default_schema_max_age_s")]
    pub schema_max_age_s: u64,
    /// Lets "send webhook" reach loopback and private networks; only for tests and sandboxes.
    #[serde(default)]
    pub allow_private_webhook_targets: bool,
    /// The deadline of one "send webhook", in seconds: resolving the host, connecting, sending and
    /// reading the answer.
    #[serde(default = "default_webhook_timeout_s")]
    pub webhook_timeout_s: NonZeroU64,
    /// The most of a webhook's answer read, in bytes (the rest is never read), so also the most
    /// its follow-up rule gets as `{webhook_data}`.
    #[serde(default = "default_webhook_max_response_bytes")]
    pub webhook_max_response_bytes: NonZeroUsize,
    /// Where accounts' APIs live when not at `https://{referer}` (Kommo's own hosts): a template
    /// with `{subdomain}`, e.g. the emulator's `http://127.0.0.1:PORT/{subdomain}`. Only for tests
    /// and sandboxes; production leaves it unset.
    #[serde(default)]
    pub kommo_base_url_template: Option<String>,
    /// On PostgreSQL, pace Kommo requests per account across all processes through the database
    /// (on SQLite, one process paces itself).
    #[serde(default = "default_true")]
    pub kommo_rate_limit_shared: bool,
    /// Kommo requests per second per account (Kommo allows 7).
    #[serde(default = "default_kommo_requests_per_second")]
    pub kommo_requests_per_second: u32,
    /// Inbound webhook calls and trigger-link clicks accepted per account and minute, in this
    /// process: a burst of this many, refilled evenly; beyond it, 429. 0 means no limit.
    #[serde(default = "default_inbound_requests_per_minute")]
    pub inbound_requests_per_minute: u32,
    /// OAuth callbacks accepted per client address and minute, in this process: a burst of this
    /// many, refilled evenly; beyond it, 429. 0 means no limit.
    #[serde(default = "default_oauth_callbacks_per_minute")]
    pub oauth_callbacks_per_minute: u32,
    /// How many reverse proxies stand in front of the backend, each appending the address it saw
    /// to `X-Forwarded-For`. 0: the client address is the connection's peer and the header is
    /// ignored (anyone can write it); N: the address N entries from the header's end, the one the
    /// outermost trusted proxy saw.
    #[serde(default)]
    pub trusted_proxy_hops: usize,
    /// The bearer token `/metrics` asks for (`Authorization: Bearer …`); unset, `/metrics` is open
    /// to whoever reaches the port (its numbers name no account).
    #[serde(default)]
    pub metrics_token: Option<SecretString>,
    /// How long a dead job is kept for inspection and retry before it is pruned, in days.
    #[serde(default = "default_dead_job_retention_days")]
    pub dead_job_retention_days: u32,
    /// How much of a request's body a receiver's request log keeps, in bytes (its variables are
    /// read from the whole body).
    #[serde(default = "default_receiver_log_max_body_bytes")]
    pub receiver_log_max_body_bytes: usize,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("bind", &self.bind)
            .field("database_url", &mask_password(&self.database_url))
            .field("public_url", &self.public_url.as_str())
            .field("kommo_client_id", &self.kommo_client_id)
            .field("kommo_client_secret", &self.kommo_client_secret)
            .field("cors_origin_suffixes", &self.cors_origin_suffixes)
            .field("cors_extra_origins", &self.cors_extra_origins)
            .field("token_leeway_s", &self.token_leeway_s)
            .field("token_encryption_key", &self.token_encryption_key)
            .field("worker_count", &self.worker_count)
            .field("job_lease_s", &self.job_lease_s)
            .field("job_max_attempts", &self.job_max_attempts)
            .field("job_retry_base_s", &self.job_retry_base_s)
            .field("job_retry_cap_s", &self.job_retry_cap_s)
            .field("engine_chain_limit", &self.engine_chain_limit)
            .field("engine_write_mark_ttl_s", &self.engine_write_mark_ttl_s)
            .field(
                "engine_talk_first_message_slack_s",
                &self.engine_talk_first_message_slack_s,
            )
            .field("schema_max_age_s", &self.schema_max_age_s)
            .field(
                "allow_private_webhook_targets",
                &self.allow_private_webhook_targets,
            )
            .field("kommo_base_url_template", &self.kommo_base_url_template)
            .field("kommo_rate_limit_shared", &self.kommo_rate_limit_shared)
            .field("kommo_requests_per_second", &self.kommo_requests_per_second)
            .field(
                "inbound_requests_per_minute",
                &self.inbound_requests_per_minute,
            )
            .field(
                "oauth_callbacks_per_minute",
                &self.oauth_callbacks_per_minute,
            )
            .field("trusted_proxy_hops", &self.trusted_proxy_hops)
            .field("dead_job_retention_days", &self.dead_job_retention_days)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "***"))
            .field(
                "receiver_log_max_body_bytes",
                &self.receiver_log_max_body_bytes,
            )
            .finish()
    }
}

/// A database URL with its password replaced by `***` (a URL that does not parse is hidden whole,
/// as it may hold one anywhere).
fn mask_password(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Setting a password fails only for URLs that cannot have one.
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "***".to_owned(),
    }
}

fn default_oauth_callbacks_per_minute() -> u32 {
    30
}

fn default_dead_job_retention_days() -> u32 {
    30
}

fn default_inbound_requests_per_minute() -> u32 {
    600
}

fn default_schema_max_age_s() -> u64 {
    300
}

fn default_webhook_timeout_s() -> NonZeroU64 {
    const { NonZeroU64::new(crate::engine::outbound::DEFAULT_TIMEOUT.as_secs()).unwrap() }
}

fn default_webhook_max_response_bytes() -> NonZeroUsize {
    const { NonZeroUsize::new(crate::engine::outbound::MAX_RESPONSE_BYTES).unwrap() }
}

fn default_receiver_log_max_body_bytes() -> usize {
    64 * 1024
}

fn default_true() -> bool {
    true
}

fn default_chain_limit() -> u32 {
    5
}

fn default_write_mark_ttl_s() -> u64 {
    60
}

fn default_talk_first_message_slack_s() -> u32 {
    5
}

fn default_kommo_requests_per_second() -> u32 {
    6
}

/// The public sandbox key for tokens at rest; never use it in production.
pub const SANDBOX_TOKEN_ENCRYPTION_KEY: &str = "cnVsZWJvb2stc2FuZGJveC10b2tlbi1rZXktMzJieXQ=";

fn sandbox_token_encryption_key() -> SecretString {
    SecretString::from(SANDBOX_TOKEN_ENCRYPTION_KEY)
}

fn default_worker_count() -> usize {
    4
}

fn default_job_lease_s() -> u64 {
    300
}

fn default_job_max_attempts() -> i64 {
    8
}

fn default_job_retry_base_s() -> u64 {
    10
}

fn default_job_retry_cap_s() -> u64 {
    3600
}

/// The defaults: a local SQLite file and a sandbox integration.
#[derive(Debug, Serialize)]
struct Defaults {
    bind: SocketAddr,
    database_url: &'static str,
    public_url: &'static str,
    cors_origin_suffixes: Vec<&'static str>,
    cors_extra_origins: Vec<&'static str>,
    token_leeway_s: u64,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://rulebook.db?mode=rwc",
            public_url: "http://127.0.0.1:8080",
            cors_origin_suffixes: vec![".kommo.com", ".amocrm.com", ".amocrm.ru"],
            cors_extra_origins: vec![],
            token_leeway_s: 5,
        }
    }
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("invalid settings: {0}")]
pub struct SettingsError(#[from] Box<figment::Error>);

impl Settings {
    /// Loads defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        let mut figment = Figment::from(Serialized::defaults(Defaults::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        let settings: Self = figment
            .merge(Env::raw().only(&["DATABASE_URL"]))
            .merge(Env::prefixed("RULEBOOK_"))
            .extract()
            .map_err(|e| SettingsError(Box::new(e)))?;
        settings.refuse_sandbox_secrets_in_production()?;
        settings.refuse_sandbox_overrides_in_production()?;
        Ok(settings)
    }

    /// A public HTTPS deployment must not encrypt tokens with the published sandbox key.
    fn refuse_sandbox_secrets_in_production(&self) -> Result<(), SettingsError> {
        use secrecy::ExposeSecret;
        let public = self.public_url.scheme() == "https";
        if public && self.token_encryption_key.expose_secret() == SANDBOX_TOKEN_ENCRYPTION_KEY {
            return Err(SettingsError(Box::new(figment::Error::from(
                "token_encryption_key is the public sandbox key, but public_url is https: set \
                 RULEBOOK_TOKEN_ENCRYPTION_KEY to base64 of 32 random bytes (openssl rand -base64 32)"
                    .to_string(),
            ))));
        }
        Ok(())
    }

    /// A public HTTPS deployment must not open "send webhook" to private networks nor send
    /// connecting accounts' API calls anywhere but Kommo's own hosts: those are sandbox settings.
    fn refuse_sandbox_overrides_in_production(&self) -> Result<(), SettingsError> {
        if self.public_url.scheme() != "https" {
            return Ok(());
        }
        let refused = if self.allow_private_webhook_targets {
            Some("allow_private_webhook_targets (RULEBOOK_ALLOW_PRIVATE_WEBHOOK_TARGETS)")
        } else if self.kommo_base_url_template.is_some() {
            Some("kommo_base_url_template (RULEBOOK_KOMMO_BASE_URL_TEMPLATE)")
        } else {
            None
        };
        match refused {
            Some(setting) => Err(SettingsError(Box::new(figment::Error::from(format!(
                "{setting} is for tests and sandboxes, but public_url is https: unset it"
            ))))),
            None => Ok(()),
        }
    }

    /// The redirect URI registered with the integration: Kommo sends users (and widget installs)
    /// back to it with an authorization code, and the code exchange must name it again.
    pub fn oauth_redirect_uri(&self) -> String {
        format!(
            "{}/oauth/kommo/callback",
            self.public_url.as_str().trim_end_matches('/')
        )
    }

    /// The `aud` a disposable token must carry: our public origin without a trailing slash.
    pub fn audience(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail closures must return figment's large error type.
mod tests {
    use super::*;

    #[test]
    fn file_values_are_overridden_by_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "rulebook.toml",
                r#"
                kommo_client_id = "file-id"
                kommo_client_secret = "file-secret"
                database_url = "sqlite://from-file.db"
                "#,
            )?;
            jail.set_env("RULEBOOK_KOMMO_CLIENT_ID", "env-id");
            jail.set_env("DATABASE_URL", "postgres://127.0.0.1/test");
            let s = Settings::load(Some(Path::new("rulebook.toml"))).expect("settings load");
            assert_eq!(s.kommo_client_id, "env-id");
            assert_eq!(s.database_url, "postgres://127.0.0.1/test");
            assert_eq!(s.token_leeway_s, 5);
            assert_eq!(s.audience(), "http://127.0.0.1:8080");
            Ok(())
        });
    }

    #[test]
    fn an_https_deployment_refuses_the_sandbox_encryption_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("RULEBOOK_KOMMO_CLIENT_ID", "id");
            jail.set_env("RULEBOOK_KOMMO_CLIENT_SECRET", "secret");
            jail.set_env("RULEBOOK_PUBLIC_URL", "https://rulebook.example.com");
            let err = Settings::load(None).expect_err("must refuse");
            assert!(
                err.to_string().contains("RULEBOOK_TOKEN_ENCRYPTION_KEY"),
                "{err}"
            );
            jail.set_env(
                "RULEBOOK_TOKEN_ENCRYPTION_KEY",
                "q2Xk3m1W0v9yPz8Rt7Ls6Nd5Jc4Hb3Ga2Fe1Dc0Ba9Y=",
            );
            assert!(Settings::load(None).is_ok());
            Ok(())
        });
    }

    #[test]
    fn engine_and_inbound_limits_default_and_come_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("RULEBOOK_KOMMO_CLIENT_ID", "id");
            jail.set_env("RULEBOOK_KOMMO_CLIENT_SECRET", "secret");
            let s = Settings::load(None).expect("defaults");
            assert_eq!(s.engine_write_mark_ttl_s, 60);
            assert_eq!(s.engine_talk_first_message_slack_s, 5);
            assert_eq!(s.schema_max_age_s, 300);
            assert_eq!(s.inbound_requests_per_minute, 600);
            jail.set_env("RULEBOOK_ENGINE_WRITE_MARK_TTL_S", "300");
            jail.set_env("RULEBOOK_INBOUND_REQUESTS_PER_MINUTE", "0");
            let s = Settings::load(None).expect("overridden");
            assert_eq!(s.engine_write_mark_ttl_s, 300);
            assert_eq!(s.inbound_requests_per_minute, 0);
            assert_eq!(
                crate::engine::EngineConfig::from_settings(&s).write_mark_ttl_ms,
                300_000
            );
            Ok(())
        });
    }

    #[test]
    fn webhook_deadline_and_answer_cap_default_and_come_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("RULEBOOK_KOMMO_CLIENT_ID", "id");
            jail.set_env("RULEBOOK_KOMMO_CLIENT_SECRET", "secret");
            let webhook = |s: &Settings| crate::engine::EngineConfig::from_settings(s).webhook;
            let s = Settings::load(None).expect("defaults");
            assert_eq!(
                webhook(&s),
                crate::engine::outbound::OutboundConfig::default()
            );
            assert_eq!(webhook(&s).timeout, std::time::Duration::from_secs(5));
            jail.set_env("RULEBOOK_WEBHOOK_TIMEOUT_S", "3");
            jail.set_env("RULEBOOK_WEBHOOK_MAX_RESPONSE_BYTES", "1000");
            let s = Settings::load(None).expect("overridden");
            assert_eq!(webhook(&s).timeout, std::time::Duration::from_secs(3));
            assert_eq!(webhook(&s).max_response_bytes, 1000);
            assert!(!webhook(&s).allow_private_targets);
            jail.set_env("RULEBOOK_WEBHOOK_TIMEOUT_S", "0");
            let err = Settings::load(None).expect_err("a zero deadline is refused");
            let text = err.to_string().to_lowercase();
            assert!(
                text.contains("webhook_timeout_s") && text.contains("nonzero"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn an_https_deployment_refuses_private_targets_and_a_base_url_override() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("RULEBOOK_KOMMO_CLIENT_ID", "id");
            jail.set_env("RULEBOOK_KOMMO_CLIENT_SECRET", "secret");
            jail.set_env("RULEBOOK_ALLOW_PRIVATE_WEBHOOK_TARGETS", "true");
            jail.set_env(
                "RULEBOOK_KOMMO_BASE_URL_TEMPLATE",
                "http://127.0.0.1:8090/{subdomain}",
            );
            assert!(Settings::load(None).is_ok(), "http: a sandbox may");
            jail.set_env("RULEBOOK_PUBLIC_URL", "https://rulebook.example.com");
            jail.set_env(
                "RULEBOOK_TOKEN_ENCRYPTION_KEY",
                "q2Xk3m1W0v9yPz8Rt7Ls6Nd5Jc4Hb3Ga2Fe1Dc0Ba9Y=",
            );
            let err = Settings::load(None).expect_err("private targets refused");
            assert!(
                err.to_string()
                    .contains("RULEBOOK_ALLOW_PRIVATE_WEBHOOK_TARGETS"),
                "{err}"
            );
            jail.set_env("RULEBOOK_ALLOW_PRIVATE_WEBHOOK_TARGETS", "false");
            let err = Settings::load(None).expect_err("base URL override refused");
            assert!(
                err.to_string().contains("RULEBOOK_KOMMO_BASE_URL_TEMPLATE"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn debug_output_of_the_settings_contains_no_secret() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("RULEBOOK_KOMMO_CLIENT_ID", "id");
            jail.set_env("RULEBOOK_KOMMO_CLIENT_SECRET", "client-s3cret");
            jail.set_env(
                "RULEBOOK_TOKEN_ENCRYPTION_KEY",
                "q2Xk3m1W0v9yPz8Rt7Ls6Nd5Jc4Hb3Ga2Fe1Dc0Ba9Y=",
            );
            jail.set_env(
                "DATABASE_URL",
                "postgres://rulebook:db-pa55word@db.internal:5432/rulebook",
            );
            let s = Settings::load(None).expect("settings");
            let shown = format!("{s:?} {s:#?}");
            for secret in [
                "client-s3cret",
                "q2Xk3m1W0v9yPz8Rt7Ls6Nd5Jc4Hb3Ga2Fe1Dc0Ba9Y=",
                "db-pa55word",
            ] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
            assert!(shown.contains("db.internal"), "the rest stays: {shown}");
            assert!(shown.contains("oauth_callbacks_per_minute: 30"), "{shown}");
            Ok(())
        });
    }

    #[test]
    fn a_missing_client_secret_is_a_clear_error() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("RULEBOOK_KOMMO_CLIENT_ID", "id");
            let err = Settings::load(None).expect_err("must fail");
            assert!(err.to_string().contains("kommo_client_secret"), "{err}");
            Ok(())
        });
    }
}
