//! Manual and bulk launch (`POST /api/v1/rules/{id}/run`): one queued `run_rule` job per entity,
//! problems for rules that cannot run, bulk runs for administrators only; and the rule list that
//! tells the widget which rules are manual.

use axum::http::{Method, StatusCode};
use rulebook::queue::JobFilter;
use serde_json::{json, Value};

use crate::helpers::{rule_json, spawn_app, Backend, TestApp, ADMIN, MEMBER, OTHER_ADMIN};

crate::on_both_databases!(
    a_bulk_run_queues_one_run_per_entity,
    the_largest_bulk_run_is_queued_whole,
    a_member_runs_one_entity_but_not_a_bulk,
    rules_that_cannot_run_get_a_problem,
    bad_entity_lists_get_a_problem,
    the_rule_list_names_each_trigger_and_its_entity,
    launches_are_kept_thirty_days,
);

fn manual_rule(entity: &str) -> Value {
    json!({"schema_version": 2, "name": "m", "trigger": {"kind": "manual", "entity": entity}})
}

async fn run(
    app: &TestApp,
    who: crate::helpers::As,
    id: i64,
    body: Value,
) -> crate::helpers::TestResponse {
    app.send_json(Method::POST, &format!("/api/v1/rules/{id}/run"), who, &body)
        .await
}

async fn created(app: &TestApp, name: &str, rule: Value) -> i64 {
    app.create_rule(ADMIN, name, rule)
        .await
        .expect(StatusCode::CREATED)["id"]
        .as_i64()
        .expect("id")
}

async fn the_largest_bulk_run_is_queued_whole(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = created(&app, "Bulk", manual_rule("lead")).await;
    let ids: Vec<i64> = (1..=10_000).collect();

    let answer = run(
        &app,
        ADMIN,
        id,
        json!({"entity_type": "leads", "entity_ids": ids}),
    )
    .await
    .expect(StatusCode::ACCEPTED);

    assert_eq!(answer["queued"], 10_000);
    let launch_id = answer["launch_id"].as_i64().expect("launch id");
    let launch = app
        .get(&format!("/api/v1/launches/{launch_id}"), MEMBER)
        .await
        .expect(StatusCode::OK);
    let launch: domain::api::Launch = serde_json::from_value(launch).expect("the widget reads it");
    assert_eq!(
        (launch.total, launch.pending, launch.done, launch.rule_id),
        (10_000, 10_000, 0, id)
    );
    assert!(launch.entities.is_empty() && !launch.finished());
    let queued: i64 = sqlx::query_scalar(
        "SELECT COUNT(DISTINCT entity_id) FROM jobs WHERE rule_id = $1 AND kind = 'run_rule'",
    )
    .bind(id)
    .fetch_one(&app.db().pool)
    .await
    .expect("count");
    assert_eq!(queued, 10_000);
}

async fn a_bulk_run_queues_one_run_per_entity(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = created(&app, "Bulk", manual_rule("lead")).await;
    let ids: Vec<i64> = (1..=300).chain([5, 7]).collect();

    let answer = run(
        &app,
        ADMIN,
        id,
        json!({"entity_type": "leads", "entity_ids": ids}),
    )
    .await
    .expect(StatusCode::ACCEPTED);

    let queued: domain::api::Queued = serde_json::from_value(answer).expect("the widget reads it");
    assert_eq!(queued.queued, 300, "repeated ids run once");
    let jobs = app
        .queue()
        .list_jobs(
            crate::helpers::ACCOUNT,
            &JobFilter {
                rule_id: Some(id),
                ..Default::default()
            },
        )
        .await
        .expect("jobs");
    assert_eq!(jobs.len(), 300);
    assert!(jobs
        .iter()
        .all(|j| j.kind == "run_rule" && j.entity_type.as_deref() == Some("leads")));
    let mut entities: Vec<i64> = jobs.iter().filter_map(|j| j.entity_id).collect();
    entities.sort_unstable();
    assert_eq!(entities, (1..=300).collect::<Vec<_>>());
}

async fn a_member_runs_one_entity_but_not_a_bulk(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = created(&app, "Card button", manual_rule("lead")).await;

    let one = run(
        &app,
        MEMBER,
        id,
        json!({"entity_type": "leads", "entity_ids": [42]}),
    )
    .await;
    assert_eq!(one.expect(StatusCode::ACCEPTED)["queued"], 1);
    run(
        &app,
        MEMBER,
        id,
        json!({"entity_type": "leads", "entity_ids": [1, 2]}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "admin_required");
    // Another account's admin does not see the rule at all.
    run(
        &app,
        OTHER_ADMIN,
        id,
        json!({"entity_type": "leads", "entity_ids": [1]}),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not_found");
}

async fn rules_that_cannot_run_get_a_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    // A stage's rule cannot be launched by hand (the Triggers manual's exceptions).
    let automatic = created(
        &app,
        "On stage",
        json!({"schema_version": 2, "name": "s", "trigger": {"kind": "status_changed", "pipeline_id": 1, "status_id": 2, "entry": "moved"}}),
    )
    .await;
    let contacts = created(&app, "Contacts only", manual_rule("contact")).await;
    let disabled = created(&app, "Off", manual_rule("lead")).await;
    app.send_json(
        Method::POST,
        &format!("/api/v1/rules/{disabled}/disable"),
        ADMIN,
        &json!({}),
    )
    .await
    .expect(StatusCode::OK);
    let leads = json!({"entity_type": "leads", "entity_ids": [1]});

    run(&app, ADMIN, automatic, leads.clone())
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "not_manual");
    run(&app, ADMIN, contacts, leads.clone())
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "not_manual");
    run(&app, ADMIN, disabled, leads.clone())
        .await
        .expect_problem(StatusCode::CONFLICT, "rule_disabled");
    run(&app, ADMIN, 999_999, leads)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let jobs = app
        .queue()
        .list_jobs(crate::helpers::ACCOUNT, &JobFilter::default())
        .await
        .expect("jobs");
    assert!(jobs.iter().all(|j| j.kind != "run_rule"), "{jobs:?}");
}

async fn bad_entity_lists_get_a_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = created(&app, "Bulk", manual_rule("lead")).await;
    let too_many: Vec<i64> = (1..=10_001).collect();
    for body in [
        json!({"entity_type": "leads", "entity_ids": []}),
        json!({"entity_type": "leads", "entity_ids": too_many}),
        json!({"entity_type": "leads", "entity_ids": [1, -4]}),
        json!({"entity_type": "tasks", "entity_ids": [1]}),
    ] {
        run(&app, ADMIN, id, body)
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_entities");
    }
    run(&app, ADMIN, id, json!({"entity_ids": [1]}))
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "bad_json");
}

async fn the_rule_list_names_each_trigger_and_its_entity(backend: Backend) {
    let app = spawn_app(backend).await;
    created(&app, "A manual", manual_rule("company")).await;
    created(&app, "B automatic", rule_json("x")).await;
    created(
        &app,
        "C scheduled",
        json!({"schema_version": 2, "name": "s", "trigger": {"kind": "recurring", "schedule": {"every": "daily", "at": "09:00:00"}}}),
    )
    .await;

    created(
        &app,
        "D stage",
        json!({"schema_version": 2, "name": "s", "trigger": {"kind": "status_changed", "pipeline_id": 1, "status_id": 2, "entry": "moved"}}),
    )
    .await;

    let list = app.list_rules(MEMBER).await.expect(StatusCode::OK);
    let list: Vec<domain::api::RuleSummary> = serde_json::from_value(list).expect("summaries");

    let seen: Vec<(&str, Option<&str>)> = list
        .iter()
        .map(|r| (r.trigger.as_str(), r.entity.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            ("manual", Some("company")),
            ("entity_added", Some("lead")),
            ("recurring", None),
            ("status_changed", Some("lead"))
        ]
    );
    // An older payload without the new fields still reads.
    let old: domain::api::RuleSummary = serde_json::from_value(
        json!({"id": 1, "name": "n", "enabled": true, "version": 1, "updated_at": 0}),
    )
    .expect("old payload");
    assert_eq!((old.trigger.as_str(), old.entity), ("", None));
}

async fn launches_are_kept_thirty_days(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = created(&app, "Card button", manual_rule("lead")).await;
    let launch_id = run(
        &app,
        ADMIN,
        id,
        json!({"entity_type": "leads", "entity_ids": [1, 2]}),
    )
    .await
    .expect(StatusCode::ACCEPTED)["launch_id"]
        .as_i64()
        .expect("launch id");
    let path = format!("/api/v1/launches/{launch_id}");
    let start = crate::helpers::START_MS;
    let day = 24 * 3600 * 1000;

    let kept = rulebook::store::launches::prune(app.db(), start + 30 * day)
        .await
        .expect("prune");
    assert_eq!(kept, 0);
    app.get(&path, MEMBER).await.expect(StatusCode::OK);
    let pruned = rulebook::store::launches::prune(app.db(), start + 30 * day + 1)
        .await
        .expect("prune");
    assert_eq!(pruned, 1);
    app.get(&path, MEMBER)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM launch_runs")
        .fetch_one(&app.db().pool)
        .await
        .expect("count");
    assert_eq!(rows, 0);
}
