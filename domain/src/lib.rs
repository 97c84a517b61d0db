//! Rulebook's pure core, shared by the widget (wasm) and the backend (native).
//!
//! Architecture Invariant: this crate performs no I/O and knows nothing of HTTP, SQL, async runtimes
//! or the DOM. It must build for `wasm32-unknown-unknown`; its dependency tree has no I/O crates.
//!
//! # Layout
//! - [`api`]: request and response bodies exchanged between the widget and the backend.

pub mod api;
