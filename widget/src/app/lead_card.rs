//! The lead card's right panel: the lead's pending timers (visible, cancellable) and the rules a user
//! can launch on it by hand.

use std::collections::BTreeMap;

use yew::prelude::*;

use super::{manual_rules, PageProps};
use crate::{components::ErrorNotice, services, state::Remote};
use domain::api::{JobInfo, RuleSummary, RunRule};

/// The entity type of a lead card in the backend's URLs.
const LEADS: &str = "leads";

/// The lead-card panel.
#[function_component(LeadCard)]
pub fn lead_card(props: &PageProps) -> Html {
    let t = &props.texts;
    // Hooks first, unconditionally: a card without a saved lead renders a hint below.
    let jobs = use_state(|| Remote::<Vec<JobInfo>>::Loading);
    let rules = use_state(Vec::<RuleSummary>::new);
    let launched = use_state(|| None::<i64>);
    let reload = use_state(|| 0u32);
    let action_error = use_state(|| None);
    let lead_id = props.context.lead_id;
    {
        let (jobs, rules, backend) = (jobs.clone(), rules.clone(), props.backend.clone());
        use_effect_with((*reload, lead_id), move |&(_, lead_id)| {
            let Some(lead) = lead_id else { return };
            wasm_bindgen_futures::spawn_local(async move {
                jobs.set(services::entity_jobs(&backend, LEADS, lead).await.into());
                if let Ok(list) = services::rules(&backend).await {
                    rules.set(list);
                }
            });
        });
    }
    let Some(lead) = lead_id else {
        return html! { <section class="rb-page rb-lead-card"><p class="rb-empty">{ t.get("lead_unsaved") }</p></section> };
    };
    let cancel_all = {
        let (backend, reload, action_error) =
            (props.backend.clone(), reload.clone(), action_error.clone());
        Callback::from(move |_| {
            let (backend, reload, action_error) =
                (backend.clone(), reload.clone(), action_error.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match services::cancel_entity_jobs(&backend, LEADS, lead).await {
                    Ok(_) => {
                        action_error.set(None);
                        reload.set(*reload + 1);
                    }
                    Err(e) => action_error.set(Some(e)),
                }
            });
        })
    };
    let launch = {
        let (backend, reload, action_error, launched) = (
            props.backend.clone(),
            reload.clone(),
            action_error.clone(),
            launched.clone(),
        );
        Callback::from(move |rule: i64| {
            let (backend, reload, action_error, launched) = (
                backend.clone(),
                reload.clone(),
                action_error.clone(),
                launched.clone(),
            );
            let body = RunRule {
                entity_type: LEADS.into(),
                entity_ids: vec![lead],
            };
            wasm_bindgen_futures::spawn_local(async move {
                match services::run_rule(&backend, rule, &body).await {
                    Ok(_) => {
                        action_error.set(None);
                        launched.set(Some(rule));
                        reload.set(*reload + 1);
                    }
                    Err(e) => action_error.set(Some(e)),
                }
            });
        })
    };
    let names: BTreeMap<i64, &str> = rules.iter().map(|r| (r.id, r.name.as_str())).collect();
    let buttons: Vec<Html> = manual_rules(&rules, "lead")
        .map(|r| {
            let (id, launch) = (r.id, launch.clone());
            html! {
                <button type="button" class="rb-button rb-manual" data-testid="manual-rule" data-rule-id={id.to_string()}
                    onclick={Callback::from(move |_| launch.emit(id))}>
                    { r.name.clone() }
                    if *launched == Some(id) { <span class="rb-saved">{ " ✓" }</span> }
                </button>
            }
        })
        .collect();
    let timers = match &*jobs {
        Remote::Loading => html! { <p class="rb-loading">{ t.get("loading") }</p> },
        Remote::Failed(error) => {
            html! { <ErrorNotice error={error.clone()} texts={props.texts.clone()} /> }
        }
        Remote::Ready(list) if list.is_empty() => {
            html! { <p class="rb-empty" data-testid="jobs-empty">{ t.get("jobs_empty") }</p> }
        }
        Remote::Ready(list) => html! {
            <>
                <ul class="rb-jobs" data-testid="jobs">
                    { for list.iter().map(|job| {
                        let rule = job.rule_id.map(|id| names.get(&id).map_or_else(|| format!("#{id}"), |n| n.to_string()));
                        html! {
                            <li class={classes!("rb-job", format!("rb-job-{}", job.state))} data-job-id={job.id.to_string()}>
                                <strong>{ rule.unwrap_or_else(|| job.kind.clone()) }</strong>
                                <span class="rb-job-due">{ format!("{} {}", t.get("job_due"), super::format_millis(job.run_at)) }</span>
                                if job.state == "dead" {
                                    <em class="rb-field-error">{ job.last_error.clone().unwrap_or_else(|| t.get("job_failed").into()) }</em>
                                }
                            </li>
                        }
                    }) }
                </ul>
                <button type="button" class="rb-button" data-testid="jobs-cancel-all" onclick={cancel_all}>{ t.get("jobs_cancel_all") }</button>
            </>
        },
    };
    html! {
        <section class="rb-page rb-lead-card" data-location="lcard">
            <p class="rb-lead" data-testid="lead-id">{ format!("{} #{lead}", t.get("lead")) }</p>
            if !buttons.is_empty() {
                <h2>{ t.get("manual_rules") }</h2>
                <div class="rb-manual-rules">{ for buttons }</div>
            }
            <h2>{ t.get("jobs_title") }</h2>
            { timers }
            if let Some(e) = (*action_error).clone() { <ErrorNotice error={e} texts={props.texts.clone()} /> }
        </section>
    }
}
