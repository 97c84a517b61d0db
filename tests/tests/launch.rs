//! Manual and bulk launch end to end: a Kommo user's disposable token, `POST /api/v1/rules/{id}/run`
//! on 300 leads of the emulator, the backend's workers draining the queue concurrently, and the
//! rule's action applied to each lead exactly once with no request over Kommo's rate limit; a
//! launch's progress (`GET /api/v1/launches/{id}`: counts, and why each run was skipped or failed),
//! its cancel, its tenancy, and which rules may be launched by hand (the Triggers manual: manual,
//! "added" and "updated" rules, not a stage's). Runs on SQLite and on PostgreSQL.

use std::collections::HashMap;

use domain::api::{RunStatus, SkipReason};
use kommo_emulator::{EmulatorClock, EmulatorConfig};
use rulebook::queue::worker::Outcome;
use rulebook_e2e::{
    connected::{Connecting, SUBDOMAIN},
    stack::{self, default_seed, Database, Stack, CLIENT_ID, CLIENT_SECRET},
};
use serde_json::{json, Value};

rulebook_e2e::on_both_databases!(
    a_manual_rule_run_on_300_leads_acts_on_each_once_within_the_rate_limit,
    a_launch_counts_its_runs_and_says_why_each_was_skipped_or_failed,
    a_cancelled_launch_skips_the_runs_not_started_and_lets_running_ones_finish,
    a_launch_of_another_account_is_not_found,
    added_and_updated_rules_run_by_hand_and_a_stage_rule_is_refused,
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
    let launch_id = queued["launch_id"].as_i64().expect("launch id");

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
    // The launch counts every run done.
    let launch: domain::api::Launch = rulebook::store::launches::get(
        &c.app.db,
        rulebook_e2e::connected::ACCOUNT_ID,
        launch_id,
        rulebook::store::Page::ALL,
    )
    .await
    .expect("launch");
    assert_eq!(
        (
            launch.total,
            launch.done,
            launch.skipped,
            launch.failed,
            launch.pending
        ),
        (LEADS as u64, LEADS as u64, 0, 0, 0)
    );
    println!(
        "{LEADS} leads: {} Kommo requests, at most {} in any second",
        after.requests - before.requests,
        after.max_requests_in_window
    );
}

/// A lead of the stack's account named `name`, created without any rule listening.
fn lead(stack: &Stack, name: &str) -> i64 {
    stack.create("leads", json!({ "name": name }))
}

/// The launch's state, as the widget reads it.
async fn launch_of(stack: &Stack, launch_id: i64) -> domain::api::Launch {
    let (status, body) = stack
        .api("GET", &format!("/api/v1/launches/{launch_id}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).expect("the widget reads it")
}

/// Launches rule `rule_id` on `ids` of `entity_type` as the account's administrator; the launch id.
async fn launch(stack: &Stack, rule_id: i64, entity_type: &str, ids: &[i64]) -> i64 {
    let (status, queued) = stack
        .api(
            "POST",
            &format!("/api/v1/rules/{rule_id}/run"),
            Some(json!({ "entity_type": entity_type, "entity_ids": ids })),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["queued"], ids.len());
    queued["launch_id"].as_i64().expect("launch id")
}

fn counts(launch: &domain::api::Launch) -> (u64, u64, u64, u64, u64) {
    (
        launch.total,
        launch.done,
        launch.skipped,
        launch.failed,
        launch.pending,
    )
}

/// The texts of the notes on an entity.
fn note_texts(stack: &Stack, entity_id: i64) -> Vec<String> {
    stack
        .notes_of(entity_id)
        .iter()
        .filter_map(|n| n["params"]["text"].as_str().map(str::to_owned))
        .collect()
}

/// A manual lead rule that notes the VIP leads (by name) and does nothing to others.
fn vip_rule() -> Value {
    json!({
        "schema_version": 2, "name": "VIP follow-up",
        "trigger": {"kind": "manual", "entity": "lead"},
        "blocks": [{
            "name": "VIP",
            "conditions": [{"left": {"path": "lead.name"}, "op": {"is": "contains"}, "right": {"literal": "VIP"}}],
            "actions": [{"do": {"type": "add_note", "entity": "lead", "text": "VIP call: {{lead.name}}"}}]
        }]
    })
}

async fn a_launch_counts_its_runs_and_says_why_each_was_skipped_or_failed(database: Database) {
    let stack = Stack::start(database, default_seed()).await;
    let vips: Vec<i64> = (1..=3).map(|i| lead(&stack, &format!("VIP {i}"))).collect();
    let plain: Vec<i64> = (1..=2)
        .map(|i| lead(&stack, &format!("Plain {i}")))
        .collect();
    stack.settle().await;
    let rule_id = stack.rule("VIP follow-up", vip_rule()).await;
    let gone = 987_654;
    let ids: Vec<i64> = vips.iter().chain(&plain).copied().chain([gone]).collect();

    let launch_id = launch(&stack, rule_id, "leads", &ids).await;
    let queued = launch_of(&stack, launch_id).await;
    assert_eq!(counts(&queued), (6, 0, 0, 0, 6));
    assert!(!queued.finished() && queued.entities.is_empty());
    assert_eq!(
        (queued.rule_id, queued.entity_type.as_str(), queued.user_id),
        (rule_id, "leads", 101)
    );

    stack.settle().await;
    let finished = launch_of(&stack, launch_id).await;
    assert_eq!(counts(&finished), (6, 3, 2, 1, 0), "{finished:?}");
    assert!(finished.finished() && !finished.cancelled);
    let why: Vec<(i64, RunStatus, Option<SkipReason>)> = finished
        .entities
        .iter()
        .map(|e| (e.entity_id, e.status, e.reason))
        .collect();
    assert_eq!(
        why,
        [
            (gone, RunStatus::Failed, None),
            (plain[0], RunStatus::Skipped, Some(SkipReason::DidNotMatch)),
            (plain[1], RunStatus::Skipped, Some(SkipReason::DidNotMatch)),
        ],
        "by entity id"
    );
    let error = finished.entities[0].error.clone().unwrap_or_default();
    assert!(error.contains("not found"), "{error}");
    for (i, id) in vips.iter().enumerate() {
        assert_eq!(
            note_texts(&stack, *id),
            [format!("VIP call: VIP {}", i + 1)]
        );
    }
    for id in &plain {
        assert!(note_texts(&stack, *id).is_empty());
    }
    // The list is paged.
    let (status, page) = stack
        .api(
            "GET",
            &format!("/api/v1/launches/{launch_id}?limit=1&offset=2"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["entities"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["entities"][0]["entity_id"], plain[1]);
    assert_eq!(page["failed"], 1);

    // Pressed again at once on a VIP lead: the rule ran on it too recently (the 5 s minimum).
    let again = launch(&stack, rule_id, "leads", &vips[..1]).await;
    stack.settle().await;
    let again = launch_of(&stack, again).await;
    assert_eq!(counts(&again), (1, 0, 1, 0, 0));
    assert_eq!(
        again.entities[0].reason,
        Some(SkipReason::FrequencyExceeded)
    );
    assert_eq!(note_texts(&stack, vips[0]).len(), 1);
    // A failed action counts as failed with its error: Kommo refuses the next note.
    stack.advance(std::time::Duration::from_secs(60));
    stack
        .emulator()
        .inject_fault(
            stack::SUBDOMAIN,
            serde_json::from_value(json!({"kind": "status", "status": 400, "method": "POST"}))
                .expect("fault"),
        )
        .expect("inject");
    let refused = launch(&stack, rule_id, "leads", &vips[1..2]).await;
    stack.settle().await;
    let refused = launch_of(&stack, refused).await;
    assert_eq!(counts(&refused), (1, 0, 0, 1, 0), "{refused:?}");
    assert!(refused.entities[0].error.is_some(), "{refused:?}");

    // Problems in the request, as problem+json.
    let (status, problem) = stack.api("GET", "/api/v1/launches/nope", None).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (404, Some("not_found")),
        "{problem}"
    );
    let (status, problem) = stack.api("GET", "/api/v1/launches/999999", None).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (404, Some("not_found")),
        "{problem}"
    );
}

async fn a_cancelled_launch_skips_the_runs_not_started_and_lets_running_ones_finish(
    database: Database,
) {
    let stack = Stack::start(database, default_seed()).await;
    let leads: Vec<i64> = (1..=5).map(|i| lead(&stack, &format!("VIP {i}"))).collect();
    stack.settle().await;
    let rule_id = stack.rule("VIP follow-up", vip_rule()).await;
    let launch_id = launch(&stack, rule_id, "leads", &leads).await;

    // One run has finished; another is in flight under a worker's lease.
    assert!(matches!(
        stack.worker.try_run_one().await.expect("worker"),
        Outcome::Completed { .. }
    ));
    let in_flight: i64 = sqlx::query_scalar(
        "SELECT MIN(id) FROM jobs WHERE kind = 'run_rule' AND state = 'pending'",
    )
    .fetch_one(&stack.app.db.pool)
    .await
    .expect("a waiting run");
    sqlx::query("UPDATE jobs SET locked_until = $2, lease_seq = lease_seq + 1 WHERE id = $1")
        .bind(in_flight)
        .bind(stack.clock_ms() + 60_000)
        .execute(&stack.app.db.pool)
        .await
        .expect("lease");

    // A member may not cancel.
    let (status, problem) = api_as(
        &stack,
        stack::SUBDOMAIN,
        102,
        "POST",
        &format!("/api/v1/launches/{launch_id}/cancel"),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("admin_required"))
    );

    let (status, cancelled) = stack
        .api(
            "POST",
            &format!("/api/v1/launches/{launch_id}/cancel"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    let cancelled: domain::api::Launch = serde_json::from_value(cancelled).expect("launch");
    assert_eq!(counts(&cancelled), (5, 1, 3, 0, 1), "{cancelled:?}");
    assert!(cancelled.cancelled);
    assert!(cancelled
        .entities
        .iter()
        .all(|e| e.reason == Some(SkipReason::Cancelled)));
    let waiting: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE kind = 'run_rule'")
        .fetch_one(&stack.app.db.pool)
        .await
        .expect("count");
    assert_eq!(waiting, 1, "only the run in flight is left");

    // The run in flight finishes (its lease ran out, so the queue runs it again) and counts.
    stack.advance(std::time::Duration::from_secs(120));
    stack.settle().await;
    let finished = launch_of(&stack, launch_id).await;
    assert_eq!(counts(&finished), (5, 2, 3, 0, 0), "{finished:?}");
    assert!(finished.cancelled && finished.finished());
    let noted = leads
        .iter()
        .filter(|id| !note_texts(&stack, **id).is_empty())
        .count();
    assert_eq!(noted, 2);
    // Cancelling a finished launch changes nothing.
    let (status, again) = stack
        .api(
            "POST",
            &format!("/api/v1/launches/{launch_id}/cancel"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (again["done"].clone(), again["skipped"].clone()),
        (json!(2), json!(3))
    );
}

/// Calls the backend as user `user_id` of the emulator's account `subdomain`.
async fn api_as(
    stack: &Stack,
    subdomain: &str,
    user_id: i64,
    method: &str,
    path: &str,
) -> (u16, Value) {
    let token = stack
        .emulator()
        .mint_disposable_token(subdomain, user_id, Some(CLIENT_ID))
        .expect("token");
    let response = reqwest::Client::new()
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
            format!("{}{path}", stack.backend_url),
        )
        .header("X-Auth-Token", token)
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("the backend answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn a_launch_of_another_account_is_not_found(database: Database) {
    let stack = Stack::start(database, default_seed()).await;
    stack
        .emulator()
        .seed_json(json!({
            "subdomain": "rival", "id": 32_000_077,
            "users": [{"id": 301, "name": "Rita"}],
            "integrations": [{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                              "redirect_uri": "http://127.0.0.1:9/oauth"}]
        }))
        .expect("second account");
    let id = lead(&stack, "VIP ours");
    stack.settle().await;
    let rule_id = stack.rule("VIP follow-up", vip_rule()).await;
    let launch_id = launch(&stack, rule_id, "leads", &[id]).await;

    for (method, path) in [
        ("GET", format!("/api/v1/launches/{launch_id}")),
        ("POST", format!("/api/v1/launches/{launch_id}/cancel")),
    ] {
        let (status, problem) = api_as(&stack, "rival", 301, method, &path).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (404, Some("not_found")),
            "{method} {path}: {problem}"
        );
        assert!(!problem.to_string().contains(&id.to_string()), "{problem}");
    }
    // Their cancel changed nothing of ours.
    stack.settle().await;
    let ours = launch_of(&stack, launch_id).await;
    assert_eq!(counts(&ours), (1, 1, 0, 0, 0));
    assert!(!ours.cancelled);
}

async fn added_and_updated_rules_run_by_hand_and_a_stage_rule_is_refused(database: Database) {
    let stack = Stack::start(database, default_seed()).await;
    // The entities exist before the rules, so only the launches run them.
    let lead_id = lead(&stack, "Imported lead");
    let contact_id = stack.create("contacts", json!({ "name": "Imported contact" }));
    stack.settle().await;
    let added = stack
        .rule(
            "Welcome",
            json!({"schema_version": 2, "name": "Welcome",
                   "trigger": {"kind": "entity_added", "entity": "lead"},
                   "blocks": [{"actions": [{"do": {"type": "add_note", "entity": "lead",
                                                   "text": "Welcome, {{lead.name}}"}}]}]}),
        )
        .await;
    let updated = stack
        .rule(
            "Contact check",
            json!({"schema_version": 2, "name": "Contact check",
                   "trigger": {"kind": "entity_updated", "entity": "contact"},
                   "blocks": [{"actions": [{"do": {"type": "add_note", "entity": "contact",
                                                   "text": "Checked {{contact.name}}"}}]}]}),
        )
        .await;
    let stage = stack
        .rule(
            "Qualified",
            json!({"schema_version": 2, "name": "Qualified",
                   "trigger": {"kind": "status_changed", "pipeline_id": 10, "status_id": 12},
                   "blocks": [{"actions": [{"do": {"type": "add_note", "entity": "lead", "text": "x"}}]}]}),
        )
        .await;
    let responsible = stack
        .rule(
            "Reassigned",
            json!({"schema_version": 2, "name": "Reassigned",
                   "trigger": {"kind": "responsible_changed", "entity": "lead"},
                   "blocks": [{"actions": [{"do": {"type": "add_note", "entity": "lead", "text": "x"}}]}]}),
        )
        .await;

    let welcome = launch(&stack, added, "leads", &[lead_id]).await;
    let checked = launch(&stack, updated, "contacts", &[contact_id]).await;
    stack.settle().await;
    assert_eq!(counts(&launch_of(&stack, welcome).await), (1, 1, 0, 0, 0));
    assert_eq!(counts(&launch_of(&stack, checked).await), (1, 1, 0, 0, 0));
    assert_eq!(note_texts(&stack, lead_id), ["Welcome, Imported lead"]);
    assert_eq!(note_texts(&stack, contact_id), ["Checked Imported contact"]);

    // The manual's exceptions, and an "added" lead rule asked to run on contacts.
    for (rule_id, entity_type, id) in [
        (stage, "leads", lead_id),
        (responsible, "leads", lead_id),
        (added, "contacts", contact_id),
    ] {
        let (status, problem) = stack
            .api(
                "POST",
                &format!("/api/v1/rules/{rule_id}/run"),
                Some(json!({"entity_type": entity_type, "entity_ids": [id]})),
            )
            .await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (422, Some("not_manual")),
            "{problem}"
        );
    }
    let (_, listed) = stack.api("GET", "/api/v1/launches/0", None).await;
    assert_eq!(listed["code"], "not_found");
}
