//! Project automation, run as `cargo xtask <command>`.
//!
//! Architecture Invariant: xtask depends on none of the product's crates; it drives them through
//! cargo, trunk, npm and their binaries, exactly as a developer would.
//!
//! # Layout
//! - [`setup`]: installs what is missing (wasm target, Trunk, wasm-bindgen-cli, npm packages,
//!   Chromium) and starts a stopped local PostgreSQL. Idempotent.
//! - [`package`]: builds the Yew app with Trunk and writes `dist/widget.zip`.
//! - [`images`]: draws the widget's logos.
//! - [`sandbox`]: the product on this machine: backend on SQLite + the Kommo emulator's host page.
//! - [`test`]: every check and test the project has.
//! - [`bench`]: runs one benchmark, which writes `target/bench/<name>.json`.
//! - [`fuzz`]: runs a cargo-fuzz target (nightly) over its seeds and working corpus.

mod bench;
mod fuzz;
mod images;
mod package;
mod sandbox;
mod setup;
mod test;
mod util;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Rulebook project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Install whatever the project needs and is missing. Harmless to repeat.
    Setup {
        /// Also install Chromium for the browser tests.
        #[arg(long)]
        browser: bool,
    },
    /// Build the widget and write dist/widget.zip.
    Package {
        /// The backend's public URL, baked into the widget (a widget setting can override it).
        #[arg(long, default_value = sandbox::BACKEND_URL)]
        backend_url: String,
    },
    /// Redraw the widget's logos into images/.
    Images,
    /// Set up, package, and run the backend (SQLite) with the Kommo sandbox page.
    Sandbox,
    /// Set up and run every check and test: fmt, clippy, unit, API (SQLite and PostgreSQL), e2e, browser.
    Test,
    /// Run one benchmark; it prints a summary and writes target/bench/<name>.json.
    Bench {
        /// The benchmark, e.g. engine-eval, ingest, client-bulk.
        name: String,
    },
    /// Fuzz one target (every target when none is named) with cargo-fuzz on nightly.
    Fuzz {
        /// The target, e.g. token_verify, dp_request, webhook_parse, rule_json; `all` or none for
        /// every target in turn.
        target: Option<String>,
        /// How long each target runs, in seconds.
        #[arg(default_value_t = fuzz::DEFAULT_SECONDS)]
        seconds: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let root = util::workspace_root()?;
    std::env::set_current_dir(&root)?;
    match Cli::parse().command {
        Command::Setup { browser } => setup::run(if browser {
            setup::Need::Everything
        } else {
            setup::Need::Build
        }),
        Command::Package { backend_url } => {
            setup::run(setup::Need::Build)?;
            package::run(&backend_url).map(|_| ())
        }
        Command::Images => images::write_all(&root.join("images")),
        Command::Sandbox => sandbox::run(),
        Command::Test => test::run(),
        Command::Bench { name } => bench::run(&name),
        Command::Fuzz { target, seconds } => fuzz::run(&root, target.as_deref(), seconds),
    }
}
