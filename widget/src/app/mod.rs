//! The app's pages, one per Kommo location, behind one root component.

mod advanced_settings;
pub mod builder;
mod bulk_run;
mod debugger;
mod dp_settings;
mod entity_card;
mod links;
mod rules;
mod salesbot;
mod settings;
mod statistics;
mod variables;
mod webhooks;

use yew::prelude::*;

use crate::{
    bridge::Backend,
    context::{Location, WidgetContext},
    i18n::Texts,
};

/// Props of [`Root`]: what `mount` received.
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct RootProps {
    /// The mount context, or why it could not be read.
    pub context: Result<WidgetContext, String>,
    /// The way to the backend.
    pub backend: Backend,
}

/// Moves between the advanced-settings tabs: the rules list links each rule to its runs in the
/// debugger; a webhook request opens a new rule in the builder.
#[derive(Debug, Clone, PartialEq)]
pub struct Nav {
    /// Opens the debugger on a rule's runs.
    pub show_runs: Callback<i64>,
    /// The rule the debugger opens on, if a link chose one.
    pub runs_of: Option<i64>,
    /// Opens the Rules tab with the builder on a new rule.
    pub open_new: Callback<NewRule>,
    /// The new rule the Rules tab opens in the builder, if another tab chose one.
    pub new_rule: Option<NewRule>,
}

/// A new rule another tab opens in the builder.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRule {
    /// The rule to start from.
    pub rule: domain::rule::Rule,
    /// The request its template fields preview with.
    pub sample: Option<std::rc::Rc<builder::template::RequestSample>>,
}

/// Props every page gets.
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct PageProps {
    /// The mount context.
    pub context: WidgetContext,
    /// The way to the backend.
    pub backend: Backend,
    /// Interface texts in the user's language.
    pub texts: Texts,
}

/// Picks the page for the location.
#[function_component(Root)]
pub fn root(props: &RootProps) -> Html {
    let context = match &props.context {
        Ok(c) => c.clone(),
        Err(e) => return html! { <div class="rb-root rb-error" role="alert">{ e.clone() }</div> },
    };
    let page = PageProps {
        texts: Texts::new(context.messages.clone()),
        context,
        backend: props.backend.clone(),
    };
    let body = match page.context.location {
        Location::AdvancedSettings => html! { <advanced_settings::AdvancedSettings ..page /> },
        Location::Lcard | Location::Ccard | Location::Comcard => {
            html! { <entity_card::EntityCard ..page /> }
        }
        Location::Llist | Location::Clist => html! { <bulk_run::BulkRun ..page /> },
        Location::DigitalPipeline => html! { <dp_settings::DpSettings ..page /> },
        Location::SalesbotDesigner => html! { <salesbot::SalesbotStep ..page /> },
    };
    html! { <div class="rb-root">{ body }</div> }
}

/// An instant (Unix milliseconds) as the browser's local date and time.
fn format_millis(ms: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    String::from(date.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED))
}

/// The enabled rules a person may launch by hand on an entity type (`lead`, `contact`,
/// `company`), for the card buttons
/// and bulk runs: `domain::rule::Trigger::launchable_by_hand`, as the backend checks a launch.
fn manual_rules<'a>(
    rules: &'a [domain::api::RuleSummary],
    entity: &'a str,
) -> impl Iterator<Item = &'a domain::api::RuleSummary> {
    rules.iter().filter(move |r| {
        r.enabled
            && r.trigger_definition
                .as_ref()
                .and_then(domain::rule::Trigger::launchable_by_hand)
                .is_some_and(|t| t.as_str() == entity)
    })
}
