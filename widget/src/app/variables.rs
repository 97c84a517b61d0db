//! The Variables tab: the account's global variables (`{name}` in templates) and their values.

use yew::prelude::*;

use super::PageProps;
use crate::{components::ErrorNotice, services, state::Remote};
use domain::api::Variable;

/// The Variables tab.
#[function_component(Variables)]
pub fn variables(props: &PageProps) -> Html {
    let t = &props.texts;
    let list = use_state(|| Remote::<Vec<Variable>>::Loading);
    {
        let (list, backend) = (list.clone(), props.backend.clone());
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                list.set(services::variables(&backend).await.into())
            });
        });
    }
    match &*list {
        Remote::Loading => html! { <p class="rb-loading">{ t.get("loading") }</p> },
        Remote::Failed(e) => {
            html! { <ErrorNotice error={e.clone()} texts={props.texts.clone()} /> }
        }
        Remote::Ready(vars) if vars.is_empty() => {
            html! { <p class="rb-empty">{ t.get("variables_empty") }</p> }
        }
        Remote::Ready(vars) => html! {
            <table class="rb-table rb-variables" data-testid="variables">
                <thead><tr><th>{ t.get("variable_name") }</th><th>{ t.get("variable_value") }</th></tr></thead>
                <tbody>
                { for vars.iter().map(|v| html! {
                    <tr><td><code>{ format!("{{{}}}", v.name) }</code></td><td class="rb-value">{ v.value.clone() }</td></tr>
                }) }
                </tbody>
            </table>
        },
    }
}
