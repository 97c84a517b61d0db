//! The HTTP API: one router per resource, merged here.
//!
//! Handlers are short: they parse into domain types, call one service function and map the result.
//! Errors leave as `application/problem+json` through [`ApiError`].

mod error;
mod health;
mod me;

use axum::Router;

pub use error::{ApiError, ApiResult};

use crate::startup::AppState;

/// The whole API.
pub fn router() -> Router<AppState> {
    Router::new().merge(health::router()).merge(me::router())
}
