//! Planned actions performed through the Kommo client. Entity updates (fields, tags, stage,
//! responsible) of every rule of an event go into one [`WriteBatch`] and leave as few `PATCH`
//! requests as the client's batch limit allows; creations, notes, tasks and calls leave at once.
//! Before any write to an entity, a write mark is stored, so the webhook our write causes is
//! recognised as ours (loop protection).
//!
//! # Layout
//!
//! This file is the frame every action runs in: [`Engine::perform`] claims, records and replays
//! an action after a crash as its [`domain::rule::Replay`] says, `perform_action` dispatches it
//! to its family, and [`Engine::plan_action`] plans it for a dry run. One file per family:
//! - `fields`: fields, tags, stage and responsible user (batched updates);
//! - `tasks`: tasks created and changed;
//! - `notes`: notes and the Mailer email's service note;
//! - `creations`: leads, contacts, companies and a lead's copy;
//! - `messaging`: Salesbots and chat subscriptions;
//! - `webhooks`: "send webhook" and its follow-up rule;
//! - `calls`: rule calls, cancelled delayed actions, global variables;
//! - `batch`: the [`WriteBatch`] of an event and the [`UpdateCoalescer`] of an account.

mod batch;
mod calls;
mod creations;
mod fields;
mod messaging;
mod notes;
mod tasks;
mod webhooks;

use std::time::Instant;

use domain::{
    event::Event,
    path::EntityRole,
    rule::{ActionKind, Replay, UserChoice},
    snapshot::{EntitySnapshot, Snapshot},
};
use kommo::{
    models::{EntityKind, EntityWrite},
    AccountClient, KommoError,
};
use serde::Serialize;

use self::notes::{email_addresses, email_note_text};
pub use self::{
    batch::{Owner, UpdateCoalescer, WriteBatch},
    fields::field_write,
    webhooks::WEBHOOK_RUN_KEYS,
};
use super::{
    records::{self, ActionClaim},
    snapshot::AccountFacts,
    Engine,
};
use crate::queue::Lease;

/// What one action did, for the debugger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionResult {
    /// The block index, or `None` for the else scenario.
    pub block: Option<usize>,
    /// The action's index within its block.
    pub action_index: usize,
    /// The action type.
    pub kind: &'static str,
    /// `ok`, `error`, `scheduled` or `skipped`.
    pub status: &'static str,
    /// What was done (ids created, jobs cancelled, variables set…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long it took, milliseconds (batched updates count at the flush).
    pub duration_ms: i64,
}

/// What a dry run learns of one action: the Kommo requests the executor would send for it, and
/// why it would send none or not all of them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedRequests {
    /// The requests, in the order the executor would send them.
    pub requests: Vec<kommo::RecordedRequest>,
    /// Why the action sends nothing, or fails, in a live run now (no entity, a value that does
    /// not fit its field, not a Kommo request).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Everything an action needs to run. Performing needs the lease of the job that performs the
/// action; a dry run or a replay has none, and with none an action is only planned
/// ([`Engine::plan_action`]): nothing is written to our tables or queued, nothing is sent
/// outside, and the read-only client records the Kommo writes instead of sending them.
pub struct ActionScope<'a> {
    /// The tenant.
    pub account_id: i64,
    /// The claim of the job that performs the action: the owner of the actions it starts; `None`
    /// when the action is only planned.
    pub lease: Option<Lease>,
    /// The rule the action belongs to.
    pub rule_id: i64,
    /// The account's client.
    pub client: &'a AccountClient,
    /// The account facts.
    pub facts: &'a AccountFacts,
    /// The snapshot the action was planned against.
    pub snapshot: &'a Snapshot,
    /// The event.
    pub event: &'a Event,
    /// The event's chain depth.
    pub depth: u32,
    /// The stable id of the action's block (0: none, or the else scenario).
    pub block_id: u32,
}

impl ActionScope<'_> {
    fn entity(&self, role: EntityRole) -> Option<(EntityKind, &EntitySnapshot)> {
        let subject = self.event.entity_type();
        let entity = self.snapshot.entity(role, subject)?;
        let kind = match role {
            EntityRole::Lead => EntityKind::Leads,
            EntityRole::Contact => EntityKind::Contacts,
            EntityRole::Company => EntityKind::Companies,
            EntityRole::Client => {
                if self
                    .snapshot
                    .lead
                    .as_ref()
                    .is_some_and(|l| l.id == entity.id)
                    && subject != Some(domain::path::EntityType::Contact)
                    && subject != Some(domain::path::EntityType::Company)
                {
                    EntityKind::Leads
                } else if self
                    .snapshot
                    .contact
                    .as_ref()
                    .is_some_and(|c| c.id == entity.id)
                    && subject != Some(domain::path::EntityType::Company)
                {
                    EntityKind::Contacts
                } else {
                    EntityKind::Companies
                }
            }
        };
        Some((kind, entity))
    }

    fn user(&self, choice: &UserChoice, entity: Option<&EntitySnapshot>) -> Option<i64> {
        match choice {
            UserChoice::User(id) => Some(*id),
            UserChoice::Responsible => entity.and_then(|e| e.responsible_user_id),
        }
    }
}

/// Why an action could not run.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The entity the action needs is not in the snapshot.
    #[error("the event has no {0}")]
    NoEntity(&'static str),
    /// A value does not fit its field.
    #[error("{0}")]
    BadValue(String),
    /// Kommo failed.
    #[error(transparent)]
    Kommo(#[from] KommoError),
    /// Our database failed.
    #[error("storage failed: {0}")]
    Store(String),
    /// The action is not available through Kommo's public API.
    #[error("{0}")]
    Unsupported(&'static str),
    /// "Send webhook" failed.
    #[error(transparent)]
    Webhook(#[from] super::outbound::OutboundError),
    /// Started before a restart, not known to have reached Kommo, and not repeated, because Kommo
    /// offers no way to ask and a repeat would be worse than a miss.
    #[error("{0}")]
    NotRepeated(&'static str),
    /// Another claim of a job with this action (whose lease still holds) started it and is sending
    /// it right now; this performer must not.
    #[error("another worker is performing this action right now")]
    InFlight,
    /// The action is only planned (a dry run): this part of it is not done.
    #[error("{0}")]
    NotPerformed(&'static str),
    /// The lease of the job performing the action ran out (another worker may be running it): it
    /// starts nothing more.
    #[error("the job's lease ran out before the action started; another worker may be running it")]
    LeaseLost,
}

impl ActionError {
    /// Whether the job must stop here because the action belongs to another claim: its run is
    /// not this performer's to finish or record.
    pub fn stops_the_job(&self) -> bool {
        matches!(self, Self::InFlight | Self::LeaseLost)
    }
}

/// What a Salesbot start that was interrupted by a restart records, and its debugger entry says.
pub const SALESBOT_NOT_REPEATED: &str =
    "not repeated after a restart: the Salesbot start was sent before the restart, and Kommo \
     cannot tell whether the bot ran; starting it again could send its messages twice, so check \
     the chat";

fn role_name(role: EntityRole) -> &'static str {
    match role {
        EntityRole::Lead => "lead",
        EntityRole::Contact => "contact",
        EntityRole::Company => "company",
        EntityRole::Client => "entity",
    }
}

fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

fn kind_table(kind: EntityKind) -> &'static str {
    kind.plural()
}

impl Engine {
    async fn mark(
        &self,
        scope: &ActionScope<'_>,
        kind: EntityKind,
        id: i64,
    ) -> Result<(), ActionError> {
        if scope.lease.is_none() {
            // A planned write is not sent, so no webhook of ours is to be recognised.
            return Ok(());
        }
        let expires = self.clock.now_ms() + self.config.write_mark_ttl_ms;
        records::mark_write(
            &self.db,
            scope.account_id,
            kind_table(kind),
            id,
            scope.depth,
            expires,
        )
        .await
        .map_err(|e| ActionError::Store(e.to_string()))
    }

    /// Entities we created carry the chain on: their "added" events are one step deeper.
    async fn mark_created(
        &self,
        scope: &ActionScope<'_>,
        kind: EntityKind,
        ids: &[i64],
    ) -> Result<(), ActionError> {
        for id in ids {
            self.mark(scope, kind, *id).await?;
        }
        Ok(())
    }

    /// Performs one action now. Entity updates go into `batch` (their result arrives at the flush);
    /// everything else is sent at once. Returns a sentence about what was done.
    ///
    /// Actions that are not safe to repeat (their [`ActionKind::replay`] is recorded: notes,
    /// tasks, creations, calls out) are recorded under `action_key` before and after the call. The `started` record is claimed atomically
    /// by the job's lease ([`records::claim_action`]): of two concurrent performers of one key one
    /// sends, and the other stops its job ([`ActionError::InFlight`], retried later). A job
    /// repeated after a crash skips the ones done, and for one started by a claim whose lease is
    /// gone replays it as its [`Replay`] says: [`Replay::LookUp`] first looks in Kommo for what
    /// it would have created (notes and tasks by text, entities by name, the Mailer note by its
    /// text). Where that cannot be known:
    /// - "execute rule" (and a webhook's follow-up rule) writes its job and the done mark in one
    ///   transaction, so a started one did nothing yet and is simply done again;
    /// - "send webhook" is sent again, with the same `Idempotency-Key` (at least once);
    /// - "run Salesbot" is not repeated: it is recorded as done with [`SALESBOT_NOT_REPEATED`] and
    ///   reported as an error, so the debugger shows that the bot may not have run.
    pub async fn perform(
        &self,
        scope: &ActionScope<'_>,
        action: &ActionKind<String>,
        action_key: &str,
        batch: &mut WriteBatch,
        owner: Owner,
    ) -> Result<Option<String>, ActionError> {
        let Some(lease) = scope.lease else {
            return Err(ActionError::NotPerformed(
                "a dry run performs nothing; plan the action instead",
            ));
        };
        // The crash policy is the domain's, one exhaustive match per action type.
        let replay = action.replay();
        if !replay.is_recorded() {
            return self
                .perform_action(scope, action, action_key, batch, owner)
                .await;
        }
        let store = |e: sqlx::Error| ActionError::Store(e.to_string());
        let now = self.clock.now_ms();
        // Inserted only if absent, so of two performers of one key exactly one sends it.
        match records::claim_action(&self.db, scope.account_id, action_key, lease, now)
            .await
            .map_err(store)?
        {
            ActionClaim::New => {}
            ActionClaim::Done(detail) => {
                if detail.as_deref() == Some(SALESBOT_NOT_REPEATED) {
                    return Err(ActionError::NotRepeated(SALESBOT_NOT_REPEATED));
                }
                return Ok(Some(format!(
                    "already done before a restart ({})",
                    detail.unwrap_or_default()
                )));
            }
            ActionClaim::InFlight => return Err(ActionError::InFlight),
            ActionClaim::LeaseLost => return Err(ActionError::LeaseLost),
            ActionClaim::Abandoned if replay == Replay::Never => {
                records::finish_action(
                    &self.db,
                    scope.account_id,
                    action_key,
                    lease,
                    Some(SALESBOT_NOT_REPEATED),
                )
                .await
                .map_err(store)?;
                tracing::warn!(
                    account.id = scope.account_id,
                    rule.id = scope.rule_id,
                    action_key,
                    "a Salesbot start interrupted by a restart was not repeated"
                );
                return Err(ActionError::NotRepeated(SALESBOT_NOT_REPEATED));
            }
            ActionClaim::Abandoned
                if replay == Replay::LookUp && self.landed(scope, action).await? =>
            {
                records::finish_action(
                    &self.db,
                    scope.account_id,
                    action_key,
                    lease,
                    Some("found in Kommo"),
                )
                .await
                .map_err(store)?;
                return Ok(Some("found in Kommo after a restart".to_owned()));
            }
            // Not found in Kommo, a webhook (sent at least once, under the same key), or a rule
            // call (its job was not queued): sent again.
            ActionClaim::Abandoned => {}
        }
        let result = self
            .perform_action(scope, action, action_key, batch, owner)
            .await;
        // Rule calls and webhooks record their own end, together with the job they queue (a
        // webhook's follow-up rule).
        let finished = match replay {
            Replay::DoneWithItsJob | Replay::ResendWithKey => true,
            Replay::Repeat | Replay::LookUp | Replay::Never => false,
        };
        if let (Ok(detail), false) = (&result, finished) {
            let recorded = records::finish_action(
                &self.db,
                scope.account_id,
                action_key,
                lease,
                detail.as_deref(),
            )
            .await
            .map_err(store)?;
            if !recorded {
                tracing::warn!(
                    account.id = scope.account_id,
                    action_key,
                    "an action was sent after the job's lease was taken over; the new owner decides"
                );
            }
        }
        result
    }

    /// Whether an action started before a crash already landed in Kommo.
    async fn landed(
        &self,
        scope: &ActionScope<'_>,
        action: &ActionKind<String>,
    ) -> Result<bool, ActionError> {
        match action {
            ActionKind::AddNote { entity, text, .. } => {
                let Some((kind, target)) = scope.entity(*entity) else {
                    return Ok(false);
                };
                let notes = scope.client.notes(kind, target.id).await?;
                Ok(notes
                    .iter()
                    .any(|n| n.params.get("text").and_then(|t| t.as_str()) == Some(text.as_str())))
            }
            ActionKind::CreateTask { entity, text, .. } => {
                let Some((kind, target)) = scope.entity(*entity) else {
                    return Ok(false);
                };
                let query = kommo::ListQuery::new()
                    .entity_ids(&[target.id])
                    .raw("filter[entity_type]", kind.plural());
                Ok(scope
                    .client
                    .tasks(&query)
                    .await?
                    .iter()
                    .any(|t| &t.text == text))
            }
            ActionKind::CreateLead { name, .. } => {
                self.named_exists(scope, EntityKind::Leads, name).await
            }
            ActionKind::CreateContact { name, .. } => {
                self.named_exists(scope, EntityKind::Contacts, name).await
            }
            ActionKind::CreateCompany { name, .. } => {
                self.named_exists(scope, EntityKind::Companies, name).await
            }
            ActionKind::CopyLead { name } => {
                // Unnamed, the copy is named after the lead (as `perform_action` names it).
                let name = match (name, &scope.snapshot.lead) {
                    (Some(name), _) => name.clone(),
                    (None, Some(lead)) => format!("{} (copy)", lead.name),
                    (None, None) => return Ok(false),
                };
                self.named_exists(scope, EntityKind::Leads, &name).await
            }
            ActionKind::SendEmail {
                sender_user_id,
                recipient,
                template_id,
            } => {
                let Some((kind, target)) = scope.entity(EntityRole::Client) else {
                    return Ok(false);
                };
                let addresses = email_addresses(scope.snapshot, *recipient);
                let text = email_note_text(*template_id, *sender_user_id, &addresses);
                let notes = scope.client.notes(kind, target.id).await?;
                Ok(notes
                    .iter()
                    .any(|n| n.params.get("text").and_then(|t| t.as_str()) == Some(text.as_str())))
            }
            // Only actions that replay by looking up come here (`Replay::LookUp`).
            ActionKind::ChangeFields { .. }
            | ActionKind::ChangeTags { .. }
            | ActionKind::ChangeStatus { .. }
            | ActionKind::ChangeResponsible { .. }
            | ActionKind::ChangeTask { .. }
            | ActionKind::CancelDelayed { .. }
            | ActionKind::ChatSubscription { .. }
            | ActionKind::ChangeGlobalVariable { .. }
            | ActionKind::SendWebhook { .. }
            | ActionKind::RunSalesbot { .. }
            | ActionKind::ExecuteRule { .. } => Ok(false),
        }
    }

    async fn perform_action(
        &self,
        scope: &ActionScope<'_>,
        action: &ActionKind<String>,
        action_key: &str,
        batch: &mut WriteBatch,
        owner: Owner,
    ) -> Result<Option<String>, ActionError> {
        if scope.lease.is_none() {
            let outside = match action {
                ActionKind::SendWebhook { .. } => Some("a dry run sends no webhook"),
                ActionKind::CancelDelayed { .. } => Some("a dry run cancels no jobs"),
                ActionKind::ChangeGlobalVariable { .. } => Some("a dry run changes no variable"),
                ActionKind::ExecuteRule { .. } => Some("a dry run calls no rule"),
                _ => None,
            };
            if let Some(why) = outside {
                return Err(ActionError::NotPerformed(why));
            }
        }
        match action {
            ActionKind::ChangeFields { entity, fields } => {
                self.change_fields(scope, entity, fields, batch, owner)
                    .await
            }
            ActionKind::ChangeTags {
                entity,
                change,
                tags,
            } => {
                self.change_tags(scope, entity, change, tags, batch, owner)
                    .await
            }
            ActionKind::ChangeStatus {
                pipeline_id,
                status_id,
            } => {
                self.change_status(scope, pipeline_id, status_id, batch, owner)
                    .await
            }
            ActionKind::ChangeResponsible {
                entity,
                user,
                in_contacts,
                in_companies,
                in_open_tasks,
            } => {
                self.change_responsible(
                    scope,
                    entity,
                    user,
                    in_contacts,
                    in_companies,
                    in_open_tasks,
                    batch,
                    owner,
                )
                .await
            }
            ActionKind::AddNote {
                entity,
                text,
                system,
            } => self.add_note(scope, entity, text, system).await,
            ActionKind::CreateTask {
                entity,
                responsible,
                task_type_id,
                complete_in_seconds,
                text,
                results,
            } => {
                self.create_task(
                    scope,
                    entity,
                    responsible,
                    task_type_id,
                    complete_in_seconds,
                    text,
                    results,
                )
                .await
            }
            ActionKind::ChangeTask {
                entity,
                task_type_id,
                scope: which,
                responsible,
                new_task_type_id,
                completed,
                text,
            } => {
                self.change_task(
                    scope,
                    entity,
                    task_type_id,
                    which,
                    responsible,
                    new_task_type_id,
                    completed,
                    text,
                )
                .await
            }
            ActionKind::CreateLead {
                name,
                tags,
                responsible,
                pipeline_id,
                status_id,
                fields,
                attach_company_contacts,
            } => {
                self.create_lead(
                    scope,
                    name,
                    tags,
                    responsible,
                    pipeline_id,
                    status_id,
                    fields,
                    attach_company_contacts,
                )
                .await
            }
            ActionKind::CreateContact {
                name,
                attach_to,
                responsible,
                fields,
            }
            | ActionKind::CreateCompany {
                name,
                attach_to,
                responsible,
                fields,
            } => {
                self.create_contact_or_company(scope, action, name, attach_to, responsible, fields)
                    .await
            }
            ActionKind::CopyLead { name } => self.copy_lead(scope, name).await,
            ActionKind::ExecuteRule { entity, rule_id } => {
                self.execute_rule(scope, action_key, entity, rule_id).await
            }
            ActionKind::RunSalesbot { entity, bot_id } => {
                self.run_salesbot(scope, entity, bot_id).await
            }
            ActionKind::SendWebhook {
                method,
                url,
                headers,
                body,
                parse_response,
                follow_up_rule_id,
            } => {
                self.send_webhook(
                    scope,
                    action_key,
                    method,
                    url,
                    headers,
                    body,
                    parse_response,
                    follow_up_rule_id,
                )
                .await
            }
            ActionKind::SendEmail {
                sender_user_id,
                recipient,
                template_id,
            } => {
                self.send_email(scope, sender_user_id, recipient, template_id)
                    .await
            }
            ActionKind::ChatSubscription { .. } => Err(ActionError::Unsupported(
                "subscribing users to a lead's chat is not available through Kommo's public API",
            )),
            ActionKind::CancelDelayed {
                rule_id,
                block_id,
                action_id,
            } => {
                self.cancel_delayed(scope, rule_id, block_id, action_id)
                    .await
            }
            ActionKind::ChangeGlobalVariable {
                name,
                change,
                value,
            } => {
                self.change_global_variable(scope, name, change, value)
                    .await
            }
        }
    }

    /// Plans one action (a dry run): runs the executor's own code for it with no lease and the
    /// read-only client that records what it refuses, so the Kommo requests shown are those a
    /// live run would send, built by the same code. Entity updates, which a live run batches
    /// across rules, leave as this action's own `PATCH` per entity type. Where an action needs
    /// Kommo's answer to go on (the id of a created entity), only the first request is known;
    /// actions that are not Kommo requests ("send webhook", variables, rule calls, cancelling
    /// jobs) are not done and say so.
    pub async fn plan_action(
        &self,
        scope: &ActionScope<'_>,
        recorder: &kommo::RequestRecorder,
        action: &ActionKind<String>,
    ) -> PlannedRequests {
        if scope.lease.is_some() || !scope.client.is_read_only() {
            // Planning with a client that writes would send the writes: never.
            return PlannedRequests {
                requests: Vec::new(),
                note: Some("not planned: planning needs a read-only client".into()),
            };
        }
        recorder.take();
        let mut batch = WriteBatch::new();
        let performed = self
            .perform_action(scope, action, "", &mut batch, (0, 0))
            .await;
        let note = match performed {
            Ok(_) | Err(ActionError::Kommo(KommoError::ReadOnly(_))) => None,
            Err(e) => Some(e.to_string()),
        };
        let mut by_kind: Vec<(EntityKind, Vec<EntityWrite>)> = Vec::new();
        for (kind, write, _) in batch.updates {
            match by_kind.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, writes)) => writes.push(write),
                None => by_kind.push((kind, vec![write])),
            }
        }
        for (kind, writes) in by_kind {
            // Refused and recorded by the read-only client.
            let _ = scope.client.update_entities(kind, writes).await;
        }
        PlannedRequests {
            requests: recorder.take(),
            note,
        }
    }
}

/// Times an action: the wall time it took, in milliseconds.
pub fn elapsed_ms(started: Instant) -> i64 {
    i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)
}
