//! The entity snapshot rules are evaluated against, read through the Kommo client: the event's lead
//! with its main contact and company (or the contact or company with its latest lead), their tasks,
//! and the account facts (timezone, users, custom field definitions), which come from the account's
//! cached schema (`engine::schema`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use domain::{
    event::EntityRef,
    path::EntityType,
    schema::Schema,
    snapshot::{
        Account, CustomFieldValue, EntitySnapshot, EnumValue, FieldType, FieldValue, LinkedCounts,
        MultitextEntry, Snapshot, TaskReads, TaskSnapshot, User, Utm, WeeklyHours,
    },
};
use kommo::{
    models::{CustomField, Entity, EntityKind, EnumOption, Task},
    AccountClient, KommoError, ListQuery,
};

/// What the engine needs to know about an account besides its entities.
#[derive(Debug, Clone)]
pub struct AccountFacts {
    /// The account's timezone.
    pub timezone: Tz,
    /// Its users.
    pub users: Vec<User>,
    /// Custom field definitions per entity kind.
    pub fields: HashMap<EntityKind, Vec<CustomField>>,
}

impl AccountFacts {
    /// The definition of a field of an entity kind.
    pub fn field(&self, kind: EntityKind, field_id: i64) -> Option<&CustomField> {
        self.fields
            .get(&kind)
            .and_then(|defs| defs.iter().find(|d| d.id == field_id))
    }

    /// The facts of an account's schema: its timezone (UTC when it names none the engine
    /// knows), its users, and its custom fields as Kommo defines them.
    pub fn from_schema(schema: &Schema) -> Self {
        let mut fields: HashMap<EntityKind, Vec<CustomField>> = HashMap::new();
        for field in &schema.fields {
            let Some(kind) = kind_of(field.entity) else {
                continue;
            };
            let field_type = if field.kommo_type.is_empty() {
                field.field_type.as_str().to_owned()
            } else {
                field.kommo_type.clone()
            };
            fields.entry(kind).or_default().push(CustomField {
                id: field.id,
                name: field.name.clone(),
                field_type,
                code: field.code.clone(),
                sort: field.sort,
                enums: field
                    .enums
                    .iter()
                    .map(|e| EnumOption {
                        id: e.id,
                        value: e.value.clone(),
                        code: e.code.clone(),
                        sort: e.sort,
                    })
                    .collect(),
            });
        }
        Self {
            timezone: schema.timezone.parse().unwrap_or(Tz::UTC),
            users: schema
                .users
                .iter()
                .flatten()
                .map(|u| User {
                    id: u.id,
                    name: u.name.clone(),
                })
                .collect(),
            fields,
        }
    }
}

/// The type a Kommo field type is read as, the way [`entity_snapshot`] reads its values: types
/// the engine does not know are read as text.
pub fn schema_field_type(kommo_type: &str) -> FieldType {
    match kommo_type {
        "numeric" | "price" => FieldType::Numeric,
        "checkbox" => FieldType::Checkbox,
        "select" | "radiobutton" | "category" => FieldType::Select,
        "multiselect" => FieldType::Multiselect,
        "date" => FieldType::Date,
        "birthday" => FieldType::Birthday,
        "date_time" => FieldType::DateTime,
        "multitext" => FieldType::Multitext,
        "textarea" => FieldType::Textarea,
        "url" => FieldType::Url,
        _ => FieldType::Text,
    }
}

/// The Kommo entity kind of a domain entity type (tasks have none).
pub fn kind_of(entity_type: EntityType) -> Option<EntityKind> {
    match entity_type {
        EntityType::Lead => Some(EntityKind::Leads),
        EntityType::Contact => Some(EntityKind::Contacts),
        EntityType::Company => Some(EntityKind::Companies),
        EntityType::Task => None,
    }
}

/// The job-table name of an entity type (`leads`, `contacts`, `companies`, `tasks`).
pub fn table_name(entity_type: EntityType) -> &'static str {
    match entity_type {
        EntityType::Lead => "leads",
        EntityType::Contact => "contacts",
        EntityType::Company => "companies",
        EntityType::Task => "tasks",
    }
}

fn instant(unix: i64) -> Option<DateTime<Utc>> {
    (unix > 0)
        .then(|| DateTime::from_timestamp(unix, 0))
        .flatten()
}

fn number(value: &serde_json::Value) -> Option<f64> {
    match value {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The typed value of one custom field of an entity as Kommo returned it.
fn field_value(
    values: &kommo::FieldValues,
    def: Option<&CustomField>,
    timezone: Tz,
) -> Option<FieldValue> {
    let kind = values
        .field_type
        .as_deref()
        .or(def.map(|d| d.field_type.as_str()))
        .unwrap_or("text");
    let first = values.values.first()?;
    let enum_value = |v: &kommo::fields::StoredFieldValue| EnumValue {
        enum_id: v.enum_id.unwrap_or(0),
        value: text(&v.value),
    };
    let date = |v: &serde_json::Value| {
        number(v)
            .and_then(|t| DateTime::from_timestamp(t as i64, 0))
            .or_else(|| {
                DateTime::parse_from_rfc3339(&text(v))
                    .ok()
                    .map(|d| d.with_timezone(&Utc))
            })
    };
    Some(match kind {
        "numeric" | "price" => FieldValue::Numeric(number(&first.value)?),
        "checkbox" => FieldValue::Checkbox(match &first.value {
            serde_json::Value::Bool(b) => *b,
            other => matches!(text(other).as_str(), "1" | "true"),
        }),
        "select" | "radiobutton" | "category" => FieldValue::Select(enum_value(first)),
        "multiselect" => FieldValue::Multiselect(values.values.iter().map(enum_value).collect()),
        "date" => FieldValue::Date(domain::value::local_date(
            date(&first.value)?,
            &timezone.into(),
        )),
        "birthday" => FieldValue::Birthday(domain::value::local_date(
            date(&first.value)?,
            &timezone.into(),
        )),
        "date_time" => FieldValue::DateTime(date(&first.value)?),
        "multitext" => FieldValue::Multitext(
            values
                .values
                .iter()
                .map(|v| MultitextEntry {
                    value: text(&v.value),
                    enum_code: v.enum_code.clone().unwrap_or_default(),
                })
                .collect(),
        ),
        "textarea" => FieldValue::Textarea(text(&first.value)),
        "url" => FieldValue::Url(text(&first.value)),
        _ => FieldValue::Text(text(&first.value)),
    })
}

/// A Kommo entity as the engine sees it (tasks and linked counts filled in by the caller).
pub fn entity_snapshot(entity: &Entity, kind: EntityKind, facts: &AccountFacts) -> EntitySnapshot {
    let mut utm = Utm::default();
    let mut custom_fields = Vec::new();
    for values in &entity.custom_fields_values {
        let def = facts.field(kind, values.field_id);
        let code = values
            .field_code
            .as_deref()
            .or(def.and_then(|d| d.code.as_deref()))
            .unwrap_or_default();
        let first_text = values.values.first().map(|v| text(&v.value));
        match code {
            "UTM_SOURCE" => utm.source = first_text.clone(),
            "UTM_MEDIUM" => utm.medium = first_text.clone(),
            "UTM_CAMPAIGN" => utm.campaign = first_text.clone(),
            "UTM_TERM" => utm.term = first_text.clone(),
            "UTM_CONTENT" => utm.content = first_text.clone(),
            _ => {}
        }
        if let Some(value) = field_value(values, def, facts.timezone) {
            custom_fields.push(CustomFieldValue {
                field_id: values.field_id,
                value,
            });
        }
    }
    let embedded = &entity.embedded;
    EntitySnapshot {
        id: entity.id,
        name: entity.name.clone(),
        price: entity.price.map(|p| p as f64),
        status_id: entity.status_id,
        pipeline_id: entity.pipeline_id,
        responsible_user_id: (entity.responsible_user_id != 0)
            .then_some(entity.responsible_user_id),
        created_at: instant(entity.created_at),
        updated_at: instant(entity.updated_at),
        closed_at: entity.closed_at.and_then(instant),
        source: None,
        utm,
        tags: embedded.tags.iter().map(|t| t.name.clone()).collect(),
        custom_fields,
        tasks: Vec::new(),
        linked: LinkedCounts {
            leads: u32::try_from(embedded.leads.len()).unwrap_or(u32::MAX),
            contacts: u32::try_from(embedded.contacts.len()).unwrap_or(u32::MAX),
            companies: u32::try_from(embedded.companies.len()).unwrap_or(u32::MAX),
        },
    }
}

/// A Kommo task as the engine sees it.
pub fn task_snapshot(task: &Task) -> TaskSnapshot {
    let entity_type = match task.entity_type.as_deref() {
        Some("leads") => Some(EntityType::Lead),
        Some("contacts") => Some(EntityType::Contact),
        Some("companies") => Some(EntityType::Company),
        _ => None,
    };
    TaskSnapshot {
        id: task.id,
        text: task.text.clone(),
        task_type_id: task.task_type_id,
        is_completed: task.is_completed,
        complete_till: instant(task.complete_till),
        created_at: instant(task.created_at),
        duration_seconds: Some(task.duration),
        result: task
            .result
            .get("text")
            .and_then(|t| t.as_str())
            .map(str::to_owned),
        responsible_user_id: (task.responsible_user_id != 0).then_some(task.responsible_user_id),
        entity_type,
    }
}

async fn tasks_of(
    client: &AccountClient,
    kind: EntityKind,
    id: i64,
) -> Result<Vec<TaskSnapshot>, KommoError> {
    let query = ListQuery::new()
        .entity_ids(&[id])
        .raw("filter[entity_type]", kind.plural());
    Ok(client
        .tasks(&query)
        .await?
        .iter()
        .map(task_snapshot)
        .collect())
}

async fn read_entity(
    client: &AccountClient,
    facts: &AccountFacts,
    kind: EntityKind,
    id: i64,
    with_tasks: bool,
) -> Result<(EntitySnapshot, Entity), KommoError> {
    let entity = client
        .entity(kind, id, &["contacts", "leads", "companies"])
        .await?;
    let mut snapshot = entity_snapshot(&entity, kind, facts);
    if with_tasks {
        snapshot.tasks = tasks_of(client, kind, id).await?;
    }
    Ok((snapshot, entity))
}

fn main_contact(entity: &Entity) -> Option<i64> {
    let contacts = &entity.embedded.contacts;
    contacts
        .iter()
        .find(|c| c.is_main == Some(true))
        .or_else(|| contacts.first())
        .map(|c| c.id)
}

/// Reads the tasks of the snapshot's lead, contact and company that `reads` names (with Kommo's
/// `GET /api/v4/tasks?filter[entity_type]=…&filter[entity_id][]=…`, one request per entity).
pub async fn read_tasks(
    client: &AccountClient,
    snapshot: &mut Snapshot,
    reads: TaskReads,
) -> Result<(), KommoError> {
    let entities = [
        (reads.lead, EntityKind::Leads, &mut snapshot.lead),
        (reads.contact, EntityKind::Contacts, &mut snapshot.contact),
        (reads.company, EntityKind::Companies, &mut snapshot.company),
    ];
    for (wanted, kind, entity) in entities {
        if let (true, Some(entity)) = (wanted, entity.as_mut()) {
            entity.tasks = tasks_of(client, kind, entity.id).await?;
        }
    }
    Ok(())
}

/// Reads the snapshot of an event's entity (or an empty one when the event has none): the
/// entity with its tasks, its related lead, contact and company, and the tasks of those that
/// `tasks` names. Returns the snapshot and whose tasks it holds.
pub async fn load_snapshot(
    client: &AccountClient,
    facts: &AccountFacts,
    entity: Option<EntityRef>,
    tasks: TaskReads,
) -> Result<(Snapshot, TaskReads), KommoError> {
    let mut snapshot = Snapshot {
        account: Account {
            timezone: facts.timezone.into(),
            users: facts.users.clone(),
            working_hours: WeeklyHours::default(),
        },
        lead: None,
        contact: None,
        company: None,
        task: None,
    };
    let Some(entity) = entity else {
        return Ok((snapshot, TaskReads::default()));
    };
    let (kind, id) = match entity.entity_type {
        EntityType::Task => {
            let found = client.tasks(&ListQuery::new().ids(&[entity.id])).await?;
            let Some(task) = found.first() else {
                return Err(KommoError::NotFound);
            };
            snapshot.task = Some(task_snapshot(task));
            match (task.entity_type.as_deref(), task.entity_id) {
                (Some("leads"), Some(id)) => (EntityKind::Leads, id),
                (Some("contacts"), Some(id)) => (EntityKind::Contacts, id),
                (Some("companies"), Some(id)) => (EntityKind::Companies, id),
                _ => return Ok((snapshot, TaskReads::default())),
            }
        }
        other => match kind_of(other) {
            Some(kind) => (kind, entity.id),
            None => return Ok((snapshot, TaskReads::default())),
        },
    };
    let own = TaskReads::of(match kind {
        EntityKind::Leads => EntityType::Lead,
        EntityKind::Contacts => EntityType::Contact,
        EntityKind::Companies => EntityType::Company,
    });
    let (main, read) = read_entity(client, facts, kind, id, true).await?;
    match kind {
        EntityKind::Leads => {
            let contact = main_contact(&read);
            let company = read.embedded.companies.first().map(|c| c.id);
            snapshot.lead = Some(main);
            if let Some(id) = contact {
                snapshot.contact = Some(
                    read_entity(client, facts, EntityKind::Contacts, id, false)
                        .await?
                        .0,
                );
            }
            if let Some(id) = company {
                snapshot.company = Some(
                    read_entity(client, facts, EntityKind::Companies, id, false)
                        .await?
                        .0,
                );
            }
        }
        EntityKind::Contacts | EntityKind::Companies => {
            let lead = read.embedded.leads.iter().map(|l| l.id).max();
            let company = read.embedded.companies.first().map(|c| c.id);
            if kind == EntityKind::Contacts {
                snapshot.contact = Some(main);
                if let Some(id) = company {
                    snapshot.company = Some(
                        read_entity(client, facts, EntityKind::Companies, id, false)
                            .await?
                            .0,
                    );
                }
            } else {
                snapshot.company = Some(main);
            }
            if let Some(id) = lead {
                snapshot.lead = Some(
                    read_entity(client, facts, EntityKind::Leads, id, false)
                        .await?
                        .0,
                );
            }
        }
    }
    read_tasks(client, &mut snapshot, tasks.without(own)).await?;
    Ok((snapshot, tasks.union(own)))
}
