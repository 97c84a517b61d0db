//! Fuzzes the rule JSON reader: any bytes are read or refused with an error; a rule that is read
//! validates, evaluates without panicking, and survives a write/read round trip unchanged.
#![no_main]

use chrono::DateTime;
use domain::eval::{CompiledRule, EntityRuleState, EvalContext};
use domain::event::{Event, EventKind};
use domain::path::EntityType;
use domain::rule::Rule;
use domain::snapshot::{EntitySnapshot, Snapshot};
use domain::validate::{validate, Schema};
use domain::value::Variables;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(rule) = Rule::from_json(text) else {
        return;
    };
    let again = Rule::from_json(&rule.to_json()).expect("a written rule reads back");
    assert_eq!(again, rule, "write/read round trip");
    let _ = validate(&rule, &Schema::default());

    let mut snapshot = Snapshot::empty(chrono_tz::America::New_York);
    snapshot.lead = Some(EntitySnapshot {
        id: 1,
        name: "WHOLESALE form order".into(),
        price: Some(1500.0),
        tags: vec!["VIP".into()],
        ..EntitySnapshot::default()
    });
    let compiled = CompiledRule::new(rule);
    let now = DateTime::from_timestamp(1_730_613_600, 0).unwrap_or_default();
    for kind in [
        EventKind::EntityAdded,
        EventKind::EntityUpdated,
        EventKind::Manual { user_id: None },
        EventKind::Scheduled,
    ] {
        let event = Event::about(EntityType::Lead, 1, kind);
        let _ = compiled.evaluate(
            &event,
            &snapshot,
            &Variables::default(),
            &EvalContext::new(now, EntityRuleState::default()),
        );
    }
});
