//! End-to-end tests of Rulebook: what needs several parts at once (the packaged widget, the backend,
//! the Kommo emulator, a browser).
//!
//! Architecture Invariant: these tests use the parts only through their public faces — the widget
//! archive, HTTP, the binaries, and the crates' public APIs (to start them on loopback and drive
//! their clocks) — never their private internals.
//!
//! # Layout
//! - [`connected`]: an account connected through the OAuth callback, for connection and launch
//!   tests.
//! - [`stack`]: the emulator and the backend on loopback, connected and subscribed, with clocks and
//!   queues driven by the test.
//! - `tests/pipeline.rs`: from a change in the emulator, through its webhook and a rule, to the
//!   action visible in the emulator, for every event and action type.
//! - `tests/manual_actions.rs`: every action of the Triggers manual with every option, one table
//!   row each, launched by hand and checked in the emulator.
//! - `tests/manual_conditions.rs`: every condition operand family of the Triggers manual, with
//!   every operator of its type, on real emulator entities and events.
//! - `tests/writes.rs`: dry runs and replays leave the emulator's write log unchanged; concurrent
//!   performers of one action send it once.
//! - `tests/manual_events.rs`: every event kind of the Triggers manual, one table row each, starts
//!   its rule on one shared stack per database.
//! - `tests/crash.rs`: 5,000 webhooks, 500 digital-pipeline requests and 500 inbound webhooks while
//!   backend processes (`src/bin/rulebook-backend.rs`) are killed with SIGKILL during each kind of
//!   work; every action lands exactly once.
//! - `benches/latency.rs`: `cargo xtask bench latency` (event to first Kommo request, acknowledgement).
//! - `tests/widget_package.rs`: the archive `cargo xtask package` writes, checked as Kommo would take it.
//! - `browser/`: Node + Playwright tests of the widget in headless Chromium on the Kommo-like page.

pub mod connected;
pub mod stack;

/// Generates, for each named `async fn(stack::Database)`, a module with two tests, `sqlite` and
/// `postgres`, that run it on each database: every backend end-to-end test runs on both.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::stack::Database::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::stack::Database::Postgres).await
            }
        }
    )*};
}
