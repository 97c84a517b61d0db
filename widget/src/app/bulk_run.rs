//! The list dialog (`llist`, `clist`): run a rule on the ticked rows at once — leads, or contacts
//! and companies. The backend records a launch and queues one run per row; the dialog then follows
//! the launch (`GET /api/v1/launches/{id}`, asked at a bounded pace: [`crate::progress`]) with a
//! progress bar up to 100%, and ends with a summary of the runs done, skipped and in error, the
//! errors and skips listed with their reasons. A running launch can be cancelled: the runs not
//! started yet are skipped, those running finish.

use std::rc::Rc;

use gloo::timers::callback::Timeout;
use yew::prelude::*;

use super::{manual_rules, PageProps};
use crate::{
    components::{
        controls::{Button, ButtonKind, Select, SelectOption},
        ErrorNotice,
    },
    context::{Location, WidgetContext},
    hooks::use_me,
    i18n::Texts,
    progress::{self, Next, Polling},
    services,
    state::{Remote, UiError},
};
use domain::api::{Launch, LaunchEntity, RuleSummary, RunRule, RunStatus, SkipReason};

/// The ticked rows of one entity type.
#[derive(Debug, Clone, PartialEq)]
struct Rows {
    /// The entity type in the backend's URLs (`leads`).
    entity_type: &'static str,
    /// The entity type as rules name it (`lead`).
    entity: &'static str,
    ids: Vec<i64>,
}

/// The ticked rows by entity type, those with none left out: leads on the leads list, contacts
/// and companies on the contacts list.
fn ticked(context: &WidgetContext) -> Vec<Rows> {
    let rows = |entity_type, entity, ids: &Vec<i64>| Rows {
        entity_type,
        entity,
        ids: ids.clone(),
    };
    let all = match context.location {
        Location::Clist => vec![
            rows("contacts", "contact", &context.selected_ids),
            rows("companies", "company", &context.selected_company_ids),
        ],
        _ => vec![rows("leads", "lead", &context.selected_ids)],
    };
    all.into_iter().filter(|r| !r.ids.is_empty()).collect()
}

/// Where the dialog is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Choosing the rule.
    Choosing,
    /// The launch request is under way.
    Starting,
    /// Following launch `launch_id`.
    Following {
        launch_id: i64,
        entity: &'static str,
    },
}

/// One answer to `GET /launches/{id}`, numbered by the ask that got it.
type Answer = Option<(u32, Result<Launch, UiError>)>;

/// The bulk-run dialog.
#[function_component(BulkRun)]
pub fn bulk_run(props: &PageProps) -> Html {
    let t = &props.texts;
    let me = use_me(&props.backend);
    let rules = use_state(|| Remote::<Vec<RuleSummary>>::Loading);
    let kind = use_state(|| 0usize);
    let chosen = use_state(|| None::<i64>);
    let phase = use_state(|| Phase::Choosing);
    let start_error = use_state(|| None::<UiError>);
    let ask = use_state(|| 0u32);
    let answer = use_state(|| Answer::None);
    let polling = use_mut_ref(Polling::default);
    let stalled = use_state(|| false);
    let cancelling = use_state(|| false);
    let cancel_error = use_state(|| None::<UiError>);
    {
        let (rules, backend) = (rules.clone(), props.backend.clone());
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                rules.set(services::rules(&backend).await.into())
            });
        });
    }
    // Each ask reads the launch once; its answer decides the next ask.
    {
        let (answer, backend) = (answer.clone(), props.backend.clone());
        use_effect_with((*phase, *ask), move |(phase, ask)| {
            if let Phase::Following { launch_id, .. } = *phase {
                let ask = *ask;
                wasm_bindgen_futures::spawn_local(async move {
                    let got = services::launch(&backend, launch_id).await;
                    answer.set(Some((ask, got)));
                });
            }
        });
    }
    {
        let (ask, stalled, polling) = (ask.clone(), stalled.clone(), polling.clone());
        use_effect_with((*answer).clone(), move |answer| {
            let timeout = match answer {
                Some((number, Ok(launch))) => match polling.borrow_mut().after(launch) {
                    Next::AskIn(ms) => {
                        let next = number.wrapping_add(1);
                        Some(Timeout::new(ms, move || ask.set(next)))
                    }
                    Next::Stalled => {
                        stalled.set(true);
                        None
                    }
                    Next::Finished => None,
                },
                _ => None,
            };
            move || drop(timeout)
        });
    }
    let groups = ticked(&props.context);
    let is_admin = matches!(&*me, Remote::Ready(m) if m.is_admin);
    let location = match props.context.location {
        Location::Clist => "clist",
        _ => "llist",
    };
    let title = match (props.context.location, groups.as_slice()) {
        (Location::Clist, [only]) if only.entity == "company" => t.get("bulk_title_companies"),
        (Location::Clist, [_]) => t.get("bulk_title_contacts"),
        (Location::Clist, _) => t.get("bulk_title_mixed"),
        _ => t.get("bulk_title"),
    };
    if groups.is_empty() {
        return html! {
            <section class="rb-page rb-bulk-run" data-location={location}>
                <h2>{ title }</h2>
                <p class="rb-empty" data-testid="bulk-none-selected">{ t.get("bulk_none_selected") }</p>
            </section>
        };
    }
    let rows = groups
        .get(*kind)
        .cloned()
        .unwrap_or_else(|| groups[0].clone());
    // Asks again at once, with a fresh pace (after a cancel, a stall or an error).
    let restart: Rc<dyn Fn()> = {
        let (polling, stalled, ask) = (polling.clone(), stalled.clone(), ask.clone());
        Rc::new(move || {
            *polling.borrow_mut() = Polling::default();
            stalled.set(false);
            ask.set(ask.wrapping_add(1));
        })
    };
    let body = match *phase {
        Phase::Choosing | Phase::Starting => chooser(ChooserArgs {
            t,
            props,
            groups: &groups,
            rows: &rows,
            kind: kind.clone(),
            chosen: chosen.clone(),
            rules: &rules,
            phase: phase.clone(),
            start_error: start_error.clone(),
            is_admin,
            restart: restart.clone(),
        }),
        Phase::Following { launch_id, entity } => {
            let check_again = {
                let restart = restart.clone();
                Callback::from(move |_| restart())
            };
            let on_cancel = {
                let (backend, cancelling, cancel_error) = (
                    props.backend.clone(),
                    cancelling.clone(),
                    cancel_error.clone(),
                );
                let restart = restart.clone();
                Callback::from(move |_| {
                    let (backend, cancelling, cancel_error) =
                        (backend.clone(), cancelling.clone(), cancel_error.clone());
                    let restart = restart.clone();
                    cancelling.set(true);
                    wasm_bindgen_futures::spawn_local(async move {
                        match services::cancel_launch(&backend, launch_id).await {
                            Ok(_) => cancel_error.set(None),
                            Err(e) => cancel_error.set(Some(e)),
                        }
                        cancelling.set(false);
                        restart();
                    });
                })
            };
            let on_again = {
                let (phase, chosen, answer) = (phase.clone(), chosen.clone(), answer.clone());
                Callback::from(move |_| {
                    answer.set(None);
                    chosen.set(None);
                    phase.set(Phase::Choosing);
                })
            };
            following(&FollowingArgs {
                t,
                entity,
                answer: &answer,
                stalled: *stalled,
                cancelling: *cancelling,
                cancel_error: (*cancel_error).clone(),
                can_cancel: is_admin,
                on_cancel,
                check_again,
                on_again,
            })
        }
    };
    let selected = groups
        .iter()
        .map(|g| {
            format!(
                "{}: {}",
                t.get(&format!("bulk_selected_{}", g.entity_type)),
                g.ids.len()
            )
        })
        .collect::<Vec<_>>()
        .join(" · ");
    html! {
        <section class="rb-page rb-bulk-run" data-location={location} aria-labelledby="rb-bulk-title">
            <h2 id="rb-bulk-title">{ title }</h2>
            <p class="rb-lead" data-testid="bulk-count">{ selected }</p>
            { body }
        </section>
    }
}

struct ChooserArgs<'a> {
    t: &'a Texts,
    props: &'a PageProps,
    groups: &'a [Rows],
    rows: &'a Rows,
    kind: UseStateHandle<usize>,
    chosen: UseStateHandle<Option<i64>>,
    rules: &'a Remote<Vec<RuleSummary>>,
    phase: UseStateHandle<Phase>,
    start_error: UseStateHandle<Option<UiError>>,
    is_admin: bool,
    restart: Rc<dyn Fn()>,
}

/// The rule (and, on the contacts list with both ticked, the entity type) to run, and Run.
fn chooser(args: ChooserArgs<'_>) -> Html {
    let t = args.t;
    let kinds = (args.groups.len() > 1).then(|| {
        let options: Vec<SelectOption> = args
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                SelectOption::new(
                    i.to_string(),
                    format!(
                        "{} ({})",
                        t.get(&format!("bulk_entity_{}", g.entity_type)),
                        g.ids.len()
                    ),
                )
            })
            .collect();
        let (kind, chosen) = (args.kind.clone(), args.chosen.clone());
        let on_change = Callback::from(move |v: String| {
            kind.set(v.parse().unwrap_or(0));
            chosen.set(None);
        });
        html! {
            <Select label={t.get("bulk_entity").to_string()} {options}
                value={Some((*args.kind).to_string())} {on_change} />
        }
    });
    let picker = match args.rules {
        Remote::Loading => html! { <p class="rb-loading">{ t.get("loading") }</p> },
        Remote::Failed(e) => html! { <ErrorNotice error={e.clone()} texts={t.clone()} /> },
        Remote::Ready(list) => {
            let launchable: Vec<&RuleSummary> = manual_rules(list, args.rows.entity).collect();
            if launchable.is_empty() {
                html! {
                    <p class="rb-empty" data-testid="bulk-no-rules">
                        { t.get(&format!("bulk_no_rules_{}", args.rows.entity_type)) }
                    </p>
                }
            } else {
                let options: Vec<SelectOption> = launchable
                    .iter()
                    .map(|r| SelectOption::new(r.id.to_string(), r.name.clone()))
                    .collect();
                let chosen = args.chosen.clone();
                let on_change = Callback::from(move |v: String| chosen.set(v.parse().ok()));
                html! {
                    <Select label={t.get("bulk_rule").to_string()} {options}
                        value={(*args.chosen).map(|id| id.to_string())}
                        placeholder={AttrValue::from(t.get("dp_rule_none").to_string())} {on_change} />
                }
            }
        }
    };
    let starting = *args.phase == Phase::Starting;
    let member_bulk = !args.is_admin && args.rows.ids.len() > 1;
    let why_not = if member_bulk {
        Some(t.get("bulk_admin_only").to_string())
    } else if args.chosen.is_none() {
        Some(t.get("bulk_choose_rule").to_string())
    } else {
        None
    };
    let hint = why_not.clone().filter(|_| member_bulk);
    let on_run = {
        let (backend, chosen, phase, start_error, rows) = (
            args.props.backend.clone(),
            args.chosen.clone(),
            args.phase.clone(),
            args.start_error.clone(),
            args.rows.clone(),
        );
        let restart = args.restart.clone();
        Callback::from(move |_| {
            let Some(rule) = *chosen else { return };
            let body = RunRule {
                entity_type: rows.entity_type.into(),
                entity_ids: rows.ids.clone(),
            };
            let (backend, phase, start_error, entity) = (
                backend.clone(),
                phase.clone(),
                start_error.clone(),
                rows.entity,
            );
            let restart = restart.clone();
            phase.set(Phase::Starting);
            wasm_bindgen_futures::spawn_local(async move {
                match services::run_rule(&backend, rule, &body).await {
                    Ok(queued) => {
                        start_error.set(None);
                        restart();
                        phase.set(Phase::Following {
                            launch_id: queued.launch_id,
                            entity,
                        });
                    }
                    Err(e) => {
                        start_error.set(Some(e));
                        phase.set(Phase::Choosing);
                    }
                }
            });
        })
    };
    let label = if starting {
        t.get("bulk_starting").to_string()
    } else {
        format!("{} ({})", t.get("bulk_run"), args.rows.ids.len())
    };
    html! {
        <div class="rb-bulk-form">
            { for kinds }
            { picker }
            <div class="rb-row">
                <Button {label} kind={ButtonKind::Primary} onclick={on_run}
                    disabled={why_not.is_some() || starting} title={why_not.clone()} />
            </div>
            if let Some(why) = hint {
                <p class="rb-hint" data-testid="bulk-why">{ why }</p>
            }
            if let Some(e) = (*args.start_error).clone() { <ErrorNotice error={e} texts={t.clone()} /> }
        </div>
    }
}

struct FollowingArgs<'a> {
    t: &'a Texts,
    entity: &'static str,
    answer: &'a Answer,
    stalled: bool,
    cancelling: bool,
    cancel_error: Option<UiError>,
    can_cancel: bool,
    on_cancel: Callback<MouseEvent>,
    check_again: Callback<MouseEvent>,
    on_again: Callback<MouseEvent>,
}

/// The progress bar while the runs go on, then the summary.
fn following(args: &FollowingArgs<'_>) -> Html {
    let t = args.t;
    let (launch, error) = match args.answer {
        Some((_, Ok(launch))) => (Some(launch), None),
        Some((_, Err(e))) => (None, Some(e.clone())),
        None => (None, None),
    };
    let percent = launch.map_or(0, progress::percent);
    let finished = launch.is_some_and(Launch::finished);
    let status = match launch {
        Some(l) => t
            .get("bulk_progress_text")
            .replace("{finished}", &progress::finished_runs(l).to_string())
            .replace("{total}", &l.total.to_string()),
        None => t.get("bulk_starting").to_string(),
    };
    let counts = launch.map(|l| {
        html! {
            <dl class="rb-stats rb-launch-counts">
                <div class="rb-launch-done"><dt>{ t.get("bulk_done") }</dt><dd data-testid="launch-done">{ l.done }</dd></div>
                <div class="rb-launch-skipped"><dt>{ t.get("bulk_skipped") }</dt><dd data-testid="launch-skipped">{ l.skipped }</dd></div>
                <div class="rb-launch-failed"><dt>{ t.get("bulk_failed") }</dt><dd data-testid="launch-failed">{ l.failed }</dd></div>
            </dl>
        }
    });
    html! {
        <div class={classes!("rb-launch", finished.then_some("rb-launch-finished"))}>
            <div class="rb-progress" role="progressbar" aria-label={t.get("bulk_progress").to_string()}
                aria-valuemin="0" aria-valuemax="100" aria-valuenow={percent.to_string()}
                aria-valuetext={status.clone()}>
                <div class="rb-progress-fill" style={format!("width: {percent}%")}></div>
            </div>
            <p class="rb-progress-text" aria-live="polite" data-testid="launch-status">
                { format!("{percent}% · {status}") }
            </p>
            if finished { <h3>{ t.get("bulk_summary") }</h3> }
            { for counts }
            if let Some(e) = error {
                <ErrorNotice error={e} texts={t.clone()} />
                <Button label={t.get("bulk_check_again").to_string()} onclick={args.check_again.clone()} />
            }
            if args.stalled && !finished {
                <p class="rb-warning" data-testid="launch-stalled">{ t.get("bulk_stalled") }</p>
                <Button label={t.get("bulk_check_again").to_string()} onclick={args.check_again.clone()} />
            }
            if !finished && args.can_cancel && launch.is_some_and(|l| !l.cancelled) {
                <div class="rb-row">
                    <Button label={t.get(if args.cancelling { "bulk_cancelling" } else { "bulk_cancel" }).to_string()}
                        kind={ButtonKind::Danger} disabled={args.cancelling} onclick={args.on_cancel.clone()} />
                </div>
            }
            if let Some(e) = args.cancel_error.clone() { <ErrorNotice error={e} texts={t.clone()} /> }
            if let Some(l) = launch.filter(|l| l.cancelled) {
                <p class="rb-hint" data-testid="launch-cancelled">{
                    if l.finished() { t.get("bulk_cancelled") } else { t.get("bulk_cancelled_running") }
                }</p>
            }
            if let Some(l) = launch.filter(|_| finished) {
                { problems(t, args.entity, l) }
                <div class="rb-row">
                    <Button label={t.get("bulk_again").to_string()} onclick={args.on_again.clone()} />
                </div>
            }
        </div>
    }
}

/// The failed and skipped runs, with their errors and reasons.
fn problems(t: &Texts, entity: &str, launch: &Launch) -> Html {
    let name =
        |e: &LaunchEntity| format!("{} #{}", t.get(&format!("entity_{entity}")), e.entity_id);
    let failed: Vec<&LaunchEntity> = launch
        .entities
        .iter()
        .filter(|e| e.status == RunStatus::Failed)
        .collect();
    let skipped: Vec<&LaunchEntity> = launch
        .entities
        .iter()
        .filter(|e| e.status == RunStatus::Skipped)
        .collect();
    let listed = u64::try_from(launch.entities.len()).unwrap_or(u64::MAX);
    let unlisted = (launch.failed + launch.skipped).saturating_sub(listed);
    html! {
        <>
            if !failed.is_empty() {
                <h4>{ t.get("bulk_errors") }</h4>
                <ul class="rb-launch-problems rb-launch-errors" data-testid="launch-errors">
                    { for failed.iter().map(|e| html! {
                        <li><strong>{ name(e) }</strong>{ ": " }
                            <span class="rb-fail">{ e.error.clone().unwrap_or_else(|| t.get("bulk_failed").to_string()) }</span></li>
                    }) }
                </ul>
            }
            if !skipped.is_empty() {
                <h4>{ t.get("bulk_skipped") }</h4>
                <ul class="rb-launch-problems" data-testid="launch-skips">
                    { for skipped.iter().map(|e| html! {
                        <li><strong>{ name(e) }</strong>{ ": " }{ reason(t, e.reason) }</li>
                    }) }
                </ul>
            }
            if unlisted > 0 {
                <p class="rb-hint">{ t.get("bulk_more").replace("{n}", &unlisted.to_string()) }</p>
            }
        </>
    }
}

/// Why a run was skipped, in words.
fn reason(t: &Texts, reason: Option<SkipReason>) -> String {
    match reason {
        Some(r) => t.get(&format!("launch_reason_{}", r.as_str())).to_string(),
        None => t.get("bulk_skipped").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn context(location: Location, ids: Vec<i64>, companies: Vec<i64>) -> WidgetContext {
        WidgetContext {
            location,
            widget_code: "rb".into(),
            lead_id: None,
            entity_id: None,
            advanced_settings_url: None,
            open_runs_of: None,
            selected_ids: ids,
            selected_company_ids: companies,
            lang: "en".into(),
            messages: BTreeMap::new(),
        }
    }

    #[test]
    fn the_ticked_rows_are_grouped_by_entity_type() {
        let leads = ticked(&context(Location::Llist, vec![1, 2], vec![]));
        assert_eq!(leads.len(), 1);
        assert_eq!((leads[0].entity_type, leads[0].ids.len()), ("leads", 2));
        let mixed = ticked(&context(Location::Clist, vec![3], vec![4, 5]));
        let types: Vec<_> = mixed.iter().map(|r| (r.entity_type, r.entity)).collect();
        assert_eq!(types, [("contacts", "contact"), ("companies", "company")]);
        let companies = ticked(&context(Location::Clist, vec![], vec![4]));
        assert_eq!(companies[0].entity_type, "companies");
        assert!(ticked(&context(Location::Clist, vec![], vec![])).is_empty());
    }

    #[test]
    fn every_reason_and_entity_has_its_words() {
        let t = Texts::default();
        for r in [
            SkipReason::DidNotMatch,
            SkipReason::FrequencyExceeded,
            SkipReason::OnceAlreadyFired,
            SkipReason::OutsideActiveHours,
            SkipReason::Loop,
            SkipReason::Cancelled,
            SkipReason::RuleDeleted,
        ] {
            let words = reason(&t, Some(r));
            assert!(!words.starts_with("launch_reason_"), "{r:?} has no text");
        }
        for entity_type in ["leads", "contacts", "companies"] {
            for prefix in ["bulk_selected_", "bulk_no_rules_", "bulk_entity_"] {
                let key = format!("{prefix}{entity_type}");
                assert_ne!(t.get(&key), key, "{key} has no text");
            }
        }
    }
}
