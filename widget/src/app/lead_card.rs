//! The lead card's right panel: the rules a user can launch by hand on this lead.

use yew::prelude::*;

use super::PageProps;
use crate::{components::ErrorNotice, hooks::use_me, state::Remote};

/// The lead-card panel.
#[function_component(LeadCard)]
pub fn lead_card(props: &PageProps) -> Html {
    let t = &props.texts;
    let me = use_me(&props.backend);
    let body = match &*me {
        Remote::Loading => html! { <p class="rb-loading">{ t.get("loading") }</p> },
        Remote::Failed(error) => {
            html! { <ErrorNotice error={error.clone()} texts={props.texts.clone()} /> }
        }
        Remote::Ready(_) => {
            html! { <p class="rb-manual-empty">{ t.get("manual_rules_empty") }</p> }
        }
    };
    html! {
        <section class="rb-page rb-lead-card" data-location="lcard">
            <h2>{ t.get("manual_rules") }</h2>
            if let Some(lead) = props.context.lead_id {
                <p class="rb-lead" data-testid="lead-id">{ format!("{} #{lead}", t.get("lead")) }</p>
            }
            { body }
        </section>
    }
}
