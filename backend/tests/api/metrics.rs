//! `/metrics`: Prometheus text with the queue's depth, job run times and webhook acknowledgements,
//! and its optional bearer token. Every app of this test binary records into one process-wide
//! recorder, so counters are compared before and after, never read as absolute numbers.

use axum::http::{Method, StatusCode};
use rulebook::queue::{
    kinds::RUN_DELAYED_ACTION,
    worker::{ClaimedJob, JobError, Outcome, Registry},
    NewJob,
};
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with, Backend, TestApp, ACCOUNT, ADMIN, START_MS};

crate::on_both_databases!(
    metrics_count_webhook_answers_and_job_run_times,
    the_queue_depth_counts_due_jobs_apart_from_delayed_ones,
    metrics_ask_for_their_token_when_one_is_set,
);

const LEAD_ADDED: &[u8] =
    b"leads%5Badd%5D%5B0%5D%5Bid%5D=555&account%5Bid%5D=31000001&account%5Bsubdomain%5D=acme";

async fn scrape(app: &TestApp, bearer: Option<&str>) -> (StatusCode, String) {
    let auth = bearer.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    let answer = app
        .send(Method::GET, "/metrics", None, None, None, &headers)
        .await;
    (answer.status, answer.text)
}

/// The sum of the samples of `name` whose labels include every one of `labels` (`k="v"`).
fn sample_sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(series, _)| {
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            metric == name && labels.iter().all(|l| rest.contains(l))
        })
        .filter_map(|(_, value)| value.parse::<f64>().ok())
        .sum()
}

async fn metrics_count_webhook_answers_and_job_run_times(backend: Backend) {
    let app = spawn_app(backend).await;
    let (path, _) = app.given_webhook_path(ADMIN).await;
    let route = r#"route="/hooks/kommo/"#;
    let (_, before) = scrape(&app, None).await;

    app.post_hook(&path, LEAD_ADDED, "application/x-www-form-urlencoded", &[])
        .await
        .expect(StatusCode::OK);
    app.queue()
        .enqueue(&NewJob::new(
            ACCOUNT,
            RUN_DELAYED_ACTION,
            json!({}),
            START_MS,
        ))
        .await
        .expect("enqueue");
    let worker = app.worker(
        Registry::new().register(RUN_DELAYED_ACTION, |_: ClaimedJob| {
            std::future::ready(Err::<(), _>(JobError::Permanent("no".into())))
        }),
    );
    assert!(matches!(
        worker.try_run_one().await.expect("run"),
        Outcome::DeadLettered { .. }
    ));
    let (status, after) = scrape(&app, None).await;

    assert_eq!(status, StatusCode::OK);
    let grew = |name: &str, labels: &[&str]| {
        sample_sum(&after, name, labels) - sample_sum(&before, name, labels)
    };
    assert!(grew("rulebook_webhooks_total", &[route, r#"status="200""#]) >= 1.0);
    assert!(grew("rulebook_webhook_ack_seconds_count", &[route]) >= 1.0);
    assert!(
        grew(
            "rulebook_job_duration_seconds_count",
            &[r#"kind="run_delayed_action""#, r#"outcome="failed""#]
        ) >= 1.0
    );
    assert!(after.contains("# TYPE rulebook_queue_due_jobs gauge"));
    assert!(after.contains("# TYPE rulebook_queue_delayed_jobs gauge"));
}

async fn the_queue_depth_counts_due_jobs_apart_from_delayed_ones(backend: Backend) {
    let app = spawn_app(backend).await;
    for run_at in [START_MS - 1, START_MS, START_MS + 60_000] {
        app.queue()
            .enqueue(&NewJob::new(ACCOUNT, RUN_DELAYED_ACTION, json!({}), run_at))
            .await
            .expect("enqueue");
    }

    assert_eq!(app.queue().depth().await.expect("depth"), (2, 1));
}

async fn metrics_ask_for_their_token_when_one_is_set(backend: Backend) {
    let app = spawn_app_with(backend, json!({ "metrics_token": "scrape-me" })).await;

    let (without, _) = scrape(&app, None).await;
    let (wrong, _) = scrape(&app, Some("guess")).await;
    let (right, text) = scrape(&app, Some("scrape-me")).await;

    assert_eq!(without, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong, StatusCode::UNAUTHORIZED);
    assert_eq!(right, StatusCode::OK);
    assert!(text.contains("rulebook_queue_due_jobs"));
}
