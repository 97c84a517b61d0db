//! The debugger log (last 100 executions per rule, pruned automatically) and the account statistics.

use axum::http::StatusCode;
use rulebook::{
    queue::{kinds::RUN_DELAYED_ACTION, NewJob},
    store::execution_log::{self, ExecutionOutcome, NewExecution, KEPT_PER_RULE},
};
use serde_json::json;

use crate::helpers::{spawn_app, Backend, ACCOUNT, MEMBER, OTHER_ADMIN, START_MS};

crate::on_both_databases!(
    the_log_keeps_the_last_hundred_executions_of_each_rule,
    statistics_count_due_work_apart_from_delayed_jobs_and_the_months_operations_and_errors,
);

fn execution(rule_id: i64, n: i64, outcome: ExecutionOutcome, started_at: i64) -> NewExecution {
    NewExecution {
        account_id: ACCOUNT,
        rule_id,
        event_id: Some(n),
        outcome,
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
                "operations_this_month": 4, "errors_this_month": 1 })
    );
    assert_eq!(others["queue_length"], 0);
    assert_eq!(others["delayed_jobs"], 0);
    assert_eq!(others["operations_this_month"], 0);
}
