//! Validation: every problem of a rule, with a path, a code and a sentence that says where.

use domain::api::FieldError;
use domain::path::EntityType;
use domain::rule::Rule;
use domain::snapshot::FieldType;
use domain::validate::{validate, validate_as_field_errors, ProblemCode, Schema, SchemaField};
use serde_json::{json, Value};

fn schema() -> Schema {
    let f = |entity, id, name: &str, field_type| SchemaField {
        entity,
        id,
        name: name.into(),
        field_type,
        kommo_type: String::new(),
        code: None,
        sort: 0,
        enums: vec![],
    };
    Schema {
        fields: vec![
            f(EntityType::Lead, 123, "Meeting date", FieldType::Date),
            f(EntityType::Lead, 124, "Comment", FieldType::Text),
            f(EntityType::Lead, 125, "Amount", FieldType::Numeric),
            f(EntityType::Lead, 126, "Paid", FieldType::Checkbox),
            f(EntityType::Lead, 127, "Colours", FieldType::Multiselect),
            f(EntityType::Contact, 201, "Birthday", FieldType::Birthday),
        ],
        users: None,
        ..Schema::default()
    }
}

fn rule(blocks: Value) -> Rule {
    Rule::from_json(&json!({"schema_version": 2, "name": "r", "trigger": {"kind": "entity_updated", "entity": "lead"}, "blocks": blocks}).to_string()).unwrap()
}

fn cond(left: &str, op: Value, right: Option<Value>) -> Value {
    let mut c = json!({"left": {"path": left}, "op": op});
    if let Some(r) = right {
        c["right"] = json!({"literal": r});
    }
    c
}

#[test]
fn a_valid_rule_has_no_problems() {
    let r = rule(json!([{"conditions": [
        cond("lead.cf(123)", json!({"is": "before"}), Some(json!("2024-01-01"))),
        cond("lead.cf(124)", json!({"is": "contains"}), Some(json!("x"))),
        cond("lead.cf(125)", json!({"is": "greater"}), Some(json!(5))),
        cond("lead.cf(126)", json!({"is": "is_true"}), None),
        cond("lead.cf(127)", json!({"is": "has_any"}), Some(json!(["Red"]))),
        cond("lead.tags", json!({"is": "has_none"}), Some(json!("cold"))),
        cond("date.now", json!({"is": "day_of_week"}), Some(json!(["mon", "5"]))),
    ], "actions": [{"do": {"type": "change_fields", "entity": "lead", "fields": [{"field": {"custom": 125}, "value": "{{ (lead.cf(125)+1):calc }}"}]}}]}]));
    assert_eq!(validate(&r, &schema()), vec![]);
}

#[test]
fn the_operator_type_mismatch_says_where_and_why() {
    let ok = cond("lead.name", json!({"is": "is_not_empty"}), None);
    let r = rule(json!([
        {"conditions": [ok.clone()]},
        {"conditions": [ok.clone(), ok, cond("lead.cf(123)", json!({"is": "contains"}), Some(json!("x")))]}
    ]));
    let problems = validate(&r, &schema());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "/blocks/1/conditions/2/op");
    assert_eq!(problems[0].code, ProblemCode::OperatorNotApplicable);
    assert_eq!(
        problems[0].message,
        "block 2, condition 3: field 123 is a date, 'contains' does not apply to it"
    );
    let errors: Vec<FieldError> = validate_as_field_errors(&r, &schema());
    assert_eq!(errors[0].code, "operator_not_applicable");
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = json!({
        "schema_version": 2, "name": " ", "trigger": {"kind": "field_updated", "entity": "contact", "field_id": 999},
        "frequency": {"min_interval_seconds": 1},
        "blocks": [{"id": 1, "delay_seconds": 999999, "conditions": [
            cond("lead.cf(555)", json!({"is": "equals"}), Some(json!("x"))),
            cond("lead.cf(125)", json!({"is": "less"}), Some(json!("abc"))),
            cond("lead.cf(125)", json!({"is": "between"}), Some(json!(1))),
            cond("lead.name", json!({"is": "matches_regex"}), Some(json!("(oops"))),
            cond("lead.name", json!({"is": "equals"}), None),
            cond("lead.cf(126)", json!({"is": "after"}), Some(json!("someday"))),
            cond("event.message_text", json!({"is": "contains"}), Some(json!("hi"))),
            cond("date.now", json!({"is": "day_of_week"}), Some(json!(["funday"]))),
        ], "actions": [
            {"id": 7, "do": {"type": "add_note", "entity": "lead", "text": "{{lead.nmae}}"}},
            {"id": 7, "timer": {"kind": "date_field", "field": "lead.cf(124)"}, "do": {"type": "change_status", "pipeline_id": 1, "status_id": 2}},
            {"timer": {"kind": "after", "amount": 40000, "unit": "days"}, "do": {"type": "send_webhook", "method": "POST", "url": ""}},
            {"do": {"type": "change_fields", "entity": "lead", "fields": [{"field": {"custom": 999}, "value": "{{lead.cf(888)}}"}]}},
            {"do": {"type": "change_global_variable", "name": "", "change": "set", "value": ""}},
            {"do": {"type": "change_tags", "entity": "lead", "change": "add"}}
        ]}, {"id": 1}]
    });
    let r = Rule::from_json(&text.to_string()).unwrap();
    let problems = validate(&r, &schema());
    let got: Vec<(&str, ProblemCode)> =
        problems.iter().map(|p| (p.path.as_str(), p.code)).collect();
    let expected = vec![
        ("/name", ProblemCode::Required),
        ("/frequency/min_interval_seconds", ProblemCode::OutOfRange),
        ("/trigger/field_id", ProblemCode::UnknownField),
        ("/blocks/0/delay_seconds", ProblemCode::OutOfRange),
        ("/blocks/0/conditions/0/left", ProblemCode::UnknownField),
        ("/blocks/0/conditions/1/right", ProblemCode::BadOperand),
        (
            "/blocks/0/conditions/2/right_upper",
            ProblemCode::BadOperand,
        ),
        ("/blocks/0/conditions/3/right", ProblemCode::InvalidRegex),
        ("/blocks/0/conditions/4/right", ProblemCode::BadOperand),
        (
            "/blocks/0/conditions/5/op",
            ProblemCode::OperatorNotApplicable,
        ),
        ("/blocks/0/conditions/5/right", ProblemCode::BadOperand),
        (
            "/blocks/0/conditions/6/left",
            ProblemCode::NotAvailableForTrigger,
        ),
        ("/blocks/0/conditions/7/right", ProblemCode::BadOperand),
        ("/blocks/0/actions/0/do/text", ProblemCode::InvalidTemplate),
        ("/blocks/0/actions/1/id", ProblemCode::DuplicateId),
        (
            "/blocks/0/actions/1/timer/field",
            ProblemCode::TimerNeedsDate,
        ),
        ("/blocks/0/actions/1/do", ProblemCode::ActionNotApplicable),
        ("/blocks/0/actions/2/timer/amount", ProblemCode::OutOfRange),
        ("/blocks/0/actions/2/do/url", ProblemCode::Required),
        (
            "/blocks/0/actions/3/do/fields/0/value",
            ProblemCode::UnknownField,
        ),
        (
            "/blocks/0/actions/3/do/fields/0/field",
            ProblemCode::UnknownField,
        ),
        ("/blocks/0/actions/4/do/name", ProblemCode::Required),
        ("/blocks/0/actions/5/do/tags", ProblemCode::Required),
        ("/blocks/1/id", ProblemCode::DuplicateId),
    ];
    assert_eq!(got, expected, "{}", domain::validate::describe(&problems));
    let template = problems
        .iter()
        .find(|p| p.code == ProblemCode::InvalidTemplate)
        .unwrap();
    assert_eq!(template.message, "block 1, action 1: the template is invalid at line 1, column 3: 'lead.nmae' is not a known field");
    let status = problems
        .iter()
        .find(|p| p.code == ProblemCode::ActionNotApplicable)
        .unwrap();
    assert_eq!(status.message, "block 1, action 2: 'change_status' applies only to leads, and this rule runs for a contact");
}

#[test]
fn date_triggers_and_timers_need_date_fields() {
    let r = Rule::from_json(&json!({"schema_version": 2, "name": "r",
        "trigger": {"kind": "relative_to_date_field", "entity": "lead", "field_id": 124, "offset_hours": -2},
        "blocks": [{"actions": [{"timer": {"kind": "yearly_from_field", "field": "contact.cf(201)"}, "do": {"type": "run_salesbot", "entity": "contact", "bot_id": 1}}]}]
    }).to_string()).unwrap();
    let problems = validate(&r, &schema());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].code, ProblemCode::TimerNeedsDate);
    assert_eq!(
        problems[0].message,
        "trigger: field 124 is text, not a date"
    );
}

#[test]
fn fixed_values_must_fit_their_fields() {
    use domain::validate::SchemaEnum;
    let mut schema = schema();
    schema.fields.push(SchemaField {
        entity: EntityType::Lead,
        id: 130,
        name: "Tier".into(),
        field_type: FieldType::Select,
        kommo_type: "select".into(),
        code: None,
        sort: 0,
        enums: vec![
            SchemaEnum {
                id: 1,
                value: "Gold".into(),
                code: None,
                sort: 1,
            },
            SchemaEnum {
                id: 2,
                value: "Silver".into(),
                code: None,
                sort: 2,
            },
        ],
    });
    let set = |field: i64, value: &str| json!({"field": {"custom": field}, "value": value});
    let r = rule(json!([{
        "conditions": [
            {"left": {"path": "lead.cf(130)"}, "op": {"is": "is_one_of"}, "right": {"literal": ["gold", "Bronze"]}},
            {"left": {"path": "lead.cf(130)"}, "op": {"is": "equals"}, "right": {"literal": "Silver"}}
        ],
        "actions": [{"do": {"type": "change_fields", "entity": "lead", "fields": [
            set(130, "Gold"), set(130, "{reset}"), set(130, "Platinum"), set(126, "yes"), set(126, "1"),
            set(125, "12,5"), set(125, "lots"), set(123, "2024-05-01"), set(123, "tomorrow"), set(125, "{{lead.name}}")
        ]}},
        {"do": {"type": "create_contact", "name": "x", "attach_to": "contact", "fields": [set(201, "not a date")]}}]
    }]));
    let problems = validate(&r, &schema);
    let got: Vec<(&str, ProblemCode)> =
        problems.iter().map(|p| (p.path.as_str(), p.code)).collect();
    assert_eq!(
        got,
        vec![
            ("/blocks/0/conditions/0/right", ProblemCode::BadFieldValue),
            (
                "/blocks/0/actions/0/do/fields/2/value",
                ProblemCode::BadFieldValue
            ),
            (
                "/blocks/0/actions/0/do/fields/3/value",
                ProblemCode::BadFieldValue
            ),
            (
                "/blocks/0/actions/0/do/fields/6/value",
                ProblemCode::BadFieldValue
            ),
            (
                "/blocks/0/actions/0/do/fields/8/value",
                ProblemCode::BadFieldValue
            ),
            (
                "/blocks/0/actions/1/do/fields/0/value",
                ProblemCode::BadFieldValue
            ),
            (
                "/blocks/0/actions/1/do/attach_to",
                ProblemCode::ActionNotApplicable
            ),
        ],
        "{}",
        domain::validate::describe(&problems)
    );
    assert_eq!(
        problems[0].message,
        "block 1, condition 1: field 130 has no list value 'Bronze'; use one of: Gold, Silver"
    );
    assert_eq!(
        problems[2].message,
        "block 1, action 1: field 126 is a checkbox: write 0 or 1"
    );
}

fn problem_at(problems: &[domain::validate::RuleProblem], path: &str) -> ProblemCode {
    problems
        .iter()
        .find(|p| p.path == path)
        .unwrap_or_else(|| panic!("no problem at {path}: {problems:?}"))
        .code
}

#[test]
fn a_rule_over_the_block_limit_is_refused_at_the_first_block_too_many() {
    use domain::validate::{validate_limits, MAX_BLOCKS};
    let blocks: Vec<Value> = (0..=MAX_BLOCKS).map(|_| json!({})).collect();
    let at_limit = rule(json!(blocks[..MAX_BLOCKS]));
    let over = rule(json!(blocks));

    assert_eq!(validate_limits(&at_limit), vec![]);
    let problems = validate_limits(&over);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "/blocks/50");
    assert_eq!(problems[0].code, ProblemCode::TooMany);
    assert_eq!(
        problems[0].message,
        "a rule has at most 50 blocks, and this one has 51"
    );
}

#[test]
fn conditions_and_actions_over_their_limits_are_refused_at_the_first_one_too_many() {
    use domain::validate::{validate_limits, MAX_ACTIONS, MAX_CONDITIONS};
    let condition = cond("lead.name", json!({"is": "is_not_empty"}), None);
    let action = json!({"do": {"type": "add_note", "entity": "lead", "text": "hi"}});
    let r = Rule::from_json(
        &json!({"schema_version": 2, "name": "r", "trigger": {"kind": "entity_updated", "entity": "lead"},
            "blocks": [{}, {"conditions": vec![condition; MAX_CONDITIONS + 1], "actions": vec![action.clone(); MAX_ACTIONS + 1]}],
            "else_scenario": {"actions": vec![action; MAX_ACTIONS + 1]}})
        .to_string(),
    )
    .unwrap();

    let problems = validate_limits(&r);
    let got: Vec<(&str, ProblemCode)> =
        problems.iter().map(|p| (p.path.as_str(), p.code)).collect();
    assert_eq!(
        got,
        vec![
            ("/blocks/1/conditions/50", ProblemCode::TooMany),
            ("/blocks/1/actions/50", ProblemCode::TooMany),
            ("/else_scenario/actions/50", ProblemCode::TooMany),
        ]
    );
}

#[test]
fn a_run_interval_under_five_seconds_is_refused_at_its_pointer() {
    use domain::validate::{validate_limits, MIN_RUN_INTERVAL_SECONDS};
    let with_interval = |seconds: u32| {
        Rule::from_json(&json!({"schema_version": 2, "name": "r", "trigger": {"kind": "entity_updated", "entity": "lead"},
            "frequency": {"min_interval_seconds": seconds}}).to_string()).unwrap()
    };

    for seconds in [0, MIN_RUN_INTERVAL_SECONDS - 1] {
        let problems = validate_limits(&with_interval(seconds));
        assert_eq!(
            problem_at(&problems, "/frequency/min_interval_seconds"),
            ProblemCode::OutOfRange
        );
    }
    assert_eq!(
        validate_limits(&with_interval(MIN_RUN_INTERVAL_SECONDS)),
        vec![]
    );
}

#[test]
fn timers_run_from_one_second_to_ninety_nine_years() {
    use domain::validate::{validate_limits, MAX_TIMER_SHIFT_DAYS};
    // 99 years: 99 × 365 days and the at most 25 leap days they hold.
    assert_eq!(MAX_TIMER_SHIFT_DAYS, 99 * 365 + 25);
    let longest = MAX_TIMER_SHIFT_DAYS;
    let timed = |timer: Value| {
        rule(
            json!([{"actions": [{"timer": timer, "do": {"type": "add_note", "entity": "lead", "text": "hi"}}]}]),
        )
    };
    let at = "/blocks/0/actions/0/timer/amount";
    let refused = |timer: Value| problem_at(&validate_limits(&timed(timer)), at);

    assert_eq!(
        refused(json!({"kind": "after", "amount": 0, "unit": "seconds"})),
        ProblemCode::OutOfRange
    );
    assert_eq!(
        refused(json!({"kind": "after", "amount": 0, "unit": "days"})),
        ProblemCode::OutOfRange
    );
    assert_eq!(
        refused(json!({"kind": "after", "amount": longest + 1, "unit": "days"})),
        ProblemCode::OutOfRange
    );
    for ok in [
        json!({"kind": "after", "amount": 1, "unit": "seconds"}),
        json!({"kind": "after", "amount": longest, "unit": "days"}),
    ] {
        assert_eq!(validate_limits(&timed(ok.clone())), vec![], "{ok}");
    }
    let shifted = validate_limits(&timed(
        json!({"kind": "date_field", "field": "lead.created_at", "shift_days": -(longest + 1)}),
    ));
    assert_eq!(
        problem_at(&shifted, "/blocks/0/actions/0/timer/shift_days"),
        ProblemCode::OutOfRange
    );
}

#[test]
fn without_the_account_custom_fields_are_not_checked_but_limits_are() {
    use domain::validate::validate_limits;
    let r = rule(
        json!([{"conditions": [cond("lead.cf(999)", json!({"is": "contains"}), Some(json!("x")))],
        "actions": [{"timer": {"kind": "after", "amount": 0, "unit": "minutes"},
            "do": {"type": "change_fields", "entity": "lead", "fields": [{"field": {"custom": 998}, "value": "x"}]}}]}]),
    );

    let problems = validate_limits(&r);
    let got: Vec<(&str, ProblemCode)> =
        problems.iter().map(|p| (p.path.as_str(), p.code)).collect();
    assert_eq!(
        got,
        vec![("/blocks/0/actions/0/timer/amount", ProblemCode::OutOfRange)]
    );
    let with_schema = validate(&r, &schema());
    assert_eq!(
        problem_at(&with_schema, "/blocks/0/conditions/0/left"),
        ProblemCode::UnknownField
    );
    assert_eq!(
        problem_at(&with_schema, "/blocks/0/actions/0/do/fields/0/field"),
        ProblemCode::UnknownField
    );
}

#[test]
fn users_the_account_does_not_have_are_refused_when_its_users_are_known() {
    use domain::validate::SchemaUser;
    let r = rule(json!([{"actions": [
        {"do": {"type": "change_responsible", "entity": "lead", "user": {"user": 5}}},
        {"do": {"type": "create_task", "entity": "lead", "responsible": {"user": 6}, "task_type_id": 1, "complete_in_seconds": 60, "text": "call"}},
        {"do": {"type": "create_task", "entity": "lead", "responsible": "responsible", "task_type_id": 1, "complete_in_seconds": 60, "text": "call"}},
        {"do": {"type": "send_email", "sender_user_id": 6, "template_id": 1}}
    ]}]));
    let mut known = schema();
    known.users = Some(vec![SchemaUser {
        id: 5,
        name: "Ann".into(),
        active: true,
        admin: false,
        group_id: None,
    }]);

    assert_eq!(
        validate(&r, &schema()),
        vec![],
        "users unknown: not checked"
    );
    let problems = validate(&r, &known);
    let got: Vec<(&str, ProblemCode)> =
        problems.iter().map(|p| (p.path.as_str(), p.code)).collect();
    assert_eq!(
        got,
        vec![
            (
                "/blocks/0/actions/1/do/responsible",
                ProblemCode::UnknownUser
            ),
            (
                "/blocks/0/actions/3/do/sender_user_id",
                ProblemCode::UnknownUser
            ),
        ]
    );
    assert_eq!(
        problems[0].message,
        "block 1, action 2: the account has no user 6"
    );
}

#[test]
fn paths_are_json_pointers() {
    use domain::validate::json_pointer;
    assert_eq!(json_pointer(""), "");
    assert_eq!(json_pointer("name"), "/name");
    assert_eq!(
        json_pointer("blocks[1].actions[0].do.fields[2].value"),
        "/blocks/1/actions/0/do/fields/2/value"
    );
    assert_eq!(json_pointer("a/b~c"), "/a~1b~0c");
}

fn with_pipelines() -> Schema {
    use domain::schema::{SchemaPipeline, SchemaStage, StageKind};
    let stage = |id, name: &str| SchemaStage {
        id,
        name: name.into(),
        color: "#fffeb2".into(),
        sort: id,
        kind: StageKind::Open,
    };
    let mut schema = schema();
    schema.pipelines = Some(vec![
        SchemaPipeline {
            id: 10,
            name: "Sales".into(),
            sort: 1,
            is_main: true,
            stages: vec![stage(1001, "New"), stage(1002, "Talks")],
        },
        SchemaPipeline {
            id: 20,
            name: "Partners".into(),
            sort: 2,
            is_main: false,
            stages: vec![stage(2001, "Intro")],
        },
    ]);
    schema
}

#[test]
fn pipelines_and_stages_the_account_lacks_are_refused_at_their_pointer() {
    let r = Rule::from_json(
        &json!({"schema_version": 2, "name": "r",
        "trigger": {"kind": "status_changed", "pipeline_id": 10, "status_id": 2001},
        "blocks": [{"actions": [
            {"do": {"type": "change_status", "pipeline_id": 20, "status_id": 2001}},
            {"do": {"type": "change_status", "pipeline_id": 20, "status_id": 142}},
            {"do": {"type": "change_status", "pipeline_id": 30, "status_id": 1001}},
            {"do": {"type": "change_status", "pipeline_id": 10, "status_id": 2001}},
            {"do": {"type": "create_lead", "name": "x", "status_id": 9999}}
        ]}]})
        .to_string(),
    )
    .unwrap();

    assert_eq!(
        validate(&r, &schema()),
        vec![],
        "pipelines unknown: not checked"
    );
    let problems = validate(&r, &with_pipelines());
    let got: Vec<(&str, ProblemCode)> =
        problems.iter().map(|p| (p.path.as_str(), p.code)).collect();
    assert_eq!(
        got,
        vec![
            ("/trigger/status_id", ProblemCode::UnknownStage),
            (
                "/blocks/0/actions/2/do/pipeline_id",
                ProblemCode::UnknownPipeline
            ),
            (
                "/blocks/0/actions/3/do/status_id",
                ProblemCode::UnknownStage
            ),
            (
                "/blocks/0/actions/4/do/status_id",
                ProblemCode::UnknownStage
            ),
        ]
    );
    assert_eq!(
        problems[0].message,
        "trigger: pipeline 'Sales' has no stage 2001"
    );
    assert_eq!(
        problems[3].message,
        "block 1, action 5: no pipeline has a stage 9999"
    );
}

#[test]
fn a_salesbot_the_account_lacks_is_refused_when_its_bots_are_known() {
    use domain::schema::SchemaSalesbot;
    let r = rule(json!([{"actions": [
        {"do": {"type": "run_salesbot", "entity": "lead", "bot_id": 7}},
        {"do": {"type": "run_salesbot", "entity": "lead", "bot_id": 8}}
    ]}]));
    let mut known = schema();
    known.salesbots = Some(vec![SchemaSalesbot {
        id: 7,
        name: "Welcome".into(),
        active: true,
    }]);

    assert_eq!(validate(&r, &schema()), vec![]);
    let problems = validate(&r, &known);
    let got: Vec<(&str, ProblemCode)> =
        problems.iter().map(|p| (p.path.as_str(), p.code)).collect();
    assert_eq!(
        got,
        vec![(
            "/blocks/0/actions/1/do/bot_id",
            ProblemCode::UnknownSalesbot
        )]
    );
}

#[test]
fn an_inbound_search_names_fields_the_entity_has_and_its_found_flag_is_a_boolean() {
    let inbound = |search: Value, blocks: Value| {
        Rule::from_json(
            &json!({"schema_version": 3, "name": "r",
                    "trigger": {"kind": "inbound_webhook", "search": search}, "blocks": blocks})
            .to_string(),
        )
        .unwrap()
    };
    let found = json!([{"conditions": [cond("event.entity_found", json!({"is": "is_false"}), None)],
                        "actions": [{"do": {"type": "create_contact", "attach_to": "lead", "name": "{name}"}}]}]);
    let good = inbound(
        json!({"entity": "contact", "by": [{"field": "phone", "value": "{phone}"},
                                           {"field": {"custom": 201}, "value": "{birthday}"}]}),
        found.clone(),
    );
    assert_eq!(validate(&good, &schema()), vec![]);

    let bad = inbound(
        json!({"entity": "task", "by": [{"field": {"custom": 999}, "value": "{{bad"}]}),
        json!([]),
    );
    let problems = validate(&bad, &schema());
    assert_eq!(
        problem_at(&problems, "/trigger/search/entity"),
        ProblemCode::OutOfRange
    );
    assert_eq!(
        problem_at(&problems, "/trigger/search/by/0/value"),
        ProblemCode::InvalidTemplate
    );
    let empty = inbound(json!({"entity": "lead", "by": []}), json!([]));
    assert_eq!(
        problem_at(&validate(&empty, &schema()), "/trigger/search/by"),
        ProblemCode::Required
    );
    let unknown = inbound(
        json!({"entity": "lead", "by": [{"field": {"custom": 201}, "value": "x"}]}),
        json!([]),
    );
    assert_eq!(
        problem_at(&validate(&unknown, &schema()), "/trigger/search/by/0/field"),
        ProblemCode::UnknownField
    );
    // `event.entity_found` needs a search: without one, no search result is there to read.
    let without = Rule::from_json(
        &json!({"schema_version": 3, "name": "r", "trigger": {"kind": "inbound_webhook"}, "blocks": found})
            .to_string(),
    )
    .unwrap();
    assert_eq!(
        problem_at(
            &validate(&without, &schema()),
            "/blocks/0/conditions/0/left"
        ),
        ProblemCode::NotAvailableForTrigger
    );
}

#[test]
fn removing_tags_with_none_named_is_valid_and_adding_none_is_not() {
    let change = |change: &str| {
        rule(
            json!([{"actions": [{"do": {"type": "change_tags", "entity": "lead", "change": change, "tags": " "}}]}]),
        )
    };
    assert_eq!(validate(&change("remove"), &schema()), vec![]);
    assert_eq!(
        problem_at(
            &validate(&change("add"), &schema()),
            "/blocks/0/actions/0/do/tags"
        ),
        ProblemCode::Required
    );
}
