//! "View source": the rule's JSON for power users; an edit round-trips to the form or is refused
//! with the error at its line.

use yew::prelude::*;

/// The source panel.
#[function_component(SourceView)]
pub fn source_view() -> Html {
    html! {}
}
