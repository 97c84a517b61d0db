//! `cargo xtask bench <name>`: runs the `[[bench]]` target `<name>` (dashes become underscores),
//! which writes a flat JSON object of its figures to `target/bench/<name>.json`.
//!
//! `widget` is special: it goes through no `cargo bench`; [`widget`] packages the app and measures
//! it in Chromium instead.

mod widget;

use std::process::Command;

use anyhow::Context;

use crate::util::exec as run_cmd;

/// Runs one benchmark and prints what it wrote.
pub fn run(name: &str) -> anyhow::Result<()> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        anyhow::bail!("a benchmark name is letters, digits and dashes, such as engine-eval");
    }
    let out = std::env::current_dir()?
        .join("target/bench")
        .join(format!("{name}.json"));
    std::fs::create_dir_all(out.parent().context("bench dir")?)?;
    let _ = std::fs::remove_file(&out);
    if name == "widget" {
        let value = widget::run(&out)?;
        return widget::judge(&value);
    }
    run_cmd(
        Command::new("cargo")
            .args(["bench", "--workspace", "--bench", &name.replace('-', "_")])
            .env("RULEBOOK_BENCH_OUT", &out),
    )?;
    let value = read_flat(&out)?;
    println!("{}: {}", out.display(), value);
    Ok(())
}

/// Reads what a benchmark wrote and checks it is a flat JSON object.
fn read_flat(out: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let json = std::fs::read_to_string(out)
        .with_context(|| format!("the benchmark wrote no {}", out.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&json).context("the benchmark wrote invalid JSON")?;
    anyhow::ensure!(
        value
            .as_object()
            .is_some_and(|o| o.values().all(|v| !v.is_object() && !v.is_array())),
        "{} must be a flat JSON object",
        out.display()
    );
    Ok(value)
}
