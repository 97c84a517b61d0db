//! Kommo's incoming traffic parsed into typed events: account webhooks
//! (`application/x-www-form-urlencoded` with bracket keys such as `leads[status][0][id]`, every
//! value a string; companies arrive under `contacts` with `type=company`; tasks under singular
//! `task`; conversations under `talk`) and digital-pipeline widget requests (the same form format,
//! or JSON).
//!
//! Nothing here panics on any input: sizes and nesting are bounded, numbers are parsed with
//! checks, and every problem is an [`IncomingError`].

use std::collections::BTreeMap;

use serde_json::Value;

/// The largest body accepted.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// The deepest bracket nesting accepted.
pub const MAX_DEPTH: usize = 12;
/// The most key/value pairs accepted.
pub const MAX_PAIRS: usize = 20_000;

/// Why incoming traffic was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncomingError {
    /// Too large.
    #[error("the body is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    /// Too many pairs.
    #[error("the body has more than {MAX_PAIRS} fields")]
    TooManyFields,
    /// Nested too deep.
    #[error("a key is nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// Not JSON although it says so.
    #[error("the body is not valid JSON: {0}")]
    Json(String),
    /// A required field is absent.
    #[error("the field {0} is missing")]
    Missing(String),
    /// A field that must be a number is not.
    #[error("the field {field} should be an integer, not {value:?}")]
    NotANumber {
        /// Field path.
        field: String,
        /// What was there.
        value: String,
    },
    /// A field that must be a flag (`1`/`0`) is not.
    #[error("the field {field} should be 1 or 0, not {value:?}")]
    NotAFlag {
        /// Field path.
        field: String,
        /// What was there.
        value: String,
    },
}

/// A parsed form (or JSON) document: strings at the leaves, maps inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormNode {
    /// A value.
    Leaf(String),
    /// Children by key (list indexes are keys too).
    Map(BTreeMap<String, FormNode>),
}

impl FormNode {
    fn empty() -> Self {
        FormNode::Map(BTreeMap::new())
    }

    /// The child at `key`.
    pub fn get(&self, key: &str) -> Option<&FormNode> {
        match self {
            FormNode::Map(map) => map.get(key),
            FormNode::Leaf(_) => None,
        }
    }

    /// The string at `key`.
    pub fn text(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(FormNode::Leaf(s)) => Some(s),
            _ => None,
        }
    }

    /// Children in list order: numeric keys by value, then other keys by name.
    pub fn items(&self) -> Vec<&FormNode> {
        match self {
            FormNode::Map(map) => {
                let mut entries: Vec<(&String, &FormNode)> = map.iter().collect();
                entries.sort_by(
                    |(a, _), (b, _)| match (a.parse::<u64>(), b.parse::<u64>()) {
                        (Ok(x), Ok(y)) => x.cmp(&y),
                        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
                        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
                        (Err(_), Err(_)) => a.cmp(b),
                    },
                );
                entries.into_iter().map(|(_, v)| v).collect()
            }
            FormNode::Leaf(_) => Vec::new(),
        }
    }

    fn insert(&mut self, path: &[String], value: String) {
        let Some((first, rest)) = path.split_first() else {
            return;
        };
        if !matches!(self, FormNode::Map(_)) {
            *self = FormNode::empty();
        }
        let FormNode::Map(map) = self else { return };
        let key = if first.is_empty() {
            // `a[]` appends.
            map.len().to_string()
        } else {
            first.clone()
        };
        if rest.is_empty() {
            map.insert(key, FormNode::Leaf(value));
        } else {
            map.entry(key)
                .or_insert_with(FormNode::empty)
                .insert(rest, value);
        }
    }
}

/// Splits `a[b][c]` into `["a", "b", "c"]`. A key with unbalanced brackets is one plain name.
fn split_key(key: &str) -> Result<Vec<String>, IncomingError> {
    let Some(open) = key.find('[') else {
        return Ok(vec![key.to_owned()]);
    };
    let mut parts = vec![key[..open].to_owned()];
    let mut rest = &key[open..];
    while let Some(after_open) = rest.strip_prefix('[') {
        let Some(close) = after_open.find(']') else {
            return Ok(vec![key.to_owned()]);
        };
        parts.push(after_open[..close].to_owned());
        if parts.len() > MAX_DEPTH {
            return Err(IncomingError::TooDeep);
        }
        rest = &after_open[close + 1..];
    }
    if !rest.is_empty() {
        return Ok(vec![key.to_owned()]);
    }
    Ok(parts)
}

/// Parses an `application/x-www-form-urlencoded` body with bracket keys into a tree.
pub fn parse_form(body: &[u8]) -> Result<FormNode, IncomingError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(IncomingError::TooLarge);
    }
    let mut root = FormNode::empty();
    for (count, (key, value)) in form_urlencoded::parse(body).enumerate() {
        if count >= MAX_PAIRS {
            return Err(IncomingError::TooManyFields);
        }
        let path = split_key(&key)?;
        root.insert(&path, value.into_owned());
    }
    Ok(root)
}

/// Converts JSON into the same tree (numbers and booleans become their text; `null` is dropped).
pub fn parse_json(body: &[u8]) -> Result<FormNode, IncomingError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(IncomingError::TooLarge);
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| IncomingError::Json(e.to_string()))?;
    json_node(&value, 0)
}

fn json_node(value: &Value, depth: usize) -> Result<FormNode, IncomingError> {
    if depth > MAX_DEPTH {
        return Err(IncomingError::TooDeep);
    }
    Ok(match value {
        Value::Null => FormNode::Leaf(String::new()),
        Value::Bool(b) => FormNode::Leaf(if *b { "1".into() } else { "0".into() }),
        Value::Number(n) => FormNode::Leaf(n.to_string()),
        Value::String(s) => FormNode::Leaf(s.clone()),
        Value::Array(items) => FormNode::Map(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| Ok((i.to_string(), json_node(v, depth + 1)?)))
                .collect::<Result<_, IncomingError>>()?,
        ),
        Value::Object(map) => FormNode::Map(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), json_node(v, depth + 1)?)))
                .collect::<Result<_, IncomingError>>()?,
        ),
    })
}

fn int(node: &FormNode, key: &str, path: &str) -> Result<Option<i64>, IncomingError> {
    match node.text(key).map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => text.parse::<i64>().map(Some).or_else(|_| {
            // Kommo sends prices like "1500.00" at times; take the integer part when it is one.
            text.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| Some(f as i64))
                .ok_or_else(|| IncomingError::NotANumber {
                    field: format!("{path}[{key}]"),
                    value: text.chars().take(40).collect(),
                })
        }),
    }
}

/// A flag: `1`/`0` as Kommo's webhooks send booleans (`true`/`false` accepted too); absent or empty
/// is `None`.
fn flag(node: &FormNode, key: &str, path: &str) -> Result<Option<bool>, IncomingError> {
    match node.text(key).map(str::trim) {
        None | Some("") => Ok(None),
        Some("1" | "true") => Ok(Some(true)),
        Some("0" | "false") => Ok(Some(false)),
        Some(other) => Err(IncomingError::NotAFlag {
            field: format!("{path}[{key}]"),
            value: other.chars().take(40).collect(),
        }),
    }
}

fn text(node: &FormNode, key: &str) -> String {
    node.text(key).unwrap_or_default().to_owned()
}

/// The account a request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRef {
    /// Account id.
    pub id: i64,
    /// Subdomain.
    pub subdomain: String,
}

/// What happened to an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityAction {
    /// `add`.
    Add,
    /// `update`.
    Update,
    /// `delete`.
    Delete,
    /// `restore`.
    Restore,
    /// `status` (leads: stage changed).
    Status,
    /// `responsible`.
    Responsible,
}

impl EntityAction {
    fn parse(action: &str) -> Option<Self> {
        Some(match action {
            "add" => Self::Add,
            "update" => Self::Update,
            "delete" => Self::Delete,
            "restore" => Self::Restore,
            "status" => Self::Status,
            "responsible" => Self::Responsible,
            _ => return None,
        })
    }
}

/// A tag in a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTag {
    /// Id.
    pub id: Option<i64>,
    /// Name.
    pub name: String,
}

/// A custom field value in a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookFieldValue {
    /// The value as text.
    pub value: String,
    /// Enum id, for enum fields.
    pub enum_id: Option<i64>,
}

/// A custom field in a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookField {
    /// Field id.
    pub id: i64,
    /// Field name.
    pub name: String,
    /// Field code.
    pub code: Option<String>,
    /// Values.
    pub values: Vec<WebhookFieldValue>,
}

/// A lead, contact or company as a webhook describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebhookEntity {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Leads: stage.
    pub status_id: Option<i64>,
    /// Leads: stage before (`status`).
    pub old_status_id: Option<i64>,
    /// Leads: pipeline.
    pub pipeline_id: Option<i64>,
    /// Leads: pipeline before (`status`).
    pub old_pipeline_id: Option<i64>,
    /// Leads: sale.
    pub price: Option<i64>,
    /// Responsible user.
    pub responsible_user_id: Option<i64>,
    /// Responsible user before (`responsible`).
    pub old_responsible_user_id: Option<i64>,
    /// Creator.
    pub created_user_id: Option<i64>,
    /// Last editor.
    pub modified_user_id: Option<i64>,
    /// Unix seconds.
    pub created_at: Option<i64>,
    /// Unix seconds.
    pub updated_at: Option<i64>,
    /// Tags.
    pub tags: Vec<WebhookTag>,
    /// Custom fields.
    pub custom_fields: Vec<WebhookField>,
}

/// A task in a webhook.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebhookTask {
    /// Id.
    pub id: i64,
    /// Linked entity id.
    pub element_id: Option<i64>,
    /// 1 contact, 2 lead, 3 company.
    pub element_type: Option<i64>,
    /// Task type.
    pub task_type: Option<i64>,
    /// Text.
    pub text: String,
    /// Completed (`status` 1).
    pub completed: bool,
    /// Responsible user.
    pub responsible_user_id: Option<i64>,
    /// Responsible user before (`task[responsible]`, as `leads[responsible]` carries it).
    pub old_responsible_user_id: Option<i64>,
    /// Deadline, unix seconds (`complete_before`).
    pub complete_before: Option<i64>,
    /// Unix seconds (`created_at`, or amoCRM's `date_create`).
    pub created_at: Option<i64>,
    /// Unix seconds (`updated_at`, or amoCRM's `last_modified`).
    pub updated_at: Option<i64>,
}

/// An incoming chat message (`message[add]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebhookMessage {
    /// Message id.
    pub id: String,
    /// Chat id.
    pub chat_id: String,
    /// Talk id.
    pub talk_id: Option<i64>,
    /// Contact id.
    pub contact_id: Option<i64>,
    /// Text.
    pub text: String,
    /// Unix seconds.
    pub created_at: Option<i64>,
    /// `incoming` or `outgoing`.
    pub direction: String,
    /// Linked entity type (`contact`, `lead`).
    pub entity_type: String,
    /// Linked entity id.
    pub entity_id: Option<i64>,
    /// Author name.
    pub author_name: String,
    /// Channel (`whatsapp`, ...).
    pub origin: String,
}

/// A conversation (`talk[add]`, `talk[update]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebhookTalk {
    /// Talk id.
    pub talk_id: i64,
    /// Unix seconds.
    pub created_at: Option<i64>,
    /// Unix seconds.
    pub updated_at: Option<i64>,
    /// The client's rating (NPS bot).
    pub rate: Option<i64>,
    /// Contact id.
    pub contact_id: Option<i64>,
    /// Chat id.
    pub chat_id: String,
    /// The entity the conversation is about.
    pub entity_id: Option<i64>,
    /// Its type (`lead`, `customer`), empty when none.
    pub entity_type: String,
    /// Open (`1`) or closed (`0`); `None` when absent.
    pub is_in_work: Option<bool>,
    /// Read.
    pub is_read: Option<bool>,
    /// Channel (`whatsapp`, `telegram`, `waba`, ...).
    pub origin: String,
}

fn talk(item: &FormNode, path: &str) -> Result<WebhookTalk, IncomingError> {
    Ok(WebhookTalk {
        talk_id: int(item, "talk_id", path)?
            .ok_or_else(|| IncomingError::Missing(format!("{path}[talk_id]")))?,
        created_at: time(item, CREATED, path)?,
        updated_at: time(item, UPDATED, path)?,
        rate: int(item, "rate", path)?,
        contact_id: int(item, "contact_id", path)?,
        chat_id: text(item, "chat_id"),
        entity_id: int(item, "entity_id", path)?,
        entity_type: text(item, "entity_type"),
        is_in_work: flag(item, "is_in_work", path)?,
        is_read: flag(item, "is_read", path)?,
        origin: text(item, "origin"),
    })
}

/// A note in a webhook.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebhookNote {
    /// Note id.
    pub id: i64,
    /// Entity id.
    pub element_id: Option<i64>,
    /// Entity type (1 contact, 2 lead, 3 company).
    pub element_type: Option<i64>,
    /// Note type.
    pub note_type: String,
    /// Text, when the type has one.
    pub text: String,
}

/// One event of an account webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEvent {
    /// `leads[...]`.
    Lead(EntityAction, WebhookEntity),
    /// `contacts[...]` with `type=contact`.
    Contact(EntityAction, WebhookEntity),
    /// `contacts[...]` with `type=company`.
    Company(EntityAction, WebhookEntity),
    /// `task[...]`.
    Task(EntityAction, WebhookTask),
    /// `message[add]`.
    Message(WebhookMessage),
    /// `{leads|contacts}[note]`.
    Note(WebhookNote),
    /// `talk[add]` or `talk[update]`.
    Talk(EntityAction, WebhookTalk),
    /// A section we do not model (`unsorted`, ...), kept by name.
    Other {
        /// Section (`unsorted`).
        section: String,
        /// Action (`add`).
        action: String,
    },
}

/// A parsed account webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountWebhook {
    /// The account the body names (`account[id]`); older amoCRM accounts and Kommo's own task
    /// samples send none, and then the account is the one whose webhook URL was called.
    pub account_id: Option<i64>,
    /// The account's subdomain (`account[subdomain]`), when the body names it.
    pub subdomain: Option<String>,
    /// Its events, in body order.
    pub events: Vec<WebhookEvent>,
}

/// The account an account webhook's body names (`account[id]`), if any: what the webhook route
/// compares with the account of its URL before accepting the body.
pub fn webhook_account_id(body: &[u8]) -> Result<Option<i64>, IncomingError> {
    webhook_account_id_of(&parse_form(body)?)
}

/// A unix time sent under its current name or under amoCRM's older one
/// (`created_at`/`date_create`, `updated_at`/`last_modified`): both read alike.
fn time(node: &FormNode, names: [&str; 2], path: &str) -> Result<Option<i64>, IncomingError> {
    Ok(int(node, names[0], path)?.or(int(node, names[1], path)?))
}

const CREATED: [&str; 2] = ["created_at", "date_create"];
const UPDATED: [&str; 2] = ["updated_at", "last_modified"];

fn account_ref(
    root: &FormNode,
    id_key: (&str, &str),
    sub_key: (&str, &str),
) -> Result<AccountRef, IncomingError> {
    let holder = |k: &str| {
        if k.is_empty() {
            Some(root)
        } else {
            root.get(k)
        }
    };
    let id = holder(id_key.0)
        .map(|n| int(n, id_key.1, id_key.0))
        .transpose()?
        .flatten();
    let subdomain = holder(sub_key.0)
        .and_then(|n| n.text(sub_key.1))
        .map(str::to_owned);
    match (id, subdomain) {
        (Some(id), Some(subdomain)) => Ok(AccountRef { id, subdomain }),
        (None, _) => Err(IncomingError::Missing(if id_key.0.is_empty() {
            id_key.1.to_owned()
        } else {
            format!("{}[{}]", id_key.0, id_key.1)
        })),
        (_, None) => Err(IncomingError::Missing(if sub_key.0.is_empty() {
            sub_key.1.to_owned()
        } else {
            format!("{}[{}]", sub_key.0, sub_key.1)
        })),
    }
}

fn entity(node: &FormNode, path: &str) -> Result<WebhookEntity, IncomingError> {
    let id = int(node, "id", path)?.ok_or_else(|| IncomingError::Missing(format!("{path}[id]")))?;
    let tags = node
        .get("tags")
        .map(|t| {
            t.items()
                .into_iter()
                .map(|tag| {
                    Ok(WebhookTag {
                        id: int(tag, "id", path)?,
                        name: text(tag, "name"),
                    })
                })
                .collect::<Result<Vec<_>, IncomingError>>()
        })
        .transpose()?
        .unwrap_or_default();
    let custom_fields = node
        .get("custom_fields")
        .map(|fields| {
            fields
                .items()
                .into_iter()
                .filter_map(|field| {
                    let id = match int(field, "id", path) {
                        Ok(Some(id)) => id,
                        Ok(None) => return None,
                        Err(e) => return Some(Err(e)),
                    };
                    let values = field
                        .get("values")
                        .map(|vs| {
                            vs.items()
                                .into_iter()
                                .map(|v| match v {
                                    FormNode::Leaf(s) => Ok(WebhookFieldValue {
                                        value: s.clone(),
                                        enum_id: None,
                                    }),
                                    map => Ok(WebhookFieldValue {
                                        value: text(map, "value"),
                                        enum_id: int(map, "enum", path)?,
                                    }),
                                })
                                .collect::<Result<Vec<_>, IncomingError>>()
                        })
                        .transpose();
                    Some(values.map(|values| WebhookField {
                        id,
                        name: text(field, "name"),
                        code: field.text("code").map(str::to_owned),
                        values: values.unwrap_or_default(),
                    }))
                })
                .collect::<Result<Vec<_>, IncomingError>>()
        })
        .transpose()?
        .unwrap_or_default();
    Ok(WebhookEntity {
        id,
        name: text(node, "name"),
        status_id: int(node, "status_id", path)?,
        old_status_id: int(node, "old_status_id", path)?,
        pipeline_id: int(node, "pipeline_id", path)?,
        old_pipeline_id: int(node, "old_pipeline_id", path)?,
        price: int(node, "price", path)?,
        responsible_user_id: int(node, "responsible_user_id", path)?,
        old_responsible_user_id: int(node, "old_responsible_user_id", path)?,
        created_user_id: int(node, "created_user_id", path)?,
        modified_user_id: int(node, "modified_user_id", path)?,
        created_at: time(node, CREATED, path)?,
        updated_at: time(node, UPDATED, path)?,
        tags,
        custom_fields,
    })
}

/// Parses an account webhook body (`application/x-www-form-urlencoded`).
pub fn parse_account_webhook(body: &[u8]) -> Result<AccountWebhook, IncomingError> {
    let root = parse_form(body)?;
    let account_id = webhook_account_id_of(&root)?;
    let subdomain = root
        .get("account")
        .and_then(|a| a.text("subdomain"))
        .map(str::to_owned);
    let mut events = Vec::new();
    let FormNode::Map(sections) = &root else {
        return Ok(AccountWebhook {
            account_id,
            subdomain,
            events,
        });
    };
    for (section, actions) in sections {
        if section == "account" {
            continue;
        }
        let FormNode::Map(actions) = actions else {
            continue;
        };
        for (action, items) in actions {
            for item in items.items() {
                let path = format!("{section}[{action}]");
                let parsed = match (section.as_str(), action.as_str()) {
                    ("leads" | "contacts", "note") => {
                        let note = item.get("note").unwrap_or(item);
                        WebhookEvent::Note(WebhookNote {
                            id: int(note, "id", &path)?.ok_or_else(|| {
                                IncomingError::Missing(format!("{path}[note][id]"))
                            })?,
                            element_id: int(note, "element_id", &path)?,
                            element_type: int(note, "element_type", &path)?,
                            note_type: text(note, "note_type"),
                            text: text(note, "text"),
                        })
                    }
                    ("leads", a) => match EntityAction::parse(a) {
                        Some(a) => WebhookEvent::Lead(a, entity(item, &path)?),
                        None => WebhookEvent::Other {
                            section: section.clone(),
                            action: action.clone(),
                        },
                    },
                    ("contacts", a) => match EntityAction::parse(a) {
                        Some(a) if item.text("type") == Some("company") => {
                            WebhookEvent::Company(a, entity(item, &path)?)
                        }
                        Some(a) => WebhookEvent::Contact(a, entity(item, &path)?),
                        None => WebhookEvent::Other {
                            section: section.clone(),
                            action: action.clone(),
                        },
                    },
                    ("task", a) => match EntityAction::parse(a) {
                        Some(a) => WebhookEvent::Task(
                            a,
                            WebhookTask {
                                id: int(item, "id", &path)?
                                    .ok_or_else(|| IncomingError::Missing(format!("{path}[id]")))?,
                                element_id: int(item, "element_id", &path)?,
                                element_type: int(item, "element_type", &path)?,
                                task_type: int(item, "task_type", &path)?,
                                text: text(item, "text"),
                                completed: item.text("status") == Some("1"),
                                responsible_user_id: int(item, "responsible_user_id", &path)?,
                                old_responsible_user_id: int(
                                    item,
                                    "old_responsible_user_id",
                                    &path,
                                )?,
                                complete_before: int(item, "complete_before", &path)?,
                                created_at: time(item, CREATED, &path)?,
                                updated_at: time(item, UPDATED, &path)?,
                            },
                        ),
                        None => WebhookEvent::Other {
                            section: section.clone(),
                            action: action.clone(),
                        },
                    },
                    ("talk", "add") => WebhookEvent::Talk(EntityAction::Add, talk(item, &path)?),
                    ("talk", "update") => {
                        WebhookEvent::Talk(EntityAction::Update, talk(item, &path)?)
                    }
                    ("message", "add") => WebhookEvent::Message(WebhookMessage {
                        id: text(item, "id"),
                        chat_id: text(item, "chat_id"),
                        talk_id: int(item, "talk_id", &path)?,
                        contact_id: int(item, "contact_id", &path)?,
                        text: text(item, "text"),
                        created_at: time(item, CREATED, &path)?,
                        direction: text(item, "type"),
                        entity_type: item.text("entity_type").unwrap_or_default().to_owned(),
                        entity_id: int(item, "entity_id", &path)?.or(int(
                            item,
                            "element_id",
                            &path,
                        )?),
                        author_name: item
                            .get("author")
                            .map(|a| text(a, "name"))
                            .unwrap_or_default(),
                        origin: text(item, "origin"),
                    }),
                    _ => WebhookEvent::Other {
                        section: section.clone(),
                        action: action.clone(),
                    },
                };
                events.push(parsed);
            }
        }
    }
    Ok(AccountWebhook {
        account_id,
        subdomain,
        events,
    })
}

fn webhook_account_id_of(root: &FormNode) -> Result<Option<i64>, IncomingError> {
    root.get("account")
        .map(|account| int(account, "id", "account"))
        .transpose()
        .map(Option::flatten)
}

/// The event of a digital-pipeline request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpEvent {
    /// Numeric type (1 lead_added, 14 lead_status_changed, 15 lead_appeared_in_status, ...).
    pub type_id: Option<i64>,
    /// Type code.
    pub type_code: String,
    /// The lead (or customer) id.
    pub entity_id: i64,
    /// 2 lead, 12 customer.
    pub element_type: Option<i64>,
    /// Stage.
    pub status_id: Option<i64>,
    /// Pipeline.
    pub pipeline_id: Option<i64>,
    /// e.g. `went_to_trigger`.
    pub direction_of_movement: Option<String>,
    /// Unix seconds.
    pub time: Option<i64>,
}

/// A digital-pipeline widget request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpRequest {
    /// The account.
    pub account: AccountRef,
    /// The event.
    pub event: DpEvent,
    /// The action's saved `dp.settings` values.
    pub settings: BTreeMap<String, String>,
}

impl DpRequest {
    /// A key that is the same for repeated deliveries of one event.
    pub fn dedupe_key(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.account.id,
            self.event.entity_id,
            self.event.time.unwrap_or(0),
            self.event.type_code
        )
    }
}

const DP_TYPES: [(i64, &str); 10] = [
    (1, "lead_added"),
    (14, "lead_status_changed"),
    (15, "lead_appeared_in_status"),
    (16, "mail_in"),
    (17, "call_in"),
    (18, "site_visit"),
    (19, "chat"),
    (20, "customer_added"),
    (21, "customer_period_changed"),
    (22, "customer_appeared_in_period"),
];

/// Parses a digital-pipeline request; JSON when the content type says so (or the body starts
/// with `{`), otherwise the form format.
pub fn parse_dp_request(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<DpRequest, IncomingError> {
    let is_json = content_type.is_some_and(|c| c.to_ascii_lowercase().contains("json"))
        || body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let root = if is_json {
        parse_json(body)?
    } else {
        parse_form(body)?
    };
    let account = account_ref(&root, ("", "account_id"), ("", "subdomain"))?;
    let event = root
        .get("event")
        .ok_or_else(|| IncomingError::Missing("event".into()))?;
    let data = event
        .get("data")
        .ok_or_else(|| IncomingError::Missing("event[data]".into()))?;
    let raw_type = event.text("type").unwrap_or_default().trim().to_owned();
    let (type_id, mut type_code) = match raw_type.parse::<i64>() {
        Ok(id) => (
            Some(id),
            DP_TYPES
                .iter()
                .find(|(t, _)| *t == id)
                .map(|(_, c)| (*c).to_owned())
                .unwrap_or_default(),
        ),
        Err(_) => (
            DP_TYPES
                .iter()
                .find(|(_, c)| *c == raw_type)
                .map(|(t, _)| *t),
            raw_type.clone(),
        ),
    };
    if let Some(code) = event.text("type_code").filter(|c| !c.is_empty()) {
        type_code = code.to_owned();
    }
    let settings = root
        .get("action")
        .and_then(|a| a.get("settings"))
        .and_then(|s| s.get("widget"))
        .and_then(|w| w.get("settings"))
        .map(|s| match s {
            FormNode::Map(map) => map
                .iter()
                .filter_map(|(k, v)| match v {
                    FormNode::Leaf(text) => Some((k.clone(), text.clone())),
                    FormNode::Map(_) => None,
                })
                .collect(),
            FormNode::Leaf(_) => BTreeMap::new(),
        })
        .unwrap_or_default();
    Ok(DpRequest {
        account,
        event: DpEvent {
            type_id,
            type_code,
            entity_id: int(data, "id", "event[data]")?
                .ok_or_else(|| IncomingError::Missing("event[data][id]".into()))?,
            element_type: int(data, "element_type", "event[data]")?,
            status_id: int(data, "status_id", "event[data]")?,
            pipeline_id: int(data, "pipeline_id", "event[data]")?,
            direction_of_movement: data.text("direction_of_movement").map(str::to_owned),
            time: int(event, "time", "event")?,
        },
        settings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracket_keys_become_a_tree_with_numeric_order() {
        let tree = parse_form(b"a[2][x]=c&a[10][x]=d&a[0][x]=b&plain=1&broken[=2")
            .unwrap_or_else(|e| panic!("{e}"));
        let items: Vec<_> = tree
            .get("a")
            .map(|a| a.items().into_iter().filter_map(|i| i.text("x")).collect())
            .unwrap_or_default();
        assert_eq!(items, vec!["b", "c", "d"]);
        assert_eq!(tree.text("plain"), Some("1"));
        assert_eq!(tree.text("broken["), Some("2"));
    }

    #[test]
    fn nesting_past_the_limit_is_refused() {
        let key = format!("a{}", "[x]".repeat(MAX_DEPTH + 1));
        assert_eq!(
            parse_form(format!("{key}=1").as_bytes()),
            Err(IncomingError::TooDeep)
        );
    }

    #[test]
    fn a_webhook_without_account_is_read_and_names_no_account() {
        let hook = parse_account_webhook(b"leads[add][0][id]=1").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((hook.account_id, hook.subdomain), (None, None));
        assert_eq!(hook.events.len(), 1);
        assert_eq!(webhook_account_id(b"leads[add][0][id]=1"), Ok(None));
        assert_eq!(
            webhook_account_id(b"account[id]=7&leads[add][0][id]=1"),
            Ok(Some(7))
        );
        assert!(matches!(
            webhook_account_id(b"account[id]=x&leads[add][0][id]=1"),
            Err(IncomingError::NotANumber { .. })
        ));
    }

    const TALK: &str = "account[id]=1&account[subdomain]=a&talk[add][0][talk_id]=311&talk[add][0][created_at]=1700000000&talk[add][0][updated_at]=1700000005&talk[add][0][rate]=0&talk[add][0][contact_id]=40012&talk[add][0][chat_id]=3f1c&talk[add][0][entity_id]=9001&talk[add][0][entity_type]=lead&talk[add][0][is_in_work]=1&talk[add][0][is_read]=0&talk[add][0][origin]=whatsapp";

    #[test]
    fn a_talk_webhook_parses_into_a_typed_talk() {
        let hook = parse_account_webhook(TALK.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            hook.events,
            vec![WebhookEvent::Talk(
                EntityAction::Add,
                WebhookTalk {
                    talk_id: 311,
                    created_at: Some(1_700_000_000),
                    updated_at: Some(1_700_000_005),
                    rate: Some(0),
                    contact_id: Some(40012),
                    chat_id: "3f1c".into(),
                    entity_id: Some(9001),
                    entity_type: "lead".into(),
                    is_in_work: Some(true),
                    is_read: Some(false),
                    origin: "whatsapp".into(),
                }
            )]
        );
        let closed = TALK
            .replace("talk[add]", "talk[update]")
            .replace("is_in_work]=1", "is_in_work]=0");
        let hook = parse_account_webhook(closed.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(hook.events.as_slice(), [WebhookEvent::Talk(EntityAction::Update, t)] if t.is_in_work == Some(false)),
            "{hook:?}"
        );
    }

    #[test]
    fn a_talk_without_its_id_is_refused() {
        let body = TALK.replace("talk[add][0][talk_id]=311&", "");
        assert_eq!(
            parse_account_webhook(body.as_bytes()),
            Err(IncomingError::Missing("talk[add][talk_id]".into()))
        );
    }

    #[test]
    fn a_talk_with_a_non_numeric_id_or_a_bad_flag_is_refused() {
        let body = TALK.replace("talk_id]=311", "talk_id]=3x1");
        assert!(
            matches!(parse_account_webhook(body.as_bytes()), Err(IncomingError::NotANumber { field, .. }) if field == "talk[add][talk_id]")
        );
        let body = TALK.replace("is_in_work]=1", "is_in_work]=yes");
        assert!(matches!(
            parse_account_webhook(body.as_bytes()),
            Err(IncomingError::NotAFlag { .. })
        ));
    }

    #[test]
    fn a_task_responsible_change_names_the_task_and_both_users() {
        let body = "account[id]=1&task[responsible][0][id]=8011&task[responsible][0][element_id]=9001\
            &task[responsible][0][element_type]=2&task[responsible][0][task_type]=2\
            &task[responsible][0][status]=0&task[responsible][0][responsible_user_id]=102\
            &task[responsible][0][old_responsible_user_id]=101&task[responsible][0][complete_before]=1413676740";
        let hook = parse_account_webhook(body.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let [WebhookEvent::Task(EntityAction::Responsible, task)] = hook.events.as_slice() else {
            panic!("{hook:?}");
        };
        assert_eq!(
            (task.id, task.element_id, task.element_type, task.task_type),
            (8011, Some(9001), Some(2), Some(2))
        );
        assert_eq!(
            (task.responsible_user_id, task.old_responsible_user_id),
            (Some(102), Some(101))
        );
        assert_eq!(task.complete_before, Some(1_413_676_740));
    }

    #[test]
    fn a_non_numeric_id_is_a_clear_error() {
        let err = parse_account_webhook(b"account[id]=1&account[subdomain]=a&leads[add][0][id]=x1");
        assert!(
            matches!(err, Err(IncomingError::NotANumber { .. })),
            "{err:?}"
        );
    }
}
