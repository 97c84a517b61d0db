//! The widget's page under Settings: the account Rulebook serves, then the rules, the debugger and
//! the global variables, one tab each (tabs live in memory: the URL is Kommo's).

use yew::prelude::*;

use super::{
    debugger::Debugger, rules::Rules, statistics::Statistics, variables::Variables, PageProps,
};
use crate::{components::ErrorNotice, hooks::use_me, state::Remote};

/// The tabs of the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Rules,
    Debugger,
    Variables,
    Statistics,
}

/// The advanced-settings page.
#[function_component(AdvancedSettings)]
pub fn advanced_settings(props: &PageProps) -> Html {
    let t = &props.texts;
    let me = use_me(&props.backend);
    let tab = use_state(|| Tab::Rules);
    let runs_of = use_state(|| None::<i64>);
    let nav = super::Nav {
        show_runs: {
            let (tab, runs_of) = (tab.clone(), runs_of.clone());
            Callback::from(move |id| {
                runs_of.set(Some(id));
                tab.set(Tab::Debugger);
            })
        },
        runs_of: *runs_of,
    };
    // The tabs load alongside the account (no round trip waits for another); only a failure to
    // learn the account replaces the page.
    let me = match &*me {
        Remote::Loading => None,
        Remote::Failed(error) => {
            return html! {
                <section class="rb-page rb-advanced-settings" data-location="advanced_settings">
                    <h1>{ t.get("title") }</h1>
                    <ErrorNotice error={error.clone()} texts={props.texts.clone()} />
                </section>
            }
        }
        Remote::Ready(me) => Some(me.clone()),
    };
    let tab_button = |which: Tab, key: &'static str| {
        let tab = tab.clone();
        let class = classes!("rb-tab", (*tab == which).then_some("rb-tab-active"));
        html! {
            <button type="button" {class} data-testid={format!("tab-{key}")} onclick={Callback::from(move |_| tab.set(which))}>
                { t.get(key) }
            </button>
        }
    };
    let body = match *tab {
        Tab::Rules => html! { <Rules ..props.clone() /> },
        Tab::Debugger => html! { <Debugger ..props.clone() /> },
        Tab::Variables => html! { <Variables ..props.clone() /> },
        Tab::Statistics => html! { <Statistics ..props.clone() /> },
    };
    html! {
        <section class="rb-page rb-advanced-settings" data-location="advanced_settings">
            <header class="rb-header">
                <h1>{ t.get("title") }</h1>
                if let Some(me) = me {
                    <dl class="rb-account">
                        <dt>{ t.get("account") }</dt>
                        <dd class="rb-account-subdomain" data-testid="account-subdomain">{ me.subdomain.clone() }</dd>
                        <dt>{ t.get("user") }</dt>
                        <dd>{ me.user_id }{ if me.is_admin { format!(" ({})", t.get("admin")) } else { String::new() } }</dd>
                    </dl>
                } else {
                    <p class="rb-loading rb-account">{ t.get("loading") }</p>
                }
            </header>
            <nav class="rb-tabs">
                { tab_button(Tab::Rules, "tab_rules") }
                { tab_button(Tab::Debugger, "tab_debugger") }
                { tab_button(Tab::Variables, "tab_variables") }
                { tab_button(Tab::Statistics, "tab_statistics") }
            </nav>
            <ContextProvider<super::Nav> context={nav}>{ body }</ContextProvider<super::Nav>>
        </section>
    }
}
