//! The execution pipeline end to end: a change in the emulated Kommo account, the webhook the
//! emulator sends to the backend over loopback HTTP, the rule the backend runs, and the action
//! visible in the emulator afterwards. Every test runs on SQLite and on PostgreSQL.

use std::time::Duration;

use rulebook::store::execution_log::ExecutionOutcome;
use rulebook_e2e::stack::{default_seed, field, tags, Database, Stack, SUBDOMAIN};
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
