//! Validation of a rule: its limits (the constants below, shared by the backend and the widget)
//! and, when the account's [`Schema`] is known, what it names of the account: custom fields (and
//! the operators and list values that fit them), users, pipelines and stages, Salesbots. Every
//! problem has a JSON pointer (RFC 6901) into the rule JSON (`/blocks/50`), a stable code, and a
//! sentence that says where and what, e.g.
//! "block 2, condition 3: field 123 is a date, 'contains' does not apply to it".
//! The backend refuses a rule with problems before storing it, answering them as problem+json
//! field errors; the widget shows them in place.

use std::collections::HashSet;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::api::FieldError;
use crate::eval::{check_regex, text_eq};
use crate::path::{
    ClockField, EntityField, EntityRole, EntityType, EventField, Path, TaskAggregate, TaskField,
};
use crate::rule::{
    Action, ActionKind, Condition, EntitySearch, FieldAssignment, FieldTarget, Literal, Operand,
    Operator, Recurrence, Rule, SearchField, Timer, Trigger, UserChoice, CURRENT_SCHEMA_VERSION,
};
use crate::snapshot::FieldType;
use crate::template::{Calc, ExprValue, Node, Template};
use crate::value::{parse_date, parse_number};
use crate::zone::Zone;

/// Most blocks in a rule.
pub const MAX_BLOCKS: usize = 50;
/// Most conditions in a block.
pub const MAX_CONDITIONS: usize = 50;
/// Most actions in a block or the else scenario.
pub const MAX_ACTIONS: usize = 50;
/// Longest block delay, seconds.
pub const MAX_BLOCK_DELAY_SECONDS: u32 = 24 * 3600;
/// Shortest timer, seconds.
pub const MIN_TIMER_SECONDS: u64 = 1;
/// Longest timer, seconds (the manual's 99 years: 99 × 365 days and the at most 25 leap days
/// that 99 calendar years hold).
pub const MAX_TIMER_SECONDS: u64 = MAX_TIMER_SHIFT_DAYS as u64 * 24 * 3600;
/// Most days a date-field timer is shifted by, either way (99 years, as above).
pub const MAX_TIMER_SHIFT_DAYS: i32 = 99 * 365 + 25;
/// Most hours a date-field trigger is offset by, either way (99 years).
pub const MAX_TRIGGER_OFFSET_HOURS: i32 = MAX_TIMER_SHIFT_DAYS * 24;
pub use crate::rule::MIN_RUN_INTERVAL_SECONDS;
pub use crate::template::{MAX_CALC_DEPTH, MAX_TEMPLATE_BYTES};
/// Longest rule name, characters.
pub const MAX_NAME_CHARS: usize = 255;
/// The most criteria an inbound webhook's search tries.
pub const MAX_SEARCH_CRITERIA: usize = 10;

use crate::schema::SchemaPipeline;
pub use crate::schema::{Schema, SchemaEnum, SchemaField, SchemaUser};

/// Stable problem codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProblemCode {
    /// A required value is empty.
    Required,
    /// A number is out of its range.
    OutOfRange,
    /// Too many blocks, conditions or actions.
    TooMany,
    /// A custom field the account does not have.
    UnknownField,
    /// A user the account does not have.
    UnknownUser,
    /// A pipeline the account does not have.
    UnknownPipeline,
    /// A stage its pipeline does not have.
    UnknownStage,
    /// A Salesbot the account does not have.
    UnknownSalesbot,
    /// An operator that does not apply to the operand's type.
    OperatorNotApplicable,
    /// A right operand missing or of the wrong kind.
    BadOperand,
    /// A regular expression that does not compile.
    InvalidRegex,
    /// A template that does not parse.
    InvalidTemplate,
    /// Event data the rule's trigger does not provide.
    NotAvailableForTrigger,
    /// An action that does not apply to the rule's entity.
    ActionNotApplicable,
    /// An id used twice.
    DuplicateId,
    /// A timer whose field is not a date.
    TimerNeedsDate,
    /// An unsupported schema version.
    UnsupportedVersion,
    /// A fixed value that the field cannot hold (not one of a list's values, not a number…).
    BadFieldValue,
}

impl ProblemCode {
    /// The snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemCode::Required => "required",
            ProblemCode::OutOfRange => "out_of_range",
            ProblemCode::TooMany => "too_many",
            ProblemCode::UnknownField => "unknown_field",
            ProblemCode::UnknownUser => "unknown_user",
            ProblemCode::UnknownPipeline => "unknown_pipeline",
            ProblemCode::UnknownStage => "unknown_stage",
            ProblemCode::UnknownSalesbot => "unknown_salesbot",
            ProblemCode::OperatorNotApplicable => "operator_not_applicable",
            ProblemCode::BadOperand => "bad_operand",
            ProblemCode::InvalidRegex => "invalid_regex",
            ProblemCode::InvalidTemplate => "invalid_template",
            ProblemCode::NotAvailableForTrigger => "not_available_for_trigger",
            ProblemCode::ActionNotApplicable => "action_not_applicable",
            ProblemCode::DuplicateId => "duplicate_id",
            ProblemCode::TimerNeedsDate => "timer_needs_date",
            ProblemCode::UnsupportedVersion => "unsupported_version",
            ProblemCode::BadFieldValue => "bad_field_value",
        }
    }
}

/// One problem of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RuleProblem {
    /// Where: a JSON pointer into the rule JSON, e.g. `/blocks/1/conditions/2/op`.
    pub path: String,
    /// What kind of problem.
    pub code: ProblemCode,
    /// A sentence for the user, starting with where ("block 2, condition 3: ...").
    pub message: String,
}

impl From<RuleProblem> for FieldError {
    fn from(problem: RuleProblem) -> Self {
        FieldError {
            path: problem.path,
            code: problem.code.as_str().to_owned(),
            message: problem.message,
        }
    }
}

/// The static type of an operand, for operator checks (the widget's operator pickers use it too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaticType {
    /// Text.
    Text,
    /// A number.
    Number,
    /// Yes or no.
    Bool,
    /// A date or instant.
    Date,
    /// A list of texts.
    List,
    /// Variables and text literals: anything goes at runtime.
    Any,
}

impl StaticType {
    /// The type as a sentence's object ("a number").
    pub fn name(self) -> &'static str {
        match self {
            StaticType::Text => "text",
            StaticType::Number => "a number",
            StaticType::Bool => "a yes/no value",
            StaticType::Date => "a date",
            StaticType::List => "a list",
            StaticType::Any => "a value",
        }
    }
}

/// The static type of a custom field's values.
pub fn field_type_static(t: FieldType) -> StaticType {
    match t {
        FieldType::Text | FieldType::Textarea | FieldType::Url | FieldType::Select => {
            StaticType::Text
        }
        FieldType::Numeric => StaticType::Number,
        FieldType::Checkbox => StaticType::Bool,
        FieldType::Date | FieldType::DateTime | FieldType::Birthday => StaticType::Date,
        FieldType::Multiselect | FieldType::Multitext => StaticType::List,
    }
}

/// Whether an operator applies to an operand of a static type.
pub fn operator_applies(op: &Operator, t: StaticType) -> bool {
    use StaticType as S;
    if t == S::Any {
        return true;
    }
    match op {
        Operator::Equals | Operator::NotEquals | Operator::IsEmpty | Operator::IsNotEmpty => true,
        Operator::Contains
        | Operator::NotContains
        | Operator::StartsWith
        | Operator::EndsWith
        | Operator::MatchesRegex => matches!(t, S::Text | S::List),
        Operator::Less
        | Operator::LessOrEqual
        | Operator::Greater
        | Operator::GreaterOrEqual
        | Operator::Between => t == S::Number,
        Operator::Before
        | Operator::After
        | Operator::On
        | Operator::WithinLast { .. }
        | Operator::WithinNext { .. }
        | Operator::DayOfWeek => t == S::Date,
        Operator::HasAny | Operator::HasAll | Operator::HasNone => matches!(t, S::List | S::Text),
        Operator::IsOneOf => matches!(t, S::Text | S::Number | S::List),
        Operator::IsTrue | Operator::IsFalse => t == S::Bool,
    }
}

struct Validator<'a> {
    rule: &'a Rule,
    /// `None`: the account is not known, only the rule's own consistency and limits are checked.
    schema: Option<&'a Schema>,
    problems: Vec<RuleProblem>,
}

/// What the schema says of a custom field.
enum Lookup<'a> {
    /// The account has it.
    Known(&'a SchemaField),
    /// The account does not have it.
    Unknown,
    /// The account's fields are not known.
    Unchecked,
}

/// Every problem of a rule, in document order, against the account's schema. An empty list means
/// the rule is valid.
pub fn validate(rule: &Rule, schema: &Schema) -> Vec<RuleProblem> {
    validate_with(rule, Some(schema))
}

/// Every problem of a rule that can be told without the account: its limits, its consistency
/// with its trigger, its templates. Custom fields and users are not checked.
pub fn validate_limits(rule: &Rule) -> Vec<RuleProblem> {
    validate_with(rule, None)
}

/// [`validate`] with the schema when it is known, else [`validate_limits`].
pub fn validate_with(rule: &Rule, schema: Option<&Schema>) -> Vec<RuleProblem> {
    let mut v = Validator {
        rule,
        schema,
        problems: Vec::new(),
    };
    v.rule();
    v.problems
}

/// [`validate`] in the API's field-error shape.
pub fn validate_as_field_errors(rule: &Rule, schema: &Schema) -> Vec<FieldError> {
    validate(rule, schema).into_iter().map(Into::into).collect()
}

/// The JSON pointer (RFC 6901) of a dotted path with indexes, e.g. `blocks[1].conditions[2].op`
/// gives `/blocks/1/conditions/2/op`; the empty path is the whole document.
pub fn json_pointer(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 1);
    if path.is_empty() {
        return out;
    }
    for segment in path.split('.') {
        let mut parts = segment.split('[');
        let key = parts.next().unwrap_or_default();
        let tokens = std::iter::once(key).chain(parts.map(|i| i.trim_end_matches(']')));
        for token in tokens {
            out.push('/');
            out.push_str(&token.replace('~', "~0").replace('/', "~1"));
        }
    }
    out
}

impl<'a> Validator<'a> {
    /// Records a problem at a dotted path (`blocks[0].actions[1]`), kept as a JSON pointer.
    fn push(&mut self, path: String, code: ProblemCode, place: &str, what: String) {
        let message = if place.is_empty() {
            what
        } else {
            format!("{place}: {what}")
        };
        self.problems.push(RuleProblem {
            path: json_pointer(&path),
            code,
            message,
        });
    }

    fn lookup(&self, entity: Option<EntityType>, id: i64) -> Lookup<'a> {
        match self.schema {
            None => Lookup::Unchecked,
            Some(schema) => schema
                .field(entity, id)
                .map_or(Lookup::Unknown, Lookup::Known),
        }
    }

    /// Reports a fixed user the account does not have, when its users are known.
    fn user(&mut self, id: i64, at: String, place: &str) {
        if let Some(None) = self.schema.and_then(|s| s.user(id)) {
            self.push(
                at,
                ProblemCode::UnknownUser,
                place,
                format!("the account has no user {id}"),
            );
        }
    }

    /// Reports a pipeline or stage the account does not have, when its pipelines are known. `at`
    /// is the object holding `pipeline_id` and `status_id`; a stage without a pipeline may be in
    /// any of them.
    fn stage(&mut self, pipeline_id: Option<i64>, status_id: Option<i64>, at: &str, place: &str) {
        let Some(pipelines) = self.schema.and_then(|s| s.pipelines.as_ref()) else {
            return;
        };
        let prefix = if at.is_empty() {
            String::new()
        } else {
            format!("{at}.")
        };
        let pipeline: Option<&SchemaPipeline> = match pipeline_id {
            None => None,
            Some(id) => match pipelines.iter().find(|p| p.id == id) {
                Some(pipeline) => Some(pipeline),
                None => {
                    self.push(
                        format!("{prefix}pipeline_id"),
                        ProblemCode::UnknownPipeline,
                        place,
                        format!("the account has no pipeline {id}"),
                    );
                    return;
                }
            },
        };
        let Some(status_id) = status_id else {
            return;
        };
        let known = match pipeline {
            Some(pipeline) => pipeline.has_stage(status_id),
            None => pipelines.iter().any(|p| p.has_stage(status_id)),
        };
        if !known {
            let what = match pipeline {
                Some(p) => format!("pipeline '{}' has no stage {status_id}", p.name),
                None => format!("no pipeline has a stage {status_id}"),
            };
            self.push(
                format!("{prefix}status_id"),
                ProblemCode::UnknownStage,
                place,
                what,
            );
        }
    }

    /// Reports a Salesbot the account does not have, when its bots are known.
    fn salesbot(&mut self, id: i64, at: String, place: &str) {
        let Some(bots) = self.schema.and_then(|s| s.salesbots.as_ref()) else {
            return;
        };
        if !bots.iter().any(|b| b.id == id) {
            self.push(
                at,
                ProblemCode::UnknownSalesbot,
                place,
                format!("the account has no Salesbot {id}"),
            );
        }
    }

    fn role_entity(&self, role: EntityRole) -> Option<EntityType> {
        match role {
            EntityRole::Lead => Some(EntityType::Lead),
            EntityRole::Contact => Some(EntityType::Contact),
            EntityRole::Company => Some(EntityType::Company),
            EntityRole::Client => self.rule.trigger.entity_type(),
        }
    }

    fn rule(&mut self) {
        let rule = self.rule;
        if rule.schema_version != CURRENT_SCHEMA_VERSION {
            self.push(
                "schema_version".into(),
                ProblemCode::UnsupportedVersion,
                "",
                format!("schema version must be {CURRENT_SCHEMA_VERSION}; read rules with Rule::from_json to migrate them"),
            );
        }
        if rule.name.trim().is_empty() {
            self.push(
                "name".into(),
                ProblemCode::Required,
                "",
                "the rule needs a name".into(),
            );
        } else if rule.name.chars().count() > MAX_NAME_CHARS {
            self.push(
                "name".into(),
                ProblemCode::OutOfRange,
                "",
                format!("the name is longer than {MAX_NAME_CHARS} characters"),
            );
        }
        if rule.frequency.min_interval_seconds < MIN_RUN_INTERVAL_SECONDS {
            self.push(
                "frequency.min_interval_seconds".into(),
                ProblemCode::OutOfRange,
                "",
                format!(
                    "a rule runs at most once per {MIN_RUN_INTERVAL_SECONDS} seconds per entity"
                ),
            );
        }
        self.trigger();
        if rule.blocks.len() > MAX_BLOCKS {
            self.push(
                format!("blocks[{MAX_BLOCKS}]"),
                ProblemCode::TooMany,
                "",
                format!(
                    "a rule has at most {MAX_BLOCKS} blocks, and this one has {}",
                    rule.blocks.len()
                ),
            );
        }
        let mut block_ids = HashSet::new();
        let mut action_ids = HashSet::new();
        for (b, block) in rule.blocks.iter().enumerate() {
            let place = format!("block {}", b + 1);
            let path = format!("blocks[{b}]");
            if block.id != 0 && !block_ids.insert(block.id) {
                self.push(
                    format!("{path}.id"),
                    ProblemCode::DuplicateId,
                    &place,
                    format!("block id {} is used by an earlier block", block.id),
                );
            }
            if block.delay_seconds > MAX_BLOCK_DELAY_SECONDS {
                self.push(
                    format!("{path}.delay_seconds"),
                    ProblemCode::OutOfRange,
                    &place,
                    format!("a block waits at most {MAX_BLOCK_DELAY_SECONDS} seconds"),
                );
            }
            if block.conditions.len() > MAX_CONDITIONS {
                self.push(
                    format!("{path}.conditions[{MAX_CONDITIONS}]"),
                    ProblemCode::TooMany,
                    &place,
                    format!(
                        "a block has at most {MAX_CONDITIONS} conditions, and this one has {}",
                        block.conditions.len()
                    ),
                );
            }
            for (c, condition) in block.conditions.iter().enumerate() {
                self.condition(
                    condition,
                    &format!("{path}.conditions[{c}]"),
                    &format!("{place}, condition {}", c + 1),
                );
            }
            self.actions(&block.actions, &path, &place, &mut action_ids);
        }
        if let Some(scenario) = &rule.else_scenario {
            self.actions(
                &scenario.actions,
                "else_scenario",
                "else scenario",
                &mut action_ids,
            );
        }
    }

    fn trigger(&mut self) {
        let trigger = &self.rule.trigger;
        match trigger {
            Trigger::FieldUpdated { entity, field_id }
                if matches!(self.lookup(Some(*entity), *field_id), Lookup::Unknown) =>
            {
                self.push(
                    "trigger.field_id".into(),
                    ProblemCode::UnknownField,
                    "trigger",
                    format!("the {} has no field {field_id}", entity.as_str()),
                );
            }
            Trigger::RelativeToDateField {
                entity,
                field_id,
                offset_hours,
            } => {
                match self.lookup(Some(*entity), *field_id) {
                    Lookup::Unknown => self.push(
                        "trigger.field_id".into(),
                        ProblemCode::UnknownField,
                        "trigger",
                        format!("the {} has no field {field_id}", entity.as_str()),
                    ),
                    Lookup::Known(f) if field_type_static(f.field_type) != StaticType::Date => self
                        .push(
                            "trigger.field_id".into(),
                            ProblemCode::TimerNeedsDate,
                            "trigger",
                            format!(
                                "field {field_id} is {}, not a date",
                                field_type_static(f.field_type).name()
                            ),
                        ),
                    Lookup::Known(_) | Lookup::Unchecked => {}
                }
                if offset_hours.unsigned_abs() > MAX_TRIGGER_OFFSET_HOURS.unsigned_abs() {
                    self.push(
                        "trigger.offset_hours".into(),
                        ProblemCode::OutOfRange,
                        "trigger",
                        "the date is shifted by at most 99 years".into(),
                    );
                }
            }
            Trigger::StatusChanged {
                pipeline_id,
                status_id,
                ..
            } => self.stage(*pipeline_id, *status_id, "trigger", "trigger"),
            Trigger::ConversationClosed { delay_seconds, .. }
            | Trigger::OutgoingMessageSeen { delay_seconds, .. }
                if u64::from(*delay_seconds) > MAX_TIMER_SECONDS =>
            {
                self.push(
                    "trigger.delay_seconds".into(),
                    ProblemCode::OutOfRange,
                    "trigger",
                    "the actions wait at most 99 years".into(),
                );
            }
            Trigger::Manual { entity } if *entity == EntityType::Task => self.push(
                "trigger.entity".into(),
                ProblemCode::OutOfRange,
                "trigger",
                "a manual rule applies to leads, contacts or companies".into(),
            ),
            Trigger::InboundWebhook {
                search: Some(search),
                ..
            } => self.search(search),
            Trigger::Recurring { schedule } => {
                let ok = match *schedule {
                    Recurrence::Monthly { day, .. } => (1..=31).contains(&day),
                    Recurrence::Yearly { month, day, .. } => {
                        chrono::NaiveDate::from_ymd_opt(2024, month, day).is_some()
                    }
                    _ => true,
                };
                if !ok {
                    self.push(
                        "trigger.schedule".into(),
                        ProblemCode::OutOfRange,
                        "trigger",
                        "the schedule names a day that does not exist".into(),
                    );
                }
            }
            _ => {}
        }
    }

    /// An inbound webhook's search: a lead, contact or company, by at least one and at most
    /// [`MAX_SEARCH_CRITERIA`] criteria, each a valid template on a field the entity has.
    fn search(&mut self, search: &EntitySearch) {
        let place = "trigger search";
        if search.entity == EntityType::Task {
            self.push(
                "trigger.search.entity".into(),
                ProblemCode::OutOfRange,
                place,
                "the search finds a lead, a contact or a company".into(),
            );
        }
        if search.by.is_empty() {
            self.push(
                "trigger.search.by".into(),
                ProblemCode::Required,
                place,
                "name at least one field to search by".into(),
            );
        }
        if search.by.len() > MAX_SEARCH_CRITERIA {
            self.push(
                "trigger.search.by".into(),
                ProblemCode::TooMany,
                place,
                format!("at most {MAX_SEARCH_CRITERIA} fields are searched"),
            );
        }
        for (i, criterion) in search.by.iter().enumerate() {
            let at = format!("trigger.search.by[{i}]");
            if let SearchField::Custom(id) = criterion.field {
                if matches!(self.lookup(Some(search.entity), id), Lookup::Unknown) {
                    self.push(
                        format!("{at}.field"),
                        ProblemCode::UnknownField,
                        place,
                        format!("the {} has no field {id}", search.entity.as_str()),
                    );
                }
            }
            self.template(&criterion.value, &format!("{at}.value"), place);
        }
        if let Some(name) = &search.name {
            self.template(name, "trigger.search.name", place);
        }
    }

    /// The static type of a path, reporting unknown custom fields.
    fn path_type(&mut self, path: &Path, at: &str, place: &str) -> StaticType {
        use StaticType as S;
        match *path {
            Path::Entity(role, field) => match field {
                EntityField::Id
                | EntityField::Price
                | EntityField::StatusId
                | EntityField::PipelineId
                | EntityField::ResponsibleUserId
                | EntityField::LinkedCount(_)
                | EntityField::Tasks(
                    TaskAggregate::Open | TaskAggregate::Overdue | TaskAggregate::Total,
                ) => S::Number,
                EntityField::Name
                | EntityField::ResponsibleName
                | EntityField::Source
                | EntityField::Utm(_) => S::Text,
                EntityField::Tags => S::List,
                EntityField::CreatedAt
                | EntityField::UpdatedAt
                | EntityField::ClosedAt
                | EntityField::Tasks(TaskAggregate::Nearest) => S::Date,
                EntityField::Custom(id) => {
                    let entity = self.role_entity(role);
                    match self.lookup(entity, id) {
                        Lookup::Known(f) => field_type_static(f.field_type),
                        Lookup::Unchecked => S::Any,
                        Lookup::Unknown => {
                            let owner = entity.map_or("entity", EntityType::as_str);
                            self.push(
                                at.to_owned(),
                                ProblemCode::UnknownField,
                                place,
                                format!("the {owner} has no field {id}"),
                            );
                            S::Any
                        }
                    }
                }
            },
            Path::Task(field) => match field {
                TaskField::Id
                | TaskField::TypeId
                | TaskField::Duration
                | TaskField::ResponsibleUserId => S::Number,
                TaskField::Text | TaskField::Result | TaskField::EntityType => S::Text,
                TaskField::IsCompleted => S::Bool,
                TaskField::CompleteTill | TaskField::StartsAt | TaskField::CreatedAt => S::Date,
            },
            Path::Clock(field) => match field {
                ClockField::Now | ClockField::Today => S::Date,
                ClockField::Time => S::Text,
                ClockField::Weekday | ClockField::Timestamp => S::Number,
                ClockField::WorkingHours => S::Bool,
            },
            Path::Event(field) => {
                if !event_field_available(field, &self.rule.trigger) {
                    self.push(
                        at.to_owned(),
                        ProblemCode::NotAvailableForTrigger,
                        place,
                        format!(
                            "{path} is not available when the rule is started by {}",
                            self.rule.trigger.name()
                        ),
                    );
                }
                match field {
                    EventField::CallDuration
                    | EventField::FieldId
                    | EventField::OldStatusId
                    | EventField::OldPipelineId
                    | EventField::OldResponsibleUserId => S::Number,
                    EventField::EntityFound => S::Bool,
                    _ => S::Text,
                }
            }
        }
    }

    fn operand_type(&mut self, operand: &Operand, at: &str, place: &str) -> StaticType {
        match operand {
            Operand::Path(path) => self.path_type(path, at, place),
            Operand::Global(name) | Operand::Webhook(name) => {
                if name.trim().is_empty() {
                    self.push(
                        at.to_owned(),
                        ProblemCode::Required,
                        place,
                        "the variable needs a name".into(),
                    );
                }
                StaticType::Any
            }
            Operand::Literal(Literal::Bool(_)) => StaticType::Bool,
            Operand::Literal(Literal::Number(_)) => StaticType::Number,
            Operand::Literal(Literal::Text(_)) => StaticType::Any,
            Operand::Literal(Literal::List(_)) => StaticType::List,
        }
    }

    fn condition(&mut self, condition: &Condition, path: &str, place: &str) {
        let left_type = self.operand_type(&condition.left, &format!("{path}.left"), place);
        let op = &condition.op;
        if !operator_applies(op, left_type) {
            let subject = match &condition.left {
                Operand::Path(p) => match p.custom_field() {
                    Some((_, id)) => format!("field {id}"),
                    None => p.to_string(),
                },
                _ => "the value".to_owned(),
            };
            self.push(
                format!("{path}.op"),
                ProblemCode::OperatorNotApplicable,
                place,
                format!(
                    "{subject} is {}, '{}' does not apply to it",
                    left_type.name(),
                    op.name()
                ),
            );
        }
        match (&condition.right, op.needs_right()) {
            (None, true) => self.push(
                format!("{path}.right"),
                ProblemCode::BadOperand,
                place,
                format!("'{}' needs a value to compare with", op.name()),
            ),
            (Some(right), true) => {
                self.operand_type(right, &format!("{path}.right"), place);
                self.right_literal(op, right, &format!("{path}.right"), place);
                self.enum_literal(&condition.left, op, right, &format!("{path}.right"), place);
            }
            _ => {}
        }
        if matches!(op, Operator::Between) {
            match &condition.right_upper {
                None => self.push(
                    format!("{path}.right_upper"),
                    ProblemCode::BadOperand,
                    place,
                    "'between' needs an upper bound".into(),
                ),
                Some(upper) => {
                    self.operand_type(upper, &format!("{path}.right_upper"), place);
                    self.right_literal(op, upper, &format!("{path}.right_upper"), place);
                }
            }
        }
    }

    /// Checks that literal list values compared with a select field are values of that list.
    fn enum_literal(
        &mut self,
        left: &Operand,
        op: &Operator,
        right: &Operand,
        at: &str,
        place: &str,
    ) {
        let applies = matches!(
            op,
            Operator::Equals
                | Operator::NotEquals
                | Operator::IsOneOf
                | Operator::HasAny
                | Operator::HasAll
                | Operator::HasNone
        );
        let (Operand::Path(path), Operand::Literal(literal)) = (left, right) else {
            return;
        };
        let Some((role, id)) = path.custom_field() else {
            return;
        };
        let Lookup::Known(field) = self.lookup(self.role_entity(role), id) else {
            return;
        };
        if !applies
            || field.enums.is_empty()
            || !matches!(field.field_type, FieldType::Select | FieldType::Multiselect)
        {
            return;
        }
        let items: Vec<&str> = match literal {
            Literal::Text(t) => t.split(',').map(str::trim).collect(),
            Literal::List(l) => l.iter().map(|s| s.trim()).collect(),
            _ => return,
        };
        let unknown: Vec<&str> = items
            .into_iter()
            .filter(|v| !v.is_empty() && !field.enums.iter().any(|e| text_eq(&e.value, v)))
            .collect();
        if !unknown.is_empty() {
            let message = format!(
                "field {id} has no list value '{}'; use one of: {}",
                unknown.join("', '"),
                enum_names(field)
            );
            self.push(at.to_owned(), ProblemCode::BadFieldValue, place, message);
        }
    }

    /// Checks a literal right operand fits the operator.
    fn right_literal(&mut self, op: &Operator, right: &Operand, at: &str, place: &str) {
        let Operand::Literal(literal) = right else {
            return;
        };
        let text = match literal {
            Literal::Text(t) => Some(t.as_str()),
            _ => None,
        };
        let problem = match op {
            Operator::Less
            | Operator::LessOrEqual
            | Operator::Greater
            | Operator::GreaterOrEqual
            | Operator::Between => match literal {
                Literal::Number(_) => None,
                Literal::Text(t) if parse_number(t).is_some() => None,
                _ => Some((
                    ProblemCode::BadOperand,
                    format!("'{}' compares with a number", op.name()),
                )),
            },
            Operator::Before | Operator::After | Operator::On => match literal {
                Literal::Number(_) => None,
                Literal::Text(t) if parse_date(t, &Zone::utc()).is_some() => None,
                _ => Some((
                    ProblemCode::BadOperand,
                    format!("'{}' compares with a date such as 2024-05-01", op.name()),
                )),
            },
            Operator::DayOfWeek => {
                let items: Vec<&str> = match literal {
                    Literal::List(l) => l.iter().map(String::as_str).collect(),
                    Literal::Text(t) => t.split(',').collect(),
                    Literal::Number(_) => Vec::new(),
                    Literal::Bool(_) => vec!["?"],
                };
                let bad: Vec<&str> = items
                    .into_iter()
                    .filter(|i| crate::timer::parse_weekday(i).is_none())
                    .collect();
                (!bad.is_empty()).then(|| {
                    (
                        ProblemCode::BadOperand,
                        format!("'{}' is not a weekday (mon … sun or 1 … 7)", bad.join(", ")),
                    )
                })
            }
            Operator::MatchesRegex => match text.map(check_regex) {
                Some(Ok(_)) => None,
                Some(Err(message)) => Some((
                    ProblemCode::InvalidRegex,
                    format!("the regular expression does not compile: {message}"),
                )),
                None => Some((
                    ProblemCode::BadOperand,
                    "'matches_regex' needs a pattern as text".into(),
                )),
            },
            _ => None,
        };
        if let Some((code, message)) = problem {
            self.push(at.to_owned(), code, place, message);
        }
    }

    fn actions(
        &mut self,
        actions: &[Action],
        path: &str,
        place: &str,
        action_ids: &mut HashSet<u32>,
    ) {
        if actions.len() > MAX_ACTIONS {
            self.push(
                format!("{path}.actions[{MAX_ACTIONS}]"),
                ProblemCode::TooMany,
                place,
                format!(
                    "at most {MAX_ACTIONS} actions, and there are {}",
                    actions.len()
                ),
            );
        }
        for (a, action) in actions.iter().enumerate() {
            let at = format!("{path}.actions[{a}]");
            let where_ = format!("{place}, action {}", a + 1);
            if action.id != 0 && !action_ids.insert(action.id) {
                self.push(
                    format!("{at}.id"),
                    ProblemCode::DuplicateId,
                    &where_,
                    format!("action id {} is used by an earlier action", action.id),
                );
            }
            self.timer(&action.timer, &format!("{at}.timer"), &where_);
            self.action_kind(&action.kind, &format!("{at}.do"), &where_);
        }
    }

    fn timer(&mut self, timer: &Timer, at: &str, place: &str) {
        match timer {
            Timer::None => {}
            Timer::After { amount, unit } => {
                let seconds = u64::from(*amount)
                    * match unit {
                        crate::rule::TimeUnit::Seconds => 1,
                        crate::rule::TimeUnit::Minutes => 60,
                        crate::rule::TimeUnit::Hours => 3600,
                        crate::rule::TimeUnit::Days => 86_400,
                    };
                if seconds < MIN_TIMER_SECONDS {
                    self.push(
                        format!("{at}.amount"),
                        ProblemCode::OutOfRange,
                        place,
                        format!("a timer waits at least {MIN_TIMER_SECONDS} second; for at once, use no timer"),
                    );
                } else if seconds > MAX_TIMER_SECONDS {
                    self.push(
                        format!("{at}.amount"),
                        ProblemCode::OutOfRange,
                        place,
                        "a timer waits at most 99 years".into(),
                    );
                }
            }
            Timer::DateField { field, .. } | Timer::YearlyFromField { field, .. } => {
                let t = self.path_type(field, &format!("{at}.field"), place);
                if !matches!(t, StaticType::Date | StaticType::Any) {
                    self.push(
                        format!("{at}.field"),
                        ProblemCode::TimerNeedsDate,
                        place,
                        format!("the timer reads {field}, which is {}, not a date", t.name()),
                    );
                }
            }
        }
        if let Timer::DateField { shift_days, .. } = timer {
            if shift_days.unsigned_abs() > MAX_TIMER_SHIFT_DAYS.unsigned_abs() {
                self.push(
                    format!("{at}.shift_days"),
                    ProblemCode::OutOfRange,
                    place,
                    "a timer shifts the date by at most 99 years".into(),
                );
            }
        }
    }

    fn template(&mut self, template: &Template, at: &str, place: &str) {
        match template.nodes() {
            Err(error) => self.push(
                at.to_owned(),
                ProblemCode::InvalidTemplate,
                place,
                format!("the template is invalid at {error}"),
            ),
            Ok(nodes) => {
                let mut paths = Vec::new();
                for node in nodes {
                    if let Node::Expr(expr) = node {
                        match &expr.value {
                            ExprValue::Path(p) => paths.push(*p),
                            ExprValue::Calc(calc) => collect_calc_paths(calc, &mut paths),
                        }
                    }
                }
                for path in paths {
                    self.path_type(&path, at, place);
                }
            }
        }
    }

    /// Checks field assignments: known fields, budgets only on leads, and fixed values the
    /// field can hold.
    fn assignments(
        &mut self,
        owner: Option<EntityType>,
        fields: &[FieldAssignment],
        at: &str,
        place: &str,
    ) {
        for (i, assignment) in fields.iter().enumerate() {
            let field_at = format!("{at}.fields[{i}].field");
            match assignment.field {
                FieldTarget::Custom(id) => match self.lookup(owner, id) {
                    Lookup::Unchecked => {}
                    Lookup::Unknown => {
                        let name = owner.map_or("entity", EntityType::as_str);
                        self.push(
                            field_at,
                            ProblemCode::UnknownField,
                            place,
                            format!("the {name} has no field {id}"),
                        );
                    }
                    Lookup::Known(field) => {
                        self.fixed_value(
                            field,
                            &assignment.value,
                            &format!("{at}.fields[{i}].value"),
                            place,
                        );
                    }
                },
                FieldTarget::Price if owner.is_some_and(|o| o != EntityType::Lead) => self.push(
                    field_at,
                    ProblemCode::ActionNotApplicable,
                    place,
                    "only leads have a budget".into(),
                ),
                _ => {}
            }
        }
    }

    /// When a field value is fixed text (no expressions or variables), checks the field can hold it.
    fn fixed_value(&mut self, field: &SchemaField, value: &Template, at: &str, place: &str) {
        let Ok(nodes) = value.nodes() else {
            return;
        };
        let mut text = String::new();
        for node in nodes {
            match node {
                Node::Text(t) => text.push_str(t),
                Node::Reset => text.push_str(crate::template::RESET_MARKER),
                _ => return,
            }
        }
        let text = text.trim();
        if text.is_empty() || text == crate::template::RESET_MARKER {
            return;
        }
        let id = field.id;
        let problem = match field.field_type {
            FieldType::Select | FieldType::Multiselect if !field.enums.is_empty() => {
                let unknown: Vec<&str> = text
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty() && !field.enums.iter().any(|e| text_eq(&e.value, v)))
                    .collect();
                (!unknown.is_empty()).then(|| {
                    format!(
                        "field {id} has no list value '{}'; use one of: {}",
                        unknown.join("', '"),
                        enum_names(field)
                    )
                })
            }
            FieldType::Checkbox => (text != "0" && text != "1")
                .then(|| format!("field {id} is a checkbox: write 0 or 1")),
            FieldType::Numeric => parse_number(text)
                .is_none()
                .then(|| format!("field {id} is a number, and '{text}' is not")),
            FieldType::Date | FieldType::DateTime | FieldType::Birthday => {
                parse_date(text, &Zone::utc())
                    .is_none()
                    .then(|| format!("field {id} is a date, and '{text}' is not"))
            }
            _ => None,
        };
        if let Some(message) = problem {
            self.push(at.to_owned(), ProblemCode::BadFieldValue, place, message);
        }
    }

    fn action_kind(&mut self, kind: &ActionKind, at: &str, place: &str) {
        for (suffix, template) in kind.templates() {
            self.template(template, &format!("{at}.{suffix}"), place);
        }
        let rule_entity = self.rule.trigger.entity_type();
        let lead_only = matches!(
            kind,
            ActionKind::ChangeStatus { .. } | ActionKind::CopyLead { .. }
        );
        if lead_only && rule_entity.is_some_and(|e| e != EntityType::Lead) {
            self.push(
                at.to_owned(),
                ProblemCode::ActionNotApplicable,
                place,
                format!(
                    "'{}' applies only to leads, and this rule runs for a {}",
                    kind.name(),
                    rule_entity.map_or("?", EntityType::as_str)
                ),
            );
        }
        match kind {
            ActionKind::CreateLead { fields, .. } => {
                self.assignments(Some(EntityType::Lead), fields, at, place)
            }
            ActionKind::CreateContact { fields, .. } => {
                self.assignments(Some(EntityType::Contact), fields, at, place)
            }
            ActionKind::CreateCompany { fields, .. } => {
                self.assignments(Some(EntityType::Company), fields, at, place)
            }
            _ => {}
        }
        self.users_named(kind, at, place);
        match kind {
            ActionKind::ChangeStatus {
                pipeline_id,
                status_id,
            } => self.stage(Some(*pipeline_id), Some(*status_id), at, place),
            ActionKind::CreateLead {
                pipeline_id,
                status_id,
                ..
            } => self.stage(*pipeline_id, *status_id, at, place),
            ActionKind::RunSalesbot { bot_id, .. } => {
                self.salesbot(*bot_id, format!("{at}.bot_id"), place)
            }
            _ => {}
        }
        match kind {
            ActionKind::ChangeFields { entity, fields } => {
                if fields.is_empty() {
                    self.push(
                        format!("{at}.fields"),
                        ProblemCode::Required,
                        place,
                        "choose at least one field to change".into(),
                    );
                }
                self.assignments(self.role_entity(*entity), fields, at, place);
            }
            ActionKind::CreateContact { attach_to, .. }
                if !matches!(attach_to, EntityRole::Lead | EntityRole::Company) =>
            {
                self.push(
                    format!("{at}.attach_to"),
                    ProblemCode::ActionNotApplicable,
                    place,
                    "a contact is attached to a lead or a company".into(),
                )
            }
            ActionKind::CreateCompany { attach_to, .. }
                if !matches!(attach_to, EntityRole::Lead | EntityRole::Contact) =>
            {
                self.push(
                    format!("{at}.attach_to"),
                    ProblemCode::ActionNotApplicable,
                    place,
                    "a company is attached to a lead or a contact".into(),
                )
            }
            ActionKind::SendWebhook { url, .. } if url.source().trim().is_empty() => self.push(
                format!("{at}.url"),
                ProblemCode::Required,
                place,
                "the webhook needs a URL".into(),
            ),
            ActionKind::ChangeGlobalVariable { name, .. } if name.trim().is_empty() => self.push(
                format!("{at}.name"),
                ProblemCode::Required,
                place,
                "choose the variable to change".into(),
            ),
            // Removing with no tag named removes them all (the manual: "to delete all tags, leave
            // the field «Tag Values» blank").
            ActionKind::ChangeTags { change, tags, .. }
                if *change == crate::rule::TagChange::Add
                    && tags.as_ref().is_none_or(|t| t.source().trim().is_empty()) =>
            {
                self.push(
                    format!("{at}.tags"),
                    ProblemCode::Required,
                    place,
                    "name the tags to add".into(),
                )
            }
            _ => {}
        }
    }
}

impl Validator<'_> {
    /// Checks the fixed users an action names, when the account's users are known.
    fn users_named(&mut self, kind: &ActionKind, at: &str, place: &str) {
        match kind {
            ActionKind::CreateLead { responsible, .. }
            | ActionKind::CreateContact { responsible, .. }
            | ActionKind::CreateCompany { responsible, .. }
            | ActionKind::CreateTask { responsible, .. }
            | ActionKind::ChangeTask { responsible, .. } => {
                if let Some(UserChoice::User(id)) = responsible {
                    self.user(*id, format!("{at}.responsible"), place);
                }
            }
            ActionKind::ChangeResponsible {
                user: UserChoice::User(id),
                ..
            } => self.user(*id, format!("{at}.user"), place),
            ActionKind::SendEmail { sender_user_id, .. } => {
                self.user(*sender_user_id, format!("{at}.sender_user_id"), place);
            }
            ActionKind::ChatSubscription { user_ids, .. } => {
                for (i, id) in user_ids.iter().enumerate() {
                    self.user(*id, format!("{at}.user_ids[{i}]"), place);
                }
            }
            _ => {}
        }
    }
}

fn enum_names(field: &SchemaField) -> String {
    field
        .enums
        .iter()
        .map(|e| e.value.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn collect_calc_paths(calc: &Calc, out: &mut Vec<Path>) {
    match calc {
        Calc::Path(p) => out.push(*p),
        Calc::Negate(inner) => collect_calc_paths(inner, out),
        Calc::Binary(l, _, r) => {
            collect_calc_paths(l, out);
            collect_calc_paths(r, out);
        }
        Calc::Number(_) | Calc::Variable(_) => {}
    }
}

/// Whether a trigger's events carry an event datum.
pub fn event_field_available(field: EventField, trigger: &Trigger) -> bool {
    let manual = matches!(trigger, Trigger::Manual { .. });
    match field {
        EventField::MessageText => matches!(trigger, Trigger::IncomingMessage { .. }),
        EventField::Channel => matches!(
            trigger,
            Trigger::IncomingMessage { .. }
                | Trigger::ConversationStarted { .. }
                | Trigger::ConversationClosed { .. }
                | Trigger::OutgoingMessageSeen { .. }
        ),
        EventField::Direction => matches!(
            trigger,
            Trigger::IncomingMessage { .. }
                | Trigger::ConversationStarted { .. }
                | Trigger::NoteAdded { .. }
        ),
        EventField::NoteType
        | EventField::NoteText
        | EventField::CallDuration
        | EventField::CallStatus
        | EventField::EmailSubject => matches!(trigger, Trigger::NoteAdded { .. }),
        EventField::TaskResult => manual,
        EventField::Tag => matches!(
            trigger,
            Trigger::TagAdded { .. } | Trigger::TagRemoved { .. }
        ),
        EventField::FieldId => matches!(trigger, Trigger::FieldUpdated { .. }),
        EventField::OldStatusId | EventField::OldPipelineId => {
            matches!(trigger, Trigger::StatusChanged { .. })
        }
        EventField::OldResponsibleUserId => matches!(trigger, Trigger::ResponsibleChanged { .. }),
        EventField::EntityFound => matches!(
            trigger,
            Trigger::InboundWebhook {
                search: Some(_),
                ..
            }
        ),
    }
}

/// Renders problems as one sentence per line, for logs and CLI output.
pub fn describe(problems: &[RuleProblem]) -> String {
    let mut out = String::new();
    for p in problems {
        let _ = writeln!(out, "{} [{}] {}", p.path, p.code.as_str(), p.message);
    }
    out
}
