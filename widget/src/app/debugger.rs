//! The Debugger tab: the runs of one rule, or of one entity across every rule ("why didn't anything
//! happen to lead 123": by id, or by name through Kommo's search), each a timeline (every block's
//! status, every condition's actual against expected value, every action's result with a link to
//! its entity in Kommo), filtered by outcome, and "Replay against the current rule": the run's
//! event evaluated again as a dry run, with the blocks and conditions whose verdict changed.

use domain::api::{EntityMatch, RuleSummary};
use domain::event::EntityRef;
use domain::path::EntityType;
use yew::prelude::*;

use super::PageProps;
use crate::{
    components::controls::{Select, SelectOption, TextInput},
    components::{trace::TraceView, ErrorNotice},
    hooks::use_me,
    i18n::Texts,
    runs::{self, Change, EntityQuery, Run, RunOutcome},
    services,
    state::Remote,
};

/// Whose runs the tab shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Rule(i64),
    Entity(EntityRef),
}

/// The entity types the search offers, with their text keys.
const ENTITY_TYPES: [(EntityType, &str); 3] = [
    (EntityType::Lead, "lead"),
    (EntityType::Contact, "debugger_contact"),
    (EntityType::Company, "debugger_company"),
];

fn entity_noun(entity_type: EntityType, t: &Texts) -> &str {
    ENTITY_TYPES
        .iter()
        .find(|(e, _)| *e == entity_type)
        .map_or_else(|| t.get("debugger_task"), |(_, key)| t.get(key))
}

/// The Debugger tab.
#[function_component(Debugger)]
pub fn debugger(props: &PageProps) -> Html {
    let t = &props.texts;
    let rules = use_state(|| Remote::<Vec<RuleSummary>>::Loading);
    let me = use_me(&props.backend);
    let nav = use_context::<super::Nav>();
    let source = use_state(|| nav.and_then(|n| n.runs_of).map(Source::Rule));
    let runs = use_state(|| None::<Remote<Vec<Run>>>);
    let filter = use_state(|| None::<RunOutcome>);
    let entity_type = use_state(|| EntityType::Lead);
    let query = use_state(String::new);
    let query_error = use_state(|| None::<String>);
    let matches = use_state(|| None::<Remote<Vec<EntityMatch>>>);
    {
        let (rules, backend) = (rules.clone(), props.backend.clone());
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                rules.set(services::rules(&backend).await.into())
            });
        });
    }
    {
        let (runs, backend) = (runs.clone(), props.backend.clone());
        use_effect_with(*source, move |source| {
            let source = *source;
            if let Some(source) = source {
                runs.set(Some(Remote::Loading));
                wasm_bindgen_futures::spawn_local(async move {
                    let loaded = match source {
                        Source::Rule(id) => services::rule_log(&backend, id)
                            .await
                            .map(|l| l.into_iter().map(Run::from).collect()),
                        Source::Entity(e) => services::entity_runs(
                            &backend,
                            runs::api_segment(e.entity_type),
                            e.id,
                            100,
                        )
                        .await
                        .map(|l| l.into_iter().map(Run::from).collect()),
                    };
                    runs.set(Some(loaded.into()));
                });
            }
        });
    }
    let on_rule = {
        let source = source.clone();
        Callback::from(move |value: String| source.set(value.parse().ok().map(Source::Rule)))
    };
    let on_search = {
        let (source, matches, query_error) = (source.clone(), matches.clone(), query_error.clone());
        let (query, entity_type, backend, texts) = (
            query.clone(),
            entity_type.clone(),
            props.backend.clone(),
            props.texts.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let entity_type = *entity_type;
            match runs::entity_query(&query) {
                EntityQuery::Empty => {
                    query_error.set(Some(texts.get("debugger_query_empty").to_owned()))
                }
                EntityQuery::Id(id) => {
                    query_error.set(None);
                    matches.set(None);
                    source.set(Some(Source::Entity(EntityRef { entity_type, id })));
                }
                EntityQuery::Text(text) => {
                    query_error.set(None);
                    matches.set(Some(Remote::Loading));
                    let (matches, backend) = (matches.clone(), backend.clone());
                    wasm_bindgen_futures::spawn_local(async move {
                        let found = services::search_entities(
                            &backend,
                            runs::api_segment(entity_type),
                            &text,
                        )
                        .await;
                        matches.set(Some(found.into()));
                    });
                }
            }
        })
    };
    let rule_name = |id: i64| match &*rules {
        Remote::Ready(rules) => rules
            .iter()
            .find(|r| r.id == id)
            .map_or_else(|| format!("#{id}"), |r| r.name.clone()),
        _ => format!("#{id}"),
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
            let value = match *source {
                Some(Source::Rule(id)) => Some(id.to_string()),
                _ => None,
            };
            html! {
                <Select label={t.get("debugger_rule").to_string()} {options} {value}
                    placeholder={"—"} on_change={on_rule} />
            }
        }
    };
    let type_options: Vec<SelectOption> = ENTITY_TYPES
        .iter()
        .map(|(e, key)| SelectOption::new(runs::api_segment(*e), t.get(key)))
        .collect();
    let on_type = {
        let entity_type = entity_type.clone();
        Callback::from(move |v: String| {
            if let Some((e, _)) = ENTITY_TYPES
                .iter()
                .find(|(e, _)| runs::api_segment(*e) == v)
            {
                entity_type.set(*e);
            }
        })
    };
    let on_query = {
        let query = query.clone();
        Callback::from(move |v: String| query.set(v))
    };
    let search = html! {
        <form class="rb-debugger-search" role="search" aria-label={t.get("debugger_search").to_string()} onsubmit={on_search}>
            <Select label={t.get("debugger_entity_type").to_string()} options={type_options}
                value={Some(runs::api_segment(*entity_type).to_string())} on_change={on_type} />
            <TextInput label={t.get("debugger_entity_query").to_string()} value={(*query).clone()}
                on_change={on_query} error={(*query_error).clone()}
                placeholder={Some(AttrValue::from(t.get("debugger_entity_placeholder").to_string()))} />
            <button type="submit" class="button-input button-input_blue rb-button rb-primary">
                <span class="button-input-inner"><span class="button-input-inner__text">{ t.get("debugger_find") }</span></span>
            </button>
        </form>
    };
    let found = match &*matches {
        None => Html::default(),
        Some(Remote::Loading) => html! { <p class="rb-loading">{ t.get("loading") }</p> },
        Some(Remote::Failed(e)) => {
            html! { <ErrorNotice error={e.clone()} texts={props.texts.clone()} /> }
        }
        Some(Remote::Ready(list)) if list.is_empty() => {
            html! { <p class="rb-empty" role="status">{ t.get("debugger_no_matches") }</p> }
        }
        Some(Remote::Ready(list)) => {
            let entity_type = *entity_type;
            html! {
                <ul class="rb-debugger-matches" aria-label={t.get("debugger_matches").to_string()}>
                    { for list.iter().map(|m| {
                        let (source, matches) = (source.clone(), matches.clone());
                        let id = m.id;
                        let onclick = Callback::from(move |_| {
                            matches.set(None);
                            source.set(Some(Source::Entity(EntityRef { entity_type, id })));
                        });
                        html! {
                            <li><button type="button" class="rb-link-button" {onclick}>{ format!("{} #{}", m.name, m.id) }</button></li>
                        }
                    }) }
                </ul>
            }
        }
    };

    let subdomain = match &*me {
        Remote::Ready(me) => Some(me.subdomain.clone()),
        _ => None,
    };
    let heading = match *source {
        None => Html::default(),
        Some(Source::Rule(id)) => html! {
            <h2 class="rb-debugger-heading">{ format!("{} «{}»", t.get("debugger_runs_of_rule"), rule_name(id)) }</h2>
        },
        Some(Source::Entity(e)) => html! {
            <h2 class="rb-debugger-heading">
                { format!("{} {} #{} ", t.get("debugger_runs_of_entity"), entity_noun(e.entity_type, t), e.id) }
                if let Some(s) = &subdomain {
                    <a href={runs::kommo_url(s, e)} target="_blank" rel="noopener noreferrer">{ t.get("debugger_open_in_kommo") }</a>
                }
            </h2>
        },
    };
    let filter_options: Vec<SelectOption> = RunOutcome::ALL
        .iter()
        .map(|o| SelectOption::new(o.key(), t.get(o.text_key())))
        .collect();
    let on_filter = {
        let filter = filter.clone();
        Callback::from(move |v: String| filter.set(RunOutcome::from_key(&v)))
    };
    let entries = match (&*source, &*runs) {
        (None, _) | (_, None) => html! { <p class="rb-empty">{ t.get("debugger_pick") }</p> },
        (_, Some(Remote::Loading)) => html! { <p class="rb-loading">{ t.get("loading") }</p> },
        (_, Some(Remote::Failed(e))) => {
            html! { <ErrorNotice error={e.clone()} texts={props.texts.clone()} /> }
        }
        (Some(source), Some(Remote::Ready(list))) => {
            let shown: Vec<&Run> = list
                .iter()
                .filter(|r| filter.is_none_or(|f| r.outcome() == f))
                .collect();
            let empty_key = match (list.is_empty(), source) {
                (false, _) => "debugger_filtered_empty",
                (true, Source::Rule(_)) => "debugger_empty",
                (true, Source::Entity(_)) => "debugger_entity_empty",
            };
            html! {
                <>
                    <Select label={t.get("debugger_outcome").to_string()} options={filter_options}
                        value={filter.map(|f| f.key().to_string())} placeholder={t.get("debugger_all").to_string()}
                        on_change={on_filter} class={classes!("rb-debugger-filter")} />
                    <p class="rb-hint" role="status">{ format!("{} {} / {}", t.get("debugger_shown"), shown.len(), list.len()) }</p>
                    if shown.is_empty() {
                        <p class="rb-empty">{ t.get(empty_key) }</p>
                    } else {
                        <ol class="rb-log" data-testid="debugger-log">
                            { for shown.into_iter().map(|run| html! {
                                <RunItem key={run.id} run={run.clone()} rule_name={rule_name(run.rule_id)}
                                    by_entity={matches!(source, Source::Entity(_))} subdomain={subdomain.clone()}
                                    backend={props.backend.clone()} texts={props.texts.clone()} />
                            }) }
                        </ol>
                    }
                </>
            }
        }
    };
    html! {
        <div class="rb-debugger-tab">
            <div class="rb-debugger-pickers">
                { picker }
                <span class="rb-debugger-or">{ t.get("debugger_or") }</span>
                { search }
            </div>
            { found }
            { heading }
            { entries }
        </div>
    }
}

/// Props of [`RunItem`].
#[derive(Debug, Clone, PartialEq, Properties)]
struct RunItemProps {
    run: Run,
    rule_name: String,
    /// Listed among one entity's runs (name the rule), rather than one rule's (name the entity).
    by_entity: bool,
    subdomain: Option<String>,
    backend: crate::bridge::Backend,
    texts: Texts,
}

/// The words of one replay difference.
fn change_text(change: &Change, t: &Texts) -> String {
    let status = |s: &domain::eval::BlockStatus| {
        t.get(match s {
            domain::eval::BlockStatus::Completed => "trace_completed",
            domain::eval::BlockStatus::ConditionsNotMet => "trace_no_match",
            domain::eval::BlockStatus::FrequencyExceeded => "trace_frequency",
            domain::eval::BlockStatus::OnceAlreadyFired => "trace_once",
            domain::eval::BlockStatus::Deferred { .. } => "trace_waiting",
            domain::eval::BlockStatus::NotRun => "trace_not_run",
        })
    };
    let holds = |h: bool| t.get(if h { "trace_holds" } else { "trace_fails" });
    match change {
        Change::Block {
            block,
            before,
            after,
        } => format!("«{block}»: {} → {}", status(before), status(after)),
        Change::Condition {
            block,
            number,
            before,
            after,
        } => format!(
            "«{block}», {} {number}: {} → {}",
            t.get("debugger_condition"),
            holds(*before),
            holds(*after)
        ),
        Change::BlockAdded { block } => format!("«{block}»: {}", t.get("debugger_block_added")),
        Change::BlockRemoved { block } => {
            format!("«{block}»: {}", t.get("debugger_block_removed"))
        }
        Change::Else { after: true } => t.get("debugger_else_now_runs").to_owned(),
        Change::Else { after: false } => t.get("debugger_else_no_longer").to_owned(),
    }
}

/// One run: its outcome, when, how long, and (opened) its timeline and replay.
#[function_component(RunItem)]
fn run_item(props: &RunItemProps) -> Html {
    let t = &props.texts;
    let run = &props.run;
    let replay = use_state(|| None::<Remote<serde_json::Value>>);
    let outcome = run.outcome();
    let (class, icon) = outcome.look();
    let entity = run.entity();
    let who = if props.by_entity {
        format!("«{}»", props.rule_name)
    } else {
        entity.map_or_else(String::new, |e| {
            format!("{} #{}", entity_noun(e.entity_type, t), e.id)
        })
    };
    let evaluation = run.evaluation();
    let link = props.subdomain.clone().zip(entity);
    let timeline = match &evaluation {
        Some(trace) => html! {
            <TraceView trace={trace.clone()} results={Some(run.trace["actions"].clone())}
                texts={props.texts.clone()} entity={link.clone()} />
        },
        None => html! {
            <p class="rb-trace-else">{ run.trace["loop"].as_str().map_or_else(|| t.get("debugger_no_trace").to_owned(), str::to_owned) }</p>
        },
    };
    let on_replay = {
        let (replay, backend, rule_id, event_id) = (
            replay.clone(),
            props.backend.clone(),
            run.rule_id,
            run.event_id,
        );
        Callback::from(move |_: MouseEvent| {
            let Some(event_id) = event_id else { return };
            replay.set(Some(Remote::Loading));
            let (replay, backend) = (replay.clone(), backend.clone());
            wasm_bindgen_futures::spawn_local(async move {
                replay.set(Some(
                    services::replay(&backend, rule_id, event_id).await.into(),
                ));
            });
        })
    };
    let replayed = match &*replay {
        None => Html::default(),
        Some(Remote::Loading) => html! { <p class="rb-loading">{ t.get("loading") }</p> },
        Some(Remote::Failed(e)) => {
            html! { <ErrorNotice error={e.clone()} texts={props.texts.clone()} /> }
        }
        Some(Remote::Ready(answer)) => match runs::replayed_trace(answer, entity) {
            None => html! { <p class="rb-empty">{ t.get("debugger_replay_nothing") }</p> },
            Some(after) => {
                let changes = evaluation
                    .as_ref()
                    .map(|before| runs::diff(before, &after))
                    .unwrap_or_default();
                html! {
                    <section class="rb-replay" aria-label={t.get("debugger_replay_result").to_string()}>
                        <h4>{ t.get("debugger_replay_result") }</h4>
                        <p class="rb-hint">{ t.get("debugger_replay_dry") }</p>
                        if changes.is_empty() {
                            <p class="rb-replay-same">{ t.get("debugger_replay_same") }</p>
                        } else {
                            <ul class="rb-replay-changes" aria-label={t.get("debugger_replay_changes").to_string()}>
                                { for changes.iter().map(|c| html! { <li>{ change_text(c, t) }</li> }) }
                            </ul>
                        }
                        <TraceView trace={after} texts={props.texts.clone()} />
                    </section>
                }
            }
        },
    };
    let replay_title = run
        .event_id
        .is_none()
        .then(|| t.get("debugger_replay_no_event").to_owned());
    html! {
        <li class={classes!("rb-run", class)} aria-label={format!("{} {who}", t.get(outcome.text_key()))}>
            <details>
                <summary>
                    <span class="rb-run-outcome">
                        <span class="rb-trace-status" aria-hidden="true">{ icon }</span>
                        <span class="rb-trace-status-text">{ t.get(outcome.text_key()) }</span>
                    </span>
                    <span class="rb-run-who">{ who }</span>
                    if let Some(kind) = run.event_kind() { <span class="rb-run-event">{ kind.replace('_', " ") }</span> }
                    <span>{ super::format_millis(run.started_at) }</span>
                    <span>{ format!("{} ms · {} {}", run.duration_ms, run.operations, t.get("debugger_operations")) }</span>
                </summary>
                { timeline }
                <div class="rb-run-tools">
                    <button type="button" class="button-input rb-button" onclick={on_replay}
                        disabled={run.event_id.is_none()} title={replay_title}>
                        <span class="button-input-inner"><span class="button-input-inner__text">{ t.get("debugger_replay") }</span></span>
                    </button>
                </div>
                { replayed }
            </details>
        </li>
    }
}
