//! Typed models of Kommo API v4 resources: what the client reads and what it writes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::fields::{FieldValues, FieldWrite};

/// The three CRM entity kinds with the same CRUD shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// Leads.
    Leads,
    /// Contacts.
    Contacts,
    /// Companies.
    Companies,
}

impl EntityKind {
    /// The path segment and `_embedded` key.
    pub fn plural(self) -> &'static str {
        match self {
            Self::Leads => "leads",
            Self::Contacts => "contacts",
            Self::Companies => "companies",
        }
    }
}

/// A tag as embedded in an entity.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Tag {
    /// Id.
    pub id: i64,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Colour (in the tag list), if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

/// A reference to a tag in a write: by id or by name (created when missing).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum TagRef {
    /// By id.
    Id {
        /// Tag id.
        id: i64,
    },
    /// By name.
    Name {
        /// Tag name.
        name: String,
    },
}

impl TagRef {
    /// A tag by name.
    pub fn name(name: impl Into<String>) -> Self {
        Self::Name { name: name.into() }
    }
}

/// A link embedded in an entity (`_embedded.contacts[]`, `_embedded.companies[]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct EmbeddedRef {
    /// Linked entity id.
    pub id: i64,
    /// For contacts of a lead: the main contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_main: Option<bool>,
}

/// `_embedded` of an entity.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct EntityEmbedded {
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Linked contacts (with `with=contacts`).
    #[serde(default)]
    pub contacts: Vec<EmbeddedRef>,
    /// Linked companies.
    #[serde(default)]
    pub companies: Vec<EmbeddedRef>,
    /// Linked leads (with `with=leads`).
    #[serde(default)]
    pub leads: Vec<EmbeddedRef>,
}

/// A lead, contact or company as read. Fields that only one kind has are optional.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Entity {
    /// Id.
    pub id: i64,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Leads: sale amount.
    #[serde(default)]
    pub price: Option<i64>,
    /// Leads: stage.
    #[serde(default)]
    pub status_id: Option<i64>,
    /// Leads: pipeline.
    #[serde(default)]
    pub pipeline_id: Option<i64>,
    /// Contacts: first name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Contacts: last name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// Responsible user.
    #[serde(default)]
    pub responsible_user_id: i64,
    /// Unix seconds.
    #[serde(default)]
    pub created_at: i64,
    /// Unix seconds.
    #[serde(default)]
    pub updated_at: i64,
    /// Leads: when closed.
    #[serde(default)]
    pub closed_at: Option<i64>,
    /// Custom field values.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub custom_fields_values: Vec<FieldValues>,
    /// Embedded tags and links.
    #[serde(default, rename = "_embedded")]
    pub embedded: EntityEmbedded,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A write to one entity: creation (no `id`) or update (with `id`). Only set fields are sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EntityWrite {
    /// Entity id (updates only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Contacts: first name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Contacts: last name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Leads: sale amount.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<i64>,
    /// Leads: pipeline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline_id: Option<i64>,
    /// Leads: stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_id: Option<i64>,
    /// Responsible user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub responsible_user_id: Option<i64>,
    /// Leads: loss reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss_reason_id: Option<i64>,
    /// Custom field values to set or clear (other fields are untouched).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custom_fields_values: Vec<FieldWrite>,
    /// Tags to add (safe under concurrency).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags_to_add: Vec<TagRef>,
    /// Tags to remove.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags_to_delete: Vec<TagRef>,
    /// Links and full tag replacement (`_embedded.tags` replaces every tag).
    #[serde(rename = "_embedded", skip_serializing_if = "Option::is_none")]
    pub embedded: Option<EmbeddedWrite>,
}

/// `_embedded` of a write.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EmbeddedWrite {
    /// Replaces all tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<TagRef>>,
    /// Contacts to link (creation).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<EmbeddedRef>,
    /// Companies to link (creation).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub companies: Vec<EmbeddedRef>,
}

impl EntityWrite {
    /// An update of entity `id` with nothing set yet.
    pub fn update(id: i64) -> Self {
        Self {
            id: Some(id),
            ..Self::default()
        }
    }

    /// Folds a later update of the same entity into this one: later scalar values win, field
    /// writes replace earlier writes of the same field, tag additions and deletions accumulate.
    pub fn merge(&mut self, later: EntityWrite) {
        macro_rules! take {
            ($($f:ident),*) => { $( if later.$f.is_some() { self.$f = later.$f; } )* };
        }
        take!(
            name,
            first_name,
            last_name,
            price,
            pipeline_id,
            status_id,
            responsible_user_id,
            loss_reason_id,
            embedded
        );
        for write in later.custom_fields_values {
            self.custom_fields_values.retain(|w| w.field != write.field);
            self.custom_fields_values.push(write);
        }
        for tag in later.tags_to_add {
            self.tags_to_delete.retain(|t| *t != tag);
            if !self.tags_to_add.contains(&tag) {
                self.tags_to_add.push(tag);
            }
        }
        for tag in later.tags_to_delete {
            self.tags_to_add.retain(|t| *t != tag);
            if !self.tags_to_delete.contains(&tag) {
                self.tags_to_delete.push(tag);
            }
        }
    }
}

/// A task as read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Task {
    /// Id.
    pub id: i64,
    /// Text.
    #[serde(default)]
    pub text: String,
    /// Deadline, unix seconds.
    #[serde(default)]
    pub complete_till: i64,
    /// Linked entity id.
    #[serde(default)]
    pub entity_id: Option<i64>,
    /// Linked entity type (`leads`, ...).
    #[serde(default)]
    pub entity_type: Option<String>,
    /// Task type.
    #[serde(default)]
    pub task_type_id: i64,
    /// Responsible user.
    #[serde(default)]
    pub responsible_user_id: i64,
    /// Completed.
    #[serde(default)]
    pub is_completed: bool,
    /// Duration in seconds.
    #[serde(default)]
    pub duration: i64,
    /// Result (`{"text": ...}` once completed).
    #[serde(default)]
    pub result: Value,
    /// Created, unix seconds.
    #[serde(default)]
    pub created_at: i64,
}

/// A task to create or update.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TaskWrite {
    /// Id (updates only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// Text (required on creation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Deadline, unix seconds (required on creation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete_till: Option<i64>,
    /// Linked entity id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<i64>,
    /// Linked entity type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_type: Option<EntityKind>,
    /// Task type (1 call, 2 meeting).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_type_id: Option<i64>,
    /// Responsible user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub responsible_user_id: Option<i64>,
    /// Duration in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    /// Completion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_completed: Option<bool>,
    /// Result text (`{"text": ...}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<TaskResult>,
}

/// A task result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskResult {
    /// Text.
    pub text: String,
}

/// A note as read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Note {
    /// Id.
    pub id: i64,
    /// Entity it belongs to.
    #[serde(default)]
    pub entity_id: i64,
    /// Type code.
    #[serde(default)]
    pub note_type: String,
    /// Parameters.
    #[serde(default)]
    pub params: Value,
    /// Unix seconds.
    #[serde(default)]
    pub created_at: i64,
}

/// A note to add, typed by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum NoteContent {
    /// `common`: free text.
    Common {
        /// Text.
        text: String,
    },
    /// `service_message`: a message from a named service.
    Service {
        /// Service name.
        service: String,
        /// Text.
        text: String,
    },
    /// `call_in` / `call_out`.
    Call {
        /// Incoming or outgoing.
        incoming: bool,
        /// Unique call id.
        uniq: String,
        /// Seconds.
        duration: i64,
        /// Telephony source.
        source: String,
        /// Recording link.
        link: Option<String>,
        /// Phone.
        phone: String,
    },
    /// `sms_in` / `sms_out`.
    Sms {
        /// Incoming or outgoing.
        incoming: bool,
        /// Text.
        text: String,
        /// Phone.
        phone: String,
    },
}

impl NoteContent {
    /// Kommo's `note_type`.
    pub fn note_type(&self) -> &'static str {
        match self {
            Self::Common { .. } => "common",
            Self::Service { .. } => "service_message",
            Self::Call { incoming: true, .. } => "call_in",
            Self::Call {
                incoming: false, ..
            } => "call_out",
            Self::Sms { incoming: true, .. } => "sms_in",
            Self::Sms {
                incoming: false, ..
            } => "sms_out",
        }
    }

    /// Kommo's `params`.
    pub fn params(&self) -> Value {
        match self {
            Self::Common { text } => serde_json::json!({"text": text}),
            Self::Service { service, text } => {
                serde_json::json!({"service": service, "text": text})
            }
            Self::Call {
                uniq,
                duration,
                source,
                link,
                phone,
                ..
            } => {
                serde_json::json!({"uniq": uniq, "duration": duration, "source": source, "link": link, "phone": phone})
            }
            Self::Sms { text, phone, .. } => serde_json::json!({"text": text, "phone": phone}),
        }
    }
}

/// A note to add to an entity.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNote {
    /// The entity.
    pub entity_id: i64,
    /// The content.
    pub content: NoteContent,
}

/// A link between two entities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// From.
    pub entity_id: i64,
    /// To.
    pub to_entity_id: i64,
    /// To kind (`contacts`, `companies`, `leads`).
    pub to_entity_type: String,
}

/// An event from `/api/v4/events`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Event {
    /// Event id (a string in Kommo).
    pub id: String,
    /// Type code (`lead_added`, `lead_status_changed`, ...).
    #[serde(rename = "type")]
    pub event_type: String,
    /// Entity id.
    #[serde(default)]
    pub entity_id: i64,
    /// Entity type (`lead`, `contact`, ...).
    #[serde(default)]
    pub entity_type: String,
    /// Unix seconds.
    #[serde(default)]
    pub created_at: i64,
    /// Value after.
    #[serde(default)]
    pub value_after: Value,
    /// Value before.
    #[serde(default)]
    pub value_before: Value,
}

/// A pipeline stage.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Status {
    /// Id (142 won, 143 lost).
    pub id: i64,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Sort.
    #[serde(default)]
    pub sort: i64,
    /// Pipeline.
    #[serde(default)]
    pub pipeline_id: i64,
    /// Colour, `#rrggbb`.
    #[serde(default)]
    pub color: String,
    /// 0 a working stage, 1 the "incoming leads" stage.
    #[serde(rename = "type", default)]
    pub status_type: i64,
}

/// A pipeline with its stages.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Pipeline {
    /// Id.
    pub id: i64,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Main pipeline.
    #[serde(default)]
    pub is_main: bool,
    /// Place among the pipelines.
    #[serde(default)]
    pub sort: i64,
    /// Stages.
    #[serde(default, rename = "_embedded")]
    pub embedded: PipelineEmbedded,
}

/// `_embedded` of a pipeline.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct PipelineEmbedded {
    /// Stages.
    #[serde(default)]
    pub statuses: Vec<Status>,
}

/// A custom field definition.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CustomField {
    /// Id.
    pub id: i64,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Type.
    #[serde(rename = "type", default)]
    pub field_type: String,
    /// Code.
    #[serde(default)]
    pub code: Option<String>,
    /// Place among the entity's fields.
    #[serde(default)]
    pub sort: i64,
    /// Enum options.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub enums: Vec<EnumOption>,
}

/// An enum option of a custom field.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EnumOption {
    /// Id.
    pub id: i64,
    /// Value.
    #[serde(default)]
    pub value: String,
    /// Code.
    #[serde(default)]
    pub code: Option<String>,
    /// Place in the list.
    #[serde(default)]
    pub sort: i64,
}

/// A user.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct User {
    /// Id.
    pub id: i64,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Email.
    #[serde(default)]
    pub email: String,
    /// Rights (`is_admin`, `is_active`, `group_id`, ...).
    #[serde(default)]
    pub rights: Value,
}

impl User {
    /// Whether the user administers the account (`rights.is_admin`).
    pub fn is_admin(&self) -> bool {
        self.rights["is_admin"].as_bool().unwrap_or(false)
    }

    /// Whether the user may log in (`rights.is_active`; active when Kommo does not say).
    pub fn is_active(&self) -> bool {
        self.rights["is_active"].as_bool().unwrap_or(true)
    }

    /// The user's group (`rights.group_id`; none when null or 0).
    pub fn group_id(&self) -> Option<i64> {
        self.rights["group_id"].as_i64().filter(|id| *id != 0)
    }
}

/// The account.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AccountInfo {
    /// Account id.
    pub id: i64,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Subdomain.
    #[serde(default)]
    pub subdomain: String,
    /// IANA timezone.
    #[serde(default)]
    pub timezone: String,
    /// Currency.
    #[serde(default)]
    pub currency: String,
    /// Language of the account (`en`).
    #[serde(default)]
    pub language: String,
    /// What `with=task_types,users_groups` adds.
    #[serde(default, rename = "_embedded")]
    pub embedded: AccountEmbedded,
}

/// `_embedded` of the account.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct AccountEmbedded {
    /// Task types (`with=task_types`).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub task_types: Vec<TaskType>,
    /// User groups (`with=users_groups`).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub users_groups: Vec<UserGroup>,
}

/// A task type.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TaskType {
    /// Id.
    pub id: i64,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Colour, if set.
    #[serde(default)]
    pub color: Option<String>,
    /// Icon, if set.
    #[serde(default)]
    pub icon_id: Option<i64>,
    /// Code (`FOLLOW_UP`, `MEETING`), if any.
    #[serde(default)]
    pub code: Option<String>,
}

/// A group of users.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UserGroup {
    /// Id.
    pub id: i64,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// UUID, if any.
    #[serde(default)]
    pub uuid: Option<String>,
}

/// A loss reason (`/api/v4/leads/loss_reasons`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LossReason {
    /// Id.
    pub id: i64,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Place in the list.
    #[serde(default)]
    pub sort: i64,
}

/// A Salesbot (`/api/v4/bots`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Salesbot {
    /// Id.
    pub id: i64,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Whether it is switched on (on when Kommo does not say).
    #[serde(default = "switched_on")]
    pub active: bool,
}

fn switched_on() -> bool {
    true
}

/// A webhook subscription.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Webhook {
    /// Id.
    pub id: i64,
    /// Destination URL.
    pub destination: String,
    /// Event codes.
    #[serde(default)]
    pub settings: Vec<String>,
    /// Sort.
    #[serde(default)]
    pub sort: i64,
    /// Disabled by Kommo after too many failures.
    #[serde(default)]
    pub disabled: bool,
}

/// A request to start a Salesbot on an entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SalesbotRun {
    /// Bot id.
    pub bot_id: i64,
    /// Entity id.
    pub entity_id: i64,
    /// 1 contact, 2 lead.
    pub entity_type: i64,
}
