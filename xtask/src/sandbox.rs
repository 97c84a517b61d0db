//! The product on this machine: the backend on embedded SQLite and the Kommo emulator serving the
//! Kommo-like page that loads the packaged widget. The emulator is seeded with the sandbox account
//! (`xtask/sandbox-seed.json`) and the backend is connected to it the way a private integration
//! is: `rulebook account connect` with a long-lived token the emulator mints, so rules built on the
//! page act on the emulator's leads.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
};

use anyhow::Context;

use crate::{package, setup, util::exec};

/// Where the sandbox backend listens; the packaged widget points here.
pub const BACKEND_URL: &str = "http://127.0.0.1:8080";
/// Where the sandbox Kommo page is served.
pub const HOST_URL: &str = "http://127.0.0.1:8090";
/// The seed of the sandbox account: users, pipelines, fields, leads, contacts and the integration.
/// The emulator's page takes its identity from it too, so it is the one place these facts live.
pub const SEED: &str = "xtask/sandbox-seed.json";
/// The seeded leads get these ids (the emulator allocates them in seed order).
pub const LEAD_IDS: &str = "10000005,10000007,10000009,10000011";

/// The sandbox account and integration, as the seed describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SandboxAccount {
    subdomain: String,
    account_id: i64,
    client_id: String,
    client_secret: String,
}

impl SandboxAccount {
    fn from_seed(seed: &str) -> anyhow::Result<Self> {
        let v: serde_json::Value =
            serde_json::from_str(seed).context("the sandbox seed is not JSON")?;
        let text = |pointer: &str| {
            v.pointer(pointer)
                .and_then(|x| x.as_str())
                .map(str::to_owned)
                .with_context(|| format!("the sandbox seed lacks {pointer}"))
        };
        Ok(Self {
            subdomain: text("/subdomain")?,
            account_id: v["id"].as_i64().context("the sandbox seed lacks /id")?,
            client_id: text("/integrations/0/client_id")?,
            client_secret: text("/integrations/0/client_secret")?,
        })
    }
}

/// Sets up, packages, starts both servers and waits until one of them stops (Ctrl-C stops both).
pub fn run() -> anyhow::Result<()> {
    let account = SandboxAccount::from_seed(&std::fs::read_to_string(SEED).context(SEED)?)?;
    setup::run(setup::Need::Build)?;
    let zip = package::run(BACKEND_URL)?;
    let widget_dir = Path::new("target/sandbox/widget");
    package::unpack(&zip, widget_dir)?;
    exec(Command::new("cargo").args([
        "build",
        "--quiet",
        "-p",
        "rulebook",
        "-p",
        "kommo-emulator",
    ]))?;

    let mut emulator = Command::new("target/debug/kommo-emulator")
        .args(["serve", "--bind", HOST_URL.trim_start_matches("http://")])
        .arg("--seed")
        .arg(SEED)
        .arg("--widget-dir")
        .arg(widget_dir)
        .arg("--node-modules")
        .arg("node_modules")
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the Kommo emulator")?;
    let backend = wait_until_listening(&mut emulator)
        .and_then(|()| connect_sandbox_account(&account))
        .and_then(|()| {
            backend_command(&account)
                .arg("serve")
                .spawn()
                .context("starting the backend")
        });
    let mut backend = match backend {
        Ok(b) => b,
        Err(e) => {
            let _ = emulator.kill();
            let _ = emulator.wait();
            return Err(e);
        }
    };
    println!();
    println!("Rulebook sandbox is running (Ctrl-C stops it):");
    println!("  Kommo page: {HOST_URL}/?page=advanced_settings");
    println!("  lead card:  {HOST_URL}/?page=lcard&lead_id=10000005");
    println!("  lead list:  {HOST_URL}/?page=llist&lead_ids={LEAD_IDS}");
    println!("  pipeline:   {HOST_URL}/?page=digital_pipeline");
    println!("  backend:    {BACKEND_URL}/health");
    let result = wait_for_either(&mut emulator, &mut backend);
    for child in [&mut emulator, &mut backend] {
        let _ = child.kill();
        let _ = child.wait();
    }
    result
}

/// The `rulebook` binary with the sandbox's settings.
fn backend_command(account: &SandboxAccount) -> Command {
    let mut command = Command::new("target/debug/rulebook");
    command
        .env("RULEBOOK_BIND", BACKEND_URL.trim_start_matches("http://"))
        .env("RULEBOOK_PUBLIC_URL", BACKEND_URL)
        .env(
            "DATABASE_URL",
            "sqlite://target/sandbox/rulebook.db?mode=rwc",
        )
        .env("RULEBOOK_KOMMO_CLIENT_ID", &account.client_id)
        .env("RULEBOOK_KOMMO_CLIENT_SECRET", &account.client_secret)
        .env("RULEBOOK_CORS_EXTRA_ORIGINS", format!("[\"{HOST_URL}\"]"));
    command
}

/// Waits for the emulator's first line of stdout (`listening on …`), which it prints once bound.
fn wait_until_listening(emulator: &mut Child) -> anyhow::Result<()> {
    let stdout = emulator
        .stdout
        .take()
        .context("the emulator's stdout is piped")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .context("reading the emulator's stdout")?;
    if !line.starts_with("listening on") {
        anyhow::bail!("the Kommo emulator did not start (it printed {line:?})");
    }
    Ok(())
}

/// Mints a long-lived token in the emulator and connects the backend's sandbox account with it
/// (the token travels in the environment, never on a command line).
fn connect_sandbox_account(account: &SandboxAccount) -> anyhow::Result<()> {
    let subdomain = &account.subdomain;
    let answer = post_json(
        &format!("{HOST_URL}/_control/accounts/{subdomain}/long_lived_tokens"),
        "{}",
    )?;
    let token = serde_json::from_str::<serde_json::Value>(&answer)
        .ok()
        .and_then(|v| v["access_token"].as_str().map(str::to_owned))
        .with_context(|| format!("the emulator did not mint a token: {answer}"))?;
    let mut connect = backend_command(account);
    connect
        .args(["account", "connect", "--account-id"])
        .arg(account.account_id.to_string())
        .args(["--subdomain", subdomain])
        .arg("--kommo-base-url")
        .arg(format!("{HOST_URL}/{subdomain}"))
        .env("KOMMO_LONG_LIVED_TOKEN", token);
    exec(&mut connect)
}

/// POSTs a JSON body and returns the body of a 2xx answer; any other answer is an error.
fn post_json(url: &str, body: &str) -> anyhow::Result<String> {
    let mut response = ureq::post(url)
        .header("Content-Type", "application/json")
        .send(body)
        .with_context(|| format!("POST {url}"))?;
    Ok(response.body_mut().read_to_string()?)
}

fn wait_for_either(a: &mut Child, b: &mut Child) -> anyhow::Result<()> {
    loop {
        for (name, child) in [("Kommo emulator", &mut *a), ("backend", &mut *b)] {
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("the {name} stopped ({status})");
            }
        }
        // Polling a child's exit status; nothing here synchronises a test.
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::{SandboxAccount, SEED};

    #[test]
    fn the_sandbox_identity_is_read_from_the_committed_seed() {
        let seed = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(SEED),
        )
        .expect("seed");
        let account = SandboxAccount::from_seed(&seed).expect("a complete seed");
        assert_eq!(account.subdomain, "sandbox");
        assert_eq!(account.account_id, 31_000_001);
        assert!(!account.client_id.is_empty() && !account.client_secret.is_empty());
    }

    #[test]
    fn a_seed_without_an_integration_is_a_clear_error() {
        let err = SandboxAccount::from_seed(r#"{"subdomain":"s","id":1}"#).expect_err("incomplete");
        assert!(
            err.to_string().contains("/integrations/0/client_id"),
            "{err}"
        );
    }
}
