//! Traffic the emulator sends out, in Kommo's wire formats: account webhooks
//! (`application/x-www-form-urlencoded` with bracket keys, every value a string), digital-pipeline
//! widget requests, and incoming chat messages (`message[add]`). Deliveries are queued and retried on
//! Kommo's schedule, driven by the emulator clock.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::clock::UnixMillis;
use crate::model::{Account, EntityKind, Record};
use crate::ops::{value_text, Change};

/// Delays before the 2nd, 3rd, 4th and 5th attempt of an account webhook (Kommo: +5 min, +15 min,
/// +15 min, +1 h); after the 5th failure the event is dropped.
pub const WEBHOOK_RETRY_DELAYS_MS: [i64; 4] = [5 * 60_000, 15 * 60_000, 15 * 60_000, 60 * 60_000];

/// More invalid responses than this within 2 hours (and the last one invalid) disable a webhook.
pub const WEBHOOK_DISABLE_AFTER_INVALID: usize = 100;

/// What a delivery carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryKind {
    /// An account webhook (`/api/v4/webhooks` subscription); retried on Kommo's schedule.
    AccountWebhook,
    /// A digital-pipeline widget request to `dp.webhook_url`; sent once (Kommo documents no retry).
    DigitalPipeline,
    /// A Salesbot `widget_request` step's request (JSON); sent once, the bot then waits for its
    /// continue.
    SalesbotWidgetRequest,
}

/// One attempt to deliver.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryAttempt {
    /// Emulator time of the attempt.
    pub at_ms: UnixMillis,
    /// HTTP status, if a response came.
    pub status: Option<u16>,
    /// Whether it counted as success (100–299).
    pub ok: bool,
}

/// A queued or finished outbound request.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// Sequence number.
    pub id: u64,
    /// Account subdomain.
    pub subdomain: String,
    /// Kind.
    pub kind: DeliveryKind,
    /// Destination URL.
    pub url: String,
    /// Content type of `body`.
    pub content_type: String,
    /// The request body.
    pub body: String,
    /// The webhook event code (`add_lead`, ...) or the DP event code.
    pub event: String,
    /// Attempts made so far.
    pub attempts: Vec<DeliveryAttempt>,
    /// When the next attempt is due; `None` once delivered or given up.
    pub next_attempt_at_ms: Option<UnixMillis>,
}

/// Form pairs under construction.
#[derive(Debug, Default)]
struct FormPairs(Vec<(String, String)>);

impl FormPairs {
    fn push(&mut self, key: impl Into<String>, value: impl ToString) {
        self.0.push((key.into(), value.to_string()));
    }

    fn encode(&self) -> String {
        let mut serializer = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            serializer.append_pair(k, v);
        }
        serializer.finish()
    }
}

fn account_pairs(pairs: &mut FormPairs, account: &Account) {
    pairs.push("account[subdomain]", &account.subdomain);
    pairs.push("account[id]", account.id);
    pairs.push(
        "account[_links][self]",
        format!("https://{}.kommo.com", account.subdomain),
    );
}

/// The webhook fields of an entity under `prefix` (e.g. `leads[update][0]`).
fn entity_pairs(
    pairs: &mut FormPairs,
    account: &Account,
    kind: EntityKind,
    record: &Record,
    prefix: &str,
) {
    pairs.push(format!("{prefix}[id]"), record.id);
    pairs.push(format!("{prefix}[name]"), &record.name);
    match kind {
        EntityKind::Leads => {
            pairs.push(format!("{prefix}[status_id]"), record.status_id);
            pairs.push(format!("{prefix}[price]"), record.price);
            pairs.push(format!("{prefix}[pipeline_id]"), record.pipeline_id);
        }
        EntityKind::Contacts => {
            pairs.push(format!("{prefix}[type]"), "contact");
            pairs.push(format!("{prefix}[first_name]"), &record.first_name);
            pairs.push(format!("{prefix}[last_name]"), &record.last_name);
        }
        EntityKind::Companies => pairs.push(format!("{prefix}[type]"), "company"),
    }
    pairs.push(
        format!("{prefix}[responsible_user_id]"),
        record.responsible_user_id,
    );
    pairs.push(format!("{prefix}[date_create]"), record.created_at);
    pairs.push(format!("{prefix}[last_modified]"), record.updated_at);
    pairs.push(format!("{prefix}[created_at]"), record.created_at);
    pairs.push(format!("{prefix}[updated_at]"), record.updated_at);
    pairs.push(format!("{prefix}[created_user_id]"), record.created_by);
    pairs.push(format!("{prefix}[modified_user_id]"), record.updated_by);
    pairs.push(format!("{prefix}[account_id]"), account.id);
    for (i, tag) in record.tags.iter().enumerate() {
        pairs.push(format!("{prefix}[tags][{i}][id]"), tag);
        pairs.push(
            format!("{prefix}[tags][{i}][name]"),
            account.tag_name(kind, *tag).unwrap_or_default(),
        );
    }
    let defs = account.fields(kind);
    for (i, (field_id, values)) in record.custom_fields.iter().enumerate() {
        let def = defs.iter().find(|d| d.id == *field_id);
        pairs.push(format!("{prefix}[custom_fields][{i}][id]"), field_id);
        pairs.push(
            format!("{prefix}[custom_fields][{i}][name]"),
            def.map(|d| d.name.as_str()).unwrap_or_default(),
        );
        if let Some(code) = def.and_then(|d| d.code.as_deref()) {
            pairs.push(format!("{prefix}[custom_fields][{i}][code]"), code);
        }
        for (j, value) in values.iter().enumerate() {
            let text = match &value.value {
                serde_json::Value::Bool(b) => {
                    if *b {
                        "1".to_owned()
                    } else {
                        "0".to_owned()
                    }
                }
                other => value_text(other),
            };
            pairs.push(
                format!("{prefix}[custom_fields][{i}][values][{j}][value]"),
                text,
            );
            if let Some(enum_id) = value.enum_id {
                pairs.push(
                    format!("{prefix}[custom_fields][{i}][values][{j}][enum]"),
                    enum_id,
                );
            }
        }
    }
}

/// Section of a webhook body: entity plural used in keys (`leads`, `contacts`, `task`) and action.
fn section_of(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Leads => "leads",
        // Kommo puts companies under `contacts`, told apart by `type`.
        EntityKind::Contacts | EntityKind::Companies => "contacts",
    }
}

/// One webhook event ready to send: its setting code and its form body.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookBody {
    /// The subscription setting it belongs to (`add_lead`, `status_lead`, ...).
    pub event: String,
    /// The encoded form body.
    pub body: String,
}

/// Builds the webhook bodies for the changes of one API request: one body per event code, with
/// every item of that code in it.
pub fn webhook_bodies(account: &Account, changes: &[Change]) -> Vec<WebhookBody> {
    // event code -> (section key, item prefixes and builders)
    let mut grouped: BTreeMap<String, Vec<ItemRef>> = BTreeMap::new();
    for change in changes {
        match *change {
            Change::Entity {
                kind,
                id,
                added,
                old_status,
                old_responsible,
                fields_changed,
            } => {
                let singular = kind.singular();
                if added {
                    grouped
                        .entry(format!("add_{singular}"))
                        .or_default()
                        .push(ItemRef::Entity {
                            kind,
                            id,
                            action: "add",
                            old_status: None,
                            old_responsible: None,
                        });
                } else if fields_changed {
                    grouped
                        .entry(format!("update_{singular}"))
                        .or_default()
                        .push(ItemRef::Entity {
                            kind,
                            id,
                            action: "update",
                            old_status: None,
                            old_responsible: None,
                        });
                }
                if let Some(old) = old_status {
                    grouped
                        .entry("status_lead".into())
                        .or_default()
                        .push(ItemRef::Entity {
                            kind,
                            id,
                            action: "status",
                            old_status: Some(old),
                            old_responsible: None,
                        });
                }
                if let Some(old) = old_responsible {
                    grouped
                        .entry(format!("responsible_{singular}"))
                        .or_default()
                        .push(ItemRef::Entity {
                            kind,
                            id,
                            action: "responsible",
                            old_status: None,
                            old_responsible: Some(old),
                        });
                }
            }
            Change::Task {
                id,
                added,
                old_responsible,
            } => {
                let code = if added { "add_task" } else { "update_task" };
                grouped.entry(code.into()).or_default().push(ItemRef::Task {
                    id,
                    action: if added { "add" } else { "update" },
                    old_responsible: None,
                });
                // `responsible_task` (kommo-platform.md §4 event codes, S10, S11), under
                // `task[responsible]` with the user before as `old_responsible_user_id`, as
                // `leads[responsible]` carries it (§4 lead fields, S11, S19).
                if let Some(old) = old_responsible {
                    grouped
                        .entry("responsible_task".into())
                        .or_default()
                        .push(ItemRef::Task {
                            id,
                            action: "responsible",
                            old_responsible: Some(old),
                        });
                }
            }
            Change::Talk { id, added } => {
                let code = if added { "add_talk" } else { "update_talk" };
                grouped.entry(code.into()).or_default().push(ItemRef::Talk {
                    id,
                    action: if added { "add" } else { "update" },
                });
            }
            Change::Note { id } => {
                if let Some(note) = account.notes.get(&id) {
                    grouped
                        .entry(format!("note_{}", note.entity.0.singular()))
                        .or_default()
                        .push(ItemRef::Note { id });
                }
            }
        }
    }
    let mut out = Vec::new();
    for (event, items) in grouped {
        let mut pairs = FormPairs::default();
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        for item in items {
            match item {
                ItemRef::Entity {
                    kind,
                    id,
                    action,
                    old_status,
                    old_responsible,
                } => {
                    let Some(record) = account.records.get(&kind).and_then(|r| r.get(&id)) else {
                        continue;
                    };
                    let section = format!("{}[{action}]", section_of(kind));
                    let i = next_index(&mut index, &section);
                    let prefix = format!("{section}[{i}]");
                    entity_pairs(&mut pairs, account, kind, record, &prefix);
                    if let Some((old_pipeline, old_status)) = old_status {
                        pairs.push(format!("{prefix}[old_status_id]"), old_status);
                        pairs.push(format!("{prefix}[old_pipeline_id]"), old_pipeline);
                    }
                    if let Some(old) = old_responsible {
                        pairs.push(format!("{prefix}[old_responsible_user_id]"), old);
                    }
                }
                ItemRef::Task {
                    id,
                    action,
                    old_responsible,
                } => {
                    let Some(task) = account.tasks.get(&id) else {
                        continue;
                    };
                    let section = format!("task[{action}]");
                    let i = next_index(&mut index, &section);
                    let p = format!("{section}[{i}]");
                    pairs.push(format!("{p}[id]"), task.id);
                    if let Some((kind, entity_id)) = task.entity {
                        pairs.push(format!("{p}[element_id]"), entity_id);
                        pairs.push(format!("{p}[element_type]"), kind.element_type());
                    }
                    pairs.push(format!("{p}[task_type]"), task.task_type_id);
                    pairs.push(format!("{p}[text]"), &task.text);
                    pairs.push(format!("{p}[status]"), i64::from(task.is_completed));
                    pairs.push(format!("{p}[action_close]"), i64::from(task.is_completed));
                    pairs.push(
                        format!("{p}[responsible_user_id]"),
                        task.responsible_user_id,
                    );
                    if let Some(old) = old_responsible {
                        pairs.push(format!("{p}[old_responsible_user_id]"), old);
                    }
                    pairs.push(
                        format!("{p}[complete_till]"),
                        format_datetime(task.complete_till),
                    );
                    pairs.push(format!("{p}[complete_before]"), task.complete_till);
                    pairs.push(format!("{p}[created_user_id]"), task.created_by);
                    pairs.push(format!("{p}[date_create]"), task.created_at);
                    pairs.push(format!("{p}[last_modified]"), task.updated_at);
                    pairs.push(format!("{p}[account_id]"), account.id);
                    if let Some(result) = &task.result_text {
                        pairs.push(format!("{p}[result][text]"), result);
                    }
                }
                ItemRef::Note { id } => {
                    let Some(note) = account.notes.get(&id) else {
                        continue;
                    };
                    let section = format!("{}[note]", section_of(note.entity.0));
                    let i = next_index(&mut index, &section);
                    let p = format!("{section}[{i}][note]");
                    pairs.push(format!("{p}[id]"), note.id);
                    pairs.push(format!("{p}[element_id]"), note.entity.1);
                    pairs.push(format!("{p}[element_type]"), note.entity.0.element_type());
                    pairs.push(format!("{p}[note_type]"), &note.note_type);
                    if let Some(text) = note.params.get("text").and_then(|t| t.as_str()) {
                        pairs.push(format!("{p}[text]"), text);
                    }
                    pairs.push(format!("{p}[created_by]"), note.created_by);
                    pairs.push(format!("{p}[date_create]"), note.created_at);
                    pairs.push(format!("{p}[account_id]"), account.id);
                }
                ItemRef::Talk { id, action } => {
                    let Some(talk) = account.talks.get(&id) else {
                        continue;
                    };
                    let section = format!("talk[{action}]");
                    let i = next_index(&mut index, &section);
                    let p = format!("{section}[{i}]");
                    pairs.push(format!("{p}[talk_id]"), talk.id);
                    pairs.push(format!("{p}[created_at]"), talk.created_at);
                    pairs.push(format!("{p}[updated_at]"), talk.updated_at);
                    pairs.push(format!("{p}[rate]"), talk.rate);
                    pairs.push(format!("{p}[contact_id]"), talk.contact_id);
                    pairs.push(format!("{p}[chat_id]"), &talk.chat_id);
                    if let Some(lead_id) = talk.lead_id {
                        pairs.push(format!("{p}[entity_id]"), lead_id);
                        pairs.push(format!("{p}[entity_type]"), "lead");
                    }
                    pairs.push(format!("{p}[is_in_work]"), i64::from(talk.is_in_work));
                    pairs.push(format!("{p}[is_read]"), i64::from(talk.is_read));
                    pairs.push(format!("{p}[origin]"), &talk.origin);
                }
            }
        }
        if pairs.0.is_empty() {
            continue;
        }
        account_pairs(&mut pairs, account);
        out.push(WebhookBody {
            event,
            body: pairs.encode(),
        });
    }
    out
}

enum ItemRef {
    Entity {
        kind: EntityKind,
        id: i64,
        action: &'static str,
        old_status: Option<(i64, i64)>,
        old_responsible: Option<i64>,
    },
    Task {
        id: i64,
        action: &'static str,
        old_responsible: Option<i64>,
    },
    Note {
        id: i64,
    },
    Talk {
        id: i64,
        action: &'static str,
    },
}

fn next_index(index: &mut BTreeMap<String, usize>, section: &str) -> usize {
    let slot = index.entry(section.to_owned()).or_insert(0);
    let i = *slot;
    *slot += 1;
    i
}

/// `Y-m-d H:i:s` in UTC, the format of `complete_till` in task webhooks.
pub fn format_datetime(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// A chat message for `message[add]`.
#[derive(Debug, Clone)]
pub struct ChatMessage {
    /// Message id.
    pub id: String,
    /// Chat id.
    pub chat_id: String,
    /// Talk id.
    pub talk_id: i64,
    /// The contact of the chat.
    pub contact_id: i64,
    /// The lead the message is on, if any (else the contact).
    pub lead_id: Option<i64>,
    /// Text.
    pub text: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Author's display name.
    pub author_name: String,
    /// Channel (`whatsapp`, `telegram`, ...).
    pub origin: String,
    /// Written by the manager (`outgoing`) rather than the client (`incoming`).
    pub outgoing: bool,
    /// The writing user, for outgoing messages.
    pub user_id: i64,
}

/// The `add_message` webhook body.
pub fn message_body(account: &Account, message: &ChatMessage) -> String {
    let mut pairs = FormPairs::default();
    let p = "message[add][0]";
    pairs.push(format!("{p}[id]"), &message.id);
    pairs.push(format!("{p}[chat_id]"), &message.chat_id);
    pairs.push(format!("{p}[talk_id]"), message.talk_id);
    pairs.push(format!("{p}[contact_id]"), message.contact_id);
    pairs.push(format!("{p}[text]"), &message.text);
    pairs.push(format!("{p}[created_at]"), message.created_at);
    let (element_type, entity_type, entity_id) = match message.lead_id {
        Some(lead) => (2, "lead", lead),
        None => (1, "contact", message.contact_id),
    };
    pairs.push(format!("{p}[element_type]"), element_type);
    pairs.push(format!("{p}[entity_type]"), entity_type);
    pairs.push(format!("{p}[element_id]"), entity_id);
    pairs.push(format!("{p}[entity_id]"), entity_id);
    if message.outgoing {
        pairs.push(format!("{p}[type]"), "outgoing");
        pairs.push(format!("{p}[author][id]"), message.user_id);
        pairs.push(format!("{p}[author][type]"), "internal");
    } else {
        pairs.push(format!("{p}[type]"), "incoming");
        pairs.push(format!("{p}[author][id]"), &message.chat_id);
        pairs.push(format!("{p}[author][type]"), "external");
    }
    pairs.push(format!("{p}[author][name]"), &message.author_name);
    pairs.push(format!("{p}[origin]"), &message.origin);
    account_pairs(&mut pairs, account);
    pairs.encode()
}

/// A digital-pipeline request for our widget's action: `(webhook_url, form body)` for each action
/// on the stage the lead is now in.
pub fn dp_bodies(account: &Account, lead_id: i64, added: bool, now: i64) -> Vec<(String, String)> {
    let Some(lead) = account
        .records
        .get(&EntityKind::Leads)
        .and_then(|r| r.get(&lead_id))
    else {
        return Vec::new();
    };
    let (type_id, type_code) = if added {
        (1, "lead_added")
    } else {
        (14, "lead_status_changed")
    };
    account
        .dp_actions
        .iter()
        .filter(|a| a.pipeline_id == lead.pipeline_id && a.status_id == lead.status_id)
        .map(|action| {
            let mut pairs = FormPairs::default();
            pairs.push("event[type]", type_id);
            pairs.push("event[type_code]", type_code);
            pairs.push("event[data][id]", lead.id);
            pairs.push("event[data][element_type]", 2);
            pairs.push("event[data][status_id]", lead.status_id);
            pairs.push("event[data][pipeline_id]", lead.pipeline_id);
            pairs.push("event[time]", now);
            for (key, value) in &action.settings {
                pairs.push(format!("action[settings][widget][settings][{key}]"), value);
            }
            pairs.push("subdomain", &account.subdomain);
            pairs.push("account_id", account.id);
            (action.webhook_url.clone(), pairs.encode())
        })
        .collect()
}
