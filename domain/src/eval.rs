//! Evaluation: a pure function of (rule, event, snapshot, variables, clock and the rule's state
//! for this entity) that returns the plan of actions to run and the trace the debugger shows.
//!
//! Build a [`CompiledRule`] once (it caches regexes) and evaluate many events against it;
//! [`evaluate`] is the one-shot convenience.

use std::borrow::Cow;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{Event, EventKind};
use crate::path::EntityType;
use crate::rule::{
    Action, ActionKind, Condition, Join, Literal, Operand, Operator, Rule, StageEntry, TimeUnit,
    Trigger,
};
use crate::snapshot::Snapshot;
use crate::template::{RenderLimits, Template};
use crate::timer;
use crate::value::{
    local_date, parse_date, ListValue, ParsedDate, Scope, TraceValue, Value, ValueKind, Variables,
};
use crate::zone::Zone;

/// Compiled-program size cap for `matches_regex` patterns, in bytes.
pub const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// What the engine knows about a rule's past runs for one entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EntityRuleState {
    /// When the rule last ran for the entity.
    #[serde(default)]
    pub last_run_at: Option<DateTime<Utc>>,
    /// Whether the rule ever fired (a block completed or the else scenario ran) for it.
    #[serde(default)]
    pub fired_once: bool,
}

/// A monotonic reading in nanoseconds from an arbitrary origin, injected so that `domain` reads no
/// clock itself: the backend passes one and each condition's trace then says how long it took.
#[derive(Clone, Copy)]
pub struct Stopwatch(pub fn() -> u64);

impl std::fmt::Debug for Stopwatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stopwatch")
    }
}

impl PartialEq for Stopwatch {
    /// Stopwatches measure; they do not change what an evaluation decides, so any two are equal.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// The clock and state an evaluation runs with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalContext {
    /// The current instant.
    pub now: DateTime<Utc>,
    /// The rule's state for the event's entity.
    pub state: EntityRuleState,
    /// When set, evaluate only this block (a delayed block coming due): its delay, the
    /// frequency and once gates were applied when the rule first ran.
    pub resume_block: Option<usize>,
    /// Template rendering limits.
    pub limits: RenderLimits,
    /// Times each condition when set (its trace's `elapsed_ns`).
    pub stopwatch: Option<Stopwatch>,
}

impl EvalContext {
    /// A context at `now` with the entity's state.
    pub fn new(now: DateTime<Utc>, state: EntityRuleState) -> EvalContext {
        EvalContext {
            now,
            state,
            resume_block: None,
            limits: RenderLimits::default(),
            stopwatch: None,
        }
    }

    /// The same context with each condition timed by `stopwatch`.
    pub fn timed(self, stopwatch: fn() -> u64) -> EvalContext {
        EvalContext {
            stopwatch: Some(Stopwatch(stopwatch)),
            ..self
        }
    }
}

/// The result of evaluating a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Evaluation {
    /// Whether the rule ran, and if not, why.
    pub outcome: Outcome,
    /// The actions to run, in order.
    pub plan: Vec<PlannedAction>,
    /// Blocks whose conditions are to be checked later (`resume_block`).
    pub deferred_blocks: Vec<DeferredBlock>,
    /// What happened, for the debugger.
    pub trace: Trace,
    /// The rule's state for the entity after this evaluation; store it.
    pub state: EntityRuleState,
}

/// Whether the rule ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The blocks were checked.
    Ran,
    /// The event is not one this rule's trigger listens to.
    EventDoesNotMatch,
    /// The rule is disabled.
    Disabled,
    /// Now is outside the rule's active hours.
    OutsideActiveHours,
    /// The rule ran for this entity too recently.
    FrequencyExceeded,
    /// The rule runs once per entity and already fired for this one.
    OnceAlreadyFired,
}

/// One action to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PlannedAction {
    /// The block index, or `None` for the else scenario.
    pub block: Option<usize>,
    /// The block's id (0 for the else scenario or when unset).
    pub block_id: u32,
    /// The action's index within its block.
    pub action_index: usize,
    /// The action's id (0 when unset).
    pub action_id: u32,
    /// When to run; `None` means at once.
    pub run_at: Option<DateTime<Utc>>,
    /// Replace this action's pending jobs for this entity.
    pub replace_pending: bool,
    /// The action with every template rendered.
    pub action: ActionKind<String>,
}

/// A block whose conditions are checked after its delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeferredBlock {
    /// The block index.
    pub block: usize,
    /// When to check it.
    pub run_at: DateTime<Utc>,
}

/// What the debugger shows about one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Trace {
    /// When the evaluation ran (the clock it was given).
    pub evaluated_at: DateTime<Utc>,
    /// The event's kind.
    pub event: Cow<'static, str>,
    /// The rule's trigger kind.
    pub trigger: Cow<'static, str>,
    /// One entry per block.
    pub blocks: Vec<BlockTrace>,
    /// Whether the else scenario ran.
    pub else_ran: bool,
    /// One entry per action considered.
    pub actions: Vec<ActionTrace>,
}

/// A block's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum BlockStatus {
    /// The conditions held; the actions were planned.
    Completed,
    /// A condition did not hold.
    ConditionsNotMet,
    /// The rule ran too recently for this entity.
    FrequencyExceeded,
    /// The rule already fired once for this entity.
    OnceAlreadyFired,
    /// The block waits for its delay; its conditions are checked then.
    Deferred {
        /// When.
        until: DateTime<Utc>,
    },
    /// The rule did not run (disabled, other event, outside active hours) or another block is
    /// being resumed.
    NotRun,
}

/// A block in the trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BlockTrace {
    /// The index.
    pub index: usize,
    /// The name.
    pub name: String,
    /// The status.
    #[serde(flatten)]
    pub status: BlockStatus,
    /// The conditions as checked (empty unless checked).
    pub conditions: Vec<ConditionTrace>,
}

/// A condition in the trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ConditionTrace {
    /// The index within the block.
    pub index: usize,
    /// The left value as read.
    pub left: TraceValue,
    /// The operator's name.
    pub op: Cow<'static, str>,
    /// The right value as read.
    #[serde(default)]
    pub right: Option<TraceValue>,
    /// The upper bound of `between`.
    #[serde(default)]
    pub right_upper: Option<TraceValue>,
    /// Whether the condition held.
    pub result: bool,
    /// Why it did not hold, or why it is doubtful.
    #[serde(default)]
    pub reason: Option<Reason>,
    /// How long reading and comparing took, in nanoseconds, when the evaluation was timed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_ns: Option<u64>,
}

/// Why a condition did not hold beyond "the values differ".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Reason {
    /// The left value does not exist (missing field, entity or event datum).
    #[error("the value is missing")]
    MissingValue,
    /// The operator needs a right value and there is none.
    #[error("there is nothing to compare with")]
    MissingRight,
    /// The values have types the operator cannot compare.
    #[error("a {found} cannot be compared as a {expected}")]
    TypeMismatch {
        /// What the operator needs.
        expected: ValueKind,
        /// What it got.
        found: ValueKind,
    },
    /// The regular expression does not compile.
    #[error("the regular expression is invalid: {message}")]
    InvalidRegex {
        /// The regex crate's message.
        message: String,
    },
}

/// An action in the trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ActionTrace {
    /// The block index, or `None` for the else scenario.
    pub block: Option<usize>,
    /// The action index.
    pub action_index: usize,
    /// The action type.
    pub kind: Cow<'static, str>,
    /// Why it was not planned, if it was not.
    #[serde(default)]
    pub error: Option<String>,
}

impl Evaluation {
    /// What became of the run before its actions were performed: `Fired` when a block held (or
    /// waits for its delay) or the else scenario ran; the caller turns it into `Error` when an
    /// action then fails.
    pub fn verdict(&self) -> crate::api::Verdict {
        use crate::api::Verdict;
        match self.outcome {
            Outcome::FrequencyExceeded => Verdict::FrequencyExceeded,
            Outcome::OnceAlreadyFired => Verdict::OnceAlreadyFired,
            Outcome::OutsideActiveHours => Verdict::OutsideActiveHours,
            // A disabled rule or another event is never logged; were it, nothing was done.
            Outcome::Disabled | Outcome::EventDoesNotMatch => Verdict::DidNotMatch,
            Outcome::Ran => {
                let held = self.trace.blocks.iter().any(|b| {
                    matches!(
                        b.status,
                        BlockStatus::Completed | BlockStatus::Deferred { .. }
                    )
                });
                if held || self.trace.else_ran || !self.plan.is_empty() {
                    Verdict::Fired
                } else {
                    Verdict::DidNotMatch
                }
            }
        }
    }

    /// The conditions that did not hold in the blocks whose conditions were not met, with what
    /// each read (`rule` is the rule evaluated, for the operands).
    pub fn failed_conditions(&self, rule: &Rule) -> Vec<crate::api::FailedCondition> {
        self.trace
            .blocks
            .iter()
            .filter(|b| b.status == BlockStatus::ConditionsNotMet)
            .flat_map(|b| {
                b.conditions
                    .iter()
                    .filter(|c| !c.result)
                    .map(move |c| (b, c))
            })
            .map(|(b, c)| {
                let operand = rule
                    .blocks
                    .get(b.index)
                    .and_then(|block| block.conditions.get(c.index))
                    .and_then(|condition| serde_json::to_value(&condition.left).ok())
                    .unwrap_or(serde_json::Value::Null);
                crate::api::FailedCondition {
                    block: b.index,
                    block_name: b.name.clone(),
                    condition: c.index,
                    operand,
                    operator: c.op.to_string(),
                    expected: c.right.clone(),
                    actual: c.left.clone(),
                    reason: c.reason.clone(),
                }
            })
            .collect()
    }
}

/// A rule with its regexes compiled, ready to evaluate many events.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    rule: Rule,
    /// Per block, per condition: the compiled literal regex of `matches_regex` conditions.
    regexes: Vec<Vec<Option<Result<Regex, String>>>>,
}

/// How deep a `matches_regex` pattern may nest.
pub const REGEX_NEST_LIMIT: u32 = 64;

/// A compiled `matches_regex` pattern: the `regex` crate's, with the crate's `regex` feature (on by
/// default; the backend's build).
#[cfg(feature = "regex")]
pub type Regex = regex::Regex;

/// Without the `regex` feature (the widget's build, which never evaluates a rule: dry runs are the
/// backend's) patterns are only checked ([`check_regex`]); none is ever compiled, so none matches.
#[cfg(not(feature = "regex"))]
#[derive(Debug, Clone)]
pub struct Regex(());

#[cfg(not(feature = "regex"))]
impl Regex {
    fn is_match(&self, _text: &str) -> bool {
        false
    }
}

/// Compiles a pattern with the size caps.
#[cfg(feature = "regex")]
pub fn compile_regex(pattern: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .nest_limit(REGEX_NEST_LIMIT)
        .build()
        .map_err(|e| e.to_string())
}

/// Without the `regex` feature no pattern is compiled: a well-formed one is refused with a
/// sentence saying so (see [`Regex`]).
#[cfg(not(feature = "regex"))]
pub fn compile_regex(pattern: &str) -> Result<Regex, String> {
    check_regex(pattern)?;
    Err("regular expressions are only evaluated by the server".into())
}

/// Whether a pattern is a valid `matches_regex` pattern. With the `regex` feature it is compiled
/// with the size caps; without it (the widget) only its syntax and nesting are checked, by
/// `regex-syntax`'s parser, without the Unicode tables: an unknown Unicode class name or a pattern
/// over the size cap is then first reported by the backend when the rule is saved.
pub fn check_regex(pattern: &str) -> Result<(), String> {
    #[cfg(feature = "regex")]
    {
        compile_regex(pattern).map(|_| ())
    }
    #[cfg(not(feature = "regex"))]
    {
        regex_syntax::ast::parse::ParserBuilder::new()
            .nest_limit(REGEX_NEST_LIMIT)
            .build()
            .parse(pattern)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

impl CompiledRule {
    /// Compiles a rule.
    pub fn new(rule: Rule) -> CompiledRule {
        let regexes = rule
            .blocks
            .iter()
            .map(|block| {
                block
                    .conditions
                    .iter()
                    .map(|c| match (&c.op, &c.right) {
                        (Operator::MatchesRegex, Some(Operand::Literal(Literal::Text(p)))) => {
                            Some(compile_regex(p))
                        }
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        CompiledRule { rule, regexes }
    }

    /// The rule.
    pub fn rule(&self) -> &Rule {
        &self.rule
    }

    /// Evaluates the rule for an event.
    pub fn evaluate(
        &self,
        event: &Event,
        snapshot: &Snapshot,
        variables: &Variables,
        context: &EvalContext,
    ) -> Evaluation {
        let rule = &self.rule;
        let scope = Scope {
            snapshot,
            event,
            variables,
            now: context.now,
        };
        let mut trace = Trace {
            evaluated_at: context.now,
            event: Cow::Borrowed(event.kind.name()),
            trigger: Cow::Borrowed(rule.trigger.name()),
            blocks: Vec::with_capacity(rule.blocks.len()),
            else_ran: false,
            actions: Vec::new(),
        };
        let mut evaluation = Evaluation {
            outcome: Outcome::Ran,
            plan: Vec::new(),
            deferred_blocks: Vec::new(),
            trace: Trace {
                evaluated_at: context.now,
                event: Cow::Borrowed(""),
                trigger: Cow::Borrowed(""),
                blocks: Vec::new(),
                else_ran: false,
                actions: Vec::new(),
            },
            state: context.state,
        };

        let gate = if !rule.enabled {
            Some((Outcome::Disabled, BlockStatus::NotRun))
        } else if !trigger_matches(&rule.trigger, event) {
            Some((Outcome::EventDoesNotMatch, BlockStatus::NotRun))
        } else if context.resume_block.is_some() {
            None
        } else if rule
            .active_hours
            .as_ref()
            .is_some_and(|h| !h.contains_instant(context.now, &snapshot.account.timezone))
        {
            Some((Outcome::OutsideActiveHours, BlockStatus::NotRun))
        } else if rule.frequency.once_per_entity && context.state.fired_once {
            Some((Outcome::OnceAlreadyFired, BlockStatus::OnceAlreadyFired))
        } else if ran_too_recently(rule, context) {
            Some((Outcome::FrequencyExceeded, BlockStatus::FrequencyExceeded))
        } else {
            None
        };
        if let Some((outcome, status)) = gate {
            evaluation.outcome = outcome;
            for (index, block) in rule.blocks.iter().enumerate() {
                trace.blocks.push(BlockTrace {
                    index,
                    name: block.name.clone(),
                    status,
                    conditions: Vec::new(),
                });
            }
            evaluation.trace = trace;
            return evaluation;
        }

        let base = shift(context.now, trigger_delay(&rule.trigger));
        let mut fired = false;
        let mut deferred = false;
        for (index, block) in rule.blocks.iter().enumerate() {
            let mut block_trace = BlockTrace {
                index,
                name: block.name.clone(),
                status: BlockStatus::NotRun,
                conditions: Vec::new(),
            };
            let resuming = context.resume_block == Some(index);
            if context.resume_block.is_some() && !resuming {
                trace.blocks.push(block_trace);
                continue;
            }
            if block.delay_seconds > 0 && !resuming {
                let until = shift(base, block.delay_seconds);
                block_trace.status = BlockStatus::Deferred { until };
                evaluation.deferred_blocks.push(DeferredBlock {
                    block: index,
                    run_at: until,
                });
                deferred = true;
                trace.blocks.push(block_trace);
                continue;
            }
            let holds = self.check_conditions(
                index,
                &block.conditions,
                &scope,
                context.stopwatch,
                &mut block_trace,
            );
            if holds {
                block_trace.status = BlockStatus::Completed;
                fired = true;
                plan_actions(
                    Some(index),
                    block.id,
                    &block.actions,
                    base,
                    &scope,
                    context,
                    &mut evaluation.plan,
                    &mut trace.actions,
                );
            } else {
                block_trace.status = BlockStatus::ConditionsNotMet;
            }
            trace.blocks.push(block_trace);
        }

        if !fired && !deferred && context.resume_block.is_none() {
            if let Some(scenario) = &rule.else_scenario {
                trace.else_ran = true;
                fired = true;
                plan_actions(
                    None,
                    0,
                    &scenario.actions,
                    base,
                    &scope,
                    context,
                    &mut evaluation.plan,
                    &mut trace.actions,
                );
            }
        }

        if context.resume_block.is_none() {
            evaluation.state.last_run_at = Some(context.now);
        }
        evaluation.state.fired_once |= fired;
        evaluation.trace = trace;
        evaluation
    }

    /// Checks a block's conditions (an OR of AND groups), recording every one in the trace.
    fn check_conditions(
        &self,
        block_index: usize,
        conditions: &[Condition],
        scope: &Scope<'_>,
        stopwatch: Option<Stopwatch>,
        block_trace: &mut BlockTrace,
    ) -> bool {
        if conditions.is_empty() {
            return true;
        }
        let mut any_group = false;
        let mut group = true;
        for (index, condition) in conditions.iter().enumerate() {
            if index > 0 && condition.join == Join::Or {
                any_group |= group;
                group = true;
            }
            let regex = self
                .regexes
                .get(block_index)
                .and_then(|b| b.get(index))
                .and_then(Option::as_ref);
            let started = stopwatch.map(|s| (s.0)());
            let mut checked = check_condition(index, condition, regex, scope);
            if let (Some(started), Some(stopwatch)) = (started, stopwatch) {
                checked.elapsed_ns = Some((stopwatch.0)().saturating_sub(started));
            }
            group &= checked.result;
            block_trace.conditions.push(checked);
        }
        any_group | group
    }
}

/// Evaluates a rule once (compiling it first). Prefer [`CompiledRule`] for many events.
pub fn evaluate(
    rule: &Rule,
    event: &Event,
    snapshot: &Snapshot,
    variables: &Variables,
    context: &EvalContext,
) -> Evaluation {
    CompiledRule::new(rule.clone()).evaluate(event, snapshot, variables, context)
}

fn ran_too_recently(rule: &Rule, context: &EvalContext) -> bool {
    let mut interval = rule
        .frequency
        .min_interval_seconds
        .max(crate::rule::MIN_RUN_INTERVAL_SECONDS);
    if let Trigger::IncomingMessage {
        cooldown_seconds, ..
    } = rule.trigger
    {
        interval = interval.max(cooldown_seconds);
    }
    context
        .state
        .last_run_at
        .is_some_and(|last| context.now < shift(last, interval))
}

/// `at` plus `seconds`, saturating at the end of time instead of overflowing.
fn shift(at: DateTime<Utc>, seconds: u32) -> DateTime<Utc> {
    at.checked_add_signed(Duration::seconds(i64::from(seconds)))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn trigger_delay(trigger: &Trigger) -> u32 {
    match trigger {
        Trigger::ConversationClosed { delay_seconds, .. }
        | Trigger::OutgoingMessageSeen { delay_seconds, .. } => *delay_seconds,
        _ => 0,
    }
}

fn channel_admitted(channels: &[String], channel: &str) -> bool {
    channels.is_empty() || channels.iter().any(|c| c.eq_ignore_ascii_case(channel))
}

/// Whether an event is one the trigger listens to.
pub fn trigger_matches(trigger: &Trigger, event: &Event) -> bool {
    let entity = event.entity_type();
    let is = |t: EntityType| entity == Some(t);
    match (trigger, &event.kind) {
        (Trigger::EntityAdded { entity: t }, EventKind::EntityAdded)
        | (Trigger::EntityUpdated { entity: t }, EventKind::EntityUpdated)
        | (Trigger::ResponsibleChanged { entity: t }, EventKind::ResponsibleChanged { .. }) => {
            is(*t)
        }
        (
            Trigger::EntityAdded { entity: t } | Trigger::EntityUpdated { entity: t },
            EventKind::DigitalPipeline { .. } | EventKind::Salesbot,
        ) => *t == EntityType::Lead && is(EntityType::Lead),
        // A person's launch (a card's button, a list's bulk run) runs these by hand too.
        (
            Trigger::EntityAdded { .. } | Trigger::EntityUpdated { .. },
            EventKind::Manual { .. },
        ) => entity.is_some() && trigger.launchable_by_hand() == entity,
        (
            Trigger::StatusChanged {
                pipeline_id,
                status_id,
                entry,
            },
            EventKind::StatusChanged {
                pipeline_id: p,
                status_id: s,
                created,
                ..
            },
        ) => {
            pipeline_id.is_none_or(|id| id == *p)
                && status_id.is_none_or(|id| id == *s)
                && match entry {
                    StageEntry::Created => *created,
                    StageEntry::Moved => !*created,
                    StageEntry::CreatedOrMoved => true,
                }
        }
        (
            Trigger::NoteAdded {
                entity: t,
                note_types,
            },
            EventKind::NoteAdded { note },
        ) => is(*t) && (note_types.is_empty() || note_types.contains(&note.note_type)),
        (Trigger::TagAdded { entity: t, tags }, EventKind::TagAdded { tag })
        | (Trigger::TagRemoved { entity: t, tags }, EventKind::TagRemoved { tag }) => {
            is(*t) && (tags.is_empty() || tags.iter().any(|x| text_eq(x, tag)))
        }
        (
            Trigger::FieldUpdated {
                entity: t,
                field_id,
            },
            EventKind::FieldUpdated { field_id: f },
        ) => is(*t) && field_id == f,
        (Trigger::RelativeToDateField { entity: t, .. }, EventKind::Scheduled) => is(*t),
        (Trigger::AtDateTime { .. } | Trigger::Recurring { .. }, EventKind::Scheduled) => true,
        (
            Trigger::ConversationStarted { by, channels },
            EventKind::ConversationStarted { channel, direction },
        ) => by.admits(*direction) && channel_admitted(channels, channel),
        (
            Trigger::ConversationClosed { channels, .. },
            EventKind::ConversationClosed { channel },
        )
        | (
            Trigger::OutgoingMessageSeen { channels, .. },
            EventKind::OutgoingMessageSeen { channel },
        ) => channel_admitted(channels, channel),
        (
            Trigger::IncomingMessage {
                direction,
                channels,
                ..
            },
            EventKind::MessageReceived { message },
        ) => direction.admits(message.direction) && channel_admitted(channels, &message.channel),
        (
            Trigger::Manual { entity: t },
            EventKind::Manual { .. }
            | EventKind::RuleCall { .. }
            | EventKind::Salesbot
            | EventKind::TriggerLink { .. }
            | EventKind::DigitalPipeline { .. }
            | EventKind::TaskCompleted { .. }
            // A manual rule runs from its own inbound URL, never for a receiver's requests.
            | EventKind::InboundWebhook {
                receiver_id: None,
                ..
            },
        ) => is(*t),
        (
            Trigger::InboundWebhook {
                hook_id,
                receiver_id,
                ..
            },
            EventKind::InboundWebhook {
                hook_id: h,
                receiver_id: r,
                ..
            },
        ) => match receiver_id {
            Some(receiver) => *r == Some(*receiver),
            None => r.is_none() && hook_id == h,
        },
        _ => false,
    }
}

#[allow(clippy::too_many_arguments)]
fn plan_actions(
    block: Option<usize>,
    block_id: u32,
    actions: &[Action],
    base: DateTime<Utc>,
    scope: &Scope<'_>,
    context: &EvalContext,
    plan: &mut Vec<PlannedAction>,
    traces: &mut Vec<ActionTrace>,
) {
    for (action_index, action) in actions.iter().enumerate() {
        let mut action_trace = ActionTrace {
            block,
            action_index,
            kind: Cow::Borrowed(action.kind.name()),
            error: None,
        };
        let run_at = timer::resolve(&action.timer, base, scope).map_err(|e| e.to_string());
        let rendered = run_at.and_then(|run_at| {
            action
                .kind
                .try_map(|t: &Template| t.render(scope, &context.limits))
                .map(|kind| (run_at, kind))
                .map_err(|e| e.to_string())
        });
        match rendered {
            Ok((run_at, kind)) => plan.push(PlannedAction {
                block,
                block_id,
                action_index,
                action_id: action.id,
                run_at,
                replace_pending: action.replace_pending,
                action: kind,
            }),
            Err(message) => action_trace.error = Some(message),
        }
        traces.push(action_trace);
    }
}

// ---------------------------------------------------------------------------------------------
// Conditions

fn read_operand<'a>(operand: &'a Operand, scope: &Scope<'a>) -> Value<'a> {
    let text = |t: Option<&'a str>| t.map_or(Value::Missing, |t| Value::Text(Cow::Borrowed(t)));
    match operand {
        Operand::Path(path) => scope.read(path),
        Operand::Global(name) => text(scope.global(name)),
        Operand::Webhook(name) => text(scope.webhook_var(name)),
        Operand::Literal(literal) => match literal {
            Literal::Bool(b) => Value::Bool(*b),
            Literal::Number(n) => Value::Number(*n),
            Literal::Text(t) => Value::Text(Cow::Borrowed(t)),
            Literal::List(l) => Value::List(ListValue::Strings(l)),
        },
    }
}

struct Verdict {
    result: bool,
    reason: Option<Reason>,
}

fn holds(result: bool) -> Verdict {
    Verdict {
        result,
        reason: None,
    }
}

fn fails(reason: Reason) -> Verdict {
    Verdict {
        result: false,
        reason: Some(reason),
    }
}

fn mismatch(expected: ValueKind, found: &Value<'_>) -> Verdict {
    if matches!(found, Value::Missing) {
        return fails(Reason::MissingValue);
    }
    fails(Reason::TypeMismatch {
        expected,
        found: found.kind(),
    })
}

fn check_condition(
    index: usize,
    condition: &Condition,
    regex: Option<&Result<Regex, String>>,
    scope: &Scope<'_>,
) -> ConditionTrace {
    let left = read_operand(&condition.left, scope);
    let right = condition.right.as_ref().map(|r| read_operand(r, scope));
    let upper = condition
        .right_upper
        .as_ref()
        .map(|r| read_operand(r, scope));
    let verdict = match (&right, condition.op.needs_right()) {
        (None, true) => fails(Reason::MissingRight),
        _ => apply(
            &condition.op,
            &left,
            right.as_ref(),
            upper.as_ref(),
            regex,
            scope,
        ),
    };
    ConditionTrace {
        index,
        left: left.to_trace(),
        op: Cow::Borrowed(condition.op.name()),
        right: right.as_ref().map(Value::to_trace),
        right_upper: upper.as_ref().map(Value::to_trace),
        result: verdict.result,
        reason: verdict.reason,
        elapsed_ns: None,
    }
}

fn negate(v: Verdict) -> Verdict {
    Verdict {
        result: !v.result,
        reason: v.reason,
    }
}

fn apply(
    op: &Operator,
    left: &Value<'_>,
    right: Option<&Value<'_>>,
    upper: Option<&Value<'_>>,
    regex: Option<&Result<Regex, String>>,
    scope: &Scope<'_>,
) -> Verdict {
    let missing = Value::Missing;
    let r = right.unwrap_or(&missing);
    match op {
        Operator::Equals => equals(left, r, scope),
        Operator::NotEquals => negate(equals(left, r, scope)),
        Operator::Contains => text_test(left, r, scope, contains_ci),
        Operator::NotContains => negate(text_test(left, r, scope, contains_ci)),
        Operator::StartsWith => text_test(left, r, scope, starts_with_ci),
        Operator::EndsWith => text_test(left, r, scope, ends_with_ci),
        Operator::MatchesRegex => {
            let dynamic;
            let compiled = match regex {
                Some(compiled) => compiled,
                None => {
                    dynamic = compile_regex(&as_text(r, scope));
                    &dynamic
                }
            };
            match compiled {
                Ok(re) => {
                    let text = as_text(left, scope);
                    Verdict {
                        result: re.is_match(&text),
                        reason: matches!(left, Value::Missing).then_some(Reason::MissingValue),
                    }
                }
                Err(message) => fails(Reason::InvalidRegex {
                    message: message.clone(),
                }),
            }
        }
        Operator::IsEmpty => holds(left.is_empty()),
        Operator::IsNotEmpty => holds(!left.is_empty()),
        Operator::Less | Operator::LessOrEqual | Operator::Greater | Operator::GreaterOrEqual => {
            let Some(l) = left.as_number() else {
                return mismatch(ValueKind::Number, left);
            };
            let Some(rv) = r.as_number() else {
                return mismatch(ValueKind::Number, r);
            };
            holds(match op {
                Operator::Less => l < rv,
                Operator::LessOrEqual => l <= rv,
                Operator::Greater => l > rv,
                _ => l >= rv,
            })
        }
        Operator::Between => {
            let Some(l) = left.as_number() else {
                return mismatch(ValueKind::Number, left);
            };
            let Some(lo) = r.as_number() else {
                return mismatch(ValueKind::Number, r);
            };
            let Some(hi) = upper.and_then(Value::as_number) else {
                return fails(Reason::MissingRight);
            };
            holds(lo <= l && l <= hi)
        }
        Operator::Before | Operator::After | Operator::On => {
            let tz = scope.timezone();
            let Some(l) = as_moment(left, scope) else {
                return mismatch(ValueKind::Date, left);
            };
            let Some(rv) = as_moment(r, scope) else {
                return mismatch(ValueKind::Date, r);
            };
            let ordering = match (l, rv) {
                (Moment::Instant(a), Moment::Instant(b)) if !matches!(op, Operator::On) => {
                    a.cmp(&b)
                }
                (a, b) => a.date(tz).cmp(&b.date(tz)),
            };
            holds(match op {
                Operator::Before => ordering.is_lt(),
                Operator::After => ordering.is_gt(),
                _ => ordering.is_eq(),
            })
        }
        Operator::WithinLast { amount, unit } | Operator::WithinNext { amount, unit } => {
            let tz = scope.timezone();
            let Some(l) = as_moment(left, scope) else {
                return mismatch(ValueKind::Date, left);
            };
            let past = matches!(op, Operator::WithinLast { .. });
            let amount = i64::from(*amount);
            if *unit == TimeUnit::Days || matches!(l, Moment::Date(_)) {
                let today = local_date(scope.now, tz);
                let days = match unit {
                    TimeUnit::Days => amount,
                    TimeUnit::Hours => amount / 24,
                    TimeUnit::Minutes => amount / (24 * 60),
                    TimeUnit::Seconds => amount / (24 * 3600),
                };
                let d = l.date(tz);
                let Some(edge) =
                    today.checked_add_signed(Duration::days(if past { -days } else { days }))
                else {
                    return holds(false);
                };
                holds(if past {
                    edge <= d && d <= today
                } else {
                    today <= d && d <= edge
                })
            } else {
                let Moment::Instant(i) = l else {
                    return holds(false);
                };
                let Some(edge) =
                    timer::add_units(scope.now, if past { -amount } else { amount }, *unit, tz)
                else {
                    return holds(false);
                };
                holds(if past {
                    edge <= i && i <= scope.now
                } else {
                    scope.now <= i && i <= edge
                })
            }
        }
        Operator::DayOfWeek => {
            let Some(l) = as_moment(left, scope) else {
                return mismatch(ValueKind::Date, left);
            };
            let weekday = l.date(scope.timezone()).weekday();
            let wanted = items(r);
            holds(
                wanted
                    .iter()
                    .any(|w| timer::parse_weekday(w) == Some(weekday)),
            )
        }
        Operator::HasAny | Operator::HasAll | Operator::HasNone => {
            let have = items(left);
            let want = items(r);
            let has = |w: &str| have.iter().any(|h| text_eq(h, w));
            let verdict = match op {
                Operator::HasAny => want.iter().any(|w| has(w)),
                Operator::HasAll => want.iter().all(|w| has(w)),
                _ => !want.iter().any(|w| has(w)),
            };
            Verdict {
                result: verdict,
                reason: matches!(left, Value::Missing).then_some(Reason::MissingValue),
            }
        }
        Operator::IsOneOf => {
            let want = items(r);
            match left {
                Value::Missing => fails(Reason::MissingValue),
                Value::List(list) => holds(
                    !list.is_empty() && list.iter().all(|h| want.iter().any(|w| text_eq(h, w))),
                ),
                Value::Number(n) => holds(
                    want.iter()
                        .any(|w| crate::value::parse_number(w).is_some_and(|x| x == *n)),
                ),
                other => {
                    let text = as_text(other, scope);
                    holds(want.iter().any(|w| text_eq(&text, w)))
                }
            }
        }
        Operator::IsTrue | Operator::IsFalse => {
            let value = match left {
                Value::Missing => Some(false),
                other => other.as_bool(),
            };
            match value {
                Some(b) => holds(b == matches!(op, Operator::IsTrue)),
                None => mismatch(ValueKind::Bool, left),
            }
        }
    }
}

/// A date or instant, for date operators.
#[derive(Debug, Clone, Copy)]
enum Moment {
    Date(NaiveDate),
    Instant(DateTime<Utc>),
}

impl Moment {
    fn date(self, timezone: &Zone) -> NaiveDate {
        match self {
            Moment::Date(d) => d,
            Moment::Instant(i) => local_date(i, timezone),
        }
    }
}

fn as_moment(value: &Value<'_>, scope: &Scope<'_>) -> Option<Moment> {
    match value {
        Value::Date(d) => Some(Moment::Date(*d)),
        Value::Instant(i) => Some(Moment::Instant(*i)),
        Value::Number(n) => DateTime::from_timestamp(*n as i64, 0).map(Moment::Instant),
        Value::Text(t) => match parse_date(t, scope.timezone())? {
            ParsedDate::Date(d) => Some(Moment::Date(d)),
            ParsedDate::Instant(i) => Some(Moment::Instant(i)),
        },
        _ => None,
    }
}

fn as_text<'v>(value: &'v Value<'_>, scope: &Scope<'_>) -> Cow<'v, str> {
    match value {
        Value::Text(t) => Cow::Borrowed(t.as_ref()),
        other => {
            let mut s = String::new();
            other.write_text(&mut s, scope.timezone());
            Cow::Owned(s)
        }
    }
}

/// The items of a list, or of comma-separated text.
fn items<'v>(value: &'v Value<'_>) -> Vec<&'v str> {
    match value {
        Value::List(list) => list.iter().map(str::trim).collect(),
        Value::Text(t) => t
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

fn equals(left: &Value<'_>, right: &Value<'_>, scope: &Scope<'_>) -> Verdict {
    // The manual: "both lower and upper fields have the same data, the result does not change
    // when you rearrange them". Text (a literal, a variable) against a date or a list compares
    // as that date or list, whichever side it is on.
    if matches!(left, Value::Text(_))
        && matches!(right, Value::Instant(_) | Value::Date(_) | Value::List(_))
    {
        return equals(right, left, scope);
    }
    match left {
        Value::Missing => Verdict {
            result: right.is_empty(),
            reason: Some(Reason::MissingValue),
        },
        Value::Number(l) => match right.as_number() {
            Some(r) => holds((l - r).abs() < 1e-9),
            None => mismatch(ValueKind::Number, right),
        },
        Value::Bool(l) => match right.as_bool() {
            Some(r) => holds(*l == r),
            None => mismatch(ValueKind::Bool, right),
        },
        Value::Instant(_) | Value::Date(_) => {
            let tz = scope.timezone();
            let (Some(l), Some(r)) = (as_moment(left, scope), as_moment(right, scope)) else {
                return mismatch(ValueKind::Date, right);
            };
            holds(match (l, r) {
                (Moment::Instant(a), Moment::Instant(b)) => a == b,
                (a, b) => a.date(tz) == b.date(tz),
            })
        }
        Value::List(_) => {
            let have = items(left);
            let want = items(right);
            holds(
                have.len() == want.len() && have.iter().all(|h| want.iter().any(|w| text_eq(h, w))),
            )
        }
        Value::Text(l) => match right {
            Value::Number(r) => {
                holds(crate::value::parse_number(l).is_some_and(|x| (x - r).abs() < 1e-9))
            }
            Value::Bool(r) => holds(crate::value::parse_bool(l) == Some(*r)),
            Value::Text(r) => holds(text_eq(l.trim(), r.trim())),
            other => holds(text_eq(l.trim(), as_text(other, scope).trim())),
        },
    }
}

fn text_test(
    left: &Value<'_>,
    right: &Value<'_>,
    scope: &Scope<'_>,
    test: fn(&str, &str) -> bool,
) -> Verdict {
    let needle = as_text(right, scope);
    let result = match left {
        Value::List(list) => list.iter().any(|item| test(item, &needle)),
        other => test(&as_text(other, scope), &needle),
    };
    Verdict {
        result,
        reason: matches!(left, Value::Missing).then_some(Reason::MissingValue),
    }
}

/// Case-insensitive equality (ASCII fast path, Unicode lowercase otherwise).
pub fn text_eq(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

fn contains_ci(haystack: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    if haystack.is_ascii() && needle.is_ascii() {
        let (h, n) = (haystack.as_bytes(), needle.as_bytes());
        return h.len() >= n.len() && h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

fn starts_with_ci(haystack: &str, needle: &str) -> bool {
    if haystack.is_ascii() && needle.is_ascii() {
        return haystack.len() >= needle.len()
            && haystack.as_bytes()[..needle.len()].eq_ignore_ascii_case(needle.as_bytes());
    }
    haystack.to_lowercase().starts_with(&needle.to_lowercase())
}

fn ends_with_ci(haystack: &str, needle: &str) -> bool {
    if haystack.is_ascii() && needle.is_ascii() {
        return haystack.len() >= needle.len()
            && haystack.as_bytes()[haystack.len() - needle.len()..]
                .eq_ignore_ascii_case(needle.as_bytes());
    }
    haystack.to_lowercase().ends_with(&needle.to_lowercase())
}
