//! The HTTP API: one router per resource, merged here.
//!
//! Handlers are short: they parse into domain types, call one service function and map the result.
//! Errors leave as `application/problem+json` through [`ApiError`].

mod account;
mod body;
mod dry_run;
mod error;
mod health;
mod hooks;
mod jobs;
mod keys;
mod launch;
mod me;
mod oauth;
mod page;
mod rules;
pub mod throttle;
mod variables;

use axum::{extract::DefaultBodyLimit, Router};

pub use error::{ApiError, ApiResult};
pub use hooks::redact_secret_path;

use crate::startup::AppState;

/// The largest request body any endpoint reads (413 beyond it); Kommo's webhooks and
/// digital-pipeline requests stop at their parser's smaller limit
/// ([`kommo::incoming::MAX_BODY_BYTES`]).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The whole API.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(health::router())
        .merge(me::router())
        .merge(rules::router())
        .merge(dry_run::router())
        .merge(variables::router())
        .merge(jobs::router())
        .merge(account::router())
        .merge(hooks::router())
        .merge(oauth::router())
        .merge(launch::router())
        .merge(keys::router())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}
