//! Notes on the feed: a note, and the service note that records a Mailer email (both looked up
//! by text after a crash).

use domain::{path::EntityRole, rule::EmailRecipient, snapshot::Snapshot};
use kommo::models::{NewNote, NoteContent};

use super::{role_name, ActionError, ActionScope};
use crate::engine::Engine;

impl Engine {
    /// Adds a note to the feed.
    pub(super) async fn add_note(
        &self,
        scope: &ActionScope<'_>,
        entity: &EntityRole,
        text: &str,
        system: &bool,
    ) -> Result<Option<String>, ActionError> {
        let (kind, target) = scope
            .entity(*entity)
            .ok_or(ActionError::NoEntity(role_name(*entity)))?;
        let content = if *system {
            NoteContent::Service {
                service: "Rulebook".to_owned(),
                text: text.to_owned(),
            }
        } else {
            NoteContent::Common {
                text: text.to_owned(),
            }
        };
        self.mark(scope, kind, target.id).await?;
        let ids = scope
            .client
            .add_notes(
                kind,
                vec![NewNote {
                    entity_id: target.id,
                    content,
                }],
            )
            .await?;
        Ok(Some(format!("note {ids:?}")))
    }

    /// Records a Mailer email as a service note.
    pub(super) async fn send_email(
        &self,
        scope: &ActionScope<'_>,
        sender_user_id: &i64,
        recipient: &EmailRecipient,
        template_id: &i64,
    ) -> Result<Option<String>, ActionError> {
        // Kommo's public API cannot send a Mailer email; the email is recorded on the lead's
        // feed as a service note naming the template, sender and recipients.
        let (kind, target) = scope
            .entity(EntityRole::Client)
            .ok_or(ActionError::NoEntity("entity"))?;
        let addresses = email_addresses(scope.snapshot, *recipient);
        if addresses.is_empty() {
            return Err(ActionError::BadValue(
                "the contact has no email address".into(),
            ));
        }
        let text = email_note_text(*template_id, *sender_user_id, &addresses);
        self.mark(scope, kind, target.id).await?;
        scope
            .client
            .add_notes(
                kind,
                vec![NewNote {
                    entity_id: target.id,
                    content: NoteContent::Service {
                        service: "Rulebook Mailer".into(),
                        text,
                    },
                }],
            )
            .await?;
        Ok(Some(format!("to {}", addresses.join(", "))))
    }
}

/// The text of the service note that records a Mailer email (and finds it again after a restart).
pub(super) fn email_note_text(
    template_id: i64,
    sender_user_id: i64,
    addresses: &[String],
) -> String {
    format!(
        "Email (Mailer template {template_id}) from user {sender_user_id} to {}",
        addresses.join(", ")
    )
}

pub(super) fn email_addresses(
    snapshot: &Snapshot,
    recipient: domain::rule::EmailRecipient,
) -> Vec<String> {
    let mut entities = vec![snapshot.contact.as_ref()];
    if recipient == domain::rule::EmailRecipient::Automatic {
        entities.push(snapshot.company.as_ref());
    }
    entities
        .into_iter()
        .flatten()
        .flat_map(|e| e.custom_fields.iter())
        .filter_map(|f| match &f.value {
            domain::snapshot::FieldValue::Multitext(entries) => Some(entries),
            _ => None,
        })
        .flatten()
        .map(|e| e.value.clone())
        .filter(|v| v.contains('@'))
        .collect()
}
