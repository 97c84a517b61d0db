//! Bodies of the backend's HTTP API, shared so that the widget and the backend cannot drift apart.

use serde::{Deserialize, Serialize};

/// `GET /api/v1/me`: who the verified disposable token says the caller is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Me {
    /// The Kommo account id: the tenant.
    pub account_id: i64,
    /// The account's subdomain, e.g. `acme` for `acme.kommo.com`.
    pub subdomain: String,
    /// The Kommo user who opened the widget.
    pub user_id: i64,
    /// Whether that user is an account administrator (only admins edit rules).
    pub is_admin: bool,
}

/// An `application/problem+json` body (RFC 9457) with a machine-readable `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Problem {
    /// A URI reference naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short, human-readable summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// A sentence explaining this occurrence.
    pub detail: String,
    /// A stable, machine-readable code such as `token_expired`.
    pub code: String,
    /// Field-level problems, each with a JSON pointer into the request body (for a rule, into
    /// the rule definition).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One problem at one place of a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FieldError {
    /// Where the problem is: a JSON pointer (RFC 6901), e.g. `/blocks/1/conditions/2`; into the
    /// rule definition for a rule's problems (`""` is all of it), else into the request body.
    pub path: String,
    /// A stable code for the problem.
    pub code: String,
    /// A sentence for the user.
    pub message: String,
}

/// Milliseconds since the Unix epoch, as the API writes instants.
pub type Millis = i64;

/// One line of `GET /api/v1/rules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RuleSummary {
    /// The rule's id in this account.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Whether it runs.
    pub enabled: bool,
    /// The stored version; every save adds one.
    pub version: i64,
    /// When it was last saved.
    pub updated_at: Millis,
    /// The kind of its trigger, as the rule JSON names it (`manual`, `entity_added`, …).
    #[serde(default)]
    pub trigger: String,
    /// The entity type its trigger is about (`lead`, `contact`, `company`, `task`), if any.
    #[serde(default)]
    pub entity: Option<String>,
    /// The whole trigger, so a list can say it in words ("when a lead moves to Qualified"); absent
    /// for a trigger this version cannot read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_definition: Option<crate::rule::Trigger>,
}

/// `POST /api/v1/rules/{id}/run`: run a manual rule on entities now (the card button, bulk runs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RunRule {
    /// The entity type in Kommo's URLs: `leads`, `contacts` or `companies`.
    pub entity_type: String,
    /// The entities to run it on.
    pub entity_ids: Vec<i64>,
}

/// The answer to [`RunRule`]: how many runs were queued, and the launch they belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Queued {
    /// The number of runs queued.
    pub queued: u64,
    /// The launch: `GET /api/v1/launches/{launch_id}` tells how its runs went.
    #[serde(default)]
    pub launch_id: i64,
}

/// `GET /api/v1/launches/{id}`: how the runs of one launch (a card's button, a list's bulk run)
/// went. `done + skipped + failed + pending == total`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Launch {
    /// The launch's id in this account.
    pub id: i64,
    /// The rule launched.
    pub rule_id: i64,
    /// The entity type in Kommo's URLs: `leads`, `contacts` or `companies`.
    pub entity_type: String,
    /// Who launched it (a Kommo user id).
    pub user_id: i64,
    /// When it was launched.
    pub created_at: Millis,
    /// The entities it runs on, one run each.
    pub total: u64,
    /// Runs that did what the rule says (verdict `fired`).
    pub done: u64,
    /// Runs that did nothing, each for a [`SkipReason`].
    pub skipped: u64,
    /// Runs in which an action failed, or that could not run at all.
    pub failed: u64,
    /// Runs not finished yet: waiting in the queue or running.
    pub pending: u64,
    /// Whether someone cancelled it; its runs not started by then were skipped as `cancelled`.
    pub cancelled: bool,
    /// The skipped and failed runs, by entity id, a page of them (`?limit=`, `?offset=`); done
    /// and pending runs are only counted.
    pub entities: Vec<LaunchEntity>,
}

impl Launch {
    /// Whether every run has finished.
    pub fn finished(&self) -> bool {
        self.pending == 0
    }
}

/// One skipped or failed run of a launch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LaunchEntity {
    /// The entity the run was for.
    pub entity_id: i64,
    /// `skipped` or `failed`.
    pub status: RunStatus,
    /// Why it was skipped; `None` for a failed run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<SkipReason>,
    /// What failed: the first action's error, or why the run could not start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Where one run of a launch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Waiting in the queue or running.
    Pending,
    /// The rule did what it says.
    Done,
    /// The rule did nothing, for a [`SkipReason`].
    Skipped,
    /// An action failed, or the run could not start.
    Failed,
}

impl RunStatus {
    /// The snake_case name, as stored and as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Done => "done",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }

    /// Reads a stored name back.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Pending, Self::Done, Self::Skipped, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// Why a run of a launch did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// No block's conditions held and the rule has no else scenario.
    DidNotMatch,
    /// The rule ran for this entity too recently (its frequency setting).
    FrequencyExceeded,
    /// The rule runs once per entity and already had.
    OnceAlreadyFired,
    /// Now was outside the rule's active hours.
    OutsideActiveHours,
    /// Stopped: too deep in a chain of Rulebook's own changes.
    Loop,
    /// The launch was cancelled before the run started.
    Cancelled,
    /// The rule was deleted before the run started.
    RuleDeleted,
}

impl SkipReason {
    /// The snake_case name, as stored and as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DidNotMatch => "did_not_match",
            Self::FrequencyExceeded => "frequency_exceeded",
            Self::OnceAlreadyFired => "once_already_fired",
            Self::OutsideActiveHours => "outside_active_hours",
            Self::Loop => "loop",
            Self::Cancelled => "cancelled",
            Self::RuleDeleted => "rule_deleted",
        }
    }

    /// Reads a stored name back; `None` for a name this version does not know.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::DidNotMatch,
            Self::FrequencyExceeded,
            Self::OnceAlreadyFired,
            Self::OutsideActiveHours,
            Self::Loop,
            Self::Cancelled,
            Self::RuleDeleted,
        ]
        .into_iter()
        .find(|r| r.as_str() == name)
    }
}

impl Verdict {
    /// What a rule run with this verdict counts as in its launch.
    pub fn launch_status(self) -> (RunStatus, Option<SkipReason>) {
        match self {
            Self::Fired => (RunStatus::Done, None),
            Self::Error => (RunStatus::Failed, None),
            Self::DidNotMatch => (RunStatus::Skipped, Some(SkipReason::DidNotMatch)),
            Self::FrequencyExceeded => (RunStatus::Skipped, Some(SkipReason::FrequencyExceeded)),
            Self::OnceAlreadyFired => (RunStatus::Skipped, Some(SkipReason::OnceAlreadyFired)),
            Self::OutsideActiveHours => (RunStatus::Skipped, Some(SkipReason::OutsideActiveHours)),
            Self::Loop => (RunStatus::Skipped, Some(SkipReason::Loop)),
        }
    }
}

/// What stands for a secret that is not shown: a webhook header's value, an inbound key.
pub const REDACTED: &str = "***";

/// Replaces the header values of every "send webhook" action in `value` (a rule, a version, a
/// debugger trace or plan: any JSON holding `{"type": "send_webhook", "headers": [...]}`) with
/// [`REDACTED`], keeping the header names. Headers carry credentials (`Authorization`); only
/// administrators see them.
pub fn redact_webhook_headers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("send_webhook") {
                if let Some(Value::Array(headers)) = map.get_mut("headers") {
                    for header in headers {
                        if let Some(v) = header.get_mut("value") {
                            *v = Value::String(REDACTED.to_owned());
                        }
                    }
                }
            }
            map.values_mut().for_each(redact_webhook_headers);
        }
        Value::Array(items) => items.iter_mut().for_each(redact_webhook_headers),
        _ => {}
    }
}

/// `GET /api/v1/rules/{id}`: a rule with its body (the JSON of [`crate::rule::Rule`]). Its `Debug`
/// shows neither the inbound key nor webhook header values.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RuleRecord {
    /// The rule's id in this account.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Whether it runs.
    pub enabled: bool,
    /// The stored version.
    pub version: i64,
    /// The rule itself.
    #[cfg_attr(feature = "schema", schemars(with = "crate::rule::Rule"))]
    pub rule: serde_json::Value,
    /// The key of the rule's inbound webhook URL.
    #[serde(default)]
    pub inbound_hook_key: String,
    /// The rule's digital-pipeline key (`{id}-{mac}`), which a DP action's `rule_id` setting holds
    /// to run this rule; not the inbound webhook key.
    #[serde(default)]
    pub dp_key: String,
    /// When it was created.
    pub created_at: Millis,
    /// When it was last saved.
    pub updated_at: Millis,
}

impl std::fmt::Debug for RuleRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut rule = self.rule.clone();
        redact_webhook_headers(&mut rule);
        f.debug_struct("RuleRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("enabled", &self.enabled)
            .field("version", &self.version)
            .field("rule", &rule)
            .field("inbound_hook_key", &REDACTED)
            .field("dp_key", &REDACTED)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// `POST /api/v1/rules` and `PUT /api/v1/rules/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SaveRule {
    /// The rule's name.
    pub name: String,
    /// The rule itself.
    #[cfg_attr(feature = "schema", schemars(with = "crate::rule::Rule"))]
    pub rule: serde_json::Value,
    /// On save: the version the edit started from; a newer stored version answers 409.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_version: Option<i64>,
}

/// One run of a rule in its debugger log (`GET /api/v1/rules/{id}/log`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ExecutionEntry {
    /// The run's id.
    pub id: i64,
    /// The rule that ran.
    pub rule_id: i64,
    /// The stored event that started it, if any.
    #[serde(default)]
    pub event_id: Option<i64>,
    /// How it ended: `ok`, `error` (an action failed) or `loop` (the event chain was too deep).
    pub outcome: String,
    /// What became of it (fired, did not match, frequency exceeded, …), for the debugger's filter.
    #[serde(default)]
    pub verdict: Option<Verdict>,
    /// When it started.
    pub started_at: Millis,
    /// How long it took.
    pub duration_ms: i64,
    /// Kommo operations it performed.
    pub operations: i64,
    /// The evaluation trace and action results.
    pub trace: serde_json::Value,
}

/// A global variable (`GET /api/v1/variables`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Variable {
    /// Its name, used as `{name}` in templates.
    pub name: String,
    /// Its value (at most 30,000 characters).
    pub value: String,
    /// When it last changed.
    pub updated_at: Millis,
}

/// A delayed or failed job of an entity (`GET /api/v1/entities/{type}/{id}/jobs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct JobInfo {
    /// The job's id.
    pub id: i64,
    /// Its kind, e.g. `run_delayed_action`.
    pub kind: String,
    /// `pending` or `dead`.
    pub state: String,
    /// When it falls due (or is retried), Unix milliseconds.
    pub run_at: Millis,
    /// Attempts so far.
    pub attempts: i64,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// Its rule.
    pub rule_id: Option<i64>,
    /// Its block.
    pub block_id: Option<String>,
    /// Its action.
    pub action_id: Option<String>,
    /// The entity type it acts on.
    pub entity_type: Option<String>,
    /// The entity id it acts on.
    pub entity_id: Option<i64>,
    /// Whether a worker holds it right now.
    pub running: bool,
}

/// The answer to a cancellation: how many jobs it removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Cancelled {
    /// The number of jobs cancelled.
    pub cancelled: u64,
}

/// What became of one rule's run for an entity's event (`GET /api/v1/entities/{type}/{id}/runs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A block's conditions held (or the else scenario ran, or a block waits for its delay) and
    /// every action that ran succeeded.
    Fired,
    /// No block's conditions held and there is no else scenario: nothing was done.
    DidNotMatch,
    /// The rule ran for this entity too recently (its frequency setting).
    FrequencyExceeded,
    /// The rule runs once per entity and already had.
    OnceAlreadyFired,
    /// Now was outside the rule's active hours.
    OutsideActiveHours,
    /// An action failed.
    Error,
    /// Stopped: the event was too deep in a chain of Rulebook's own changes.
    Loop,
}

impl Verdict {
    /// The snake_case name, as stored and as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fired => "fired",
            Self::DidNotMatch => "did_not_match",
            Self::FrequencyExceeded => "frequency_exceeded",
            Self::OnceAlreadyFired => "once_already_fired",
            Self::OutsideActiveHours => "outside_active_hours",
            Self::Error => "error",
            Self::Loop => "loop",
        }
    }

    /// Reads a stored name back; `None` for a name this version does not know.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Fired,
            Self::DidNotMatch,
            Self::FrequencyExceeded,
            Self::OnceAlreadyFired,
            Self::OutsideActiveHours,
            Self::Error,
            Self::Loop,
        ]
        .into_iter()
        .find(|v| v.as_str() == name)
    }
}

/// A condition that did not hold, as the run saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FailedCondition {
    /// The block's index.
    pub block: usize,
    /// The block's name.
    pub block_name: String,
    /// The condition's index within its block.
    pub condition: usize,
    /// What the condition reads, as the rule JSON writes it (e.g. `{"path": "lead.name"}`).
    pub operand: serde_json::Value,
    /// The operator's name.
    pub operator: String,
    /// The value compared with, if the operator takes one.
    #[serde(default)]
    pub expected: Option<crate::value::TraceValue>,
    /// The value the operand had.
    pub actual: crate::value::TraceValue,
    /// Why it did not hold beyond "the values differ", if known.
    #[serde(default)]
    pub reason: Option<crate::eval::Reason>,
}

/// One rule that considered an event of an entity (`GET /api/v1/entities/{type}/{id}/runs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EntityRun {
    /// The run's id in the debugger log.
    pub id: i64,
    /// The rule.
    pub rule_id: i64,
    /// The stored event that started it, if any.
    #[serde(default)]
    pub event_id: Option<i64>,
    /// The event's kind, e.g. `entity_added`.
    #[serde(default)]
    pub event: Option<String>,
    /// When it ran.
    pub started_at: Millis,
    /// What became of it.
    pub verdict: Verdict,
    /// For `did_not_match`: the conditions that did not hold, block by block.
    #[serde(default)]
    pub failed_conditions: Vec<FailedCondition>,
    /// For `error`: the first failed action's error; for `loop`: why it stopped.
    #[serde(default)]
    pub error: Option<String>,
    /// How long it took.
    #[serde(default)]
    pub duration_ms: i64,
    /// Kommo operations it performed.
    #[serde(default)]
    pub operations: i64,
    /// The evaluation trace and action results, as the rule's log keeps them
    /// ([`ExecutionEntry::trace`]), so the debugger draws the run's timeline.
    #[serde(default)]
    pub trace: serde_json::Value,
}

/// A lead, contact or company found by `GET /api/v1/entities/{type}/search?q=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EntityMatch {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
}

/// One rule's counters (`GET /api/v1/rules/stats`), since it was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RuleStats {
    /// The rule.
    pub rule_id: i64,
    /// Its name.
    pub name: String,
    /// Runs: every time the rule considered an event (or a timer of it came due).
    pub runs: i64,
    /// Runs that did something (verdict `fired` or `error`).
    pub fires: i64,
    /// Runs in which an action failed.
    pub errors: i64,
    /// When it last ran, if ever.
    #[serde(default)]
    pub last_run_at: Option<Millis>,
}

/// The operations of one day (`GET /api/v1/account/stats`, `operations_by_day`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DayUsage {
    /// The calendar day in UTC, e.g. `2026-11-21`.
    pub day: String,
    /// Kommo operations performed that day.
    pub operations: i64,
    /// Runs that ended in an error that day.
    pub errors: i64,
}

/// The statistics of an account (`GET /api/v1/account/stats`). Months and days are calendar
/// ones in UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AccountStats {
    /// Jobs due now: waiting for a worker or running.
    pub queue_length: i64,
    /// Jobs that wait for their time (timers, delayed actions, birthdays): not a backlog.
    pub delayed_jobs: i64,
    /// Jobs that failed for good.
    pub dead_jobs: i64,
    /// The calendar month (UTC) of the counters below, e.g. `2026-11`.
    pub month: String,
    /// Kommo operations performed this month.
    pub operations_this_month: i64,
    /// Executions that ended in an error this month.
    pub errors_this_month: i64,
    /// The month before, e.g. `2026-10`.
    pub previous_month: String,
    /// Kommo operations performed in the month before.
    pub operations_previous_month: i64,
    /// Kommo operations performed since the account's first run.
    pub operations_total: i64,
    /// Executions that ended in an error since the account's first run.
    pub errors_total: i64,
    /// This month's days that saw any run, oldest first.
    pub operations_by_day: Vec<DayUsage>,
}

/// An account's settings that Kommo's API does not expose (`GET/PUT /api/v1/account/settings`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AccountSettings {
    /// The account's working hours in its timezone, by weekday (`mon` … `sun`); an interval
    /// whose `to` is not after its `from` runs past midnight. None: every moment is outside.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "serde_json::Value"))]
    pub working_hours: crate::snapshot::WeeklyHours,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn webhook_header_values_are_redacted_wherever_they_appear_and_names_stay() {
        let mut value = json!({
            "blocks": [{"actions": [{"do": {"type": "send_webhook", "url": "https://x.example",
                "headers": [{"key": "Authorization", "value": "Bearer s3cret"}],
                "body": [{"key": "id", "value": "{{lead.id}}"}]}}]}],
            "plan": [{"action": {"type": "send_webhook", "headers": [{"key": "X-Key", "value": "k3y"}]}}],
        });
        redact_webhook_headers(&mut value);
        let text = value.to_string();
        assert!(!text.contains("s3cret") && !text.contains("k3y"), "{text}");
        assert!(
            text.contains("Authorization") && text.contains("{{lead.id}}"),
            "{text}"
        );
    }

    #[test]
    fn debug_output_of_a_rule_record_contains_no_secret() {
        let record = RuleRecord {
            id: 1,
            name: "Hook".into(),
            enabled: true,
            version: 1,
            rule: json!({"blocks": [{"actions": [{"do": {"type": "send_webhook",
                "headers": [{"key": "Authorization", "value": "Bearer s3cret"}]}}]}]}),
            inbound_hook_key: "1-hookS3cret".into(),
            dp_key: "1-dpS3cret".into(),
            created_at: 0,
            updated_at: 0,
        };
        let shown = format!("{record:?} {record:#?}");
        assert!(
            !shown.contains("s3cret")
                && !shown.contains("hookS3cret")
                && !shown.contains("dpS3cret"),
            "{shown}"
        );
        assert!(shown.contains("Hook"), "{shown}");
    }
}
