//! Form controls in Kommo's own markup and class names (developers.kommo.com system templates), so
//! Kommo's CSS and dark theme apply and the widget looks native: `button.button-input`,
//! `div.control--select`, `label.control-checkbox`, `input.text-input`. Every control has a visible
//! or screen-reader label, shows its problem under itself (`aria-invalid`, `aria-describedby`), and is
//! a native element, so the keyboard works as everywhere else.

use std::sync::atomic::{AtomicU32, Ordering};

use yew::prelude::*;

/// A page-unique element id for label/control pairs.
#[hook]
pub fn use_control_id(prefix: &'static str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let id = use_state(|| NEXT.fetch_add(1, Ordering::Relaxed));
    format!("rb-{prefix}-{}", *id)
}

/// One choice of a [`Select`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SelectOption {
    /// The value emitted when chosen.
    pub value: String,
    /// What the user reads.
    pub label: String,
    /// The `optgroup` it is listed under, if any.
    pub group: Option<String>,
    /// A colour swatch (`#rrggbb`), e.g. a stage's.
    pub color: Option<String>,
    /// Shown but not choosable; the label says why.
    pub disabled: bool,
}

impl SelectOption {
    /// A plain option.
    pub fn new(value: impl Into<String>, label: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            label: label.into(),
            ..Self::default()
        }
    }

    /// The option listed under `group`.
    pub fn in_group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// The option with a colour swatch.
    pub fn with_color(mut self, color: Option<String>) -> Self {
        self.color = color;
        self
    }

    /// The option shown disabled.
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.disabled = disabled;
        self
    }
}

/// Props of [`Select`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct SelectProps {
    /// The label (also the accessible name).
    pub label: AttrValue,
    /// The choices, in order; options of one group should be adjacent.
    pub options: Vec<SelectOption>,
    /// The chosen value; `None` shows the placeholder.
    pub value: Option<String>,
    /// Called with the chosen value.
    pub on_change: Callback<String>,
    /// The first, empty choice ("— choose —"); without it a missing value shows the first option.
    #[prop_or_default]
    pub placeholder: Option<AttrValue>,
    /// A problem to show under the control.
    #[prop_or_default]
    pub error: Option<String>,
    /// Keep the label for screen readers only (inside sentences and table rows).
    #[prop_or_default]
    pub hide_label: bool,
    /// Extra classes of the wrapper.
    #[prop_or_default]
    pub class: Classes,
    /// A long list on a row that repeats (operators, timers, action kinds): it first renders its
    /// chosen option only, and the whole list once the page is idle, or at once when the control is
    /// focused or pointed at, before it can open.
    #[prop_or_default]
    pub lazy: bool,
}

/// A select in Kommo's `control--select` markup over a native `<select>` (keyboard and screen
/// readers work as everywhere), with option groups and colour swatches.
#[function_component(Select)]
pub fn select(props: &SelectProps) -> Html {
    let id = use_control_id("select");
    let err_id = format!("{id}-error");
    let filled = use_state_eq(|| !props.lazy);
    let select_ref = use_node_ref();
    // A lazy list fills in after the frame that shows it, so a screen of many rows paints first.
    use_effect_with(props.lazy, {
        let filled = filled.clone();
        move |lazy| {
            let timer =
                (*lazy).then(|| gloo::timers::callback::Timeout::new(0, move || filled.set(true)));
            move || drop(timer)
        }
    });
    let fill = (!*filled).then(|| {
        let filled = filled.clone();
        Callback::from(move |_: Event| filled.set(true))
    });
    let onchange = {
        let cb = props.on_change.clone();
        Callback::from(move |e: Event| {
            let el: web_sys::HtmlSelectElement = e.target_unchecked_into();
            cb.emit(el.value());
        })
    };
    let selected = props.value.clone().unwrap_or_default();
    let swatch = props
        .options
        .iter()
        .find(|o| o.value == selected)
        .and_then(|o| o.color.clone());
    // Until filled, the chosen option stands for the list (the first when none is chosen).
    let shown: Vec<&SelectOption> = if *filled {
        props.options.iter().collect()
    } else {
        let chosen = props.options.iter().find(|o| o.value == selected);
        let first = (props.placeholder.is_none())
            .then(|| props.options.first())
            .flatten();
        chosen.or(first).into_iter().collect()
    };
    // Filling keeps the chosen option chosen whatever nodes the list reuses.
    let listed = props.options.iter().any(|o| o.value == selected);
    use_effect_with((*filled && listed, selected.clone()), {
        let select_ref = select_ref.clone();
        move |(check, selected)| {
            if let Some(el) = select_ref.cast::<web_sys::HtmlSelectElement>() {
                if *check && el.value() != *selected {
                    el.set_value(selected);
                }
            }
        }
    });
    let option = |o: &SelectOption| {
        let style = o.color.as_ref().map(|c| format!("background-color: {c}"));
        html! {
            <option value={o.value.clone()} selected={o.value == selected} disabled={o.disabled} {style}>
                { o.label.clone() }
            </option>
        }
    };
    // Adjacent options of one group go into one optgroup.
    let mut groups: Vec<(Option<String>, Vec<&SelectOption>)> = Vec::new();
    for o in shown {
        match groups.last_mut() {
            Some((g, list)) if *g == o.group => list.push(o),
            _ => groups.push((o.group.clone(), vec![o])),
        }
    }
    let body = groups.into_iter().map(|(group, list)| match group {
        Some(g) => html! { <optgroup label={g}>{ for list.into_iter().map(option) }</optgroup> },
        None => html! { <>{ for list.into_iter().map(option) }</> },
    });
    html! {
        <div class={classes!("rb-control", props.class.clone())}>
            <label for={id.clone()} class={classes!("rb-control-label", props.hide_label.then_some("rb-sr-only"))}>{ props.label.clone() }</label>
            <div class={classes!("control--select", "rb-select", props.error.is_some().then_some("rb-invalid"))}>
                if let Some(c) = swatch { <span class="rb-swatch" style={format!("background-color: {c}")} aria-hidden="true"></span> }
                <select id={id.clone()} class="control--select--button" {onchange} ref={select_ref}
                    onfocus={fill.clone().map(|f| f.reform(|e: FocusEvent| e.into()))}
                    onpointerenter={fill.map(|f| f.reform(|e: PointerEvent| e.into()))}
                    aria-invalid={props.error.is_some().then_some("true")}
                    aria-describedby={props.error.is_some().then_some(err_id.clone())}>
                    if let Some(p) = &props.placeholder {
                        <option value="" selected={props.value.is_none()}>{ p.clone() }</option>
                    }
                    { for body }
                </select>
            </div>
            if let Some(e) = &props.error { <em class="rb-field-error" id={err_id}>{ e.clone() }</em> }
        </div>
    }
}

/// Props of [`TextInput`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct TextInputProps {
    /// The label.
    pub label: AttrValue,
    /// The current text.
    pub value: String,
    /// Called with the new text on every keystroke.
    pub on_change: Callback<String>,
    /// `text`, `number`, `date`, `time`, `url`…
    #[prop_or(AttrValue::Static("text"))]
    pub input_type: AttrValue,
    /// A several-line text area.
    #[prop_or_default]
    pub multiline: bool,
    /// A placeholder.
    #[prop_or_default]
    pub placeholder: Option<AttrValue>,
    /// A problem to show under it.
    #[prop_or_default]
    pub error: Option<String>,
    /// A hint under it.
    #[prop_or_default]
    pub hint: Option<String>,
    /// Keep the label for screen readers only.
    #[prop_or_default]
    pub hide_label: bool,
    /// `min` of a number input.
    #[prop_or_default]
    pub min: Option<AttrValue>,
    /// `max` of a number input.
    #[prop_or_default]
    pub max: Option<AttrValue>,
    /// Extra classes of the wrapper.
    #[prop_or_default]
    pub class: Classes,
}

/// A labelled `.text-input` (or text area) with its problem under it.
#[function_component(TextInput)]
pub fn text_input(props: &TextInputProps) -> Html {
    let id = use_control_id("input");
    let err_id = format!("{id}-error");
    let oninput = {
        let cb = props.on_change.clone();
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
        })
    };
    let invalid = props.error.is_some().then_some("true");
    let described = props.error.is_some().then_some(err_id.clone());
    html! {
        <div class={classes!("rb-control", props.class.clone())}>
            <label for={id.clone()} class={classes!("rb-control-label", props.hide_label.then_some("rb-sr-only"))}>{ props.label.clone() }</label>
            if props.multiline {
                <textarea id={id.clone()} class={classes!("text-input", "rb-textarea", props.error.is_some().then_some("rb-invalid"))}
                    rows="3" value={props.value.clone()} {oninput} placeholder={props.placeholder.clone()}
                    aria-invalid={invalid} aria-describedby={described} />
            } else {
                <input id={id.clone()} type={props.input_type.clone()} class={classes!("text-input", props.error.is_some().then_some("rb-invalid"))}
                    value={props.value.clone()} {oninput} placeholder={props.placeholder.clone()}
                    min={props.min.clone()} max={props.max.clone()}
                    aria-invalid={invalid} aria-describedby={described} />
            }
            if let Some(h) = &props.hint { <small class="rb-hint">{ h.clone() }</small> }
            if let Some(e) = &props.error { <em class="rb-field-error" id={err_id}>{ e.clone() }</em> }
        </div>
    }
}

/// Props of [`Checkbox`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct CheckboxProps {
    /// The label.
    pub label: AttrValue,
    /// Whether it is ticked.
    pub checked: bool,
    /// Called with the new state.
    pub on_change: Callback<bool>,
}

/// Kommo's `label.control-checkbox` around a native checkbox.
#[function_component(Checkbox)]
pub fn checkbox(props: &CheckboxProps) -> Html {
    let onchange = {
        let cb = props.on_change.clone();
        Callback::from(move |e: Event| {
            let el: web_sys::HtmlInputElement = e.target_unchecked_into();
            cb.emit(el.checked());
        })
    };
    html! {
        <label class={classes!("control-checkbox", "rb-checkbox", props.checked.then_some("is-checked"))}>
            <input type="checkbox" checked={props.checked} {onchange} />
            <span class="control-checkbox__text">{ props.label.clone() }</span>
        </label>
    }
}

/// How a [`Button`] looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ButtonKind {
    /// Kommo's white button.
    #[default]
    Normal,
    /// Kommo's blue primary button.
    Primary,
    /// A destructive action.
    Danger,
    /// A small icon button (move, duplicate, delete) whose label is its accessible name.
    Icon,
}

/// Props of [`Button`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct ButtonProps {
    /// The text (for an icon button, its accessible name and tooltip).
    pub label: AttrValue,
    /// Called on click, Enter or Space.
    pub onclick: Callback<MouseEvent>,
    /// The look.
    #[prop_or_default]
    pub kind: ButtonKind,
    /// Disabled; `title` should say why.
    #[prop_or_default]
    pub disabled: bool,
    /// A tooltip (the reason a disabled button is disabled).
    #[prop_or_default]
    pub title: Option<String>,
    /// The glyph of an icon button.
    #[prop_or_default]
    pub icon: Option<AttrValue>,
    /// `aria-expanded` of a button that opens and closes a region.
    #[prop_or_default]
    pub expanded: Option<bool>,
}

/// Kommo's `button.button-input` markup.
#[function_component(Button)]
pub fn button(props: &ButtonProps) -> Html {
    let class = classes!(
        "button-input",
        "rb-button",
        match props.kind {
            ButtonKind::Primary => Some("button-input_blue rb-primary"),
            ButtonKind::Danger => Some("rb-danger"),
            ButtonKind::Icon => Some("rb-icon-button"),
            ButtonKind::Normal => None,
        },
        props.disabled.then_some("button-input-disabled"),
    );
    let aria_label = (props.kind == ButtonKind::Icon).then(|| props.label.clone());
    let title = props
        .title
        .clone()
        .map(AttrValue::from)
        .or_else(|| aria_label.clone());
    html! {
        <button type="button" {class} disabled={props.disabled} onclick={props.onclick.clone()}
            aria-label={aria_label} {title} aria-expanded={props.expanded.map(|e| e.to_string())}>
            <span class="button-input-inner">
                <span class="button-input-inner__text">
                    { if props.kind == ButtonKind::Icon { icon(props.icon.as_deref().unwrap_or_default(), &props.label) } else { html! { props.label.clone() } } }
                </span>
            </span>
        </button>
    }
}

/// The glyph of an icon button: a few drawn as SVG (copy, edit, clear, download), so they show
/// whatever fonts the computer has; any other text as is.
fn icon(name: &str, label: &str) -> Html {
    let path = match name {
        "copy" => "M5 1h9v9h-2V3H5z M2 5h9v9H2z",
        "edit" => "M11 1.5l3.5 3.5-9 9H2v-3.5z",
        "clear" => "M1 8l4-5h10v10H5z M8 5.5l5 5 M13 5.5l-5 5",
        "download" => "M7 1h2v7h3l-4 4-4-4h3z M2 13h12v2H2z",
        "" => return html! { label.to_string() },
        other => return html! { other.to_string() },
    };
    html! {
        <svg class="rb-icon" viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
            <path d={path} />
        </svg>
    }
}

/// Props of [`MoveButtons`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct MoveButtonsProps {
    /// The item's position.
    pub index: usize,
    /// How many items the list holds.
    pub len: usize,
    /// "Move block up" and its pair, in the user's language.
    pub up_label: AttrValue,
    /// "Move block down".
    pub down_label: AttrValue,
    /// Called with (from, to).
    pub on_move: Callback<(usize, usize)>,
}

/// Move up / Move down: the single-pointer and keyboard path of every drag (WCAG 2.2 2.5.7).
#[function_component(MoveButtons)]
pub fn move_buttons(props: &MoveButtonsProps) -> Html {
    let (i, len) = (props.index, props.len);
    let up = {
        let cb = props.on_move.clone();
        Callback::from(move |_| cb.emit((i, i.saturating_sub(1))))
    };
    let down = {
        let cb = props.on_move.clone();
        Callback::from(move |_| cb.emit((i, i + 1)))
    };
    html! {
        <>
            <Button kind={ButtonKind::Icon} icon="↑" label={props.up_label.clone()} disabled={i == 0} onclick={up} />
            <Button kind={ButtonKind::Icon} icon="↓" label={props.down_label.clone()} disabled={i + 1 >= len} onclick={down} />
        </>
    }
}

/// Drag and drop of one list's items: the list keeps which item is dragged; each item takes the
/// handlers of [`Sortable::item`]. Drag is one path; [`MoveButtons`] is the other.
#[derive(Clone, PartialEq)]
pub struct Sortable {
    dragged: UseStateHandle<Option<usize>>,
    on_move: Callback<(usize, usize)>,
}

/// The handlers of one draggable item.
pub struct DragHandlers {
    /// `ondragstart`.
    pub ondragstart: Callback<DragEvent>,
    /// `ondragover`.
    pub ondragover: Callback<DragEvent>,
    /// `ondrop`.
    pub ondrop: Callback<DragEvent>,
    /// `ondragend`.
    pub ondragend: Callback<DragEvent>,
}

/// A [`Sortable`] for one list; `on_move` gets (from, to).
#[hook]
pub fn use_sortable(on_move: Callback<(usize, usize)>) -> Sortable {
    let dragged = use_state(|| None::<usize>);
    Sortable { dragged, on_move }
}

impl Sortable {
    /// The handlers of the item at `index`.
    pub fn item(&self, index: usize) -> DragHandlers {
        let start = self.dragged.clone();
        let drop_state = self.dragged.clone();
        let end = self.dragged.clone();
        let on_move = self.on_move.clone();
        DragHandlers {
            ondragstart: Callback::from(move |e: DragEvent| {
                if let Some(dt) = e.data_transfer() {
                    dt.set_effect_allowed("move");
                    let _ = dt.set_data("text/plain", &index.to_string());
                }
                start.set(Some(index));
            }),
            ondragover: Callback::from(|e: DragEvent| e.prevent_default()),
            ondrop: Callback::from(move |e: DragEvent| {
                e.prevent_default();
                if let Some(from) = *drop_state {
                    if from != index {
                        on_move.emit((from, index));
                    }
                }
                drop_state.set(None);
            }),
            ondragend: Callback::from(move |_| end.set(None)),
        }
    }

    /// Whether the item at `index` is being dragged.
    pub fn is_dragged(&self, index: usize) -> bool {
        *self.dragged == Some(index)
    }
}

/// Props of [`SearchPicker`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct SearchPickerProps {
    /// The label (the accessible name of the combobox).
    pub label: AttrValue,
    /// Every choice, grouped by adjacency as in [`Select`]; shared, so many pickers cost one list.
    pub options: std::rc::Rc<Vec<SelectOption>>,
    /// The chosen value.
    pub value: Option<String>,
    /// What the closed picker shows when the value is not among the options (a deleted field).
    #[prop_or_default]
    pub fallback_label: Option<String>,
    /// Called with the chosen value.
    pub on_change: Callback<String>,
    /// The search field's placeholder.
    #[prop_or_default]
    pub placeholder: Option<AttrValue>,
    /// A problem to show under the control.
    #[prop_or_default]
    pub error: Option<String>,
    /// Keep the label for screen readers only.
    #[prop_or_default]
    pub hide_label: bool,
    /// Extra classes of the wrapper.
    #[prop_or_default]
    pub class: Classes,
}

/// Whether a choice matches the search text (already lower-cased): its label or its group.
pub fn option_matches(o: &SelectOption, needle: &str) -> bool {
    needle.is_empty()
        || o.label.to_lowercase().contains(needle)
        || o.group
            .as_deref()
            .is_some_and(|g| g.to_lowercase().contains(needle))
}

/// A searchable, grouped picker for long lists (ARIA 1.2 combobox with a listbox popup, in the
/// markup of the template fields' suggestions). Closed, it renders only the chosen label in a
/// text field; typing, a click or Down opens the list of the matching choices (by label or group),
/// Up/Down move, Enter picks, Escape closes. A condition row holds one per side, so a 30-block rule
/// renders no option at all until a picker is opened.
#[function_component(SearchPicker)]
pub fn search_picker(props: &SearchPickerProps) -> Html {
    let id = use_control_id("picker");
    let list_id = format!("{id}-list");
    let err_id = format!("{id}-error");
    // `Some(search text)` while the list is open.
    let open = use_state(|| None::<String>);
    let active = use_state(|| 0usize);
    let selected = props.value.clone().unwrap_or_default();
    let chosen_label = props
        .options
        .iter()
        .find(|o| o.value == selected)
        .map(|o| o.label.clone())
        .or_else(|| props.fallback_label.clone())
        .unwrap_or_default();
    // The choices shown: only computed while open.
    let shown: Vec<&SelectOption> = match &*open {
        Some(text) => {
            let needle = text.trim().to_lowercase();
            props
                .options
                .iter()
                .filter(|o| !o.disabled && option_matches(o, &needle))
                .collect()
        }
        None => Vec::new(),
    };
    let active_at = (*active).min(shown.len().saturating_sub(1));
    let active_value = shown.get(active_at).map(|o| o.value.clone());
    let choose = {
        let (open, cb) = (open.clone(), props.on_change.clone());
        Callback::from(move |value: String| {
            open.set(None);
            cb.emit(value);
        })
    };
    let oninput = {
        let (open, active) = (open.clone(), active.clone());
        Callback::from(move |e: InputEvent| {
            let el: web_sys::HtmlInputElement = e.target_unchecked_into();
            active.set(0);
            open.set(Some(el.value()));
        })
    };
    let onclick = {
        let (open, active) = (open.clone(), active.clone());
        Callback::from(move |_: MouseEvent| {
            if open.is_none() {
                active.set(0);
                open.set(Some(String::new()));
            }
        })
    };
    let onfocus = Callback::from(|e: FocusEvent| {
        let el: web_sys::HtmlInputElement = e.target_unchecked_into();
        el.select();
    });
    let onblur = {
        let open = open.clone();
        // A click on a choice comes first (its mousedown keeps the focus), so closing is safe.
        Callback::from(move |_: FocusEvent| open.set(None))
    };
    let onkeydown = {
        let (open, active, choose) = (open.clone(), active.clone(), choose.clone());
        let (len, active_value) = (shown.len(), active_value.clone());
        Callback::from(move |e: KeyboardEvent| match e.key().as_str() {
            "ArrowDown" | "ArrowUp" if open.is_none() => {
                e.prevent_default();
                active.set(0);
                open.set(Some(String::new()));
            }
            "ArrowDown" => {
                e.prevent_default();
                active.set((active_at + 1) % len.max(1));
            }
            "ArrowUp" => {
                e.prevent_default();
                active.set((active_at + len.max(1) - 1) % len.max(1));
            }
            "Enter" if open.is_some() => {
                e.prevent_default();
                if let Some(v) = &active_value {
                    choose.emit(v.clone());
                }
            }
            "Escape" if open.is_some() => {
                e.prevent_default();
                e.stop_propagation();
                open.set(None);
            }
            _ => {}
        })
    };
    // Keep the active choice in view as Up/Down move it.
    {
        let active_id = format!("{list_id}-{active_at}");
        use_effect_with((active_at, open.is_some()), move |(_, is_open)| {
            if *is_open {
                if let Some(el) = gloo::utils::document().get_element_by_id(&active_id) {
                    el.scroll_into_view_with_bool(false);
                }
            }
        });
    }
    let list = open.as_ref().map(|_| {
        // Adjacent choices of one group, each with its place in the shown list.
        type Group<'a> = (Option<&'a String>, Vec<(usize, &'a SelectOption)>);
        let mut groups: Vec<Group<'_>> = Vec::new();
        for (i, o) in shown.iter().enumerate() {
            match groups.last_mut() {
                Some((g, items)) if *g == o.group.as_ref() => items.push((i, o)),
                _ => groups.push((o.group.as_ref(), vec![(i, o)])),
            }
        }
        let option = |(i, o): (usize, &SelectOption)| {
            let is_active = i == active_at;
            let onmousedown = {
                let (choose, value) = (choose.clone(), o.value.clone());
                Callback::from(move |e: MouseEvent| {
                    e.prevent_default();
                    choose.emit(value.clone());
                })
            };
            html! {
                <div id={format!("{list_id}-{i}")} role="option" aria-selected={(o.value == selected).to_string()}
                    class={classes!("rb-suggestion", is_active.then_some("rb-suggestion-active"))} {onmousedown}>
                    <span class="rb-picker-label">{ o.label.clone() }</span>
                </div>
            }
        };
        let body = groups.into_iter().map(|(group, items)| match group {
            Some(g) => html! {
                <div role="group" aria-label={g.clone()}>
                    <div class="rb-picker-group" aria-hidden="true">{ g.clone() }</div>
                    { for items.into_iter().map(option) }
                </div>
            },
            None => html! { <>{ for items.into_iter().map(option) }</> },
        });
        html! {
            <div id={list_id.clone()} role="listbox" class="rb-suggestions rb-picker-list" aria-label={props.label.clone()}>
                { for body }
                if shown.is_empty() { <div class="rb-picker-empty" role="presentation">{ "—" }</div> }
            </div>
        }
    });
    let expanded = open.is_some();
    let text = open.as_ref().cloned().unwrap_or(chosen_label);
    let invalid = props.error.is_some().then_some("true");
    html! {
        <div class={classes!("rb-control", "rb-search-picker", props.class.clone())}>
            <label for={id.clone()} class={classes!("rb-control-label", props.hide_label.then_some("rb-sr-only"))}>{ props.label.clone() }</label>
            <div class="rb-combobox">
                <input id={id.clone()} type="text" role="combobox" autocomplete="off"
                    class={classes!("text-input", "rb-picker-input", props.error.is_some().then_some("rb-invalid"))}
                    value={text} placeholder={props.placeholder.clone()}
                    aria-autocomplete="list" aria-expanded={expanded.to_string()}
                    aria-controls={expanded.then(|| list_id.clone())}
                    aria-activedescendant={(expanded && active_value.is_some()).then(|| format!("{list_id}-{active_at}"))}
                    aria-invalid={invalid} aria-describedby={props.error.is_some().then_some(err_id.clone())}
                    {oninput} {onclick} {onfocus} {onblur} {onkeydown} />
                { list.unwrap_or_default() }
            </div>
            if let Some(e) = &props.error { <em class="rb-field-error" id={err_id}>{ e.clone() }</em> }
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::{option_matches, SelectOption};

    #[test]
    fn a_search_matches_the_label_or_the_group_case_blind() {
        let budget = SelectOption::new("lead.price", "Lead: Budget · number").in_group("Lead");
        assert!(option_matches(&budget, ""));
        assert!(option_matches(&budget, "budget"));
        assert!(option_matches(&budget, "lead"));
        assert!(!option_matches(&budget, "phone"));
        let phone = SelectOption::new("contact.cf(8101)", "Contact: Phone")
            .in_group("Contact: Custom fields");
        assert!(option_matches(&phone, "custom"));
        let typed = SelectOption::new("x", "Сделка: Бюджет");
        assert!(option_matches(&typed, "бюджет"));
    }
}
