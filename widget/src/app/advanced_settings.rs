//! The widget's page under Settings: the account Rulebook serves, and (as it grows) the rule builder,
//! the debugger and the variables.

use yew::prelude::*;

use super::PageProps;
use crate::{components::ErrorNotice, hooks::use_me, state::Remote};

/// The advanced-settings page.
#[function_component(AdvancedSettings)]
pub fn advanced_settings(props: &PageProps) -> Html {
    let t = &props.texts;
    let me = use_me(&props.backend);
    let account = match &*me {
        Remote::Loading => html! { <p class="rb-loading">{ t.get("loading") }</p> },
        Remote::Failed(error) => {
            html! { <ErrorNotice error={error.clone()} texts={props.texts.clone()} /> }
        }
        Remote::Ready(me) => html! {
            <dl class="rb-account">
                <dt>{ t.get("account") }</dt>
                <dd class="rb-account-subdomain" data-testid="account-subdomain">{ me.subdomain.clone() }</dd>
                <dt>{ t.get("account_id") }</dt>
                <dd>{ me.account_id }</dd>
                <dt>{ t.get("user") }</dt>
                <dd>{ me.user_id }{ if me.is_admin { format!(" ({})", t.get("admin")) } else { String::new() } }</dd>
            </dl>
        },
    };
    html! {
        <section class="rb-page rb-advanced-settings" data-location="advanced_settings">
            <h1>{ t.get("title") }</h1>
            { account }
        </section>
    }
}
