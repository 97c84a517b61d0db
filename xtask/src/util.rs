//! Running commands and finding places.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context};

/// The workspace root: the parent of this crate's manifest directory.
pub fn workspace_root() -> anyhow::Result<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .context("xtask lives inside the workspace")
}

/// Runs a command to completion, echoing it, and fails if it fails.
pub fn exec(cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("$ {}", describe(cmd));
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{}`", describe(cmd)))?;
    if !status.success() {
        bail!("`{}` failed ({status})", describe(cmd));
    }
    Ok(())
}

/// Runs a command and returns its stdout, or `None` if it cannot start or fails.
pub fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A command as a shell would show it.
pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The version of a package as pinned in Cargo.lock.
pub fn locked_version(package: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string("Cargo.lock").context("reading Cargo.lock")?;
    version_in_lock(&text, package)
}

/// The version of the first package named `package` in the text of a Cargo.lock.
fn version_in_lock(lock: &str, package: &str) -> anyhow::Result<String> {
    let lock: toml::Table = toml::from_str(lock).context("Cargo.lock is not valid TOML")?;
    lock.get("package")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .find(|p| p.get("name").and_then(toml::Value::as_str) == Some(package))
        .and_then(|p| p.get("version").and_then(toml::Value::as_str))
        .map(str::to_owned)
        .with_context(|| format!("{package} is not in Cargo.lock"))
}

#[cfg(test)]
mod tests {
    use super::version_in_lock;

    #[test]
    fn finds_a_package_whatever_the_layout() {
        let lock =
            "version = 4\n\n[[package]]\nname = \"wasm-bindgen-macro\"\nversion = \"9.9.9\"\n\n\
                    [[package]]\nversion = \"0.2.100\"\nname = \"wasm-bindgen\"\nsource = \"x\"\n";
        assert_eq!(version_in_lock(lock, "wasm-bindgen").unwrap(), "0.2.100");
        assert!(version_in_lock(lock, "yew").is_err());
        assert!(version_in_lock("not toml [", "yew").is_err());
    }
}
