//! The `rulebook` service binary, built inside this package so that the crash test can start it as
//! a process of its own and kill it (`CARGO_BIN_EXE_rulebook-backend`). Same command line as
//! `rulebook`.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = rulebook::cli::Cli::parse();
    rulebook::telemetry::init();
    rulebook::cli::run(cli).await
}
