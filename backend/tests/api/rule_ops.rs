//! Rule operations: duplicate, move in the list, restore a version, export and import (with the
//! preview; across two accounts of the emulator, with fields, stages, task types and Salesbots
//! matched by code or name), and the draft dry run's refusals that need no Kommo.

use axum::http::{Method, StatusCode};
use kommo_emulator::{spawn_on_loopback, Emulator, EmulatorClock, EmulatorConfig, RunningEmulator};
use rulebook::{
    engine,
    store::accounts::{self, OAuthTokens},
};
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::helpers::{
    rule_json, spawn_app, spawn_app_with, As, Backend, TestApp, ACCOUNT, ADMIN, MEMBER,
    OTHER_ACCOUNT, OTHER_ADMIN, START_MS,
};

crate::on_both_databases!(
    a_duplicate_is_a_disabled_copy_under_a_free_name,
    a_rule_moved_in_the_list_is_listed_there,
    restoring_a_version_saves_it_as_the_newest,
    an_export_imports_back_as_disabled_rules_under_free_names,
    an_import_preview_reports_and_writes_nothing,
    an_invalid_rule_in_an_import_is_refused_at_its_index,
    a_draft_that_is_not_a_rule_is_refused_at_the_rule,
    an_export_imports_into_another_account_with_stages_bots_and_coded_fields_matched,
);

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn listed(app: &TestApp) -> Vec<String> {
    names(&app.list_rules(ADMIN).await.expect(StatusCode::OK))
}

async fn a_duplicate_is_a_disabled_copy_under_a_free_name(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.given_a_rule("Wholesale").await;

    let copy = app
        .send_json(
            Method::POST,
            &format!("/api/v1/rules/{id}/duplicate"),
            ADMIN,
            &json!({}),
        )
        .await
        .expect(StatusCode::CREATED);
    let again = app
        .send_json(
            Method::POST,
            &format!("/api/v1/rules/{id}/duplicate"),
            ADMIN,
            &json!({}),
        )
        .await
        .expect(StatusCode::CREATED);

    assert_eq!(copy["name"], "Wholesale (copy)");
    assert_eq!(again["name"], "Wholesale (copy 2)");
    assert_eq!(copy["enabled"], false, "a copy does not run until enabled");
    assert_eq!(copy["version"], 1);
    assert_ne!(copy["id"], id);
    let original = app.get_rule(ADMIN, id).await.expect(StatusCode::OK);
    assert_eq!(copy["rule"]["description"], original["rule"]["description"]);
    assert_eq!(copy["rule"]["name"], "Wholesale (copy)");
    assert_ne!(copy["inbound_hook_key"], original["inbound_hook_key"]);
    assert_eq!(
        listed(&app).await,
        ["Wholesale", "Wholesale (copy)", "Wholesale (copy 2)"]
    );
    app.send_json(
        Method::POST,
        &format!("/api/v1/rules/{id}/duplicate"),
        MEMBER,
        &json!({}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "admin_required");
}

async fn a_rule_moved_in_the_list_is_listed_there(backend: Backend) {
    let app = spawn_app(backend).await;
    let b = app.given_a_rule("b").await;
    app.given_a_rule("a").await;
    let c = app.given_a_rule("c").await;
    assert_eq!(listed(&app).await, ["b", "a", "c"], "new rules go last");

    let moved = app
        .send_json(
            Method::PUT,
            &format!("/api/v1/rules/{c}/position"),
            ADMIN,
            &json!({ "position": 0 }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(moved, json!({ "id": c, "position": 0 }));
    assert_eq!(listed(&app).await, ["c", "b", "a"]);

    let moved = app
        .send_json(
            Method::PUT,
            &format!("/api/v1/rules/{b}/position"),
            ADMIN,
            &json!({ "position": 99 }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(moved["position"], 2, "past the end is last");
    assert_eq!(listed(&app).await, ["c", "a", "b"]);
    let page = app
        .get("/api/v1/rules?limit=1&offset=1", ADMIN)
        .await
        .expect(StatusCode::OK);
    assert_eq!(names(&page), ["a"], "pages follow the order");

    app.send_json(
        Method::PUT,
        &format!("/api/v1/rules/{b}/position"),
        ADMIN,
        &json!({ "position": -1 }),
    )
    .await
    .expect_problem(StatusCode::BAD_REQUEST, "bad_json");
    app.send_json(
        Method::PUT,
        "/api/v1/rules/999999/position",
        ADMIN,
        &json!({ "position": 0 }),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not_found");
}

async fn restoring_a_version_saves_it_as_the_newest(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.given_a_rule("Restored").await;
    app.save_rule(
        ADMIN,
        id,
        &json!({ "name": "Renamed", "rule": rule_json("second") }),
    )
    .await
    .expect(StatusCode::OK);

    let restored = app
        .send_json(
            Method::POST,
            &format!("/api/v1/rules/{id}/history/1/restore"),
            ADMIN,
            &json!({}),
        )
        .await
        .expect(StatusCode::OK);

    assert_eq!(restored["version"], 3, "a restore is a new save");
    assert_eq!(restored["name"], "Restored");
    assert_eq!(restored["rule"]["description"], "given");
    let history = app.rule_history(ADMIN, id).await.expect(StatusCode::OK);
    let versions: Vec<(i64, String)> = history
        .as_array()
        .expect("list")
        .iter()
        .map(|v| {
            (
                v["version"].as_i64().unwrap_or_default(),
                v["rule"]["description"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [
            (3, "given".to_owned()),
            (2, "second".to_owned()),
            (1, "given".to_owned())
        ]
    );
    app.send_json(
        Method::POST,
        &format!("/api/v1/rules/{id}/history/9/restore"),
        ADMIN,
        &json!({}),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not_found");
}

async fn export(app: &TestApp, query: &str) -> Value {
    app.get(&format!("/api/v1/rules/export{query}"), ADMIN)
        .await
        .expect(StatusCode::OK)
}

async fn an_export_imports_back_as_disabled_rules_under_free_names(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.given_a_rule("First").await;
    app.given_a_rule("Second").await;

    let all = export(&app, "").await;
    let one = export(&app, &format!("?id={first}")).await;

    assert_eq!(all["format"], "rulebook.rules");
    assert_eq!(all["format_version"], 1);
    assert_eq!(all["account_id"], ACCOUNT);
    let document: domain::portable::Document =
        serde_json::from_value(all.clone()).expect("the widget's Document reads the export");
    assert_eq!(document.rules.len(), 2);
    assert_eq!(names(&one["rules"]), ["First"]);

    let report = app
        .send_json(Method::POST, "/api/v1/rules/import", ADMIN, &all)
        .await
        .expect(StatusCode::CREATED);
    let report: domain::portable::ImportReport =
        serde_json::from_value(report).expect("the widget's ImportReport reads the answer");
    assert!(!report.dry);
    let imported: Vec<(&str, bool, bool)> = report
        .rules
        .iter()
        .map(|r| (r.name.as_str(), r.enabled, r.unmatched.is_empty()))
        .collect();
    assert_eq!(
        imported,
        [
            ("First (imported)", false, true),
            ("Second (imported)", false, true)
        ]
    );
    for rule in &report.rules {
        let stored = app
            .get_rule(ADMIN, rule.id.expect("created"))
            .await
            .expect(StatusCode::OK);
        assert_eq!(stored["enabled"], false, "imported rules start disabled");
        assert_eq!(stored["rule"]["description"], "given");
    }
    assert_eq!(
        listed(&app).await,
        ["First", "Second", "First (imported)", "Second (imported)"]
    );
}

async fn an_import_preview_reports_and_writes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.given_a_rule("Only").await;
    let document = export(&app, "").await;
    let before = app.count("SELECT COUNT(*) FROM rules").await;

    let preview = app
        .send_json(
            Method::POST,
            "/api/v1/rules/import?dry=true",
            ADMIN,
            &document,
        )
        .await
        .expect(StatusCode::OK);

    assert_eq!(preview["dry"], true);
    assert_eq!(preview["rules"][0]["name"], "Only (imported)");
    assert_eq!(preview["rules"][0]["id"], Value::Null);
    assert_eq!(preview["rules"][0]["enabled"], false);
    assert_eq!(app.count("SELECT COUNT(*) FROM rules").await, before);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM rule_versions").await,
        before,
        "no version either"
    );
}

async fn an_invalid_rule_in_an_import_is_refused_at_its_index(backend: Backend) {
    let app = spawn_app(backend).await;
    app.given_a_rule("Good").await;
    let mut document = export(&app, "").await;
    let mut bad = document["rules"][0].clone();
    bad["name"] = json!("Bad");
    bad["rule"]["blocks"] = json!([{ "delay_seconds": 999_999 }]);
    document["rules"]
        .as_array_mut()
        .expect("rules")
        .push(bad.clone());
    let before = app.count("SELECT COUNT(*) FROM rules").await;

    let refused = app
        .send_json(Method::POST, "/api/v1/rules/import", ADMIN, &document)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");

    assert_eq!(
        refused["errors"][0]["path"], "/rules/1/rule/blocks/0/delay_seconds",
        "{refused}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM rules").await,
        before,
        "none of the document's rules is created"
    );

    let mut unreadable = document.clone();
    unreadable["rules"][1]["rule"] =
        json!({ "schema_version": 2, "trigger": { "kind": "no_such" } });
    let refused = app
        .send_json(Method::POST, "/api/v1/rules/import", ADMIN, &unreadable)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(refused["errors"][0]["path"], "/rules/1/rule", "{refused}");

    let mut future = document.clone();
    future["format_version"] = json!(2);
    let refused = app
        .send_json(Method::POST, "/api/v1/rules/import", ADMIN, &future)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(refused["errors"][0]["path"], "/format_version");
}

async fn a_draft_that_is_not_a_rule_is_refused_at_the_rule(backend: Backend) {
    let app = spawn_app(backend).await;
    let refused = app
        .send_json(
            Method::POST,
            "/api/v1/rules/dry-run",
            MEMBER,
            &json!({ "rule": { "schema_version": 2, "trigger": { "kind": "no_such" } }, "entity_id": 1 }),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(refused["errors"][0]["path"], "/rule", "{refused}");
    // A readable draft is replayed like a saved rule: against a stored event.
    app.send_json(
        Method::POST,
        "/api/v1/rules/replay",
        MEMBER,
        &json!({ "rule": rule_json("draft"), "event_id": 1 }),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.send_json(
        Method::POST,
        "/api/v1/rules/dry-run",
        MEMBER,
        &json!({ "rule": rule_json("draft"), "entity_id": 1 }),
    )
    .await
    .expect_problem(StatusCode::CONFLICT, "not_connected");
}

/// Account A (the tests' own): a "Sales" pipeline, Ann (the administrator), a contact phone
/// field under Kommo's code, a select field, a field and a stage and a bot B lacks.
fn account_a() -> Value {
    json!({
        "subdomain": "acme", "id": ACCOUNT,
        "users": [{"id": 7, "name": "Ann"}, {"id": 8, "name": "Bob", "is_admin": false}],
        "pipelines": [{"id": 3104, "name": "Sales", "statuses": [
            {"id": 7001, "name": "New"}, {"id": 7002, "name": "Talks"},
            {"id": 7003, "name": "Only in A"}
        ]}],
        "custom_fields": {
            "leads": [
                {"id": 501, "name": "Order type", "type": "select",
                 "enums": [{"id": 11, "value": "Wholesale"}, {"id": 12, "value": "Retail"}]},
                {"id": 503, "name": "Missed calls", "type": "numeric"}
            ],
            "contacts": [{"id": 601, "name": "Phone", "type": "multitext", "code": "PHONE"}]
        },
        "task_types": [{"id": 3, "name": "Visit"}],
        "bots": [{"id": 55, "name": "Welcome"}, {"id": 56, "name": "Only in A"}]
    })
}

/// Account B: the same names under other ids and in another order, its phone field under
/// another name (and a text field named like A's), its own Ann, and none of A's "Only in A".
fn account_b() -> Value {
    json!({
        "subdomain": "beta", "id": OTHER_ACCOUNT,
        "users": [{"id": 9, "name": "Ann"}],
        "pipelines": [{"id": 4100, "name": "sales", "statuses": [
            {"id": 8001, "name": "Talks"}, {"id": 8002, "name": "New"}
        ]}],
        "custom_fields": {
            "leads": [
                {"id": 801, "name": "Order type", "type": "select",
                 "enums": [{"id": 21, "value": "Retail"}, {"id": 22, "value": "Wholesale"}]}
            ],
            "contacts": [
                {"id": 702, "name": "Phone", "type": "text"},
                {"id": 701, "name": "Teléfono", "type": "multitext", "code": "PHONE"}
            ]
        },
        "task_types": [{"id": 13, "name": "Visit"}],
        "bots": [{"id": 95, "name": "welcome"}]
    })
}

/// Connects `account` (seeded at `subdomain` in the emulator) to the app.
async fn connect(app: &TestApp, kommo: &RunningEmulator, account: i64, subdomain: &str) {
    let db = app.db();
    accounts::ensure_account(db, account, subdomain, START_MS)
        .await
        .expect("account");
    let pair = kommo
        .emulator
        .issue_tokens(subdomain, None)
        .expect("tokens");
    accounts::save_oauth_tokens(
        db,
        &app.state.cipher,
        account,
        &OAuthTokens {
            access_token: SecretString::from(pair.access_token),
            refresh_token: SecretString::from(pair.refresh_token),
            expires_at: (pair.server_time + pair.expires_in) * 1000,
        },
    )
    .await
    .expect("tokens saved");
    engine::set_kommo_base_url(db, account, Some(&kommo.account_url(subdomain)))
        .await
        .expect("base url");
}

/// The app with accounts A and B connected to one emulator.
async fn two_accounts(backend: Backend) -> (TestApp, RunningEmulator) {
    let app = spawn_app_with(backend, json!({"kommo_requests_per_second": 1000})).await;
    let emulator = Emulator::with_clock(
        EmulatorConfig {
            requests_per_second: 1000,
            block_after_excess: 100_000,
            ..EmulatorConfig::default()
        },
        EmulatorClock::frozen(START_MS),
    );
    emulator.seed_json(account_a()).expect("seed A");
    emulator.seed_json(account_b()).expect("seed B");
    let kommo = spawn_on_loopback(emulator).await.expect("emulator");
    connect(&app, &kommo, ACCOUNT, "acme").await;
    connect(&app, &kommo, OTHER_ACCOUNT, "beta").await;
    (app, kommo)
}

/// The `(kind, id, name, reason)` of each unmatched reference of an import report's rule.
fn unmatched(rule: &Value) -> Vec<(String, i64, String, String)> {
    rule["unmatched"]
        .as_array()
        .expect("unmatched")
        .iter()
        .map(|u| {
            (
                u["kind"].as_str().unwrap_or_default().to_owned(),
                u["id"].as_i64().unwrap_or_default(),
                u["name"].as_str().unwrap_or_default().to_owned(),
                u["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn entry(kind: &str, id: i64, name: &str, reason: &str) -> (String, i64, String, String) {
    (kind.into(), id, name.into(), reason.into())
}

async fn import(app: &TestApp, who: As, query: &str, document: &Value) -> Value {
    app.send_json(
        Method::POST,
        &format!("/api/v1/rules/import{query}"),
        who,
        document,
    )
    .await
    .expect(if query.is_empty() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    })
}

async fn an_export_imports_into_another_account_with_stages_bots_and_coded_fields_matched(
    backend: Backend,
) {
    let (app, kommo) = two_accounts(backend).await;
    let everything = json!({
        "schema_version": 2, "name": "Everything",
        "trigger": {"kind": "status_changed", "pipeline_id": 3104, "status_id": 7001},
        "blocks": [{
            "conditions": [
                {"left": {"path": "lead.status_id"}, "op": {"is": "is_one_of"},
                 "right": {"literal": ["7002", "142"]}},
                {"left": {"path": "lead.cf(501)"}, "op": {"is": "equals"},
                 "right": {"literal": "Wholesale"}},
                {"left": {"path": "contact.cf(601)"}, "op": {"is": "is_not_empty"}},
                {"left": {"path": "lead.cf(503)"}, "op": {"is": "greater"},
                 "right": {"literal": 2}}
            ],
            "actions": [
                {"do": {"type": "change_status", "pipeline_id": 3104, "status_id": 7003}},
                {"do": {"type": "create_task", "entity": "lead", "task_type_id": 3,
                        "complete_in_seconds": 3600, "responsible": {"user": 7},
                        "text": "Call {{contact.cf(601)}}"}},
                {"do": {"type": "run_salesbot", "entity": "lead", "bot_id": 55}},
                {"do": {"type": "run_salesbot", "entity": "lead", "bot_id": 56}}
            ]
        }]
    });
    let plain = json!({
        "schema_version": 2, "name": "Plain",
        "trigger": {"kind": "status_changed", "pipeline_id": 3104, "status_id": 7002},
        "blocks": [{"actions": [
            {"do": {"type": "change_status", "pipeline_id": 3104, "status_id": 142}}
        ]}]
    });
    app.create_rule(ADMIN, "Everything", everything)
        .await
        .expect(StatusCode::CREATED);
    app.create_rule(ADMIN, "Plain", plain)
        .await
        .expect(StatusCode::CREATED);

    let document = export(&app, "").await;

    let references = &document["references"];
    assert_eq!(references["pipelines"][0]["name"], "Sales", "{references}");
    let stages: Vec<&str> = references["pipelines"][0]["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| s["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(stages, ["New", "Talks", "Only in A"], "only the named ones");
    assert_eq!(
        references["salesbots"],
        json!([{"id": 55, "name": "Welcome", "active": true},
               {"id": 56, "name": "Only in A", "active": true}])
    );
    assert_eq!(references["task_types"][0]["name"], "Visit");
    let phone = references["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["id"] == 601)
        .expect("the phone field is named");
    assert_eq!(phone["code"], "PHONE");

    let writes_before: Vec<String> = kommo
        .emulator
        .request_log()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let before = app.count("SELECT COUNT(*) FROM rules").await;
    let preview = import(&app, OTHER_ADMIN, "?dry=true", &document).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM rules").await, before);
    let report = import(&app, OTHER_ADMIN, "", &document).await;

    let expected_unmatched = vec![
        entry(
            "field",
            503,
            "Missed calls",
            "this account has no lead field named 'Missed calls'",
        ),
        entry(
            "stage",
            7003,
            "Sales / Only in A",
            "pipeline 'sales' has no stage named 'Only in A' in this account",
        ),
        entry(
            "salesbot",
            56,
            "Only in A",
            "this account has no Salesbot named 'Only in A'",
        ),
    ];
    for answer in [&preview, &report] {
        let rules = answer["rules"].as_array().expect("rules");
        assert_eq!(rules.len(), 2, "one entry per rule: {answer}");
        assert_eq!(unmatched(&rules[0]), expected_unmatched, "{answer}");
        assert_eq!(unmatched(&rules[1]), [], "{answer}");
        assert!(rules.iter().all(|r| r["enabled"] == false));
    }
    assert_eq!(preview["rules"][0]["id"], Value::Null);

    let id = report["rules"][0]["id"].as_i64().expect("created");
    let created = app.get_rule(OTHER_ADMIN, id).await.expect(StatusCode::OK);
    assert_eq!(
        created["enabled"], false,
        "an imported rule starts disabled"
    );
    let rule = &created["rule"];
    assert_eq!(
        (
            &rule["trigger"]["pipeline_id"],
            &rule["trigger"]["status_id"]
        ),
        (&json!(4100), &json!(8002)),
        "the pipeline by name, the stage by name within it"
    );
    let conditions = &rule["blocks"][0]["conditions"];
    assert_eq!(conditions[0]["right"]["literal"], json!(["8001", "142"]));
    assert_eq!(conditions[1]["left"]["path"], "lead.cf(801)");
    assert_eq!(
        conditions[2]["left"]["path"], "contact.cf(701)",
        "the phone by its code, not the field named like it"
    );
    assert_eq!(
        conditions[3]["left"]["path"], "lead.cf(503)",
        "unmatched stays"
    );
    let actions = &rule["blocks"][0]["actions"];
    assert_eq!(actions[0]["do"]["pipeline_id"], 4100);
    assert_eq!(actions[0]["do"]["status_id"], 7003, "unmatched stays");
    assert_eq!(actions[1]["do"]["task_type_id"], 13);
    assert_eq!(actions[1]["do"]["responsible"], json!({"user": 9}));
    assert_eq!(actions[1]["do"]["text"], "Call {{contact.cf(701)}}");
    assert_eq!(actions[2]["do"]["bot_id"], 95);
    assert_eq!(actions[3]["do"]["bot_id"], 56);
    let plain = app
        .get_rule(
            OTHER_ADMIN,
            report["rules"][1]["id"].as_i64().expect("created"),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(plain["enabled"], false);
    assert_eq!(plain["rule"]["trigger"]["status_id"], 8001);
    assert_eq!(
        plain["rule"]["blocks"][0]["actions"][0]["do"]["status_id"],
        142
    );
    assert_eq!(
        kommo
            .emulator
            .request_log()
            .into_iter()
            .filter(|r| r.method != "GET")
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>(),
        writes_before,
        "an import writes nothing to Kommo"
    );

    // What stayed unmatched keeps the rule from running until it is fixed.
    let refused = app
        .set_rule_enabled(OTHER_ADMIN, id, true)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let codes: Vec<&str> = refused["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["code"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        codes,
        ["unknown_field", "unknown_stage", "unknown_salesbot"],
        "{refused}"
    );
    // Back home, every id is kept and nothing is unmatched.
    let home = import(&app, ADMIN, "?dry=true", &document).await;
    assert_eq!(unmatched(&home["rules"][0]), []);
    assert_eq!(home["rules"][0]["name"], "Everything (imported)");
}
