//! The execution pipeline end to end: a change in the emulated Kommo account, the webhook the
//! emulator sends to the backend over loopback HTTP, the rule the backend runs, and the action
//! visible in the emulator afterwards. Every test runs on SQLite and on PostgreSQL.

use std::time::Duration;

use rulebook::{
    queue::JobFilter,
    store::{execution_log::ExecutionOutcome, rules, variables},
};
use rulebook_e2e::stack::{
    default_seed, field, tags, Database, Stack, ACCOUNT_ID, START_MS, SUBDOMAIN,
};
use serde_json::{json, Value};

macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(rulebook_e2e::stack::Database::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(rulebook_e2e::stack::Database::Postgres).await
            }
        }
    )*};
}

on_both_databases!(
    wholesale_and_retail_leads_go_to_their_managers,
    a_stage_change_sets_fields_tags_stage_and_notes,
    a_rule_that_triggers_itself_stops_at_the_chain_limit_and_is_logged_as_a_loop,
    a_delayed_action_runs_later_against_a_fresh_snapshot_and_waits_while_its_rule_is_disabled,
    replace_pending_keeps_one_job_and_cancel_delayed_jobs_removes_it,
    the_birthday_greeting_starts_a_salesbot_on_the_next_birthday,
    the_missed_call_counter_counts_in_a_global_variable,
);

async fn stack(database: Database) -> Stack {
    Stack::start(database, default_seed()).await
}

fn wholesale_retail_rule() -> Value {
    let assign = |user: i64, block: &str, text: &str| {
        json!({
            "name": block,
            "conditions": [{"left": {"path": "lead.name"}, "op": {"is": "equals"}, "right": {"literal": text}}],
            "actions": [
                {"do": {"type": "change_responsible", "entity": "lead", "user": {"user": user}, "in_contacts": true}},
                {"do": {"type": "create_task", "entity": "lead", "responsible": {"user": user}, "task_type_id": 1,
                        "complete_in_seconds": 3600, "text": "Process {{lead.name}} for {{lead.price}}"}}
            ]
        })
    };
    json!({
        "schema_version": 2,
        "name": "Task to handle",
        "trigger": {"kind": "entity_added", "entity": "lead"},
        "blocks": [assign(101, "If wholesale", "WHOLESALE form order"), assign(102, "If retail", "RETAIL form order")],
        "else_scenario": {"actions": [{"do": {"type": "add_note", "entity": "lead", "text": "Neither: {{lead.name}}"}}]}
    })
}

async fn wholesale_and_retail_leads_go_to_their_managers(database: Database) {
    let stack = stack(database).await;
    let rule = stack.rule("Task to handle", wholesale_retail_rule()).await;
    let lead = |name: &str| {
        let contact = stack.create(
            "contacts",
            json!({"name": "Client", "responsible_user_id": 102}),
        );
        let lead = stack.create(
            "leads",
            json!({"name": name, "price": 1500, "responsible_user_id": 102,
                   "_embedded": {"contacts": [{"id": contact, "is_main": true}]}}),
        );
        (lead, contact)
    };
    let (wholesale, wholesale_contact) = lead("WHOLESALE form order");
    let (retail, _) = lead("RETAIL form order");
    let (other, other_contact) = lead("Something else");

    stack.settle().await;

    assert_eq!(stack.lead(wholesale)["responsible_user_id"], 101);
    assert_eq!(stack.lead(retail)["responsible_user_id"], 102);
    let tasks = stack.emulator().tasks(SUBDOMAIN);
    let task_of = |lead: i64| tasks.iter().find(|t| t["entity_id"] == lead).cloned();
    let task = task_of(wholesale).expect("the wholesale lead got a task");
    assert_eq!(task["responsible_user_id"], 101);
    assert_eq!(task["text"], "Process WHOLESALE form order for 1500");
    assert_eq!(
        task_of(retail).expect("the retail lead got a task")["responsible_user_id"],
        102
    );
    assert!(task_of(other).is_none());
    let notes = stack.notes_of(other);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["params"]["text"], "Neither: Something else");
    // The change of responsible reached the lead's contact too; the else scenario changed nothing.
    assert_eq!(stack.contact(wholesale_contact)["responsible_user_id"], 101);
    assert_eq!(stack.contact(other_contact)["responsible_user_id"], 102);

    let log = stack.log(rule).await;
    assert_eq!(log.len(), 3, "one run per lead");
    assert!(
        log.iter().all(|e| e.outcome == ExecutionOutcome::Ok),
        "{log:?}"
    );
    let first = log
        .iter()
        .find(|e| e.trace["event"]["entity"]["id"] == wholesale)
        .expect("the wholesale run");
    assert_eq!(first.trace["trace"]["blocks"][0]["status"], "completed");
    assert_eq!(
        first.trace["trace"]["blocks"][1]["status"],
        "conditions_not_met"
    );
    assert_eq!(
        first.trace["trace"]["blocks"][1]["conditions"][0]["left"],
        json!({"type": "text", "value": "WHOLESALE form order"})
    );
    assert_eq!(first.trace["actions"][1]["kind"], "create_task");
    assert_eq!(first.trace["actions"][1]["status"], "ok");
}

async fn a_stage_change_sets_fields_tags_stage_and_notes(database: Database) {
    let stack = stack(database).await;
    stack
        .rule(
            "Qualified",
            json!({
                "schema_version": 2,
                "name": "Qualified",
                "trigger": {"kind": "status_changed", "pipeline_id": 10, "status_id": 12, "entry": "moved"},
                "blocks": [{"name": "all", "actions": [
                    {"do": {"type": "change_fields", "entity": "lead", "fields": [
                        {"field": {"custom": 501}, "value": "RETAIL"},
                        {"field": {"custom": 502}, "value": "{{ (lead.price*2):calc }}"},
                        {"field": {"custom": 503}, "value": "1"},
                        {"field": {"custom": 504}, "value": "Call {{contact.cf(601)}}"},
                        {"field": "price", "value": "2500"}
                    ]}},
                    {"do": {"type": "change_tags", "entity": "lead", "change": "add", "tags": "hot, qualified"}},
                    {"do": {"type": "change_tags", "entity": "lead", "change": "remove", "tags": "cold"}},
                    {"do": {"type": "add_note", "entity": "lead", "text": "Qualified by {{lead.responsible.name}}"}},
                    {"do": {"type": "change_status", "pipeline_id": 10, "status_id": 13}}
                ]}]
            }),
        )
        .await;
    let contact = stack.create(
        "contacts",
        json!({"name": "Client", "custom_fields_values": [
            {"field_id": 601, "values": [{"value": "+49 30 1234", "enum_code": "WORK"}]}]}),
    );
    let lead = stack.create(
        "leads",
        json!({"name": "Deal", "price": 700, "pipeline_id": 10, "status_id": 11, "responsible_user_id": 101,
               "_embedded": {"contacts": [{"id": contact}], "tags": [{"name": "cold"}]}}),
    );
    stack.settle().await;
    assert_eq!(
        stack.lead(lead)["status_id"],
        11,
        "created in stage 11: the rule waits for a move"
    );

    stack.kommo_call(
        "PATCH",
        "/api/v4/leads",
        Some(json!([{"id": lead, "status_id": 12}])),
    );
    stack.settle().await;

    let after = stack.lead(lead);
    assert_eq!(after["status_id"], 13);
    assert_eq!(after["price"], 2500);
    assert_eq!(field(&after, 501), "RETAIL");
    assert_eq!(field(&after, 502), "1400", "Kommo keeps numbers as text");
    assert_eq!(field(&after, 503), true);
    assert_eq!(field(&after, 504), "Call +49 30 1234");
    assert_eq!(tags(&after), vec!["hot".to_owned(), "qualified".to_owned()]);
    let notes = stack.notes_of(lead);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["params"]["text"], "Qualified by Anna");
}

async fn a_rule_that_triggers_itself_stops_at_the_chain_limit_and_is_logged_as_a_loop(
    database: Database,
) {
    let stack = stack(database).await;
    let rule = stack
        .rule(
            "Echo",
            json!({
                "schema_version": 2,
                "name": "Echo",
                "trigger": {"kind": "entity_updated", "entity": "lead"},
                "blocks": [{"name": "note", "actions": [
                    {"do": {"type": "add_note", "entity": "lead", "text": "Updated"}}]}]
            }),
        )
        .await;
    let lead = stack.create("leads", json!({"name": "Deal"}));
    stack.settle().await;
    stack.kommo_call(
        "PATCH",
        "/api/v4/leads",
        Some(json!([{"id": lead, "name": "Deal 2"}])),
    );

    // Each round delivers what Kommo sent, then lets the rule's minimum interval (5 s) pass before
    // the backend handles it, so only the chain limit can stop the echo.
    for _ in 0..12 {
        stack.emulator().deliver_due().await;
        stack.advance(Duration::from_secs(6));
        while !matches!(
            stack.worker.try_run_one().await.expect("worker"),
            rulebook::queue::worker::Outcome::Idle
        ) {}
    }
    assert_eq!(
        stack.settle().await,
        0,
        "nothing is left to do: the echo stopped"
    );

    let notes = stack.notes_of(lead);
    assert_eq!(
        notes.len(),
        6,
        "the person's change and 5 echoes of our own: {notes:?}"
    );
    let log = stack.log(rule).await;
    let newest = log.first().expect("logged");
    assert_eq!(newest.outcome, ExecutionOutcome::Loop);
    assert_eq!(newest.trace["depth"], 6);
    assert!(
        newest.trace["loop"]
            .as_str()
            .is_some_and(|r| r.contains("limit of 5")),
        "{}",
        newest.trace
    );
    assert_eq!(
        log.iter()
            .filter(|e| e.outcome == ExecutionOutcome::Ok)
            .count(),
        6
    );
}

async fn pending_jobs(stack: &Stack, rule_id: i64) -> Vec<rulebook::queue::JobInfo> {
    let filter = JobFilter {
        rule_id: Some(rule_id),
        ..JobFilter::default()
    };
    stack
        .app
        .queue
        .list_jobs(ACCOUNT_ID, &filter)
        .await
        .expect("jobs")
}

async fn a_delayed_action_runs_later_against_a_fresh_snapshot_and_waits_while_its_rule_is_disabled(
    database: Database,
) {
    let stack = stack(database).await;
    let rule = stack
        .rule(
            "Reminder",
            json!({
                "schema_version": 2,
                "name": "Reminder",
                "trigger": {"kind": "entity_added", "entity": "lead"},
                "blocks": [{"id": 1, "name": "remind", "actions": [
                    {"id": 7, "timer": {"kind": "after", "amount": 1, "unit": "hours"},
                     "do": {"type": "add_note", "entity": "lead", "text": "Reminder: {{lead.name}}"}}]}]
            }),
        )
        .await;
    let lead = stack.create("leads", json!({"name": "First name"}));
    stack.settle().await;
    assert!(
        stack.notes_of(lead).is_empty(),
        "nothing happens before the timer"
    );
    let jobs = pending_jobs(&stack, rule).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].run_at, START_MS + 3_600_000);
    assert_eq!(jobs[0].entity_id, Some(lead));
    assert_eq!(jobs[0].block_id.as_deref(), Some("1"));
    assert_eq!(jobs[0].action_id.as_deref(), Some("7"));

    stack.kommo_call(
        "PATCH",
        "/api/v4/leads",
        Some(json!([{"id": lead, "name": "Renamed"}])),
    );
    stack.settle().await;
    rules::set_enabled(&stack.app.db, ACCOUNT_ID, rule, false, stack.clock_ms())
        .await
        .expect("disable");
    stack.advance(Duration::from_secs(3_700));
    stack.settle().await;
    assert!(
        stack.notes_of(lead).is_empty(),
        "a disabled rule's job waits"
    );
    assert_eq!(pending_jobs(&stack, rule).await.len(), 1);

    rules::set_enabled(&stack.app.db, ACCOUNT_ID, rule, true, stack.clock_ms())
        .await
        .expect("enable");
    stack.settle().await;
    let notes = stack.notes_of(lead);
    assert_eq!(notes.len(), 1);
    assert_eq!(
        notes[0]["params"]["text"], "Reminder: Renamed",
        "rendered against a fresh snapshot"
    );
    assert!(pending_jobs(&stack, rule).await.is_empty());
    let log = stack.log(rule).await;
    assert_eq!(log[0].trace["source"], "timer");
    assert_eq!(log[0].trace["actions"][0]["status"], "ok");
}

async fn replace_pending_keeps_one_job_and_cancel_delayed_jobs_removes_it(database: Database) {
    let stack = stack(database).await;
    let follow_up = stack
        .rule(
            "Follow up",
            json!({
                "schema_version": 2,
                "name": "Follow up",
                "trigger": {"kind": "entity_updated", "entity": "lead"},
                "blocks": [{"id": 1, "actions": [
                    {"id": 2, "replace_pending": true, "timer": {"kind": "after", "amount": 2, "unit": "days"},
                     "do": {"type": "add_note", "entity": "lead", "text": "No news for two days"}}]}]
            }),
        )
        .await;
    stack
        .rule(
            "Stop",
            json!({
                "schema_version": 2,
                "name": "Stop",
                "trigger": {"kind": "tag_added", "entity": "lead", "tags": ["won"]},
                "blocks": [{"actions": [{"do": {"type": "cancel_delayed", "rule_id": follow_up}}]}]
            }),
        )
        .await;
    let lead = stack.create("leads", json!({"name": "Deal"}));
    stack.settle().await;
    for price in [100, 200, 300] {
        stack.advance(Duration::from_secs(10));
        stack.kommo_call(
            "PATCH",
            "/api/v4/leads",
            Some(json!([{"id": lead, "price": price}])),
        );
        stack.settle().await;
    }
    let jobs = pending_jobs(&stack, follow_up).await;
    assert_eq!(
        jobs.len(),
        1,
        "each update replaced the waiting job: {jobs:?}"
    );
    assert_eq!(jobs[0].run_at, START_MS + 30_000 + 2 * 86_400_000);

    stack.advance(Duration::from_secs(10));
    stack.kommo_call(
        "PATCH",
        "/api/v4/leads",
        Some(json!([{"id": lead, "tags_to_add": [{"name": "won"}]}])),
    );
    stack.settle().await;
    assert!(
        pending_jobs(&stack, follow_up).await.is_empty(),
        "cancelled"
    );
    stack.advance(Duration::from_secs(3 * 86_400));
    stack.settle().await;
    assert!(stack.notes_of(lead).is_empty());
}

async fn the_birthday_greeting_starts_a_salesbot_on_the_next_birthday(database: Database) {
    let stack = stack(database).await;
    stack
        .rule(
            "Birthday greeting",
            json!({
                "schema_version": 2,
                "name": "Birthday greeting",
                "trigger": {"kind": "entity_updated", "entity": "contact"},
                "blocks": [{"id": 1, "name": "Has a birthday",
                    "conditions": [{"left": {"path": "contact.cf(603)"}, "op": {"is": "is_not_empty"}}],
                    "actions": [{"id": 10, "replace_pending": true,
                        "timer": {"kind": "yearly_from_field", "field": "contact.cf(603)", "at": "09:00:00"},
                        "do": {"type": "run_salesbot", "entity": "contact", "bot_id": 77}}]}]
            }),
        )
        .await;
    let contact = stack.create("contacts", json!({"name": "Birthday person"}));
    stack.settle().await;
    // Born on 5 January 1990 (midnight in the account's timezone, as Kommo stores birthdays).
    let birthday = 631_494_000;
    stack.kommo_call(
        "PATCH",
        "/api/v4/contacts",
        Some(json!([{"id": contact, "custom_fields_values": [{"field_id": 603, "values": [{"value": birthday}]}]}])),
    );
    stack.settle().await;
    let jobs = stack
        .app
        .queue
        .list_jobs(ACCOUNT_ID, &JobFilter::default())
        .await
        .expect("jobs");
    assert_eq!(jobs.len(), 1);
    // 5 January 2027, 09:00 in Berlin (UTC+1).
    assert_eq!(jobs[0].run_at, 1_799_136_000_000);
    stack.advance(Duration::from_millis(
        u64::try_from(1_799_136_000_000 - START_MS).expect("future"),
    ));
    stack.settle().await;
    let runs = stack.emulator().salesbot_runs(SUBDOMAIN);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["bot_id"], 77);
    assert_eq!(runs[0]["entity_id"], contact);
}

async fn the_missed_call_counter_counts_in_a_global_variable(database: Database) {
    let stack = stack(database).await;
    stack
        .rule(
            "Missed calls",
            json!({
                "schema_version": 2,
                "name": "Missed calls",
                "trigger": {"kind": "note_added", "entity": "lead", "note_types": ["call"]},
                "blocks": [
                    {"name": "Too many missed calls",
                     "conditions": [{"left": {"global": "missed_calls"}, "op": {"is": "greater_or_equal"}, "right": {"literal": 2}}],
                     "actions": [{"do": {"type": "add_note", "entity": "lead", "text": "{missed_calls} missed calls so far"}}]},
                    {"name": "Count a missed call",
                     "conditions": [
                        {"left": {"path": "event.direction"}, "op": {"is": "equals"}, "right": {"literal": "incoming"}},
                        {"left": {"path": "event.call_status"}, "op": {"is": "is_one_of"}, "right": {"literal": ["no_answer", "busy", "unavailable"]}}
                     ],
                     "actions": [{"do": {"type": "change_global_variable", "name": "missed_calls", "change": "calculate",
                                         "value": "{{ ({missed_calls}+1):calc }}"}}]}
                ]
            }),
        )
        .await;
    let lead = stack.create("leads", json!({"name": "Caller"}));
    stack.settle().await;
    let call = |status: i64| {
        stack.kommo_call(
            "POST",
            "/api/v4/leads/notes",
            Some(
                json!([{"entity_id": lead, "note_type": "call_in", "params": {
                "uniq": format!("u{status}-{}", stack.clock_ms()), "duration": 0, "source": "pbx",
                "phone": "+1555", "call_status": status}}]),
            ),
        );
    };
    for status in [6, 4, 7, 3] {
        stack.advance(Duration::from_secs(10));
        call(status);
        stack.settle().await;
    }
    let counter = variables::get_variable(&stack.app.db, ACCOUNT_ID, "missed_calls")
        .await
        .expect("read")
        .expect("the counter exists");
    assert_eq!(
        counter.value, "3",
        "no answer, busy and unavailable count; a held call does not"
    );
    let texts: Vec<String> = stack
        .notes_of(lead)
        .iter()
        .filter(|n| n["note_type"] == "common")
        .map(|n| n["params"]["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(texts, vec!["2 missed calls so far".to_owned()]);
}
