//! The HTTP API: one router per resource, merged here.
//!
//! Handlers are short: they parse into domain types, call one service function and map the result.
//! Errors leave as `application/problem+json` through [`ApiError`].

mod account;
mod body;
mod dry_run;
mod entities;
mod error;
mod health;
mod hooks;
mod jobs;
mod keys;
mod launch;
mod links;
mod me;
mod metrics;
mod oauth;
pub mod openapi;
mod page;
mod receivers;
pub mod routes;
mod rule_ops;
mod rules;
mod schema;
pub mod throttle;
mod variables;

use axum::{extract::DefaultBodyLimit, Router};

pub(crate) use body::parse_every_request;
pub use error::{ApiError, ApiResult};
pub use hooks::redact_secret_path;

use crate::startup::AppState;

/// The largest request body any endpoint reads (413 beyond it); Kommo's webhooks and
/// digital-pipeline requests stop at their parser's smaller limit
/// ([`kommo::incoming::MAX_BODY_BYTES`]).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The route table: every route of the API, each with who may call it.
pub fn routes() -> Vec<routes::Route> {
    [
        health::routes(),
        me::routes(),
        rules::routes(),
        rule_ops::routes(),
        dry_run::routes(),
        variables::routes(),
        jobs::routes(),
        entities::routes(),
        account::routes(),
        schema::routes(),
        hooks::routes(),
        oauth::routes(),
        launch::routes(),
        keys::routes(),
        metrics::routes(),
        openapi::routes(),
        links::routes(),
        receivers::routes(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The whole API, built from [`routes`] with each route's guard. A path it does not have answers
/// 404 problem+json, a method a path does not take 405 problem+json.
pub fn router(state: &AppState) -> Router<AppState> {
    routes()
        .into_iter()
        .fold(Router::new(), |router, route| {
            let (path, endpoint) = route.into_parts(state);
            router.route(path, endpoint)
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .fallback(no_such_path)
        .method_not_allowed_fallback(no_such_method)
}

async fn no_such_path() -> ApiError {
    ApiError::not_found("Rulebook has nothing at this path.")
}

async fn no_such_method(method: axum::http::Method) -> ApiError {
    ApiError::method_not_allowed(format!("This path does not take {method} requests."))
}
