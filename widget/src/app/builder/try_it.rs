//! "Test on a lead": the unsaved rule dry-run on a lead picked by name or id.

use yew::prelude::*;

/// The "Test on a lead" panel.
#[function_component(TryIt)]
pub fn try_it() -> Html {
    html! {}
}
