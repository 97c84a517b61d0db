//! Builds the Kommo widget archive, `dist/widget.zip`, with `manifest.json` at its root.
//!
//! Contents: manifest.json, script.js (with the backend URL and version baked in), i18n/*.json,
//! images/*.png, and under `app/` what Trunk built (the wasm-bindgen glue and the wasm).

use std::{
    fs::File,
    io::{Read, Write},
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context};
use zip::{write::SimpleFileOptions, ZipArchive, ZipWriter};

use crate::util::exec as run_cmd;

/// Where the archive is written.
pub const ZIP_PATH: &str = "dist/widget.zip";
const TRUNK_DIST: &str = "target/trunk-dist";
const URL_PLACEHOLDER: &str = "__RULEBOOK_BACKEND_URL__";
const VERSION_PLACEHOLDER: &str = "__RULEBOOK_VERSION__";

/// Builds the app and writes the archive; returns its path.
pub fn run(backend_url: &str) -> anyhow::Result<PathBuf> {
    let backend_url = checked_backend_url(backend_url)?;
    run_cmd(
        Command::new("trunk")
            .arg("build")
            .env("PATH", path_with_node_bin()?),
    )?;
    let version = env!("CARGO_PKG_VERSION");

    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let manifest = std::fs::read_to_string("manifest.json")?
        .replace(URL_PLACEHOLDER, &backend_url)
        .replace(VERSION_PLACEHOLDER, version);
    serde_json::from_str::<serde_json::Value>(&manifest)
        .context("manifest.json is not valid JSON")?;
    files.push(("manifest.json".into(), manifest.into_bytes()));
    let script =
        std::fs::read_to_string("widget/script.js")?.replace(URL_PLACEHOLDER, &backend_url);
    files.push(("script.js".into(), script.into_bytes()));
    for dir in ["i18n", "images"] {
        for entry in sorted_files(Path::new(dir))? {
            files.push((
                format!("{dir}/{}", file_name(&entry)?),
                std::fs::read(&entry)?,
            ));
        }
    }
    let built = sorted_files_recursive(Path::new(TRUNK_DIST))?;
    if !built
        .iter()
        .any(|p| p.extension().is_some_and(|e| e == "wasm"))
    {
        bail!("trunk produced no .wasm in {TRUNK_DIST}");
    }
    for path in built {
        let relative = path
            .strip_prefix(TRUNK_DIST)?
            .to_string_lossy()
            .replace('\\', "/");
        if relative != "index.html" {
            files.push((format!("app/{relative}"), std::fs::read(&path)?));
        }
    }

    std::fs::create_dir_all("dist")?;
    let mut zip = ZipWriter::new(File::create(ZIP_PATH)?);
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in &files {
        zip.start_file(name.as_str(), options)?;
        zip.write_all(bytes)?;
    }
    zip.finish()?;
    eprintln!(
        "wrote {ZIP_PATH} ({} files) for backend {backend_url}",
        files.len()
    );
    Ok(PathBuf::from(ZIP_PATH))
}

/// PATH with the npm packages' `node_modules/.bin` first, so Trunk runs the wasm-opt of the npm
/// package `binaryen` (pinned in package.json, installed by `cargo xtask setup`) rather than an older
/// one on the system: Debian's binaryen 108 cannot parse what wasm-bindgen emits today (`table.fill`).
/// Trunk.toml pins no wasm-opt version, so Trunk never tries to download one.
fn path_with_node_bin() -> anyhow::Result<std::ffi::OsString> {
    let bin = std::env::current_dir()?.join("node_modules/.bin");
    if !bin.join("wasm-opt").exists() {
        bail!(
            "{} is missing: run `cargo xtask setup` (npm ci installs binaryen)",
            bin.join("wasm-opt").display()
        );
    }
    let rest = std::env::var_os("PATH").unwrap_or_default();
    Ok(std::env::join_paths(
        std::iter::once(bin).chain(std::env::split_paths(&rest)),
    )?)
}

/// Unpacks an archive into `dir` (emptied first), as Kommo would host it.
pub fn unpack(zip_path: &Path, dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    let mut archive = ZipArchive::new(
        File::open(zip_path).with_context(|| format!("opening {}", zip_path.display()))?,
    )?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        let Some(relative) = entry.enclosed_name() else {
            bail!("unsafe path in archive: {}", entry.name())
        };
        let target = dir.join(relative);
        if entry.is_dir() {
            std::fs::create_dir_all(&target)?;
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes)?;
        std::fs::write(target, bytes)?;
    }
    Ok(())
}

fn checked_backend_url(url: &str) -> anyhow::Result<String> {
    let url = url.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) && !host.contains(['"', '\'', '\\']) => {
            Ok(url.to_string())
        }
        _ => bail!("--backend-url must be an http(s) URL such as https://rulebook.example.com, not {url:?}"),
    }
}

fn file_name(path: &Path) -> anyhow::Result<String> {
    Ok(path
        .file_name()
        .context("file without a name")?
        .to_string_lossy()
        .into_owned())
}

fn sorted_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    Ok(out)
}

fn sorted_files_recursive(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(sorted_files_recursive(&path)?);
        } else {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::checked_backend_url;

    #[test]
    fn backend_urls_are_normalised_and_junk_is_refused() {
        assert_eq!(
            checked_backend_url("https://rb.example.com/").expect("ok"),
            "https://rb.example.com"
        );
        assert!(checked_backend_url("rb.example.com").is_err());
        assert!(checked_backend_url("https://").is_err());
        assert!(checked_backend_url("https://a'b").is_err());
    }
}
