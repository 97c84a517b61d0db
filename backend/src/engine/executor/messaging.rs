//! Messaging: Salesbots, never started again after a crash (a second start would message the
//! client twice). Chat subscriptions, which Kommo's public API cannot make, are refused by the
//! dispatch.

use domain::path::EntityRole;
use kommo::models::{EntityKind, SalesbotRun};

use super::{role_name, ActionError, ActionScope};
use crate::engine::Engine;

impl Engine {
    /// Starts a Salesbot on a lead or a contact.
    pub(super) async fn run_salesbot(
        &self,
        scope: &ActionScope<'_>,
        entity: &EntityRole,
        bot_id: &i64,
    ) -> Result<Option<String>, ActionError> {
        let (kind, target) = scope
            .entity(*entity)
            .ok_or(ActionError::NoEntity(role_name(*entity)))?;
        let entity_type = match kind {
            EntityKind::Contacts => 1,
            EntityKind::Leads => 2,
            EntityKind::Companies => {
                return Err(ActionError::BadValue(
                    "a Salesbot runs on a lead or a contact".into(),
                ))
            }
        };
        scope
            .client
            .run_salesbot(&[SalesbotRun {
                bot_id: *bot_id,
                entity_id: target.id,
                entity_type,
            }])
            .await?;
        Ok(Some(format!("bot {bot_id} started")))
    }
}
