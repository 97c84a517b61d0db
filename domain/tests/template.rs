//! The template language: parsing with exact error positions, printing, rendering, modifiers,
//! calculations, variables, limits, and the parse/print round trip as a property.

mod common;

use chrono::{DateTime, Utc};
use common::*;
use domain::event::{Event, EventKind};
use domain::path::{EntityField, EntityRole, Path};
use domain::template::{
    parse, print, Calc, CalcOp, Expr, ExprValue, Modifier, Node, RenderError, RenderLimits,
    Template, TemplateErrorKind,
};
use domain::value::{Scope, Variables};
use proptest::prelude::*;

fn render_with(
    source: &str,
    event: &Event,
    vars: &Variables,
    now: DateTime<Utc>,
) -> Result<String, RenderError> {
    let snapshot = lead_snapshot("WHOLESALE form order");
    let scope = Scope {
        snapshot: &snapshot,
        event,
        variables: vars,
        now,
    };
    Template::new(source).render(&scope, &RenderLimits::default())
}

fn render(source: &str) -> String {
    let event = lead_event(EventKind::EntityAdded);
    render_with(
        source,
        &event,
        &Variables::default(),
        utc(2024, 6, 15, 10, 5),
    )
    .unwrap()
}

#[test]
fn entity_fields_and_custom_fields_render() {
    assert_eq!(render("{{lead.name}}"), "WHOLESALE form order");
    assert_eq!(render("{{lead.price}} / {{lead.sale}}"), "1500 / 1500");
    assert_eq!(
        render("{{lead.cf(101)}}|{{lead.cf(102)}}|{{lead.cf(103)}}"),
        "Blue widgets|42.5|1"
    );
    assert_eq!(
        render("{{lead.cf(104)}}|{{lead.cf(105)}}"),
        "Gold|Red, Green"
    );
    assert_eq!(render("{{contact.cf(202)}}"), "+55 11 5555-0101");
    assert_eq!(render("{{contact.cf(201)}}"), "05.05.1990");
    // 13:30 UTC is 15:30 in Berlin (CEST).
    assert_eq!(render("{{lead.cf(107)}}"), "20.06.2024 15:30");
    assert_eq!(
        render("{{company.name}} has {{company.leads.count}} leads"),
        "Acme Ltda has 4 leads"
    );
    assert_eq!(render("{{lead.tags}}"), "VIP, wholesale");
    assert_eq!(render("{{lead.utm_campaign}}"), "summer_sale");
    assert_eq!(render("[{{lead.cf(999)}}]"), "[]");
}

#[test]
fn the_manual_example_note_renders() {
    assert_eq!(
        render("The {{lead.sale}} deal has been successfully completed! Congratulations to you, {{client.responsible.name}}!"),
        "The 1500 deal has been successfully completed! Congratulations to you, Henrique!"
    );
}

#[test]
fn task_aggregates_count_relative_to_now() {
    // Now is 2024-06-15: task 1 (due 14th) is overdue, task 2 (18th) is not, task 3 is done.
    assert_eq!(
        render("{{lead.tasks.open}}/{{lead.tasks.overdue}}/{{lead.tasks.total}}"),
        "2/1/3"
    );
    assert_eq!(render("{{lead.tasks.nearest}}"), "14.06.2024 12:00");
}

#[test]
fn system_date_variables_use_the_account_timezone() {
    assert_eq!(render("{{date.now}}"), "15.06.2024 12:05");
    assert_eq!(
        render("{{date.today}} {{date.time}} {{date.weekday}}"),
        "15.06.2024 12:05 6"
    );
    assert_eq!(render("{{date.timestamp}}"), "1718445900");
}

#[test]
fn modifiers_change_case_write_words_and_format_dates() {
    assert_eq!(render("{{lead.name:lower}}"), "wholesale form order");
    assert_eq!(render("{{contact.name:upper}}"), "ANA SOUZA");
    assert_eq!(render("{{lead.price:words}}"), "one thousand five hundred");
    assert_eq!(render("{{lead.cf(102):words}}"), "forty-two and 50/100");
    assert_eq!(
        render("{{date.now:date(Y-m-d H:i:s)}}"),
        "2024-06-15 12:05:00"
    );
    assert_eq!(
        render("{{date.now:date(l, j F y)}}"),
        "Saturday, 15 June 24"
    );
    assert_eq!(render("{{lead.cf(106):date(d/m/Y)}}"), "20/06/2024");
    assert_eq!(render("{{lead.name:lower:upper}}"), "WHOLESALE FORM ORDER");
    assert_eq!(render("{{date.now:date(\\Y\\e\\a\\r: Y)}}"), "Year: 2024");
}

#[test]
fn number_words_cover_scales_and_signs() {
    use domain::template::number_to_words;
    assert_eq!(number_to_words(0.0), "zero");
    assert_eq!(number_to_words(19.0), "nineteen");
    assert_eq!(number_to_words(1_000_001.0), "one million one");
    assert_eq!(
        number_to_words(-2_345_678.0),
        "minus two million three hundred forty-five thousand six hundred seventy-eight"
    );
    assert_eq!(number_to_words(1e16), "10000000000000000");
}

#[test]
fn calculations_follow_precedence_and_read_fields_and_variables() {
    let mut vars = Variables::default();
    vars.globals.insert("report".into(), "41".into());
    let event = lead_event(EventKind::EntityAdded);
    let now = utc(2024, 6, 15, 10, 5);
    let r = |s: &str| render_with(s, &event, &vars, now).unwrap();
    assert_eq!(r("{{ ({report}+1):calc }}"), "42");
    assert_eq!(r("{{ (lead.price+lead.cf(102)):calc }}"), "1542.5");
    assert_eq!(r("{{ (2+3*4):calc }}"), "14");
    assert_eq!(r("{{ ((2+3)*4):calc }}"), "20");
    assert_eq!(r("{{ (10-4-3):calc }}"), "3");
    assert_eq!(r("{{ (-lead.price/4):calc }}"), "-375");
    assert_eq!(r("{{ (lead.price*2):calc:words }}"), "three thousand");
    assert_eq!(r("{{ ({missing}+1):calc }}"), "1");
    assert_eq!(r("{{ (0.1+0.2):calc }}"), "0.3");
}

#[test]
fn calculation_errors_are_reported_not_guessed() {
    let mut vars = Variables::default();
    vars.globals.insert("word".into(), "hello".into());
    let event = lead_event(EventKind::EntityAdded);
    let now = utc(2024, 6, 15, 10, 5);
    assert_eq!(
        render_with("{{ (1/0):calc }}", &event, &vars, now),
        Err(RenderError::DivisionByZero)
    );
    assert_eq!(
        render_with("{{ ({word}+1):calc }}", &event, &vars, now),
        Err(RenderError::NotANumber {
            operand: "{word}".into()
        })
    );
    assert_eq!(
        render_with("{{ (lead.name*2):calc }}", &event, &vars, now),
        Err(RenderError::NotANumber {
            operand: "lead.name".into()
        })
    );
}

#[test]
fn variables_prefer_the_events_then_globals() {
    let mut vars = Variables::default();
    vars.globals.insert("report".into(), "global".into());
    vars.globals.insert("name".into(), "from global".into());
    let mut event = lead_event(EventKind::InboundWebhook {
        hook_id: "h".into(),
        receiver_id: None,
        found: None,
    });
    event.vars.insert("name".into(), "from webhook".into());
    event.vars.insert("contact_phone".into(), "+1 555".into());
    event.vars.insert("webhook_data".into(), "{\"a\":1}".into());
    let out = render_with(
        "{name}|{report}|{contact_phone}|{webhook_data}|{nothing}",
        &event,
        &vars,
        utc(2024, 1, 1, 0, 0),
    )
    .unwrap();
    assert_eq!(out, "from webhook|global|+1 555|{\"a\":1}|");
}

#[test]
fn trigger_links_and_reset_render() {
    let event = lead_event(EventKind::EntityAdded);
    let mut vars = Variables::default();
    let now = utc(2024, 1, 1, 0, 0);
    assert_eq!(
        render_with("{tglink:58} {reset}", &event, &vars, now).unwrap(),
        "{tglink:58} {reset}"
    );
    vars.trigger_links
        .insert(58, "https://rb.example/t/58-s/5001/2/mac".into());
    assert_eq!(
        render_with("{tglink:58} {tglink:59}", &event, &vars, now).unwrap(),
        "https://rb.example/t/58-s/5001/2/mac {tglink:59}"
    );
}

#[test]
fn json_bodies_need_no_escaping() {
    assert_eq!(
        render(r#"{"lead": "{{lead.name}}", "n": {"x": 1}}"#),
        r#"{"lead": "WHOLESALE form order", "n": {"x": 1}}"#
    );
    // A backslash is literal except before `{` or `\`, where it escapes.
    assert_eq!(render(r"C:\path\\{{lead.id}}"), r"C:\path\5001");
    assert_eq!(render(r"a\b"), r"a\b");
    assert_eq!(render(r"\{{lead.id}}"), "{{lead.id}}");
}

#[test]
fn parse_errors_carry_exact_positions() {
    let err = |s: &str| parse(s).unwrap_err();
    let e = err("Hello {{lead.nmae}}");
    assert_eq!((e.offset, e.line, e.column), (8, 1, 9));
    assert!(matches!(e.kind, TemplateErrorKind::Path(_)));
    assert_eq!(
        e.to_string(),
        "line 1, column 9: 'lead.nmae' is not a known field"
    );

    let e = err("line one\nand {{lead.name");
    assert_eq!((e.offset, e.line, e.column), (13, 2, 5));
    assert_eq!(e.kind, TemplateErrorKind::Unclosed);

    let e = err("ção {{lead.name:shout}}");
    assert_eq!((e.line, e.column), (1, 17));
    assert_eq!(
        e.kind,
        TemplateErrorKind::UnknownModifier {
            name: "shout".into()
        }
    );

    let e = err("{{ lead.price + 1 }}");
    assert_eq!(e.kind, TemplateErrorKind::CalcWithoutMarker);
    assert_eq!(e.column, 4);

    let e = err("{{ (1+2 }}");
    assert_eq!(e.column, 9);
    assert!(matches!(e.kind, TemplateErrorKind::Expected { .. }));

    assert_eq!(err("{{}}").kind, TemplateErrorKind::Empty);
    assert_eq!(err("{tglink:x}").kind, TemplateErrorKind::BadTriggerLink);
    assert_eq!(
        err("{{ (1):upper:calc }}").kind,
        TemplateErrorKind::CalcMisplaced
    );
    let deep = format!("{{{{ {}1{}:calc }}}}", "(".repeat(40), ")".repeat(40));
    assert_eq!(err(&deep).kind, TemplateErrorKind::TooDeep);
    assert_eq!(err(&"x".repeat(100_001)).kind, TemplateErrorKind::TooLong);
}

#[test]
fn rendering_stops_at_the_step_budget_and_the_output_cap() {
    let snapshot = lead_snapshot("x");
    let event = lead_event(EventKind::EntityAdded);
    let mut vars = Variables::default();
    vars.globals.insert("big".into(), "y".repeat(30_000));
    let scope = Scope {
        snapshot: &snapshot,
        event: &event,
        variables: &vars,
        now: utc(2024, 1, 1, 0, 0),
    };
    let many = "{{lead.id}}".repeat(50);
    let small_budget = RenderLimits {
        max_steps: 20,
        max_output_bytes: 1 << 20,
    };
    assert_eq!(
        Template::new(many.as_str()).render(&scope, &small_budget),
        Err(RenderError::StepBudgetExceeded { limit: 20 })
    );
    let big = "{big}".repeat(20);
    assert_eq!(
        Template::new(big.as_str()).render(&scope, &RenderLimits::default()),
        Err(RenderError::OutputTooLarge { limit: 256 * 1024 })
    );
    // A failed render leaves the caller's buffer as it was.
    let mut out = String::from("kept");
    assert!(Template::new(big.as_str())
        .render_into(&scope, &RenderLimits::default(), &mut out)
        .is_err());
    assert_eq!(out, "kept");
}

#[test]
fn printing_normalises_and_reparses() {
    let nodes =
        parse("Hi {{ lead.budget : upper }} {{ ( {a} + 2 ) * 3 :calc}} {x}{reset}{tglink:7}")
            .unwrap();
    let printed = print(&nodes);
    assert_eq!(
        printed,
        "Hi {{lead.price:upper}} {{(({a}+2)*3):calc}} {x}{reset}{tglink:7}"
    );
    assert_eq!(parse(&printed).unwrap(), nodes);
}

#[test]
fn templates_serialise_as_their_source() {
    let t = Template::new("{{lead.name}} {{oops");
    assert_eq!(
        serde_json::to_string(&t).unwrap(),
        "\"{{lead.name}} {{oops\""
    );
    let back: Template = serde_json::from_str("\"{{lead.name}} {{oops\"").unwrap();
    assert!(back.nodes().is_err());
    assert_eq!(back, t);
}

// ---- property: parse(print(ast)) == ast ----------------------------------------------------

fn arb_path() -> impl Strategy<Value = Path> {
    let all = domain::path::all_paths();
    (proptest::sample::select(all), 1i64..1_000_000).prop_map(|(p, id)| match p {
        Path::Entity(role, EntityField::Custom(_)) => Path::Entity(role, EntityField::Custom(id)),
        other => other,
    })
}

fn arb_name() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_]{0,10}".prop_filter("reset is a keyword", |n| n != "reset")
}

fn arb_calc() -> impl Strategy<Value = Calc> {
    let leaf = prop_oneof![
        (0u32..100_000, 0u32..4)
            .prop_map(|(n, d)| Calc::Number(f64::from(n) / f64::from(10u32.pow(d)))),
        arb_path().prop_map(Calc::Path),
        arb_name().prop_map(Calc::Variable),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|c| Calc::Negate(Box::new(c))),
            (
                inner.clone(),
                prop::sample::select(vec![
                    CalcOp::Add,
                    CalcOp::Subtract,
                    CalcOp::Multiply,
                    CalcOp::Divide
                ]),
                inner
            )
                .prop_map(|(l, op, r)| Calc::Binary(Box::new(l), op, Box::new(r))),
        ]
    })
}

fn arb_modifier() -> impl Strategy<Value = Modifier> {
    prop_oneof![
        Just(Modifier::Upper),
        Just(Modifier::Lower),
        Just(Modifier::Words),
        "[dmYHis .:/-]{0,8}".prop_map(Modifier::Date),
    ]
}

fn arb_node() -> impl Strategy<Value = Node> {
    prop_oneof![
        // Text with the characters that matter to the grammar.
        "([a-z {}\\\\:()é\n]|\\{\\{|\\\\\\{){1,12}".prop_map(Node::Text),
        (arb_path(), prop::collection::vec(arb_modifier(), 0..3)).prop_map(|(p, modifiers)| {
            Node::Expr(Expr {
                value: ExprValue::Path(p),
                modifiers,
            })
        }),
        (arb_calc(), prop::collection::vec(arb_modifier(), 0..2)).prop_map(|(c, modifiers)| {
            Node::Expr(Expr {
                value: ExprValue::Calc(c),
                modifiers,
            })
        }),
        arb_name().prop_map(Node::Variable),
        any::<u32>().prop_map(Node::TriggerLink),
        Just(Node::Reset),
    ]
}

/// Merges adjacent text nodes, as the parser does.
fn normalise(nodes: Vec<Node>) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::new();
    for node in nodes {
        match (out.last_mut(), node) {
            (Some(Node::Text(prev)), Node::Text(next)) => prev.push_str(&next),
            (_, node) => out.push(node),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_of_print_is_identity(nodes in prop::collection::vec(arb_node(), 0..8)) {
        let nodes = normalise(nodes);
        let printed = print(&nodes);
        let reparsed = parse(&printed);
        prop_assert_eq!(reparsed.as_ref(), Ok(&nodes), "printed: {:?}", printed);
    }

    #[test]
    fn print_of_parse_is_stable(source in "([a-z {}\\\\:()]|\\{\\{lead\\.name\\}\\}|\\{x\\}){0,20}") {
        if let Ok(nodes) = parse(&source) {
            let printed = print(&nodes);
            prop_assert_eq!(parse(&printed).unwrap(), nodes);
        }
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(source in "\\PC{0,64}") {
        let _ = parse(&source);
    }

    #[test]
    fn rendering_any_parsed_template_never_panics(nodes in prop::collection::vec(arb_node(), 0..8)) {
        let snapshot = lead_snapshot("x");
        let event = lead_event(EventKind::EntityAdded);
        let vars = Variables::default();
        let scope = Scope { snapshot: &snapshot, event: &event, variables: &vars, now: utc(2024, 1, 1, 0, 0) };
        let mut out = String::new();
        let _ = domain::template::render_into(&nodes, &scope, &RenderLimits::default(), &mut out);
    }
}

#[test]
fn role_paths_name_the_right_entity() {
    let nodes = parse("{{company.cf(5)}}").unwrap();
    assert_eq!(
        nodes,
        vec![Node::Expr(Expr {
            value: ExprValue::Path(Path::Entity(EntityRole::Company, EntityField::Custom(5))),
            modifiers: vec![]
        })]
    );
}
