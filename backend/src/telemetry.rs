//! Logging through `tracing` to stderr, filtered by `RUST_LOG` (default `info`), and the process's
//! metrics, recorded through the `metrics` facade and served in Prometheus' text format at
//! `/metrics` (`http::metrics`).
//!
//! What is recorded (names as Prometheus shows them):
//! - `rulebook_queue_due_jobs`, `rulebook_queue_delayed_jobs`: pending jobs that are due, and those
//!   waiting for their time (read from the database when `/metrics` is scraped);
//! - `rulebook_job_duration_seconds{kind, outcome}`: how long each job ran;
//! - `kommo_requests_total{method, status}`: every request sent to Kommo with its answer's status
//!   (`transport` when none came back), recorded by the `kommo` client; `kommo_responses_429_total`
//!   counts Kommo's rate-limit answers;
//! - `rulebook_webhooks_total{route, status}` and `rulebook_webhook_ack_seconds{route}`: the
//!   acknowledgement of every webhook, digital-pipeline request, inbound call and trigger link.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global subscriber; a second call is harmless.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Histogram buckets of every `*_seconds` metric: from a millisecond to a minute.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The process's metrics recorder, installed as the global one on first use (every app of the
/// process, and every test of a test binary, records into the same one).
pub fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .expect("the buckets are not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Another recorder may be installed already (an embedding program's); ours then renders
        // what is recorded into it, which is nothing, rather than failing.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}
