//! The right panel of a lead, contact or company card (`lcard`, `ccard`, `comcard`): the manual rules
//! of the entity's type as buttons, each press's result in place (done, skipped and why, error); the
//! entity's pending timers, each cancellable, and "cancel all" for administrators; and the last
//! runs of rules on the entity, each linking to its rule's runs in the debugger.
//!
//! A press queues the run (`POST /api/v1/rules/{id}/run`); its result is the entity's next run of
//! that rule in the debugger log, which the panel reads back with a bounded wait.

use std::{collections::BTreeMap, rc::Rc};

use yew::prelude::*;

use super::{format_millis, manual_rules, PageProps};
use crate::{
    components::{
        controls::{Button, ButtonKind},
        ErrorNotice,
    },
    context::Location,
    hooks::{use_me, use_remote},
    i18n::Texts,
    services,
    state::{Remote, UiError},
};
use domain::api::{EntityRun, JobInfo, RuleSummary, RunRule, Verdict};

/// How many of the entity's runs the panel lists.
const LAST_RUNS: usize = 5;
/// How many runs are read back while waiting for a press's result.
const RESULT_WINDOW: usize = 20;
/// How often, and how many times, the result of a press is looked for before the panel says it is
/// queued and the debugger will show it.
const RESULT_POLL_MS: u32 = 700;
const RESULT_POLLS: u32 = 30;

/// The entity a card location shows, in the backend's URLs and in rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardEntity {
    /// The path segment: `leads`, `contacts`, `companies`.
    pub api: &'static str,
    /// The rule's entity: `lead`, `contact`, `company`.
    pub rule_entity: &'static str,
    /// The interface text naming it.
    pub label_key: &'static str,
    /// The text shown when the card has no saved entity yet.
    pub unsaved_key: &'static str,
    /// The text of an empty timers list.
    pub no_timers_key: &'static str,
}

/// The entity of a card location, or `None` elsewhere.
pub fn card_entity(location: Location) -> Option<CardEntity> {
    match location {
        Location::Lcard => Some(CardEntity {
            api: "leads",
            rule_entity: "lead",
            label_key: "entity_lead",
            unsaved_key: "lead_unsaved",
            no_timers_key: "jobs_empty",
        }),
        Location::Ccard => Some(CardEntity {
            api: "contacts",
            rule_entity: "contact",
            label_key: "entity_contact",
            unsaved_key: "card_unsaved_contact",
            no_timers_key: "card_jobs_empty_contact",
        }),
        Location::Comcard => Some(CardEntity {
            api: "companies",
            rule_entity: "company",
            label_key: "entity_company",
            unsaved_key: "card_unsaved_company",
            no_timers_key: "card_jobs_empty_company",
        }),
        _ => None,
    }
}

/// What became of a press of a rule's button.
#[derive(Debug, Clone, PartialEq)]
pub enum Press {
    /// Sent; waiting for the run.
    Running,
    /// Queued, but its run did not show within the wait: the debugger will have it.
    Queued,
    /// The rule ran and did what it does.
    Done,
    /// The rule ran and did nothing; the reason, in the user's words.
    Skipped(String),
    /// It failed: the run's error, or why the backend refused the press.
    Failed(String),
}

/// The result of a press from the run the debugger logged for it.
pub fn press_of_run(run: &EntityRun, texts: &Texts) -> Press {
    match run.verdict {
        Verdict::Fired => Press::Done,
        Verdict::Error | Verdict::Loop => Press::Failed(
            run.error
                .clone()
                .unwrap_or_else(|| verdict_text(run.verdict, texts).to_string()),
        ),
        Verdict::DidNotMatch => {
            let blocks: Vec<&str> = {
                let mut names: Vec<&str> = run
                    .failed_conditions
                    .iter()
                    .map(|c| c.block_name.as_str())
                    .filter(|n| !n.is_empty())
                    .collect();
                names.dedup();
                names
            };
            let reason = verdict_text(run.verdict, texts).to_string();
            Press::Skipped(if blocks.is_empty() {
                reason
            } else {
                format!("{reason}: {}", blocks.join(", "))
            })
        }
        other => Press::Skipped(verdict_text(other, texts).to_string()),
    }
}

/// A run's verdict in words.
pub fn verdict_text(verdict: Verdict, texts: &Texts) -> &str {
    texts.get(match verdict {
        Verdict::Fired => "card_verdict_fired",
        Verdict::DidNotMatch => "card_verdict_did_not_match",
        Verdict::FrequencyExceeded => "card_verdict_frequency_exceeded",
        Verdict::OnceAlreadyFired => "card_verdict_once_already_fired",
        Verdict::OutsideActiveHours => "card_verdict_outside_active_hours",
        Verdict::Error => "card_verdict_error",
        Verdict::Loop => "card_verdict_loop",
    })
}

/// The run of `rule` newer than `after` (the newest run id seen before the press), if one came.
pub fn run_after(runs: &[EntityRun], rule: i64, after: i64) -> Option<&EntityRun> {
    runs.iter()
        .filter(|r| r.rule_id == rule && r.id > after)
        .min_by_key(|r| r.id)
}

/// A change to the presses shown.
enum PressAction {
    Set(i64, Press),
}

#[derive(Default, PartialEq)]
struct Presses(BTreeMap<i64, Press>);

impl Reducible for Presses {
    type Action = PressAction;
    fn reduce(self: Rc<Self>, action: PressAction) -> Rc<Self> {
        let PressAction::Set(rule, press) = action;
        let mut map = self.0.clone();
        map.insert(rule, press);
        Rc::new(Self(map))
    }
}

/// Presses a rule's button: queues the run, then waits (bounded) for its run to show in the
/// entity's log, and records what became of it.
async fn press(
    backend: crate::bridge::Backend,
    entity: CardEntity,
    id: i64,
    rule: i64,
    texts: Texts,
    presses: UseReducerDispatcher<Presses>,
) {
    presses.dispatch(PressAction::Set(rule, Press::Running));
    // The newest run before the press, so an older run is not taken for its result.
    let before = match services::entity_runs(&backend, entity.api, id, RESULT_WINDOW).await {
        Ok(runs) => runs.iter().map(|r| r.id).max().unwrap_or(0),
        Err(e) => {
            presses.dispatch(PressAction::Set(
                rule,
                Press::Failed(error_text(&e, &texts)),
            ));
            return;
        }
    };
    let body = RunRule {
        entity_type: entity.api.into(),
        entity_ids: vec![id],
    };
    if let Err(e) = services::run_rule(&backend, rule, &body).await {
        presses.dispatch(PressAction::Set(
            rule,
            Press::Failed(error_text(&e, &texts)),
        ));
        return;
    }
    for _ in 0..RESULT_POLLS {
        pause(RESULT_POLL_MS).await;
        if let Ok(runs) = services::entity_runs(&backend, entity.api, id, RESULT_WINDOW).await {
            if let Some(run) = run_after(&runs, rule, before) {
                presses.dispatch(PressAction::Set(rule, press_of_run(run, &texts)));
                return;
            }
        }
    }
    presses.dispatch(PressAction::Set(rule, Press::Queued));
}

/// Waits `ms` milliseconds on the browser's timer (the wait between two looks for a result).
async fn pause(ms: u32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(
                &resolve,
                i32::try_from(ms).unwrap_or(i32::MAX),
            );
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// An error as one line for a press's result.
fn error_text(e: &UiError, texts: &Texts) -> String {
    match e {
        UiError::NotAuthorized { detail }
        | UiError::Forbidden { detail }
        | UiError::Invalid { detail, .. }
        | UiError::Problem { detail, .. }
            if !detail.is_empty() =>
        {
            detail.clone()
        }
        UiError::Unreachable => texts.get("unreachable").to_string(),
        _ => texts.get("failed").to_string(),
    }
}

/// The card panel.
#[function_component(EntityCard)]
pub fn entity_card(props: &PageProps) -> Html {
    let t = &props.texts;
    let entity = card_entity(props.context.location);
    let id = props.context.card_entity();
    let me = use_me(&props.backend);
    let rules = use_remote(&props.backend, (), |b, ()| async move {
        services::rules(&b).await
    });
    let api = entity.map_or("leads", |e| e.api);
    let jobs = use_remote(&props.backend, (api, id), |b, (api, id)| async move {
        match id {
            Some(id) => services::entity_jobs(&b, api, id).await,
            None => Ok(Vec::new()),
        }
    });
    let runs = use_remote(&props.backend, (api, id), |b, (api, id)| async move {
        match id {
            Some(id) => services::entity_runs(&b, api, id, LAST_RUNS).await,
            None => Ok(Vec::new()),
        }
    });
    let presses = use_reducer(Presses::default);
    let action_error = use_state(|| None::<UiError>);
    // When a press has a result, the timers and runs it may have changed are read again.
    {
        let (jobs, runs) = (jobs.reload.clone(), runs.reload.clone());
        let settled = presses
            .0
            .values()
            .filter(|p| !matches!(p, Press::Running))
            .count();
        use_effect_with(settled, move |settled| {
            if *settled > 0 {
                jobs.emit(());
                runs.emit(());
            }
        });
    }
    let (Some(entity), Some(id)) = (entity, id) else {
        let key = entity.map_or("lead_unsaved", |e| e.unsaved_key);
        return html! { <section class="rb-page rb-card"><p class="rb-empty">{ t.get(key) }</p></section> };
    };
    let is_admin = matches!(&*me, Remote::Ready(me) if me.is_admin);

    let launch = {
        let (backend, texts, presses) = (
            props.backend.clone(),
            props.texts.clone(),
            presses.dispatcher(),
        );
        Callback::from(move |rule: i64| {
            wasm_bindgen_futures::spawn_local(press(
                backend.clone(),
                entity,
                id,
                rule,
                texts.clone(),
                presses.clone(),
            ));
        })
    };
    let cancel = {
        let (backend, reload, action_error) = (
            props.backend.clone(),
            jobs.reload.clone(),
            action_error.clone(),
        );
        Callback::from(move |job: Option<i64>| {
            let (backend, reload, action_error) =
                (backend.clone(), reload.clone(), action_error.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let done = match job {
                    Some(job) => services::cancel_entity_job(&backend, entity.api, id, job).await,
                    None => services::cancel_entity_jobs(&backend, entity.api, id).await,
                };
                action_error.set(done.err());
                reload.emit(());
            });
        })
    };

    let rule_names: BTreeMap<i64, String> = match &*rules.state {
        Remote::Ready(list) => list.iter().map(|r| (r.id, r.name.clone())).collect(),
        _ => BTreeMap::new(),
    };
    let rule_name = |id: i64| {
        rule_names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("#{id}"))
    };

    let buttons = match &*rules.state {
        Remote::Loading => html! { <p class="rb-loading">{ t.get("loading") }</p> },
        Remote::Failed(e) => {
            html! { <ErrorNotice error={e.clone()} texts={props.texts.clone()} /> }
        }
        Remote::Ready(list) => {
            let manual: Vec<&RuleSummary> = manual_rules(list, entity.rule_entity).collect();
            if manual.is_empty() {
                html! { <p class="rb-empty" data-testid="manual-none">{ t.get("card_manual_none") }</p> }
            } else {
                html! {
                    <ul class="rb-manual-rules" data-testid="manual-rules">
                        { for manual.iter().map(|r| manual_button(r, presses.0.get(&r.id), &launch, t)) }
                    </ul>
                }
            }
        }
    };

    let timers = match &*jobs.state {
        Remote::Loading => html! { <p class="rb-loading">{ t.get("loading") }</p> },
        Remote::Failed(e) => {
            html! { <ErrorNotice error={e.clone()} texts={props.texts.clone()} /> }
        }
        Remote::Ready(list) if list.is_empty() => {
            html! { <p class="rb-empty" data-testid="jobs-empty">{ t.get(entity.no_timers_key) }</p> }
        }
        Remote::Ready(list) => html! {
            <>
                <ul class="rb-jobs" data-testid="jobs">
                    { for list.iter().map(|job| timer_row(job, &rule_name, &cancel, t)) }
                </ul>
                if is_admin {
                    <Button label={t.get("jobs_cancel_all").to_string()} kind={ButtonKind::Danger}
                        onclick={{ let cancel = cancel.clone(); Callback::from(move |_: MouseEvent| cancel.emit(None)) }} />
                }
            </>
        },
    };

    let last_runs = match &*runs.state {
        Remote::Loading => html! { <p class="rb-loading">{ t.get("loading") }</p> },
        Remote::Failed(e) => {
            html! { <ErrorNotice error={e.clone()} texts={props.texts.clone()} /> }
        }
        Remote::Ready(list) if list.is_empty() => {
            html! { <p class="rb-empty" data-testid="runs-empty">{ t.get("card_runs_empty") }</p> }
        }
        Remote::Ready(list) => html! {
            <ul class="rb-card-runs" data-testid="card-runs">
                { for list.iter().map(|run| run_row(run, &rule_name(run.rule_id), props)) }
            </ul>
        },
    };

    html! {
        <section class={classes!("rb-page", "rb-card", format!("rb-card-{}", entity.rule_entity))}
            data-location={location_name(props.context.location)} aria-label={t.get("card_title").to_string()}>
            <p class="rb-card-entity" data-testid="entity-id">{ format!("{} #{id}", t.get(entity.label_key)) }</p>
            <h2 class="rb-card-heading">{ t.get("manual_rules") }</h2>
            { buttons }
            <h2 class="rb-card-heading">{ t.get("jobs_title") }</h2>
            { timers }
            if let Some(e) = (*action_error).clone() { <ErrorNotice error={e} texts={props.texts.clone()} /> }
            <h2 class="rb-card-heading">{ t.get("card_runs_title") }</h2>
            { last_runs }
        </section>
    }
}

fn location_name(location: Location) -> &'static str {
    match location {
        Location::Ccard => "ccard",
        Location::Comcard => "comcard",
        _ => "lcard",
    }
}

/// One manual rule's button with the result of its last press beside it.
fn manual_button(
    rule: &RuleSummary,
    press: Option<&Press>,
    launch: &Callback<i64>,
    t: &Texts,
) -> Html {
    let id = rule.id;
    let onclick = {
        let launch = launch.clone();
        Callback::from(move |_: MouseEvent| launch.emit(id))
    };
    let running = matches!(press, Some(Press::Running));
    let (class, text) = match press {
        None => (None, String::new()),
        Some(Press::Running) => (
            Some("rb-press-running"),
            t.get("card_press_running").to_string(),
        ),
        Some(Press::Queued) => (
            Some("rb-press-queued"),
            t.get("card_press_queued").to_string(),
        ),
        Some(Press::Done) => (Some("rb-press-done"), t.get("card_press_done").to_string()),
        Some(Press::Skipped(why)) => (
            Some("rb-press-skipped"),
            format!("{}: {why}", t.get("card_press_skipped")),
        ),
        Some(Press::Failed(why)) => (
            Some("rb-press-error"),
            format!("{}: {why}", t.get("card_press_error")),
        ),
    };
    let status_id = format!("rb-press-{id}");
    html! {
        <li class="rb-manual-rule" data-testid="manual-rule-row" data-rule-id={id.to_string()}>
            <button type="button" class="button-input rb-button rb-manual" data-testid="manual-rule"
                data-rule-id={id.to_string()} disabled={running} aria-describedby={status_id.clone()} {onclick}>
                <span class="button-input-inner"><span class="button-input-inner__text">{ rule.name.clone() }</span></span>
            </button>
            <span id={status_id} class={classes!("rb-press", class)} role="status" aria-live="polite"
                data-testid="press-result">{ text }</span>
        </li>
    }
}

/// One pending (or failed) timer, cancellable while it waits.
fn timer_row(
    job: &JobInfo,
    rule_name: &dyn Fn(i64) -> String,
    cancel: &Callback<Option<i64>>,
    t: &Texts,
) -> Html {
    let name = job.rule_id.map_or_else(|| job.kind.clone(), rule_name);
    let job_id = job.id;
    let label = format!("{} {name}", t.get("card_cancel_timer"));
    let onclick = {
        let cancel = cancel.clone();
        Callback::from(move |_: MouseEvent| cancel.emit(Some(job_id)))
    };
    html! {
        <li class={classes!("rb-job", format!("rb-job-{}", job.state))} data-job-id={job.id.to_string()} data-testid="job">
            <strong class="rb-job-rule">{ name }</strong>
            <span class="rb-job-due">{ format!("{} {}", t.get("job_due"), format_millis(job.run_at)) }</span>
            if job.state == "dead" {
                <em class="rb-field-error">{ job.last_error.clone().unwrap_or_else(|| t.get("job_failed").into()) }</em>
            }
            if job.running {
                <em class="rb-job-running">{ t.get("card_timer_running") }</em>
            } else {
                <Button {label} kind={ButtonKind::Icon} icon={"×"} {onclick} />
            }
        </li>
    }
}

/// One of the entity's last runs: its rule, when, its verdict, and a link to the rule's runs in the
/// debugger (Kommo's advanced-settings page; the app never changes the URL itself).
fn run_row(run: &EntityRun, rule_name: &str, props: &PageProps) -> Html {
    let t = &props.texts;
    let verdict = verdict_text(run.verdict, t).to_string();
    let link = props.context.advanced_settings_url.clone().map(|href| {
        let (backend, rule) = (props.backend.clone(), run.rule_id);
        let onclick = Callback::from(move |_: MouseEvent| backend.open_runs_of(rule));
        let title = format!("{} {rule_name}", t.get("card_open_debugger"));
        html! { <a class="rb-card-run-link" {href} {onclick} {title} data-testid="run-link">{ rule_name.to_string() }</a> }
    });
    html! {
        <li class={classes!("rb-card-run", format!("rb-verdict-{}", run.verdict.as_str()))} data-testid="card-run"
            data-rule-id={run.rule_id.to_string()}>
            { link.unwrap_or_else(|| html! { <strong>{ rule_name.to_string() }</strong> }) }
            <span class="rb-card-run-verdict">{ verdict }</span>
            <span class="rb-card-run-time">{ format_millis(run.started_at) }</span>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::api::FailedCondition;
    use domain::value::TraceValue;

    fn run(id: i64, rule: i64, verdict: Verdict) -> EntityRun {
        EntityRun {
            id,
            rule_id: rule,
            event_id: None,
            event: None,
            started_at: 0,
            verdict,
            failed_conditions: Vec::new(),
            error: None,
            duration_ms: 0,
            operations: 0,
            trace: serde_json::Value::Null,
        }
    }

    #[test]
    fn each_card_location_names_its_entity() {
        assert_eq!(card_entity(Location::Lcard).map(|e| e.api), Some("leads"));
        assert_eq!(
            card_entity(Location::Ccard).map(|e| (e.api, e.rule_entity)),
            Some(("contacts", "contact"))
        );
        assert_eq!(
            card_entity(Location::Comcard).map(|e| (e.api, e.rule_entity)),
            Some(("companies", "company"))
        );
        assert_eq!(card_entity(Location::DigitalPipeline), None);
    }

    #[test]
    fn a_press_takes_the_first_run_of_its_rule_after_the_press() {
        let runs = vec![
            run(9, 2, Verdict::Fired),
            run(8, 1, Verdict::DidNotMatch),
            run(7, 1, Verdict::Fired),
            run(5, 1, Verdict::Error),
        ];
        assert_eq!(run_after(&runs, 1, 5).map(|r| r.id), Some(7));
        assert_eq!(run_after(&runs, 1, 8).map(|r| r.id), None);
        assert_eq!(run_after(&runs, 3, 0).map(|r| r.id), None);
    }

    #[test]
    fn a_run_says_done_skipped_with_its_reason_or_error() {
        let t = Texts::default();
        assert_eq!(press_of_run(&run(1, 1, Verdict::Fired), &t), Press::Done);
        let mut failed = run(1, 1, Verdict::Error);
        failed.error = Some("Kommo answered 400".into());
        assert_eq!(
            press_of_run(&failed, &t),
            Press::Failed("Kommo answered 400".into())
        );
        let mut skipped = run(1, 1, Verdict::DidNotMatch);
        skipped.failed_conditions = vec![FailedCondition {
            block: 0,
            block_name: "If wholesale".into(),
            condition: 0,
            operand: serde_json::json!({"path": "lead.name"}),
            operator: "equals".into(),
            expected: None,
            actual: TraceValue::Missing,
            reason: None,
        }];
        match press_of_run(&skipped, &t) {
            Press::Skipped(why) => assert!(why.ends_with(": If wholesale"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            press_of_run(&run(1, 1, Verdict::FrequencyExceeded), &t),
            Press::Skipped(t.get("card_verdict_frequency_exceeded").into())
        );
    }
}
