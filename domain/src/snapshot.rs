//! The entity snapshot a rule is evaluated against: the event's lead with its main contact and
//! company (or the contact/company/task alone), custom field values typed by Kommo field type,
//! tags, tasks, linked-entity counts, and the account facts evaluation needs (timezone, users,
//! working hours).
//!
//! The backend builds a snapshot from Kommo's REST API; the engine only reads it.

use crate::zone::Zone;
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::path::{EntityRole, EntityType, UtmField};

/// Everything the engine may read about the event's entity and its account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Snapshot {
    /// Facts about the account.
    pub account: Account,
    /// The lead, when the event is about a lead (or a lead is linked to it).
    #[serde(default)]
    pub lead: Option<EntitySnapshot>,
    /// The main contact of the lead, or the event's contact.
    #[serde(default)]
    pub contact: Option<EntitySnapshot>,
    /// The company of the lead or contact, or the event's company.
    #[serde(default)]
    pub company: Option<EntitySnapshot>,
    /// The task, when the event is about a task.
    #[serde(default)]
    pub task: Option<TaskSnapshot>,
}

impl Snapshot {
    /// An empty snapshot of an account in a timezone; handy for tests and previews.
    pub fn empty(timezone: Zone) -> Snapshot {
        Snapshot {
            account: Account {
                timezone,
                users: Vec::new(),
                working_hours: WeeklyHours::default(),
            },
            lead: None,
            contact: None,
            company: None,
            task: None,
        }
    }

    /// The entity playing a role; `client` is the entity of type `subject`.
    pub fn entity(&self, role: EntityRole, subject: Option<EntityType>) -> Option<&EntitySnapshot> {
        match role {
            EntityRole::Lead => self.lead.as_ref(),
            EntityRole::Contact => self.contact.as_ref(),
            EntityRole::Company => self.company.as_ref(),
            EntityRole::Client => match subject {
                Some(EntityType::Contact) => self.contact.as_ref(),
                Some(EntityType::Company) => self.company.as_ref(),
                _ => self
                    .lead
                    .as_ref()
                    .or(self.contact.as_ref())
                    .or(self.company.as_ref()),
            },
        }
    }

    /// The name of a user of the account.
    pub fn user_name(&self, user_id: i64) -> Option<&str> {
        self.account
            .users
            .iter()
            .find(|u| u.id == user_id)
            .map(|u| u.name.as_str())
    }
}

/// Facts about the Kommo account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Account {
    /// The account's IANA timezone, e.g. `Europe/Berlin`.
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub timezone: Zone,
    /// The account's users, for names of responsible users.
    #[serde(default)]
    pub users: Vec<User>,
    /// The account's working hours.
    #[serde(default)]
    pub working_hours: WeeklyHours,
}

/// A user of the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct User {
    /// The Kommo user id.
    pub id: i64,
    /// The display name.
    pub name: String,
}

/// Hours on given weekdays in the account's timezone (working hours, a rule's active hours).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WeeklyHours {
    /// The intervals; an interval whose `to` is not after `from` runs past midnight.
    #[serde(default)]
    pub intervals: Vec<DayInterval>,
}

/// An interval of local time on one weekday.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DayInterval {
    /// The weekday the interval starts on.
    pub day: Weekday,
    /// Local start time.
    pub from: NaiveTime,
    /// Local end time (exclusive).
    pub to: NaiveTime,
}

impl WeeklyHours {
    /// Whether a local weekday and time fall inside one of the intervals.
    pub fn contains(&self, day: Weekday, time: NaiveTime) -> bool {
        self.intervals.iter().any(|interval| {
            if interval.from < interval.to {
                interval.day == day && interval.from <= time && time < interval.to
            } else {
                // Past midnight: the evening of `day` or the early morning of the next day.
                (interval.day == day && time >= interval.from)
                    || (interval.day.succ() == day && time < interval.to)
            }
        })
    }

    /// Whether an instant falls inside the hours, read in a timezone.
    pub fn contains_instant(&self, at: DateTime<Utc>, timezone: &Zone) -> bool {
        let local = crate::value::in_timezone(at, timezone);
        self.contains(local.weekday(), local.time())
    }
}

/// The entities of a snapshot whose tasks are read: reading tasks costs a Kommo request per
/// entity, so a snapshot holds the tasks of the entities a rule's task aggregates name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TaskReads {
    /// The lead's tasks.
    pub lead: bool,
    /// The contact's tasks.
    pub contact: bool,
    /// The company's tasks.
    pub company: bool,
}

impl TaskReads {
    /// Every entity's tasks.
    pub const ALL: TaskReads = TaskReads {
        lead: true,
        contact: true,
        company: true,
    };

    /// The tasks of one entity type (none for a task).
    pub fn of(entity_type: EntityType) -> TaskReads {
        TaskReads {
            lead: entity_type == EntityType::Lead,
            contact: entity_type == EntityType::Contact,
            company: entity_type == EntityType::Company,
        }
    }

    /// The tasks `paths` read (task aggregates, and counts of tasks) for an event about an entity
    /// of type `subject`: `client` reads the subject's contact or company, else the first of
    /// the lead, contact and company the snapshot has, so all three.
    pub fn for_paths(paths: &[crate::path::Path], subject: Option<EntityType>) -> TaskReads {
        use crate::path::{EntityField, Path};
        let mut reads = TaskReads::default();
        for path in paths {
            let Path::Entity(role, field) = path else {
                continue;
            };
            if !matches!(
                field,
                EntityField::Tasks(_) | EntityField::LinkedCount(EntityType::Task)
            ) {
                continue;
            }
            reads = reads.union(match role {
                EntityRole::Lead => TaskReads::of(EntityType::Lead),
                EntityRole::Contact => TaskReads::of(EntityType::Contact),
                EntityRole::Company => TaskReads::of(EntityType::Company),
                EntityRole::Client => match subject {
                    Some(t @ (EntityType::Contact | EntityType::Company)) => TaskReads::of(t),
                    _ => TaskReads::ALL,
                },
            });
        }
        reads
    }

    /// Both sets.
    pub fn union(self, other: TaskReads) -> TaskReads {
        TaskReads {
            lead: self.lead || other.lead,
            contact: self.contact || other.contact,
            company: self.company || other.company,
        }
    }

    /// What `self` names and `other` does not.
    pub fn without(self, other: TaskReads) -> TaskReads {
        TaskReads {
            lead: self.lead && !other.lead,
            contact: self.contact && !other.contact,
            company: self.company && !other.company,
        }
    }

    /// Whether no entity is named.
    pub fn is_empty(self) -> bool {
        self == TaskReads::default()
    }
}

/// A lead, contact or company as the engine sees it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EntitySnapshot {
    /// The Kommo id.
    pub id: i64,
    /// The name.
    #[serde(default)]
    pub name: String,
    /// The lead's budget.
    #[serde(default)]
    pub price: Option<f64>,
    /// The lead's status.
    #[serde(default)]
    pub status_id: Option<i64>,
    /// The lead's pipeline.
    #[serde(default)]
    pub pipeline_id: Option<i64>,
    /// The responsible user.
    #[serde(default)]
    pub responsible_user_id: Option<i64>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// Last update time.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// When the lead was closed.
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
    /// The lead's source name.
    #[serde(default)]
    pub source: Option<String>,
    /// UTM tracking values.
    #[serde(default)]
    pub utm: Utm,
    /// Tag names.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Custom field values.
    #[serde(default)]
    pub custom_fields: Vec<CustomFieldValue>,
    /// The entity's tasks.
    #[serde(default)]
    pub tasks: Vec<TaskSnapshot>,
    /// Counts of linked entities.
    #[serde(default)]
    pub linked: LinkedCounts,
}

impl EntitySnapshot {
    /// The value of a custom field, if the entity has one.
    pub fn custom_field(&self, field_id: i64) -> Option<&FieldValue> {
        self.custom_fields
            .iter()
            .find(|f| f.field_id == field_id)
            .map(|f| &f.value)
    }

    /// A UTM value.
    pub fn utm(&self, field: UtmField) -> Option<&str> {
        let value = match field {
            UtmField::Source => &self.utm.source,
            UtmField::Medium => &self.utm.medium,
            UtmField::Campaign => &self.utm.campaign,
            UtmField::Term => &self.utm.term,
            UtmField::Content => &self.utm.content,
        };
        value.as_deref()
    }
}

/// UTM tracking values.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Utm {
    /// `utm_source`
    #[serde(default)]
    pub source: Option<String>,
    /// `utm_medium`
    #[serde(default)]
    pub medium: Option<String>,
    /// `utm_campaign`
    #[serde(default)]
    pub campaign: Option<String>,
    /// `utm_term`
    #[serde(default)]
    pub term: Option<String>,
    /// `utm_content`
    #[serde(default)]
    pub content: Option<String>,
}

/// Counts of entities linked to an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LinkedCounts {
    /// Linked leads.
    #[serde(default)]
    pub leads: u32,
    /// Linked contacts.
    #[serde(default)]
    pub contacts: u32,
    /// Linked companies.
    #[serde(default)]
    pub companies: u32,
}

/// One custom field's value on an entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CustomFieldValue {
    /// The Kommo field id.
    pub field_id: i64,
    /// The typed value.
    #[serde(flatten)]
    pub value: FieldValue,
}

/// A custom field value, typed by the Kommo field type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum FieldValue {
    /// `text`
    Text(String),
    /// `textarea`
    Textarea(String),
    /// `url`
    Url(String),
    /// `numeric`
    Numeric(f64),
    /// `checkbox`
    Checkbox(bool),
    /// `select` or `radiobutton`
    Select(EnumValue),
    /// `multiselect`
    Multiselect(Vec<EnumValue>),
    /// `date`: a calendar date without time.
    Date(NaiveDate),
    /// `date_time`: an instant.
    DateTime(DateTime<Utc>),
    /// `birthday`: a calendar date, recurring yearly.
    Birthday(NaiveDate),
    /// `multitext`: phones or emails with their enum codes (WORK, MOB…).
    Multitext(Vec<MultitextEntry>),
}

impl FieldValue {
    /// The Kommo type of this value.
    pub fn field_type(&self) -> FieldType {
        match self {
            FieldValue::Text(_) => FieldType::Text,
            FieldValue::Textarea(_) => FieldType::Textarea,
            FieldValue::Url(_) => FieldType::Url,
            FieldValue::Numeric(_) => FieldType::Numeric,
            FieldValue::Checkbox(_) => FieldType::Checkbox,
            FieldValue::Select(_) => FieldType::Select,
            FieldValue::Multiselect(_) => FieldType::Multiselect,
            FieldValue::Date(_) => FieldType::Date,
            FieldValue::DateTime(_) => FieldType::DateTime,
            FieldValue::Birthday(_) => FieldType::Birthday,
            FieldValue::Multitext(_) => FieldType::Multitext,
        }
    }
}

/// The Kommo custom field types the engine understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// One line of text.
    Text,
    /// Several lines of text.
    Textarea,
    /// A link.
    Url,
    /// A number.
    Numeric,
    /// A yes/no switch.
    Checkbox,
    /// One choice of a list (also `radiobutton`).
    Select,
    /// Several choices of a list.
    Multiselect,
    /// A date.
    Date,
    /// A date and time.
    DateTime,
    /// A birthday.
    Birthday,
    /// Phones or emails.
    Multitext,
}

impl FieldType {
    /// The Kommo name of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Textarea => "textarea",
            FieldType::Url => "url",
            FieldType::Numeric => "numeric",
            FieldType::Checkbox => "checkbox",
            FieldType::Select => "select",
            FieldType::Multiselect => "multiselect",
            FieldType::Date => "date",
            FieldType::DateTime => "date_time",
            FieldType::Birthday => "birthday",
            FieldType::Multitext => "multitext",
        }
    }
}

/// A chosen list value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EnumValue {
    /// The enum id.
    pub enum_id: i64,
    /// The visible value.
    pub value: String,
}

/// One phone or email with its kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MultitextEntry {
    /// The phone number or address.
    pub value: String,
    /// The enum code: WORK, WORKDD, MOB, FAX, HOME, PRIV, OTHER.
    #[serde(default)]
    pub enum_code: String,
}

/// A task as the engine sees it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TaskSnapshot {
    /// The task id.
    pub id: i64,
    /// The task text.
    #[serde(default)]
    pub text: String,
    /// The task type id.
    #[serde(default)]
    pub task_type_id: i64,
    /// Whether the task is completed.
    #[serde(default)]
    pub is_completed: bool,
    /// The due instant.
    #[serde(default)]
    pub complete_till: Option<DateTime<Utc>>,
    /// When the task was created.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// The duration in seconds.
    #[serde(default)]
    pub duration_seconds: Option<i64>,
    /// The result text, when completed with one.
    #[serde(default)]
    pub result: Option<String>,
    /// The responsible user.
    #[serde(default)]
    pub responsible_user_id: Option<i64>,
    /// The type of entity the task is attached to.
    #[serde(default)]
    pub entity_type: Option<EntityType>,
}

impl TaskSnapshot {
    /// When the task starts: its due instant less its duration (the due instant itself when it
    /// has none).
    pub fn starts_at(&self) -> Option<DateTime<Utc>> {
        let till = self.complete_till?;
        let duration = self.duration_seconds.unwrap_or(0).max(0);
        till.checked_sub_signed(chrono::TimeDelta::try_seconds(duration)?)
    }
}
