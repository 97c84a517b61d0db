//! Paths name the values a rule can read: `lead.name`, `contact.cf(123)`, `lead.tasks.open`,
//! `date.now`, `event.message_text`. Condition operands and template expressions share this one
//! grammar, so what a condition can compare is exactly what a template can print.
//!
//! A path is parsed once into a typed [`Path`]; evaluation never matches on strings.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Kommo entity type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum EntityType {
    /// A lead (deal).
    Lead,
    /// A contact.
    Contact,
    /// A company.
    Company,
    /// A task.
    Task,
}

impl EntityType {
    /// The lowercase name used in paths and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::Lead => "lead",
            EntityType::Contact => "contact",
            EntityType::Company => "company",
            EntityType::Task => "task",
        }
    }
}

/// Which entity of the snapshot a path reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum EntityRole {
    /// The lead (the event's lead, or the lead linked to the event's entity).
    Lead,
    /// The lead's main contact, or the event's contact.
    Contact,
    /// The lead's or contact's company, or the event's company.
    Company,
    /// Whatever entity the event is about (the manual's `client`).
    Client,
}

impl EntityRole {
    fn as_str(self) -> &'static str {
        match self {
            EntityRole::Lead => "lead",
            EntityRole::Contact => "contact",
            EntityRole::Company => "company",
            EntityRole::Client => "client",
        }
    }
}

/// UTM tracking fields of an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum UtmField {
    /// `utm_source`
    Source,
    /// `utm_medium`
    Medium,
    /// `utm_campaign`
    Campaign,
    /// `utm_term`
    Term,
    /// `utm_content`
    Content,
}

/// Aggregates over an entity's tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaskAggregate {
    /// The due date of the nearest open task.
    Nearest,
    /// Open tasks.
    Open,
    /// Open tasks whose due date has passed.
    Overdue,
    /// All tasks.
    Total,
}

/// A field of a lead, contact or company.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityField {
    /// The entity id.
    Id,
    /// The name.
    Name,
    /// The lead's budget (sale value).
    Price,
    /// The lead's status id.
    StatusId,
    /// The lead's pipeline id.
    PipelineId,
    /// The responsible user's id.
    ResponsibleUserId,
    /// The responsible user's name.
    ResponsibleName,
    /// The tags, as a list.
    Tags,
    /// When the entity was created.
    CreatedAt,
    /// When the entity was last updated.
    UpdatedAt,
    /// When the lead was closed.
    ClosedAt,
    /// The lead's source name.
    Source,
    /// A UTM field.
    Utm(UtmField),
    /// A custom field by id.
    Custom(i64),
    /// A task aggregate.
    Tasks(TaskAggregate),
    /// The count of linked entities of a type.
    LinkedCount(EntityType),
}

/// A field of the task an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskField {
    /// The task id.
    Id,
    /// The task text.
    Text,
    /// The task type id.
    TypeId,
    /// Whether the task is completed.
    IsCompleted,
    /// The due date: when the task is to be finished.
    CompleteTill,
    /// When the task starts: its due date less its duration (Kommo's `complete_till` is the end
    /// of a task that has a duration).
    StartsAt,
    /// When the task was created.
    CreatedAt,
    /// The task duration in seconds.
    Duration,
    /// The result text given when the task was completed.
    Result,
    /// The responsible user's id.
    ResponsibleUserId,
    /// The type of entity the task is attached to.
    EntityType,
}

/// Values from the clock, in the account's timezone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClockField {
    /// The current instant.
    Now,
    /// Today's date.
    Today,
    /// The time of day, `HH:MM`.
    Time,
    /// The ISO weekday number, 1 = Monday … 7 = Sunday.
    Weekday,
    /// The current unix time in seconds.
    Timestamp,
    /// Whether now is inside the account's working hours.
    WorkingHours,
}

/// Data carried by the event itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventField {
    /// The text of an incoming or outgoing chat message.
    MessageText,
    /// The chat channel (whatsapp, telegram…).
    Channel,
    /// The note type (text, system, call, sms, email).
    NoteType,
    /// The note text (or SMS text).
    NoteText,
    /// The direction of a call, SMS, email or message: incoming or outgoing.
    Direction,
    /// The call duration in seconds.
    CallDuration,
    /// The call status (held, no_answer, busy…).
    CallStatus,
    /// The email subject.
    EmailSubject,
    /// The result chosen when a task was completed.
    TaskResult,
    /// The tag that was added or removed.
    Tag,
    /// The custom field that was updated.
    FieldId,
    /// The previous status id of a status change.
    OldStatusId,
    /// The previous pipeline id of a status change.
    OldPipelineId,
    /// The previous responsible user id.
    OldResponsibleUserId,
    /// Whether an inbound webhook's search found its entity (true) or not (false).
    EntityFound,
}

/// A typed path to one readable value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Path {
    /// A field of a lead, contact, company or the event's entity.
    Entity(EntityRole, EntityField),
    /// A field of the event's task.
    Task(TaskField),
    /// A clock value.
    Clock(ClockField),
    /// Event data.
    Event(EventField),
}

/// Why a path did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path does not start with a known root.
    #[error("unknown root '{root}': use lead, contact, company, client, task, date or event")]
    UnknownRoot {
        /// The first segment as written.
        root: String,
    },
    /// The root is known but the rest is not.
    #[error("'{path}' is not a known field")]
    UnknownField {
        /// The whole path as written.
        path: String,
    },
    /// `cf(...)` without a positive integer id.
    #[error("'{path}': cf() takes a positive field id")]
    BadFieldId {
        /// The whole path as written.
        path: String,
    },
}

const ENTITY_FIELDS: &[(&str, EntityField)] = &[
    ("id", EntityField::Id),
    ("name", EntityField::Name),
    ("price", EntityField::Price),
    ("budget", EntityField::Price),
    ("sale", EntityField::Price),
    ("status_id", EntityField::StatusId),
    ("status", EntityField::StatusId),
    ("pipeline_id", EntityField::PipelineId),
    ("pipeline", EntityField::PipelineId),
    ("responsible_user_id", EntityField::ResponsibleUserId),
    ("responsible.id", EntityField::ResponsibleUserId),
    ("responsible.name", EntityField::ResponsibleName),
    ("tags", EntityField::Tags),
    ("created_at", EntityField::CreatedAt),
    ("updated_at", EntityField::UpdatedAt),
    ("closed_at", EntityField::ClosedAt),
    ("source", EntityField::Source),
    ("utm_source", EntityField::Utm(UtmField::Source)),
    ("utm_medium", EntityField::Utm(UtmField::Medium)),
    ("utm_campaign", EntityField::Utm(UtmField::Campaign)),
    ("utm_term", EntityField::Utm(UtmField::Term)),
    ("utm_content", EntityField::Utm(UtmField::Content)),
    ("tasks.nearest", EntityField::Tasks(TaskAggregate::Nearest)),
    ("tasks.open", EntityField::Tasks(TaskAggregate::Open)),
    ("tasks.overdue", EntityField::Tasks(TaskAggregate::Overdue)),
    ("tasks.total", EntityField::Tasks(TaskAggregate::Total)),
    ("leads.count", EntityField::LinkedCount(EntityType::Lead)),
    (
        "contacts.count",
        EntityField::LinkedCount(EntityType::Contact),
    ),
    (
        "companies.count",
        EntityField::LinkedCount(EntityType::Company),
    ),
];

const TASK_FIELDS: &[(&str, TaskField)] = &[
    ("id", TaskField::Id),
    ("text", TaskField::Text),
    ("type_id", TaskField::TypeId),
    ("is_completed", TaskField::IsCompleted),
    ("complete_till", TaskField::CompleteTill),
    ("starts_at", TaskField::StartsAt),
    ("created_at", TaskField::CreatedAt),
    ("duration", TaskField::Duration),
    ("result", TaskField::Result),
    ("responsible_user_id", TaskField::ResponsibleUserId),
    ("entity_type", TaskField::EntityType),
];

const CLOCK_FIELDS: &[(&str, ClockField)] = &[
    ("now", ClockField::Now),
    ("today", ClockField::Today),
    ("time", ClockField::Time),
    ("weekday", ClockField::Weekday),
    ("timestamp", ClockField::Timestamp),
    ("working_hours", ClockField::WorkingHours),
];

const EVENT_FIELDS: &[(&str, EventField)] = &[
    ("message_text", EventField::MessageText),
    ("channel", EventField::Channel),
    ("note_type", EventField::NoteType),
    ("note_text", EventField::NoteText),
    ("direction", EventField::Direction),
    ("call_duration", EventField::CallDuration),
    ("call_status", EventField::CallStatus),
    ("email_subject", EventField::EmailSubject),
    ("task_result", EventField::TaskResult),
    ("tag", EventField::Tag),
    ("field_id", EventField::FieldId),
    ("old_status_id", EventField::OldStatusId),
    ("old_pipeline_id", EventField::OldPipelineId),
    ("old_responsible_user_id", EventField::OldResponsibleUserId),
    ("entity_found", EventField::EntityFound),
];

fn lookup<T: Copy>(table: &[(&str, T)], key: &str) -> Option<T> {
    table.iter().find(|(name, _)| *name == key).map(|(_, v)| *v)
}

fn name_of<T: PartialEq>(table: &'static [(&'static str, T)], value: &T) -> &'static str {
    // The first entry for a value is its canonical spelling; aliases come after it.
    table
        .iter()
        .find(|(_, v)| v == value)
        .map(|(name, _)| *name)
        .unwrap_or("?")
}

impl Path {
    /// Parses a path such as `lead.cf(123)`.
    pub fn parse(text: &str) -> Result<Path, PathError> {
        let (root, rest) = text.split_once('.').unwrap_or((text, ""));
        let unknown = || PathError::UnknownField {
            path: text.to_owned(),
        };
        let role = match root {
            "lead" => Some(EntityRole::Lead),
            "contact" => Some(EntityRole::Contact),
            "company" => Some(EntityRole::Company),
            "client" => Some(EntityRole::Client),
            _ => None,
        };
        if let Some(role) = role {
            if let Some(inner) = rest.strip_prefix("cf(").and_then(|r| r.strip_suffix(')')) {
                let id: i64 = inner.parse().map_err(|_| PathError::BadFieldId {
                    path: text.to_owned(),
                })?;
                if id <= 0 || inner.starts_with('+') {
                    return Err(PathError::BadFieldId {
                        path: text.to_owned(),
                    });
                }
                return Ok(Path::Entity(role, EntityField::Custom(id)));
            }
            return lookup(ENTITY_FIELDS, rest)
                .map(|f| Path::Entity(role, f))
                .ok_or_else(unknown);
        }
        match root {
            "task" => lookup(TASK_FIELDS, rest)
                .map(Path::Task)
                .ok_or_else(unknown),
            "date" => lookup(CLOCK_FIELDS, rest)
                .map(Path::Clock)
                .ok_or_else(unknown),
            "event" => lookup(EVENT_FIELDS, rest)
                .map(Path::Event)
                .ok_or_else(unknown),
            _ => Err(PathError::UnknownRoot {
                root: root.to_owned(),
            }),
        }
    }

    /// The custom field id, when the path reads a custom field.
    pub fn custom_field(&self) -> Option<(EntityRole, i64)> {
        match *self {
            Path::Entity(role, EntityField::Custom(id)) => Some((role, id)),
            _ => None,
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Entity(role, EntityField::Custom(id)) => write!(f, "{}.cf({id})", role.as_str()),
            Path::Entity(role, field) => {
                write!(f, "{}.{}", role.as_str(), name_of(ENTITY_FIELDS, field))
            }
            Path::Task(field) => write!(f, "task.{}", name_of(TASK_FIELDS, field)),
            Path::Clock(field) => write!(f, "date.{}", name_of(CLOCK_FIELDS, field)),
            Path::Event(field) => write!(f, "event.{}", name_of(EVENT_FIELDS, field)),
        }
    }
}

impl FromStr for Path {
    type Err = PathError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Path::parse(s)
    }
}

impl Serialize for Path {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Path {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Path::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Path {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Path".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "What a condition reads: an entity field (`lead.name`, `contact.cf(123)`), \
                the event's data, a global variable (`var.name`), a webhook variable or the clock.",
            "examples": ["lead.name", "lead.cf(123)", "contact.phone", "var.counter"]
        })
    }
}

/// Every path spelling, canonical first, for tests and for the widget's pickers.
pub fn all_paths() -> Vec<Path> {
    let mut paths = Vec::new();
    for role in [
        EntityRole::Lead,
        EntityRole::Contact,
        EntityRole::Company,
        EntityRole::Client,
    ] {
        for (_, field) in ENTITY_FIELDS {
            paths.push(Path::Entity(role, *field));
        }
        paths.push(Path::Entity(role, EntityField::Custom(1)));
    }
    paths.extend(TASK_FIELDS.iter().map(|(_, f)| Path::Task(*f)));
    paths.extend(CLOCK_FIELDS.iter().map(|(_, f)| Path::Clock(*f)));
    paths.extend(EVENT_FIELDS.iter().map(|(_, f)| Path::Event(*f)));
    paths.dedup();
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_prints_and_parses_back() {
        for path in all_paths() {
            let text = path.to_string();
            assert_eq!(Path::parse(&text), Ok(path), "{text}");
        }
    }

    #[test]
    fn aliases_parse_to_the_canonical_field() {
        assert_eq!(
            Path::parse("lead.sale"),
            Ok(Path::Entity(EntityRole::Lead, EntityField::Price))
        );
        assert_eq!(
            Path::parse("lead.budget").unwrap().to_string(),
            "lead.price"
        );
    }

    #[test]
    fn bad_paths_say_why() {
        assert!(matches!(
            Path::parse("deal.name"),
            Err(PathError::UnknownRoot { .. })
        ));
        assert!(matches!(
            Path::parse("lead.nope"),
            Err(PathError::UnknownField { .. })
        ));
        assert!(matches!(
            Path::parse("lead.cf(x)"),
            Err(PathError::BadFieldId { .. })
        ));
        assert!(matches!(
            Path::parse("lead.cf(-3)"),
            Err(PathError::BadFieldId { .. })
        ));
    }
}
