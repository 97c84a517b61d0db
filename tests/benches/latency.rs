//! `cargo xtask bench latency`: the backend (SQLite, 64 concurrent jobs) and the Kommo emulator (Kommo's
//! 7 requests/s per account) on loopback, 100 accounts with one rule each ("lead updated → change a
//! field"), in real time.
//!
//! - Phase 1, 100 events/s for 10 s (one event per account per second): for each webhook, the time
//!   from sending it to the first Kommo request the backend makes for that account afterwards
//!   (`event_to_request_p50_ms`, `event_to_request_p99_ms`, target p99 ≤ 100 ms).
//! - Phase 2, 500 webhooks/s for 5 s: the time until the backend acknowledges each one
//!   (`ack_p50_ms`, `ack_p99_ms`, target p99 ≤ 50 ms); requests are sent open-loop, on schedule,
//!   whether or not earlier ones were answered.
//!
//! Writes those keys and `peak_rss_mb` (this process: backend and emulator together) to
//! `RULEBOOK_BENCH_OUT` or `target/bench/latency.json`.

use std::{path::PathBuf, sync::Arc, time::Duration};

use kommo_emulator::{spawn_on_loopback, Emulator, EmulatorConfig};
use rulebook::{
    clock::{Clock as _, SystemClock},
    db, engine, jobs,
    queue::worker::Worker,
    startup::{router, AppState},
    store::{accounts, rules},
};
use rulebook_e2e::stack::{default_seed, settings, CLIENT_ID};
use secrecy::SecretString;
use serde_json::json;
use tokio::time::Instant;

const ACCOUNTS: i64 = 100;
/// Jobs run at once: a job mostly waits on Kommo, so many run side by side.
const WORKERS: usize = 64;
const FIRST_ACCOUNT: i64 = 33_000_000;

struct Account {
    subdomain: String,
    id: i64,
    lead: i64,
    hook_url: String,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let value = sorted[rank.clamp(1, sorted.len()) - 1];
    (value * 10.0).round() / 10.0
}

fn webhook_body(account: &Account, n: i64) -> String {
    let pairs = [
        ("account[id]".to_owned(), account.id.to_string()),
        ("account[subdomain]".to_owned(), account.subdomain.clone()),
        ("leads[update][0][id]".to_owned(), account.lead.to_string()),
        ("leads[update][0][name]".to_owned(), format!("Deal {n}")),
        (
            "leads[update][0][updated_at]".to_owned(),
            (1_800_000_000 + n).to_string(),
        ),
        ("leads[update][0][status_id]".to_owned(), "11".to_owned()),
        ("leads[update][0][pipeline_id]".to_owned(), "10".to_owned()),
    ];
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| (kb / 1024.0 * 10.0).round() / 10.0)
}

/// Sends `count` webhooks at `per_second`, open-loop; returns (account index, send instant,
/// acknowledgement time in ms) for each.
async fn send_at_rate(
    http: &reqwest::Client,
    accounts: &Arc<Vec<Account>>,
    count: i64,
    per_second: f64,
    first_n: i64,
) -> Vec<(usize, u128, f64)> {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        let at = start + Duration::from_secs_f64(i as f64 / per_second);
        let http = http.clone();
        let accounts = accounts.clone();
        tasks.spawn(async move {
            tokio::time::sleep_until(at).await;
            let index = usize::try_from(i % ACCOUNTS).unwrap_or(0);
            let account = &accounts[index];
            let body = webhook_body(account, first_n + i);
            // The app's own clock, which stamps the emulator's request log too.
            let sent_ms = u128::try_from(SystemClock.now_ms()).unwrap_or(0);
            let sent = Instant::now();
            let ok = http
                .post(&account.hook_url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            let ack_ms = sent.elapsed().as_secs_f64() * 1000.0;
            (index, sent_ms, if ok { ack_ms } else { f64::INFINITY })
        });
    }
    let mut out = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Ok(sample) = done {
            out.push(sample);
        }
    }
    out
}

/// The median time from storing an event to finishing its processing, and how many were processed.
async fn job_times(app: &AppState) -> (f64, usize) {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT processed_at - received_at FROM events WHERE processed_at IS NOT NULL ORDER BY 1",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap_or_default();
    let times: Vec<f64> = rows.iter().map(|(ms,)| *ms as f64).collect();
    (percentile(&times, 50.0), times.len())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let emulator = Emulator::new(EmulatorConfig {
        block_after_excess: 1_000_000,
        ..EmulatorConfig::default()
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("latency.db").display()
    );
    let pool = db::connect(&database_url).await.expect("connect");
    db::migrate(&pool).await.expect("migrate");
    let mut config = settings(&database_url);
    config.kommo_requests_per_second = 6;
    config.worker_count = WORKERS;
    let app = AppState::new(pool, config, Arc::new(SystemClock)).expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let backend_url = format!("http://{}", listener.local_addr().expect("addr"));
    let routes = router(app.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, routes).await;
    });

    let mut list = Vec::new();
    for i in 0..ACCOUNTS {
        let subdomain = format!("acct{i}");
        let id = FIRST_ACCOUNT + i;
        let mut seed = default_seed();
        seed["subdomain"] = json!(subdomain);
        seed["id"] = json!(id);
        seed["entities"] = json!({"leads": [{"name": "Deal", "pipeline_id": 10, "status_id": 11}]});
        emulator.seed_json(seed).expect("seed");
        let lead = emulator.entities(&subdomain, "leads")[0]["id"]
            .as_i64()
            .expect("lead");
        accounts::ensure_account(&app.db, id, &subdomain, 0)
            .await
            .expect("account");
        let secret = accounts::ensure_webhook_secret(&app.db, id)
            .await
            .expect("secret");
        let pair = emulator
            .issue_tokens(&subdomain, Some(CLIENT_ID))
            .expect("tokens");
        accounts::save_oauth_tokens(
            &app.db,
            &app.cipher,
            id,
            &accounts::OAuthTokens {
                access_token: SecretString::from(pair.access_token),
                refresh_token: SecretString::from(pair.refresh_token),
                expires_at: (pair.server_time + pair.expires_in) * 1000,
            },
        )
        .await
        .expect("tokens saved");
        let rule = json!({"schema_version": 2, "name": "Seen",
            "trigger": {"kind": "entity_updated", "entity": "lead"},
            "frequency": {"min_interval_seconds": 5},
            "blocks": [{"actions": [{"do": {"type": "change_fields", "entity": "lead",
                "fields": [{"field": {"custom": 504}, "value": "{{lead.name}} seen"}]}}]}]});
        rules::create(
            &app.db,
            id,
            1,
            &rules::RuleName::parse("Seen").expect("name"),
            &rules::parse_rule_body(rule).expect("body"),
            0,
        )
        .await
        .expect("rule");
        list.push(Account {
            hook_url: format!("{backend_url}/hooks/kommo/{id}/{secret}"),
            subdomain,
            id,
            lead,
        });
    }
    let running = spawn_on_loopback(emulator.clone()).await.expect("emulator");
    for account in &list {
        engine::set_kommo_base_url(
            &app.db,
            account.id,
            Some(&running.account_url(&account.subdomain)),
        )
        .await
        .expect("base url");
    }
    let accounts = Arc::new(list);

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = Worker::new(app.queue.clone(), jobs::registry(&app.engine));
    for _ in 0..WORKERS {
        let mut stopped = stopped.clone();
        tokio::spawn(worker.clone().run(async move {
            let _ = stopped.wait_for(|s| *s).await;
        }));
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .build()
        .expect("client");

    // Warm-up: every account's facts and tokens are read once, as a running service has them.
    send_at_rate(&http, &accounts, ACCOUNTS, 50.0, 0).await;
    tokio::time::sleep(Duration::from_secs(8)).await;

    // Phase 1: 100 events/s; the first Kommo request of each account after its webhook.
    let log_start = emulator.request_log().len();
    let sent = send_at_rate(&http, &accounts, 1_000, 100.0, 10_000).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let log: Vec<_> = emulator.request_log().into_iter().skip(log_start).collect();
    let mut latencies: Vec<f64> = sent
        .iter()
        .filter_map(|(index, sent_ms, _)| {
            let subdomain = &accounts[*index].subdomain;
            log.iter()
                .filter(|r| &r.subdomain == subdomain && r.at_ms as u128 >= *sent_ms)
                .map(|r| r.at_ms as u128 - sent_ms)
                .min()
                .map(|ms| ms as f64)
        })
        .collect();
    let answered = latencies.len();
    latencies.sort_by(f64::total_cmp);
    let event_to_request_p50_ms = percentile(&latencies, 50.0);
    let event_to_request_p99_ms = percentile(&latencies, 99.0);
    println!(
        "latency: event → first Kommo request at 100 events/s over {} events ({answered} reached Kommo): p50 {event_to_request_p50_ms} ms, p99 {event_to_request_p99_ms} ms",
        sent.len()
    );

    let (jobs_p50, done) = job_times(&app).await;
    println!("latency: {done} events processed; stored → processed p50 {jobs_p50} ms");

    // Phase 2: 500 webhooks/s; acknowledgement times.
    let acked = send_at_rate(&http, &accounts, 2_500, 500.0, 100_000).await;
    let mut acks: Vec<f64> = acked.iter().map(|(_, _, ms)| *ms).collect();
    acks.sort_by(f64::total_cmp);
    let failed = acks.iter().filter(|a| a.is_infinite()).count();
    let ack_p50_ms = percentile(&acks, 50.0);
    let ack_p99_ms = percentile(&acks, 99.0);
    println!(
        "latency: acknowledgement at 500 requests/s over {} webhooks ({failed} failed): p50 {ack_p50_ms} ms, p99 {ack_p99_ms} ms",
        acks.len()
    );
    let _ = stop.send(true);
    let peak_rss_mb = peak_rss_mb();
    println!("latency: peak RSS {peak_rss_mb} MB (backend and emulator in one process)");

    let result = json!({
        "event_to_request_p50_ms": event_to_request_p50_ms,
        "event_to_request_p99_ms": event_to_request_p99_ms,
        "ack_p50_ms": ack_p50_ms,
        "ack_p99_ms": ack_p99_ms,
        "peak_rss_mb": peak_rss_mb,
    });
    let path = std::env::var_os("RULEBOOK_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench/latency.json")
        });
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("bench dir");
    }
    std::fs::write(&path, serde_json::to_string_pretty(&result).expect("json")).expect("write");
    println!("wrote {}", path.display());
}
