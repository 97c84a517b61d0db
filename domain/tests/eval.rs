//! Evaluation: every operator on every value type, the manual's named cases (WHOLESALE/RETAIL,
//! the yearly birthday timer, the missed-call counter), DST in several timezones, and the gates
//! (frequency, once, disabled, trigger mismatch, active hours, delayed blocks, else).

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use domain::api::Verdict;
use domain::eval::{
    evaluate, BlockStatus, CompiledRule, EntityRuleState, EvalContext, Evaluation, Outcome, Reason,
};
use domain::event::{CallStatus, Direction, Event, EventKind, Message, Note, NoteType};
use domain::rule::{ActionKind, Rule, UserChoice, VariableChange};
use domain::snapshot::Snapshot;
use domain::value::{TraceValue, Variables};
use serde_json::{json, Value as Json};

fn rule(value: Json) -> Rule {
    Rule::from_json(&value.to_string()).unwrap()
}

fn run(
    rule: &Rule,
    event: &Event,
    snapshot: &Snapshot,
    vars: &Variables,
    now: DateTime<Utc>,
) -> Evaluation {
    evaluate(
        rule,
        event,
        snapshot,
        vars,
        &EvalContext::new(now, EntityRuleState::default()),
    )
}

const NOW: (i32, u32, u32, u32, u32) = (2024, 6, 15, 10, 5); // a Saturday, 12:05 in Berlin

fn now() -> DateTime<Utc> {
    utc(NOW.0, NOW.1, NOW.2, NOW.3, NOW.4)
}

/// Evaluates one condition against the fixture lead and returns (result, reason).
fn check(condition: Json) -> (bool, Option<Reason>) {
    let r = rule(json!({
        "schema_version": 2,
        "name": "one condition",
        "trigger": {"kind": "entity_updated", "entity": "lead"},
        "blocks": [{"name": "b", "conditions": [condition], "actions": []}]
    }));
    let mut vars = Variables::default();
    vars.globals.insert("counter".into(), "7".into());
    vars.globals.insert("flag".into(), "1".into());
    let mut event = lead_event(EventKind::EntityUpdated);
    event.vars.insert("form".into(), "Contact us".into());
    let eval = run(
        &r,
        &event,
        &lead_snapshot("WHOLESALE form order"),
        &vars,
        now(),
    );
    let c = &eval.trace.blocks[0].conditions[0];
    (c.result, c.reason.clone())
}

fn is(left: Json, op: &str, right: Json) -> bool {
    check(json!({"left": left, "op": {"is": op}, "right": {"literal": right}})).0
}

fn path(p: &str) -> Json {
    json!({"path": p})
}

#[test]
fn text_operators() {
    let name = path("lead.name");
    assert!(is(name.clone(), "equals", json!("wholesale form order")));
    assert!(!is(name.clone(), "equals", json!("RETAIL form order")));
    assert!(is(name.clone(), "not_equals", json!("RETAIL form order")));
    assert!(is(name.clone(), "contains", json!("FORM")));
    assert!(!is(name.clone(), "contains", json!("retail")));
    assert!(is(name.clone(), "not_contains", json!("retail")));
    assert!(is(name.clone(), "starts_with", json!("whole")));
    assert!(!is(name.clone(), "starts_with", json!("form")));
    assert!(is(name.clone(), "ends_with", json!("ORDER")));
    assert!(is(
        name.clone(),
        "matches_regex",
        json!("^WHOLESALE\\s+form")
    ));
    assert!(!is(name.clone(), "matches_regex", json!("^form")));
    assert!(check(json!({"left": name, "op": {"is": "is_not_empty"}})).0);
    assert!(check(json!({"left": path("lead.utm_term"), "op": {"is": "is_empty"}})).0);
    assert!(is(path("lead.cf(101)"), "contains", json!("widget")));
    assert!(is(path("lead.cf(108)"), "starts_with", json!("https://")));
    assert!(is(path("lead.cf(109)"), "contains", json!("TWO")));
    assert!(is(path("lead.cf(104)"), "equals", json!("gold")));
    assert!(is(path("lead.utm_source"), "equals", json!("Google")));
    assert!(is(
        path("lead.utm_content"),
        "not_contains",
        json!("footer")
    ));
    assert!(is(path("lead.source"), "contains", json!("website")));
    // Unicode case folding.
    assert!(is(json!({"literal": "ÇÃO"}), "equals", json!("ção")));
}

#[test]
fn number_operators() {
    let price = path("lead.price");
    assert!(is(price.clone(), "equals", json!(1500)));
    assert!(is(price.clone(), "equals", json!("1500")));
    assert!(is(price.clone(), "not_equals", json!(1000)));
    assert!(is(price.clone(), "less", json!(2000)));
    assert!(!is(price.clone(), "less", json!(1500)));
    assert!(is(price.clone(), "less_or_equal", json!(1500)));
    assert!(is(price.clone(), "greater", json!(1000)));
    assert!(is(price.clone(), "greater_or_equal", json!(1500)));
    assert!(check(json!({"left": price, "op": {"is": "between"}, "right": {"literal": 1000}, "right_upper": {"literal": 1500}})).0);
    assert!(!check(json!({"left": path("lead.price"), "op": {"is": "between"}, "right": {"literal": 0}, "right_upper": {"literal": 1499.99}})).0);
    assert!(is(path("lead.cf(102)"), "greater", json!(42)));
    assert!(is(path("lead.tasks.open"), "equals", json!(2)));
    assert!(is(path("lead.tasks.overdue"), "equals", json!(1)));
    assert!(is(path("lead.tasks.total"), "equals", json!(3)));
    assert!(is(path("lead.contacts.count"), "equals", json!(2)));
    assert!(is(
        path("company.leads.count"),
        "greater_or_equal",
        json!(4)
    ));
    assert!(is(
        path("lead.responsible_user_id"),
        "equals",
        json!(HENRIQUE)
    ));
    assert!(is(
        path("lead.status_id"),
        "is_one_of",
        json!(["142", "143"])
    ));
    // Global variables are text but compare as numbers.
    assert!(check(json!({"left": {"global": "counter"}, "op": {"is": "greater_or_equal"}, "right": {"literal": 7}})).0);
    // Text that is not a number: a type mismatch, said so.
    assert_eq!(
        check(json!({"left": path("lead.name"), "op": {"is": "greater"}, "right": {"literal": 1}})),
        (
            false,
            Some(Reason::TypeMismatch {
                expected: domain::value::ValueKind::Number,
                found: domain::value::ValueKind::Text
            })
        )
    );
}

#[test]
fn date_operators() {
    // lead.cf(106) is the date 2024-06-20; lead.cf(107) is 2024-06-20 13:30 UTC (15:30 Berlin).
    assert!(is(path("lead.cf(106)"), "after", json!("2024-06-19")));
    assert!(is(path("lead.cf(106)"), "before", json!("21.06.2024")));
    assert!(is(path("lead.cf(106)"), "on", json!("2024-06-20")));
    assert!(is(path("lead.cf(107)"), "on", json!("2024-06-20")));
    assert!(is(path("lead.cf(107)"), "after", json!("2024-06-20 15:00")));
    assert!(!is(
        path("lead.cf(107)"),
        "after",
        json!("2024-06-20 15:31")
    ));
    assert!(is(path("lead.created_at"), "before", json!("2024-06-02")));
    let within = |left: &str, op: &str, amount: u32, unit: &str| {
        check(json!({"left": path(left), "op": {"is": op, "amount": amount, "unit": unit}})).0
    };
    // Now is 2024-06-15 12:05 Berlin.
    assert!(within("lead.cf(106)", "within_next", 5, "days"));
    assert!(!within("lead.cf(106)", "within_next", 4, "days"));
    assert!(!within("lead.cf(106)", "within_last", 30, "days"));
    assert!(within("lead.updated_at", "within_last", 6, "days"));
    assert!(!within("lead.updated_at", "within_last", 4, "days"));
    assert!(within("lead.tasks.nearest", "within_last", 25, "hours"));
    assert!(!within("lead.tasks.nearest", "within_last", 23, "hours"));
    assert!(within("lead.cf(107)", "within_next", 7500, "minutes"));
    assert!(!within("lead.cf(107)", "within_next", 3600, "seconds"));
    assert!(is(path("date.now"), "day_of_week", json!(["sat", "sun"])));
    assert!(!is(path("date.now"), "day_of_week", json!("1,2,3,4,5")));
    assert!(is(path("lead.cf(106)"), "day_of_week", json!(["Thursday"])));
    assert!(is(path("date.weekday"), "is_one_of", json!(["6", "7"])));
    assert!(is(path("date.today"), "on", json!("15.06.2024")));
    assert_eq!(
        check(json!({"left": path("lead.name"), "op": {"is": "before"}, "right": {"literal": "2024-01-01"}})).1,
        Some(Reason::TypeMismatch { expected: domain::value::ValueKind::Date, found: domain::value::ValueKind::Text })
    );
}

/// The manual: "both lower and upper fields have the same data, the result does not change when
/// you rearrange them".
#[test]
fn equals_gives_the_same_answer_with_its_operands_rearranged() {
    let either_way = |field: Json, text: &str| {
        let forward = check(
            json!({"left": field.clone(), "op": {"is": "equals"}, "right": {"literal": text}}),
        )
        .0;
        let back =
            check(json!({"left": {"literal": text}, "op": {"is": "equals"}, "right": field})).0;
        assert_eq!(forward, back, "{field} equals {text}");
        let not_forward = check(
            json!({"left": field.clone(), "op": {"is": "not_equals"}, "right": {"literal": text}}),
        )
        .0;
        let not_back =
            check(json!({"left": {"literal": text}, "op": {"is": "not_equals"}, "right": field})).0;
        assert_eq!(not_forward, not_back, "{field} not_equals {text}");
        assert_eq!(back, !not_back, "{field} equals and not_equals {text}");
        back
    };
    // lead.cf(106) is the date 2024-06-20; lead.created_at is 2024-06-01 09:00 UTC.
    assert!(either_way(path("lead.cf(106)"), "20.06.2024"));
    assert!(!either_way(path("lead.cf(106)"), "2024-06-21"));
    assert!(either_way(path("lead.created_at"), "2024-06-01"));
    assert!(either_way(path("lead.tags"), "wholesale, vip"));
    assert!(!either_way(path("lead.tags"), "vip"));
    assert!(either_way(path("lead.cf(102)"), "42.5"));
    assert!(either_way(path("lead.cf(103)"), "1"));
    assert!(either_way(path("lead.name"), "WHOLESALE FORM ORDER"));
}

#[test]
fn list_and_tag_operators() {
    let tags = path("lead.tags");
    assert!(is(tags.clone(), "has_any", json!(["vip", "new"])));
    assert!(!is(tags.clone(), "has_any", json!(["new"])));
    assert!(is(tags.clone(), "has_all", json!(["VIP", "wholesale"])));
    assert!(!is(tags.clone(), "has_all", json!(["VIP", "new"])));
    assert!(is(tags.clone(), "has_none", json!("new, cold")));
    assert!(!is(tags.clone(), "has_none", json!(["cold", "vip"])));
    assert!(is(tags.clone(), "contains", json!("whole")));
    assert!(is(tags.clone(), "equals", json!(["wholesale", "vip"])));
    assert!(is(tags, "is_one_of", json!(["vip", "wholesale", "other"])));
    let multi = path("lead.cf(105)");
    assert!(is(multi.clone(), "has_any", json!(["green"])));
    assert!(is(multi.clone(), "has_all", json!(["Red", "Green"])));
    assert!(is(multi, "has_none", json!(["Blue"])));
    assert!(is(
        path("lead.cf(104)"),
        "is_one_of",
        json!(["Silver", "Gold"])
    ));
    assert!(!is(path("lead.cf(104)"), "is_one_of", json!(["Silver"])));
    assert!(is(path("contact.cf(202)"), "contains", json!("5555")));
    assert!(check(json!({"left": path("company.tags"), "op": {"is": "is_empty"}})).0);
}

#[test]
fn boolean_operators() {
    let flag = path("lead.cf(103)");
    assert!(check(json!({"left": flag.clone(), "op": {"is": "is_true"}})).0);
    assert!(!check(json!({"left": flag.clone(), "op": {"is": "is_false"}})).0);
    assert!(is(flag, "equals", json!(true)));
    assert!(check(json!({"left": {"global": "flag"}, "op": {"is": "is_true"}})).0);
    // A checkbox that was never set counts as off.
    assert!(check(json!({"left": path("lead.cf(777)"), "op": {"is": "is_false"}})).0);
    assert!(!check(json!({"left": path("date.working_hours"), "op": {"is": "is_true"}})).0);
}

#[test]
fn variables_event_data_and_missing_values_in_conditions() {
    assert!(check(json!({"left": {"webhook": "form"}, "op": {"is": "contains"}, "right": {"literal": "contact"}})).0);
    // "7" is not 42.5.
    assert!(!check(json!({"left": {"global": "counter"}, "op": {"is": "equals"}, "right": {"path": "lead.cf(102)"}})).0);
    // Compare two fields of related entities.
    assert!(check(json!({"left": path("lead.responsible.name"), "op": {"is": "not_equals"}, "right": path("contact.responsible.name")})).0);
    let (result, reason) = check(
        json!({"left": path("lead.cf(999)"), "op": {"is": "equals"}, "right": {"literal": "x"}}),
    );
    assert!(!result);
    assert_eq!(reason, Some(Reason::MissingValue));
    let (result, reason) = check(json!({"left": path("lead.name"), "op": {"is": "equals"}}));
    assert!(!result);
    assert_eq!(reason, Some(Reason::MissingRight));
    let (result, reason) = check(
        json!({"left": path("lead.name"), "op": {"is": "matches_regex"}, "right": {"literal": "(unclosed"}}),
    );
    assert!(!result);
    assert!(matches!(reason, Some(Reason::InvalidRegex { .. })));
    // A pattern whose compiled program exceeds the cap is refused, not compiled.
    let (_, reason) = check(
        json!({"left": path("lead.name"), "op": {"is": "matches_regex"}, "right": {"literal": "\\w{1000}\\w{1000}\\w{1000}"}}),
    );
    assert!(matches!(reason, Some(Reason::InvalidRegex { .. })));
    // Event data of another event kind is missing.
    assert_eq!(check(json!({"left": path("event.message_text"), "op": {"is": "contains"}, "right": {"literal": "x"}})).1, Some(Reason::MissingValue));
}

#[test]
fn and_binds_tighter_than_or() {
    let c = |left: &str, right: &str, join: &str| json!({"join": join, "left": path(left), "op": {"is": "equals"}, "right": {"literal": right}});
    let holds = |conditions: Json| {
        let r = rule(
            json!({"schema_version": 2, "name": "g", "trigger": {"kind": "entity_updated", "entity": "lead"},
            "blocks": [{"conditions": conditions, "actions": []}]}),
        );
        let e = run(
            &r,
            &lead_event(EventKind::EntityUpdated),
            &lead_snapshot("A"),
            &Variables::default(),
            now(),
        );
        e.trace.blocks[0].status == BlockStatus::Completed
    };
    // (name=A AND status=1) OR (name=A) -> true
    assert!(holds(json!([
        c("lead.name", "A", "and"),
        c("lead.status_id", "1", "and"),
        c("lead.name", "A", "or")
    ])));
    // (name=B) OR (name=A AND status=1) -> false
    assert!(!holds(json!([
        c("lead.name", "B", "and"),
        c("lead.name", "A", "or"),
        c("lead.status_id", "1", "and")
    ])));
    // (name=B) OR (name=A AND status=142) -> true
    assert!(holds(json!([
        c("lead.name", "B", "and"),
        c("lead.name", "A", "or"),
        c("lead.status_id", "142", "and")
    ])));
}

fn wholesale_retail_rule() -> Rule {
    let assign = |user: i64, block: &str, text: &str| {
        json!({
            "name": block,
            "conditions": [{"left": {"path": "lead.name"}, "op": {"is": "equals"}, "right": {"literal": text}}],
            "actions": [
                {"do": {"type": "change_responsible", "entity": "lead", "user": {"user": user}, "in_contacts": true, "in_open_tasks": true}},
                {"do": {"type": "create_task", "entity": "lead", "responsible": {"user": user}, "task_type_id": 1,
                        "complete_in_seconds": 3600, "text": "Process {{lead.name}} for {{lead.price}}"}}
            ]
        })
    };
    rule(json!({
        "schema_version": 2,
        "name": "Task to handle",
        "description": "Wholesale requests to Henrique, retail to David",
        "trigger": {"kind": "entity_added", "entity": "lead"},
        "blocks": [assign(HENRIQUE, "If wholesale", "WHOLESALE form order"), assign(DAVID, "If retail", "RETAIL form order")],
        "else_scenario": {"actions": [{"do": {"type": "add_note", "entity": "lead", "text": "Neither wholesale nor retail: {{lead.name}}"}}]}
    }))
}

#[test]
fn wholesale_and_retail_requests_go_to_different_managers() {
    let rule = wholesale_retail_rule();
    let event = lead_event(EventKind::EntityAdded);
    let vars = Variables::default();

    let e = run(
        &rule,
        &event,
        &lead_snapshot("WHOLESALE form order"),
        &vars,
        now(),
    );
    assert_eq!(e.outcome, Outcome::Ran);
    assert_eq!(e.trace.blocks[0].status, BlockStatus::Completed);
    assert_eq!(e.trace.blocks[1].status, BlockStatus::ConditionsNotMet);
    assert_eq!(
        e.trace.blocks[1].conditions[0].left,
        TraceValue::Text("WHOLESALE form order".into())
    );
    assert_eq!(
        e.trace.blocks[1].conditions[0].right,
        Some(TraceValue::Text("RETAIL form order".into()))
    );
    assert!(!e.trace.else_ran);
    assert_eq!(e.plan.len(), 2);
    assert!(matches!(
        &e.plan[0].action,
        ActionKind::ChangeResponsible {
            user: UserChoice::User(HENRIQUE),
            in_contacts: true,
            ..
        }
    ));
    match &e.plan[1].action {
        ActionKind::CreateTask {
            responsible, text, ..
        } => {
            assert_eq!(responsible, &Some(UserChoice::User(HENRIQUE)));
            assert_eq!(text, "Process WHOLESALE form order for 1500");
        }
        other => panic!("expected a task, got {other:?}"),
    }
    assert!(e
        .plan
        .iter()
        .all(|p| p.run_at.is_none() && p.block == Some(0)));

    let e = run(
        &rule,
        &event,
        &lead_snapshot("RETAIL form order"),
        &vars,
        now(),
    );
    assert_eq!(e.trace.blocks[0].status, BlockStatus::ConditionsNotMet);
    assert_eq!(e.trace.blocks[1].status, BlockStatus::Completed);
    assert!(matches!(
        &e.plan[0].action,
        ActionKind::ChangeResponsible {
            user: UserChoice::User(DAVID),
            ..
        }
    ));
    assert_eq!(e.plan[0].block, Some(1));

    let e = run(
        &rule,
        &event,
        &lead_snapshot("Question about prices"),
        &vars,
        now(),
    );
    assert!(e.trace.else_ran);
    assert_eq!(e.plan.len(), 1);
    assert_eq!(e.plan[0].block, None);
    assert!(
        matches!(&e.plan[0].action, ActionKind::AddNote { text, .. } if text == "Neither wholesale nor retail: Question about prices")
    );
    // The trace is what the debugger receives: it serialises.
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["trace"]["blocks"][0]["status"], "conditions_not_met");
    assert_eq!(json["outcome"], "ran");
}

#[test]
fn the_verdict_names_a_run_that_did_not_match_and_the_conditions_that_failed() {
    let mut rule = wholesale_retail_rule();
    rule.else_scenario = None;
    let event = lead_event(EventKind::EntityAdded);
    let vars = Variables::default();

    let fired = run(
        &rule,
        &event,
        &lead_snapshot("RETAIL form order"),
        &vars,
        now(),
    );
    let missed = run(
        &rule,
        &event,
        &lead_snapshot("Question about prices"),
        &vars,
        now(),
    );

    assert_eq!(fired.verdict(), Verdict::Fired);
    // The wholesale block failed on the way to the retail one, but the run fired: only the
    // blocks that did not hold are named.
    assert_eq!(fired.failed_conditions(&rule).len(), 1);
    assert_eq!(missed.verdict(), Verdict::DidNotMatch);
    let failed = missed.failed_conditions(&rule);
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(failed[1].block, 1);
    assert_eq!(failed[1].block_name, "If retail");
    assert_eq!(failed[1].condition, 0);
    assert_eq!(failed[1].operand, json!({"path": "lead.name"}));
    assert_eq!(failed[1].operator, "equals");
    assert_eq!(
        failed[1].expected,
        Some(TraceValue::Text("RETAIL form order".into()))
    );
    assert_eq!(
        failed[1].actual,
        TraceValue::Text("Question about prices".into())
    );
    // With the else scenario back, the same lead is handled by it: the rule fired.
    let with_else = run(
        &wholesale_retail_rule(),
        &event,
        &lead_snapshot("Question about prices"),
        &vars,
        now(),
    );
    assert_eq!(with_else.verdict(), Verdict::Fired);
}

fn birthday_rule() -> Rule {
    rule(json!({
        "schema_version": 2,
        "name": "Birthday greeting",
        "trigger": {"kind": "entity_updated", "entity": "contact"},
        "blocks": [{
            "id": 1,
            "name": "Has a birthday",
            "conditions": [{"left": {"path": "contact.cf(201)"}, "op": {"is": "is_not_empty"}}],
            "actions": [{
                "id": 10,
                "timer": {"kind": "yearly_from_field", "field": "contact.cf(201)", "at": "09:00:00"},
                "replace_pending": true,
                "do": {"type": "run_salesbot", "entity": "contact", "bot_id": 77}
            }]
        }]
    }))
}

#[test]
fn the_birthday_timer_runs_on_the_next_birthday_every_year() {
    let rule = birthday_rule();
    let event = contact_event(EventKind::EntityUpdated);
    let snapshot = lead_snapshot("x"); // contact born 1990-05-05, Berlin
    let vars = Variables::default();
    // After this year's birthday: next year's, 09:00 CEST = 07:00 UTC.
    let e = run(&rule, &event, &snapshot, &vars, utc(2024, 6, 15, 10, 0));
    assert_eq!(e.plan.len(), 1);
    assert_eq!(e.plan[0].run_at, Some(utc(2025, 5, 5, 7, 0)));
    assert!(e.plan[0].replace_pending);
    assert_eq!((e.plan[0].block_id, e.plan[0].action_id), (1, 10));
    // Before it: this year's.
    let e = run(&rule, &event, &snapshot, &vars, utc(2024, 5, 1, 10, 0));
    assert_eq!(e.plan[0].run_at, Some(utc(2024, 5, 5, 7, 0)));
    // On the day but after 09:00: next year.
    let e = run(&rule, &event, &snapshot, &vars, utc(2024, 5, 5, 8, 0));
    assert_eq!(e.plan[0].run_at, Some(utc(2025, 5, 5, 7, 0)));
    // Born on 29 February: 28 February in other years; in winter Berlin is UTC+1.
    let mut leap = snapshot.clone();
    leap.contact.as_mut().unwrap().custom_fields[0].value =
        domain::snapshot::FieldValue::Birthday(date(1992, 2, 29));
    let e = run(&rule, &event, &leap, &vars, utc(2024, 6, 1, 0, 0));
    assert_eq!(e.plan[0].run_at, Some(utc(2025, 2, 28, 8, 0)));
    let e = run(&rule, &event, &leap, &vars, utc(2027, 6, 1, 0, 0));
    assert_eq!(e.plan[0].run_at, Some(utc(2028, 2, 29, 8, 0)));
    // No birthday: the block does not fire, so nothing is planned.
    let mut none = snapshot.clone();
    none.contact.as_mut().unwrap().custom_fields.clear();
    let e = run(&rule, &event, &none, &vars, utc(2024, 6, 1, 0, 0));
    assert!(e.plan.is_empty());
    assert_eq!(e.trace.blocks[0].status, BlockStatus::ConditionsNotMet);
}

fn missed_call_rule() -> Rule {
    rule(json!({
        "schema_version": 2,
        "name": "Missed calls",
        "trigger": {"kind": "note_added", "entity": "lead", "note_types": ["call"]},
        "blocks": [
            {"name": "Too many missed calls",
             "conditions": [{"left": {"global": "missed_calls"}, "op": {"is": "greater_or_equal"}, "right": {"literal": 10}}],
             "actions": [{"do": {"type": "add_note", "entity": "lead", "text": "{missed_calls} missed calls so far, tell the head of sales"}}]},
            {"name": "Count a missed call",
             "conditions": [
                {"left": {"path": "event.direction"}, "op": {"is": "equals"}, "right": {"literal": "incoming"}},
                {"left": {"path": "event.call_status"}, "op": {"is": "is_one_of"}, "right": {"literal": ["no_answer", "busy", "unavailable"]}}
             ],
             "actions": [{"do": {"type": "change_global_variable", "name": "missed_calls", "change": "calculate",
                                 "value": "{{ ({missed_calls}+1):calc }}"}}]}
        ]
    }))
}

fn call(status: CallStatus) -> Event {
    lead_event(EventKind::NoteAdded {
        note: Note {
            note_type: NoteType::Call,
            text: String::new(),
            direction: Some(Direction::Incoming),
            call_duration_seconds: Some(0),
            call_status: Some(status),
            email_subject: None,
        },
    })
}

#[test]
fn missed_calls_are_counted_in_a_global_variable() {
    let compiled = CompiledRule::new(missed_call_rule());
    let snapshot = lead_snapshot("x");
    let mut vars = Variables::default();
    let mut state = EntityRuleState::default();
    let mut clock = utc(2024, 6, 3, 9, 0);
    let mut alerts = 0;
    let statuses = [
        CallStatus::NoAnswer,
        CallStatus::Held,
        CallStatus::Busy,
        CallStatus::Unavailable,
    ];
    for i in 0..15 {
        let status = statuses[i % statuses.len()];
        let e = compiled.evaluate(
            &call(status),
            &snapshot,
            &vars,
            &EvalContext::new(clock, state),
        );
        assert_eq!(e.outcome, Outcome::Ran);
        state = e.state;
        for planned in &e.plan {
            match &planned.action {
                ActionKind::ChangeGlobalVariable {
                    name,
                    change: VariableChange::Calculate,
                    value,
                } => {
                    vars.globals.insert(name.clone(), value.clone());
                }
                ActionKind::AddNote { text, .. } => {
                    alerts += 1;
                    assert!(
                        text.ends_with("missed calls so far, tell the head of sales"),
                        "{text}"
                    );
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        clock += Duration::seconds(10);
    }
    // 15 calls, every fourth one held (calls 2, 6, 10, 14): 11 missed.
    assert_eq!(vars.globals["missed_calls"], "11");
    // The alert block sees the count before this call's increment: call 13 (the 10th missed)
    // made it 10, so calls 14 and 15 saw >= 10.
    assert_eq!(alerts, 2);
}

#[test]
fn the_missed_call_rule_ignores_other_notes_and_outgoing_calls() {
    let compiled = CompiledRule::new(missed_call_rule());
    let snapshot = lead_snapshot("x");
    let vars = Variables::default();
    let ctx = EvalContext::new(now(), EntityRuleState::default());
    let sms = lead_event(EventKind::NoteAdded {
        note: Note {
            note_type: NoteType::Sms,
            text: "hi".into(),
            direction: Some(Direction::Incoming),
            call_duration_seconds: None,
            call_status: None,
            email_subject: None,
        },
    });
    assert_eq!(
        compiled.evaluate(&sms, &snapshot, &vars, &ctx).outcome,
        Outcome::EventDoesNotMatch
    );
    let mut outgoing = call(CallStatus::NoAnswer);
    if let EventKind::NoteAdded { note } = &mut outgoing.kind {
        note.direction = Some(Direction::Outgoing);
    }
    let e = compiled.evaluate(&outgoing, &snapshot, &vars, &ctx);
    assert!(e.plan.is_empty());
    assert!(!e.trace.blocks[1].conditions[0].result);
}

fn timer_rule(timer: Json) -> Rule {
    rule(json!({
        "schema_version": 2, "name": "timer", "trigger": {"kind": "entity_updated", "entity": "lead"},
        "blocks": [{"actions": [{"timer": timer, "do": {"type": "add_note", "entity": "lead", "text": "t"}}]}]
    }))
}

fn run_at(timer: Json, tz: chrono_tz::Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let e = run(
        &timer_rule(timer),
        &lead_event(EventKind::EntityUpdated),
        &lead_snapshot_in("x", tz),
        &Variables::default(),
        now,
    );
    assert!(
        e.trace.actions[0].error.is_none(),
        "{:?}",
        e.trace.actions[0].error
    );
    e.plan[0].run_at
}

#[test]
fn day_timers_keep_the_wall_clock_across_dst_in_berlin() {
    let berlin = chrono_tz::Europe::Berlin;
    // Spring forward: 2024-03-31 02:00 -> 03:00. Sat 30 Mar 10:00 CET = 09:00 UTC.
    let before = utc(2024, 3, 30, 9, 0);
    assert_eq!(
        run_at(
            json!({"kind": "after", "amount": 1, "unit": "days"}),
            berlin,
            before
        ),
        Some(utc(2024, 3, 31, 8, 0))
    );
    assert_eq!(
        run_at(
            json!({"kind": "after", "amount": 24, "unit": "hours"}),
            berlin,
            before
        ),
        Some(utc(2024, 3, 31, 9, 0))
    );
    // Fall back: 2024-10-27 03:00 -> 02:00. Sat 26 Oct 10:00 CEST = 08:00 UTC.
    let before = utc(2024, 10, 26, 8, 0);
    assert_eq!(
        run_at(
            json!({"kind": "after", "amount": 1, "unit": "days"}),
            berlin,
            before
        ),
        Some(utc(2024, 10, 27, 9, 0))
    );
    assert_eq!(
        run_at(
            json!({"kind": "after", "amount": 90, "unit": "minutes"}),
            berlin,
            before
        ),
        Some(utc(2024, 10, 26, 9, 30))
    );
}

#[test]
fn day_timers_keep_the_wall_clock_across_dst_in_new_york_and_sydney() {
    let ny = chrono_tz::America::New_York;
    // Fall back 2024-11-03. Sat 2 Nov 09:00 EDT = 13:00 UTC; Sun 3 Nov 09:00 EST = 14:00 UTC.
    assert_eq!(
        run_at(
            json!({"kind": "after", "amount": 1, "unit": "days"}),
            ny,
            utc(2024, 11, 2, 13, 0)
        ),
        Some(utc(2024, 11, 3, 14, 0))
    );
    // Spring forward 2024-03-10. Sat 9 Mar 09:00 EST = 14:00 UTC; Sun 10 Mar 09:00 EDT = 13:00 UTC.
    assert_eq!(
        run_at(
            json!({"kind": "after", "amount": 1, "unit": "days"}),
            ny,
            utc(2024, 3, 9, 14, 0)
        ),
        Some(utc(2024, 3, 10, 13, 0))
    );
    // Sydney moves the other way: DST ends 2024-04-07 (03:00 AEDT -> 02:00 AEST).
    let sydney = chrono_tz::Australia::Sydney;
    // Sat 6 Apr 09:00 AEDT (UTC+11) = 5 Apr 22:00 UTC; Sun 7 Apr 09:00 AEST (UTC+10) = 6 Apr 23:00 UTC.
    assert_eq!(
        run_at(
            json!({"kind": "after", "amount": 1, "unit": "days"}),
            sydney,
            utc(2024, 4, 5, 22, 0)
        ),
        Some(utc(2024, 4, 6, 23, 0))
    );
}

#[test]
fn date_field_timers_resolve_local_times_in_dst_gaps_and_overlaps() {
    let berlin = chrono_tz::Europe::Berlin;
    let mut snapshot = lead_snapshot_in("x", berlin);
    let lead = snapshot.lead.as_mut().unwrap();
    // The date field says 2024-03-30; shifted one day it is the spring-forward day.
    lead.custom_fields
        .iter_mut()
        .find(|f| f.field_id == DATE_FIELD)
        .unwrap()
        .value = domain::snapshot::FieldValue::Date(date(2024, 3, 30));
    let r = timer_rule(
        json!({"kind": "date_field", "field": "lead.cf(106)", "shift_days": 1, "at": "02:30:00"}),
    );
    let e = run(
        &r,
        &lead_event(EventKind::EntityUpdated),
        &snapshot,
        &Variables::default(),
        utc(2024, 3, 1, 0, 0),
    );
    // 02:30 does not exist that night: it becomes 03:30 CEST = 01:30 UTC.
    assert_eq!(e.plan[0].run_at, Some(utc(2024, 3, 31, 1, 30)));
    // New York's fall-back night: 01:30 happens twice; the first (EDT, UTC-4) is used.
    let ny = chrono_tz::America::New_York;
    let mut snapshot = lead_snapshot_in("x", ny);
    snapshot
        .lead
        .as_mut()
        .unwrap()
        .custom_fields
        .iter_mut()
        .find(|f| f.field_id == DATE_FIELD)
        .unwrap()
        .value = domain::snapshot::FieldValue::Date(date(2024, 11, 3));
    let r = timer_rule(json!({"kind": "date_field", "field": "lead.cf(106)", "at": "01:30:00"}));
    let e = run(
        &r,
        &lead_event(EventKind::EntityUpdated),
        &snapshot,
        &Variables::default(),
        utc(2024, 10, 1, 0, 0),
    );
    assert_eq!(e.plan[0].run_at, Some(utc(2024, 11, 3, 5, 30)));
    // A date-time field keeps its own local time when no time is given; shifted back 2 days.
    let r = timer_rule(json!({"kind": "date_field", "field": "lead.cf(107)", "shift_days": -2}));
    let e = run(
        &r,
        &lead_event(EventKind::EntityUpdated),
        &lead_snapshot_in("x", berlin),
        &Variables::default(),
        utc(2024, 6, 1, 0, 0),
    );
    assert_eq!(e.plan[0].run_at, Some(utc(2024, 6, 18, 13, 30)));
    // A timer on an empty field is not planned, and the trace says why.
    let r = timer_rule(json!({"kind": "date_field", "field": "lead.cf(999)"}));
    let e = run(
        &r,
        &lead_event(EventKind::EntityUpdated),
        &lead_snapshot_in("x", berlin),
        &Variables::default(),
        utc(2024, 6, 1, 0, 0),
    );
    assert!(e.plan.is_empty());
    assert_eq!(
        e.trace.actions[0].error.as_deref(),
        Some("the timer's field lead.cf(999) has no value")
    );
}

#[test]
fn scheduled_triggers_find_their_next_due_instant_across_dst() {
    use domain::rule::{Recurrence, Trigger};
    use domain::timer::next_due;
    let berlin = chrono_tz::Europe::Berlin;
    let daily: Trigger = serde_json::from_value(
        json!({"kind": "recurring", "schedule": {"every": "daily", "at": "09:00:00"}}),
    )
    .unwrap();
    assert_eq!(
        next_due(&daily, utc(2024, 3, 30, 9, 0), &berlin.into()),
        Some(utc(2024, 3, 31, 7, 0))
    );
    let weekly = Trigger::Recurring {
        schedule: Recurrence::Weekly {
            weekday: chrono::Weekday::Mon,
            at: chrono::NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
        },
    };
    assert_eq!(
        next_due(&weekly, utc(2024, 6, 15, 10, 0), &berlin.into()),
        Some(utc(2024, 6, 17, 6, 0))
    );
    let monthly = Trigger::Recurring {
        schedule: Recurrence::Monthly {
            day: 31,
            at: chrono::NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
        },
    };
    assert_eq!(
        next_due(&monthly, utc(2024, 6, 15, 10, 0), &berlin.into()),
        Some(utc(2024, 6, 30, 8, 0))
    );
    let ny = chrono_tz::America::New_York;
    let yearly = Trigger::Recurring {
        schedule: Recurrence::Yearly {
            month: 12,
            day: 31,
            at: chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
        },
    };
    assert_eq!(
        next_due(&yearly, utc(2024, 6, 15, 10, 0), &ny.into()),
        Some(utc(2024, 12, 31, 14, 0))
    );
    let once = Trigger::AtDateTime {
        date: date(2024, 12, 31),
        at: chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
    };
    assert_eq!(next_due(&once, utc(2025, 1, 1, 0, 0), &berlin.into()), None);
}

#[test]
fn the_frequency_gate_blocks_runs_that_come_too_soon() {
    let r = rule(
        json!({"schema_version": 2, "name": "f", "trigger": {"kind": "entity_updated", "entity": "lead"},
        "frequency": {"min_interval_seconds": 60},
        "blocks": [{"name": "b", "actions": [{"do": {"type": "add_note", "entity": "lead", "text": "x"}}]}]}),
    );
    let compiled = CompiledRule::new(r);
    let (snapshot, vars, event) = (
        lead_snapshot("x"),
        Variables::default(),
        lead_event(EventKind::EntityUpdated),
    );
    let first = compiled.evaluate(
        &event,
        &snapshot,
        &vars,
        &EvalContext::new(now(), EntityRuleState::default()),
    );
    assert_eq!(first.plan.len(), 1);
    assert_eq!(first.state.last_run_at, Some(now()));
    let soon = compiled.evaluate(
        &event,
        &snapshot,
        &vars,
        &EvalContext::new(now() + Duration::seconds(59), first.state),
    );
    assert_eq!(soon.outcome, Outcome::FrequencyExceeded);
    assert_eq!(soon.trace.blocks[0].status, BlockStatus::FrequencyExceeded);
    assert!(soon.plan.is_empty());
    assert_eq!(soon.state, first.state);
    let later = compiled.evaluate(
        &event,
        &snapshot,
        &vars,
        &EvalContext::new(now() + Duration::seconds(60), first.state),
    );
    assert_eq!(later.outcome, Outcome::Ran);
}

#[test]
fn the_frequency_is_never_below_five_seconds_and_the_message_cooldown_adds_to_it() {
    let r = rule(
        json!({"schema_version": 2, "name": "f", "trigger": {"kind": "incoming_message", "cooldown_seconds": 600},
        "frequency": {"min_interval_seconds": 1}, "blocks": [{"actions": []}]}),
    );
    let message = lead_event(EventKind::MessageReceived {
        message: Message {
            text: "how much does it cost?".into(),
            channel: "whatsapp".into(),
            direction: Direction::Incoming,
        },
    });
    let state = EntityRuleState {
        last_run_at: Some(now()),
        fired_once: false,
    };
    let at = |secs| run_with_state(&r, &message, now() + Duration::seconds(secs), state).outcome;
    assert_eq!(at(4), Outcome::FrequencyExceeded);
    assert_eq!(at(599), Outcome::FrequencyExceeded);
    assert_eq!(at(600), Outcome::Ran);
    let r1 = rule(
        json!({"schema_version": 2, "name": "f", "trigger": {"kind": "entity_updated", "entity": "lead"},
        "frequency": {"min_interval_seconds": 1}, "blocks": []}),
    );
    assert_eq!(
        run_with_state(
            &r1,
            &lead_event(EventKind::EntityUpdated),
            now() + Duration::seconds(4),
            state
        )
        .outcome,
        Outcome::FrequencyExceeded
    );
    assert_eq!(
        run_with_state(
            &r1,
            &lead_event(EventKind::EntityUpdated),
            now() + Duration::seconds(5),
            state
        )
        .outcome,
        Outcome::Ran
    );
}

fn run_with_state(
    r: &Rule,
    event: &Event,
    at: DateTime<Utc>,
    state: EntityRuleState,
) -> Evaluation {
    evaluate(
        r,
        event,
        &lead_snapshot("x"),
        &Variables::default(),
        &EvalContext::new(at, state),
    )
}

#[test]
fn once_per_entity_fires_only_once() {
    let r = rule(
        json!({"schema_version": 2, "name": "o", "trigger": {"kind": "entity_updated", "entity": "lead"},
        "frequency": {"once_per_entity": true},
        "blocks": [{"conditions": [{"left": {"path": "lead.name"}, "op": {"is": "equals"}, "right": {"literal": "go"}}],
                    "actions": [{"do": {"type": "add_note", "entity": "lead", "text": "x"}}]}]}),
    );
    let event = lead_event(EventKind::EntityUpdated);
    // A run in which nothing fired does not use up the once.
    let e = evaluate(
        &r,
        &event,
        &lead_snapshot("wait"),
        &Variables::default(),
        &EvalContext::new(now(), EntityRuleState::default()),
    );
    assert!(!e.state.fired_once);
    let e = evaluate(
        &r,
        &event,
        &lead_snapshot("go"),
        &Variables::default(),
        &EvalContext::new(now() + Duration::hours(1), e.state),
    );
    assert_eq!(e.plan.len(), 1);
    assert!(e.state.fired_once);
    let again = evaluate(
        &r,
        &event,
        &lead_snapshot("go"),
        &Variables::default(),
        &EvalContext::new(now() + Duration::days(1), e.state),
    );
    assert_eq!(again.outcome, Outcome::OnceAlreadyFired);
    assert_eq!(again.trace.blocks[0].status, BlockStatus::OnceAlreadyFired);
    assert!(again.plan.is_empty());
}

#[test]
fn disabled_rules_other_events_and_active_hours_do_not_run() {
    let mut r = wholesale_retail_rule();
    let snapshot = lead_snapshot("WHOLESALE form order");
    r.enabled = false;
    assert_eq!(
        run(
            &r,
            &lead_event(EventKind::EntityAdded),
            &snapshot,
            &Variables::default(),
            now()
        )
        .outcome,
        Outcome::Disabled
    );
    r.enabled = true;
    let e = run(
        &r,
        &lead_event(EventKind::EntityUpdated),
        &snapshot,
        &Variables::default(),
        now(),
    );
    assert_eq!(e.outcome, Outcome::EventDoesNotMatch);
    assert!(e.plan.is_empty());
    assert_eq!(e.state, EntityRuleState::default());
    assert_eq!(
        run(
            &r,
            &contact_event(EventKind::EntityAdded),
            &snapshot,
            &Variables::default(),
            now()
        )
        .outcome,
        Outcome::EventDoesNotMatch
    );
    // Active on weekdays 09:00-18:00 Berlin; now is Saturday.
    r.active_hours = Some(serde_json::from_value(json!({"intervals": [
        {"day": "Mon", "from": "09:00:00", "to": "18:00:00"}, {"day": "Fri", "from": "09:00:00", "to": "18:00:00"}]})).unwrap());
    assert_eq!(
        run(
            &r,
            &lead_event(EventKind::EntityAdded),
            &snapshot,
            &Variables::default(),
            now()
        )
        .outcome,
        Outcome::OutsideActiveHours
    );
    // Friday 2024-06-14 10:00 Berlin = 08:00 UTC.
    assert_eq!(
        run(
            &r,
            &lead_event(EventKind::EntityAdded),
            &snapshot,
            &Variables::default(),
            utc(2024, 6, 14, 8, 0)
        )
        .outcome,
        Outcome::Ran
    );
}

#[test]
fn delayed_blocks_are_deferred_then_resumed() {
    let r = rule(
        json!({"schema_version": 2, "name": "d", "trigger": {"kind": "entity_added", "entity": "lead"},
        "blocks": [
            {"name": "wait for fields", "delay_seconds": 20,
             "conditions": [{"left": {"path": "lead.price"}, "op": {"is": "greater"}, "right": {"literal": 1000}}],
             "actions": [{"do": {"type": "add_note", "entity": "lead", "text": "big"}}]},
            {"name": "at once", "actions": [{"do": {"type": "add_note", "entity": "lead", "text": "hello"}}]}
        ],
        "else_scenario": {"actions": [{"do": {"type": "add_note", "entity": "lead", "text": "else"}}]}}),
    );
    let compiled = CompiledRule::new(r);
    let (snapshot, vars, event) = (
        lead_snapshot("x"),
        Variables::default(),
        lead_event(EventKind::EntityAdded),
    );
    let first = compiled.evaluate(
        &event,
        &snapshot,
        &vars,
        &EvalContext::new(now(), EntityRuleState::default()),
    );
    assert_eq!(
        first.trace.blocks[0].status,
        BlockStatus::Deferred {
            until: now() + Duration::seconds(20)
        }
    );
    assert_eq!(first.deferred_blocks.len(), 1);
    assert_eq!(first.plan.len(), 1);
    assert!(!first.trace.else_ran);
    let mut ctx = EvalContext::new(now() + Duration::seconds(20), first.state);
    ctx.resume_block = Some(0);
    let resumed = compiled.evaluate(&event, &snapshot, &vars, &ctx);
    assert_eq!(resumed.outcome, Outcome::Ran);
    assert_eq!(resumed.trace.blocks[0].status, BlockStatus::Completed);
    assert_eq!(resumed.trace.blocks[1].status, BlockStatus::NotRun);
    assert_eq!(resumed.plan.len(), 1);
    assert!(matches!(&resumed.plan[0].action, ActionKind::AddNote { text, .. } if text == "big"));
    // Resuming is not a new run: the frequency clock is not reset.
    assert_eq!(resumed.state.last_run_at, first.state.last_run_at);
}

#[test]
fn actions_whose_templates_fail_are_traced_not_planned() {
    let r = rule(
        json!({"schema_version": 2, "name": "t", "trigger": {"kind": "entity_added", "entity": "lead"},
        "blocks": [{"actions": [
            {"do": {"type": "add_note", "entity": "lead", "text": "{{ (1/0):calc }}"}},
            {"do": {"type": "add_note", "entity": "lead", "text": "{{lead.name"}},
            {"do": {"type": "add_note", "entity": "lead", "text": "fine"}}
        ]}]}),
    );
    let e = run(
        &r,
        &lead_event(EventKind::EntityAdded),
        &lead_snapshot("x"),
        &Variables::default(),
        now(),
    );
    assert_eq!(e.plan.len(), 1);
    assert_eq!(e.plan[0].action_index, 2);
    assert_eq!(
        e.trace.actions[0].error.as_deref(),
        Some("a calculation divides by zero")
    );
    assert!(e.trace.actions[1]
        .error
        .as_deref()
        .unwrap()
        .starts_with("the template is invalid: line 1, column 1"));
}

#[test]
fn trigger_delays_shift_the_actions() {
    let r = rule(
        json!({"schema_version": 2, "name": "s", "trigger": {"kind": "outgoing_message_seen", "delay_seconds": 86400},
        "blocks": [{"actions": [
            {"do": {"type": "run_salesbot", "entity": "lead", "bot_id": 1}},
            {"timer": {"kind": "after", "amount": 5, "unit": "minutes"}, "do": {"type": "run_salesbot", "entity": "lead", "bot_id": 2}}
        ]}]}),
    );
    let e = run(
        &r,
        &lead_event(EventKind::OutgoingMessageSeen {
            channel: "telegram".into(),
        }),
        &lead_snapshot("x"),
        &Variables::default(),
        now(),
    );
    assert_eq!(e.plan[0].run_at, Some(now() + Duration::days(1)));
    assert_eq!(
        e.plan[1].run_at,
        Some(now() + Duration::days(1) + Duration::minutes(5))
    );
}

#[test]
fn triggers_match_their_events() {
    use domain::eval::trigger_matches;
    use domain::rule::Trigger;
    let t = |v: Json| -> Trigger { serde_json::from_value(v).unwrap() };
    let status = |created| {
        lead_event(EventKind::StatusChanged {
            old_pipeline_id: None,
            old_status_id: None,
            pipeline_id: 7,
            status_id: 142,
            created,
        })
    };
    let moved_only =
        t(json!({"kind": "status_changed", "pipeline_id": 7, "status_id": 142, "entry": "moved"}));
    assert!(trigger_matches(&moved_only, &status(false)));
    assert!(!trigger_matches(&moved_only, &status(true)));
    assert!(trigger_matches(
        &t(json!({"kind": "status_changed"})),
        &status(true)
    ));
    assert!(!trigger_matches(
        &t(json!({"kind": "status_changed", "status_id": 143})),
        &status(false)
    ));
    let tag = lead_event(EventKind::TagAdded { tag: "VIP".into() });
    assert!(trigger_matches(
        &t(json!({"kind": "tag_added", "entity": "lead", "tags": ["vip"]})),
        &tag
    ));
    assert!(!trigger_matches(
        &t(json!({"kind": "tag_removed", "entity": "lead"})),
        &tag
    ));
    assert!(!trigger_matches(
        &t(json!({"kind": "tag_added", "entity": "contact"})),
        &tag
    ));
    let field = lead_event(EventKind::FieldUpdated { field_id: 5 });
    assert!(trigger_matches(
        &t(json!({"kind": "field_updated", "entity": "lead", "field_id": 5})),
        &field
    ));
    assert!(!trigger_matches(
        &t(json!({"kind": "field_updated", "entity": "lead", "field_id": 6})),
        &field
    ));
    let manual = t(json!({"kind": "manual", "entity": "contact"}));
    for kind in [
        EventKind::Manual { user_id: Some(1) },
        EventKind::RuleCall {
            parent_rule_id: Some(3),
            parent_entity: None,
        },
        EventKind::Salesbot,
        EventKind::TriggerLink { link_id: 58 },
        EventKind::TaskCompleted {
            result: Some("Done".into()),
        },
    ] {
        assert!(
            trigger_matches(&manual, &contact_event(kind.clone())),
            "{kind:?}"
        );
        assert!(!trigger_matches(&manual, &lead_event(kind)));
    }
    assert!(!trigger_matches(
        &manual,
        &contact_event(EventKind::EntityUpdated)
    ));
    // A person's launch runs an "added" or "updated" rule of the entity's type, and no other
    // rule the manual keeps from being launched by hand.
    let pressed = || EventKind::Manual { user_id: Some(1) };
    for kind in ["entity_added", "entity_updated"] {
        let on_contacts = t(json!({"kind": kind, "entity": "contact"}));
        assert!(trigger_matches(&on_contacts, &contact_event(pressed())));
        assert!(!trigger_matches(&on_contacts, &lead_event(pressed())));
        assert!(!trigger_matches(
            &on_contacts,
            &contact_event(EventKind::RuleCall {
                parent_rule_id: None,
                parent_entity: None,
            })
        ));
    }
    for refused in [
        json!({"kind": "status_changed"}),
        json!({"kind": "responsible_changed", "entity": "lead"}),
        json!({"kind": "note_added", "entity": "lead"}),
        json!({"kind": "incoming_message"}),
    ] {
        assert!(
            !trigger_matches(&t(refused.clone()), &lead_event(pressed())),
            "{refused}"
        );
    }
    let dp = lead_event(EventKind::DigitalPipeline {
        pipeline_id: 7,
        status_id: 142,
    });
    assert!(trigger_matches(
        &t(json!({"kind": "entity_updated", "entity": "lead"})),
        &dp
    ));
    let hook = Event {
        entity: None,
        kind: EventKind::InboundWebhook {
            hook_id: "QB4P".into(),
            receiver_id: None,
            found: None,
        },
        vars: Default::default(),
    };
    assert!(trigger_matches(
        &t(json!({"kind": "inbound_webhook", "hook_id": "QB4P"})),
        &hook
    ));
    assert!(!trigger_matches(
        &t(json!({"kind": "inbound_webhook", "hook_id": "other"})),
        &hook
    ));
    // A trigger that names a receiver runs for that receiver's requests only, whatever its label.
    let through = |receiver_id| Event {
        entity: None,
        kind: EventKind::InboundWebhook {
            hook_id: String::new(),
            receiver_id,
            found: Some(true),
        },
        vars: Default::default(),
    };
    let on_receiver = t(json!({"kind": "inbound_webhook", "hook_id": "QB4P", "receiver_id": 7}));
    assert!(trigger_matches(&on_receiver, &through(Some(7))));
    assert!(!trigger_matches(&on_receiver, &through(Some(8))));
    assert!(!trigger_matches(&on_receiver, &hook));
    assert!(!trigger_matches(
        &t(json!({"kind": "inbound_webhook", "hook_id": ""})),
        &through(Some(7))
    ));
    let msg = |d| {
        lead_event(EventKind::MessageReceived {
            message: Message {
                text: "hi".into(),
                channel: "WhatsApp".into(),
                direction: d,
            },
        })
    };
    let incoming = t(json!({"kind": "incoming_message", "channels": ["whatsapp"]}));
    assert!(trigger_matches(&incoming, &msg(Direction::Incoming)));
    assert!(!trigger_matches(&incoming, &msg(Direction::Outgoing)));
    assert!(!trigger_matches(
        &t(json!({"kind": "incoming_message", "channels": ["telegram"]})),
        &msg(Direction::Incoming)
    ));
    let started = lead_event(EventKind::ConversationStarted {
        channel: "telegram".into(),
        direction: Direction::Outgoing,
    });
    assert!(trigger_matches(
        &t(json!({"kind": "conversation_started"})),
        &started
    ));
    assert!(!trigger_matches(
        &t(json!({"kind": "conversation_started", "by": "incoming"})),
        &started
    ));
    assert!(trigger_matches(
        &t(json!({"kind": "conversation_closed"})),
        &lead_event(EventKind::ConversationClosed {
            channel: "x".into()
        })
    ));
    assert!(trigger_matches(
        &t(json!({"kind": "recurring", "schedule": {"every": "daily", "at": "09:00:00"}})),
        &Event {
            entity: None,
            kind: EventKind::Scheduled,
            vars: Default::default()
        }
    ));
    assert!(trigger_matches(
        &t(
            json!({"kind": "relative_to_date_field", "entity": "lead", "field_id": 106, "offset_hours": -2})
        ),
        &lead_event(EventKind::Scheduled)
    ));
    let note = lead_event(EventKind::NoteAdded {
        note: Note {
            note_type: NoteType::Email,
            text: String::new(),
            direction: Some(Direction::Incoming),
            call_duration_seconds: None,
            call_status: None,
            email_subject: Some("Invoice".into()),
        },
    });
    assert!(trigger_matches(
        &t(json!({"kind": "note_added", "entity": "lead"})),
        &note
    ));
    assert!(trigger_matches(
        &t(json!({"kind": "responsible_changed", "entity": "lead"})),
        &lead_event(EventKind::ResponsibleChanged {
            old_user_id: Some(1),
            new_user_id: Some(2)
        })
    ));
}

#[test]
fn a_trigger_runs_only_for_the_sources_it_belongs_to() {
    use domain::rule::{Source, Trigger};
    let t = |v: Json| -> Trigger { serde_json::from_value(v).unwrap() };
    let manual_lead = t(json!({"kind": "manual", "entity": "lead"}));
    let manual_contact = t(json!({"kind": "manual", "entity": "contact"}));
    let lead_added = t(json!({"kind": "entity_added", "entity": "lead"}));
    let contact_added = t(json!({"kind": "entity_added", "entity": "contact"}));
    let tag_added = t(json!({"kind": "tag_added", "entity": "lead"}));
    let status = t(json!({"kind": "status_changed"}));
    let hook = t(json!({"kind": "inbound_webhook", "hook_id": "QB4P"}));
    let daily = t(json!({"kind": "recurring", "schedule": {"every": "daily", "at": "09:00:00"}}));

    let lead_updated = t(json!({"kind": "entity_updated", "entity": "lead"}));
    let manual_company = t(json!({"kind": "manual", "entity": "company"}));
    for (trigger, kommo, dp, inbound, link, salesbot) in [
        (&manual_lead, false, true, true, true, true),
        (&manual_contact, false, false, true, true, true),
        (&manual_company, false, false, true, true, false),
        (&lead_added, true, true, false, false, true),
        (&lead_updated, true, true, false, false, true),
        (&contact_added, true, false, false, false, false),
        (&tag_added, true, false, false, false, false),
        (&status, true, false, false, false, false),
        (&hook, false, false, true, false, false),
        (&daily, false, false, false, false, false),
    ] {
        assert_eq!(trigger.dp_capable(), dp, "{trigger:?}");
        assert_eq!(trigger.runs_from(Source::Salesbot), salesbot, "{trigger:?}");
        assert_eq!(
            trigger.runs_from(Source::KommoWebhook),
            kommo,
            "{trigger:?}"
        );
        assert_eq!(
            trigger.runs_from(Source::DigitalPipeline),
            dp,
            "{trigger:?}"
        );
        assert_eq!(
            trigger.runs_from(Source::InboundWebhook),
            inbound,
            "{trigger:?}"
        );
        assert_eq!(trigger.runs_from(Source::TriggerLink), link, "{trigger:?}");
    }
}

#[test]
fn event_data_is_readable_in_conditions() {
    let r = rule(
        json!({"schema_version": 2, "name": "e", "trigger": {"kind": "note_added", "entity": "lead"},
        "blocks": [{"conditions": [
            {"left": {"path": "event.note_type"}, "op": {"is": "equals"}, "right": {"literal": "email"}},
            {"left": {"path": "event.email_subject"}, "op": {"is": "contains"}, "right": {"literal": "invoice"}},
            {"left": {"path": "event.direction"}, "op": {"is": "equals"}, "right": {"literal": "incoming"}}
        ], "actions": []}]}),
    );
    let note = lead_event(EventKind::NoteAdded {
        note: Note {
            note_type: NoteType::Email,
            text: String::new(),
            direction: Some(Direction::Incoming),
            call_duration_seconds: None,
            call_status: None,
            email_subject: Some("Your Invoice #12".into()),
        },
    });
    let e = run(&r, &note, &lead_snapshot("x"), &Variables::default(), now());
    assert_eq!(e.trace.blocks[0].status, BlockStatus::Completed);
    let r = rule(
        json!({"schema_version": 2, "name": "m", "trigger": {"kind": "incoming_message"},
        "blocks": [{"conditions": [{"left": {"path": "event.message_text"}, "op": {"is": "contains"}, "right": {"literal": "how much does it cost"}}],
                    "actions": [{"do": {"type": "run_salesbot", "entity": "lead", "bot_id": 9}}]}]}),
    );
    let msg = lead_event(EventKind::MessageReceived {
        message: Message {
            text: "Hi! How much does it cost?".into(),
            channel: "whatsapp".into(),
            direction: Direction::Incoming,
        },
    });
    assert_eq!(
        run(&r, &msg, &lead_snapshot("x"), &Variables::default(), now())
            .plan
            .len(),
        1
    );
    let call = lead_event(EventKind::NoteAdded {
        note: Note {
            note_type: NoteType::Call,
            text: String::new(),
            direction: Some(Direction::Incoming),
            call_duration_seconds: Some(125),
            call_status: Some(CallStatus::Held),
            email_subject: None,
        },
    });
    let r = rule(
        json!({"schema_version": 2, "name": "c", "trigger": {"kind": "note_added", "entity": "lead"},
        "blocks": [{"actions": [{"do": {"type": "change_fields", "entity": "contact", "fields": [{"field": {"custom": 300}, "value": "{{event.call_duration}}"}]}}]}]}),
    );
    let e = run(&r, &call, &lead_snapshot("x"), &Variables::default(), now());
    assert!(
        matches!(&e.plan[0].action, ActionKind::ChangeFields { fields, .. } if fields[0].value == "125")
    );
}

#[test]
fn date_field_triggers_are_due_relative_to_the_field() {
    use domain::rule::Trigger;
    use domain::timer::due_for_snapshot;
    let snapshot = lead_snapshot("x");
    // lead.cf(107) is 2024-06-20 13:30 UTC; two hours before.
    let before = Trigger::RelativeToDateField {
        entity: domain::path::EntityType::Lead,
        field_id: DATE_TIME_FIELD,
        offset_hours: -2,
    };
    assert_eq!(
        due_for_snapshot(&before, &snapshot),
        Some(utc(2024, 6, 20, 11, 30))
    );
    // lead.cf(106) is the date 2024-06-20: local midnight in Berlin (22:00 UTC the day before), plus 9 hours.
    let after = Trigger::RelativeToDateField {
        entity: domain::path::EntityType::Lead,
        field_id: DATE_FIELD,
        offset_hours: 9,
    };
    assert_eq!(
        due_for_snapshot(&after, &snapshot),
        Some(utc(2024, 6, 20, 7, 0))
    );
    let missing = Trigger::RelativeToDateField {
        entity: domain::path::EntityType::Lead,
        field_id: 999,
        offset_hours: 1,
    };
    assert_eq!(due_for_snapshot(&missing, &snapshot), None);
}

mod complements {
    //! Negated operators are exact complements of their positives, whatever the values.
    use super::*;
    use proptest::prelude::*;

    fn pair(left: Json, op: &str, right: Json) -> bool {
        check(json!({"left": {"literal": left}, "op": {"is": op}, "right": {"literal": right}})).0
    }

    fn value() -> impl Strategy<Value = Json> {
        prop_oneof![
            "[a-cA-C ,]{0,6}".prop_map(Json::from),
            (-5i32..5).prop_map(Json::from),
            any::<bool>().prop_map(Json::from),
            prop::collection::vec("[a-c]{0,2}", 0..3).prop_map(Json::from),
        ]
    }

    proptest! {
        #[test]
        fn negations_are_complements(left in value(), right in value()) {
            prop_assert_ne!(pair(left.clone(), "equals", right.clone()), pair(left.clone(), "not_equals", right.clone()));
            prop_assert_ne!(pair(left.clone(), "contains", right.clone()), pair(left.clone(), "not_contains", right.clone()));
            prop_assert_ne!(pair(left.clone(), "has_any", right.clone()), pair(left, "has_none", right));
        }

        #[test]
        fn number_orderings_agree(a in -1000i32..1000, b in -1000i32..1000) {
            prop_assert_eq!(pair(json!(a), "less", json!(b)), a < b);
            prop_assert_eq!(pair(json!(a), "less_or_equal", json!(b)), a <= b);
            prop_assert_eq!(pair(json!(a), "greater", json!(b)), a > b);
            prop_assert_eq!(pair(json!(a), "greater_or_equal", json!(b)), a >= b);
            prop_assert_eq!(pair(json!(a), "equals", json!(b.to_string())), a == b);
        }
    }
}

/// A stopwatch that moves 1,500 ns each time it is read.
fn ticking() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NOW_NS: AtomicU64 = AtomicU64::new(0);
    NOW_NS.fetch_add(1_500, Ordering::SeqCst)
}

#[test]
fn a_timed_evaluation_says_how_long_each_condition_took() {
    let r = rule(json!({
        "schema_version": 2,
        "name": "timed",
        "trigger": {"kind": "entity_updated", "entity": "lead"},
        "blocks": [{"name": "b", "conditions": [
            {"left": {"path": "lead.name"}, "op": {"is": "equals"}, "right": {"literal": "x"}},
            {"left": {"path": "lead.price"}, "op": {"is": "greater"}, "right": {"literal": 1}, "join": "or"}
        ], "actions": []}]
    }));
    let event = lead_event(EventKind::EntityUpdated);
    let context = EvalContext::new(now(), EntityRuleState::default());
    let timed = evaluate(
        &r,
        &event,
        &lead_snapshot("WHOLESALE form order"),
        &Variables::default(),
        &context.timed(ticking),
    );
    let elapsed: Vec<_> = timed.trace.blocks[0]
        .conditions
        .iter()
        .map(|c| c.elapsed_ns)
        .collect();
    assert_eq!(elapsed, vec![Some(1_500), Some(1_500)]);
    let untimed = evaluate(
        &r,
        &event,
        &lead_snapshot("WHOLESALE form order"),
        &Variables::default(),
        &context,
    );
    assert!(untimed.trace.blocks[0]
        .conditions
        .iter()
        .all(|c| c.elapsed_ns.is_none()));
    let json = serde_json::to_value(&untimed.trace).unwrap();
    assert!(
        json["blocks"][0]["conditions"][0]
            .get("elapsed_ns")
            .is_none(),
        "an untimed trace is written as before"
    );
    // A timed and an untimed evaluation decide the same.
    assert_eq!(timed.outcome, untimed.outcome);
    assert_eq!(timed.plan, untimed.plan);
}

#[test]
fn only_the_manuals_kinds_can_be_launched_by_hand() {
    use domain::{path::EntityType, rule::Trigger};
    let t = |v: Json| -> Trigger { serde_json::from_value(v).unwrap() };
    let by_hand = |v: Json| t(v).launchable_by_hand();
    assert_eq!(
        by_hand(json!({"kind": "manual", "entity": "company"})),
        Some(EntityType::Company)
    );
    assert_eq!(
        by_hand(json!({"kind": "entity_added", "entity": "lead"})),
        Some(EntityType::Lead)
    );
    assert_eq!(
        by_hand(json!({"kind": "entity_updated", "entity": "contact"})),
        Some(EntityType::Contact)
    );
    // The manual's exceptions: status change, responsible change, task, note, incoming message.
    for refused in [
        json!({"kind": "status_changed"}),
        json!({"kind": "responsible_changed", "entity": "contact"}),
        json!({"kind": "entity_added", "entity": "task"}),
        json!({"kind": "entity_updated", "entity": "task"}),
        json!({"kind": "note_added", "entity": "company"}),
        json!({"kind": "incoming_message"}),
        json!({"kind": "tag_added", "entity": "lead"}),
        json!({"kind": "inbound_webhook", "hook_id": "x"}),
    ] {
        assert_eq!(by_hand(refused.clone()), None, "{refused}");
    }
}
