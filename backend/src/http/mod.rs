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
mod launch;
mod me;
mod oauth;
mod rules;
pub mod throttle;
mod variables;

use axum::Router;

pub(crate) use body::parse_every_request;
pub use error::{ApiError, ApiResult};
pub use hooks::redact_secret_path;

use crate::startup::AppState;

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
}
