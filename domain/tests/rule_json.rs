//! Rule JSON: reading, writing, migrating version 1, and clear errors for bad input.

use domain::rule::{
    ActionKind, Frequency, Operand, Operator, Rule, RuleParseError, Timer, Trigger,
    CURRENT_SCHEMA_VERSION,
};
use serde_json::json;

#[test]
fn a_current_rule_round_trips_through_json() {
    let text = json!({
        "schema_version": 2,
        "name": "Birthday",
        "trigger": {"kind": "entity_updated", "entity": "contact"},
        "blocks": [{"id": 3, "name": "b", "delay_seconds": 10,
            "conditions": [{"left": {"path": "contact.cf(201)"}, "op": {"is": "within_next", "amount": 3, "unit": "days"}},
                           {"join": "or", "left": {"global": "x"}, "op": {"is": "between"}, "right": {"literal": 1}, "right_upper": {"literal": "5"}}],
            "actions": [{"id": 4, "timer": {"kind": "yearly_from_field", "field": "contact.cf(201)", "at": "09:00:00"}, "replace_pending": true,
                         "do": {"type": "send_webhook", "method": "POST", "url": "https://hooks.example/{{contact.id}}",
                                "headers": [{"key": "X-Token", "value": "{token}"}], "body": [{"key": "name", "value": "{{contact.name}}"}],
                                "parse_response": true, "follow_up_rule_id": 9}}]}],
        "else_scenario": {"actions": [{"do": {"type": "cancel_delayed", "block_id": 3}}]},
        "frequency": {"min_interval_seconds": 60, "once_per_entity": true},
        "active_hours": {"intervals": [{"day": "Mon", "from": "09:00:00", "to": "18:00:00"}]}
    })
    .to_string();
    let rule = Rule::from_json(&text).unwrap();
    assert_eq!(
        rule.frequency,
        Frequency {
            min_interval_seconds: 60,
            once_per_entity: true
        }
    );
    assert!(matches!(
        rule.blocks[0].conditions[0].op,
        Operator::WithinNext { amount: 3, .. }
    ));
    assert!(matches!(rule.blocks[0].conditions[1].left, Operand::Global(ref n) if n == "x"));
    assert!(matches!(
        rule.blocks[0].actions[0].timer,
        Timer::YearlyFromField { .. }
    ));
    assert!(matches!(
        rule.blocks[0].actions[0].kind,
        ActionKind::SendWebhook { .. }
    ));
    let again = Rule::from_json(&rule.to_json()).unwrap();
    assert_eq!(again, rule);
}

#[test]
fn every_action_type_reads_from_json() {
    let actions = json!([
        {"type": "create_lead", "name": "Repeat order {{lead.name}}", "tags": "repeat", "responsible": "responsible", "pipeline_id": 1, "status_id": 2,
         "fields": [{"field": "price", "value": "{{lead.price}}"}], "attach_company_contacts": true},
        {"type": "create_contact", "name": "New", "attach_to": "company"},
        {"type": "create_company", "name": "New", "attach_to": "lead"},
        {"type": "copy_lead"},
        {"type": "change_fields", "entity": "company", "fields": [{"field": {"custom": 5}, "value": "{reset}"}, {"field": "name", "value": "x"}]},
        {"type": "create_task", "entity": "company", "task_type_id": 1, "complete_in_seconds": 3600, "text": "Call",
         "results": [{"text": "Interested", "rule_id": 4}, {"text": "Not interested"}]},
        {"type": "change_task", "entity": "lead", "task_type_id": 1, "scope": "last", "completed": true, "text": "Add task result!"},
        {"type": "add_note", "entity": "lead", "text": "x", "system": true},
        {"type": "change_tags", "entity": "contact", "change": "remove_all"},
        {"type": "change_status", "pipeline_id": 1, "status_id": 143},
        {"type": "change_responsible", "entity": "lead", "user": {"user": 5}, "in_contacts": true, "in_companies": true, "in_open_tasks": true},
        {"type": "execute_rule", "entity": "lead", "rule_id": 3},
        {"type": "run_salesbot", "entity": "contact", "bot_id": 8},
        {"type": "send_webhook", "method": "GET", "url": "https://x.example"},
        {"type": "send_email", "sender_user_id": 1, "recipient": "main_contact", "template_id": 2},
        {"type": "chat_subscription", "subscribe": false, "user_ids": [1, 2], "user_ids_from": "{managers}"},
        {"type": "cancel_delayed", "rule_id": 1, "block_id": 2, "action_id": 3},
        {"type": "change_global_variable", "name": "report", "change": "append", "value": "{report}\n{{date.now}} - event"}
    ]);
    let mut names = Vec::new();
    for action in actions.as_array().unwrap() {
        let text = json!({"schema_version": 2, "name": "a", "trigger": {"kind": "manual", "entity": "lead"},
                          "blocks": [{"actions": [{"do": action}]}]}).to_string();
        let rule = Rule::from_json(&text).unwrap_or_else(|e| panic!("{action}: {e}"));
        names.push(rule.blocks[0].actions[0].kind.name());
    }
    assert_eq!(names.len(), 18);
    names.dedup();
    assert_eq!(names.len(), 18, "every action type is distinct: {names:?}");
}

#[test]
fn every_trigger_kind_reads_from_json() {
    let triggers = json!([
        {"kind": "entity_added", "entity": "task"},
        {"kind": "entity_updated", "entity": "company"},
        {"kind": "responsible_changed", "entity": "contact"},
        {"kind": "status_changed", "pipeline_id": 1, "status_id": 2, "entry": "created"},
        {"kind": "note_added", "entity": "lead", "note_types": ["call", "sms"]},
        {"kind": "tag_added", "entity": "lead", "tags": ["VIP"]},
        {"kind": "tag_removed", "entity": "contact"},
        {"kind": "field_updated", "entity": "lead", "field_id": 3},
        {"kind": "relative_to_date_field", "entity": "lead", "field_id": 3, "offset_hours": -2},
        {"kind": "at_date_time", "date": "2024-12-31", "at": "09:00:00"},
        {"kind": "recurring", "schedule": {"every": "yearly", "month": 1, "day": 1, "at": "10:00:00"}},
        {"kind": "conversation_started", "by": "incoming", "channels": ["whatsapp"]},
        {"kind": "conversation_closed", "delay_seconds": 300},
        {"kind": "incoming_message", "cooldown_seconds": 600},
        {"kind": "outgoing_message_seen", "delay_seconds": 86400},
        {"kind": "manual", "entity": "company"},
        {"kind": "inbound_webhook", "hook_id": "QB4PoBsADoF9e6lA"}
    ]);
    for trigger in triggers.as_array().unwrap() {
        let parsed: Trigger =
            serde_json::from_value(trigger.clone()).unwrap_or_else(|e| panic!("{trigger}: {e}"));
        assert_eq!(
            serde_json::to_value(&parsed).unwrap()["kind"],
            trigger["kind"]
        );
    }
}

#[test]
fn version_one_rules_are_migrated() {
    let v1 = json!({
        "name": "Old rule",
        "trigger": {"kind": "entity_added", "entity": "lead"},
        "run_every_seconds": 30,
        "once": true,
        "blocks": [],
        "else_actions": [{"do": {"type": "add_note", "entity": "lead", "text": "none fired"}}]
    });
    let rule = Rule::from_json(&v1.to_string()).unwrap();
    assert_eq!(rule.schema_version, CURRENT_SCHEMA_VERSION);
    assert_eq!(
        rule.frequency,
        Frequency {
            min_interval_seconds: 30,
            once_per_entity: true
        }
    );
    assert_eq!(
        rule.else_scenario.as_ref().map(|s| s.actions.len()),
        Some(1)
    );
    assert!(rule.enabled);
    // Written back it is the current version and reads the same.
    let json: serde_json::Value = serde_json::from_str(&rule.to_json()).unwrap();
    assert_eq!(json["schema_version"], CURRENT_SCHEMA_VERSION);
    assert!(json.get("run_every_seconds").is_none());
    assert_eq!(Rule::from_json(&rule.to_json()).unwrap(), rule);
    // An explicit version 1 is migrated the same way; a v1 rule without those keys gets defaults.
    let minimal = Rule::from_json(
        r#"{"schema_version": 1, "name": "x", "trigger": {"kind": "manual", "entity": "lead"}}"#,
    )
    .unwrap();
    assert_eq!(minimal.frequency, Frequency::default());
    assert_eq!(minimal.else_scenario, None);
}

#[test]
fn version_two_inbound_rules_keep_the_contact_search_they_always_had() {
    let v2 = json!({
        "schema_version": 2,
        "name": "Site form",
        "trigger": {"kind": "inbound_webhook", "hook_id": "site"}
    });
    let rule = Rule::from_json(&v2.to_string()).unwrap();
    let Trigger::InboundWebhook {
        search: Some(search),
        ..
    } = &rule.trigger
    else {
        panic!("{:?}", rule.trigger)
    };
    assert_eq!(search, &domain::rule::EntitySearch::legacy_contact());
    let written: serde_json::Value = serde_json::from_str(&rule.to_json()).unwrap();
    assert_eq!(
        written["trigger"]["search"],
        json!({"entity": "contact", "by": [{"field": "phone", "value": "{phone}"},
               {"field": "email", "value": "{email}"}], "create_if_not_found": true, "name": "{name}"})
    );
    assert_eq!(Rule::from_json(&rule.to_json()).unwrap(), rule);
    // A current rule without a search has none, and other triggers are left alone.
    let v3 = json!({"schema_version": 3, "name": "x", "trigger": {"kind": "inbound_webhook"}});
    assert!(matches!(
        Rule::from_json(&v3.to_string()).unwrap().trigger,
        Trigger::InboundWebhook { search: None, .. }
    ));
    let other =
        json!({"schema_version": 2, "name": "x", "trigger": {"kind": "manual", "entity": "lead"}});
    assert!(Rule::from_json(&other.to_string())
        .unwrap()
        .to_json()
        .find("search")
        .is_none());
    // A search by a custom field reads too.
    let custom = json!({"schema_version": 3, "name": "x", "trigger": {"kind": "inbound_webhook", "search": {
        "entity": "company", "by": [{"field": {"custom": 77}, "value": "{inn}"}, {"field": "id", "value": "{id}"}]}}});
    let rule = Rule::from_json(&custom.to_string()).unwrap();
    let Trigger::InboundWebhook {
        search: Some(search),
        ..
    } = &rule.trigger
    else {
        panic!()
    };
    assert_eq!(search.by[0].field, domain::rule::SearchField::Custom(77));
    assert!(!search.create_if_not_found);
}

#[test]
fn bad_rule_json_gets_a_clear_error() {
    assert!(matches!(
        Rule::from_json("{\"name\": "),
        Err(RuleParseError::Syntax { line: 1, .. })
    ));
    assert!(matches!(
        Rule::from_json("[]"),
        Err(RuleParseError::Shape { .. })
    ));
    assert_eq!(
        Rule::from_json(r#"{"schema_version": 99, "name": "x"}"#),
        Err(RuleParseError::UnsupportedVersion { found: 99 })
    );
    let unknown_operator = r#"{"schema_version": 2, "name": "x", "trigger": {"kind": "manual", "entity": "lead"},
        "blocks": [{"conditions": [{"left": {"path": "lead.name"}, "op": {"is": "resembles"}}]}]}"#;
    let err = Rule::from_json(unknown_operator).unwrap_err();
    assert!(
        err.to_string().contains("unknown variant `resembles`"),
        "{err}"
    );
    let bad_path = r#"{"schema_version": 2, "name": "x", "trigger": {"kind": "manual", "entity": "lead"},
        "blocks": [{"conditions": [{"left": {"path": "lead.colour"}, "op": {"is": "is_empty"}}]}]}"#;
    let err = Rule::from_json(bad_path).unwrap_err();
    assert!(
        err.to_string()
            .contains("'lead.colour' is not a known field"),
        "{err}"
    );
    let typo = r#"{"schema_version": 2, "name": "x", "trigger": {"kind": "manual", "entity": "lead"}, "blokcs": []}"#;
    assert!(Rule::from_json(typo)
        .unwrap_err()
        .to_string()
        .contains("unknown field `blokcs`"));
}

#[test]
fn large_numbers_survive_a_write_read_round_trip() {
    // Found by the rule_json fuzz target: without exact float parsing this literal read back one
    // unit in the last place off.
    let text = r#"{"schema_version": 2, "name": "x", "trigger": {"kind": "manual", "entity": "lead"},
        "blocks": [{"conditions": [{"left": {"global": "n"}, "op": {"is": "less"}, "right": {"literal": 106666666662666666666666}}]}]}"#;
    let rule = Rule::from_json(text).unwrap();
    assert_eq!(Rule::from_json(&rule.to_json()).unwrap(), rule);
}
