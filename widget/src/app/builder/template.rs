//! Template fields: autocomplete after `{{` and `{`, and a live preview rendered by `domain` against
//! a lead the admin picks or a sample inbound request.

use yew::prelude::*;

use crate::components::controls::TextInput;

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
}

/// A template field.
#[function_component(TemplateInput)]
pub fn template_input(props: &TemplateInputProps) -> Html {
    html! {
        <TextInput label={props.label.clone()} value={props.value.clone()} on_change={props.on_change.clone()}
            multiline={props.multiline} error={props.error.clone()} />
    }
}
