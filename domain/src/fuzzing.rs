//! The bodies of the fuzz targets of `domain/fuzz`, plain functions so that the same code runs
//! under libFuzzer (`cargo xtask fuzz <target>`, nightly) and, on stable, as a test over each
//! target's committed seeds (`domain/fuzz/seeds/<target>/`). Each takes any bytes and panics only
//! when a property of the parser does not hold.

use chrono::DateTime;

use crate::eval::{CompiledRule, EntityRuleState, EvalContext};
use crate::event::{Event, EventKind};
use crate::path::EntityType;
use crate::rule::Rule;
use crate::snapshot::{EntitySnapshot, Snapshot};
use crate::template::{parse, print, render_into, RenderLimits};
use crate::validate::{validate, Schema};
use crate::value::{Scope, Variables};
use crate::zone::Zone;

/// `template_parse`: any text parses or fails with a position inside the text; a parsed template
/// prints back to text that parses to the same AST, and renders within its limits.
pub fn template_parse(data: &[u8]) {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    match parse(source) {
        Err(error) => assert!(error.offset <= source.len(), "error offset past the end"),
        Ok(nodes) => {
            let printed = print(&nodes);
            let reparsed = parse(&printed).expect("printed templates parse");
            assert_eq!(
                reparsed, nodes,
                "print/parse round trip of {source:?} via {printed:?}"
            );

            let mut snapshot = Snapshot::empty(Zone::of_account("Europe/Berlin", None));
            snapshot.lead = Some(EntitySnapshot {
                id: 1,
                name: "Lead".into(),
                price: Some(1500.0),
                ..EntitySnapshot::default()
            });
            let mut event = Event::about(EntityType::Lead, 1, EventKind::EntityAdded);
            event.vars.insert("x".into(), "12".into());
            let variables = Variables::default();
            let scope = Scope {
                snapshot: &snapshot,
                event: &event,
                variables: &variables,
                now: DateTime::from_timestamp(1_718_445_900, 0).unwrap_or_default(),
            };
            let limits = RenderLimits {
                max_steps: 1_000,
                max_output_bytes: 64 * 1024,
            };
            let mut out = String::new();
            if render_into(&nodes, &scope, &limits, &mut out).is_ok() {
                assert!(out.len() <= limits.max_output_bytes, "output cap exceeded");
            }
        }
    }
}

/// `rule_json`: any bytes are read or refused with an error; a rule that is read validates,
/// evaluates without panicking, and survives a write/read round trip unchanged.
pub fn rule_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(rule) = Rule::from_json(text) else {
        return;
    };
    let again = Rule::from_json(&rule.to_json()).expect("a written rule reads back");
    assert_eq!(again, rule, "write/read round trip");
    let _ = validate(&rule, &Schema::default());

    let mut snapshot = Snapshot::empty(Zone::of_account("America/New_York", None));
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
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Runs `target` over every file of its committed seeds; a seed that panics fails with its
    /// name, and a target without seeds fails too (it would test nothing).
    fn each_seed(target: &str, run: fn(&[u8])) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/seeds")
            .join(target);
        let mut seeds: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("a seed").path())
            .filter(|path| path.is_file())
            .collect();
        seeds.sort();
        assert!(!seeds.is_empty(), "{} holds no seed", dir.display());
        for seed in seeds {
            let data = std::fs::read(&seed).expect("a readable seed");
            if std::panic::catch_unwind(|| run(&data)).is_err() {
                panic!("the {target} seed {} crashes", seed.display());
            }
        }
    }

    #[test]
    fn every_template_seed_parses_prints_back_and_renders_within_its_limits() {
        each_seed("template_parse", super::template_parse);
    }

    #[test]
    fn every_rule_json_seed_is_refused_or_round_trips_and_evaluates() {
        each_seed("rule_json", super::rule_json);
    }
}
