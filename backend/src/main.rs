//! The `rulebook` binary: parses the command line and hands over to [`rulebook::startup`].

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = rulebook::cli::Cli::parse();
    rulebook::telemetry::init();
    rulebook::cli::run(cli).await
}
