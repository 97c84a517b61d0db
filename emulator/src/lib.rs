//! An emulator of Kommo accounts for tests and the sandbox: Kommo as documented, held in memory.
//!
//! Architecture Invariant: the emulator never depends on our client's types (`kommo`, `domain`,
//! `rulebook`). Its wire formats come from Kommo's documentation, each pinned by a golden fixture that
//! names its source.
//!
//! # Layout
//! - [`emulator`]: the [`Emulator`] handle: accounts, the request gate (rate limit, block, tokens,
//!   faults), OAuth grants, disposable tokens, the outbound delivery queue.
//! - [`http`]: the axum routes. Accounts are addressed by path prefix: `/{subdomain}/api/v4/...`
//!   stands for `https://{subdomain}.kommo.com/api/v4/...`; the control API is under `/_control/`.
//! - [`ops`]: the REST API v4 operations (entities, tags, links, tasks, notes, pipelines, custom
//!   fields, users, account, events, webhooks, salesbot run, talks), paging and filters.
//! - [`model`]: account data and its JSON rendering.
//! - [`outbound`]: account webhooks (`talk[...]` included), digital-pipeline requests and
//!   `message[add]` in Kommo's form format, with Kommo's retry schedule.
//! - [`ratelimit`]: the sliding 1-second window (429, then 403 "blocked").
//! - [`seed`]: the seed document that creates accounts.
//! - [`clock`]: the settable clock.
//! - [`problem`]: Kommo's error bodies.
//! - [`host_page`]: the Kommo-like web page our widget runs in (RequireJS, jQuery, `APP`, the widget
//!   lifecycle and `$authorizedAjax`), serving the unpacked widget archive.

pub mod clock;
pub mod emulator;
pub mod host_page;
pub mod http;
pub mod model;
pub mod ops;
pub mod outbound;
pub mod problem;
pub mod ratelimit;
pub mod seed;

pub use clock::EmulatorClock;
pub use emulator::{ChatMessageRequest, ControlError, Emulator, EmulatorConfig, TokenPair};
pub use http::{router, serve, spawn_on_loopback, RunningEmulator};
pub use model::{Fault, FaultRule};
