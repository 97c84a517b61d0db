//! Rulebook's pure core, shared by the widget (wasm) and the backend (native).
//!
//! Architecture Invariant: this crate performs no I/O and knows nothing of HTTP, SQL, async runtimes
//! or the DOM. It must build for `wasm32-unknown-unknown`; its dependency tree has no I/O crates.
//! Evaluation is a pure function: the clock is a parameter, never read inside.
//!
//! # Layout
//! - [`api`]: request and response bodies exchanged between the widget and the backend.
//! - [`rule`]: the rule model (trigger, blocks, conditions, actions, timers) and its JSON migration.
//! - [`event`]: the typed events that start rules.
//! - [`schema`]: the account's schema (pipelines, users, fields, task types, tags, Salesbots, loss
//!   reasons, timezone), as the backend answers it and validation reads it.
//! - [`snapshot`]: the entity snapshot a rule is evaluated against.
//! - [`path`]: the path grammar (`lead.cf(123)`, `date.now`) shared by conditions and templates.
//! - [`value`]: runtime values, reading paths, and text/number/date conversions.
//! - [`template`]: the template language: parse, print, render with limits.
//! - [`eval`]: evaluation of a rule into a plan of actions and a trace.
//! - [`portable`]: the export document of rules, and the matching of the fields, list values and
//!   users they name in the account that imports them.
//! - [`timer`]: action timers and scheduled triggers resolved to UTC instants, DST-correct.
//! - [`zone`]: the account's timezone: chrono-tz's zone (`tz` feature) or a table of offsets.
//! - [`validate`]: every problem of a rule against the account's schema, with paths.
//! - [`unavailable`]: the trigger and action kinds Kommo's public API cannot serve, with the reason.
//! - `fuzzing` (hidden): the bodies of the fuzz targets of `domain/fuzz`, also run as tests over
//!   their committed seeds.

pub mod api;
pub mod eval;
pub mod event;
#[doc(hidden)]
pub mod fuzzing;
pub mod path;
pub mod portable;
pub mod rule;
pub mod schema;
pub mod snapshot;
pub mod template;
pub mod timer;
pub mod unavailable;
pub mod validate;
pub mod value;
pub mod zone;
