//! The Kommo rate limit shared by several processes through the database.

use std::{sync::Arc, time::Duration};

use rulebook::store::rate_limit::SharedRateLimiter;

use crate::helpers::{connect_state, spawn_app, Backend, START_MS};

crate::on_both_databases!(
    two_processes_share_one_accounts_slots_and_never_exceed_the_rate,
    an_idle_account_starts_again_from_now,
);

async fn two_processes_share_one_accounts_slots_and_never_exceed_the_rate(backend: Backend) {
    let app = spawn_app(backend).await;
    let other_process = connect_state(&app.database_url, &app.clock).await;
    let clock: rulebook::clock::SharedClock = Arc::new(app.clock.clone());
    let here = SharedRateLimiter::new(app.db().clone(), clock.clone(), 6);
    let there = SharedRateLimiter::new(other_process.db.clone(), clock, 6);
    const REQUESTS: usize = 30;

    let tasks: Vec<_> = (0..REQUESTS)
        .map(|i| {
            let limiter = if i % 2 == 0 {
                here.clone()
            } else {
                there.clone()
            };
            tokio::spawn(async move { limiter.reserve("acme").await })
        })
        .collect();
    let mut slots = Vec::new();
    for task in tasks {
        slots.push(task.await.expect("task").expect("reserve"));
    }
    let other_account = here.reserve("globex").await.expect("reserve");

    slots.sort_unstable();
    assert_eq!(here.period_ms(), 167);
    let expected: Vec<i64> = (0..REQUESTS as i64).map(|i| START_MS + i * 167).collect();
    assert_eq!(slots, expected, "slots are distinct and evenly spaced");
    for (i, &start) in slots.iter().enumerate() {
        let in_window = slots[i..]
            .iter()
            .take_while(|&&s| s < start + 1_000)
            .count();
        assert!(
            in_window <= 6,
            "{in_window} requests within one second from {start}"
        );
    }
    assert_eq!(other_account, START_MS, "another account is not held back");
}

async fn an_idle_account_starts_again_from_now(backend: Backend) {
    let app = spawn_app(backend).await;
    let limiter = SharedRateLimiter::new(app.db().clone(), Arc::new(app.clock.clone()), 7);
    limiter.reserve("acme").await.expect("reserve");
    limiter.reserve("acme").await.expect("reserve");

    app.clock.advance(Duration::from_secs(60));
    let slot = limiter.reserve("acme").await.expect("reserve");

    assert_eq!(slot, START_MS + 60_000);
}
