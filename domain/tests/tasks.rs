//! Tasks in conditions: the event's task read field by field (its start is its due date less its
//! duration), and which entities' tasks a rule makes the snapshot read.

mod common;

use common::*;
use domain::eval::{evaluate, EntityRuleState, EvalContext};
use domain::event::{Event, EventKind};
use domain::path::{EntityType, Path};
use domain::rule::Rule;
use domain::snapshot::{TaskReads, TaskSnapshot};
use domain::value::Variables;
use serde_json::{json, Value};

fn rule(conditions: Value, actions: Value) -> Rule {
    Rule::from_json(
        &json!({
            "schema_version": 3,
            "name": "tasks",
            "trigger": {"kind": "entity_updated", "entity": "task"},
            "blocks": [{"name": "b", "conditions": conditions, "actions": actions}]
        })
        .to_string(),
    )
    .expect("the rule parses")
}

/// Whether one condition holds for a one-hour meeting due at 11:00 UTC, read at 10:05.
fn holds(condition: Value) -> bool {
    let mut snapshot = lead_snapshot("Deal");
    snapshot.task = Some(TaskSnapshot {
        id: 77,
        text: "Meet".into(),
        task_type_id: 2,
        is_completed: false,
        complete_till: Some(utc(2024, 6, 15, 11, 0)),
        created_at: Some(utc(2024, 6, 14, 9, 0)),
        duration_seconds: Some(3600),
        result: None,
        responsible_user_id: Some(HENRIQUE),
        entity_type: Some(EntityType::Lead),
    });
    let event = Event::about(EntityType::Task, 77, EventKind::EntityUpdated);
    let evaluation = evaluate(
        &rule(json!([condition]), json!([])),
        &event,
        &snapshot,
        &Variables::default(),
        &EvalContext::new(utc(2024, 6, 15, 10, 5), EntityRuleState::default()),
    );
    evaluation.trace.blocks[0].conditions[0].result
}

#[test]
fn the_tasks_start_finish_duration_type_and_completion_are_readable() {
    let cond = |path: &str, op: Value, right: Value| json!({"left": {"path": path}, "op": op, "right": {"literal": right}});
    let is = |name: &str| json!({"is": name});
    // Start: 11:00 less an hour.
    assert!(holds(cond(
        "task.starts_at",
        is("equals"),
        json!("15.06.2024 12:00")
    )));
    assert!(holds(cond(
        "task.starts_at",
        is("before"),
        json!("15.06.2024 12:30")
    )));
    assert!(!holds(cond(
        "task.starts_at",
        is("after"),
        json!("15.06.2024 12:30")
    )));
    // Finish (the due date), in Berlin's summer time.
    assert!(holds(cond(
        "task.complete_till",
        is("equals"),
        json!("15.06.2024 13:00")
    )));
    assert!(holds(cond("task.duration", is("equals"), json!(3600))));
    assert!(!holds(cond("task.duration", is("greater"), json!(3600))));
    assert!(holds(cond("task.type_id", is("equals"), json!(2))));
    assert!(!holds(cond("task.type_id", is("equals"), json!(1))));
    assert!(holds(
        json!({"left": {"path": "task.is_completed"}, "op": {"is": "is_false"}})
    ));
    assert!(!holds(
        json!({"left": {"path": "task.is_completed"}, "op": {"is": "is_true"}})
    ));
}

#[test]
fn a_task_without_duration_starts_when_it_is_due() {
    let task = TaskSnapshot {
        id: 1,
        text: String::new(),
        task_type_id: 1,
        is_completed: false,
        complete_till: Some(utc(2024, 6, 15, 11, 0)),
        created_at: None,
        duration_seconds: None,
        result: None,
        responsible_user_id: None,
        entity_type: None,
    };
    assert_eq!(task.starts_at(), task.complete_till);
    let undated = TaskSnapshot {
        complete_till: None,
        ..task
    };
    assert_eq!(undated.starts_at(), None);
}

#[test]
fn a_rule_reads_the_tasks_of_the_entities_its_conditions_and_templates_name() {
    let open = |path: &str| json!({"left": {"path": path}, "op": {"is": "greater"}, "right": {"literal": 0}});
    let note = |text: &str| json!([{"do": {"type": "add_note", "entity": "lead", "text": text}}]);

    let r = rule(
        json!([open("contact.tasks.open")]),
        note("{{company.tasks.overdue}}"),
    );
    assert!(r
        .paths()
        .contains(&Path::parse("contact.tasks.open").unwrap()));
    assert_eq!(
        TaskReads::for_paths(&r.paths(), Some(EntityType::Lead)),
        TaskReads {
            lead: false,
            contact: true,
            company: true
        }
    );

    let calc = rule(json!([]), note("{{ (lead.tasks.total + 1):calc }}"));
    assert_eq!(
        TaskReads::for_paths(&calc.paths(), Some(EntityType::Lead)),
        TaskReads::of(EntityType::Lead)
    );

    let client = rule(json!([open("client.tasks.open")]), json!([]));
    assert_eq!(
        TaskReads::for_paths(&client.paths(), Some(EntityType::Company)),
        TaskReads::of(EntityType::Company)
    );
    assert_eq!(
        TaskReads::for_paths(&client.paths(), Some(EntityType::Task)),
        TaskReads::ALL
    );

    let none = rule(json!([open("lead.price")]), note("{{contact.name}}"));
    assert!(TaskReads::for_paths(&none.paths(), Some(EntityType::Lead)).is_empty());
}
