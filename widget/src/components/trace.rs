//! A rule's evaluation as a timeline: each block with its status in colour, icon and words
//! (Completed, Does not match, Run frequency exceeded, Waiting (delayed), Error, Not run), each
//! condition's actual value against the expected one in green or red with words (hover or focus
//! shows what came in, how it was compared and how long it took), and each action's result or error
//! with a link to its entity in Kommo. The debugger and "Test on a lead" show it.

use domain::eval::{BlockStatus, ConditionTrace, Trace};
use domain::event::EntityRef;
use domain::value::TraceValue;
use yew::prelude::*;

use crate::i18n::Texts;
use crate::runs::{kommo_url, show_nanos};

/// Props of [`TraceView`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct TraceViewProps {
    /// The evaluation.
    pub trace: Trace,
    /// The performed actions' results as the debugger log keeps them (`[{block, index, kind, status,
    /// error}]`), if any.
    #[prop_or_default]
    pub results: Option<serde_json::Value>,
    /// Interface texts.
    pub texts: Texts,
    /// The run's entity and the account's subdomain, for links to it in Kommo.
    #[prop_or_default]
    pub entity: Option<(String, EntityRef)>,
}

/// A value as the user reads it.
pub fn show_value(v: &TraceValue) -> String {
    match v {
        TraceValue::Missing => "∅".into(),
        TraceValue::Text(t) => format!("«{t}»"),
        TraceValue::Number(n) => n.to_string(),
        TraceValue::Bool(b) => b.to_string(),
        TraceValue::Instant(i) => i.format("%Y-%m-%d %H:%M UTC").to_string(),
        TraceValue::Date(d) => d.to_string(),
        TraceValue::List(l) => format!("[{}]", l.join(", ")),
    }
}

/// The status's class, icon and text key.
fn status_look(status: &BlockStatus) -> (&'static str, &'static str, &'static str) {
    match status {
        BlockStatus::Completed => ("rb-status-completed", "✓", "trace_completed"),
        BlockStatus::ConditionsNotMet => ("rb-status-no-match", "✕", "trace_no_match"),
        BlockStatus::FrequencyExceeded => ("rb-status-frequency", "⏸", "trace_frequency"),
        BlockStatus::OnceAlreadyFired => ("rb-status-frequency", "⏸", "trace_once"),
        BlockStatus::Deferred { .. } => ("rb-status-waiting", "⏱", "trace_waiting"),
        BlockStatus::NotRun => ("rb-status-not-run", "–", "trace_not_run"),
    }
}

/// The kind of a value, for "what came in".
fn value_kind(v: &TraceValue) -> &'static str {
    match v {
        TraceValue::Missing => "trace_kind_missing",
        TraceValue::Text(_) => "trace_kind_text",
        TraceValue::Number(_) => "trace_kind_number",
        TraceValue::Bool(_) => "trace_kind_bool",
        TraceValue::Instant(_) | TraceValue::Date(_) => "trace_kind_date",
        TraceValue::List(_) => "trace_kind_list",
    }
}

/// An operator in words, as the builder names it (its raw name for one whose words need an amount).
fn operator_words(op: &str, t: &Texts) -> String {
    let key = format!("op_{op}");
    let words = t.get(&key);
    if words == key || words.contains('{') {
        op.replace('_', " ")
    } else {
        words.to_owned()
    }
}

fn condition_row(c: &ConditionTrace, id: &str, t: &Texts) -> Html {
    let (class, word) = if c.result {
        ("rb-pass", t.get("trace_holds"))
    } else {
        ("rb-fail", t.get("trace_fails"))
    };
    let expected = match (&c.right, &c.right_upper) {
        (Some(r), Some(u)) => format!("{} … {}", show_value(r), show_value(u)),
        (Some(r), None) => show_value(r),
        _ => String::new(),
    };
    let reason = c.reason.as_ref().map(ToString::to_string);
    let op = operator_words(&c.op, t);
    let tip = format!("{id}-tip");
    html! {
        <li class={classes!("rb-trace-condition", class)} tabindex="0" aria-describedby={tip.clone()}>
            <span class="rb-trace-icon" aria-hidden="true">{ if c.result { "✓" } else { "✕" } }</span>
            <span class="rb-trace-actual">{ show_value(&c.left) }</span>
            <span class="rb-trace-op">{ op.clone() }</span>
            <span class="rb-trace-expected">{ expected.clone() }</span>
            <span class="rb-trace-verdict">{ format!("— {word}") }</span>
            if let Some(r) = reason.clone() { <span class="rb-trace-reason">{ format!(" ({r})") }</span> }
            <span class="rb-tooltip" role="tooltip" id={tip}>
                <span>{ format!("{}: {} ({})", t.get("trace_actual"), show_value(&c.left), t.get(value_kind(&c.left))) }</span>
                <span>{ format!("{}: {op} {expected} → {word}", t.get("trace_how_compared")) }
                    if let Some(r) = reason { { format!(" ({r})") } }
                </span>
                <span>{ format!("{}: {}", t.get("trace_took"), c.elapsed_ns.map_or_else(|| t.get("trace_not_timed").to_owned(), show_nanos)) }</span>
            </span>
        </li>
    }
}

/// The words of an action's result status (`ok`, `error`, `scheduled`, `skipped`).
fn result_key(status: &str) -> &'static str {
    match status {
        "ok" => "trace_action_done",
        "error" => "debugger_error",
        "scheduled" => "trace_action_scheduled",
        "skipped" => "trace_action_skipped",
        _ => "trace_action_planned",
    }
}

/// The timeline of one evaluation.
#[function_component(TraceView)]
pub fn trace_view(props: &TraceViewProps) -> Html {
    let t = &props.texts;
    let uid = crate::components::controls::use_control_id("trace");
    let results: Vec<serde_json::Value> = props
        .results
        .as_ref()
        .and_then(|r| r.as_array().cloned())
        .unwrap_or_default();
    let block_error = |index: usize| {
        results.iter().any(|r| {
            r["block"].as_u64() == Some(index as u64) && r["status"].as_str() == Some("error")
        })
    };
    let link = props.entity.as_ref().map(|(subdomain, entity)| {
        let noun = match entity.entity_type {
            domain::path::EntityType::Lead => t.get("lead"),
            domain::path::EntityType::Contact => t.get("debugger_contact"),
            domain::path::EntityType::Company => t.get("debugger_company"),
            domain::path::EntityType::Task => t.get("debugger_task"),
        };
        html! {
            <a class="rb-trace-link" href={kommo_url(subdomain, *entity)} target="_blank" rel="noopener noreferrer">
                { format!("{noun} #{} ↗", entity.id) }
            </a>
        }
    });
    let action_row = |a: &domain::eval::ActionTrace| {
        let result = results.iter().find(|r| {
            r["block"].as_u64() == a.block.map(|b| b as u64)
                && r["action_index"].as_u64() == Some(a.action_index as u64)
        });
        let status = result.and_then(|r| r["status"].as_str()).unwrap_or("");
        let detail = result.and_then(|r| r["detail"].as_str()).map(str::to_owned);
        let took = result.and_then(|r| r["duration_ms"].as_i64());
        let error = a
            .error
            .clone()
            .or_else(|| result.and_then(|r| r["error"].as_str()).map(str::to_owned));
        let word = if result.is_none() && a.error.is_none() {
            None
        } else if error.is_some() {
            Some(t.get("debugger_error"))
        } else {
            Some(t.get(result_key(status)))
        };
        html! {
            <li class={classes!("rb-trace-action", error.is_some().then_some("rb-fail"), (status == "ok").then_some("rb-pass"))}>
                <span class="rb-trace-action-kind">{ a.kind.replace('_', " ") }</span>
                if let Some(w) = word { <span class="rb-trace-result">{ format!(" — {w}") }</span> }
                if let Some(d) = detail { <span class="rb-trace-detail">{ format!(" ({d})") }</span> }
                if let Some(ms) = took { <span class="rb-trace-took">{ format!(" · {ms} ms") }</span> }
                if let Some(e) = error { <span class="rb-trace-error">{ format!(": {e}") }</span> }
                if result.is_some() { { " " }{ link.clone().unwrap_or_default() } }
            </li>
        }
    };
    let blocks = props.trace.blocks.iter().map(|b| {
        let (class, icon, key) = if block_error(b.index) {
            ("rb-status-error", "!", "debugger_error")
        } else {
            status_look(&b.status)
        };
        let name = if b.name.is_empty() {
            format!("{} {}", t.get("builder_block"), b.index + 1)
        } else {
            b.name.clone()
        };
        let actions = props
            .trace
            .actions
            .iter()
            .filter(|a| a.block == Some(b.index))
            .map(action_row);
        html! {
            <li class={classes!("rb-trace-block", class)} aria-label={format!("{name}: {}", t.get(key))}>
                <div class="rb-trace-block-head">
                    <span class="rb-trace-status" aria-hidden="true">{ icon }</span>
                    <strong>{ name }</strong>
                    <span class="rb-trace-status-text">{ t.get(key) }</span>
                </div>
                if !b.conditions.is_empty() {
                    <ul class="rb-trace-conditions">{ for b.conditions.iter().map(|c| condition_row(c, &format!("{uid}-{}-{}", b.index, c.index), t)) }</ul>
                }
                <ul class="rb-trace-actions">{ for actions }</ul>
            </li>
        }
    });
    let else_actions = props
        .trace
        .actions
        .iter()
        .filter(|a| a.block.is_none())
        .map(action_row);
    html! {
        <div class="rb-trace-view">
            <ol class="rb-timeline">{ for blocks }</ol>
            if props.trace.else_ran {
                <p class="rb-trace-else">{ t.get("trace_else_ran") }</p>
                <ul class="rb-trace-actions">{ for else_actions }</ul>
            }
        </div>
    }
}
