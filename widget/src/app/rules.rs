//! The Rules tab: the account's rules, switched on and off in place, "New rule" with its recipe
//! gallery, and the builder for the rule opened.

use std::rc::Rc;

use domain::api::{RuleRecord, RuleStats, RuleSummary};
use domain::portable::ImportReport;
use domain::rule::Rule;
use yew::prelude::*;

use super::builder::{recipes::RecipeGallery, RuleBuilder};
use super::PageProps;
use crate::{
    bridge::Backend,
    components::controls::{Button, ButtonKind, MoveButtons, Select, SelectOption, TextInput},
    components::ErrorNotice,
    editor::sentence,
    hooks::use_remote,
    i18n::Texts,
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
    let stats = use_remote(&props.backend, (), |b, ()| async move {
        services::request::<Vec<RuleStats>>(&b, "GET", "/api/v1/rules/stats", None).await
    });
    // A new rule another tab chose ("Use in a new rule" on a webhook request) opens at once.
    let chosen = use_context::<super::Nav>().and_then(|n| n.new_rule);
    let open = {
        let rule = chosen.as_ref().map(|c| c.rule.clone());
        use_state(move || rule.map_or(Open::List, Open::New))
    };
    let sample = chosen.and_then(|c| c.sample);
    let server_error = use_state(|| None::<UiError>);
    let filter = use_state(Filter::default);

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
            let sample = if record.is_none() {
                sample.clone()
            } else {
                None
            };
            html! {
                <RuleBuilder {key} {record} {start} {sample} schema={Rc::new(s.clone())} rules={summaries.clone()}
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
        Remote::Ready(rules) => {
            let schema = match &*schema.state {
                Remote::Ready(s) => s.clone(),
                _ => domain::schema::Schema::default(),
            };
            let stats = match &*stats.state {
                Remote::Ready(s) => s.clone(),
                _ => Vec::new(),
            };
            html! {
                <RuleTable rules={rules.clone()} {schema} {stats} filter={(*filter).clone()}
                    texts={props.texts.clone()} backend={props.backend.clone()}
                    on_open={open_rule.clone()} on_toggle={toggle.clone()}
                    on_changed={{ let r = list.reload.clone(); Callback::from(move |_| r.emit(())) }}
                    on_error={{ let s = server_error.clone(); Callback::from(move |e| s.set(Some(e))) }} />
            }
        }
    };
    let on_search = {
        let filter = filter.clone();
        Callback::from(move |q: String| {
            filter.set(Filter {
                query: q,
                ..(*filter).clone()
            })
        })
    };
    let on_kind = {
        let filter = filter.clone();
        Callback::from(move |k: String| {
            filter.set(Filter {
                trigger: (!k.is_empty()).then_some(k),
                ..(*filter).clone()
            })
        })
    };
    let on_state = {
        let filter = filter.clone();
        Callback::from(move |k: String| {
            filter.set(Filter {
                state: (!k.is_empty()).then_some(k == "on"),
                ..(*filter).clone()
            })
        })
    };
    let kind_options: Vec<SelectOption> = crate::editor::kinds::TRIGGER_KINDS
        .iter()
        .map(|k| SelectOption::new(*k, t.get(&format!("trg_kind_{k}"))))
        .collect();
    let export_all = {
        let (backend, on_error) = (props.backend.clone(), server_error.clone());
        Callback::from(move |_| {
            let (backend, on_error) = (backend.clone(), on_error.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match services::request::<serde_json::Value>(
                    &backend,
                    "GET",
                    "/api/v1/rules/export",
                    None,
                )
                .await
                {
                    Ok(doc) => download("rulebook-rules.json", &doc),
                    Err(e) => on_error.set(Some(e)),
                }
            });
        })
    };

    html! {
        <div class="rb-rules-tab">
            <div class="rb-toolbar">
                <button type="button" class="button-input button-input_blue rb-button rb-primary" data-testid="new-rule" onclick={new_rule}>
                    <span class="button-input-inner"><span class="button-input-inner__text">{ t.get("rule_new") }</span></span>
                </button>
                <Button label={t.get("rules_export_all").to_string()} onclick={export_all} />
                <ImportRules texts={props.texts.clone()} backend={props.backend.clone()}
                    on_done={{ let r = list.reload.clone(); Callback::from(move |_| r.emit(())) }} />
            </div>
            <div class="rb-toolbar rb-filters">
                <TextInput label={t.get("rules_search").to_string()} input_type="search" value={filter.query.clone()} on_change={on_search} />
                <Select label={t.get("rules_filter_trigger").to_string()} options={kind_options} value={filter.trigger.clone()}
                    placeholder={t.get("rules_filter_any").to_string()} on_change={on_kind} />
                <Select label={t.get("rules_filter_state").to_string()}
                    options={vec![SelectOption::new("on", t.get("rule_enabled")), SelectOption::new("off", t.get("rule_disabled"))]}
                    value={filter.state.map(|on| if on { "on".to_string() } else { "off".to_string() })}
                    placeholder={t.get("rules_filter_any").to_string()} on_change={on_state} />
            </div>
            if let Some(e) = (*server_error).clone() { <ErrorNotice error={e} texts={props.texts.clone()} /> }
            { rows }
        </div>
    }
}

/// The list's search and filters.
#[derive(Debug, Clone, PartialEq, Default)]
struct Filter {
    /// Text in the name or the trigger's words.
    query: String,
    /// Only this trigger kind.
    trigger: Option<String>,
    /// Only rules switched on (`true`) or off.
    state: Option<bool>,
}

/// Props of [`RuleTable`].
#[derive(Debug, Clone, PartialEq, Properties)]
struct RuleTableProps {
    rules: Vec<RuleSummary>,
    schema: domain::schema::Schema,
    stats: Vec<RuleStats>,
    filter: Filter,
    texts: Texts,
    backend: Backend,
    on_open: Callback<i64>,
    on_toggle: Callback<(i64, bool)>,
    on_changed: Callback<()>,
    on_error: Callback<UiError>,
}

/// The rules in their order: on/off, the trigger in words with its runs, and each rule's tools.
#[function_component(RuleTable)]
fn rule_table(props: &RuleTableProps) -> Html {
    let t = &props.texts;
    let nav = use_context::<super::Nav>();
    let announce = use_state(String::new);
    let act = {
        let (backend, on_changed, on_error) = (
            props.backend.clone(),
            props.on_changed.clone(),
            props.on_error.clone(),
        );
        move |method: &'static str, path: String, body: Option<String>| {
            let (backend, on_changed, on_error) =
                (backend.clone(), on_changed.clone(), on_error.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match services::send(&backend, method, &path, body).await {
                    Ok(_) => on_changed.emit(()),
                    Err(e) => on_error.emit(e),
                }
            });
        }
    };
    let total = props.rules.len();
    let query = props.filter.query.trim().to_lowercase();
    let rows = props.rules.iter().enumerate().filter_map(|(position, r)| {
        let words = r
            .trigger_definition
            .as_ref()
            .map(|tr| sentence::trigger(tr, &props.schema, t))
            .unwrap_or_else(|| r.trigger.replace('_', " "));
        let keep = (query.is_empty()
            || r.name.to_lowercase().contains(&query)
            || words.to_lowercase().contains(&query))
            && props.filter.trigger.as_ref().is_none_or(|k| *k == r.trigger)
            && props.filter.state.is_none_or(|on| on == r.enabled);
        if !keep {
            return None;
        }
        let (id, enabled, name) = (r.id, r.enabled, r.name.clone());
        let runs = props
            .stats
            .iter()
            .find(|s| s.rule_id == id)
            .map_or(0, |s| s.runs);
        let open = {
            let cb = props.on_open.clone();
            Callback::from(move |e: MouseEvent| {
                e.prevent_default();
                cb.emit(id)
            })
        };
        let show_runs = nav.clone().map(|nav| {
            Callback::from(move |e: MouseEvent| {
                e.prevent_default();
                nav.show_runs.emit(id)
            })
        });
        let toggle = {
            let cb = props.on_toggle.clone();
            Callback::from(move |_| cb.emit((id, !enabled)))
        };
        let duplicate = {
            let act = act.clone();
            Callback::from(move |_| act("POST", format!("/api/v1/rules/{id}/duplicate"), None))
        };
        let delete = {
            let act = act.clone();
            let question = format!("{} «{name}»?", t.get("rules_delete_confirm"));
            Callback::from(move |_| {
                if gloo::dialogs::confirm(&question) {
                    act("DELETE", format!("/api/v1/rules/{id}"), None)
                }
            })
        };
        let export = {
            let (backend, on_error, file) = (
                props.backend.clone(),
                props.on_error.clone(),
                format!("rulebook-rule-{id}.json"),
            );
            Callback::from(move |_| {
                let (backend, on_error, file) = (backend.clone(), on_error.clone(), file.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    let path = format!("/api/v1/rules/export?id={id}");
                    match services::request::<serde_json::Value>(&backend, "GET", &path, None).await {
                        Ok(doc) => download(&file, &doc),
                        Err(e) => on_error.emit(e),
                    }
                });
            })
        };
        let on_move = {
            let (act, announce, moved, name) = (
                act.clone(),
                announce.clone(),
                t.get("rules_moved").to_string(),
                name.clone(),
            );
            Callback::from(move |(_, to): (usize, usize)| {
                announce.set(format!("{moved} «{name}»: {} / {total}", to + 1));
                act(
                    "PUT",
                    format!("/api/v1/rules/{id}/position"),
                    Some(format!("{{\"position\":{to}}}")),
                )
            })
        };
        Some(html! {
            <tr data-rule-id={id.to_string()} key={id}>
                <td class="rb-order">
                    <MoveButtons index={position} len={total} {on_move}
                        up_label={format!("{} «{name}»", t.get("rules_move_up"))}
                        down_label={format!("{} «{name}»", t.get("rules_move_down"))} />
                </td>
                <td><a href="#" onclick={open}>{ name.clone() }</a></td>
                <td class="rb-trigger-words">
                    { words }
                    if let Some(show) = show_runs {
                        { " · " }<a href="#" onclick={show}>{ format!("{} {runs}", t.get("rules_runs")) }</a>
                    }
                </td>
                <td>
                    <button type="button" role="switch" aria-checked={enabled.to_string()}
                        aria-label={format!("{} {}", t.get("rules_switch"), r.name)}
                        class={classes!("rb-switch", enabled.then_some("rb-on"))} onclick={toggle}>
                        { if enabled { t.get("rule_enabled") } else { t.get("rule_disabled") } }
                    </button>
                </td>
                <td class="rb-row-tools">
                    <Button kind={ButtonKind::Icon} icon="copy" label={format!("{} «{name}»", t.get("rules_duplicate"))} onclick={duplicate} />
                    <Button kind={ButtonKind::Icon} icon="download" label={format!("{} «{name}»", t.get("rules_export"))} onclick={export} />
                    <Button kind={ButtonKind::Icon} icon="✕" label={format!("{} «{name}»", t.get("rules_delete"))} onclick={delete} />
                </td>
                <td class="rb-id">{ format!("#{id}") }</td>
            </tr>
        })
    });
    let rows: Vec<Html> = rows.collect();
    html! {
        <>
            <div aria-live="polite" role="status" class="rb-sr-only">{ (*announce).clone() }</div>
            if rows.is_empty() {
                <p class="rb-empty">{ t.get("rules_none_match") }</p>
            } else {
                <table class="rb-table rb-rules" data-testid="rules">
                    <thead><tr>
                        <th><span class="rb-sr-only">{ t.get("rules_order") }</span></th>
                        <th>{ t.get("rule_name") }</th><th>{ t.get("rules_trigger") }</th>
                        <th>{ t.get("rule_state") }</th><th><span class="rb-sr-only">{ t.get("rules_tools") }</span></th><th></th>
                    </tr></thead>
                    <tbody>{ for rows }</tbody>
                </table>
            }
        </>
    }
}

/// Offers `value` as a JSON file download named `name`.
fn download(name: &str, value: &serde_json::Value) {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    let blob = gloo::file::Blob::new_with_options(text.as_str(), Some("application/json"));
    let url = gloo::file::ObjectUrl::from(blob);
    let document = gloo::utils::document();
    if let Ok(a) = document.create_element("a") {
        let _ = a.set_attribute("href", &url);
        let _ = a.set_attribute("download", name);
        if let Some(a) = wasm_bindgen::JsCast::dyn_ref::<web_sys::HtmlElement>(&a) {
            a.click();
        }
    }
}

/// Props of [`ImportRules`].
#[derive(Debug, Clone, PartialEq, Properties)]
struct ImportRulesProps {
    texts: Texts,
    backend: Backend,
    on_done: Callback<()>,
}

/// Import from a file: a preview of what will be created and what stays unmatched, then the import.
#[function_component(ImportRules)]
fn import_rules(props: &ImportRulesProps) -> Html {
    let t = &props.texts;
    let document = use_state(|| None::<String>);
    let preview = use_state(|| None::<Result<ImportReport, UiError>>);
    let reader = use_mut_ref(|| None::<gloo::file::callbacks::FileReader>);
    let input_id = crate::components::controls::use_control_id("import");
    let on_file = {
        let (document, preview, reader, backend) = (
            document.clone(),
            preview.clone(),
            reader.clone(),
            props.backend.clone(),
        );
        Callback::from(move |e: Event| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            let Some(file) = input.files().and_then(|f| f.get(0)) else {
                return;
            };
            let (document, preview, backend) = (document.clone(), preview.clone(), backend.clone());
            let task =
                gloo::file::callbacks::read_as_text(&gloo::file::File::from(file), move |text| {
                    let Ok(text) = text else { return };
                    document.set(Some(text.clone()));
                    wasm_bindgen_futures::spawn_local(async move {
                        let answer = services::request::<ImportReport>(
                            &backend,
                            "POST",
                            "/api/v1/rules/import?dry=true",
                            Some(text),
                        )
                        .await;
                        preview.set(Some(answer));
                    });
                });
            *reader.borrow_mut() = Some(task);
        })
    };
    let confirm = {
        let (document, preview, backend, on_done) = (
            document.clone(),
            preview.clone(),
            props.backend.clone(),
            props.on_done.clone(),
        );
        Callback::from(move |_| {
            let Some(text) = (*document).clone() else {
                return;
            };
            let (preview, backend, on_done, document) = (
                preview.clone(),
                backend.clone(),
                on_done.clone(),
                document.clone(),
            );
            wasm_bindgen_futures::spawn_local(async move {
                let answer = services::request::<serde_json::Value>(
                    &backend,
                    "POST",
                    "/api/v1/rules/import",
                    Some(text),
                )
                .await;
                match answer {
                    Ok(_) => {
                        preview.set(None);
                        document.set(None);
                        on_done.emit(());
                    }
                    Err(e) => preview.set(Some(Err(e))),
                }
            });
        })
    };
    let cancel = {
        let (document, preview) = (document.clone(), preview.clone());
        Callback::from(move |_| {
            preview.set(None);
            document.set(None);
        })
    };
    let body = match &*preview {
        None => Html::default(),
        Some(Err(e)) => html! { <ErrorNotice error={e.clone()} texts={t.clone()} /> },
        Some(Ok(report)) => {
            html! {
                <div class="rb-import-preview" role="region" aria-label={t.get("rules_import_preview").to_string()}>
                    <h3>{ t.get("rules_import_preview") }</h3>
                    <ul>
                    { for report.rules.iter().map(|r| html! {
                        <li>
                            <strong>{ r.name.clone() }</strong>
                            { format!(" — {}", t.get("rules_import_created_off")) }
                            if !r.unmatched.is_empty() {
                                <ul class="rb-unmatched">
                                    { for r.unmatched.iter().map(|u| html! {
                                        <li class="rb-fail">{ format!("{} {:?} {}: {}", t.get("rules_import_unmatched"), u.kind,
                                            u.name.clone().unwrap_or_else(|| format!("#{}", u.id)), u.reason) }</li>
                                    }) }
                                </ul>
                            }
                        </li>
                    }) }
                    </ul>
                    <div class="rb-toolbar">
                        <Button kind={ButtonKind::Primary} label={t.get("rules_import_confirm").to_string()} onclick={confirm} />
                        <Button label={t.get("rules_import_cancel").to_string()} onclick={cancel} />
                    </div>
                </div>
            }
        }
    };
    html! {
        <>
            <label for={input_id.clone()} class="button-input rb-button rb-file-button">
                <span class="button-input-inner"><span class="button-input-inner__text">{ t.get("rules_import") }</span></span>
            </label>
            <input id={input_id} type="file" accept="application/json,.json" class="rb-sr-only"
                aria-label={t.get("rules_import").to_string()} onchange={on_file} />
            { body }
        </>
    }
}
