//! `/metrics` of a running backend: the Kommo requests the client sent, by status, and Kommo's
//! 429s, counted as the client meets them (the recorder is the process's, so counts are compared
//! before and after).

use kommo_emulator::{Fault, FaultRule};
use rulebook_e2e::on_both_databases;
use rulebook_e2e::stack::{default_seed, Stack, SUBDOMAIN};
use serde_json::json;

on_both_databases!(kommo_requests_and_their_429s_are_counted);

async fn scrape(stack: &Stack) -> String {
    reqwest::get(format!("{}/metrics", stack.backend_url))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

/// The sum of the samples of `name` whose labels include each of `labels`.
fn sample_sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(series, _)| {
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            metric == name && labels.iter().all(|l| rest.contains(l))
        })
        .filter_map(|(_, value)| value.parse::<f64>().ok())
        .sum()
}

async fn kommo_requests_and_their_429s_are_counted(database: rulebook_e2e::stack::Database) {
    let stack = Stack::start(database, default_seed()).await;
    stack
        .rule(
            "Note on new leads",
            json!({"schema_version": 2, "name": "Note on new leads",
                   "trigger": {"kind": "entity_added", "entity": "lead"},
                   "blocks": [{"actions": [{"do": {"type": "add_note", "entity": "lead", "text": "Hello {{lead.name}}"}}]}]}),
        )
        .await;
    let before = scrape(&stack).await;
    stack
        .emulator()
        .inject_fault(
            SUBDOMAIN,
            FaultRule {
                fault: Fault::TooManyRequests,
                count: 1,
                method: Some("GET".into()),
            },
        )
        .expect("fault");

    let lead = stack.create("leads", json!({"name": "Counted"}));
    stack.settle().await;

    assert_eq!(
        stack.notes_of(lead).len(),
        1,
        "the rule ran despite the 429"
    );
    let after = scrape(&stack).await;
    let grew = |name: &str, labels: &[&str]| {
        sample_sum(&after, name, labels) - sample_sum(&before, name, labels)
    };
    assert!(
        grew(
            "kommo_requests_total",
            &[r#"method="GET""#, r#"status="429""#]
        ) >= 1.0
    );
    assert!(
        grew(
            "kommo_requests_total",
            &[r#"method="GET""#, r#"status="200""#]
        ) >= 1.0
    );
    assert!(grew("kommo_requests_total", &[r#"method="POST""#]) >= 1.0);
    assert!(grew("kommo_responses_429_total", &[]) >= 1.0);
}
