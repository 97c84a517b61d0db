//! The `kommo-emulator` binary for the sandbox: `kommo-emulator serve --bind 127.0.0.1:0
//! --seed accounts.json --widget-dir widget/dist --node-modules node_modules`. Prints
//! `listening on http://HOST:PORT` as its first line of stdout.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kommo_emulator::host_page::{HostPageConfig, SandboxIdentity};
use kommo_emulator::{Emulator, EmulatorConfig};

#[derive(Debug, Parser)]
#[command(
    name = "kommo-emulator",
    about = "An in-memory emulator of Kommo accounts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the emulated accounts, the control API and the widget host page.
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to bind; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: SocketAddr,
    /// A JSON seed file: one account, a list, or {"accounts": [...]}.
    #[arg(long)]
    seed: Option<PathBuf>,
    /// The unpacked widget archive served by the host page.
    #[arg(long, default_value = "widget/dist")]
    widget_dir: PathBuf,
    /// A node_modules folder with requirejs and jquery for the host page.
    #[arg(long, default_value = "node_modules")]
    node_modules: PathBuf,
    /// Requests per second per account before 429.
    #[arg(long, default_value_t = 7)]
    rate_limit: u32,
    /// Most entities per write request.
    #[arg(long, default_value_t = 250)]
    max_write_batch: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let Command::Serve(args) = Cli::parse().command;
    let config = EmulatorConfig {
        requests_per_second: args.rate_limit,
        max_write_batch: args.max_write_batch,
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::new(config);
    let mut identity = SandboxIdentity::default();
    if let Some(path) = &args.seed {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading seed {}", path.display()))?;
        let document: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("parsing seed {}", path.display()))?;
        let first = first_account_identity(&document);
        emulator
            .seed_json(document)
            .with_context(|| format!("seeding from {}", path.display()))?;
        if let Some(apply) = first {
            apply(&mut identity);
        }
    }
    let host = kommo_emulator::host_page::router(HostPageConfig {
        widget_dir: args.widget_dir,
        node_modules: args.node_modules,
        identity,
    });
    let app = kommo_emulator::router(emulator.clone()).merge(host);
    let running = kommo_emulator::serve(emulator.clone(), app, args.bind)
        .await
        .context("binding")?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {}", running.url)?;
    stdout.flush()?;
    // Outbound traffic is delivered as it falls due; tests drive this themselves instead.
    let deliverer = emulator.clone();
    tokio::spawn(async move {
        loop {
            deliverer.deliver_due().await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    tokio::signal::ctrl_c()
        .await
        .context("waiting for ctrl-c")?;
    Ok(())
}

type IdentityPatch = Box<dyn FnOnce(&mut SandboxIdentity)>;

/// Takes the sandbox identity (account, admin user, integration) from the seed's first account.
fn first_account_identity(document: &serde_json::Value) -> Option<IdentityPatch> {
    let account = match document {
        serde_json::Value::Array(items) => items.first(),
        serde_json::Value::Object(map) if map.contains_key("accounts") => {
            map.get("accounts").and_then(|a| a.get(0))
        }
        other => Some(other),
    }?
    .clone();
    Some(Box::new(move |identity: &mut SandboxIdentity| {
        if let Some(sub) = account.get("subdomain").and_then(|v| v.as_str()) {
            identity.subdomain = sub.to_owned();
        }
        if let Some(id) = account.get("id").and_then(|v| v.as_i64()) {
            identity.account_id = id;
        }
        if let Some(user) = account.pointer("/users/0/id").and_then(|v| v.as_i64()) {
            identity.user_id = user;
        }
        if let Some(integration) = account.pointer("/integrations/0") {
            if let Some(v) = integration.get("client_id").and_then(|v| v.as_str()) {
                identity.client_uuid = v.to_owned();
            }
            if let Some(v) = integration.get("client_secret").and_then(|v| v.as_str()) {
                identity.client_secret = v.to_owned();
            }
            if let Some(origin) = integration
                .get("redirect_uri")
                .and_then(|v| v.as_str())
                .and_then(|u| url::Url::parse(u).ok())
            {
                identity.audience = origin.origin().ascii_serialization();
            }
        }
    }))
}
