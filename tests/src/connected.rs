//! An account connected the way a real one is: the Kommo emulator and the backend on loopback,
//! the backend's public URL where it really listens (so the webhook it subscribes reaches it) and
//! account hosts resolved to the emulator; [`Connecting::connect_by_oauth`] goes through the OAuth
//! callback. Used by the connection and launch tests.

use std::sync::Arc;

use kommo_emulator::{spawn_on_loopback, Emulator, EmulatorClock, EmulatorConfig, RunningEmulator};
use rulebook::{
    clock::Clock,
    db, jobs,
    queue::worker::Worker,
    startup::{router, AppState},
};
use serde_json::{json, Value};
use sqlx::{Connection, Executor, Row};

use crate::stack::{self, Database, CLIENT_ID, CLIENT_SECRET};

/// The account's subdomain.
pub const SUBDOMAIN: &str = "northwind";
/// The account's id.
pub const ACCOUNT_ID: i64 = 32_100_001;

/// The emulator and a backend whose public URL is where it really listens, so the webhook it
/// subscribes reaches it; account hosts resolve to the emulator.
pub struct Connecting {
    /// The emulator and its server.
    pub kommo: RunningEmulator,
    /// The backend's state.
    pub app: AppState,
    /// The backend's origin (also its public URL).
    pub backend_url: String,
    /// A worker running the backend's registered job kinds.
    pub worker: Worker,
    http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
    _sqlite_dir: Option<tempfile::TempDir>,
    postgres_database: Option<String>,
}

fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// The backend's clock in these tests: the emulator's, whatever it does.
#[derive(Debug)]
struct EmulatorTime(Emulator);

impl Clock for EmulatorTime {
    fn now_ms(&self) -> i64 {
        self.0.clock().now_ms()
    }
}

impl Connecting {
    /// Starts the emulator (with `emulator_config` and `emulator_clock`; its rate-limit window
    /// follows that clock, so a frozen one suits only tests that do not count 429s) and the backend
    /// (on the emulator's clock, making at most `requests_per_second` Kommo requests per second);
    /// nothing is connected yet.
    pub async fn start(
        database: Database,
        emulator_config: EmulatorConfig,
        emulator_clock: EmulatorClock,
        requests_per_second: u32,
    ) -> Connecting {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let backend_url = format!("http://{}", listener.local_addr().expect("addr"));
        let emulator = Emulator::with_clock(emulator_config, emulator_clock);
        emulator
            .seed_json(json!({
                "subdomain": SUBDOMAIN, "id": ACCOUNT_ID,
                "users": [{"id": 201, "name": "Nora"}, {"id": 202, "name": "Omar", "is_admin": false}],
                "integrations": [{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                  "redirect_uri": format!("{backend_url}/oauth/kommo/callback")}]
            }))
            .expect("seed");
        let kommo = spawn_on_loopback(emulator).await.expect("emulator");

        let (database_url, sqlite_dir, postgres_database) = match database {
            Database::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("c.db").display());
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
                    .expect("create database");
                let mut url = url::Url::parse(&admin).expect("a URL");
                url.set_path(&name);
                (url.to_string(), None, Some(name))
            }
        };
        let mut settings = stack::settings(&database_url);
        settings.public_url = url::Url::parse(&backend_url).expect("backend URL");
        settings.kommo_requests_per_second = requests_per_second;
        settings.kommo_base_url_template = Some(format!("{}/{{subdomain}}", kommo.url));
        let pool = db::connect(&database_url).await.expect("connect");
        db::migrate(&pool).await.expect("migrate");
        // The backend reads the emulator's clock: frozen or real, both sides agree on the time (the
        // disposable tokens the emulator mints are checked against it).
        let clock = Arc::new(EmulatorTime(kommo.emulator.clone()));
        let app = AppState::new(pool, settings, clock).expect("state");
        let worker = Worker::new(app.queue.clone(), jobs::registry(&app.engine));
        let routes = router(app.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, routes).await;
        });
        Connecting {
            kommo,
            app,
            backend_url,
            worker,
            http: reqwest::Client::new(),
            server,
            _sqlite_dir: sqlite_dir,
            postgres_database,
        }
    }

    /// GETs a backend path with a query; status, content type and body.
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> (u16, Option<String>, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.backend_url))
            .query(query)
            .send()
            .await
            .expect("backend answers");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (status, content_type, response.text().await.expect("body"))
    }

    /// Kommo's OAuth redirect to the backend.
    pub async fn callback(&self, code: &str, referer: &str) -> (u16, Option<String>, String) {
        let query = [("code", code), ("referer", referer), ("state", "anything")];
        self.get("/oauth/kommo/callback", &query).await
    }

    /// Kommo's "access revoked" notification to the backend.
    pub async fn revoked(&self, account_id: i64, signature: &str) -> (u16, Option<String>, String) {
        let account_id = account_id.to_string();
        let query = [
            ("account_id", account_id.as_str()),
            ("client_uuid", CLIENT_ID),
            ("signature", signature),
        ];
        self.get("/oauth/kommo/revoked", &query).await
    }

    /// Kommo webhooks in the backend's inbox.
    pub async fn inbox_count(&self) -> i64 {
        sqlx::query("SELECT COUNT(*) FROM events WHERE account_id = $1 AND source = 'kommo'")
            .bind(ACCOUNT_ID)
            .fetch_one(&self.app.db.pool)
            .await
            .expect("count")
            .try_get(0)
            .expect("a number")
    }
}

impl Connecting {
    /// Connects the account through the OAuth callback with a code the emulator minted.
    pub async fn connect_by_oauth(&self) {
        let code = self
            .kommo
            .emulator
            .issue_auth_code(SUBDOMAIN, CLIENT_ID)
            .expect("auth code");
        let (status, _, body) = self
            .callback(&code, &format!("{SUBDOMAIN}.kommo.com"))
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// POSTs JSON to the backend as a user of the account, with a disposable token the emulator
    /// minted (as Kommo's `$authorizedAjax` does); status and JSON body.
    pub async fn post_as(&self, user_id: i64, path: &str, body: &Value) -> (u16, Value) {
        let token = self
            .kommo
            .emulator
            .mint_disposable_token(SUBDOMAIN, user_id, Some(CLIENT_ID))
            .expect("disposable token");
        let response = self
            .http
            .post(format!("{}{path}", self.backend_url))
            .header("X-Auth-Token", token)
            .json(body)
            .send()
            .await
            .expect("backend answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

impl Drop for Connecting {
    fn drop(&mut self) {
        self.server.abort();
        let Some(name) = self.postgres_database.take() else {
            return;
        };
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
