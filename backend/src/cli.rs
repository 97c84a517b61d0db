//! The command line of the `rulebook` binary.

pub mod account;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::{config::Settings, startup};

/// Rulebook: rules automation for Kommo CRM.
#[derive(Debug, Parser)]
#[command(name = "rulebook", version, about)]
pub struct Cli {
    /// A TOML settings file; environment variables override it.
    #[arg(long, global = true, env = "RULEBOOK_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations and serve the HTTP API and the workers until Ctrl-C or SIGTERM.
    Serve,
    /// Apply migrations and exit.
    Migrate,
    /// Connect and list Kommo accounts.
    Account {
        /// What to do.
        #[command(subcommand)]
        command: account::AccountCommand,
    },
}

/// Runs the chosen command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => {
            let app = startup::Application::build(settings).await?;
            // Scripts and tests wait for this line; logs go to stderr.
            println!("listening on http://{}", app.local_addr()?);
            app.run_until_stopped(startup::shutdown_signal()).await
        }
        Command::Migrate => {
            let pool = crate::db::connect(&settings.database_url).await?;
            crate::db::migrate(&pool).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Account { command } => account::run(settings, command).await,
    }
}
