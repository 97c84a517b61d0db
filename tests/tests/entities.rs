//! The entity endpoints and statistics end to end, against the emulated Kommo account: "why not"
//! for a lead after real runs, search by name, phone, email and id, the engine's snapshot of an
//! entity (the one a dry run evaluates), and the statistics after real runs. Every test runs on
//! SQLite and on PostgreSQL.

use std::time::Duration;

use chrono::DateTime;
use domain::{
    eval::{CompiledRule, EntityRuleState, EvalContext},
    event::Event,
    rule::Rule,
    snapshot::Snapshot,
    value::Variables,
};
use rulebook_e2e::{
    on_both_databases,
    stack::{default_seed, Database, Stack},
};
use serde_json::{json, Value};

on_both_databases!(
    why_not_for_a_lead_names_the_rule_that_fired_and_the_condition_that_failed_the_other,
    search_finds_entities_by_name_phone_email_and_id,
    the_snapshot_of_a_lead_is_what_a_dry_run_evaluates,
    statistics_count_operations_per_day_errors_and_each_rules_runs_after_real_runs,
);

async fn stack(database: Database) -> Stack {
    Stack::start(database, default_seed()).await
}

/// An "a lead was added" rule with one block: when the lead's name equals `name`, add a note.
fn named_lead_rule(rule_name: &str, name: &str) -> Value {
    json!({
        "schema_version": 2,
        "name": rule_name,
        "trigger": {"kind": "entity_added", "entity": "lead"},
        "blocks": [{"name": format!("Is {name}"),
            "conditions": [{"left": {"path": "lead.name"}, "op": {"is": "equals"}, "right": {"literal": name}}],
            "actions": [{"do": {"type": "add_note", "entity": "lead", "text": format!("{rule_name} saw {{{{lead.name}}}}")}}]}]
    })
}

async fn get(stack: &Stack, path: &str) -> Value {
    let (status, body) = stack.api("GET", path, None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

async fn why_not_for_a_lead_names_the_rule_that_fired_and_the_condition_that_failed_the_other(
    database: Database,
) {
    let stack = stack(database).await;
    let wholesale = stack
        .rule(
            "Wholesale",
            named_lead_rule("Wholesale", "WHOLESALE form order"),
        )
        .await;
    let retail = stack
        .rule("Retail", named_lead_rule("Retail", "RETAIL form order"))
        .await;
    let lead = stack.create("leads", json!({"name": "WHOLESALE form order"}));
    let other = stack.create("leads", json!({"name": "Something else"}));
    stack.settle().await;
    assert_eq!(stack.notes_of(lead).len(), 1, "the wholesale rule fired");

    let runs = get(&stack, &format!("/api/v1/entities/leads/{lead}/runs")).await;

    let runs = runs.as_array().expect("a list");
    assert_eq!(runs.len(), 2, "both rules considered the lead: {runs:?}");
    let of = |rule: i64| {
        runs.iter()
            .find(|r| r["rule_id"] == rule)
            .unwrap_or_else(|| panic!("no run of rule {rule}: {runs:?}"))
    };
    let fired = of(wholesale);
    assert_eq!(fired["verdict"], "fired");
    assert_eq!(fired["event"], "entity_added");
    assert_eq!(fired["failed_conditions"], json!([]));
    let missed = of(retail);
    assert_eq!(missed["verdict"], "did_not_match");
    assert_eq!(
        missed["failed_conditions"],
        json!([{
            "block": 0, "block_name": "Is RETAIL form order", "condition": 0,
            "operand": {"path": "lead.name"}, "operator": "equals",
            "expected": {"type": "text", "value": "RETAIL form order"},
            "actual": {"type": "text", "value": "WHOLESALE form order"},
            "reason": null
        }])
    );
    // Newest first; the other lead's runs are its own.
    assert!(runs[0]["id"].as_i64() > runs[1]["id"].as_i64());
    let others = get(&stack, &format!("/api/v1/entities/leads/{other}/runs")).await;
    assert_eq!(
        others
            .as_array()
            .map(|runs| runs.iter().all(|r| r["verdict"] == "did_not_match")),
        Some(true),
        "{others}"
    );
    assert_eq!(
        others[0]["failed_conditions"][0]["actual"]["value"],
        "Something else"
    );
}

async fn search_finds_entities_by_name_phone_email_and_id(database: Database) {
    let stack = stack(database).await;
    let maria = stack.create(
        "contacts",
        json!({"name": "Maria Silva", "custom_fields_values": [
            {"field_id": 601, "values": [{"value": "+55 11 98765-4321", "enum_code": "WORK"}]},
            {"field_id": 602, "values": [{"value": "maria@example.com", "enum_code": "WORK"}]}]}),
    );
    let joao = stack.create(
        "contacts",
        json!({"name": "João Souza", "custom_fields_values": [
            {"field_id": 602, "values": [{"value": "joao@example.org", "enum_code": "WORK"}]}]}),
    );
    let lead = stack.create("leads", json!({"name": "Big wholesale deal"}));
    stack.create("leads", json!({"name": "Small retail deal"}));
    let company = stack.create("companies", json!({"name": "Acme Ltd"}));
    let ids = |body: &Value| -> Vec<i64> {
        body.as_array()
            .map(|list| list.iter().filter_map(|m| m["id"].as_i64()).collect())
            .unwrap_or_default()
    };
    let search = |kind: &'static str, q: &'static str| {
        let stack = &stack;
        async move {
            let q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
            get(stack, &format!("/api/v1/entities/{kind}/search?q={q}")).await
        }
    };

    let by_name = search("contacts", "maria").await;
    assert_eq!(by_name, json!([{"id": maria, "name": "Maria Silva"}]));
    assert_eq!(ids(&search("contacts", "98765-4321").await), vec![maria]);
    assert_eq!(ids(&search("contacts", "maria@example").await), vec![maria]);
    assert_eq!(ids(&search("contacts", "example").await), vec![maria, joao]);
    assert_eq!(ids(&search("leads", "wholesale").await), vec![lead]);
    assert_eq!(ids(&search("companies", "acme").await), vec![company]);
    assert_eq!(ids(&search("contacts", "nobody").await), Vec::<i64>::new());
    let by_id = get(&stack, &format!("/api/v1/entities/leads/search?q={lead}")).await;
    assert_eq!(
        ids(&by_id)[0],
        lead,
        "the lead with that id comes first: {by_id}"
    );
    assert_eq!(by_id[0]["name"], "Big wholesale deal");

    let (status, problem) = stack
        .api("GET", "/api/v1/entities/leads/search?q=%20", None)
        .await;
    assert_eq!((status, &problem["code"]), (400, &json!("bad_query")));
    let (status, _) = stack
        .api("GET", "/api/v1/entities/tasks/search?q=call", None)
        .await;
    assert_eq!(status, 404);
}

async fn the_snapshot_of_a_lead_is_what_a_dry_run_evaluates(database: Database) {
    let stack = stack(database).await;
    let rule_json = json!({
        "schema_version": 2, "name": "Qualified",
        "trigger": {"kind": "status_changed", "status_id": 12, "entry": "moved"},
        "blocks": [
            {"name": "paid", "conditions": [
                {"left": {"path": "lead.cf(503)"}, "op": {"is": "is_true"}}],
             "actions": [{"do": {"type": "add_note", "entity": "lead", "text": "paid"}}]},
            {"name": "call", "conditions": [
                {"left": {"path": "contact.cf(601)"}, "op": {"is": "contains"}, "right": {"literal": "+49"}}],
             "actions": [{"do": {"type": "change_fields", "entity": "lead", "fields": [
                {"field": {"custom": 504}, "value": "Call {{contact.name}} at {{contact.cf(601)}} about {{lead.name}}"}]}}]}
        ]
    });
    let rule = stack.rule("Qualified", rule_json.clone()).await;
    let contact = stack.create(
        "contacts",
        json!({"name": "Client", "custom_fields_values": [
            {"field_id": 601, "values": [{"value": "+49 30 1234", "enum_code": "WORK"}]}]}),
    );
    let lead = stack.create(
        "leads",
        json!({"name": "Deal", "price": 700, "pipeline_id": 10, "status_id": 11, "responsible_user_id": 101,
               "_embedded": {"contacts": [{"id": contact, "is_main": true}], "tags": [{"name": "vip"}]}}),
    );
    stack.kommo_call(
        "POST",
        "/api/v4/tasks",
        Some(json!([{"text": "Call back", "entity_type": "leads", "entity_id": lead,
                     "complete_till": 1_900_000_000, "task_type_id": 1, "responsible_user_id": 101}])),
    );
    stack.settle().await;

    let body = get(&stack, &format!("/api/v1/entities/leads/{lead}/snapshot")).await;

    let snapshot: Snapshot = serde_json::from_value(body.clone()).expect("the domain snapshot");
    let seen = snapshot.lead.as_ref().expect("the lead");
    assert_eq!(seen.id, lead);
    assert_eq!(seen.name, "Deal");
    assert_eq!(seen.tags, vec!["vip".to_owned()]);
    assert_eq!(seen.tasks.len(), 1, "{:?}", seen.tasks);
    assert_eq!(seen.tasks[0].text, "Call back");
    assert_eq!(snapshot.contact.as_ref().map(|c| c.id), Some(contact));
    assert_eq!(snapshot.account.timezone.name(), "Europe/Berlin");

    let (status, dry) = stack
        .api(
            "POST",
            &format!("/api/v1/rules/{rule}/dry-run"),
            Some(json!({"entity_id": lead})),
        )
        .await;
    assert_eq!(status, 200, "{dry}");
    // The widget's preview: the same rule evaluated locally by `domain` on the served snapshot
    // gives the dry run's plan and trace exactly.
    let event: Event = serde_json::from_value(dry["event"].clone()).expect("the event");
    let rule = Rule::from_json(&rule_json.to_string()).expect("the rule");
    let now = DateTime::from_timestamp_millis(stack.clock_ms()).expect("now");
    let local = CompiledRule::new(rule).evaluate(
        &event,
        &snapshot,
        &Variables::default(),
        &EvalContext::new(now, EntityRuleState::default()),
    );
    let local = serde_json::to_value(&local).expect("json");
    // The backend times each condition (`elapsed_ns`, for the debugger); apart from that the
    // traces are the same.
    let mut dry_trace = dry["trace"].clone();
    for block in dry_trace["blocks"].as_array_mut().expect("blocks") {
        for condition in block["conditions"].as_array_mut().expect("conditions") {
            assert!(
                condition["elapsed_ns"].is_u64(),
                "each condition is timed: {condition}"
            );
            condition
                .as_object_mut()
                .expect("object")
                .remove("elapsed_ns");
        }
    }
    assert_eq!(local["trace"], dry_trace);
    assert_eq!(local["plan"], dry["plan"]);
    assert_eq!(
        dry["plan"][0]["action"]["fields"][0]["value"],
        "Call Client at +49 30 1234 about Deal"
    );
    assert_eq!(dry["trace"]["blocks"][0]["status"], "conditions_not_met");

    let (status, problem) = stack
        .api("GET", "/api/v1/entities/leads/999999/snapshot", None)
        .await;
    assert_eq!((status, &problem["code"]), (404, &json!("not_found")));
}

async fn statistics_count_operations_per_day_errors_and_each_rules_runs_after_real_runs(
    database: Database,
) {
    let stack = stack(database).await;
    // Two Kommo operations per lead.
    let noted = stack
        .rule(
            "Noted",
            json!({"schema_version": 2, "name": "Noted",
                   "trigger": {"kind": "entity_added", "entity": "lead"},
                   "blocks": [{"actions": [
                       {"do": {"type": "add_note", "entity": "lead", "text": "hello {{lead.name}}"}},
                       {"do": {"type": "change_fields", "entity": "lead", "fields": [
                           {"field": {"custom": 504}, "value": "seen"}]}}]}]}),
        )
        .await;
    let never = stack
        .rule("Never", named_lead_rule("Never", "no such lead"))
        .await;
    // A webhook nobody answers: an error, and not a Kommo operation.
    let broken = stack
        .rule(
            "Broken",
            json!({"schema_version": 2, "name": "Broken",
                   "trigger": {"kind": "entity_added", "entity": "lead"},
                   "blocks": [{"actions": [{"do": {"type": "send_webhook", "method": "POST",
                       "url": "http://127.0.0.1:9/nobody", "body": [{"key": "lead", "value": "{{lead.id}}"}]}}]}]}),
        )
        .await;
    stack.create("leads", json!({"name": "First"}));
    stack.create("leads", json!({"name": "Second"}));
    stack.settle().await;
    let first_run_at = stack.clock_ms();

    let stats = get(&stack, "/api/v1/account/stats").await;
    assert_eq!(stats["month"], "2026-11");
    assert_eq!(stats["operations_this_month"], 4, "{stats}");
    assert_eq!(stats["errors_this_month"], 2, "{stats}");
    assert_eq!(
        stats["operations_by_day"],
        json!([{"day": "2026-11-23", "operations": 4, "errors": 2}])
    );
    let rules = get(&stack, "/api/v1/rules/stats").await;
    let of = |rules: &Value, rule: i64| {
        rules
            .as_array()
            .and_then(|list| list.iter().find(|r| r["rule_id"] == rule).cloned())
            .unwrap_or_else(|| panic!("rule {rule} in {rules}"))
    };
    assert_eq!(
        of(&rules, noted),
        json!({"rule_id": noted, "name": "Noted", "runs": 2, "fires": 2, "errors": 0, "last_run_at": first_run_at})
    );
    assert_eq!(
        of(&rules, never),
        json!({"rule_id": never, "name": "Never", "runs": 2, "fires": 0, "errors": 0, "last_run_at": first_run_at})
    );
    assert_eq!(
        of(&rules, broken),
        json!({"rule_id": broken, "name": "Broken", "runs": 2, "fires": 2, "errors": 2, "last_run_at": first_run_at})
    );

    // The next day (UTC), one more lead.
    stack.advance(Duration::from_secs(24 * 3600));
    stack.create("leads", json!({"name": "Third"}));
    stack.settle().await;

    let stats = get(&stack, "/api/v1/account/stats").await;
    assert_eq!(stats["operations_this_month"], 6);
    assert_eq!(stats["operations_total"], 6);
    assert_eq!(stats["errors_total"], 3);
    assert_eq!(stats["operations_previous_month"], 0);
    assert_eq!(
        stats["operations_by_day"],
        json!([{"day": "2026-11-23", "operations": 4, "errors": 2},
               {"day": "2026-11-24", "operations": 2, "errors": 1}])
    );
    let rules = get(&stack, "/api/v1/rules/stats").await;
    assert_eq!(of(&rules, noted)["runs"], 3);
    assert_eq!(of(&rules, noted)["last_run_at"], stack.clock_ms());
    assert_eq!(of(&rules, broken)["errors"], 3);
}
