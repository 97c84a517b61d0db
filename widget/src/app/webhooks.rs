//! The Webhooks tab: the account's inbound webhook receivers — created, renamed, their URL copied,
//! rotated (after a confirmation: the old URL stops working) and deleted (after a confirmation) —
//! and the last 100 requests of the receiver opened, each expandable into the variables read from
//! it as a tree (nested keys indented, each variable's `{name}` shown with a copy button), with
//! "Use in a new rule", which opens the builder on an inbound-webhook rule for that receiver with
//! the request as its template preview's sample.
//!
//! Receivers are for administrators only (their URLs are secrets, their requests customer data);
//! a member's list answers 403, and the tab says so. The open receiver's log is polled (our own
//! backend, the newest request only, then the list when it changed), so a request sent from
//! outside shows within a second.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use domain::rule::Trigger;
use yew::prelude::*;

use super::{builder::template::RequestSample, NewRule, PageProps};
use crate::{
    bridge::Backend,
    components::controls::{Button, ButtonKind, TextInput},
    components::copy::CopyButton,
    components::ErrorNotice,
    hooks::{use_remote, use_row_actions, RowAction},
    i18n::Texts,
    services::{self, Receiver, ReceiverRequest},
    state::{Remote, UiError},
};

/// The longest receiver name, in characters (the backend's limit).
pub const MAX_NAME_CHARS: usize = 200;

/// How many requests of a receiver are kept and listed.
pub const KEPT_REQUESTS: usize = 100;

/// How often the open receiver's log is checked for a new request, in milliseconds (while the
/// page is visible): one small request to our backend, so a new request shows within a second.
const POLL_MS: u32 = 500;

/// The variable that holds a request's raw body.
pub const RAW_BODY: &str = "webhook_data";

/// What is wrong with a receiver name, as a text key, for the field (the backend's own rule: 1 to
/// 200 characters after trimming, no control characters).
pub fn check_name(name: &str) -> Option<&'static str> {
    let name = name.trim();
    let bad = name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control);
    bad.then_some("webhooks_name_invalid")
}

/// One node of a request's variable tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarNode {
    /// An object or a list in the body: its key and what it holds.
    Branch {
        /// The key (an index for a list item).
        key: String,
        /// What it holds.
        children: Vec<VarNode>,
    },
    /// A value: its key, the variable that holds it and the value.
    Leaf {
        /// The key (the variable's whole name for one not read from a JSON body).
        key: String,
        /// The variable's name, used as `{name}` in templates.
        variable: String,
        /// Its value as the rule sees it.
        value: String,
    },
}

/// The variables of a request as a tree: a JSON body's objects and lists as branches, each value
/// a leaf under the `parent_child` name the backend read it into (a value nested past the
/// backend's depth is one leaf holding its JSON text, exactly when the variables hold it so).
/// Variables a JSON body does not explain (the query string, a form body, a body kept only in
/// part) follow as leaves of their own, and the raw body (`webhook_data`) comes last.
pub fn variable_tree(body: &str, vars: &BTreeMap<String, String>) -> Vec<VarNode> {
    let mut covered = BTreeSet::new();
    let mut nodes = match serde_json::from_str::<serde_json::Value>(body) {
        Ok(json @ (serde_json::Value::Object(_) | serde_json::Value::Array(_))) => {
            children("", &json, vars, &mut covered)
        }
        _ => Vec::new(),
    };
    nodes.extend(
        vars.iter()
            .filter(|(name, _)| !covered.contains(*name) && name.as_str() != RAW_BODY)
            .map(|(name, value)| leaf(name, name, value)),
    );
    if let Some(raw) = vars.get(RAW_BODY) {
        nodes.push(leaf(RAW_BODY, RAW_BODY, raw));
    }
    nodes
}

fn leaf(key: &str, variable: &str, value: &str) -> VarNode {
    VarNode::Leaf {
        key: key.to_owned(),
        variable: variable.to_owned(),
        value: value.to_owned(),
    }
}

fn children(
    prefix: &str,
    value: &serde_json::Value,
    vars: &BTreeMap<String, String>,
    covered: &mut BTreeSet<String>,
) -> Vec<VarNode> {
    let entries: Vec<(String, &serde_json::Value)> = match value {
        serde_json::Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for (key, v) in entries {
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}_{key}")
        };
        let nested = matches!(
            v,
            serde_json::Value::Object(_) | serde_json::Value::Array(_)
        );
        if nested && !vars.contains_key(&name) {
            let inner = children(&name, v, vars, covered);
            if !inner.is_empty() {
                out.push(VarNode::Branch {
                    key,
                    children: inner,
                });
            }
        } else if let Some(value) = vars.get(&name) {
            covered.insert(name.clone());
            out.push(leaf(&key, &name, value));
        }
    }
    out
}

/// Whether request `id` is expanded: the ones the user opened, or, until the user opened or
/// closed any, the newest.
pub fn is_expanded(expanded: Option<&BTreeSet<i64>>, newest: Option<i64>, id: i64) -> bool {
    match expanded {
        Some(set) => set.contains(&id),
        None => newest == Some(id),
    }
}

/// A request that shows how to call a receiver, for the empty log.
pub fn curl_example(url: &str) -> String {
    format!(
        "curl -X POST -H 'Content-Type: application/json' \
         -d '{{\"name\": \"Ann\", \"phone\": \"+15550100\", \"order\": {{\"id\": 42}}}}' '{url}'"
    )
}

/// The rule "Use in a new rule" opens: an inbound-webhook trigger on the receiver.
pub fn new_rule_for(receiver: &Receiver, texts: &Texts) -> domain::rule::Rule {
    let mut rule = crate::editor::kinds::new_rule();
    rule.name = format!("{} «{}»", texts.get("webhooks_rule_name"), receiver.name);
    rule.trigger = Trigger::InboundWebhook {
        hook_id: receiver.name.clone(),
        receiver_id: Some(receiver.id),
        search: None,
    };
    rule
}

/// The form of a new receiver or a rename: the receiver renamed (`None` for a new one) and the
/// name typed.
#[derive(Debug, Clone, PartialEq)]
struct NameForm {
    id: Option<i64>,
    name: String,
}

/// The Webhooks tab.
#[function_component(Webhooks)]
pub fn webhooks(props: &PageProps) -> Html {
    let t = &props.texts;
    let list = use_remote(&props.backend, (), |b, ()| async move {
        services::receivers(&b).await
    });
    let open = use_state(|| None::<i64>);
    let form = use_state(|| None::<NameForm>);
    let error = use_state(|| None::<UiError>);

    let save = {
        let (form, open, backend, reload, error) = (
            form.clone(),
            open.clone(),
            props.backend.clone(),
            list.reload.clone(),
            error.clone(),
        );
        Callback::from(move |_| {
            let Some(f) = (*form).clone() else { return };
            if check_name(&f.name).is_some() {
                return;
            }
            let (form, open, backend, reload, error) = (
                form.clone(),
                open.clone(),
                backend.clone(),
                reload.clone(),
                error.clone(),
            );
            wasm_bindgen_futures::spawn_local(async move {
                match services::save_receiver(&backend, f.id, f.name.trim()).await {
                    Ok(receiver) => {
                        error.set(None);
                        form.set(None);
                        open.set(Some(receiver.id));
                        reload.emit(());
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        })
    };
    // Rotate and delete: each after its question, then the list again.
    let row_actions = use_row_actions(
        &props.backend,
        list.reload.clone(),
        error.clone(),
        |backend, action, id| async move {
            match action {
                RowAction::Rotate => services::rotate_receiver(&backend, id).await.map(drop),
                RowAction::Delete => services::delete_receiver(&backend, id).await,
            }
        },
    );

    let name_form = (*form).clone().map(|f| {
        let problem = check_name(&f.name);
        let set_name = {
            let (form, id) = (form.clone(), f.id);
            Callback::from(move |name: String| form.set(Some(NameForm { id, name })))
        };
        let cancel = {
            let form = form.clone();
            Callback::from(move |_| form.set(None))
        };
        let (title, submit) = match f.id {
            Some(_) => (t.get("webhooks_rename_title"), t.get("rule_save")),
            None => (t.get("webhooks_new"), t.get("webhooks_create")),
        };
        let onsubmit = {
            let save = save.clone();
            Callback::from(move |e: SubmitEvent| {
                e.prevent_default();
                save.emit(());
            })
        };
        html! {
            <form class="rb-section rb-receiver-form" aria-label={title.to_string()} {onsubmit}>
                <TextInput label={t.get("webhooks_name").to_string()} value={f.name.clone()} on_change={set_name}
                    hint={t.get("webhooks_name_hint").to_string()}
                    error={problem.filter(|_| !f.name.is_empty()).map(|k| t.get(k).to_string())} />
                <div class="rb-toolbar">
                    <Button kind={ButtonKind::Primary} label={submit.to_string()} disabled={problem.is_some()}
                        title={problem.map(|k| t.get(k).to_string())} onclick={{ let s = save.clone(); Callback::from(move |_| s.emit(())) }} />
                    <Button label={t.get("rules_import_cancel").to_string()} onclick={cancel} />
                </div>
            </form>
        }
    });

    let body = match &*list.state {
        Remote::Loading => html! { <p class="rb-loading">{ t.get("loading") }</p> },
        Remote::Failed(UiError::Forbidden { .. }) => {
            return html! {
                <div class="rb-webhooks-tab">
                    <p class="rb-note" role="note">{ t.get("webhooks_admins_only") }</p>
                </div>
            };
        }
        Remote::Failed(e) => {
            html! { <ErrorNotice error={e.clone()} texts={props.texts.clone()} /> }
        }
        Remote::Ready(receivers) if receivers.is_empty() => {
            html! { <p class="rb-empty">{ t.get("webhooks_empty") }</p> }
        }
        Remote::Ready(receivers) => {
            // The receiver whose log shows: the one chosen, else the first.
            let shown = (*open)
                .filter(|id| receivers.iter().any(|r| r.id == *id))
                .or_else(|| receivers.first().map(|r| r.id));
            let rows = receivers.iter().map(|r| {
                let name = r.name.clone();
                let is_open = shown == Some(r.id);
                let show = {
                    let (open, id) = (open.clone(), r.id);
                    Callback::from(move |_| open.set(Some(id)))
                };
                let rename = {
                    let (form, id, name) = (form.clone(), r.id, name.clone());
                    Callback::from(move |_| form.set(Some(NameForm { id: Some(id), name: name.clone() })))
                };
                let rotate = row_actions.on_confirmed(
                    RowAction::Rotate,
                    r.id,
                    t.get("webhooks_rotate_confirm").replace("{name}", &name),
                );
                let delete = row_actions.on_confirmed(
                    RowAction::Delete,
                    r.id,
                    t.get("webhooks_delete_confirm").replace("{name}", &name),
                );
                html! {
                    <tr key={r.id} class={classes!(is_open.then_some("rb-row-open"))}>
                        <td>
                            <button type="button" class="rb-link-button" aria-pressed={is_open.to_string()} onclick={show}
                                aria-label={format!("{} «{name}»", t.get("webhooks_show"))}>{ name.clone() }</button>
                        </td>
                        <td><div class="rb-url-cell">
                            <input type="text" readonly=true class="text-input rb-url" value={r.url.clone()}
                                aria-label={format!("{} «{name}»", t.get("webhooks_url_of"))}
                                onfocus={Callback::from(|e: FocusEvent| {
                                    let input: web_sys::HtmlInputElement = e.target_unchecked_into();
                                    input.select();
                                })} />
                            <CopyButton text={r.url.clone()} label={format!("{} «{name}»", t.get("webhooks_copy_url"))}
                                done={t.get("copy_done").to_string()} failed={t.get("copy_failed").to_string()} />
                        </div></td>
                        <td class="rb-row-tools">
                            <Button kind={ButtonKind::Icon} icon="edit" label={format!("{} «{name}»", t.get("webhooks_rename"))} onclick={rename} />
                            <Button kind={ButtonKind::Icon} icon="↻" label={format!("{} «{name}»", t.get("webhooks_rotate"))} onclick={rotate} />
                            <Button kind={ButtonKind::Icon} icon="✕" label={format!("{} «{name}»", t.get("webhooks_delete"))} onclick={delete} />
                        </td>
                    </tr>
                }
            });
            let log = shown
                .and_then(|id| receivers.iter().find(|r| r.id == id))
                .map(|r| html! {
                    <RequestLog key={r.id} receiver={r.clone()} backend={props.backend.clone()} texts={props.texts.clone()} />
                });
            html! {
                <>
                <table class="rb-table rb-receivers" data-testid="receivers">
                    <thead><tr><th>{ t.get("webhooks_name") }</th><th>{ t.get("webhooks_url") }</th>
                        <th><span class="rb-sr-only">{ t.get("rules_tools") }</span></th></tr></thead>
                    <tbody>{ for rows }</tbody>
                </table>
                { log.unwrap_or_default() }
                </>
            }
        }
    };
    let new_receiver = {
        let form = form.clone();
        Callback::from(move |_| {
            form.set(Some(NameForm {
                id: None,
                name: String::new(),
            }))
        })
    };
    html! {
        <div class="rb-webhooks-tab">
            <p class="rb-lead">{ t.get("webhooks_intro") }</p>
            <div class="rb-toolbar">
                <Button kind={ButtonKind::Primary} label={t.get("webhooks_new").to_string()} onclick={new_receiver} />
            </div>
            if let Some(e) = (*error).clone() { <ErrorNotice error={e} texts={props.texts.clone()} /> }
            { name_form.unwrap_or_default() }
            { body }
        </div>
    }
}

/// Props of [`RequestLog`].
#[derive(Debug, Clone, PartialEq, Properties)]
struct RequestLogProps {
    receiver: Receiver,
    backend: Backend,
    texts: Texts,
}

/// One receiver's last requests, newest first, kept up to date while shown.
#[function_component(RequestLog)]
fn request_log(props: &RequestLogProps) -> Html {
    let t = &props.texts;
    let nav = use_context::<super::Nav>();
    let requests = use_state(|| Remote::<Vec<ReceiverRequest>>::Loading);
    let expanded = use_state(|| None::<BTreeSet<i64>>);
    {
        let (backend, requests) = (props.backend.clone(), requests.clone());
        use_effect_with(props.receiver.id, move |id| {
            let id = *id;
            // The newest request loaded (`Some(None)`: the log was empty), and whether a check is
            // under way, shared by the ticks.
            let newest = Rc::new(std::cell::Cell::new(None::<Option<i64>>));
            let busy = Rc::new(std::cell::Cell::new(false));
            let tick = move || {
                // A hidden page (another browser tab) is not polled; a check under way is awaited.
                if gloo::utils::document().hidden() || busy.replace(true) {
                    return;
                }
                let (backend, requests, newest, busy) = (
                    backend.clone(),
                    requests.clone(),
                    newest.clone(),
                    busy.clone(),
                );
                wasm_bindgen_futures::spawn_local(async move {
                    let changed = match newest.get() {
                        None => true,
                        Some(known) => services::receiver_requests(&backend, id, 1)
                            .await
                            .is_ok_and(|l| l.first().map(|r| r.id) != known),
                    };
                    if changed {
                        let answer = services::receiver_requests(&backend, id, KEPT_REQUESTS).await;
                        if let Ok(list) = &answer {
                            newest.set(Some(list.first().map(|r| r.id)));
                        }
                        requests.set(answer.into());
                    }
                    busy.set(false);
                });
            };
            tick();
            let poll = gloo::timers::callback::Interval::new(POLL_MS, tick);
            move || drop(poll)
        });
    }
    let receiver = &props.receiver;
    let heading = format!("{} «{}»", t.get("webhooks_requests"), receiver.name);
    let body = match &*requests {
        Remote::Loading => html! { <p class="rb-loading">{ t.get("loading") }</p> },
        Remote::Failed(e) => {
            html! { <ErrorNotice error={e.clone()} texts={props.texts.clone()} /> }
        }
        Remote::Ready(list) if list.is_empty() => html! {
            <div class="rb-empty">
                <p>{ t.get("webhooks_no_requests") }</p>
                <pre class="rb-code">{ curl_example(&receiver.url) }</pre>
            </div>
        },
        Remote::Ready(list) => {
            let newest = list.first().map(|r| r.id);
            let items = list.iter().map(|r| {
                let open = is_expanded(expanded.as_ref(), newest, r.id);
                let toggle = {
                    let (expanded, id, ids) = (expanded.clone(), r.id, list.iter().map(|r| r.id).collect::<Vec<_>>());
                    Callback::from(move |_| {
                        let mut set: BTreeSet<i64> = ids
                            .iter()
                            .copied()
                            .filter(|i| is_expanded(expanded.as_ref(), ids.first().copied(), *i))
                            .collect();
                        if !set.remove(&id) {
                            set.insert(id);
                        }
                        expanded.set(Some(set));
                    })
                };
                let use_it = {
                    let nav = nav.clone();
                    let rule = new_rule_for(receiver, t);
                    let sample = RequestSample { receiver_id: receiver.id, vars: r.variables.clone() };
                    Callback::from(move |_| {
                        if let Some(nav) = &nav {
                            nav.open_new.emit(NewRule { rule: rule.clone(), sample: Some(Rc::new(sample.clone())) });
                        }
                    })
                };
                let panel_id = format!("rb-request-{}", r.id);
                let summary = format!(
                    "{} #{} · {} · {}{}{}",
                    t.get("webhooks_request"),
                    r.id,
                    r.method,
                    super::format_millis(r.received_at),
                    r.content_type.as_deref().map(|c| format!(" · {c}")).unwrap_or_default(),
                    format_args!(" · {} {}", r.body_bytes, t.get("webhooks_bytes")),
                );
                html! {
                    <li key={r.id} class="rb-hook-request" aria-label={format!("{} #{}", t.get("webhooks_request"), r.id)}>
                        <div class="rb-hook-request-head">
                            <button type="button" class="rb-hook-request-toggle" aria-expanded={open.to_string()}
                                aria-controls={panel_id.clone()} onclick={toggle}>
                                <span aria-hidden="true">{ if open { "▾ " } else { "▸ " } }</span>{ summary }
                            </button>
                            <Button label={t.get("webhooks_use").to_string()} onclick={use_it} />
                        </div>
                        if open {
                            <div id={panel_id} class="rb-hook-request-body">
                                <VariableTree request={r.clone()} texts={props.texts.clone()} />
                            </div>
                        }
                    </li>
                }
            });
            html! { <ol class="rb-hook-requests" aria-label={heading.clone()}>{ for items }</ol> }
        }
    };
    html! {
        <section class="rb-section rb-hook-log" aria-labelledby="rb-hook-log-heading">
            <h3 id="rb-hook-log-heading">{ heading }</h3>
            <p class="rb-hint">{ t.get("webhooks_requests_hint") }</p>
            { body }
        </section>
    }
}

/// Props of [`VariableTree`].
#[derive(Debug, Clone, PartialEq, Properties)]
struct VariableTreeProps {
    request: ReceiverRequest,
    texts: Texts,
}

/// A request's variables as a tree, then its body.
#[function_component(VariableTree)]
fn variable_tree_view(props: &VariableTreeProps) -> Html {
    let t = &props.texts;
    let r = &props.request;
    let nodes = variable_tree(&r.body, &r.variables);
    let label = format!(
        "{} · {} #{}",
        t.get("webhooks_variables"),
        t.get("webhooks_request"),
        r.id
    );
    html! {
        <>
        <h4>{ t.get("webhooks_variables") }</h4>
        <p class="rb-hint">{ t.get("webhooks_variables_hint") }</p>
        if nodes.is_empty() {
            <p class="rb-empty">{ t.get("webhooks_no_variables") }</p>
        } else {
            <ul class="rb-var-tree" aria-label={label}>{ for nodes.iter().map(|n| node_view(n, t)) }</ul>
        }
        if let Some(q) = &r.query { <p class="rb-hint">{ format!("{}: ?{q}", t.get("webhooks_query")) }</p> }
        <details class="rb-hook-request-raw">
            <summary>{ t.get("webhooks_body") }{ if r.truncated { format!(" ({})", t.get("webhooks_truncated")) } else { String::new() } }</summary>
            <pre class="rb-code">{ r.body.clone() }</pre>
        </details>
        </>
    }
}

fn node_view(node: &VarNode, t: &Texts) -> Html {
    match node {
        VarNode::Branch { key, children } => html! {
            <li class="rb-var-branch">
                <span class="rb-var-key">{ key.clone() }</span>
                <ul>{ for children.iter().map(|c| node_view(c, t)) }</ul>
            </li>
        },
        VarNode::Leaf {
            key,
            variable,
            value,
        } => {
            let written = format!("{{{variable}}}");
            let shown = if variable == RAW_BODY {
                t.get("webhooks_raw").to_string()
            } else {
                shorten(value)
            };
            html! {
                <li class="rb-var-leaf">
                    if key != variable { <span class="rb-var-key">{ key.clone() }</span> }
                    <code class="rb-var-name">{ written.clone() }</code>
                    <CopyButton text={written.clone()} label={format!("{} {written}", t.get("webhooks_copy_var"))}
                        done={t.get("copy_done").to_string()} failed={t.get("copy_failed").to_string()} />
                    <span class="rb-var-value">{ shown }</span>
                </li>
            }
        }
    }
}

/// A long value cut for the tree (the body below shows all of it).
fn shorten(value: &str) -> String {
    const SHOWN: usize = 160;
    if value.chars().count() > SHOWN {
        format!("{}…", value.chars().take(SHOWN).collect::<String>())
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn find<'a>(nodes: &'a [VarNode], key: &str) -> &'a VarNode {
        nodes
            .iter()
            .find(|n| match n {
                VarNode::Branch { key: k, .. } | VarNode::Leaf { key: k, .. } => k == key,
            })
            .unwrap_or_else(|| panic!("no node {key} in {nodes:?}"))
    }

    fn kids(node: &VarNode) -> &[VarNode] {
        match node {
            VarNode::Branch { children, .. } => children,
            VarNode::Leaf { .. } => panic!("{node:?} is a leaf"),
        }
    }

    #[test]
    fn a_nested_json_body_becomes_a_tree_whose_leaves_name_their_variables() {
        let body = r#"{"customer": {"first_name": "Ann", "address": {"city": "Porto"}}, "items": [{"sku": "A1"}], "paid": true}"#;
        let v = vars(&[
            ("customer_first_name", "Ann"),
            ("customer_address_city", "Porto"),
            ("items_0_sku", "A1"),
            ("paid", "true"),
            (RAW_BODY, body),
        ]);
        let tree = variable_tree(body, &v);
        let customer = find(&tree, "customer");
        assert_eq!(
            find(kids(customer), "first_name"),
            &leaf("first_name", "customer_first_name", "Ann")
        );
        let address = find(kids(customer), "address");
        assert_eq!(
            kids(address),
            &[leaf("city", "customer_address_city", "Porto")]
        );
        let item = find(kids(find(&tree, "items")), "0");
        assert_eq!(kids(item), &[leaf("sku", "items_0_sku", "A1")]);
        assert_eq!(find(&tree, "paid"), &leaf("paid", "paid", "true"));
        // The raw body comes last, once.
        assert_eq!(tree.last(), Some(&leaf(RAW_BODY, RAW_BODY, body)));
        assert_eq!(tree.len(), 4);
    }

    #[test]
    fn a_value_past_the_depth_the_backend_reads_is_one_leaf_of_json_text() {
        let body = r#"{"a": {"b": {"c": 1}}}"#;
        // As if the backend stopped at `a_b` and kept the rest as its JSON text.
        let v = vars(&[("a_b", r#"{"c":1}"#)]);
        let tree = variable_tree(body, &v);
        assert_eq!(kids(find(&tree, "a")), &[leaf("b", "a_b", r#"{"c":1}"#)]);
    }

    #[test]
    fn variables_a_json_body_does_not_explain_are_listed_flat() {
        // A form body (or one kept only in part) and a query string: no tree to read.
        let v = vars(&[
            ("name", "Ann"),
            ("utm_source", "ads"),
            (RAW_BODY, "name=Ann"),
        ]);
        let tree = variable_tree("name=Ann", &v);
        assert_eq!(
            tree,
            vec![
                leaf("name", "name", "Ann"),
                leaf("utm_source", "utm_source", "ads"),
                leaf(RAW_BODY, RAW_BODY, "name=Ann"),
            ]
        );
        // A JSON body plus a query pair: the pair follows the tree.
        let v = vars(&[("name", "Ann"), ("utm_source", "ads")]);
        let tree = variable_tree(r#"{"name": "Ann", "empty": {}}"#, &v);
        assert_eq!(
            tree,
            vec![
                leaf("name", "name", "Ann"),
                leaf("utm_source", "utm_source", "ads")
            ]
        );
    }

    #[test]
    fn names_are_checked_as_the_backend_checks_them() {
        assert_eq!(check_name("Requests from the site"), None);
        assert_eq!(check_name("  "), Some("webhooks_name_invalid"));
        assert_eq!(check_name("a\tb"), Some("webhooks_name_invalid"));
        assert_eq!(check_name(&"x".repeat(MAX_NAME_CHARS)), None);
        assert_eq!(
            check_name(&"x".repeat(MAX_NAME_CHARS + 1)),
            Some("webhooks_name_invalid")
        );
    }

    #[test]
    fn the_newest_request_is_open_until_the_user_chooses() {
        assert!(is_expanded(None, Some(9), 9));
        assert!(!is_expanded(None, Some(9), 8));
        let chosen = BTreeSet::from([8]);
        assert!(is_expanded(Some(&chosen), Some(9), 8));
        assert!(!is_expanded(Some(&chosen), Some(9), 9));
    }

    #[test]
    fn use_in_a_new_rule_starts_an_inbound_webhook_rule_on_the_receiver() {
        let receiver = Receiver {
            id: 7,
            name: "Site".into(),
            url: "https://x/hooks/in/1/r7-s".into(),
        };
        let rule = new_rule_for(&receiver, &Texts::default());
        assert_eq!(
            rule.trigger,
            Trigger::InboundWebhook {
                hook_id: "Site".into(),
                receiver_id: Some(7),
                search: None,
            }
        );
        assert!(rule.name.contains("«Site»"));
        assert!(curl_example(&receiver.url).ends_with("'https://x/hooks/in/1/r7-s'"));
    }
}
