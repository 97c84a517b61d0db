//! Delays and timers as the Triggers manual describes them, end to end against the emulator: a
//! block's delay waits and then checks its conditions again on a fresh snapshot; timers run from
//! 1 second to 99 years (the API refuses anything outside, a rule inside schedules its job); and a
//! date-field timer at a local time of day keeps that time across a daylight-saving change. Every
//! test runs on SQLite and on PostgreSQL, with the injected clock moved by hand.

use std::time::Duration;

use rulebook::queue::JobFilter;
use rulebook_e2e::stack::{default_seed, Database, Stack, ACCOUNT_ID, START_MS};
use serde_json::{json, Value};

rulebook_e2e::on_both_databases!(
    a_delayed_block_checks_its_conditions_again_on_a_fresh_snapshot,
    timers_keep_the_manuals_range_of_one_second_to_99_years,
    a_reminder_a_day_before_a_date_field_fires_at_10_local_across_the_october_change,
);

async fn jobs(stack: &Stack, rule_id: i64) -> Vec<rulebook::queue::JobInfo> {
    let filter = JobFilter {
        rule_id: Some(rule_id),
        ..JobFilter::default()
    };
    let mut jobs = stack
        .app
        .queue
        .list_jobs(ACCOUNT_ID, &filter)
        .await
        .expect("jobs");
    jobs.sort_by_key(|j| (j.run_at, j.entity_id));
    jobs
}

fn note_texts(stack: &Stack, entity_id: i64) -> Vec<String> {
    stack
        .notes_of(entity_id)
        .iter()
        .map(|n| n["params"]["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn rename(stack: &Stack, lead: i64, name: &str) {
    stack.kommo_call(
        "PATCH",
        "/api/v4/leads",
        Some(json!([{"id": lead, "name": name}])),
    );
}

async fn a_delayed_block_checks_its_conditions_again_on_a_fresh_snapshot(database: Database) {
    let stack = Stack::start(database, default_seed()).await;
    let rule = stack
        .rule(
            "Hot leads",
            json!({
                "schema_version": 2,
                "name": "Hot leads",
                "trigger": {"kind": "entity_added", "entity": "lead"},
                "blocks": [{"id": 3, "name": "Still hot after ten minutes", "delay_seconds": 600,
                    "conditions": [{"left": {"path": "lead.name"}, "op": {"is": "contains"},
                                    "right": {"literal": "HOT"}}],
                    "actions": [{"do": {"type": "add_note", "entity": "lead",
                                        "text": "Still hot: {{lead.name}}"}}]}]
            }),
        )
        .await;
    let cooled = stack.create("leads", json!({"name": "HOT order 1"}));
    let kept = stack.create("leads", json!({"name": "HOT order 2"}));
    stack.settle().await;

    // Nothing happens before the delay; each lead's block waits as a job due in ten minutes.
    assert!(note_texts(&stack, cooled).is_empty());
    assert!(note_texts(&stack, kept).is_empty());
    let waiting = jobs(&stack, rule).await;
    assert_eq!(waiting.len(), 2, "{waiting:?}");
    for job in &waiting {
        assert_eq!(job.run_at, START_MS + 600_000);
        assert_eq!(job.block_id.as_deref(), Some("3"));
    }
    let first = stack.log(rule).await;
    assert!(
        first
            .iter()
            .all(|e| e.trace["trace"]["blocks"][0]["status"] == "deferred"),
        "{:?}",
        first.iter().map(|e| &e.trace).collect::<Vec<_>>()
    );

    // During the delay one lead stops matching, the other is renamed but still matches.
    stack.advance(Duration::from_secs(300));
    rename(&stack, cooled, "Cold order 1");
    rename(&stack, kept, "HOT order 2 (called)");
    stack.settle().await;
    assert!(note_texts(&stack, kept).is_empty(), "still waiting");

    stack.advance(Duration::from_secs(299));
    stack.settle().await;
    assert!(
        note_texts(&stack, kept).is_empty(),
        "a second early, still waiting"
    );

    stack.advance(Duration::from_secs(1));
    stack.settle().await;
    assert_eq!(
        note_texts(&stack, kept),
        vec!["Still hot: HOT order 2 (called)".to_owned()],
        "the lead that still matches is acted on, rendered from the fresh snapshot"
    );
    assert!(
        note_texts(&stack, cooled).is_empty(),
        "the lead that no longer matches is not"
    );
    assert!(jobs(&stack, rule).await.is_empty());

    // The debugger shows why: the re-check read the lead's new name.
    let log = stack.log(rule).await;
    let resumed = |lead: i64| {
        log.iter()
            .find(|e| {
                e.trace["event"]["entity"]["id"] == lead
                    && e.trace["trace"]["blocks"][0]["conditions"]
                        .as_array()
                        .is_some_and(|c| !c.is_empty())
            })
            .unwrap_or_else(|| panic!("the resumed run of {lead}: {log:?}"))
            .trace
            .clone()
    };
    let cooled_run = resumed(cooled);
    assert_eq!(
        cooled_run["trace"]["blocks"][0]["status"], "conditions_not_met",
        "{cooled_run}"
    );
    assert_eq!(
        cooled_run["trace"]["blocks"][0]["conditions"][0]["left"],
        json!({"type": "text", "value": "Cold order 1"})
    );
    let kept_run = resumed(kept);
    assert_eq!(
        kept_run["trace"]["blocks"][0]["status"], "completed",
        "{kept_run}"
    );
    assert_eq!(kept_run["actions"][0]["status"], "ok");
}

/// A lead rule whose one action adds a note after `timer`.
fn timed(name: &str, timer: Value) -> Value {
    json!({"name": name, "rule": {
        "schema_version": 2, "name": name,
        "trigger": {"kind": "entity_added", "entity": "lead"},
        "blocks": [{"actions": [{"timer": timer,
            "do": {"type": "add_note", "entity": "lead", "text": name}}]}]
    }})
}

/// The (path, code, message) of each field error of a problem.
fn errors(problem: &Value) -> Vec<(String, String, String)> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("field errors in {problem}"))
        .iter()
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (text("path"), text("code"), text("message"))
        })
        .collect()
}

fn error(path: &str, message: &str) -> (String, String, String) {
    (
        path.to_owned(),
        "out_of_range".to_owned(),
        message.to_owned(),
    )
}

async fn timers_keep_the_manuals_range_of_one_second_to_99_years(database: Database) {
    let stack = Stack::start(database, default_seed()).await;
    let day = 86_400_000_i64;
    // 99 years from the start (2026-11-23) hold 24 leap days; the longest timer is 99 × 365 + 25
    // days, so 99 calendar years from any day fit.
    let longest_days = 99 * 365 + 25;

    let refused = [
        (
            timed(
                "Zero",
                json!({"kind": "after", "amount": 0, "unit": "seconds"}),
            ),
            error(
                "/blocks/0/actions/0/timer/amount",
                "block 1, action 1: a timer waits at least 1 second; for at once, use no timer",
            ),
        ),
        (
            timed(
                "Too long",
                json!({"kind": "after", "amount": longest_days + 1, "unit": "days"}),
            ),
            error(
                "/blocks/0/actions/0/timer/amount",
                "block 1, action 1: a timer waits at most 99 years",
            ),
        ),
        (
            timed(
                "Too early",
                json!({"kind": "date_field", "field": "lead.cf(506)",
                       "shift_days": -(longest_days + 1), "at": "10:00:00"}),
            ),
            error(
                "/blocks/0/actions/0/timer/shift_days",
                "block 1, action 1: a timer shifts the date by at most 99 years",
            ),
        ),
    ];
    for (body, expected) in refused {
        let (status, problem) = stack.api("POST", "/api/v1/rules", Some(body)).await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["code"], "invalid", "{problem}");
        assert_eq!(errors(&problem), vec![expected]);
    }

    let mut ids = Vec::new();
    for body in [
        timed(
            "One second",
            json!({"kind": "after", "amount": 1, "unit": "seconds"}),
        ),
        timed(
            "99 years",
            json!({"kind": "after", "amount": longest_days, "unit": "days"}),
        ),
    ] {
        let (status, created) = stack.api("POST", "/api/v1/rules", Some(body)).await;
        assert_eq!(status, 201, "{created}");
        ids.push(created["id"].as_i64().expect("rule id"));
    }
    let lead = stack.create("leads", json!({"name": "Deal"}));
    stack.settle().await;
    assert!(note_texts(&stack, lead).is_empty());
    let one = jobs(&stack, ids[0]).await;
    assert_eq!(one.len(), 1, "{one:?}");
    assert_eq!(one[0].run_at, START_MS + 1_000);
    assert_eq!(one[0].entity_id, Some(lead));
    let long = jobs(&stack, ids[1]).await;
    assert_eq!(long.len(), 1, "{long:?}");
    // Days are calendar days in Berlin; noon UTC is 13:00 local in winter and 14:00 in summer,
    // and 2125-11-23 is in winter, so the job is exactly that many days of 24 hours away.
    assert_eq!(long[0].run_at, START_MS + longest_days * day);

    stack.advance(Duration::from_secs(1));
    stack.settle().await;
    assert_eq!(
        note_texts(&stack, lead),
        vec!["One second".to_owned()],
        "the one-second timer ran; the 99-year one waits"
    );
    assert_eq!(jobs(&stack, ids[1]).await.len(), 1);
}

/// A lead whose meeting (the date-time field 506) is at `meeting_utc_s`.
fn meeting_lead(stack: &Stack, name: &str, meeting_utc_s: i64) -> i64 {
    stack.create(
        "leads",
        json!({"name": name, "custom_fields_values": [
            {"field_id": 506, "values": [{"value": meeting_utc_s}]}]}),
    )
}

async fn a_reminder_a_day_before_a_date_field_fires_at_10_local_across_the_october_change(
    database: Database,
) {
    let stack = Stack::start(database, default_seed()).await;
    let rule = stack
        .rule(
            "Meeting reminder",
            json!({
                "schema_version": 2,
                "name": "Meeting reminder",
                "trigger": {"kind": "entity_added", "entity": "lead"},
                "blocks": [{"id": 1, "actions": [{"id": 2,
                    "timer": {"kind": "date_field", "field": "lead.cf(506)", "shift_days": -1, "at": "10:00:00"},
                    "do": {"type": "add_note", "entity": "lead", "text": "Meeting tomorrow: {{lead.name}}"}}]}]
            }),
        )
        .await;
    // Berlin leaves summer time at 03:00 local on Sunday 31 October 2027 (CEST, UTC+2 → CET, UTC+1).
    // A meeting on Sunday 31 October at 15:00 CET (14:00 UTC): the reminder is on Saturday 30
    // October at 10:00 CEST, 08:00 UTC.
    let before = meeting_lead(&stack, "Sunday meeting", 1_824_991_200);
    // A meeting on Monday 1 November at 15:00 CET (14:00 UTC): the reminder is on Sunday 31
    // October at 10:00 CET, after the change, 09:00 UTC.
    let after = meeting_lead(&stack, "Monday meeting", 1_825_077_600);
    stack.settle().await;

    let saturday_10_cest = 1_824_883_200_000_i64; // 2027-10-30T08:00:00Z
    let sunday_10_cet = 1_824_973_200_000_i64; // 2027-10-31T09:00:00Z
    let due: Vec<(Option<i64>, i64)> = jobs(&stack, rule)
        .await
        .iter()
        .map(|j| (j.entity_id, j.run_at))
        .collect();
    assert_eq!(
        due,
        vec![
            (Some(before), saturday_10_cest),
            (Some(after), sunday_10_cet)
        ],
        "10:00 in Berlin: 08:00 UTC before the change, 09:00 UTC after it"
    );

    // A minute before 10:00 CEST on Saturday nothing has run.
    let to = |at_ms: i64| {
        Duration::from_millis(u64::try_from(at_ms - stack.clock_ms()).expect("in the future"))
    };
    stack.advance(to(saturday_10_cest - 60_000));
    stack.settle().await;
    assert!(note_texts(&stack, before).is_empty());
    assert!(note_texts(&stack, after).is_empty());

    stack.advance(to(saturday_10_cest));
    stack.settle().await;
    assert_eq!(
        note_texts(&stack, before),
        vec!["Meeting tomorrow: Sunday meeting".to_owned()]
    );
    assert!(note_texts(&stack, after).is_empty());

    // Sunday 10:00 CEST would have been 08:00 UTC: after the change it is not yet 10:00 local.
    stack.advance(to(sunday_10_cet - 3_600_000));
    stack.settle().await;
    assert!(
        note_texts(&stack, after).is_empty(),
        "08:00 UTC on Sunday is 09:00 local"
    );
    stack.advance(to(sunday_10_cet));
    stack.settle().await;
    assert_eq!(
        note_texts(&stack, after),
        vec!["Meeting tomorrow: Monday meeting".to_owned()]
    );
    assert_eq!(
        note_texts(&stack, before).len(),
        1,
        "each reminder ran once"
    );
    assert!(jobs(&stack, rule).await.is_empty());
    let log = stack.log(rule).await;
    assert!(
        log.iter()
            .filter(|e| e.trace["source"] == "timer")
            .all(|e| e.trace["actions"][0]["status"] == "ok"),
        "{:?}",
        log.iter().map(|e| &e.trace).collect::<Vec<_>>()
    );
}
