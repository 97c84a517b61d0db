//! The whole stack on loopback for pipeline tests: the Kommo emulator (frozen clock) and the backend
//! (manual clock, same instant) serving real HTTP, the emulator's webhooks subscribed to the
//! backend's hook URL, and the account connected with OAuth tokens the emulator issued.
//!
//! Nothing waits on wall time: [`Stack::settle`] alternates the emulator's due deliveries and the
//! backend's queue (`try_run_one`) until both are quiet, and [`Stack::advance`] moves both clocks.

use std::{sync::Arc, time::Duration};

use kommo_emulator::{spawn_on_loopback, Emulator, EmulatorClock, EmulatorConfig, RunningEmulator};
use rulebook::{
    clock::{Clock, ManualClock},
    config::Settings,
    db, engine, jobs,
    queue::worker::{Outcome, Worker},
    startup::{router, AppState},
    store::{accounts, execution_log, rules},
};
use secrecy::SecretString;
use serde_json::{json, Value};
use sqlx::{Connection, Executor};

/// The integration's id, in the emulator's account and in the backend's settings.
pub const CLIENT_ID: &str = "00000000-0000-4000-8000-00000000e2e0";
/// Its secret.
pub const CLIENT_SECRET: &str = "e2e-client-secret";
/// 2026-11-23T12:00:00Z: both clocks start here.
pub const START_MS: i64 = 1_795_435_200_000;
/// The emulated account's subdomain.
pub const SUBDOMAIN: &str = "acme";
/// The emulated account's id.
pub const ACCOUNT_ID: i64 = 32_000_001;

/// Which database the backend uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database {
    /// A temp SQLite file.
    Sqlite,
    /// A fresh database on the server at `TEST_POSTGRES_URL`.
    Postgres,
}

/// The running stack.
pub struct Stack {
    /// The emulator and its server.
    pub kommo: RunningEmulator,
    /// The backend's state.
    pub app: AppState,
    /// The backend's clock.
    pub clock: ManualClock,
    /// A worker running the backend's registered job kinds.
    pub worker: Worker,
    /// The backend's origin, `http://127.0.0.1:PORT`.
    pub backend_url: String,
    /// The account's webhook URL at the backend.
    pub hook_url: String,
    /// The account's digital-pipeline URL at the backend.
    pub dp_url: String,
    server: tokio::task::JoinHandle<()>,
    _sqlite_dir: Option<tempfile::TempDir>,
    postgres_database: Option<String>,
}

fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// Settings for the backend on `database_url`, with the private-network guard opened for loopback
/// receivers and a Kommo rate that does not slow tests down.
pub fn settings(database_url: &str) -> Settings {
    figment::Figment::new()
        .merge(figment::providers::Serialized::defaults(json!({
            "bind": "127.0.0.1:0",
            "database_url": database_url,
            "public_url": "http://127.0.0.1:9",
            "kommo_client_id": CLIENT_ID,
            "kommo_client_secret": CLIENT_SECRET,
            "cors_origin_suffixes": [".kommo.com"],
            "cors_extra_origins": [],
            "token_leeway_s": 5,
            "allow_private_webhook_targets": true,
            "kommo_requests_per_second": 1000,
            "kommo_rate_limit_shared": false,
            "worker_count": 1,
        })))
        .extract()
        .expect("e2e settings")
}

/// The default seed: one account with users, a pipeline, lead and contact fields, our integration.
pub fn default_seed() -> Value {
    json!({
        "subdomain": SUBDOMAIN,
        "id": ACCOUNT_ID,
        "timezone": "Europe/Berlin",
        "users": [{"id": 101, "name": "Anna"}, {"id": 102, "name": "Boris"}],
        "pipelines": [{"id": 10, "name": "Sales", "statuses": [
            {"id": 11, "name": "New"}, {"id": 12, "name": "Qualified"}, {"id": 13, "name": "Offer"}]}],
        "custom_fields": {
            "leads": [
                {"id": 501, "name": "Order type", "type": "select", "enums": [
                    {"id": 5011, "value": "WHOLESALE"}, {"id": 5012, "value": "RETAIL"}]},
                {"id": 502, "name": "Amount", "type": "numeric"},
                {"id": 503, "name": "Paid", "type": "checkbox"},
                {"id": 504, "name": "Comment", "type": "text"},
                {"id": 505, "name": "Missed calls", "type": "numeric"},
                {"id": 506, "name": "Meeting", "type": "date_time"}
            ],
            "contacts": [
                {"id": 601, "name": "Phone", "type": "multitext", "code": "PHONE"},
                {"id": 602, "name": "Email", "type": "multitext", "code": "EMAIL"},
                {"id": 603, "name": "Birthday", "type": "birthday"}
            ]
        },
        "integrations": [{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                          "redirect_uri": "http://127.0.0.1:9/oauth"}]
    })
}

/// A manual rule on leads with one block of `actions` (rule model JSON): what buttons, lists,
/// other rules and digital-pipeline actions run.
pub fn manual(name: &str, actions: Value) -> Value {
    json!({"schema_version": 2, "name": name, "trigger": {"kind": "manual", "entity": "lead"},
           "blocks": [{"actions": actions}]})
}

/// Every account webhook event code the emulator knows.
pub const ALL_EVENTS: &[&str] = &[
    "add_lead",
    "update_lead",
    "status_lead",
    "responsible_lead",
    "add_contact",
    "update_contact",
    "responsible_contact",
    "add_company",
    "update_company",
    "add_task",
    "update_task",
    "note_lead",
    "note_contact",
    "note_company",
    "add_message",
    "add_talk",
    "update_talk",
];

async fn fresh_database(database: Database) -> (String, Option<tempfile::TempDir>, Option<String>) {
    match database {
        Database::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("e2e.db").display());
            (url, Some(dir), None)
        }
        Database::Postgres => {
            let admin = postgres_admin_url();
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL is not reachable at {admin}: {e}"));
            let name = format!("e2e_{}", uuid::Uuid::new_v4().simple());
            conn.execute(format!("CREATE DATABASE {name}").as_str())
                .await
                .expect("create test database");
            let mut url = url::Url::parse(&admin).expect("TEST_POSTGRES_URL is a URL");
            url.set_path(&name);
            (url.to_string(), None, Some(name))
        }
    }
}

impl Stack {
    /// Starts the emulator with `seed` and the backend on `database`, connects the account and
    /// subscribes the backend to every webhook event.
    pub async fn start(database: Database, seed: Value) -> Stack {
        let emulator = Emulator::with_clock(
            EmulatorConfig {
                requests_per_second: 1000,
                block_after_excess: 100_000,
                ..EmulatorConfig::default()
            },
            EmulatorClock::frozen(START_MS),
        );
        emulator.seed_json(seed).expect("seed");
        let kommo = spawn_on_loopback(emulator).await.expect("emulator");

        let (database_url, sqlite_dir, postgres_database) = fresh_database(database).await;
        let clock = ManualClock::new(START_MS);
        let pool = db::connect(&database_url).await.expect("connect");
        db::migrate(&pool).await.expect("migrate");
        let app =
            AppState::new(pool, settings(&database_url), Arc::new(clock.clone())).expect("state");
        let worker = Worker::new(app.queue.clone(), jobs::registry(&app.engine));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let backend_url = format!("http://{}", listener.local_addr().expect("addr"));
        let routes = router(app.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, routes).await;
        });

        accounts::ensure_account(&app.db, ACCOUNT_ID, SUBDOMAIN, START_MS)
            .await
            .expect("account");
        let secret = accounts::ensure_webhook_secret(&app.db, ACCOUNT_ID)
            .await
            .expect("secret");
        let pair = kommo
            .emulator
            .issue_tokens(SUBDOMAIN, Some(CLIENT_ID))
            .expect("tokens");
        accounts::save_oauth_tokens(
            &app.db,
            &app.cipher,
            ACCOUNT_ID,
            &accounts::OAuthTokens {
                access_token: SecretString::from(pair.access_token),
                refresh_token: SecretString::from(pair.refresh_token),
                expires_at: (pair.server_time + pair.expires_in) * 1000,
            },
        )
        .await
        .expect("save tokens");
        engine::set_kommo_base_url(&app.db, ACCOUNT_ID, Some(&kommo.account_url(SUBDOMAIN)))
            .await
            .expect("base url");
        let hook_url = format!("{backend_url}/hooks/kommo/{ACCOUNT_ID}/{secret}");
        let dp_url = format!("{backend_url}/hooks/dp/{ACCOUNT_ID}/{secret}");
        let (status, _) = kommo
            .emulator
            .call(
                SUBDOMAIN,
                "POST",
                "/api/v4/webhooks",
                Some(json!({"destination": hook_url, "settings": ALL_EVENTS})),
            )
            .expect("subscribe");
        assert!(status < 300, "webhook subscription refused: {status}");
        Stack {
            kommo,
            app,
            clock,
            worker,
            backend_url,
            hook_url,
            dp_url,
            server,
            _sqlite_dir: sqlite_dir,
            postgres_database,
        }
    }

    /// The emulator.
    pub fn emulator(&self) -> &Emulator {
        &self.kommo.emulator
    }

    /// Saves a rule (JSON of the domain rule model) and returns its id.
    pub async fn rule(&self, name: &str, rule: Value) -> i64 {
        let body = rules::parse_rule_body(rule).expect("rule body");
        let name = rules::RuleName::parse(name).expect("rule name");
        rules::create(
            &self.app.db,
            ACCOUNT_ID,
            101,
            &name,
            &body,
            self.clock.now_ms(),
        )
        .await
        .expect("create rule")
        .id
    }

    /// The URL of a rule's inbound webhook at the backend.
    pub async fn inbound_hook_url(&self, rule_id: i64) -> String {
        let rule = rules::get(&self.app.db, ACCOUNT_ID, rule_id)
            .await
            .expect("rule");
        format!(
            "{}/hooks/in/{ACCOUNT_ID}/{}",
            self.backend_url, rule.inbound_hook_key
        )
    }

    /// Calls the emulated account's API as a person would (no token, no rate limit); webhooks follow.
    pub fn kommo_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, body) = self
            .emulator()
            .call(SUBDOMAIN, method, path, body)
            .expect("emulator call");
        assert!(status < 300, "{method} {path} answered {status}: {body:?}");
        body.unwrap_or(Value::Null)
    }

    /// Creates one entity through the API and returns its id.
    pub fn create(&self, plural: &str, entity: Value) -> i64 {
        let body = self.kommo_call("POST", &format!("/api/v4/{plural}"), Some(json!([entity])));
        body["_embedded"][plural][0]["id"]
            .as_i64()
            .expect("created id")
    }

    /// Delivers the emulator's due webhooks and runs the backend's due jobs, repeatedly, until
    /// neither has anything left to do. Returns the jobs run.
    pub async fn settle(&self) -> usize {
        let mut jobs = 0;
        for _ in 0..100 {
            let delivered = self.emulator().deliver_due().await;
            let mut ran = 0;
            loop {
                match self.worker.try_run_one().await.expect("worker") {
                    Outcome::Idle => break,
                    _ => ran += 1,
                }
            }
            jobs += ran;
            if delivered == 0 && ran == 0 {
                return jobs;
            }
        }
        panic!("the stack did not settle after 100 rounds (a loop nobody stopped?)");
    }

    /// Moves both clocks forward.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
        self.emulator()
            .clock()
            .advance(i64::try_from(by.as_millis()).unwrap_or(i64::MAX));
    }

    /// The backend's clock reading, Unix milliseconds.
    pub fn clock_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// A lead as the API renders it.
    pub fn lead(&self, id: i64) -> Value {
        self.emulator()
            .entity(SUBDOMAIN, "leads", id)
            .expect("lead exists")
    }

    /// A contact as the API renders it.
    pub fn contact(&self, id: i64) -> Value {
        self.emulator()
            .entity(SUBDOMAIN, "contacts", id)
            .expect("contact exists")
    }

    /// Notes of an entity (any kind), oldest first.
    pub fn notes_of(&self, entity_id: i64) -> Vec<Value> {
        let mut notes: Vec<Value> = self
            .emulator()
            .notes(SUBDOMAIN)
            .into_iter()
            .filter(|n| n["entity_id"] == entity_id)
            .collect();
        notes.sort_by_key(|n| n["id"].as_i64());
        notes
    }

    /// Calls the backend's API as the widget does: with a fresh disposable token of user 101, as
    /// `$authorizedAjax` mints one per request. Returns the status and the body.
    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let token = self
            .emulator()
            .mint_disposable_token(SUBDOMAIN, 101, Some(CLIENT_ID))
            .expect("token");
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", self.backend_url))
            .header("X-Auth-Token", token);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("the backend answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The debugger log of a rule, newest first.
    pub async fn log(&self, rule_id: i64) -> Vec<execution_log::Execution> {
        execution_log::list_executions(
            &self.app.db,
            ACCOUNT_ID,
            rule_id,
            rulebook::store::Page::ALL,
        )
        .await
        .expect("log")
    }
}

/// The value of a custom field of a rendered entity, as JSON (the first value's `value`).
pub fn field(entity: &Value, field_id: i64) -> Value {
    entity["custom_fields_values"]
        .as_array()
        .and_then(|fields| fields.iter().find(|f| f["field_id"] == field_id))
        .map(|f| f["values"][0]["value"].clone())
        .unwrap_or(Value::Null)
}

/// Tag names of a rendered entity.
pub fn tags(entity: &Value) -> Vec<String> {
    let mut names: Vec<String> = entity["_embedded"]["tags"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.server.abort();
        let Some(name) = self.postgres_database.take() else {
            return;
        };
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
                    let _ = conn
                        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await;
                }
            });
        })
        .join();
    }
}
