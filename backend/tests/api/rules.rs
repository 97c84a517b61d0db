//! Rules: CRUD, version history, optimistic concurrency, admin-only writes, tenant isolation.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{
    rule_json, spawn_app, Backend, ACCOUNT, ADMIN, MEMBER, OTHER_ADMIN, START_MS,
};

crate::on_both_databases!(
    an_admin_creates_a_rule_and_reads_it_back,
    each_save_adds_a_version_to_the_history,
    a_save_based_on_a_stale_version_is_refused,
    a_second_rule_with_the_same_name_is_refused,
    a_member_reads_rules_but_cannot_change_them,
    rules_of_another_account_are_invisible,
    bad_rule_bodies_get_a_problem_with_a_code,
    a_disabled_rule_can_be_enabled_again,
    deleting_a_rule_removes_its_history_and_jobs,
    creating_a_rule_kommo_cannot_serve_is_refused_at_the_field,
    saving_a_rule_kommo_cannot_serve_is_refused_and_keeps_the_stored_version,
    a_stored_rule_kommo_cannot_serve_still_lists_but_is_not_enabled,
);

async fn an_admin_creates_a_rule_and_reads_it_back(backend: Backend) {
    let app = spawn_app(backend).await;

    let created = app
        .create_rule(ADMIN, "  Wholesale ", rule_json("wholesale"))
        .await;

    let created = created.expect(StatusCode::CREATED);
    assert_eq!(created["name"], "Wholesale");
    assert_eq!(created["version"], 1);
    assert_eq!(created["enabled"], true);
    let record: domain::api::RuleRecord =
        serde_json::from_value(created.clone()).expect("the widget's RuleRecord reads the answer");
    let id = record.id;
    let read = app.get_rule(ADMIN, id).await.expect(StatusCode::OK);
    assert_eq!(read["rule"]["description"], "wholesale");
    assert_eq!(
        read["rule"]["schema_version"],
        domain::rule::CURRENT_SCHEMA_VERSION
    );
    assert_eq!(read["inbound_hook_key"], created["inbound_hook_key"]);
    let list = app.list_rules(ADMIN).await.expect(StatusCode::OK);
    assert_eq!(list.as_array().expect("list").len(), 1);
    assert_eq!(list[0]["name"], "Wholesale");
}

async fn each_save_adds_a_version_to_the_history(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.given_a_rule("Retail").await;

    let saved = app
        .save_rule(
            ADMIN,
            id,
            &json!({ "name": "Retail 2", "rule": rule_json("step 2") }),
        )
        .await;
    app.save_rule(
        ADMIN,
        id,
        &json!({ "name": "Retail 3", "rule": rule_json("step 3"), "expected_version": 2 }),
    )
    .await
    .expect(StatusCode::OK);

    assert_eq!(saved.expect(StatusCode::OK)["version"], 2);
    let history = app.rule_history(MEMBER, id).await.expect(StatusCode::OK);
    let versions: Vec<_> = history
        .as_array()
        .expect("list")
        .iter()
        .map(|v| v["version"].as_i64())
        .collect();
    assert_eq!(versions, vec![Some(3), Some(2), Some(1)]);
    assert_eq!(history[0]["rule"]["description"], "step 3");
    assert_eq!(history[1]["name"], "Retail 2");
    assert_eq!(history[2]["rule"]["description"], "given");
    assert_eq!(history[0]["saved_by"], ADMIN.user_id);
}

async fn a_save_based_on_a_stale_version_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.given_a_rule("Stale").await;
    app.save_rule(
        ADMIN,
        id,
        &json!({ "name": "Stale", "rule": rule_json("a"), "expected_version": 1 }),
    )
    .await
    .expect(StatusCode::OK);

    let stale = app
        .save_rule(
            ADMIN,
            id,
            &json!({ "name": "Stale", "rule": rule_json("b"), "expected_version": 1 }),
        )
        .await;

    stale.expect_problem(StatusCode::CONFLICT, "version_conflict");
    let read = app.get_rule(ADMIN, id).await.expect(StatusCode::OK);
    assert_eq!(read["rule"]["description"], "a");
    assert_eq!(read["version"], 2);
}

async fn a_second_rule_with_the_same_name_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.given_a_rule("Twin").await;
    let other = app.given_a_rule("Other").await;

    app.create_rule(ADMIN, "Twin", rule_json("any"))
        .await
        .expect_problem(StatusCode::CONFLICT, "duplicate");
    app.save_rule(
        ADMIN,
        other,
        &json!({ "name": "Twin", "rule": rule_json("any") }),
    )
    .await
    .expect_problem(StatusCode::CONFLICT, "duplicate");

    // Another account may use the name.
    app.create_rule(OTHER_ADMIN, "Twin", rule_json("any"))
        .await
        .expect(StatusCode::CREATED);
}

async fn a_member_reads_rules_but_cannot_change_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.given_a_rule("Guarded").await;

    app.get_rule(MEMBER, id).await.expect(StatusCode::OK);
    app.create_rule(MEMBER, "Mine", rule_json("any"))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "admin_required");
    app.save_rule(
        MEMBER,
        id,
        &json!({ "name": "x", "rule": rule_json("any") }),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "admin_required");
    app.set_rule_enabled(MEMBER, id, false)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "admin_required");
    app.delete_rule(MEMBER, id)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "admin_required");

    assert_eq!(
        app.get_rule(ADMIN, id).await.expect(StatusCode::OK)["version"],
        1
    );
}

async fn rules_of_another_account_are_invisible(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.given_a_rule("Private").await;

    app.get_rule(OTHER_ADMIN, id)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.save_rule(
        OTHER_ADMIN,
        id,
        &json!({ "name": "Hijack", "rule": rule_json("any") }),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.delete_rule(OTHER_ADMIN, id)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.rule_history(OTHER_ADMIN, id)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        app.list_rules(OTHER_ADMIN).await.expect(StatusCode::OK),
        json!([])
    );
    assert_eq!(
        app.get_rule(ADMIN, id).await.expect(StatusCode::OK)["name"],
        "Private"
    );
}

async fn bad_rule_bodies_get_a_problem_with_a_code(backend: Backend) {
    let app = spawn_app(backend).await;

    let not_object = app.create_rule(ADMIN, "Array", json!([1, 2])).await;
    let body = not_object.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(body["errors"][0]["path"], "");
    assert_eq!(body["errors"][0]["code"], "not_an_object");
    let not_a_rule = app
        .create_rule(
            ADMIN,
            "Unknown",
            json!({ "schema_version": 2, "trigger": { "kind": "x" } }),
        )
        .await;
    let body = not_a_rule.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(body["errors"][0]["code"], "bad_shape");
    app.create_rule(ADMIN, "   ", rule_json("any"))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    app.send(
        Method::POST,
        "/api/v1/rules",
        Some(ADMIN),
        Some(b"{not json".to_vec()),
        Some("application/json"),
        &[],
    )
    .await
    .expect_problem(StatusCode::BAD_REQUEST, "bad_json");
    app.get_rule(ADMIN, 999)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.get("/api/v1/rules/abc", ADMIN)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.send(Method::GET, "/api/v1/rules", None, None, None, &[])
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "token_missing");
    assert_eq!(
        app.list_rules(ADMIN).await.expect(StatusCode::OK),
        json!([])
    );
}

async fn a_disabled_rule_can_be_enabled_again(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.given_a_rule("Switch").await;

    assert_eq!(
        app.set_rule_enabled(ADMIN, id, false)
            .await
            .expect(StatusCode::OK)["enabled"],
        false
    );
    assert_eq!(
        app.get_rule(ADMIN, id).await.expect(StatusCode::OK)["enabled"],
        false
    );
    assert_eq!(
        app.set_rule_enabled(ADMIN, id, true)
            .await
            .expect(StatusCode::OK)["enabled"],
        true
    );
    assert_eq!(
        app.get_rule(ADMIN, id).await.expect(StatusCode::OK)["version"],
        1
    );
}

async fn deleting_a_rule_removes_its_history_and_jobs(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.given_a_rule("Doomed").await;
    let keep = app.given_a_rule("Kept").await;
    for rule_id in [id, keep] {
        let mut job = rulebook::queue::NewJob::new(
            crate::helpers::ACCOUNT,
            rulebook::queue::kinds::RUN_DELAYED_ACTION,
            json!({}),
            crate::helpers::START_MS + 60_000,
        );
        job.rule_id = Some(rule_id);
        app.queue().enqueue(&job).await.expect("enqueue");
    }

    app.delete_rule(ADMIN, id)
        .await
        .expect(StatusCode::NO_CONTENT);

    app.get_rule(ADMIN, id)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM rule_versions WHERE rule_id = {id}"
        ))
        .await,
        0
    );
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) FROM jobs WHERE rule_id = {id}"))
            .await,
        0
    );
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) FROM jobs WHERE rule_id = {keep}"))
            .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM rule_versions WHERE rule_id = {keep}"
        ))
        .await,
        1
    );
}

/// A rule started when a client reads an outgoing message: Kommo tells integrations no such thing.
fn outgoing_message_seen_rule() -> serde_json::Value {
    json!({
        "schema_version": 2,
        "name": "rule",
        "trigger": { "kind": "outgoing_message_seen", "delay_seconds": 60 },
    })
}

/// A rule whose second action of its first block, and first else action, subscribe users to the
/// lead's chat: Kommo's public API has no such call.
fn chat_subscription_rule() -> serde_json::Value {
    let subscribe =
        json!({ "do": { "type": "chat_subscription", "subscribe": true, "user_ids": [1] } });
    json!({
        "schema_version": 2,
        "name": "rule",
        "trigger": { "kind": "entity_added", "entity": "lead" },
        "blocks": [{
            "conditions": [],
            "actions": [
                { "do": { "type": "change_tags", "entity": "lead", "change": "add", "tags": "new" } },
                subscribe,
            ],
        }],
        "else_scenario": { "actions": [subscribe] },
    })
}

/// The paths and codes of a problem's field errors.
fn field_errors(body: &serde_json::Value) -> Vec<(String, String)> {
    body["errors"]
        .as_array()
        .expect("field errors")
        .iter()
        .map(|e| {
            assert!(
                e["message"].as_str().is_some_and(|m| m.contains("Kommo")),
                "the message says why: {e}"
            );
            (
                e["path"].as_str().unwrap_or_default().to_string(),
                e["code"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn unavailable(path: &str) -> (String, String) {
    (path.to_string(), "unavailable_in_kommo".to_string())
}

async fn creating_a_rule_kommo_cannot_serve_is_refused_at_the_field(backend: Backend) {
    let app = spawn_app(backend).await;

    let seen = app
        .create_rule(ADMIN, "Seen", outgoing_message_seen_rule())
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "unavailable_in_kommo");
    let subscription = app
        .create_rule(ADMIN, "Subscribe", chat_subscription_rule())
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "unavailable_in_kommo");

    assert_eq!(field_errors(&seen), vec![unavailable("/trigger")]);
    assert!(seen["detail"]
        .as_str()
        .is_some_and(|d| d.contains("reads a message")));
    assert_eq!(
        field_errors(&subscription),
        vec![
            unavailable("/blocks/0/actions/1"),
            unavailable("/else_scenario/actions/0")
        ]
    );
    assert_eq!(
        app.list_rules(ADMIN).await.expect(StatusCode::OK),
        json!([])
    );
}

async fn saving_a_rule_kommo_cannot_serve_is_refused_and_keeps_the_stored_version(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let id = app.given_a_rule("Editable").await;

    let seen = app
        .save_rule(
            ADMIN,
            id,
            &json!({ "name": "Editable", "rule": outgoing_message_seen_rule() }),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "unavailable_in_kommo");
    let subscription = app
        .save_rule(
            ADMIN,
            id,
            &json!({ "name": "Editable", "rule": chat_subscription_rule(), "expected_version": 1 }),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "unavailable_in_kommo");

    assert_eq!(field_errors(&seen), vec![unavailable("/trigger")]);
    assert_eq!(
        field_errors(&subscription)[0],
        unavailable("/blocks/0/actions/1")
    );
    let stored = app.get_rule(ADMIN, id).await.expect(StatusCode::OK);
    assert_eq!(stored["version"], 1);
    assert_eq!(stored["rule"]["trigger"]["kind"], "entity_added");
}

async fn a_stored_rule_kommo_cannot_serve_still_lists_but_is_not_enabled(backend: Backend) {
    let app = spawn_app(backend).await;
    app.given_a_rule("Valid").await;
    // Saved before saves were checked: written by the store directly, as it was then.
    let legacy = rulebook::store::rules::create(
        &app.state.db,
        ACCOUNT,
        ADMIN.user_id,
        &rulebook::store::rules::RuleName::parse("Legacy").expect("name"),
        &rulebook::store::rules::parse_rule_body(chat_subscription_rule()).expect("body"),
        START_MS,
    )
    .await
    .expect("stored")
    .id;

    let list = app.list_rules(ADMIN).await.expect(StatusCode::OK);
    let read = app.get_rule(ADMIN, legacy).await.expect(StatusCode::OK);
    let disabled = app.set_rule_enabled(ADMIN, legacy, false).await;
    let enabled = app.set_rule_enabled(ADMIN, legacy, true).await;

    assert_eq!(list.as_array().expect("list").len(), 2);
    assert_eq!(
        read["rule"]["blocks"][0]["actions"][1]["do"]["type"],
        "chat_subscription"
    );
    assert_eq!(disabled.expect(StatusCode::OK)["enabled"], false);
    let refused = enabled.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "unavailable_in_kommo");
    assert_eq!(
        field_errors(&refused)[0],
        unavailable("/blocks/0/actions/1")
    );
    assert_eq!(
        app.get_rule(ADMIN, legacy).await.expect(StatusCode::OK)["enabled"],
        false
    );
}
