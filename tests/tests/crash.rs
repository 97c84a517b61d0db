//! The crash test: 5,000 Kommo webhooks (one per lead, 100 accounts), 500 digital-pipeline requests
//! and 500 inbound webhooks sent to backend processes that are killed with SIGKILL while they work,
//! and started again. Each kill waits until the work it interrupts is in flight in the process it
//! kills: an event adding a note, a digital-pipeline request, an inbound webhook, a "send webhook"
//! request open at the receiver, an "execute rule" call and a delayed action; a kill whose work
//! never shows up fails the test rather than skip it.
//!
//! Afterwards every event was processed; every note, contact and called rule is in the emulator
//! exactly once; every webhook reached the receiver at least once, always under one
//! `Idempotency-Key`; and the emulator's request log, which must not have overflowed, shows one
//! request per note and per contact.
//!
//! - SQLite: one process, killed at each kind of work and restarted.
//! - PostgreSQL: two processes sharing the database, both killed at each kind of work and
//!   restarted, then one of them killed for good.
//!
//! These run real processes on real time, so they poll the database for the work in flight and
//! for the end of the work.

use std::{
    collections::{HashMap, HashSet},
    process::Stdio,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use kommo_emulator::{spawn_on_loopback, Emulator, EmulatorConfig};
use rulebook::{
    clock::{Clock, SystemClock},
    db, engine,
    ingest::digital_pipeline,
    queue::kinds,
    startup::AppState,
    store::{accounts, rules},
};
use rulebook_e2e::stack::{default_seed, settings, CLIENT_ID, CLIENT_SECRET};
use secrecy::SecretString;
use serde_json::{json, Value};
use sqlx::{Connection, Executor};
use tokio::io::{AsyncBufReadExt, BufReader};

const ACCOUNTS: usize = 100;
const LEADS_PER_ACCOUNT: usize = 50;
const FIRST_ACCOUNT: i64 = 34_000_000;
/// Every tenth lead of an account also reaches a digital-pipeline stage (leads 0, 10, …).
const DP_EVERY: usize = 10;
/// And every tenth, from the fifth, comes with a site form through the inbound webhook.
const INBOUND_EVERY: usize = 10;
const INBOUND_FROM: usize = 5;
/// The job lease of the backends: a job claimed after a process started holds a lease ending
/// more than this after the start.
const LEASE_MS: i64 = 20_000;
/// How long the receiver of "send webhook" keeps each request open.
const RECEIVER_DELAY: Duration = Duration::from_millis(150);
/// The most the emulator's request log holds here: far more than the test sends.
const REQUEST_LOG_CAPACITY: usize = 200_000;

/// What a process is doing when it is killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    /// A Kommo webhook's event, whose rule adds a note.
    AddNote,
    /// A digital-pipeline request's event.
    DigitalPipeline,
    /// An inbound webhook's event.
    Inbound,
    /// A "send webhook" request, open at the receiver.
    SendWebhook,
    /// A rule called by "execute rule".
    ExecuteRule,
    /// A delayed action.
    DelayedAction,
}

/// The kills of a run, in order.
const KILLS: [Work; 6] = [
    Work::DigitalPipeline,
    Work::SendWebhook,
    Work::Inbound,
    Work::ExecuteRule,
    Work::DelayedAction,
    Work::AddNote,
];

struct Target {
    subdomain: String,
    account_id: i64,
    secret: String,
    leads: Vec<(i64, String)>,
    /// The DP key of the manual rule the digital-pipeline action names.
    stage_key: String,
    /// The key of the inbound-webhook rule's URL.
    form_key: String,
}

impl Target {
    fn index(&self) -> i64 {
        self.account_id - FIRST_ACCOUNT
    }
}

fn has_dp(lead: usize) -> bool {
    lead.is_multiple_of(DP_EVERY)
}

fn has_form(lead: usize) -> bool {
    lead % INBOUND_EVERY == INBOUND_FROM
}

/// The site form sent with lead `lead` of `target`: the contact's name and phone. Phones have one
/// width, so that a search for one never finds another.
fn form(target: &Target, lead: usize) -> (String, String) {
    let n = target.index() * 100 + i64::try_from(lead).unwrap_or(0);
    (
        format!("Client {}-{lead}", target.index()),
        format!("+4930{n:07}"),
    )
}

/// One request to a backend, sent again until one acknowledges it.
struct Delivery {
    path: String,
    content_type: &'static str,
    idempotency_key: Option<String>,
    body: String,
}

fn form_body(pairs: &[(&str, String)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

fn webhook(target: &Target, lead: i64, name: &str) -> Delivery {
    Delivery {
        path: format!("/hooks/kommo/{}/{}", target.account_id, target.secret),
        content_type: "application/x-www-form-urlencoded",
        idempotency_key: None,
        body: form_body(&[
            ("account[id]", target.account_id.to_string()),
            ("account[subdomain]", target.subdomain.clone()),
            ("leads[update][0][id]", lead.to_string()),
            ("leads[update][0][name]", name.to_owned()),
            ("leads[update][0][updated_at]", "1800000000".to_owned()),
        ]),
    }
}

/// A digital-pipeline request as Kommo sends it to the account's dp URL when the lead reaches the
/// stage; the action's settings name the rule to run.
fn digital_pipeline(target: &Target, lead: i64) -> Delivery {
    Delivery {
        path: format!("/hooks/dp/{}/{}", target.account_id, target.secret),
        content_type: "application/x-www-form-urlencoded",
        idempotency_key: None,
        body: form_body(&[
            ("event[type]", "14".to_owned()),
            ("event[type_code]", "lead_status_changed".to_owned()),
            ("event[data][id]", lead.to_string()),
            ("event[data][element_type]", "2".to_owned()),
            ("event[data][status_id]", "13".to_owned()),
            ("event[data][pipeline_id]", "10".to_owned()),
            ("event[time]", "1800000000".to_owned()),
            (
                "action[settings][widget][settings][rule_id]",
                target.stage_key.clone(),
            ),
            ("subdomain", target.subdomain.clone()),
            ("account_id", target.account_id.to_string()),
        ]),
    }
}

fn inbound(target: &Target, lead: usize) -> Delivery {
    let (name, phone) = form(target, lead);
    Delivery {
        path: format!("/hooks/in/{}/{}", target.account_id, target.form_key),
        content_type: "application/x-www-form-urlencoded",
        // A sender that retries makes its retries safe.
        idempotency_key: Some(format!("form-{}-{lead}", target.account_id)),
        body: form_body(&[("name", name), ("phone", phone)]),
    }
}

/// Every request of a run. Accounts take turns, as traffic from many accounts does, and the
/// digital-pipeline requests and forms are spread over the whole run, so that each kind of work
/// is in flight from start to end.
fn deliveries(targets: &[Target]) -> Vec<Delivery> {
    let mut all = Vec::new();
    for i in 0..LEADS_PER_ACCOUNT {
        for target in targets {
            let (lead, name) = &target.leads[i];
            all.push(webhook(target, *lead, name));
            if has_dp(i) {
                all.push(digital_pipeline(target, *lead));
            }
            if has_form(i) {
                all.push(inbound(target, i));
            }
        }
    }
    all
}

/// The receiver of "send webhook": records the lead and the `Idempotency-Key` of every request,
/// and holds each open for [`RECEIVER_DELAY`] so that a kill can find one in flight.
#[derive(Default)]
struct Receiver {
    received: Mutex<Vec<(String, Vec<String>)>>,
    open: Mutex<HashMap<u64, i64>>,
    next: AtomicU64,
}

impl Receiver {
    /// Whether a request that arrived after `since_ms` is open.
    fn open_since(&self, since_ms: i64) -> bool {
        self.open
            .lock()
            .expect("lock")
            .values()
            .any(|&at| at > since_ms)
    }
}

/// Closes a request at the receiver, also when the sender hangs up.
struct Open(Arc<Receiver>, u64);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.lock().expect("lock").remove(&self.1);
    }
}

async fn receiver() -> (String, Arc<Receiver>) {
    let state = Arc::new(Receiver::default());
    let shared = state.clone();
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let receiver = shared.clone();
        async move {
            let id = receiver.next.fetch_add(1, Ordering::SeqCst);
            receiver
                .open
                .lock()
                .expect("lock")
                .insert(id, SystemClock.now_ms());
            let _open = Open(receiver.clone(), id);
            let keys = request
                .headers()
                .get_all("idempotency-key")
                .iter()
                .map(|v| v.to_str().unwrap_or_default().to_owned())
                .collect();
            let body = axum::body::to_bytes(request.into_body(), 64 * 1024)
                .await
                .unwrap_or_default();
            let lead = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
                .unwrap_or_default()
                .into_iter()
                .find(|(k, _)| k == "lead")
                .map(|(_, v)| v)
                .unwrap_or_default();
            receiver.received.lock().expect("lock").push((lead, keys));
            tokio::time::sleep(RECEIVER_DELAY).await;
            axum::Json(json!({"ok": true}))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, state)
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
        .env("RULEBOOK_JOB_LEASE_S", (LEASE_MS / 1000).to_string())
        .env("RULEBOOK_JOB_RETRY_BASE_S", "1")
        .env("RULEBOOK_JOB_RETRY_CAP_S", "5")
        .env("RULEBOOK_KOMMO_REQUESTS_PER_SECOND", "6")
        .env("RULEBOOK_INBOUND_REQUESTS_PER_MINUTE", "0")
        // The receiver of "send webhook" listens on loopback.
        .env("RULEBOOK_ALLOW_PRIVATE_WEBHOOK_TARGETS", "true")
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

/// Sends every delivery until it is acknowledged, to whichever backend is up, 32 at a time.
async fn send(
    deliveries: Arc<Vec<Delivery>>,
    backends: Arc<Mutex<Vec<String>>>,
    acked: Arc<AtomicUsize>,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let gate = Arc::new(tokio::sync::Semaphore::new(32));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..deliveries.len() {
        let permit = gate.clone().acquire_owned().await.expect("gate");
        let (deliveries, backends, acked, http) = (
            deliveries.clone(),
            backends.clone(),
            acked.clone(),
            http.clone(),
        );
        tasks.spawn(async move {
            let delivery = &deliveries[i];
            for attempt in 0usize.. {
                let bases = backends.lock().expect("lock").clone();
                let base = &bases[attempt % bases.len()];
                let mut request = http
                    .post(format!("{base}{}", delivery.path))
                    .header("content-type", delivery.content_type)
                    .body(delivery.body.clone());
                if let Some(key) = &delivery.idempotency_key {
                    request = request.header("idempotency-key", key);
                }
                if request.send().await.is_ok_and(|r| r.status().is_success()) {
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

async fn rule(app: &AppState, account_id: i64, name: &str, trigger: Value, actions: Value) -> i64 {
    let body = json!({"schema_version": 2, "name": name, "trigger": trigger,
                      "blocks": [{"actions": actions}]});
    rules::create(
        &app.db,
        account_id,
        1,
        &rules::RuleName::parse(name).expect("name"),
        &rules::parse_rule_body(body).expect("body"),
        0,
    )
    .await
    .expect("rule")
    .id
}

/// Each account: its leads in the emulator, its tokens and webhook secret, and four rules: "Seen"
/// notes every lead update; "Stage", run by the digital-pipeline action, notes, sends a webhook,
/// calls "Called" (which notes) and notes again 2 seconds later; "Form" notes the contact of an
/// inbound webhook, found or created by phone.
async fn prepare(
    emulator: &Emulator,
    emulator_url: &str,
    receiver_url: &str,
    app: &AppState,
) -> Vec<Target> {
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
        let lead_rule = |kind: &str| json!({"kind": kind, "entity": "lead"});
        let note = |entity: &str, text: &str| json!({"do": {"type": "add_note", "entity": entity, "text": text}});
        rule(
            app,
            account_id,
            "Seen",
            lead_rule("entity_updated"),
            json!([note("lead", "seen {{lead.name}}")]),
        )
        .await;
        let called = rule(
            app,
            account_id,
            "Called",
            lead_rule("manual"),
            json!([note("lead", "called {{lead.name}}")]),
        )
        .await;
        let stage_rule = rule(
            app,
            account_id,
            "Stage",
            lead_rule("manual"),
            json!([
                note("lead", "dp {{lead.name}}"),
                {"do": {"type": "send_webhook", "method": "POST", "url": format!("{receiver_url}/stage"),
                        "body": [{"key": "lead", "value": "{{lead.name}}"}]}},
                {"do": {"type": "execute_rule", "entity": "lead", "rule_id": called}},
                {"id": 1, "timer": {"kind": "after", "amount": 2, "unit": "seconds"},
                 "do": {"type": "add_note", "entity": "lead", "text": "later {{lead.name}}"}}
            ]),
        )
        .await;
        let form_rule = rule(
            app,
            account_id,
            "Form",
            json!({"kind": "inbound_webhook", "hook_id": "form"}),
            json!([note("contact", "form {{contact.name}}")]),
        )
        .await;
        let form_key = rules::get(&app.db, account_id, form_rule)
            .await
            .expect("form rule")
            .inbound_hook_key;
        let stage_key = digital_pipeline::key_of_rule(&app.db, account_id, stage_rule)
            .await
            .expect("DP key");
        targets.push(Target {
            subdomain,
            account_id,
            secret,
            leads,
            stage_key,
            form_key,
        });
    }
    targets
}

/// The event ids of the jobs of `kind` that a process started after `since_ms` is running now.
async fn running(app: &AppState, kind: &str, since_ms: i64) -> Vec<i64> {
    let payloads: Vec<String> = sqlx::query_scalar(
        "SELECT payload FROM jobs WHERE kind = $1 AND locked_until > $2 AND locked_until > $3",
    )
    .bind(kind)
    .bind(app.clock.now_ms())
    .bind(since_ms + LEASE_MS)
    .fetch_all(&app.db.pool)
    .await
    .unwrap_or_default();
    payloads
        .iter()
        .map(|p| {
            serde_json::from_str::<Value>(p).unwrap_or_default()["event_id"]
                .as_i64()
                .unwrap_or(0)
        })
        .collect()
}

/// Whether a process started after `since_ms` is doing `work` now.
async fn in_flight(work: Work, app: &AppState, receiver: &Receiver, since_ms: i64) -> bool {
    let source = match work {
        Work::SendWebhook => return receiver.open_since(since_ms),
        Work::ExecuteRule => return !running(app, kinds::RUN_RULE, since_ms).await.is_empty(),
        Work::DelayedAction => {
            return !running(app, kinds::RUN_DELAYED_ACTION, since_ms)
                .await
                .is_empty()
        }
        Work::AddNote => "kommo",
        Work::DigitalPipeline => "dp",
        Work::Inbound => "inbound",
    };
    let events = running(app, kinds::PROCESS_EVENT, since_ms).await;
    if events.is_empty() {
        return false;
    }
    let ids = events
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let count: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM events WHERE source = $1 AND id IN ({ids})"
    ))
    .bind(source)
    .fetch_one(&app.db.pool)
    .await
    .unwrap_or(0);
    count > 0
}

/// Waits until a process started after `since_ms` is doing `work`. A kill that finds nothing to
/// interrupt would test nothing, so after five minutes (the whole run takes less) the test fails.
async fn when_in_flight(work: Work, app: &AppState, receiver: &Receiver, since_ms: i64) {
    let started = Instant::now();
    while !in_flight(work, app, receiver, since_ms).await {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no {work:?} was in flight within five minutes: the kill would interrupt nothing"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!(
        "killing the backend during {work:?}, {} ms after its start",
        started.elapsed().as_millis()
    );
}

/// Polls the database until every event is processed and no job is left.
async fn wait_until_done(app: &AppState, expected_events: i64) {
    for _ in 0..3_000 {
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
    panic!("the backend did not finish the work within 10 minutes: {events} of {expected_events} events processed, {left} jobs left, e.g. {jobs:?}");
}

fn examples(list: &[String]) -> String {
    format!("{} (e.g. {:?})", list.len(), &list[..list.len().min(5)])
}

/// The notes of one account by (entity, text), and what was expected of them.
struct Notes {
    counts: HashMap<(i64, String), usize>,
    expected: usize,
}

impl Notes {
    fn of(emulator: &Emulator, subdomain: &str) -> Self {
        let mut counts: HashMap<(i64, String), usize> = HashMap::new();
        for note in emulator.notes(subdomain) {
            let text = note["params"]["text"].as_str().unwrap_or_default();
            let entity = note["entity_id"].as_i64().unwrap_or(0);
            *counts.entry((entity, text.to_owned())).or_default() += 1;
        }
        Self {
            counts,
            expected: 0,
        }
    }

    /// Expects one note `text` on `entity`; says what is wrong otherwise.
    fn once(&mut self, entity: i64, text: String, wrong: &mut Vec<String>) {
        self.expected += 1;
        let count = self
            .counts
            .get(&(entity, text.clone()))
            .copied()
            .unwrap_or(0);
        if count != 1 {
            wrong.push(format!("{text}: {count} notes"));
        }
    }
}

/// Every note and contact exactly once, every webhook at least once under one key, and a request
/// log that shows each note and contact request once.
fn assert_each_action_once(emulator: &Emulator, targets: &[Target], receiver: &Receiver) {
    let mut wrong = Vec::new();
    let mut expected_notes = 0;
    let mut expected_contacts = 0;
    for target in targets {
        let mut notes = Notes::of(emulator, &target.subdomain);
        let contacts = emulator.entities(&target.subdomain, "contacts");
        for (i, (lead, name)) in target.leads.iter().enumerate() {
            notes.once(*lead, format!("seen {name}"), &mut wrong);
            if has_dp(i) {
                for text in ["dp", "called", "later"] {
                    notes.once(*lead, format!("{text} {name}"), &mut wrong);
                }
            }
            if has_form(i) {
                let (contact_name, _) = form(target, i);
                let found: Vec<i64> = contacts
                    .iter()
                    .filter(|c| c["name"] == contact_name.as_str())
                    .filter_map(|c| c["id"].as_i64())
                    .collect();
                expected_contacts += 1;
                match found[..] {
                    [contact] => notes.once(contact, format!("form {contact_name}"), &mut wrong),
                    _ => wrong.push(format!("{contact_name}: {} contacts", found.len())),
                }
            }
        }
        let total: usize = notes.counts.values().sum();
        if total != notes.expected {
            wrong.push(format!(
                "{}: {total} notes, {} expected",
                target.subdomain, notes.expected
            ));
        }
        expected_notes += notes.expected;
    }
    assert!(wrong.is_empty(), "not exactly once: {}", examples(&wrong));

    let mut keys: HashMap<String, HashSet<Vec<String>>> = HashMap::new();
    for (lead, key) in receiver.received.lock().expect("lock").iter() {
        keys.entry(lead.clone()).or_default().insert(key.clone());
    }
    let mut unsent = Vec::new();
    let mut all_keys = HashSet::new();
    for target in targets {
        for (i, (_, name)) in target.leads.iter().enumerate() {
            if !has_dp(i) {
                continue;
            }
            match keys.get(name).map(|k| k.iter().collect::<Vec<_>>()) {
                Some(one) if one.len() == 1 && one[0].len() == 1 => {
                    assert!(
                        all_keys.insert(one[0][0].clone()),
                        "{name}'s webhook shares its Idempotency-Key with another lead's"
                    );
                }
                other => unsent.push(format!("{name}: keys {other:?}")),
            }
        }
    }
    assert!(
        unsent.is_empty(),
        "webhooks not received, or under several keys: {}",
        examples(&unsent)
    );

    assert_eq!(
        emulator.request_log_dropped(),
        0,
        "the emulator's request log overflowed: it cannot show each request once"
    );
    let log = emulator.request_log();
    let posts = |suffixes: &[&str]| {
        log.iter()
            .filter(|r| {
                r.method == "POST" && r.status < 300 && suffixes.iter().any(|s| r.path.ends_with(s))
            })
            .count()
    };
    assert_eq!(
        posts(&["/api/v4/leads/notes", "/api/v4/contacts/notes"]),
        expected_notes,
        "one note request per note in the request log"
    );
    assert_eq!(
        posts(&["/api/v4/contacts"]),
        expected_contacts,
        "one contact request per form in the request log"
    );
}

struct Run {
    running: kommo_emulator::RunningEmulator,
    app: AppState,
    database_url: String,
    _dir: Option<tempfile::TempDir>,
    deliveries: Arc<Vec<Delivery>>,
    targets: Vec<Target>,
    receiver: Arc<Receiver>,
}

async fn setup(postgres: bool) -> Run {
    let emulator = Emulator::new(EmulatorConfig {
        block_after_excess: 1_000_000,
        request_log_capacity: REQUEST_LOG_CAPACITY,
        ..EmulatorConfig::default()
    });
    let running = spawn_on_loopback(emulator.clone()).await.expect("emulator");
    let (receiver_url, receiver) = receiver().await;
    let (database_url, dir) = fresh_database(postgres).await;
    let pool = db::connect(&database_url).await.expect("connect");
    db::migrate(&pool).await.expect("migrate");
    let app = AppState::new(pool, settings(&database_url), Arc::new(SystemClock)).expect("state");
    let targets = prepare(&emulator, &running.url, &receiver_url, &app).await;
    Run {
        running,
        app,
        database_url,
        _dir: dir,
        deliveries: Arc::new(deliveries(&targets)),
        targets,
        receiver,
    }
}

impl Run {
    /// Waits until every delivery was acknowledged and the work is done, then checks it.
    async fn finish(&self, acked: &AtomicUsize) {
        assert_eq!(acked.load(Ordering::SeqCst), self.deliveries.len());
        wait_until_done(&self.app, i64::try_from(self.deliveries.len()).unwrap_or(0)).await;
        assert_each_action_once(&self.running.emulator, &self.targets, &self.receiver);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_backend_killed_during_each_kind_of_work_applies_every_action_exactly_once() {
    let run = setup(false).await;
    let acked = Arc::new(AtomicUsize::new(0));
    let mut since = run.app.clock.now_ms();
    let mut backend = start_backend(&run.database_url).await;
    let backends = Arc::new(Mutex::new(vec![backend.url.clone()]));
    let sender = tokio::spawn(send(
        run.deliveries.clone(),
        backends.clone(),
        acked.clone(),
    ));
    for work in KILLS {
        when_in_flight(work, &run.app, &run.receiver, since).await;
        backend.child.kill().await.expect("SIGKILL");
        since = run.app.clock.now_ms();
        backend = start_backend(&run.database_url).await;
        *backends.lock().expect("lock") = vec![backend.url.clone()];
    }
    sender.await.expect("sender");
    run.finish(&acked).await;
    backend.child.kill().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_postgres_backends_killed_during_each_kind_of_work_apply_every_action_exactly_once() {
    let run = setup(true).await;
    let acked = Arc::new(AtomicUsize::new(0));
    let mut since = run.app.clock.now_ms();
    let mut pair = [
        start_backend(&run.database_url).await,
        start_backend(&run.database_url).await,
    ];
    let backends = Arc::new(Mutex::new(
        pair.iter().map(|b| b.url.clone()).collect::<Vec<_>>(),
    ));
    let sender = tokio::spawn(send(
        run.deliveries.clone(),
        backends.clone(),
        acked.clone(),
    ));
    // Whichever process runs the work, both die with it.
    for work in KILLS {
        when_in_flight(work, &run.app, &run.receiver, since).await;
        for backend in &mut pair {
            backend.child.kill().await.expect("SIGKILL");
        }
        since = run.app.clock.now_ms();
        pair = [
            start_backend(&run.database_url).await,
            start_backend(&run.database_url).await,
        ];
        *backends.lock().expect("lock") = pair.iter().map(|b| b.url.clone()).collect();
    }
    // One process is lost for good while the other goes on.
    let [mut lost, mut survivor] = pair;
    lost.child.kill().await.expect("SIGKILL");
    *backends.lock().expect("lock") = vec![survivor.url.clone()];
    sender.await.expect("sender");
    run.finish(&acked).await;
    survivor.child.kill().await.expect("stop");
}
