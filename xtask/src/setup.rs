//! Installs what is missing, and nothing else: every step checks first, so running it again is cheap
//! and harmless.

use std::{path::Path, process::Command};

use crate::util::{exec, locked_version, output};

/// The Trunk release that builds with this toolchain.
const TRUNK_VERSION: &str = "0.21.14";

/// How much to set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// What building and packaging the widget needs.
    Build,
    /// That, plus Chromium and a running PostgreSQL for the tests.
    Everything,
}

/// Sets up the machine.
pub fn run(need: Need) -> anyhow::Result<()> {
    wasm_target()?;
    cargo_tool(
        "trunk",
        TRUNK_VERSION,
        &["install", "trunk", "--version", TRUNK_VERSION, "--locked"],
    )?;
    let bindgen = locked_version("wasm-bindgen")?;
    // wasm-bindgen-cli must match the library exactly; it does not install with --locked here.
    cargo_tool(
        "wasm-bindgen",
        &bindgen,
        &["install", "wasm-bindgen-cli", "--version", &bindgen],
    )?;
    npm_packages()?;
    if need == Need::Everything {
        apt_packages()?;
        postgres()?;
    }
    Ok(())
}

fn wasm_target() -> anyhow::Result<()> {
    let installed =
        output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if !installed
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        exec(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }
    Ok(())
}

fn cargo_tool(bin: &str, version: &str, install: &[&str]) -> anyhow::Result<()> {
    let current = output(Command::new(bin).arg("--version")).unwrap_or_default();
    if !current.split_whitespace().any(|w| w == version) {
        exec(Command::new("cargo").args(install))?;
    }
    Ok(())
}

fn npm_packages() -> anyhow::Result<()> {
    let marker = Path::new("node_modules/.package-lock.json");
    let fresh = match (marker.metadata(), Path::new("package-lock.json").metadata()) {
        (Ok(installed), Ok(lock)) => installed.modified()? >= lock.modified()?,
        _ => false,
    };
    if !fresh {
        exec(Command::new("npm").args(["ci", "--no-audit", "--no-fund"]))?;
    }
    Ok(())
}

/// Debian packages the tests need, each found by a file it installs: Chromium for the browser tests
/// and libfaketime for the run with the wall clock moved ahead.
const APT_PACKAGES: &[(&str, &str)] = &[
    ("chromium", "/usr/bin/chromium"),
    ("faketime", FAKETIME_LIB),
];

/// libfaketime's preload library as Debian's `faketime` package installs it.
pub const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

fn apt_packages() -> anyhow::Result<()> {
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .filter(|(_, file)| !Path::new(file).exists())
        .map(|(package, _)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    exec(Command::new("apt-get").arg("update"))?;
    exec(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&missing),
    )
}

/// Starts the local PostgreSQL cluster if it is installed but not answering.
pub fn postgres() -> anyhow::Result<()> {
    let answering = Command::new("pg_isready")
        .args(["-h", "127.0.0.1", "-p", "5432"])
        .status();
    if answering.is_ok_and(|s| s.success()) {
        return Ok(());
    }
    let Some(version) = std::fs::read_dir("/etc/postgresql")
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
    else {
        eprintln!("PostgreSQL is not installed here; the PostgreSQL tests will say so.");
        return Ok(());
    };
    exec(Command::new("pg_ctlcluster").args([
        "--skip-systemctl-redirect",
        &version,
        "main",
        "start",
    ]))
}
