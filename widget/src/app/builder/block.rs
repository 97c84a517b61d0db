//! One condition block: its name, delay, conditions on the left and actions on the right; moved by
//! drag and drop or by Move up/down, duplicated, removed, and collapsed into its sentence.

use std::rc::Rc;

use domain::api::FieldError;
use domain::rule::Block;
use wasm_bindgen::JsCast;
use yew::prelude::*;

use super::{action::ActionListForm, condition::ConditionList, use_builder, BuilderCtx};
use crate::components::controls::{Button, ButtonKind, MoveButtons, TextInput};
use crate::editor::{sentence, ActionList, EditorAction};

/// Props of [`BlockCard`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct BlockCardProps {
    /// The block's position.
    pub index: usize,
    /// How many blocks the rule has.
    pub count: usize,
    /// The block.
    pub block: Block,
    /// Shown as its sentence only.
    pub collapsed: bool,
    /// The rule's problems at or under this block.
    pub problems: Rc<Vec<FieldError>>,
}

/// One block of the rule. It re-renders only when its own props change (its block, place,
/// state or problems): the context it reads holds the trigger, not the rule, and it hands its parts
/// a context with its own problems.
#[function_component(BlockCard)]
pub fn block_card(props: &BlockCardProps) -> Html {
    let ctx = BuilderCtx {
        problems: props.problems.clone(),
        ..use_builder()
    };
    let i = props.index;
    let b = &props.block;
    let dragged = use_state(|| false);
    let on_move = ctx.on(|(from, to)| EditorAction::MoveBlock { from, to });
    let title = if b.name.is_empty() {
        format!("{} {}", ctx.t("builder_block"), i + 1)
    } else {
        b.name.clone()
    };
    let pointer = format!("/blocks/{i}");
    let problems = &props.problems;
    let drag = {
        let dragged = dragged.clone();
        Callback::from(move |e: DragEvent| {
            if let Some(dt) = e.data_transfer() {
                let _ = dt.set_data("application/x-rulebook-block", &i.to_string());
                dt.set_effect_allowed("move");
            }
            dragged.set(true);
        })
    };
    let drop = {
        let on_move = on_move.clone();
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            let from = e
                .data_transfer()
                .and_then(|dt| dt.get_data("application/x-rulebook-block").ok())
                .and_then(|s| s.parse::<usize>().ok());
            if let Some(from) = from {
                if from != i {
                    on_move.emit((from, i));
                }
            }
        })
    };
    let over = Callback::from(|e: DragEvent| {
        let is_block = e
            .data_transfer()
            .map(|dt| {
                dt.types()
                    .includes(&"application/x-rulebook-block".into(), 0)
            })
            .unwrap_or(false);
        if is_block {
            e.prevent_default();
        }
    });
    let end = {
        let dragged = dragged.clone();
        Callback::from(move |_| dragged.set(false))
    };
    // Opening a block from its sentence (which then goes away) puts the focus on the block's
    // Collapse button, so the keyboard goes on from the same place.
    let open_from_sentence = {
        let dispatch = ctx.dispatch.clone();
        Callback::from(move |e: MouseEvent| {
            let block = e
                .target_dyn_into::<web_sys::Element>()
                .and_then(|t| t.closest("li.rb-block").ok().flatten());
            dispatch.dispatch(EditorAction::ToggleCollapsed(i));
            if let Some(block) = block {
                gloo::timers::callback::Timeout::new(0, move || {
                    let toggle = block
                        .query_selector(".rb-block-tools button[aria-expanded]")
                        .ok()
                        .flatten()
                        .and_then(|b| b.dyn_into::<web_sys::HtmlElement>().ok());
                    if let Some(toggle) = toggle {
                        let _ = toggle.focus();
                    }
                })
                .forget();
            }
        })
    };
    // Only a collapsed block reads as its sentence; an open one does not compute it.
    let sentence = if props.collapsed {
        sentence::block(b, &ctx.schema, &ctx.texts)
    } else {
        String::new()
    };
    html! {
        <ContextProvider<BuilderCtx> context={ctx.clone()}>
        <li class={classes!("rb-block", (*dragged).then_some("rb-dragged"), (!problems.is_empty()).then_some("rb-has-problems"))}
            aria-label={title.clone()} data-block-id={b.id.to_string()}
            ondragover={over} ondrop={drop}>
            <header class="rb-block-head">
                <span class="rb-drag-handle" draggable="true" ondragstart={drag} ondragend={end}
                    title={ctx.t("builder_drag")} aria-hidden="true">{ "⋮⋮" }</span>
                <span class="rb-block-number">{ format!("{}.", i + 1) }</span>
                <TextInput class="rb-block-name" label={format!("{} {}", ctx.t("builder_block_name"), i + 1)} hide_label=true
                    placeholder={ctx.t("builder_block_name_hint")} value={b.name.clone()}
                    on_change={ctx.on(move |name| EditorAction::SetBlockName(i, name))} />
                <div class="rb-block-tools">
                    <MoveButtons index={i} len={props.count} on_move={on_move}
                        up_label={format!("{} «{title}»", ctx.t("builder_move_block_up"))}
                        down_label={format!("{} «{title}»", ctx.t("builder_move_block_down"))} />
                    <Button kind={ButtonKind::Icon} icon="copy" label={format!("{} «{title}»", ctx.t("builder_duplicate_block"))}
                        onclick={ctx.on(move |_| EditorAction::DuplicateBlock(i))} />
                    <Button kind={ButtonKind::Icon} icon="✕" label={format!("{} «{title}»", ctx.t("builder_remove_block"))}
                        onclick={ctx.on(move |_| EditorAction::RemoveBlock(i))} />
                    <Button kind={ButtonKind::Icon} icon={if props.collapsed { "▸" } else { "▾" }}
                        label={format!("{} «{title}»", ctx.t(if props.collapsed { "builder_expand" } else { "builder_collapse" }))}
                        expanded={Some(!props.collapsed)}
                        onclick={ctx.on(move |_| EditorAction::ToggleCollapsed(i))} />
                </div>
            </header>
            if props.collapsed {
                // The sentence is itself the way in: a click, Enter or Space opens the block.
                <button type="button" class="rb-block-sentence" aria-expanded="false"
                    title={format!("{} «{title}»", ctx.t("builder_expand"))}
                    onclick={open_from_sentence}>{ sentence }</button>
                if !problems.is_empty() { <em class="rb-field-error">{ problems[0].message.clone() }</em> }
            } else {
                <div class="rb-block-body">
                    <div class="rb-block-conditions">
                        <h4>{ ctx.t("builder_conditions") }</h4>
                        <ConditionList block={i} conditions={b.conditions.clone()} />
                    </div>
                    <div class="rb-block-actions">
                        <h4>{ ctx.t("builder_actions") }</h4>
                        <ActionListForm list={ActionList::Block(i)} actions={b.actions.clone()} />
                    </div>
                </div>
                <div class="rb-block-foot">
                    <TextInput class="rb-block-delay" input_type="number" min="0"
                        label={ctx.t("builder_block_delay")} hint={ctx.t("builder_block_delay_hint")}
                        error={ctx.error_at(&format!("{pointer}/delay_seconds"))}
                        value={b.delay_seconds.to_string()}
                        on_change={ctx.on(move |v: String| EditorAction::SetBlockDelay(i, v.trim().parse().unwrap_or(0)))} />
                    if let Some(e) = ctx.error_at(&pointer) { <em class="rb-field-error">{ e }</em> }
                </div>
            }
        </li>
        </ContextProvider<BuilderCtx>>
    }
}
