//! The widget's page under Settings: the account Rulebook serves, then the rules, the debugger,
//! the global variables, statistics, the account's settings (working hours), webhook receivers and
//! trigger links, one tab each (tabs live in memory: the URL is Kommo's).

use yew::prelude::*;

use super::{
    debugger::Debugger,
    links::Links,
    rules::Rules,
    settings::{HoursDraft, Settings},
    statistics::Statistics,
    variables::Variables,
    webhooks::Webhooks,
    PageProps,
};
use crate::{components::ErrorNotice, hooks::use_me, state::Remote};

/// The tabs of the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Rules,
    Debugger,
    Variables,
    Statistics,
    Settings,
    Webhooks,
    Links,
}

/// The advanced-settings page.
#[function_component(AdvancedSettings)]
pub fn advanced_settings(props: &PageProps) -> Html {
    let t = &props.texts;
    let me = use_me(&props.backend);
    let new_rule = use_state(|| None::<super::NewRule>);
    // A card's link to a rule's runs opens the page on the debugger.
    let opened = props.context.open_runs_of;
    let tab = use_state(|| opened.map_or(Tab::Rules, |_| Tab::Debugger));
    let runs_of = use_state(|| opened);
    // The working hours being edited outlive a switch to another tab.
    let hours_draft = use_state(|| None::<HoursDraft>);
    let nav = super::Nav {
        show_runs: {
            let (tab, runs_of) = (tab.clone(), runs_of.clone());
            Callback::from(move |id| {
                runs_of.set(Some(id));
                tab.set(Tab::Debugger);
            })
        },
        runs_of: *runs_of,
        open_new: {
            let (tab, new_rule) = (tab.clone(), new_rule.clone());
            Callback::from(move |rule| {
                new_rule.set(Some(rule));
                tab.set(Tab::Rules);
            })
        },
        new_rule: (*new_rule).clone(),
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
    // Tabs in the ARIA tabs pattern (role=tab in a tablist, the chosen one aria-selected), so
    // assistive technology and the screens test find every tab, those added later included.
    let hours_dirty = (*hours_draft).as_ref().is_some_and(HoursDraft::dirty);
    let tab_button = |which: Tab, key: &'static str| {
        let (tab, new_rule) = (tab.clone(), new_rule.clone());
        let selected = *tab == which;
        let class = classes!("rb-tab", selected.then_some("rb-tab-active"));
        // A new rule another tab opened is opened once: the tab buttons show the list again.
        let onclick = Callback::from(move |_| {
            new_rule.set(None);
            tab.set(which);
        });
        html! {
            <button type="button" role="tab" aria-selected={selected.to_string()} aria-controls="rb-tabpanel"
                {class} data-testid={format!("tab-{key}")} {onclick}>
                { t.get(key) }
                // Unsaved working hours are marked on their tab while another tab is open.
                if which == Tab::Settings && hours_dirty {
                    <span class="rb-tab-dirty" title={t.get("hours_unsaved").to_string()} aria-hidden="true">{ " •" }</span>
                }
            </button>
        }
    };
    let body = match *tab {
        Tab::Rules => html! { <Rules ..props.clone() /> },
        Tab::Debugger => html! { <Debugger ..props.clone() /> },
        Tab::Variables => html! { <Variables ..props.clone() /> },
        Tab::Statistics => html! { <Statistics ..props.clone() /> },
        Tab::Settings => html! { <Settings page={props.clone()} draft={hours_draft.clone()} /> },
        Tab::Webhooks => html! { <Webhooks ..props.clone() /> },
        Tab::Links => html! { <Links ..props.clone() /> },
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
            <nav class="rb-tabs" role="tablist" aria-label={t.get("tabs_label").to_string()}>
                { tab_button(Tab::Rules, "tab_rules") }
                { tab_button(Tab::Debugger, "tab_debugger") }
                { tab_button(Tab::Variables, "tab_variables") }
                { tab_button(Tab::Statistics, "tab_statistics") }
                { tab_button(Tab::Settings, "tab_settings") }
                { tab_button(Tab::Webhooks, "tab_webhooks") }
                { tab_button(Tab::Links, "tab_links") }
            </nav>
            <div id="rb-tabpanel" role="tabpanel">
                <ContextProvider<super::Nav> context={nav}>{ body }</ContextProvider<super::Nav>>
            </div>
        </section>
    }
}
