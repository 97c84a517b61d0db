//! Manual and bulk launch end to end: a Kommo user's disposable token, `POST /api/v1/rules/{id}/run`
//! on 300 leads of the emulator, the backend's workers draining the queue concurrently, and the
//! rule's action applied to each lead exactly once with no request over Kommo's rate limit. Runs on
//! SQLite and on PostgreSQL.

use std::collections::HashMap;

use kommo_emulator::{EmulatorClock, EmulatorConfig};
use rulebook::queue::worker::Outcome;
use rulebook_e2e::{
    connected::{Connecting, SUBDOMAIN},
    stack::Database,
};
use serde_json::{json, Value};

rulebook_e2e::on_both_databases!(
    a_manual_rule_run_on_300_leads_acts_on_each_once_within_the_rate_limit
);

/// Kommo's documented limit is 7 requests per second; the emulator enforces this many, the
/// backend is set a little under it, the same margin as production (6 of 7), scaled so 300 leads
/// finish in seconds.
const EMULATOR_LIMIT: u32 = 70;
const BACKEND_LIMIT: u32 = 60;
const LEADS: usize = 300;
const ADMIN: i64 = 201;
const MEMBER: i64 = 202;

async fn a_manual_rule_run_on_300_leads_acts_on_each_once_within_the_rate_limit(
    database: Database,
) {
    let c = Connecting::start(
        database,
        EmulatorConfig {
            requests_per_second: EMULATOR_LIMIT,
            ..EmulatorConfig::default()
        },
        EmulatorClock::real(),
        BACKEND_LIMIT,
    )
    .await;
    c.connect_by_oauth().await;
    let emulator = &c.kommo.emulator;
    // The leads exist before the launch (created without webhooks: only the launch acts on them).
    let mut lead_ids = Vec::new();
    for chunk in 0..LEADS / 50 {
        let batch: Vec<Value> = (0..50)
            .map(|i| json!({"name": format!("Lead {}", chunk * 50 + i)}))
            .collect();
        let (status, body) = emulator
            .call(
                SUBDOMAIN,
                "POST",
                "/api/v4/leads",
                Some(Value::Array(batch)),
            )
            .expect("create leads");
        assert!(status < 300);
        let body = body.expect("created");
        lead_ids.extend(
            body["_embedded"]["leads"]
                .as_array()
                .expect("leads")
                .iter()
                .filter_map(|l| l["id"].as_i64()),
        );
    }
    assert_eq!(lead_ids.len(), LEADS);
    // Their creation webhooks land in the inbox but no rule reacts to them; drain them first.
    emulator.deliver_due().await;
    while !matches!(c.worker.try_run_one().await.expect("worker"), Outcome::Idle) {}

    let (status, created) = c
        .post_as(
            ADMIN,
            "/api/v1/rules",
            &json!({"name": "Follow up", "rule": {
                "schema_version": 2, "name": "Follow up",
                "trigger": {"kind": "manual", "entity": "lead"},
                "blocks": [{"name": "note", "actions": [
                    {"do": {"type": "add_note", "entity": "lead", "text": "Followed up: {{lead.name}}"}}]}]
            }}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let rule_id = created["id"].as_i64().expect("rule id");
    let before = emulator.counters(SUBDOMAIN).expect("counters");

    // A member may press the card button but not launch a bulk run.
    let run_path = format!("/api/v1/rules/{rule_id}/run");
    let (status, problem) = c
        .post_as(
            MEMBER,
            &run_path,
            &json!({"entity_type": "leads", "entity_ids": lead_ids}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("admin_required"))
    );
    let (status, queued) = c
        .post_as(
            ADMIN,
            &run_path,
            &json!({"entity_type": "leads", "entity_ids": lead_ids}),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["queued"], LEADS);

    // Four workers drain the queue at once, as a backend process does.
    let drains: Vec<_> = (0..4)
        .map(|_| {
            let worker = c.worker.clone();
            tokio::spawn(async move {
                let mut ran = 0;
                while !matches!(worker.try_run_one().await.expect("worker"), Outcome::Idle) {
                    ran += 1;
                }
                ran
            })
        })
        .collect();
    let mut ran = 0;
    for drain in drains {
        ran += drain.await.expect("drain");
    }
    assert!(ran >= LEADS, "{ran} jobs ran");

    // Each lead has exactly one note from the rule.
    let mut notes: HashMap<i64, Vec<String>> = HashMap::new();
    for note in emulator.notes(SUBDOMAIN) {
        if let (Some(entity), Some(text)) =
            (note["entity_id"].as_i64(), note["params"]["text"].as_str())
        {
            notes.entry(entity).or_default().push(text.to_owned());
        }
    }
    for (i, id) in lead_ids.iter().enumerate() {
        let texts = notes.get(id).cloned().unwrap_or_default();
        assert_eq!(texts, vec![format!("Followed up: Lead {i}")], "lead {id}");
    }
    assert_eq!(notes.len(), LEADS);

    // Nothing was refused for the rate limit.
    let after = emulator.counters(SUBDOMAIN).expect("counters");
    assert_eq!(
        after.rate_limit_excess, before.rate_limit_excess,
        "{after:?}"
    );
    assert_eq!(after.responses_429, 0, "{after:?}");
    assert!(
        after.max_requests_in_window <= u64::from(EMULATOR_LIMIT),
        "{after:?}"
    );
    println!(
        "{LEADS} leads: {} Kommo requests, at most {} in any second",
        after.requests - before.requests,
        after.max_requests_in_window
    );
}
