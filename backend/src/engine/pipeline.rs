//! The job handlers: `process_event` (a stored event through every matching rule), `run_delayed_action`
//! (a timer or a delayed block coming due, against a fresh snapshot) and `run_rule` (execute rule,
//! task results, webhook follow-ups), plus the dry run and the replay of a stored event.
//!
//! For each domain event: the chain depth is looked up (loop protection), the snapshot is read once
//! for all matching rules, each rule is evaluated with its per-entity state, immediate actions are
//! performed (entity updates of all rules batched), delayed ones become jobs, and every run is
//! recorded in the debugger log. A rule run is recorded as done by a key, so a job repeated after a
//! crash skips the runs it finished.
//!
//! A run is [`RunMode::Live`] under its job's lease, or [`RunMode::Dry`] (the dry run, the replay):
//! then the account's client is read-only, every look-up path only looks, and nothing can be
//! performed, as performing needs the lease a dry run does not have.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Instant,
};

use chrono::{DateTime, Utc};
use domain::{
    api::{EntityMatch, FailedCondition, RunStatus, SkipReason, Verdict},
    eval::{
        trigger_matches, CompiledRule, EntityRuleState, EvalContext, Evaluation, PlannedAction,
    },
    event::{EntityRef, Event, EventKind},
    path::EntityType,
    rule::{Action, ActionKind, Source, Trigger, VariableChange},
    snapshot::Snapshot,
    template::{RenderLimits, Template},
    value::{Scope, Variables},
};
use kommo::{
    models::{EntityKind, EntityWrite},
    AccountClient, FieldRef, FieldValue, FieldWrite, ListQuery,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{
    events::{self, IncomingItem},
    executor::{elapsed_ms, ActionResult, ActionScope, WriteBatch},
    outbound, records,
    snapshot::{self, AccountFacts},
    talks, Engine, EngineError, RunMode,
};
use crate::{
    ingest::{self, StoredEvent},
    queue::{kinds, worker::JobError, Lease, NewJob},
    store::{
        execution_log::{self, ExecutionOutcome, NewExecution},
        launches,
        trigger_links::LinkKeys,
        variables,
    },
};

/// The payload of a `run_delayed_action` job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DelayedJob {
    /// The rule.
    pub rule_id: i64,
    /// The event that planned it.
    pub event: Event,
    /// Its chain depth.
    pub depth: u32,
    /// The block (`None`: the else scenario).
    pub block: Option<usize>,
    /// The action's index, or `None` when the whole block waits for its delay.
    pub action_index: Option<usize>,
}

/// The payload of a `run_rule` job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleCallJob {
    /// The rule to run.
    pub rule_id: i64,
    /// The event it runs for.
    pub event: Event,
    /// The chain depth.
    #[serde(default)]
    pub depth: u32,
    /// The launch the run belongs to (a card's button, a list's bulk run): its verdict is recorded
    /// against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_id: Option<i64>,
}

/// One rule's run for one event, on its way to the log.
struct RuleRun {
    rule_id: i64,
    event: Event,
    depth: u32,
    started_at: i64,
    started: Instant,
    evaluation: Option<Evaluation>,
    results: Vec<ActionResult>,
    loop_reason: Option<String>,
    run_key: String,
    state: Option<(EntityRef, EntityRuleState)>,
    snapshot_ms: i64,
    /// The conditions that did not hold, with the operands of the rule as it ran.
    failed_conditions: Vec<FailedCondition>,
}

impl RuleRun {
    fn outcome(&self) -> ExecutionOutcome {
        if self.loop_reason.is_some() {
            ExecutionOutcome::Loop
        } else if self.results.iter().any(|r| r.status == "error") {
            ExecutionOutcome::Error
        } else {
            ExecutionOutcome::Ok
        }
    }

    /// What became of the run, for "why not" and the rule's counters.
    fn verdict(&self) -> Verdict {
        match self.outcome() {
            ExecutionOutcome::Loop => Verdict::Loop,
            ExecutionOutcome::Error => Verdict::Error,
            ExecutionOutcome::Ok => self
                .evaluation
                .as_ref()
                .map_or(Verdict::Fired, Evaluation::verdict),
        }
    }

    /// Kommo operations the run performed: its actions that succeeded against Kommo (a global
    /// variable, a webhook sent elsewhere, a rule call or a cancelled timer are not).
    fn operations(&self) -> i64 {
        let count = self
            .results
            .iter()
            .filter(|r| r.status == "ok" && is_kommo_operation(r.kind))
            .count();
        i64::try_from(count).unwrap_or(i64::MAX)
    }

    /// How the run counts in its launch: its verdict, with the first error of a failed one.
    fn launch_record(&self) -> launches::RunRecord {
        let (status, reason) = self.verdict().launch_status();
        let error = match status {
            RunStatus::Failed => self
                .results
                .iter()
                .find_map(|r| r.error.clone())
                .or_else(|| Some("an action failed".to_owned())),
            _ => None,
        };
        launches::RunRecord {
            status,
            reason,
            error,
        }
    }

    fn trace(&self, source: &str) -> Value {
        json!({
            "source": source,
            "event": self.event,
            "depth": self.depth,
            "outcome": self.evaluation.as_ref().map(|e| e.outcome),
            "trace": self.evaluation.as_ref().map(|e| &e.trace),
            "plan": self.evaluation.as_ref().map(|e| &e.plan),
            "actions": self.results,
            "loop": self.loop_reason,
            "failed_conditions": self.failed_conditions,
            "timings": {
                "snapshot_ms": self.snapshot_ms,
                "total_ms": elapsed_ms(self.started),
            },
        })
    }
}

/// Whether an action of this kind (its `ActionKind::name`) is performed against Kommo.
fn is_kommo_operation(kind: &str) -> bool {
    !matches!(
        kind,
        "change_global_variable" | "send_webhook" | "execute_rule" | "cancel_delayed" | "missing"
    )
}

/// Maps an engine error to a job error: transient ones are retried.
pub fn job_error(err: EngineError) -> JobError {
    if err.is_transient() {
        JobError::Transient(err.to_string())
    } else {
        JobError::Permanent(err.to_string())
    }
}

fn render_action(action: &Action, scope: &Scope<'_>) -> Result<ActionKind<String>, String> {
    action
        .kind
        .try_map(|t: &Template| t.render(scope, &RenderLimits::default()))
        .map_err(|e| e.to_string())
}

fn find_action(rule: &domain::rule::Rule, block: Option<usize>, index: usize) -> Option<&Action> {
    match block {
        Some(b) => rule.blocks.get(b)?.actions.get(index),
        None => rule.else_scenario.as_ref()?.actions.get(index),
    }
}

/// Whether any action of the rule writes a trigger link (`{tglink:N}`).
fn uses_trigger_links(rule: &domain::rule::Rule) -> bool {
    rule.blocks
        .iter()
        .flat_map(|b| b.actions.iter())
        .chain(rule.else_scenario.iter().flat_map(|e| e.actions.iter()))
        .any(|a| {
            a.kind
                .templates()
                .iter()
                .any(|(_, t)| t.source().contains("{tglink:"))
        })
}

/// The rules an event of a stored source may run, by the stored `events.source`.
fn source_of(stored: &str) -> Option<Source> {
    match stored {
        "kommo" => Some(Source::KommoWebhook),
        "dp" => Some(Source::DigitalPipeline),
        "inbound" => Some(Source::InboundWebhook),
        "link" => Some(Source::TriggerLink),
        _ => None,
    }
}

fn entity_key(entity: Option<EntityRef>) -> Option<(String, i64)> {
    entity.map(|e| (snapshot::table_name(e.entity_type).to_owned(), e.id))
}

/// A dry run's or a replay's evaluation, with the Kommo requests of each planned action.
#[derive(Debug, Clone, Serialize)]
pub struct DryEvaluation {
    /// The trace and the plan.
    #[serde(flatten)]
    pub evaluation: Evaluation,
    /// One entry per planned action, in plan order.
    pub requests: Vec<PlannedCall>,
}

/// The Kommo requests one planned action would send.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedCall {
    /// The block index, or `None` for the else scenario.
    pub block: Option<usize>,
    /// The action's index within its block.
    pub action_index: usize,
    /// The action type.
    pub kind: &'static str,
    /// When it would run; `None` at once.
    pub run_at: Option<DateTime<Utc>>,
    /// The requests, as the executor would send them (`method`, `path`, `body`).
    pub requests: Vec<kommo::RecordedRequest>,
    /// Why it would send none or not all of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Everything shared by the rule runs of one job (or of one dry run or replay).
struct JobContext {
    account_id: i64,
    /// Whether the run may change anything; every path that looks up or creates entities, or
    /// writes to our tables, consults it.
    mode: RunMode,
    /// The account's client; read-only in [`RunMode::Dry`], so a write fails before it is sent.
    client: AccountClient,
    /// In [`RunMode::Dry`], where the client records the writes it refused.
    recorder: Option<Arc<kommo::RequestRecorder>>,
    facts: Arc<AccountFacts>,
    variables: Variables,
    snapshots: HashMap<Option<EntityRef>, (Snapshot, i64)>,
    /// The account's trigger links, read when a rule first writes one.
    links: Option<LinkKeys>,
    batch: WriteBatch,
    runs: Vec<RuleRun>,
    /// The launch whose run this job is, if any: [`Engine::finish`] records each run's verdict
    /// against it.
    launch: Option<i64>,
}

impl JobContext {
    /// The lease that performs this run's actions; a dry run has none and performs nothing.
    fn lease(&self, what: &'static str) -> Result<Lease, EngineError> {
        match self.mode {
            RunMode::Live(lease) => Ok(lease),
            RunMode::Dry => Err(EngineError::ReadOnly(what)),
        }
    }
}

impl Engine {
    async fn job_context(&self, account_id: i64, mode: RunMode) -> Result<JobContext, EngineError> {
        let client = self.account_client(account_id).await?;
        // The one gate of Kommo writes: in a dry run, the client itself refuses them.
        let (client, recorder) = match mode {
            RunMode::Live(_) => (client, None),
            RunMode::Dry => {
                let (client, recorder) = client.recording();
                (client, Some(recorder))
            }
        };
        let facts = self.account_facts(account_id, &client).await?;
        let globals = variables::list_variables(&self.db, account_id, crate::store::Page::ALL)
            .await?
            .into_iter()
            .map(|v| (v.name, v.value))
            .collect();
        Ok(JobContext {
            account_id,
            mode,
            client,
            recorder,
            facts,
            variables: Variables {
                globals,
                trigger_links: BTreeMap::new(),
            },
            snapshots: HashMap::new(),
            links: None,
            batch: WriteBatch::new(),
            runs: Vec::new(),
            launch: None,
        })
    }

    /// Points `{tglink:N}` at the working URLs of the account's links for `entity`, when the rule
    /// writes any (the links are read once per job).
    async fn links_for(
        &self,
        cx: &mut JobContext,
        rule: &domain::rule::Rule,
        entity: Option<EntityRef>,
    ) -> Result<(), EngineError> {
        if !uses_trigger_links(rule) {
            cx.variables.trigger_links.clear();
            return Ok(());
        }
        if cx.links.is_none() {
            cx.links =
                Some(LinkKeys::load(&self.db, cx.account_id, &self.config.public_url).await?);
        }
        let entity = entity_key(entity);
        cx.variables.trigger_links = cx.links.as_ref().map_or_else(BTreeMap::new, |links| {
            links.urls(entity.as_ref().map(|(t, id)| (t.as_str(), *id)))
        });
        Ok(())
    }

    async fn snapshot_for(
        &self,
        cx: &mut JobContext,
        entity: Option<EntityRef>,
    ) -> Result<(), EngineError> {
        if cx.snapshots.contains_key(&entity) {
            return Ok(());
        }
        let started = Instant::now();
        let snapshot = snapshot::load_snapshot(&cx.client, &cx.facts, entity).await?;
        cx.snapshots.insert(entity, (snapshot, elapsed_ms(started)));
        Ok(())
    }

    /// The account's enabled rules, compiled, with their versions (rules that no longer parse are
    /// skipped and logged).
    async fn enabled_rules(
        &self,
        account_id: i64,
    ) -> Result<Vec<(i64, i64, Arc<CompiledRule>)>, EngineError> {
        let mut out = Vec::new();
        for (id, version, body) in records::enabled_rules(&self.db, account_id).await? {
            match self.compiled(id, version, &body) {
                Ok(rule) => out.push((id, version, rule)),
                Err(error) => {
                    tracing::warn!(rule.id = id, %error, "a stored rule does not parse; skipped")
                }
            }
        }
        Ok(out)
    }

    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.clock.now_ms()).unwrap_or_default()
    }

    /// Turns a stored event into domain events (with the rule each is restricted to, if any). In a
    /// dry run (a replay) nothing is remembered, taken or created: an entity's changes are not
    /// worked out against (or into) its memory, a closed task starts no rule, talks are read as
    /// the live run left them, and an inbound hook's contact is only looked up.
    async fn items_of(
        &self,
        cx: &mut JobContext,
        stored: &StoredEvent,
    ) -> Result<Vec<(Event, Option<i64>)>, EngineError> {
        let mut out = Vec::new();
        match stored.source.as_str() {
            "kommo" => {
                let webhook =
                    kommo::incoming::parse_account_webhook(&stored.body).map_err(|e| {
                        EngineError::Malformed(format!("the webhook does not parse: {e}"))
                    })?;
                for item in events::from_account_webhook(&webhook) {
                    match item {
                        IncomingItem::Ready(event) => out.push((event, None)),
                        IncomingItem::Changed { event, .. } if cx.mode == RunMode::Dry => {
                            out.push((event, None));
                        }
                        IncomingItem::Changed { event, seen } => {
                            let previous =
                                records::swap_memory(&self.db, cx.account_id, &seen).await?;
                            let entity = event.entity;
                            out.push((event, None));
                            if let Some(entity) = entity {
                                for kind in events::differences(previous.as_ref(), &seen) {
                                    out.push((
                                        Event::about(entity.entity_type, entity.id, kind),
                                        None,
                                    ));
                                }
                            }
                        }
                        IncomingItem::NoteDetails { event, note_id } => {
                            let params = self.note_params(cx, &event, note_id).await?;
                            out.push((events::with_note_params(event, &params), None));
                        }
                        IncomingItem::TaskClosed { .. } if cx.mode == RunMode::Dry => {}
                        IncomingItem::TaskClosed { task_id } => {
                            self.task_closed(cx, task_id, stored.id).await?;
                        }
                        // What a talk signal fired depends on what was seen before; the memory
                        // names the event that fired.
                        IncomingItem::Talk(signal) if cx.mode == RunMode::Dry => out.extend(
                            talks::fired_by(&self.db, cx.account_id, stored.id, &signal)
                                .await?
                                .into_iter()
                                .map(|event| (event, None)),
                        ),
                        IncomingItem::Talk(signal) => {
                            let fired = talks::observe(
                                &self.db,
                                cx.account_id,
                                stored.id,
                                &signal,
                                self.clock.now_ms(),
                                self.config.talk_first_message_slack_s,
                            )
                            .await?;
                            out.extend(fired.into_iter().map(|event| (event, None)));
                        }
                    }
                }
            }
            "dp" => {
                let request =
                    kommo::incoming::parse_dp_request(stored.content_type.as_deref(), &stored.body)
                        .map_err(|e| {
                            EngineError::Malformed(format!(
                                "the digital-pipeline request does not parse: {e}"
                            ))
                        })?;
                // The rule the action's DP key named, checked when the request came in; the
                // settings are not read again.
                let Some(rule_id) = stored.rule_id else {
                    tracing::warn!(
                        event.id = stored.id,
                        "a digital-pipeline event names no rule; nothing runs"
                    );
                    return Ok(out);
                };
                if let Some(event) = events::from_dp_request(&request) {
                    out.push((event, Some(rule_id)));
                }
            }
            // A receiver's request runs every enabled rule whose trigger names the receiver; a
            // request to a rule's own URL runs that rule (with its trigger's receiver, if it
            // names one, so the rule's old URL keeps working).
            "inbound" if stored.receiver_id.is_some() => {
                let receiver_id = stored.receiver_id;
                let named = self
                    .enabled_rules(cx.account_id)
                    .await?
                    .iter()
                    .any(|(_, _, rule)| {
                        matches!(&rule.rule().trigger,
                            Trigger::InboundWebhook { receiver_id: r, .. } if *r == receiver_id)
                    });
                // No contact is looked up, or created, for a request no rule listens to.
                if !named {
                    return Ok(out);
                }
                let vars = outbound::request_vars(stored.query.as_deref(), &stored.body);
                let entity = self.find_or_create_contact(cx, &vars).await?;
                out.push((
                    Event {
                        entity,
                        kind: EventKind::InboundWebhook {
                            hook_id: String::new(),
                            receiver_id,
                        },
                        vars,
                    },
                    None,
                ));
            }
            "inbound" => {
                let rule_id = stored.rule_id.ok_or_else(|| {
                    EngineError::Malformed("an inbound hook event names no rule".into())
                })?;
                let vars = outbound::request_vars(stored.query.as_deref(), &stored.body);
                let entity = self.find_or_create_contact(cx, &vars).await?;
                let (hook_id, receiver_id) =
                    match records::rule_body(&self.db, cx.account_id, rule_id).await? {
                        Some((version, body, _)) => match self.compiled(rule_id, version, &body) {
                            Ok(rule) => match &rule.rule().trigger {
                                Trigger::InboundWebhook {
                                    hook_id,
                                    receiver_id,
                                } => (hook_id.clone(), *receiver_id),
                                _ => (String::new(), None),
                            },
                            Err(_) => (String::new(), None),
                        },
                        None => return Ok(out),
                    };
                out.push((
                    Event {
                        entity,
                        kind: EventKind::InboundWebhook {
                            hook_id,
                            receiver_id,
                        },
                        vars,
                    },
                    Some(rule_id),
                ));
            }
            "link" => {
                let rule_id = stored.rule_id.ok_or_else(|| {
                    EngineError::Malformed("a trigger link event names no rule".into())
                })?;
                let link: Option<(Option<String>, Option<i64>, i64)> = sqlx::query_as(
                    "SELECT entity_type, entity_id, id FROM trigger_links WHERE account_id = $1 AND rule_id = $2
                     AND id = (SELECT link_id FROM events WHERE id = $3)",
                )
                .bind(cx.account_id)
                .bind(rule_id)
                .bind(stored.id)
                .fetch_optional(&self.db.pool)
                .await?;
                let (linked, link_id) = match link {
                    Some((Some(t), Some(id), link_id)) => (
                        entity_type_of_table(&t).map(|entity_type| EntityRef { entity_type, id }),
                        link_id,
                    ),
                    Some((_, _, link_id)) => (None, link_id),
                    None => (None, 0),
                };
                // A manual link names its entity in the click itself; a link made for one entity
                // carries it.
                let clicked = stored.entity.as_ref().and_then(|(t, id)| {
                    entity_type_of_table(t).map(|entity_type| EntityRef {
                        entity_type,
                        id: *id,
                    })
                });
                let entity = clicked.or(linked);
                out.push((
                    Event {
                        entity,
                        kind: EventKind::TriggerLink {
                            link_id: u32::try_from(link_id).unwrap_or(0),
                        },
                        vars: BTreeMap::new(),
                    },
                    Some(rule_id),
                ));
            }
            other => {
                return Err(EngineError::Malformed(format!(
                    "unknown event source {other:?}"
                )));
            }
        }
        Ok(out)
    }

    /// The `params` of a note (call duration and status, SMS text, email subject).
    async fn note_params(
        &self,
        cx: &JobContext,
        event: &Event,
        note_id: i64,
    ) -> Result<Value, EngineError> {
        let Some(kind) = event.entity.and_then(|e| snapshot::kind_of(e.entity_type)) else {
            return Ok(Value::Null);
        };
        let entity_id = event.entity.map_or(0, |e| e.id);
        let notes = cx.client.notes(kind, entity_id).await?;
        Ok(notes
            .into_iter()
            .find(|n| n.id == note_id)
            .map(|n| n.params)
            .unwrap_or(Value::Null))
    }

    /// A site form's contact: found by phone or email among the hook's variables, or created (in a
    /// dry run, only found).
    async fn find_or_create_contact(
        &self,
        cx: &JobContext,
        vars: &BTreeMap<String, String>,
    ) -> Result<Option<EntityRef>, EngineError> {
        // The variable named exactly so, or else the first whose name contains it.
        let pick = |needle: &str| {
            let filled = || vars.iter().filter(|(_, v)| !v.trim().is_empty());
            filled()
                .find(|(k, _)| k.eq_ignore_ascii_case(needle))
                .or_else(|| filled().find(|(k, _)| k.to_ascii_lowercase().contains(needle)))
                .map(|(_, v)| v.trim().to_owned())
        };
        let phone = pick("phone");
        let email = pick("email");
        for needle in [phone.as_deref(), email.as_deref()].into_iter().flatten() {
            let found = cx
                .client
                .entities(EntityKind::Contacts, &ListQuery::new().search(needle))
                .await?;
            if let Some(contact) = found.iter().min_by_key(|c| c.id) {
                return Ok(Some(EntityRef {
                    entity_type: EntityType::Contact,
                    id: contact.id,
                }));
            }
        }
        if (phone.is_none() && email.is_none()) || cx.mode == RunMode::Dry {
            return Ok(None);
        }
        let name = pick("name")
            .or_else(|| phone.clone())
            .or_else(|| email.clone())
            .unwrap_or_default();
        let mut write = EntityWrite {
            name: Some(name),
            ..EntityWrite::default()
        };
        for (code, value) in [("PHONE", &phone), ("EMAIL", &email)] {
            if let Some(value) = value {
                write.custom_fields_values.push(FieldWrite {
                    field: FieldRef::Code(code.to_owned()),
                    values: Some(vec![FieldValue::Multitext {
                        value: value.clone(),
                        enum_code: "WORK".to_owned(),
                    }]),
                });
            }
        }
        let ids = cx
            .client
            .create_entities(EntityKind::Contacts, vec![write])
            .await?;
        Ok(ids.first().map(|id| EntityRef {
            entity_type: EntityType::Contact,
            id: *id,
        }))
    }

    /// A closed task we created with result options: the chosen result starts its rule.
    async fn task_closed(
        &self,
        cx: &JobContext,
        task_id: i64,
        event_id: i64,
    ) -> Result<(), EngineError> {
        cx.lease("start a task result's rule")?;
        let Some(task) = records::take_task_results(&self.db, cx.account_id, task_id).await? else {
            return Ok(());
        };
        let found = cx.client.tasks(&ListQuery::new().ids(&[task_id])).await?;
        let result = found.first().and_then(|t| {
            t.result
                .get("text")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let Some(result) = result else {
            return Ok(());
        };
        let Some(option) = task
            .options
            .iter()
            .find(|o| o.text.trim().eq_ignore_ascii_case(result.trim()))
        else {
            return Ok(());
        };
        let Some(entity_type) = entity_type_of_table(&task.entity_type) else {
            return Ok(());
        };
        let event = Event::about(
            entity_type,
            task.entity_id,
            EventKind::TaskCompleted {
                result: Some(result),
            },
        );
        tracing::info!(
            task.id = task_id,
            event.id = event_id,
            rule.id = option.rule_id,
            "task result starts its rule"
        );
        self.enqueue_rule_call(cx.account_id, option.rule_id, &event, 0)
            .await
            .map_err(|e| EngineError::Malformed(e.to_string()))
    }

    /// Evaluates `rule` for `event` and performs its plan; the run joins `cx.runs`.
    #[allow(clippy::too_many_arguments)]
    async fn run_rule_for_event(
        &self,
        cx: &mut JobContext,
        rule_id: i64,
        rule: &CompiledRule,
        event: &Event,
        depth: u32,
        run_key: String,
        resume_block: Option<usize>,
        states: &mut HashMap<(i64, EntityRef), EntityRuleState>,
    ) -> Result<(), EngineError> {
        let started = Instant::now();
        let started_at = self.clock.now_ms();
        self.snapshot_for(cx, event.entity).await?;
        let state = match event.entity {
            Some(entity) => match states.get(&(rule_id, entity)) {
                Some(s) => *s,
                None => {
                    records::rule_state(
                        &self.db,
                        rule_id,
                        snapshot::table_name(entity.entity_type),
                        entity.id,
                    )
                    .await?
                }
            },
            None => EntityRuleState::default(),
        };
        self.links_for(cx, rule.rule(), event.entity).await?;
        let mut context = EvalContext::new(self.now(), state);
        context.resume_block = resume_block;
        let (snapshot, snapshot_ms) = cx
            .snapshots
            .get(&event.entity)
            .map(|(s, ms)| (s.clone(), *ms))
            .ok_or_else(|| EngineError::Malformed("the snapshot went missing".into()))?;
        let evaluation = rule.evaluate(event, &snapshot, &cx.variables, &context);
        if let Some(entity) = event.entity {
            states.insert((rule_id, entity), evaluation.state);
        }
        let run_index = cx.runs.len();
        let mut results = Vec::new();
        self.perform_plan(
            cx,
            rule_id,
            rule,
            event,
            depth,
            &snapshot,
            &evaluation.plan,
            &run_key,
            run_index,
            &mut results,
        )
        .await?;
        for deferred in &evaluation.deferred_blocks {
            let payload = DelayedJob {
                rule_id,
                event: event.clone(),
                depth,
                block: Some(deferred.block),
                action_index: None,
            };
            let mut job = NewJob::new(
                cx.account_id,
                kinds::RUN_DELAYED_ACTION,
                serde_json::to_value(&payload).unwrap_or_default(),
                deferred.run_at.timestamp_millis(),
            );
            job.rule_id = Some(rule_id);
            job.block_id = rule
                .rule()
                .blocks
                .get(deferred.block)
                .map(|b| b.id.to_string());
            job.entity = entity_key(event.entity);
            let block_key = format!("{run_key}:{}:block", deferred.block);
            self.enqueue_once(cx.account_id, &job, &block_key).await?;
        }
        cx.runs.push(RuleRun {
            rule_id,
            event: event.clone(),
            depth,
            started_at,
            started,
            state: event.entity.map(|e| (e, evaluation.state)),
            failed_conditions: evaluation.failed_conditions(rule.rule()),
            evaluation: Some(evaluation),
            results,
            loop_reason: None,
            run_key,
            snapshot_ms,
        });
        Ok(())
    }

    /// Performs a plan: immediate actions now (updates into the batch), timed ones as jobs.
    #[allow(clippy::too_many_arguments)]
    async fn perform_plan(
        &self,
        cx: &mut JobContext,
        rule_id: i64,
        rule: &CompiledRule,
        event: &Event,
        depth: u32,
        snapshot: &Snapshot,
        plan: &[PlannedAction],
        run_key: &str,
        run_index: usize,
        results: &mut Vec<ActionResult>,
    ) -> Result<(), EngineError> {
        let lease = cx.lease("perform a rule's actions")?;
        let now = self.now();
        for planned in plan {
            let started = Instant::now();
            let mut result = ActionResult {
                block: planned.block,
                action_index: planned.action_index,
                kind: planned.action.name(),
                status: "ok",
                detail: None,
                error: None,
                duration_ms: 0,
            };
            let action_key = format!(
                "{run_key}:{}:{}",
                planned
                    .block
                    .map_or_else(|| "else".to_owned(), |b| b.to_string()),
                planned.action_index
            );
            if let Some(run_at) = planned.run_at.filter(|at| *at > now) {
                let job = self.delayed_job(cx.account_id, rule_id, event, depth, planned, run_at);
                // Under the key the action would be performed under: a repeat of this run
                // neither queues it again nor, if it comes due meanwhile, performs it at once.
                self.enqueue_once(cx.account_id, &job, &action_key).await?;
                result.status = "scheduled";
                result.detail = Some(format!("runs at {}", run_at.to_rfc3339()));
                results.push(result);
                continue;
            }
            let outcome = match &planned.action {
                ActionKind::ChangeGlobalVariable {
                    name,
                    change: VariableChange::Calculate,
                    ..
                } => {
                    self.calculate_variable(cx, rule, planned, name, snapshot, event)
                        .await
                }
                action => {
                    let scope = ActionScope {
                        account_id: cx.account_id,
                        lease: Some(lease),
                        rule_id,
                        client: &cx.client,
                        facts: &cx.facts,
                        snapshot,
                        event,
                        depth,
                    };
                    match self
                        .perform(
                            &scope,
                            action,
                            &action_key,
                            &mut cx.batch,
                            (run_index, results.len()),
                        )
                        .await
                    {
                        // The action is another claim's: this job stops, records nothing, and is
                        // retried; by then the other claim has finished the run.
                        Err(e) if e.stops_the_job() => {
                            return Err(EngineError::Superseded(format!("{action_key}: {e}")))
                        }
                        other => other.map_err(|e| e.to_string()),
                    }
                }
            };
            match outcome {
                Ok(detail) => result.detail = detail,
                Err(error) => {
                    result.status = "error";
                    result.error = Some(error);
                }
            }
            result.duration_ms = elapsed_ms(started);
            results.push(result);
        }
        Ok(())
    }

    /// "Calculate" on a global variable, atomically: the formula is rendered again inside the
    /// variable's update, with the value other rules may have written meanwhile.
    async fn calculate_variable(
        &self,
        cx: &JobContext,
        rule: &CompiledRule,
        planned: &PlannedAction,
        name: &str,
        snapshot: &Snapshot,
        event: &Event,
    ) -> Result<Option<String>, String> {
        let Some(ActionKind::ChangeGlobalVariable { value, .. }) =
            find_action(rule.rule(), planned.block, planned.action_index).map(|a| &a.kind)
        else {
            return Err("the action changed since it was planned".into());
        };
        let now = self.now();
        let stored = variables::update_variable(
            &self.db,
            cx.account_id,
            name,
            self.clock.now_ms(),
            |current| {
                let mut vars = cx.variables.clone();
                match current {
                    Some(v) => vars.globals.insert(name.to_owned(), v.to_owned()),
                    None => vars.globals.remove(name),
                };
                let scope = Scope {
                    snapshot,
                    event,
                    variables: &vars,
                    now,
                };
                value
                    .render(&scope, &RenderLimits::default())
                    .map_err(|e| e.to_string())
            },
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(Some(format!("{name} = {stored}")))
    }

    /// The job of a timed action.
    fn delayed_job(
        &self,
        account_id: i64,
        rule_id: i64,
        event: &Event,
        depth: u32,
        planned: &PlannedAction,
        run_at: DateTime<Utc>,
    ) -> NewJob {
        let payload = DelayedJob {
            rule_id,
            event: event.clone(),
            depth,
            block: planned.block,
            action_index: Some(planned.action_index),
        };
        let mut job = NewJob::new(
            account_id,
            kinds::RUN_DELAYED_ACTION,
            serde_json::to_value(&payload).unwrap_or_default(),
            run_at.timestamp_millis(),
        );
        job.rule_id = Some(rule_id);
        job.block_id = Some(planned.block_id.to_string());
        job.action_id = Some(planned.action_id.to_string());
        job.entity = entity_key(event.entity);
        job.job_key = Some(format!(
            "{rule_id}:{}:{}:{}",
            planned
                .block
                .map_or_else(|| "else".to_owned(), |b| b.to_string()),
            planned.action_index,
            job.entity
                .as_ref()
                .map_or_else(String::new, |(t, id)| format!("{t}:{id}"))
        ));
        job.replace_pending = planned.replace_pending;
        job
    }

    /// Queues a delayed job once per rule run: the job and the action run `action_key`, marked
    /// done, commit together, so a repeat of the run (its job retried after a crash) finds the mark
    /// and queues nothing, and a run interrupted before the commit queued nothing yet.
    async fn enqueue_once(
        &self,
        account_id: i64,
        job: &NewJob,
        action_key: &str,
    ) -> Result<(), EngineError> {
        let mut tx = self.db.pool.begin().await?;
        let marked = sqlx::query(
            "INSERT INTO action_runs (account_id, action_key, state, detail, started_at)
             VALUES ($1, $2, 'done', 'scheduled', $3) ON CONFLICT (account_id, action_key) DO NOTHING",
        )
        .bind(account_id)
        .bind(action_key)
        .bind(self.clock.now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if marked {
            self.queue.enqueue_in(&mut tx, job).await?;
        }
        tx.commit().await?;
        if marked {
            self.queue.wake_workers();
        }
        Ok(())
    }

    /// Sends the batched updates, records every run in the debugger log, stores rule states and
    /// marks the runs done.
    async fn finish(
        &self,
        cx: JobContext,
        source: &str,
        event_id: Option<i64>,
    ) -> Result<(), EngineError> {
        let JobContext {
            account_id,
            client,
            batch,
            mut runs,
            launch,
            ..
        } = cx;
        if !batch.is_empty() {
            let started = Instant::now();
            let owners = batch.flush(account_id, &client, &self.coalescer).await;
            let took = elapsed_ms(started);
            for ((run, index), error) in owners {
                if let Some(result) = runs.get_mut(run).and_then(|r| r.results.get_mut(index)) {
                    result.duration_ms += took;
                    if let Some(error) = error {
                        result.status = "error";
                        result.error = Some(error);
                    }
                }
            }
        }
        for run in &runs {
            if let Some((entity, state)) = &run.state {
                records::save_rule_state(
                    &self.db,
                    account_id,
                    run.rule_id,
                    snapshot::table_name(entity.entity_type),
                    entity.id,
                    state,
                )
                .await?;
            }
            let entry = NewExecution {
                account_id,
                rule_id: run.rule_id,
                event_id,
                entity: entity_key(run.event.entity),
                outcome: run.outcome(),
                verdict: run.verdict(),
                started_at: run.started_at,
                duration_ms: elapsed_ms(run.started),
                operations: run.operations(),
                trace: run.trace(source),
            };
            execution_log::record_execution(&self.db, &entry).await?;
            if let (Some(launch_id), Some(entity)) = (launch, run.event.entity) {
                // Before the run is marked done: a repeat of the job records it again.
                launches::record(
                    &self.db,
                    account_id,
                    launch_id,
                    entity.id,
                    &run.launch_record(),
                    self.clock.now_ms(),
                )
                .await?;
            }
            records::mark_run_done(&self.db, account_id, &run.run_key, self.clock.now_ms()).await?;
            if let Some(reason) = &run.loop_reason {
                tracing::warn!(rule.id = run.rule_id, account.id = account_id, %reason, "rule stopped");
            }
        }
        Ok(())
    }

    fn loop_run(&self, rule_id: i64, event: &Event, depth: u32, run_key: String) -> RuleRun {
        RuleRun {
            rule_id,
            event: event.clone(),
            depth,
            started_at: self.clock.now_ms(),
            started: Instant::now(),
            evaluation: None,
            results: Vec::new(),
            loop_reason: Some(format!(
                "stopped: this event is step {depth} of a chain of events caused by Rulebook's own changes, \
                 deeper than the limit of {}",
                self.config.chain_limit
            )),
            run_key,
            state: None,
            snapshot_ms: 0,
            failed_conditions: Vec::new(),
        }
    }

    /// Handles a `process_event` job (its claim `lease`): the stored event through every matching
    /// enabled rule.
    pub async fn process_event(
        &self,
        account_id: i64,
        event_id: i64,
        lease: Lease,
    ) -> Result<(), EngineError> {
        let Some(stored) = ingest::load_event(&self.db, account_id, event_id).await? else {
            return Err(EngineError::Malformed(format!(
                "event {event_id} does not exist"
            )));
        };
        let now_ms = self.clock.now_ms();
        if event_id % 64 == 0 {
            records::prune_write_marks(&self.db, now_ms).await?;
        }
        let source = source_of(&stored.source).ok_or_else(|| {
            EngineError::Malformed(format!("unknown event source {:?}", stored.source))
        })?;
        let rules = self.enabled_rules(account_id).await?;
        let mut cx = self.job_context(account_id, RunMode::Live(lease)).await?;
        let items = self.items_of(&mut cx, &stored).await?;
        let mut states = HashMap::new();
        for (seq, (event, only)) in items.iter().enumerate() {
            if matches!(
                event.kind,
                EventKind::EntityAdded | EventKind::EntityUpdated
            ) {
                self.schedule_date_fields(&mut cx, &rules, event.entity)
                    .await?;
            }
            let matching: Vec<&(i64, i64, Arc<CompiledRule>)> = rules
                .iter()
                .filter(|(id, _, rule)| {
                    let trigger = &rule.rule().trigger;
                    only.is_none_or(|o| o == *id)
                        && trigger.runs_from(source)
                        && trigger_matches(trigger, event)
                })
                .collect();
            if matching.is_empty() {
                continue;
            }
            let depth = match event.entity {
                Some(e) => {
                    records::chain_depth(
                        &self.db,
                        account_id,
                        snapshot::table_name(e.entity_type),
                        e.id,
                        now_ms,
                    )
                    .await?
                }
                None => 0,
            };
            for (rule_id, _, rule) in matching {
                let run_key = format!("e{event_id}:{seq}:r{rule_id}");
                if records::run_done(&self.db, account_id, &run_key).await? {
                    continue;
                }
                if depth > self.config.chain_limit {
                    let run = self.loop_run(*rule_id, event, depth, run_key);
                    cx.runs.push(run);
                    continue;
                }
                self.run_rule_for_event(
                    &mut cx,
                    *rule_id,
                    rule,
                    event,
                    depth,
                    run_key,
                    None,
                    &mut states,
                )
                .await?;
            }
        }
        self.sync_schedules(account_id).await?;
        self.finish(cx, &stored.source, Some(event_id)).await?;
        let mut conn = self.db.pool.acquire().await?;
        ingest::mark_processed(&mut conn, account_id, event_id, self.clock.now_ms()).await?;
        Ok(())
    }

    /// Queues or moves the firings of `relative_to_date_field` rules for an entity that was added
    /// or changed.
    async fn schedule_date_fields(
        &self,
        cx: &mut JobContext,
        rules: &[(i64, i64, Arc<CompiledRule>)],
        entity: Option<EntityRef>,
    ) -> Result<(), EngineError> {
        let Some(entity) = entity else {
            return Ok(());
        };
        for (rule_id, version, rule) in rules {
            let Trigger::RelativeToDateField { entity: t, .. } = rule.rule().trigger else {
                continue;
            };
            if t != entity.entity_type {
                continue;
            }
            self.snapshot_for(cx, Some(entity)).await?;
            if let Some((snapshot, _)) = cx.snapshots.get(&Some(entity)) {
                self.schedule_date_field(cx.account_id, *rule_id, *version, rule, entity, snapshot)
                    .await?;
            }
        }
        Ok(())
    }

    /// Handles a `run_delayed_action` job (its claim `lease`): the action (or the delayed block)
    /// against a fresh snapshot. A deleted rule's job is dropped.
    pub async fn run_delayed(
        &self,
        account_id: i64,
        lease: Lease,
        payload: &Value,
    ) -> Result<(), EngineError> {
        let job_id = lease.job_id;
        let job: DelayedJob = serde_json::from_value(payload.clone()).map_err(|e| {
            EngineError::Malformed(format!("a delayed job payload does not parse: {e}"))
        })?;
        let Some((version, body, _)) =
            records::rule_body(&self.db, account_id, job.rule_id).await?
        else {
            return Ok(());
        };
        let rule = self
            .compiled(job.rule_id, version, &body)
            .map_err(EngineError::Malformed)?;
        let run_key = format!("j{job_id}");
        if records::run_done(&self.db, account_id, &run_key).await? {
            return Ok(());
        }
        let mut cx = self.job_context(account_id, RunMode::Live(lease)).await?;
        let mut states = HashMap::new();
        match job.action_index {
            None => {
                self.run_rule_for_event(
                    &mut cx,
                    job.rule_id,
                    &rule,
                    &job.event,
                    job.depth,
                    run_key,
                    job.block,
                    &mut states,
                )
                .await?;
            }
            Some(index) => {
                self.snapshot_for(&mut cx, job.event.entity).await?;
                let (snapshot, snapshot_ms) = cx
                    .snapshots
                    .get(&job.event.entity)
                    .cloned()
                    .ok_or_else(|| EngineError::Malformed("the snapshot went missing".into()))?;
                let started = Instant::now();
                let started_at = self.clock.now_ms();
                let mut results = Vec::new();
                match find_action(rule.rule(), job.block, index) {
                    None => results.push(ActionResult {
                        block: job.block,
                        action_index: index,
                        kind: "missing",
                        status: "skipped",
                        detail: Some("the rule no longer has this action".into()),
                        error: None,
                        duration_ms: 0,
                    }),
                    Some(action) => {
                        self.links_for(&mut cx, rule.rule(), job.event.entity)
                            .await?;
                        let scope = Scope {
                            snapshot: &snapshot,
                            event: &job.event,
                            variables: &cx.variables,
                            now: self.now(),
                        };
                        match render_action(action, &scope) {
                            Ok(kind) => {
                                let block_id = job
                                    .block
                                    .and_then(|b| rule.rule().blocks.get(b))
                                    .map_or(0, |b| b.id);
                                let planned = PlannedAction {
                                    block: job.block,
                                    block_id,
                                    action_index: index,
                                    action_id: action.id,
                                    run_at: None,
                                    replace_pending: false,
                                    action: kind,
                                };
                                let run_index = cx.runs.len();
                                self.perform_plan(
                                    &mut cx,
                                    job.rule_id,
                                    &rule,
                                    &job.event,
                                    job.depth,
                                    &snapshot,
                                    &[planned],
                                    &run_key,
                                    run_index,
                                    &mut results,
                                )
                                .await?;
                            }
                            Err(error) => results.push(ActionResult {
                                block: job.block,
                                action_index: index,
                                kind: action.kind.name(),
                                status: "error",
                                detail: None,
                                error: Some(error),
                                duration_ms: 0,
                            }),
                        }
                    }
                }
                cx.runs.push(RuleRun {
                    rule_id: job.rule_id,
                    event: job.event.clone(),
                    depth: job.depth,
                    started_at,
                    started,
                    evaluation: None,
                    results,
                    loop_reason: None,
                    run_key,
                    state: None,
                    snapshot_ms,
                    failed_conditions: Vec::new(),
                });
            }
        }
        self.finish(cx, "timer", None).await
    }

    /// Handles a `run_rule` job (its claim `lease`): execute rule, a task result, a webhook
    /// follow-up.
    pub async fn run_rule_call(
        &self,
        account_id: i64,
        lease: Lease,
        payload: &Value,
    ) -> Result<(), EngineError> {
        let job_id = lease.job_id;
        let job: RuleCallJob = serde_json::from_value(payload.clone()).map_err(|e| {
            EngineError::Malformed(format!("a rule call payload does not parse: {e}"))
        })?;
        let Some((version, body, _)) =
            records::rule_body(&self.db, account_id, job.rule_id).await?
        else {
            if let (Some(launch_id), Some(entity)) = (job.launch_id, job.event.entity) {
                let deleted = launches::RunRecord {
                    status: RunStatus::Skipped,
                    reason: Some(SkipReason::RuleDeleted),
                    error: None,
                };
                launches::record(
                    &self.db,
                    account_id,
                    launch_id,
                    entity.id,
                    &deleted,
                    self.clock.now_ms(),
                )
                .await?;
            }
            return Ok(());
        };
        let rule = self
            .compiled(job.rule_id, version, &body)
            .map_err(EngineError::Malformed)?;
        let run_key = format!("j{job_id}");
        if records::run_done(&self.db, account_id, &run_key).await? {
            return Ok(());
        }
        let mut cx = self.job_context(account_id, RunMode::Live(lease)).await?;
        cx.launch = job.launch_id;
        if job.depth > self.config.chain_limit {
            cx.runs
                .push(self.loop_run(job.rule_id, &job.event, job.depth, run_key));
        } else {
            let mut states = HashMap::new();
            self.run_rule_for_event(
                &mut cx,
                job.rule_id,
                &rule,
                &job.event,
                job.depth,
                run_key,
                None,
                &mut states,
            )
            .await?;
        }
        self.finish(cx, "rule_call", None).await
    }

    /// Records a `run_rule` job that failed for good (`error`) as a failed run of its launch, if it
    /// belongs to one: the run could not start (the entity is gone, the account disconnected), so
    /// the engine recorded no verdict. A job of no launch records nothing.
    pub async fn record_launch_failure(
        &self,
        account_id: i64,
        payload: &Value,
        error: &str,
    ) -> Result<(), EngineError> {
        let Ok(job) = serde_json::from_value::<RuleCallJob>(payload.clone()) else {
            return Ok(());
        };
        let (Some(launch_id), Some(entity)) = (job.launch_id, job.event.entity) else {
            return Ok(());
        };
        let failed = launches::RunRecord {
            status: RunStatus::Failed,
            reason: None,
            error: Some(error.to_owned()),
        };
        launches::record(
            &self.db,
            account_id,
            launch_id,
            entity.id,
            &failed,
            self.clock.now_ms(),
        )
        .await?;
        Ok(())
    }

    /// Evaluates a rule for an entity without performing anything: the plan and the trace. The
    /// event is the one given, or "entity updated" (a manual run for manual rules).
    pub async fn dry_run(
        &self,
        account_id: i64,
        rule: &domain::rule::Rule,
        event: Event,
    ) -> Result<DryEvaluation, EngineError> {
        let mut cx = self.job_context(account_id, RunMode::Dry).await?;
        self.snapshot_for(&mut cx, event.entity).await?;
        self.links_for(&mut cx, rule, event.entity).await?;
        let (snapshot, _) = cx
            .snapshots
            .get(&event.entity)
            .ok_or_else(|| EngineError::Malformed("the snapshot went missing".into()))?;
        // A dry run shows what the rule would do now, as if it had not run for the entity before.
        let state = EntityRuleState::default();
        let context = EvalContext::new(self.now(), state);
        let evaluation =
            CompiledRule::new(rule.clone()).evaluate(&event, snapshot, &cx.variables, &context);
        let requests = self.plan_requests(&cx, &event, snapshot, &evaluation).await;
        Ok(DryEvaluation {
            evaluation,
            requests,
        })
    }

    /// The Kommo requests of each planned action of a dry evaluation, by the executor's code.
    async fn plan_requests(
        &self,
        cx: &JobContext,
        event: &Event,
        snapshot: &Snapshot,
        evaluation: &Evaluation,
    ) -> Vec<PlannedCall> {
        let Some(recorder) = &cx.recorder else {
            return Vec::new();
        };
        let scope = ActionScope {
            account_id: cx.account_id,
            lease: None,
            rule_id: 0,
            client: &cx.client,
            facts: &cx.facts,
            snapshot,
            event,
            depth: 0,
        };
        let mut calls = Vec::with_capacity(evaluation.plan.len());
        for planned in &evaluation.plan {
            let planned_requests = self.plan_action(&scope, recorder, &planned.action).await;
            calls.push(PlannedCall {
                block: planned.block,
                action_index: planned.action_index,
                kind: planned.action.name(),
                run_at: planned.run_at,
                requests: planned_requests.requests,
                note: planned_requests.note,
            });
        }
        calls
    }

    /// The snapshot the engine reads for an event of `entity` now: the one a dry run evaluates,
    /// read the same way (through the read-only client).
    pub async fn entity_snapshot(
        &self,
        account_id: i64,
        entity: EntityRef,
    ) -> Result<Snapshot, EngineError> {
        let mut cx = self.job_context(account_id, RunMode::Dry).await?;
        self.snapshot_for(&mut cx, Some(entity)).await?;
        cx.snapshots
            .remove(&Some(entity))
            .map(|(snapshot, _)| snapshot)
            .ok_or_else(|| EngineError::Malformed("the snapshot went missing".into()))
    }

    /// Leads, contacts or companies Kommo finds for `text` (its `query` searches the filled
    /// fields: name, phone, email, …), the first page of at most `limit`; an all-digits text also
    /// finds the entity with that id, listed first.
    pub async fn search_entities(
        &self,
        account_id: i64,
        kind: EntityKind,
        text: &str,
        limit: usize,
    ) -> Result<Vec<EntityMatch>, EngineError> {
        let client = self.account_client(account_id).await?.read_only();
        let mut found: Vec<EntityMatch> = Vec::new();
        if let Ok(id) = text.parse::<i64>() {
            if id > 0 {
                let by_id = client
                    .entities_first_page(kind, &ListQuery::new().ids(&[id]), 1)
                    .await?;
                found.extend(by_id.into_iter().map(|e| EntityMatch {
                    id: e.id,
                    name: e.name,
                }));
            }
        }
        let matches = client
            .entities_first_page(kind, &ListQuery::new().search(text), limit)
            .await?;
        for entity in matches {
            if found.len() >= limit {
                break;
            }
            if !found.iter().any(|m| m.id == entity.id) {
                found.push(EntityMatch {
                    id: entity.id,
                    name: entity.name,
                });
            }
        }
        Ok(found)
    }

    /// Replays a stored event against a rule as it is now, without performing anything: one
    /// evaluation per domain event of the stored one ("why didn't it fire").
    pub async fn replay(
        &self,
        account_id: i64,
        rule: &domain::rule::Rule,
        event_id: i64,
    ) -> Result<Vec<(Event, DryEvaluation)>, EngineError> {
        let Some(stored) = ingest::load_event(&self.db, account_id, event_id).await? else {
            return Err(EngineError::Malformed(format!(
                "event {event_id} does not exist"
            )));
        };
        // The same translation as the live run's, in dry mode: nothing is remembered, taken or
        // created on the way.
        let mut cx = self.job_context(account_id, RunMode::Dry).await?;
        let items: Vec<Event> = self
            .items_of(&mut cx, &stored)
            .await?
            .into_iter()
            .map(|(e, _)| e)
            .collect();
        let compiled = CompiledRule::new(rule.clone());
        let mut out = Vec::new();
        for event in items {
            self.snapshot_for(&mut cx, event.entity).await?;
            self.links_for(&mut cx, rule, event.entity).await?;
            let Some((snapshot, _)) = cx.snapshots.get(&event.entity) else {
                continue;
            };
            let context = EvalContext::new(self.now(), EntityRuleState::default());
            let evaluation = compiled.evaluate(&event, snapshot, &cx.variables, &context);
            let requests = self.plan_requests(&cx, &event, snapshot, &evaluation).await;
            out.push((
                event,
                DryEvaluation {
                    evaluation,
                    requests,
                },
            ));
        }
        Ok(out)
    }
}

fn entity_type_of_table(name: &str) -> Option<EntityType> {
    match name {
        "leads" | "lead" => Some(EntityType::Lead),
        "contacts" | "contact" => Some(EntityType::Contact),
        "companies" | "company" => Some(EntityType::Company),
        "tasks" | "task" => Some(EntityType::Task),
        _ => None,
    }
}
