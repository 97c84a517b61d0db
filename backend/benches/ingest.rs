//! Benchmark `ingest`: durable ingest throughput through the real router over TCP, on SQLite and on
//! PostgreSQL. Each request is a distinct Kommo account webhook, authenticated, stored with its
//! dedupe key and its job enqueued in one transaction before the 200. Writes
//! `sqlite_events_per_s`, `postgres_events_per_s` and `peak_rss_mb`.

mod support;

use std::{sync::Arc, time::Instant};

use rulebook::{
    clock::SystemClock,
    startup::{router, AppState},
    store::accounts,
};
use serde_json::json;
use support::BenchDatabase;

const ACCOUNT: i64 = 42;
const EVENTS: usize = 6_000;
const CONCURRENCY: usize = 32;

/// Sends [`EVENTS`] webhooks to a fresh app on `database` and returns events per second.
async fn events_per_second(database: &BenchDatabase) -> f64 {
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

    let started = Instant::now();
    let senders: Vec<_> = (0..CONCURRENCY)
        .map(|sender| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                for i in (sender..EVENTS).step_by(CONCURRENCY) {
                    let body =
                        format!("leads%5Bupdate%5D%5B0%5D%5Bid%5D={i}&account%5Bid%5D={ACCOUNT}");
                    let response = client
                        .post(&url)
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
            })
        })
        .collect();
    for sender in senders {
        sender.await.expect("sender");
    }
    let elapsed = started.elapsed().as_secs_f64();
    server.abort();

    let stored: i64 = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM events")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    let queued: i64 = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM jobs")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(
        (stored, queued),
        (EVENTS as i64, EVENTS as i64),
        "every acknowledged event is stored and queued"
    );
    db.pool.close().await;
    (EVENTS as f64 / elapsed).round()
}

#[tokio::main]
async fn main() {
    let sqlite = BenchDatabase::sqlite();
    let sqlite_events_per_s = events_per_second(&sqlite).await;
    sqlite.remove().await;
    println!("ingest sqlite: {sqlite_events_per_s} events/s ({EVENTS} webhooks, {CONCURRENCY} concurrent)");

    let postgres = BenchDatabase::postgres().await;
    let postgres_events_per_s = events_per_second(&postgres).await;
    postgres.remove().await;
    println!("ingest postgres: {postgres_events_per_s} events/s ({EVENTS} webhooks, {CONCURRENCY} concurrent)");

    let peak_rss_mb = support::peak_rss_mb();
    println!("peak RSS: {peak_rss_mb} MB");
    support::write_result(
        "ingest",
        &json!({
            "sqlite_events_per_s": sqlite_events_per_s,
            "postgres_events_per_s": postgres_events_per_s,
            "peak_rss_mb": peak_rss_mb,
        }),
    );
}
