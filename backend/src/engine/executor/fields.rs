//! Fields, tags, stage and responsible user: writes of an entity's state, safe to repeat
//! ([`domain::rule::Replay::Repeat`]), collected into the [`WriteBatch`] (only the open tasks'
//! new responsible user leaves at once).

use domain::{
    path::EntityRole,
    rule::{FieldAssignment, FieldTarget, TagChange, UserChoice},
    template::RESET_MARKER,
};
use kommo::{
    models::{EmbeddedWrite, EntityKind, EntityWrite, TagRef, TaskWrite},
    FieldValue, FieldWrite,
};

use super::{role_name, split_list, ActionError, ActionScope, Owner, WriteBatch};
use crate::engine::{snapshot::AccountFacts, Engine};

/// A field assignment as a Kommo write, typed by the field's definition.
pub fn field_write(
    facts: &AccountFacts,
    kind: EntityKind,
    write: &mut EntityWrite,
    assignment: &FieldAssignment<String>,
) -> Result<(), ActionError> {
    let value = assignment.value.trim();
    match assignment.field {
        FieldTarget::Name => write.name = Some(value.to_owned()),
        FieldTarget::Price => {
            let price = domain::value::parse_number(value).ok_or_else(|| {
                ActionError::BadValue(format!("the budget {value:?} is not a number"))
            })?;
            write.price = Some(price.round() as i64);
        }
        FieldTarget::Custom(field_id) => {
            if value.is_empty() || value == RESET_MARKER {
                write.custom_fields_values.push(FieldWrite::clear(field_id));
                return Ok(());
            }
            let def = facts.field(kind, field_id);
            let field_type = def.map(|d| d.field_type.as_str()).unwrap_or("text");
            let enum_of = |text: &str| -> Result<FieldValue, ActionError> {
                let found = def.and_then(|d| {
                    d.enums
                        .iter()
                        .find(|e| e.value.eq_ignore_ascii_case(text) || e.id.to_string() == text)
                });
                found.map(|e| FieldValue::EnumId(e.id)).ok_or_else(|| {
                    ActionError::BadValue(format!("field {field_id} has no option {text:?}"))
                })
            };
            let values = match field_type {
                "numeric" | "price" => vec![FieldValue::Number(
                    domain::value::parse_number(value).ok_or_else(|| {
                        ActionError::BadValue(format!(
                            "field {field_id} needs a number, not {value:?}"
                        ))
                    })?,
                )],
                "checkbox" => vec![FieldValue::Checkbox(
                    domain::value::parse_bool(value).ok_or_else(|| {
                        ActionError::BadValue(format!(
                            "field {field_id} is a checkbox: use 0 or 1, not {value:?}"
                        ))
                    })?,
                )],
                "select" | "radiobutton" | "category" => vec![enum_of(value)?],
                "multiselect" => split_list(value)
                    .iter()
                    .map(|v| enum_of(v))
                    .collect::<Result<_, _>>()?,
                "date" | "date_time" | "birthday" => {
                    let at = match domain::value::parse_date(value, &facts.timezone.into()) {
                        Some(domain::value::ParsedDate::Instant(at)) => at,
                        Some(domain::value::ParsedDate::Date(day)) => {
                            domain::value::start_of_day(day, &facts.timezone.into()).ok_or_else(
                                || ActionError::BadValue(format!("{value:?} is not a date")),
                            )?
                        }
                        None => {
                            return Err(ActionError::BadValue(format!(
                                "field {field_id} needs a date, not {value:?}"
                            )))
                        }
                    };
                    vec![FieldValue::Date(at.timestamp())]
                }
                "multitext" => split_list(value)
                    .into_iter()
                    .map(|v| FieldValue::Multitext {
                        value: v,
                        enum_code: "WORK".to_owned(),
                    })
                    .collect(),
                _ => vec![FieldValue::Text(value.to_owned())],
            };
            write.custom_fields_values.push(FieldWrite {
                field: kommo::FieldRef::Id(field_id),
                values: Some(values),
            });
        }
    }
    Ok(())
}

pub(super) fn fields_write(
    facts: &AccountFacts,
    kind: EntityKind,
    write: &mut EntityWrite,
    fields: &[FieldAssignment<String>],
) -> Result<(), ActionError> {
    for assignment in fields {
        field_write(facts, kind, write, assignment)?;
    }
    Ok(())
}

impl Engine {
    /// Changes fields of an entity: one update in the batch.
    pub(super) async fn change_fields(
        &self,
        scope: &ActionScope<'_>,
        entity: &EntityRole,
        fields: &[FieldAssignment<String>],
        batch: &mut WriteBatch,
        owner: Owner,
    ) -> Result<Option<String>, ActionError> {
        let (kind, target) = scope
            .entity(*entity)
            .ok_or(ActionError::NoEntity(role_name(*entity)))?;
        let mut write = EntityWrite::update(target.id);
        fields_write(scope.facts, kind, &mut write, fields)?;
        self.mark(scope, kind, target.id).await?;
        batch.push(kind, write, owner);
        Ok(None)
    }

    /// Adds or removes tags: one update in the batch.
    pub(super) async fn change_tags(
        &self,
        scope: &ActionScope<'_>,
        entity: &EntityRole,
        change: &TagChange,
        tags: &Option<String>,
        batch: &mut WriteBatch,
        owner: Owner,
    ) -> Result<Option<String>, ActionError> {
        let (kind, target) = scope
            .entity(*entity)
            .ok_or(ActionError::NoEntity(role_name(*entity)))?;
        let names = tags.as_deref().map(split_list).unwrap_or_default();
        let mut write = EntityWrite::update(target.id);
        match change {
            TagChange::Add => write.tags_to_add = names.into_iter().map(TagRef::name).collect(),
            TagChange::Remove if !names.is_empty() => {
                write.tags_to_delete = names.into_iter().map(TagRef::name).collect();
            }
            // Blank tag values remove every tag (the manual's "leave the field blank").
            TagChange::Remove | TagChange::RemoveAll => {
                write.embedded = Some(EmbeddedWrite {
                    tags: Some(Vec::new()),
                    ..EmbeddedWrite::default()
                });
            }
        }
        self.mark(scope, kind, target.id).await?;
        batch.push(kind, write, owner);
        Ok(None)
    }

    /// Moves the lead to a stage: one update in the batch.
    pub(super) async fn change_status(
        &self,
        scope: &ActionScope<'_>,
        pipeline_id: &i64,
        status_id: &i64,
        batch: &mut WriteBatch,
        owner: Owner,
    ) -> Result<Option<String>, ActionError> {
        let lead = scope
            .snapshot
            .lead
            .as_ref()
            .ok_or(ActionError::NoEntity("lead"))?;
        let write = EntityWrite {
            pipeline_id: Some(*pipeline_id),
            status_id: Some(*status_id),
            ..EntityWrite::update(lead.id)
        };
        self.mark(scope, EntityKind::Leads, lead.id).await?;
        batch.push(EntityKind::Leads, write, owner);
        Ok(None)
    }

    /// Changes the responsible user of an entity (and of its contact, company and open tasks).
    #[allow(clippy::too_many_arguments)] // the action's own fields, as the dispatch binds them
    pub(super) async fn change_responsible(
        &self,
        scope: &ActionScope<'_>,
        entity: &EntityRole,
        user: &UserChoice,
        in_contacts: &bool,
        in_companies: &bool,
        in_open_tasks: &bool,
        batch: &mut WriteBatch,
        owner: Owner,
    ) -> Result<Option<String>, ActionError> {
        let (kind, target) = scope
            .entity(*entity)
            .ok_or(ActionError::NoEntity(role_name(*entity)))?;
        let user_id = scope
            .user(user, Some(target))
            .ok_or_else(|| ActionError::BadValue("no responsible user to copy".into()))?;
        let update = |id| EntityWrite {
            responsible_user_id: Some(user_id),
            ..EntityWrite::update(id)
        };
        self.mark(scope, kind, target.id).await?;
        batch.push(kind, update(target.id), owner);
        if *in_contacts && kind != EntityKind::Contacts {
            if let Some(contact) = &scope.snapshot.contact {
                self.mark(scope, EntityKind::Contacts, contact.id).await?;
                batch.push(EntityKind::Contacts, update(contact.id), owner);
            }
        }
        if *in_companies && kind != EntityKind::Companies {
            if let Some(company) = &scope.snapshot.company {
                self.mark(scope, EntityKind::Companies, company.id).await?;
                batch.push(EntityKind::Companies, update(company.id), owner);
            }
        }
        if *in_open_tasks {
            let tasks: Vec<TaskWrite> = target
                .tasks
                .iter()
                .filter(|t| !t.is_completed)
                .map(|t| TaskWrite {
                    id: Some(t.id),
                    responsible_user_id: Some(user_id),
                    ..TaskWrite::default()
                })
                .collect();
            if !tasks.is_empty() {
                scope.client.update_tasks(tasks).await?;
            }
        }
        Ok(Some(format!("responsible user {user_id}")))
    }
}
