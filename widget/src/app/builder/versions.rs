//! The rule's versions: who saved each and when; open, compare and restore any of them.

use yew::prelude::*;

/// Props of [`Versions`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct VersionsProps {
    /// The stored rule.
    pub rule_id: i64,
}

/// The versions panel.
#[function_component(Versions)]
pub fn versions(_props: &VersionsProps) -> Html {
    html! {}
}
