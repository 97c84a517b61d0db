//! The digital-pipeline action modal: which rule this stage runs. The choice is written into the
//! action's hidden `rule_id` setting, which Kommo saves with the pipeline and sends back to our
//! backend with every lead that reaches the stage.

use yew::prelude::*;

use super::PageProps;
use crate::{components::ErrorNotice, services, state::Remote};
use domain::api::RuleSummary;

/// The dp setting that carries the rule id.
pub const RULE_SETTING: &str = "rule_id";

/// The digital-pipeline action settings.
#[function_component(DpSettings)]
pub fn dp_settings(props: &PageProps) -> Html {
    let t = &props.texts;
    let rules = use_state(|| Remote::<Vec<RuleSummary>>::Loading);
    let chosen = use_state(|| props.backend.dp_setting(RULE_SETTING).unwrap_or_default());
    {
        let (rules, backend) = (rules.clone(), props.backend.clone());
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                rules.set(services::rules(&backend).await.into())
            });
        });
    }
    let on_change = {
        let (backend, chosen) = (props.backend.clone(), chosen.clone());
        Callback::from(move |e: Event| {
            let select: web_sys::HtmlSelectElement = e.target_unchecked_into();
            let value = select.value();
            backend.set_dp_setting(RULE_SETTING, &value);
            chosen.set(value);
        })
    };
    let body = match &*rules {
        Remote::Loading => html! { <p class="rb-loading">{ t.get("loading") }</p> },
        Remote::Failed(error) => {
            html! { <ErrorNotice error={error.clone()} texts={props.texts.clone()} /> }
        }
        Remote::Ready(rules) => html! {
            <label class="rb-field">
                <span>{ t.get("dp_rule") }</span>
                <select class="rb-dp-rule" data-testid="dp-rule" onchange={on_change}>
                    <option value="" selected={chosen.is_empty()}>{ t.get("dp_rule_none") }</option>
                    { for rules.iter().map(|r| {
                        let id = r.id.to_string();
                        html! {
                            <option value={id.clone()} selected={*chosen == id}>
                                { format!("{}{}", r.name, if r.enabled { "" } else { " ⏸" }) }
                            </option>
                        }
                    }) }
                </select>
                if rules.is_empty() { <em class="rb-hint">{ t.get("rules_empty") }</em> }
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
