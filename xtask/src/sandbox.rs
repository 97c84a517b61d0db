//! The product on this machine: the backend on embedded SQLite and the Kommo emulator serving the
//! Kommo-like page that loads the packaged widget. The emulator is seeded with the sandbox account
//! (`xtask/sandbox-seed.json`) and the backend is connected to it the way a private integration
//! is: `rulebook account connect` with a long-lived token the emulator mints, so rules built on the
//! page act on the emulator's leads.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::Path,
    process::{Child, Command, Stdio},
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
/// The seed of the sandbox account: users, pipelines, fields, leads and contacts.
pub const SEED: &str = "xtask/sandbox-seed.json";
/// The sandbox account (as in the seed).
pub const SUBDOMAIN: &str = "sandbox";
/// The sandbox account's id (as in the seed).
pub const ACCOUNT_ID: &str = "31000001";
/// The seeded leads get these ids (the emulator allocates them in seed order).
pub const LEAD_IDS: &str = "10000005,10000007,10000009,10000011";

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
        .and_then(|()| connect_sandbox_account())
        .and_then(|()| {
            backend_command()
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
fn backend_command() -> Command {
    let mut command = Command::new("target/debug/rulebook");
    command
        .env("RULEBOOK_BIND", BACKEND_URL.trim_start_matches("http://"))
        .env("RULEBOOK_PUBLIC_URL", BACKEND_URL)
        .env(
            "DATABASE_URL",
            "sqlite://target/sandbox/rulebook.db?mode=rwc",
        )
        .env("RULEBOOK_KOMMO_CLIENT_ID", CLIENT_ID)
        .env("RULEBOOK_KOMMO_CLIENT_SECRET", CLIENT_SECRET)
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
fn connect_sandbox_account() -> anyhow::Result<()> {
    let answer = post_json(
        HOST_URL,
        &format!("/_control/accounts/{SUBDOMAIN}/long_lived_tokens"),
        "{}",
    )?;
    let token = serde_json::from_str::<serde_json::Value>(&answer)
        .ok()
        .and_then(|v| v["access_token"].as_str().map(str::to_owned))
        .with_context(|| format!("the emulator did not mint a token: {answer}"))?;
    let mut connect = backend_command();
    connect
        .args([
            "account",
            "connect",
            "--account-id",
            ACCOUNT_ID,
            "--subdomain",
            SUBDOMAIN,
        ])
        .arg("--kommo-base-url")
        .arg(format!("{HOST_URL}/{SUBDOMAIN}"))
        .env("KOMMO_LONG_LIVED_TOKEN", token);
    exec(&mut connect)
}

/// POSTs a JSON body over plain HTTP/1.1 on loopback and returns the response body if 2xx.
fn post_json(origin: &str, path: &str, body: &str) -> anyhow::Result<String> {
    let host = origin.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).with_context(|| format!("connecting to {origin}"))?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("the answer is not HTTP")?;
    let ok = head
        .split_whitespace()
        .nth(1)
        .is_some_and(|status| status.starts_with('2'));
    if !ok {
        anyhow::bail!(
            "POST {path} answered {}",
            head.lines().next().unwrap_or(head)
        );
    }
    Ok(body.to_owned())
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
    use std::{
        io::{Read, Write},
        net::TcpListener,
    };

    use super::post_json;

    /// Serves one connection with `answer` and returns the request it read.
    fn serve_once(answer: &'static str) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let origin = format!("http://{}", listener.local_addr().expect("addr"));
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accept");
            // The test's requests carry the body `{}`: read until it has arrived.
            let mut request = Vec::new();
            let mut chunk = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n{}") {
                let n = stream.read(&mut chunk).expect("read");
                assert!(n > 0, "the request ended early");
                request.extend_from_slice(&chunk[..n]);
            }
            stream.write_all(answer.as_bytes()).expect("write");
            String::from_utf8_lossy(&request).into_owned()
        });
        (origin, server)
    }

    #[test]
    fn a_json_post_returns_the_body_of_a_2xx_answer() {
        let (origin, server) = serve_once(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 21\r\n\r\n{\"access_token\":\"t\"}",
        );
        let body = post_json(&origin, "/_control/x", "{}").expect("posted");
        assert_eq!(body, "{\"access_token\":\"t\"}");
        let request = server.join().expect("server");
        assert!(
            request.starts_with("POST /_control/x HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(request.ends_with("\r\n\r\n{}"), "{request}");
    }

    #[test]
    fn a_refusal_is_an_error_naming_the_status() {
        let (origin, server) = serve_once("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
        let err = post_json(&origin, "/_control/x", "{}").expect_err("refused");
        assert!(err.to_string().contains("404"), "{err}");
        server.join().expect("server");
    }
}
