//! Rule operations: duplicate, move in the list, restore a version, export and import (with the
//! preview), and the draft dry run's refusals that need no Kommo.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{rule_json, spawn_app, Backend, TestApp, ACCOUNT, ADMIN, MEMBER};

crate::on_both_databases!(
    a_duplicate_is_a_disabled_copy_under_a_free_name,
    a_rule_moved_in_the_list_is_listed_there,
    restoring_a_version_saves_it_as_the_newest,
    an_export_imports_back_as_disabled_rules_under_free_names,
    an_import_preview_reports_and_writes_nothing,
    an_invalid_rule_in_an_import_is_refused_at_its_index,
    a_draft_that_is_not_a_rule_is_refused_at_the_rule,
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
