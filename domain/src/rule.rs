//! The rule model: what starts a rule (its [`Trigger`]), its ordered condition [`Block`]s, each
//! with conditions and [`Action`]s, the else scenario, run frequency and active hours.
//!
//! Rules are stored and exchanged as JSON. [`Rule::from_json`] reads every schema version we
//! ever wrote and migrates it to [`CURRENT_SCHEMA_VERSION`].

use chrono::{NaiveDate, NaiveTime, Weekday};
use serde::{Deserialize, Serialize};

use crate::event::{Direction, NoteType};
use crate::path::{EntityRole, EntityType, Path};
use crate::snapshot::WeeklyHours;
use crate::template::Template;

/// The schema version [`Rule::from_json`] migrates to and [`Rule`] serialises with.
pub const CURRENT_SCHEMA_VERSION: u32 = 3;

/// The shortest allowed run interval per entity, in seconds (the manual's minimum).
pub const MIN_RUN_INTERVAL_SECONDS: u32 = 5;

/// One automation rule (the manual's "script").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The schema version this rule was written with; always current after parsing.
    pub schema_version: u32,
    /// A brief name, shown on manual-run buttons.
    pub name: String,
    /// What the rule does, for people.
    #[serde(default)]
    pub description: String,
    /// A disabled rule does not run (its delayed actions still do).
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// What starts the rule.
    pub trigger: Trigger,
    /// Condition blocks, checked top to bottom; every block whose conditions hold fires.
    #[serde(default)]
    pub blocks: Vec<Block>,
    /// Runs when no block fired.
    #[serde(default)]
    pub else_scenario: Option<ElseScenario>,
    /// How often the rule may run per entity.
    #[serde(default)]
    pub frequency: Frequency,
    /// When set, the rule only runs inside these hours (account timezone).
    #[serde(default)]
    pub active_hours: Option<WeeklyHours>,
}

fn enabled_by_default() -> bool {
    true
}

/// Why rule JSON could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleParseError {
    /// Not JSON at all.
    #[error("the rule is not valid JSON: {message} (line {line}, column {column})")]
    Syntax {
        /// What the JSON parser said.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The rule was written by a newer version of Rulebook.
    #[error("schema version {found} is newer than the newest this build reads ({CURRENT_SCHEMA_VERSION})")]
    UnsupportedVersion {
        /// The version in the document.
        found: u64,
    },
    /// JSON, but not a rule.
    #[error("the rule does not have the expected shape: {message}")]
    Shape {
        /// What did not fit.
        message: String,
    },
}

impl Rule {
    /// Reads a rule of any schema version and migrates it to the current one.
    ///
    /// Version 1 (no `schema_version` key) kept the run interval and the once flag at the top
    /// level (`run_every_seconds`, `once`) and the else scenario as a bare `else_actions` list.
    /// Up to version 2 an inbound webhook always looked for a contact by `phone`, then `email`,
    /// and created one when neither found it: such a trigger gets that search written out
    /// ([`EntitySearch::legacy_contact`]).
    pub fn from_json(text: &str) -> Result<Rule, RuleParseError> {
        let mut document: serde_json::Value =
            serde_json::from_str(text).map_err(|e| RuleParseError::Syntax {
                message: e.to_string(),
                line: e.line(),
                column: e.column(),
            })?;
        let object = document
            .as_object_mut()
            .ok_or_else(|| RuleParseError::Shape {
                message: "a rule is a JSON object".to_owned(),
            })?;
        let version = match object.get("schema_version") {
            None => 1,
            Some(v) => v.as_u64().ok_or_else(|| RuleParseError::Shape {
                message: "schema_version must be a positive integer".to_owned(),
            })?,
        };
        if version > u64::from(CURRENT_SCHEMA_VERSION) {
            return Err(RuleParseError::UnsupportedVersion { found: version });
        }
        if version <= 1 {
            migrate_v1_to_v2(object);
        }
        if version <= 2 {
            migrate_v2_to_v3(object);
        }
        // Read from the migrated text rather than from the `Value`: the widget's wasm then holds
        // the rule model's readers once, for serde_json's text reader, not twice.
        serde_json::from_str(&serde_json::to_string(&document).unwrap_or_default()).map_err(|e| {
            RuleParseError::Shape {
                message: e.to_string(),
            }
        })
    }

    /// The rule as current-version JSON.
    pub fn to_json(&self) -> String {
        // A Rule holds only strings, numbers, maps and sequences: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Every path the rule reads: its conditions' operands and the `{{…}}` of its actions'
    /// templates (what a snapshot must hold for it; a template that does not parse reads nothing).
    pub fn paths(&self) -> Vec<Path> {
        use crate::template::{Calc, ExprValue, Node};
        fn calc_paths(calc: &Calc, out: &mut Vec<Path>) {
            match calc {
                Calc::Path(p) => out.push(*p),
                Calc::Negate(c) => calc_paths(c, out),
                Calc::Binary(a, _, b) => {
                    calc_paths(a, out);
                    calc_paths(b, out);
                }
                Calc::Number(_) | Calc::Variable(_) => {}
            }
        }
        let mut out = Vec::new();
        for condition in self.blocks.iter().flat_map(|b| b.conditions.iter()) {
            let operands = [
                Some(&condition.left),
                condition.right.as_ref(),
                condition.right_upper.as_ref(),
            ];
            out.extend(operands.into_iter().flatten().filter_map(|o| match o {
                Operand::Path(p) => Some(*p),
                _ => None,
            }));
        }
        let actions = self
            .blocks
            .iter()
            .flat_map(|b| b.actions.iter())
            .chain(self.else_scenario.iter().flat_map(|e| e.actions.iter()));
        for action in actions {
            for (_, template) in action.kind.templates() {
                for node in template.nodes().unwrap_or_default() {
                    match node {
                        Node::Expr(expr) => match &expr.value {
                            ExprValue::Path(p) => out.push(*p),
                            ExprValue::Calc(c) => calc_paths(c, &mut out),
                        },
                        Node::Text(_) | Node::Variable(_) | Node::TriggerLink(_) | Node::Reset => {}
                    }
                }
            }
        }
        out
    }
}

fn migrate_v2_to_v3(object: &mut serde_json::Map<String, serde_json::Value>) {
    use serde_json::Value;
    if let Some(Value::Object(trigger)) = object.get_mut("trigger") {
        let inbound = trigger.get("kind").and_then(Value::as_str) == Some("inbound_webhook");
        if inbound && !trigger.contains_key("search") {
            let search = serde_json::to_value(EntitySearch::legacy_contact()).unwrap_or_default();
            trigger.insert("search".to_owned(), search);
        }
    }
    object.insert(
        "schema_version".to_owned(),
        Value::from(CURRENT_SCHEMA_VERSION),
    );
}

fn migrate_v1_to_v2(object: &mut serde_json::Map<String, serde_json::Value>) {
    use serde_json::Value;
    let mut frequency = serde_json::Map::new();
    if let Some(seconds) = object.remove("run_every_seconds") {
        frequency.insert("min_interval_seconds".to_owned(), seconds);
    }
    if let Some(once) = object.remove("once") {
        frequency.insert("once_per_entity".to_owned(), once);
    }
    if !frequency.is_empty() && !object.contains_key("frequency") {
        object.insert("frequency".to_owned(), Value::Object(frequency));
    }
    if let Some(actions) = object.remove("else_actions") {
        let has_actions = actions.as_array().is_some_and(|a| !a.is_empty());
        if has_actions && !object.contains_key("else_scenario") {
            let mut scenario = serde_json::Map::new();
            scenario.insert("actions".to_owned(), actions);
            object.insert("else_scenario".to_owned(), Value::Object(scenario));
        }
    }
    object.insert(
        "schema_version".to_owned(),
        Value::from(CURRENT_SCHEMA_VERSION),
    );
}

/// How often a rule may run for one entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Frequency {
    /// At most one run per this many seconds per entity; at least 5.
    #[serde(default = "default_interval")]
    pub min_interval_seconds: u32,
    /// Fire at most once per entity, ever.
    #[serde(default)]
    pub once_per_entity: bool,
}

fn default_interval() -> u32 {
    MIN_RUN_INTERVAL_SECONDS
}

impl Default for Frequency {
    fn default() -> Self {
        Frequency {
            min_interval_seconds: MIN_RUN_INTERVAL_SECONDS,
            once_per_entity: false,
        }
    }
}

/// When a lead enters a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum StageEntry {
    /// Only when created in the stage.
    Created,
    /// Only when moved to the stage.
    Moved,
    /// Either.
    #[default]
    CreatedOrMoved,
}

/// Which messages start a conversation trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum MessageFilter {
    /// Incoming only.
    Incoming,
    /// Outgoing only.
    Outgoing,
    /// Either.
    #[default]
    Any,
}

impl MessageFilter {
    /// Whether a direction passes the filter.
    pub fn admits(self, direction: Direction) -> bool {
        match self {
            MessageFilter::Any => true,
            MessageFilter::Incoming => direction == Direction::Incoming,
            MessageFilter::Outgoing => direction == Direction::Outgoing,
        }
    }
}

/// A recurring schedule, in the account's timezone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "every", rename_all = "snake_case")]
pub enum Recurrence {
    /// Every day.
    Daily {
        /// Local time of day.
        at: NaiveTime,
    },
    /// Every week on a weekday.
    Weekly {
        /// The weekday.
        weekday: Weekday,
        /// Local time of day.
        at: NaiveTime,
    },
    /// Every month on a day (clamped to the month's last day).
    Monthly {
        /// Day of month, 1–31.
        day: u32,
        /// Local time of day.
        at: NaiveTime,
    },
    /// Every year on a date (29 February falls on 28 February in other years).
    Yearly {
        /// Month, 1–12.
        month: u32,
        /// Day of month.
        day: u32,
        /// Local time of day.
        at: NaiveTime,
    },
}

/// What starts a rule: every kind of the manual's "A script can be triggered by" list, plus the
/// Salesbot trigger kinds that apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// A lead, contact, company or task was added.
    EntityAdded {
        /// Which type.
        entity: EntityType,
    },
    /// A lead, contact, company or task was updated.
    EntityUpdated {
        /// Which type.
        entity: EntityType,
    },
    /// The responsible user of an entity changed.
    ResponsibleChanged {
        /// Which type.
        entity: EntityType,
    },
    /// A lead was created in or moved to a stage; `None` ids match any.
    StatusChanged {
        /// The pipeline, or any.
        #[serde(default)]
        pipeline_id: Option<i64>,
        /// The stage, or any.
        #[serde(default)]
        status_id: Option<i64>,
        /// Created, moved, or either.
        #[serde(default)]
        entry: StageEntry,
    },
    /// A note was added; empty `note_types` matches any type.
    NoteAdded {
        /// Which entity type.
        entity: EntityType,
        /// Which note types.
        #[serde(default)]
        note_types: Vec<NoteType>,
    },
    /// A tag was added; empty `tags` matches any tag.
    TagAdded {
        /// Which entity type.
        entity: EntityType,
        /// Which tags.
        #[serde(default)]
        tags: Vec<String>,
    },
    /// A tag was removed; empty `tags` matches any tag.
    TagRemoved {
        /// Which entity type.
        entity: EntityType,
        /// Which tags.
        #[serde(default)]
        tags: Vec<String>,
    },
    /// A custom field was changed, added or cleared.
    FieldUpdated {
        /// Which entity type.
        entity: EntityType,
        /// Which field.
        field_id: i64,
    },
    /// N hours before (negative) or after (positive) the date in a field.
    RelativeToDateField {
        /// Which entity type.
        entity: EntityType,
        /// The date or date-time field.
        field_id: i64,
        /// Hours after the date; negative for before.
        offset_hours: i32,
    },
    /// Once, on a local date at a local time.
    AtDateTime {
        /// The date.
        date: NaiveDate,
        /// The time.
        at: NaiveTime,
    },
    /// Daily, weekly, monthly or yearly at a local time.
    Recurring {
        /// The schedule.
        schedule: Recurrence,
    },
    /// A conversation was started; empty `channels` matches any channel.
    ConversationStarted {
        /// Incoming, outgoing or any first message.
        #[serde(default)]
        by: MessageFilter,
        /// Which channels.
        #[serde(default)]
        channels: Vec<String>,
    },
    /// A conversation was closed; actions are delayed by `delay_seconds`.
    ConversationClosed {
        /// Which channels.
        #[serde(default)]
        channels: Vec<String>,
        /// Delay before the actions.
        #[serde(default)]
        delay_seconds: u32,
    },
    /// A chat message came in (or went out); the rule runs at most once per cooldown per entity.
    IncomingMessage {
        /// Incoming, outgoing or any messages.
        #[serde(default = "incoming")]
        direction: MessageFilter,
        /// Which channels.
        #[serde(default)]
        channels: Vec<String>,
        /// Cooldown between runs for one entity, seconds.
        #[serde(default)]
        cooldown_seconds: u32,
    },
    /// The client saw an outgoing message; actions are delayed by `delay_seconds`.
    OutgoingMessageSeen {
        /// Which channels.
        #[serde(default)]
        channels: Vec<String>,
        /// Delay before the actions.
        #[serde(default)]
        delay_seconds: u32,
    },
    /// A manual ("custom") rule: buttons, lists, another rule, task results, Salesbot,
    /// digital pipeline and trigger links run it for an entity of this type.
    Manual {
        /// The entity type the rule applies to.
        entity: EntityType,
    },
    /// An inbound webhook arrived: at the receiver `receiver_id` names (every enabled rule that
    /// names it runs), or, for a rule that names none, at the rule's own inbound URL.
    InboundWebhook {
        /// A label of the hook, for people (rules older than receivers matched on it).
        #[serde(default)]
        hook_id: String,
        /// The receiver whose requests run the rule.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        receiver_id: Option<i64>,
        /// The entity the request is about, searched for before the blocks are checked; the
        /// entity found is the run's entity, and `event.entity_found` tells the blocks whether
        /// one was. Without a search the run has no entity.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        search: Option<EntitySearch>,
    },
}

/// The inbound webhook's search for its entity (the manual's site form: "search for a contact
/// by phone, if there is no contact, create a new one, if there is, update and set a task").
/// The criteria are tried in order and the first that finds an entity wins (the manual's OR
/// principle); a criterion whose value renders empty is skipped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EntitySearch {
    /// What is searched: a lead, a contact or a company.
    pub entity: EntityType,
    /// The criteria, tried in order.
    #[serde(default)]
    pub by: Vec<SearchCriterion>,
    /// When nothing is found, create the entity from the criteria's values (phone, email, name
    /// and custom fields; an id is not written) and run with it; `event.entity_found` stays
    /// false. Rules written before the search was modelled have this set (see
    /// [`Rule::from_json`]); a new rule creates in its not-found branch instead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_if_not_found: bool,
    /// The created entity's name; by default the name criterion's value, or else the first
    /// non-empty value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Template>,
}

impl EntitySearch {
    /// What every inbound rule did before the search was modelled: a contact by `{phone}`, then
    /// by `{email}`, created (named `{name}`) when neither finds one.
    pub fn legacy_contact() -> EntitySearch {
        let criterion = |field, source: &str| SearchCriterion {
            field,
            value: Template::new(source),
        };
        EntitySearch {
            entity: EntityType::Contact,
            by: vec![
                criterion(SearchField::Phone, "{phone}"),
                criterion(SearchField::Email, "{email}"),
            ],
            create_if_not_found: true,
            name: Some(Template::new("{name}")),
        }
    }
}

/// One criterion of an [`EntitySearch`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SearchCriterion {
    /// The field compared.
    pub field: SearchField,
    /// The value looked for, usually a webhook variable (`{phone}`).
    pub value: Template,
}

/// A field an [`EntitySearch`] compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SearchField {
    /// The entity's id.
    Id,
    /// The name (case-insensitive).
    Name,
    /// Any phone number (digits compared).
    Phone,
    /// Any email address (case-insensitive).
    Email,
    /// A custom field (its text, case-insensitive).
    Custom(i64),
}

fn incoming() -> MessageFilter {
    MessageFilter::Incoming
}

impl Trigger {
    /// The entity type this trigger is about, if it has one.
    pub fn entity_type(&self) -> Option<EntityType> {
        match self {
            Trigger::EntityAdded { entity }
            | Trigger::EntityUpdated { entity }
            | Trigger::ResponsibleChanged { entity }
            | Trigger::NoteAdded { entity, .. }
            | Trigger::TagAdded { entity, .. }
            | Trigger::TagRemoved { entity, .. }
            | Trigger::FieldUpdated { entity, .. }
            | Trigger::RelativeToDateField { entity, .. }
            | Trigger::Manual { entity } => Some(*entity),
            Trigger::StatusChanged { .. }
            | Trigger::ConversationStarted { .. }
            | Trigger::ConversationClosed { .. }
            | Trigger::IncomingMessage { .. }
            | Trigger::OutgoingMessageSeen { .. } => Some(EntityType::Lead),
            Trigger::AtDateTime { .. }
            | Trigger::Recurring { .. }
            | Trigger::InboundWebhook { .. } => None,
        }
    }

    /// A snake_case name for messages and traces.
    pub fn name(&self) -> &'static str {
        match self {
            Trigger::EntityAdded { .. } => "entity_added",
            Trigger::EntityUpdated { .. } => "entity_updated",
            Trigger::ResponsibleChanged { .. } => "responsible_changed",
            Trigger::StatusChanged { .. } => "status_changed",
            Trigger::NoteAdded { .. } => "note_added",
            Trigger::TagAdded { .. } => "tag_added",
            Trigger::TagRemoved { .. } => "tag_removed",
            Trigger::FieldUpdated { .. } => "field_updated",
            Trigger::RelativeToDateField { .. } => "relative_to_date_field",
            Trigger::AtDateTime { .. } => "at_date_time",
            Trigger::Recurring { .. } => "recurring",
            Trigger::ConversationStarted { .. } => "conversation_started",
            Trigger::ConversationClosed { .. } => "conversation_closed",
            Trigger::IncomingMessage { .. } => "incoming_message",
            Trigger::OutgoingMessageSeen { .. } => "outgoing_message_seen",
            Trigger::Manual { .. } => "manual",
            Trigger::InboundWebhook { .. } => "inbound_webhook",
        }
    }
}

/// Where an event that may run rules comes from. A trigger runs only for the sources it belongs
/// to ([`Trigger::runs_from`]), whatever the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// Kommo's account webhooks, and the events worked out from them.
    KommoWebhook,
    /// The action of a digital-pipeline stage, naming one rule.
    DigitalPipeline,
    /// A request to one rule's own inbound webhook, or to a receiver.
    InboundWebhook,
    /// A click on one rule's trigger link.
    TriggerLink,
    /// A Salesbot's `widget_request` step, naming one rule, on the bot's lead or contact.
    Salesbot,
}

impl Trigger {
    /// Whether an event from `source` may run a rule with this trigger: Kommo's webhooks run the
    /// triggers of what happens in Kommo (never a manual rule or an inbound webhook's); a
    /// digital-pipeline stage runs a lead's "added" or "updated" rule or a manual lead rule, as
    /// the Triggers widget's stages do; an inbound webhook runs its own rule or a manual rule (a
    /// receiver's request only the rules whose trigger names it, see `eval::trigger_matches`); a
    /// trigger link runs a manual rule.
    pub fn runs_from(&self, source: Source) -> bool {
        match source {
            Source::KommoWebhook => matches!(
                self,
                Trigger::EntityAdded { .. }
                    | Trigger::EntityUpdated { .. }
                    | Trigger::ResponsibleChanged { .. }
                    | Trigger::StatusChanged { .. }
                    | Trigger::NoteAdded { .. }
                    | Trigger::TagAdded { .. }
                    | Trigger::TagRemoved { .. }
                    | Trigger::FieldUpdated { .. }
                    | Trigger::ConversationStarted { .. }
                    | Trigger::ConversationClosed { .. }
                    | Trigger::IncomingMessage { .. }
                    | Trigger::OutgoingMessageSeen { .. }
            ),
            Source::DigitalPipeline => self.dp_capable(),
            // The manual: "Only lead-related scripts and manual scripts will be available"; which
            // entity a rule runs on is the bot's (`eval::trigger_matches`).
            Source::Salesbot => matches!(
                self,
                Trigger::EntityAdded {
                    entity: EntityType::Lead
                } | Trigger::EntityUpdated {
                    entity: EntityType::Lead
                } | Trigger::Manual {
                    entity: EntityType::Lead | EntityType::Contact
                }
            ),
            Source::InboundWebhook => {
                matches!(
                    self,
                    Trigger::InboundWebhook { .. } | Trigger::Manual { .. }
                )
            }
            Source::TriggerLink => matches!(self, Trigger::Manual { .. }),
        }
    }

    /// The entity type a person may run a rule with this trigger on by hand (a card's button, a
    /// list's bulk run), or `None` when it cannot be launched by hand. As the Triggers manual
    /// lists it: manual rules, and rules of the "added" and "updated" kinds, each on a lead,
    /// contact or company. Status change, responsible change, task, note and message rules cannot
    /// (their conditions read the event that started them); neither can the triggers the manual
    /// does not have (tags, fields, dates, schedules, conversations, inbound webhooks), for the
    /// same reason.
    pub fn launchable_by_hand(&self) -> Option<EntityType> {
        let on_record = |entity: EntityType| match entity {
            EntityType::Lead | EntityType::Contact | EntityType::Company => Some(entity),
            EntityType::Task => None,
        };
        match self {
            Trigger::Manual { entity }
            | Trigger::EntityAdded { entity }
            | Trigger::EntityUpdated { entity } => on_record(*entity),
            Trigger::ResponsibleChanged { .. }
            | Trigger::StatusChanged { .. }
            | Trigger::NoteAdded { .. }
            | Trigger::TagAdded { .. }
            | Trigger::TagRemoved { .. }
            | Trigger::FieldUpdated { .. }
            | Trigger::RelativeToDateField { .. }
            | Trigger::AtDateTime { .. }
            | Trigger::Recurring { .. }
            | Trigger::ConversationStarted { .. }
            | Trigger::ConversationClosed { .. }
            | Trigger::IncomingMessage { .. }
            | Trigger::OutgoingMessageSeen { .. }
            | Trigger::InboundWebhook { .. } => None,
        }
    }
}

impl Trigger {
    /// Whether a digital-pipeline action may run a rule with this trigger. The manual: "only the
    /// following types of scripts are available: Create/change lead, Manual (custom) script"
    /// (a manual rule on leads, as a stage holds leads).
    pub fn dp_capable(&self) -> bool {
        matches!(
            self,
            Trigger::EntityAdded {
                entity: EntityType::Lead
            } | Trigger::EntityUpdated {
                entity: EntityType::Lead
            } | Trigger::Manual {
                entity: EntityType::Lead
            }
        )
    }
}

/// The else scenario: actions that run when no block fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ElseScenario {
    /// The actions.
    #[serde(default)]
    pub actions: Vec<Action>,
}

/// A named condition block with its actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Block {
    /// A stable id within the rule, used by "cancel delayed jobs"; 0 means none.
    #[serde(default)]
    pub id: u32,
    /// The name shown in the debugger.
    #[serde(default)]
    pub name: String,
    /// Wait this long before checking the conditions (for fields other actions fill in).
    #[serde(default)]
    pub delay_seconds: u32,
    /// The conditions; see [`Join`] for how they combine. No conditions always hold.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The actions, in order.
    #[serde(default)]
    pub actions: Vec<Action>,
}

/// How a condition joins the ones before it. AND binds tighter than OR, so a list reads as an
/// OR of AND groups: `a AND b OR c AND d` is `(a AND b) OR (c AND d)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Join {
    /// Both must hold.
    #[default]
    And,
    /// Starts a new alternative group.
    Or,
}

/// One comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// How it joins the previous condition (ignored for the first).
    #[serde(default)]
    pub join: Join,
    /// The value compared.
    pub left: Operand,
    /// The comparison.
    pub op: Operator,
    /// The value compared with; not used by unary operators.
    #[serde(default)]
    pub right: Option<Operand>,
    /// The upper bound of `between`.
    #[serde(default)]
    pub right_upper: Option<Operand>,
}

/// A value a condition reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Operand {
    /// A field, task aggregate, linked count, clock value or event datum: `{"path": "lead.cf(12)"}`.
    Path(Path),
    /// A global variable: `{"global": "missed_calls"}`.
    Global(String),
    /// An inbound-webhook or parent-rule variable: `{"webhook": "form_name"}`.
    Webhook(String),
    /// A literal: `{"literal": "WHOLESALE form order"}`, `{"literal": 1000}`, `{"literal": ["a","b"]}`.
    Literal(Literal),
}

/// A literal value in a condition. Dates are written as text (`2024-05-01`, `01.05.2024 10:00`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum Literal {
    /// `true` / `false`.
    Bool(bool),
    /// A number.
    Number(f64),
    /// Text (also dates, weekday names).
    Text(String),
    /// A list of texts.
    List(Vec<String>),
}

/// Time units for "within the last/next N units" and timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    /// Seconds.
    Seconds,
    /// Minutes.
    Minutes,
    /// Hours.
    Hours,
    /// Calendar days in the account's timezone.
    Days,
}

/// The comparison of a condition. Which operators apply depends on the left operand's type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "is", rename_all = "snake_case", deny_unknown_fields)]
pub enum Operator {
    /// Equal (text case-insensitively, numbers, dates on the same instant or day, lists as sets).
    Equals,
    /// Not equal.
    NotEquals,
    /// Text contains (case-insensitive).
    Contains,
    /// Text does not contain.
    NotContains,
    /// Text starts with.
    StartsWith,
    /// Text ends with.
    EndsWith,
    /// Text matches a regular expression (`regex` syntax, size-capped).
    MatchesRegex,
    /// No value (missing, empty text, empty list).
    IsEmpty,
    /// Has a value.
    IsNotEmpty,
    /// Number less than.
    Less,
    /// Number less than or equal.
    LessOrEqual,
    /// Number greater than.
    Greater,
    /// Number greater than or equal.
    GreaterOrEqual,
    /// Number in `[right, right_upper]`.
    Between,
    /// Date before.
    Before,
    /// Date after.
    After,
    /// Date on the same local day.
    On,
    /// Date within the last N units before now.
    WithinLast {
        /// How many.
        amount: u32,
        /// Of what.
        unit: TimeUnit,
    },
    /// Date within the next N units after now.
    WithinNext {
        /// How many.
        amount: u32,
        /// Of what.
        unit: TimeUnit,
    },
    /// Date's local weekday is one of the right operand's (`["mon","fri"]` or numbers 1–7).
    DayOfWeek,
    /// List has at least one of the right operand's items.
    HasAny,
    /// List has all of them.
    HasAll,
    /// List has none of them.
    HasNone,
    /// The value is one of the right operand's items.
    IsOneOf,
    /// Boolean is true.
    IsTrue,
    /// Boolean is false.
    IsFalse,
}

impl Operator {
    /// The snake_case name, as in JSON.
    pub fn name(&self) -> &'static str {
        match self {
            Operator::Equals => "equals",
            Operator::NotEquals => "not_equals",
            Operator::Contains => "contains",
            Operator::NotContains => "not_contains",
            Operator::StartsWith => "starts_with",
            Operator::EndsWith => "ends_with",
            Operator::MatchesRegex => "matches_regex",
            Operator::IsEmpty => "is_empty",
            Operator::IsNotEmpty => "is_not_empty",
            Operator::Less => "less",
            Operator::LessOrEqual => "less_or_equal",
            Operator::Greater => "greater",
            Operator::GreaterOrEqual => "greater_or_equal",
            Operator::Between => "between",
            Operator::Before => "before",
            Operator::After => "after",
            Operator::On => "on",
            Operator::WithinLast { .. } => "within_last",
            Operator::WithinNext { .. } => "within_next",
            Operator::DayOfWeek => "day_of_week",
            Operator::HasAny => "has_any",
            Operator::HasAll => "has_all",
            Operator::HasNone => "has_none",
            Operator::IsOneOf => "is_one_of",
            Operator::IsTrue => "is_true",
            Operator::IsFalse => "is_false",
        }
    }

    /// Whether the operator needs a right operand.
    pub fn needs_right(&self) -> bool {
        !matches!(
            self,
            Operator::IsEmpty
                | Operator::IsNotEmpty
                | Operator::IsTrue
                | Operator::IsFalse
                | Operator::WithinLast { .. }
                | Operator::WithinNext { .. }
        )
    }
}

/// When an action runs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Timer {
    /// At once.
    #[default]
    None,
    /// After N units, counted from when the action is planned.
    After {
        /// How many.
        amount: u32,
        /// Of what (days are calendar days in the account's timezone).
        unit: TimeUnit,
    },
    /// On the date in a field, shifted by N days, at a local time (or the field's own time).
    DateField {
        /// The date, date-time or birthday field.
        field: Path,
        /// Days to add (negative for before).
        #[serde(default)]
        shift_days: i32,
        /// Local time of day; when absent, the field's time (or midnight for dates).
        #[serde(default)]
        at: Option<NaiveTime>,
    },
    /// Every year on the field's day and month, at a local time: the next such day.
    YearlyFromField {
        /// The date or birthday field.
        field: Path,
        /// Local time of day.
        #[serde(default = "nine_am")]
        at: NaiveTime,
    },
}

fn nine_am() -> NaiveTime {
    NaiveTime::from_hms_opt(9, 0, 0).unwrap_or(NaiveTime::MIN)
}

/// One action with its timer. `T` is [`Template`] in a rule and `String` once rendered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, bound(deserialize = "T: Deserialize<'de>"))]
pub struct Action<T = Template> {
    /// A stable id within the rule, used by "cancel delayed jobs"; 0 means none.
    #[serde(default)]
    pub id: u32,
    /// An optional name.
    #[serde(default)]
    pub name: String,
    /// When to run.
    #[serde(default)]
    pub timer: Timer,
    /// Replace this action's pending jobs for this entity instead of adding one more.
    #[serde(default)]
    pub replace_pending: bool,
    /// What to do.
    #[serde(rename = "do")]
    pub kind: ActionKind<T>,
}

/// A user chosen by an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum UserChoice {
    /// The entity's responsible user.
    Responsible,
    /// A fixed user.
    User(i64),
}

/// The target of a field assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum FieldTarget {
    /// The name.
    Name,
    /// The lead budget.
    Price,
    /// A custom field.
    Custom(i64),
}

/// One field assignment: the value is a template; lists take comma-separated values or
/// `{reset}`, checkboxes `0`/`1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct FieldAssignment<T = Template> {
    /// Which field.
    pub field: FieldTarget,
    /// The new value.
    pub value: T,
}

/// A name/value pair of a webhook's headers or body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct KeyValue<T = Template> {
    /// The name.
    pub key: String,
    /// The value.
    pub value: T,
}

/// A task result option; choosing it when closing the task runs a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskResultOption {
    /// The result text.
    pub text: String,
    /// The manual rule to run when chosen.
    #[serde(default)]
    pub rule_id: Option<i64>,
}

/// Which tasks "change task" touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaskScope {
    /// All matching tasks.
    All,
    /// The last matching task.
    Last,
}

/// How "change tags" changes tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum TagChange {
    /// Add the tags.
    Add,
    /// Remove the tags.
    Remove,
    /// Remove every tag.
    RemoveAll,
}

/// HTTP methods for "send webhook".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
}

/// How "change global variable" changes the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum VariableChange {
    /// Overwrite with the rendered value (an empty value clears it).
    Set,
    /// Append the rendered value to the current one.
    Append,
    /// The rendered value is a calculation result (`{{ ({name}+1):calc }}`); stored as is.
    Calculate,
}

/// Who receives a Mailer email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum EmailRecipient {
    /// Contacts and company, chosen automatically.
    #[default]
    Automatic,
    /// The lead's main contact only.
    MainContact,
}

/// Every action type of the manual, as data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    deny_unknown_fields,
    bound(deserialize = "T: Deserialize<'de>")
)]
pub enum ActionKind<T = Template> {
    /// Create a lead.
    CreateLead {
        /// The lead name.
        name: T,
        /// Comma-separated tags.
        #[serde(default)]
        tags: Option<T>,
        /// The responsible user; default is the entity's.
        #[serde(default)]
        responsible: Option<UserChoice>,
        /// The pipeline.
        #[serde(default)]
        pipeline_id: Option<i64>,
        /// The stage.
        #[serde(default)]
        status_id: Option<i64>,
        /// Field values.
        #[serde(default)]
        fields: Vec<FieldAssignment<T>>,
        /// Attach the company's existing contacts to the new lead.
        #[serde(default)]
        attach_company_contacts: bool,
    },
    /// Create a contact attached to a lead or company.
    CreateContact {
        /// The contact name.
        name: T,
        /// Lead or company to attach to.
        attach_to: EntityRole,
        /// The responsible user.
        #[serde(default)]
        responsible: Option<UserChoice>,
        /// Field values.
        #[serde(default)]
        fields: Vec<FieldAssignment<T>>,
    },
    /// Create a company attached to a lead or contact.
    CreateCompany {
        /// The company name.
        name: T,
        /// Lead or contact to attach to.
        attach_to: EntityRole,
        /// The responsible user.
        #[serde(default)]
        responsible: Option<UserChoice>,
        /// Field values.
        #[serde(default)]
        fields: Vec<FieldAssignment<T>>,
    },
    /// Copy the lead with all its fields.
    CopyLead {
        /// The new name; by default the old name followed by " (copy)".
        #[serde(default)]
        name: Option<T>,
    },
    /// Change fields of a lead, contact or company.
    ChangeFields {
        /// Whose fields.
        entity: EntityRole,
        /// The assignments.
        fields: Vec<FieldAssignment<T>>,
    },
    /// Create a task.
    CreateTask {
        /// Which entity gets the task.
        entity: EntityRole,
        /// Who does it; default the entity's responsible.
        #[serde(default)]
        responsible: Option<UserChoice>,
        /// The Kommo task type.
        task_type_id: i64,
        /// Time to complete it, seconds from when it is created.
        complete_in_seconds: u32,
        /// The task text.
        text: T,
        /// Result options; when present, the task cannot be closed without one.
        #[serde(default)]
        results: Vec<TaskResultOption>,
    },
    /// Change tasks of an entity found by type.
    ChangeTask {
        /// Whose tasks.
        entity: EntityRole,
        /// Tasks of this type (any when absent).
        #[serde(default)]
        task_type_id: Option<i64>,
        /// All of them or the last.
        scope: TaskScope,
        /// New responsible.
        #[serde(default)]
        responsible: Option<UserChoice>,
        /// New type.
        #[serde(default)]
        new_task_type_id: Option<i64>,
        /// Close (true) or reopen (false).
        #[serde(default)]
        completed: Option<bool>,
        /// New text.
        #[serde(default)]
        text: Option<T>,
    },
    /// Add a note to the feed.
    AddNote {
        /// Where.
        entity: EntityRole,
        /// The text.
        text: T,
        /// A system note (small font, no frame).
        #[serde(default)]
        system: bool,
    },
    /// Add or remove tags.
    ChangeTags {
        /// Whose tags.
        entity: EntityRole,
        /// Add, remove or remove all.
        change: TagChange,
        /// Comma-separated tags (ignored by remove all).
        #[serde(default)]
        tags: Option<T>,
    },
    /// Move the lead to a stage, possibly of another pipeline.
    ChangeStatus {
        /// The pipeline.
        pipeline_id: i64,
        /// The stage.
        status_id: i64,
    },
    /// Change the responsible user.
    ChangeResponsible {
        /// Whose.
        entity: EntityRole,
        /// The new responsible.
        user: UserChoice,
        /// Also in linked contacts.
        #[serde(default)]
        in_contacts: bool,
        /// Also in linked companies.
        #[serde(default)]
        in_companies: bool,
        /// Also in open tasks.
        #[serde(default)]
        in_open_tasks: bool,
    },
    /// Run a manual rule for an entity.
    ExecuteRule {
        /// For which entity.
        entity: EntityRole,
        /// The rule.
        rule_id: i64,
    },
    /// Run a Salesbot.
    RunSalesbot {
        /// For which entity.
        entity: EntityRole,
        /// The bot.
        bot_id: i64,
    },
    /// Send an HTTP request; the response's variables can start a follow-up rule.
    SendWebhook {
        /// The method.
        method: HttpMethod,
        /// The URL.
        url: T,
        /// Extra headers.
        #[serde(default)]
        headers: Vec<KeyValue<T>>,
        /// Body variables.
        #[serde(default)]
        body: Vec<KeyValue<T>>,
        /// Parse the response into variables.
        #[serde(default)]
        parse_response: bool,
        /// The rule to run with the response's variables.
        #[serde(default)]
        follow_up_rule_id: Option<i64>,
    },
    /// Send a Mailer email from a template.
    SendEmail {
        /// The sending user.
        sender_user_id: i64,
        /// Who receives it.
        #[serde(default)]
        recipient: EmailRecipient,
        /// The Mailer template.
        template_id: i64,
    },
    /// Subscribe or unsubscribe users to the lead's chat.
    ChatSubscription {
        /// Subscribe (true) or unsubscribe (false).
        subscribe: bool,
        /// Fixed users.
        #[serde(default)]
        user_ids: Vec<i64>,
        /// User ids from a variable, comma-separated.
        #[serde(default)]
        user_ids_from: Option<T>,
    },
    /// Cancel pending delayed actions for this entity.
    CancelDelayed {
        /// The rule (this one when absent).
        #[serde(default)]
        rule_id: Option<i64>,
        /// The block id (any when absent).
        #[serde(default)]
        block_id: Option<u32>,
        /// The action id (any when absent).
        #[serde(default)]
        action_id: Option<u32>,
    },
    /// Change a global variable.
    ChangeGlobalVariable {
        /// The variable.
        name: String,
        /// Set, append or calculate.
        change: VariableChange,
        /// The value.
        value: T,
    },
}

/// How an action is performed again when its job is repeated after a crash, once its record
/// says it was started but not finished: what reached Kommo (or the receiver) is unknown.
///
/// [`ActionKind::replay`] chooses one for every action with no wildcard, so a new action does
/// not compile until it chooses too. The backend's executor keeps the record (`action_runs`) of
/// every action that is not [`Replay::Repeat`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Safe to repeat: it writes a state (a field, a tag, a stage, a user), and writing it twice
    /// leaves what writing it once does. No record is kept.
    Repeat,
    /// Looked up: what the first attempt would have made (a note or task by its text, an entity
    /// by its name) is searched for; found, the action is done, else it is sent again.
    LookUp,
    /// Sent again with the same key: at least once, each send carrying one idempotency key per
    /// action run, so the receiver can drop a duplicate.
    ResendWithKey,
    /// Never repeated: a second send would act twice where nobody can undo it (a Salesbot
    /// messaging the client), so it is recorded done and shown as an error for a person to check.
    Never,
    /// Done with its job: the job it queues and its done mark are written in one transaction,
    /// so one started but not done queued nothing and is simply done again.
    DoneWithItsJob,
}

impl Replay {
    /// Whether the action is recorded in `action_runs` (started before it is sent, done after).
    pub fn is_recorded(self) -> bool {
        match self {
            Replay::Repeat => false,
            Replay::LookUp | Replay::ResendWithKey | Replay::Never | Replay::DoneWithItsJob => true,
        }
    }
}

impl<T> ActionKind<T> {
    /// The snake_case name of the action type.
    pub fn name(&self) -> &'static str {
        match self {
            ActionKind::CreateLead { .. } => "create_lead",
            ActionKind::CreateContact { .. } => "create_contact",
            ActionKind::CreateCompany { .. } => "create_company",
            ActionKind::CopyLead { .. } => "copy_lead",
            ActionKind::ChangeFields { .. } => "change_fields",
            ActionKind::CreateTask { .. } => "create_task",
            ActionKind::ChangeTask { .. } => "change_task",
            ActionKind::AddNote { .. } => "add_note",
            ActionKind::ChangeTags { .. } => "change_tags",
            ActionKind::ChangeStatus { .. } => "change_status",
            ActionKind::ChangeResponsible { .. } => "change_responsible",
            ActionKind::ExecuteRule { .. } => "execute_rule",
            ActionKind::RunSalesbot { .. } => "run_salesbot",
            ActionKind::SendWebhook { .. } => "send_webhook",
            ActionKind::SendEmail { .. } => "send_email",
            ActionKind::ChatSubscription { .. } => "chat_subscription",
            ActionKind::CancelDelayed { .. } => "cancel_delayed",
            ActionKind::ChangeGlobalVariable { .. } => "change_global_variable",
        }
    }

    /// How this action replays after a crash (see [`Replay`]). No wildcard: a new action must
    /// choose.
    pub fn replay(&self) -> Replay {
        match self {
            ActionKind::ChangeFields { .. }
            | ActionKind::ChangeTags { .. }
            | ActionKind::ChangeStatus { .. }
            | ActionKind::ChangeResponsible { .. }
            | ActionKind::ChangeTask { .. }
            | ActionKind::CancelDelayed { .. }
            // Refused before anything is sent.
            | ActionKind::ChatSubscription { .. } => Replay::Repeat,
            // Known gap: "append" and "calculate" change the variable again when a job is
            // repeated after a crash between the change and the end of the run.
            ActionKind::ChangeGlobalVariable { .. } => Replay::Repeat,
            ActionKind::AddNote { .. }
            | ActionKind::CreateTask { .. }
            | ActionKind::SendEmail { .. }
            | ActionKind::CreateLead { .. }
            | ActionKind::CreateContact { .. }
            | ActionKind::CreateCompany { .. }
            | ActionKind::CopyLead { .. } => Replay::LookUp,
            ActionKind::SendWebhook { .. } => Replay::ResendWithKey,
            ActionKind::RunSalesbot { .. } => Replay::Never,
            ActionKind::ExecuteRule { .. } => Replay::DoneWithItsJob,
        }
    }

    /// Converts every template with `f`, stopping at the first error.
    pub fn try_map<U, E>(&self, mut f: impl FnMut(&T) -> Result<U, E>) -> Result<ActionKind<U>, E> {
        let mut fields = |list: &[FieldAssignment<T>]| -> Result<Vec<FieldAssignment<U>>, E> {
            list.iter()
                .map(|a| {
                    Ok(FieldAssignment {
                        field: a.field,
                        value: f(&a.value)?,
                    })
                })
                .collect()
        };
        let mapped = match self {
            ActionKind::CreateLead {
                name,
                tags,
                responsible,
                pipeline_id,
                status_id,
                fields: list,
                attach_company_contacts,
            } => {
                let fields = fields(list)?;
                ActionKind::CreateLead {
                    name: f(name)?,
                    tags: tags.as_ref().map(&mut f).transpose()?,
                    responsible: responsible.clone(),
                    pipeline_id: *pipeline_id,
                    status_id: *status_id,
                    fields,
                    attach_company_contacts: *attach_company_contacts,
                }
            }
            ActionKind::CreateContact {
                name,
                attach_to,
                responsible,
                fields: list,
            } => {
                let fields = fields(list)?;
                ActionKind::CreateContact {
                    name: f(name)?,
                    attach_to: *attach_to,
                    responsible: responsible.clone(),
                    fields,
                }
            }
            ActionKind::CreateCompany {
                name,
                attach_to,
                responsible,
                fields: list,
            } => {
                let fields = fields(list)?;
                ActionKind::CreateCompany {
                    name: f(name)?,
                    attach_to: *attach_to,
                    responsible: responsible.clone(),
                    fields,
                }
            }
            ActionKind::CopyLead { name } => ActionKind::CopyLead {
                name: name.as_ref().map(&mut f).transpose()?,
            },
            ActionKind::ChangeFields {
                entity,
                fields: list,
            } => ActionKind::ChangeFields {
                entity: *entity,
                fields: fields(list)?,
            },
            ActionKind::CreateTask {
                entity,
                responsible,
                task_type_id,
                complete_in_seconds,
                text,
                results,
            } => ActionKind::CreateTask {
                entity: *entity,
                responsible: responsible.clone(),
                task_type_id: *task_type_id,
                complete_in_seconds: *complete_in_seconds,
                text: f(text)?,
                results: results.clone(),
            },
            ActionKind::ChangeTask {
                entity,
                task_type_id,
                scope,
                responsible,
                new_task_type_id,
                completed,
                text,
            } => ActionKind::ChangeTask {
                entity: *entity,
                task_type_id: *task_type_id,
                scope: *scope,
                responsible: responsible.clone(),
                new_task_type_id: *new_task_type_id,
                completed: *completed,
                text: text.as_ref().map(&mut f).transpose()?,
            },
            ActionKind::AddNote {
                entity,
                text,
                system,
            } => ActionKind::AddNote {
                entity: *entity,
                text: f(text)?,
                system: *system,
            },
            ActionKind::ChangeTags {
                entity,
                change,
                tags,
            } => ActionKind::ChangeTags {
                entity: *entity,
                change: *change,
                tags: tags.as_ref().map(&mut f).transpose()?,
            },
            ActionKind::ChangeStatus {
                pipeline_id,
                status_id,
            } => ActionKind::ChangeStatus {
                pipeline_id: *pipeline_id,
                status_id: *status_id,
            },
            ActionKind::ChangeResponsible {
                entity,
                user,
                in_contacts,
                in_companies,
                in_open_tasks,
            } => ActionKind::ChangeResponsible {
                entity: *entity,
                user: user.clone(),
                in_contacts: *in_contacts,
                in_companies: *in_companies,
                in_open_tasks: *in_open_tasks,
            },
            ActionKind::ExecuteRule { entity, rule_id } => ActionKind::ExecuteRule {
                entity: *entity,
                rule_id: *rule_id,
            },
            ActionKind::RunSalesbot { entity, bot_id } => ActionKind::RunSalesbot {
                entity: *entity,
                bot_id: *bot_id,
            },
            ActionKind::SendWebhook {
                method,
                url,
                headers,
                body,
                parse_response,
                follow_up_rule_id,
            } => {
                let mut pairs = |list: &[KeyValue<T>]| -> Result<Vec<KeyValue<U>>, E> {
                    list.iter()
                        .map(|kv| {
                            Ok(KeyValue {
                                key: kv.key.clone(),
                                value: f(&kv.value)?,
                            })
                        })
                        .collect()
                };
                let headers = pairs(headers)?;
                let body = pairs(body)?;
                ActionKind::SendWebhook {
                    method: *method,
                    url: f(url)?,
                    headers,
                    body,
                    parse_response: *parse_response,
                    follow_up_rule_id: *follow_up_rule_id,
                }
            }
            ActionKind::SendEmail {
                sender_user_id,
                recipient,
                template_id,
            } => ActionKind::SendEmail {
                sender_user_id: *sender_user_id,
                recipient: *recipient,
                template_id: *template_id,
            },
            ActionKind::ChatSubscription {
                subscribe,
                user_ids,
                user_ids_from,
            } => ActionKind::ChatSubscription {
                subscribe: *subscribe,
                user_ids: user_ids.clone(),
                user_ids_from: user_ids_from.as_ref().map(&mut f).transpose()?,
            },
            ActionKind::CancelDelayed {
                rule_id,
                block_id,
                action_id,
            } => ActionKind::CancelDelayed {
                rule_id: *rule_id,
                block_id: *block_id,
                action_id: *action_id,
            },
            ActionKind::ChangeGlobalVariable {
                name,
                change,
                value,
            } => ActionKind::ChangeGlobalVariable {
                name: name.clone(),
                change: *change,
                value: f(value)?,
            },
        };
        Ok(mapped)
    }

    /// Every template of the action with a path suffix naming where it is.
    pub fn templates(&self) -> Vec<(String, &T)> {
        fn push_fields<'t, T>(out: &mut Vec<(String, &'t T)>, list: &'t [FieldAssignment<T>]) {
            for (i, a) in list.iter().enumerate() {
                out.push((format!("fields[{i}].value"), &a.value));
            }
        }
        let mut out: Vec<(String, &T)> = Vec::new();
        match self {
            ActionKind::CreateLead {
                name, tags, fields, ..
            } => {
                out.push(("name".into(), name));
                if let Some(t) = tags {
                    out.push(("tags".into(), t));
                }
                push_fields(&mut out, fields);
            }
            ActionKind::CreateContact { name, fields, .. }
            | ActionKind::CreateCompany { name, fields, .. } => {
                out.push(("name".into(), name));
                push_fields(&mut out, fields);
            }
            ActionKind::CopyLead { name } => {
                if let Some(t) = name {
                    out.push(("name".into(), t));
                }
            }
            ActionKind::ChangeFields { fields, .. } => push_fields(&mut out, fields),
            ActionKind::CreateTask { text, .. } | ActionKind::AddNote { text, .. } => {
                out.push(("text".into(), text))
            }
            ActionKind::ChangeTask { text, .. } => {
                if let Some(t) = text {
                    out.push(("text".into(), t));
                }
            }
            ActionKind::ChangeTags { tags, .. } => {
                if let Some(t) = tags {
                    out.push(("tags".into(), t));
                }
            }
            ActionKind::SendWebhook {
                url, headers, body, ..
            } => {
                out.push(("url".into(), url));
                for (i, kv) in headers.iter().enumerate() {
                    out.push((format!("headers[{i}].value"), &kv.value));
                }
                for (i, kv) in body.iter().enumerate() {
                    out.push((format!("body[{i}].value"), &kv.value));
                }
            }
            ActionKind::ChatSubscription { user_ids_from, .. } => {
                if let Some(t) = user_ids_from {
                    out.push(("user_ids_from".into(), t));
                }
            }
            ActionKind::ChangeGlobalVariable { value, .. } => out.push(("value".into(), value)),
            ActionKind::ChangeStatus { .. }
            | ActionKind::ChangeResponsible { .. }
            | ActionKind::ExecuteRule { .. }
            | ActionKind::RunSalesbot { .. }
            | ActionKind::SendEmail { .. }
            | ActionKind::CancelDelayed { .. } => {}
        }
        out
    }
}
