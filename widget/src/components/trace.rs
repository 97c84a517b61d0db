//! A rule's evaluation as a timeline: each block with its status in colour, icon and words
//! (Completed, Does not match, Run frequency exceeded, Waiting, Not run), each condition's actual
//! value against the expected one in green or red with words, and each action's result. The debugger
//! and "Test on a lead" show it.

use domain::eval::{BlockStatus, ConditionTrace, Trace};
use domain::value::TraceValue;
use yew::prelude::*;

use crate::i18n::Texts;

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

fn condition_row(c: &ConditionTrace, t: &Texts) -> Html {
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
    let detail = format!(
        "{}: {} · {}: {} {} · {}",
        t.get("trace_actual"),
        show_value(&c.left),
        t.get("trace_compared"),
        c.op.replace('_', " "),
        expected,
        reason.clone().unwrap_or_default()
    );
    html! {
        <li class={classes!("rb-trace-condition", class)} tabindex="0" title={detail}>
            <span class="rb-trace-icon" aria-hidden="true">{ if c.result { "✓" } else { "✕" } }</span>
            <span class="rb-trace-actual">{ show_value(&c.left) }</span>
            <span class="rb-trace-op">{ c.op.replace('_', " ") }</span>
            <span class="rb-trace-expected">{ expected }</span>
            <span class="rb-trace-verdict">{ format!("— {word}") }</span>
            if let Some(r) = reason { <span class="rb-trace-reason">{ format!(" ({r})") }</span> }
        </li>
    }
}

/// The timeline of one evaluation.
#[function_component(TraceView)]
pub fn trace_view(props: &TraceViewProps) -> Html {
    let t = &props.texts;
    let results: Vec<serde_json::Value> = props
        .results
        .as_ref()
        .and_then(|r| r.as_array().cloned())
        .unwrap_or_default();
    let blocks = props.trace.blocks.iter().map(|b| {
        let (class, icon, key) = status_look(&b.status);
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
            .map(|a| {
                let result = results.iter().find(|r| {
                    r["block"].as_u64() == Some(b.index as u64)
                        && r["action_index"].as_u64() == Some(a.action_index as u64)
                });
                let status = result
                    .and_then(|r| r["status"].as_str())
                    .map(str::to_owned);
                let error = a
                    .error
                    .clone()
                    .or_else(|| result.and_then(|r| r["error"].as_str()).map(str::to_owned));
                html! {
                    <li class={classes!("rb-trace-action", error.is_some().then_some("rb-fail"))}>
                        { a.kind.replace('_', " ") }
                        if let Some(s) = status { <span class="rb-trace-result">{ format!(" — {s}") }</span> }
                        if let Some(e) = error { <span class="rb-trace-error">{ format!(" — {} {e}", t.get("trace_error")) }</span> }
                    </li>
                }
            });
        html! {
            <li class={classes!("rb-trace-block", class)} aria-label={format!("{name}: {}", t.get(key))}>
                <div class="rb-trace-block-head">
                    <span class="rb-trace-status" aria-hidden="true">{ icon }</span>
                    <strong>{ name }</strong>
                    <span class="rb-trace-status-text">{ t.get(key) }</span>
                </div>
                if !b.conditions.is_empty() {
                    <ul class="rb-trace-conditions">{ for b.conditions.iter().map(|c| condition_row(c, t)) }</ul>
                }
                <ul class="rb-trace-actions">{ for actions }</ul>
            </li>
        }
    });
    html! {
        <div class="rb-trace-view">
            <ol class="rb-timeline">{ for blocks }</ol>
            if props.trace.else_ran { <p class="rb-trace-else">{ t.get("trace_else_ran") }</p> }
        </div>
    }
}
