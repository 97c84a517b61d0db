//! `cargo xtask bench widget`: the widget's size and speed, against the bounds of issue 11.
//!
//! It packages the app exactly as `cargo xtask package` does, unpacks it as Kommo would host it,
//! starts the backend and the Kommo emulator's host page (`tests/browser/stack.mjs`) and lets
//! `tests/browser/bench/widget.mjs` measure it in headless Chromium. The figures land in
//! `target/bench/widget.json`; a broken bound fails the command.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::bail;

use crate::{package, sandbox, setup, util::exec as run_cmd};

/// Where the packaged widget is unpacked for the measurement.
const WIDGET_DIR: &str = "target/bench/widget-app";

/// The node script that drives Chromium.
const SCRIPT: &str = "tests/browser/bench/widget.mjs";

/// Each bounded figure of `widget.json`, its ceiling, its unit and what it measures.
pub const BOUNDS: &[(&str, f64, &str, &str)] = &[
    ("wasm_gzip_kb", 300.0, "KB", "the app's wasm, gzipped"),
    (
        "first_render_ms",
        500.0,
        "ms",
        "script.js loaded to the rules list painted",
    ),
    (
        "editor_open_ms",
        150.0,
        "ms",
        "a 30-block rule opened in the builder and painted",
    ),
];

/// Builds, measures, and writes `out`; returns what was written.
pub fn run(out: &Path) -> anyhow::Result<serde_json::Value> {
    setup::run(setup::Need::Everything)?;
    let zip = package::run(sandbox::BACKEND_URL)?;
    let widget_dir = Path::new(WIDGET_DIR);
    package::unpack(&zip, widget_dir)?;
    let (rulebook, emulator) = servers()?;
    run_cmd(
        Command::new("node")
            .arg(SCRIPT)
            .env("RULEBOOK_BIN", rulebook)
            .env("EMULATOR_BIN", emulator)
            .env("WIDGET_DIR", widget_dir)
            .env("NODE_MODULES", "node_modules")
            .env("CHROMIUM", "/usr/bin/chromium")
            .env("RULEBOOK_BENCH_OUT", out),
    )?;
    let value = super::read_flat(out)?;
    println!("{}: {}", out.display(), value);
    Ok(value)
}

/// The backend and emulator binaries: `RULEBOOK_BIN` and `EMULATOR_BIN` when both are given (a
/// build made elsewhere), otherwise this workspace's debug build, made now.
fn servers() -> anyhow::Result<(PathBuf, PathBuf)> {
    if let (Some(rulebook), Some(emulator)) = (
        std::env::var_os("RULEBOOK_BIN"),
        std::env::var_os("EMULATOR_BIN"),
    ) {
        return Ok((rulebook.into(), emulator.into()));
    }
    run_cmd(Command::new("cargo").args(["build", "-p", "rulebook", "-p", "kommo-emulator"]))?;
    Ok((
        "target/debug/rulebook".into(),
        "target/debug/kommo-emulator".into(),
    ))
}

/// Prints each bounded figure against its bound and fails when one is broken or missing.
pub fn judge(value: &serde_json::Value) -> anyhow::Result<()> {
    let broken = verdicts(value)
        .into_iter()
        .filter_map(|(line, ok)| {
            println!("{} {line}", if ok { "ok  " } else { "FAIL" });
            (!ok).then_some(line)
        })
        .collect::<Vec<_>>();
    if !broken.is_empty() {
        bail!(
            "the widget broke {} bound(s): {}",
            broken.len(),
            broken.join("; ")
        );
    }
    Ok(())
}

/// One line per bound (what was measured against its ceiling) and whether it holds; a figure
/// missing or not a number breaks its bound.
fn verdicts(value: &serde_json::Value) -> Vec<(String, bool)> {
    BOUNDS
        .iter()
        .map(
            |(key, max, unit, what)| match value.get(key).and_then(|v| v.as_f64()) {
                Some(got) => (
                    format!("{key} = {got} {unit} (at most {max}: {what})"),
                    got <= *max,
                ),
                None => (format!("{key} is missing ({what})"), false),
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{judge, verdicts};
    use serde_json::json;

    #[test]
    fn figures_within_their_bounds_pass() {
        let value = json!({"wasm_gzip_kb": 300.0, "first_render_ms": 120.5, "editor_open_ms": 40});
        assert!(verdicts(&value).iter().all(|(_, ok)| *ok));
        assert!(judge(&value).is_ok());
    }

    #[test]
    fn a_figure_over_its_bound_or_missing_fails() {
        let value = json!({"wasm_gzip_kb": 300.1, "first_render_ms": 120.5});
        let oks: Vec<bool> = verdicts(&value).iter().map(|(_, ok)| *ok).collect();
        assert_eq!(oks, vec![false, true, false]);
        let err = judge(&value).expect_err("two bounds broken").to_string();
        assert!(err.contains("2 bound(s)"), "{err}");
        assert!(err.contains("wasm_gzip_kb = 300.1"), "{err}");
        assert!(err.contains("editor_open_ms is missing"), "{err}");
        assert!(judge(
            &json!({"wasm_gzip_kb": "small", "first_render_ms": 1, "editor_open_ms": 1})
        )
        .is_err());
    }
}
