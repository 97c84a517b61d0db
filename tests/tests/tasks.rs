//! Tasks in the Triggers manual, end to end against the emulator: a change of a task's
//! responsible user starts the rules listening for it; a task rule's conditions read the task's
//! start, finish, duration, type and completion from the real task; and a lead rule's conditions
//! read the task counts of the lead's main contact and company, which the snapshot reads only
//! because the rule names them. Every test runs on SQLite and on PostgreSQL.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rulebook_e2e::on_both_databases;
use rulebook_e2e::stack::{default_seed, Database, Stack};
use serde_json::{json, Value};

on_both_databases!(
    a_task_responsible_change_starts_its_rule_and_task_conditions_read_the_real_task,
    conditions_read_the_open_and_overdue_tasks_of_the_main_contact_and_the_company,
);

/// The stack, subscribed to the account webhook events the backend subscribes to on connection
/// (the stack's own list predates `responsible_task`).
async fn stack(database: Database) -> Stack {
    let stack = Stack::start(database, default_seed()).await;
    stack.kommo_call(
        "POST",
        "/api/v4/webhooks",
        Some(json!({"destination": stack.hook_url, "settings": rulebook::connect::WEBHOOK_EVENTS})),
    );
    stack
}

/// Checks a rule as the backend's save would (limits, without an account schema) and stores it.
async fn rule(stack: &Stack, name: &str, body: Value) -> i64 {
    let parsed = domain::rule::Rule::from_json(&body.to_string()).expect("the rule parses");
    let problems = domain::validate::validate_limits(&parsed);
    assert!(problems.is_empty(), "{problems:?}");
    stack.rule(name, body).await
}

/// The texts of an entity's notes, oldest first.
fn note_texts(stack: &Stack, entity_id: i64) -> Vec<String> {
    stack
        .notes_of(entity_id)
        .iter()
        .map(|n| n["params"]["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A local time in the account's timezone as a condition's literal (`dd.mm.yyyy HH:MM`).
fn berlin(unix: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix, 0)
        .expect("a time")
        .with_timezone(&chrono_tz::Europe::Berlin)
        .format("%d.%m.%Y %H:%M")
        .to_string()
}

/// One block per row: the row's condition, and a note naming the row when it holds.
fn rows_as_blocks(rows: &[(&str, Value, bool)]) -> Value {
    rows.iter()
        .enumerate()
        .map(|(i, (name, condition, _))| {
            json!({"id": i + 1, "name": name, "conditions": [condition], "actions": [
                {"do": {"type": "add_note", "entity": "lead", "text": format!("row {name}")}}]})
        })
        .collect()
}

/// The rows that held: `row …` notes on the lead, in row order.
fn rows_that_held(rows: &[(&str, Value, bool)]) -> Vec<String> {
    rows.iter()
        .filter(|(_, _, holds)| *holds)
        .map(|(name, _, _)| format!("row {name}"))
        .collect()
}

fn condition(path: &str, op: &str, right: Value) -> Value {
    json!({"left": {"path": path}, "op": {"is": op}, "right": {"literal": right}})
}

fn unary(path: &str, op: &str) -> Value {
    json!({"left": {"path": path}, "op": {"is": op}})
}

/// The manual's "task responsible changed" event, and "date and time the task started, and date
/// and time the task was finished", "task duration", "type of the task", "is the task
/// completed?" in a task rule's conditions: Anna hands a one-hour meeting over to Boris.
async fn a_task_responsible_change_starts_its_rule_and_task_conditions_read_the_real_task(
    database: Database,
) {
    let stack = stack(database).await;
    let handed_over = rule(
        &stack,
        "Handed over",
        json!({
            "schema_version": 3,
            "name": "Handed over",
            "trigger": {"kind": "responsible_changed", "entity": "task"},
            "blocks": [{"id": 1, "name": "To Boris", "conditions": [
                condition("event.old_responsible_user_id", "equals", json!(101)),
                condition("task.responsible_user_id", "equals", json!(102))],
              "actions": [{"do": {"type": "add_note", "entity": "lead",
                                  "text": "Task {{task.text}} handed over"}}]}]
        }),
    )
    .await;
    let lead = stack.create("leads", json!({"name": "Deal", "responsible_user_id": 101}));
    let now = stack.clock_ms() / 1000;
    let finish = now + 2 * 86_400;
    let start = finish - 3_600;
    let created = stack.kommo_call(
        "POST",
        "/api/v4/tasks",
        Some(
            json!([{"text": "Meet the client", "entity_type": "leads", "entity_id": lead,
                     "complete_till": finish, "duration": 3_600, "task_type_id": 2,
                     "responsible_user_id": 101}]),
        ),
    );
    let task = created["_embedded"]["tasks"][0]["id"]
        .as_i64()
        .expect("task id");
    stack.settle().await;

    // Each row is one block: a pass and a fail for each fact of the task.
    let rows = [
        (
            "start",
            condition("task.starts_at", "equals", json!(berlin(start))),
            true,
        ),
        (
            "start is not the finish",
            condition("task.starts_at", "equals", json!(berlin(finish))),
            false,
        ),
        (
            "finish",
            condition("task.complete_till", "equals", json!(berlin(finish))),
            true,
        ),
        (
            "finish before the start",
            condition("task.complete_till", "before", json!(berlin(start))),
            false,
        ),
        (
            "duration",
            condition("task.duration", "equals", json!(3_600)),
            true,
        ),
        (
            "duration over an hour",
            condition("task.duration", "greater", json!(3_600)),
            false,
        ),
        (
            "type meeting",
            condition("task.type_id", "equals", json!(2)),
            true,
        ),
        (
            "type follow-up",
            condition("task.type_id", "equals", json!(1)),
            false,
        ),
        ("open", unary("task.is_completed", "is_false"), true),
        ("completed", unary("task.is_completed", "is_true"), false),
        (
            "created today",
            condition("task.created_at", "on", json!(berlin(now))),
            true,
        ),
    ];
    let facts = rule(
        &stack,
        "Task facts",
        json!({
            "schema_version": 3,
            "name": "Task facts",
            "trigger": {"kind": "responsible_changed", "entity": "task"},
            "blocks": rows_as_blocks(&rows)
        }),
    )
    .await;

    stack.kommo_call(
        "PATCH",
        "/api/v4/tasks",
        Some(json!([{"id": task, "responsible_user_id": 102}])),
    );
    stack.settle().await;

    let mut expected = vec!["Task Meet the client handed over".to_owned()];
    expected.extend(rows_that_held(&rows));
    let mut notes = note_texts(&stack, lead);
    notes.sort();
    expected.sort();
    assert_eq!(notes, expected);
    for rule_id in [handed_over, facts] {
        let log = stack.log(rule_id).await;
        assert_eq!(log.len(), 1, "rule {rule_id} ran once: {log:?}");
    }

    // Handing it back is another change, which the first rule's conditions refuse.
    stack.advance(Duration::from_secs(10));
    stack.kommo_call(
        "PATCH",
        "/api/v4/tasks",
        Some(json!([{"id": task, "responsible_user_id": 101}])),
    );
    stack.settle().await;
    assert_eq!(stack.log(handed_over).await.len(), 2, "it ran again");
    assert_eq!(
        note_texts(&stack, lead)
            .iter()
            .filter(|t| t.ends_with("handed over"))
            .count(),
        1,
        "but its conditions did not hold"
    );
}

/// "Tasks: date of the nearest task, number of tasks (open, overdue, total)" of "the given entity
/// and related entities": a lead rule reads its main contact's open tasks and its company's
/// overdue ones, read from Kommo only for the rule that names them.
async fn conditions_read_the_open_and_overdue_tasks_of_the_main_contact_and_the_company(
    database: Database,
) {
    let stack = stack(database).await;
    let contact = stack.create("contacts", json!({"name": "Ann"}));
    let company = stack.create("companies", json!({"name": "Acme"}));
    let lead = stack.create(
        "leads",
        json!({"name": "Deal", "_embedded": {
            "contacts": [{"id": contact, "is_main": true}], "companies": [{"id": company}]}}),
    );
    let now = stack.clock_ms() / 1000;
    let task = |entity_type: &str, id: i64, text: &str, till: i64| {
        json!({"text": text, "entity_type": entity_type, "entity_id": id,
               "complete_till": till, "task_type_id": 1, "responsible_user_id": 101})
    };
    stack.kommo_call(
        "POST",
        "/api/v4/tasks",
        Some(json!([
            task("contacts", contact, "Call Ann", now + 86_400),
            task("contacts", contact, "Mail Ann", now + 2 * 86_400),
            task("companies", company, "Invoice Acme", now - 3_600),
            task("companies", company, "Visit Acme", now + 86_400),
        ])),
    );
    stack.settle().await;

    let rows = [
        (
            "contact has two open",
            condition("contact.tasks.open", "equals", json!(2)),
            true,
        ),
        (
            "contact has none open",
            condition("contact.tasks.open", "equals", json!(0)),
            false,
        ),
        (
            "contact has none overdue",
            condition("contact.tasks.overdue", "equals", json!(0)),
            true,
        ),
        (
            "company has one overdue",
            condition("company.tasks.overdue", "equals", json!(1)),
            true,
        ),
        (
            "company has none overdue",
            condition("company.tasks.overdue", "equals", json!(0)),
            false,
        ),
        (
            "company has two in all",
            condition("company.tasks.total", "equals", json!(2)),
            true,
        ),
        (
            "lead has none",
            condition("lead.tasks.total", "equals", json!(0)),
            true,
        ),
        (
            "lead has one",
            condition("lead.tasks.total", "equals", json!(1)),
            false,
        ),
    ];
    // GET requests since `from` in the emulator's log: of a path, with a query that has `what`.
    let gets = |from: usize, (path, what): (&str, &str)| {
        stack.emulator().request_log()[from..]
            .iter()
            .filter(|r| r.method == "GET")
            .map(|r| r.path.replace("%5B", "[").replace("%5D", "]"))
            .filter(|p| p.split('?').next().is_some_and(|p| p.ends_with(path)) && p.contains(what))
            .count()
    };
    let contact_tasks = ("/api/v4/tasks", "filter[entity_type]=contacts");
    let company_tasks = ("/api/v4/tasks", "filter[entity_type]=companies");
    let lead_path = format!("/api/v4/leads/{lead}");
    let lead_reads = (lead_path.as_str(), "");
    let rename = |name: &str| {
        stack.advance(Duration::from_secs(10));
        stack.kommo_call(
            "PATCH",
            "/api/v4/leads",
            Some(json!([{"id": lead, "name": name}])),
        );
    };

    // A rule that names no related task: their tasks are not read.
    rule(
        &stack,
        "Renamed",
        json!({
            "schema_version": 3,
            "name": "Renamed",
            "trigger": {"kind": "entity_updated", "entity": "lead"},
            "blocks": [{"id": 1, "name": "Any", "conditions": [
                condition("lead.name", "starts_with", json!("Deal"))],
              "actions": [{"do": {"type": "add_note", "entity": "lead", "text": "Renamed {{lead.name}}"}}]}]
        }),
    )
    .await;
    let before = stack.emulator().request_log().len();
    rename("Deal 2");
    stack.settle().await;
    assert_eq!(note_texts(&stack, lead), vec!["Renamed Deal 2".to_owned()]);
    assert!(gets(before, lead_reads) > 0, "the lead was read");
    assert_eq!(
        (gets(before, contact_tasks), gets(before, company_tasks)),
        (0, 0),
        "no related entity's tasks were read"
    );

    let counts = rule(
        &stack,
        "Related tasks",
        json!({
            "schema_version": 3,
            "name": "Related tasks",
            "trigger": {"kind": "entity_updated", "entity": "lead"},
            "blocks": rows_as_blocks(&rows)
        }),
    )
    .await;
    let before = stack.emulator().request_log().len();
    rename("Deal 3");
    stack.settle().await;

    let mut expected = rows_that_held(&rows);
    let mut notes: Vec<String> = note_texts(&stack, lead)
        .into_iter()
        .filter(|t| t.starts_with("row "))
        .collect();
    notes.sort();
    expected.sort();
    assert_eq!(notes, expected);
    assert!(!stack.log(counts).await.is_empty());
    // The contact's and the company's tasks were read, at most once per snapshot of the lead (a
    // job's rules share it; the notes the rules added are lead updates of their own, each a job).
    let snapshots = gets(before, lead_reads);
    for what in [contact_tasks, company_tasks] {
        let reads = gets(before, what);
        assert!(
            (1..=snapshots).contains(&reads),
            "{what:?}: {reads} reads, {snapshots} snapshots"
        );
    }
}
