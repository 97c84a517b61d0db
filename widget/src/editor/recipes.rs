//! The gallery of ready rules "New rule" offers, each built with the account's own pipelines,
//! users, fields and Salesbots. DOM-free: every recipe is a plain [`Rule`] the builder opens, and
//! the tests check that each one passes `domain::validate` against a sample account.
//!
//! A recipe that needs a person (the WHOLESALE/RETAIL managers) takes them from the gallery's
//! user pickers; anything else it needs (a birthday field, a Salesbot, a stage) is the account's
//! first fitting one, which the builder then shows and lets the admin change.

use domain::event::NoteType;
use domain::path::{EntityRole, EntityType, Path};
use domain::rule::{
    Action, ActionKind, Block, Condition, Frequency, Join, Literal, Operand, Operator, Rule,
    StageEntry, Timer, Trigger, UserChoice, VariableChange,
};
use domain::schema::Schema;
use domain::snapshot::FieldType;
use domain::template::Template;

use super::kinds::new_rule;
use crate::i18n::Texts;

/// Every recipe of the gallery, in the order it shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Recipe {
    /// The plain new rule.
    Blank,
    /// The manual's first example: wholesale orders to one manager, retail orders to another.
    WholesaleRetail,
    /// A yearly Salesbot greeting on the contact's birthday.
    Birthday,
    /// Counts missed incoming calls in a global variable.
    MissedCalls,
    /// A site form through an inbound webhook: the contact found by phone or created, a lead
    /// and a task for it.
    SiteForm,
    /// A reminder when a lead stays in a stage for a day.
    StaleLead,
}

/// The recipes in gallery order.
pub const RECIPES: &[Recipe] = &[
    Recipe::Blank,
    Recipe::WholesaleRetail,
    Recipe::Birthday,
    Recipe::MissedCalls,
    Recipe::SiteForm,
    Recipe::StaleLead,
];

/// The global variable the missed-call counter counts in.
pub const MISSED_CALLS_VARIABLE: &str = "missed_calls";

/// A day, in seconds: how long a lead may stay in a stage before the reminder (the longest a
/// block waits before checking its conditions).
const STALE_AFTER_SECONDS: u32 = 24 * 3600;

impl Recipe {
    /// The recipe's short name, for its i18n keys (`rcp_<key>_title`, `rcp_<key>_text`).
    pub fn key(self) -> &'static str {
        match self {
            Recipe::Blank => "blank",
            Recipe::WholesaleRetail => "wholesale",
            Recipe::Birthday => "birthday",
            Recipe::MissedCalls => "missed_calls",
            Recipe::SiteForm => "site_form",
            Recipe::StaleLead => "stale_lead",
        }
    }

    /// How many people the gallery asks for before the recipe opens (the managers).
    pub fn users_asked(self) -> usize {
        match self {
            Recipe::WholesaleRetail => 2,
            _ => 0,
        }
    }

    /// The rule, built with the account's schema; `users` are the people the gallery asked for
    /// (missing ones fall back to the account's first active users).
    pub fn build(self, schema: &Schema, texts: &Texts, users: &[i64]) -> Rule {
        let t = |k: &str| texts.get(k).to_string();
        let mut rule = new_rule();
        rule.name = t(&format!("rcp_{}_title", self.key()));
        match self {
            Recipe::Blank => rule.name = t("rcp_blank_name"),
            Recipe::WholesaleRetail => {
                let active = active_users(schema);
                let pick = |i: usize| {
                    users
                        .get(i)
                        .copied()
                        .or_else(|| active.get(i).copied())
                        .or_else(|| active.first().copied())
                        .unwrap_or(0)
                };
                let block = |id: u32, name: String, lead_name: String, user: i64| Block {
                    id,
                    name,
                    delay_seconds: 0,
                    conditions: vec![condition(
                        Operand::Path(
                            Path::parse("lead.name")
                                .unwrap_or(Path::Clock(domain::path::ClockField::Now)),
                        ),
                        Operator::Equals,
                        Some(Operand::Literal(Literal::Text(lead_name))),
                    )],
                    actions: vec![
                        action(
                            id * 10 + 1,
                            ActionKind::ChangeResponsible {
                                entity: EntityRole::Lead,
                                user: UserChoice::User(user),
                                in_contacts: false,
                                in_companies: false,
                                in_open_tasks: false,
                            },
                        ),
                        action(
                            id * 10 + 2,
                            ActionKind::CreateTask {
                                entity: EntityRole::Lead,
                                responsible: Some(UserChoice::User(user)),
                                task_type_id: first_task_type(schema),
                                complete_in_seconds: 3600,
                                text: Template::new(t("rcp_wholesale_task")),
                                results: Vec::new(),
                            },
                        ),
                    ],
                };
                rule.trigger = Trigger::EntityAdded {
                    entity: EntityType::Lead,
                };
                rule.blocks = vec![
                    block(
                        1,
                        t("rcp_wholesale_block"),
                        "WHOLESALE form order".into(),
                        pick(0),
                    ),
                    block(
                        2,
                        t("rcp_retail_block"),
                        "RETAIL form order".into(),
                        pick(1),
                    ),
                ];
            }
            Recipe::Birthday => {
                let field = first_field(schema, EntityType::Contact, |f| f == FieldType::Birthday)
                    .or_else(|| {
                        first_field(schema, EntityType::Contact, |f| {
                            matches!(f, FieldType::Date | FieldType::DateTime)
                        })
                    })
                    .unwrap_or(0);
                let bot = schema
                    .salesbots
                    .as_ref()
                    .and_then(|b| b.first())
                    .map_or(0, |b| b.id);
                rule.trigger = Trigger::FieldUpdated {
                    entity: EntityType::Contact,
                    field_id: field,
                };
                let mut greet = action(
                    1,
                    ActionKind::RunSalesbot {
                        entity: EntityRole::Contact,
                        bot_id: bot,
                    },
                );
                greet.name = t("rcp_birthday_action");
                greet.timer = Timer::YearlyFromField {
                    field: custom_path(EntityRole::Contact, field),
                    at: chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap_or(chrono::NaiveTime::MIN),
                };
                // A changed birthday replaces the greeting planned for the old one.
                greet.replace_pending = true;
                rule.blocks = vec![Block {
                    id: 1,
                    name: t("rcp_birthday_block"),
                    delay_seconds: 0,
                    conditions: vec![condition(
                        Operand::Path(custom_path(EntityRole::Contact, field)),
                        Operator::IsNotEmpty,
                        None,
                    )],
                    actions: vec![greet],
                }];
            }
            Recipe::MissedCalls => {
                rule.trigger = Trigger::NoteAdded {
                    entity: EntityType::Lead,
                    note_types: vec![NoteType::Call],
                };
                let mut missed = condition(
                    path("event.call_duration"),
                    Operator::Equals,
                    Some(Operand::Literal(Literal::Number(0.0))),
                );
                missed.join = Join::And;
                rule.blocks = vec![Block {
                    id: 1,
                    name: t("rcp_missed_calls_block"),
                    delay_seconds: 0,
                    conditions: vec![
                        condition(
                            path("event.direction"),
                            Operator::Equals,
                            Some(Operand::Literal(Literal::Text("incoming".into()))),
                        ),
                        missed,
                    ],
                    actions: vec![action(
                        1,
                        ActionKind::ChangeGlobalVariable {
                            name: MISSED_CALLS_VARIABLE.into(),
                            change: VariableChange::Calculate,
                            value: Template::new(format!(
                                "{{{{ ({{{MISSED_CALLS_VARIABLE}}}+1):calc }}}}"
                            )),
                        },
                    )],
                }];
            }
            Recipe::SiteForm => {
                rule.trigger = Trigger::InboundWebhook {
                    hook_id: t("rcp_site_form_hook"),
                    receiver_id: None,
                    search: Some(domain::rule::EntitySearch::legacy_contact()),
                };
                let (pipeline_id, status_id) = first_stage(schema);
                rule.blocks = vec![Block {
                    id: 1,
                    name: t("rcp_site_form_block"),
                    delay_seconds: 0,
                    conditions: vec![condition(
                        Operand::Webhook("phone".into()),
                        Operator::IsNotEmpty,
                        None,
                    )],
                    actions: vec![
                        action(
                            1,
                            ActionKind::CreateLead {
                                name: Template::new(t("rcp_site_form_lead")),
                                tags: Some(Template::new("site")),
                                responsible: None,
                                pipeline_id: (pipeline_id != 0).then_some(pipeline_id),
                                status_id: (status_id != 0).then_some(status_id),
                                fields: Vec::new(),
                                attach_company_contacts: false,
                            },
                        ),
                        action(
                            2,
                            ActionKind::CreateTask {
                                entity: EntityRole::Contact,
                                responsible: None,
                                task_type_id: first_task_type(schema),
                                complete_in_seconds: 3600,
                                text: Template::new(t("rcp_site_form_task")),
                                results: Vec::new(),
                            },
                        ),
                    ],
                }];
            }
            Recipe::StaleLead => {
                let (pipeline_id, status_id) = first_stage(schema);
                rule.trigger = Trigger::StatusChanged {
                    pipeline_id: (pipeline_id != 0).then_some(pipeline_id),
                    status_id: (status_id != 0).then_some(status_id),
                    entry: StageEntry::CreatedOrMoved,
                };
                rule.blocks = vec![Block {
                    id: 1,
                    name: t("rcp_stale_lead_block"),
                    // The stage is checked again a day later.
                    delay_seconds: STALE_AFTER_SECONDS,
                    conditions: vec![condition(
                        path("lead.status_id"),
                        Operator::Equals,
                        Some(Operand::Literal(Literal::Number(status_id as f64))),
                    )],
                    actions: vec![action(
                        1,
                        ActionKind::CreateTask {
                            entity: EntityRole::Lead,
                            responsible: Some(UserChoice::Responsible),
                            task_type_id: first_task_type(schema),
                            complete_in_seconds: 24 * 3600,
                            text: Template::new(t("rcp_stale_lead_task")),
                            results: Vec::new(),
                        },
                    )],
                }];
                rule.frequency = Frequency::default();
            }
        }
        rule
    }
}

fn condition(left: Operand, op: Operator, right: Option<Operand>) -> Condition {
    Condition {
        join: Join::default(),
        left,
        op,
        right,
        right_upper: None,
    }
}

fn action(id: u32, kind: ActionKind) -> Action {
    Action {
        id,
        name: String::new(),
        timer: Timer::None,
        replace_pending: false,
        kind,
    }
}

/// A path the recipes name; every one of them parses (the tests build every recipe).
fn path(text: &str) -> Operand {
    Operand::Path(Path::parse(text).unwrap_or(Path::Clock(domain::path::ClockField::Now)))
}

fn custom_path(role: EntityRole, field: i64) -> Path {
    Path::Entity(role, domain::path::EntityField::Custom(field.max(1)))
}

fn active_users(schema: &Schema) -> Vec<i64> {
    schema
        .users
        .iter()
        .flatten()
        .filter(|u| u.active)
        .map(|u| u.id)
        .collect()
}

fn first_task_type(schema: &Schema) -> i64 {
    schema.task_types.first().map_or(1, |t| t.id)
}

fn first_field(
    schema: &Schema,
    entity: EntityType,
    fits: impl Fn(FieldType) -> bool,
) -> Option<i64> {
    let mut list: Vec<_> = schema
        .fields
        .iter()
        .filter(|f| f.entity == entity && fits(f.field_type))
        .collect();
    list.sort_by_key(|f| (f.sort, f.id));
    list.first().map(|f| f.id)
}

/// The main (or first) pipeline and its first open stage.
fn first_stage(schema: &Schema) -> (i64, i64) {
    let pipelines = schema.pipelines.iter().flatten();
    let main = pipelines
        .clone()
        .find(|p| p.is_main)
        .or_else(|| pipelines.clone().next());
    main.map_or((0, 0), |p| {
        let stage = p
            .stages
            .iter()
            .find(|s| s.kind == domain::schema::StageKind::Open)
            .or_else(|| p.stages.first());
        (p.id, stage.map_or(0, |s| s.id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An account like the sandbox seed: three users, two pipelines, lead and contact fields,
    /// a task type and a Salesbot.
    pub(crate) fn sample_schema() -> Schema {
        serde_json::from_value(serde_json::json!({
            "timezone": "Europe/Berlin",
            "users": [
                {"id": 1001, "name": "Alice Admin", "admin": true},
                {"id": 1002, "name": "Bruno Sales"},
                {"id": 1003, "name": "Chen Support"}
            ],
            "pipelines": [
                {"id": 7001, "name": "Sales", "is_main": true, "stages": [
                    {"id": 7101, "name": "Incoming", "kind": "unsorted"},
                    {"id": 7102, "name": "Qualified"},
                    {"id": 142, "name": "Won", "kind": "won"},
                    {"id": 143, "name": "Lost", "kind": "lost"}
                ]},
                {"id": 7002, "name": "Wholesale", "stages": [{"id": 7201, "name": "New request"}]}
            ],
            "fields": [
                {"entity": "lead", "id": 8002, "name": "Amount", "field_type": "numeric"},
                {"entity": "contact", "id": 8101, "name": "Phone", "field_type": "multitext", "code": "PHONE"},
                {"entity": "contact", "id": 8103, "name": "Birthday", "field_type": "birthday"}
            ],
            "task_types": [{"id": 1, "name": "Follow-up"}, {"id": 2, "name": "Meeting"}],
            "salesbots": [{"id": 501, "name": "Birthday greeting"}]
        }))
        .expect("the sample schema is valid")
    }

    #[test]
    fn every_recipe_is_a_valid_rule_for_the_account() {
        let schema = sample_schema();
        let texts = Texts::default();
        for recipe in RECIPES {
            let rule = recipe.build(&schema, &texts, &[]);
            let problems = domain::validate::validate_with(&rule, Some(&schema));
            assert!(problems.is_empty(), "{recipe:?}: {problems:?}");
            assert!(!rule.name.trim().is_empty(), "{recipe:?} has a name");
            // The JSON round-trips, as the source view and a save send it.
            let json = serde_json::to_string(&rule).expect("serialises");
            assert_eq!(Rule::from_json(&json).ok(), Some(rule), "{recipe:?}");
        }
    }

    #[test]
    fn wholesale_and_retail_go_to_the_managers_the_admin_picked() {
        let schema = sample_schema();
        let rule = Recipe::WholesaleRetail.build(&schema, &Texts::default(), &[1003, 1002]);
        let users: Vec<Vec<i64>> = rule
            .blocks
            .iter()
            .map(|b| {
                b.actions
                    .iter()
                    .filter_map(|a| match &a.kind {
                        ActionKind::ChangeResponsible {
                            user: UserChoice::User(u),
                            ..
                        } => Some(*u),
                        ActionKind::CreateTask {
                            responsible: Some(UserChoice::User(u)),
                            ..
                        } => Some(*u),
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        assert_eq!(users, vec![vec![1003, 1003], vec![1002, 1002]]);
        let names: Vec<_> = rule
            .blocks
            .iter()
            .map(|b| match &b.conditions[0].right {
                Some(Operand::Literal(Literal::Text(t))) => t.clone(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(names, vec!["WHOLESALE form order", "RETAIL form order"]);
        // Without a choice, the account's first active users.
        let rule = Recipe::WholesaleRetail.build(&schema, &Texts::default(), &[]);
        assert!(matches!(
            rule.blocks[1].actions[0].kind,
            ActionKind::ChangeResponsible {
                user: UserChoice::User(1002),
                ..
            }
        ));
    }

    #[test]
    fn the_birthday_greeting_runs_the_bot_yearly_on_the_contacts_birthday() {
        let rule = Recipe::Birthday.build(&sample_schema(), &Texts::default(), &[]);
        let greet = &rule.blocks[0].actions[0];
        assert_eq!(
            greet.timer,
            Timer::YearlyFromField {
                field: Path::parse("contact.cf(8103)").expect("path"),
                at: chrono::NaiveTime::from_hms_opt(9, 0, 0).expect("nine"),
            }
        );
        assert!(greet.replace_pending);
        assert!(matches!(
            greet.kind,
            ActionKind::RunSalesbot { bot_id: 501, .. }
        ));
    }

    #[test]
    fn the_missed_call_counter_adds_one_to_its_global_variable() {
        let rule = Recipe::MissedCalls.build(&sample_schema(), &Texts::default(), &[]);
        let ActionKind::ChangeGlobalVariable {
            name,
            change,
            value,
        } = &rule.blocks[0].actions[0].kind
        else {
            panic!(
                "not a variable change: {:?}",
                rule.blocks[0].actions[0].kind
            );
        };
        assert_eq!(name, MISSED_CALLS_VARIABLE);
        assert_eq!(*change, VariableChange::Calculate);
        assert_eq!(value.source(), "{{ ({missed_calls}+1):calc }}");
        assert!(value.nodes().is_ok());
    }

    #[test]
    fn the_stale_lead_reminder_checks_the_main_pipelines_first_open_stage_later() {
        let rule = Recipe::StaleLead.build(&sample_schema(), &Texts::default(), &[]);
        assert_eq!(
            rule.trigger,
            Trigger::StatusChanged {
                pipeline_id: Some(7001),
                status_id: Some(7102),
                entry: StageEntry::CreatedOrMoved,
            }
        );
        assert_eq!(rule.blocks[0].delay_seconds, STALE_AFTER_SECONDS);
    }

    #[test]
    fn an_empty_account_still_gets_every_recipe() {
        let schema = Schema::default();
        for recipe in RECIPES {
            let rule = recipe.build(&schema, &Texts::default(), &[]);
            assert!(!rule.blocks.is_empty(), "{recipe:?}");
        }
    }
}
