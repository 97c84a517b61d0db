//! The debugger log (last 100 executions per rule, pruned automatically), the runs of one entity
//! ("why not"), and the account and rule statistics.

use axum::http::StatusCode;
use domain::api::Verdict;
use rulebook::{
    queue::{kinds::RUN_DELAYED_ACTION, NewJob},
    store::execution_log::{self, ExecutionOutcome, NewExecution, KEPT_PER_RULE},
};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend, ACCOUNT, MEMBER, OTHER_ADMIN, START_MS};

crate::on_both_databases!(
    the_log_keeps_the_last_hundred_executions_of_each_rule,
    statistics_count_due_work_apart_from_delayed_jobs_and_the_months_operations_and_errors,
    statistics_count_operations_per_day_the_previous_month_and_in_total,
    each_rule_counts_its_runs_fires_errors_and_last_run,
    the_runs_of_an_entity_are_every_rule_that_considered_it_newest_first,
);

fn execution(rule_id: i64, n: i64, outcome: ExecutionOutcome, started_at: i64) -> NewExecution {
    NewExecution {
        account_id: ACCOUNT,
        rule_id,
        event_id: Some(n),
        entity: None,
        outcome,
        verdict: match outcome {
            ExecutionOutcome::Ok => Verdict::Fired,
            ExecutionOutcome::Error => Verdict::Error,
            ExecutionOutcome::Loop => Verdict::Loop,
        },
        started_at,
        duration_ms: 3,
        operations: 2,
        trace: json!({ "n": n, "blocks": [{ "conditions": [{ "actual": "5", "expected": "5", "passed": true }] }] }),
    }
}

async fn the_log_keeps_the_last_hundred_executions_of_each_rule(backend: Backend) {
    let app = spawn_app(backend).await;
    let busy = app.given_a_rule("Busy").await;
    let quiet = app.given_a_rule("Quiet").await;
    execution_log::record_execution(
        app.db(),
        &execution(quiet, 0, ExecutionOutcome::Ok, START_MS),
    )
    .await
    .expect("record");

    for n in 1..=(KEPT_PER_RULE + 20) {
        execution_log::record_execution(
            app.db(),
            &execution(busy, n, ExecutionOutcome::Ok, START_MS),
        )
        .await
        .expect("record");
    }

    let log = app.rule_log(MEMBER, busy).await.expect(StatusCode::OK);
    let ns: Vec<_> = log
        .as_array()
        .expect("list")
        .iter()
        .map(|e| e["trace"]["n"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(ns, (21..=KEPT_PER_RULE + 20).rev().collect::<Vec<_>>());
    assert_eq!(log[0]["outcome"], "ok");
    assert_eq!(
        log[0]["verdict"], "fired",
        "each run says what became of it"
    );
    assert_eq!(log[0]["trace"]["blocks"][0]["conditions"][0]["actual"], "5");
    assert_eq!(
        app.rule_log(MEMBER, quiet)
            .await
            .expect(StatusCode::OK)
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    app.rule_log(OTHER_ADMIN, busy)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
}

async fn statistics_count_due_work_apart_from_delayed_jobs_and_the_months_operations_and_errors(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let rule = app.given_a_rule("Counted").await;
    let last_month = START_MS - 30 * 86_400_000;
    execution_log::record_execution(
        app.db(),
        &execution(rule, 1, ExecutionOutcome::Error, last_month),
    )
    .await
    .expect("record");
    execution_log::record_execution(
        app.db(),
        &execution(rule, 2, ExecutionOutcome::Ok, START_MS),
    )
    .await
    .expect("record");
    execution_log::record_execution(
        app.db(),
        &execution(rule, 3, ExecutionOutcome::Error, START_MS),
    )
    .await
    .expect("record");
    // Three due now, two waiting for their time (a birthday days away is not a backlog).
    for (n, run_at) in [
        (0, START_MS - 1_000),
        (1, START_MS),
        (2, START_MS),
        (3, START_MS + 1),
        (4, START_MS + 4 * 86_400_000),
    ] {
        app.queue()
            .enqueue(&NewJob::new(
                ACCOUNT,
                RUN_DELAYED_ACTION,
                json!({ "n": n }),
                run_at,
            ))
            .await
            .expect("enqueue");
    }

    let stats = app.stats(MEMBER).await.expect(StatusCode::OK);
    let others = app.stats(OTHER_ADMIN).await.expect(StatusCode::OK);

    assert_eq!(
        stats,
        json!({ "queue_length": 3, "delayed_jobs": 2, "dead_jobs": 0, "month": "2026-11",
                "operations_this_month": 4, "errors_this_month": 1,
                "previous_month": "2026-10", "operations_previous_month": 2,
                "operations_total": 6, "errors_total": 2,
                "operations_by_day": [{ "day": "2026-11-23", "operations": 4, "errors": 1 }] })
    );
    assert_eq!(others["queue_length"], 0);
    assert_eq!(others["delayed_jobs"], 0);
    assert_eq!(others["operations_this_month"], 0);
}

const DAY_MS: i64 = 86_400_000;
const HALF_DAY_MS: i64 = DAY_MS / 2;

async fn statistics_count_operations_per_day_the_previous_month_and_in_total(backend: Backend) {
    let app = spawn_app(backend).await;
    let rule = app.given_a_rule("Counted").await;
    // START_MS is 2026-11-23 12:00 UTC.
    let runs = [
        (START_MS - 60 * DAY_MS, ExecutionOutcome::Ok, 5), // September
        (START_MS - 30 * DAY_MS, ExecutionOutcome::Ok, 7), // October 24th
        (
            START_MS - 22 * DAY_MS - HALF_DAY_MS - 1,
            ExecutionOutcome::Error,
            1,
        ), // October 31st, 23:59:59.999
        (
            START_MS - 22 * DAY_MS - HALF_DAY_MS,
            ExecutionOutcome::Ok,
            2,
        ), // November 1st, 00:00
        (START_MS - DAY_MS, ExecutionOutcome::Ok, 3),
        (START_MS - DAY_MS + 1, ExecutionOutcome::Error, 0),
        (START_MS, ExecutionOutcome::Ok, 4),
    ];
    for (n, (at, outcome, operations)) in runs.into_iter().enumerate() {
        let mut entry = execution(rule, n as i64, outcome, at);
        entry.operations = operations;
        execution_log::record_execution(app.db(), &entry)
            .await
            .expect("record");
    }

    let stats = app.stats(MEMBER).await.expect(StatusCode::OK);

    assert_eq!(stats["operations_this_month"], 9);
    assert_eq!(stats["errors_this_month"], 1);
    assert_eq!(stats["previous_month"], "2026-10");
    assert_eq!(stats["operations_previous_month"], 8);
    assert_eq!(stats["operations_total"], 22);
    assert_eq!(stats["errors_total"], 2);
    assert_eq!(
        stats["operations_by_day"],
        json!([
            { "day": "2026-11-01", "operations": 2, "errors": 0 },
            { "day": "2026-11-22", "operations": 3, "errors": 1 },
            { "day": "2026-11-23", "operations": 4, "errors": 0 },
        ])
    );
    let others = app.stats(OTHER_ADMIN).await.expect(StatusCode::OK);
    assert_eq!(others["operations_total"], 0);
    assert_eq!(others["operations_by_day"], json!([]));
}

async fn each_rule_counts_its_runs_fires_errors_and_last_run(backend: Backend) {
    let app = spawn_app(backend).await;
    let busy = app.given_a_rule("Busy").await;
    let idle = app.given_a_rule("Idle").await;
    let verdicts = [
        (Verdict::Fired, ExecutionOutcome::Ok, START_MS - 5_000),
        (Verdict::DidNotMatch, ExecutionOutcome::Ok, START_MS - 4_000),
        (
            Verdict::FrequencyExceeded,
            ExecutionOutcome::Ok,
            START_MS - 3_000,
        ),
        (Verdict::Error, ExecutionOutcome::Error, START_MS - 1_000),
        // Logged late (a job finishing after a later one): the last run stays the latest.
        (Verdict::Fired, ExecutionOutcome::Ok, START_MS - 2_000),
    ];
    // More runs than the log keeps: the counters count them all.
    for n in 0..KEPT_PER_RULE {
        let mut entry = execution(busy, n, ExecutionOutcome::Ok, START_MS - 10_000);
        entry.verdict = Verdict::DidNotMatch;
        execution_log::record_execution(app.db(), &entry)
            .await
            .expect("record");
    }
    for (n, (verdict, outcome, at)) in verdicts.into_iter().enumerate() {
        let mut entry = execution(busy, n as i64, outcome, at);
        entry.verdict = verdict;
        execution_log::record_execution(app.db(), &entry)
            .await
            .expect("record");
    }

    let stats = app
        .get("/api/v1/rules/stats", MEMBER)
        .await
        .expect(StatusCode::OK);

    assert_eq!(
        stats,
        json!([
            { "rule_id": busy, "name": "Busy", "runs": KEPT_PER_RULE + 5, "fires": 3, "errors": 1,
              "last_run_at": START_MS - 1_000 },
            { "rule_id": idle, "name": "Idle", "runs": 0, "fires": 0, "errors": 0, "last_run_at": null },
        ])
    );
    assert_eq!(
        app.get("/api/v1/rules/stats", OTHER_ADMIN)
            .await
            .expect(StatusCode::OK),
        json!([])
    );
    assert_eq!(
        app.get("/api/v1/rules/stats?limit=1&offset=1", MEMBER)
            .await
            .expect(StatusCode::OK)[0]["rule_id"],
        idle
    );
}

/// A logged run for an event of `entity`, with the trace the engine writes.
fn entity_execution(
    rule_id: i64,
    entity: (&str, i64),
    verdict: Verdict,
    at: i64,
    trace: Value,
) -> NewExecution {
    let mut entry = execution(
        rule_id,
        0,
        if verdict == Verdict::Error {
            ExecutionOutcome::Error
        } else {
            ExecutionOutcome::Ok
        },
        at,
    );
    entry.entity = Some((entity.0.to_owned(), entity.1));
    entry.verdict = verdict;
    entry.trace = trace;
    entry
}

async fn the_runs_of_an_entity_are_every_rule_that_considered_it_newest_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let matched = app.given_a_rule("Matched").await;
    let missed = app.given_a_rule("Missed").await;
    let failing = app.given_a_rule("Failing").await;
    let event = json!({ "entity": { "entity_type": "lead", "id": 123 }, "kind": { "kind": "entity_added" } });
    let failed = json!([{ "block": 0, "block_name": "Wholesale", "condition": 0,
        "operand": { "path": "lead.name" }, "operator": "equals",
        "expected": { "type": "text", "value": "WHOLESALE" },
        "actual": { "type": "text", "value": "Retail order" }, "reason": null }]);
    for entry in [
        entity_execution(
            matched,
            ("leads", 123),
            Verdict::Fired,
            START_MS,
            json!({ "event": event, "actions": [{ "status": "ok" }], "failed_conditions": [] }),
        ),
        entity_execution(
            missed,
            ("leads", 123),
            Verdict::DidNotMatch,
            START_MS,
            json!({ "event": event, "actions": [], "failed_conditions": failed }),
        ),
        entity_execution(
            failing,
            ("leads", 123),
            Verdict::Error,
            START_MS,
            json!({ "event": event, "actions": [{ "status": "ok" }, { "status": "error", "error": "Kommo refused the note" }],
                    "failed_conditions": [] }),
        ),
        // Another lead, and a contact with the same id: not this lead's.
        entity_execution(
            matched,
            ("leads", 124),
            Verdict::Fired,
            START_MS,
            json!({ "event": event }),
        ),
        entity_execution(
            matched,
            ("contacts", 123),
            Verdict::Fired,
            START_MS,
            json!({ "event": event }),
        ),
    ] {
        execution_log::record_execution(app.db(), &entry)
            .await
            .expect("record");
    }

    let runs = app
        .get("/api/v1/entities/leads/123/runs", MEMBER)
        .await
        .expect(StatusCode::OK);

    let runs = runs.as_array().expect("a list");
    let summary: Vec<(i64, &str)> = runs
        .iter()
        .map(|r| {
            (
                r["rule_id"].as_i64().unwrap_or(0),
                r["verdict"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (failing, "error"),
            (missed, "did_not_match"),
            (matched, "fired")
        ]
    );
    assert_eq!(runs[0]["error"], "Kommo refused the note");
    assert_eq!(runs[1]["failed_conditions"], failed);
    assert_eq!(runs[1]["event"], "entity_added");
    assert_eq!(runs[2]["failed_conditions"], json!([]));
    // Each run carries its timeline as the rule's log keeps it, for the debugger.
    assert_eq!(
        runs[0]["trace"]["actions"][1]["error"],
        "Kommo refused the note"
    );
    assert_eq!(runs[1]["trace"]["failed_conditions"], failed);
    assert_eq!(
        (
            runs[2]["duration_ms"].as_i64(),
            runs[2]["operations"].as_i64()
        ),
        (Some(3), Some(2))
    );
    let second_page = app
        .get("/api/v1/entities/leads/123/runs?limit=1&offset=1", MEMBER)
        .await
        .expect(StatusCode::OK);
    assert_eq!(second_page.as_array().map(Vec::len), Some(1));
    assert_eq!(second_page[0]["rule_id"], missed);
    assert_eq!(
        app.get("/api/v1/entities/leads/123/runs", OTHER_ADMIN)
            .await
            .expect(StatusCode::OK),
        json!([])
    );
    app.get("/api/v1/entities/widgets/123/runs", MEMBER)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.get("/api/v1/entities/leads/abc/runs", MEMBER)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
}
