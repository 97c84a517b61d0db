//! Benchmark `ingest`: durable ingest through the real router over TCP, on SQLite and on PostgreSQL,
//! with the durable settings the service runs with (SQLite `synchronous = FULL` in WAL mode,
//! PostgreSQL synchronous commit). Each request is a distinct Kommo account webhook, authenticated,
//! stored with its dedupe key and its job enqueued before the 200 (group-committed with the requests
//! that arrive with it). Writes `sqlite_events_per_s` and `postgres_events_per_s` (a burst of
//! [`EVENTS`] webhooks from [`CONCURRENCY`] senders), `ack_p99_ms` (the 99th percentile of the
//! acknowledgement time at a steady [`PACED_PER_S`] requests per second, the worse of the two
//! databases), `sqlite_ack_p99_ms`, `postgres_ack_p99_ms` and `peak_rss_mb`.

mod support;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use rulebook::{
    clock::SystemClock,
    db::Db,
    startup::{router, AppState},
    store::accounts,
};
use serde_json::json;
use support::BenchDatabase;
use tokio::task::JoinHandle;

const ACCOUNT: i64 = 42;
const EVENTS: usize = 6_000;
const CONCURRENCY: usize = 32;
/// The steady rate of the acknowledgement-time run.
const PACED_PER_S: u64 = 500;
/// How many requests the acknowledgement-time run sends.
const PACED_EVENTS: usize = 2_500;

/// A fresh app on `database`, serving on a local port.
struct App {
    db: Db,
    url: String,
    server: JoinHandle<Result<(), std::io::Error>>,
    client: reqwest::Client,
}

impl App {
    async fn start(database: &BenchDatabase) -> Self {
        let db = database.connect().await;
        accounts::ensure_account(&db, ACCOUNT, "bench", 0)
            .await
            .expect("account");
        let secret = accounts::ensure_webhook_secret(&db, ACCOUNT)
            .await
            .expect("secret");
        let state = AppState::new(
            db.clone(),
            support::settings(&database.url),
            Arc::new(SystemClock),
        )
        .expect("state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!(
            "http://{}/hooks/kommo/{ACCOUNT}/{secret}",
            listener.local_addr().expect("addr")
        );
        let server = tokio::spawn(async move { axum::serve(listener, router(state)).await });
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(CONCURRENCY)
            .build()
            .expect("client");
        Self {
            db,
            url,
            server,
            client,
        }
    }

    /// Sends the `i`th distinct webhook and checks it was acknowledged.
    async fn send(client: &reqwest::Client, url: &str, i: usize) {
        let body = format!("leads%5Bupdate%5D%5B0%5D%5Bid%5D={i}&account%5Bid%5D={ACCOUNT}");
        let response = client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("send");
        assert!(
            response.status().is_success(),
            "ingest answered {}",
            response.status()
        );
    }

    /// Stops serving and checks that every acknowledged event is stored and queued.
    async fn finish(self, sent: usize) {
        self.server.abort();
        for table in ["events", "jobs"] {
            let count: i64 = sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&self.db.pool)
                .await
                .expect("count");
            assert_eq!(count, sent as i64, "every acknowledged event is in {table}");
        }
        self.db.pool.close().await;
    }
}

/// Sends [`EVENTS`] webhooks as fast as [`CONCURRENCY`] senders can; returns events per second.
async fn events_per_second(database: &BenchDatabase) -> f64 {
    let app = App::start(database).await;
    let started = Instant::now();
    let senders: Vec<_> = (0..CONCURRENCY)
        .map(|sender| {
            let (client, url) = (app.client.clone(), app.url.clone());
            tokio::spawn(async move {
                for i in (sender..EVENTS).step_by(CONCURRENCY) {
                    App::send(&client, &url, i).await;
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.expect("sender");
    }
    let elapsed = started.elapsed().as_secs_f64();
    app.finish(EVENTS).await;
    (EVENTS as f64 / elapsed).round()
}

/// Sends [`PACED_EVENTS`] webhooks at [`PACED_PER_S`] per second, each on its own schedule
/// whatever the others' answers; returns the 99th percentile of the time to the 200, in ms.
async fn ack_p99_ms(database: &BenchDatabase) -> f64 {
    let app = App::start(database).await;
    let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / PACED_PER_S));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut requests = Vec::with_capacity(PACED_EVENTS);
    for i in 0..PACED_EVENTS {
        ticks.tick().await;
        let (client, url) = (app.client.clone(), app.url.clone());
        requests.push(tokio::spawn(async move {
            let sent = Instant::now();
            App::send(&client, &url, i).await;
            sent.elapsed()
        }));
    }
    let mut times = Vec::with_capacity(PACED_EVENTS);
    for request in requests {
        times.push(request.await.expect("request"));
    }
    app.finish(PACED_EVENTS).await;
    times.sort();
    let p99 = times[(times.len() * 99).div_ceil(100) - 1];
    (p99.as_secs_f64() * 10_000.0).round() / 10.0
}

#[tokio::main]
async fn main() {
    let sqlite = BenchDatabase::sqlite();
    let sqlite_events_per_s = events_per_second(&sqlite).await;
    sqlite.remove().await;
    let sqlite = BenchDatabase::sqlite();
    let sqlite_ack_p99_ms = ack_p99_ms(&sqlite).await;
    sqlite.remove().await;
    println!("ingest sqlite: {sqlite_events_per_s} events/s ({EVENTS} webhooks, {CONCURRENCY} concurrent); ack p99 {sqlite_ack_p99_ms} ms at {PACED_PER_S}/s");

    let postgres = BenchDatabase::postgres().await;
    let postgres_events_per_s = events_per_second(&postgres).await;
    postgres.remove().await;
    let postgres = BenchDatabase::postgres().await;
    let postgres_ack_p99_ms = ack_p99_ms(&postgres).await;
    postgres.remove().await;
    println!("ingest postgres: {postgres_events_per_s} events/s ({EVENTS} webhooks, {CONCURRENCY} concurrent); ack p99 {postgres_ack_p99_ms} ms at {PACED_PER_S}/s");

    let peak_rss_mb = support::peak_rss_mb();
    println!("peak RSS: {peak_rss_mb} MB");
    support::write_result(
        "ingest",
        &json!({
            "sqlite_events_per_s": sqlite_events_per_s,
            "postgres_events_per_s": postgres_events_per_s,
            "ack_p99_ms": sqlite_ack_p99_ms.max(postgres_ack_p99_ms),
            "sqlite_ack_p99_ms": sqlite_ack_p99_ms,
            "postgres_ack_p99_ms": postgres_ack_p99_ms,
            "peak_rss_mb": peak_rss_mb,
        }),
    );
}
