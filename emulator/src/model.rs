//! The data of one emulated Kommo account (entities, tags, custom fields, pipelines, users, tasks,
//! notes, links, events, webhook subscriptions) and how it renders to Kommo's JSON.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{json, Map, Value};

use crate::clock::UnixMillis;
use crate::ratelimit::{RequestWindow, TrafficCounters};

/// The three CRM entity kinds that share one CRUD shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKind {
    /// `/api/v4/leads`
    Leads,
    /// `/api/v4/contacts`
    Contacts,
    /// `/api/v4/companies`
    Companies,
}

impl EntityKind {
    /// Parses the path segment (`leads`, `contacts`, `companies`).
    pub fn parse(segment: &str) -> Option<Self> {
        match segment {
            "leads" => Some(Self::Leads),
            "contacts" => Some(Self::Contacts),
            "companies" => Some(Self::Companies),
            _ => None,
        }
    }

    /// The plural name used in paths and `_embedded`.
    pub fn plural(self) -> &'static str {
        match self {
            Self::Leads => "leads",
            Self::Contacts => "contacts",
            Self::Companies => "companies",
        }
    }

    /// The singular name used in webhook settings (`add_lead`) and events (`lead_added`).
    pub fn singular(self) -> &'static str {
        match self {
            Self::Leads => "lead",
            Self::Contacts => "contact",
            Self::Companies => "company",
        }
    }

    /// Kommo's numeric element type: 1 contact, 2 lead, 3 company.
    pub fn element_type(self) -> i64 {
        match self {
            Self::Contacts => 1,
            Self::Leads => 2,
            Self::Companies => 3,
        }
    }

    /// All three kinds.
    pub const ALL: [EntityKind; 3] = [Self::Leads, Self::Contacts, Self::Companies];
}

/// One enum option of a select, multiselect or multitext field.
#[derive(Debug, Clone)]
pub struct EnumOption {
    /// Enum id.
    pub id: i64,
    /// Display value.
    pub value: String,
    /// Code (multitext fields: `WORK`, `MOB`, ...).
    pub code: Option<String>,
}

/// A custom field definition.
#[derive(Debug, Clone)]
pub struct CustomFieldDef {
    /// Field id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Code (`PHONE`, `EMAIL`) or none.
    pub code: Option<String>,
    /// Kommo type: text, numeric, checkbox, select, multiselect, date, date_time, birthday, url,
    /// textarea, multitext, radiobutton, streetaddress.
    pub field_type: String,
    /// Sort order.
    pub sort: i64,
    /// Options of enum-typed fields.
    pub enums: Vec<EnumOption>,
}

/// The field types the emulator accepts.
pub const FIELD_TYPES: [&str; 13] = [
    "text",
    "numeric",
    "checkbox",
    "select",
    "multiselect",
    "date",
    "date_time",
    "birthday",
    "url",
    "textarea",
    "multitext",
    "radiobutton",
    "streetaddress",
];

/// One stored value of a custom field.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredValue {
    /// The value as Kommo renders it.
    pub value: Value,
    /// Enum id for enum-typed fields.
    pub enum_id: Option<i64>,
    /// Enum code for multitext fields.
    pub enum_code: Option<String>,
}

/// A lead, contact or company.
#[derive(Debug, Clone, Default)]
pub struct Record {
    /// Entity id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Contacts only.
    pub first_name: String,
    /// Contacts only.
    pub last_name: String,
    /// Leads only.
    pub price: i64,
    /// Leads only.
    pub pipeline_id: i64,
    /// Leads only.
    pub status_id: i64,
    /// Leads only.
    pub loss_reason_id: Option<i64>,
    /// Leads only: set when the lead reaches 142 or 143.
    pub closed_at: Option<i64>,
    /// Responsible user.
    pub responsible_user_id: i64,
    /// Creator (0 = robot).
    pub created_by: i64,
    /// Last editor.
    pub updated_by: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// Custom field values by field id, in the order they were first set.
    pub custom_fields: Vec<(i64, Vec<StoredValue>)>,
    /// Tag ids.
    pub tags: Vec<i64>,
}

/// A task.
#[derive(Debug, Clone, Default)]
pub struct Task {
    /// Task id.
    pub id: i64,
    /// Text.
    pub text: String,
    /// Deadline, unix seconds.
    pub complete_till: i64,
    /// Linked entity.
    pub entity: Option<(EntityKind, i64)>,
    /// 1 call, 2 meeting, or a custom type id.
    pub task_type_id: i64,
    /// Responsible user.
    pub responsible_user_id: i64,
    /// Duration in seconds.
    pub duration: i64,
    /// Completed or not.
    pub is_completed: bool,
    /// Result text given on completion.
    pub result_text: Option<String>,
    /// Creator.
    pub created_by: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// A note on an entity.
#[derive(Debug, Clone)]
pub struct Note {
    /// Note id.
    pub id: i64,
    /// The entity it belongs to.
    pub entity: (EntityKind, i64),
    /// `common`, `call_in`, `call_out`, `service_message`, `sms_in`, `sms_out`, ...
    pub note_type: String,
    /// Type-specific parameters.
    pub params: Value,
    /// Creator.
    pub created_by: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// Pinned by `/notes/{id}/pin`.
    pub is_pinned: bool,
}

/// A pipeline stage.
#[derive(Debug, Clone)]
pub struct Status {
    /// Status id (142 won and 143 lost exist in every pipeline).
    pub id: i64,
    /// Name.
    pub name: String,
    /// Sort.
    pub sort: i64,
    /// 1 for the "incoming leads" stage, else 0.
    pub status_type: i64,
    /// Colour.
    pub color: String,
}

/// A pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Pipeline id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Sort.
    pub sort: i64,
    /// The main pipeline takes leads created without a pipeline.
    pub is_main: bool,
    /// Stages, system stages 142 and 143 last.
    pub statuses: Vec<Status>,
}

/// Our widget's digital-pipeline action placed on a stage.
#[derive(Debug, Clone)]
pub struct DpAction {
    /// Pipeline of the stage.
    pub pipeline_id: i64,
    /// Stage that triggers the action.
    pub status_id: i64,
    /// The widget's `dp.webhook_url`.
    pub webhook_url: String,
    /// The action's saved `dp.settings` values.
    pub settings: BTreeMap<String, String>,
}

/// An account webhook subscription (`/api/v4/webhooks`).
#[derive(Debug, Clone)]
pub struct WebhookSubscription {
    /// Id.
    pub id: i64,
    /// Destination URL (the key: same destination = update).
    pub destination: String,
    /// Event codes (`add_lead`, `status_lead`, ...).
    pub settings: Vec<String>,
    /// Sort.
    pub sort: i64,
    /// Disabled after too many invalid responses.
    pub disabled: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// Times of invalid responses in the last 2 hours.
    pub invalid_responses: VecDeque<UnixMillis>,
}

/// An OAuth integration installed in the account.
#[derive(Debug, Clone)]
pub struct Integration {
    /// The integration id (`client_id`, `client_uuid` in disposable tokens).
    pub client_id: String,
    /// The secret that signs disposable tokens.
    pub client_secret: String,
    /// The redirect URI; its origin is the disposable tokens' `aud`.
    pub redirect_uri: String,
}

/// A user.
#[derive(Debug, Clone)]
pub struct User {
    /// User id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Admin rights.
    pub is_admin: bool,
    /// May log in (a deactivated user keeps its id).
    pub is_active: bool,
    /// The user's group; 0 for none.
    pub group_id: i64,
}

/// A task type (`_embedded.task_types` of the account).
#[derive(Debug, Clone)]
pub struct TaskType {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Colour, if set.
    pub color: Option<String>,
    /// Icon, if set.
    pub icon_id: Option<i64>,
    /// Code of Kommo's own types (`FOLLOW_UP`, `MEETING`).
    pub code: Option<String>,
}

/// A group of users (`_embedded.users_groups` of the account).
#[derive(Debug, Clone)]
pub struct UserGroup {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
}

/// A loss reason (`/api/v4/leads/loss_reasons`).
#[derive(Debug, Clone)]
pub struct LossReason {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Place in the list.
    pub sort: i64,
}

/// A Salesbot (`/api/v4/bots`).
#[derive(Debug, Clone)]
pub struct Bot {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Switched on.
    pub active: bool,
    /// Its widget step, if it has one.
    pub widget_request: Option<WidgetRequestStep>,
}

/// A bot step `{handler: "widget_request", params: {url, data}}` (kommo-platform.md §7, S6: the
/// step a widget's `onSalesbotDesignerSave` writes): running the bot POSTs to `url`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct WidgetRequestStep {
    /// Where Kommo sends the step's request.
    pub url: String,
    /// The step's `data`, sent as configured.
    #[serde(default)]
    pub data: serde_json::Value,
}

/// One execution of a bot's widget step: sent, then waiting until the integration continues it
/// (`POST /api/v4/salesbot/{bot_id}/continue/{continue_id}`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct BotStep {
    /// `salesbot` (the bots of `/api/v4/bots`).
    pub bot_type: String,
    /// The bot.
    pub bot_id: i64,
    /// The step's continue id.
    pub continue_id: i64,
    /// `leads` or `contacts`.
    pub entity_type: String,
    /// The entity the bot runs on.
    pub entity_id: i64,
    /// Where the request went.
    pub url: String,
    /// `waiting` or `continued`.
    pub status: String,
    /// The `data` of the continue.
    pub continued_data: Option<serde_json::Value>,
    /// The `execute_handlers` of the continue.
    pub execute_handlers: Option<serde_json::Value>,
    /// When it was continued, Unix seconds.
    pub continued_at: Option<i64>,
    /// Continue requests refused for this step (continued already).
    pub refused_continues: u32,
}

/// A fault a test injected for the next matching requests.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Answer with this status (5xx) instead of handling the request.
    Status {
        /// The status code.
        status: u16,
    },
    /// Answer 429 like the rate limiter does.
    TooManyRequests,
    /// Hang until the client gives up; with `after_apply` the request is applied first.
    Timeout {
        /// Apply the request before hanging (the client cannot know it landed).
        #[serde(default)]
        after_apply: bool,
    },
    /// Delay the answer by this many real milliseconds.
    Latency {
        /// Delay in ms.
        ms: u64,
    },
}

/// A queued fault with the number of requests it still applies to.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct FaultRule {
    /// The fault.
    #[serde(flatten)]
    pub fault: Fault,
    /// How many matching requests it affects.
    #[serde(default = "one")]
    pub count: u32,
    /// Only requests with this method (`GET`, `POST`, `PATCH`), if set.
    #[serde(default)]
    pub method: Option<String>,
}

fn one() -> u32 {
    1
}

/// An entity addressed by kind and id.
pub type EntityRef = (EntityKind, i64);

/// One emulated account.
#[derive(Debug, Default)]
pub struct Account {
    /// Account id.
    pub id: i64,
    /// Subdomain: the account's address.
    pub subdomain: String,
    /// Name.
    pub name: String,
    /// IANA timezone.
    pub timezone: String,
    /// Currency code.
    pub currency: String,
    /// Language code.
    pub language: String,
    /// Users.
    pub users: Vec<User>,
    /// User groups.
    pub user_groups: Vec<UserGroup>,
    /// Task types.
    pub task_types: Vec<TaskType>,
    /// Loss reasons.
    pub loss_reasons: Vec<LossReason>,
    /// Salesbots.
    pub bots: Vec<Bot>,
    /// Pipelines.
    pub pipelines: Vec<Pipeline>,
    /// Custom field definitions per entity kind.
    pub custom_fields: BTreeMap<EntityKind, Vec<CustomFieldDef>>,
    /// Tag dictionary per entity kind: id -> name.
    pub tags: BTreeMap<EntityKind, BTreeMap<i64, String>>,
    /// Entities per kind.
    pub records: BTreeMap<EntityKind, BTreeMap<i64, Record>>,
    /// Tasks.
    pub tasks: BTreeMap<i64, Task>,
    /// Notes.
    pub notes: BTreeMap<i64, Note>,
    /// Links (from, to) with `is_main` for contacts.
    pub links: BTreeMap<(EntityRef, EntityRef), bool>,
    /// Events, oldest first.
    pub events: Vec<Value>,
    /// Webhook subscriptions.
    pub webhooks: Vec<WebhookSubscription>,
    /// Digital-pipeline actions of our widget.
    pub dp_actions: Vec<DpAction>,
    /// Salesbot runs requested through the API.
    pub salesbot_runs: Vec<Value>,
    /// Executions of bots' widget steps, oldest first.
    pub bot_steps: Vec<BotStep>,
    /// Installed integrations.
    pub integrations: Vec<Integration>,
    /// Next id for anything.
    pub next_id: i64,
    /// The rate-limit window.
    pub window: RequestWindow,
    /// Traffic counters.
    pub counters: TrafficCounters,
    /// Set after repeated rate-limit excess; every request is then 403.
    pub blocked: bool,
    /// Injected faults, consumed front first.
    pub faults: VecDeque<FaultRule>,
    /// Conversations, by talk id.
    pub talks: BTreeMap<i64, Talk>,
    /// Chats by (contact, channel): the chat id.
    pub chats: BTreeMap<(i64, String), String>,
}

/// A conversation (talk) in a chat: opened by a message when the chat has no open talk, closed by
/// a manager or `POST /api/v4/talks/{id}/close`.
#[derive(Debug, Clone, PartialEq)]
pub struct Talk {
    /// Talk id.
    pub id: i64,
    /// The chat it belongs to.
    pub chat_id: String,
    /// The contact of the chat.
    pub contact_id: i64,
    /// The lead the conversation is about, if any.
    pub lead_id: Option<i64>,
    /// Channel (`whatsapp`, `telegram`, ...).
    pub origin: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// NPS rating (0: none).
    pub rate: i64,
    /// Open (not closed).
    pub is_in_work: bool,
    /// Read by a manager.
    pub is_read: bool,
}

impl Account {
    /// A fresh id (ids are unique across everything in the account).
    pub fn allocate_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// The custom field definitions of `kind`.
    pub fn fields(&self, kind: EntityKind) -> &[CustomFieldDef] {
        self.custom_fields
            .get(&kind)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Finds a status by id, preferring `pipeline_id` when given (142/143 exist in every pipeline).
    pub fn find_status(&self, pipeline_id: Option<i64>, status_id: i64) -> Option<(i64, &Status)> {
        let pipelines = self
            .pipelines
            .iter()
            .filter(|p| pipeline_id.is_none_or(|id| p.id == id));
        let mut fallback = None;
        for pipeline in pipelines {
            if let Some(status) = pipeline.statuses.iter().find(|s| s.id == status_id) {
                if pipeline.is_main || pipeline_id.is_some() {
                    return Some((pipeline.id, status));
                }
                fallback.get_or_insert((pipeline.id, status));
            }
        }
        fallback
    }

    /// The main pipeline.
    pub fn main_pipeline(&self) -> Option<&Pipeline> {
        self.pipelines
            .iter()
            .find(|p| p.is_main)
            .or(self.pipelines.first())
    }

    /// A tag id for `name` in `kind`'s dictionary, created when missing.
    pub fn tag_by_name(&mut self, kind: EntityKind, name: &str) -> i64 {
        if let Some((id, _)) = self
            .tags
            .get(&kind)
            .and_then(|tags| tags.iter().find(|(_, n)| n.as_str() == name))
        {
            return *id;
        }
        let id = self.allocate_id();
        self.tags
            .entry(kind)
            .or_default()
            .insert(id, name.to_owned());
        id
    }

    /// The tag name of an id.
    pub fn tag_name(&self, kind: EntityKind, id: i64) -> Option<&str> {
        self.tags
            .get(&kind)
            .and_then(|tags| tags.get(&id))
            .map(String::as_str)
    }

    /// Renders custom field values the way the API returns them (`null` when there are none).
    pub fn render_custom_fields(
        &self,
        kind: EntityKind,
        values: &[(i64, Vec<StoredValue>)],
    ) -> Value {
        if values.is_empty() {
            return Value::Null;
        }
        let defs = self.fields(kind);
        Value::Array(
            values
                .iter()
                .map(|(field_id, stored)| {
                    let def = defs.iter().find(|d| d.id == *field_id);
                    json!({
                        "field_id": field_id,
                        "field_name": def.map(|d| d.name.clone()),
                        "field_code": def.and_then(|d| d.code.clone()),
                        "field_type": def.map(|d| d.field_type.clone()),
                        "is_computed": false,
                        "values": stored.iter().map(render_stored_value).collect::<Vec<_>>(),
                    })
                })
                .collect(),
        )
    }

    /// Renders one entity as the API returns it.
    pub fn render_record(
        &self,
        kind: EntityKind,
        record: &Record,
        base: &str,
        with: &[&str],
    ) -> Value {
        let tags: Vec<Value> = record
            .tags
            .iter()
            .map(|id| json!({"id": id, "name": self.tag_name(kind, *id), "color": null}))
            .collect();
        let mut embedded = Map::new();
        embedded.insert("tags".into(), Value::Array(tags));
        for other in EntityKind::ALL {
            if other == kind {
                continue;
            }
            let always = other == EntityKind::Companies;
            if !always && !with.contains(&other.plural()) {
                continue;
            }
            let linked: Vec<Value> = self
                .linked(kind, record.id, other)
                .into_iter()
                .map(|(id, is_main)| {
                    let mut v = json!({"id": id, "_links": {"self": {"href": format!("{base}/api/v4/{}/{id}", other.plural())}}});
                    if other == EntityKind::Contacts {
                        v["is_main"] = json!(is_main);
                    }
                    v
                })
                .collect();
            embedded.insert(other.plural().into(), Value::Array(linked));
        }
        let mut out = json!({
            "id": record.id,
            "name": record.name,
            "responsible_user_id": record.responsible_user_id,
            "group_id": 0,
            "created_by": record.created_by,
            "updated_by": record.updated_by,
            "created_at": record.created_at,
            "updated_at": record.updated_at,
            "closest_task_at": null,
            "is_deleted": false,
            "custom_fields_values": self.render_custom_fields(kind, &record.custom_fields),
            "account_id": self.id,
            "_links": {"self": {"href": format!("{base}/api/v4/{}/{}", kind.plural(), record.id)}},
            "_embedded": Value::Object(embedded),
        });
        match kind {
            EntityKind::Leads => {
                out["price"] = json!(record.price);
                out["status_id"] = json!(record.status_id);
                out["pipeline_id"] = json!(record.pipeline_id);
                out["loss_reason_id"] = json!(record.loss_reason_id);
                out["closed_at"] = json!(record.closed_at);
                out["score"] = Value::Null;
                out["labor_cost"] = Value::Null;
            }
            EntityKind::Contacts => {
                out["first_name"] = json!(record.first_name);
                out["last_name"] = json!(record.last_name);
                out["is_unsorted"] = json!(false);
            }
            EntityKind::Companies => {}
        }
        out
    }

    /// Entities of kind `other` linked to `(kind, id)`, with `is_main`.
    pub fn linked(&self, kind: EntityKind, id: i64, other: EntityKind) -> Vec<(i64, bool)> {
        let mut out = Vec::new();
        for (((from_kind, from_id), (to_kind, to_id)), is_main) in &self.links {
            if *from_kind == kind && *from_id == id && *to_kind == other {
                out.push((*to_id, *is_main));
            } else if *to_kind == kind && *to_id == id && *from_kind == other {
                out.push((*from_id, *is_main));
            }
        }
        out.sort_unstable();
        out.dedup_by_key(|(id, _)| *id);
        out
    }

    /// Renders a talk as `GET /api/v4/talks/{id}` does.
    pub fn render_talk(&self, talk: &Talk, base: &str) -> Value {
        json!({
            "talk_id": talk.id,
            "created_at": talk.created_at,
            "updated_at": talk.updated_at,
            "rate": talk.rate,
            "contact_id": talk.contact_id,
            "chat_id": talk.chat_id,
            "entity_id": talk.lead_id,
            "entity_type": talk.lead_id.map(|_| "lead"),
            "is_in_work": talk.is_in_work,
            "is_read": talk.is_read,
            "origin": talk.origin,
            "missed_at": null,
            "account_id": self.id,
            "_links": {"self": {"href": format!("{base}/api/v4/talks/{}", talk.id)}},
            "_embedded": {
                "contacts": [{"id": talk.contact_id, "_links": {"self": {"href": format!("{base}/api/v4/contacts/{}", talk.contact_id)}}}],
                "leads": talk.lead_id.map(|id| vec![json!({"id": id, "_links": {"self": {"href": format!("{base}/api/v4/leads/{id}")}}})]).unwrap_or_default(),
            },
        })
    }

    /// Renders a task.
    pub fn render_task(&self, task: &Task, base: &str) -> Value {
        json!({
            "id": task.id,
            "created_by": task.created_by,
            "updated_by": task.created_by,
            "created_at": task.created_at,
            "updated_at": task.updated_at,
            "responsible_user_id": task.responsible_user_id,
            "group_id": 0,
            "entity_id": task.entity.map(|(_, id)| id),
            "entity_type": task.entity.map(|(kind, _)| kind.plural()),
            "duration": task.duration,
            "is_completed": task.is_completed,
            "task_type_id": task.task_type_id,
            "text": task.text,
            "result": task.result_text.as_ref().map(|t| json!({"text": t})).unwrap_or(json!([])),
            "complete_till": task.complete_till,
            "account_id": self.id,
            "_links": {"self": {"href": format!("{base}/api/v4/tasks/{}", task.id)}},
        })
    }

    /// Renders a note.
    pub fn render_note(&self, note: &Note, base: &str) -> Value {
        json!({
            "id": note.id,
            "entity_id": note.entity.1,
            "created_by": note.created_by,
            "updated_by": note.created_by,
            "created_at": note.created_at,
            "updated_at": note.updated_at,
            "responsible_user_id": note.created_by,
            "group_id": 0,
            "note_type": note.note_type,
            "params": note.params,
            "account_id": self.id,
            "is_pinned": note.is_pinned,
            "_links": {"self": {"href": format!("{base}/api/v4/{}/{}/notes/{}", note.entity.0.plural(), note.entity.1, note.id)}},
        })
    }

    /// Renders a pipeline with its statuses.
    pub fn render_pipeline(&self, pipeline: &Pipeline, base: &str) -> Value {
        json!({
            "id": pipeline.id,
            "name": pipeline.name,
            "sort": pipeline.sort,
            "is_main": pipeline.is_main,
            "is_unsorted_on": true,
            "is_archive": false,
            "account_id": self.id,
            "_links": {"self": {"href": format!("{base}/api/v4/leads/pipelines/{}", pipeline.id)}},
            "_embedded": {"statuses": pipeline.statuses.iter().map(|s| self.render_status(pipeline.id, s, base)).collect::<Vec<_>>()},
        })
    }

    /// Renders a status.
    pub fn render_status(&self, pipeline_id: i64, status: &Status, base: &str) -> Value {
        json!({
            "id": status.id,
            "name": status.name,
            "sort": status.sort,
            "is_editable": status.id != 142 && status.id != 143,
            "pipeline_id": pipeline_id,
            "color": status.color,
            "type": status.status_type,
            "account_id": self.id,
            "_links": {"self": {"href": format!("{base}/api/v4/leads/pipelines/{pipeline_id}/statuses/{}", status.id)}},
        })
    }

    /// Renders a custom field definition.
    pub fn render_field(&self, kind: EntityKind, def: &CustomFieldDef, base: &str) -> Value {
        let enums = if def.enums.is_empty() {
            Value::Null
        } else {
            Value::Array(
                def.enums
                    .iter()
                    .enumerate()
                    .map(|(i, e)| {
                        let mut v =
                            json!({"id": e.id, "value": e.value, "sort": (i as i64 + 1) * 10});
                        if let Some(code) = &e.code {
                            v["code"] = json!(code);
                        }
                        v
                    })
                    .collect(),
            )
        };
        json!({
            "id": def.id,
            "name": def.name,
            "type": def.field_type,
            "account_id": self.id,
            "code": def.code,
            "sort": def.sort,
            "is_api_only": false,
            "enums": enums,
            "group_id": null,
            "required_statuses": [],
            "is_deletable": def.code.is_none(),
            "is_predefined": def.code.is_some(),
            "entity_type": kind.plural(),
            "_links": {"self": {"href": format!("{base}/api/v4/{}/custom_fields/{}", kind.plural(), def.id)}},
        })
    }

    /// Renders a user.
    pub fn render_user(&self, user: &User, base: &str) -> Value {
        json!({
            "id": user.id,
            "name": user.name,
            "email": user.email,
            "lang": "en",
            "rights": {
                "is_admin": user.is_admin,
                "is_free": false,
                "is_active": user.is_active,
                "group_id": if user.group_id == 0 { Value::Null } else { json!(user.group_id) },
            },
            "_links": {"self": {"href": format!("{base}/api/v4/users/{}", user.id)}},
        })
    }

    /// Renders a webhook subscription.
    pub fn render_webhook(&self, hook: &WebhookSubscription) -> Value {
        json!({
            "id": hook.id,
            "destination": hook.destination,
            "created_at": hook.created_at,
            "updated_at": hook.updated_at,
            "account_id": self.id,
            "created_by": self.users.first().map(|u| u.id).unwrap_or(0),
            "sort": hook.sort,
            "disabled": hook.disabled,
            "settings": hook.settings,
        })
    }
}

/// Renders one stored custom field value (`value`, plus `enum_id`/`enum_code` when set).
pub fn render_stored_value(stored: &StoredValue) -> Value {
    let mut v = json!({"value": stored.value});
    if let Some(id) = stored.enum_id {
        v["enum_id"] = json!(id);
    }
    if let Some(code) = &stored.enum_code {
        v["enum_code"] = json!(code);
    }
    v
}
