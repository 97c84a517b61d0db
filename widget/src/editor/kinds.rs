//! Every trigger and action kind of the domain, each with a starting value the builder's form opens
//! with. The lists are exhaustive: [`trigger_kinds`] and [`action_kinds`] match on the domain's enums
//! without a wildcard, so a new kind in `domain` does not compile until it is offered here.

use domain::path::{EntityRole, EntityType};
use domain::rule::{
    Action, ActionKind, Block, ElseScenario, EmailRecipient, Frequency, HttpMethod, MessageFilter,
    Recurrence, Rule, StageEntry, TagChange, TaskScope, Timer, Trigger, VariableChange,
    CURRENT_SCHEMA_VERSION,
};
use domain::schema::Schema;
use domain::snapshot::FieldType;
use domain::template::Template;

/// A new rule: a lead-added trigger and one empty block.
pub fn new_rule() -> Rule {
    Rule {
        schema_version: CURRENT_SCHEMA_VERSION,
        name: "New rule".into(),
        description: String::new(),
        enabled: true,
        trigger: Trigger::EntityAdded {
            entity: EntityType::Lead,
        },
        blocks: vec![Block {
            id: 1,
            name: String::new(),
            delay_seconds: 0,
            conditions: Vec::new(),
            actions: Vec::new(),
        }],
        else_scenario: None::<ElseScenario>,
        frequency: Frequency::default(),
        active_hours: None,
    }
}

/// The i18n key of why a kind Kommo cannot serve (`domain::unavailable`, the list the backend
/// refuses to save with) is offered disabled; exhaustive, so a new one needs its text here.
pub fn unavailable_text(what: domain::unavailable::Unavailable) -> &'static str {
    use domain::unavailable::Unavailable as U;
    match what {
        U::OutgoingMessageSeen => "trg_unavailable_seen",
        U::ChatSubscription => "act_unavailable_chat_subscription",
    }
}

/// The name of every trigger kind, in the order the picker offers them.
pub const TRIGGER_KINDS: &[&str] = &[
    "entity_added",
    "entity_updated",
    "responsible_changed",
    "status_changed",
    "note_added",
    "tag_added",
    "tag_removed",
    "field_updated",
    "relative_to_date_field",
    "at_date_time",
    "recurring",
    "conversation_started",
    "conversation_closed",
    "incoming_message",
    "outgoing_message_seen",
    "manual",
    "inbound_webhook",
];

/// The starting value of a trigger kind, using the account's first field or pipeline where the
/// kind needs one; `None` for an unknown name.
pub fn trigger_of_kind(kind: &str, schema: &Schema) -> Option<Trigger> {
    let lead = EntityType::Lead;
    let date_field = schema
        .fields
        .iter()
        .find(|f| {
            f.entity == lead
                && matches!(
                    f.field_type,
                    FieldType::Date | FieldType::DateTime | FieldType::Birthday
                )
        })
        .map_or(0, |f| f.id);
    let any_field = schema
        .fields
        .iter()
        .find(|f| f.entity == lead)
        .map_or(0, |f| f.id);
    let nine = chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap_or(chrono::NaiveTime::MIN);
    Some(match kind {
        "entity_added" => Trigger::EntityAdded { entity: lead },
        "entity_updated" => Trigger::EntityUpdated { entity: lead },
        "responsible_changed" => Trigger::ResponsibleChanged { entity: lead },
        "status_changed" => Trigger::StatusChanged {
            pipeline_id: None,
            status_id: None,
            entry: StageEntry::CreatedOrMoved,
        },
        "note_added" => Trigger::NoteAdded {
            entity: lead,
            note_types: Vec::new(),
        },
        "tag_added" => Trigger::TagAdded {
            entity: lead,
            tags: Vec::new(),
        },
        "tag_removed" => Trigger::TagRemoved {
            entity: lead,
            tags: Vec::new(),
        },
        "field_updated" => Trigger::FieldUpdated {
            entity: lead,
            field_id: any_field,
        },
        "relative_to_date_field" => Trigger::RelativeToDateField {
            entity: lead,
            field_id: date_field,
            offset_hours: -24,
        },
        "at_date_time" => Trigger::AtDateTime {
            date: chrono::NaiveDate::from_ymd_opt(2030, 1, 1).unwrap_or_default(),
            at: nine,
        },
        "recurring" => Trigger::Recurring {
            schedule: Recurrence::Daily { at: nine },
        },
        "conversation_started" => Trigger::ConversationStarted {
            by: MessageFilter::Any,
            channels: Vec::new(),
        },
        "conversation_closed" => Trigger::ConversationClosed {
            channels: Vec::new(),
            delay_seconds: 0,
        },
        "incoming_message" => Trigger::IncomingMessage {
            direction: MessageFilter::Incoming,
            channels: Vec::new(),
            cooldown_seconds: 0,
        },
        "outgoing_message_seen" => Trigger::OutgoingMessageSeen {
            channels: Vec::new(),
            delay_seconds: 0,
        },
        "manual" => Trigger::Manual { entity: lead },
        "inbound_webhook" => Trigger::InboundWebhook {
            hook_id: String::new(),
            receiver_id: None,
            search: None,
        },
        _ => return None,
    })
}

/// The kind name of a trigger (exhaustive through the domain's own `name`).
pub fn trigger_kind(trigger: &Trigger) -> &'static str {
    trigger.name()
}

/// The name of every action kind, in the order the "Add action" menu offers them.
pub const ACTION_KINDS: &[&str] = &[
    "change_fields",
    "change_status",
    "change_responsible",
    "create_task",
    "change_task",
    "add_note",
    "change_tags",
    "create_lead",
    "create_contact",
    "create_company",
    "copy_lead",
    "execute_rule",
    "run_salesbot",
    "send_webhook",
    "send_email",
    "chat_subscription",
    "cancel_delayed",
    "change_global_variable",
];

/// The starting value of an action kind, with the account's first pipeline, stage and task type
/// where the kind needs one; `None` for an unknown name.
pub fn action_of_kind(kind: &str, schema: &Schema) -> Option<Action> {
    let role = EntityRole::Lead;
    let t = |s: &str| Template::new(s);
    let (pipeline_id, status_id) = schema
        .pipelines
        .as_ref()
        .and_then(|p| p.first())
        .map_or((0, 0), |p| (p.id, p.stages.first().map_or(0, |s| s.id)));
    let task_type_id = schema.task_types.first().map_or(1, |t| t.id);
    let first_user = schema
        .users
        .as_ref()
        .and_then(|u| u.first())
        .map_or(0, |u| u.id);
    let kind = match kind {
        "create_lead" => ActionKind::CreateLead {
            name: t(""),
            tags: None,
            responsible: None,
            pipeline_id: None,
            status_id: None,
            fields: Vec::new(),
            attach_company_contacts: false,
        },
        "create_contact" => ActionKind::CreateContact {
            name: t(""),
            attach_to: role,
            responsible: None,
            fields: Vec::new(),
        },
        "create_company" => ActionKind::CreateCompany {
            name: t(""),
            attach_to: role,
            responsible: None,
            fields: Vec::new(),
        },
        "copy_lead" => ActionKind::CopyLead { name: None },
        "change_fields" => ActionKind::ChangeFields {
            entity: role,
            fields: Vec::new(),
        },
        "create_task" => ActionKind::CreateTask {
            entity: role,
            responsible: None,
            task_type_id,
            complete_in_seconds: 3600,
            text: t(""),
            results: Vec::new(),
        },
        "change_task" => ActionKind::ChangeTask {
            entity: role,
            task_type_id: None,
            scope: TaskScope::All,
            responsible: None,
            new_task_type_id: None,
            completed: Some(true),
            text: None,
        },
        "add_note" => ActionKind::AddNote {
            entity: role,
            text: t(""),
            system: false,
        },
        "change_tags" => ActionKind::ChangeTags {
            entity: role,
            change: TagChange::Add,
            tags: Some(t("")),
        },
        "change_status" => ActionKind::ChangeStatus {
            pipeline_id,
            status_id,
        },
        "change_responsible" => ActionKind::ChangeResponsible {
            entity: role,
            user: domain::rule::UserChoice::User(first_user),
            in_contacts: false,
            in_companies: false,
            in_open_tasks: false,
        },
        "execute_rule" => ActionKind::ExecuteRule {
            entity: role,
            rule_id: 0,
        },
        "run_salesbot" => ActionKind::RunSalesbot {
            entity: role,
            bot_id: schema
                .salesbots
                .as_ref()
                .and_then(|b| b.first())
                .map_or(0, |b| b.id),
        },
        "send_webhook" => ActionKind::SendWebhook {
            method: HttpMethod::Post,
            url: t("https://"),
            headers: Vec::new(),
            body: Vec::new(),
            parse_response: false,
            follow_up_rule_id: None,
        },
        "send_email" => ActionKind::SendEmail {
            sender_user_id: first_user,
            recipient: EmailRecipient::Automatic,
            template_id: 0,
        },
        "chat_subscription" => ActionKind::ChatSubscription {
            subscribe: true,
            user_ids: Vec::new(),
            user_ids_from: None,
        },
        "cancel_delayed" => ActionKind::CancelDelayed {
            rule_id: None,
            block_id: None,
            action_id: None,
        },
        "change_global_variable" => ActionKind::ChangeGlobalVariable {
            name: String::new(),
            change: VariableChange::Set,
            value: t(""),
        },
        _ => return None,
    };
    Some(Action {
        id: 0,
        name: String::new(),
        timer: Timer::None,
        replace_pending: false,
        kind,
    })
}

/// The position of a trigger's kind in [`TRIGGER_KINDS`]; a match without a wildcard, so a new
/// trigger kind of the domain does not compile until the builder offers it.
pub fn trigger_index(trigger: &Trigger) -> usize {
    match trigger {
        Trigger::EntityAdded { .. } => 0,
        Trigger::EntityUpdated { .. } => 1,
        Trigger::ResponsibleChanged { .. } => 2,
        Trigger::StatusChanged { .. } => 3,
        Trigger::NoteAdded { .. } => 4,
        Trigger::TagAdded { .. } => 5,
        Trigger::TagRemoved { .. } => 6,
        Trigger::FieldUpdated { .. } => 7,
        Trigger::RelativeToDateField { .. } => 8,
        Trigger::AtDateTime { .. } => 9,
        Trigger::Recurring { .. } => 10,
        Trigger::ConversationStarted { .. } => 11,
        Trigger::ConversationClosed { .. } => 12,
        Trigger::IncomingMessage { .. } => 13,
        Trigger::OutgoingMessageSeen { .. } => 14,
        Trigger::Manual { .. } => 15,
        Trigger::InboundWebhook { .. } => 16,
    }
}

/// The position of an action's kind in [`ACTION_KINDS`]; exhaustive like [`trigger_index`].
pub fn action_index(kind: &ActionKind) -> usize {
    match kind {
        ActionKind::ChangeFields { .. } => 0,
        ActionKind::ChangeStatus { .. } => 1,
        ActionKind::ChangeResponsible { .. } => 2,
        ActionKind::CreateTask { .. } => 3,
        ActionKind::ChangeTask { .. } => 4,
        ActionKind::AddNote { .. } => 5,
        ActionKind::ChangeTags { .. } => 6,
        ActionKind::CreateLead { .. } => 7,
        ActionKind::CreateContact { .. } => 8,
        ActionKind::CreateCompany { .. } => 9,
        ActionKind::CopyLead { .. } => 10,
        ActionKind::ExecuteRule { .. } => 11,
        ActionKind::RunSalesbot { .. } => 12,
        ActionKind::SendWebhook { .. } => 13,
        ActionKind::SendEmail { .. } => 14,
        ActionKind::ChatSubscription { .. } => 15,
        ActionKind::CancelDelayed { .. } => 16,
        ActionKind::ChangeGlobalVariable { .. } => 17,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_trigger_kind_has_a_starting_value_of_that_kind() {
        let schema = Schema::default();
        for kind in TRIGGER_KINDS {
            let t = trigger_of_kind(kind, &schema).unwrap_or_else(|| panic!("{kind}"));
            assert_eq!(trigger_kind(&t), *kind);
            assert_eq!(TRIGGER_KINDS[trigger_index(&t)], *kind);
        }
        assert!(trigger_of_kind("teleport", &schema).is_none());
    }

    #[test]
    fn every_action_kind_has_a_starting_value_of_that_kind() {
        let schema = Schema::default();
        for kind in ACTION_KINDS {
            let a = action_of_kind(kind, &schema).unwrap_or_else(|| panic!("{kind}"));
            assert_eq!(a.kind.name(), *kind);
            assert_eq!(ACTION_KINDS[action_index(&a.kind)], *kind);
        }
    }
}
