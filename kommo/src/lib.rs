//! The Kommo API v4 client and the parser of Kommo's incoming traffic.
//!
//! Architecture Invariant: this crate knows HTTP and Kommo's wire formats and nothing of ours
//! beyond them: no SQL, no axum, no rule model. Where the backend must plug in shared state (a rate
//! limit across processes, token storage), it does so through the traits [`RateLimiter`] and
//! [`TokenStore`].
//!
//! # Layout
//! - [`client`]: [`KommoClient`] (one per process) and [`AccountClient`] (one account): rate limit,
//!   retries with capped exponential backoff and jitter, single-flight token refresh, the 403 alert.
//! - [`api`]: the API v4 operations: entities, tasks, notes, tags, links, events, pipelines, custom
//!   fields, users, account, webhooks, salesbot run; paging, filters ([`ListQuery`]), write
//!   batching ([`PendingUpdates`]) and exactly-once creation.
//! - [`models`]: typed resources; [`fields`]: typed custom field values.
//! - [`limiter`]: the [`RateLimiter`] trait and the in-process limiter.
//! - [`tokens`]: the [`TokenStore`] trait and the in-memory store.
//! - [`retry`]: backoff policy, the [`Sleeper`] and [`Clock`] seams.
//! - [`incoming`]: account webhooks and digital-pipeline requests parsed into typed events.
//! - [`error`]: the error type, [`KommoError`].
//! - `fuzzing` (hidden): the body of the fuzz target of `kommo/fuzz`, also run as a test over its
//!   committed seeds.

pub mod api;
pub mod client;
pub mod clock;
pub mod error;
pub mod fields;
#[doc(hidden)]
pub mod fuzzing;
pub mod incoming;
pub mod limiter;
pub mod models;
pub mod retry;
pub mod tokens;

pub use api::{ListQuery, PendingUpdates};
pub use client::{
    AccountAlert, AccountClient, AccountEndpoint, ClientConfig, ClientStatsSnapshot, KommoClient,
    KommoClientBuilder, OAuthApp, RecordedRequest, RequestRecorder,
};
pub use clock::{Clock, SystemClock};
pub use error::KommoError;
pub use fields::{FieldRef, FieldValue, FieldValues, FieldWrite};
pub use limiter::{InProcessLimiter, RateLimiter};
pub use retry::{RetryPolicy, Sleeper, TokioSleeper};
pub use tokens::{InMemoryTokenStore, StoredToken, TokenStore};
