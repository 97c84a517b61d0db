//! The durable queue: claiming, delays, retries into the dead-letter state, leases, restarts,
//! disabled rules, replace-pending, cancellation, and one run per job across processes.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use axum::http::StatusCode;
use rulebook::clock::Clock;
use rulebook::queue::{
    kinds::{PROCESS_EVENT, RUN_DELAYED_ACTION},
    worker::{ClaimedJob, HandlerFuture, JobError, LeaseEvent, Outcome, Registry, Worker},
    JobFilter, NewJob, QueueSettings, HELD_JOB_RETENTION_MS,
};
use serde_json::json;
use tokio::sync::{watch, Notify};

use crate::helpers::{
    connect_state, spawn_app, spawn_app_with, Backend, TestApp, ACCOUNT, ADMIN, MEMBER,
    OTHER_ACCOUNT, OTHER_ADMIN, START_MS,
};

crate::on_both_databases!(
    a_due_job_runs_once_and_is_gone,
    a_delayed_job_waits_for_its_time,
    a_failing_job_is_retried_with_backoff_then_dead_lettered,
    a_permanent_failure_is_dead_lettered_at_once,
    a_job_whose_worker_died_is_claimed_again_after_the_lease,
    jobs_survive_a_restart,
    a_job_enqueued_in_a_rolled_back_transaction_never_exists,
    jobs_of_kinds_without_a_handler_are_not_claimed,
    jobs_of_a_disabled_rule_wait_until_it_is_enabled,
    held_jobs_are_dropped_three_months_after_they_fall_due,
    replace_pending_keeps_only_the_newest_job,
    delayed_jobs_are_cancelled_by_rule_block_or_action,
    an_entitys_jobs_are_listed_and_cancelled_through_the_api,
    one_timer_of_an_entity_is_cancelled_by_any_user_of_its_account,
    two_processes_claiming_at_once_run_each_job_once,
    the_worker_loop_runs_jobs_as_they_are_enqueued_and_stops_on_shutdown,
    a_dead_job_is_listed_and_retried_through_the_api,
    an_accounts_backlog_does_not_starve_another_account,
    concurrent_claims_of_one_busy_account_each_get_a_job,
    a_job_running_longer_than_its_lease_is_not_claimed_by_a_second_worker,
    a_worker_whose_lease_was_taken_over_does_not_record_the_end_of_the_job,
    dead_jobs_older_than_the_retention_setting_are_pruned,
);

/// Records the payloads `n` of the jobs it runs.
fn recording(
    seen: &Arc<Mutex<Vec<i64>>>,
) -> impl Fn(ClaimedJob) -> std::future::Ready<Result<(), JobError>> {
    let seen = seen.clone();
    move |job: ClaimedJob| {
        seen.lock()
            .expect("lock")
            .push(job.payload["n"].as_i64().unwrap_or(-1));
        std::future::ready(Ok(()))
    }
}

fn job(n: i64, run_at: i64) -> NewJob {
    NewJob::new(ACCOUNT, RUN_DELAYED_ACTION, json!({ "n": n }), run_at)
}

async fn drain(worker: &Worker) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    loop {
        match worker.try_run_one().await.expect("run") {
            Outcome::Idle => return outcomes,
            other => outcomes.push(other),
        }
    }
}

async fn jobs_left(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM jobs").await
}

async fn a_due_job_runs_once_and_is_gone(backend: Backend) {
    let app = spawn_app(backend).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let worker = app.worker(Registry::new().register(RUN_DELAYED_ACTION, recording(&seen)));
    let id = app
        .queue()
        .enqueue(&job(1, START_MS))
        .await
        .expect("enqueue");

    let outcomes = drain(&worker).await;

    assert_eq!(outcomes, vec![Outcome::Completed { job_id: id }]);
    assert_eq!(*seen.lock().expect("lock"), vec![1]);
    assert_eq!(jobs_left(&app).await, 0);
}

async fn a_delayed_job_waits_for_its_time(backend: Backend) {
    let app = spawn_app(backend).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let worker = app.worker(Registry::new().register(RUN_DELAYED_ACTION, recording(&seen)));
    app.queue()
        .enqueue(&job(2, START_MS + 3_600_000))
        .await
        .expect("enqueue");
    app.queue()
        .enqueue(&job(1, START_MS + 60_000))
        .await
        .expect("enqueue");

    assert_eq!(worker.try_run_one().await.expect("run"), Outcome::Idle);
    assert_eq!(
        worker.next_due().await.expect("next"),
        Some(START_MS + 60_000)
    );
    app.clock.advance(Duration::from_secs(60));
    drain(&worker).await;
    assert_eq!(*seen.lock().expect("lock"), vec![1]);
    app.clock.advance(Duration::from_secs(3600));
    drain(&worker).await;

    assert_eq!(*seen.lock().expect("lock"), vec![1, 2]);
    assert_eq!(worker.next_due().await.expect("next"), None);
}

async fn a_failing_job_is_retried_with_backoff_then_dead_lettered(backend: Backend) {
    let app = spawn_app(backend).await;
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let seen = attempts.clone();
    let worker = app.worker(Registry::new().register(
        RUN_DELAYED_ACTION,
        move |job: ClaimedJob| {
            seen.lock().expect("lock").push(job.attempt);
            std::future::ready(Err(JobError::Transient("Kommo answered 503".into())))
        },
    ));
    let mut failing = job(1, START_MS);
    failing.max_attempts = Some(3);
    let id = app.queue().enqueue(&failing).await.expect("enqueue");

    let first = worker.try_run_one().await.expect("run");
    assert_eq!(
        first,
        Outcome::Retrying {
            job_id: id,
            retry_at: START_MS + 10_000
        }
    );
    app.clock.advance(Duration::from_millis(9_999));
    assert_eq!(
        worker.try_run_one().await.expect("run"),
        Outcome::Idle,
        "not before the backoff"
    );
    app.clock.advance(Duration::from_millis(1));
    let second = worker.try_run_one().await.expect("run");
    assert_eq!(
        second,
        Outcome::Retrying {
            job_id: id,
            retry_at: START_MS + 10_000 + 20_000
        }
    );
    app.clock.advance(Duration::from_secs(20));
    let third = worker.try_run_one().await.expect("run");

    assert_eq!(third, Outcome::DeadLettered { job_id: id });
    assert_eq!(*attempts.lock().expect("lock"), vec![1, 2, 3]);
    app.clock.advance(Duration::from_secs(86_400));
    assert_eq!(
        worker.try_run_one().await.expect("run"),
        Outcome::Idle,
        "dead jobs are not claimed"
    );
    let jobs = app
        .queue()
        .list_jobs(ACCOUNT, &JobFilter::default())
        .await
        .expect("list");
    assert_eq!(jobs[0].state, "dead");
    assert_eq!(jobs[0].attempts, 3);
    assert_eq!(jobs[0].last_error.as_deref(), Some("Kommo answered 503"));
    assert_eq!(
        app.stats(ADMIN).await.expect(StatusCode::OK)["dead_jobs"],
        1
    );
}

async fn a_permanent_failure_is_dead_lettered_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let worker = app.worker(
        Registry::new().register(RUN_DELAYED_ACTION, |_job: ClaimedJob| {
            std::future::ready(Err(JobError::Permanent("the lead was deleted".into())))
        }),
    );
    let id = app
        .queue()
        .enqueue(&job(1, START_MS))
        .await
        .expect("enqueue");

    assert_eq!(
        worker.try_run_one().await.expect("run"),
        Outcome::DeadLettered { job_id: id }
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM jobs WHERE state = 'dead'")
            .await,
        1
    );
}

async fn a_job_whose_worker_died_is_claimed_again_after_the_lease(backend: Backend) {
    let app = spawn_app(backend).await;
    let settings = QueueSettings {
        lease: Duration::from_secs(30),
        ..QueueSettings::default()
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let dying = app.worker_with(
        settings.clone(),
        Registry::new().register(RUN_DELAYED_ACTION, recording(&seen)),
    );
    let survivor = app.worker_with(
        settings,
        Registry::new().register(RUN_DELAYED_ACTION, recording(&seen)),
    );
    let id = app
        .queue()
        .enqueue(&job(1, START_MS))
        .await
        .expect("enqueue");

    let claimed = dying.try_claim().await.expect("claim").expect("a job");
    // The dying worker never settles its claim.
    assert_eq!(claimed.attempt, 1);
    assert_eq!(
        survivor.try_run_one().await.expect("run"),
        Outcome::Idle,
        "leased jobs are not claimed"
    );
    app.clock.advance(Duration::from_secs(30));
    let outcome = survivor.try_run_one().await.expect("run");

    assert_eq!(outcome, Outcome::Completed { job_id: id });
    assert_eq!(*seen.lock().expect("lock"), vec![1]);
    assert_eq!(jobs_left(&app).await, 0);
}

async fn jobs_survive_a_restart(backend: Backend) {
    let app = spawn_app(backend).await;
    app.queue()
        .enqueue(&job(1, START_MS + 1_000))
        .await
        .expect("enqueue");
    app.state.db.pool.close().await;

    let restarted = connect_state(&app.database_url, &app.clock).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let worker = Worker::new(
        restarted.queue.clone(),
        Registry::new().register(RUN_DELAYED_ACTION, recording(&seen)),
    );
    app.clock.advance(Duration::from_secs(1));
    drain(&worker).await;

    assert_eq!(*seen.lock().expect("lock"), vec![1]);
}

async fn a_job_enqueued_in_a_rolled_back_transaction_never_exists(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut tx = app.db().pool.begin().await.expect("begin");
    app.queue()
        .enqueue_in(&mut tx, &job(1, START_MS))
        .await
        .expect("enqueue");
    tx.rollback().await.expect("rollback");
    let mut tx = app.db().pool.begin().await.expect("begin");
    app.queue()
        .enqueue_in(&mut tx, &job(2, START_MS))
        .await
        .expect("enqueue");
    tx.commit().await.expect("commit");

    let seen = Arc::new(Mutex::new(Vec::new()));
    drain(&app.worker(Registry::new().register(RUN_DELAYED_ACTION, recording(&seen)))).await;

    assert_eq!(*seen.lock().expect("lock"), vec![2]);
}

async fn jobs_of_kinds_without_a_handler_are_not_claimed(backend: Backend) {
    let app = spawn_app(backend).await;
    app.queue()
        .enqueue(&NewJob::new(ACCOUNT, PROCESS_EVENT, json!({}), START_MS))
        .await
        .expect("enqueue");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let worker = app.worker(Registry::new().register(RUN_DELAYED_ACTION, recording(&seen)));

    assert_eq!(worker.try_run_one().await.expect("run"), Outcome::Idle);
    assert_eq!(worker.next_due().await.expect("next"), None);
    assert_eq!(jobs_left(&app).await, 1);
}

async fn jobs_of_a_disabled_rule_wait_until_it_is_enabled(backend: Backend) {
    let app = spawn_app(backend).await;
    let rule = app.given_a_rule("Paused").await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let worker = app.worker(Registry::new().register(RUN_DELAYED_ACTION, recording(&seen)));
    let mut held = job(1, START_MS);
    held.rule_id = Some(rule);
    app.queue().enqueue(&held).await.expect("enqueue");
    app.queue()
        .enqueue(&job(2, START_MS))
        .await
        .expect("enqueue");
    app.set_rule_enabled(ADMIN, rule, false)
        .await
        .expect(StatusCode::OK);

    app.clock.advance(Duration::from_secs(7 * 86_400));
    drain(&worker).await;
    assert_eq!(
        *seen.lock().expect("lock"),
        vec![2],
        "the disabled rule's job waits"
    );
    assert_eq!(
        worker.next_due().await.expect("next"),
        None,
        "a held job does not wake the worker"
    );
    app.set_rule_enabled(ADMIN, rule, true)
        .await
        .expect(StatusCode::OK);
    drain(&worker).await;

    assert_eq!(*seen.lock().expect("lock"), vec![2, 1]);
}

async fn held_jobs_are_dropped_three_months_after_they_fall_due(backend: Backend) {
    let app = spawn_app(backend).await;
    let rule = app.given_a_rule("Forgotten").await;
    let active = app.given_a_rule("Active").await;
    let mut held = job(1, START_MS);
    held.rule_id = Some(rule);
    app.queue().enqueue(&held).await.expect("enqueue");
    let mut later = job(2, START_MS + 86_400_000);
    later.rule_id = Some(rule);
    app.queue().enqueue(&later).await.expect("enqueue");
    let mut far_future = job(3, START_MS + 2 * HELD_JOB_RETENTION_MS);
    far_future.rule_id = Some(active);
    app.queue().enqueue(&far_future).await.expect("enqueue");
    app.set_rule_enabled(ADMIN, rule, false)
        .await
        .expect(StatusCode::OK);

    app.clock.set(START_MS + HELD_JOB_RETENTION_MS);
    assert_eq!(
        app.queue().drop_expired_held_jobs().await.expect("drop"),
        0,
        "not yet three months overdue"
    );
    app.clock.advance(Duration::from_millis(1));
    let dropped = app.queue().drop_expired_held_jobs().await.expect("drop");

    assert_eq!(dropped, 1);
    let left: Vec<_> = app
        .queue()
        .list_jobs(ACCOUNT, &JobFilter::default())
        .await
        .expect("list")
        .iter()
        .map(|j| j.run_at)
        .collect();
    assert_eq!(
        left,
        vec![START_MS + 86_400_000, START_MS + 2 * HELD_JOB_RETENTION_MS]
    );
}

async fn replace_pending_keeps_only_the_newest_job(backend: Backend) {
    let app = spawn_app(backend).await;
    let keyed = |n: i64, key: &str| {
        let mut j = job(n, START_MS + 60_000);
        j.job_key = Some(key.to_string());
        j.replace_pending = true;
        j
    };
    app.queue()
        .enqueue(&keyed(1, "rule1:block1:action1:leads:5"))
        .await
        .expect("enqueue");
    app.queue()
        .enqueue(&keyed(2, "rule1:block1:action1:leads:5"))
        .await
        .expect("enqueue");
    app.queue()
        .enqueue(&keyed(3, "rule1:block1:action1:leads:6"))
        .await
        .expect("enqueue");
    let mut appended = keyed(4, "rule1:block1:action1:leads:6");
    appended.replace_pending = false;
    app.queue().enqueue(&appended).await.expect("enqueue");

    let seen = Arc::new(Mutex::new(Vec::new()));
    app.clock.advance(Duration::from_secs(60));
    drain(&app.worker(Registry::new().register(RUN_DELAYED_ACTION, recording(&seen)))).await;

    let mut seen = seen.lock().expect("lock").clone();
    seen.sort_unstable();
    assert_eq!(seen, vec![2, 3, 4]);
}

async fn delayed_jobs_are_cancelled_by_rule_block_or_action(backend: Backend) {
    let app = spawn_app(backend).await;
    let placed = [
        (1, 10, "b1", "a1"),
        (2, 10, "b1", "a2"),
        (3, 10, "b2", "a1"),
        (4, 11, "b1", "a1"),
        (5, 12, "b1", "a1"),
    ];
    for (n, rule, block, action) in placed {
        let mut j = job(n, START_MS + 60_000);
        j.rule_id = Some(rule);
        j.block_id = Some(block.into());
        j.action_id = Some(action.into());
        app.queue().enqueue(&j).await.expect("enqueue");
    }
    let remaining = |app: &TestApp| {
        let queue = app.queue().clone();
        async move {
            let jobs = queue
                .list_jobs(ACCOUNT, &JobFilter::default())
                .await
                .expect("list");
            jobs.iter()
                .map(|j| {
                    j.rule_id.unwrap_or(0) * 10 + i64::from(j.action_id.as_deref() == Some("a2"))
                })
                .collect::<Vec<_>>()
        }
    };

    let by_action = JobFilter {
        rule_id: Some(10),
        block_id: Some("b1".into()),
        action_id: Some("a2".into()),
        entity: None,
    };
    assert_eq!(
        app.queue()
            .cancel_jobs(ACCOUNT, &by_action)
            .await
            .expect("cancel"),
        1
    );
    let by_block = JobFilter {
        rule_id: Some(10),
        block_id: Some("b1".into()),
        ..JobFilter::default()
    };
    assert_eq!(
        app.queue()
            .cancel_jobs(ACCOUNT, &by_block)
            .await
            .expect("cancel"),
        1
    );
    let by_rule = JobFilter {
        rule_id: Some(11),
        ..JobFilter::default()
    };
    assert_eq!(
        app.queue()
            .cancel_jobs(ACCOUNT, &by_rule)
            .await
            .expect("cancel"),
        1
    );
    let other_account = JobFilter {
        rule_id: Some(12),
        ..JobFilter::default()
    };
    assert_eq!(
        app.queue()
            .cancel_jobs(crate::helpers::OTHER_ACCOUNT, &other_account)
            .await
            .expect("cancel"),
        0
    );

    let mut left = remaining(&app).await;
    left.sort_unstable();
    assert_eq!(
        left,
        vec![100, 120],
        "rule 10's block b2 and rule 12 remain"
    );
}

async fn an_entitys_jobs_are_listed_and_cancelled_through_the_api(backend: Backend) {
    let app = spawn_app(backend).await;
    for (n, id) in [(1, 5), (2, 5), (3, 6)] {
        let mut j = job(n, START_MS + n * 1_000);
        j.entity = Some(("leads".into(), id));
        app.queue().enqueue(&j).await.expect("enqueue");
    }

    let listed = app
        .entity_jobs(MEMBER, "leads", 5)
        .await
        .expect(StatusCode::OK);
    let hidden = app
        .entity_jobs(OTHER_ADMIN, "leads", 5)
        .await
        .expect(StatusCode::OK);
    app.cancel_entity_jobs(MEMBER, "leads", 5)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "admin_required");
    let cancelled = app
        .cancel_entity_jobs(ADMIN, "leads", 5)
        .await
        .expect(StatusCode::OK);
    app.entity_jobs(ADMIN, "Leads!", 5)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");

    let run_ats: Vec<_> = listed
        .as_array()
        .expect("list")
        .iter()
        .map(|j| j["run_at"].as_i64())
        .collect();
    assert_eq!(
        run_ats,
        vec![Some(START_MS + 1_000), Some(START_MS + 2_000)]
    );
    assert_eq!(listed[0]["state"], "pending");
    assert_eq!(hidden, json!([]));
    assert_eq!(cancelled, json!({ "cancelled": 2 }));
    assert_eq!(
        app.entity_jobs(ADMIN, "leads", 5)
            .await
            .expect(StatusCode::OK),
        json!([])
    );
    assert_eq!(
        app.entity_jobs(ADMIN, "leads", 6)
            .await
            .expect(StatusCode::OK)
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

async fn one_timer_of_an_entity_is_cancelled_by_any_user_of_its_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut ids = Vec::new();
    for (n, id) in [(1, 5), (2, 5), (3, 6)] {
        let mut j = job(n, START_MS + n * 1_000);
        j.entity = Some(("leads".into(), id));
        ids.push(app.queue().enqueue(&j).await.expect("enqueue"));
    }
    // Another account's user, the wrong entity and an unknown id find nothing.
    app.cancel_entity_job(OTHER_ADMIN, "leads", 5, ids[0])
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.cancel_entity_job(MEMBER, "leads", 6, ids[0])
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.cancel_entity_job(MEMBER, "leads", 5, ids[2] + 100)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.cancel_entity_job(MEMBER, "Leads!", 5, ids[0])
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");

    let cancelled = app
        .cancel_entity_job(MEMBER, "leads", 5, ids[0])
        .await
        .expect(StatusCode::OK);
    assert_eq!(cancelled, json!({ "cancelled": 1 }));
    app.cancel_entity_job(MEMBER, "leads", 5, ids[0])
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let left: Vec<_> = app
        .entity_jobs(MEMBER, "leads", 5)
        .await
        .expect(StatusCode::OK)
        .as_array()
        .expect("list")
        .iter()
        .map(|j| j["id"].as_i64())
        .collect();
    assert_eq!(left, vec![Some(ids[1])]);
    assert_eq!(jobs_left(&app).await, 2);
}

async fn two_processes_claiming_at_once_run_each_job_once(backend: Backend) {
    let app = spawn_app(backend).await;
    const JOBS: i64 = 200;
    let mut tx = app.db().pool.begin().await.expect("begin");
    for n in 0..JOBS {
        app.queue()
            .enqueue_in(&mut tx, &job(n, START_MS))
            .await
            .expect("enqueue");
    }
    tx.commit().await.expect("commit");
    let second_process = connect_state(&app.database_url, &app.clock).await;
    let runs = Arc::new(Mutex::new(HashMap::<i64, usize>::new()));
    let counting = |runs: &Arc<Mutex<HashMap<i64, usize>>>| {
        let runs = runs.clone();
        move |job: ClaimedJob| {
            *runs
                .lock()
                .expect("lock")
                .entry(job.payload["n"].as_i64().unwrap_or(-1))
                .or_default() += 1;
            std::future::ready(Ok(()))
        }
    };
    let workers = [
        app.worker(Registry::new().register(RUN_DELAYED_ACTION, counting(&runs))),
        app.worker(Registry::new().register(RUN_DELAYED_ACTION, counting(&runs))),
        Worker::new(
            second_process.queue.clone(),
            Registry::new().register(RUN_DELAYED_ACTION, counting(&runs)),
        ),
        Worker::new(
            second_process.queue.clone(),
            Registry::new().register(RUN_DELAYED_ACTION, counting(&runs)),
        ),
    ];

    let tasks: Vec<_> = workers
        .into_iter()
        .map(|w| tokio::spawn(async move { drain(&w).await.len() }))
        .collect();
    let mut completed = 0;
    for task in tasks {
        completed += task.await.expect("worker");
    }

    let runs = runs.lock().expect("lock").clone();
    assert_eq!(completed, JOBS as usize);
    assert_eq!(runs.len(), JOBS as usize);
    assert!(
        runs.values().all(|&n| n == 1),
        "some job ran twice: {runs:?}"
    );
    assert_eq!(jobs_left(&app).await, 0);
}

async fn the_worker_loop_runs_jobs_as_they_are_enqueued_and_stops_on_shutdown(backend: Backend) {
    let app = spawn_app(backend).await;
    let (ran, mut runs) = tokio::sync::mpsc::unbounded_channel::<i64>();
    let worker = app.worker(Registry::new().register(
        RUN_DELAYED_ACTION,
        move |job: ClaimedJob| {
            let _ = ran.send(job.payload["n"].as_i64().unwrap_or(-1));
            std::future::ready(Ok(()))
        },
    ));
    app.queue()
        .enqueue(&job(1, START_MS))
        .await
        .expect("enqueue");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    let within = Duration::from_secs(10);

    let first = tokio::time::timeout(within, runs.recv())
        .await
        .expect("the due job ran");
    app.queue()
        .enqueue(&job(2, START_MS))
        .await
        .expect("enqueue");
    let second = tokio::time::timeout(within, runs.recv())
        .await
        .expect("the new job ran");
    stop.send(()).expect("worker alive");
    tokio::time::timeout(within, running)
        .await
        .expect("the loop stopped")
        .expect("no panic");

    assert_eq!((first, second), (Some(1), Some(2)));
    assert_eq!(jobs_left(&app).await, 0);
}

async fn a_dead_job_is_listed_and_retried_through_the_api(backend: Backend) {
    let app = spawn_app(backend).await;
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = calls.clone();
    let worker = app.worker(Registry::new().register(
        RUN_DELAYED_ACTION,
        move |_job: ClaimedJob| {
            let first = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
            std::future::ready(if first {
                Err(JobError::Permanent("the lead was locked".into()))
            } else {
                Ok(())
            })
        },
    ));
    let id = app
        .queue()
        .enqueue(&job(1, START_MS))
        .await
        .expect("enqueue");
    assert_eq!(
        worker.try_run_one().await.expect("run"),
        Outcome::DeadLettered { job_id: id }
    );

    let dead = app
        .get("/api/v1/jobs/dead", MEMBER)
        .await
        .expect(StatusCode::OK);
    let path = format!("/api/v1/jobs/{id}/retry");
    app.send(
        axum::http::Method::POST,
        &path,
        Some(MEMBER),
        None,
        None,
        &[],
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "admin_required");
    app.send(
        axum::http::Method::POST,
        &path,
        Some(OTHER_ADMIN),
        None,
        None,
        &[],
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let retried = app
        .send(
            axum::http::Method::POST,
            &path,
            Some(ADMIN),
            None,
            None,
            &[],
        )
        .await
        .expect(StatusCode::OK);
    let outcome = worker.try_run_one().await.expect("run");

    assert_eq!(dead.as_array().map(Vec::len), Some(1));
    assert_eq!(dead[0]["last_error"], "the lead was locked");
    assert_eq!(retried, json!({ "retrying": id }));
    assert_eq!(outcome, Outcome::Completed { job_id: id });
    assert_eq!(
        app.get("/api/v1/jobs/dead", ADMIN)
            .await
            .expect(StatusCode::OK),
        json!([])
    );
    app.send(
        axum::http::Method::POST,
        &path,
        Some(ADMIN),
        None,
        None,
        &[],
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not_found");
}

async fn an_accounts_backlog_does_not_starve_another_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let worker = app.worker(
        Registry::new().register(RUN_DELAYED_ACTION, |_: ClaimedJob| {
            std::future::ready(Ok::<(), JobError>(()))
        }),
    );
    // Account A's backlog: 200 jobs, all due and all older than B's one job, enqueued last.
    let mut tx = app.db().pool.begin().await.expect("begin");
    let mut backlog = Vec::new();
    for n in 0..200 {
        let id = app
            .queue()
            .enqueue_in(&mut tx, &job(n, START_MS - 600_000 + n))
            .await
            .expect("enqueue");
        backlog.push(id);
    }
    tx.commit().await.expect("commit");
    let other = NewJob::new(
        OTHER_ACCOUNT,
        RUN_DELAYED_ACTION,
        json!({ "n": 1_000 }),
        START_MS - 1,
    );
    let other_id = app.queue().enqueue(&other).await.expect("enqueue");

    let claim = || async { worker.try_claim().await.expect("claim").expect("a due job") };
    let first = claim().await;
    assert_eq!(
        (first.account_id, first.id),
        (ACCOUNT, backlog[0]),
        "with nothing in flight, the oldest job comes first"
    );
    // A's first job is still under its lease: B has fewer jobs in flight.
    let second = claim().await;
    assert_eq!((second.account_id, second.id), (OTHER_ACCOUNT, other_id));
    // One job in flight each: A's next oldest.
    let third = claim().await;
    assert_eq!((third.account_id, third.id), (ACCOUNT, backlog[1]));
}

async fn concurrent_claims_of_one_busy_account_each_get_a_job(backend: Backend) {
    let app = spawn_app(backend).await;
    let worker = app.worker(
        Registry::new().register(RUN_DELAYED_ACTION, |_: ClaimedJob| {
            std::future::ready(Ok::<(), JobError>(()))
        }),
    );
    for n in 0..40 {
        app.queue()
            .enqueue(&job(n, START_MS - 1_000 + n))
            .await
            .expect("enqueue");
    }
    // One job in flight makes the account busy, so every claim below goes the fair way and they
    // all choose the same head job at once.
    let first = worker.try_claim().await.expect("claim").expect("a job");
    let claims: Vec<_> = (0..20)
        .map(|_| {
            let worker = worker.clone();
            tokio::spawn(async move { worker.try_claim().await })
        })
        .collect();
    let mut ids = vec![first.id];
    for claim in claims {
        let job = claim
            .await
            .expect("task")
            .expect("claim")
            .expect("a job is claimable, so a claim must not come back empty");
        ids.push(job.id);
    }
    let unique: std::collections::BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), 21, "each claim took its own job: {ids:?}");
}

/// A job that runs until it is released: it counts its runs and rings `started` when one begins.
#[derive(Clone, Default)]
struct LongJob {
    started: Arc<Notify>,
    release: Arc<Notify>,
    runs: Arc<AtomicUsize>,
}

impl LongJob {
    fn handler(&self) -> impl Fn(ClaimedJob) -> HandlerFuture + Send + Sync + 'static {
        let this = self.clone();
        move |_job: ClaimedJob| {
            let this = this.clone();
            Box::pin(async move {
                this.runs.fetch_add(1, Ordering::SeqCst);
                this.started.notify_one();
                this.release.notified().await;
                Ok(())
            })
        }
    }

    fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }
}

/// Waits (a few seconds at most, as a guard) for the heartbeat to report what `wanted` accepts.
async fn heartbeat(
    events: &mut watch::Receiver<Option<LeaseEvent>>,
    wanted: impl FnMut(&Option<LeaseEvent>) -> bool,
) -> LeaseEvent {
    let seen = tokio::time::timeout(Duration::from_secs(20), events.wait_for(wanted))
        .await
        .expect("the heartbeat reported in time")
        .expect("the worker is alive");
    seen.expect("an event")
}

async fn a_job_running_longer_than_its_lease_is_not_claimed_by_a_second_worker(backend: Backend) {
    let app = spawn_app(backend).await;
    let settings = QueueSettings {
        lease: Duration::from_secs(30),
        ..QueueSettings::default()
    };
    let long = LongJob::default();
    let first = app.worker_with(
        settings.clone(),
        Registry::new().register(RUN_DELAYED_ACTION, long.handler()),
    );
    let second = app.worker_with(
        settings,
        Registry::new().register(RUN_DELAYED_ACTION, long.handler()),
    );
    let id = app
        .queue()
        .enqueue(&job(1, START_MS))
        .await
        .expect("enqueue");
    let mut events = first.lease_events();

    let running = tokio::spawn({
        let first = first.clone();
        async move { first.try_run_one().await }
    });
    long.started.notified().await;
    // 4 × 20 s: the job runs 80 s, well past its 30 s lease, renewed each time.
    for _ in 0..4 {
        app.clock.advance(Duration::from_secs(20));
        let until = app.clock.now_ms() + 30_000;
        let renewed = heartbeat(
            &mut events,
            |e| matches!(e, Some(LeaseEvent::Renewed { until: u, .. }) if *u == until),
        )
        .await;
        assert!(matches!(renewed, LeaseEvent::Renewed { lease, .. } if lease.job_id == id));
        assert_eq!(
            second.try_run_one().await.expect("run"),
            Outcome::Idle,
            "the running job is not claimed again"
        );
    }
    long.release.notify_one();

    assert_eq!(
        running.await.expect("task").expect("run"),
        Outcome::Completed { job_id: id }
    );
    assert_eq!(long.runs(), 1);
    assert_eq!(jobs_left(&app).await, 0);
}

async fn a_worker_whose_lease_was_taken_over_does_not_record_the_end_of_the_job(backend: Backend) {
    let app = spawn_app(backend).await;
    let settings = QueueSettings {
        lease: Duration::from_secs(30),
        ..QueueSettings::default()
    };
    let long = LongJob::default();
    let stalled = app.worker_with(
        settings.clone(),
        Registry::new().register(RUN_DELAYED_ACTION, long.handler()),
    );
    let successor = app.worker_with(
        settings,
        Registry::new().register(RUN_DELAYED_ACTION, |_job: ClaimedJob| {
            std::future::ready(Err(JobError::Transient("Kommo answered 503".into())))
        }),
    );
    let id = app
        .queue()
        .enqueue(&job(1, START_MS))
        .await
        .expect("enqueue");
    let mut events = stalled.lease_events();
    let running = tokio::spawn({
        let stalled = stalled.clone();
        async move { stalled.try_run_one().await }
    });
    long.started.notified().await;

    // The worker stalls for 40 s at once (a paused process): its lease runs out before a beat.
    app.clock.advance(Duration::from_secs(40));
    let lost = heartbeat(&mut events, |e| matches!(e, Some(LeaseEvent::Lost { .. }))).await;
    assert!(matches!(lost, LeaseEvent::Lost { lease } if lease.job_id == id));
    // The second attempt's backoff: twice the 10 s base.
    let retry_at = app.clock.now_ms() + 20_000;
    assert_eq!(
        successor.try_run_one().await.expect("run"),
        Outcome::Retrying {
            job_id: id,
            retry_at
        },
        "another worker claims the job and schedules its retry"
    );
    long.release.notify_one();

    assert_eq!(
        running.await.expect("task").expect("run"),
        Outcome::Superseded { job_id: id },
        "the stalled worker's success is not recorded"
    );
    let jobs = app
        .queue()
        .list_jobs(ACCOUNT, &JobFilter::default())
        .await
        .expect("list");
    assert_eq!(jobs.len(), 1, "the job was not deleted over its retry");
    assert_eq!(jobs[0].attempts, 2);
    assert_eq!(jobs[0].run_at, retry_at);
    assert_eq!(jobs[0].last_error.as_deref(), Some("Kommo answered 503"));
}

async fn dead_jobs_older_than_the_retention_setting_are_pruned(backend: Backend) {
    let app = spawn_app_with(backend, json!({ "dead_job_retention_days": 7 })).await;
    let worker = app.worker(
        Registry::new().register(RUN_DELAYED_ACTION, |_job: ClaimedJob| {
            std::future::ready(Err(JobError::Permanent("the lead was deleted".into())))
        }),
    );
    let day = Duration::from_secs(24 * 3600);
    let first = app
        .queue()
        .enqueue(&job(1, START_MS))
        .await
        .expect("enqueue");
    assert_eq!(
        worker.try_run_one().await.expect("run"),
        Outcome::DeadLettered { job_id: first }
    );
    app.clock.advance(3 * day);
    let second = app
        .queue()
        .enqueue(&job(2, START_MS))
        .await
        .expect("enqueue");
    assert_eq!(
        worker.try_run_one().await.expect("run"),
        Outcome::DeadLettered { job_id: second }
    );
    let pending = app
        .queue()
        .enqueue(&job(3, START_MS + 365 * 86_400_000))
        .await
        .expect("enqueue");

    app.clock.set(START_MS + 7 * 86_400_000);
    let on_the_day = app.queue().prune_dead_jobs().await.expect("prune");
    app.clock.advance(Duration::from_millis(1));
    let after = app.queue().prune_dead_jobs().await.expect("prune");
    let left: Vec<i64> = app
        .queue()
        .list_jobs(ACCOUNT, &JobFilter::default())
        .await
        .expect("list")
        .iter()
        .map(|j| j.id)
        .collect();

    assert_eq!((on_the_day, after), (0, 1));
    assert_eq!(left, vec![second, pending]);
}
