//! An emulator of Kommo accounts for tests and the sandbox: Kommo as documented, held in memory.
//!
//! Architecture Invariant: the emulator never depends on our client's types (`kommo`, `domain`,
//! `rulebook`). Its wire formats come from Kommo's documentation, each pinned by a golden fixture that
//! names its source.
//!
//! # Layout
//! - [`host_page`]: the Kommo-like web page our widget runs in (RequireJS, jQuery, `APP`, the widget
//!   lifecycle and `$authorizedAjax`), serving the unpacked widget archive.

pub mod host_page;
