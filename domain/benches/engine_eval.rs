//! `cargo xtask bench engine-eval`: evaluations per second of a 5-block, 10-condition rule
//! against a lead snapshot, on one core. Target: at least 200,000/s (key `evals_per_s`).

mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use domain::eval::{CompiledRule, EntityRuleState, EvalContext};
use domain::event::{Event, EventKind};
use domain::path::EntityType;
use domain::rule::Rule;
use domain::value::Variables;
use serde_json::json;

const TARGET: f64 = 200_000.0;

fn rule() -> Rule {
    let c = |left: &str, op: serde_json::Value, right: serde_json::Value| json!({"left": {"path": left}, "op": op, "right": {"literal": right}});
    let note = |text: &str| json!({"do": {"type": "add_note", "entity": "lead", "text": text}});
    let text = json!({
        "schema_version": 2, "name": "Route requests", "trigger": {"kind": "entity_updated", "entity": "lead"},
        "blocks": [
            {"name": "wholesale", "conditions": [
                c("lead.name", json!({"is": "starts_with"}), json!("wholesale")),
                c("lead.price", json!({"is": "greater_or_equal"}), json!(1000))],
             "actions": [{"do": {"type": "change_responsible", "entity": "lead", "user": {"user": 11}}}, note("Wholesale {{lead.name}} for {{lead.price}}")]},
            {"name": "retail", "conditions": [
                c("lead.name", json!({"is": "contains"}), json!("retail")),
                c("lead.tags", json!({"is": "has_any"}), json!(["retail", "b2c"]))],
             "actions": [note("Retail")]},
            {"name": "vip", "conditions": [
                c("lead.tags", json!({"is": "has_all"}), json!(["VIP", "wholesale"])),
                c("lead.cf(104)", json!({"is": "is_one_of"}), json!(["Gold", "Platinum"]))],
             "actions": [{"do": {"type": "change_fields", "entity": "lead", "fields": [{"field": {"custom": 102}, "value": "{{ (lead.cf(102)+1):calc }}"}]}}]},
            {"name": "due soon", "conditions": [
                {"left": {"path": "lead.cf(106)"}, "op": {"is": "within_next", "amount": 7, "unit": "days"}},
                c("lead.tasks.overdue", json!({"is": "greater"}), json!(0))],
             "actions": [{"timer": {"kind": "after", "amount": 1, "unit": "days"}, "do": {"type": "create_task", "entity": "lead", "task_type_id": 1, "complete_in_seconds": 3600, "text": "Call {{contact.name}}"}}]},
            {"name": "campaign", "conditions": [
                c("lead.utm_campaign", json!({"is": "matches_regex"}), json!("^summer_")),
                c("lead.cf(101)", json!({"is": "not_contains"}), json!("cancelled"))],
             "actions": [note("Campaign lead")]}
        ]
    });
    Rule::from_json(&text.to_string()).expect("the bench rule parses")
}

fn main() {
    let compiled = CompiledRule::new(rule());
    let snapshot = support::lead_snapshot();
    let event = Event::about(EntityType::Lead, 5001, EventKind::EntityUpdated);
    let variables = Variables::default();
    let context = EvalContext::new(support::utc(2024, 6, 15, 10, 5), EntityRuleState::default());

    let once = compiled.evaluate(&event, &snapshot, &variables, &context);
    let conditions: usize = once.trace.blocks.iter().map(|b| b.conditions.len()).sum();
    assert_eq!(
        (once.trace.blocks.len(), conditions),
        (5, 10),
        "the rule has 5 blocks and 10 conditions"
    );
    assert!(
        !once.plan.is_empty(),
        "some blocks fire, so the plan is rendered too"
    );

    for _ in 0..20_000 {
        black_box(compiled.evaluate(black_box(&event), &snapshot, &variables, &context));
    }
    let budget = Duration::from_secs(3);
    let start = Instant::now();
    let mut iterations: u64 = 0;
    while start.elapsed() < budget {
        for _ in 0..1_000 {
            black_box(compiled.evaluate(black_box(&event), &snapshot, &variables, &context));
        }
        iterations += 1_000;
    }
    let seconds = start.elapsed().as_secs_f64();
    let evals_per_s = iterations as f64 / seconds;
    println!(
        "engine-eval: {iterations} evaluations in {seconds:.2} s = {evals_per_s:.0}/s (target {TARGET:.0}/s, {} planned actions each)",
        once.plan.len()
    );
    support::write_result(
        "engine-eval",
        &[
            ("evals_per_s", evals_per_s.round()),
            ("target_evals_per_s", TARGET),
            ("iterations", iterations as f64),
            ("seconds", seconds),
            ("blocks", 5.0),
            ("conditions", 10.0),
        ],
    );
}
