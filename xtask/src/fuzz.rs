//! `cargo xtask fuzz [target] [seconds]`: runs a coverage-guided fuzz target with cargo-fuzz on the
//! nightly toolchain, or every target in turn.
//!
//! The fuzz crates are `<crate>/fuzz` (their own workspaces, excluded from the root one); each
//! `[[bin]]` is a target whose body is a plain function of its crate (`<crate>::fuzzing`). A target
//! reads its committed seeds (`<crate>/fuzz/seeds/<target>/`, never written) and grows its working
//! corpus (`<crate>/fuzz/corpus/<target>/`, ignored by git); a crash is saved under
//! `<crate>/fuzz/artifacts/<target>/`. On stable, `cargo test` runs each target's function over its
//! seeds, so a target that stops compiling or a seed that crashes fails the tests.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context};

use crate::util::{exec, output};

/// The crates with a `fuzz/` directory, relative to the workspace root.
pub const FUZZ_CRATES: &[&str] = &["domain", "kommo", "backend"];

/// How long one target runs when no time is given.
pub const DEFAULT_SECONDS: u64 = 60;

/// A fuzz target: its name and the crate whose `fuzz/` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The `[[bin]]` name.
    pub name: String,
    /// The crate directory, e.g. `backend`.
    pub crate_dir: PathBuf,
}

impl Target {
    /// Its committed seeds.
    pub fn seeds(&self) -> PathBuf {
        self.crate_dir.join("fuzz/seeds").join(&self.name)
    }
}

/// Every target of every fuzz crate under `root`, in crate order.
pub fn targets(root: &Path) -> anyhow::Result<Vec<Target>> {
    let mut all = Vec::new();
    for krate in FUZZ_CRATES {
        let manifest = root.join(krate).join("fuzz/Cargo.toml");
        let text = std::fs::read_to_string(&manifest)
            .with_context(|| format!("reading {}", manifest.display()))?;
        let doc: toml::Table = toml::from_str(&text)
            .with_context(|| format!("{} is not valid TOML", manifest.display()))?;
        let bins = doc
            .get("bin")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|bin| bin.get("name").and_then(toml::Value::as_str));
        all.extend(bins.map(|name| Target {
            name: name.to_owned(),
            crate_dir: root.join(krate),
        }));
    }
    Ok(all)
}

/// Runs `target` (every target when `None` or `all`) for `seconds` each.
pub fn run(root: &Path, target: Option<&str>, seconds: u64) -> anyhow::Result<()> {
    let all = targets(root)?;
    let chosen: Vec<&Target> = match target {
        None | Some("all") => all.iter().collect(),
        Some(name) => match all.iter().find(|t| t.name == name) {
            Some(t) => vec![t],
            None => bail!(
                "no fuzz target {name:?}; the targets are: {}",
                all.iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    };
    tools()?;
    for target in chosen {
        fuzz(root, target, seconds)?;
    }
    Ok(())
}

/// Checks for the nightly toolchain (it cannot be installed from here without rustup's network)
/// and installs cargo-fuzz when it is missing.
fn tools() -> anyhow::Result<()> {
    if output(Command::new("rustc").args(["+nightly", "--version"])).is_none() {
        bail!(
            "fuzzing needs the nightly toolchain (libFuzzer's sanitizer flags): install it with \
             `rustup toolchain install nightly`, then run this again"
        );
    }
    if output(Command::new("cargo").args(["fuzz", "--version"])).is_none() {
        eprintln!("cargo-fuzz is missing; installing it (`cargo install cargo-fuzz --locked`)");
        exec(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))?;
    }
    Ok(())
}

fn fuzz(root: &Path, target: &Target, seconds: u64) -> anyhow::Result<()> {
    let seeds = target.seeds();
    if !seeds.is_dir() {
        bail!("{} has no committed seeds", seeds.display());
    }
    let corpus = target.crate_dir.join("fuzz/corpus").join(&target.name);
    std::fs::create_dir_all(&corpus).with_context(|| format!("creating {}", corpus.display()))?;
    // A fuzz crate without a lock file starts from the workspace's, so that it builds the versions
    // the tests run (cargo drops what it does not need and adds libfuzzer-sys).
    let lock = target.crate_dir.join("fuzz/Cargo.lock");
    if !lock.exists() {
        std::fs::copy(root.join("Cargo.lock"), &lock)
            .with_context(|| format!("seeding {}", lock.display()))?;
    }
    exec(
        Command::new("cargo")
            .current_dir(&target.crate_dir)
            .args(["+nightly", "fuzz", "run", &target.name])
            .arg(&corpus)
            .arg(&seeds)
            .args(["--", &format!("-max_total_time={seconds}")]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        crate::util::workspace_root().expect("root")
    }

    #[test]
    fn every_fuzz_target_has_seeds_and_a_stable_test_over_them() {
        let all = targets(&root()).expect("targets");
        for krate in FUZZ_CRATES {
            assert!(
                all.iter().any(|t| t.crate_dir.ends_with(krate)),
                "{krate}/fuzz has no target"
            );
        }
        for target in &all {
            let seeds = std::fs::read_dir(target.seeds())
                .map(|dir| dir.count())
                .unwrap_or(0);
            assert!(seeds > 0, "{} has no seeds", target.seeds().display());
            let body = std::fs::read_to_string(target.crate_dir.join("src/fuzzing.rs"))
                .unwrap_or_default();
            assert!(
                body.contains(&format!("pub fn {}(data: &[u8])", target.name))
                    && body.contains(&format!("each_seed(\"{}\"", target.name)),
                "{}'s fuzzing module must define {} and run it over its seeds",
                target.crate_dir.display(),
                target.name
            );
        }
    }
}
