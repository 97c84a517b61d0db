//! Our step in Kommo's Salesbot designer, "Run a Rulebook rule": which rule the bot runs when it
//! reaches the step. The choice (the rule's id) is written into the step's `rule_id` setting, the
//! input Kommo renders from the manifest's `salesbot_designer` block; on save, script.js turns it
//! into the bot's steps (a `widget_request` to our `/hooks/salesbot` with `{rule_id}`, then on to
//! the next step), and the backend runs the rule on the bot's lead or contact.
//!
//! Offered: the manual rules of leads and contacts (a bot talks on a lead or a contact), as the
//! Triggers widget offers "run from Salesbot".

use yew::prelude::*;

use super::PageProps;
use crate::{components::ErrorNotice, hooks::use_remote, services, state::Remote};
use domain::api::RuleSummary;

/// The step setting that carries the rule id.
pub const RULE_SETTING: &str = "rule_id";

/// Whether a bot step may run the rule: a manual rule of leads or contacts.
pub fn runs_from_a_bot(rule: &RuleSummary) -> bool {
    rule.trigger == "manual" && matches!(rule.entity.as_deref(), Some("lead" | "contact"))
}

/// The step's settings in the bot designer.
#[function_component(SalesbotStep)]
pub fn salesbot_step(props: &PageProps) -> Html {
    let t = &props.texts;
    let rules = use_remote(&props.backend, (), |b, ()| async move {
        services::rules(&b).await
    });
    let chosen = use_state(|| {
        props
            .backend
            .dp_setting(RULE_SETTING)
            .filter(|v| v.parse::<i64>().is_ok())
            .unwrap_or_default()
    });
    let on_change = {
        let (backend, chosen) = (props.backend.clone(), chosen.clone());
        Callback::from(move |e: Event| {
            let select: web_sys::HtmlSelectElement = e.target_unchecked_into();
            let value = select.value();
            backend.set_dp_setting(RULE_SETTING, &value);
            chosen.set(value);
        })
    };
    let body = match &*rules.state {
        Remote::Loading => html! { <p class="rb-loading">{ t.get("loading") }</p> },
        Remote::Failed(e) => {
            html! { <ErrorNotice error={e.clone()} texts={props.texts.clone()} /> }
        }
        Remote::Ready(rules) => {
            let offered: Vec<&RuleSummary> = rules
                .iter()
                .filter(|r| runs_from_a_bot(r) || r.id.to_string() == *chosen)
                .collect();
            let group = |entity: &str| -> Vec<&RuleSummary> {
                offered
                    .iter()
                    .copied()
                    .filter(|r| r.entity.as_deref() == Some(entity))
                    .collect()
            };
            let option = |r: &RuleSummary| {
                let id = r.id.to_string();
                let off = if r.enabled {
                    String::new()
                } else {
                    format!(" ({})", t.get("dp_rule_off"))
                };
                html! { <option value={id.clone()} selected={*chosen == id}>{ format!("{}{off}", r.name) }</option> }
            };
            let (leads, contacts) = (group("lead"), group("contact"));
            html! {
                <div class="rb-control">
                    <label class="rb-control-label" for="rb-salesbot-rule">{ t.get("salesbot_rule") }</label>
                    <div class="control--select rb-select">
                        <select id="rb-salesbot-rule" class="control--select--button" data-testid="salesbot-rule" onchange={on_change}>
                            <option value="" selected={chosen.is_empty()}>{ t.get("dp_rule_none") }</option>
                            if !leads.is_empty() {
                                <optgroup label={t.get("entity_lead").to_string()}>{ for leads.into_iter().map(option) }</optgroup>
                            }
                            if !contacts.is_empty() {
                                <optgroup label={t.get("entity_contact").to_string()}>{ for contacts.into_iter().map(option) }</optgroup>
                            }
                        </select>
                    </div>
                    if offered.is_empty() {
                        <em class="rb-hint" data-testid="salesbot-empty">{ t.get("salesbot_rules_empty") }</em>
                    }
                    <small class="rb-hint">{ t.get("salesbot_hint") }</small>
                </div>
            }
        }
    };
    html! {
        // The host page already heads the step with its title: the section keeps it only as its
        // accessible name.
        <section class="rb-page rb-salesbot-step" data-location="salesbot_designer" aria-label={t.get("salesbot_title").to_string()}>
            { body }
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::runs_from_a_bot;
    use domain::api::RuleSummary;

    #[test]
    fn a_bot_offers_the_manual_rules_of_leads_and_contacts() {
        let summary = |trigger: &str, entity: Option<&str>| RuleSummary {
            id: 1,
            name: "r".into(),
            enabled: true,
            version: 1,
            updated_at: 0,
            trigger: trigger.into(),
            entity: entity.map(str::to_owned),
            trigger_definition: None,
        };
        assert!(runs_from_a_bot(&summary("manual", Some("lead"))));
        assert!(runs_from_a_bot(&summary("manual", Some("contact"))));
        assert!(!runs_from_a_bot(&summary("manual", Some("company"))));
        assert!(!runs_from_a_bot(&summary("entity_added", Some("lead"))));
        assert!(!runs_from_a_bot(&summary("inbound_webhook", None)));
    }
}
