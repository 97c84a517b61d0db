//! `GET /metrics`: the process's metrics in Prometheus' text format (what is recorded:
//! [`crate::telemetry`]). When `RULEBOOK_METRICS_TOKEN` is set, the scrape must carry it as a bearer
//! token; the numbers name no account either way.

use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::{
    routes::{Access, Route, Verb},
    ApiError, ApiResult,
};
use crate::startup::AppState;

pub(super) fn routes() -> Vec<Route> {
    vec![Route::new(Verb::Get, "/metrics", Access::Public, metrics)]
}

/// Prometheus' text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(token) = &state.settings.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !bool::from(given.as_bytes().ct_eq(token.expose_secret().as_bytes())) {
            return Err(ApiError::unauthorized(
                "metrics_token",
                "The metrics need the bearer token set in RULEBOOK_METRICS_TOKEN.",
            ));
        }
    }
    let (due, delayed) = state.queue.depth().await.map_err(ApiError::internal)?;
    #[allow(clippy::cast_precision_loss)] // job counts are far below 2^52
    {
        metrics::gauge!("rulebook_queue_due_jobs").set(due as f64);
        metrics::gauge!("rulebook_queue_delayed_jobs").set(delayed as f64);
    }
    let text = crate::telemetry::metrics().render();
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT))],
        text,
    )
        .into_response())
}
