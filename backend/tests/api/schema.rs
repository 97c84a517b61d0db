//! The account's schema (`/api/v1/account/schema`): read from Kommo (the emulator) through the
//! client, stored and cached per account, re-read on demand and when older than
//! `schema_max_age_s`; and rules are checked against it on save and enable, each problem at its
//! JSON pointer.

use axum::http::{Method, StatusCode};
use kommo_emulator::{spawn_on_loopback, Emulator, EmulatorClock, EmulatorConfig, RunningEmulator};
use rulebook::{
    engine,
    store::accounts::{self, OAuthTokens},
};
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::helpers::*;

crate::on_both_databases!(
    the_schema_holds_what_the_account_is_made_of,
    a_hundred_schema_requests_read_each_kommo_endpoint_once,
    concurrent_requests_for_a_cold_schema_read_kommo_once,
    a_refresh_reads_again_and_only_administrators_may_ask,
    a_schema_older_than_the_setting_is_read_again,
    a_rule_naming_a_deleted_field_is_refused_at_its_pointer_after_a_refresh,
    stages_users_list_values_and_operators_are_checked_against_the_schema,
    an_account_never_sees_another_accounts_schema,
);

const SUBDOMAIN: &str = "acme";
const WHOLESALE_FIELD: i64 = 501;
const COMMENT_FIELD: i64 = 502;
const SALES: i64 = 3104;
const NEW_STAGE: i64 = 7001;

/// The account the tests act as, seeded in the emulator.
fn seed() -> Value {
    json!({
        "subdomain": SUBDOMAIN, "id": ACCOUNT, "timezone": "Europe/Madrid", "language": "es",
        "users": [
            {"id": 7, "name": "Ann", "group_id": 70},
            {"id": 8, "name": "Bob", "is_admin": false, "is_active": false}
        ],
        "user_groups": [{"id": 70, "name": "Sales team"}],
        "pipelines": [{"id": SALES, "name": "Sales", "statuses": [
            {"id": NEW_STAGE, "name": "New"}, {"id": 7002, "name": "Talks"}
        ]}],
        "custom_fields": {"leads": [
            {"id": WHOLESALE_FIELD, "name": "Order type", "type": "select",
             "enums": [{"id": 11, "value": "Wholesale"}, {"id": 12, "value": "Retail"}]},
            {"id": COMMENT_FIELD, "name": "Comment", "type": "text"}
        ]},
        "task_types": [{"id": 3, "name": "Visit"}],
        "loss_reasons": [{"id": 41, "name": "Too expensive"}],
        "bots": [{"id": 55, "name": "Welcome"}],
        "entities": {"leads": [{"name": "Lead", "_embedded": {"tags": [{"name": "vip"}]}}]}
    })
}

/// The app with its account connected to a seeded emulator.
async fn connected_app(backend: Backend, overrides: Value) -> (TestApp, RunningEmulator) {
    let mut settings = json!({"kommo_requests_per_second": 1000});
    if let (Some(s), Some(o)) = (settings.as_object_mut(), overrides.as_object()) {
        s.extend(o.clone());
    }
    let app = spawn_app_with(backend, settings).await;
    let emulator = Emulator::with_clock(
        EmulatorConfig {
            requests_per_second: 1000,
            block_after_excess: 100_000,
            ..EmulatorConfig::default()
        },
        EmulatorClock::frozen(START_MS),
    );
    emulator.seed_json(seed()).expect("seed");
    let kommo = spawn_on_loopback(emulator).await.expect("emulator");
    let db = app.db();
    accounts::ensure_account(db, ACCOUNT, SUBDOMAIN, START_MS)
        .await
        .expect("account");
    let pair = kommo
        .emulator
        .issue_tokens(SUBDOMAIN, None)
        .expect("tokens");
    accounts::save_oauth_tokens(
        db,
        &app.state.cipher,
        ACCOUNT,
        &OAuthTokens {
            access_token: SecretString::from(pair.access_token),
            refresh_token: SecretString::from(pair.refresh_token),
            expires_at: (pair.server_time + pair.expires_in) * 1000,
        },
    )
    .await
    .expect("tokens saved");
    engine::set_kommo_base_url(db, ACCOUNT, Some(&kommo.account_url(SUBDOMAIN)))
        .await
        .expect("base url");
    (app, kommo)
}

/// How many times each Kommo path (without its query) was requested.
fn requests_per_endpoint(kommo: &RunningEmulator) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for entry in kommo.emulator.request_log() {
        let path = entry.path.split('?').next().unwrap_or_default().to_owned();
        let path = path
            .strip_prefix(&format!("/{SUBDOMAIN}"))
            .unwrap_or(&path)
            .to_owned();
        match counts.iter_mut().find(|(p, _)| *p == path) {
            Some((_, n)) => *n += 1,
            None => counts.push((path, 1)),
        }
    }
    counts.sort();
    counts
}

/// Every endpoint one schema read asks, once each.
fn one_read_each() -> Vec<(String, usize)> {
    let mut expected: Vec<(String, usize)> = [
        "/api/v4/account",
        "/api/v4/users",
        "/api/v4/leads/pipelines",
        "/api/v4/leads/custom_fields",
        "/api/v4/contacts/custom_fields",
        "/api/v4/companies/custom_fields",
        "/api/v4/leads/tags",
        "/api/v4/contacts/tags",
        "/api/v4/companies/tags",
        "/api/v4/bots",
        "/api/v4/leads/loss_reasons",
    ]
    .into_iter()
    .map(|p| (p.to_owned(), 1))
    .collect();
    expected.sort();
    expected
}

fn times(reads: usize) -> Vec<(String, usize)> {
    one_read_each()
        .into_iter()
        .map(|(p, _)| (p, reads))
        .collect()
}

async fn schema(app: &TestApp, who: As) -> Value {
    app.get("/api/v1/account/schema", who)
        .await
        .expect(StatusCode::OK)
}

async fn refresh(app: &TestApp, who: As) -> crate::helpers::TestResponse {
    app.send_json(
        Method::POST,
        "/api/v1/account/schema/refresh",
        who,
        &json!({}),
    )
    .await
}

async fn the_schema_holds_what_the_account_is_made_of(backend: Backend) {
    let (app, _kommo) = connected_app(backend, json!({})).await;

    let body = schema(&app, MEMBER).await;

    // The answer is the domain's type: the widget reads it as it is.
    let typed: domain::schema::Schema = serde_json::from_value(body.clone()).expect("a Schema");
    assert_eq!(
        (
            typed.timezone.as_str(),
            typed.currency.as_str(),
            typed.language.as_str()
        ),
        ("Europe/Madrid", "USD", "es")
    );
    assert_eq!(typed.fetched_at, Some(START_MS / 1000));
    let pipelines = typed.pipelines.expect("pipelines known");
    let stages: Vec<(i64, &str, domain::schema::StageKind)> = pipelines[0]
        .stages
        .iter()
        .map(|s| (s.id, s.name.as_str(), s.kind))
        .collect();
    use domain::schema::StageKind::*;
    assert_eq!(
        stages,
        vec![
            (NEW_STAGE, "New", Unsorted),
            (7002, "Talks", Open),
            (142, "Closed - won", Won),
            (143, "Closed - lost", Lost)
        ]
    );
    assert!(pipelines[0].stages.iter().all(|s| s.color.starts_with('#')));
    let users = typed.users.expect("users known");
    assert_eq!(
        users
            .iter()
            .map(|u| (u.id, u.active, u.admin, u.group_id))
            .collect::<Vec<_>>(),
        vec![(7, true, true, Some(70)), (8, false, false, None)]
    );
    assert_eq!(typed.user_groups[0].name, "Sales team");
    let order_type = typed
        .fields
        .iter()
        .find(|f| f.id == WHOLESALE_FIELD)
        .expect("the lead field");
    assert_eq!(
        (
            order_type.kommo_type.as_str(),
            order_type.enums.len(),
            order_type.entity
        ),
        ("select", 2, domain::path::EntityType::Lead)
    );
    assert!(
        typed
            .fields
            .iter()
            .any(|f| f.code.as_deref() == Some("PHONE")
                && f.entity == domain::path::EntityType::Contact),
        "contacts' own fields are there too"
    );
    assert_eq!(
        typed
            .task_types
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        vec!["Follow-up", "Meeting", "Visit"]
    );
    assert_eq!(
        typed
            .tags
            .iter()
            .map(|t| (t.entity, t.name.as_str()))
            .collect::<Vec<_>>(),
        vec![(domain::path::EntityType::Lead, "vip")]
    );
    assert_eq!(typed.salesbots.expect("bots known")[0].name, "Welcome");
    assert_eq!(typed.loss_reasons[0].name, "Too expensive");
}

async fn a_hundred_schema_requests_read_each_kommo_endpoint_once(backend: Backend) {
    let (app, kommo) = connected_app(backend, json!({})).await;

    let first = schema(&app, MEMBER).await;
    for _ in 0..99 {
        assert_eq!(schema(&app, MEMBER).await, first);
    }

    assert_eq!(requests_per_endpoint(&kommo), one_read_each());
    // Validation reads the same cached schema.
    app.create_rule(ADMIN, "Cached", rule_json("cached"))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(requests_per_endpoint(&kommo), one_read_each());
}

async fn concurrent_requests_for_a_cold_schema_read_kommo_once(backend: Backend) {
    let (app, kommo) = connected_app(backend, json!({})).await;

    let answers =
        futures::future::join_all((0..10).map(|_| app.get("/api/v1/account/schema", MEMBER))).await;

    assert!(answers.iter().all(|a| a.status == StatusCode::OK));
    assert_eq!(requests_per_endpoint(&kommo), one_read_each());
}

async fn a_refresh_reads_again_and_only_administrators_may_ask(backend: Backend) {
    let (app, kommo) = connected_app(backend, json!({})).await;
    schema(&app, MEMBER).await;

    refresh(&app, MEMBER)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "admin_required");
    assert_eq!(requests_per_endpoint(&kommo), times(1));
    kommo
        .emulator
        .call(SUBDOMAIN, "DELETE", "v4/leads/custom_fields/502", None)
        .expect("field deleted");
    app.clock.advance(std::time::Duration::from_secs(1));
    let refreshed = refresh(&app, ADMIN).await.expect(StatusCode::OK);

    assert_eq!(requests_per_endpoint(&kommo), times(2));
    assert_eq!(refreshed["fetched_at"], json!(START_MS / 1000 + 1));
    let read = schema(&app, MEMBER).await;
    assert_eq!(read, refreshed, "what a refresh read is what is served");
    assert!(!read.to_string().contains("\"Comment\""));
}

async fn a_schema_older_than_the_setting_is_read_again(backend: Backend) {
    let (app, kommo) = connected_app(backend, json!({"schema_max_age_s": 600})).await;
    schema(&app, MEMBER).await;

    app.clock.advance(std::time::Duration::from_secs(600));
    schema(&app, MEMBER).await;
    assert_eq!(
        requests_per_endpoint(&kommo),
        times(1),
        "600 s old: still fresh"
    );

    app.clock.advance(std::time::Duration::from_millis(1));
    let again = schema(&app, MEMBER).await;
    assert_eq!(requests_per_endpoint(&kommo), times(2), "older: read again");
    assert_eq!(again["fetched_at"], json!(START_MS / 1000 + 600));

    // Another process on the same database reuses the stored read.
    let other = connect_state(&app.database_url, &app.clock).await;
    let stored = other
        .engine
        .account_schema(ACCOUNT)
        .await
        .expect("stored schema");
    // What is stored is Kommo's read; the served copy adds the zone's UTC offsets for the widget.
    let mut read = again.clone();
    read.as_object_mut()
        .expect("object")
        .remove("utc_offsets")
        .expect("served with the zone's offsets");
    assert_eq!(
        serde_json::to_value(stored.schema.as_ref()).expect("json"),
        read
    );
    assert_eq!(requests_per_endpoint(&kommo), times(2));
}

/// A lead rule whose one condition is `condition` and whose one action is `action`.
fn lead_rule(condition: Value, action: Value) -> Value {
    json!({
        "schema_version": 2, "name": "r",
        "trigger": {"kind": "entity_updated", "entity": "lead"},
        "blocks": [{"conditions": [condition], "actions": [{"do": action}]}]
    })
}

fn a_note() -> Value {
    json!({"type": "add_note", "entity": "lead", "text": "hi"})
}

fn paths_and_codes(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .expect("field errors")
        .iter()
        .map(|e| {
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

async fn a_rule_naming_a_deleted_field_is_refused_at_its_pointer_after_a_refresh(backend: Backend) {
    let (app, kommo) = connected_app(backend, json!({})).await;
    let names_comment = lead_rule(
        json!({"left": {"path": format!("lead.cf({COMMENT_FIELD})")}, "op": {"is": "contains"}, "right": {"literal": "vip"}}),
        a_note(),
    );
    let id = app
        .create_rule(ADMIN, "Comment", names_comment.clone())
        .await
        .expect(StatusCode::CREATED)["id"]
        .as_i64()
        .expect("rule id");
    app.set_rule_enabled(ADMIN, id, false)
        .await
        .expect(StatusCode::OK);

    kommo
        .emulator
        .call(
            SUBDOMAIN,
            "DELETE",
            &format!("v4/leads/custom_fields/{COMMENT_FIELD}"),
            None,
        )
        .expect("field deleted");
    refresh(&app, ADMIN).await.expect(StatusCode::OK);

    let saved = app
        .save_rule(
            ADMIN,
            id,
            &json!({"name": "Comment", "rule": names_comment, "expected_version": 1}),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(
        paths_and_codes(&saved),
        vec![at("/blocks/0/conditions/0/left", "unknown_field")]
    );
    let enabled = app
        .set_rule_enabled(ADMIN, id, true)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(
        paths_and_codes(&enabled),
        vec![at("/blocks/0/conditions/0/left", "unknown_field")]
    );
}

async fn stages_users_list_values_and_operators_are_checked_against_the_schema(backend: Backend) {
    let (app, _kommo) = connected_app(backend, json!({})).await;
    let field = |id: i64| format!("lead.cf({id})");
    let rule = json!({
        "schema_version": 2, "name": "r",
        "trigger": {"kind": "status_changed", "pipeline_id": SALES, "status_id": 9999},
        "blocks": [{
            "conditions": [
                {"left": {"path": field(WHOLESALE_FIELD)}, "op": {"is": "equals"}, "right": {"literal": "Gold"}},
                {"left": {"path": field(COMMENT_FIELD)}, "op": {"is": "greater"}, "right": {"literal": 3}}
            ],
            "actions": [
                {"do": {"type": "change_status", "pipeline_id": 4000, "status_id": NEW_STAGE}},
                {"do": {"type": "change_responsible", "entity": "lead", "user": {"user": 99}}},
                {"do": {"type": "run_salesbot", "entity": "lead", "bot_id": 56}}
            ]
        }]
    });

    let refused = app
        .create_rule(ADMIN, "Everything wrong", rule)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");

    assert_eq!(
        paths_and_codes(&refused),
        vec![
            at("/trigger/status_id", "unknown_stage"),
            at("/blocks/0/conditions/0/right", "bad_field_value"),
            at("/blocks/0/conditions/1/op", "operator_not_applicable"),
            at("/blocks/0/actions/0/do/pipeline_id", "unknown_pipeline"),
            at("/blocks/0/actions/1/do/user", "unknown_user"),
            at("/blocks/0/actions/2/do/bot_id", "unknown_salesbot"),
        ]
    );
    let fitting = json!({
        "schema_version": 2, "name": "r",
        "trigger": {"kind": "status_changed", "pipeline_id": SALES, "status_id": NEW_STAGE},
        "blocks": [{
            "conditions": [
                {"left": {"path": field(WHOLESALE_FIELD)}, "op": {"is": "equals"}, "right": {"literal": "retail"}}
            ],
            "actions": [
                {"do": {"type": "change_status", "pipeline_id": SALES, "status_id": 142}},
                {"do": {"type": "change_responsible", "entity": "lead", "user": {"user": 8}}},
                {"do": {"type": "run_salesbot", "entity": "lead", "bot_id": 55}}
            ]
        }]
    });
    app.create_rule(ADMIN, "Fits", fitting)
        .await
        .expect(StatusCode::CREATED);
}

async fn an_account_never_sees_another_accounts_schema(backend: Backend) {
    let (app, _kommo) = connected_app(backend, json!({})).await;
    schema(&app, ADMIN).await;

    let theirs = app.get("/api/v1/account/schema", OTHER_ADMIN).await;

    let body = theirs.expect_problem(StatusCode::CONFLICT, "not_connected");
    assert!(!body.to_string().contains("Europe/Madrid"), "{body}");
    refresh(&app, OTHER_ADMIN)
        .await
        .expect_problem(StatusCode::CONFLICT, "not_connected");
}
