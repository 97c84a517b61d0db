//! Rules carried from one account to another: the export document, and the matching of what its
//! rules name of the account (custom fields and their list values, users, pipelines and their
//! stages, task types, Salesbots) in the account that imports it.
//!
//! A rule names the account's objects by id. The document names each one the rules use by id
//! and by name (and by code, where Kommo gives one) in [`References`]; an import matches each by
//! id when the document comes from the same account, and by code or name in another one.
//! Whatever finds no match is kept as it was and reported ([`Unmatched`]), so the screens can say
//! what to fix before the rule is enabled.
//!
//! Every kind of reference is one entry of [`ReferenceKind`], one table of [`References`] and one
//! lookup of [`Matcher`]; the places a rule names them are all in [`Walker`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::eval::text_eq;
use crate::path::{EntityField, EntityRole, EntityType, EventField, Path, TaskField};
use crate::rule::{
    Action, ActionKind, Condition, FieldAssignment, FieldTarget, Literal, Operand, Rule,
    RuleParseError, Timer, Trigger, UserChoice,
};
use crate::schema::{
    SchemaPipeline, SchemaSalesbot, SchemaStage, SchemaTaskType, LOST_STATUS_ID, WON_STATUS_ID,
};
use crate::template::{print, Calc, ExprValue, Node, Template};
use crate::validate::{Schema, SchemaField, SchemaUser};

/// The `format` of every export document.
pub const FORMAT: &str = "rulebook.rules";
/// The version of the document's shape this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// One or more rules exported as one JSON document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// Always [`FORMAT`].
    pub format: String,
    /// The shape's version; [`FORMAT_VERSION`] when written by this build.
    pub format_version: u32,
    /// The Kommo account the rules come from: an import into the same account matches by id.
    pub account_id: i64,
    /// When it was exported, Unix milliseconds.
    #[serde(default)]
    pub exported_at: i64,
    /// The rules, in the account's order.
    pub rules: Vec<PortableRule>,
    /// What the rules name of the account, by id and by name.
    #[serde(default)]
    pub references: References,
}

/// One exported rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PortableRule {
    /// Its id in the account it comes from.
    #[serde(default)]
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Whether it ran there (an imported rule starts disabled whatever this says).
    #[serde(default)]
    pub enabled: bool,
    /// The definition, as stored.
    pub rule: Value,
}

/// What the rules of a document name of their account, each by id and by name (and code). Each
/// table holds only what some rule names. Tables added after format version 1 was first written
/// default to empty, so older documents still read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct References {
    /// Custom fields, with their codes and list values.
    #[serde(default)]
    pub fields: Vec<SchemaField>,
    /// Users.
    #[serde(default)]
    pub users: Vec<SchemaUser>,
    /// Pipelines, each with only the stages the rules name (142 and 143 are never listed: they
    /// are the same stages in every pipeline of every account).
    #[serde(default)]
    pub pipelines: Vec<SchemaPipeline>,
    /// Task types, with their codes.
    #[serde(default)]
    pub task_types: Vec<SchemaTaskType>,
    /// Salesbots.
    #[serde(default)]
    pub salesbots: Vec<SchemaSalesbot>,
}

/// The kinds of account object a rule names by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReferenceKind {
    /// A custom field.
    Field,
    /// A list value of a select field.
    Enum,
    /// A user.
    User,
    /// A lead pipeline.
    Pipeline,
    /// A stage of a pipeline.
    Stage,
    /// A task type.
    TaskType,
    /// A Salesbot.
    Salesbot,
}

/// One place where a rule names an account object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reference {
    /// A custom field of an entity type (`None` when the rule's trigger leaves it open).
    Field {
        /// The entity type that has it.
        entity: Option<EntityType>,
        /// Its id.
        id: i64,
    },
    /// A list value of a custom field, written by id in a field assignment.
    Enum {
        /// The field's id.
        field: i64,
        /// The list value's id.
        id: i64,
    },
    /// A user.
    User(i64),
    /// A lead pipeline.
    Pipeline(i64),
    /// A stage (never 142 or 143, which need no matching).
    Stage {
        /// The pipeline the rule names with it, as the rule names it; `None` where the rule names
        /// the stage alone (a condition's literal).
        pipeline: Option<i64>,
        /// The stage's id.
        id: i64,
    },
    /// A task type.
    TaskType(i64),
    /// A Salesbot.
    Salesbot(i64),
}

impl Reference {
    /// Its kind.
    pub fn kind(self) -> ReferenceKind {
        match self {
            Reference::Field { .. } => ReferenceKind::Field,
            Reference::Enum { .. } => ReferenceKind::Enum,
            Reference::User(_) => ReferenceKind::User,
            Reference::Pipeline(_) => ReferenceKind::Pipeline,
            Reference::Stage { .. } => ReferenceKind::Stage,
            Reference::TaskType(_) => ReferenceKind::TaskType,
            Reference::Salesbot(_) => ReferenceKind::Salesbot,
        }
    }

    /// The id it names.
    pub fn id(self) -> i64 {
        match self {
            Reference::Field { id, .. }
            | Reference::Enum { id, .. }
            | Reference::Stage { id, .. }
            | Reference::User(id)
            | Reference::Pipeline(id)
            | Reference::TaskType(id)
            | Reference::Salesbot(id) => id,
        }
    }
}

/// Whether a stage is one of the closing stages every pipeline has under the same id.
fn is_closing_stage(id: i64) -> bool {
    id == WON_STATUS_ID || id == LOST_STATUS_ID
}

/// Calls `f` on every account object `rule` names; where `f` answers an id, the rule names that
/// one instead.
pub fn map_references(rule: &mut Rule, f: &mut dyn FnMut(Reference) -> Option<i64>) {
    let entity = rule.trigger.entity_type();
    let mut walker = Walker { entity, f };
    walker.trigger(&mut rule.trigger);
    for block in &mut rule.blocks {
        for condition in &mut block.conditions {
            walker.condition(condition);
        }
        for action in &mut block.actions {
            walker.action(action);
        }
    }
    if let Some(scenario) = &mut rule.else_scenario {
        for action in &mut scenario.actions {
            walker.action(action);
        }
    }
}

/// Every account object `rule` names, each once.
pub fn references_of(rule: &Rule) -> BTreeSet<Reference> {
    let mut found = BTreeSet::new();
    let mut copy = rule.clone();
    map_references(&mut copy, &mut |reference| {
        found.insert(reference);
        None
    });
    found
}

/// The [`References`] table of a document holding `rules`, with names from the exporting
/// account's schema (objects the schema does not know are left out, and an import elsewhere
/// reports them unmatched).
pub fn references_for<'r>(
    rules: impl IntoIterator<Item = &'r Rule>,
    schema: &Schema,
) -> References {
    let mut fields = BTreeSet::new();
    let mut users = BTreeSet::new();
    let mut pipelines = BTreeSet::new();
    let mut stages: BTreeSet<(Option<i64>, i64)> = BTreeSet::new();
    let mut task_types = BTreeSet::new();
    let mut salesbots = BTreeSet::new();
    for rule in rules {
        for reference in references_of(rule) {
            match reference {
                Reference::Field { id, .. } | Reference::Enum { field: id, .. } => {
                    fields.insert(id);
                }
                Reference::User(id) => {
                    users.insert(id);
                }
                Reference::Pipeline(id) => {
                    pipelines.insert(id);
                }
                Reference::Stage { pipeline, id } => {
                    stages.insert((pipeline, id));
                }
                Reference::TaskType(id) => {
                    task_types.insert(id);
                }
                Reference::Salesbot(id) => {
                    salesbots.insert(id);
                }
            }
        }
    }
    let named_stage = |pipeline: i64, stage: &SchemaStage| {
        stages
            .iter()
            .any(|(p, id)| *id == stage.id && p.is_none_or(|p| p == pipeline))
    };
    References {
        fields: schema
            .fields
            .iter()
            .filter(|f| fields.contains(&f.id))
            .cloned()
            .collect(),
        users: schema
            .users
            .iter()
            .flatten()
            .filter(|u| users.contains(&u.id))
            .cloned()
            .collect(),
        pipelines: schema
            .pipelines
            .iter()
            .flatten()
            .filter_map(|p| {
                let named: Vec<SchemaStage> = p
                    .stages
                    .iter()
                    .filter(|s| named_stage(p.id, s))
                    .cloned()
                    .collect();
                (pipelines.contains(&p.id) || !named.is_empty()).then(|| SchemaPipeline {
                    id: p.id,
                    name: p.name.clone(),
                    sort: p.sort,
                    is_main: p.is_main,
                    stages: named,
                })
            })
            .collect(),
        task_types: schema
            .task_types
            .iter()
            .filter(|t| task_types.contains(&t.id))
            .cloned()
            .collect(),
        salesbots: schema
            .salesbots
            .iter()
            .flatten()
            .filter(|b| salesbots.contains(&b.id))
            .cloned()
            .collect(),
    }
}

/// A reference an import could not match: the rule keeps its id, which names nothing (or
/// something else) in the importing account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Unmatched {
    /// What kind of object.
    pub kind: ReferenceKind,
    /// Its id in the document.
    pub id: i64,
    /// Its name in the document, when the document names it (a stage as `pipeline / stage`).
    #[serde(default)]
    pub name: Option<String>,
    /// Why it found no match.
    pub reason: String,
}

/// What an import did, or with `dry`, would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ImportReport {
    /// Whether this was a preview: nothing was written.
    pub dry: bool,
    /// One entry per rule of the document, in its order.
    pub rules: Vec<ImportedRule>,
}

/// One rule of an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ImportedRule {
    /// Its index in the document's `rules`.
    pub index: usize,
    /// The name it gets (the document's, or with a suffix when the account has that name).
    pub name: String,
    /// The created rule; `None` in a preview.
    #[serde(default)]
    pub id: Option<i64>,
    /// Always `false`: an imported rule starts disabled.
    pub enabled: bool,
    /// What it names that found no match in this account.
    pub unmatched: Vec<Unmatched>,
}

/// A rule of a document made to name the importing account's objects.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchedRule {
    /// The rule, with every matched reference renamed.
    pub rule: Rule,
    /// What found no match, each once, in the rule's order of kinds and ids.
    pub unmatched: Vec<Unmatched>,
}

/// Matches what each rule of `document` names against the importing account (`account_id`,
/// whose objects are `schema`, `None` when they are not known): by id when the document comes
/// from the same account, by code or name in another. Each rule's result is in document order; a
/// rule that does not parse gives its error.
pub fn match_document(
    document: &Document,
    account_id: i64,
    schema: Option<&Schema>,
) -> Vec<Result<MatchedRule, RuleParseError>> {
    let matcher = Matcher {
        references: &document.references,
        same_account: document.account_id == account_id,
        schema,
    };
    document
        .rules
        .iter()
        .map(|portable| {
            let mut rule = Rule::from_json(&portable.rule.to_string())?;
            Ok(matcher.match_rule(&mut rule))
        })
        .collect()
}

/// What a lookup of one reference in the importing account found.
enum Found {
    /// This id.
    Id(i64),
    /// Nothing: why.
    Missing(String),
}

/// The one of `candidates`, or how many there are when not exactly one (a name two objects
/// share is not guessed between).
fn only_one<T>(candidates: Vec<T>) -> Result<T, usize> {
    let count = candidates.len();
    let mut candidates = candidates.into_iter();
    match (candidates.next(), count) {
        (Some(one), 1) => Ok(one),
        _ => Err(count),
    }
}

/// Whether two codes are the same (Kommo writes them in capitals; an empty code is none).
fn code_eq(a: Option<&str>, b: &str) -> bool {
    a.is_some_and(|a| !a.trim().is_empty() && a.trim().eq_ignore_ascii_case(b.trim()))
}

/// The code of an object, when it has a non-empty one.
fn code_of(code: Option<&String>) -> Option<&str> {
    code.map(|c| c.trim()).filter(|c| !c.is_empty())
}

/// Looks up each reference of a document in the importing account.
struct Matcher<'a> {
    references: &'a References,
    same_account: bool,
    schema: Option<&'a Schema>,
}

impl Matcher<'_> {
    fn match_rule(&self, rule: &mut Rule) -> MatchedRule {
        let mut unmatched: BTreeMap<(ReferenceKind, i64), Unmatched> = BTreeMap::new();
        map_references(rule, &mut |reference| match self.find(reference) {
            Found::Id(id) => Some(id),
            Found::Missing(reason) => {
                unmatched
                    .entry((reference.kind(), reference.id()))
                    .or_insert_with(|| Unmatched {
                        kind: reference.kind(),
                        id: reference.id(),
                        name: self.source_name(reference),
                        reason,
                    });
                None
            }
        });
        MatchedRule {
            rule: rule.clone(),
            unmatched: unmatched.into_values().collect(),
        }
    }

    fn source_field(&self, entity: Option<EntityType>, id: i64) -> Option<&SchemaField> {
        self.references
            .fields
            .iter()
            .find(|f| f.id == id && entity.is_none_or(|e| e == f.entity))
    }

    fn source_pipeline(&self, id: i64) -> Option<&SchemaPipeline> {
        self.references.pipelines.iter().find(|p| p.id == id)
    }

    /// A stage of the document with its pipeline: in `pipeline` when the rule names one, else in
    /// whichever pipeline has it (Kommo's stage ids are unique but for 142 and 143).
    fn source_stage(
        &self,
        pipeline: Option<i64>,
        id: i64,
    ) -> Option<(&SchemaPipeline, &SchemaStage)> {
        self.references
            .pipelines
            .iter()
            .filter(|p| pipeline.is_none_or(|wanted| wanted == p.id))
            .find_map(|p| p.stages.iter().find(|s| s.id == id).map(|s| (p, s)))
    }

    fn source_name(&self, reference: Reference) -> Option<String> {
        match reference {
            Reference::Field { entity, id } => {
                self.source_field(entity, id).map(|f| f.name.clone())
            }
            Reference::Enum { field, id } => self
                .source_field(None, field)
                .and_then(|f| f.enums.iter().find(|e| e.id == id))
                .map(|e| e.value.clone()),
            Reference::User(id) => self
                .references
                .users
                .iter()
                .find(|u| u.id == id)
                .map(|u| u.name.clone()),
            Reference::Pipeline(id) => self.source_pipeline(id).map(|p| p.name.clone()),
            Reference::Stage { pipeline, id } => self
                .source_stage(pipeline, id)
                .map(|(p, s)| format!("{} / {}", p.name, s.name)),
            Reference::TaskType(id) => self
                .references
                .task_types
                .iter()
                .find(|t| t.id == id)
                .map(|t| t.name.clone()),
            Reference::Salesbot(id) => self
                .references
                .salesbots
                .iter()
                .find(|b| b.id == id)
                .map(|b| b.name.clone()),
        }
    }

    /// Whether a field takes list values: a number assigned to another field is just a number.
    fn is_list_field(&self, field: i64) -> bool {
        let listed = |f: &SchemaField| f.id == field && !f.enums.is_empty();
        self.references.fields.iter().any(listed)
            || (self.same_account && self.schema.is_some_and(|s| s.fields.iter().any(listed)))
    }

    /// What to answer when the importing account's list of some kind is not known: at home the
    /// rule names what it named; elsewhere nothing can be matched.
    fn not_known(&self, id: i64, what: &str) -> Found {
        if self.same_account {
            Found::Id(id)
        } else {
            Found::Missing(format!(
                "this account's {what} are not known yet, so nothing could be matched by name"
            ))
        }
    }

    fn find(&self, reference: Reference) -> Found {
        if let Reference::Enum { field, id } = reference {
            if !self.is_list_field(field) {
                return Found::Id(id);
            }
        }
        let Some(schema) = self.schema else {
            return if self.same_account {
                // Nothing to check against: the rule names what it named.
                Found::Id(reference.id())
            } else {
                Found::Missing(
                    "this account's schema is not known yet, so nothing could be matched by name"
                        .into(),
                )
            };
        };
        match reference {
            Reference::Field { entity, id } => self.find_field(schema, entity, id),
            Reference::Enum { field, id } => self.find_enum(schema, field, id),
            Reference::User(id) => self.find_user(schema, id),
            Reference::Pipeline(id) => self.find_pipeline(schema, id),
            Reference::Stage { pipeline, id } => self.find_stage(schema, pipeline, id),
            Reference::TaskType(id) => self.find_task_type(schema, id),
            Reference::Salesbot(id) => self.find_salesbot(schema, id),
        }
    }

    /// By id at home; elsewhere by code when the field has one and one field of the entity has
    /// that code (`PHONE`, `EMAIL`: their names are translated, their codes are not), else by
    /// name.
    fn find_field(&self, schema: &Schema, entity: Option<EntityType>, id: i64) -> Found {
        let owner = entity.map_or("entity", EntityType::as_str);
        if self.same_account {
            return if schema.field(entity, id).is_some() {
                Found::Id(id)
            } else {
                Found::Missing(format!("the {owner} has no field {id} any more"))
            };
        }
        let Some(source) = self.source_field(entity, id) else {
            return Found::Missing(format!("the document does not name field {id}"));
        };
        let of_entity = || schema.fields.iter().filter(|f| f.entity == source.entity);
        let code = code_of(source.code.as_ref());
        if let Some(code) = code {
            let coded = of_entity()
                .filter(|f| code_eq(f.code.as_deref(), code))
                .collect();
            if let Ok(one) = only_one(coded) {
                return Found::Id(one.id);
            }
        }
        let named = of_entity()
            .filter(|f| text_eq(&f.name, &source.name))
            .collect();
        let entity = source.entity.as_str();
        let name = &source.name;
        match only_one(named) {
            Ok(one) => Found::Id(one.id),
            Err(0) => {
                Found::Missing(match code {
                    Some(code) => {
                        format!("this account has no {entity} field with code '{code}' or named '{name}'")
                    }
                    None => format!("this account has no {entity} field named '{name}'"),
                })
            }
            Err(n) => Found::Missing(format!(
                "this account has {n} {entity} fields named '{name}'"
            )),
        }
    }

    fn find_enum(&self, schema: &Schema, field: i64, id: i64) -> Found {
        if self.same_account {
            let here = schema
                .fields
                .iter()
                .any(|f| f.id == field && f.enums.iter().any(|e| e.id == id));
            return if here {
                Found::Id(id)
            } else {
                Found::Missing(format!("field {field} has no list value {id} any more"))
            };
        }
        let Some(source) = self.source_field(None, field) else {
            return Found::Missing(format!("the document does not name field {field}"));
        };
        let Some(value) = source.enums.iter().find(|e| e.id == id) else {
            return Found::Missing(format!(
                "the document does not name list value {id} of '{}'",
                source.name
            ));
        };
        let target = match self.find_field(schema, Some(source.entity), field) {
            Found::Id(target) => target,
            Found::Missing(why) => return Found::Missing(why),
        };
        let Some(target) = schema.fields.iter().find(|f| f.id == target) else {
            return Found::Missing(format!("field '{}' is not in this account", source.name));
        };
        // By code first (`WORK` of a phone), then by value.
        let by_code = code_of(value.code.as_ref())
            .and_then(|code| {
                only_one(
                    target
                        .enums
                        .iter()
                        .filter(|e| code_eq(e.code.as_deref(), code))
                        .collect(),
                )
                .ok()
            })
            .or_else(|| {
                target
                    .enums
                    .iter()
                    .find(|e| text_eq(&e.value, &value.value))
            });
        by_code.map_or_else(
            || {
                Found::Missing(format!(
                    "field '{}' has no list value '{}' in this account",
                    source.name, value.value
                ))
            },
            |e| Found::Id(e.id),
        )
    }

    fn find_user(&self, schema: &Schema, id: i64) -> Found {
        let Some(users) = &schema.users else {
            return self.not_known(id, "users");
        };
        if self.same_account {
            return if users.iter().any(|u| u.id == id) {
                Found::Id(id)
            } else {
                Found::Missing(format!("the account has no user {id} any more"))
            };
        }
        let Some(source) = self.references.users.iter().find(|u| u.id == id) else {
            return Found::Missing(format!("the document does not name user {id}"));
        };
        let named = users
            .iter()
            .filter(|u| text_eq(&u.name, &source.name))
            .collect();
        match only_one(named) {
            Ok(one) => Found::Id(one.id),
            Err(0) => Found::Missing(format!("this account has no user named '{}'", source.name)),
            Err(n) => Found::Missing(format!(
                "this account has {n} users named '{}'",
                source.name
            )),
        }
    }

    fn find_pipeline(&self, schema: &Schema, id: i64) -> Found {
        let Some(pipelines) = &schema.pipelines else {
            return self.not_known(id, "pipelines");
        };
        if self.same_account {
            return if pipelines.iter().any(|p| p.id == id) {
                Found::Id(id)
            } else {
                Found::Missing(format!("the account has no pipeline {id} any more"))
            };
        }
        let Some(source) = self.source_pipeline(id) else {
            return Found::Missing(format!("the document does not name pipeline {id}"));
        };
        let named = pipelines
            .iter()
            .filter(|p| text_eq(&p.name, &source.name))
            .collect();
        match only_one(named) {
            Ok(one) => Found::Id(one.id),
            Err(0) => Found::Missing(format!(
                "this account has no pipeline named '{}'",
                source.name
            )),
            Err(n) => Found::Missing(format!(
                "this account has {n} pipelines named '{}'",
                source.name
            )),
        }
    }

    /// By id at home; elsewhere by the name of its pipeline, then its own name in that pipeline
    /// (stage names repeat from pipeline to pipeline).
    fn find_stage(&self, schema: &Schema, pipeline: Option<i64>, id: i64) -> Found {
        let Some(pipelines) = &schema.pipelines else {
            return self.not_known(id, "pipelines");
        };
        if self.same_account {
            let here = pipelines
                .iter()
                .filter(|p| pipeline.is_none_or(|wanted| wanted == p.id))
                .any(|p| p.has_stage(id));
            return if here {
                Found::Id(id)
            } else {
                Found::Missing(format!("the account has no stage {id} any more"))
            };
        }
        let Some((source_pipeline, source)) = self.source_stage(pipeline, id) else {
            return Found::Missing(format!("the document does not name stage {id}"));
        };
        let target = match self.find_pipeline(schema, source_pipeline.id) {
            Found::Id(target) => target,
            Found::Missing(why) => return Found::Missing(why),
        };
        let Some(target) = pipelines.iter().find(|p| p.id == target) else {
            return Found::Missing(format!(
                "pipeline '{}' is not in this account",
                source_pipeline.name
            ));
        };
        let named = target
            .stages
            .iter()
            .filter(|s| !is_closing_stage(s.id) && text_eq(&s.name, &source.name))
            .collect();
        match only_one(named) {
            Ok(one) => Found::Id(one.id),
            Err(0) => Found::Missing(format!(
                "pipeline '{}' has no stage named '{}' in this account",
                target.name, source.name
            )),
            Err(n) => Found::Missing(format!(
                "pipeline '{}' has {n} stages named '{}' in this account",
                target.name, source.name
            )),
        }
    }

    /// By id at home; elsewhere by code (Kommo's own types, `FOLLOW_UP` and `MEETING`), else
    /// by name.
    fn find_task_type(&self, schema: &Schema, id: i64) -> Found {
        // Every Kommo account has task types, so an empty list means they were not read.
        if schema.task_types.is_empty() {
            return self.not_known(id, "task types");
        }
        if self.same_account {
            return if schema.task_types.iter().any(|t| t.id == id) {
                Found::Id(id)
            } else {
                Found::Missing(format!("the account has no task type {id} any more"))
            };
        }
        let Some(source) = self.references.task_types.iter().find(|t| t.id == id) else {
            return Found::Missing(format!("the document does not name task type {id}"));
        };
        let code = code_of(source.code.as_ref());
        if let Some(code) = code {
            let coded = schema
                .task_types
                .iter()
                .filter(|t| code_eq(t.code.as_deref(), code))
                .collect();
            if let Ok(one) = only_one(coded) {
                return Found::Id(one.id);
            }
        }
        let named = schema
            .task_types
            .iter()
            .filter(|t| text_eq(&t.name, &source.name))
            .collect();
        match only_one(named) {
            Ok(one) => Found::Id(one.id),
            Err(0) => Found::Missing(format!(
                "this account has no task type named '{}'",
                source.name
            )),
            Err(n) => Found::Missing(format!(
                "this account has {n} task types named '{}'",
                source.name
            )),
        }
    }

    fn find_salesbot(&self, schema: &Schema, id: i64) -> Found {
        let Some(bots) = &schema.salesbots else {
            return self.not_known(id, "Salesbots");
        };
        if self.same_account {
            return if bots.iter().any(|b| b.id == id) {
                Found::Id(id)
            } else {
                Found::Missing(format!("the account has no Salesbot {id} any more"))
            };
        }
        let Some(source) = self.references.salesbots.iter().find(|b| b.id == id) else {
            return Found::Missing(format!("the document does not name Salesbot {id}"));
        };
        let named = bots
            .iter()
            .filter(|b| text_eq(&b.name, &source.name))
            .collect();
        match only_one(named) {
            Ok(one) => Found::Id(one.id),
            Err(0) => Found::Missing(format!(
                "this account has no Salesbot named '{}'",
                source.name
            )),
            Err(n) => Found::Missing(format!(
                "this account has {n} Salesbots named '{}'",
                source.name
            )),
        }
    }
}

/// What the ids in a condition's literal name, by what the condition reads.
#[derive(Debug, Clone, Copy)]
enum LiteralIds {
    /// Custom fields (`event.field_id`).
    Field,
    /// Users (a responsible user's id).
    User,
    /// Pipelines.
    Pipeline,
    /// Stages.
    Stage,
    /// Task types.
    TaskType,
}

/// What a condition's literal names when it reads `path`, if it names ids of the account.
fn literal_ids(path: &Path) -> Option<LiteralIds> {
    match path {
        Path::Entity(_, EntityField::StatusId) | Path::Event(EventField::OldStatusId) => {
            Some(LiteralIds::Stage)
        }
        Path::Entity(_, EntityField::PipelineId) | Path::Event(EventField::OldPipelineId) => {
            Some(LiteralIds::Pipeline)
        }
        Path::Entity(_, EntityField::ResponsibleUserId)
        | Path::Task(TaskField::ResponsibleUserId)
        | Path::Event(EventField::OldResponsibleUserId) => Some(LiteralIds::User),
        Path::Task(TaskField::TypeId) => Some(LiteralIds::TaskType),
        Path::Event(EventField::FieldId) => Some(LiteralIds::Field),
        _ => None,
    }
}

/// An id written in a literal: a whole positive number (0 and below name nothing).
fn literal_id(text: &str) -> Option<i64> {
    text.trim().parse::<i64>().ok().filter(|id| *id > 0)
}

/// Visits every reference of a rule, renaming where asked.
struct Walker<'f> {
    /// The rule's entity type (what `client` paths read).
    entity: Option<EntityType>,
    f: &'f mut dyn FnMut(Reference) -> Option<i64>,
}

impl Walker<'_> {
    fn visit(&mut self, reference: Reference, id: &mut i64) {
        if let Some(new) = (self.f)(reference) {
            *id = new;
        }
    }

    fn field(&mut self, entity: Option<EntityType>, id: &mut i64) {
        self.visit(Reference::Field { entity, id: *id }, id);
    }

    fn user(&mut self, id: &mut i64) {
        self.visit(Reference::User(*id), id);
    }

    fn user_choice(&mut self, choice: &mut Option<UserChoice>) {
        if let Some(UserChoice::User(id)) = choice {
            self.user(id);
        }
    }

    fn task_type(&mut self, id: &mut i64) {
        self.visit(Reference::TaskType(*id), id);
    }

    /// A stage, with the pipeline the rule names with it as written (before that is renamed).
    fn stage(&mut self, pipeline: Option<i64>, id: &mut i64) {
        // 142 and 143 are the same stages in every pipeline of every account.
        if !is_closing_stage(*id) {
            self.visit(Reference::Stage { pipeline, id: *id }, id);
        }
    }

    /// A pipeline and a stage named together; either may be open.
    fn pipeline_and_stage(&mut self, pipeline: &mut Option<i64>, stage: &mut Option<i64>) {
        let source = *pipeline;
        if let Some(stage) = stage {
            self.stage(source, stage);
        }
        if let Some(id) = pipeline {
            self.visit(Reference::Pipeline(*id), id);
        }
    }

    fn role_entity(&self, role: EntityRole) -> Option<EntityType> {
        match role {
            EntityRole::Lead => Some(EntityType::Lead),
            EntityRole::Contact => Some(EntityType::Contact),
            EntityRole::Company => Some(EntityType::Company),
            EntityRole::Client => self.entity,
        }
    }

    fn path(&mut self, path: &mut Path) {
        if let Path::Entity(role, EntityField::Custom(id)) = path {
            let entity = self.role_entity(*role);
            self.field(entity, id);
        }
    }

    fn calc(&mut self, calc: &mut Calc) {
        match calc {
            Calc::Path(path) => self.path(path),
            Calc::Negate(inner) => self.calc(inner),
            Calc::Binary(left, _, right) => {
                self.calc(left);
                self.calc(right);
            }
            Calc::Number(_) | Calc::Variable(_) => {}
        }
    }

    /// A template is rewritten only when one of its paths changed, so its text stays as written
    /// otherwise; one that does not parse is left to validation.
    fn template(&mut self, template: &Template) -> Template {
        let Ok(nodes) = template.nodes() else {
            return template.clone();
        };
        let mut nodes = nodes.to_vec();
        let before = nodes.clone();
        for node in &mut nodes {
            if let Node::Expr(expr) = node {
                match &mut expr.value {
                    ExprValue::Path(path) => self.path(path),
                    ExprValue::Calc(calc) => self.calc(calc),
                }
            }
        }
        if nodes == before {
            template.clone()
        } else {
            Template::new(print(&nodes))
        }
    }

    fn trigger(&mut self, trigger: &mut Trigger) {
        match trigger {
            Trigger::FieldUpdated { entity, field_id }
            | Trigger::RelativeToDateField {
                entity, field_id, ..
            } => {
                let entity = Some(*entity);
                self.field(entity, field_id);
            }
            Trigger::StatusChanged {
                pipeline_id,
                status_id,
                ..
            } => self.pipeline_and_stage(pipeline_id, status_id),
            Trigger::InboundWebhook {
                search: Some(search),
                ..
            } => {
                let entity = Some(search.entity);
                for criterion in &mut search.by {
                    if let crate::rule::SearchField::Custom(id) = &mut criterion.field {
                        self.field(entity, id);
                    }
                    criterion.value = self.template(&criterion.value);
                }
                if let Some(name) = &search.name {
                    search.name = Some(self.template(name));
                }
            }
            _ => {}
        }
    }

    fn operand(&mut self, operand: &mut Option<Operand>) {
        if let Some(Operand::Path(path)) = operand {
            self.path(path);
        }
    }

    /// One id of a literal of `kind`, renamed in place.
    fn literal_id(&mut self, kind: LiteralIds, id: &mut i64) {
        match kind {
            LiteralIds::Field => {
                let entity = self.entity;
                self.field(entity, id);
            }
            LiteralIds::User => self.user(id),
            LiteralIds::Pipeline => self.visit(Reference::Pipeline(*id), id),
            LiteralIds::Stage => self.stage(None, id),
            LiteralIds::TaskType => self.task_type(id),
        }
    }

    /// An id written as text; the text is rewritten only when the id changed.
    fn literal_text(&mut self, kind: LiteralIds, text: &mut String) {
        if let Some(mut id) = literal_id(text) {
            let before = id;
            self.literal_id(kind, &mut id);
            if id != before {
                *text = id.to_string();
            }
        }
    }

    /// The ids a condition compares with (`lead.status_id is_one_of ["7001","7002"]`).
    fn literal(&mut self, kind: LiteralIds, literal: &mut Literal) {
        match literal {
            Literal::Number(number) => {
                if let Some(mut id) = literal_id(&number.to_string()) {
                    let before = id;
                    self.literal_id(kind, &mut id);
                    if id != before {
                        // Ids are far below 2^53, so the number holds them exactly.
                        *number = id as f64;
                    }
                }
            }
            Literal::Text(text) => self.literal_text(kind, text),
            Literal::List(items) => {
                for item in items {
                    self.literal_text(kind, item);
                }
            }
            Literal::Bool(_) => {}
        }
    }

    fn condition(&mut self, condition: &mut Condition) {
        let ids = match &condition.left {
            Operand::Path(path) => literal_ids(path),
            _ => None,
        };
        if let Operand::Path(path) = &mut condition.left {
            self.path(path);
        }
        self.operand(&mut condition.right);
        self.operand(&mut condition.right_upper);
        if let Some(kind) = ids {
            for operand in [&mut condition.right, &mut condition.right_upper] {
                if let Some(Operand::Literal(literal)) = operand {
                    self.literal(kind, literal);
                }
            }
        }
    }

    fn assignments(&mut self, owner: Option<EntityType>, fields: &mut [FieldAssignment]) {
        for assignment in fields {
            let FieldTarget::Custom(id) = &mut assignment.field else {
                continue;
            };
            let source_field = *id;
            self.field(owner, id);
            assignment.value = self.enum_ids(source_field, &assignment.value);
        }
    }

    /// List values written by id (`123` or `123,456`) in a fixed assignment.
    fn enum_ids(&mut self, field: i64, value: &Template) -> Template {
        let Ok([Node::Text(text)]) = value.nodes() else {
            return value.clone();
        };
        let items: Vec<&str> = text.split(',').map(str::trim).collect();
        if items.is_empty() || !items.iter().all(|i| i.parse::<i64>().is_ok()) {
            return value.clone();
        }
        let mut changed = false;
        let renamed: Vec<String> = items
            .iter()
            .map(|item| {
                let mut id = item.parse::<i64>().unwrap_or_default();
                let before = id;
                self.visit(Reference::Enum { field, id }, &mut id);
                changed |= id != before;
                id.to_string()
            })
            .collect();
        if changed {
            Template::new(renamed.join(","))
        } else {
            value.clone()
        }
    }

    fn action(&mut self, action: &mut Action) {
        if let Timer::DateField { field, .. } | Timer::YearlyFromField { field, .. } =
            &mut action.timer
        {
            self.path(field);
        }
        // Paths inside texts first, then the ids the action names directly.
        let mapped = action
            .kind
            .try_map(|t| Ok::<_, std::convert::Infallible>(self.template(t)));
        action.kind = match mapped {
            Ok(kind) => kind,
            Err(never) => match never {},
        };
        let entity = self.entity;
        match &mut action.kind {
            ActionKind::CreateLead {
                responsible,
                fields,
                pipeline_id,
                status_id,
                ..
            } => {
                self.user_choice(responsible);
                self.pipeline_and_stage(pipeline_id, status_id);
                self.assignments(Some(EntityType::Lead), fields);
            }
            ActionKind::CreateContact {
                responsible,
                fields,
                ..
            } => {
                self.user_choice(responsible);
                self.assignments(Some(EntityType::Contact), fields);
            }
            ActionKind::CreateCompany {
                responsible,
                fields,
                ..
            } => {
                self.user_choice(responsible);
                self.assignments(Some(EntityType::Company), fields);
            }
            ActionKind::ChangeFields {
                entity: role,
                fields,
            } => {
                let owner = match role {
                    EntityRole::Client => entity,
                    other => self.role_entity(*other),
                };
                self.assignments(owner, fields);
            }
            ActionKind::CreateTask {
                responsible,
                task_type_id,
                ..
            } => {
                self.user_choice(responsible);
                self.task_type(task_type_id);
            }
            ActionKind::ChangeTask {
                responsible,
                task_type_id,
                new_task_type_id,
                ..
            } => {
                self.user_choice(responsible);
                for id in [task_type_id, new_task_type_id].into_iter().flatten() {
                    self.task_type(id);
                }
            }
            ActionKind::ChangeStatus {
                pipeline_id,
                status_id,
            } => {
                let mut pipeline = Some(*pipeline_id);
                let mut stage = Some(*status_id);
                self.pipeline_and_stage(&mut pipeline, &mut stage);
                *pipeline_id = pipeline.unwrap_or(*pipeline_id);
                *status_id = stage.unwrap_or(*status_id);
            }
            ActionKind::RunSalesbot { bot_id, .. } => {
                self.visit(Reference::Salesbot(*bot_id), bot_id);
            }
            ActionKind::ChangeResponsible {
                user: UserChoice::User(id),
                ..
            } => self.user(id),
            ActionKind::SendEmail { sender_user_id, .. } => self.user(sender_user_id),
            ActionKind::ChatSubscription { user_ids, .. } => {
                for id in user_ids {
                    self.user(id);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::FieldType;
    use crate::validate::SchemaEnum;

    fn field(entity: EntityType, id: i64, name: &str, enums: &[(i64, &str)]) -> SchemaField {
        SchemaField {
            entity,
            id,
            name: name.into(),
            field_type: if enums.is_empty() {
                FieldType::Text
            } else {
                FieldType::Select
            },
            enums: enums
                .iter()
                .map(|(id, value)| SchemaEnum {
                    id: *id,
                    value: (*value).into(),
                    code: None,
                    sort: 0,
                })
                .collect(),
            kommo_type: String::new(),
            code: None,
            sort: 0,
        }
    }

    fn task_type(id: i64, name: &str, code: Option<&str>) -> SchemaTaskType {
        SchemaTaskType {
            id,
            name: name.into(),
            color: None,
            icon_id: None,
            code: code.map(Into::into),
        }
    }

    fn user(id: i64, name: &str) -> SchemaUser {
        SchemaUser {
            id,
            name: name.into(),
            active: true,
            admin: false,
            group_id: None,
        }
    }

    /// A lead rule naming fields 100 (Source, a select), 101 (City) and 102 (Only in A) in a
    /// condition, a trigger, a task text and an assignment, and user 7.
    fn rule() -> Rule {
        Rule::from_json(
            &serde_json::json!({
                "schema_version": 2,
                "name": "Carry",
                "trigger": {"kind": "field_updated", "entity": "lead", "field_id": 101},
                "blocks": [{
                    "conditions": [{"left": {"path": "lead.cf(102)"}, "op": {"is": "is_not_empty"}}],
                    "actions": [
                        {"do": {"type": "create_task", "entity": "lead", "task_type_id": 1,
                                "complete_in_seconds": 60, "responsible": {"user": 7},
                                "text": "Call {{lead.cf(101)}} about {{client.cf(100)}}"}},
                        {"do": {"type": "change_fields", "entity": "lead",
                                "fields": [{"field": {"custom": 100}, "value": "11"},
                                           {"field": {"custom": 101}, "value": "7"}]}}
                    ]
                }]
            })
            .to_string(),
        )
        .expect("the rule parses")
    }

    fn source_schema() -> Schema {
        Schema {
            fields: vec![
                field(
                    EntityType::Lead,
                    100,
                    "Source",
                    &[(11, "Web"), (12, "Phone")],
                ),
                field(EntityType::Lead, 101, "City", &[]),
                field(EntityType::Lead, 102, "Only in A", &[]),
                field(EntityType::Contact, 103, "Unused", &[]),
            ],
            users: Some(vec![user(7, "Ann"), user(8, "Bob")]),
            task_types: vec![
                task_type(1, "Follow-up", Some("FOLLOW_UP")),
                task_type(3, "Visit", None),
            ],
            ..Schema::default()
        }
    }

    fn document(rule: &Rule) -> Document {
        Document {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            account_id: 1,
            exported_at: 0,
            rules: vec![PortableRule {
                id: 5,
                name: "Carry".into(),
                enabled: true,
                rule: serde_json::from_str(&rule.to_json()).expect("json"),
            }],
            references: references_for([rule], &source_schema()),
        }
    }

    #[test]
    fn the_references_of_a_rule_are_every_field_value_and_user_it_names() {
        let found = references_of(&rule());
        let expected: BTreeSet<Reference> = [
            Reference::Field {
                entity: Some(EntityType::Lead),
                id: 100,
            },
            Reference::Field {
                entity: Some(EntityType::Lead),
                id: 101,
            },
            Reference::Field {
                entity: Some(EntityType::Lead),
                id: 102,
            },
            Reference::Enum { field: 100, id: 11 },
            Reference::Enum { field: 101, id: 7 },
            Reference::User(7),
            Reference::TaskType(1),
        ]
        .into_iter()
        .collect();
        assert_eq!(found, expected);
        let table = references_for([&rule()], &source_schema());
        let ids: Vec<i64> = table.fields.iter().map(|f| f.id).collect();
        assert_eq!(ids, [100, 101, 102], "only what the rule names");
        assert_eq!(table.users, [user(7, "Ann")]);
        assert_eq!(
            table.task_types,
            [task_type(1, "Follow-up", Some("FOLLOW_UP"))]
        );
    }

    #[test]
    fn another_account_matches_by_name_and_reports_what_it_lacks() {
        let target = Schema {
            fields: vec![
                field(
                    EntityType::Lead,
                    200,
                    "source",
                    &[(21, "Phone"), (22, "web")],
                ),
                field(EntityType::Lead, 201, "City", &[]),
                field(EntityType::Contact, 202, "Only in A", &[]),
            ],
            users: Some(vec![user(70, "Ann")]),
            // Kommo's own type under its code, whatever this account calls it.
            task_types: vec![task_type(1, "Seguimiento", Some("FOLLOW_UP"))],
            ..Schema::default()
        };
        let doc = document(&rule());
        let results = match_document(&doc, 2, Some(&target));
        let matched = results[0].clone().expect("parses");
        let json = matched.rule.to_json();
        assert!(json.contains("\"field_id\":201"), "{json}");
        assert!(
            json.contains("Call {{lead.cf(201)}} about {{client.cf(200)}}"),
            "{json}"
        );
        assert!(json.contains("{\"custom\":200}"), "{json}");
        assert!(
            json.contains("\"value\":\"22\""),
            "the list value by its value: {json}"
        );
        assert!(json.contains("{\"user\":70}"), "{json}");
        assert!(json.contains("lead.cf(102)"), "unmatched ids stay: {json}");
        assert!(
            json.contains("{\"field\":{\"custom\":201},\"value\":\"7\"}"),
            "a number for a field without list values stays a number: {json}"
        );
        assert_eq!(
            matched.unmatched,
            [Unmatched {
                kind: ReferenceKind::Field,
                id: 102,
                name: Some("Only in A".into()),
                reason: "this account has no lead field named 'Only in A'".into(),
            }]
        );
    }

    #[test]
    fn the_same_account_matches_by_id_even_when_names_changed() {
        let mut renamed = source_schema();
        renamed.fields[1].name = "Town".into();
        renamed.fields.remove(2);
        let doc = document(&rule());
        let matched = match_document(&doc, 1, Some(&renamed))[0]
            .clone()
            .expect("parses");
        assert_eq!(matched.rule, rule(), "ids are kept");
        let missing: Vec<(ReferenceKind, i64)> =
            matched.unmatched.iter().map(|u| (u.kind, u.id)).collect();
        assert_eq!(missing, [(ReferenceKind::Field, 102)]);
    }

    #[test]
    fn unknown_schemas_keep_ids_at_home_and_match_nothing_elsewhere() {
        let doc = document(&rule());
        let home = match_document(&doc, 1, None)[0].clone().expect("parses");
        assert!(home.unmatched.is_empty());
        let away = match_document(&doc, 2, None)[0].clone().expect("parses");
        assert_eq!(away.unmatched.len(), 6, "{:?}", away.unmatched);
        assert!(
            away.unmatched
                .iter()
                .all(|u| u.reason.contains("schema is not known yet")),
            "{:?}",
            away.unmatched
        );
    }

    #[test]
    fn ambiguous_names_are_not_guessed() {
        let target = Schema {
            fields: vec![
                field(EntityType::Lead, 201, "City", &[]),
                field(EntityType::Lead, 202, "city", &[]),
            ],
            users: Some(vec![user(70, "Ann"), user(71, "Ann")]),
            ..Schema::default()
        };
        let matched = match_document(&document(&rule()), 2, Some(&target))[0]
            .clone()
            .expect("parses");
        let city = matched
            .unmatched
            .iter()
            .find(|u| u.id == 101)
            .expect("City is unmatched");
        assert!(
            city.reason.contains("2 lead fields named"),
            "{}",
            city.reason
        );
        assert!(matched
            .unmatched
            .iter()
            .any(|u| u.kind == ReferenceKind::User));
    }

    fn stage(id: i64, name: &str) -> SchemaStage {
        SchemaStage {
            id,
            name: name.into(),
            color: String::new(),
            sort: 0,
            kind: crate::schema::StageKind::Open,
        }
    }

    fn pipeline(id: i64, name: &str, stages: &[(i64, &str)]) -> SchemaPipeline {
        SchemaPipeline {
            id,
            name: name.into(),
            sort: 0,
            is_main: false,
            stages: stages.iter().map(|(id, name)| stage(*id, name)).collect(),
        }
    }

    fn bot(id: i64, name: &str) -> SchemaSalesbot {
        SchemaSalesbot {
            id,
            name: name.into(),
            active: true,
        }
    }

    fn coded(mut field: SchemaField, code: &str) -> SchemaField {
        field.code = Some(code.into());
        field
    }

    /// A lead rule naming pipelines, stages, task types, a bot and a coded field in every place a
    /// rule can: the trigger, conditions' literals, actions and a timer.
    fn pipeline_rule() -> Rule {
        Rule::from_json(
            &serde_json::json!({
                "schema_version": 2,
                "name": "Stages",
                "trigger": {"kind": "status_changed", "pipeline_id": 10, "status_id": 1001},
                "blocks": [{
                    "conditions": [
                        {"left": {"path": "lead.status_id"}, "op": {"is": "is_one_of"},
                         "right": {"literal": ["1002", "2001", "142"]}},
                        {"left": {"path": "lead.pipeline_id"}, "op": {"is": "equals"},
                         "right": {"literal": 20}},
                        {"left": {"path": "event.old_status_id"}, "op": {"is": "equals"},
                         "right": {"literal": "1003"}},
                        {"left": {"path": "lead.responsible_user_id"}, "op": {"is": "equals"},
                         "right": {"literal": 7}},
                        {"left": {"path": "task.type_id"}, "op": {"is": "equals"},
                         "right": {"literal": 3}},
                        {"left": {"path": "contact.cf(300)"}, "op": {"is": "is_not_empty"}}
                    ],
                    "actions": [
                        {"do": {"type": "change_status", "pipeline_id": 20, "status_id": 2001}},
                        {"do": {"type": "create_lead", "name": "Again", "pipeline_id": 10,
                                "status_id": 143}},
                        {"do": {"type": "create_task", "entity": "lead", "task_type_id": 3,
                                "complete_in_seconds": 60, "text": "Visit"}},
                        {"do": {"type": "change_task", "entity": "lead", "task_type_id": 3,
                                "scope": "all", "new_task_type_id": 1}},
                        {"do": {"type": "run_salesbot", "entity": "lead", "bot_id": 55}},
                        {"do": {"type": "run_salesbot", "entity": "lead", "bot_id": 56}},
                        {"timer": {"kind": "date_field", "field": "lead.cf(301)"},
                         "do": {"type": "add_note", "entity": "lead", "text": "Due"}}
                    ]
                }]
            })
            .to_string(),
        )
        .expect("the rule parses")
    }

    /// Account A: two pipelines whose stages share names, bots, Kommo's and own task types, a
    /// contact phone field and a lead date field.
    fn pipeline_schema() -> Schema {
        Schema {
            pipelines: Some(vec![
                pipeline(
                    10,
                    "Sales",
                    &[(1001, "New"), (1002, "Talks"), (1003, "Won back")],
                ),
                pipeline(20, "Service", &[(2001, "New"), (2002, "Unused")]),
            ]),
            users: Some(vec![user(7, "Ann")]),
            fields: vec![
                coded(field(EntityType::Contact, 300, "Phone", &[]), "PHONE"),
                field(EntityType::Lead, 301, "Due date", &[]),
            ],
            task_types: vec![
                task_type(1, "Follow-up", Some("FOLLOW_UP")),
                task_type(3, "Visit", None),
            ],
            salesbots: Some(vec![bot(55, "Welcome"), bot(56, "Only in A")]),
            ..Schema::default()
        }
    }

    fn pipeline_document() -> Document {
        let mut doc = document(&pipeline_rule());
        doc.references = references_for([&pipeline_rule()], &pipeline_schema());
        doc
    }

    #[test]
    fn the_references_of_a_rule_are_its_pipelines_stages_task_types_and_bots_everywhere() {
        let found = references_of(&pipeline_rule());
        let expected: BTreeSet<Reference> = [
            Reference::Field {
                entity: Some(EntityType::Contact),
                id: 300,
            },
            Reference::Field {
                entity: Some(EntityType::Lead),
                id: 301,
            },
            Reference::User(7),
            Reference::Pipeline(10),
            Reference::Pipeline(20),
            Reference::Stage {
                pipeline: Some(10),
                id: 1001,
            },
            Reference::Stage {
                pipeline: None,
                id: 1002,
            },
            Reference::Stage {
                pipeline: None,
                id: 2001,
            },
            Reference::Stage {
                pipeline: None,
                id: 1003,
            },
            Reference::Stage {
                pipeline: Some(20),
                id: 2001,
            },
            Reference::TaskType(1),
            Reference::TaskType(3),
            Reference::Salesbot(55),
            Reference::Salesbot(56),
        ]
        .into_iter()
        .collect();
        assert_eq!(found, expected, "142 and 143 are never references");

        let table = references_for([&pipeline_rule()], &pipeline_schema());
        assert_eq!(
            table.pipelines,
            [
                pipeline(
                    10,
                    "Sales",
                    &[(1001, "New"), (1002, "Talks"), (1003, "Won back")]
                ),
                pipeline(20, "Service", &[(2001, "New")]),
            ],
            "each pipeline with only the stages the rule names"
        );
        let task_types: Vec<i64> = table.task_types.iter().map(|t| t.id).collect();
        assert_eq!(task_types, [1, 3]);
        assert_eq!(table.salesbots, [bot(55, "Welcome"), bot(56, "Only in A")]);
        assert_eq!(
            table.fields[0].code.as_deref(),
            Some("PHONE"),
            "the document carries codes"
        );
    }

    #[test]
    fn another_account_matches_stages_by_pipeline_and_name_and_the_rest_by_code_or_name() {
        let target = Schema {
            pipelines: Some(vec![
                // The other order, other ids; "New" is in both pipelines, "Won back" in none.
                pipeline(50, "service", &[(5001, "Unused"), (5002, "New")]),
                pipeline(40, "Sales", &[(4001, "New"), (4002, "Talks")]),
            ]),
            users: Some(vec![user(70, "Ann")]),
            fields: vec![
                // The name of A's phone field on another field, and the phone under its code.
                field(EntityType::Contact, 900, "Phone", &[]),
                coded(field(EntityType::Contact, 901, "Teléfono", &[]), "PHONE"),
                field(EntityType::Lead, 902, "due DATE", &[]),
            ],
            task_types: vec![
                task_type(11, "Seguimiento", Some("FOLLOW_UP")),
                task_type(13, "Visit", None),
            ],
            salesbots: Some(vec![bot(95, "welcome")]),
            ..Schema::default()
        };

        let matched = match_document(&pipeline_document(), 2, Some(&target))[0]
            .clone()
            .expect("parses");

        let rule: serde_json::Value = serde_json::from_str(&matched.rule.to_json()).expect("json");
        assert_eq!(
            rule["trigger"],
            serde_json::json!({"kind": "status_changed", "pipeline_id": 40, "status_id": 4001,
                               "entry": "created_or_moved"})
        );
        let conditions = &rule["blocks"][0]["conditions"];
        assert_eq!(
            conditions[0]["right"]["literal"],
            serde_json::json!(["4002", "5002", "142"]),
            "each stage in its own pipeline; won stays won"
        );
        let number = |c: &serde_json::Value| c["right"]["literal"].as_f64();
        assert_eq!(number(&conditions[1]), Some(50.0));
        assert_eq!(conditions[2]["right"]["literal"], "1003", "unmatched stays");
        assert_eq!(number(&conditions[3]), Some(70.0));
        assert_eq!(number(&conditions[4]), Some(13.0));
        assert_eq!(conditions[5]["left"]["path"], "contact.cf(901)");
        let actions = &rule["blocks"][0]["actions"];
        assert_eq!(actions[0]["do"]["pipeline_id"], 50);
        assert_eq!(actions[0]["do"]["status_id"], 5002);
        assert_eq!(actions[1]["do"]["pipeline_id"], 40);
        assert_eq!(actions[1]["do"]["status_id"], 143);
        assert_eq!(actions[2]["do"]["task_type_id"], 13);
        assert_eq!(actions[3]["do"]["task_type_id"], 13);
        assert_eq!(
            actions[3]["do"]["new_task_type_id"], 11,
            "Kommo's own type by its code"
        );
        assert_eq!(actions[4]["do"]["bot_id"], 95);
        assert_eq!(actions[5]["do"]["bot_id"], 56, "unmatched stays");
        assert_eq!(actions[6]["timer"]["field"], "lead.cf(902)");
        assert_eq!(
            matched.unmatched,
            [
                Unmatched {
                    kind: ReferenceKind::Stage,
                    id: 1003,
                    name: Some("Sales / Won back".into()),
                    reason: "pipeline 'Sales' has no stage named 'Won back' in this account".into(),
                },
                Unmatched {
                    kind: ReferenceKind::Salesbot,
                    id: 56,
                    name: Some("Only in A".into()),
                    reason: "this account has no Salesbot named 'Only in A'".into(),
                },
            ]
        );
    }

    #[test]
    fn a_missing_pipeline_leaves_its_stages_unmatched_and_codes_fall_back_to_names() {
        let target = Schema {
            pipelines: Some(vec![pipeline(40, "Sales", &[(4001, "New")])]),
            users: Some(vec![]),
            fields: vec![
                field(EntityType::Contact, 900, "phone", &[]),
                coded(field(EntityType::Contact, 901, "Work phone", &[]), "WORK"),
            ],
            task_types: vec![task_type(11, "Follow-up", None)],
            salesbots: None,
            ..Schema::default()
        };

        let matched = match_document(&pipeline_document(), 2, Some(&target))[0]
            .clone()
            .expect("parses");

        let json = matched.rule.to_json();
        assert!(json.contains("contact.cf(900)"), "by name: {json}");
        assert!(json.contains("\"new_task_type_id\":11"), "by name: {json}");
        let reason = |kind: ReferenceKind, id: i64| {
            matched
                .unmatched
                .iter()
                .find(|u| u.kind == kind && u.id == id)
                .map(|u| u.reason.clone())
                .unwrap_or_default()
        };
        assert_eq!(
            reason(ReferenceKind::Pipeline, 20),
            "this account has no pipeline named 'Service'"
        );
        assert_eq!(
            reason(ReferenceKind::Stage, 2001),
            "this account has no pipeline named 'Service'"
        );
        assert_eq!(
            reason(ReferenceKind::Stage, 1002),
            "pipeline 'Sales' has no stage named 'Talks' in this account"
        );
        assert_eq!(
            reason(ReferenceKind::Salesbot, 55),
            "this account's Salesbots are not known yet, so nothing could be matched by name"
        );
        assert_eq!(
            reason(ReferenceKind::Field, 301),
            "this account has no lead field named 'Due date'"
        );
        assert_eq!(
            reason(ReferenceKind::User, 7),
            "this account has no user named 'Ann'"
        );
    }

    #[test]
    fn the_same_account_keeps_stage_task_type_and_bot_ids_and_reports_deleted_ones() {
        let mut now = pipeline_schema();
        if let Some(pipelines) = &mut now.pipelines {
            pipelines[0].name = "Renamed".into();
            pipelines[0].stages.retain(|s| s.id != 1003);
            pipelines.remove(1);
        }
        now.salesbots = Some(vec![bot(55, "Renamed")]);
        now.task_types.retain(|t| t.id != 3);

        let matched = match_document(&pipeline_document(), 1, Some(&now))[0]
            .clone()
            .expect("parses");

        assert_eq!(matched.rule, pipeline_rule(), "ids are kept");
        let missing: Vec<(ReferenceKind, i64)> =
            matched.unmatched.iter().map(|u| (u.kind, u.id)).collect();
        assert_eq!(
            missing,
            [
                (ReferenceKind::Pipeline, 20),
                (ReferenceKind::Stage, 1003),
                (ReferenceKind::Stage, 2001),
                (ReferenceKind::TaskType, 3),
                (ReferenceKind::Salesbot, 56),
            ]
        );
    }

    #[test]
    fn a_document_without_the_newer_tables_still_reads() {
        let text = serde_json::json!({
            "format": FORMAT, "format_version": FORMAT_VERSION, "account_id": 1,
            "rules": [], "references": {"fields": [], "users": []}
        })
        .to_string();
        let doc: Document = serde_json::from_str(&text).expect("reads");
        assert_eq!(doc.references, References::default());
    }

    #[test]
    fn a_document_reads_back_what_it_wrote() {
        let doc = document(&rule());
        let text = serde_json::to_string(&doc).expect("serialises");
        let back: Document = serde_json::from_str(&text).expect("reads back");
        assert_eq!(back, doc);
    }
}
