//! `cargo xtask test`: every check and test, in the order that fails fastest.

use std::{path::Path, process::Command};

use crate::{package, sandbox, setup, util::exec as run_cmd};

/// Where the PostgreSQL variants of the backend tests connect unless told otherwise.
const DEFAULT_TEST_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// How far the wall clock is moved for the second end-to-end run (libfaketime's relative format).
const WALL_CLOCK_AHEAD: &str = "+2y";

/// Runs everything; the first failure stops it.
pub fn run() -> anyhow::Result<()> {
    setup::run(setup::Need::Everything)?;
    run_cmd(Command::new("cargo").args(["fmt", "--all", "--check"]))?;
    run_cmd(Command::new("cargo").args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run_cmd(Command::new("cargo").args([
        "clippy",
        "-p",
        "rulebook-widget",
        "-p",
        "domain",
        "--target",
        "wasm32-unknown-unknown",
        "--",
        "-D",
        "warnings",
    ]))?;
    let zip = package::run(sandbox::BACKEND_URL)?;
    let postgres =
        std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_TEST_POSTGRES_URL.into());
    run_cmd(
        Command::new("cargo")
            .args(["test", "--workspace"])
            .env("TEST_POSTGRES_URL", &postgres),
    )?;
    // The end-to-end suite again with the wall clock two years ahead: a test that reads the wall
    // clock instead of the injected one fails here. Only the real-time clock is faked (tokio's
    // timers read the monotonic one and would hang).
    run_cmd(
        Command::new("cargo")
            .args(["test", "-p", "rulebook-e2e", "--tests"])
            .env("TEST_POSTGRES_URL", &postgres)
            .env(
                "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER",
                "/usr/bin/env LD_PRELOAD=".to_owned() + setup::FAKETIME_LIB,
            )
            .env("FAKETIME", WALL_CLOCK_AHEAD)
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
    )?;

    // The browser tests drive the packaged widget, unpacked as Kommo would host it.
    let widget_dir = Path::new("target/browser-test/widget");
    package::unpack(&zip, widget_dir)?;
    run_cmd(Command::new("cargo").args(["build", "-p", "rulebook", "-p", "kommo-emulator"]))?;
    run_cmd(
        Command::new("node")
            .args(["--test", "--test-concurrency=1", "tests/browser/"])
            .env("RULEBOOK_BIN", "target/debug/rulebook")
            .env("EMULATOR_BIN", "target/debug/kommo-emulator")
            .env("WIDGET_DIR", widget_dir)
            .env("NODE_MODULES", "node_modules")
            .env("SCREENSHOT_DIR", "target/screenshots")
            .env("CHROMIUM", "/usr/bin/chromium"),
    )?;
    println!("all checks and tests passed");
    Ok(())
}
