//! The typed events the engine consumes. The backend turns Kommo webhooks, chat hooks, timers,
//! button clicks and inbound webhooks into an [`Event`]; a rule's [`crate::rule::Trigger`] says
//! which events start it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::path::EntityType;

/// Something that happened to (or was asked of) one entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Event {
    /// The entity the event is about; an inbound webhook may not have found one.
    #[serde(default)]
    pub entity: Option<EntityRef>,
    /// What happened, with its data.
    pub kind: EventKind,
    /// Variables that came with the event: an inbound webhook's or a webhook response's
    /// (`{var}`, `{parent_child}`, `{webhook_data}`) or a parent rule's.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

impl Event {
    /// An event about an entity, without variables.
    pub fn about(entity_type: EntityType, id: i64, kind: EventKind) -> Event {
        Event {
            entity: Some(EntityRef { entity_type, id }),
            kind,
            vars: BTreeMap::new(),
        }
    }

    /// The type of the entity the event is about.
    pub fn entity_type(&self) -> Option<EntityType> {
        self.entity.map(|e| e.entity_type)
    }
}

/// A reference to one Kommo entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EntityRef {
    /// The entity type.
    #[serde(rename = "type")]
    pub entity_type: EntityType,
    /// The Kommo id.
    pub id: i64,
}

/// Incoming or outgoing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the client to us.
    Incoming,
    /// From us to the client.
    Outgoing,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// A lead, contact, company or task was created.
    EntityAdded,
    /// A lead, contact, company or task was changed.
    EntityUpdated,
    /// The responsible user changed.
    ResponsibleChanged {
        /// The previous responsible user.
        #[serde(default)]
        old_user_id: Option<i64>,
        /// The new responsible user.
        #[serde(default)]
        new_user_id: Option<i64>,
    },
    /// A lead was created in or moved to a pipeline stage.
    StatusChanged {
        /// The previous pipeline (none when the lead was just created).
        #[serde(default)]
        old_pipeline_id: Option<i64>,
        /// The previous status.
        #[serde(default)]
        old_status_id: Option<i64>,
        /// The new pipeline.
        pipeline_id: i64,
        /// The new status.
        status_id: i64,
        /// Whether the lead was created in this stage rather than moved to it.
        #[serde(default)]
        created: bool,
    },
    /// A custom field's value was changed, added or cleared.
    FieldUpdated {
        /// The field.
        field_id: i64,
    },
    /// A tag was added.
    TagAdded {
        /// The tag name.
        tag: String,
    },
    /// A tag was removed.
    TagRemoved {
        /// The tag name.
        tag: String,
    },
    /// A note (text, system, call, SMS or email) was added.
    NoteAdded {
        /// The note.
        note: Note,
    },
    /// A chat message arrived or was sent.
    MessageReceived {
        /// The message.
        message: Message,
    },
    /// A conversation was started by a message.
    ConversationStarted {
        /// The channel.
        #[serde(default)]
        channel: String,
        /// Who wrote first.
        direction: Direction,
    },
    /// A conversation was closed.
    ConversationClosed {
        /// The channel.
        #[serde(default)]
        channel: String,
    },
    /// The client saw an outgoing message.
    OutgoingMessageSeen {
        /// The channel.
        #[serde(default)]
        channel: String,
    },
    /// A task was completed, with the result the user chose (starts the result's rule).
    TaskCompleted {
        /// The chosen result.
        #[serde(default)]
        result: Option<String>,
    },
    /// A scheduled trigger (date field, date at time, recurring) came due.
    Scheduled,
    /// A user pressed the rule's button (card, list, notification).
    Manual {
        /// Who pressed it.
        #[serde(default)]
        user_id: Option<i64>,
    },
    /// The digital pipeline ran the rule.
    DigitalPipeline {
        /// The pipeline.
        pipeline_id: i64,
        /// The stage.
        status_id: i64,
    },
    /// Another rule (execute rule, task result, webhook follow-up) ran this one.
    RuleCall {
        /// The calling rule.
        #[serde(default)]
        parent_rule_id: Option<i64>,
        /// The calling run's entity: the called rule reads the lead, contact and company of the
        /// caller's run when its own entity is one of them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent_entity: Option<EntityRef>,
    },
    /// A Salesbot ran the rule.
    Salesbot,
    /// A client followed a trigger link.
    TriggerLink {
        /// The link number (`{tglink:N}`).
        link_id: u32,
    },
    /// An inbound webhook arrived; its variables are in [`Event::vars`].
    InboundWebhook {
        /// The receiving hook's label (the rule's trigger's, for a rule's own inbound URL).
        #[serde(default)]
        hook_id: String,
        /// The receiver the request came through; none for a rule's own inbound URL.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        receiver_id: Option<i64>,
        /// Whether the rule's search found its entity (`event.entity_found`); `None` when the
        /// rule searches for none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        found: Option<bool>,
    },
}

impl EventKind {
    /// A stable snake_case name for traces.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::EntityAdded => "entity_added",
            EventKind::EntityUpdated => "entity_updated",
            EventKind::ResponsibleChanged { .. } => "responsible_changed",
            EventKind::StatusChanged { .. } => "status_changed",
            EventKind::FieldUpdated { .. } => "field_updated",
            EventKind::TagAdded { .. } => "tag_added",
            EventKind::TagRemoved { .. } => "tag_removed",
            EventKind::NoteAdded { .. } => "note_added",
            EventKind::MessageReceived { .. } => "message_received",
            EventKind::ConversationStarted { .. } => "conversation_started",
            EventKind::ConversationClosed { .. } => "conversation_closed",
            EventKind::OutgoingMessageSeen { .. } => "outgoing_message_seen",
            EventKind::TaskCompleted { .. } => "task_completed",
            EventKind::Scheduled => "scheduled",
            EventKind::Manual { .. } => "manual",
            EventKind::DigitalPipeline { .. } => "digital_pipeline",
            EventKind::RuleCall { .. } => "rule_call",
            EventKind::Salesbot => "salesbot",
            EventKind::TriggerLink { .. } => "trigger_link",
            EventKind::InboundWebhook { .. } => "inbound_webhook",
        }
    }
}

/// Kinds of notes. Calls, SMS and emails are notes in Kommo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum NoteType {
    /// A plain text note.
    Text,
    /// A system note.
    System,
    /// A phone call.
    Call,
    /// An SMS.
    Sms,
    /// An email.
    Email,
}

impl NoteType {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            NoteType::Text => "text",
            NoteType::System => "system",
            NoteType::Call => "call",
            NoteType::Sms => "sms",
            NoteType::Email => "email",
        }
    }
}

/// How a call ended (Kommo's call statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// A voicemail was left.
    Voicemail,
    /// Asked to call back later.
    CallBackLater,
    /// The other side was unreachable.
    Unavailable,
    /// The conversation took place.
    Held,
    /// Wrong number.
    WrongNumber,
    /// Nobody answered.
    NoAnswer,
    /// The line was busy.
    Busy,
}

impl CallStatus {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Voicemail => "voicemail",
            CallStatus::CallBackLater => "call_back_later",
            CallStatus::Unavailable => "unavailable",
            CallStatus::Held => "held",
            CallStatus::WrongNumber => "wrong_number",
            CallStatus::NoAnswer => "no_answer",
            CallStatus::Busy => "busy",
        }
    }
}

/// A note's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Note {
    /// The note type.
    pub note_type: NoteType,
    /// The note text or SMS text.
    #[serde(default)]
    pub text: String,
    /// For calls, SMS and emails.
    #[serde(default)]
    pub direction: Option<Direction>,
    /// For calls: the duration in seconds.
    #[serde(default)]
    pub call_duration_seconds: Option<u32>,
    /// For calls: how the call ended.
    #[serde(default)]
    pub call_status: Option<CallStatus>,
    /// For emails: the subject.
    #[serde(default)]
    pub email_subject: Option<String>,
}

/// A chat message's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Message {
    /// The message text.
    #[serde(default)]
    pub text: String,
    /// The channel (whatsapp, telegram, instagram…).
    #[serde(default)]
    pub channel: String,
    /// Incoming or outgoing.
    pub direction: Direction,
}
