//! Rulebook's backend: an axum service that stores rules for Kommo accounts and executes them.
//!
//! Architecture Invariant: this is the only crate that knows SQL. The tenant of every request is the
//! Kommo account taken from a verified token ([`auth`]), never from a parameter. Secrets are never
//! logged: they travel as [`secrecy::SecretString`].
//!
//! # Layout
//! - [`cli`]: the command line (`rulebook serve`).
//! - [`config`]: settings from defaults, a TOML file and the environment.
//! - [`startup`]: builds the application state and the router, and serves it.
//! - [`connect`]: connecting Kommo accounts (OAuth code, long-lived token), subscribing their
//!   webhook, forgetting revoked ones.
//! - [`db`]: the connection pool (SQLite or PostgreSQL) and its migrations.
//! - [`auth`]: verification of Kommo's disposable `X-Auth-Token`.
//! - [`http`]: one router per resource, merged at the root, and the problem+json error type.
//! - [`telemetry`]: `tracing` setup.
//! - [`clock`]: the injected clock (system or manual).
//! - [`store`]: accounts, rules with history, variables, trigger links, the execution log, the
//!   Kommo rate limit shared by all processes.
//! - [`queue`]: the durable job queue, its workers and the names of the job kinds.
//! - [`jobs`]: each job kind as a type (its payload, its name, its `run`), and the one list of them
//!   a worker runs.
//! - [`ingest`]: authenticated incoming events stored with a dedupe key and queued in one transaction.
//! - [`launch`]: manual rules run by hand on one entity or in bulk, as one queued run per entity.
//! - [`engine`]: the job handlers that run rules: events translated, one snapshot per event read
//!   through the Kommo client, `domain` evaluation, actions performed (batched) or delayed as jobs,
//!   loop protection, the debugger log entries; also the dry run and replay.
//! - `fuzzing` (hidden): the bodies of the fuzz targets of `backend/fuzz` (every parser of outside
//!   input), also run as tests over their committed seeds.

pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connect;
pub mod db;
pub mod engine;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod ingest;
pub mod jobs;
pub mod launch;
pub mod queue;
pub mod startup;
pub mod store;
pub mod telemetry;
