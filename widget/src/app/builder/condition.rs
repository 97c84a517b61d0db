//! A block's conditions: operand picker, the operators that fit, the right side by type, AND/OR,
//! reordering.
//!
//! Each row reads left to right: what is compared (a searchable, grouped picker of the
//! [`catalog`]), how (only the operators the domain accepts for its type), and with what (a picker
//! fitting the type — the field's own list values, users, stages, a date, a number, text — or
//! another operand). Between rows the join word ("and"/"or") toggles; AND binds tighter than OR, as
//! the domain evaluates it. Rows move by drag and drop and by Move up/down.

use std::rc::Rc;

use domain::rule::{Condition, Join, Literal, Operand, Operator, TimeUnit};
use yew::prelude::*;

use super::{pickers, trigger::split_list, use_builder, BuilderCtx};
use crate::components::controls::{
    use_sortable, Button, ButtonKind, Checkbox, MoveButtons, SearchPicker, Select, SelectOption,
    TextInput,
};
use crate::editor::catalog::{self, OperandEntry, ValueType};
use crate::editor::EditorAction;

/// The picker's value of an operand: its path, or the kind of variable.
fn operand_key(operand: &Operand) -> String {
    match operand {
        Operand::Path(p) => p.to_string(),
        Operand::Global(_) => "global".into(),
        Operand::Webhook(_) => "webhook".into(),
        Operand::Literal(_) => "literal".into(),
    }
}

/// The right side a fresh condition starts with for an operand type and operator.
fn default_right(ctx: &BuilderCtx, vt: &ValueType, op: &Operator) -> Option<Operand> {
    if !op.needs_right() {
        return None;
    }
    let lit = |l| Some(Operand::Literal(l));
    if catalog::takes_list(op) {
        return lit(Literal::List(Vec::new()));
    }
    let first_number = |options: Vec<SelectOption>| {
        options
            .iter()
            .filter(|o| !o.disabled)
            .find_map(|o| {
                pickers::parse_stage(&o.value)
                    .map(|(_, s)| s)
                    .or_else(|| o.value.parse::<i64>().ok())
            })
            .unwrap_or(0) as f64
    };
    match vt {
        ValueType::Enum(values) => lit(Literal::Text(values.first().cloned().unwrap_or_default())),
        ValueType::User => lit(Literal::Number(first_number(pickers::users(
            &ctx.schema,
            &ctx.texts,
            false,
        )))),
        ValueType::Stage => lit(Literal::Number(first_number(pickers::all_stages(
            &ctx.schema,
        )))),
        ValueType::Pipeline => lit(Literal::Number(first_number(pickers::pipelines(
            &ctx.schema,
        )))),
        ValueType::TaskType => lit(Literal::Number(first_number(pickers::task_types(
            &ctx.schema,
        )))),
        ValueType::Weekday => lit(Literal::Number(1.0)),
        ValueType::Number => lit(Literal::Number(0.0)),
        ValueType::Bool => lit(Literal::Bool(true)),
        _ => lit(Literal::Text(String::new())),
    }
}

/// A condition with a new left operand: the operator kept if it still fits, the right side reset.
fn with_left(ctx: &BuilderCtx, c: &Condition, entry: &OperandEntry) -> Condition {
    let ops = catalog::operators_for(&entry.value_type);
    let op = if ops.iter().any(|o| o.name() == c.op.name()) {
        c.op.clone()
    } else {
        ops.first().cloned().unwrap_or(Operator::Equals)
    };
    Condition {
        join: c.join,
        left: entry.operand.clone(),
        right: default_right(ctx, &entry.value_type, &op),
        right_upper: matches!(op, Operator::Between)
            .then(|| default_right(ctx, &entry.value_type, &op))
            .flatten(),
        op,
    }
}

/// A condition with a new operator; the right side is kept while it still fits.
fn with_op(ctx: &BuilderCtx, c: &Condition, vt: &ValueType, op: Operator) -> Condition {
    let list_before = catalog::takes_list(&c.op);
    let keep = c.op.needs_right()
        && op.needs_right()
        && list_before == catalog::takes_list(&op)
        && c.right.is_some();
    let right = if keep {
        c.right.clone()
    } else {
        default_right(ctx, vt, &op)
    };
    let right_upper = if matches!(op, Operator::Between) {
        c.right_upper
            .clone()
            .or_else(|| default_right(ctx, vt, &op))
    } else {
        None
    };
    Condition {
        join: c.join,
        left: c.left.clone(),
        op,
        right,
        right_upper,
    }
}

/// The operand picker's choices for a catalog: each entry's value (its path, or the kind of
/// variable), its label with its type ("Lead: Budget · number"), under its group. Built once per
/// trigger and shared by every condition row.
pub fn operand_options(catalog: &[OperandEntry], texts: &crate::i18n::Texts) -> Vec<SelectOption> {
    catalog
        .iter()
        .map(|e| {
            SelectOption::new(
                operand_key(&e.operand),
                format!("{} · {}", e.label, texts.get(e.value_type.key())),
            )
            .in_group(e.group.clone())
        })
        .collect()
}

/// A new condition: the first operand of the catalog (the entity's name) equals empty text.
pub fn new_condition(ctx: &BuilderCtx, catalog: &[OperandEntry]) -> Option<Condition> {
    let entry = catalog.first()?;
    let op = Operator::Equals;
    Some(Condition {
        join: Join::And,
        left: entry.operand.clone(),
        right: default_right(ctx, &entry.value_type, &op),
        right_upper: None,
        op,
    })
}

/// Props of [`ConditionList`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct ConditionListProps {
    /// The block's position.
    pub block: usize,
    /// Its conditions.
    pub conditions: Vec<Condition>,
}

/// The conditions of one block.
#[function_component(ConditionList)]
pub fn condition_list(props: &ConditionListProps) -> Html {
    let ctx = use_builder();
    let b = props.block;
    let on_move = ctx.on(move |(from, to)| EditorAction::MoveCondition { block: b, from, to });
    let sortable = use_sortable(on_move.clone());
    let catalog = ctx.operands.clone();
    let count = props.conditions.len();
    let mode = if props.conditions.iter().skip(1).all(|c| c.join == Join::And) {
        "all"
    } else if props.conditions.iter().skip(1).all(|c| c.join == Join::Or) {
        "any"
    } else {
        "groups"
    };
    let on_mode = {
        let (dispatch, conditions) = (ctx.dispatch.clone(), props.conditions.clone());
        Callback::from(move |v: String| {
            let join = match v.as_str() {
                "any" => Join::Or,
                "all" => Join::And,
                _ => return,
            };
            for (index, c) in conditions.iter().enumerate() {
                if c.join != join {
                    dispatch.dispatch(EditorAction::SetCondition {
                        block: b,
                        index,
                        condition: Condition { join, ..c.clone() },
                    });
                }
            }
        })
    };
    let modes = vec![
        SelectOption::new("all", ctx.t("cond_match_all")),
        SelectOption::new("any", ctx.t("cond_match_any")),
        SelectOption::new("groups", ctx.t("cond_match_groups")).disabled(mode != "groups"),
    ];
    let rows = props.conditions.iter().enumerate().map(|(i, c)| {
        let join = (i > 0).then(|| {
            let next = match c.join {
                Join::And => Join::Or,
                Join::Or => Join::And,
            };
            let word = ctx.t(if c.join == Join::And { "cond_and" } else { "cond_or" });
            let label = format!(
                "{} {}: {word}. {}",
                ctx.t("cond_join_of"),
                i + 1,
                ctx.t(if next == Join::Or { "cond_switch_to_or" } else { "cond_switch_to_and" })
            );
            let condition = Condition { join: next, ..c.clone() };
            let onclick = ctx.on(move |_: MouseEvent| EditorAction::SetCondition {
                block: b,
                index: i,
                condition: condition.clone(),
            });
            html! {
                <li class={classes!("rb-join", (c.join == Join::Or).then_some("rb-join-or"))} role="presentation">
                    <button type="button" class="button-input rb-join-button" aria-label={label.clone()} title={label} {onclick}>
                        { word }
                    </button>
                </li>
            }
        });
        let h = sortable.item(i);
        html! {
            <>
                { join.unwrap_or_default() }
                <li class={classes!("rb-condition-item", sortable.is_dragged(i).then_some("rb-dragged"))}
                    ondragover={h.ondragover} ondrop={h.ondrop}>
                    <ConditionRow block={b} index={i} {count} condition={c.clone()} catalog={catalog.clone()}
                        on_move={on_move.clone()} ondragstart={h.ondragstart} ondragend={h.ondragend} />
                </li>
            </>
        }
    });
    let add = {
        let (ctx2, catalog) = (ctx.clone(), catalog.clone());
        let dispatch = ctx.dispatch.clone();
        Callback::from(move |_| {
            if let Some(c) = new_condition(&ctx2, &catalog) {
                dispatch.dispatch(EditorAction::AddCondition(b, c));
            }
        })
    };
    html! {
        <div class="rb-conditions">
            if count > 1 {
                <Select class="rb-match" label={ctx.t("cond_match")} options={modes} value={Some(mode.to_owned())} on_change={on_mode} />
                <p class="rb-hint">{ ctx.t("cond_precedence") }</p>
            }
            if count == 0 { <p class="rb-hint">{ ctx.t("cond_none") }</p> }
            <ol class="rb-condition-list" aria-label={format!("{} {}", ctx.t("cond_list_of_block"), b + 1)}>{ for rows }</ol>
            <Button label={ctx.t("cond_add")} onclick={add} />
            if let Some(e) = ctx.error_at(&format!("/blocks/{b}/conditions")) { <em class="rb-field-error">{ e }</em> }
        </div>
    }
}

/// Props of [`ConditionRow`].
#[derive(Clone, PartialEq, Properties)]
pub struct ConditionRowProps {
    /// The block's position.
    pub block: usize,
    /// The condition's position.
    pub index: usize,
    /// How many conditions the block has.
    pub count: usize,
    /// The condition.
    pub condition: Condition,
    /// What can be compared.
    pub catalog: Rc<Vec<OperandEntry>>,
    /// Move (from, to).
    pub on_move: Callback<(usize, usize)>,
    /// The drag handle's start.
    pub ondragstart: Callback<DragEvent>,
    /// The drag handle's end.
    pub ondragend: Callback<DragEvent>,
}

/// One condition.
#[function_component(ConditionRow)]
pub fn condition_row(props: &ConditionRowProps) -> Html {
    let ctx = use_builder();
    let (b, i) = (props.block, props.index);
    let n = i + 1;
    let c = &props.condition;
    let pointer = format!("/blocks/{b}/conditions/{i}");
    let vt = catalog::operand_type(&c.left, &ctx.rule.trigger, &ctx.schema);
    let set = {
        let dispatch = ctx.dispatch.clone();
        Callback::from(move |condition: Condition| {
            dispatch.dispatch(EditorAction::SetCondition {
                block: b,
                index: i,
                condition,
            })
        })
    };

    // What is compared: the catalog, grouped and searchable; a closed picker renders only its
    // chosen entry, so a long rule renders no list until one is opened.
    let current_key = operand_key(&c.left);
    // A field deleted from the account (or an operand this trigger lacks) stays shown, flagged.
    let fallback = (!props
        .catalog
        .iter()
        .any(|e| operand_key(&e.operand) == current_key))
    .then(|| catalog::operand_label(&c.left, &ctx.schema, &ctx.texts));
    let on_left = {
        let (ctx2, c, catalog, set) = (ctx.clone(), c.clone(), props.catalog.clone(), set.clone());
        Callback::from(move |key: String| {
            if let Some(entry) = catalog.iter().find(|e| operand_key(&e.operand) == key) {
                set.emit(with_left(&ctx2, &c, entry));
            }
        })
    };
    let variable = match &c.left {
        Operand::Global(name) | Operand::Webhook(name) => {
            let (c2, set) = (c.clone(), set.clone());
            let on_change = Callback::from(move |v: String| {
                let left = match &c2.left {
                    Operand::Webhook(_) => Operand::Webhook(v),
                    _ => Operand::Global(v),
                };
                set.emit(Condition { left, ..c2.clone() });
            });
            html! {
                <TextInput class="rb-variable" label={format!("{} {n}", ctx.t("cond_variable_name"))} hide_label=true
                    placeholder={ctx.t("cond_variable_name")} value={name.clone()}
                    error={ctx.error_at(&format!("{pointer}/left"))} {on_change} />
            }
        }
        _ => html! {},
    };

    // How: only the operators that fit.
    let ops = catalog::operators_for(&vt);
    let mut op_options: Vec<SelectOption> = ops
        .iter()
        .map(|o| SelectOption::new(o.name(), catalog::operator_choice_label(o, &ctx.texts)))
        .collect();
    if !ops.iter().any(|o| o.name() == c.op.name()) {
        op_options.push(SelectOption::new(
            c.op.name(),
            catalog::operator_choice_label(&c.op, &ctx.texts),
        ));
    }
    let on_op = {
        let (ctx2, c, vt, set) = (ctx.clone(), c.clone(), vt.clone(), set.clone());
        Callback::from(move |name: String| {
            if name == c.op.name() {
                return;
            }
            if let Some(op) = catalog::all_operators()
                .into_iter()
                .find(|o| o.name() == name)
            {
                set.emit(with_op(&ctx2, &c, &vt, op));
            }
        })
    };
    let within = match &c.op {
        Operator::WithinLast { amount, unit } | Operator::WithinNext { amount, unit } => {
            let (amount, unit) = (*amount, *unit);
            let rebuild = move |op: &Operator, amount: u32, unit: TimeUnit| match op {
                Operator::WithinNext { .. } => Operator::WithinNext { amount, unit },
                _ => Operator::WithinLast { amount, unit },
            };
            let on_amount = {
                let (c, set) = (c.clone(), set.clone());
                Callback::from(move |v: String| {
                    let amount = v.trim().parse().unwrap_or(0);
                    set.emit(Condition {
                        op: rebuild(&c.op, amount, unit),
                        ..c.clone()
                    });
                })
            };
            let on_unit = {
                let (c, set) = (c.clone(), set.clone());
                Callback::from(move |v: String| {
                    let unit = match v.as_str() {
                        "seconds" => TimeUnit::Seconds,
                        "minutes" => TimeUnit::Minutes,
                        "hours" => TimeUnit::Hours,
                        _ => TimeUnit::Days,
                    };
                    set.emit(Condition {
                        op: rebuild(&c.op, amount, unit),
                        ..c.clone()
                    });
                })
            };
            let units: Vec<SelectOption> = [
                (TimeUnit::Minutes, "minutes"),
                (TimeUnit::Hours, "hours"),
                (TimeUnit::Days, "days"),
                (TimeUnit::Seconds, "seconds"),
            ]
            .iter()
            .map(|(u, v)| SelectOption::new(*v, catalog::unit_label(*u, &ctx.texts)))
            .collect();
            let unit_value = match unit {
                TimeUnit::Seconds => "seconds",
                TimeUnit::Minutes => "minutes",
                TimeUnit::Hours => "hours",
                TimeUnit::Days => "days",
            };
            html! {
                <>
                    <TextInput class="rb-amount" input_type="number" min="0" label={format!("{} {n}", ctx.t("cond_amount"))} hide_label=true
                        value={amount.to_string()} error={ctx.error_at(&format!("{pointer}/op/amount"))} on_change={on_amount} />
                    <Select label={format!("{} {n}", ctx.t("cond_unit"))} hide_label=true options={units}
                        value={Some(unit_value.to_owned())} on_change={on_unit} />
                </>
            }
        }
        _ => html! {},
    };

    // With what.
    let right = if c.op.needs_right() {
        let other = matches!(
            c.right,
            Some(Operand::Path(_) | Operand::Global(_) | Operand::Webhook(_))
        );
        let on_other = {
            let (ctx2, c, vt, set, catalog) = (
                ctx.clone(),
                c.clone(),
                vt.clone(),
                set.clone(),
                props.catalog.clone(),
            );
            Callback::from(move |on: bool| {
                let right = if on {
                    catalog
                        .iter()
                        .find(|e| e.value_type.static_type() == vt.static_type())
                        .or_else(|| catalog.first())
                        .map(|e| e.operand.clone())
                } else {
                    default_right(&ctx2, &vt, &c.op)
                };
                set.emit(Condition { right, ..c.clone() });
            })
        };
        let upper = matches!(c.op, Operator::Between).then(|| {
            let (c2, set) = (c.clone(), set.clone());
            let on = Callback::from(move |v: Option<Operand>| {
                set.emit(Condition {
                    right_upper: v,
                    ..c2.clone()
                })
            });
            html! {
                <>
                    <span class="rb-and-word">{ ctx.t("cond_between_and") }</span>
                    <RightSide label={format!("{} {n}", ctx.t("cond_upper"))} value_type={vt.clone()} op={c.op.clone()}
                        value={c.right_upper.clone()} catalog={props.catalog.clone()}
                        error={ctx.error_at(&format!("{pointer}/right_upper"))} on_change={on} />
                </>
            }
        });
        let on_right = {
            let (c2, set) = (c.clone(), set.clone());
            Callback::from(move |v: Option<Operand>| {
                set.emit(Condition {
                    right: v,
                    ..c2.clone()
                })
            })
        };
        html! {
            <>
                <RightSide label={format!("{} {n}", ctx.t("cond_value"))} value_type={vt.clone()} op={c.op.clone()}
                    value={c.right.clone()} catalog={props.catalog.clone()}
                    error={ctx.error_at(&format!("{pointer}/right"))} on_change={on_right} />
                { upper.unwrap_or_default() }
                <Checkbox label={format!("{} {n}", ctx.t("cond_other_operand"))} checked={other} on_change={on_other} />
            </>
        }
    } else {
        html! {}
    };

    let shown = [
        format!("{pointer}/left"),
        format!("{pointer}/op"),
        format!("{pointer}/op/amount"),
        format!("{pointer}/right"),
        format!("{pointer}/right_upper"),
    ];
    // Problems of the row that no control above shows (e.g. the whole condition's).
    let mut row_problems: Vec<String> = ctx
        .errors_under(&pointer)
        .into_iter()
        .filter(|p| !shown.contains(&p.path))
        .map(|p| p.message)
        .collect();
    row_problems.dedup();
    let left_error = ctx.error_at(&shown[0]);
    let invalid = !ctx.errors_under(&pointer).is_empty();
    let remove = ctx.on(move |_| EditorAction::RemoveCondition { block: b, index: i });
    html! {
        <div class={classes!("rb-condition", invalid.then_some("rb-has-problems"))} role="group"
            aria-label={format!("{} {n}", ctx.t("cond_condition"))}>
            <span class="rb-drag-handle" draggable="true" ondragstart={props.ondragstart.clone()} ondragend={props.ondragend.clone()}
                title={ctx.t("builder_drag")} aria-hidden="true">{ "⋮⋮" }</span>
            <div class="rb-condition-fields">
                <div class="rb-operand-picker">
                    <SearchPicker class="rb-operand" label={format!("{} {n}", ctx.t("cond_operand"))} hide_label=true
                        options={ctx.operand_options.clone()} value={Some(current_key)} fallback_label={fallback}
                        placeholder={ctx.t("cond_search_hint")}
                        error={left_error.filter(|_| !matches!(c.left, Operand::Global(_) | Operand::Webhook(_)))}
                        on_change={on_left} />
                </div>
                { variable }
                <Select class="rb-operator" label={format!("{} {n}", ctx.t("cond_operator"))} hide_label=true options={op_options} lazy=true
                    value={Some(c.op.name().to_owned())} error={ctx.error_at(&format!("{pointer}/op"))} on_change={on_op} />
                { within }
                { right }
            </div>
            <div class="rb-condition-tools">
                <MoveButtons index={i} len={props.count} on_move={props.on_move.clone()}
                    up_label={format!("{} {n} {}", ctx.t("cond_move"), ctx.t("cond_up"))}
                    down_label={format!("{} {n} {}", ctx.t("cond_move"), ctx.t("cond_down"))} />
                <Button kind={ButtonKind::Icon} icon="✕" label={format!("{} {n}", ctx.t("cond_remove"))} onclick={remove} />
            </div>
            if !row_problems.is_empty() {
                <ul class="rb-row-problems" role="alert">
                    { for row_problems.into_iter().map(|m| html! { <li class="rb-field-error">{ m }</li> }) }
                </ul>
            }
        </div>
    }
}

/// Props of [`RightSide`].
#[derive(Clone, PartialEq, Properties)]
pub struct RightSideProps {
    /// The accessible label.
    pub label: AttrValue,
    /// The left operand's type.
    pub value_type: ValueType,
    /// The operator.
    pub op: Operator,
    /// The right operand.
    pub value: Option<Operand>,
    /// What else can be compared with.
    pub catalog: Rc<Vec<OperandEntry>>,
    /// A problem to show.
    #[prop_or_default]
    pub error: Option<String>,
    /// Called with the new right operand.
    pub on_change: Callback<Option<Operand>>,
}

/// The right side of a condition, by the left operand's type.
#[function_component(RightSide)]
pub fn right_side(props: &RightSideProps) -> Html {
    let ctx = use_builder();
    let label = props.label.clone();
    let error = props.error.clone();
    let emit_lit = {
        let cb = props.on_change.clone();
        move |l: Literal| cb.emit(Some(Operand::Literal(l)))
    };
    // Another operand.
    if let Some(o @ (Operand::Path(_) | Operand::Global(_) | Operand::Webhook(_))) = &props.value {
        let key = operand_key(o);
        let fallback = (!props.catalog.iter().any(|e| operand_key(&e.operand) == key))
            .then(|| catalog::operand_label(o, &ctx.schema, &ctx.texts));
        let on_change = {
            let (cb, catalog, current) =
                (props.on_change.clone(), props.catalog.clone(), o.clone());
            Callback::from(move |k: String| {
                let next = catalog
                    .iter()
                    .find(|e| operand_key(&e.operand) == k)
                    .map(|e| e.operand.clone())
                    .unwrap_or_else(|| current.clone());
                cb.emit(Some(next));
            })
        };
        let name = match o {
            Operand::Global(n) | Operand::Webhook(n) => {
                let (cb, o) = (props.on_change.clone(), o.clone());
                let on_name = Callback::from(move |v: String| {
                    cb.emit(Some(match o {
                        Operand::Webhook(_) => Operand::Webhook(v),
                        _ => Operand::Global(v),
                    }))
                });
                html! { <TextInput label={format!("{} ({})", label, ctx.t("cond_variable_name"))} hide_label=true
                placeholder={ctx.t("cond_variable_name")} value={n.clone()} on_change={on_name} /> }
            }
            _ => html! {},
        };
        return html! {
            <>
                <SearchPicker label={label.clone()} hide_label=true options={ctx.operand_options.clone()} value={Some(key)}
                    fallback_label={fallback} placeholder={ctx.t("cond_search_hint")} error={error} {on_change} />
                { name }
            </>
        };
    }
    let literal = match &props.value {
        Some(Operand::Literal(l)) => Some(l.clone()),
        _ => None,
    };
    let text = literal
        .as_ref()
        .map(catalog::literal_text)
        .unwrap_or_default();
    let number_value = |l: &Option<Literal>| match l {
        Some(Literal::Number(n)) => Some(catalog::literal_text(&Literal::Number(*n))),
        Some(Literal::Text(t)) => Some(t.clone()),
        _ => None,
    };
    // Choices when the type has a known set of values.
    let choices: Option<Vec<SelectOption>> = match &props.value_type {
        ValueType::Enum(values) | ValueType::MultiEnum(values) => Some(
            values
                .iter()
                .map(|v| SelectOption::new(v.clone(), v.clone()))
                .collect(),
        ),
        ValueType::User => Some(pickers::users(&ctx.schema, &ctx.texts, false)),
        ValueType::Stage => Some(pickers::all_stages(&ctx.schema)),
        ValueType::Pipeline => Some(pickers::pipelines(&ctx.schema)),
        ValueType::TaskType => Some(pickers::task_types(&ctx.schema)),
        // Tags are picked for "has any/all/none"; "contains" takes typed text.
        ValueType::Tags if catalog::takes_list(&props.op) => {
            let entity = ctx
                .rule
                .trigger
                .entity_type()
                .unwrap_or(domain::path::EntityType::Lead);
            Some(pickers::tags(&ctx.schema, entity))
        }
        ValueType::Weekday => Some(weekdays(&ctx, true)),
        ValueType::Date if matches!(props.op, Operator::DayOfWeek) => Some(weekdays(&ctx, false)),
        _ => None,
    }
    // With nothing to choose from (users or pipelines not known), the value is typed.
    .filter(|c| !c.is_empty());
    // A stage's value in the picker is `pipeline:stage`; the rule holds the stage id.
    let to_value = |v: &str| -> String {
        match pickers::parse_stage(v) {
            Some((_, s)) => s.to_string(),
            None => v.to_owned(),
        }
    };
    let stage_key = |id: &str| -> String {
        if props.value_type != ValueType::Stage {
            return id.to_owned();
        }
        let Ok(s) = id.parse::<i64>() else {
            return id.to_owned();
        };
        ctx.schema
            .pipelines
            .iter()
            .flatten()
            .find(|p| p.has_stage(s))
            .map_or(id.to_owned(), |p| format!("{}:{s}", p.id))
    };
    if catalog::takes_list(&props.op) {
        let items: Vec<String> = match &literal {
            Some(Literal::List(l)) => l.clone(),
            Some(Literal::Text(t)) => split_list(t),
            Some(Literal::Number(n)) => vec![catalog::literal_text(&Literal::Number(*n))],
            _ => Vec::new(),
        };
        if let Some(choices) = choices {
            let boxes = choices.iter().filter(|o| !o.disabled).map(|o| {
                let item = to_value(&o.value);
                let checked = items.contains(&item);
                let (items, emit) = (items.clone(), emit_lit.clone());
                let on_change = Callback::from(move |on: bool| {
                    let mut next: Vec<String> =
                        items.iter().filter(|x| **x != item).cloned().collect();
                    if on {
                        next.push(item.clone());
                    }
                    emit(Literal::List(next));
                });
                let text = match &o.group {
                    Some(g) => format!("{g}: {}", o.label),
                    None => o.label.clone(),
                };
                html! { <Checkbox label={text} {checked} {on_change} /> }
            });
            return html! {
                <fieldset class={classes!("rb-fieldset", "rb-choices", error.is_some().then_some("rb-invalid"))}>
                    <legend class="rb-sr-only">{ label.clone() }</legend>
                    { for boxes }
                    if let Some(e) = error { <em class="rb-field-error">{ e }</em> }
                </fieldset>
            };
        }
        let emit = emit_lit.clone();
        return html! {
            <super::trigger::ListInput label={label.clone()} hint={ctx.t("cond_list_hint")} items={items} error={error}
                on_change={Callback::from(move |v: Vec<String>| emit(Literal::List(v)))} />
        };
    }
    if let Some(choices) = choices {
        let numeric = !matches!(
            props.value_type,
            ValueType::Enum(_) | ValueType::MultiEnum(_) | ValueType::Tags
        );
        let emit = emit_lit.clone();
        let on_change = Callback::from(move |v: String| {
            let v = to_value(&v);
            if numeric {
                match v.parse::<f64>() {
                    Ok(n) => emit(Literal::Number(n)),
                    Err(_) => emit(Literal::Text(v)),
                }
            } else {
                emit(Literal::Text(v));
            }
        });
        let value = (!text.is_empty()).then(|| stage_key(&text));
        return html! {
            <Select label={label.clone()} hide_label=true options={choices} {value}
                placeholder={ctx.t("cond_choose")} {error} {on_change} />
        };
    }
    match props.value_type {
        ValueType::Bool => {
            let emit = emit_lit.clone();
            let options = vec![
                SelectOption::new("true", ctx.t("cond_yes")),
                SelectOption::new("false", ctx.t("cond_no")),
            ];
            let value = Some(match literal {
                Some(Literal::Bool(false)) => "false".to_owned(),
                _ => "true".to_owned(),
            });
            html! { <Select label={label.clone()} hide_label=true {options} {value} {error}
            on_change={Callback::from(move |v: String| emit(Literal::Bool(v == "true")))} /> }
        }
        ValueType::Number
        | ValueType::User
        | ValueType::Stage
        | ValueType::Pipeline
        | ValueType::TaskType
        | ValueType::Weekday => {
            let emit = emit_lit.clone();
            html! { <TextInput input_type="number" label={label.clone()} hide_label=true value={number_value(&literal).unwrap_or_default()} {error}
            on_change={Callback::from(move |v: String| match v.trim().parse::<f64>() {
                Ok(n) => emit(Literal::Number(n)),
                Err(_) => emit(Literal::Text(v)),
            })} /> }
        }
        ValueType::Date => {
            let emit = emit_lit.clone();
            html! { <TextInput input_type="date" label={label.clone()} hide_label=true value={text} {error}
            on_change={Callback::from(move |v: String| emit(Literal::Text(v)))} /> }
        }
        _ => {
            let emit = emit_lit.clone();
            html! { <TextInput label={label.clone()} hide_label=true value={text} {error}
            placeholder={ctx.t("cond_text_hint")}
            on_change={Callback::from(move |v: String| emit(Literal::Text(v)))} /> }
        }
    }
}

/// The weekdays; with `numbers` a value is the ISO number (1 = Monday), else its short name.
fn weekdays(ctx: &BuilderCtx, numbers: bool) -> Vec<SelectOption> {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let value = if numbers {
                (i + 1).to_string()
            } else {
                (*d).to_owned()
            };
            SelectOption::new(value, ctx.t(&format!("day_{d}")))
        })
        .collect()
}
