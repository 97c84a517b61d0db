//! The rule builder: a rule read top to bottom as the manual describes it — name and description,
//! the trigger, the condition blocks (checked top to bottom, each with its conditions on the left,
//! its actions on the right and a delay), the else scenario, run frequency and active hours — with
//! "Test on a lead", versions and the source view beside it.
//!
//! The state is [`crate::editor::Editor`], a `Reducible` covered by plain `cargo test`; this module
//! only renders it and dispatches [`EditorAction`]s. Every part reads the [`BuilderCtx`] context:
//! the dispatcher, the account's schema, the problems of the rule (the local `domain::validate` with
//! the schema, then the server's 422 pointers) and the interface texts.
//!
//! - [`controls`](crate::components::controls): Kommo-markup select, input, checkbox, button.
//! - [`pickers`]: the choices of users, stages, fields, task types, bots and rules.
//! - [`trigger`]: the trigger and its controls; [`block`]: one block; [`condition`]: its conditions;
//!   [`action`]: action lists and each action's form; [`timer`]: an action's timer.
//! - [`template`]: template fields with autocomplete and a live preview.
//! - [`try_it`]: "Test on a lead"; [`versions`]: history, compare, restore; [`source`]: the JSON;
//!   [`recipes`]: the gallery "New rule" opens.

pub mod action;
pub mod block;
pub mod condition;
pub mod pickers;
pub mod recipes;
pub mod schedule;
pub mod source;
pub mod template;
pub mod timer;
pub mod trigger;
pub mod try_it;
pub mod versions;

use std::rc::Rc;

use domain::api::{FieldError, RuleRecord, RuleSummary, SaveRule};
use domain::rule::Rule;
use domain::schema::Schema;
use yew::prelude::*;

use crate::bridge::Backend;
use crate::components::controls::{Button, ButtonKind, Checkbox, SelectOption, TextInput};
use crate::components::ErrorNotice;
use crate::editor::catalog::{self, OperandEntry};
use crate::editor::{ActionList, Editor, EditorAction};
use crate::i18n::Texts;
use crate::services;
use crate::state::UiError;

/// What every part of the builder reads.
#[derive(Clone, PartialEq)]
pub struct BuilderCtx {
    /// Sends changes to the editor.
    pub dispatch: UseReducerDispatcher<Editor>,
    /// The rule as edited.
    pub rule: Rc<Rule>,
    /// The account's pipelines, users, fields, task types, tags and bots.
    pub schema: Rc<Schema>,
    /// The account's rules (for "execute rule", follow-ups, "cancel delayed").
    pub rules: Rc<Vec<RuleSummary>>,
    /// What a condition can compare with this trigger (`editor::catalog::operands`), computed once
    /// per trigger, schema and language for every condition row.
    pub operands: Rc<Vec<OperandEntry>>,
    /// The operand pickers' choices for [`Self::operands`], shared by every picker.
    pub operand_options: Rc<Vec<SelectOption>>,
    /// Every problem of the rule, by JSON pointer.
    pub problems: Rc<Vec<FieldError>>,
    /// Interface texts.
    pub texts: Texts,
    /// The way to the backend.
    pub backend: Backend,
}

impl BuilderCtx {
    /// The text for `key` in the user's language.
    pub fn t(&self, key: &str) -> String {
        self.texts.get(key).to_string()
    }

    /// The problem at exactly this JSON pointer, for the control that edits it.
    pub fn error_at(&self, pointer: &str) -> Option<String> {
        self.problems
            .iter()
            .find(|p| p.path == pointer)
            .map(|p| p.message.clone())
    }

    /// The problems at or under a JSON pointer (a block, a condition row).
    pub fn errors_under(&self, pointer: &str) -> Vec<FieldError> {
        self.problems
            .iter()
            .filter(|p| {
                p.path == pointer
                    || p.path
                        .strip_prefix(pointer)
                        .is_some_and(|rest| rest.starts_with('/'))
            })
            .cloned()
            .collect()
    }

    /// A callback that dispatches the action `f` makes of its argument.
    pub fn on<T: 'static>(&self, f: impl Fn(T) -> EditorAction + 'static) -> Callback<T> {
        let dispatch = self.dispatch.clone();
        Callback::from(move |v: T| dispatch.dispatch(f(v)))
    }
}

/// Props of [`RuleBuilder`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct RuleBuilderProps {
    /// The stored rule to edit; `None` for a new one.
    pub record: Option<RuleRecord>,
    /// The rule a new one starts from (a recipe); `None` for the plain new rule.
    #[prop_or_default]
    pub start: Option<Rule>,
    /// The request its template fields preview with (a new rule made from a webhook request).
    #[prop_or_default]
    pub sample: Option<Rc<template::RequestSample>>,
    /// The account's schema.
    pub schema: Rc<Schema>,
    /// The account's rules.
    pub rules: Rc<Vec<RuleSummary>>,
    /// Interface texts.
    pub texts: Texts,
    /// The way to the backend.
    pub backend: Backend,
    /// Called after a save with the stored record.
    pub on_saved: Callback<RuleRecord>,
    /// Called when the user leaves the builder (after confirming unsaved changes).
    pub on_close: Callback<()>,
}

/// Which panel is open beside the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Panel {
    None,
    TryIt,
    Versions,
    Source,
}

/// The rule builder.
#[function_component(RuleBuilder)]
pub fn rule_builder(props: &RuleBuilderProps) -> Html {
    let editor = {
        let (record, start, schema) = (
            props.record.clone(),
            props.start.clone(),
            props.schema.clone(),
        );
        use_reducer(move || {
            let mut e = Editor::new_rule();
            match (record, start) {
                (Some(r), _) => match crate::json::from_value::<Rule>(&r.rule) {
                    Ok(rule) => e.apply(EditorAction::Load {
                        id: Some(r.id),
                        version: Some(r.version),
                        rule,
                    }),
                    Err(_) => e.apply(EditorAction::Load {
                        id: Some(r.id),
                        version: Some(r.version),
                        rule: crate::editor::kinds::new_rule(),
                    }),
                },
                (None, Some(rule)) => e.apply(EditorAction::Replace(rule)),
                (None, None) => {}
            }
            // A long rule opens collapsed, except the blocks whose problems must show at their
            // controls.
            let problems = e.problems(Some(&schema));
            e.open_blocks_with(&problems);
            e
        })
    };
    let panel = use_state(|| Panel::None);
    let saving = use_state(|| false);
    let server_error = use_state(|| None::<UiError>);
    let problems = Rc::new(editor.problems(Some(&props.schema)));
    // The operand catalog changes only with the trigger, the schema or the language.
    let operands = use_memo(
        (
            editor.rule.trigger.clone(),
            Rc::as_ptr(&props.schema) as usize,
            props.texts.clone(),
        ),
        {
            let schema = props.schema.clone();
            move |(trigger, _, texts)| {
                let entries = catalog::operands(trigger, &schema, texts);
                let options = condition::operand_options(&entries, texts);
                (Rc::new(entries), Rc::new(options))
            }
        },
    );
    // What the blocks read: the rule's trigger only (a rule with no blocks), and no problems (each
    // block gets its own as a prop). It stays equal while the trigger, schema, rules and language
    // do, so an edit re-renders only the block it changes: the others' props compare equal. A rule
    // with a "cancel delayed actions" of its own blocks is the exception: that form lists the rule's
    // blocks and actions, so its blocks read the whole rule (and re-render with every change).
    let trigger_only = use_memo(editor.rule.trigger.clone(), |trigger| {
        Rc::new(Rule {
            trigger: trigger.clone(),
            blocks: Vec::new(),
            else_scenario: None,
            ..crate::editor::kinds::new_rule()
        })
    });
    let no_problems = use_memo((), |_| Rc::new(Vec::<FieldError>::new()));
    let names_own_blocks = |actions: &[domain::rule::Action]| {
        actions.iter().any(|a| {
            matches!(
                a.kind,
                domain::rule::ActionKind::CancelDelayed { rule_id: None, .. }
            )
        })
    };
    let whole_rule_in_blocks = editor
        .rule
        .blocks
        .iter()
        .any(|b| names_own_blocks(&b.actions));
    let block_ctx = BuilderCtx {
        dispatch: editor.dispatcher(),
        rule: if whole_rule_in_blocks {
            Rc::new(editor.rule.clone())
        } else {
            (*trigger_only).clone()
        },
        schema: props.schema.clone(),
        rules: props.rules.clone(),
        operands: operands.0.clone(),
        operand_options: operands.1.clone(),
        problems: (*no_problems).clone(),
        texts: props.texts.clone(),
        backend: props.backend.clone(),
    };
    let ctx = BuilderCtx {
        dispatch: editor.dispatcher(),
        rule: Rc::new(editor.rule.clone()),
        schema: props.schema.clone(),
        rules: props.rules.clone(),
        operands: operands.0.clone(),
        operand_options: operands.1.clone(),
        problems: problems.clone(),
        texts: props.texts.clone(),
        backend: props.backend.clone(),
    };
    let t = |k: &str| props.texts.get(k).to_string();

    // Leaving with unsaved changes asks first (the page's own unload too).
    {
        let dirty = editor.rule != editor.pristine;
        use_effect_with(dirty, move |dirty| {
            let listener = dirty.then(|| {
                gloo::events::EventListener::new(&gloo::utils::window(), "beforeunload", |e| {
                    e.prevent_default();
                    if let Some(e) = wasm_bindgen::JsCast::dyn_ref::<web_sys::BeforeUnloadEvent>(e)
                    {
                        e.set_return_value("unsaved");
                    }
                })
            });
            move || drop(listener)
        });
    }
    let close = {
        let (on_close, dirty, text) = (
            props.on_close.clone(),
            editor.rule != editor.pristine,
            t("builder_leave_unsaved"),
        );
        Callback::from(move |_| {
            if !dirty || gloo::dialogs::confirm(&text) {
                on_close.emit(());
            }
        })
    };

    let save = {
        let (editor, backend, saving, server_error, on_saved) = (
            editor.clone(),
            props.backend.clone(),
            saving.clone(),
            server_error.clone(),
            props.on_saved.clone(),
        );
        Callback::from(move |_| {
            let body = SaveRule {
                name: editor.rule.name.trim().to_string(),
                rule: serde_json::to_value(&editor.rule).unwrap_or_default(),
                expected_version: editor.version,
            };
            let (editor, backend, saving, server_error, on_saved) = (
                editor.clone(),
                backend.clone(),
                saving.clone(),
                server_error.clone(),
                on_saved.clone(),
            );
            saving.set(true);
            wasm_bindgen_futures::spawn_local(async move {
                let result = match editor.id {
                    Some(id) => services::save_rule(&backend, id, &body).await,
                    None => services::create_rule(&backend, &body).await,
                };
                saving.set(false);
                match result {
                    Ok(record) => {
                        server_error.set(None);
                        let rule = crate::json::from_value(&record.rule)
                            .unwrap_or_else(|_| editor.rule.clone());
                        editor.dispatch(EditorAction::Saved {
                            id: record.id,
                            version: record.version,
                            rule,
                        });
                        on_saved.emit(record);
                    }
                    Err(UiError::Invalid { errors, detail }) => {
                        editor.dispatch(EditorAction::ServerProblems(errors.clone()));
                        server_error.set(Some(UiError::Invalid { errors, detail }));
                    }
                    Err(e) => server_error.set(Some(e)),
                }
            });
        })
    };

    let rule = &editor.rule;
    let block_count = rule.blocks.len();
    let blocks = rule.blocks.iter().enumerate().map(|(i, b)| {
        let problems = Rc::new(ctx.errors_under(&format!("/blocks/{i}")));
        html! { <block::BlockCard key={b.id} index={i} count={block_count} block={b.clone()} collapsed={editor.is_collapsed(i)} {problems} /> }
    });
    let save_blocked = if *saving {
        Some(t("builder_saving"))
    } else if !problems.is_empty() {
        Some(format!(
            "{} {}",
            t("builder_fix_first"),
            problems
                .first()
                .map(|p| p.message.clone())
                .unwrap_or_default()
        ))
    } else {
        None
    };
    let moved = editor.moved.as_ref().map(|m| {
        let what = t(&format!("builder_moved_{}", m.what));
        let name = if m.name.is_empty() {
            String::new()
        } else {
            format!(" «{}»", m.name)
        };
        format!(
            "{what}{name}: {} {} / {}",
            t("builder_position"),
            m.position,
            m.total
        )
    });
    let panel_button = |which: Panel, key: &str| {
        let panel = panel.clone();
        let open = *panel == which;
        html! {
            <button type="button" class={classes!("rb-tab", open.then_some("rb-tab-active"))} aria-pressed={open.to_string()}
                onclick={Callback::from(move |_| panel.set(if open { Panel::None } else { which }))}>{ t(key) }</button>
        }
    };
    let heading = match editor.id {
        Some(id) => format!("{} #{id}", t("rule_edit")),
        None => t("rule_new"),
    };
    let else_on = rule.else_scenario.is_some();
    let frequency = rule.frequency;

    html! {
        <ContextProvider<BuilderCtx> context={ctx.clone()}>
        <template::PreviewProvider sample={props.sample.clone()}>
        <form class="rb-builder" aria-label={t("builder_title")} onsubmit={Callback::from(|e: SubmitEvent| e.prevent_default())}>
            <div class="rb-builder-head">
                <h2>{ heading }</h2>
                <div class="rb-toolbar">
                    { panel_button(Panel::TryIt, "builder_try") }
                    if editor.id.is_some() { { panel_button(Panel::Versions, "builder_versions") } }
                    { panel_button(Panel::Source, "builder_source") }
                    <Button label={t("builder_close")} onclick={close} />
                    <Button kind={ButtonKind::Primary} label={t("rule_save")} disabled={save_blocked.is_some()} title={save_blocked.clone()} onclick={save} />
                </div>
            </div>
            if let Some(reason) = &save_blocked { if !*saving { <p class="rb-save-blocked" role="status">{ reason.clone() }</p> } }
            if let Some(v) = editor.version { if !editor.is_dirty() { <p class="rb-saved" role="status">{ format!("{} {v}", t("rule_saved")) }</p> } }
            if let Some(e) = (*server_error).clone() { if !matches!(e, UiError::Invalid { .. }) { <ErrorNotice error={e} texts={props.texts.clone()} /> } }
            <div aria-live="polite" class="rb-sr-only" role="status">{ moved.unwrap_or_default() }</div>
            <div class={classes!("rb-builder-body", (*panel != Panel::None).then_some("rb-with-panel"))}>
                <div class="rb-builder-form">
                    <section class="rb-section rb-about">
                        <TextInput label={t("rule_name")} value={rule.name.clone()} error={ctx.error_at("/name")}
                            on_change={ctx.on(EditorAction::SetName)} />
                        <TextInput label={t("rule_description")} multiline=true value={rule.description.clone()}
                            on_change={ctx.on(EditorAction::SetDescription)} />
                    </section>
                    <section class="rb-section rb-trigger-section" aria-labelledby="rb-trigger-heading">
                        <h3 id="rb-trigger-heading">{ t("builder_trigger") }</h3>
                        <trigger::TriggerForm trigger={rule.trigger.clone()} />
                    </section>
                    <section class="rb-section rb-blocks" aria-labelledby="rb-blocks-heading">
                        <h3 id="rb-blocks-heading">{ t("builder_blocks") }</h3>
                        <p class="rb-hint">{ t("builder_blocks_order") }</p>
                        <ContextProvider<BuilderCtx> context={block_ctx}>
                            <ol class="rb-block-list">{ for blocks }</ol>
                        </ContextProvider<BuilderCtx>>
                        <Button label={t("builder_add_block")} onclick={ctx.on(|_| EditorAction::AddBlock)} />
                    </section>
                    <section class="rb-section rb-else" aria-labelledby="rb-else-heading">
                        <h3 id="rb-else-heading">{ t("builder_else") }</h3>
                        <Checkbox label={t("builder_else_on")} checked={else_on} on_change={ctx.on(EditorAction::SetElse)} />
                        if let Some(e) = &rule.else_scenario {
                            <action::ActionListForm list={ActionList::Else} actions={e.actions.clone()} />
                        }
                    </section>
                    <section class="rb-section rb-frequency" aria-labelledby="rb-frequency-heading">
                        <h3 id="rb-frequency-heading">{ t("builder_frequency") }</h3>
                        <schedule::FrequencyForm frequency={frequency} />
                        <schedule::ActiveHoursForm hours={rule.active_hours.clone()} />
                    </section>
                </div>
                {
                    match *panel {
                        Panel::None => html! {},
                        Panel::TryIt => html! { <aside class="rb-panel" aria-label={t("builder_try")}><try_it::TryIt /></aside> },
                        Panel::Versions => html! { <aside class="rb-panel" aria-label={t("builder_versions")}>
                            if let Some(id) = editor.id { <versions::Versions rule_id={id} /> }
                        </aside> },
                        Panel::Source => html! { <aside class="rb-panel" aria-label={t("builder_source")}><source::SourceView /></aside> },
                    }
                }
            </div>
        </form>
        </template::PreviewProvider>
        </ContextProvider<BuilderCtx>>
    }
}

/// The builder's context, for its parts.
#[hook]
pub fn use_builder() -> BuilderCtx {
    use_context::<BuilderCtx>().expect("builder parts are rendered inside RuleBuilder")
}
