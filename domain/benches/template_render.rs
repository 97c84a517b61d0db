//! `cargo xtask bench template-render`: small templates rendered per second on one core.
//! Target: at least 1,000,000/s (key `renders_per_s`).

mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use domain::event::{Event, EventKind};
use domain::path::EntityType;
use domain::template::{RenderLimits, Template};
use domain::value::{Scope, Variables};

const TARGET: f64 = 1_000_000.0;

fn main() {
    let snapshot = support::lead_snapshot();
    let event = Event::about(EntityType::Lead, 5001, EventKind::EntityUpdated);
    let mut variables = Variables::default();
    variables.globals.insert("report".into(), "41".into());
    let scope = Scope {
        snapshot: &snapshot,
        event: &event,
        variables: &variables,
        now: support::utc(2024, 6, 15, 10, 5),
    };
    let limits = RenderLimits::default();
    let templates: Vec<Template> = [
        "Hello {{contact.name}}, your order {{lead.name}} is ready.",
        "Budget: {{lead.price}} ({{lead.cf(104)}})",
        "{{ ({report}+1):calc }} events",
        "Call {{client.responsible.name}} about {{lead.cf(101)}}",
    ]
    .into_iter()
    .map(Template::new)
    .collect();
    let mut out = String::with_capacity(256);
    for t in &templates {
        out.clear();
        t.render_into(&scope, &limits, &mut out)
            .expect("the bench templates render");
        println!("  {:?} -> {:?}", t.source(), out);
    }

    let render_all = |out: &mut String| {
        for t in &templates {
            out.clear();
            let _ = black_box(t.render_into(black_box(&scope), &limits, out));
        }
    };
    for _ in 0..50_000 {
        render_all(&mut out);
    }
    let budget = Duration::from_secs(3);
    let start = Instant::now();
    let mut renders: u64 = 0;
    while start.elapsed() < budget {
        for _ in 0..1_000 {
            render_all(&mut out);
        }
        renders += 1_000 * templates.len() as u64;
    }
    let seconds = start.elapsed().as_secs_f64();
    let renders_per_s = renders as f64 / seconds;
    println!("template-render: {renders} renders in {seconds:.2} s = {renders_per_s:.0}/s (target {TARGET:.0}/s)");
    support::write_result(
        "template-render",
        &[
            ("renders_per_s", renders_per_s.round()),
            ("target_renders_per_s", TARGET),
            ("renders", renders as f64),
            ("seconds", seconds),
        ],
    );
}
