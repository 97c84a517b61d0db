//! The crash test: 5,000 Kommo webhooks (one per lead, 100 accounts) sent to backend processes
//! that are killed with SIGKILL while they work, and started again. Afterwards every event was
//! processed and every note the rule adds is in the emulator exactly once, as both the emulator's
//! state and its request log show.
//!
//! - SQLite: one process, killed twice and restarted.
//! - PostgreSQL: two processes sharing the database, one of them killed for good.
//!
//! These run real processes on real time, so they poll the database for the end of the work.

use std::{
    collections::HashMap,
    process::Stdio,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use kommo_emulator::{spawn_on_loopback, Emulator, EmulatorConfig};
use rulebook::{
    clock::SystemClock,
    db, engine,
    startup::AppState,
    store::{accounts, rules},
};
use rulebook_e2e::stack::{default_seed, settings, CLIENT_ID, CLIENT_SECRET};
use secrecy::SecretString;
use serde_json::json;
use sqlx::{Connection, Executor};
use tokio::io::{AsyncBufReadExt, BufReader};

const ACCOUNTS: usize = 100;
const LEADS_PER_ACCOUNT: usize = 50;
const FIRST_ACCOUNT: i64 = 34_000_000;

struct Target {
    subdomain: String,
    account_id: i64,
    secret: String,
    leads: Vec<(i64, String)>,
}

struct Backend {
    child: tokio::process::Child,
    url: String,
}

async fn start_backend(database_url: &str) -> Backend {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rulebook-backend"))
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("RULEBOOK_BIND", "127.0.0.1:0")
        .env("RULEBOOK_PUBLIC_URL", "http://127.0.0.1:9")
        .env("RULEBOOK_KOMMO_CLIENT_ID", CLIENT_ID)
        .env("RULEBOOK_KOMMO_CLIENT_SECRET", CLIENT_SECRET)
        .env("RULEBOOK_WORKER_COUNT", "32")
        .env("RULEBOOK_JOB_LEASE_S", "20")
        .env("RULEBOOK_JOB_RETRY_BASE_S", "1")
        .env("RULEBOOK_JOB_RETRY_CAP_S", "5")
        .env("RULEBOOK_KOMMO_REQUESTS_PER_SECOND", "6")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the backend starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines
            .next_line()
            .await
            .expect("read")
            .expect("the backend printed its address");
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.trim().to_owned();
        }
    };
    Backend { child, url }
}

fn webhook_body(target: &Target, lead: i64, name: &str) -> String {
    serde_urlencoded::to_string([
        ("account[id]", target.account_id.to_string()),
        ("account[subdomain]", target.subdomain.clone()),
        ("leads[update][0][id]", lead.to_string()),
        ("leads[update][0][name]", name.to_owned()),
        ("leads[update][0][updated_at]", "1800000000".to_owned()),
    ])
    .unwrap_or_default()
}

/// Sends webhooks `range` (indexes into the flattened list of leads) until each is acknowledged,
/// to whichever backend is up, 32 at a time.
async fn send(
    targets: Arc<Vec<Target>>,
    backends: Arc<Mutex<Vec<String>>>,
    range: std::ops::Range<usize>,
    acked: Arc<AtomicUsize>,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let gate = Arc::new(tokio::sync::Semaphore::new(32));
    let mut tasks = tokio::task::JoinSet::new();
    for i in range {
        let permit = gate.clone().acquire_owned().await.expect("gate");
        let (targets, backends, acked, http) = (
            targets.clone(),
            backends.clone(),
            acked.clone(),
            http.clone(),
        );
        tasks.spawn(async move {
            // Accounts take turns, as traffic from many accounts does.
            let target = &targets[i % ACCOUNTS];
            let (lead, name) = &target.leads[i / ACCOUNTS];
            let body = webhook_body(target, *lead, name);
            for attempt in 0usize.. {
                let bases = backends.lock().expect("lock").clone();
                let base = &bases[attempt % bases.len()];
                let url = format!("{base}/hooks/kommo/{}/{}", target.account_id, target.secret);
                let sent = http
                    .post(&url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body.clone())
                    .send()
                    .await;
                if sent.is_ok_and(|r| r.status().is_success()) {
                    acked.fetch_add(1, Ordering::SeqCst);
                    break;
                }
                // Kommo, too, sends a webhook again when it was not acknowledged.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            drop(permit);
        });
    }
    while tasks.join_next().await.is_some() {}
}

async fn fresh_database(postgres: bool) -> (String, Option<tempfile::TempDir>) {
    if !postgres {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("crash.db").display()
        );
        return (url, Some(dir));
    }
    let admin = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("PostgreSQL");
    let name = format!("crash_{}", uuid::Uuid::new_v4().simple());
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create database");
    let mut url = url::Url::parse(&admin).expect("url");
    url.set_path(&name);
    (url.to_string(), None)
}

async fn prepare(emulator: &Emulator, emulator_url: &str, app: &AppState) -> Vec<Target> {
    let mut targets = Vec::new();
    for a in 0..ACCOUNTS {
        let subdomain = format!("crash{a}");
        let account_id = FIRST_ACCOUNT + i64::try_from(a).unwrap_or(0);
        let mut seed = default_seed();
        seed["subdomain"] = json!(subdomain);
        seed["id"] = json!(account_id);
        let leads: Vec<_> = (0..LEADS_PER_ACCOUNT)
            .map(|i| json!({"name": format!("L{a}-{i}")}))
            .collect();
        seed["entities"] = json!({ "leads": leads });
        emulator.seed_json(seed).expect("seed");
        let leads = emulator
            .entities(&subdomain, "leads")
            .iter()
            .map(|l| {
                (
                    l["id"].as_i64().expect("id"),
                    l["name"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        accounts::ensure_account(&app.db, account_id, &subdomain, 0)
            .await
            .expect("account");
        let secret = accounts::ensure_webhook_secret(&app.db, account_id)
            .await
            .expect("secret");
        let pair = emulator
            .issue_tokens(&subdomain, Some(CLIENT_ID))
            .expect("tokens");
        accounts::save_oauth_tokens(
            &app.db,
            &app.cipher,
            account_id,
            &accounts::OAuthTokens {
                access_token: SecretString::from(pair.access_token),
                refresh_token: SecretString::from(pair.refresh_token),
                expires_at: (pair.server_time + pair.expires_in) * 1000,
            },
        )
        .await
        .expect("tokens saved");
        engine::set_kommo_base_url(
            &app.db,
            account_id,
            Some(&format!("{emulator_url}/{subdomain}")),
        )
        .await
        .expect("base url");
        let rule = json!({"schema_version": 2, "name": "Seen",
            "trigger": {"kind": "entity_updated", "entity": "lead"},
            "blocks": [{"actions": [{"do": {"type": "add_note", "entity": "lead", "text": "seen {{lead.name}}"}}]}]});
        rules::create(
            &app.db,
            account_id,
            1,
            &rules::RuleName::parse("Seen").expect("name"),
            &rules::parse_rule_body(rule).expect("body"),
            0,
        )
        .await
        .expect("rule");
        targets.push(Target {
            subdomain,
            account_id,
            secret,
            leads,
        });
    }
    targets
}

/// Polls the database until every event is processed and no job is left.
async fn wait_until_done(app: &AppState, expected_events: i64) {
    for _ in 0..1_800 {
        let events: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE processed_at IS NOT NULL")
                .fetch_one(&app.db.pool)
                .await
                .unwrap_or(0);
        let jobs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs")
            .fetch_one(&app.db.pool)
            .await
            .unwrap_or(-1);
        if events >= expected_events && jobs == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let events: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE processed_at IS NOT NULL")
            .fetch_one(&app.db.pool)
            .await
            .unwrap_or(0);
    let jobs: Vec<(String, String, i64, Option<String>)> =
        sqlx::query_as("SELECT kind, state, attempts, last_error FROM jobs ORDER BY id LIMIT 5")
            .fetch_all(&app.db.pool)
            .await
            .unwrap_or_default();
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs")
        .fetch_one(&app.db.pool)
        .await
        .unwrap_or(0);
    panic!("the backend did not finish the work within 6 minutes: {events} of {expected_events} events processed, {left} jobs left, e.g. {jobs:?}");
}

fn assert_each_note_once(emulator: &Emulator, targets: &[Target]) {
    let mut duplicated = Vec::new();
    let mut missing = Vec::new();
    let mut posts = 0;
    for target in targets {
        let mut by_text: HashMap<String, usize> = HashMap::new();
        for note in emulator.notes(&target.subdomain) {
            let text = note["params"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            *by_text.entry(text).or_default() += 1;
        }
        for (_, name) in &target.leads {
            match by_text.get(&format!("seen {name}")).copied().unwrap_or(0) {
                1 => {}
                0 => missing.push(name.clone()),
                _ => duplicated.push(name.clone()),
            }
        }
    }
    let log = emulator.request_log();
    posts += log
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/api/v4/leads/notes") && r.status < 300)
        .count();
    assert!(
        missing.is_empty(),
        "{} notes missing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(
        duplicated.is_empty(),
        "{} notes twice, e.g. {:?}",
        duplicated.len(),
        &duplicated[..duplicated.len().min(5)]
    );
    if log.len() < 20_000 {
        assert_eq!(
            posts,
            ACCOUNTS * LEADS_PER_ACCOUNT,
            "one note request per event in the request log"
        );
    }
}

async fn setup(
    postgres: bool,
) -> (
    kommo_emulator::RunningEmulator,
    AppState,
    String,
    Option<tempfile::TempDir>,
    Arc<Vec<Target>>,
) {
    let emulator = Emulator::new(EmulatorConfig {
        block_after_excess: 1_000_000,
        ..EmulatorConfig::default()
    });
    let running = spawn_on_loopback(emulator.clone()).await.expect("emulator");
    let (database_url, dir) = fresh_database(postgres).await;
    let pool = db::connect(&database_url).await.expect("connect");
    db::migrate(&pool).await.expect("migrate");
    let app = AppState::new(pool, settings(&database_url), Arc::new(SystemClock)).expect("state");
    let targets = Arc::new(prepare(&emulator, &running.url, &app).await);
    (running, app, database_url, dir, targets)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_backend_killed_twice_applies_every_action_exactly_once() {
    let (running, app, database_url, _dir, targets) = setup(false).await;
    let total = ACCOUNTS * LEADS_PER_ACCOUNT;
    let acked = Arc::new(AtomicUsize::new(0));
    let mut backend = start_backend(&database_url).await;
    let backends = Arc::new(Mutex::new(vec![backend.url.clone()]));

    let (first_kill, second_kill) = (total * 3 / 10, total * 7 / 10);
    send(
        targets.clone(),
        backends.clone(),
        0..first_kill,
        acked.clone(),
    )
    .await;
    for range in [first_kill..second_kill, second_kill..total] {
        let sender = tokio::spawn(send(
            targets.clone(),
            backends.clone(),
            range,
            acked.clone(),
        ));
        // Killed mid-work: jobs under lease, Kommo calls in flight, webhooks arriving.
        backend.child.kill().await.expect("SIGKILL");
        backend = start_backend(&database_url).await;
        *backends.lock().expect("lock") = vec![backend.url.clone()];
        sender.await.expect("sender");
    }
    assert_eq!(acked.load(Ordering::SeqCst), total);
    wait_until_done(&app, i64::try_from(total).unwrap_or(0)).await;
    assert_each_note_once(&running.emulator, &targets);
    backend.child.kill().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_postgres_backends_one_killed_apply_every_action_exactly_once() {
    let (running, app, database_url, _dir, targets) = setup(true).await;
    let total = ACCOUNTS * LEADS_PER_ACCOUNT;
    let acked = Arc::new(AtomicUsize::new(0));
    let mut first = start_backend(&database_url).await;
    let mut second = start_backend(&database_url).await;
    let backends = Arc::new(Mutex::new(vec![first.url.clone(), second.url.clone()]));

    send(targets.clone(), backends.clone(), 0..2_000, acked.clone()).await;
    let sender = tokio::spawn(send(
        targets.clone(),
        backends.clone(),
        2_000..total,
        acked.clone(),
    ));
    first.child.kill().await.expect("SIGKILL");
    *backends.lock().expect("lock") = vec![second.url.clone()];
    sender.await.expect("sender");
    assert_eq!(acked.load(Ordering::SeqCst), total);
    wait_until_done(&app, i64::try_from(total).unwrap_or(0)).await;
    assert_each_note_once(&running.emulator, &targets);
    second.child.kill().await.expect("stop");
}
