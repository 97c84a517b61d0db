//! A list of actions (a block's, or the else scenario's) and the form of every action kind.
//!
//! Each action is a card: its kind's form with every option the domain has (pickers by name, never
//! ids), its name, its timer, "replace delayed actions", and the tools to move (drag, or Move
//! up/down), duplicate and delete it. "Add action" offers every kind of
//! [`ACTION_KINDS`](crate::editor::kinds::ACTION_KINDS), each starting from a valid value. Every
//! control shows the problem at its own JSON pointer (`/blocks/0/actions/1/do/url`).

use std::collections::HashSet;

use domain::path::{EntityRole, EntityType};
use domain::rule::{
    Action, ActionKind, EmailRecipient, FieldAssignment, FieldTarget, HttpMethod, KeyValue,
    TagChange, TaskResultOption, TaskScope, UserChoice, VariableChange,
};
use domain::template::Template;
use yew::prelude::*;

use super::template::TemplateInput;
use super::timer::{parse_unit, unit_options, unit_value, TimerForm};
use super::{pickers, use_builder, BuilderCtx};
use crate::components::controls::{
    use_sortable, Button, ButtonKind, Checkbox, MoveButtons, Select, SelectOption, TextInput,
};
use crate::editor::kinds::{action_of_kind, ACTION_KINDS};
use crate::editor::{sentence, ActionList, EditorAction};
use crate::hooks::use_remote;
use crate::services;
use crate::state::Remote;

/// Props of [`ActionListForm`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct ActionListFormProps {
    /// Which list.
    pub list: ActionList,
    /// Its actions.
    pub actions: Vec<Action>,
}

/// Fills `{name}` placeholders of an interface text.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (k, v) in values {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

/// Why an action kind cannot work through Kommo's public API (the text's key), for the kinds the
/// backend refuses to save with `unavailable_in_kommo` (`domain::unavailable`); they are offered
/// disabled, with the reason.
pub fn unavailable_reason(kind: &str) -> Option<&'static str> {
    domain::unavailable::Unavailable::of_action_kind(kind)
        .map(crate::editor::kinds::unavailable_text)
}

/// The label of an action kind in the user's language ("Create task").
pub fn kind_label(ctx: &BuilderCtx, kind: &str) -> String {
    ctx.t(&format!("act_kind_{kind}"))
}

/// The actions of one list, each with its form, timer and tools, and "Add action".
#[function_component(ActionListForm)]
pub fn action_list_form(props: &ActionListFormProps) -> Html {
    let ctx = use_builder();
    let list = props.list;
    let on_move = ctx.on(move |(from, to)| EditorAction::MoveAction { list, from, to });
    let sortable = use_sortable(on_move.clone());
    let chosen = use_state(|| ACTION_KINDS[0].to_string());
    let count = props.actions.len();
    // Keys follow the action ids, so a move keeps each card's state; a duplicate id (a problem
    // the check reports) must still not make two items share a key.
    let mut seen = HashSet::new();
    let items = props.actions.iter().enumerate().map(|(i, a)| {
        let key = if seen.insert(a.id) {
            a.id.to_string()
        } else {
            format!("{}-{i}", a.id)
        };
        let h = sortable.item(i);
        html! {
            <li {key} class={classes!("rb-action-item", sortable.is_dragged(i).then_some("rb-dragged"))}
                ondragover={h.ondragover} ondrop={h.ondrop}>
                <ActionCard {list} index={i} {count} action={a.clone()} on_move={on_move.clone()}
                    ondragstart={h.ondragstart} ondragend={h.ondragend} />
            </li>
        }
    });
    // The menu's choices change only with the language.
    let kinds = use_memo(ctx.texts.clone(), |texts| {
        ACTION_KINDS
            .iter()
            .map(|k| {
                let label = texts.get(&format!("act_kind_{k}")).to_string();
                match unavailable_reason(k) {
                    None => SelectOption::new(*k, label),
                    Some(why) => SelectOption::new(*k, format!("{label} ({})", texts.get(why)))
                        .disabled(true),
                }
            })
            .collect::<Vec<SelectOption>>()
    });
    let add = {
        let (chosen, schema, dispatch) = (chosen.clone(), ctx.schema.clone(), ctx.dispatch.clone());
        Callback::from(move |_| {
            if let Some(a) = action_of_kind(&chosen, &schema) {
                dispatch.dispatch(EditorAction::AddAction(list, a));
            }
        })
    };
    let on_kind = {
        let chosen = chosen.clone();
        Callback::from(move |v: String| chosen.set(v))
    };
    let pointer = list.pointer();
    html! {
        <div class="rb-actions">
            if count == 0 { <p class="rb-hint">{ ctx.t("act_none_yet") }</p> }
            <ol class="rb-action-list">{ for items }</ol>
            if let Some(e) = ctx.error_at(&pointer) { <em class="rb-field-error">{ e }</em> }
            <div class="rb-add-action rb-row">
                <Select label={ctx.t("act_add_kind")} options={(*kinds).clone()} lazy=true value={Some((*chosen).clone())} on_change={on_kind} />
                <Button label={ctx.t("act_add")} onclick={add} />
            </div>
        </div>
    }
}

/// Props of [`ActionCard`].
#[derive(Clone, PartialEq, Properties)]
pub struct ActionCardProps {
    /// Which list.
    pub list: ActionList,
    /// The action's position.
    pub index: usize,
    /// How many actions the list holds.
    pub count: usize,
    /// The action.
    pub action: Action,
    /// Moves an action (from, to).
    pub on_move: Callback<(usize, usize)>,
    /// The drag handle's start.
    pub ondragstart: Callback<DragEvent>,
    /// The drag handle's end.
    pub ondragend: Callback<DragEvent>,
}

/// One action: its tools, name, kind form, timer and "replace delayed actions".
#[function_component(ActionCard)]
pub fn action_card(props: &ActionCardProps) -> Html {
    let ctx = use_builder();
    let (list, i) = (props.list, props.index);
    let a = &props.action;
    let n = (i + 1).to_string();
    let at = format!("{}/{i}", list.pointer());
    let title = fill(&ctx.t("act_action_n"), &[("n", &n)]);
    let on_name = {
        let (action, dispatch) = (a.clone(), ctx.dispatch.clone());
        Callback::from(move |name: String| {
            dispatch.dispatch(EditorAction::SetAction {
                list,
                index: i,
                action: Action {
                    name,
                    ..action.clone()
                },
            })
        })
    };
    let on_kind = {
        let (action, dispatch) = (a.clone(), ctx.dispatch.clone());
        Callback::from(move |kind: ActionKind| {
            dispatch.dispatch(EditorAction::SetAction {
                list,
                index: i,
                action: Action {
                    kind,
                    ..action.clone()
                },
            })
        })
    };
    let on_timer = {
        let (action, dispatch) = (a.clone(), ctx.dispatch.clone());
        Callback::from(move |timer| {
            dispatch.dispatch(EditorAction::SetAction {
                list,
                index: i,
                action: Action {
                    timer,
                    ..action.clone()
                },
            })
        })
    };
    let on_replace = {
        let (action, dispatch) = (a.clone(), ctx.dispatch.clone());
        Callback::from(move |replace_pending| {
            dispatch.dispatch(EditorAction::SetAction {
                list,
                index: i,
                action: Action {
                    replace_pending,
                    ..action.clone()
                },
            })
        })
    };
    let kind_name = a.kind.name();
    let summary = sentence::action(a, &ctx.schema, &ctx.texts);
    let problems = ctx.errors_under(&at);
    html! {
        <div role="group" aria-label={title.clone()}
            class={classes!("rb-action", format!("rb-action-{kind_name}"), (!problems.is_empty()).then_some("rb-has-problems"))}
            data-action-id={a.id.to_string()}>
            <header class="rb-action-head">
                <span class="rb-drag-handle" draggable="true" ondragstart={props.ondragstart.clone()}
                    ondragend={props.ondragend.clone()} title={ctx.t("builder_drag")} aria-hidden="true">{ "⋮⋮" }</span>
                <span class="rb-action-number">{ format!("{n}.") }</span>
                <strong class="rb-action-kind">{ kind_label(&ctx, kind_name) }</strong>
                <div class="rb-action-tools">
                    <MoveButtons index={i} len={props.count} on_move={props.on_move.clone()}
                        up_label={fill(&ctx.t("act_move_up"), &[("n", &n)])}
                        down_label={fill(&ctx.t("act_move_down"), &[("n", &n)])} />
                    <Button kind={ButtonKind::Icon} icon="copy" label={fill(&ctx.t("act_duplicate"), &[("n", &n)])}
                        onclick={ctx.on(move |_| EditorAction::DuplicateAction { list, index: i })} />
                    <Button kind={ButtonKind::Icon} icon="✕" label={fill(&ctx.t("act_delete"), &[("n", &n)])}
                        onclick={ctx.on(move |_| EditorAction::RemoveAction { list, index: i })} />
                </div>
            </header>
            <p class="rb-action-sentence rb-hint">{ summary }</p>
            if let Some(e) = ctx.error_at(&at).or_else(|| ctx.error_at(&format!("{at}/id"))) {
                <em class="rb-field-error">{ e }</em>
            }
            <div class="rb-action-body">
                <TextInput class="rb-action-name" label={ctx.t("act_name")} placeholder={ctx.t("act_name_hint")}
                    value={a.name.clone()} on_change={on_name} />
                <KindForm kind={a.kind.clone()} pointer={format!("{at}/do")} on_change={on_kind} />
                <div class="rb-action-when">
                    <TimerForm timer={a.timer.clone()} pointer={format!("{at}/timer")} on_change={on_timer} />
                    <Checkbox label={ctx.t("act_replace_pending")} checked={a.replace_pending} on_change={on_replace} />
                </div>
            </div>
        </div>
    }
}

/// Props of [`KindForm`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct KindFormProps {
    /// What the action does.
    pub kind: ActionKind,
    /// The JSON pointer of `do` (`/blocks/0/actions/1/do`).
    pub pointer: String,
    /// Called with the changed kind.
    pub on_change: Callback<ActionKind>,
}

/// A callback that changes a copy of `kind` with `f` and sends it on.
fn edit<T: 'static>(
    kind: &ActionKind,
    on_change: &Callback<ActionKind>,
    f: impl Fn(&mut ActionKind, T) + 'static,
) -> Callback<T> {
    let (kind, cb) = (kind.clone(), on_change.clone());
    Callback::from(move |v: T| {
        let mut k = kind.clone();
        f(&mut k, v);
        cb.emit(k);
    })
}

/// The entity an action works on, for the kinds that have one.
fn role_mut(k: &mut ActionKind) -> Option<&mut EntityRole> {
    match k {
        ActionKind::ChangeFields { entity, .. }
        | ActionKind::CreateTask { entity, .. }
        | ActionKind::ChangeTask { entity, .. }
        | ActionKind::AddNote { entity, .. }
        | ActionKind::ChangeTags { entity, .. }
        | ActionKind::ChangeResponsible { entity, .. }
        | ActionKind::ExecuteRule { entity, .. }
        | ActionKind::RunSalesbot { entity, .. } => Some(entity),
        ActionKind::CreateContact { attach_to, .. }
        | ActionKind::CreateCompany { attach_to, .. } => Some(attach_to),
        _ => None,
    }
}

/// The optional responsible user of the kinds that have one.
fn responsible_mut(k: &mut ActionKind) -> Option<&mut Option<UserChoice>> {
    match k {
        ActionKind::CreateLead { responsible, .. }
        | ActionKind::CreateContact { responsible, .. }
        | ActionKind::CreateCompany { responsible, .. }
        | ActionKind::CreateTask { responsible, .. }
        | ActionKind::ChangeTask { responsible, .. } => Some(responsible),
        _ => None,
    }
}

/// The field assignments of the kinds that have them.
fn fields_mut(k: &mut ActionKind) -> Option<&mut Vec<FieldAssignment>> {
    match k {
        ActionKind::CreateLead { fields, .. }
        | ActionKind::CreateContact { fields, .. }
        | ActionKind::CreateCompany { fields, .. }
        | ActionKind::ChangeFields { fields, .. } => Some(fields),
        _ => None,
    }
}

/// The name template of the kinds that create an entity.
fn name_mut(k: &mut ActionKind) -> Option<&mut Template> {
    match k {
        ActionKind::CreateLead { name, .. }
        | ActionKind::CreateContact { name, .. }
        | ActionKind::CreateCompany { name, .. } => Some(name),
        _ => None,
    }
}

/// An optional template: an empty text is "none".
fn optional(v: String) -> Option<Template> {
    (!v.trim().is_empty()).then(|| Template::new(v))
}

fn source(t: &Option<Template>) -> String {
    t.as_ref()
        .map(|t| t.source().to_string())
        .unwrap_or_default()
}

/// The select value of a user choice; `None` is the placeholder.
fn user_value(choice: Option<&UserChoice>) -> Option<String> {
    match choice {
        None => None,
        Some(UserChoice::Responsible) => Some("responsible".into()),
        Some(UserChoice::User(id)) => Some(id.to_string()),
    }
}

/// Reads a user select's value; the placeholder (empty) is `None`.
fn parse_user(v: &str) -> Option<UserChoice> {
    match v {
        "" => None,
        "responsible" => Some(UserChoice::Responsible),
        id => id.parse().ok().map(UserChoice::User),
    }
}

/// The role select of an action; `allowed` limits the roles (a contact attaches to a lead or
/// company).
fn role_select(
    ctx: &BuilderCtx,
    label: String,
    role: EntityRole,
    allowed: &[&str],
    error: Option<String>,
    on_change: Callback<String>,
) -> Html {
    let options: Vec<SelectOption> = pickers::roles(&ctx.texts)
        .into_iter()
        .filter(|o| allowed.is_empty() || allowed.contains(&o.value.as_str()))
        .collect();
    html! {
        <Select {label} {options} value={Some(pickers::role_value(role))} {on_change} {error} />
    }
}

/// The entity type a role's fields belong to (the client's is the trigger's).
fn role_entity(ctx: &BuilderCtx, role: EntityRole) -> EntityType {
    match role {
        EntityRole::Lead => EntityType::Lead,
        EntityRole::Contact => EntityType::Contact,
        EntityRole::Company => EntityType::Company,
        EntityRole::Client => ctx.rule.trigger.entity_type().unwrap_or(EntityType::Lead),
    }
}

/// The select value of a field target.
fn target_value(t: FieldTarget) -> String {
    match t {
        FieldTarget::Name => "name".into(),
        FieldTarget::Price => "price".into(),
        FieldTarget::Custom(id) => format!("cf:{id}"),
    }
}

/// Reads a [`target_value`].
fn parse_target(v: &str) -> Option<FieldTarget> {
    match v {
        "name" => Some(FieldTarget::Name),
        "price" => Some(FieldTarget::Price),
        other => other
            .strip_prefix("cf:")
            .and_then(|id| id.parse().ok())
            .map(FieldTarget::Custom),
    }
}

/// The fields an assignment can set on an entity type: the name, the budget (leads), then its
/// custom fields by name.
fn target_options(ctx: &BuilderCtx, entity: EntityType) -> Vec<SelectOption> {
    let mut out = vec![SelectOption::new("name", ctx.t("act_target_name"))];
    if entity == EntityType::Lead {
        out.push(SelectOption::new("price", ctx.t("act_target_price")));
    }
    let group = ctx.t("act_custom_fields");
    out.extend(
        pickers::fields(&ctx.schema, entity, |_| true)
            .into_iter()
            .map(|o| SelectOption::new(format!("cf:{}", o.value), o.label).in_group(group.clone())),
    );
    out
}

/// Field assignments: each a field picked by name and its value template; add and remove.
fn fields_editor(
    ctx: &BuilderCtx,
    kind: &ActionKind,
    entity: EntityType,
    at: &str,
    on: &Callback<ActionKind>,
) -> Html {
    let list: Vec<FieldAssignment> = fields_mut(&mut kind.clone())
        .map(|f| f.clone())
        .unwrap_or_default();
    let options = target_options(ctx, entity);
    let rows = list.iter().enumerate().map(|(i, a)| {
        let n = (i + 1).to_string();
        let mut opts = options.clone();
        let value = target_value(a.field);
        if !opts.iter().any(|o| o.value == value) {
            // A field the account no longer has stays visible, with its problem.
            opts.push(SelectOption::new(
                value.clone(),
                sentence::field_target(a.field, Some(entity), &ctx.schema, &ctx.texts),
            ));
        }
        let on_field = edit(kind, on, move |k, v: String| {
            if let (Some(f), Some(t)) = (fields_mut(k), parse_target(&v)) {
                if let Some(a) = f.get_mut(i) {
                    a.field = t;
                }
            }
        });
        let on_value = edit(kind, on, move |k, v: String| {
            if let Some(a) = fields_mut(k).and_then(|f| f.get_mut(i)) {
                a.value = Template::new(v);
            }
        });
        let remove = edit(kind, on, move |k, _: MouseEvent| {
            if let Some(f) = fields_mut(k) {
                if i < f.len() {
                    f.remove(i);
                }
            }
        });
        html! {
            <li class="rb-assignment rb-row" key={i}>
                <Select label={fill(&ctx.t("act_field_n"), &[("n", &n)])} options={opts} value={Some(value)}
                    on_change={on_field} error={ctx.error_at(&format!("{at}/fields/{i}/field"))} />
                <TemplateInput label={fill(&ctx.t("act_field_value_n"), &[("n", &n)])} value={a.value.source().to_string()}
                    on_change={on_value} error={ctx.error_at(&format!("{at}/fields/{i}/value"))} />
                <Button kind={ButtonKind::Icon} icon="✕" label={fill(&ctx.t("act_remove_field"), &[("n", &n)])} onclick={remove} />
            </li>
        }
    });
    let first = options
        .iter()
        .find(|o| o.value.starts_with("cf:"))
        .and_then(|o| parse_target(&o.value))
        .unwrap_or(FieldTarget::Name);
    let add = edit(kind, on, move |k, _: MouseEvent| {
        if let Some(f) = fields_mut(k) {
            f.push(FieldAssignment {
                field: first,
                value: Template::new(""),
            });
        }
    });
    html! {
        <fieldset class="rb-assignments">
            <legend>{ ctx.t("act_fields") }</legend>
            <ul class="rb-plain-list">{ for rows }</ul>
            if let Some(e) = ctx.error_at(&format!("{at}/fields")) { <em class="rb-field-error">{ e }</em> }
            <small class="rb-hint">{ ctx.t("act_fields_hint") }</small>
            <Button label={ctx.t("act_add_field")} onclick={add} />
        </fieldset>
    }
}

/// A user picker: the entity's responsible user or a user by name; with `keep`, a first choice
/// that leaves the responsible as it is (`None`).
fn user_select(
    ctx: &BuilderCtx,
    label: String,
    value: Option<&UserChoice>,
    keep: Option<String>,
    error: Option<String>,
    on_change: Callback<String>,
) -> Html {
    let options = pickers::users(&ctx.schema, &ctx.texts, true);
    // Without "keep", no responsible means the entity's own.
    let value = user_value(value).or_else(|| keep.is_none().then(|| "responsible".into()));
    html! {
        <Select {label} {options} {value} {on_change} {error} placeholder={keep.map(AttrValue::from)} />
    }
}

/// A rule picker; `none` names the empty first choice.
fn rule_select(
    ctx: &BuilderCtx,
    label: String,
    value: Option<i64>,
    manual_only: bool,
    none: Option<String>,
    error: Option<String>,
    on_change: Callback<String>,
) -> Html {
    let mut options = pickers::rules(&ctx.rules, manual_only);
    if let Some(id) = value {
        if id != 0 && !options.iter().any(|o| o.value == id.to_string()) {
            options.push(SelectOption::new(id.to_string(), format!("#{id}")));
        }
    }
    let value = value.filter(|id| *id != 0).map(|id| id.to_string());
    let placeholder = none.or_else(|| Some(ctx.t("act_choose")));
    html! {
        <Select {label} {options} {value} {on_change} {error} placeholder={placeholder.map(AttrValue::from)} />
    }
}

/// Name/value pairs (a webhook's headers or body); `headers` picks which list.
fn pairs_editor(
    ctx: &BuilderCtx,
    kind: &ActionKind,
    headers: bool,
    at: &str,
    on: &Callback<ActionKind>,
) -> Html {
    fn list_mut(k: &mut ActionKind, headers: bool) -> Option<&mut Vec<KeyValue>> {
        match k {
            ActionKind::SendWebhook {
                headers: h, body, ..
            } => Some(if headers { h } else { body }),
            _ => None,
        }
    }
    let (prefix, legend, add_label) = if headers {
        ("headers", ctx.t("act_headers"), ctx.t("act_add_header"))
    } else {
        ("body", ctx.t("act_body"), ctx.t("act_add_body"))
    };
    let list = list_mut(&mut kind.clone(), headers)
        .map(|l| l.clone())
        .unwrap_or_default();
    let rows = list.iter().enumerate().map(|(i, kv)| {
        let n = (i + 1).to_string();
        let vars = [("list", legend.as_str()), ("n", n.as_str())];
        let on_key = edit(kind, on, move |k, v: String| {
            if let Some(kv) = list_mut(k, headers).and_then(|l| l.get_mut(i)) {
                kv.key = v;
            }
        });
        let on_value = edit(kind, on, move |k, v: String| {
            if let Some(kv) = list_mut(k, headers).and_then(|l| l.get_mut(i)) {
                kv.value = Template::new(v);
            }
        });
        let remove = edit(kind, on, move |k, _: MouseEvent| {
            if let Some(l) = list_mut(k, headers) {
                if i < l.len() {
                    l.remove(i);
                }
            }
        });
        html! {
            <li class="rb-pair rb-row" key={i}>
                <TextInput label={fill(&ctx.t("act_pair_key"), &vars)} value={kv.key.clone()} on_change={on_key}
                    error={ctx.error_at(&format!("{at}/{prefix}/{i}/key"))} />
                <TemplateInput label={fill(&ctx.t("act_pair_value"), &vars)} value={kv.value.source().to_string()}
                    on_change={on_value} error={ctx.error_at(&format!("{at}/{prefix}/{i}/value"))} />
                <Button kind={ButtonKind::Icon} icon="✕" label={fill(&ctx.t("act_pair_remove"), &vars)} onclick={remove} />
            </li>
        }
    });
    let add = edit(kind, on, move |k, _: MouseEvent| {
        if let Some(l) = list_mut(k, headers) {
            l.push(KeyValue {
                key: String::new(),
                value: Template::new(""),
            });
        }
    });
    html! {
        <fieldset class="rb-pairs">
            <legend>{ legend.clone() }</legend>
            <ul class="rb-plain-list">{ for rows }</ul>
            <Button label={add_label} onclick={add} />
        </fieldset>
    }
}

/// A task's result options, each with the manual rule it runs.
fn results_editor(
    ctx: &BuilderCtx,
    kind: &ActionKind,
    at: &str,
    on: &Callback<ActionKind>,
) -> Html {
    fn list_mut(k: &mut ActionKind) -> Option<&mut Vec<TaskResultOption>> {
        match k {
            ActionKind::CreateTask { results, .. } => Some(results),
            _ => None,
        }
    }
    let list = list_mut(&mut kind.clone())
        .map(|l| l.clone())
        .unwrap_or_default();
    let rows = list.iter().enumerate().map(|(i, r)| {
        let n = (i + 1).to_string();
        let on_text = edit(kind, on, move |k, v: String| {
            if let Some(r) = list_mut(k).and_then(|l| l.get_mut(i)) {
                r.text = v;
            }
        });
        let on_rule = edit(kind, on, move |k, v: String| {
            if let Some(r) = list_mut(k).and_then(|l| l.get_mut(i)) {
                r.rule_id = v.parse().ok();
            }
        });
        let remove = edit(kind, on, move |k, _: MouseEvent| {
            if let Some(l) = list_mut(k) {
                if i < l.len() {
                    l.remove(i);
                }
            }
        });
        html! {
            <li class="rb-result rb-row" key={i}>
                <TextInput label={fill(&ctx.t("act_result_n"), &[("n", &n)])} value={r.text.clone()} on_change={on_text}
                    error={ctx.error_at(&format!("{at}/results/{i}/text"))} />
                { rule_select(ctx, fill(&ctx.t("act_result_rule_n"), &[("n", &n)]), r.rule_id, true,
                    Some(ctx.t("act_no_rule")), ctx.error_at(&format!("{at}/results/{i}/rule_id")), on_rule) }
                <Button kind={ButtonKind::Icon} icon="✕" label={fill(&ctx.t("act_remove_result"), &[("n", &n)])} onclick={remove} />
            </li>
        }
    });
    let add = edit(kind, on, |k, _: MouseEvent| {
        if let Some(l) = list_mut(k) {
            l.push(TaskResultOption {
                text: String::new(),
                rule_id: None,
            });
        }
    });
    html! {
        <fieldset class="rb-results">
            <legend>{ ctx.t("act_results") }</legend>
            <small class="rb-hint">{ ctx.t("act_results_hint") }</small>
            <ul class="rb-plain-list">{ for rows }</ul>
            <Button label={ctx.t("act_add_result")} onclick={add} />
        </fieldset>
    }
}

/// The largest unit a span of seconds divides into evenly.
fn split_seconds(seconds: u32) -> (u32, domain::rule::TimeUnit) {
    use domain::rule::TimeUnit;
    if seconds != 0 && seconds.is_multiple_of(86_400) {
        (seconds / 86_400, TimeUnit::Days)
    } else if seconds != 0 && seconds.is_multiple_of(3600) {
        (seconds / 3600, TimeUnit::Hours)
    } else if seconds != 0 && seconds.is_multiple_of(60) {
        (seconds / 60, TimeUnit::Minutes)
    } else {
        (seconds, TimeUnit::Seconds)
    }
}

fn unit_secs(unit: domain::rule::TimeUnit) -> u32 {
    u32::try_from(sentence::unit_seconds(unit)).unwrap_or(1)
}

/// The value of an HTTP method in its select.
fn method_value(m: HttpMethod) -> String {
    serde_json::to_value(m)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The form of one action kind, with every option the domain has.
#[function_component(KindForm)]
pub fn kind_form(props: &KindFormProps) -> Html {
    let ctx = use_builder();
    let k = &props.kind;
    let on = &props.on_change;
    let at = props.pointer.as_str();
    let err = |s: &str| ctx.error_at(&format!("{at}/{s}"));
    let on_role = edit(k, on, |k, v: String| {
        if let (Some(r), Some(role)) = (role_mut(k), pickers::parse_role(&v)) {
            *r = role;
        }
    });
    let on_responsible = edit(k, on, |k, v: String| {
        if let Some(r) = responsible_mut(k) {
            *r = parse_user(&v);
        }
    });
    let on_name = edit(k, on, |k, v: String| {
        if let Some(n) = name_mut(k) {
            *n = Template::new(v);
        }
    });
    let role = |r: EntityRole| {
        role_select(
            &ctx,
            ctx.t("act_entity"),
            r,
            &["lead", "contact", "company", "client"],
            err("entity"),
            on_role.clone(),
        )
    };
    let responsible = |r: &Option<UserChoice>| {
        user_select(
            &ctx,
            ctx.t("act_responsible"),
            r.as_ref(),
            None,
            err("responsible"),
            on_responsible.clone(),
        )
    };
    let name = |n: &Template, label: &str| {
        html! {
            <TemplateInput label={ctx.t(label)} value={n.source().to_string()} on_change={on_name.clone()} error={err("name")} />
        }
    };
    let task_types = pickers::task_types(&ctx.schema);
    let body = match k {
        ActionKind::ChangeFields { entity, .. } => html! {
            <>
                { role(*entity) }
                { fields_editor(&ctx, k, role_entity(&ctx, *entity), at, on) }
            </>
        },
        ActionKind::ChangeStatus {
            pipeline_id,
            status_id,
        } => {
            let value = format!("{pipeline_id}:{status_id}");
            let mut options = pickers::all_stages(&ctx.schema);
            if !options.iter().any(|o| o.value == value) {
                options.insert(
                    0,
                    SelectOption::new(value.clone(), format!("#{pipeline_id} / #{status_id}")),
                );
            }
            let on_stage = edit(k, on, |k, v: String| {
                if let (
                    ActionKind::ChangeStatus {
                        pipeline_id,
                        status_id,
                    },
                    Some((p, s)),
                ) = (k, pickers::parse_stage(&v))
                {
                    *pipeline_id = p;
                    *status_id = s;
                }
            });
            html! {
                <Select label={ctx.t("act_stage")} {options} value={Some(value)} on_change={on_stage}
                    error={err("status_id").or_else(|| err("pipeline_id"))} />
            }
        }
        ActionKind::ChangeResponsible {
            entity,
            user,
            in_contacts,
            in_companies,
            in_open_tasks,
        } => {
            let on_user = edit(k, on, |k, v: String| {
                if let (ActionKind::ChangeResponsible { user, .. }, Some(u)) = (k, parse_user(&v)) {
                    *user = u;
                }
            });
            let flag = |f: fn(&mut ActionKind, bool)| edit(k, on, f);
            html! {
                <>
                    { role(*entity) }
                    { user_select(&ctx, ctx.t("act_new_responsible"), Some(user), None, err("user"), on_user) }
                    <Checkbox label={ctx.t("act_in_contacts")} checked={*in_contacts}
                        on_change={flag(|k, v| if let ActionKind::ChangeResponsible { in_contacts, .. } = k { *in_contacts = v })} />
                    <Checkbox label={ctx.t("act_in_companies")} checked={*in_companies}
                        on_change={flag(|k, v| if let ActionKind::ChangeResponsible { in_companies, .. } = k { *in_companies = v })} />
                    <Checkbox label={ctx.t("act_in_open_tasks")} checked={*in_open_tasks}
                        on_change={flag(|k, v| if let ActionKind::ChangeResponsible { in_open_tasks, .. } = k { *in_open_tasks = v })} />
                </>
            }
        }
        ActionKind::CreateTask {
            entity,
            responsible: r,
            task_type_id,
            complete_in_seconds,
            text,
            ..
        } => {
            let (amount, unit) = split_seconds(*complete_in_seconds);
            let on_type = edit(k, on, |k, v: String| {
                if let (ActionKind::CreateTask { task_type_id, .. }, Ok(id)) = (k, v.parse()) {
                    *task_type_id = id;
                }
            });
            let on_amount = edit(k, on, move |k, v: String| {
                if let ActionKind::CreateTask {
                    complete_in_seconds,
                    ..
                } = k
                {
                    let n: u32 = v.trim().parse().unwrap_or(0);
                    *complete_in_seconds = n.saturating_mul(unit_secs(unit));
                }
            });
            let on_unit = edit(k, on, move |k, v: String| {
                if let (
                    ActionKind::CreateTask {
                        complete_in_seconds,
                        ..
                    },
                    Some(u),
                ) = (k, parse_unit(&v))
                {
                    *complete_in_seconds = amount.saturating_mul(unit_secs(u));
                }
            });
            let on_text = edit(k, on, |k, v: String| {
                if let ActionKind::CreateTask { text, .. } = k {
                    *text = Template::new(v);
                }
            });
            let mut types = task_types.clone();
            if !types.iter().any(|o| o.value == task_type_id.to_string()) {
                types.insert(
                    0,
                    SelectOption::new(task_type_id.to_string(), format!("#{task_type_id}")),
                );
            }
            html! {
                <>
                    { role(*entity) }
                    { responsible(r) }
                    <Select label={ctx.t("act_task_type")} options={types} value={Some(task_type_id.to_string())}
                        on_change={on_type} error={err("task_type_id")} />
                    <div class="rb-row">
                        <TextInput input_type="number" min="0" label={ctx.t("act_complete_in")} value={amount.to_string()}
                            on_change={on_amount} error={err("complete_in_seconds")} />
                        <Select label={ctx.t("act_complete_unit")} options={unit_options(&ctx.texts)}
                            value={Some(unit_value(unit).to_string())} on_change={on_unit} />
                    </div>
                    <TemplateInput label={ctx.t("act_task_text")} multiline=true value={text.source().to_string()}
                        on_change={on_text} error={err("text")} />
                    { results_editor(&ctx, k, at, on) }
                </>
            }
        }
        ActionKind::ChangeTask {
            entity,
            task_type_id,
            scope,
            responsible: r,
            new_task_type_id,
            completed,
            text,
        } => {
            let on_type = edit(k, on, |k, v: String| {
                if let ActionKind::ChangeTask { task_type_id, .. } = k {
                    *task_type_id = v.parse().ok();
                }
            });
            let on_new_type = edit(k, on, |k, v: String| {
                if let ActionKind::ChangeTask {
                    new_task_type_id, ..
                } = k
                {
                    *new_task_type_id = v.parse().ok();
                }
            });
            let on_scope = edit(k, on, |k, v: String| {
                if let ActionKind::ChangeTask { scope, .. } = k {
                    *scope = if v == "last" {
                        TaskScope::Last
                    } else {
                        TaskScope::All
                    };
                }
            });
            let on_completed = edit(k, on, |k, v: String| {
                if let ActionKind::ChangeTask { completed, .. } = k {
                    *completed = match v.as_str() {
                        "close" => Some(true),
                        "reopen" => Some(false),
                        _ => None,
                    };
                }
            });
            let on_text = edit(k, on, |k, v: String| {
                if let ActionKind::ChangeTask { text, .. } = k {
                    *text = optional(v);
                }
            });
            let scopes = vec![
                SelectOption::new("all", ctx.t("act_scope_all")),
                SelectOption::new("last", ctx.t("act_scope_last")),
            ];
            let states = vec![
                SelectOption::new("close", ctx.t("act_task_close")),
                SelectOption::new("reopen", ctx.t("act_task_reopen")),
            ];
            let on_keep = edit(k, on, |k, v: String| {
                if let ActionKind::ChangeTask { responsible, .. } = k {
                    *responsible = parse_user(&v);
                }
            });
            html! {
                <>
                    { role(*entity) }
                    <Select label={ctx.t("act_task_type")} options={task_types.clone()} value={task_type_id.map(|i| i.to_string())}
                        placeholder={ctx.t("act_any_type")} on_change={on_type} error={err("task_type_id")} />
                    <Select label={ctx.t("act_scope")} options={scopes}
                        value={Some(if *scope == TaskScope::Last { "last" } else { "all" }.to_string())} on_change={on_scope} />
                    { user_select(&ctx, ctx.t("act_new_responsible"), r.as_ref(), Some(ctx.t("act_keep")), err("responsible"), on_keep) }
                    <Select label={ctx.t("act_new_task_type")} options={task_types.clone()} value={new_task_type_id.map(|i| i.to_string())}
                        placeholder={ctx.t("act_keep")} on_change={on_new_type} error={err("new_task_type_id")} />
                    <Select label={ctx.t("act_task_state")} options={states}
                        value={completed.map(|c| if c { "close" } else { "reopen" }.to_string())}
                        placeholder={ctx.t("act_keep")} on_change={on_completed} />
                    <TemplateInput label={ctx.t("act_new_text")} multiline=true value={source(text)} on_change={on_text} error={err("text")} />
                </>
            }
        }
        ActionKind::AddNote {
            entity,
            text,
            system,
        } => {
            let on_text = edit(k, on, |k, v: String| {
                if let ActionKind::AddNote { text, .. } = k {
                    *text = Template::new(v);
                }
            });
            let on_system = edit(k, on, |k, v: bool| {
                if let ActionKind::AddNote { system, .. } = k {
                    *system = v;
                }
            });
            html! {
                <>
                    { role(*entity) }
                    <TemplateInput label={ctx.t("act_note_text")} multiline=true value={text.source().to_string()}
                        on_change={on_text} error={err("text")} />
                    <Checkbox label={ctx.t("act_note_system")} checked={*system} on_change={on_system} />
                </>
            }
        }
        ActionKind::ChangeTags {
            entity,
            change,
            tags,
        } => {
            let changes = vec![
                SelectOption::new("add", ctx.t("act_tags_add")),
                SelectOption::new("remove", ctx.t("act_tags_remove")),
                SelectOption::new("remove_all", ctx.t("act_tags_remove_all")),
            ];
            let value = match change {
                TagChange::Add => "add",
                TagChange::Remove => "remove",
                TagChange::RemoveAll => "remove_all",
            };
            let on_change = edit(k, on, |k, v: String| {
                if let ActionKind::ChangeTags { change, .. } = k {
                    *change = match v.as_str() {
                        "remove" => TagChange::Remove,
                        "remove_all" => TagChange::RemoveAll,
                        _ => TagChange::Add,
                    };
                }
            });
            html! {
                <>
                    { role(*entity) }
                    <Select label={ctx.t("act_tag_change")} options={changes} value={Some(value.to_string())} {on_change} />
                    if *change != TagChange::RemoveAll {
                        { tags_input(&ctx, k, on, tags, role_entity(&ctx, *entity), err("tags")) }
                    }
                </>
            }
        }
        ActionKind::CreateLead {
            name: n,
            tags,
            responsible: r,
            pipeline_id,
            status_id,
            attach_company_contacts,
            ..
        } => {
            let on_pipeline = edit(k, on, |k, v: String| {
                if let ActionKind::CreateLead {
                    pipeline_id,
                    status_id,
                    ..
                } = k
                {
                    *pipeline_id = v.parse().ok();
                    *status_id = None;
                }
            });
            let on_status = edit(k, on, |k, v: String| {
                if let ActionKind::CreateLead { status_id, .. } = k {
                    *status_id = v.parse().ok();
                }
            });
            let on_attach = edit(k, on, |k, v: bool| {
                if let ActionKind::CreateLead {
                    attach_company_contacts,
                    ..
                } = k
                {
                    *attach_company_contacts = v;
                }
            });
            html! {
                <>
                    { name(n, "act_lead_name") }
                    { tags_input(&ctx, k, on, tags, EntityType::Lead, err("tags")) }
                    { responsible(r) }
                    <Select label={ctx.t("act_pipeline")} options={pickers::pipelines(&ctx.schema)}
                        value={pipeline_id.map(|p| p.to_string())} placeholder={ctx.t("act_default_pipeline")}
                        on_change={on_pipeline} error={err("pipeline_id")} />
                    if let Some(p) = pipeline_id {
                        <Select label={ctx.t("act_stage")} options={pickers::stages(&ctx.schema, *p)}
                            value={status_id.map(|s| s.to_string())} placeholder={ctx.t("act_first_stage")}
                            on_change={on_status} error={err("status_id")} />
                    }
                    { fields_editor(&ctx, k, EntityType::Lead, at, on) }
                    <Checkbox label={ctx.t("act_attach_company_contacts")} checked={*attach_company_contacts} on_change={on_attach} />
                </>
            }
        }
        ActionKind::CreateContact {
            name: n,
            attach_to,
            responsible: r,
            ..
        } => html! {
            <>
                { name(n, "act_contact_name") }
                { role_select(&ctx, ctx.t("act_attach_to"), *attach_to, &["lead", "company"], err("attach_to"), on_role.clone()) }
                { responsible(r) }
                { fields_editor(&ctx, k, EntityType::Contact, at, on) }
            </>
        },
        ActionKind::CreateCompany {
            name: n,
            attach_to,
            responsible: r,
            ..
        } => html! {
            <>
                { name(n, "act_company_name") }
                { role_select(&ctx, ctx.t("act_attach_to"), *attach_to, &["lead", "contact"], err("attach_to"), on_role.clone()) }
                { responsible(r) }
                { fields_editor(&ctx, k, EntityType::Company, at, on) }
            </>
        },
        ActionKind::CopyLead { name: n } => {
            let on_copy_name = edit(k, on, |k, v: String| {
                if let ActionKind::CopyLead { name } = k {
                    *name = optional(v);
                }
            });
            html! {
                <>
                    <TemplateInput label={ctx.t("act_copy_name")} value={source(n)} on_change={on_copy_name} error={err("name")} />
                    <small class="rb-hint">{ ctx.t("act_copy_name_hint") }</small>
                </>
            }
        }
        ActionKind::ExecuteRule { entity, rule_id } => {
            let on_rule = edit(k, on, |k, v: String| {
                if let ActionKind::ExecuteRule { rule_id, .. } = k {
                    *rule_id = v.parse().unwrap_or(0);
                }
            });
            let none = pickers::rules(&ctx.rules, true).is_empty();
            html! {
                <>
                    { role(*entity) }
                    { rule_select(&ctx, ctx.t("act_rule"), Some(*rule_id), true, None, err("rule_id"), on_rule) }
                    if none { <small class="rb-hint">{ ctx.t("act_no_manual_rules") }</small> }
                </>
            }
        }
        ActionKind::RunSalesbot { entity, bot_id } => {
            let on_bot = edit(k, on, |k, v: String| {
                if let (ActionKind::RunSalesbot { bot_id, .. }, Ok(id)) = (k, v.parse()) {
                    *bot_id = id;
                }
            });
            let mut bots = pickers::salesbots(&ctx.schema);
            let value = (*bot_id != 0).then(|| bot_id.to_string());
            if let Some(v) = &value {
                if !bots.iter().any(|o| &o.value == v) {
                    bots.insert(0, SelectOption::new(v.clone(), format!("#{v}")));
                }
            }
            html! {
                <>
                    { role(*entity) }
                    <Select label={ctx.t("act_salesbot")} options={bots} {value} placeholder={ctx.t("act_choose")}
                        on_change={on_bot} error={err("bot_id")} />
                </>
            }
        }
        ActionKind::SendWebhook {
            method,
            url,
            parse_response,
            follow_up_rule_id,
            ..
        } => {
            let methods: Vec<SelectOption> = [
                HttpMethod::Get,
                HttpMethod::Post,
                HttpMethod::Put,
                HttpMethod::Patch,
                HttpMethod::Delete,
            ]
            .into_iter()
            .map(|m| SelectOption::new(method_value(m), method_value(m)))
            .collect();
            let on_method = edit(k, on, |k, v: String| {
                if let (ActionKind::SendWebhook { method, .. }, Ok(m)) =
                    (k, crate::json::from_name::<HttpMethod>(&v))
                {
                    *method = m;
                }
            });
            let on_url = edit(k, on, |k, v: String| {
                if let ActionKind::SendWebhook { url, .. } = k {
                    *url = Template::new(v);
                }
            });
            let on_parse = edit(k, on, |k, v: bool| {
                if let ActionKind::SendWebhook { parse_response, .. } = k {
                    *parse_response = v;
                }
            });
            let on_follow = edit(k, on, |k, v: String| {
                if let ActionKind::SendWebhook {
                    follow_up_rule_id, ..
                } = k
                {
                    *follow_up_rule_id = v.parse().ok();
                }
            });
            html! {
                <>
                    <div class="rb-row">
                        <Select label={ctx.t("act_method")} options={methods} value={Some(method_value(*method))} on_change={on_method} />
                        <TemplateInput label={ctx.t("act_url")} value={url.source().to_string()} on_change={on_url} error={err("url")} />
                    </div>
                    { pairs_editor(&ctx, k, true, at, on) }
                    { pairs_editor(&ctx, k, false, at, on) }
                    <Checkbox label={ctx.t("act_parse_response")} checked={*parse_response} on_change={on_parse} />
                    { rule_select(&ctx, ctx.t("act_follow_up"), *follow_up_rule_id, false, Some(ctx.t("act_no_rule")),
                        err("follow_up_rule_id"), on_follow) }
                </>
            }
        }
        ActionKind::SendEmail {
            sender_user_id,
            recipient,
            template_id,
        } => {
            let on_sender = edit(k, on, |k, v: String| {
                if let (ActionKind::SendEmail { sender_user_id, .. }, Ok(id)) = (k, v.parse()) {
                    *sender_user_id = id;
                }
            });
            let on_recipient = edit(k, on, |k, v: String| {
                if let ActionKind::SendEmail { recipient, .. } = k {
                    *recipient = if v == "main_contact" {
                        EmailRecipient::MainContact
                    } else {
                        EmailRecipient::Automatic
                    };
                }
            });
            let on_template = edit(k, on, |k, v: String| {
                if let ActionKind::SendEmail { template_id, .. } = k {
                    *template_id = v.trim().parse().unwrap_or(0);
                }
            });
            let recipients = vec![
                SelectOption::new("automatic", ctx.t("act_recipient_automatic")),
                SelectOption::new("main_contact", ctx.t("act_recipient_main_contact")),
            ];
            let mut senders = pickers::users(&ctx.schema, &ctx.texts, false);
            let sender = (*sender_user_id != 0).then(|| sender_user_id.to_string());
            if let Some(s) = &sender {
                if !senders.iter().any(|o| &o.value == s) {
                    senders.insert(0, SelectOption::new(s.clone(), format!("#{s}")));
                }
            }
            html! {
                <>
                    <Select label={ctx.t("act_sender")} options={senders} value={sender} placeholder={ctx.t("act_choose")}
                        on_change={on_sender} error={err("sender_user_id")} />
                    <Select label={ctx.t("act_recipient")} options={recipients}
                        value={Some(if *recipient == EmailRecipient::MainContact { "main_contact" } else { "automatic" }.to_string())}
                        on_change={on_recipient} />
                    <TextInput input_type="number" min="1" label={ctx.t("act_email_template")} hint={ctx.t("act_email_template_hint")}
                        value={if *template_id == 0 { String::new() } else { template_id.to_string() }}
                        on_change={on_template} error={err("template_id")} />
                </>
            }
        }
        ActionKind::ChatSubscription {
            subscribe,
            user_ids,
            user_ids_from,
        } => {
            let on_subscribe = edit(k, on, |k, v: String| {
                if let ActionKind::ChatSubscription { subscribe, .. } = k {
                    *subscribe = v != "unsubscribe";
                }
            });
            let on_from = edit(k, on, |k, v: String| {
                if let ActionKind::ChatSubscription { user_ids_from, .. } = k {
                    *user_ids_from = optional(v);
                }
            });
            let modes = vec![
                SelectOption::new("subscribe", ctx.t("act_chat_subscribe")),
                SelectOption::new("unsubscribe", ctx.t("act_chat_unsubscribe")),
            ];
            let users = ctx.schema.users.clone().unwrap_or_default();
            let boxes = users.into_iter().map(|u| {
                let id = u.id;
                let on_pick = edit(k, on, move |k, on: bool| {
                    if let ActionKind::ChatSubscription { user_ids, .. } = k {
                        user_ids.retain(|x| *x != id);
                        if on {
                            user_ids.push(id);
                        }
                    }
                });
                let i = user_ids.iter().position(|x| *x == id);
                html! {
                    <li key={id}>
                        <Checkbox label={u.name.clone()} checked={i.is_some()} on_change={on_pick} />
                        if let Some(e) = i.and_then(|i| err(&format!("user_ids/{i}"))) { <em class="rb-field-error">{ e }</em> }
                    </li>
                }
            });
            html! {
                <>
                    <Select label={ctx.t("act_chat_mode")} options={modes}
                        value={Some(if *subscribe { "subscribe" } else { "unsubscribe" }.to_string())} on_change={on_subscribe} />
                    <fieldset class="rb-user-picks">
                        <legend>{ ctx.t("act_chat_users") }</legend>
                        <ul class="rb-plain-list">{ for boxes }</ul>
                    </fieldset>
                    <TemplateInput label={ctx.t("act_chat_users_from")} value={source(user_ids_from)} on_change={on_from}
                        error={err("user_ids_from")} />
                </>
            }
        }
        ActionKind::CancelDelayed {
            rule_id,
            block_id,
            action_id,
        } => cancel_delayed_form(&ctx, k, *rule_id, *block_id, *action_id, at, on),
        ActionKind::ChangeGlobalVariable {
            change,
            value,
            name,
        } => {
            let changes = vec![
                SelectOption::new("set", ctx.t("act_var_set")),
                SelectOption::new("append", ctx.t("act_var_append")),
                SelectOption::new("calculate", ctx.t("act_var_calculate")),
            ];
            let on_change = edit(k, on, |k, v: String| {
                if let ActionKind::ChangeGlobalVariable { change, .. } = k {
                    *change = match v.as_str() {
                        "append" => VariableChange::Append,
                        "calculate" => VariableChange::Calculate,
                        _ => VariableChange::Set,
                    };
                }
            });
            let on_value = edit(k, on, |k, v: String| {
                if let ActionKind::ChangeGlobalVariable { value, .. } = k {
                    *value = Template::new(v);
                }
            });
            let on_var = edit(k, on, |k, v: String| {
                if let ActionKind::ChangeGlobalVariable { name, .. } = k {
                    *name = v;
                }
            });
            let current = match change {
                VariableChange::Set => "set",
                VariableChange::Append => "append",
                VariableChange::Calculate => "calculate",
            };
            html! {
                <>
                    <VariablePicker name={name.clone()} error={err("name")} on_change={on_var} />
                    <Select label={ctx.t("act_var_change")} options={changes} value={Some(current.to_string())} {on_change} />
                    <TemplateInput label={ctx.t("act_var_value")} value={value.source().to_string()} on_change={on_value}
                        error={err("value")} />
                    if *change == VariableChange::Calculate { <small class="rb-hint">{ ctx.t("act_var_calc_hint") }</small> }
                </>
            }
        }
    };
    html! {
        <div class="rb-kind-form">
            { body }
            if let Some(e) = ctx.error_at(at) { <em class="rb-field-error">{ e }</em> }
        </div>
    }
}

/// Comma-separated tags as a template, with a picker of the account's known tags that appends one.
fn tags_input(
    ctx: &BuilderCtx,
    kind: &ActionKind,
    on: &Callback<ActionKind>,
    tags: &Option<Template>,
    entity: EntityType,
    error: Option<String>,
) -> Html {
    fn tags_mut(k: &mut ActionKind) -> Option<&mut Option<Template>> {
        match k {
            ActionKind::ChangeTags { tags, .. } | ActionKind::CreateLead { tags, .. } => Some(tags),
            _ => None,
        }
    }
    // "Change tags" keeps an empty text (the check asks for tags there); elsewhere empty is none.
    let keep_empty = matches!(kind, ActionKind::ChangeTags { .. });
    let on_text = edit(kind, on, move |k, v: String| {
        if let Some(t) = tags_mut(k) {
            *t = if keep_empty {
                Some(Template::new(v))
            } else {
                optional(v)
            };
        }
    });
    let on_pick = edit(kind, on, |k, v: String| {
        if v.is_empty() {
            return;
        }
        if let Some(t) = tags_mut(k) {
            let now = source(t);
            let mut list: Vec<String> = now
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            if !list.contains(&v) {
                list.push(v);
            }
            *t = Some(Template::new(list.join(", ")));
        }
    });
    let known = pickers::tags(&ctx.schema, entity);
    html! {
        <div class="rb-tags rb-row">
            <TemplateInput label={ctx.t("act_tags")} value={source(tags)} on_change={on_text} {error} />
            if !known.is_empty() {
                <Select label={ctx.t("act_known_tag")} options={known} value={None::<String>}
                    placeholder={ctx.t("act_choose")} on_change={on_pick} />
            }
        </div>
    }
}

/// "Cancel delayed actions": of this rule (its blocks and actions picked by name) or of another
/// rule (whose blocks this form cannot see: their ids).
fn cancel_delayed_form(
    ctx: &BuilderCtx,
    k: &ActionKind,
    rule_id: Option<i64>,
    block_id: Option<u32>,
    action_id: Option<u32>,
    at: &str,
    on: &Callback<ActionKind>,
) -> Html {
    let err = |s: &str| ctx.error_at(&format!("{at}/{s}"));
    let on_rule = edit(k, on, |k, v: String| {
        if let ActionKind::CancelDelayed {
            rule_id,
            block_id,
            action_id,
        } = k
        {
            *rule_id = v.parse().ok();
            *block_id = None;
            *action_id = None;
        }
    });
    let on_block = edit(k, on, |k, v: String| {
        if let ActionKind::CancelDelayed {
            block_id,
            action_id,
            ..
        } = k
        {
            *block_id = v.trim().parse().ok();
            *action_id = None;
        }
    });
    let on_action = edit(k, on, |k, v: String| {
        if let ActionKind::CancelDelayed { action_id, .. } = k {
            *action_id = v.trim().parse().ok();
        }
    });
    let rule_picker = rule_select(
        ctx,
        ctx.t("act_cancel_rule"),
        rule_id,
        false,
        Some(ctx.t("act_this_rule")),
        err("rule_id"),
        on_rule,
    );
    let pickers = match rule_id {
        None => {
            let blocks: Vec<SelectOption> = ctx
                .rule
                .blocks
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let name = if b.name.is_empty() {
                        format!("{} {}", ctx.t("builder_block"), i + 1)
                    } else {
                        b.name.clone()
                    };
                    SelectOption::new(b.id.to_string(), format!("{}. {name}", i + 1))
                })
                .collect();
            let actions: Vec<SelectOption> = ctx
                .rule
                .blocks
                .iter()
                .filter(|b| block_id.is_none_or(|id| id == b.id))
                .flat_map(|b| b.actions.iter())
                .map(|a| {
                    let label = if a.name.is_empty() {
                        sentence::action(a, &ctx.schema, &ctx.texts)
                    } else {
                        a.name.clone()
                    };
                    SelectOption::new(a.id.to_string(), format!("#{} {label}", a.id))
                })
                .collect();
            html! {
                <>
                    <Select label={ctx.t("act_cancel_block")} options={blocks} value={block_id.map(|b| b.to_string())}
                        placeholder={ctx.t("act_any_block")} on_change={on_block} error={err("block_id")} />
                    <Select label={ctx.t("act_cancel_action")} options={actions} value={action_id.map(|a| a.to_string())}
                        placeholder={ctx.t("act_any_action")} on_change={on_action} error={err("action_id")} />
                </>
            }
        }
        Some(_) => html! {
            <>
                <TextInput input_type="number" min="1" label={ctx.t("act_cancel_block_id")} hint={ctx.t("act_cancel_ids_hint")}
                    value={block_id.map(|b| b.to_string()).unwrap_or_default()} on_change={on_block} error={err("block_id")} />
                <TextInput input_type="number" min="1" label={ctx.t("act_cancel_action_id")}
                    value={action_id.map(|a| a.to_string()).unwrap_or_default()} on_change={on_action} error={err("action_id")} />
            </>
        },
    };
    html! { <>{ rule_picker }{ pickers }</> }
}

/// Props of [`VariablePicker`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct VariablePickerProps {
    /// The variable's name.
    pub name: String,
    /// A problem to show.
    #[prop_or_default]
    pub error: Option<String>,
    /// Called with the chosen or typed name.
    pub on_change: Callback<String>,
}

/// The value of "a new variable" in the variable select.
const NEW_VARIABLE: &str = "\u{0}new";

/// A global variable picked from the account's variables, or a new one by name.
#[function_component(VariablePicker)]
pub fn variable_picker(props: &VariablePickerProps) -> Html {
    let ctx = use_builder();
    let remote = use_remote(&ctx.backend, (), |b, ()| async move {
        services::variables(&b).await
    });
    let names: Vec<String> = match &*remote.state {
        Remote::Ready(list) => list.iter().map(|v| v.name.clone()).collect(),
        _ => Vec::new(),
    };
    let typing = use_state(|| false);
    let known = names.contains(&props.name);
    let new_mode = *typing || (!props.name.is_empty() && !known);
    let mut options: Vec<SelectOption> = names
        .iter()
        .map(|n| SelectOption::new(n.clone(), n.clone()))
        .collect();
    options.push(SelectOption::new(NEW_VARIABLE, ctx.t("act_var_new")));
    let value = if new_mode {
        Some(NEW_VARIABLE.to_string())
    } else {
        known.then(|| props.name.clone())
    };
    let on_select = {
        let (typing, cb) = (typing.clone(), props.on_change.clone());
        Callback::from(move |v: String| {
            if v == NEW_VARIABLE {
                typing.set(true);
            } else {
                typing.set(false);
                cb.emit(v);
            }
        })
    };
    html! {
        <div class="rb-variable rb-row">
            <Select label={ctx.t("act_variable")} {options} {value} placeholder={ctx.t("act_choose")}
                on_change={on_select} error={(!new_mode).then(|| props.error.clone()).flatten()} />
            if new_mode {
                <TextInput label={ctx.t("act_var_new_name")} value={props.name.clone()} on_change={props.on_change.clone()}
                    error={props.error.clone()} />
            }
            if let Remote::Failed(_) = &*remote.state { <small class="rb-hint">{ ctx.t("act_var_unavailable") }</small> }
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_read_back_the_values_they_show() {
        for t in [
            FieldTarget::Name,
            FieldTarget::Price,
            FieldTarget::Custom(42),
        ] {
            assert_eq!(parse_target(&target_value(t)), Some(t));
        }
        assert_eq!(parse_target("cf:x"), None);
        for u in [UserChoice::Responsible, UserChoice::User(7)] {
            let v = user_value(Some(&u)).expect("value");
            assert_eq!(parse_user(&v), Some(u));
        }
        assert_eq!(parse_user(""), None);
        assert_eq!(method_value(HttpMethod::Patch), "PATCH");
    }

    #[test]
    fn a_task_deadline_shows_in_its_largest_whole_unit() {
        use domain::rule::TimeUnit;
        assert_eq!(split_seconds(3600), (1, TimeUnit::Hours));
        assert_eq!(split_seconds(5400), (90, TimeUnit::Minutes));
        assert_eq!(split_seconds(172_800), (2, TimeUnit::Days));
        assert_eq!(split_seconds(0), (0, TimeUnit::Seconds));
        assert_eq!(split_seconds(61), (61, TimeUnit::Seconds));
    }

    #[test]
    fn the_accessors_reach_every_kind_that_has_the_part() {
        let schema = domain::schema::Schema::default();
        for kind in ACTION_KINDS {
            let mut k = action_of_kind(kind, &schema).expect("kind").kind;
            let has_role = role_mut(&mut k).is_some();
            let json = serde_json::to_value(&k).expect("json");
            let in_json = json.get("entity").is_some() || json.get("attach_to").is_some();
            assert_eq!(has_role, in_json, "{kind}: role");
            assert_eq!(
                fields_mut(&mut k).is_some(),
                json.get("fields").is_some(),
                "{kind}: fields"
            );
            assert_eq!(
                responsible_mut(&mut k).is_some(),
                json.get("responsible").is_some(),
                "{kind}: responsible"
            );
        }
    }
}
