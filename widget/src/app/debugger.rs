//! The Debugger tab: a rule's last runs, each with its outcome, timing and full trace (every block,
//! every condition's actual against expected value, every action's result).

use yew::prelude::*;

use super::PageProps;
use crate::{
    components::controls::{Select, SelectOption},
    components::{trace::TraceView, ErrorNotice},
    services,
    state::Remote,
};
use domain::api::{ExecutionEntry, RuleSummary};

/// The Debugger tab.
#[function_component(Debugger)]
pub fn debugger(props: &PageProps) -> Html {
    let t = &props.texts;
    let rules = use_state(|| Remote::<Vec<RuleSummary>>::Loading);
    let nav = use_context::<super::Nav>();
    let selected = use_state(|| nav.and_then(|n| n.runs_of));
    let log = use_state(|| None::<Remote<Vec<ExecutionEntry>>>);
    {
        let (rules, backend) = (rules.clone(), props.backend.clone());
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                rules.set(services::rules(&backend).await.into())
            });
        });
    }
    {
        let (log, backend) = (log.clone(), props.backend.clone());
        use_effect_with(*selected, move |selected| {
            if let Some(id) = *selected {
                log.set(Some(Remote::Loading));
                wasm_bindgen_futures::spawn_local(async move {
                    log.set(Some(services::rule_log(&backend, id).await.into()))
                });
            }
        });
    }
    let on_select = {
        let selected = selected.clone();
        Callback::from(move |value: String| selected.set(value.parse().ok()))
    };
    let picker = match &*rules {
        Remote::Loading => html! { <p class="rb-loading">{ t.get("loading") }</p> },
        Remote::Failed(e) => {
            html! { <ErrorNotice error={e.clone()} texts={props.texts.clone()} /> }
        }
        Remote::Ready(rules) => {
            let options: Vec<SelectOption> = rules
                .iter()
                .map(|r| SelectOption::new(r.id.to_string(), r.name.clone()))
                .collect();
            html! {
                <Select label={t.get("debugger_rule").to_string()} {options} value={selected.map(|id: i64| id.to_string())}
                    placeholder={"—"} on_change={on_select} />
            }
        }
    };
    let entries = match &*log {
        None => Html::default(),
        Some(Remote::Loading) => html! { <p class="rb-loading">{ t.get("loading") }</p> },
        Some(Remote::Failed(e)) => {
            html! { <ErrorNotice error={e.clone()} texts={props.texts.clone()} /> }
        }
        Some(Remote::Ready(entries)) if entries.is_empty() => {
            html! { <p class="rb-empty">{ t.get("debugger_empty") }</p> }
        }
        Some(Remote::Ready(entries)) => html! {
            <ol class="rb-log" data-testid="debugger-log">
                { for entries.iter().map(|e| html! {
                    <li class={classes!("rb-run", format!("rb-run-{}", e.outcome))}>
                        <details>
                            <summary>
                                <span class="rb-run-outcome">{ e.outcome.clone() }</span>
                                <span>{ super::format_millis(e.started_at) }</span>
                                <span>{ format!("{} ms · {} {}", e.duration_ms, e.operations, t.get("debugger_operations")) }</span>
                            </summary>
                            {
                                match serde_json::from_value::<domain::eval::Trace>(e.trace["trace"].clone()) {
                                    Ok(trace) => html! { <TraceView {trace} results={Some(e.trace["actions"].clone())} texts={props.texts.clone()} /> },
                                    Err(_) => html! { <pre class="rb-trace">{ serde_json::to_string_pretty(&e.trace).unwrap_or_default() }</pre> },
                                }
                            }
                        </details>
                    </li>
                }) }
            </ol>
        },
    };
    html! { <div class="rb-debugger-tab">{ picker }{ entries }</div> }
}
