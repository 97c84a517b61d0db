//! Template fields: autocomplete after `{{` and `{`, and a live preview rendered by `domain` against
//! a lead the admin picks or a sample inbound request.
//!
//! - [`suggest`] (DOM-free, unit-tested) reads the text before the cursor and offers what fits
//!   there: after `{{` entity fields, custom fields by name (inserting `cf(ID)`), system variables
//!   (`date.*`, `event.*`, `task.*`) and `(…):calc`; after `:` the modifiers; after `{` the global
//!   variables, the trigger's webhook variables, `{tglink:N}` and `{reset}`.
//! - [`PreviewProvider`] keeps one preview lead per builder (picked in "Test on a lead"), the
//!   account's global variables and, for an inbound-webhook rule, the variables of its receiver's
//!   last request (or of the request "Use in a new rule" chose in the Webhooks tab);
//!   [`TemplateInput`] renders its template against them with [`render_preview`].
//! - A one-line field is an ARIA combobox (a text area a textbox with the same list): arrow keys
//!   move in the list, Enter or Tab inserts, Escape closes; a template that does not parse shows
//!   its error (with line and column) at the field.

use std::collections::BTreeMap;
use std::rc::Rc;

use chrono::{DateTime, Utc};
use domain::api::Variable;
use domain::event::{Event, EventKind};
use domain::path::{all_paths, EntityField, EntityType, Path};
use domain::rule::Trigger;
use domain::schema::Schema;
use domain::snapshot::Snapshot;
use domain::template::{RenderLimits, Template};
use domain::value::{Scope, Variables};
use yew::prelude::*;

use super::use_builder;
use crate::components::controls::use_control_id;
use crate::services;

/// The lead templates are previewed against.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewLead {
    /// The lead's id.
    pub id: i64,
    /// Its name, to say which lead the preview shows.
    pub name: String,
    /// The engine's snapshot of it (`GET /api/v1/entities/leads/{id}/snapshot`).
    pub snapshot: Rc<Snapshot>,
}

/// What every template field of one builder previews with.
#[derive(Clone, PartialEq)]
pub struct PreviewCtx {
    /// The preview lead, once one is picked.
    pub lead: Option<Rc<PreviewLead>>,
    /// Picks (or clears) the preview lead.
    pub set_lead: Callback<Option<PreviewLead>>,
    /// The clock the preview reads `date.*` at: the server's, from the last dry run.
    pub now: Option<DateTime<Utc>>,
    /// Sets the preview clock (a dry run's `evaluated_at`).
    pub set_now: Callback<DateTime<Utc>>,
    /// The account's global variables.
    pub globals: Rc<Vec<Variable>>,
    /// The variables of the receiver's last request, for an inbound-webhook rule.
    pub sample_vars: Rc<BTreeMap<String, String>>,
}

/// A receiver's request chosen as the preview's sample ("Use in a new rule" in the Webhooks tab).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSample {
    /// The receiver it came to: the sample holds while the trigger names this receiver.
    pub receiver_id: i64,
    /// The variables read from it.
    pub vars: BTreeMap<String, String>,
}

/// Props of [`PreviewProvider`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct PreviewProviderProps {
    /// The builder's form.
    pub children: Html,
    /// A request to preview with instead of the receiver's last one.
    #[prop_or_default]
    pub sample: Option<Rc<RequestSample>>,
}

/// One receiver request as `GET /api/v1/receivers/{id}/requests` lists it (the part we read).
#[derive(Debug, Clone, serde::Deserialize)]
struct ReceiverRequest {
    #[serde(default)]
    variables: BTreeMap<String, String>,
}

/// Keeps the preview lead, the global variables and the sample request of one builder.
#[function_component(PreviewProvider)]
pub fn preview_provider(props: &PreviewProviderProps) -> Html {
    let ctx = use_builder();
    let lead = use_state(|| None::<Rc<PreviewLead>>);
    let now = use_state(|| None::<DateTime<Utc>>);
    let globals = use_state(|| Rc::new(Vec::<Variable>::new()));
    let sample = use_state(|| Rc::new(BTreeMap::<String, String>::new()));
    {
        let (backend, globals) = (ctx.backend.clone(), globals.clone());
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                // Without them the list simply offers no global variables.
                if let Ok(list) = services::variables(&backend).await {
                    globals.set(Rc::new(list));
                }
            });
        });
    }
    {
        let receiver = match &ctx.rule.trigger {
            Trigger::InboundWebhook {
                receiver_id: Some(id),
                ..
            } => Some(*id),
            _ => None,
        };
        let (backend, sample) = (ctx.backend.clone(), sample.clone());
        use_effect_with(
            (receiver, props.sample.clone()),
            move |(receiver, chosen)| {
                let receiver = *receiver;
                let chosen = chosen
                    .as_ref()
                    .filter(|c| Some(c.receiver_id) == receiver)
                    .map(|c| c.vars.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    let vars = match (chosen, receiver) {
                        (Some(vars), _) => vars,
                        (None, receiver) => match receiver {
                            Some(id) => services::request::<Vec<ReceiverRequest>>(
                                &backend,
                                "GET",
                                &format!("/api/v1/receivers/{id}/requests?limit=1"),
                                None,
                            )
                            .await
                            .ok()
                            .and_then(|list| list.into_iter().next())
                            .map(|r| r.variables)
                            .unwrap_or_default(),
                            None => BTreeMap::new(),
                        },
                    };
                    sample.set(Rc::new(vars));
                });
            },
        );
    }
    let preview = PreviewCtx {
        lead: (*lead).clone(),
        set_lead: {
            let lead = lead.clone();
            Callback::from(move |l: Option<PreviewLead>| lead.set(l.map(Rc::new)))
        },
        now: *now,
        set_now: {
            let now = now.clone();
            Callback::from(move |at| now.set(Some(at)))
        },
        globals: (*globals).clone(),
        sample_vars: (*sample).clone(),
    };
    html! {
        <ContextProvider<PreviewCtx> context={preview}>{ props.children.clone() }</ContextProvider<PreviewCtx>>
    }
}

/// The preview context, when the field is inside a [`PreviewProvider`].
#[hook]
pub fn use_preview() -> Option<PreviewCtx> {
    use_context::<PreviewCtx>()
}

/// One entry of the autocomplete list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    /// What replaces the typed prefix.
    pub insert: String,
    /// What the user reads (a field's name, or the path itself).
    pub label: String,
    /// The group's i18n key (`tpl_group_fields`, …).
    pub group: &'static str,
}

/// What the list offers at one cursor position: the byte range of the prefix it replaces and the
/// entries, at most [`MAX_SUGGESTIONS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestions {
    /// Where the replaced prefix starts (bytes).
    pub start: usize,
    /// The cursor (bytes): the prefix ends here.
    pub end: usize,
    /// The entries.
    pub items: Vec<Suggestion>,
}

/// The most entries the list shows at once.
pub const MAX_SUGGESTIONS: usize = 12;

/// What the autocomplete knows besides the text: the account's fields and variables.
#[derive(Debug, Clone, Copy)]
pub struct SuggestSources<'a> {
    /// The account's schema (custom fields by name).
    pub schema: &'a Schema,
    /// Global variable names.
    pub globals: &'a [String],
    /// The trigger's webhook variable names.
    pub webhook: &'a [String],
}

const MODIFIERS: &[&str] = &["upper", "lower", "words", "date(d.m.Y H:i)", "calc"];

/// The suggestions for `source` with the cursor at byte `cursor`; `None` when the cursor is not
/// in a token (after `{{` or `{`).
pub fn suggest(source: &str, cursor: usize, sources: SuggestSources<'_>) -> Option<Suggestions> {
    let cursor = cursor.min(source.len());
    if !source.is_char_boundary(cursor) {
        return None;
    }
    let before = &source[..cursor];
    // Inside `{{ … }}`: the last `{{` before the cursor, not closed since.
    if let Some(open) = before.rfind("{{") {
        let inside = &before[open + 2..];
        if !inside.contains("}}") {
            return Some(expression(source, open + 2, cursor, inside, sources));
        }
    }
    // After a single `{`: a variable, a trigger link or reset.
    let open = before.rfind('{')?;
    let typed = &before[open + 1..];
    if !typed
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == ':')
    {
        return None;
    }
    let mut items: Vec<Suggestion> = Vec::new();
    let variable = |name: &str, group: &'static str| Suggestion {
        insert: format!("{name}}}"),
        label: format!("{{{name}}}"),
        group,
    };
    items.extend(
        sources
            .webhook
            .iter()
            .map(|n| variable(n, "tpl_group_webhook")),
    );
    items.extend(
        sources
            .globals
            .iter()
            .map(|n| variable(n, "tpl_group_globals")),
    );
    items.push(Suggestion {
        insert: "tglink:1}".into(),
        label: "{tglink:1}".into(),
        group: "tpl_group_links",
    });
    items.push(variable("reset", "tpl_group_links"));
    let needle = typed.to_lowercase();
    items.retain(|s| s.insert.to_lowercase().starts_with(&needle) || needle.is_empty());
    items.truncate(MAX_SUGGESTIONS);
    (!items.is_empty()).then_some(Suggestions {
        start: open + 1,
        end: cursor,
        items,
    })
}

fn expression(
    source: &str,
    inside_start: usize,
    cursor: usize,
    inside: &str,
    sources: SuggestSources<'_>,
) -> Suggestions {
    // The rest of the tag after the cursor: close it unless it is closed already.
    let after = &source[cursor..];
    let closed = after.trim_start().starts_with("}}") || after.trim_start().starts_with(':');
    let close = if closed { "" } else { "}}" };
    // After `:`, a modifier.
    if let Some(colon) = inside.rfind(':') {
        let typed = inside[colon + 1..].trim_start();
        let start = cursor - typed.len();
        let items = MODIFIERS
            .iter()
            .filter(|m| m.starts_with(typed))
            .map(|m| Suggestion {
                insert: format!("{m}{close}"),
                label: format!(":{m}"),
                group: "tpl_group_modifiers",
            })
            .collect();
        return Suggestions {
            start,
            end: cursor,
            items,
        };
    }
    // The path being typed: from the last space, bracket or operator.
    let typed_len = inside
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '(' | ')'))
        .map(char::len_utf8)
        .sum::<usize>();
    let typed = &inside[inside.len() - typed_len..];
    let start = inside_start + inside.len() - typed_len;
    let needle = typed.to_lowercase();
    let mut items = Vec::new();
    // Custom fields by name, for every role that can hold them.
    let mut fields: Vec<_> = sources.schema.fields.iter().collect();
    fields.sort_by_key(|f| (f.entity.as_str(), f.sort, f.id));
    for f in fields {
        let role = match f.entity {
            EntityType::Lead => "lead",
            EntityType::Contact => "contact",
            EntityType::Company => "company",
            EntityType::Task => continue,
        };
        let insert = format!("{role}.cf({})", f.id);
        let label = format!("{role}: {}", f.name);
        if needle.is_empty()
            || insert.starts_with(&needle)
            || label.to_lowercase().contains(&needle)
        {
            items.push(Suggestion {
                insert: format!("{insert}{close}"),
                label,
                group: "tpl_group_custom",
            });
        }
    }
    for path in all_paths() {
        if matches!(path, Path::Entity(_, EntityField::Custom(_))) {
            continue;
        }
        let text = path.to_string();
        if !needle.is_empty() && !text.starts_with(&needle) {
            continue;
        }
        let group = match path {
            Path::Entity(..) => "tpl_group_fields",
            _ => "tpl_group_system",
        };
        items.push(Suggestion {
            insert: format!("{text}{close}"),
            label: text,
            group,
        });
    }
    if needle.is_empty() || "(".starts_with(&needle) || needle.starts_with("calc") {
        items.push(Suggestion {
            insert: format!("(lead.price * 1):calc{close}"),
            label: "(… + … * …):calc".into(),
            group: "tpl_group_modifiers",
        });
    }
    // Fields of the entity first, then custom fields, system values and the calculation.
    items.sort_by_key(|s| match s.group {
        "tpl_group_fields" => 0,
        "tpl_group_custom" => 1,
        "tpl_group_system" => 2,
        _ => 3,
    });
    items.truncate(MAX_SUGGESTIONS);
    Suggestions {
        start,
        end: cursor,
        items,
    }
}

/// `source` with `s`'s prefix replaced by `item`, and the cursor after it (bytes).
pub fn apply_suggestion(source: &str, s: &Suggestions, item: &Suggestion) -> (String, usize) {
    let (start, end) = (s.start.min(source.len()), s.end.min(source.len()));
    let mut out = String::with_capacity(source.len() + item.insert.len());
    out.push_str(&source[..start]);
    out.push_str(&item.insert);
    let cursor = out.len();
    out.push_str(&source[end..]);
    (out, cursor)
}

/// The template rendered against a snapshot and variables, as the engine would render it for
/// that lead at `now`; `Err` with the message of a template that does not parse or render.
pub fn render_preview(
    source: &str,
    snapshot: &Snapshot,
    event_vars: &BTreeMap<String, String>,
    globals: &BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> Result<String, String> {
    let template = Template::new(source);
    let entity = snapshot.lead.as_ref().map_or(0, |l| l.id);
    let mut event = Event::about(EntityType::Lead, entity, EventKind::EntityAdded);
    event.vars = event_vars.clone();
    let variables = Variables {
        globals: globals.clone(),
        trigger_links: BTreeMap::new(),
    };
    let scope = Scope {
        snapshot,
        event: &event,
        variables: &variables,
        now,
    };
    template
        .render(&scope, &RenderLimits::default())
        .map_err(|e| e.to_string())
}

/// The parse error of a template, with its line and column, if it has one.
pub fn template_error(source: &str) -> Option<String> {
    domain::template::parse(source).err().map(|e| e.to_string())
}

/// Props of [`TemplateInput`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct TemplateInputProps {
    /// The label.
    pub label: AttrValue,
    /// The template's source.
    pub value: String,
    /// Called with the new source.
    pub on_change: Callback<String>,
    /// Several lines (note and task texts).
    #[prop_or_default]
    pub multiline: bool,
    /// A problem to show under it.
    #[prop_or_default]
    pub error: Option<String>,
    /// Keep the label for screen readers only.
    #[prop_or_default]
    pub hide_label: bool,
    /// No preview under the field (short fields such as a webhook header's value).
    #[prop_or_default]
    pub no_preview: bool,
}

/// The cursor (byte offset) of an input or text area.
fn cursor_of(node: &NodeRef) -> Option<(String, usize)> {
    if let Some(t) = node.cast::<web_sys::HtmlTextAreaElement>() {
        let value = t.value();
        let units = t.selection_start().ok().flatten()? as usize;
        return Some((value.clone(), utf16_to_byte(&value, units)));
    }
    let i = node.cast::<web_sys::HtmlInputElement>()?;
    let value = i.value();
    let units = i.selection_start().ok().flatten()? as usize;
    Some((value.clone(), utf16_to_byte(&value, units)))
}

/// A DOM cursor (UTF-16 units) as a byte offset into `text`.
pub fn utf16_to_byte(text: &str, units: usize) -> usize {
    let mut seen = 0;
    for (i, c) in text.char_indices() {
        if seen >= units {
            return i;
        }
        seen += c.len_utf16();
    }
    text.len()
}

fn byte_to_utf16(text: &str, byte: usize) -> u32 {
    text[..byte.min(text.len())]
        .chars()
        .map(char::len_utf16)
        .sum::<usize>() as u32
}

fn set_value_and_cursor(node: &NodeRef, value: &str, byte: usize) {
    let at = byte_to_utf16(value, byte);
    if let Some(t) = node.cast::<web_sys::HtmlTextAreaElement>() {
        t.set_value(value);
        let _ = t.set_selection_range(at, at);
        let _ = t.focus();
    } else if let Some(i) = node.cast::<web_sys::HtmlInputElement>() {
        i.set_value(value);
        let _ = i.set_selection_range(at, at);
        let _ = i.focus();
    }
}

/// A template field: a labelled input (or text area) that autocompletes after `{{` and `{`, with
/// the template's preview and its problem under it.
#[function_component(TemplateInput)]
pub fn template_input(props: &TemplateInputProps) -> Html {
    let ctx = use_builder();
    let preview = use_preview();
    let id = use_control_id("template");
    let list_id = format!("{id}-list");
    let err_id = format!("{id}-error");
    let node = use_node_ref();
    let open = use_state(|| None::<Suggestions>);
    let active = use_state(|| 0usize);

    let globals: Vec<String> = preview
        .as_ref()
        .map(|p| p.globals.iter().map(|v| v.name.clone()).collect())
        .unwrap_or_default();
    let webhook: Vec<String> = preview
        .as_ref()
        .map(|p| p.sample_vars.keys().cloned().collect())
        .unwrap_or_default();
    let refresh = {
        let (node, open, active, schema) = (
            node.clone(),
            open.clone(),
            active.clone(),
            ctx.schema.clone(),
        );
        let (globals, webhook) = (globals.clone(), webhook.clone());
        Callback::from(move |_: ()| {
            let found = cursor_of(&node).and_then(|(value, cursor)| {
                suggest(
                    &value,
                    cursor,
                    SuggestSources {
                        schema: &schema,
                        globals: &globals,
                        webhook: &webhook,
                    },
                )
            });
            active.set(0);
            open.set(found.filter(|s| !s.items.is_empty()));
        })
    };
    let insert = {
        let (node, open, on_change) = (node.clone(), open.clone(), props.on_change.clone());
        Callback::from(move |index: usize| {
            let Some(s) = (*open).clone() else { return };
            let Some(item) = s.items.get(index) else {
                return;
            };
            let value = cursor_of(&node).map(|(v, _)| v).unwrap_or_default();
            let (next, cursor) = apply_suggestion(&value, &s, item);
            set_value_and_cursor(&node, &next, cursor);
            open.set(None);
            on_change.emit(next);
        })
    };
    let oninput = {
        let (cb, refresh) = (props.on_change.clone(), refresh.clone());
        Callback::from(move |e: InputEvent| {
            let value = e
                .target_dyn_into::<web_sys::HtmlTextAreaElement>()
                .map(|t| t.value())
                .or_else(|| {
                    e.target_dyn_into::<web_sys::HtmlInputElement>()
                        .map(|i| i.value())
                })
                .unwrap_or_default();
            cb.emit(value);
            refresh.emit(());
        })
    };
    let onkeydown = {
        let (open, active, insert) = (open.clone(), active.clone(), insert.clone());
        Callback::from(move |e: KeyboardEvent| {
            let Some(s) = &*open else { return };
            let len = s.items.len();
            match e.key().as_str() {
                "ArrowDown" => {
                    e.prevent_default();
                    active.set((*active + 1) % len.max(1));
                }
                "ArrowUp" => {
                    e.prevent_default();
                    active.set((*active + len.max(1) - 1) % len.max(1));
                }
                "Enter" | "Tab" => {
                    e.prevent_default();
                    insert.emit(*active);
                }
                "Escape" => {
                    e.prevent_default();
                    e.stop_propagation();
                    open.set(None);
                }
                _ => {}
            }
        })
    };
    let onblur = {
        let open = open.clone();
        // A click on an entry comes first (mousedown prevents the blur), so closing is safe.
        Callback::from(move |_: FocusEvent| open.set(None))
    };
    let onclick = {
        let refresh = refresh.clone();
        Callback::from(move |_: MouseEvent| refresh.emit(()))
    };

    let parse_error = template_error(&props.value);
    let error = props.error.clone().or_else(|| parse_error.clone());
    let expanded = open.is_some();
    let active_id = open.as_ref().map(|_| format!("{list_id}-{}", *active));
    let t = |k: &str| ctx.t(k);

    let list = open.as_ref().map(|s| {
        let items = s.items.iter().enumerate().map(|(i, item)| {
            let selected = i == *active;
            let onmousedown = {
                let insert = insert.clone();
                Callback::from(move |e: MouseEvent| {
                    e.prevent_default();
                    insert.emit(i);
                })
            };
            html! {
                <li id={format!("{list_id}-{i}")} role="option" aria-selected={selected.to_string()}
                    class={classes!("rb-suggestion", selected.then_some("rb-suggestion-active"))} {onmousedown}>
                    <span class="rb-suggestion-label">{ item.label.clone() }</span>
                    <small class="rb-suggestion-group">{ t(item.group) }</small>
                </li>
            }
        });
        html! {
            <ul id={list_id.clone()} role="listbox" class="rb-suggestions" aria-label={t("tpl_suggestions")}>{ for items }</ul>
        }
    });

    let preview_line = if props.no_preview || props.value.is_empty() || parse_error.is_some() {
        None
    } else {
        preview.as_ref().and_then(|p| {
            let now = p.now.unwrap_or_default();
            let globals: BTreeMap<String, String> = p
                .globals
                .iter()
                .map(|v| (v.name.clone(), v.value.clone()))
                .collect();
            match (&p.lead, p.sample_vars.is_empty()) {
                (Some(lead), _) => Some((
                    format!("{} «{}»", t("tpl_preview_lead"), lead.name),
                    render_preview(&props.value, &lead.snapshot, &p.sample_vars, &globals, now),
                )),
                (None, false) => {
                    let snapshot = empty_snapshot(&ctx.schema);
                    Some((
                        t("tpl_preview_sample"),
                        render_preview(&props.value, &snapshot, &p.sample_vars, &globals, now),
                    ))
                }
                (None, true) => None,
            }
        })
    };
    let control = classes!(
        "text-input",
        props.multiline.then_some("rb-textarea"),
        error.is_some().then_some("rb-invalid")
    );
    let invalid = error.is_some().then_some("true");
    let described = error.is_some().then_some(err_id.clone());
    html! {
        <div class="rb-control rb-template">
            <label for={id.clone()} class={classes!("rb-control-label", props.hide_label.then_some("rb-sr-only"))}>{ props.label.clone() }</label>
            <div class="rb-combobox">
                if props.multiline {
                    // A text area keeps its textbox role (ARIA in HTML allows no combobox here);
                    // the list is still announced through aria-activedescendant.
                    <textarea id={id.clone()} ref={node.clone()} class={control} rows="3" value={props.value.clone()}
                        aria-autocomplete="list" aria-controls={list_id.clone()} aria-activedescendant={active_id.clone()}
                        aria-invalid={invalid} aria-describedby={described.clone()}
                        {oninput} {onkeydown} {onblur} {onclick} />
                } else {
                    <input id={id.clone()} ref={node.clone()} type="text" class={control} value={props.value.clone()}
                        role="combobox" aria-autocomplete="list" aria-expanded={expanded.to_string()}
                        aria-controls={list_id.clone()} aria-activedescendant={active_id}
                        aria-invalid={invalid} aria-describedby={described}
                        {oninput} {onkeydown} {onblur} {onclick} />
                }
                { list.unwrap_or_default() }
            </div>
            if preview_line.is_none() && !props.no_preview && !props.value.is_empty() && parse_error.is_none() {
                <small class="rb-hint rb-template-no-preview">{ t("tpl_preview_hint") }</small>
            }
            if let Some((whom, rendered)) = preview_line {
                <div class="rb-template-preview" aria-live="polite">
                    <small class="rb-hint">{ format!("{} {whom}:", t("tpl_preview")) }</small>
                    { match rendered {
                        Ok(text) => html! { <output class="rb-preview-text">{ text }</output> },
                        Err(e) => html! { <em class="rb-field-error">{ e }</em> },
                    } }
                </div>
            }
            if let Some(e) = &error { <em class="rb-field-error" id={err_id}>{ e.clone() }</em> }
        </div>
    }
}

/// A snapshot with no entities in the account's timezone, for the preview against a sample
/// inbound request.
pub fn empty_snapshot(schema: &domain::schema::Schema) -> Snapshot {
    Snapshot::empty(schema.zone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        serde_json::from_value(serde_json::json!({
            "fields": [
                {"entity": "lead", "id": 8002, "name": "Amount", "field_type": "numeric"},
                {"entity": "contact", "id": 8103, "name": "Birthday", "field_type": "birthday"}
            ]
        }))
        .expect("schema")
    }

    fn at_end(text: &str, schema: &Schema, globals: &[String], webhook: &[String]) -> Suggestions {
        suggest(
            text,
            text.len(),
            SuggestSources {
                schema,
                globals,
                webhook,
            },
        )
        .unwrap_or_else(|| panic!("no suggestions for {text:?}"))
    }

    fn inserts(s: &Suggestions) -> Vec<&str> {
        s.items.iter().map(|i| i.insert.as_str()).collect()
    }

    #[test]
    fn after_double_braces_it_offers_fields_and_custom_fields_by_name() {
        let schema = schema();
        let s = at_end("Hi {{lead.na", &schema, &[], &[]);
        assert_eq!(inserts(&s), vec!["lead.name}}"]);
        let (text, cursor) = apply_suggestion("Hi {{lead.na", &s, &s.items[0]);
        assert_eq!(text, "Hi {{lead.name}}");
        assert_eq!(cursor, text.len());
        // A custom field is found by its name and inserted as cf(ID).
        let s = at_end("{{ birth", &schema, &[], &[]);
        assert_eq!(inserts(&s), vec!["contact.cf(8103)}}"]);
        assert_eq!(s.items[0].label, "contact: Birthday");
        assert_eq!(s.items[0].group, "tpl_group_custom");
    }

    #[test]
    fn system_values_and_the_calculation_are_offered_too() {
        let schema = schema();
        let s = at_end("{{date.", &schema, &[], &[]);
        assert!(inserts(&s).contains(&"date.now}}"), "{s:?}");
        assert!(s.items.iter().all(|i| i.group == "tpl_group_system"));
        let s = at_end("{{", &schema, &[], &[]);
        assert!(s.items.len() <= MAX_SUGGESTIONS);
        assert_eq!(s.items[0].group, "tpl_group_fields");
    }

    #[test]
    fn after_a_colon_it_offers_modifiers_and_does_not_close_a_closed_tag() {
        let schema = schema();
        let text = "{{lead.name:up}} rest";
        let cursor = text.find("}}").expect("closed");
        let s = suggest(
            text,
            cursor,
            SuggestSources {
                schema: &schema,
                globals: &[],
                webhook: &[],
            },
        )
        .expect("modifiers");
        assert_eq!(inserts(&s), vec!["upper"]);
        let (out, _) = apply_suggestion(text, &s, &s.items[0]);
        assert_eq!(out, "{{lead.name:upper}} rest");
        assert!(template_error(&out).is_none());
    }

    #[test]
    fn after_one_brace_it_offers_variables_webhook_first_and_trigger_links() {
        let schema = schema();
        let globals = vec!["missed_calls".to_string()];
        let webhook = vec!["phone".to_string(), "form_name".to_string()];
        let s = at_end("Call {", &schema, &globals, &webhook);
        assert_eq!(
            inserts(&s),
            vec![
                "phone}",
                "form_name}",
                "missed_calls}",
                "tglink:1}",
                "reset}"
            ]
        );
        let s = at_end("Call {mi", &schema, &globals, &webhook);
        assert_eq!(inserts(&s), vec!["missed_calls}"]);
        let (out, _) = apply_suggestion("Call {mi", &s, &s.items[0]);
        assert_eq!(out, "Call {missed_calls}");
        // Plain text and closed tags offer nothing.
        assert!(suggest(
            "no token {{lead.name}} here",
            26,
            SuggestSources {
                schema: &schema,
                globals: &globals,
                webhook: &webhook
            }
        )
        .is_none());
    }

    #[test]
    fn the_preview_renders_with_the_leads_snapshot_and_variables() {
        let mut snapshot = empty_snapshot(&domain::schema::Schema {
            timezone: "Europe/Berlin".into(),
            ..Default::default()
        });
        snapshot.lead = Some(
            serde_json::from_value(
                serde_json::json!({"id": 5, "name": "WHOLESALE form order", "price": 1200}),
            )
            .expect("lead"),
        );
        let vars = BTreeMap::from([("phone".to_string(), "+49 30 1234".to_string())]);
        let globals = BTreeMap::from([("missed_calls".to_string(), "2".to_string())]);
        let now = DateTime::from_timestamp(1_700_000_000, 0).expect("now");
        let out = render_preview(
            "{{lead.name:lower}} {phone} {{ ({missed_calls}+1):calc }} {{lead.price}}",
            &snapshot,
            &vars,
            &globals,
            now,
        );
        assert_eq!(
            out.as_deref(),
            Ok("wholesale form order +49 30 1234 3 1200")
        );
        let bad = template_error("Hi {{lead.nope}}").expect("an error");
        assert!(bad.contains("line 1, column"), "{bad}");
        assert!(render_preview("{{ 1/0 :calc }}", &snapshot, &vars, &globals, now).is_err());
    }

    #[test]
    fn dom_cursors_count_utf16_units() {
        assert_eq!(utf16_to_byte("añb", 2), 3);
        assert_eq!(byte_to_utf16("añb", 3), 2);
        assert_eq!(utf16_to_byte("a", 9), 1);
    }
}
