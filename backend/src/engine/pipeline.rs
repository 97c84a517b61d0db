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
    rule::{Action, ActionKind, EntitySearch, SearchField, Source, Trigger, VariableChange},
    snapshot::{Snapshot, TaskReads},
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
    executor::{self, elapsed_ms, ActionResult, ActionScope, WriteBatch},
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
    /// Why the rule a digital-pipeline action or a Salesbot step named could not run (deleted,
    /// disabled, of a kind the source cannot run, or not for this entity).
    refusal: Option<String>,
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
        } else if self.refusal.is_some() || self.results.iter().any(|r| r.status == "error") {
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
            "error": self.refusal,
            "failed_conditions": self.failed_conditions,
            "timings": {
                "snapshot_ms": self.snapshot_ms,
                "total_ms": elapsed_ms(self.started),
            },
        })
    }
}

/// What a Salesbot continue interrupted by a restart records, and its debugger entry says.
pub const SALESBOT_CONTINUE_NOT_REPEATED: &str =
    "not repeated after a restart: the bot's continue was being sent when the backend stopped, \
     and Kommo cannot tell whether it arrived; continuing it again could run the bot's next \
     steps twice, so check the chat";

/// The status a bot is continued with, and why it is not `done`.
fn bot_outcome(run: &RuleRun) -> (&'static str, Option<String>) {
    if let Some(reason) = run.refusal.as_ref().or(run.loop_reason.as_ref()) {
        return ("error", Some(reason.clone()));
    }
    if let Some(failed) = run.results.iter().find(|r| r.status == "error") {
        return (
            "error",
            Some(format!(
                "{} failed: {}",
                failed.kind,
                failed.error.as_deref().unwrap_or("unknown error")
            )),
        );
    }
    match run.verdict() {
        Verdict::Fired => ("done", None),
        other => ("skipped", Some(other.as_str().to_owned())),
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

/// Whose tasks a rule reads for an event: the task aggregates its conditions and templates name.
fn task_reads(rule: &domain::rule::Rule, event: &Event) -> TaskReads {
    TaskReads::for_paths(&rule.paths(), event.entity_type())
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
        "salesbot" => Some(Source::Salesbot),
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
    /// The account's working hours (a Rulebook setting: Kommo's API does not expose them).
    working_hours: domain::snapshot::WeeklyHours,
    variables: Variables,
    snapshots: HashMap<Option<EntityRef>, (Snapshot, i64)>,
    /// Whose tasks each snapshot holds: more are read when a rule's conditions need them.
    task_reads: HashMap<Option<EntityRef>, TaskReads>,
    /// The account's trigger links, read when a rule first writes one.
    links: Option<LinkKeys>,
    /// The inbound webhook searches done in this job, by what they searched for.
    searches: HashMap<String, (Option<EntityRef>, bool)>,
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
        let working_hours = crate::store::account_settings::get(&self.db, account_id)
            .await?
            .working_hours;
        Ok(JobContext {
            account_id,
            mode,
            client,
            recorder,
            facts,
            working_hours,
            variables: Variables {
                globals,
                trigger_links: BTreeMap::new(),
            },
            snapshots: HashMap::new(),
            task_reads: HashMap::new(),
            links: None,
            searches: HashMap::new(),
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

    /// Reads the snapshot of `entity` once per job, with the tasks of the entities `tasks`
    /// names besides the entity's own (read later, when a later rule names more).
    async fn snapshot_for(
        &self,
        cx: &mut JobContext,
        entity: Option<EntityRef>,
        tasks: TaskReads,
    ) -> Result<(), EngineError> {
        if let Some((snapshot, ms)) = cx.snapshots.get_mut(&entity) {
            let held = cx.task_reads.get(&entity).copied().unwrap_or_default();
            let missing = tasks.without(held);
            if missing.is_empty() {
                return Ok(());
            }
            let started = Instant::now();
            snapshot::read_tasks(&cx.client, snapshot, missing).await?;
            *ms += elapsed_ms(started);
            cx.task_reads.insert(entity, held.union(missing));
            return Ok(());
        }
        let started = Instant::now();
        let (mut snapshot, held) =
            snapshot::load_snapshot(&cx.client, &cx.facts, entity, tasks).await?;
        snapshot.account.working_hours = cx.working_hours.clone();
        cx.snapshots.insert(entity, (snapshot, elapsed_ms(started)));
        cx.task_reads.insert(entity, held);
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
    /// the live run left them, and an inbound hook's entity is only searched for.
    async fn items_of(
        &self,
        cx: &mut JobContext,
        stored: &StoredEvent,
        for_rule: Option<&domain::rule::Rule>,
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
            // names one, so the rule's old URL keeps working). Each rule searches for its own
            // entity; a replay evaluates only the rule it replays.
            "inbound" if stored.receiver_id.is_some() => {
                let receiver_id = stored.receiver_id;
                let names = |trigger: &Trigger| {
                    matches!(trigger,
                        Trigger::InboundWebhook { receiver_id: r, .. } if *r == receiver_id)
                };
                let rules: Vec<(Option<i64>, domain::rule::Rule)> = match for_rule {
                    Some(rule) => vec![(None, rule.clone())],
                    None => self
                        .enabled_rules(cx.account_id)
                        .await?
                        .into_iter()
                        .filter(|(_, _, rule)| names(&rule.rule().trigger))
                        .map(|(id, _, rule)| (Some(id), rule.rule().clone()))
                        .collect(),
                };
                // No entity is looked up, or created, for a request no rule listens to.
                let vars = outbound::request_vars(stored.query.as_deref(), &stored.body);
                for (rule_id, rule) in rules.iter().filter(|(_, r)| names(&r.trigger)) {
                    let (entity, found) = self.search_for(cx, &rule.trigger, &vars).await?;
                    out.push((
                        Event {
                            entity,
                            kind: EventKind::InboundWebhook {
                                hook_id: String::new(),
                                receiver_id,
                                found,
                            },
                            vars: vars.clone(),
                        },
                        *rule_id,
                    ));
                }
            }
            "inbound" => {
                let rule_id = stored.rule_id.ok_or_else(|| {
                    EngineError::Malformed("an inbound hook event names no rule".into())
                })?;
                let vars = outbound::request_vars(stored.query.as_deref(), &stored.body);
                let stored_rule = match records::rule_body(&self.db, cx.account_id, rule_id).await?
                {
                    Some((version, body, _)) => self
                        .compiled(rule_id, version, &body)
                        .ok()
                        .map(|rule| rule.rule().clone()),
                    None => return Ok(out),
                };
                let (hook_id, receiver_id) = match stored_rule.as_ref().map(|r| &r.trigger) {
                    Some(Trigger::InboundWebhook {
                        hook_id,
                        receiver_id,
                        ..
                    }) => (hook_id.clone(), *receiver_id),
                    _ => (String::new(), None),
                };
                let (entity, found) = match for_rule.or(stored_rule.as_ref()) {
                    Some(rule) => self.search_for(cx, &rule.trigger, &vars).await?,
                    None => (None, None),
                };
                out.push((
                    Event {
                        entity,
                        kind: EventKind::InboundWebhook {
                            hook_id,
                            receiver_id,
                            found,
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
            // A Salesbot step: the rule its data names, on the bot's lead or contact, with the
            // step's data as the event's variables. A step that names no rule still becomes an
            // event (of rule 0), so that its bot is continued with the error.
            "salesbot" => {
                let call: ingest::salesbot::StoredCall = serde_json::from_slice(&stored.body)
                    .map_err(|e| {
                        EngineError::Malformed(format!(
                            "a stored Salesbot step does not parse: {e}"
                        ))
                    })?;
                let entity = stored.entity.as_ref().and_then(|(t, id)| {
                    entity_type_of_table(t).map(|entity_type| EntityRef {
                        entity_type,
                        id: *id,
                    })
                });
                let vars = call
                    .data
                    .iter()
                    .map(|(k, v)| {
                        let text = match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        (k.clone(), text)
                    })
                    .collect();
                out.push((
                    Event {
                        entity,
                        kind: EventKind::Salesbot,
                        vars,
                    },
                    Some(stored.rule_id.unwrap_or(0)),
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

    /// The entity an inbound request runs a rule with, and whether the rule's search found it
    /// (`None`: the rule searches for none). An inbound webhook rule searches as its trigger
    /// says; a manual rule called through its own inbound URL as every inbound rule did before
    /// the search was modelled ([`EntitySearch::legacy_contact`]).
    async fn search_for(
        &self,
        cx: &mut JobContext,
        trigger: &Trigger,
        vars: &BTreeMap<String, String>,
    ) -> Result<(Option<EntityRef>, Option<bool>), EngineError> {
        let legacy;
        let search = match trigger {
            Trigger::InboundWebhook {
                search: Some(search),
                ..
            } => search,
            Trigger::Manual { .. } => {
                legacy = EntitySearch::legacy_contact();
                &legacy
            }
            _ => return Ok((None, None)),
        };
        let (entity, found) = self.search_entity(cx, search, vars).await?;
        Ok((entity, Some(found)))
    }

    /// Runs an inbound webhook's search: each criterion rendered with the request's variables,
    /// tried in order until one finds an entity (the oldest, when several match); when none
    /// does and the search says so, the entity is created from the values (in a dry run, only
    /// searched). One search of the same values runs once per job.
    async fn search_entity(
        &self,
        cx: &mut JobContext,
        search: &EntitySearch,
        vars: &BTreeMap<String, String>,
    ) -> Result<(Option<EntityRef>, bool), EngineError> {
        let Some(kind) = snapshot::kind_of(search.entity) else {
            return Ok((None, false));
        };
        let probe = Event {
            entity: None,
            kind: EventKind::InboundWebhook {
                hook_id: String::new(),
                receiver_id: None,
                found: None,
            },
            vars: vars.clone(),
        };
        let (account, _) =
            snapshot::load_snapshot(&cx.client, &cx.facts, None, TaskReads::default()).await?;
        let scope = Scope {
            snapshot: &account,
            event: &probe,
            variables: &cx.variables,
            now: self.now(),
        };
        let render = |t: &Template| {
            t.render(&scope, &RenderLimits::default())
                .map(|v| v.trim().to_owned())
                .unwrap_or_default()
        };
        let values: Vec<(SearchField, String)> = search
            .by
            .iter()
            .map(|c| (c.field, render(&c.value)))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let name = search.name.as_ref().map(render).filter(|n| !n.is_empty());
        let key =
            serde_json::to_string(&(search.entity, &values, search.create_if_not_found, &name))
                .unwrap_or_default();
        if let Some(known) = cx.searches.get(&key) {
            return Ok(*known);
        }
        let mut result = (None, false);
        for (field, value) in &values {
            if let Some(id) = self.find_by(cx, kind, *field, value).await? {
                result = (
                    Some(EntityRef {
                        entity_type: search.entity,
                        id,
                    }),
                    true,
                );
                break;
            }
        }
        if result.0.is_none()
            && search.create_if_not_found
            && !values.is_empty()
            && cx.mode != RunMode::Dry
        {
            let created = self.create_searched(cx, kind, &values, name).await?;
            result = (
                created.map(|id| EntityRef {
                    entity_type: search.entity,
                    id,
                }),
                false,
            );
        }
        cx.searches.insert(key, result);
        Ok(result)
    }

    /// The oldest entity of `kind` whose `field` holds `value`: Kommo's `query` (which searches
    /// every filled field) narrowed to that field; an id is read directly.
    async fn find_by(
        &self,
        cx: &JobContext,
        kind: EntityKind,
        field: SearchField,
        value: &str,
    ) -> Result<Option<i64>, EngineError> {
        if field == SearchField::Id {
            let Some(id) = value.parse::<i64>().ok().filter(|id| *id > 0) else {
                return Ok(None);
            };
            let found = cx
                .client
                .entities(kind, &ListQuery::new().ids(&[id]))
                .await?;
            return Ok(found.iter().map(|e| e.id).find(|found| *found == id));
        }
        let digits = |text: &str| -> String { text.chars().filter(char::is_ascii_digit).collect() };
        let wanted_digits = digits(value);
        let mut needles = vec![value.to_owned()];
        if field == SearchField::Phone && !wanted_digits.is_empty() && wanted_digits != value {
            needles.push(wanted_digits.clone());
        }
        let same = |text: &str| domain::eval::text_eq(text.trim(), value);
        let same_phone = |text: &str| !wanted_digits.is_empty() && digits(text) == wanted_digits;
        for needle in needles {
            let found = cx
                .client
                .entities(kind, &ListQuery::new().search(&needle))
                .await?;
            let hit = found
                .iter()
                .filter(|e| match field {
                    SearchField::Id => false,
                    SearchField::Name => same(&e.name),
                    SearchField::Phone | SearchField::Email => {
                        let code = if field == SearchField::Phone {
                            "PHONE"
                        } else {
                            "EMAIL"
                        };
                        e.custom_fields_values
                            .iter()
                            .filter(|f| f.field_code.as_deref() == Some(code))
                            .flat_map(|f| f.values.iter())
                            .filter_map(|v| v.value.as_str())
                            .any(|text| {
                                if field == SearchField::Phone {
                                    same_phone(text)
                                } else {
                                    same(text)
                                }
                            })
                    }
                    SearchField::Custom(id) => e
                        .custom_fields_values
                        .iter()
                        .filter(|f| f.field_id == id)
                        .flat_map(|f| f.values.iter())
                        .any(|v| match &v.value {
                            Value::String(text) => same(text),
                            Value::Number(n) => same(&n.to_string()),
                            Value::Bool(b) => same(if *b { "1" } else { "0" }),
                            _ => false,
                        }),
                })
                .map(|e| e.id)
                .min();
            if hit.is_some() {
                return Ok(hit);
            }
        }
        Ok(None)
    }

    /// Creates the entity a search did not find, with the values it searched by: its name (or
    /// else the first value), phones and emails (contacts and companies) and custom fields.
    async fn create_searched(
        &self,
        cx: &JobContext,
        kind: EntityKind,
        values: &[(SearchField, String)],
        name: Option<String>,
    ) -> Result<Option<i64>, EngineError> {
        let name = name
            .or_else(|| {
                values
                    .iter()
                    .find(|(f, _)| *f == SearchField::Name)
                    .map(|(_, v)| v.clone())
            })
            .or_else(|| values.first().map(|(_, v)| v.clone()))
            .unwrap_or_default();
        let mut write = EntityWrite {
            name: Some(name),
            ..EntityWrite::default()
        };
        for (field, value) in values {
            let code = match field {
                SearchField::Phone => "PHONE",
                SearchField::Email => "EMAIL",
                SearchField::Custom(id) => {
                    let assignment = domain::rule::FieldAssignment {
                        field: domain::rule::FieldTarget::Custom(*id),
                        value: value.clone(),
                    };
                    executor::field_write(&cx.facts, kind, &mut write, &assignment)
                        .map_err(|e| EngineError::Malformed(e.to_string()))?;
                    continue;
                }
                SearchField::Id | SearchField::Name => continue,
            };
            if kind == EntityKind::Leads {
                continue;
            }
            write.custom_fields_values.push(FieldWrite {
                field: FieldRef::Code(code.to_owned()),
                values: Some(vec![FieldValue::Multitext {
                    value: value.clone(),
                    enum_code: "WORK".to_owned(),
                }]),
            });
        }
        let ids = cx.client.create_entities(kind, vec![write]).await?;
        Ok(ids.first().copied())
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
        self.snapshot_for(cx, event.entity, task_reads(rule.rule(), event))
            .await?;
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
        let mut context = EvalContext::new(self.now(), state).timed(crate::clock::monotonic_ns);
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
            refusal: None,
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
                        block_id: planned.block_id,
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
        let mut cx = cx;
        self.flush_batch(&mut cx).await;
        let JobContext {
            account_id,
            runs,
            launch,
            ..
        } = cx;
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

    /// Sends the batched updates of the job's runs, and marks the actions whose update failed.
    async fn flush_batch(&self, cx: &mut JobContext) {
        let batch = std::mem::replace(&mut cx.batch, WriteBatch::new());
        if batch.is_empty() {
            return;
        }
        let started = Instant::now();
        let owners = batch
            .flush(cx.account_id, &cx.client, &self.coalescer)
            .await;
        let took = elapsed_ms(started);
        for ((run, index), error) in owners {
            if let Some(result) = cx.runs.get_mut(run).and_then(|r| r.results.get_mut(index)) {
                result.duration_ms += took;
                if let Some(error) = error {
                    result.status = "error";
                    result.error = Some(error);
                }
            }
        }
    }

    /// Why the rule a digital-pipeline action or a Salesbot step named does not run for `event`.
    async fn refusal(
        &self,
        account_id: i64,
        rule_id: i64,
        source: Source,
        event: &Event,
    ) -> Result<String, EngineError> {
        let by = match source {
            Source::Salesbot => "a Salesbot step",
            _ => "a digital-pipeline action",
        };
        if rule_id == 0 {
            return Ok(format!(
                "{by} names no rule: choose the rule again in the step's settings"
            ));
        }
        let Some((version, body, enabled)) =
            records::rule_body(&self.db, account_id, rule_id).await?
        else {
            return Ok(format!(
                "rule {rule_id} does not exist (it was deleted): choose another rule in {by}"
            ));
        };
        if !enabled {
            return Ok(format!(
                "the rule is disabled: switch it on, or choose another rule in {by}"
            ));
        }
        let rule = match self.compiled(rule_id, version, &body) {
            Ok(rule) => rule,
            Err(error) => return Ok(format!("the rule cannot be read: {error}")),
        };
        let trigger = &rule.rule().trigger;
        let entity = |t: Option<EntityType>| t.map_or("nothing", snapshot::table_name);
        Ok(if !trigger.runs_from(source) {
            match source {
                Source::Salesbot => format!(
                    "a Salesbot runs only lead added or updated rules and manual rules on leads or \
                     contacts; this rule's trigger is {}",
                    trigger.name()
                ),
                _ => format!(
                    "a digital-pipeline stage runs only lead added or updated rules and manual \
                     rules on leads; this rule's trigger is {}",
                    trigger.name()
                ),
            }
        } else {
            format!(
                "the rule runs on {}, and {by} ran it on {}",
                entity(trigger.entity_type()),
                entity(event.entity.map(|e| e.entity_type))
            )
        })
    }

    fn refused_run(&self, rule_id: i64, event: &Event, run_key: String, reason: String) -> RuleRun {
        RuleRun {
            rule_id,
            event: event.clone(),
            depth: 0,
            started_at: self.clock.now_ms(),
            started: Instant::now(),
            evaluation: None,
            results: Vec::new(),
            loop_reason: None,
            refusal: Some(reason),
            run_key,
            state: None,
            snapshot_ms: 0,
            failed_conditions: Vec::new(),
        }
    }

    /// Continues the bot of a Salesbot step with the outcome of its rule's run: `{"status":
    /// "done"|"skipped"|"error", "rule_id", "reason"}` as `{{json.…}}` values. Sent once: the
    /// continue is claimed under the event's key before it is sent (`action_runs`); a repeat of the
    /// job finds it done, and one interrupted while sending does not send it again (Kommo cannot
    /// say whether it landed, and a second continue would run the bot's next steps twice), but
    /// shows it in the debugger as an error for a person to check.
    async fn continue_bot(
        &self,
        cx: &mut JobContext,
        stored: &StoredEvent,
    ) -> Result<(), EngineError> {
        let lease = cx.lease("continue a Salesbot")?;
        let call: ingest::salesbot::StoredCall =
            serde_json::from_slice(&stored.body).map_err(|e| {
                EngineError::Malformed(format!("a stored Salesbot step does not parse: {e}"))
            })?;
        // The run of this event: none when it was recorded before (its continue was handled then).
        let Some(run) = cx.runs.last_mut() else {
            return Ok(());
        };
        let (status, reason) = bot_outcome(run);
        let mut data = json!({"status": status, "rule_id": run.rule_id.to_string()});
        if let Some(reason) = &reason {
            data["reason"] = json!(reason);
        }
        let body = json!({"data": data});
        let key = format!("e{}:salesbot_continue", stored.id);
        let started = Instant::now();
        let mut result = ActionResult {
            block: None,
            action_index: usize::MAX,
            kind: "continue_salesbot",
            status: "ok",
            detail: None,
            error: None,
            duration_ms: 0,
        };
        let now = self.clock.now_ms();
        match records::claim_action(&self.db, cx.account_id, &key, lease, now).await? {
            records::ActionClaim::New => {
                let sent = cx
                    .client
                    .continue_salesbot(&call.bot_type, call.bot_id, call.continue_id, &body)
                    .await;
                let detail = match &sent {
                    Ok(()) => format!("continued the bot with status {status}"),
                    Err(e) => format!("Kommo refused the continue: {e}"),
                };
                // Recorded done either way: a continue is not sent twice.
                records::finish_action(&self.db, cx.account_id, &key, lease, Some(&detail)).await?;
                match sent {
                    Ok(()) => result.detail = Some(detail),
                    Err(_) => {
                        result.status = "error";
                        result.error = Some(detail);
                    }
                }
            }
            records::ActionClaim::Done(detail) => {
                result.detail = Some(format!(
                    "already handled before a restart ({})",
                    detail.unwrap_or_default()
                ));
            }
            records::ActionClaim::Abandoned => {
                records::finish_action(
                    &self.db,
                    cx.account_id,
                    &key,
                    lease,
                    Some(SALESBOT_CONTINUE_NOT_REPEATED),
                )
                .await?;
                tracing::warn!(
                    account.id = cx.account_id,
                    event.id = stored.id,
                    "a Salesbot continue interrupted by a restart was not repeated"
                );
                result.status = "error";
                result.error = Some(SALESBOT_CONTINUE_NOT_REPEATED.to_owned());
            }
            records::ActionClaim::InFlight | records::ActionClaim::LeaseLost => {
                return Err(EngineError::Superseded(format!(
                    "{key}: another claim is continuing the bot"
                )));
            }
        }
        result.duration_ms = elapsed_ms(started);
        run.results.push(result);
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
            refusal: None,
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
        let items = self.items_of(&mut cx, &stored, None).await?;
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
                // A digital-pipeline action or a Salesbot step names one rule: when it cannot run,
                // its log entry says why (the debugger shows it; a bot is continued with it).
                if let (Some(rule_id), Source::DigitalPipeline | Source::Salesbot) = (only, source)
                {
                    let run_key = format!("e{event_id}:{seq}:r{rule_id}");
                    if !records::run_done(&self.db, account_id, &run_key).await? {
                        let reason = self.refusal(account_id, *rule_id, source, event).await?;
                        tracing::info!(
                            account.id = account_id,
                            rule.id = rule_id,
                            event.id = event_id,
                            %reason,
                            "the rule named by the request did not run"
                        );
                        let run = self.refused_run(*rule_id, event, run_key, reason);
                        cx.runs.push(run);
                    }
                }
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
        if source == Source::Salesbot {
            self.flush_batch(&mut cx).await;
            self.continue_bot(&mut cx, &stored).await?;
        }
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
            self.snapshot_for(cx, Some(entity), TaskReads::default())
                .await?;
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
        job: DelayedJob,
    ) -> Result<(), EngineError> {
        let job_id = lease.job_id;
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
                self.snapshot_for(
                    &mut cx,
                    job.event.entity,
                    task_reads(rule.rule(), &job.event),
                )
                .await?;
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
                    refusal: None,
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
        job: RuleCallJob,
    ) -> Result<(), EngineError> {
        let job_id = lease.job_id;
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
        self.parent_snapshot(&mut cx, &job.event).await?;
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

    /// A called rule reads its caller's entities: when its entity is the lead, contact or
    /// company of the caller's run, the caller's snapshot is its snapshot (so a contact's rule
    /// called from a lead sees that lead, not the contact's newest one).
    async fn parent_snapshot(&self, cx: &mut JobContext, event: &Event) -> Result<(), EngineError> {
        let EventKind::RuleCall {
            parent_entity: Some(parent),
            ..
        } = &event.kind
        else {
            return Ok(());
        };
        let Some(entity) = event.entity else {
            return Ok(());
        };
        if *parent == entity {
            return Ok(());
        }
        self.snapshot_for(cx, Some(*parent), TaskReads::default())
            .await?;
        let Some((snapshot, ms)) = cx.snapshots.get(&Some(*parent)).cloned() else {
            return Ok(());
        };
        let held = cx.task_reads.get(&Some(*parent)).copied();
        let holds = [&snapshot.lead, &snapshot.contact, &snapshot.company]
            .iter()
            .zip([EntityType::Lead, EntityType::Contact, EntityType::Company])
            .any(|(e, t)| t == entity.entity_type && e.as_ref().is_some_and(|e| e.id == entity.id));
        if holds {
            cx.snapshots.insert(Some(entity), (snapshot, ms));
            cx.task_reads.insert(Some(entity), held.unwrap_or_default());
        }
        Ok(())
    }

    /// Records a `run_rule` job that failed for good (`error`) as a failed run of its launch, if it
    /// belongs to one: the run could not start (the entity is gone, the account disconnected), so
    /// the engine recorded no verdict. A job of no launch records nothing.
    pub async fn record_launch_failure(
        &self,
        account_id: i64,
        job: &RuleCallJob,
        error: &str,
    ) -> Result<(), EngineError> {
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
        self.snapshot_for(&mut cx, event.entity, task_reads(rule, &event))
            .await?;
        self.links_for(&mut cx, rule, event.entity).await?;
        let (snapshot, _) = cx
            .snapshots
            .get(&event.entity)
            .ok_or_else(|| EngineError::Malformed("the snapshot went missing".into()))?;
        // A dry run shows what the rule would do now, as if it had not run for the entity before.
        let state = EntityRuleState::default();
        let context = EvalContext::new(self.now(), state).timed(crate::clock::monotonic_ns);
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
        let mut calls = Vec::with_capacity(evaluation.plan.len());
        for planned in &evaluation.plan {
            let scope = ActionScope {
                account_id: cx.account_id,
                lease: None,
                rule_id: 0,
                client: &cx.client,
                facts: &cx.facts,
                snapshot,
                event,
                depth: 0,
                block_id: planned.block_id,
            };
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
        self.snapshot_for(&mut cx, Some(entity), TaskReads::ALL)
            .await?;
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
            .items_of(&mut cx, &stored, Some(rule))
            .await?
            .into_iter()
            .map(|(e, _)| e)
            .collect();
        let compiled = CompiledRule::new(rule.clone());
        let mut out = Vec::new();
        for event in items {
            self.snapshot_for(&mut cx, event.entity, task_reads(rule, &event))
                .await?;
            self.links_for(&mut cx, rule, event.entity).await?;
            let Some((snapshot, _)) = cx.snapshots.get(&event.entity) else {
                continue;
            };
            let context = EvalContext::new(self.now(), EntityRuleState::default())
                .timed(crate::clock::monotonic_ns);
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
