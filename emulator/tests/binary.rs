//! The `kommo-emulator` binary: prints its URL first, seeds accounts from `--seed`, and serves the
//! API, the control API and the host page side by side.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn serve_prints_its_url_first_and_serves_the_seeded_accounts() {
    let dir = std::env::temp_dir().join(format!("kommo-emulator-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let seed_path = dir.join("seed.json");
    let seed = json!({"accounts": [{"subdomain": "sandbox", "id": 31000001, "entities": {"leads": [{"name": "Seeded"}]}}]});
    std::fs::File::create(&seed_path)
        .and_then(|mut f| f.write_all(seed.to_string().as_bytes()))
        .unwrap_or_else(|e| panic!("{e}"));
    let child = Command::new(env!("CARGO_BIN_EXE_kommo-emulator"))
        .args(["serve", "--bind", "127.0.0.1:0", "--seed"])
        .arg(&seed_path)
        .args(["--widget-dir"])
        .arg(&dir)
        .args(["--node-modules"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut child = Child(child);
    let stdout = child.0.stdout.take().unwrap_or_else(|| panic!("stdout"));
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .unwrap_or_else(|e| panic!("{e}"));
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line was {first:?}"))
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let http = reqwest::Client::new();
    let pair: Value = http
        .post(format!("{url}/_control/accounts/sandbox/tokens"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    let token = pair["access_token"].as_str().unwrap_or_default();
    let leads: Value = http
        .get(format!("{url}/sandbox/api/v4/leads"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(leads["_embedded"]["leads"][0]["name"], json!("Seeded"));
    let config: Value = http
        .get(format!("{url}/host/config.json"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(config["subdomain"], json!("sandbox"));
    assert_eq!(config["account_id"], json!(31000001));
    let _ = std::fs::remove_dir_all(&dir);
}
