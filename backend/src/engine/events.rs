//! Incoming traffic translated into domain events. Kommo's update webhooks carry the entity's new
//! state only, so which tags and fields changed is worked out against the state last seen
//! ([`SeenState`], remembered by [`super::records::swap_memory`]).

use std::collections::{BTreeMap, BTreeSet};

use domain::{
    event::{CallStatus, Direction, EntityRef, Event, EventKind, Message, Note, NoteType},
    path::EntityType,
};
use kommo::incoming::{
    AccountWebhook, DpRequest, EntityAction, WebhookEntity, WebhookEvent, WebhookNote, WebhookTalk,
};
use serde::{Deserialize, Serialize};

use super::talks::{TalkSeen, TalkSignal};

/// The tags and custom field values of an entity as a webhook showed them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenState {
    /// The entity type.
    pub entity_type: EntityType,
    /// The entity id.
    pub entity_id: i64,
    /// Kommo's `updated_at`, Unix seconds.
    pub updated_at: i64,
    /// Tag names.
    pub tags: Vec<String>,
    /// Custom field values as text, by field id.
    pub fields: BTreeMap<i64, Vec<String>>,
}

/// One item of incoming traffic, ready or nearly ready to be evaluated.
#[derive(Debug, Clone, PartialEq)]
pub enum IncomingItem {
    /// A complete event.
    Ready(Event),
    /// An entity was added or updated: the event, plus its state to compare with the last one seen
    /// (the differences become tag and field events).
    Changed {
        /// `EntityAdded` or `EntityUpdated`.
        event: Event,
        /// What the webhook showed.
        seen: SeenState,
    },
    /// A call, SMS or email note: its details (duration, call status…) are in the note's params,
    /// which the webhook does not carry.
    NoteDetails {
        /// The `NoteAdded` event, without the details.
        event: Event,
        /// The note.
        note_id: i64,
    },
    /// A task was closed: if we created it with result options, the chosen one starts its rule.
    TaskClosed {
        /// The task.
        task_id: i64,
    },
    /// A talk or one of its messages was seen: whether a conversation started or closed depends on
    /// what was seen of the talk before ([`super::talks`]).
    Talk(TalkSignal),
}

impl IncomingItem {
    /// The entity the item is about.
    pub fn entity(&self) -> Option<EntityRef> {
        match self {
            Self::Ready(event) | Self::Changed { event, .. } | Self::NoteDetails { event, .. } => {
                event.entity
            }
            Self::Talk(signal) => signal.entity,
            Self::TaskClosed { .. } => None,
        }
    }
}

/// The domain entity type of a Kommo `element_type` (1 contact, 2 lead, 3 company, 4 task).
pub fn element_type(code: Option<i64>) -> Option<EntityType> {
    match code? {
        1 => Some(EntityType::Contact),
        2 => Some(EntityType::Lead),
        3 => Some(EntityType::Company),
        4 => Some(EntityType::Task),
        _ => None,
    }
}

fn seen_state(entity_type: EntityType, entity: &WebhookEntity) -> SeenState {
    let mut tags: Vec<String> = entity.tags.iter().map(|t| t.name.clone()).collect();
    tags.sort();
    tags.dedup();
    let fields = entity
        .custom_fields
        .iter()
        .map(|f| {
            let mut values: Vec<String> = f
                .values
                .iter()
                .map(|v| match v.enum_id {
                    Some(id) => format!("{}#{id}", v.value),
                    None => v.value.clone(),
                })
                .collect();
            values.sort();
            (f.id, values)
        })
        .collect();
    SeenState {
        entity_type,
        entity_id: entity.id,
        updated_at: entity.updated_at.unwrap_or(0),
        tags,
        fields,
    }
}

fn entity_items(
    entity_type: EntityType,
    action: EntityAction,
    entity: &WebhookEntity,
) -> Vec<IncomingItem> {
    let about = |kind| Event::about(entity_type, entity.id, kind);
    match action {
        EntityAction::Add => {
            let mut items = vec![IncomingItem::Changed {
                event: about(EventKind::EntityAdded),
                seen: seen_state(entity_type, entity),
            }];
            if let (EntityType::Lead, Some(pipeline_id), Some(status_id)) =
                (entity_type, entity.pipeline_id, entity.status_id)
            {
                items.push(IncomingItem::Ready(about(EventKind::StatusChanged {
                    old_pipeline_id: None,
                    old_status_id: None,
                    pipeline_id,
                    status_id,
                    created: true,
                })));
            }
            items
        }
        EntityAction::Update => vec![IncomingItem::Changed {
            event: about(EventKind::EntityUpdated),
            seen: seen_state(entity_type, entity),
        }],
        EntityAction::Status => match (entity.pipeline_id, entity.status_id) {
            (Some(pipeline_id), Some(status_id)) => {
                vec![IncomingItem::Ready(about(EventKind::StatusChanged {
                    old_pipeline_id: entity.old_pipeline_id,
                    old_status_id: entity.old_status_id,
                    pipeline_id,
                    status_id,
                    created: false,
                }))]
            }
            _ => Vec::new(),
        },
        EntityAction::Responsible => {
            vec![IncomingItem::Ready(about(EventKind::ResponsibleChanged {
                old_user_id: entity.old_responsible_user_id,
                new_user_id: entity.responsible_user_id,
            }))]
        }
        EntityAction::Delete | EntityAction::Restore => Vec::new(),
    }
}

/// The domain note type of a Kommo `note_type` (name or legacy number).
pub fn note_type(code: &str) -> (NoteType, Option<Direction>) {
    match code {
        "call_in" | "10" => (NoteType::Call, Some(Direction::Incoming)),
        "call_out" | "11" => (NoteType::Call, Some(Direction::Outgoing)),
        "sms_in" | "102" => (NoteType::Sms, Some(Direction::Incoming)),
        "sms_out" | "103" => (NoteType::Sms, Some(Direction::Outgoing)),
        "mail_in" | "mail_message_in" => (NoteType::Email, Some(Direction::Incoming)),
        "mail_out" | "mail_message" | "mail_message_out" => {
            (NoteType::Email, Some(Direction::Outgoing))
        }
        // The notes API's name for mail (either way): its `params.income` tells the direction,
        // read with the note's details.
        "amomail_message" => (NoteType::Email, None),
        "service_message" | "extended_service_message" | "25" | "message_cashier" => {
            (NoteType::System, None)
        }
        _ => (NoteType::Text, None),
    }
}

/// Fills a note event's details from the note's `params` as the API returns them.
pub fn with_note_params(mut event: Event, params: &serde_json::Value) -> Event {
    if let EventKind::NoteAdded { note } = &mut event.kind {
        let int = |key: &str| {
            params.get(key).and_then(|v| {
                v.as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            })
        };
        note.call_duration_seconds = int("duration").and_then(|d| u32::try_from(d).ok());
        note.call_status = int("call_status").and_then(call_status);
        if note.text.is_empty() {
            if let Some(text) = params.get("text").and_then(|t| t.as_str()) {
                note.text = text.to_owned();
            }
        }
        if note.note_type == NoteType::Email && note.direction.is_none() {
            note.direction = params
                .get("income")
                .and_then(serde_json::Value::as_bool)
                .map(|income| {
                    if income {
                        Direction::Incoming
                    } else {
                        Direction::Outgoing
                    }
                });
        }
        note.email_subject = params
            .get("subject")
            .and_then(|t| t.as_str())
            .map(str::to_owned);
    }
    event
}

/// The domain call status of Kommo's `call_status` code.
pub fn call_status(code: i64) -> Option<CallStatus> {
    Some(match code {
        1 => CallStatus::Voicemail,
        2 => CallStatus::CallBackLater,
        3 => CallStatus::Unavailable,
        4 => CallStatus::Held,
        5 => CallStatus::WrongNumber,
        6 => CallStatus::NoAnswer,
        7 => CallStatus::Busy,
        _ => return None,
    })
}

fn note_items(note: &WebhookNote) -> Vec<IncomingItem> {
    let (Some(entity_type), Some(id)) = (element_type(note.element_type), note.element_id) else {
        return Vec::new();
    };
    let (note_type, direction) = note_type(&note.note_type);
    let event = Event::about(
        entity_type,
        id,
        EventKind::NoteAdded {
            note: Note {
                note_type,
                text: note.text.clone(),
                direction,
                call_duration_seconds: None,
                call_status: None,
                email_subject: None,
            },
        },
    );
    let mut items = vec![
        if note_type == NoteType::Text || note_type == NoteType::System {
            IncomingItem::Ready(event)
        } else {
            IncomingItem::NoteDetails {
                event,
                note_id: note.id,
            }
        },
    ];
    // A note changes its entity in Kommo ("any entity update, addition of a note, calls, chats …
    // cause the lead to change"), so it is also an update of the entity.
    if matches!(
        entity_type,
        EntityType::Lead | EntityType::Contact | EntityType::Company
    ) {
        items.push(IncomingItem::Ready(Event::about(
            entity_type,
            id,
            EventKind::EntityUpdated,
        )));
    }
    items
}

/// The lead a talk or message is about (`entity_type` lead), else its contact.
fn chat_entity(
    entity_type: &str,
    entity_id: Option<i64>,
    contact_id: Option<i64>,
) -> Option<EntityRef> {
    let (entity_type, id) = match (entity_type, entity_id) {
        ("lead" | "leads", Some(id)) => (EntityType::Lead, id),
        ("contact" | "contacts", Some(id)) => (EntityType::Contact, id),
        _ => (EntityType::Contact, contact_id?),
    };
    Some(EntityRef { entity_type, id })
}

fn message_items(message: &kommo::incoming::WebhookMessage) -> Vec<IncomingItem> {
    let entity = chat_entity(&message.entity_type, message.entity_id, message.contact_id);
    let direction = if message.direction == "outgoing" {
        Direction::Outgoing
    } else {
        Direction::Incoming
    };
    let mut items = Vec::new();
    if let Some(entity) = entity {
        items.push(IncomingItem::Ready(Event::about(
            entity.entity_type,
            entity.id,
            EventKind::MessageReceived {
                message: Message {
                    text: message.text.clone(),
                    channel: message.origin.clone(),
                    direction,
                },
            },
        )));
    }
    if let Some(talk_id) = message.talk_id {
        items.push(IncomingItem::Talk(TalkSignal {
            talk_id,
            origin: message.origin.clone(),
            entity,
            seen: TalkSeen::Message {
                direction,
                created_at: message.created_at,
            },
        }));
    }
    items
}

fn talk_item(action: EntityAction, talk: &WebhookTalk) -> Option<IncomingItem> {
    let added = match action {
        EntityAction::Add => true,
        EntityAction::Update => false,
        _ => return None,
    };
    Some(IncomingItem::Talk(TalkSignal {
        talk_id: talk.talk_id,
        origin: talk.origin.clone(),
        entity: chat_entity(&talk.entity_type, talk.entity_id, talk.contact_id),
        seen: TalkSeen::Talk {
            added,
            is_in_work: talk.is_in_work,
            updated_at: talk.updated_at,
            created_at: talk.created_at,
        },
    }))
}

/// The items of an account webhook, in body order.
pub fn from_account_webhook(webhook: &AccountWebhook) -> Vec<IncomingItem> {
    let mut items = Vec::new();
    for event in &webhook.events {
        match event {
            WebhookEvent::Lead(action, entity) => {
                items.extend(entity_items(EntityType::Lead, *action, entity));
            }
            WebhookEvent::Contact(action, entity) => {
                items.extend(entity_items(EntityType::Contact, *action, entity));
            }
            WebhookEvent::Company(action, entity) => {
                items.extend(entity_items(EntityType::Company, *action, entity));
            }
            WebhookEvent::Task(action, task) => match action {
                EntityAction::Add => items.push(IncomingItem::Ready(Event::about(
                    EntityType::Task,
                    task.id,
                    EventKind::EntityAdded,
                ))),
                EntityAction::Update => {
                    items.push(IncomingItem::Ready(Event::about(
                        EntityType::Task,
                        task.id,
                        EventKind::EntityUpdated,
                    )));
                    if task.completed {
                        items.push(IncomingItem::TaskClosed { task_id: task.id });
                    }
                }
                // `task[responsible]` (the `responsible_task` event): the manual's "task
                // responsible changed".
                EntityAction::Responsible => items.push(IncomingItem::Ready(Event::about(
                    EntityType::Task,
                    task.id,
                    EventKind::ResponsibleChanged {
                        old_user_id: task.old_responsible_user_id,
                        new_user_id: task.responsible_user_id,
                    },
                ))),
                EntityAction::Status | EntityAction::Delete | EntityAction::Restore => {}
            },
            WebhookEvent::Note(note) => items.extend(note_items(note)),
            WebhookEvent::Message(message) => items.extend(message_items(message)),
            WebhookEvent::Talk(action, talk) => items.extend(talk_item(*action, talk)),
            WebhookEvent::Other { .. } => {}
        }
    }
    items
}

/// The event of a digital-pipeline request.
pub fn from_dp_request(request: &DpRequest) -> Option<Event> {
    let event = &request.event;
    if event.element_type.is_some_and(|t| t != 2) {
        return None;
    }
    Some(Event::about(
        EntityType::Lead,
        event.entity_id,
        EventKind::DigitalPipeline {
            pipeline_id: event.pipeline_id.unwrap_or(0),
            status_id: event.status_id.unwrap_or(0),
        },
    ))
}

/// The events a change of tags and fields implies: tags added, tags removed, fields updated. A
/// newly added entity has no previous state; its tags count as added, its fields as set.
pub fn differences(previous: Option<&SeenState>, now: &SeenState) -> Vec<EventKind> {
    let empty_tags = Vec::new();
    let empty_fields = BTreeMap::new();
    let (old_tags, old_fields) = match previous {
        Some(p) => (&p.tags, &p.fields),
        None => (&empty_tags, &empty_fields),
    };
    let old: BTreeSet<&String> = old_tags.iter().collect();
    let new: BTreeSet<&String> = now.tags.iter().collect();
    let mut kinds: Vec<EventKind> = new
        .difference(&old)
        .map(|t| EventKind::TagAdded { tag: (*t).clone() })
        .collect();
    kinds.extend(
        old.difference(&new)
            .map(|t| EventKind::TagRemoved { tag: (*t).clone() }),
    );
    let ids: BTreeSet<i64> = old_fields
        .keys()
        .chain(now.fields.keys())
        .copied()
        .collect();
    for id in ids {
        let before = old_fields.get(&id).filter(|v| !v.is_empty());
        let after = now.fields.get(&id).filter(|v| !v.is_empty());
        if before != after {
            kinds.push(EventKind::FieldUpdated { field_id: id });
        }
    }
    kinds
}

/// An event a rule's trigger listens to, about `entity`: what a dry run evaluates when no event is
/// given (the first tag, field, channel… the trigger names).
pub fn sample_event(trigger: &domain::rule::Trigger, entity: Option<EntityRef>) -> Event {
    use domain::rule::{MessageFilter, StageEntry, Trigger};
    let direction = |filter: MessageFilter| match filter {
        MessageFilter::Outgoing => Direction::Outgoing,
        _ => Direction::Incoming,
    };
    let first = |list: &[String]| list.first().cloned().unwrap_or_default();
    let kind = match trigger {
        Trigger::EntityAdded { .. } => EventKind::EntityAdded,
        Trigger::EntityUpdated { .. } => EventKind::EntityUpdated,
        Trigger::ResponsibleChanged { .. } => EventKind::ResponsibleChanged {
            old_user_id: None,
            new_user_id: None,
        },
        Trigger::StatusChanged {
            pipeline_id,
            status_id,
            entry,
        } => EventKind::StatusChanged {
            old_pipeline_id: None,
            old_status_id: None,
            pipeline_id: pipeline_id.unwrap_or(0),
            status_id: status_id.unwrap_or(0),
            created: *entry == StageEntry::Created,
        },
        Trigger::NoteAdded { note_types, .. } => EventKind::NoteAdded {
            note: Note {
                note_type: note_types.first().copied().unwrap_or(NoteType::Text),
                text: String::new(),
                direction: None,
                call_duration_seconds: None,
                call_status: None,
                email_subject: None,
            },
        },
        Trigger::TagAdded { tags, .. } => EventKind::TagAdded { tag: first(tags) },
        Trigger::TagRemoved { tags, .. } => EventKind::TagRemoved { tag: first(tags) },
        Trigger::FieldUpdated { field_id, .. } => EventKind::FieldUpdated {
            field_id: *field_id,
        },
        Trigger::RelativeToDateField { .. }
        | Trigger::AtDateTime { .. }
        | Trigger::Recurring { .. } => EventKind::Scheduled,
        Trigger::ConversationStarted { by, channels } => EventKind::ConversationStarted {
            channel: first(channels),
            direction: direction(*by),
        },
        Trigger::ConversationClosed { channels, .. } => EventKind::ConversationClosed {
            channel: first(channels),
        },
        Trigger::IncomingMessage {
            direction: filter,
            channels,
            ..
        } => EventKind::MessageReceived {
            message: Message {
                text: String::new(),
                channel: first(channels),
                direction: direction(*filter),
            },
        },
        Trigger::OutgoingMessageSeen { channels, .. } => EventKind::OutgoingMessageSeen {
            channel: first(channels),
        },
        Trigger::Manual { .. } => EventKind::Manual { user_id: None },
        Trigger::InboundWebhook {
            hook_id,
            receiver_id,
            search,
        } => EventKind::InboundWebhook {
            hook_id: hook_id.clone(),
            receiver_id: *receiver_id,
            found: search.as_ref().map(|_| entity.is_some()),
        },
    };
    Event {
        entity,
        kind,
        vars: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(tags: &[&str], fields: &[(i64, &str)]) -> SeenState {
        SeenState {
            entity_type: EntityType::Lead,
            entity_id: 1,
            updated_at: 0,
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            fields: fields
                .iter()
                .map(|(id, v)| (*id, vec![(*v).to_owned()]))
                .collect(),
        }
    }

    #[test]
    fn a_sample_event_matches_its_trigger() {
        let triggers = [
            serde_json::json!({"kind": "entity_added", "entity": "lead"}),
            serde_json::json!({"kind": "status_changed", "pipeline_id": 3, "status_id": 4, "entry": "moved"}),
            serde_json::json!({"kind": "tag_removed", "entity": "lead", "tags": ["vip"]}),
            serde_json::json!({"kind": "note_added", "entity": "lead", "note_types": ["call"]}),
            serde_json::json!({"kind": "incoming_message", "channels": ["whatsapp"]}),
            serde_json::json!({"kind": "conversation_started", "by": "outgoing", "channels": ["waba"]}),
            serde_json::json!({"kind": "conversation_closed", "channels": ["telegram"], "delay_seconds": 60}),
            serde_json::json!({"kind": "recurring", "schedule": {"every": "daily", "at": "09:00:00"}}),
            serde_json::json!({"kind": "manual", "entity": "lead"}),
        ];
        let lead = Some(EntityRef {
            entity_type: EntityType::Lead,
            id: 1,
        });
        for trigger in triggers {
            let trigger: domain::rule::Trigger =
                serde_json::from_value(trigger.clone()).expect("a trigger");
            let event = sample_event(&trigger, lead);
            assert!(
                domain::eval::trigger_matches(&trigger, &event),
                "{trigger:?} vs {event:?}"
            );
        }
    }

    #[test]
    fn differences_name_tags_added_and_removed_and_fields_changed_or_cleared() {
        let before = seen(&["a", "b"], &[(1, "x"), (2, "y")]);
        let after = seen(&["b", "c"], &[(1, "x"), (3, "z")]);
        let kinds = differences(Some(&before), &after);
        assert_eq!(
            kinds,
            vec![
                EventKind::TagAdded { tag: "c".into() },
                EventKind::TagRemoved { tag: "a".into() },
                EventKind::FieldUpdated { field_id: 2 },
                EventKind::FieldUpdated { field_id: 3 },
            ]
        );
        assert!(differences(Some(&after), &after).is_empty());
    }

    #[test]
    fn a_lead_webhook_becomes_added_and_created_in_stage() {
        let body = b"account[id]=7&account[subdomain]=acme&leads[add][0][id]=5&leads[add][0][status_id]=11&leads[add][0][pipeline_id]=3&leads[add][0][tags][0][name]=vip";
        let webhook = kommo::incoming::parse_account_webhook(body).expect("parses");
        let items = from_account_webhook(&webhook);
        assert_eq!(items.len(), 2);
        assert!(matches!(&items[0], IncomingItem::Changed { event, seen }
            if event.kind == EventKind::EntityAdded && seen.tags == vec!["vip".to_owned()]));
        assert!(matches!(
            &items[1],
            IncomingItem::Ready(Event {
                kind: EventKind::StatusChanged {
                    created: true,
                    status_id: 11,
                    ..
                },
                ..
            })
        ));
    }

    #[test]
    fn a_task_responsible_webhook_becomes_a_responsible_change_of_the_task() {
        let body = b"account[id]=7&task[responsible][0][id]=8011&task[responsible][0][element_id]=5&task[responsible][0][element_type]=2&task[responsible][0][responsible_user_id]=102&task[responsible][0][old_responsible_user_id]=101";
        let webhook = kommo::incoming::parse_account_webhook(body).expect("parses");
        assert_eq!(
            from_account_webhook(&webhook),
            vec![IncomingItem::Ready(Event::about(
                EntityType::Task,
                8011,
                EventKind::ResponsibleChanged {
                    old_user_id: Some(101),
                    new_user_id: Some(102),
                },
            ))]
        );
    }

    #[test]
    fn talks_and_their_messages_become_talk_signals_about_the_lead_else_the_contact() {
        let body = b"account[id]=7&account[subdomain]=acme&talk[update][0][talk_id]=31&talk[update][0][contact_id]=4&talk[update][0][entity_id]=5&talk[update][0][entity_type]=lead&talk[update][0][is_in_work]=0&talk[update][0][updated_at]=100&talk[update][0][origin]=waba&message[add][0][id]=m&message[add][0][talk_id]=32&message[add][0][contact_id]=4&message[add][0][type]=outgoing&message[add][0][origin]=telegram";
        let webhook = kommo::incoming::parse_account_webhook(body).expect("parses");
        let items = from_account_webhook(&webhook);
        let lead = Some(EntityRef {
            entity_type: EntityType::Lead,
            id: 5,
        });
        let contact = Some(EntityRef {
            entity_type: EntityType::Contact,
            id: 4,
        });
        assert!(items.contains(&IncomingItem::Talk(TalkSignal {
            talk_id: 31,
            origin: "waba".into(),
            entity: lead,
            seen: TalkSeen::Talk {
                added: false,
                is_in_work: Some(false),
                updated_at: Some(100),
                created_at: None,
            },
        })));
        assert!(items.contains(&IncomingItem::Talk(TalkSignal {
            talk_id: 32,
            origin: "telegram".into(),
            entity: contact,
            seen: TalkSeen::Message {
                direction: Direction::Outgoing,
                created_at: None,
            },
        })));
    }

    #[test]
    fn a_call_note_on_a_lead_is_a_note_and_an_update_of_the_lead() {
        let body = b"account[id]=7&account[subdomain]=acme&leads[note][0][note][id]=9&leads[note][0][note][element_id]=5&leads[note][0][note][element_type]=2&leads[note][0][note][note_type]=call_in";
        let webhook = kommo::incoming::parse_account_webhook(body).expect("parses");
        let items = from_account_webhook(&webhook);
        assert!(
            matches!(&items[0], IncomingItem::NoteDetails { event: Event { kind: EventKind::NoteAdded { note }, .. }, note_id: 9 }
            if note.note_type == NoteType::Call && note.direction == Some(Direction::Incoming))
        );
        assert!(matches!(
            &items[1],
            IncomingItem::Ready(Event {
                kind: EventKind::EntityUpdated,
                ..
            })
        ));
    }

    #[test]
    fn a_mail_note_reads_its_direction_and_subject_from_the_notes_params() {
        let (note_type, direction) = note_type("amomail_message");
        assert_eq!((note_type, direction), (NoteType::Email, None));
        let note = |direction| {
            Event::about(
                EntityType::Contact,
                4,
                EventKind::NoteAdded {
                    note: Note {
                        note_type: NoteType::Email,
                        text: String::new(),
                        direction,
                        call_duration_seconds: None,
                        call_status: None,
                        email_subject: None,
                    },
                },
            )
        };
        for (income, expected) in [(true, Direction::Incoming), (false, Direction::Outgoing)] {
            let params = serde_json::json!({"income": income, "subject": "Invoice"});
            let EventKind::NoteAdded { note } = with_note_params(note(None), &params).kind else {
                panic!("a note");
            };
            assert_eq!(note.direction, Some(expected));
            assert_eq!(note.email_subject.as_deref(), Some("Invoice"));
        }
        // A type that names its direction keeps it.
        let params = serde_json::json!({"income": true});
        let EventKind::NoteAdded { note } =
            with_note_params(note(Some(Direction::Outgoing)), &params).kind
        else {
            panic!("a note");
        };
        assert_eq!(note.direction, Some(Direction::Outgoing));
    }
}
