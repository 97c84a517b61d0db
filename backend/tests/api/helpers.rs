//! The test application: a fresh database per test (a temp SQLite file, or a new PostgreSQL
//! database `t_<uuid>` on the server at `TEST_POSTGRES_URL`), the real router driven with
//! `oneshot`, a manual clock, and a method per endpoint.

use std::sync::Arc;

use axum::{
    body::Body,
    http::{header, Method, Request, StatusCode},
    Router,
};
use http_body_util::BodyExt;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use rulebook::{
    clock::{Clock as _, ManualClock},
    config::Settings,
    db::{self, Db},
    queue::{
        worker::{Registry, Worker},
        Queue, QueueSettings,
    },
    startup::{router, AppState},
};
use serde_json::{json, Value};
use sqlx::{Connection, Executor};
use tower::ServiceExt;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates, for each named `async fn(Backend)`, a module with a `sqlite` and a `postgres` test.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    )*};
}

pub const CLIENT_ID: &str = "00000000-0000-4000-8000-0000000000aa";
pub const CLIENT_SECRET: &str = "test-client-secret";
pub const PUBLIC_URL: &str = "https://rulebook.test";
/// The tenant most tests act as.
pub const ACCOUNT: i64 = 31_000_001;
/// Another tenant, to prove isolation.
pub const OTHER_ACCOUNT: i64 = 31_000_002;
/// 2026-11-23T12:00:00Z.
pub const START_MS: i64 = 1_795_435_200_000;

/// A valid rule definition, told apart by its description.
pub fn rule_json(description: &str) -> Value {
    json!({
        "schema_version": 2,
        "name": "rule",
        "description": description,
        "trigger": { "kind": "entity_added", "entity": "lead" },
    })
}

/// A response: status, headers and the body as JSON (or `Value::Null` when empty or not JSON).
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub body: Value,
    /// The body as text, whatever its type.
    pub text: String,
}

impl TestResponse {
    /// Asserts the status and returns the body.
    #[track_caller]
    pub fn expect(self, status: StatusCode) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self.body
    }

    /// Asserts a problem+json answer with `status` and `code`.
    #[track_caller]
    pub fn expect_problem(self, status: StatusCode, code: &str) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        assert_eq!(
            self.content_type.as_deref(),
            Some("application/problem+json")
        );
        assert_eq!(self.body["code"], code, "{}", self.body);
        assert!(
            self.body["detail"]
                .as_str()
                .is_some_and(|d| d.ends_with('.')),
            "{}",
            self.body
        );
        self.body
    }
}

pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    pub clock: ManualClock,
    pub database_url: String,
    _sqlite_dir: Option<tempfile::TempDir>,
    postgres_database: Option<String>,
}

fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

pub fn test_settings(database_url: &str) -> Settings {
    test_settings_with(database_url, json!({}))
}

/// The test settings with some of them replaced.
pub fn test_settings_with(database_url: &str, overrides: Value) -> Settings {
    figment::Figment::new()
        .merge(figment::providers::Serialized::defaults(json!({
            "bind": "127.0.0.1:0",
            "database_url": database_url,
            "public_url": PUBLIC_URL,
            "kommo_client_id": CLIENT_ID,
            "kommo_client_secret": CLIENT_SECRET,
            "cors_origin_suffixes": [".kommo.com"],
            "cors_extra_origins": [],
            "token_leeway_s": 5,
        })))
        .merge(figment::providers::Serialized::defaults(overrides))
        .extract()
        .expect("test settings")
}

async fn fresh_database(backend: Backend) -> (String, Option<tempfile::TempDir>, Option<String>) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
            (url, Some(dir), None)
        }
        Backend::Postgres => {
            let admin = postgres_admin_url();
            let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL is not reachable at {admin} ({e}). Start it (pg_ctlcluster --skip-systemctl-redirect \
                     $(ls /etc/postgresql) main start) or set TEST_POSTGRES_URL."
                )
            });
            let name = format!("t_{}", uuid::Uuid::new_v4().simple());
            conn.execute(format!("CREATE DATABASE {name}").as_str())
                .await
                .expect("create test database");
            let mut url = url::Url::parse(&admin).expect("TEST_POSTGRES_URL is a URL");
            url.set_path(&name);
            (url.to_string(), None, Some(name))
        }
    }
}

/// A connected, migrated app on a fresh database, with the clock at [`START_MS`].
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, json!({})).await
}

/// [`spawn_app`] with some settings replaced.
pub async fn spawn_app_with(backend: Backend, overrides: Value) -> TestApp {
    let (database_url, sqlite_dir, postgres_database) = fresh_database(backend).await;
    let clock = ManualClock::new(START_MS);
    let db = db::connect(&database_url).await.expect("connect");
    db::migrate(&db).await.expect("migrate");
    let state = AppState::new(
        db,
        test_settings_with(&database_url, overrides),
        Arc::new(clock.clone()),
    )
    .expect("state");
    TestApp {
        router: router(state.clone()),
        state,
        clock,
        database_url,
        _sqlite_dir: sqlite_dir,
        postgres_database,
    }
}

/// An app on a fresh database migrated up to (not including) migration `before`, given the rows
/// of `seed` (SQL statements), then migrated to the end: a migration tested against data of the
/// schema before it.
pub async fn spawn_app_migrated_from(backend: Backend, before: i64, seed: &[&str]) -> TestApp {
    let (database_url, sqlite_dir, postgres_database) = fresh_database(backend).await;
    let db = db::connect(&database_url).await.expect("connect");
    let dialect = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect);
    let mut earlier = sqlx::migrate::Migrator::new(dir).await.expect("migrations");
    earlier.migrations = earlier
        .migrations
        .iter()
        .filter(|m| m.version < before)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    earlier.run(&db.pool).await.expect("earlier migrations");
    for statement in seed {
        sqlx::query(statement)
            .execute(&db.pool)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    db::migrate(&db).await.expect("migrate");
    let clock = ManualClock::new(START_MS);
    let state =
        AppState::new(db, test_settings(&database_url), Arc::new(clock.clone())).expect("state");
    TestApp {
        router: router(state.clone()),
        state,
        clock,
        database_url,
        _sqlite_dir: sqlite_dir,
        postgres_database,
    }
}

/// Another process's view of the same database: its own pool, the same clock.
pub async fn connect_state(database_url: &str, clock: &ManualClock) -> AppState {
    let db = db::connect(database_url).await.expect("connect");
    db::migrate(&db).await.expect("migrate");
    AppState::new(db, test_settings(database_url), Arc::new(clock.clone())).expect("state")
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let Some(name) = self.postgres_database.take() else {
            return;
        };
        // Dropped on a thread of its own: Drop cannot await, and the test's runtime may be ending.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
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

/// Who a token speaks for.
#[derive(Debug, Clone, Copy)]
pub struct As {
    pub account_id: i64,
    pub user_id: i64,
    pub is_admin: bool,
}

pub const ADMIN: As = As {
    account_id: ACCOUNT,
    user_id: 7,
    is_admin: true,
};
pub const MEMBER: As = As {
    account_id: ACCOUNT,
    user_id: 8,
    is_admin: false,
};
pub const OTHER_ADMIN: As = As {
    account_id: OTHER_ACCOUNT,
    user_id: 9,
    is_admin: true,
};

/// A disposable token as Kommo's `$authorizedAjax` would send it, issued at `now` (unix seconds: the
/// app's clock, which the verifier checks `exp` against).
pub fn token(who: As, now: i64) -> String {
    let claims = json!({
        "iss": format!("https://acct{}.kommo.com", who.account_id),
        "aud": PUBLIC_URL,
        "jti": uuid::Uuid::new_v4().to_string(),
        "iat": now, "nbf": now, "exp": now + 1800,
        "account_id": who.account_id,
        "subdomain": format!("acct{}", who.account_id),
        "client_uuid": CLIENT_ID,
        "user_id": who.user_id,
        "is_admin": who.is_admin,
    });
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(CLIENT_SECRET.as_bytes()),
    )
    .expect("sign")
}

impl TestApp {
    pub fn db(&self) -> &Db {
        &self.state.db
    }

    pub fn queue(&self) -> &Queue {
        &self.state.queue
    }

    /// A worker on this app's queue running `registry`.
    pub fn worker(&self, registry: Registry) -> Worker {
        Worker::new(self.state.queue.clone(), registry)
    }

    /// A worker with custom queue settings (e.g. a short lease).
    pub fn worker_with(&self, settings: QueueSettings, registry: Registry) -> Worker {
        let queue = Queue::new(
            self.state.db.clone(),
            Arc::new(self.clock.clone()),
            settings,
        );
        Worker::new(queue, registry)
    }

    /// Sends a request through the real router.
    pub async fn send(
        &self,
        method: Method,
        uri: &str,
        who: Option<As>,
        body: Option<Vec<u8>>,
        content_type: Option<&str>,
        extra: &[(&str, &str)],
    ) -> TestResponse {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(who) = who {
            request = request.header(
                "x-auth-token",
                token(who, self.clock.now_ms().div_euclid(1000)),
            );
        }
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        let request = request
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .expect("request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible router");
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        TestResponse {
            status,
            content_type,
            location,
            body,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, uri: &str, who: As) -> TestResponse {
        self.send(Method::GET, uri, Some(who), None, None, &[])
            .await
    }

    pub async fn send_json(
        &self,
        method: Method,
        uri: &str,
        who: As,
        body: &Value,
    ) -> TestResponse {
        self.send(
            method,
            uri,
            Some(who),
            Some(body.to_string().into_bytes()),
            Some("application/json"),
            &[],
        )
        .await
    }

    // --- /api/v1/rules

    pub async fn list_rules(&self, who: As) -> TestResponse {
        self.get("/api/v1/rules", who).await
    }

    pub async fn create_rule(&self, who: As, name: &str, rule: Value) -> TestResponse {
        self.send_json(
            Method::POST,
            "/api/v1/rules",
            who,
            &json!({ "name": name, "rule": rule }),
        )
        .await
    }

    /// Creates a rule as [`ADMIN`] and returns its id.
    pub async fn given_a_rule(&self, name: &str) -> i64 {
        let body = self
            .create_rule(ADMIN, name, rule_json("given"))
            .await
            .expect(StatusCode::CREATED);
        body["id"].as_i64().expect("rule id")
    }

    pub async fn get_rule(&self, who: As, id: i64) -> TestResponse {
        self.get(&format!("/api/v1/rules/{id}"), who).await
    }

    pub async fn save_rule(&self, who: As, id: i64, body: &Value) -> TestResponse {
        self.send_json(Method::PUT, &format!("/api/v1/rules/{id}"), who, body)
            .await
    }

    pub async fn delete_rule(&self, who: As, id: i64) -> TestResponse {
        self.send(
            Method::DELETE,
            &format!("/api/v1/rules/{id}"),
            Some(who),
            None,
            None,
            &[],
        )
        .await
    }

    pub async fn set_rule_enabled(&self, who: As, id: i64, enabled: bool) -> TestResponse {
        let action = if enabled { "enable" } else { "disable" };
        self.send(
            Method::POST,
            &format!("/api/v1/rules/{id}/{action}"),
            Some(who),
            None,
            None,
            &[],
        )
        .await
    }

    pub async fn rule_history(&self, who: As, id: i64) -> TestResponse {
        self.get(&format!("/api/v1/rules/{id}/history"), who).await
    }

    pub async fn rule_log(&self, who: As, id: i64) -> TestResponse {
        self.get(&format!("/api/v1/rules/{id}/log"), who).await
    }

    pub async fn create_trigger_link(&self, who: As, id: i64, body: &Value) -> TestResponse {
        self.send_json(
            Method::POST,
            &format!("/api/v1/rules/{id}/links"),
            who,
            body,
        )
        .await
    }

    // --- /api/v1/variables

    pub async fn list_variables(&self, who: As) -> TestResponse {
        self.get("/api/v1/variables", who).await
    }

    pub async fn get_variable(&self, who: As, name: &str) -> TestResponse {
        self.get(&format!("/api/v1/variables/{name}"), who).await
    }

    pub async fn put_variable(&self, who: As, name: &str, value: &str) -> TestResponse {
        self.send_json(
            Method::PUT,
            &format!("/api/v1/variables/{name}"),
            who,
            &json!({ "value": value }),
        )
        .await
    }

    pub async fn delete_variable(&self, who: As, name: &str) -> TestResponse {
        self.send(
            Method::DELETE,
            &format!("/api/v1/variables/{name}"),
            Some(who),
            None,
            None,
            &[],
        )
        .await
    }

    // --- /api/v1/entities/{type}/{id}/jobs

    pub async fn entity_jobs(&self, who: As, entity_type: &str, id: i64) -> TestResponse {
        self.get(&format!("/api/v1/entities/{entity_type}/{id}/jobs"), who)
            .await
    }

    pub async fn cancel_entity_jobs(&self, who: As, entity_type: &str, id: i64) -> TestResponse {
        self.send(
            Method::DELETE,
            &format!("/api/v1/entities/{entity_type}/{id}/jobs"),
            Some(who),
            None,
            None,
            &[],
        )
        .await
    }

    pub async fn cancel_entity_job(
        &self,
        who: As,
        entity_type: &str,
        id: i64,
        job_id: i64,
    ) -> TestResponse {
        self.send(
            Method::DELETE,
            &format!("/api/v1/entities/{entity_type}/{id}/jobs/{job_id}"),
            Some(who),
            None,
            None,
            &[],
        )
        .await
    }

    // --- /api/v1/account

    pub async fn hook_urls(&self, who: As) -> TestResponse {
        self.get("/api/v1/account/hooks", who).await
    }

    pub async fn rotate_hook_secret(&self, who: As) -> TestResponse {
        self.send(
            Method::POST,
            "/api/v1/account/hooks/rotate",
            Some(who),
            None,
            None,
            &[],
        )
        .await
    }

    pub async fn stats(&self, who: As) -> TestResponse {
        self.get("/api/v1/account/stats", who).await
    }

    /// The path (without origin) of the account's Kommo webhook URL, as an admin would fetch it.
    pub async fn given_webhook_path(&self, who: As) -> (String, String) {
        let urls = self.hook_urls(who).await.expect(StatusCode::OK);
        let strip = |v: &Value| {
            v.as_str()
                .expect("url")
                .strip_prefix(PUBLIC_URL)
                .expect("our origin")
                .to_string()
        };
        (
            strip(&urls["kommo_webhook_url"]),
            strip(&urls["digital_pipeline_url"]),
        )
    }

    // --- hooks (no token)

    pub async fn post_hook(
        &self,
        path: &str,
        body: &[u8],
        content_type: &str,
        extra: &[(&str, &str)],
    ) -> TestResponse {
        self.send(
            Method::POST,
            path,
            None,
            Some(body.to_vec()),
            Some(content_type),
            extra,
        )
        .await
    }

    pub async fn click(&self, path: &str) -> TestResponse {
        self.send(Method::GET, path, None, None, None, &[]).await
    }

    // --- direct reads for assertions

    pub async fn count(&self, sql: &str) -> i64 {
        let row = sqlx::query(sql)
            .fetch_one(&self.state.db.pool)
            .await
            .expect(sql);
        sqlx::Row::try_get(&row, 0).expect("count")
    }
}
