//! The Rules tab: the account's rules, switched on and off in place, and an editor whose problems
//! show at their fields — checked locally by the engine's own parser, then by the backend's validation.

use yew::prelude::*;

use super::PageProps;
use crate::{
    components::ErrorNotice,
    services,
    state::{Remote, RuleDraft, UiError},
};
use domain::api::RuleSummary;

/// The Rules tab.
#[function_component(Rules)]
pub fn rules(props: &PageProps) -> Html {
    let t = &props.texts;
    let list = use_state(|| Remote::<Vec<RuleSummary>>::Loading);
    let reload = use_state(|| 0u32);
    let draft = use_state(|| None::<RuleDraft>);
    let saved = use_state(|| None::<i64>);
    let server_error = use_state(|| None::<UiError>);

    {
        let list = list.clone();
        let backend = props.backend.clone();
        use_effect_with(*reload, move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                list.set(services::rules(&backend).await.into());
            });
        });
    }

    let open = {
        let (backend, draft, server_error, saved) = (
            props.backend.clone(),
            draft.clone(),
            server_error.clone(),
            saved.clone(),
        );
        Callback::from(move |id: i64| {
            let (backend, draft, server_error, saved) = (
                backend.clone(),
                draft.clone(),
                server_error.clone(),
                saved.clone(),
            );
            wasm_bindgen_futures::spawn_local(async move {
                saved.set(None);
                match services::rule(&backend, id).await {
                    Ok(record) => {
                        server_error.set(None);
                        draft.set(Some(RuleDraft::of(&record)));
                    }
                    Err(e) => server_error.set(Some(e)),
                }
            });
        })
    };
    let toggle = {
        let (backend, reload, server_error) =
            (props.backend.clone(), reload.clone(), server_error.clone());
        Callback::from(move |(id, enabled): (i64, bool)| {
            let (backend, reload, server_error) =
                (backend.clone(), reload.clone(), server_error.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match services::set_rule_enabled(&backend, id, enabled).await {
                    Ok(_) => reload.set(*reload + 1),
                    Err(e) => server_error.set(Some(e)),
                }
            });
        })
    };
    let new_rule = {
        let (draft, server_error, saved) = (draft.clone(), server_error.clone(), saved.clone());
        Callback::from(move |_| {
            server_error.set(None);
            saved.set(None);
            draft.set(Some(RuleDraft::new_rule()));
        })
    };

    let rows = match &*list {
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
                    let open = open.clone();
                    let toggle = toggle.clone();
                    html! {
                        <tr data-rule-id={id.to_string()}>
                            <td><a href="#" onclick={Callback::from(move |e: MouseEvent| { e.prevent_default(); open.emit(id) })}>{ r.name.clone() }</a></td>
                            <td>{ r.version }</td>
                            <td>
                                <button type="button" class={classes!("rb-switch", enabled.then_some("rb-on"))}
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

    let editor = (*draft).clone().map(|d| {
        let on_saved = {
            let (draft, reload, saved, server_error) =
                (draft.clone(), reload.clone(), saved.clone(), server_error.clone());
            Callback::from(move |record: domain::api::RuleRecord| {
                server_error.set(None);
                saved.set(Some(record.version));
                draft.set(Some(RuleDraft::of(&record)));
                reload.set(*reload + 1);
            })
        };
        let on_change = {
            let draft = draft.clone();
            Callback::from(move |d: RuleDraft| draft.set(Some(d)))
        };
        html! {
            <RuleEditor draft={d} page={props.clone()} saved={*saved} server_error={(*server_error).clone()}
                on_change={on_change} on_saved={on_saved} on_error={{ let s = server_error.clone(); Callback::from(move |e| s.set(Some(e))) }} />
        }
    });

    html! {
        <div class="rb-rules-tab">
            <div class="rb-toolbar">
                <button type="button" class="rb-button rb-primary" data-testid="new-rule" onclick={new_rule}>{ t.get("rule_new") }</button>
            </div>
            { rows }
            { editor.unwrap_or_default() }
        </div>
    }
}

/// Props of [`RuleEditor`].
#[derive(Debug, Clone, PartialEq, Properties)]
struct RuleEditorProps {
    draft: RuleDraft,
    page: PageProps,
    saved: Option<i64>,
    server_error: Option<UiError>,
    on_change: Callback<RuleDraft>,
    on_saved: Callback<domain::api::RuleRecord>,
    on_error: Callback<UiError>,
}

/// The name and JSON of one rule, with each problem under its field.
#[function_component(RuleEditor)]
fn rule_editor(props: &RuleEditorProps) -> Html {
    let t = &props.page.texts;
    let check = props.draft.check();
    let on_name = {
        let (draft, on_change) = (props.draft.clone(), props.on_change.clone());
        Callback::from(move |e: InputEvent| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            on_change.emit(RuleDraft {
                name: input.value(),
                ..draft.clone()
            });
        })
    };
    let on_text = {
        let (draft, on_change) = (props.draft.clone(), props.on_change.clone());
        Callback::from(move |e: InputEvent| {
            let input: web_sys::HtmlTextAreaElement = e.target_unchecked_into();
            on_change.emit(RuleDraft {
                text: input.value(),
                ..draft.clone()
            });
        })
    };
    let on_save = {
        let (draft, backend) = (props.draft.clone(), props.page.backend.clone());
        let (on_saved, on_error) = (props.on_saved.clone(), props.on_error.clone());
        Callback::from(move |_| {
            let Some(body) = draft.to_save() else { return };
            let (backend, on_saved, on_error, id) = (
                backend.clone(),
                on_saved.clone(),
                on_error.clone(),
                draft.id,
            );
            wasm_bindgen_futures::spawn_local(async move {
                let result = match id {
                    Some(id) => services::save_rule(&backend, id, &body).await,
                    None => services::create_rule(&backend, &body).await,
                };
                match result {
                    Ok(record) => on_saved.emit(record),
                    Err(e) => on_error.emit(e),
                }
            });
        })
    };
    let field_errors = match &props.server_error {
        Some(UiError::Invalid { errors, .. }) => errors.clone(),
        _ => vec![],
    };
    let other_error = match &props.server_error {
        Some(UiError::Invalid { .. }) | None => None,
        Some(e) => Some(e.clone()),
    };
    html! {
        <form class="rb-editor" data-testid="rule-editor" onsubmit={Callback::from(|e: SubmitEvent| e.prevent_default())}>
            <h2>{ match props.draft.id { Some(id) => format!("{} #{id}", t.get("rule_edit")), None => t.get("rule_new").to_string() } }</h2>
            <label class="rb-field">
                <span>{ t.get("rule_name") }</span>
                <input data-testid="rule-name" value={props.draft.name.clone()} oninput={on_name} />
                if let Some(m) = &check.name { <em class="rb-field-error" data-testid="rule-name-error">{ m.clone() }</em> }
            </label>
            <label class="rb-field">
                <span>{ t.get("rule_json") }</span>
                <textarea data-testid="rule-json" rows="18" spellcheck="false" value={props.draft.text.clone()} oninput={on_text} />
                if let Some(m) = &check.rule { <em class="rb-field-error" data-testid="rule-json-error">{ m.clone() }</em> }
                { for field_errors.iter().map(|e| html! {
                    <em class="rb-field-error" data-testid="rule-problem" data-path={e.path.clone()}>{ e.message.clone() }</em>
                }) }
            </label>
            if let Some(e) = other_error { <ErrorNotice error={e} texts={props.page.texts.clone()} /> }
            <div class="rb-toolbar">
                <button type="button" class="rb-button rb-primary" data-testid="rule-save" disabled={!check.is_ok()} onclick={on_save}>{ t.get("rule_save") }</button>
                if let Some(v) = props.saved { <span class="rb-saved" data-testid="rule-saved">{ format!("{} {v}", t.get("rule_saved")) }</span> }
            </div>
        </form>
    }
}
