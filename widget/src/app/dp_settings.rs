//! The digital-pipeline action modal: which rule this stage runs. The choice is written into the
//! action's hidden `rule_id` setting, which Kommo saves with the pipeline and echoes back in its
//! request to our backend.

use yew::prelude::*;

use super::PageProps;
use crate::{components::ErrorNotice, hooks::use_me, state::Remote};

/// The dp setting that carries the rule id.
pub const RULE_SETTING: &str = "rule_id";

/// The digital-pipeline action settings.
#[function_component(DpSettings)]
pub fn dp_settings(props: &PageProps) -> Html {
    let t = &props.texts;
    let me = use_me(&props.backend);
    let rule_id = use_state(|| props.backend.dp_setting(RULE_SETTING).unwrap_or_default());
    let on_input = {
        let backend = props.backend.clone();
        let rule_id = rule_id.clone();
        Callback::from(move |e: InputEvent| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            let value = input.value();
            backend.set_dp_setting(RULE_SETTING, &value);
            rule_id.set(value);
        })
    };
    let body = match &*me {
        Remote::Loading => html! { <p class="rb-loading">{ t.get("loading") }</p> },
        Remote::Failed(error) => {
            html! { <ErrorNotice error={error.clone()} texts={props.texts.clone()} /> }
        }
        Remote::Ready(_) => html! {
            <label class="rb-field">
                <span>{ t.get("dp_rule") }</span>
                <input class="rb-dp-rule" data-testid="dp-rule" value={(*rule_id).clone()} oninput={on_input} />
            </label>
        },
    };
    html! {
        <section class="rb-page rb-dp-settings" data-location="digital_pipeline">
            <h2>{ t.get("dp_title") }</h2>
            { body }
        </section>
    }
}
