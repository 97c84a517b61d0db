//! The product on this machine: the backend on embedded SQLite and the Kommo emulator serving the
//! Kommo-like page that loads the packaged widget.

use std::{
    path::Path,
    process::{Child, Command},
};

use anyhow::Context;

use crate::{package, setup, util::exec};

/// Where the sandbox backend listens; the packaged widget points here.
pub const BACKEND_URL: &str = "http://127.0.0.1:8080";
/// Where the sandbox Kommo page is served.
pub const HOST_URL: &str = "http://127.0.0.1:8090";
/// The sandbox integration. These equal the emulator host page's defaults
/// (`kommo_emulator::host_page::SandboxIdentity::default()`), so the page's tokens verify.
pub const CLIENT_ID: &str = "00000000-0000-4000-8000-000000000001";
/// The sandbox integration's secret key: for this machine only.
pub const CLIENT_SECRET: &str = "sandbox-client-secret-change-me";

/// Sets up, packages, starts both servers and waits until one of them stops (Ctrl-C stops both).
pub fn run() -> anyhow::Result<()> {
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
        .arg("--widget-dir")
        .arg(widget_dir)
        .arg("--node-modules")
        .arg("node_modules")
        .spawn()
        .context("starting the Kommo emulator")?;
    let backend = Command::new("target/debug/rulebook")
        .arg("serve")
        .env("RULEBOOK_BIND", BACKEND_URL.trim_start_matches("http://"))
        .env("RULEBOOK_PUBLIC_URL", BACKEND_URL)
        .env(
            "DATABASE_URL",
            "sqlite://target/sandbox/rulebook.db?mode=rwc",
        )
        .env("RULEBOOK_KOMMO_CLIENT_ID", CLIENT_ID)
        .env("RULEBOOK_KOMMO_CLIENT_SECRET", CLIENT_SECRET)
        .env("RULEBOOK_CORS_EXTRA_ORIGINS", format!("[\"{HOST_URL}\"]"))
        .spawn();
    let mut backend = match backend {
        Ok(b) => b,
        Err(e) => {
            let _ = emulator.kill();
            return Err(e).context("starting the backend");
        }
    };
    println!();
    println!("Rulebook sandbox is running (Ctrl-C stops it):");
    println!("  Kommo page: {HOST_URL}/?page=advanced_settings");
    println!("  lead card:  {HOST_URL}/?page=lcard&lead_id=5001");
    println!("  pipeline:   {HOST_URL}/?page=digital_pipeline");
    println!("  backend:    {BACKEND_URL}/health");
    let result = wait_for_either(&mut emulator, &mut backend);
    for child in [&mut emulator, &mut backend] {
        let _ = child.kill();
        let _ = child.wait();
    }
    result
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
