//! End-to-end tests of Rulebook: what needs several parts at once (the packaged widget, the backend,
//! the Kommo emulator, a browser).
//!
//! Architecture Invariant: these tests use the parts only through their public faces — the widget
//! archive, HTTP, the binaries — never their internals.
//!
//! # Layout
//! - `tests/widget_package.rs`: the archive `cargo xtask package` writes, checked as Kommo would take it.
//! - `browser/`: Node + Playwright tests of the widget in headless Chromium on the Kommo-like page.
