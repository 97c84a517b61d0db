//! Drafts and portable rules against the emulator: a draft's dry run shows the trace, the rendered
//! texts, the Kommo requests the executor would send and the timers, and writes nothing; an export
//! from one account imports into another with fields and users matched by name and what is missing
//! reported. Every test runs on SQLite and on PostgreSQL.

use rulebook::{engine, store::accounts};
use rulebook_e2e::{
    on_both_databases,
    stack::{
        default_seed, Database, Stack, ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET, START_MS, SUBDOMAIN,
    },
};
use secrecy::SecretString;
use serde_json::{json, Value};

on_both_databases!(
    a_drafts_dry_run_plans_a_task_and_a_timer_and_writes_nothing,
    an_export_imports_into_another_account_with_fields_matched_by_name,
);

/// Kommo's administrator of the seeded account.
const ADMIN: i64 = 101;
/// The second account: its subdomain, id and administrator.
const OTHER_SUBDOMAIN: &str = "beta";
const OTHER_ACCOUNT_ID: i64 = 32_000_002;
const OTHER_ADMIN: i64 = 201;

/// The requests that reached the emulator and could change it, in order.
fn write_log(stack: &Stack) -> Vec<String> {
    stack
        .emulator()
        .request_log()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// `method {path}` to the backend as `user` of the account at `subdomain`.
async fn call_as(
    stack: &Stack,
    subdomain: &str,
    user: i64,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let token = stack
        .emulator()
        .mint_disposable_token(subdomain, user, Some(CLIENT_ID))
        .expect("token");
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", stack.backend_url))
        .header("X-Auth-Token", token);
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("answered");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn a_drafts_dry_run_plans_a_task_and_a_timer_and_writes_nothing(database: Database) {
    let stack = Stack::start(database, default_seed()).await;
    let lead = stack.create(
        "leads",
        json!({"name": "Deal", "custom_fields_values": [
            {"field_id": 502, "values": [{"value": 500}]}]}),
    );
    stack.settle().await;
    let writes_before = write_log(&stack);
    let draft = json!({"schema_version": 2, "name": "Draft",
        "trigger": {"kind": "manual", "entity": "lead"},
        "blocks": [
            {"conditions": [{"left": {"path": "lead.cf(502)"}, "op": {"is": "greater"},
                             "right": {"literal": 1000}}],
             "actions": [{"do": {"type": "add_note", "entity": "lead", "text": "Big deal"}}]},
            {"actions": [
                {"do": {"type": "create_task", "entity": "lead", "task_type_id": 1,
                        "complete_in_seconds": 3600, "text": "Call {{lead.name}}"}},
                {"timer": {"kind": "after", "amount": 2, "unit": "hours"},
                 "do": {"type": "add_note", "entity": "lead", "text": "Later {{lead.name}}"}}]}]});

    let (status, dry) = call_as(
        &stack,
        SUBDOMAIN,
        102,
        reqwest::Method::POST,
        "/api/v1/rules/dry-run",
        Some(json!({"rule": draft, "entity_id": lead})),
    )
    .await;

    assert_eq!(status, 200, "{dry}");
    // The failing condition, actual against expected.
    let failed = &dry["trace"]["blocks"][0];
    assert_eq!(failed["status"], "conditions_not_met", "{dry}");
    let condition = &failed["conditions"][0];
    assert_eq!(condition["left"], json!({"type": "number", "value": 500.0}));
    assert_eq!(
        condition["right"],
        json!({"type": "number", "value": 1000.0})
    );
    assert_eq!(condition["result"], false);
    // The rendered task text.
    assert!(
        dry["texts"].as_array().expect("texts").contains(
            &json!({"block": 1, "action_index": 0, "field": "text", "text": "Call Deal"})
        ),
        "{}",
        dry["texts"]
    );
    // The planned Kommo request, as the executor builds it.
    let task = dry["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .find(|r| r["kind"] == "create_task")
        .expect("the task is planned");
    assert_eq!(task["requests"][0]["method"], "POST", "{task}");
    assert_eq!(task["requests"][0]["path"], "/api/v4/tasks");
    let body = &task["requests"][0]["body"][0];
    assert_eq!(body["text"], "Call Deal");
    assert_eq!(body["entity_id"], lead);
    assert_eq!(body["entity_type"], "leads");
    assert_eq!(body["task_type_id"], 1);
    assert_eq!(body["complete_till"], START_MS / 1000 + 3600);
    let later = dry["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .find(|r| r["kind"] == "add_note")
        .expect("the delayed note is planned");
    assert_eq!(
        later["requests"][0]["path"], "/api/v4/leads/notes",
        "{later}"
    );
    assert_eq!(
        later["requests"][0]["body"][0]["params"]["text"],
        "Later Deal"
    );
    // The planned timer of the delayed note.
    assert_eq!(
        dry["timers"],
        json!([{"kind": "action", "block": 1, "action_index": 1,
                "run_at": "2026-11-23T14:00:00Z"}])
    );

    assert_eq!(write_log(&stack), writes_before, "nothing reached Kommo");
    assert!(stack.emulator().tasks(SUBDOMAIN).is_empty());
    assert_eq!(stack.settle().await, 0, "nothing was queued");
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rules")
        .fetch_one(&stack.app.db.pool)
        .await
        .expect("count");
    assert_eq!(stored, 0, "the draft was not saved");
}

/// Seeds the second account in the emulator and connects it to the backend: the same field names
/// as the first under other ids, in another order, without "Missed calls", and its own Anna.
async fn given_a_second_account(stack: &Stack) {
    stack
        .emulator()
        .seed_json(json!({
            "subdomain": OTHER_SUBDOMAIN,
            "id": OTHER_ACCOUNT_ID,
            "timezone": "Europe/Berlin",
            "users": [{"id": OTHER_ADMIN, "name": "Anna"}],
            "custom_fields": {"leads": [
                {"id": 801, "name": "Comment", "type": "text"},
                {"id": 802, "name": "Order type", "type": "select", "enums": [
                    {"id": 8021, "value": "RETAIL"}, {"id": 8022, "value": "WHOLESALE"}]},
                {"id": 803, "name": "Amount", "type": "numeric"}
            ]},
            "integrations": [{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                              "redirect_uri": "http://127.0.0.1:9/oauth"}]
        }))
        .expect("seed");
    let db = &stack.app.db;
    accounts::ensure_account(db, OTHER_ACCOUNT_ID, OTHER_SUBDOMAIN, START_MS)
        .await
        .expect("account");
    let pair = stack
        .emulator()
        .issue_tokens(OTHER_SUBDOMAIN, Some(CLIENT_ID))
        .expect("tokens");
    accounts::save_oauth_tokens(
        db,
        &stack.app.cipher,
        OTHER_ACCOUNT_ID,
        &accounts::OAuthTokens {
            access_token: SecretString::from(pair.access_token),
            refresh_token: SecretString::from(pair.refresh_token),
            expires_at: (pair.server_time + pair.expires_in) * 1000,
        },
    )
    .await
    .expect("save tokens");
    engine::set_kommo_base_url(
        db,
        OTHER_ACCOUNT_ID,
        Some(&stack.kommo.account_url(OTHER_SUBDOMAIN)),
    )
    .await
    .expect("base url");
}

async fn an_export_imports_into_another_account_with_fields_matched_by_name(database: Database) {
    let stack = Stack::start(database, default_seed()).await;
    given_a_second_account(&stack).await;
    let rule = stack
        .rule(
            "Carry",
            json!({"schema_version": 2, "name": "Carry",
                "trigger": {"kind": "manual", "entity": "lead"},
                "blocks": [{
                    "conditions": [{"left": {"path": "lead.cf(502)"}, "op": {"is": "greater"},
                                    "right": {"literal": 1000}}],
                    "actions": [
                        {"do": {"type": "change_fields", "entity": "lead", "fields": [
                            {"field": {"custom": 501}, "value": "WHOLESALE"},
                            {"field": {"custom": 505}, "value": "1"}]}},
                        {"do": {"type": "create_task", "entity": "lead", "task_type_id": 1,
                                "complete_in_seconds": 60, "responsible": {"user": 101},
                                "text": "Check {{lead.cf(504)}}"}}]}]}),
        )
        .await;

    let (status, document) = call_as(
        &stack,
        SUBDOMAIN,
        ADMIN,
        reqwest::Method::GET,
        &format!("/api/v1/rules/export?id={rule}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{document}");
    assert_eq!(document["account_id"], ACCOUNT_ID);
    let named: Vec<(i64, &str)> = document["references"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| {
            (
                f["id"].as_i64().unwrap_or_default(),
                f["name"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        named,
        [
            (501, "Order type"),
            (502, "Amount"),
            (504, "Comment"),
            (505, "Missed calls")
        ]
    );
    let users: Vec<(i64, &str)> = document["references"]["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| {
            (
                u["id"].as_i64().unwrap_or_default(),
                u["name"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(users, [(101, "Anna")]);

    let writes_before = write_log(&stack);
    let (status, preview) = call_as(
        &stack,
        OTHER_SUBDOMAIN,
        OTHER_ADMIN,
        reqwest::Method::POST,
        "/api/v1/rules/import?dry=true",
        Some(document.clone()),
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    let unmatched = json!([{"kind": "field", "id": 505, "name": "Missed calls",
        "reason": "this account has no lead field named 'Missed calls'"}]);
    assert_eq!(preview["rules"][0]["unmatched"], unmatched, "{preview}");
    assert_eq!(preview["rules"][0]["id"], Value::Null);
    let (status, imported) = call_as(
        &stack,
        OTHER_SUBDOMAIN,
        OTHER_ADMIN,
        reqwest::Method::POST,
        "/api/v1/rules/import",
        Some(document.clone()),
    )
    .await;

    assert_eq!(status, 201, "{imported}");
    assert_eq!(imported["rules"][0]["unmatched"], unmatched);
    assert_eq!(imported["rules"][0]["name"], "Carry");
    let id = imported["rules"][0]["id"].as_i64().expect("created");
    let (status, created) = call_as(
        &stack,
        OTHER_SUBDOMAIN,
        OTHER_ADMIN,
        reqwest::Method::GET,
        &format!("/api/v1/rules/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(
        created["enabled"], false,
        "an imported rule starts disabled"
    );
    let definition = &created["rule"];
    assert_eq!(
        definition["blocks"][0]["conditions"][0]["left"]["path"],
        "lead.cf(803)"
    );
    let actions = &definition["blocks"][0]["actions"];
    assert_eq!(
        actions[0]["do"]["fields"],
        json!([{"field": {"custom": 802}, "value": "WHOLESALE"},
               {"field": {"custom": 505}, "value": "1"}]),
        "matched by name; the unmatched field kept"
    );
    assert_eq!(
        actions[1]["do"]["responsible"],
        json!({"user": OTHER_ADMIN})
    );
    assert_eq!(actions[1]["do"]["text"], "Check {{lead.cf(801)}}");
    assert_eq!(
        write_log(&stack),
        writes_before,
        "an import writes nothing to Kommo"
    );

    // Enabling is refused until the unmatched field is fixed: the check of a save.
    let (status, refused) = call_as(
        &stack,
        OTHER_SUBDOMAIN,
        OTHER_ADMIN,
        reqwest::Method::POST,
        &format!("/api/v1/rules/{id}/enable"),
        None,
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["errors"][0]["code"], "unknown_field");

    // Back into the first account, the same ids are kept and nothing is unmatched.
    let (status, home) = call_as(
        &stack,
        SUBDOMAIN,
        ADMIN,
        reqwest::Method::POST,
        "/api/v1/rules/import?dry=true",
        Some(document),
    )
    .await;
    assert_eq!(status, 200, "{home}");
    assert_eq!(home["rules"][0]["unmatched"], json!([]));
    assert_eq!(home["rules"][0]["name"], "Carry (imported)");
}
