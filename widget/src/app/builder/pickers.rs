//! The choices of the builder's pickers, from the account's schema: users, pipelines and stages
//! (with Kommo's stage colours), custom fields by name, task types, Salesbots, rules, entity types and
//! roles. Each returns [`SelectOption`]s for a [`crate::components::controls::Select`], so no form
//! ever asks for an id.

use domain::api::RuleSummary;
use domain::path::{EntityRole, EntityType};
use domain::schema::{Schema, SchemaField};
use domain::snapshot::FieldType;

use crate::components::controls::SelectOption;
use crate::i18n::Texts;

/// The account's users; with `responsible`, "the entity's responsible user" first (value
/// `responsible`). A user's value is their id.
pub fn users(schema: &Schema, texts: &Texts, responsible: bool) -> Vec<SelectOption> {
    let mut out = Vec::new();
    if responsible {
        out.push(SelectOption::new(
            "responsible",
            texts.get("user_responsible"),
        ));
    }
    for u in schema.users.iter().flatten() {
        let label = if u.active {
            u.name.clone()
        } else {
            format!("{} ({})", u.name, texts.get("user_inactive"))
        };
        out.push(SelectOption::new(u.id.to_string(), label).disabled(!u.active));
    }
    out
}

/// The pipelines; a pipeline's value is its id.
pub fn pipelines(schema: &Schema) -> Vec<SelectOption> {
    schema
        .pipelines
        .iter()
        .flatten()
        .map(|p| SelectOption::new(p.id.to_string(), p.name.clone()))
        .collect()
}

/// The stages of one pipeline with their colours; a stage's value is its id.
pub fn stages(schema: &Schema, pipeline_id: i64) -> Vec<SelectOption> {
    schema
        .pipelines
        .iter()
        .flatten()
        .filter(|p| p.id == pipeline_id)
        .flat_map(|p| p.stages.iter())
        .map(|s| {
            SelectOption::new(s.id.to_string(), s.name.clone())
                .with_color((!s.color.is_empty()).then(|| s.color.clone()))
        })
        .collect()
}

/// Every stage of every pipeline, grouped by pipeline; a value is `pipeline_id:status_id`.
pub fn all_stages(schema: &Schema) -> Vec<SelectOption> {
    schema
        .pipelines
        .iter()
        .flatten()
        .flat_map(|p| {
            p.stages.iter().map(move |s| {
                SelectOption::new(format!("{}:{}", p.id, s.id), s.name.clone())
                    .in_group(p.name.clone())
                    .with_color((!s.color.is_empty()).then(|| s.color.clone()))
            })
        })
        .collect()
}

/// Reads an [`all_stages`] value.
pub fn parse_stage(value: &str) -> Option<(i64, i64)> {
    let (p, s) = value.split_once(':')?;
    Some((p.parse().ok()?, s.parse().ok()?))
}

/// The custom fields of an entity type that `keep` accepts, in Kommo's order; a field's value is
/// its id.
pub fn fields(
    schema: &Schema,
    entity: EntityType,
    keep: impl Fn(&SchemaField) -> bool,
) -> Vec<SelectOption> {
    let mut list: Vec<&SchemaField> = schema
        .fields
        .iter()
        .filter(|f| f.entity == entity && keep(f))
        .collect();
    list.sort_by_key(|f| (f.sort, f.id));
    list.into_iter()
        .map(|f| SelectOption::new(f.id.to_string(), f.name.clone()))
        .collect()
}

/// Whether a field holds a date (date, date and time, birthday).
pub fn is_date_field(f: &SchemaField) -> bool {
    matches!(
        f.field_type,
        FieldType::Date | FieldType::DateTime | FieldType::Birthday
    )
}

/// The task types; a type's value is its id.
pub fn task_types(schema: &Schema) -> Vec<SelectOption> {
    schema
        .task_types
        .iter()
        .map(|t| SelectOption::new(t.id.to_string(), t.name.clone()))
        .collect()
}

/// The Salesbots; a bot's value is its id.
pub fn salesbots(schema: &Schema) -> Vec<SelectOption> {
    schema
        .salesbots
        .iter()
        .flatten()
        .map(|b| SelectOption::new(b.id.to_string(), b.name.clone()))
        .collect()
}

/// The account's rules (only manual ones with `manual_only`); a rule's value is its id.
pub fn rules(rules: &[RuleSummary], manual_only: bool) -> Vec<SelectOption> {
    rules
        .iter()
        .filter(|r| !manual_only || r.trigger == "manual")
        .map(|r| SelectOption::new(r.id.to_string(), format!("{} (#{})", r.name, r.id)))
        .collect()
}

/// The tags known for an entity type; a tag's value is its name.
pub fn tags(schema: &Schema, entity: EntityType) -> Vec<SelectOption> {
    schema
        .tags
        .iter()
        .filter(|t| t.entity == entity)
        .map(|t| SelectOption::new(t.name.clone(), t.name.clone()).with_color(t.color.clone()))
        .collect()
}

/// Entity types (lead, contact, company, and task with `tasks`); a value is the type's name.
pub fn entity_types(texts: &Texts, tasks: bool) -> Vec<SelectOption> {
    let mut list = vec![EntityType::Lead, EntityType::Contact, EntityType::Company];
    if tasks {
        list.push(EntityType::Task);
    }
    list.into_iter()
        .map(|e| SelectOption::new(e.as_str(), texts.get(&format!("entity_{}", e.as_str()))))
        .collect()
}

/// Reads an [`entity_types`] value.
pub fn parse_entity_type(value: &str) -> Option<EntityType> {
    crate::json::from_name(value).ok()
}

/// The entities an action can work on: the lead, its main contact, its company, or the event's
/// own entity; a value is the role's name.
pub fn roles(texts: &Texts) -> Vec<SelectOption> {
    ["lead", "contact", "company", "client"]
        .into_iter()
        .map(|r| SelectOption::new(r, texts.get(&format!("role_{r}"))))
        .collect()
}

/// Reads a [`roles`] value.
pub fn parse_role(value: &str) -> Option<EntityRole> {
    crate::json::from_name(value).ok()
}

/// The value of a role, for a select.
pub fn role_value(role: EntityRole) -> String {
    serde_json::to_value(role)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
