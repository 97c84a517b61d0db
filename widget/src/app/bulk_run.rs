//! The leads-list dialog: run a manual rule on every ticked lead at once. The backend queues one run
//! per lead and batches their Kommo writes, so a thousand leads take seconds, not minutes.

use yew::prelude::*;

use super::{manual_rules, PageProps};
use crate::{components::ErrorNotice, services, state::Remote};
use domain::api::{RuleSummary, RunRule};

/// The bulk-run dialog.
#[function_component(BulkRun)]
pub fn bulk_run(props: &PageProps) -> Html {
    let t = &props.texts;
    let rules = use_state(|| Remote::<Vec<RuleSummary>>::Loading);
    let chosen = use_state(|| None::<i64>);
    let outcome = use_state(|| None::<Remote<u64>>);
    {
        let (rules, backend) = (rules.clone(), props.backend.clone());
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                rules.set(services::rules(&backend).await.into())
            });
        });
    }
    let ids = props.context.selected_ids.clone();
    let on_pick = {
        let chosen = chosen.clone();
        Callback::from(move |e: Event| {
            let select: web_sys::HtmlSelectElement = e.target_unchecked_into();
            chosen.set(select.value().parse().ok());
        })
    };
    let on_run = {
        let (backend, chosen, outcome, ids) = (
            props.backend.clone(),
            chosen.clone(),
            outcome.clone(),
            ids.clone(),
        );
        Callback::from(move |_| {
            let Some(rule) = *chosen else { return };
            let body = RunRule {
                entity_type: "leads".into(),
                entity_ids: ids.clone(),
            };
            let (backend, outcome) = (backend.clone(), outcome.clone());
            outcome.set(Some(Remote::Loading));
            wasm_bindgen_futures::spawn_local(async move {
                let result = services::run_rule(&backend, rule, &body)
                    .await
                    .map(|q| q.queued);
                outcome.set(Some(result.into()));
            });
        })
    };
    let body = match &*rules {
        Remote::Loading => html! { <p class="rb-loading">{ t.get("loading") }</p> },
        Remote::Failed(e) => {
            html! { <ErrorNotice error={e.clone()} texts={props.texts.clone()} /> }
        }
        Remote::Ready(list) => {
            let manual: Vec<&RuleSummary> = manual_rules(list, "lead").collect();
            if manual.is_empty() {
                html! { <p class="rb-empty" data-testid="bulk-no-rules">{ t.get("manual_none") }</p> }
            } else {
                html! {
                    <>
                        <label class="rb-field">
                            <span>{ t.get("bulk_rule") }</span>
                            <select data-testid="bulk-rule" onchange={on_pick}>
                                <option value="" selected={chosen.is_none()}>{ t.get("dp_rule_none") }</option>
                                { for manual.iter().map(|r| html! {
                                    <option value={r.id.to_string()} selected={*chosen == Some(r.id)}>{ r.name.clone() }</option>
                                }) }
                            </select>
                        </label>
                        <button type="button" class="rb-button rb-primary" data-testid="bulk-run"
                            disabled={chosen.is_none() || ids.is_empty() || matches!(*outcome, Some(Remote::Loading))} onclick={on_run}>
                            { format!("{} ({})", t.get("bulk_run"), ids.len()) }
                        </button>
                    </>
                }
            }
        }
    };
    let result = match &*outcome {
        None | Some(Remote::Loading) => Html::default(),
        Some(Remote::Ready(n)) => {
            html! { <p class="rb-saved" data-testid="bulk-queued">{ format!("{} {n}", t.get("bulk_queued")) }</p> }
        }
        Some(Remote::Failed(e)) => {
            html! { <ErrorNotice error={e.clone()} texts={props.texts.clone()} /> }
        }
    };
    html! {
        <section class="rb-page rb-bulk-run" data-location="llist">
            <h2>{ t.get("bulk_title") }</h2>
            <p class="rb-lead" data-testid="bulk-count">{ format!("{}: {}", t.get("bulk_selected"), ids.len()) }</p>
            { body }
            { result }
        </section>
    }
}
