//! Benchmark `client-bulk`: change one custom field and add one tag on 1,000 leads through the
//! client, against the emulator at Kommo's 7 requests/s. Writes `requests`, `floor_requests`,
//! `wall_s` and `responses_429` to `RULEBOOK_BENCH_OUT` (default `target/bench/client-bulk.json`).
//!
//! The floor is the reads at 250 per page plus the writes at the batch limit of 50; the target is
//! at most floor + 2 requests, a wall time within 1.25 x floor / 7 s, and no 429.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use kommo::models::{EntityKind, EntityWrite, TagRef};
use kommo::{
    AccountEndpoint, ClientConfig, FieldValue, FieldWrite, InMemoryTokenStore, KommoClient,
    ListQuery, StoredToken,
};
use kommo_emulator::{spawn_on_loopback, Emulator, EmulatorConfig};
use serde_json::json;

const LEADS: usize = 1_000;
const ACCOUNT: &str = "bulk";

fn output_path() -> PathBuf {
    match std::env::var_os("RULEBOOK_BENCH_OUT") {
        Some(path) => PathBuf::from(path),
        None => {
            let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            crate_dir
                .parent()
                .unwrap_or(&crate_dir)
                .join("target/bench/client-bulk.json")
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emulator = Emulator::new(EmulatorConfig::default());
    let leads: Vec<_> = (0..LEADS)
        .map(|i| json!({"name": format!("Lead {i}"), "price": i}))
        .collect();
    emulator.seed_json(json!({
        "subdomain": ACCOUNT,
        "custom_fields": {"leads": [{"id": 501, "name": "Score", "type": "numeric"}]},
        "entities": {"leads": leads},
    }))?;
    let server = spawn_on_loopback(emulator).await?;
    let pair = server.emulator.issue_tokens(ACCOUNT, None)?;
    let tokens = Arc::new(InMemoryTokenStore::new());
    tokens.insert(
        ACCOUNT,
        StoredToken {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            expires_at: i64::MAX / 2,
        },
    );
    let config = ClientConfig::default();
    let (page_size, write_batch, rate) = (
        config.page_size,
        config.write_batch,
        server.emulator.config().requests_per_second,
    );
    let client = KommoClient::builder(tokens).config(config).build()?;
    let account = client.account(AccountEndpoint::at(
        ACCOUNT,
        &server.account_url(ACCOUNT),
        None,
    )?);

    let started = Instant::now();
    let found = account
        .entities(EntityKind::Leads, &ListQuery::new())
        .await?;
    let updates: Vec<EntityWrite> = found
        .iter()
        .map(|lead| EntityWrite {
            custom_fields_values: vec![FieldWrite::set(501, FieldValue::Number(7.0))],
            tags_to_add: vec![TagRef::name("bulk")],
            ..EntityWrite::update(lead.id)
        })
        .collect();
    account.update_entities(EntityKind::Leads, updates).await?;
    let wall_s = started.elapsed().as_secs_f64();

    // The emulator's state must show every change, or the numbers mean nothing.
    let stored = server.emulator.entities(ACCOUNT, "leads");
    let changed = stored
        .iter()
        .filter(|l| {
            l["custom_fields_values"][0]["values"][0]["value"] == json!("7")
                && l["_embedded"]["tags"][0]["name"] == json!("bulk")
        })
        .count();
    if found.len() != LEADS || changed != LEADS {
        return Err(format!("read {} leads, {changed} of {LEADS} changed", found.len()).into());
    }
    let counters = server.emulator.counters(ACCOUNT).ok_or("no counters")?;
    let floor_requests = LEADS.div_ceil(page_size) + LEADS.div_ceil(write_batch);
    let target_wall_s = 1.25 * floor_requests as f64 / f64::from(rate);
    let responses_429 = counters.responses_429 + counters.injected_429;
    let report = json!({
        "requests": counters.requests,
        "floor_requests": floor_requests,
        "wall_s": (wall_s * 1000.0).round() / 1000.0,
        "responses_429": responses_429,
        "rate_limit_excess": counters.rate_limit_excess,
        "max_requests_in_window": counters.max_requests_in_window,
        "target_requests": floor_requests + 2,
        "target_wall_s": (target_wall_s * 1000.0).round() / 1000.0,
    });
    let path = output_path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
    println!(
        "client-bulk: {} requests (floor {floor_requests}, target <= {}), {wall_s:.3} s (target <= {target_wall_s:.3} s), {responses_429} x 429, max {} requests in any 1 s window -> {}",
        counters.requests,
        floor_requests + 2,
        counters.max_requests_in_window,
        path.display()
    );
    let within = counters.requests as usize <= floor_requests + 2
        && wall_s <= target_wall_s
        && responses_429 == 0;
    if !within {
        return Err("client-bulk missed its target".into());
    }
    Ok(())
}
