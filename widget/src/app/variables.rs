//! The Variables tab: the account's global variables — created, edited (up to 30,000 characters,
//! with a counter), cleared, deleted after a confirmation, searched — and for each, the rules that
//! use it.

use domain::api::Variable;
use domain::portable::Document;
use yew::prelude::*;

use super::PageProps;
use crate::{
    components::controls::{Button, ButtonKind, TextInput},
    components::ErrorNotice,
    hooks::use_remote,
    services,
    state::{Remote, UiError},
};

/// The longest value a variable holds (the manual's limit).
pub const MAX_VALUE_CHARS: usize = 30_000;

/// The names of the rules whose definition reads or changes the variable `name`: a `{name}` in a
/// template, a `{"global": "name"}` operand, or a "change global variable" action.
pub fn rules_using(name: &str, doc: &Document) -> Vec<String> {
    let in_template = format!("{{{name}}}");
    let needle_global = serde_json::json!({ "global": name });
    doc.rules
        .iter()
        .filter(|r| uses(&r.rule, name, &in_template, &needle_global))
        .map(|r| r.name.clone())
        .collect()
}

fn uses(v: &serde_json::Value, name: &str, template: &str, global: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains(template),
        serde_json::Value::Array(items) => items.iter().any(|i| uses(i, name, template, global)),
        serde_json::Value::Object(map) => {
            v == global
                || (map.get("type").and_then(|t| t.as_str()) == Some("change_global_variable")
                    && map.get("name").and_then(|n| n.as_str()) == Some(name))
                || map.values().any(|i| uses(i, name, template, global))
        }
        _ => false,
    }
}

/// What is wrong with a new variable's name or a value, for the field.
pub fn check(name: &str, value: &str) -> (Option<&'static str>, Option<&'static str>) {
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    (
        (!name_ok).then_some("variables_name_invalid"),
        (value.chars().count() > MAX_VALUE_CHARS).then_some("variables_value_too_long"),
    )
}

/// The Variables tab.
#[function_component(Variables)]
pub fn variables(props: &PageProps) -> Html {
    let t = &props.texts;
    let list = use_remote(&props.backend, (), |b, ()| async move {
        services::variables(&b).await
    });
    let export = use_remote(&props.backend, (), |b, ()| async move {
        services::request::<Document>(&b, "GET", "/api/v1/rules/export", None).await
    });
    let query = use_state(String::new);
    let editing = use_state(|| None::<(bool, String, String)>);
    let error = use_state(|| None::<UiError>);

    let save = {
        let (editing, backend, reload, error) = (
            editing.clone(),
            props.backend.clone(),
            list.reload.clone(),
            error.clone(),
        );
        Callback::from(move |_| {
            let Some((_, name, value)) = (*editing).clone() else {
                return;
            };
            let (editing, backend, reload, error) = (
                editing.clone(),
                backend.clone(),
                reload.clone(),
                error.clone(),
            );
            wasm_bindgen_futures::spawn_local(async move {
                let body = serde_json::json!({ "value": value }).to_string();
                let path = format!("/api/v1/variables/{}", encode(&name));
                match services::request::<Variable>(&backend, "PUT", &path, Some(body)).await {
                    Ok(_) => {
                        error.set(None);
                        editing.set(None);
                        reload.emit(());
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        })
    };
    let act = {
        let (backend, reload, error) = (props.backend.clone(), list.reload.clone(), error.clone());
        move |method: &'static str, name: String, body: Option<String>| {
            let (backend, reload, error) = (backend.clone(), reload.clone(), error.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let path = format!("/api/v1/variables/{}", encode(&name));
                match services::send(&backend, method, &path, body).await {
                    Ok(_) => reload.emit(()),
                    Err(e) => error.set(Some(e)),
                }
            });
        }
    };

    let form = (*editing).clone().map(|(is_new, name, value)| {
        let (name_problem, value_problem) = check(&name, &value);
        let count = value.chars().count();
        let set_name = {
            let editing = editing.clone();
            let value = value.clone();
            Callback::from(move |n: String| editing.set(Some((true, n, value.clone()))))
        };
        let set_value = {
            let editing = editing.clone();
            let name = name.clone();
            Callback::from(move |v: String| editing.set(Some((is_new, name.clone(), v))))
        };
        let cancel = {
            let editing = editing.clone();
            Callback::from(move |_| editing.set(None))
        };
        let blocked = name_problem.or(value_problem);
        html! {
            <form class="rb-section rb-variable-form" aria-label={t.get("variables_edit").to_string()}
                onsubmit={Callback::from(|e: SubmitEvent| e.prevent_default())}>
                if is_new {
                    <TextInput label={t.get("variable_name").to_string()} value={name.clone()} on_change={set_name}
                        hint={t.get("variables_name_hint").to_string()}
                        error={name_problem.filter(|_| !name.is_empty()).map(|k| t.get(k).to_string())} />
                } else {
                    <h3>{ format!("{{{name}}}") }</h3>
                }
                <TextInput label={t.get("variable_value").to_string()} multiline=true value={value.clone()} on_change={set_value}
                    hint={format!("{count} / {MAX_VALUE_CHARS}")}
                    error={value_problem.map(|k| t.get(k).to_string())} />
                <div class="rb-toolbar">
                    <Button kind={ButtonKind::Primary} label={t.get("rule_save").to_string()} disabled={blocked.is_some()}
                        title={blocked.map(|k| t.get(k).to_string())} onclick={save.clone()} />
                    <Button label={t.get("rules_import_cancel").to_string()} onclick={cancel} />
                </div>
            </form>
        }
    });

    let q = query.trim().to_lowercase();
    let table = match &*list.state {
        Remote::Loading => html! { <p class="rb-loading">{ t.get("loading") }</p> },
        Remote::Failed(e) => {
            html! { <ErrorNotice error={e.clone()} texts={props.texts.clone()} /> }
        }
        Remote::Ready(vars) if vars.is_empty() => {
            html! { <p class="rb-empty">{ t.get("variables_empty") }</p> }
        }
        Remote::Ready(vars) => {
            let doc = match &*export.state {
                Remote::Ready(d) => Some(d.clone()),
                _ => None,
            };
            let rows = vars
                .iter()
                .filter(|v| q.is_empty() || v.name.to_lowercase().contains(&q) || v.value.to_lowercase().contains(&q))
                .map(|v| {
                    let name = v.name.clone();
                    let used = doc.as_ref().map(|d| rules_using(&name, d)).unwrap_or_default();
                    let edit = {
                        let (editing, name, value) = (editing.clone(), name.clone(), v.value.clone());
                        Callback::from(move |_| editing.set(Some((false, name.clone(), value.clone()))))
                    };
                    let clear = {
                        let (act, name) = (act.clone(), name.clone());
                        Callback::from(move |_| act("PUT", name.clone(), Some("{\"value\":\"\"}".into())))
                    };
                    let delete = {
                        let (act, name) = (act.clone(), name.clone());
                        let question = format!("{} {{{name}}}?", t.get("variables_delete_confirm"));
                        Callback::from(move |_| {
                            if gloo::dialogs::confirm(&question) {
                                act("DELETE", name.clone(), None)
                            }
                        })
                    };
                    html! {
                        <tr key={name.clone()}>
                            <td><code>{ format!("{{{name}}}") }</code></td>
                            <td class="rb-value">{ shorten(&v.value) }</td>
                            <td class="rb-used-by">
                                if used.is_empty() { <span class="rb-hint">{ t.get("variables_unused") }</span> }
                                else { { used.join(", ") } }
                            </td>
                            <td class="rb-row-tools">
                                <Button kind={ButtonKind::Icon} icon="edit" label={format!("{} {{{name}}}", t.get("variables_edit"))} onclick={edit} />
                                <Button kind={ButtonKind::Icon} icon="clear" label={format!("{} {{{name}}}", t.get("variables_clear"))} onclick={clear} />
                                <Button kind={ButtonKind::Icon} icon="✕" label={format!("{} {{{name}}}", t.get("variables_delete"))} onclick={delete} />
                            </td>
                        </tr>
                    }
                });
            html! {
                <table class="rb-table rb-variables" data-testid="variables">
                    <thead><tr><th>{ t.get("variable_name") }</th><th>{ t.get("variable_value") }</th>
                        <th>{ t.get("variables_used_by") }</th><th><span class="rb-sr-only">{ t.get("rules_tools") }</span></th></tr></thead>
                    <tbody>{ for rows }</tbody>
                </table>
            }
        }
    };
    let new_variable = {
        let editing = editing.clone();
        Callback::from(move |_| editing.set(Some((true, String::new(), String::new()))))
    };
    html! {
        <div class="rb-variables-tab">
            <div class="rb-toolbar">
                <Button kind={ButtonKind::Primary} label={t.get("variables_new").to_string()} onclick={new_variable} />
                <TextInput label={t.get("variables_search").to_string()} hide_label=true input_type="search"
                    placeholder={t.get("variables_search").to_string()} value={(*query).clone()}
                    on_change={{ let q = query.clone(); Callback::from(move |v| q.set(v)) }} />
            </div>
            if let Some(e) = (*error).clone() { <ErrorNotice error={e} texts={props.texts.clone()} /> }
            { form.unwrap_or_default() }
            { table }
        </div>
    }
}

/// A long value cut for the table.
fn shorten(value: &str) -> String {
    const SHOWN: usize = 120;
    if value.chars().count() > SHOWN {
        format!("{}…", value.chars().take(SHOWN).collect::<String>())
    } else {
        value.to_string()
    }
}

/// A variable name as one URL path segment.
fn encode(name: &str) -> String {
    String::from(js_sys::encode_uri_component(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::portable::PortableRule;

    fn doc(rules: Vec<(&str, serde_json::Value)>) -> Document {
        Document {
            format: "rulebook.rules".into(),
            format_version: 1,
            account_id: 1,
            exported_at: 0,
            rules: rules
                .into_iter()
                .map(|(name, rule)| PortableRule {
                    id: 0,
                    name: name.into(),
                    enabled: true,
                    rule,
                })
                .collect(),
            references: Default::default(),
        }
    }

    #[test]
    fn the_rules_that_read_or_change_a_variable_are_found() {
        let d = doc(vec![
            (
                "template",
                serde_json::json!({"blocks":[{"actions":[{"do":{"type":"add_note","text":"Calls: {missed}"}}]}]}),
            ),
            (
                "condition",
                serde_json::json!({"blocks":[{"conditions":[{"left":{"global":"missed"}}]}]}),
            ),
            (
                "change",
                serde_json::json!({"blocks":[{"actions":[{"do":{"type":"change_global_variable","name":"missed","change":"set","value":"1"}}]}]}),
            ),
            (
                "other",
                serde_json::json!({"blocks":[{"actions":[{"do":{"type":"add_note","text":"{missed_calls}"}}]}]}),
            ),
        ]);
        assert_eq!(
            rules_using("missed", &d),
            vec!["template", "condition", "change"]
        );
    }

    #[test]
    fn names_and_values_are_checked_at_their_fields() {
        assert_eq!(check("missed_calls", "x"), (None, None));
        assert_eq!(check("", "x").0, Some("variables_name_invalid"));
        assert_eq!(check("a b", "x").0, Some("variables_name_invalid"));
        let long = "x".repeat(MAX_VALUE_CHARS);
        assert_eq!(check("v", &long).1, None);
        assert_eq!(
            check("v", &format!("{long}y")).1,
            Some("variables_value_too_long")
        );
    }
}
