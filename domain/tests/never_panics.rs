//! Property: evaluation and validation never panic, whatever the rule, snapshot, event, variables
//! and clock, including extreme dates, odd timezones and hostile templates and regexes.

use chrono::{DateTime, NaiveDate, Utc};
use domain::eval::{evaluate, CompiledRule, EntityRuleState, EvalContext};
use domain::event::{CallStatus, Direction, Event, EventKind, Message, Note, NoteType};
use domain::path::{all_paths, EntityField, EntityType, Path};
use domain::rule::Rule;
use domain::snapshot::{
    Account, CustomFieldValue, EntitySnapshot, EnumValue, FieldValue, MultitextEntry, Snapshot,
    TaskSnapshot, User, WeeklyHours,
};
use domain::validate::{validate, Schema};
use domain::value::Variables;
use proptest::prelude::*;
use serde_json::{json, Value as Json};

const FIELD_IDS: std::ops::Range<i64> = 1..6;

fn arb_instant() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        (0i64..4_000_000_000).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap()),
        Just(DateTime::<Utc>::MIN_UTC),
        Just(DateTime::<Utc>::MAX_UTC),
        (-8_000_000_000_000i64..8_000_000_000_000)
            .prop_filter_map("in range", |s| DateTime::from_timestamp(s, 0)),
    ]
}

fn arb_date() -> impl Strategy<Value = NaiveDate> {
    prop_oneof![
        (1900i32..2100, 1u32..13, 1u32..32)
            .prop_filter_map("valid", |(y, m, d)| NaiveDate::from_ymd_opt(y, m, d)),
        Just(NaiveDate::MIN),
        Just(NaiveDate::MAX),
    ]
}

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ,.{}:()\\\\-]{0,12}",
        "\\PC{0,8}",
        Just("2024-03-31 02:30".to_owned()),
        Just("1e308".to_owned())
    ]
}

fn arb_field_value() -> impl Strategy<Value = FieldValue> {
    prop_oneof![
        arb_text().prop_map(FieldValue::Text),
        arb_text().prop_map(FieldValue::Url),
        any::<f64>().prop_map(FieldValue::Numeric),
        any::<bool>().prop_map(FieldValue::Checkbox),
        arb_text().prop_map(|value| FieldValue::Select(EnumValue { enum_id: 1, value })),
        prop::collection::vec(arb_text(), 0..3).prop_map(|v| FieldValue::Multiselect(
            v.into_iter()
                .map(|value| EnumValue { enum_id: 1, value })
                .collect()
        )),
        arb_date().prop_map(FieldValue::Date),
        arb_date().prop_map(FieldValue::Birthday),
        arb_instant().prop_map(FieldValue::DateTime),
        prop::collection::vec(arb_text(), 0..3).prop_map(|v| FieldValue::Multitext(
            v.into_iter()
                .map(|value| MultitextEntry {
                    value,
                    enum_code: "WORK".into()
                })
                .collect()
        )),
    ]
}

fn arb_entity() -> impl Strategy<Value = EntitySnapshot> {
    (
        arb_text(),
        proptest::option::of(any::<f64>()),
        proptest::option::of(arb_instant()),
        prop::collection::vec(arb_text(), 0..3),
        prop::collection::vec((FIELD_IDS, arb_field_value()), 0..6),
        prop::collection::vec((any::<bool>(), proptest::option::of(arb_instant())), 0..3),
        proptest::option::of(0i64..4),
    )
        .prop_map(
            |(name, price, created_at, tags, fields, tasks, responsible)| EntitySnapshot {
                id: 1,
                name,
                price,
                responsible_user_id: responsible,
                created_at,
                tags,
                custom_fields: fields
                    .into_iter()
                    .map(|(field_id, value)| CustomFieldValue { field_id, value })
                    .collect(),
                tasks: tasks
                    .into_iter()
                    .map(|(is_completed, complete_till)| TaskSnapshot {
                        is_completed,
                        complete_till,
                        ..TaskSnapshot::default()
                    })
                    .collect(),
                ..EntitySnapshot::default()
            },
        )
}

fn arb_snapshot() -> impl Strategy<Value = Snapshot> {
    let zones = vec![
        chrono_tz::UTC,
        chrono_tz::Europe::Berlin,
        chrono_tz::America::New_York,
        chrono_tz::Australia::Lord_Howe,
        chrono_tz::Pacific::Kiritimati,
        chrono_tz::Asia::Kathmandu,
    ];
    (
        prop::sample::select(zones),
        proptest::option::of(arb_entity()),
        proptest::option::of(arb_entity()),
        proptest::option::of(arb_entity()),
    )
        .prop_map(|(timezone, lead, contact, company)| Snapshot {
            account: Account {
                timezone: timezone.into(),
                users: vec![User {
                    id: 1,
                    name: "U".into(),
                }],
                working_hours: serde_json::from_value(
                    json!({"intervals": [{"day": "Mon", "from": "22:00:00", "to": "02:00:00"}]}),
                )
                .unwrap_or_else(|_| WeeklyHours::default()),
            },
            lead,
            contact,
            company,
            task: Some(TaskSnapshot::default()),
        })
}

fn arb_event() -> impl Strategy<Value = Event> {
    let kinds = prop_oneof![
        Just(EventKind::EntityAdded),
        Just(EventKind::EntityUpdated),
        Just(EventKind::Scheduled),
        Just(EventKind::Manual { user_id: None }),
        arb_text().prop_map(|tag| EventKind::TagAdded { tag }),
        FIELD_IDS.prop_map(|field_id| EventKind::FieldUpdated { field_id }),
        (arb_text(), any::<bool>()).prop_map(|(text, incoming)| EventKind::MessageReceived {
            message: Message {
                text,
                channel: "whatsapp".into(),
                direction: if incoming {
                    Direction::Incoming
                } else {
                    Direction::Outgoing
                }
            }
        }),
        (arb_text(), any::<u32>()).prop_map(|(text, d)| EventKind::NoteAdded {
            note: Note {
                note_type: NoteType::Call,
                text,
                direction: Some(Direction::Incoming),
                call_duration_seconds: Some(d),
                call_status: Some(CallStatus::NoAnswer),
                email_subject: None
            }
        }),
        Just(EventKind::OutgoingMessageSeen {
            channel: "x".into()
        }),
        Just(EventKind::StatusChanged {
            old_pipeline_id: None,
            old_status_id: None,
            pipeline_id: 1,
            status_id: 2,
            created: true
        }),
    ];
    (
        prop::sample::select(vec![
            EntityType::Lead,
            EntityType::Contact,
            EntityType::Company,
            EntityType::Task,
        ]),
        kinds,
        prop::collection::btree_map("[a-z]{1,3}", arb_text(), 0..3),
    )
        .prop_map(|(t, kind, vars)| {
            let mut e = Event::about(t, 1, kind);
            e.vars = vars;
            e
        })
}

fn arb_path_text() -> impl Strategy<Value = String> {
    (prop::sample::select(all_paths()), FIELD_IDS).prop_map(|(p, id)| match p {
        Path::Entity(role, EntityField::Custom(_)) => {
            Path::Entity(role, EntityField::Custom(id)).to_string()
        }
        other => other.to_string(),
    })
}

fn arb_literal() -> impl Strategy<Value = Json> {
    prop_oneof![
        any::<bool>().prop_map(Json::from),
        any::<i32>().prop_map(Json::from),
        (-1e300f64..1e300).prop_map(Json::from),
        arb_text().prop_map(Json::from),
        Just(json!("(a+")),
        Just(json!("\\w{500}\\w{500}")),
        Just(json!("2024-10-27 02:30")),
        prop::collection::vec(arb_text(), 0..3).prop_map(Json::from),
    ]
}

fn arb_operand() -> impl Strategy<Value = Json> {
    prop_oneof![
        3 => arb_path_text().prop_map(|p| json!({"path": p})),
        1 => "[a-z]{1,3}".prop_map(|n| json!({"global": n})),
        1 => "[a-z]{1,3}".prop_map(|n| json!({"webhook": n})),
        2 => arb_literal().prop_map(|l| json!({"literal": l})),
    ]
}

fn arb_operator() -> impl Strategy<Value = Json> {
    let plain = prop::sample::select(vec![
        "equals",
        "not_equals",
        "contains",
        "not_contains",
        "starts_with",
        "ends_with",
        "matches_regex",
        "is_empty",
        "is_not_empty",
        "less",
        "less_or_equal",
        "greater",
        "greater_or_equal",
        "between",
        "before",
        "after",
        "on",
        "day_of_week",
        "has_any",
        "has_all",
        "has_none",
        "is_one_of",
        "is_true",
        "is_false",
    ]);
    prop_oneof![
        4 => plain.prop_map(|op| json!({"is": op})),
        1 => (any::<u32>(), prop::sample::select(vec!["seconds", "minutes", "hours", "days"]), any::<bool>())
            .prop_map(|(amount, unit, last)| json!({"is": if last {"within_last"} else {"within_next"}, "amount": amount, "unit": unit})),
    ]
}

fn arb_condition() -> impl Strategy<Value = Json> {
    (any::<bool>(), arb_operand(), arb_operator(), proptest::option::of(arb_operand()), proptest::option::of(arb_operand()))
        .prop_map(|(or, left, op, right, upper)| json!({"join": if or {"or"} else {"and"}, "left": left, "op": op, "right": right, "right_upper": upper}))
}

fn arb_template() -> impl Strategy<Value = String> {
    prop_oneof![
        arb_text(),
        arb_path_text().prop_map(|p| format!("{{{{{p}:words}}}} {{{{{p}:date(d.m.Y)}}}}")),
        arb_path_text().prop_map(|p| format!("{{{{ ({p}*{p}/(1-1+{p})):calc:upper }}}}")),
        Just("{x}{tglink:4294967295}{reset}{{date.now}}".to_owned()),
    ]
}

fn arb_timer() -> impl Strategy<Value = Json> {
    prop_oneof![
        Just(json!({"kind": "none"})),
        (
            any::<u32>(),
            prop::sample::select(vec!["seconds", "minutes", "hours", "days"])
        )
            .prop_map(|(a, u)| json!({"kind": "after", "amount": a, "unit": u})),
        (arb_path_text(), any::<i32>()).prop_map(
            |(f, s)| json!({"kind": "date_field", "field": f, "shift_days": s, "at": "02:30:00"})
        ),
        arb_path_text()
            .prop_map(|f| json!({"kind": "yearly_from_field", "field": f, "at": "23:59:59"})),
    ]
}

fn arb_action() -> impl Strategy<Value = Json> {
    (arb_timer(), arb_template(), any::<bool>()).prop_map(|(timer, text, replace)| {
        json!({"timer": timer, "replace_pending": replace, "do": {"type": "add_note", "entity": "client", "text": text}})
    })
}

fn arb_trigger() -> impl Strategy<Value = Json> {
    prop::sample::select(vec![
        json!({"kind": "entity_added", "entity": "lead"}),
        json!({"kind": "entity_updated", "entity": "contact"}),
        json!({"kind": "manual", "entity": "company"}),
        json!({"kind": "tag_added", "entity": "lead"}),
        json!({"kind": "field_updated", "entity": "lead", "field_id": 1}),
        json!({"kind": "incoming_message", "direction": "any", "cooldown_seconds": 4294967295u32}),
        json!({"kind": "note_added", "entity": "lead"}),
        json!({"kind": "outgoing_message_seen", "delay_seconds": 4294967295u32}),
        json!({"kind": "recurring", "schedule": {"every": "monthly", "day": 31, "at": "02:30:00"}}),
        json!({"kind": "status_changed"}),
    ])
}

fn arb_rule() -> impl Strategy<Value = Rule> {
    let block = (any::<u32>(), prop::collection::vec(arb_condition(), 0..5), prop::collection::vec(arb_action(), 0..3))
        .prop_map(|(delay, conditions, actions)| json!({"delay_seconds": delay % 3, "conditions": conditions, "actions": actions}));
    (arb_trigger(), prop::collection::vec(block, 0..4), prop::collection::vec(arb_action(), 0..2), any::<bool>(), any::<u32>(), proptest::option::of(Just(json!({"intervals": [{"day": "Sun", "from": "23:00:00", "to": "01:00:00"}]}))))
        .prop_filter_map("parses", |(trigger, blocks, else_actions, once, interval, active)| {
            let text = json!({"schema_version": 2, "name": "p", "trigger": trigger, "blocks": blocks,
                "else_scenario": {"actions": else_actions}, "frequency": {"min_interval_seconds": interval, "once_per_entity": once},
                "active_hours": active}).to_string();
            Rule::from_json(&text).ok()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn evaluation_and_validation_never_panic(
        rule in arb_rule(),
        snapshot in arb_snapshot(),
        event in arb_event(),
        globals in prop::collection::btree_map("[a-z]{1,3}", arb_text(), 0..3),
        now in arb_instant(),
        last in proptest::option::of(arb_instant()),
        fired in any::<bool>(),
        resume in proptest::option::of(0usize..4),
    ) {
        let variables = Variables {
            globals,
            trigger_links: [(4_294_967_295, "https://l.example/t/1-s".to_owned())].into(),
        };
        let mut context = EvalContext::new(now, EntityRuleState { last_run_at: last, fired_once: fired });
        context.resume_block = resume;
        let evaluation = CompiledRule::new(rule.clone()).evaluate(&event, &snapshot, &variables, &context);
        // Whatever happened, it serialises for the debugger.
        prop_assert!(serde_json::to_string(&evaluation).is_ok());
        let _ = validate(&rule, &Schema::default());
    }

    #[test]
    fn arbitrary_json_never_panics_the_rule_reader(text in "\\PC{0,200}") {
        if let Ok(rule) = Rule::from_json(&text) {
            let snapshot = Snapshot::empty(chrono_tz::UTC.into());
            let event = Event::about(EntityType::Lead, 1, EventKind::EntityAdded);
            let _ = evaluate(&rule, &event, &snapshot, &Variables::default(), &EvalContext::new(DateTime::from_timestamp(1_700_000_000, 0).unwrap(), EntityRuleState::default()));
        }
    }
}
