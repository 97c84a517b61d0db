//! Creations: leads, contacts and companies, and a lead's copy, each linked to the entities it
//! belongs to (looked up by name after a crash).

use domain::{
    path::EntityRole,
    rule::{ActionKind, FieldAssignment, UserChoice},
};
use kommo::{
    models::{EmbeddedRef, EmbeddedWrite, EntityKind, EntityWrite, TagRef},
    FieldWrite,
};

use super::{fields::fields_write, role_name, split_list, ActionError, ActionScope};
use crate::engine::Engine;

impl Engine {
    /// Creates a lead, attached to the snapshot's contact and company.
    #[allow(clippy::too_many_arguments)] // the action's own fields, as the dispatch binds them
    pub(super) async fn create_lead(
        &self,
        scope: &ActionScope<'_>,
        name: &str,
        tags: &Option<String>,
        responsible: &Option<UserChoice>,
        pipeline_id: &Option<i64>,
        status_id: &Option<i64>,
        fields: &[FieldAssignment<String>],
        attach_company_contacts: &bool,
    ) -> Result<Option<String>, ActionError> {
        let source = scope
            .snapshot
            .entity(EntityRole::Client, scope.event.entity_type());
        let mut write = EntityWrite {
            name: Some(name.to_owned()),
            pipeline_id: *pipeline_id,
            status_id: *status_id,
            responsible_user_id: responsible
                .as_ref()
                .and_then(|c| scope.user(c, source))
                .or(source.and_then(|s| s.responsible_user_id)),
            tags_to_add: tags
                .as_deref()
                .map(split_list)
                .unwrap_or_default()
                .into_iter()
                .map(TagRef::name)
                .collect(),
            ..EntityWrite::default()
        };
        fields_write(scope.facts, EntityKind::Leads, &mut write, fields)?;
        let mut embedded = EmbeddedWrite::default();
        if let Some(contact) = &scope.snapshot.contact {
            embedded.contacts.push(EmbeddedRef {
                id: contact.id,
                is_main: Some(true),
            });
        }
        if let Some(company) = &scope.snapshot.company {
            embedded.companies.push(EmbeddedRef {
                id: company.id,
                is_main: None,
            });
            // The manual: "when creating a new lead in a company you can also attach
            // existing contacts of the company to it" (read with `with=contacts`).
            if *attach_company_contacts {
                let record = scope
                    .client
                    .entity(EntityKind::Companies, company.id, &["contacts"])
                    .await?;
                for contact in record.embedded.contacts {
                    if embedded.contacts.iter().all(|c| c.id != contact.id) {
                        embedded.contacts.push(EmbeddedRef {
                            id: contact.id,
                            is_main: Some(embedded.contacts.is_empty()),
                        });
                    }
                }
            }
        }
        if !embedded.contacts.is_empty() || !embedded.companies.is_empty() {
            write.embedded = Some(embedded);
        }
        let ids = scope
            .client
            .create_entities(EntityKind::Leads, vec![write])
            .await?;
        self.mark_created(scope, EntityKind::Leads, &ids).await?;
        Ok(Some(format!("lead {ids:?}")))
    }

    /// Creates a contact or a company and links it to the entity the action names.
    pub(super) async fn create_contact_or_company(
        &self,
        scope: &ActionScope<'_>,
        action: &ActionKind<String>,
        name: &str,
        attach_to: &EntityRole,
        responsible: &Option<UserChoice>,
        fields: &[FieldAssignment<String>],
    ) -> Result<Option<String>, ActionError> {
        let creating = if matches!(action, ActionKind::CreateContact { .. }) {
            EntityKind::Contacts
        } else {
            EntityKind::Companies
        };
        // A run without an entity (an inbound webhook whose search found none) creates
        // the entity on its own; a run with one attaches it as the action says.
        let attach = match scope.event.entity {
            None => None,
            Some(_) => Some(
                scope
                    .entity(*attach_to)
                    .ok_or(ActionError::NoEntity(role_name(*attach_to)))?,
            ),
        };
        let mut write = EntityWrite {
            name: Some(name.to_owned()),
            responsible_user_id: responsible
                .as_ref()
                .and_then(|c| scope.user(c, attach.map(|(_, a)| a)))
                .or(attach.and_then(|(_, a)| a.responsible_user_id)),
            ..EntityWrite::default()
        };
        fields_write(scope.facts, creating, &mut write, fields)?;
        let ids = scope.client.create_entities(creating, vec![write]).await?;
        self.mark_created(scope, creating, &ids).await?;
        if let (Some(id), Some((attach_kind, attach))) = (ids.first(), attach) {
            self.mark(scope, attach_kind, attach.id).await?;
            let link = kommo::models::Link {
                entity_id: attach.id,
                to_entity_id: *id,
                to_entity_type: creating.plural().to_owned(),
            };
            scope.client.link(attach_kind, &[link]).await?;
        }
        Ok(Some(format!("{} {ids:?}", creating.plural())))
    }

    /// Copies the lead with its fields, tags, contacts and companies.
    pub(super) async fn copy_lead(
        &self,
        scope: &ActionScope<'_>,
        name: &Option<String>,
    ) -> Result<Option<String>, ActionError> {
        let lead = scope
            .snapshot
            .lead
            .as_ref()
            .ok_or(ActionError::NoEntity("lead"))?;
        let original = scope
            .client
            .entity(EntityKind::Leads, lead.id, &["contacts"])
            .await?;
        let write = EntityWrite {
            name: Some(
                name.clone()
                    .unwrap_or_else(|| format!("{} (copy)", original.name)),
            ),
            price: original.price,
            pipeline_id: original.pipeline_id,
            status_id: original.status_id,
            responsible_user_id: Some(original.responsible_user_id),
            custom_fields_values: original
                .custom_fields_values
                .iter()
                .map(|f| FieldWrite {
                    field: kommo::FieldRef::Id(f.field_id),
                    values: Some(f.typed()),
                })
                .collect(),
            tags_to_add: original
                .embedded
                .tags
                .iter()
                .map(|t| TagRef::name(t.name.clone()))
                .collect(),
            embedded: Some(EmbeddedWrite {
                tags: None,
                contacts: original.embedded.contacts.clone(),
                companies: original.embedded.companies.clone(),
            }),
            ..EntityWrite::default()
        };
        let ids = scope
            .client
            .create_entities(EntityKind::Leads, vec![write])
            .await?;
        self.mark_created(scope, EntityKind::Leads, &ids).await?;
        Ok(Some(format!("lead {ids:?}")))
    }

    pub(super) async fn named_exists(
        &self,
        scope: &ActionScope<'_>,
        kind: EntityKind,
        name: &str,
    ) -> Result<bool, ActionError> {
        let found = scope
            .client
            .entities(kind, &kommo::ListQuery::new().search(name))
            .await?;
        Ok(found.iter().any(|e| e.name == name))
    }
}
