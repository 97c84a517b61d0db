//! What a condition can compare: the operands a rule's trigger makes available, grouped and typed,
//! and the operators that fit each type.
//!
//! Which operator fits which type, and which event data a trigger carries, are the domain's own
//! rules (`domain::validate::operator_applies`, `event_field_available`): the picker offers exactly
//! what the backend accepts. The catalog only adds what the screen needs on top: a richer value type
//! (a list field with its values, a user, a stage…) so the right side can offer a picker.

use domain::event::{CallStatus, NoteType};
use domain::path::{
    ClockField, EntityField, EntityRole, EntityType, EventField, Path, TaskAggregate, TaskField,
    UtmField,
};
use domain::rule::{Literal, Operand, Operator, TimeUnit, Trigger};
use domain::schema::Schema;
use domain::snapshot::FieldType;
use domain::validate::{event_field_available, field_type_static, operator_applies, StaticType};

use crate::i18n::Texts;

/// What an operand holds, as the right side's picker needs to know it.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueType {
    /// Free text.
    Text,
    /// A number.
    Number,
    /// A date or instant.
    Date,
    /// Yes or no.
    Bool,
    /// One value of a list (select) field; the domain compares its value text.
    Enum(Vec<String>),
    /// Several values of a multi-select field.
    MultiEnum(Vec<String>),
    /// A list of texts (multi-text fields such as phones).
    List,
    /// A user id.
    User,
    /// A stage (status) id.
    Stage,
    /// A pipeline id.
    Pipeline,
    /// A task type id.
    TaskType,
    /// The entity's tags.
    Tags,
    /// The ISO weekday number, 1 = Monday … 7 = Sunday.
    Weekday,
    /// A variable: anything at runtime.
    Any,
}

impl ValueType {
    /// The domain's static type, whose operator rules apply.
    pub fn static_type(&self) -> StaticType {
        match self {
            ValueType::Text | ValueType::Enum(_) => StaticType::Text,
            ValueType::Number
            | ValueType::User
            | ValueType::Stage
            | ValueType::Pipeline
            | ValueType::TaskType
            | ValueType::Weekday => StaticType::Number,
            ValueType::Date => StaticType::Date,
            ValueType::Bool => StaticType::Bool,
            ValueType::MultiEnum(_) | ValueType::List | ValueType::Tags => StaticType::List,
            ValueType::Any => StaticType::Any,
        }
    }

    /// The i18n key of the type's name, shown beside each operand ("number", "list value").
    pub fn key(&self) -> &'static str {
        match self {
            ValueType::Text => "opd_type_text",
            ValueType::Number => "opd_type_number",
            ValueType::Date => "opd_type_date",
            ValueType::Bool => "opd_type_bool",
            ValueType::Enum(_) => "opd_type_enum",
            ValueType::MultiEnum(_) => "opd_type_multi_enum",
            ValueType::List => "opd_type_list",
            ValueType::User => "opd_type_user",
            ValueType::Stage => "opd_type_stage",
            ValueType::Pipeline => "opd_type_pipeline",
            ValueType::TaskType => "opd_type_task_type",
            ValueType::Tags => "opd_type_tags",
            ValueType::Weekday => "opd_type_weekday",
            ValueType::Any => "opd_type_any",
        }
    }
}

/// One choice of the operand picker.
#[derive(Debug, Clone, PartialEq)]
pub struct OperandEntry {
    /// The operand it puts in the condition (a variable's name is empty until typed).
    pub operand: Operand,
    /// The group it is listed under ("Lead", "Main contact", "Event", "Date and time").
    pub group: String,
    /// What the user reads ("Lead: Order type").
    pub label: String,
    /// What it holds.
    pub value_type: ValueType,
}

/// The entity roles whose fields a trigger's rule can read, the trigger's own entity first.
fn roles(trigger: &Trigger) -> Vec<EntityRole> {
    match trigger.entity_type() {
        Some(EntityType::Lead) => vec![EntityRole::Lead, EntityRole::Contact, EntityRole::Company],
        Some(EntityType::Contact) => {
            vec![EntityRole::Contact, EntityRole::Company, EntityRole::Lead]
        }
        Some(EntityType::Company) => {
            vec![EntityRole::Company, EntityRole::Lead, EntityRole::Contact]
        }
        Some(EntityType::Task) => vec![EntityRole::Lead, EntityRole::Contact, EntityRole::Company],
        // Clock and webhook rules have no entity of their own; a manual run or a found contact
        // may still give them one, so every entity stays readable.
        None => vec![EntityRole::Lead, EntityRole::Contact, EntityRole::Company],
    }
}

fn role_entity(role: EntityRole, trigger: &Trigger) -> Option<EntityType> {
    match role {
        EntityRole::Lead => Some(EntityType::Lead),
        EntityRole::Contact => Some(EntityType::Contact),
        EntityRole::Company => Some(EntityType::Company),
        EntityRole::Client => trigger.entity_type(),
    }
}

/// The standard fields an entity type has, in the picker's order.
fn entity_fields(entity: EntityType) -> Vec<EntityField> {
    use EntityField as F;
    let mut list = vec![
        F::Name,
        F::Id,
        F::ResponsibleUserId,
        F::ResponsibleName,
        F::Tags,
    ];
    if entity == EntityType::Lead {
        list.extend([F::Price, F::PipelineId, F::StatusId, F::Source, F::ClosedAt]);
        list.extend(
            [
                UtmField::Source,
                UtmField::Medium,
                UtmField::Campaign,
                UtmField::Term,
                UtmField::Content,
            ]
            .map(F::Utm),
        );
    }
    list.extend([F::CreatedAt, F::UpdatedAt]);
    list.extend(
        [
            TaskAggregate::Nearest,
            TaskAggregate::Open,
            TaskAggregate::Overdue,
            TaskAggregate::Total,
        ]
        .map(F::Tasks),
    );
    list.extend(
        [EntityType::Lead, EntityType::Contact, EntityType::Company]
            .into_iter()
            .filter(|t| *t != entity)
            .map(F::LinkedCount),
    );
    list
}

const TASK_FIELDS: [TaskField; 11] = [
    TaskField::Text,
    TaskField::TypeId,
    TaskField::IsCompleted,
    TaskField::StartsAt,
    TaskField::CompleteTill,
    TaskField::CreatedAt,
    TaskField::Duration,
    TaskField::Result,
    TaskField::ResponsibleUserId,
    TaskField::EntityType,
    TaskField::Id,
];

const EVENT_FIELDS: [EventField; 15] = [
    EventField::MessageText,
    EventField::Channel,
    EventField::Direction,
    EventField::NoteType,
    EventField::NoteText,
    EventField::CallDuration,
    EventField::CallStatus,
    EventField::EmailSubject,
    EventField::TaskResult,
    EventField::Tag,
    EventField::FieldId,
    EventField::OldStatusId,
    EventField::OldPipelineId,
    EventField::OldResponsibleUserId,
    EventField::EntityFound,
];

const CLOCK_FIELDS: [ClockField; 6] = [
    ClockField::Today,
    ClockField::Now,
    ClockField::Time,
    ClockField::Weekday,
    ClockField::WorkingHours,
    ClockField::Timestamp,
];

/// Every operand a rule with this trigger can compare, grouped: the trigger's entity, the related
/// contact and company (standard fields, then custom fields by name, tags, tasks and counts), the
/// event's task, the event's data the trigger carries, global and webhook variables, and the clock.
pub fn operands(trigger: &Trigger, schema: &Schema, texts: &Texts) -> Vec<OperandEntry> {
    let mut out = Vec::new();
    let mut push = |operand: Operand| {
        let value_type = operand_type(&operand, trigger, schema);
        let label = operand_label(&operand, schema, texts);
        let group = group_of(&operand, schema, texts);
        out.push(OperandEntry {
            operand,
            group,
            label,
            value_type,
        });
    };
    for role in roles(trigger) {
        let Some(entity) = role_entity(role, trigger) else {
            continue;
        };
        for field in entity_fields(entity) {
            push(Operand::Path(Path::Entity(role, field)));
        }
        let mut custom: Vec<_> = schema
            .fields
            .iter()
            .filter(|f| f.entity == entity)
            .collect();
        custom.sort_by_key(|f| (f.sort, f.id));
        for f in custom {
            push(Operand::Path(Path::Entity(role, EntityField::Custom(f.id))));
        }
    }
    if trigger.entity_type() == Some(EntityType::Task) {
        for field in TASK_FIELDS {
            push(Operand::Path(Path::Task(field)));
        }
    }
    for field in EVENT_FIELDS {
        if event_field_available(field, trigger) {
            push(Operand::Path(Path::Event(field)));
        }
    }
    push(Operand::Global(String::new()));
    push(Operand::Webhook(String::new()));
    for field in CLOCK_FIELDS {
        push(Operand::Path(Path::Clock(field)));
    }
    out
}

/// The picker's group of an operand.
fn group_of(operand: &Operand, schema: &Schema, texts: &Texts) -> String {
    match operand {
        Operand::Path(Path::Entity(role, EntityField::Custom(_))) => format!(
            "{}: {}",
            role_label(*role, texts),
            texts.get("opd_group_custom")
        ),
        Operand::Path(Path::Entity(role, _)) => role_label(*role, texts),
        Operand::Path(Path::Task(_)) => texts.get("opd_task").to_owned(),
        Operand::Path(Path::Event(_)) => texts.get("opd_event").to_owned(),
        Operand::Path(Path::Clock(_)) => texts.get("opd_clock").to_owned(),
        Operand::Global(_) | Operand::Webhook(_) => texts.get("opd_group_variables").to_owned(),
        Operand::Literal(_) => {
            let _ = schema;
            texts.get("opd_group_value").to_owned()
        }
    }
}

fn role_label(role: EntityRole, texts: &Texts) -> String {
    texts
        .get(match role {
            EntityRole::Lead => "opd_lead",
            EntityRole::Contact => "opd_contact",
            EntityRole::Company => "opd_company",
            EntityRole::Client => "opd_client",
        })
        .to_owned()
}

/// What an operand holds, for a rule with this trigger in this account.
pub fn operand_type(operand: &Operand, trigger: &Trigger, schema: &Schema) -> ValueType {
    match operand {
        Operand::Path(path) => path_type(path, trigger, schema),
        Operand::Global(_) | Operand::Webhook(_) => ValueType::Any,
        Operand::Literal(Literal::Bool(_)) => ValueType::Bool,
        Operand::Literal(Literal::Number(_)) => ValueType::Number,
        Operand::Literal(Literal::Text(_)) => ValueType::Any,
        Operand::Literal(Literal::List(_)) => ValueType::List,
    }
}

fn path_type(path: &Path, trigger: &Trigger, schema: &Schema) -> ValueType {
    use ValueType as V;
    match *path {
        Path::Entity(role, field) => match field {
            EntityField::Id | EntityField::LinkedCount(_) => V::Number,
            EntityField::Price => V::Number,
            EntityField::Tasks(
                TaskAggregate::Open | TaskAggregate::Overdue | TaskAggregate::Total,
            ) => V::Number,
            EntityField::StatusId => V::Stage,
            EntityField::PipelineId => V::Pipeline,
            EntityField::ResponsibleUserId => V::User,
            EntityField::Name
            | EntityField::ResponsibleName
            | EntityField::Source
            | EntityField::Utm(_) => V::Text,
            EntityField::Tags => V::Tags,
            EntityField::CreatedAt
            | EntityField::UpdatedAt
            | EntityField::ClosedAt
            | EntityField::Tasks(TaskAggregate::Nearest) => V::Date,
            EntityField::Custom(id) => match schema.field(role_entity(role, trigger), id) {
                // A field the account does not have: validation flags it at its row; anything
                // goes meanwhile so the row still renders.
                None => V::Any,
                Some(f) => {
                    let mut values: Vec<_> = f.enums.iter().collect();
                    values.sort_by_key(|e| (e.sort, e.id));
                    let values = values.into_iter().map(|e| e.value.clone()).collect();
                    match f.field_type {
                        FieldType::Select => V::Enum(values),
                        FieldType::Multiselect => V::MultiEnum(values),
                        FieldType::Multitext => V::List,
                        t => match field_type_static(t) {
                            StaticType::Number => V::Number,
                            StaticType::Bool => V::Bool,
                            StaticType::Date => V::Date,
                            _ => V::Text,
                        },
                    }
                }
            },
        },
        Path::Task(field) => match field {
            TaskField::Id | TaskField::Duration => V::Number,
            TaskField::TypeId => V::TaskType,
            TaskField::ResponsibleUserId => V::User,
            TaskField::Text | TaskField::Result => V::Text,
            TaskField::EntityType => {
                V::Enum(vec!["lead".into(), "contact".into(), "company".into()])
            }
            TaskField::IsCompleted => V::Bool,
            TaskField::CompleteTill | TaskField::StartsAt | TaskField::CreatedAt => V::Date,
        },
        Path::Clock(field) => match field {
            ClockField::Now | ClockField::Today => V::Date,
            ClockField::Time => V::Text,
            ClockField::Weekday => V::Weekday,
            ClockField::Timestamp => V::Number,
            ClockField::WorkingHours => V::Bool,
        },
        Path::Event(field) => match field {
            EventField::EntityFound => V::Bool,
            EventField::CallDuration | EventField::FieldId => V::Number,
            EventField::OldStatusId => V::Stage,
            EventField::OldPipelineId => V::Pipeline,
            EventField::OldResponsibleUserId => V::User,
            EventField::NoteType => V::Enum(
                [
                    NoteType::Text,
                    NoteType::System,
                    NoteType::Call,
                    NoteType::Sms,
                    NoteType::Email,
                ]
                .iter()
                .map(|n| n.as_str().to_owned())
                .collect(),
            ),
            EventField::CallStatus => V::Enum(
                [
                    CallStatus::Held,
                    CallStatus::NoAnswer,
                    CallStatus::Busy,
                    CallStatus::Voicemail,
                    CallStatus::CallBackLater,
                    CallStatus::Unavailable,
                    CallStatus::WrongNumber,
                ]
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect(),
            ),
            EventField::Direction => V::Enum(vec!["incoming".into(), "outgoing".into()]),
            EventField::MessageText
            | EventField::Channel
            | EventField::NoteText
            | EventField::EmailSubject
            | EventField::TaskResult
            | EventField::Tag => V::Text,
        },
    }
}

/// Every operator, in the order the picker lists them; "within the last/next" start at 1 day.
pub fn all_operators() -> Vec<Operator> {
    vec![
        Operator::Equals,
        Operator::NotEquals,
        Operator::Contains,
        Operator::NotContains,
        Operator::StartsWith,
        Operator::EndsWith,
        Operator::MatchesRegex,
        Operator::IsOneOf,
        Operator::HasAny,
        Operator::HasAll,
        Operator::HasNone,
        Operator::Less,
        Operator::LessOrEqual,
        Operator::Greater,
        Operator::GreaterOrEqual,
        Operator::Between,
        Operator::Before,
        Operator::After,
        Operator::On,
        Operator::WithinLast {
            amount: 1,
            unit: TimeUnit::Days,
        },
        Operator::WithinNext {
            amount: 1,
            unit: TimeUnit::Days,
        },
        Operator::DayOfWeek,
        Operator::IsTrue,
        Operator::IsFalse,
        Operator::IsEmpty,
        Operator::IsNotEmpty,
    ]
}

/// The operators that fit a value type, by the domain's own rule.
pub fn operators_for(value_type: &ValueType) -> Vec<Operator> {
    let t = value_type.static_type();
    all_operators()
        .into_iter()
        .filter(|op| operator_applies(op, t))
        .collect()
}

/// Whether the operator takes a list on its right (several values to choose).
pub fn takes_list(op: &Operator) -> bool {
    matches!(
        op,
        Operator::IsOneOf
            | Operator::HasAny
            | Operator::HasAll
            | Operator::HasNone
            | Operator::DayOfWeek
    )
}

fn unit_key(unit: TimeUnit) -> &'static str {
    match unit {
        TimeUnit::Seconds => "op_unit_seconds",
        TimeUnit::Minutes => "op_unit_minutes",
        TimeUnit::Hours => "op_unit_hours",
        TimeUnit::Days => "op_unit_days",
    }
}

/// The name of a time unit in the user's language ("days").
pub fn unit_label(unit: TimeUnit, texts: &Texts) -> String {
    texts.get(unit_key(unit)).to_owned()
}

fn entity_field_key(field: EntityField) -> String {
    match field {
        EntityField::Id => "opd_id".into(),
        EntityField::Name => "opd_name".into(),
        EntityField::Price => "opd_price".into(),
        EntityField::StatusId => "opd_status".into(),
        EntityField::PipelineId => "opd_pipeline".into(),
        EntityField::ResponsibleUserId => "opd_responsible".into(),
        EntityField::ResponsibleName => "opd_responsible_name".into(),
        EntityField::Tags => "opd_tags".into(),
        EntityField::CreatedAt => "opd_created_at".into(),
        EntityField::UpdatedAt => "opd_updated_at".into(),
        EntityField::ClosedAt => "opd_closed_at".into(),
        EntityField::Source => "opd_source".into(),
        EntityField::Utm(u) => format!(
            "opd_utm_{}",
            match u {
                UtmField::Source => "source",
                UtmField::Medium => "medium",
                UtmField::Campaign => "campaign",
                UtmField::Term => "term",
                UtmField::Content => "content",
            }
        ),
        EntityField::Custom(_) => String::new(),
        EntityField::Tasks(a) => format!(
            "opd_tasks_{}",
            match a {
                TaskAggregate::Nearest => "nearest",
                TaskAggregate::Open => "open",
                TaskAggregate::Overdue => "overdue",
                TaskAggregate::Total => "total",
            }
        ),
        EntityField::LinkedCount(t) => format!("opd_count_{}", t.as_str()),
    }
}

/// An operand as the user reads it ("Lead: Order type", "Global variable missed_calls"); a custom
/// field shows its name, or its id with "deleted field" when the account no longer has it.
pub fn operand_label(operand: &Operand, schema: &Schema, texts: &Texts) -> String {
    match operand {
        Operand::Path(Path::Entity(role, EntityField::Custom(id))) => {
            let entity = match role {
                EntityRole::Lead => Some(EntityType::Lead),
                EntityRole::Contact => Some(EntityType::Contact),
                EntityRole::Company => Some(EntityType::Company),
                EntityRole::Client => None,
            };
            let name = schema
                .field(entity, *id)
                .map(|f| f.name.clone())
                .unwrap_or_else(|| format!("{} {id}", texts.get("opd_deleted_field")));
            format!("{}: {name}", role_label(*role, texts))
        }
        Operand::Path(Path::Entity(role, field)) => format!(
            "{}: {}",
            role_label(*role, texts),
            texts.get(&entity_field_key(*field))
        ),
        Operand::Path(path @ Path::Task(_))
        | Operand::Path(path @ Path::Event(_))
        | Operand::Path(path @ Path::Clock(_)) => {
            let text = path.to_string();
            let (root, rest) = text.split_once('.').unwrap_or(("", &text));
            let (group, key) = match root {
                "task" => ("opd_task", format!("opd_task_{rest}")),
                "event" => ("opd_event", format!("opd_event_{rest}")),
                _ => ("opd_clock", format!("opd_clock_{rest}")),
            };
            format!("{}: {}", texts.get(group), texts.get(&key))
        }
        Operand::Global(name) if name.is_empty() => texts.get("opd_global").to_owned(),
        Operand::Webhook(name) if name.is_empty() => texts.get("opd_webhook").to_owned(),
        Operand::Global(name) => format!("{} {name}", texts.get("opd_global")),
        Operand::Webhook(name) => format!("{} {name}", texts.get("opd_webhook")),
        Operand::Literal(l) => literal_text(l),
    }
}

/// A literal as the user typed it (text without quotes, lists comma separated).
pub fn literal_text(literal: &Literal) -> String {
    match literal {
        Literal::Bool(b) => b.to_string(),
        Literal::Number(n) => {
            if n.fract() == 0.0 && n.abs() < 1e15 {
                format!("{}", *n as i64)
            } else {
                n.to_string()
            }
        }
        Literal::Text(t) => t.clone(),
        Literal::List(items) => items.join(", "),
    }
}

/// An operator as the user reads it ("equals", "is within the last 3 days").
pub fn operator_label(operator: &Operator, texts: &Texts) -> String {
    match operator {
        Operator::WithinLast { amount, unit } | Operator::WithinNext { amount, unit } => texts
            .get(&format!("op_{}", operator.name()))
            .replace("{n}", &amount.to_string())
            .replace("{unit}", texts.get(unit_key(*unit))),
        other => texts.get(&format!("op_{}", other.name())).to_owned(),
    }
}

/// An operator's name in a picker, without its amount ("is within the last … ").
pub fn operator_choice_label(operator: &Operator, texts: &Texts) -> String {
    match operator {
        Operator::WithinLast { .. } | Operator::WithinNext { .. } => texts
            .get(&format!("op_{}_choice", operator.name()))
            .to_owned(),
        other => operator_label(other, texts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::rule::{Block, Condition, Join};
    use domain::schema::{SchemaEnum, SchemaField};
    use domain::validate::ProblemCode;

    fn schema() -> Schema {
        let enums = ["WHOLESALE", "RETAIL"]
            .iter()
            .enumerate()
            .map(|(i, v)| SchemaEnum {
                id: 100 + i as i64,
                value: (*v).into(),
                code: None,
                sort: i as i64,
            })
            .collect();
        let field = |id, name: &str, entity, field_type| SchemaField {
            entity,
            id,
            name: name.into(),
            field_type,
            kommo_type: String::new(),
            code: None,
            sort: id,
            enums: Vec::new(),
        };
        Schema {
            fields: vec![
                SchemaField {
                    enums,
                    ..field(1, "Order type", EntityType::Lead, FieldType::Select)
                },
                field(2, "Birthday", EntityType::Contact, FieldType::Birthday),
                field(3, "Discount", EntityType::Lead, FieldType::Numeric),
                field(4, "Phone", EntityType::Contact, FieldType::Multitext),
            ],
            ..Schema::default()
        }
    }

    fn texts() -> Texts {
        Texts::default()
    }

    fn lead_added() -> Trigger {
        Trigger::EntityAdded {
            entity: EntityType::Lead,
        }
    }

    fn path(text: &str) -> Operand {
        Operand::Path(Path::parse(text).expect("a valid path"))
    }

    #[test]
    fn custom_fields_are_offered_by_name_under_their_entity() {
        let list = operands(&lead_added(), &schema(), &texts());
        let order = list
            .iter()
            .find(|e| e.operand == path("lead.cf(1)"))
            .expect("the lead's select field is offered");
        assert_eq!(order.label, "Lead: Order type");
        assert_eq!(order.group, "Lead: Custom fields");
        assert_eq!(
            order.value_type,
            ValueType::Enum(vec!["WHOLESALE".into(), "RETAIL".into()])
        );
        let birthday = list
            .iter()
            .find(|e| e.operand == path("contact.cf(2)"))
            .expect("the related contact's field is offered");
        assert_eq!(birthday.label, "Main contact: Birthday");
        assert_eq!(birthday.value_type, ValueType::Date);
        // A contact field is never offered as the lead's.
        assert!(!list.iter().any(|e| e.operand == path("lead.cf(2)")));
    }

    #[test]
    fn every_group_of_the_issue_is_offered() {
        let list = operands(&lead_added(), &schema(), &texts());
        for wanted in [
            "lead.name",
            "lead.tags",
            "lead.status_id",
            "lead.tasks.nearest",
            "lead.tasks.open",
            "lead.tasks.overdue",
            "lead.tasks.total",
            "lead.contacts.count",
            "contact.name",
            "company.name",
            "date.today",
            "date.time",
            "date.weekday",
            "date.working_hours",
        ] {
            assert!(
                list.iter().any(|e| e.operand == path(wanted)),
                "{wanted} is offered"
            );
        }
        assert!(list.iter().any(|e| matches!(e.operand, Operand::Global(_))));
        assert!(list
            .iter()
            .any(|e| matches!(e.operand, Operand::Webhook(_))));
    }

    #[test]
    fn task_rules_offer_every_task_field_typed_and_the_related_entities_task_counts() {
        let task_paths: Vec<Path> = domain::path::all_paths()
            .into_iter()
            .filter(|p| matches!(p, Path::Task(_)))
            .collect();
        for trigger in [
            Trigger::EntityAdded {
                entity: EntityType::Task,
            },
            Trigger::EntityUpdated {
                entity: EntityType::Task,
            },
            Trigger::ResponsibleChanged {
                entity: EntityType::Task,
            },
        ] {
            let list = operands(&trigger, &schema(), &texts());
            for p in &task_paths {
                let entry = list
                    .iter()
                    .find(|e| e.operand == Operand::Path(*p))
                    .unwrap_or_else(|| panic!("{p} is offered for {trigger:?}"));
                assert!(!entry.label.contains("opd_"), "{}", entry.label);
            }
            for p in [
                "contact.tasks.open",
                "company.tasks.overdue",
                "lead.tasks.nearest",
            ] {
                assert!(list.iter().any(|e| e.operand == path(p)), "{p}");
            }
            let type_of = |p: &str| {
                list.iter()
                    .find(|e| e.operand == path(p))
                    .map(|e| e.value_type.clone())
            };
            assert_eq!(type_of("task.starts_at"), Some(ValueType::Date));
            assert_eq!(type_of("task.complete_till"), Some(ValueType::Date));
            assert_eq!(type_of("task.duration"), Some(ValueType::Number));
            assert_eq!(type_of("task.type_id"), Some(ValueType::TaskType));
            assert_eq!(type_of("task.is_completed"), Some(ValueType::Bool));
        }
        let labels: Vec<String> = ["task.starts_at", "task.complete_till", "task.created_at"]
            .iter()
            .map(|p| operand_label(&path(p), &schema(), &texts()))
            .collect();
        assert_eq!(
            labels,
            ["Task: Start", "Task: Finish (due date)", "Task: Created"]
        );
    }

    #[test]
    fn event_data_is_offered_only_where_the_trigger_has_it() {
        let has = |trigger: &Trigger, p: &str| {
            operands(trigger, &schema(), &texts())
                .iter()
                .any(|e| e.operand == path(p))
        };
        let message = Trigger::IncomingMessage {
            direction: domain::rule::MessageFilter::Incoming,
            channels: Vec::new(),
            cooldown_seconds: 0,
        };
        let note = Trigger::NoteAdded {
            entity: EntityType::Lead,
            note_types: Vec::new(),
        };
        assert!(has(&message, "event.message_text"));
        assert!(has(&message, "event.channel"));
        assert!(!has(&lead_added(), "event.message_text"));
        assert!(!has(&note, "event.message_text"));
        for p in [
            "event.note_type",
            "event.note_text",
            "event.call_duration",
            "event.call_status",
        ] {
            assert!(has(&note, p), "{p} with a note trigger");
            assert!(!has(&message, p), "{p} not with a message trigger");
        }
        let manual = Trigger::Manual {
            entity: EntityType::Lead,
        };
        assert!(has(&manual, "event.task_result"));
        assert!(!has(&lead_added(), "event.task_result"));
        let task = Trigger::EntityUpdated {
            entity: EntityType::Task,
        };
        assert!(has(&task, "task.type_id"));
        assert!(has(&task, "task.is_completed"));
        assert!(!has(&lead_added(), "task.type_id"));
        // Every offered operand passes the domain's own trigger check.
        for trigger in [message, note, manual, task, lead_added()] {
            for entry in operands(&trigger, &schema(), &texts()) {
                if let Operand::Path(Path::Event(f)) = entry.operand {
                    assert!(event_field_available(f, &trigger));
                }
            }
        }
    }

    #[test]
    fn operators_fit_each_type() {
        let names = |t: ValueType| -> Vec<&'static str> {
            operators_for(&t).iter().map(Operator::name).collect()
        };
        let number = names(ValueType::Number);
        assert!(number.contains(&"greater"));
        assert!(number.contains(&"between"));
        assert!(!number.contains(&"contains"));
        assert!(!number.contains(&"before"));
        let date = names(ValueType::Date);
        assert!(date.contains(&"within_last"));
        assert!(date.contains(&"day_of_week"));
        assert!(!date.contains(&"greater"));
        let text = names(ValueType::Text);
        assert!(text.contains(&"contains"));
        assert!(text.contains(&"matches_regex"));
        assert!(!text.contains(&"is_true"));
        let yes_no = names(ValueType::Bool);
        assert_eq!(
            yes_no,
            vec![
                "equals",
                "not_equals",
                "is_true",
                "is_false",
                "is_empty",
                "is_not_empty"
            ]
        );
        let tags = names(ValueType::Tags);
        assert!(tags.contains(&"has_any"));
        assert!(!tags.contains(&"less"));
        assert_eq!(names(ValueType::Any).len(), all_operators().len());
    }

    /// The picker never offers an operator the domain's validation would refuse, and offers every
    /// one it accepts, for every operand of the catalog.
    #[test]
    fn offered_operators_are_exactly_those_validation_accepts() {
        let schema = schema();
        let trigger = lead_added();
        for entry in operands(&trigger, &schema, &texts()) {
            let left = match &entry.operand {
                Operand::Global(_) => Operand::Global("x".into()),
                Operand::Webhook(_) => Operand::Webhook("x".into()),
                other => other.clone(),
            };
            let offered = operators_for(&entry.value_type);
            for op in all_operators() {
                let mut rule = crate::editor::kinds::new_rule();
                rule.trigger = trigger.clone();
                rule.blocks = vec![Block {
                    id: 1,
                    name: String::new(),
                    delay_seconds: 0,
                    conditions: vec![Condition {
                        join: Join::And,
                        left: left.clone(),
                        op: op.clone(),
                        right: None,
                        right_upper: None,
                    }],
                    actions: Vec::new(),
                }];
                let refused = domain::validate::validate(&rule, &schema)
                    .iter()
                    .any(|p| p.code == ProblemCode::OperatorNotApplicable);
                assert_eq!(
                    offered.contains(&op),
                    !refused,
                    "{} {}",
                    entry.label,
                    op.name()
                );
            }
        }
    }

    #[test]
    fn labels_read_as_words() {
        let (s, t) = (schema(), texts());
        assert_eq!(operand_label(&path("lead.price"), &s, &t), "Lead: Budget");
        assert_eq!(
            operand_label(&path("lead.cf(99)"), &s, &t),
            "Lead: deleted field 99"
        );
        assert_eq!(
            operand_label(&path("event.message_text"), &s, &t),
            "Event: Message text"
        );
        assert_eq!(
            operand_label(&path("date.weekday"), &s, &t),
            "Date and time: Day of week"
        );
        assert_eq!(
            operand_label(&Operand::Global("missed_calls".into()), &s, &t),
            "Global variable missed_calls"
        );
        assert_eq!(
            operand_label(&Operand::Literal(Literal::Text("WHOLESALE".into())), &s, &t),
            "WHOLESALE"
        );
        assert_eq!(
            operand_label(&Operand::Literal(Literal::Number(1000.0)), &s, &t),
            "1000"
        );
        assert_eq!(
            operator_label(
                &Operator::WithinLast {
                    amount: 3,
                    unit: TimeUnit::Days
                },
                &t
            ),
            "is within the last 3 days"
        );
        assert_eq!(operator_label(&Operator::Equals, &t), "equals");
        assert_eq!(operator_label(&Operator::HasAny, &t), "has any of");
    }

    #[test]
    fn every_operand_and_operator_has_a_text() {
        let t = texts();
        for trigger in [
            lead_added(),
            Trigger::NoteAdded {
                entity: EntityType::Lead,
                note_types: Vec::new(),
            },
            Trigger::EntityAdded {
                entity: EntityType::Task,
            },
            Trigger::Manual {
                entity: EntityType::Contact,
            },
        ] {
            for e in operands(&trigger, &schema(), &t) {
                assert!(!e.label.contains("opd_"), "{}", e.label);
                assert!(!e.group.contains("opd_"), "{}", e.group);
                assert!(!t.get(e.value_type.key()).starts_with("opd_"));
            }
        }
        for op in all_operators() {
            assert!(!operator_label(&op, &t).starts_with("op_"), "{}", op.name());
            assert!(!operator_choice_label(&op, &t).starts_with("op_"));
        }
    }

    #[test]
    fn a_contact_rule_reads_its_contact_first() {
        let trigger = Trigger::EntityUpdated {
            entity: EntityType::Contact,
        };
        let list = operands(&trigger, &schema(), &texts());
        assert_eq!(list[0].operand, path("contact.name"));
        assert!(!list.iter().any(|e| e.operand == path("contact.price")));
        assert!(list
            .iter()
            .any(|e| e.operand == path("contact.leads.count")));
    }
}
