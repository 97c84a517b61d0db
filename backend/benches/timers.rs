//! Benchmark `timers`: how late delayed jobs run while 100,000 jobs are pending. The queue (SQLite,
//! the embedded default) holds 100,000 jobs: [`MEASURED`] fall due over the next few seconds, the
//! rest over the coming years. Workers run their real wake-up loop on the system clock; lateness is
//! the time from a job's `run_at` to its handler starting. Writes `lateness_p50_ms`,
//! `lateness_p99_ms` and `peak_rss_mb`.

mod support;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use rulebook::{
    clock::{Clock, SystemClock},
    queue::{
        kinds::RUN_DELAYED_ACTION,
        worker::{ClaimedJob, JobError, Registry, Worker},
        NewJob, Queue, QueueSettings,
    },
};
use serde_json::json;
use support::BenchDatabase;
use tokio::sync::Notify;

const PENDING: usize = 100_000;
const MEASURED: usize = 3_000;
const DUE_OVER_MS: i64 = 6_000;
const WORKERS: usize = 2;
const YEAR_MS: i64 = 365 * 86_400_000;

fn percentile(sorted: &[i64], p: f64) -> i64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    let database = BenchDatabase::sqlite();
    let db = database.connect().await;
    let clock = Arc::new(SystemClock);
    let queue = Queue::new(db.clone(), clock.clone(), QueueSettings::default());

    // First the jobs due in the coming years, then the measured ones, due from 2 s after they are
    // written, so that a slow fill cannot eat into the measurement.
    let far_future = clock.now_ms() + 86_400_000;
    let mut tx = db.pool.begin().await.expect("begin");
    for i in MEASURED..PENDING {
        let run_at = far_future + (i as i64 * 7_919 * 3_600_000) % (5 * YEAR_MS);
        let job = NewJob::new(42, RUN_DELAYED_ACTION, json!({ "i": i }), run_at);
        queue.enqueue_in(&mut tx, &job).await.expect("enqueue");
        if i % 5_000 == 4_999 {
            tx.commit().await.expect("commit");
            tx = db.pool.begin().await.expect("begin");
        }
    }
    tx.commit().await.expect("commit");
    let first_due = clock.now_ms() + 2_000;
    let mut tx = db.pool.begin().await.expect("begin");
    for i in 0..MEASURED {
        let run_at = first_due + (i as i64 * DUE_OVER_MS) / MEASURED as i64;
        let job = NewJob::new(42, RUN_DELAYED_ACTION, json!({ "i": i }), run_at);
        queue.enqueue_in(&mut tx, &job).await.expect("enqueue");
    }
    tx.commit().await.expect("commit");
    let start_wait = first_due - clock.now_ms();
    assert!(start_wait > 0, "writing the measured jobs took over 2 s");

    let lateness = Arc::new(Mutex::new(Vec::with_capacity(MEASURED)));
    let done = Arc::new(Notify::new());
    let handler = {
        let (lateness, done, clock) = (lateness.clone(), done.clone(), clock.clone());
        move |job: ClaimedJob| {
            let late = clock.now_ms() - job.run_at;
            let mut seen = lateness.lock().expect("lock");
            seen.push(late);
            if seen.len() == MEASURED {
                done.notify_one();
            }
            std::future::ready(Ok::<(), JobError>(()))
        }
    };
    let registry = Registry::new().register(RUN_DELAYED_ACTION, handler);
    let stop = Arc::new(Notify::new());
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let worker = Worker::new(queue.clone(), registry.clone());
            let stop = stop.clone();
            tokio::spawn(worker.run(async move { stop.notified().await }))
        })
        .collect();

    let budget =
        Duration::from_millis(u64::try_from(start_wait + DUE_OVER_MS + 20_000).unwrap_or(30_000));
    let finished = tokio::time::timeout(budget, done.notified()).await.is_ok();
    stop.notify_waiters();
    for worker in workers {
        let _ = worker.await;
    }
    let mut lateness = lateness.lock().expect("lock").clone();
    assert!(
        finished,
        "only {} of {MEASURED} due jobs ran in time",
        lateness.len()
    );
    let remaining: i64 = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM jobs")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(
        remaining,
        (PENDING - MEASURED) as i64,
        "only the due jobs ran"
    );
    db.pool.close().await;
    database.remove().await;

    lateness.sort_unstable();
    let p50 = percentile(&lateness, 50.0);
    let p99 = percentile(&lateness, 99.0);
    let peak_rss_mb = support::peak_rss_mb();
    println!("timers: {MEASURED} due among {PENDING} pending; lateness p50 {p50} ms, p99 {p99} ms, max {} ms", lateness.last().copied().unwrap_or(0));
    println!("peak RSS: {peak_rss_mb} MB");
    support::write_result(
        "timers",
        &json!({ "lateness_p50_ms": p50, "lateness_p99_ms": p99, "peak_rss_mb": peak_rss_mb }),
    );
}
