//! Fuzzes the template parser: any text parses or fails with a position inside the text; a parsed
//! template prints back to text that parses to the same AST, and renders within its limits.
#![no_main]

use chrono::DateTime;
use domain::event::{Event, EventKind};
use domain::path::EntityType;
use domain::snapshot::{EntitySnapshot, Snapshot};
use domain::template::{parse, print, render_into, RenderLimits};
use domain::value::{Scope, Variables};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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

            let mut snapshot = Snapshot::empty(chrono_tz::Europe::Berlin);
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
});
