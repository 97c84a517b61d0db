//! The debugger's runs, DOM-free so `cargo test` covers them: one [`Run`] from either log (a rule's
//! or an entity's), the outcome it is filtered by, the link to its entity in Kommo, and what a
//! replay against the current rule changed.

use domain::api::{EntityRun, ExecutionEntry, Verdict};
use domain::eval::{BlockStatus, Trace};
use domain::event::EntityRef;
use domain::path::EntityType;

/// One logged run of a rule, whichever log it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// Its id in the debugger log.
    pub id: i64,
    /// The rule.
    pub rule_id: i64,
    /// The stored event that started it (a replay needs one).
    pub event_id: Option<i64>,
    /// What became of it.
    pub verdict: Verdict,
    /// When it started, Unix milliseconds.
    pub started_at: i64,
    /// How long it took.
    pub duration_ms: i64,
    /// Kommo operations it performed.
    pub operations: i64,
    /// The log's trace document: `trace` (the evaluation), `actions` (results), `event`, `loop`.
    pub trace: serde_json::Value,
}

impl From<ExecutionEntry> for Run {
    fn from(e: ExecutionEntry) -> Self {
        let verdict = e.verdict.unwrap_or(match e.outcome.as_str() {
            "error" => Verdict::Error,
            "loop" => Verdict::Loop,
            _ => Verdict::Fired,
        });
        Run {
            id: e.id,
            rule_id: e.rule_id,
            event_id: e.event_id,
            verdict,
            started_at: e.started_at,
            duration_ms: e.duration_ms,
            operations: e.operations,
            trace: e.trace,
        }
    }
}

impl From<EntityRun> for Run {
    fn from(e: EntityRun) -> Self {
        Run {
            id: e.id,
            rule_id: e.rule_id,
            event_id: e.event_id,
            verdict: e.verdict,
            started_at: e.started_at,
            duration_ms: e.duration_ms,
            operations: e.operations,
            trace: e.trace,
        }
    }
}

impl Run {
    /// The evaluation, if the run got that far (a loop-stopped run has none).
    pub fn evaluation(&self) -> Option<Trace> {
        crate::json::from_value(self.trace.get("trace")?).ok()
    }

    /// The entity of its event.
    pub fn entity(&self) -> Option<EntityRef> {
        crate::json::from_value(self.trace.get("event")?.get("entity")?).ok()
    }

    /// The event's kind, e.g. `entity_added`.
    pub fn event_kind(&self) -> Option<&str> {
        self.trace.pointer("/event/kind/kind")?.as_str()
    }

    /// The outcome it is shown and filtered by.
    pub fn outcome(&self) -> RunOutcome {
        match self.verdict {
            Verdict::Error | Verdict::Loop => RunOutcome::Error,
            Verdict::DidNotMatch => RunOutcome::NoMatch,
            Verdict::FrequencyExceeded | Verdict::OnceAlreadyFired => RunOutcome::Frequency,
            Verdict::OutsideActiveHours => RunOutcome::OutsideHours,
            Verdict::Fired => {
                let deferred = self.evaluation().is_some_and(|t| {
                    t.blocks
                        .iter()
                        .any(|b| matches!(b.status, BlockStatus::Deferred { .. }))
                });
                let scheduled = self.trace["actions"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|r| r["status"] == "scheduled"));
                if deferred || scheduled {
                    RunOutcome::Waiting
                } else {
                    RunOutcome::Completed
                }
            }
        }
    }
}

/// What became of a run, as the debugger shows and filters it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// A block held (or the else scenario ran) and every action succeeded.
    Completed,
    /// No block held.
    NoMatch,
    /// The rule ran for the entity too recently, or runs once and already had.
    Frequency,
    /// A block or an action waits for its delay.
    Waiting,
    /// Now was outside the rule's active hours.
    OutsideHours,
    /// An action failed, or the run stopped in a loop.
    Error,
}

impl RunOutcome {
    /// Every outcome, in the filter's order.
    pub const ALL: [RunOutcome; 6] = [
        RunOutcome::Completed,
        RunOutcome::NoMatch,
        RunOutcome::Frequency,
        RunOutcome::Waiting,
        RunOutcome::OutsideHours,
        RunOutcome::Error,
    ];

    /// Its name in the filter's value.
    pub fn key(self) -> &'static str {
        match self {
            RunOutcome::Completed => "completed",
            RunOutcome::NoMatch => "no_match",
            RunOutcome::Frequency => "frequency",
            RunOutcome::Waiting => "waiting",
            RunOutcome::OutsideHours => "outside_hours",
            RunOutcome::Error => "error",
        }
    }

    /// The outcome a filter value names.
    pub fn from_key(key: &str) -> Option<RunOutcome> {
        Self::ALL.into_iter().find(|o| o.key() == key)
    }

    /// Its words' text key.
    pub fn text_key(self) -> &'static str {
        match self {
            RunOutcome::Completed => "trace_completed",
            RunOutcome::NoMatch => "trace_no_match",
            RunOutcome::Frequency => "trace_frequency",
            RunOutcome::Waiting => "trace_waiting",
            RunOutcome::OutsideHours => "debugger_outside_hours",
            RunOutcome::Error => "debugger_error",
        }
    }

    /// Its CSS class and icon: the same look as a block with that status.
    pub fn look(self) -> (&'static str, &'static str) {
        match self {
            RunOutcome::Completed => ("rb-status-completed", "✓"),
            RunOutcome::NoMatch => ("rb-status-no-match", "✕"),
            RunOutcome::Frequency => ("rb-status-frequency", "⏸"),
            RunOutcome::Waiting => ("rb-status-waiting", "⏱"),
            RunOutcome::OutsideHours => ("rb-status-not-run", "–"),
            RunOutcome::Error => ("rb-status-error", "!"),
        }
    }
}

/// The Kommo page of an entity: `https://<subdomain>.kommo.com/leads/detail/<id>` (contacts,
/// companies likewise; a task opens in its list).
pub fn kommo_url(subdomain: &str, entity: EntityRef) -> String {
    let section = match entity.entity_type {
        EntityType::Lead => "leads/detail",
        EntityType::Contact => "contacts/detail",
        EntityType::Company => "companies/detail",
        EntityType::Task => return format!("https://{subdomain}.kommo.com/todo/list/"),
    };
    format!("https://{subdomain}.kommo.com/{section}/{}", entity.id)
}

/// The path segment of an entity type in our API (`leads`, `contacts`, `companies`).
pub fn api_segment(entity_type: EntityType) -> &'static str {
    match entity_type {
        EntityType::Lead => "leads",
        EntityType::Contact => "contacts",
        EntityType::Company => "companies",
        EntityType::Task => "tasks",
    }
}

/// What the entity search box holds: an id, or a name to look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntityQuery {
    /// An entity id (`123`, `#123`).
    Id(i64),
    /// Text to search for by name, phone or email.
    Text(String),
    /// Nothing.
    Empty,
}

/// Reads the entity search box.
pub fn entity_query(input: &str) -> EntityQuery {
    let text = input.trim();
    let digits = text.trim_start_matches('#');
    if text.is_empty() {
        EntityQuery::Empty
    } else if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        digits
            .parse()
            .ok()
            .filter(|id| *id > 0)
            .map_or_else(|| EntityQuery::Text(text.to_owned()), EntityQuery::Id)
    } else {
        EntityQuery::Text(text.to_owned())
    }
}

/// One verdict that changed between the logged run and its replay.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A block's status changed.
    Block {
        /// Its name (or number).
        block: String,
        /// Before.
        before: BlockStatus,
        /// In the replay.
        after: BlockStatus,
    },
    /// A condition's result changed.
    Condition {
        /// Its block's name.
        block: String,
        /// Its number within the block, from 1.
        number: usize,
        /// Before.
        before: bool,
        /// In the replay.
        after: bool,
    },
    /// The current rule has a block the logged run did not.
    BlockAdded {
        /// Its name.
        block: String,
    },
    /// The logged run had a block the current rule does not.
    BlockRemoved {
        /// Its name.
        block: String,
    },
    /// Whether the else scenario ran changed.
    Else {
        /// In the replay.
        after: bool,
    },
}

fn block_name(name: &str, index: usize) -> String {
    if name.is_empty() {
        format!("#{}", index + 1)
    } else {
        name.to_owned()
    }
}

/// Which blocks and conditions changed verdict between the logged evaluation and the replay
/// (blocks paired by position; a deferred block's time alone is no change).
pub fn diff(before: &Trace, after: &Trace) -> Vec<Change> {
    let mut changes = Vec::new();
    let same_kind =
        |a: &BlockStatus, b: &BlockStatus| std::mem::discriminant(a) == std::mem::discriminant(b);
    for index in 0..before.blocks.len().max(after.blocks.len()) {
        match (before.blocks.get(index), after.blocks.get(index)) {
            (Some(b), Some(a)) => {
                let name = block_name(&a.name, index);
                if !same_kind(&b.status, &a.status) {
                    changes.push(Change::Block {
                        block: name.clone(),
                        before: b.status,
                        after: a.status,
                    });
                }
                for (number, (cb, ca)) in b.conditions.iter().zip(&a.conditions).enumerate() {
                    if cb.result != ca.result {
                        changes.push(Change::Condition {
                            block: name.clone(),
                            number: number + 1,
                            before: cb.result,
                            after: ca.result,
                        });
                    }
                }
            }
            (None, Some(a)) => changes.push(Change::BlockAdded {
                block: block_name(&a.name, index),
            }),
            (Some(b), None) => changes.push(Change::BlockRemoved {
                block: block_name(&b.name, index),
            }),
            (None, None) => {}
        }
    }
    if before.else_ran != after.else_ran {
        changes.push(Change::Else {
            after: after.else_ran,
        });
    }
    changes
}

/// The evaluation of a replay's answer (`POST /api/v1/rules/{id}/replay`: one per item of the
/// stored event) that concerns `entity`, else the first.
pub fn replayed_trace(answer: &serde_json::Value, entity: Option<EntityRef>) -> Option<Trace> {
    let items = answer.as_array()?;
    let entity_json = entity.and_then(|e| serde_json::to_value(e).ok());
    let item = items
        .iter()
        .find(|i| entity_json.is_some() && i.pointer("/event/entity") == entity_json.as_ref())
        .or_else(|| items.first())?;
    crate::json::from_value(item.get("trace")?).ok()
}

/// A duration in nanoseconds as a person reads it: `850 ns`, `12.4 µs`, `3.2 ms`.
pub fn show_nanos(ns: u64) -> String {
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} µs", ns as f64 / 1_000.0)
    } else {
        format!("{:.1} ms", ns as f64 / 1_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn trace(blocks: serde_json::Value, else_ran: bool) -> Trace {
        serde_json::from_value(json!({
            "evaluated_at": "2026-11-02T10:00:00Z", "event": "entity_added", "trigger": "entity_added",
            "blocks": blocks, "else_ran": else_ran, "actions": []
        }))
        .expect("a trace")
    }

    fn condition(result: bool) -> serde_json::Value {
        json!({"index": 0, "left": {"type": "text", "value": "RETAIL form order"}, "op": "equals",
               "right": {"type": "text", "value": "WHOLESALE form order"}, "result": result})
    }

    fn entry(verdict: Option<Verdict>, outcome: &str, trace: serde_json::Value) -> Run {
        Run::from(ExecutionEntry {
            id: 1,
            rule_id: 2,
            event_id: Some(3),
            outcome: outcome.into(),
            verdict,
            started_at: 0,
            duration_ms: 4,
            operations: 1,
            trace,
        })
    }

    #[test]
    fn each_verdict_has_its_outcome_and_waiting_runs_are_told_apart() {
        let completed = json!({"trace": trace(json!([{"index": 0, "name": "b", "status": "completed", "conditions": []}]), false), "actions": [{"status": "ok"}]});
        assert_eq!(
            entry(Some(Verdict::Fired), "ok", completed).outcome(),
            RunOutcome::Completed
        );
        let deferred = json!({"trace": trace(json!([{"index": 0, "name": "b", "status": "deferred", "until": "2026-11-02T11:00:00Z", "conditions": []}]), false)});
        assert_eq!(
            entry(Some(Verdict::Fired), "ok", deferred).outcome(),
            RunOutcome::Waiting
        );
        let scheduled = json!({"actions": [{"status": "scheduled"}]});
        assert_eq!(
            entry(Some(Verdict::Fired), "ok", scheduled).outcome(),
            RunOutcome::Waiting
        );
        assert_eq!(
            entry(Some(Verdict::DidNotMatch), "ok", json!({})).outcome(),
            RunOutcome::NoMatch
        );
        assert_eq!(
            entry(Some(Verdict::OnceAlreadyFired), "ok", json!({})).outcome(),
            RunOutcome::Frequency
        );
        assert_eq!(
            entry(Some(Verdict::OutsideActiveHours), "ok", json!({})).outcome(),
            RunOutcome::OutsideHours
        );
        // A log entry written before verdicts were kept reads its outcome.
        assert_eq!(entry(None, "loop", json!({})).outcome(), RunOutcome::Error);
        assert_eq!(entry(None, "error", json!({})).outcome(), RunOutcome::Error);
        for outcome in RunOutcome::ALL {
            assert_eq!(RunOutcome::from_key(outcome.key()), Some(outcome));
        }
    }

    #[test]
    fn a_run_names_its_entity_and_event_and_links_to_kommo() {
        let run = entry(
            None,
            "ok",
            json!({"event": {"entity": {"type": "lead", "id": 123}, "kind": {"kind": "entity_added"}}}),
        );
        let entity = run.entity().expect("an entity");
        assert_eq!(run.event_kind(), Some("entity_added"));
        assert_eq!(
            kommo_url("acme", entity),
            "https://acme.kommo.com/leads/detail/123"
        );
        let contact = EntityRef {
            entity_type: EntityType::Contact,
            id: 9,
        };
        assert_eq!(
            kommo_url("acme", contact),
            "https://acme.kommo.com/contacts/detail/9"
        );
        let company = EntityRef {
            entity_type: EntityType::Company,
            id: 7,
        };
        assert_eq!(
            kommo_url("acme", company),
            "https://acme.kommo.com/companies/detail/7"
        );
        assert_eq!(api_segment(EntityType::Company), "companies");
    }

    #[test]
    fn the_search_box_takes_an_id_or_a_name() {
        assert_eq!(entity_query(" 123 "), EntityQuery::Id(123));
        assert_eq!(entity_query("#45"), EntityQuery::Id(45));
        assert_eq!(
            entity_query("RETAIL form"),
            EntityQuery::Text("RETAIL form".into())
        );
        assert_eq!(entity_query("0"), EntityQuery::Text("0".into()));
        assert_eq!(
            entity_query("99999999999999999999"),
            EntityQuery::Text("99999999999999999999".into())
        );
        assert_eq!(entity_query("   "), EntityQuery::Empty);
    }

    #[test]
    fn a_replay_shows_which_blocks_and_conditions_changed_verdict() {
        let before = trace(
            json!([
                {"index": 0, "name": "If wholesale", "status": "conditions_not_met", "conditions": [condition(false)]},
                {"index": 1, "name": "If retail", "status": "completed", "conditions": [condition(true)]},
            ]),
            false,
        );
        let after = trace(
            json!([
                {"index": 0, "name": "If wholesale", "status": "completed", "conditions": [condition(true)]},
                {"index": 1, "name": "If retail", "status": "completed", "conditions": [condition(true)]},
                {"index": 2, "name": "New", "status": "completed", "conditions": []},
            ]),
            true,
        );
        assert_eq!(
            diff(&before, &after),
            vec![
                Change::Block {
                    block: "If wholesale".into(),
                    before: BlockStatus::ConditionsNotMet,
                    after: BlockStatus::Completed
                },
                Change::Condition {
                    block: "If wholesale".into(),
                    number: 1,
                    before: false,
                    after: true
                },
                Change::BlockAdded {
                    block: "New".into()
                },
                Change::Else { after: true },
            ]
        );
        assert_eq!(diff(&before, &before), vec![]);
        assert_eq!(
            diff(&after, &before)[2],
            Change::BlockRemoved {
                block: "New".into()
            }
        );
    }

    #[test]
    fn the_replayed_item_of_the_runs_entity_is_chosen() {
        let answer = json!([
            {"event": {"entity": {"type": "lead", "id": 1}}, "trace": trace(json!([]), false)},
            {"event": {"entity": {"type": "lead", "id": 2}}, "trace": trace(json!([]), true)},
        ]);
        let lead = |id| {
            Some(EntityRef {
                entity_type: EntityType::Lead,
                id,
            })
        };
        assert!(
            replayed_trace(&answer, lead(2))
                .expect("the second")
                .else_ran
        );
        assert!(
            !replayed_trace(&answer, lead(3))
                .expect("the first")
                .else_ran
        );
        assert!(replayed_trace(&json!([]), lead(1)).is_none());
    }

    #[test]
    fn durations_read_in_their_unit() {
        assert_eq!(show_nanos(850), "850 ns");
        assert_eq!(show_nanos(12_400), "12.4 µs");
        assert_eq!(show_nanos(3_200_000), "3.2 ms");
    }
}
