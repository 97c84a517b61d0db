//! The account's schema: what a Kommo account is made of that rules name — pipelines and their
//! stages, users and their groups, the custom fields of leads, contacts and companies, task types,
//! tags, Salesbots, loss reasons, and the account's timezone, currency and language.
//!
//! The backend reads it from Kommo, caches it per account and answers it as JSON at
//! `GET /api/v1/account/schema` in exactly this shape, so the widget deserializes it into
//! [`Schema`] and runs the same [`crate::validate::validate`] locally. Lists that may be unknown
//! (users, pipelines, Salesbots) are `Option`s: `None` means "not known", and then what a rule
//! names of them is not checked; an empty list means the account has none.

use serde::{Deserialize, Serialize};

use crate::path::EntityType;
use crate::snapshot::FieldType;

/// The ids Kommo gives the closing stages of every pipeline.
pub const WON_STATUS_ID: i64 = 142;
/// See [`WON_STATUS_ID`].
pub const LOST_STATUS_ID: i64 = 143;

/// What an account is made of, as far as rules name it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Schema {
    /// The account's IANA timezone (`Europe/Madrid`); empty when not known.
    #[serde(default)]
    pub timezone: String,
    /// The timezone's UTC offsets over the years around now, which the backend adds when it
    /// serves the schema: the widget, built without the timezone database, reads dates in them
    /// ([`Schema::zone`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utc_offsets: Option<crate::zone::UtcOffsets>,
    /// The account's currency code (`USD`); empty when not known.
    #[serde(default)]
    pub currency: String,
    /// The account's language (`en`); empty when not known.
    #[serde(default)]
    pub language: String,
    /// The lead pipelines with their stages; `None` when not known, and then stages and pipelines
    /// are not checked.
    #[serde(default)]
    pub pipelines: Option<Vec<SchemaPipeline>>,
    /// The account's users; `None` when they are not known, and then users are not checked.
    #[serde(default)]
    pub users: Option<Vec<SchemaUser>>,
    /// The groups users belong to.
    #[serde(default)]
    pub user_groups: Vec<SchemaUserGroup>,
    /// Every custom field of leads, contacts and companies.
    #[serde(default)]
    pub fields: Vec<SchemaField>,
    /// The task types.
    #[serde(default)]
    pub task_types: Vec<SchemaTaskType>,
    /// The tags of each entity type.
    #[serde(default)]
    pub tags: Vec<SchemaTag>,
    /// The Salesbots; `None` when not known, and then the bots a rule runs are not checked.
    #[serde(default)]
    pub salesbots: Option<Vec<SchemaSalesbot>>,
    /// Why leads are lost.
    #[serde(default)]
    pub loss_reasons: Vec<SchemaLossReason>,
    /// When the backend read it from Kommo, unix seconds; `None` for a schema built otherwise.
    #[serde(default)]
    pub fetched_at: Option<i64>,
}

/// A lead pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SchemaPipeline {
    /// The Kommo pipeline id.
    pub id: i64,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Its place among the pipelines.
    #[serde(default)]
    pub sort: i64,
    /// Whether it is the account's main pipeline.
    #[serde(default)]
    pub is_main: bool,
    /// Its stages, in Kommo's order.
    #[serde(default)]
    pub stages: Vec<SchemaStage>,
}

/// What a stage is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    /// A working stage.
    #[default]
    Open,
    /// The "incoming leads" stage (Kommo's type 1).
    Unsorted,
    /// Closed, won (id 142).
    Won,
    /// Closed, lost (id 143).
    Lost,
}

/// A stage (Kommo: status) of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SchemaStage {
    /// The Kommo status id (142 won and 143 lost in every pipeline).
    pub id: i64,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Its colour, `#rrggbb`.
    #[serde(default)]
    pub color: String,
    /// Its place in the pipeline.
    #[serde(default)]
    pub sort: i64,
    /// What it is for.
    #[serde(default)]
    pub kind: StageKind,
}

/// One user of the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SchemaUser {
    /// The Kommo user id.
    pub id: i64,
    /// The user's name.
    #[serde(default)]
    pub name: String,
    /// Whether the user may log in (a deactivated user keeps their id).
    #[serde(default = "yes")]
    pub active: bool,
    /// Whether the user is an administrator of the account.
    #[serde(default)]
    pub admin: bool,
    /// The group the user belongs to, if any.
    #[serde(default)]
    pub group_id: Option<i64>,
}

fn yes() -> bool {
    true
}

/// A group of users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SchemaUserGroup {
    /// The group id.
    pub id: i64,
    /// Its name.
    #[serde(default)]
    pub name: String,
}

/// One custom field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SchemaField {
    /// Which entity type has it.
    pub entity: EntityType,
    /// The Kommo field id.
    pub id: i64,
    /// The field name.
    pub name: String,
    /// The field type, as rules read it.
    pub field_type: FieldType,
    /// The type as Kommo names it (`radiobutton`, `price`, `smart_address`…); empty when not known.
    #[serde(default)]
    pub kommo_type: String,
    /// The field's code (`PHONE`, `UTM_SOURCE`), if it has one.
    #[serde(default)]
    pub code: Option<String>,
    /// Its place among the entity's fields.
    #[serde(default)]
    pub sort: i64,
    /// List values of select/multiselect fields.
    #[serde(default)]
    pub enums: Vec<SchemaEnum>,
}

/// A list value of a select field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SchemaEnum {
    /// The enum id.
    pub id: i64,
    /// The value.
    pub value: String,
    /// Its code (`WORK` of a phone), if it has one.
    #[serde(default)]
    pub code: Option<String>,
    /// Its place in the list.
    #[serde(default)]
    pub sort: i64,
}

/// A task type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SchemaTaskType {
    /// The task type id.
    pub id: i64,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Its colour, if set.
    #[serde(default)]
    pub color: Option<String>,
    /// Its icon, if set.
    #[serde(default)]
    pub icon_id: Option<i64>,
    /// Its code (`FOLLOW_UP`, `MEETING`), if it has one.
    #[serde(default)]
    pub code: Option<String>,
}

/// A tag of an entity type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SchemaTag {
    /// Which entity type's tag it is.
    pub entity: EntityType,
    /// The tag id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its colour, if set.
    #[serde(default)]
    pub color: Option<String>,
}

/// A Salesbot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SchemaSalesbot {
    /// The bot id.
    pub id: i64,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Whether it is switched on.
    #[serde(default = "yes")]
    pub active: bool,
}

/// A reason a lead is lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SchemaLossReason {
    /// The loss reason id.
    pub id: i64,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Its place in the list.
    #[serde(default)]
    pub sort: i64,
}

impl Schema {
    /// The account's timezone: see [`crate::zone::Zone::of_account`].
    pub fn zone(&self) -> crate::zone::Zone {
        crate::zone::Zone::of_account(&self.timezone, self.utc_offsets.as_ref())
    }

    /// A custom field of an entity type (of any type when `entity` is `None`).
    pub fn field(&self, entity: Option<EntityType>, id: i64) -> Option<&SchemaField> {
        self.fields
            .iter()
            .find(|f| f.id == id && entity.is_none_or(|e| e == f.entity))
    }

    /// A pipeline, when the pipelines are known; `Some(None)` when it does not exist.
    pub fn pipeline(&self, id: i64) -> Option<Option<&SchemaPipeline>> {
        self.pipelines
            .as_ref()
            .map(|pipelines| pipelines.iter().find(|p| p.id == id))
    }

    /// A user by id, when the users are known; `Some(None)` when there is no such user.
    pub fn user(&self, id: i64) -> Option<Option<&SchemaUser>> {
        self.users
            .as_ref()
            .map(|users| users.iter().find(|u| u.id == id))
    }
}

impl SchemaPipeline {
    /// Whether the pipeline has a stage; 142 and 143 belong to every pipeline.
    pub fn has_stage(&self, id: i64) -> bool {
        id == WON_STATUS_ID || id == LOST_STATUS_ID || self.stages.iter().any(|s| s.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_reads_back_what_it_writes_and_missing_lists_are_unknown() {
        let schema = Schema {
            timezone: "Europe/Madrid".into(),
            pipelines: Some(vec![SchemaPipeline {
                id: 1,
                name: "Sales".into(),
                sort: 1,
                is_main: true,
                stages: vec![SchemaStage {
                    id: 10,
                    name: "New".into(),
                    color: "#99ccff".into(),
                    sort: 10,
                    kind: StageKind::Unsorted,
                }],
            }]),
            users: Some(vec![SchemaUser {
                id: 5,
                name: "Ann".into(),
                active: false,
                admin: true,
                group_id: Some(3),
            }]),
            ..Schema::default()
        };
        let json = serde_json::to_string(&schema).unwrap_or_default();
        let back: Schema = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, schema);
        let bare: Schema = serde_json::from_str("{}").unwrap_or_else(|_| schema.clone());
        assert_eq!(
            (bare.users, bare.pipelines, bare.salesbots),
            (None, None, None)
        );
    }

    #[test]
    fn every_pipeline_has_the_closing_stages() {
        let pipeline = SchemaPipeline {
            id: 1,
            name: String::new(),
            sort: 0,
            is_main: false,
            stages: vec![],
        };
        assert!(pipeline.has_stage(WON_STATUS_ID) && pipeline.has_stage(LOST_STATUS_ID));
        assert!(!pipeline.has_stage(10));
    }
}
