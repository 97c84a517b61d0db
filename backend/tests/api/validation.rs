//! Rules are checked before they are stored or enabled: `domain::validate`'s limits answer 422 with
//! a JSON pointer per problem, on create, save and enable. (What a rule names of the account is
//! checked once the backend has read the account's fields and users: `tests/tests/validation.rs`.)

use axum::http::StatusCode;
use domain::validate::{MAX_BLOCKS, MAX_TIMER_SECONDS};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend, ACCOUNT, ADMIN, START_MS};

crate::on_both_databases!(
    a_rule_with_51_blocks_is_refused_at_the_first_block_too_many,
    a_save_over_the_limits_is_refused_and_keeps_the_stored_version,
    a_zero_second_run_interval_is_refused_at_its_pointer,
    timers_of_zero_seconds_or_over_99_years_are_refused_at_their_pointer,
    every_problem_of_a_rule_is_answered_at_once,
    a_stored_rule_over_the_limits_is_not_enabled,
    without_the_accounts_fields_a_rule_naming_a_custom_field_is_stored,
);

/// A lead rule with `blocks`, and `extra` top-level members merged in.
fn rule_with(blocks: Value, extra: Value) -> Value {
    let mut rule = json!({
        "schema_version": 2,
        "name": "rule",
        "trigger": { "kind": "entity_updated", "entity": "lead" },
        "blocks": blocks,
    });
    if let (Some(rule), Some(extra)) = (rule.as_object_mut(), extra.as_object()) {
        rule.extend(extra.clone());
    }
    rule
}

/// A rule whose one action adds a note after `timer`.
fn timed_rule(timer: Value) -> Value {
    rule_with(
        json!([{ "actions": [{ "timer": timer,
            "do": { "type": "add_note", "entity": "lead", "text": "later" } }] }]),
        json!({}),
    )
}

fn blocks(count: usize) -> Value {
    Value::Array((0..count).map(|_| json!({})).collect())
}

/// The (path, code) of each field error of a problem.
fn paths_and_codes(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .expect("field errors")
        .iter()
        .map(|e| {
            assert!(
                e["message"].as_str().is_some_and(|m| !m.is_empty()),
                "each error says what is wrong: {e}"
            );
            (
                e["path"].as_str().unwrap_or_default().to_owned(),
                e["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn at(path: &str, code: &str) -> (String, String) {
    (path.to_owned(), code.to_owned())
}

async fn a_rule_with_51_blocks_is_refused_at_the_first_block_too_many(backend: Backend) {
    let app = spawn_app(backend).await;

    let refused = app
        .create_rule(ADMIN, "Huge", rule_with(blocks(MAX_BLOCKS + 1), json!({})))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let at_limit = app
        .create_rule(ADMIN, "Big", rule_with(blocks(MAX_BLOCKS), json!({})))
        .await;

    assert_eq!(
        paths_and_codes(&refused),
        vec![at("/blocks/50", "too_many")]
    );
    assert!(
        refused["detail"]
            .as_str()
            .is_some_and(|d| d.contains("/blocks/50") && d.contains("at most 50 blocks")),
        "{refused}"
    );
    at_limit.expect(StatusCode::CREATED);
    let names: Vec<Value> = app
        .list_rules(ADMIN)
        .await
        .expect(StatusCode::OK)
        .as_array()
        .expect("list")
        .iter()
        .map(|r| r["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("Big")]);
}

async fn a_save_over_the_limits_is_refused_and_keeps_the_stored_version(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.given_a_rule("Kept").await;

    let refused = app
        .save_rule(
            ADMIN,
            id,
            &json!({ "name": "Kept", "rule": rule_with(blocks(120), json!({"frequency": {"min_interval_seconds": 0}})) }),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");

    assert_eq!(
        paths_and_codes(&refused),
        vec![
            at("/frequency/min_interval_seconds", "out_of_range"),
            at("/blocks/50", "too_many"),
        ]
    );
    let stored = app.get_rule(ADMIN, id).await.expect(StatusCode::OK);
    assert_eq!(stored["version"], 1);
    assert_eq!(stored["rule"]["description"], "given");
}

async fn a_zero_second_run_interval_is_refused_at_its_pointer(backend: Backend) {
    let app = spawn_app(backend).await;

    let zero = app
        .create_rule(
            ADMIN,
            "Eager",
            rule_with(json!([]), json!({"frequency": {"min_interval_seconds": 0}})),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let five = app
        .create_rule(
            ADMIN,
            "Calm",
            rule_with(json!([]), json!({"frequency": {"min_interval_seconds": 5}})),
        )
        .await;

    assert_eq!(
        paths_and_codes(&zero),
        vec![at("/frequency/min_interval_seconds", "out_of_range")]
    );
    five.expect(StatusCode::CREATED);
}

async fn timers_of_zero_seconds_or_over_99_years_are_refused_at_their_pointer(backend: Backend) {
    let app = spawn_app(backend).await;
    let amount = "/blocks/0/actions/0/timer/amount";

    let zero = app
        .create_rule(
            ADMIN,
            "Zero",
            timed_rule(json!({"kind": "after", "amount": 0, "unit": "seconds"})),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let over = app
        .create_rule(
            ADMIN,
            "Forever",
            timed_rule(
                json!({"kind": "after", "amount": MAX_TIMER_SECONDS + 1, "unit": "seconds"}),
            ),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let one = app
        .create_rule(
            ADMIN,
            "One second",
            timed_rule(json!({"kind": "after", "amount": 1, "unit": "seconds"})),
        )
        .await;
    let longest = app
        .create_rule(
            ADMIN,
            "99 years",
            timed_rule(json!({"kind": "after", "amount": MAX_TIMER_SECONDS, "unit": "seconds"})),
        )
        .await;

    assert_eq!(paths_and_codes(&zero), vec![at(amount, "out_of_range")]);
    assert_eq!(paths_and_codes(&over), vec![at(amount, "out_of_range")]);
    one.expect(StatusCode::CREATED);
    longest.expect(StatusCode::CREATED);
}

async fn every_problem_of_a_rule_is_answered_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let note = json!({ "do": { "type": "add_note", "entity": "lead", "text": "hi" } });
    let condition = json!({ "left": { "path": "lead.name" }, "op": { "is": "is_not_empty" } });

    let refused = app
        .create_rule(
            ADMIN,
            "Crowded",
            rule_with(
                json!([{ "conditions": vec![condition; 51], "actions": vec![note.clone(); 51] },
                       { "actions": [{ "do": { "type": "add_note", "entity": "lead", "text": "{{lead.nmae}}" } }] }]),
                json!({ "else_scenario": { "actions": vec![note; 51] } }),
            ),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");

    assert_eq!(
        paths_and_codes(&refused),
        vec![
            at("/blocks/0/conditions/50", "too_many"),
            at("/blocks/0/actions/50", "too_many"),
            at("/blocks/1/actions/0/do/text", "invalid_template"),
            at("/else_scenario/actions/50", "too_many"),
        ]
    );
    assert!(
        refused["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("The rule has 4 problems")),
        "{refused}"
    );
}

async fn a_stored_rule_over_the_limits_is_not_enabled(backend: Backend) {
    let app = spawn_app(backend).await;
    app.given_a_rule("Valid").await;
    // Stored before rules were checked: written by the store directly, as it was then.
    let legacy = rulebook::store::rules::create(
        &app.state.db,
        ACCOUNT,
        ADMIN.user_id,
        &rulebook::store::rules::RuleName::parse("Legacy").expect("name"),
        &rulebook::store::rules::parse_rule_body(rule_with(blocks(51), json!({}))).expect("body"),
        START_MS,
    )
    .await
    .expect("stored")
    .id;

    let disabled = app.set_rule_enabled(ADMIN, legacy, false).await;
    let enabled = app.set_rule_enabled(ADMIN, legacy, true).await;

    assert_eq!(disabled.expect(StatusCode::OK)["enabled"], false);
    let refused = enabled.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(
        paths_and_codes(&refused),
        vec![at("/blocks/50", "too_many")]
    );
    assert_eq!(
        app.get_rule(ADMIN, legacy).await.expect(StatusCode::OK)["enabled"],
        false
    );
}

async fn without_the_accounts_fields_a_rule_naming_a_custom_field_is_stored(backend: Backend) {
    // This account was never read from Kommo (it is not even connected): saving does not ask
    // Kommo for its fields and users, so only the limits are checked.
    let app = spawn_app(backend).await;

    let created = app
        .create_rule(
            ADMIN,
            "Unknown field",
            rule_with(
                json!([{ "conditions": [{ "left": { "path": "lead.cf(999999)" }, "op": { "is": "is_not_empty" } }],
                         "actions": [{ "do": { "type": "change_responsible", "entity": "lead", "user": { "user": 424242 } } }] }]),
                json!({}),
            ),
        )
        .await;

    created.expect(StatusCode::CREATED);
}
