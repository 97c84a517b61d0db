//! The seed document that creates an account (control API `POST /_control/accounts` and the binary's
//! `--seed` file): users, pipelines, custom fields, integrations and entities.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::model::{
    Account, Bot, CustomFieldDef, DpAction, EntityKind, EnumOption, Integration, LossReason,
    Pipeline, Status, TaskType, User, UserGroup, FIELD_TYPES,
};

/// A seed file: one account or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SeedFile {
    /// Several accounts.
    Many(Vec<AccountSeed>),
    /// `{"accounts": [...]}`.
    Wrapped {
        /// The accounts.
        accounts: Vec<AccountSeed>,
    },
    /// One account.
    One(Box<AccountSeed>),
}

impl SeedFile {
    /// The accounts in the file.
    pub fn into_accounts(self) -> Vec<AccountSeed> {
        match self {
            SeedFile::Many(accounts) | SeedFile::Wrapped { accounts } => accounts,
            SeedFile::One(account) => vec![*account],
        }
    }
}

/// One account to create.
#[derive(Debug, Deserialize)]
pub struct AccountSeed {
    /// Subdomain (its address); letters, digits and `-`.
    pub subdomain: String,
    /// Account id; allocated when absent.
    #[serde(default)]
    pub id: Option<i64>,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// IANA timezone (default `UTC`).
    #[serde(default)]
    pub timezone: Option<String>,
    /// Language (default `en`).
    #[serde(default)]
    pub language: Option<String>,
    /// Users; a default admin (id 1) when empty.
    #[serde(default)]
    pub users: Vec<UserSeed>,
    /// User groups.
    #[serde(default)]
    pub user_groups: Vec<NamedSeed>,
    /// Task types besides Kommo's own (1 Follow-up, 2 Meeting).
    #[serde(default)]
    pub task_types: Vec<NamedSeed>,
    /// Loss reasons.
    #[serde(default)]
    pub loss_reasons: Vec<NamedSeed>,
    /// Salesbots.
    #[serde(default)]
    pub bots: Vec<BotSeed>,
    /// Pipelines; a default one when empty. 142 and 143 are added to each.
    #[serde(default)]
    pub pipelines: Vec<PipelineSeed>,
    /// Custom fields per entity kind (`leads`, `contacts`, `companies`).
    #[serde(default)]
    pub custom_fields: BTreeMap<String, Vec<FieldSeed>>,
    /// Integrations installed in the account.
    #[serde(default)]
    pub integrations: Vec<IntegrationSeed>,
    /// Our widget's digital-pipeline actions.
    #[serde(default)]
    pub dp_actions: Vec<DpActionSeed>,
    /// Entities created through the API's own write path (no webhooks), per kind.
    #[serde(default)]
    pub entities: BTreeMap<String, Vec<Value>>,
}

/// A user.
#[derive(Debug, Deserialize)]
pub struct UserSeed {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Email.
    #[serde(default)]
    pub email: Option<String>,
    /// Admin (default true for the first user).
    #[serde(default)]
    pub is_admin: Option<bool>,
    /// Active (default true).
    #[serde(default)]
    pub is_active: Option<bool>,
    /// Group, if any.
    #[serde(default)]
    pub group_id: Option<i64>,
}

/// Something with an id and a name (a user group, a task type, a loss reason).
#[derive(Debug, Deserialize)]
pub struct NamedSeed {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
}

/// A Salesbot.
#[derive(Debug, Deserialize)]
pub struct BotSeed {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Switched on (default true).
    #[serde(default)]
    pub active: Option<bool>,
    /// A `widget_request` step.
    #[serde(default)]
    pub widget_request: Option<crate::model::WidgetRequestStep>,
}

/// A pipeline.
#[derive(Debug, Deserialize)]
pub struct PipelineSeed {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Main pipeline (default: the first).
    #[serde(default)]
    pub is_main: Option<bool>,
    /// Stages (without 142/143).
    pub statuses: Vec<StatusSeed>,
}

/// A stage.
#[derive(Debug, Deserialize)]
pub struct StatusSeed {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
}

/// A custom field.
#[derive(Debug, Deserialize)]
pub struct FieldSeed {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Type (see [`FIELD_TYPES`]).
    #[serde(rename = "type")]
    pub field_type: String,
    /// Code.
    #[serde(default)]
    pub code: Option<String>,
    /// Enum options.
    #[serde(default)]
    pub enums: Vec<EnumSeed>,
}

/// An enum option.
#[derive(Debug, Deserialize)]
pub struct EnumSeed {
    /// Id.
    pub id: i64,
    /// Value.
    pub value: String,
    /// Code.
    #[serde(default)]
    pub code: Option<String>,
}

/// An integration.
#[derive(Debug, Deserialize)]
pub struct IntegrationSeed {
    /// Client id (a UUID in Kommo).
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// Redirect URI.
    pub redirect_uri: String,
}

/// A digital-pipeline action of our widget.
#[derive(Debug, Deserialize)]
pub struct DpActionSeed {
    /// Pipeline.
    pub pipeline_id: i64,
    /// Stage.
    pub status_id: i64,
    /// The widget's `dp.webhook_url`.
    pub webhook_url: String,
    /// Saved settings.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
}

/// Why a seed was refused.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The subdomain is not a DNS label.
    #[error("subdomain {0:?} must be 1-63 lowercase letters, digits or '-'")]
    BadSubdomain(String),
    /// An account with this subdomain exists.
    #[error("an account with subdomain {0:?} already exists")]
    Duplicate(String),
    /// A field type the emulator does not know.
    #[error("custom field {id} has unsupported type {field_type:?}")]
    FieldType {
        /// Field id.
        id: i64,
        /// Its type.
        field_type: String,
    },
    /// An entity kind that is not leads, contacts or companies.
    #[error("unknown entity kind {0:?}")]
    EntityKind(String),
    /// An entity the API would refuse.
    #[error("seed entity {kind}[{index}] was refused: {detail}")]
    Entity {
        /// Kind.
        kind: String,
        /// Position.
        index: usize,
        /// The API's answer.
        detail: String,
    },
    /// Not JSON of the seed shape.
    #[error("the seed is not valid: {0}")]
    Shape(String),
}

/// Default multitext enums Kommo gives the PHONE and EMAIL fields of contacts.
fn default_enums(code: &str, first_id: i64) -> Vec<EnumOption> {
    let codes: &[&str] = match code {
        "PHONE" => &["WORK", "WORKDD", "MOB", "FAX", "HOME", "OTHER"],
        "EMAIL" => &["WORK", "PRIV", "OTHER"],
        _ => &[],
    };
    codes
        .iter()
        .enumerate()
        .map(|(i, c)| EnumOption {
            id: first_id + i as i64,
            value: (*c).to_owned(),
            code: Some((*c).to_owned()),
        })
        .collect()
}

/// A pipeline to create: id, name, is_main, stages.
type PipelinePlan = (i64, String, bool, Vec<(i64, String)>);

/// Builds the account (without entities, which go through the API write path afterwards).
pub fn build_account(seed: &AccountSeed, account_id: i64) -> Result<Account, SeedError> {
    let valid = !seed.subdomain.is_empty()
        && seed.subdomain.len() <= 63
        && seed
            .subdomain
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !seed.subdomain.starts_with('-')
        && !seed.subdomain.starts_with('_');
    if !valid {
        return Err(SeedError::BadSubdomain(seed.subdomain.clone()));
    }
    let mut account = Account {
        id: account_id,
        subdomain: seed.subdomain.clone(),
        name: seed.name.clone().unwrap_or_else(|| seed.subdomain.clone()),
        timezone: seed.timezone.clone().unwrap_or_else(|| "UTC".into()),
        currency: "USD".into(),
        language: seed.language.clone().unwrap_or_else(|| "en".into()),
        next_id: 10_000_000,
        ..Account::default()
    };
    account.users = if seed.users.is_empty() {
        vec![User {
            id: 1,
            name: "Admin".into(),
            email: "admin@example.com".into(),
            is_admin: true,
            is_active: true,
            group_id: 0,
        }]
    } else {
        seed.users
            .iter()
            .enumerate()
            .map(|(i, u)| User {
                id: u.id,
                name: u.name.clone(),
                email: u
                    .email
                    .clone()
                    .unwrap_or_else(|| format!("user{}@example.com", u.id)),
                is_admin: u.is_admin.unwrap_or(i == 0),
                is_active: u.is_active.unwrap_or(true),
                group_id: u.group_id.unwrap_or(0),
            })
            .collect()
    };
    let pipelines: Vec<PipelinePlan> = if seed.pipelines.is_empty() {
        vec![(
            1,
            "Sales".into(),
            true,
            vec![
                (11, "Incoming leads".into()),
                (12, "Contact made".into()),
                (13, "Offer made".into()),
            ],
        )]
    } else {
        seed.pipelines
            .iter()
            .enumerate()
            .map(|(i, p)| {
                (
                    p.id,
                    p.name.clone(),
                    p.is_main.unwrap_or(i == 0),
                    p.statuses.iter().map(|s| (s.id, s.name.clone())).collect(),
                )
            })
            .collect()
    };
    for (i, (id, name, is_main, statuses)) in pipelines.into_iter().enumerate() {
        let mut stages: Vec<Status> = statuses
            .into_iter()
            .enumerate()
            .map(|(j, (sid, sname))| Status {
                id: sid,
                name: sname,
                sort: (j as i64 + 1) * 10,
                status_type: i64::from(j == 0),
                color: "#99ccff".into(),
            })
            .collect();
        stages.push(Status {
            id: 142,
            name: "Closed - won".into(),
            sort: 10_000,
            status_type: 0,
            color: "#CCFF66".into(),
        });
        stages.push(Status {
            id: 143,
            name: "Closed - lost".into(),
            sort: 11_000,
            status_type: 0,
            color: "#D5D8DB".into(),
        });
        account.pipelines.push(Pipeline {
            id,
            name,
            sort: (i as i64 + 1) * 100,
            is_main,
            statuses: stages,
        });
    }
    for (kind_name, fields) in &seed.custom_fields {
        let kind =
            EntityKind::parse(kind_name).ok_or_else(|| SeedError::EntityKind(kind_name.clone()))?;
        for (i, f) in fields.iter().enumerate() {
            if !FIELD_TYPES.contains(&f.field_type.as_str()) {
                return Err(SeedError::FieldType {
                    id: f.id,
                    field_type: f.field_type.clone(),
                });
            }
            let mut enums: Vec<EnumOption> = f
                .enums
                .iter()
                .map(|e| EnumOption {
                    id: e.id,
                    value: e.value.clone(),
                    code: e.code.clone(),
                })
                .collect();
            if enums.is_empty() && f.field_type == "multitext" {
                enums = default_enums(f.code.as_deref().unwrap_or("PHONE"), f.id * 10);
            }
            account
                .custom_fields
                .entry(kind)
                .or_default()
                .push(CustomFieldDef {
                    id: f.id,
                    name: f.name.clone(),
                    code: f.code.clone(),
                    field_type: f.field_type.clone(),
                    sort: (i as i64 + 1) * 10,
                    enums,
                });
        }
    }
    // Every Kommo account has PHONE and EMAIL multitext fields on contacts and companies.
    for kind in [EntityKind::Contacts, EntityKind::Companies] {
        for (code, name, offset) in [("PHONE", "Phone", 1), ("EMAIL", "Email", 2)] {
            let fields = account.custom_fields.entry(kind).or_default();
            if !fields.iter().any(|f| f.code.as_deref() == Some(code)) {
                let id = 900_000 + kind.element_type() * 10 + offset;
                fields.push(CustomFieldDef {
                    id,
                    name: name.into(),
                    code: Some(code.into()),
                    field_type: "multitext".into(),
                    sort: 1,
                    enums: default_enums(code, id * 10),
                });
            }
        }
    }
    account.user_groups = seed
        .user_groups
        .iter()
        .map(|g| UserGroup {
            id: g.id,
            name: g.name.clone(),
        })
        .collect();
    account.task_types = vec![
        TaskType {
            id: 1,
            name: "Follow-up".into(),
            color: None,
            icon_id: None,
            code: Some("FOLLOW_UP".into()),
        },
        TaskType {
            id: 2,
            name: "Meeting".into(),
            color: None,
            icon_id: None,
            code: Some("MEETING".into()),
        },
    ];
    account
        .task_types
        .extend(seed.task_types.iter().map(|t| TaskType {
            id: t.id,
            name: t.name.clone(),
            color: Some("#99ccff".into()),
            icon_id: Some(1),
            code: None,
        }));
    account.loss_reasons = seed
        .loss_reasons
        .iter()
        .enumerate()
        .map(|(i, r)| LossReason {
            id: r.id,
            name: r.name.clone(),
            sort: (i as i64 + 1) * 10,
        })
        .collect();
    account.bots = seed
        .bots
        .iter()
        .map(|b| Bot {
            id: b.id,
            name: b.name.clone(),
            active: b.active.unwrap_or(true),
            widget_request: b.widget_request.clone(),
        })
        .collect();
    account.integrations = seed
        .integrations
        .iter()
        .map(|i| Integration {
            client_id: i.client_id.clone(),
            client_secret: i.client_secret.clone(),
            redirect_uri: i.redirect_uri.clone(),
        })
        .collect();
    account.dp_actions = seed
        .dp_actions
        .iter()
        .map(|d| DpAction {
            pipeline_id: d.pipeline_id,
            status_id: d.status_id,
            webhook_url: d.webhook_url.clone(),
            settings: d.settings.clone(),
        })
        .collect();
    Ok(account)
}
