//! The Rules tab: the account's rules, switched on and off in place, "New rule" with its recipe
//! gallery, and the builder for the rule opened.

use std::rc::Rc;

use domain::api::{RuleRecord, RuleSummary};
use domain::rule::Rule;
use yew::prelude::*;

use super::builder::{recipes::RecipeGallery, RuleBuilder};
use super::PageProps;
use crate::{
    components::ErrorNotice,
    hooks::use_remote,
    services,
    state::{Remote, UiError},
};

/// What the tab shows besides the list.
#[derive(Debug, Clone, PartialEq)]
enum Open {
    /// Only the list.
    List,
    /// The recipe gallery of "New rule".
    Gallery,
    /// The builder on a new rule (blank or from a recipe).
    New(Rule),
    /// The builder on a stored rule.
    Stored(RuleRecord),
}

/// The Rules tab.
#[function_component(Rules)]
pub fn rules(props: &PageProps) -> Html {
    let t = &props.texts;
    let list = use_remote(&props.backend, (), |b, ()| async move {
        services::rules(&b).await
    });
    let schema = use_remote(&props.backend, (), |b, ()| async move {
        services::schema(&b).await
    });
    let open = use_state(|| Open::List);
    let server_error = use_state(|| None::<UiError>);

    let open_rule = {
        let (backend, open, server_error) =
            (props.backend.clone(), open.clone(), server_error.clone());
        Callback::from(move |id: i64| {
            let (backend, open, server_error) =
                (backend.clone(), open.clone(), server_error.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match services::rule(&backend, id).await {
                    Ok(record) => {
                        server_error.set(None);
                        open.set(Open::Stored(record));
                    }
                    Err(e) => server_error.set(Some(e)),
                }
            });
        })
    };
    let toggle = {
        let (backend, reload, server_error) = (
            props.backend.clone(),
            list.reload.clone(),
            server_error.clone(),
        );
        Callback::from(move |(id, enabled): (i64, bool)| {
            let (backend, reload, server_error) =
                (backend.clone(), reload.clone(), server_error.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match services::set_rule_enabled(&backend, id, enabled).await {
                    Ok(_) => reload.emit(()),
                    Err(e) => server_error.set(Some(e)),
                }
            });
        })
    };
    let new_rule = {
        let (open, server_error) = (open.clone(), server_error.clone());
        Callback::from(move |_| {
            server_error.set(None);
            open.set(Open::Gallery);
        })
    };

    let summaries: Rc<Vec<RuleSummary>> = match &*list.state {
        Remote::Ready(r) => Rc::new(r.clone()),
        _ => Rc::new(Vec::new()),
    };
    let builder = |record: Option<RuleRecord>, start: Option<Rule>| match &*schema.state {
        Remote::Loading => html! { <p class="rb-loading">{ t.get("loading") }</p> },
        Remote::Failed(e) => {
            html! { <ErrorNotice error={e.clone()} texts={props.texts.clone()} /> }
        }
        Remote::Ready(s) => {
            let on_saved = {
                let (open, reload) = (open.clone(), list.reload.clone());
                Callback::from(move |record: RuleRecord| {
                    reload.emit(());
                    open.set(Open::Stored(record));
                })
            };
            let on_close = {
                let (open, reload) = (open.clone(), list.reload.clone());
                Callback::from(move |_| {
                    reload.emit(());
                    open.set(Open::List);
                })
            };
            let key = record.as_ref().map_or(0, |r| r.id);
            html! {
                <RuleBuilder {key} {record} {start} schema={Rc::new(s.clone())} rules={summaries.clone()}
                    texts={props.texts.clone()} backend={props.backend.clone()} {on_saved} {on_close} />
            }
        }
    };
    match &*open {
        Open::Stored(record) => return builder(Some(record.clone()), None),
        Open::New(rule) => return builder(None, Some(rule.clone())),
        Open::Gallery => {
            let on_pick = {
                let open = open.clone();
                Callback::from(move |rule: Rule| open.set(Open::New(rule)))
            };
            return match &*schema.state {
                Remote::Ready(s) => {
                    html! { <RecipeGallery {on_pick} schema={Rc::new(s.clone())} texts={props.texts.clone()} /> }
                }
                Remote::Loading => html! { <p class="rb-loading">{ t.get("loading") }</p> },
                Remote::Failed(e) => {
                    html! { <ErrorNotice error={e.clone()} texts={props.texts.clone()} /> }
                }
            };
        }
        Open::List => {}
    }

    let rows = match &*list.state {
        Remote::Loading => html! { <p class="rb-loading">{ t.get("loading") }</p> },
        Remote::Failed(e) => {
            html! { <ErrorNotice error={e.clone()} texts={props.texts.clone()} /> }
        }
        Remote::Ready(rules) if rules.is_empty() => {
            html! { <p class="rb-empty">{ t.get("rules_empty") }</p> }
        }
        Remote::Ready(rules) => html! {
            <table class="rb-table rb-rules" data-testid="rules">
                <thead><tr><th>{ t.get("rule_name") }</th><th>{ t.get("rule_version") }</th><th>{ t.get("rule_state") }</th><th></th></tr></thead>
                <tbody>
                { for rules.iter().map(|r| {
                    let (id, enabled) = (r.id, r.enabled);
                    let open_rule = open_rule.clone();
                    let toggle = toggle.clone();
                    html! {
                        <tr data-rule-id={id.to_string()}>
                            <td><a href="#" onclick={Callback::from(move |e: MouseEvent| { e.prevent_default(); open_rule.emit(id) })}>{ r.name.clone() }</a></td>
                            <td>{ r.version }</td>
                            <td>
                                <button type="button" role="switch" aria-checked={enabled.to_string()}
                                    aria-label={format!("{} {}", t.get("rule_enabled"), r.name)}
                                    class={classes!("rb-switch", enabled.then_some("rb-on"))}
                                    onclick={Callback::from(move |_| toggle.emit((id, !enabled)))}>
                                    { if enabled { t.get("rule_enabled") } else { t.get("rule_disabled") } }
                                </button>
                            </td>
                            <td class="rb-id">{ format!("#{id}") }</td>
                        </tr>
                    }
                }) }
                </tbody>
            </table>
        },
    };

    html! {
        <div class="rb-rules-tab">
            <div class="rb-toolbar">
                <button type="button" class="button-input button-input_blue rb-button rb-primary" data-testid="new-rule" onclick={new_rule}>
                    <span class="button-input-inner"><span class="button-input-inner__text">{ t.get("rule_new") }</span></span>
                </button>
            </div>
            if let Some(e) = (*server_error).clone() { <ErrorNotice error={e} texts={props.texts.clone()} /> }
            { rows }
        </div>
    }
}
