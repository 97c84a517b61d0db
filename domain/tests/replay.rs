//! The crash policy: how each action type replays when its job is repeated after a crash.

use std::collections::BTreeSet;

use domain::rule::{ActionKind, Replay};
use serde_json::{json, Value};

/// One row per action type: the smallest valid action of it, and how it replays.
fn table() -> Vec<(Value, Replay)> {
    vec![
        (
            json!({"type": "change_fields", "entity": "lead", "fields": []}),
            Replay::Repeat,
        ),
        (
            json!({"type": "change_tags", "entity": "lead", "change": "add", "tags": "a"}),
            Replay::Repeat,
        ),
        (
            json!({"type": "change_status", "pipeline_id": 1, "status_id": 2}),
            Replay::Repeat,
        ),
        (
            json!({"type": "change_responsible", "entity": "lead", "user": {"user": 5}}),
            Replay::Repeat,
        ),
        (
            json!({"type": "change_task", "entity": "lead", "scope": "all"}),
            Replay::Repeat,
        ),
        (json!({"type": "cancel_delayed"}), Replay::Repeat),
        (
            json!({"type": "chat_subscription", "subscribe": true}),
            Replay::Repeat,
        ),
        (
            json!({"type": "change_global_variable", "name": "n", "change": "set", "value": "1"}),
            Replay::Repeat,
        ),
        (
            json!({"type": "add_note", "entity": "lead", "text": "hi"}),
            Replay::LookUp,
        ),
        (
            json!({"type": "create_task", "entity": "lead", "task_type_id": 1,
                   "complete_in_seconds": 60, "text": "call"}),
            Replay::LookUp,
        ),
        (
            json!({"type": "send_email", "sender_user_id": 1, "template_id": 2}),
            Replay::LookUp,
        ),
        (
            json!({"type": "create_lead", "name": "New"}),
            Replay::LookUp,
        ),
        (
            json!({"type": "create_contact", "name": "Ann", "attach_to": "lead"}),
            Replay::LookUp,
        ),
        (
            json!({"type": "create_company", "name": "Acme", "attach_to": "lead"}),
            Replay::LookUp,
        ),
        (json!({"type": "copy_lead"}), Replay::LookUp),
        (
            json!({"type": "send_webhook", "method": "POST", "url": "https://hooks.example/"}),
            Replay::ResendWithKey,
        ),
        (
            json!({"type": "run_salesbot", "entity": "lead", "bot_id": 3}),
            Replay::Never,
        ),
        (
            json!({"type": "execute_rule", "entity": "lead", "rule_id": 4}),
            Replay::DoneWithItsJob,
        ),
    ]
}

#[test]
fn every_action_type_replays_as_the_table_says() {
    let mut names = BTreeSet::new();
    for (action, expected) in table() {
        let kind: ActionKind<String> =
            serde_json::from_value(action.clone()).unwrap_or_else(|e| panic!("{action}: {e}"));
        assert_eq!(kind.replay(), expected, "{}", kind.name());
        names.insert(kind.name());
    }
    // Every action type has its row (the method's match has no wildcard; this pins the choices).
    assert_eq!(names.len(), 18);
}

#[test]
fn only_actions_safe_to_repeat_go_unrecorded() {
    assert!(!Replay::Repeat.is_recorded());
    for replay in [
        Replay::LookUp,
        Replay::ResendWithKey,
        Replay::Never,
        Replay::DoneWithItsJob,
    ] {
        assert!(replay.is_recorded(), "{replay:?}");
    }
}
