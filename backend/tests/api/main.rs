//! The backend's API and storage tests: one binary, every test on SQLite and on PostgreSQL.

mod helpers;

mod accounts;
mod ingest;
mod launch;
mod log;
mod memory;
mod metrics;
mod openapi;
mod problems;
mod queue;
mod rate_limit;
mod receivers;
mod rule_ops;
mod rules;
mod schema;
mod secrets;
mod tenancy;
mod validation;
mod variables;
