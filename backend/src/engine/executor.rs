//! Planned actions performed through the Kommo client. Entity updates (fields, tags, stage,
//! responsible) of every rule of an event go into one [`WriteBatch`] and leave as few `PATCH`
//! requests as the client's batch limit allows; creations, notes, tasks and calls leave at once.
//! Before any write to an entity, a write mark is stored, so the webhook our write causes is
//! recognised as ours (loop protection).

use std::{collections::HashMap, sync::Arc, time::Instant};

use domain::{
    event::Event,
    path::EntityRole,
    rule::{
        ActionKind, FieldAssignment, FieldTarget, TagChange, TaskScope, UserChoice, VariableChange,
    },
    snapshot::{EntitySnapshot, Snapshot},
    template::RESET_MARKER,
};
use kommo::{
    models::{
        EmbeddedRef, EmbeddedWrite, EntityKind, EntityWrite, NewNote, NoteContent, SalesbotRun,
        TagRef, TaskWrite,
    },
    AccountClient, FieldValue, FieldWrite, KommoError,
};
use serde::Serialize;
use serde_json::json;

use super::{
    outbound::{self, WebhookRequest},
    records::{self, ActionClaim, ResultOption, TaskWithResults},
    snapshot::AccountFacts,
    Engine,
};
use crate::{
    queue::{self, kinds, JobFilter, Lease, NewJob},
    store::variables,
};

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

/// Where a batched update's result goes: (rule run index, action result index).
pub type Owner = (usize, usize);

/// Entity updates collected over the rules of an event, sent together.
#[derive(Debug, Default)]
pub struct WriteBatch {
    updates: Vec<(EntityKind, EntityWrite, Owner)>,
}

impl WriteBatch {
    /// Nothing collected.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, kind: EntityKind, write: EntityWrite, owner: Owner) {
        self.updates.push((kind, write, owner));
    }

    /// Whether nothing was collected.
    pub fn is_empty(&self) -> bool {
        self.updates.is_empty()
    }

    /// Sends the updates through `coalescer` (together with other jobs' updates of the account
    /// that are waiting at the same moment); returns each owner with its error, if any.
    pub async fn flush(
        self,
        account_id: i64,
        client: &AccountClient,
        coalescer: &UpdateCoalescer,
    ) -> Vec<(Owner, Option<String>)> {
        let (writes, owners): (Vec<_>, Vec<_>) = self
            .updates
            .into_iter()
            .map(|(kind, write, owner)| ((kind, write), owner))
            .unzip();
        let results = coalescer.update(account_id, client, writes).await;
        owners.into_iter().zip(results).collect()
    }
}

/// Where the result of one update goes.
type ResultSender = tokio::sync::oneshot::Sender<Option<String>>;

type PendingUpdate = (EntityKind, EntityWrite, ResultSender);

/// One account's updates waiting to be sent, and the gate of the one sender at a time.
#[derive(Default)]
struct AccountUpdates {
    pending: std::sync::Mutex<Vec<PendingUpdate>>,
    sending: tokio::sync::Mutex<()>,
}

/// Entity updates of concurrent jobs, batched across events: while one job's `PATCH` is on its
/// way (or waits for the rate limit), the updates other jobs of the same account flush meanwhile
/// pile up and leave together in the next request, merged per entity. An idle account pays no
/// extra delay.
#[derive(Default)]
pub struct UpdateCoalescer {
    accounts: std::sync::Mutex<HashMap<i64, Arc<AccountUpdates>>>,
}

impl std::fmt::Debug for UpdateCoalescer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateCoalescer").finish_non_exhaustive()
    }
}

impl UpdateCoalescer {
    /// Sends `writes` (possibly together with other jobs' writes) and returns, per write, the
    /// error of the request that carried it.
    pub async fn update(
        &self,
        account_id: i64,
        client: &AccountClient,
        writes: Vec<(EntityKind, EntityWrite)>,
    ) -> Vec<Option<String>> {
        let account = self
            .accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(account_id)
            .or_default()
            .clone();
        let mut receivers = Vec::with_capacity(writes.len());
        {
            let mut pending = account
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (kind, write) in writes {
                let (tx, rx) = tokio::sync::oneshot::channel();
                pending.push((kind, write, tx));
                receivers.push(rx);
            }
        }
        {
            // Whoever holds the gate sends everything pending; ours may already have gone with
            // the previous holder's request.
            let _gate = account.sending.lock().await;
            let batch = std::mem::take(
                &mut *account
                    .pending
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
            send_merged(client, batch).await;
        }
        let mut results = Vec::with_capacity(receivers.len());
        for rx in receivers {
            results.push(
                rx.await
                    .unwrap_or_else(|_| Some("the update was not sent".to_owned())),
            );
        }
        results
    }
}

async fn send_merged(client: &AccountClient, batch: Vec<PendingUpdate>) {
    let mut by_kind: HashMap<EntityKind, Vec<(EntityWrite, ResultSender)>> = HashMap::new();
    for (kind, write, tx) in batch {
        by_kind.entry(kind).or_default().push((write, tx));
    }
    for (kind, items) in by_kind {
        let (writes, senders): (Vec<_>, Vec<_>) = items.into_iter().unzip();
        let error = client
            .update_entities(kind, writes)
            .await
            .err()
            .map(|e| e.to_string());
        for tx in senders {
            let _ = tx.send(error.clone());
        }
    }
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
    Webhook(#[from] outbound::OutboundError),
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

fn fields_write(
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
    /// Actions that are not safe to repeat (notes, tasks, creations, calls out) are recorded under
    /// `action_key` before and after the Kommo call. The `started` record is claimed atomically
    /// by the job's lease ([`records::claim_action`]): of two concurrent performers of one key one
    /// sends, and the other stops its job ([`ActionError::InFlight`], retried later). A job
    /// repeated after a crash skips the ones done, and for one started by a claim whose lease is
    /// gone it first looks in Kommo for what it would have created (notes and tasks by text,
    /// entities by name, the Mailer note by its text).
    /// Where that cannot be known:
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
        let guarded = matches!(
            action,
            ActionKind::AddNote { .. }
                | ActionKind::CreateTask { .. }
                | ActionKind::CreateLead { .. }
                | ActionKind::CreateContact { .. }
                | ActionKind::CreateCompany { .. }
                | ActionKind::CopyLead { .. }
                | ActionKind::RunSalesbot { .. }
                | ActionKind::SendWebhook { .. }
                | ActionKind::SendEmail { .. }
                | ActionKind::ExecuteRule { .. }
        );
        if !guarded {
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
            ActionClaim::Abandoned if matches!(action, ActionKind::RunSalesbot { .. }) => {
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
            ActionClaim::Abandoned if self.landed(scope, action).await? => {
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
            // Not found in Kommo (or a webhook, sent at least once): sent again.
            ActionClaim::Abandoned => {}
        }
        let result = self
            .perform_action(scope, action, action_key, batch, owner)
            .await;
        // Rule calls and webhooks record their own end, together with the job they queue.
        let finished = matches!(
            action,
            ActionKind::ExecuteRule { .. } | ActionKind::SendWebhook { .. }
        );
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
            ActionKind::CopyLead { name: Some(name) } => {
                self.named_exists(scope, EntityKind::Leads, name).await
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
            // A rule call or a webhook's follow-up is queued in the transaction that marks it done;
            // a webhook is sent again with its idempotency key; a Salesbot is handled by `perform`.
            _ => Ok(false),
        }
    }

    async fn named_exists(
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
                let (kind, target) = scope
                    .entity(*entity)
                    .ok_or(ActionError::NoEntity(role_name(*entity)))?;
                let mut write = EntityWrite::update(target.id);
                fields_write(scope.facts, kind, &mut write, fields)?;
                self.mark(scope, kind, target.id).await?;
                batch.push(kind, write, owner);
                Ok(None)
            }
            ActionKind::ChangeTags {
                entity,
                change,
                tags,
            } => {
                let (kind, target) = scope
                    .entity(*entity)
                    .ok_or(ActionError::NoEntity(role_name(*entity)))?;
                let names = tags.as_deref().map(split_list).unwrap_or_default();
                let mut write = EntityWrite::update(target.id);
                match change {
                    TagChange::Add => {
                        write.tags_to_add = names.into_iter().map(TagRef::name).collect()
                    }
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
            ActionKind::ChangeStatus {
                pipeline_id,
                status_id,
            } => {
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
            ActionKind::ChangeResponsible {
                entity,
                user,
                in_contacts,
                in_companies,
                in_open_tasks,
            } => {
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
            ActionKind::AddNote {
                entity,
                text,
                system,
            } => {
                let (kind, target) = scope
                    .entity(*entity)
                    .ok_or(ActionError::NoEntity(role_name(*entity)))?;
                let content = if *system {
                    NoteContent::Service {
                        service: "Rulebook".to_owned(),
                        text: text.clone(),
                    }
                } else {
                    NoteContent::Common { text: text.clone() }
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
            ActionKind::CreateTask {
                entity,
                responsible,
                task_type_id,
                complete_in_seconds,
                text,
                results,
            } => {
                let (kind, target) = scope
                    .entity(*entity)
                    .ok_or(ActionError::NoEntity(role_name(*entity)))?;
                let responsible = responsible
                    .as_ref()
                    .and_then(|c| scope.user(c, Some(target)))
                    .or(target.responsible_user_id);
                let complete_till =
                    self.clock.now_ms().div_euclid(1000) + i64::from(*complete_in_seconds);
                self.mark(scope, kind, target.id).await?;
                let ids = scope
                    .client
                    .create_tasks(vec![TaskWrite {
                        text: Some(text.clone()),
                        complete_till: Some(complete_till),
                        entity_id: Some(target.id),
                        entity_type: Some(kind),
                        task_type_id: Some(*task_type_id),
                        responsible_user_id: responsible,
                        ..TaskWrite::default()
                    }])
                    .await?;
                let options: Vec<ResultOption> = results
                    .iter()
                    .filter_map(|r| {
                        r.rule_id.map(|rule_id| ResultOption {
                            text: r.text.clone(),
                            rule_id,
                        })
                    })
                    .collect();
                if let (Some(task_id), false) = (ids.first(), options.is_empty()) {
                    let task = TaskWithResults {
                        options,
                        entity_type: kind.plural().to_owned(),
                        entity_id: target.id,
                    };
                    records::save_task_results(&self.db, scope.account_id, *task_id, &task)
                        .await
                        .map_err(|e| ActionError::Store(e.to_string()))?;
                }
                Ok(Some(format!("task {ids:?}")))
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
                let (_, target) = scope
                    .entity(*entity)
                    .ok_or(ActionError::NoEntity(role_name(*entity)))?;
                let mut tasks: Vec<_> = target
                    .tasks
                    .iter()
                    .filter(|t| task_type_id.is_none_or(|id| id == t.task_type_id))
                    .collect();
                tasks.sort_by_key(|t| (t.complete_till, t.id));
                if *which == TaskScope::Last {
                    tasks = tasks.pop().into_iter().collect();
                }
                let writes: Vec<TaskWrite> = tasks
                    .iter()
                    .map(|t| TaskWrite {
                        id: Some(t.id),
                        responsible_user_id: responsible
                            .as_ref()
                            .and_then(|c| scope.user(c, Some(target))),
                        task_type_id: *new_task_type_id,
                        is_completed: *completed,
                        text: text.clone(),
                        ..TaskWrite::default()
                    })
                    .collect();
                let count = writes.len();
                if count > 0 {
                    scope.client.update_tasks(writes).await?;
                }
                Ok(Some(format!("{count} task(s) changed")))
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
                let source = scope
                    .snapshot
                    .entity(EntityRole::Client, scope.event.entity_type());
                let mut write = EntityWrite {
                    name: Some(name.clone()),
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
                    let _ = attach_company_contacts;
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
                    name: Some(name.clone()),
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
            ActionKind::CopyLead { name } => {
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
            ActionKind::ExecuteRule { entity, rule_id } => {
                let (kind, target) = scope
                    .entity(*entity)
                    .ok_or(ActionError::NoEntity(role_name(*entity)))?;
                // The called rule gets the caller's variables (an inbound webhook's included)
                // and reads the caller's entities (see `EventKind::RuleCall`).
                let mut event = Event::about(
                    entity_type_of(kind),
                    target.id,
                    domain::event::EventKind::RuleCall {
                        parent_rule_id: Some(scope.rule_id),
                        parent_entity: scope.event.entity,
                    },
                );
                event.vars = scope.event.vars.clone();
                let detail = format!("rule {rule_id} queued");
                let job = self.rule_call_job(scope.account_id, *rule_id, &event, scope.depth + 1);
                self.queue_and_finish(scope, Some(&job), action_key, &detail)
                    .await?;
                Ok(Some(detail))
            }
            ActionKind::RunSalesbot { entity, bot_id } => {
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
            ActionKind::SendWebhook {
                method,
                url,
                headers,
                body,
                parse_response,
                follow_up_rule_id,
            } => {
                let request = WebhookRequest {
                    method: *method,
                    url: url.clone(),
                    headers: headers
                        .iter()
                        .map(|h| (h.key.clone(), h.value.clone()))
                        .collect(),
                    body: with_run_ids(scope, body),
                    idempotency_key: Some(outbound::idempotency_key(scope.account_id, action_key)),
                };
                let response = outbound::send(&request, &self.config.webhook).await?;
                let detail = if response.truncated {
                    format!(
                        "HTTP {}; only the first {} bytes of the answer were read",
                        response.status, self.config.webhook.max_response_bytes
                    )
                } else {
                    format!("HTTP {}", response.status)
                };
                let mut follow_up = None;
                if let Some(rule_id) = follow_up_rule_id {
                    let mut event = match scope.event.entity {
                        Some(entity) => Event::about(
                            entity.entity_type,
                            entity.id,
                            domain::event::EventKind::RuleCall {
                                parent_rule_id: Some(scope.rule_id),
                                parent_entity: None,
                            },
                        ),
                        None => Event {
                            entity: None,
                            kind: domain::event::EventKind::RuleCall {
                                parent_rule_id: Some(scope.rule_id),
                                parent_entity: None,
                            },
                            vars: Default::default(),
                        },
                    };
                    if *parse_response {
                        event.vars = response.vars.clone();
                    }
                    follow_up = Some(self.rule_call_job(
                        scope.account_id,
                        *rule_id,
                        &event,
                        scope.depth + 1,
                    ));
                }
                self.queue_and_finish(scope, follow_up.as_ref(), action_key, &detail)
                    .await?;
                Ok(Some(detail))
            }
            ActionKind::SendEmail {
                sender_user_id,
                recipient,
                template_id,
            } => {
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
            ActionKind::ChatSubscription { .. } => Err(ActionError::Unsupported(
                "subscribing users to a lead's chat is not available through Kommo's public API",
            )),
            ActionKind::CancelDelayed {
                rule_id,
                block_id,
                action_id,
            } => {
                let filter = JobFilter {
                    rule_id: Some(rule_id.unwrap_or(scope.rule_id)),
                    block_id: block_id.map(|b| b.to_string()),
                    action_id: action_id.map(|a| a.to_string()),
                    entity: scope
                        .event
                        .entity
                        .map(|e| (super::snapshot::table_name(e.entity_type).to_owned(), e.id)),
                };
                let cancelled = self
                    .queue
                    .cancel_jobs(scope.account_id, &filter)
                    .await
                    .map_err(|e| ActionError::Store(e.to_string()))?;
                Ok(Some(format!("{cancelled} job(s) cancelled")))
            }
            ActionKind::ChangeGlobalVariable {
                name,
                change,
                value,
            } => {
                let now = self.clock.now_ms();
                let result = match change {
                    VariableChange::Set => {
                        variables::set_variable(&self.db, scope.account_id, name, value, now)
                            .await
                            .map(|()| value.clone())
                    }
                    VariableChange::Append => {
                        variables::append_to_variable(&self.db, scope.account_id, name, value, now)
                            .await
                    }
                    VariableChange::Calculate => {
                        variables::set_variable(&self.db, scope.account_id, name, value, now)
                            .await
                            .map(|()| value.clone())
                    }
                };
                let stored = result.map_err(|e| ActionError::Store(e.to_string()))?;
                Ok(Some(format!(
                    "{name} = {}",
                    stored.chars().take(100).collect::<String>()
                )))
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

    /// Queues a run of a (manual) rule for an entity, as "execute rule", task results and webhook
    /// follow-ups do.
    pub async fn enqueue_rule_call(
        &self,
        account_id: i64,
        rule_id: i64,
        event: &Event,
        depth: u32,
    ) -> Result<(), ActionError> {
        let job = self.rule_call_job(account_id, rule_id, event, depth);
        self.queue
            .enqueue(&job)
            .await
            .map_err(|e| ActionError::Store(e.to_string()))?;
        Ok(())
    }

    /// The `run_rule` job of a rule call, due now.
    fn rule_call_job(&self, account_id: i64, rule_id: i64, event: &Event, depth: u32) -> NewJob {
        let mut job = NewJob::new(
            account_id,
            kinds::RUN_RULE,
            json!({ "rule_id": rule_id, "event": event, "depth": depth }),
            self.clock.now_ms(),
        );
        job.rule_id = Some(rule_id);
        job.entity = event
            .entity
            .map(|e| (super::snapshot::table_name(e.entity_type).to_owned(), e.id));
        job
    }

    /// Queues `job` (if any) and marks the action run `action_key` done with `detail`, in one
    /// transaction: whatever the crash point, the job is queued exactly once, and a run found
    /// started but not done queued nothing yet. When the action is no longer this claim's (its
    /// lease was taken over), nothing is queued: the new owner does it.
    async fn queue_and_finish(
        &self,
        scope: &ActionScope<'_>,
        job: Option<&NewJob>,
        action_key: &str,
        detail: &str,
    ) -> Result<(), ActionError> {
        let Some(lease) = scope.lease else {
            return Err(ActionError::NotPerformed("a dry run queues nothing"));
        };
        let store = |e: sqlx::Error| ActionError::Store(e.to_string());
        let account_id = scope.account_id;
        let mut tx = self.db.pool.begin().await.map_err(store)?;
        if let Some(job) = job {
            queue::enqueue(
                &mut tx,
                job,
                self.clock.now_ms(),
                self.queue.settings().max_attempts,
            )
            .await
            .map_err(store)?;
        }
        if !records::finish_action_in(&mut tx, account_id, action_key, lease, Some(detail))
            .await
            .map_err(store)?
        {
            tx.rollback().await.map_err(store)?;
            return Err(ActionError::LeaseLost);
        }
        tx.commit().await.map_err(store)?;
        if job.is_some() {
            self.queue.wake_workers();
        }
        Ok(())
    }
}

/// The names "send webhook" always sends beside the admin's body (the manual: "Request always
/// contains: Kommo entity ID, entity type, Rule ID, triggered condition group ID").
pub const WEBHOOK_RUN_KEYS: [&str; 4] = ["entity_id", "entity_type", "rule_id", "block_id"];

/// The admin's body followed by the run's entity id and type (empty without an entity), rule id
/// and block id; an admin's pair of one of those names gives way to the run's.
fn with_run_ids(
    scope: &ActionScope<'_>,
    body: &[domain::rule::KeyValue<String>],
) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = body
        .iter()
        .filter(|b| !WEBHOOK_RUN_KEYS.contains(&b.key.as_str()))
        .map(|b| (b.key.clone(), b.value.clone()))
        .collect();
    let entity = scope.event.entity;
    let values = [
        entity.map_or_else(String::new, |e| e.id.to_string()),
        entity.map_or_else(String::new, |e| e.entity_type.as_str().to_owned()),
        scope.rule_id.to_string(),
        scope.block_id.to_string(),
    ];
    for (key, value) in WEBHOOK_RUN_KEYS.iter().zip(values) {
        pairs.push(((*key).to_owned(), value));
    }
    pairs
}

fn entity_type_of(kind: EntityKind) -> domain::path::EntityType {
    match kind {
        EntityKind::Leads => domain::path::EntityType::Lead,
        EntityKind::Contacts => domain::path::EntityType::Contact,
        EntityKind::Companies => domain::path::EntityType::Company,
    }
}

/// The text of the service note that records a Mailer email (and finds it again after a restart).
fn email_note_text(template_id: i64, sender_user_id: i64, addresses: &[String]) -> String {
    format!(
        "Email (Mailer template {template_id}) from user {sender_user_id} to {}",
        addresses.join(", ")
    )
}

fn email_addresses(snapshot: &Snapshot, recipient: domain::rule::EmailRecipient) -> Vec<String> {
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

/// Times an action: the wall time it took, in milliseconds.
pub fn elapsed_ms(started: Instant) -> i64 {
    i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)
}
