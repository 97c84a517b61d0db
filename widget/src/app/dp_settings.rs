//! The digital-pipeline action modal: which rule this stage runs. The choice is written into the
//! action's hidden `rule_id` setting as the rule's DP key (`{rule id}-{mac}`, not its inbound
//! webhook key), which Kommo saves with the pipeline and sends back to our static `/hooks/dp` URL
//! with every lead that reaches the stage: the key both names the rule and proves the request is
//! genuine, and the backend runs exactly that rule.

use yew::prelude::*;

use super::PageProps;
use crate::{components::ErrorNotice, services, state::Remote};
use domain::{
    api::RuleSummary,
    rule::{Source, Trigger},
};

/// The dp setting that carries the rule id.
pub const RULE_SETTING: &str = "rule_id";

/// The digital-pipeline action settings.
#[function_component(DpSettings)]
pub fn dp_settings(props: &PageProps) -> Html {
    let t = &props.texts;
    let rules = use_state(|| Remote::<Vec<RuleSummary>>::Loading);
    // The rule id is the key's prefix.
    let chosen =
        use_state(|| rule_id_of_key(&props.backend.dp_setting(RULE_SETTING).unwrap_or_default()));
    let error = use_state(|| None);
    {
        let (rules, backend) = (rules.clone(), props.backend.clone());
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                rules.set(services::rules(&backend).await.into())
            });
        });
    }
    let on_change = {
        let (backend, chosen, error) = (props.backend.clone(), chosen.clone(), error.clone());
        Callback::from(move |e: Event| {
            let select: web_sys::HtmlSelectElement = e.target_unchecked_into();
            let value = select.value();
            chosen.set(value.clone());
            let Ok(id) = value.parse::<i64>() else {
                backend.set_dp_setting(RULE_SETTING, "");
                return;
            };
            let (backend, error) = (backend.clone(), error.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match services::rule(&backend, id).await {
                    Ok(record) => {
                        error.set(None);
                        backend.set_dp_setting(RULE_SETTING, &record.dp_key);
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
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
                    { for rules.iter().filter(|r| runs_from_a_stage(r) || r.id.to_string() == *chosen).map(|r| {
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
            if let Some(e) = (*error).clone() { <ErrorNotice error={e} texts={props.texts.clone()} /> }
        </section>
    }
}

/// Whether a digital-pipeline stage may run the rule (a manual lead rule, a lead's "added" or
/// "updated" rule), as the backend decides ([`Trigger::runs_from`]); only those are offered.
fn runs_from_a_stage(rule: &RuleSummary) -> bool {
    let trigger = serde_json::json!({"kind": rule.trigger, "entity": rule.entity});
    serde_json::from_value::<Trigger>(trigger).is_ok_and(|t| t.runs_from(Source::DigitalPipeline))
}

/// The rule id a stored key names (`"17-s3cr3t"` → `"17"`), or empty.
fn rule_id_of_key(key: &str) -> String {
    key.split_once('-')
        .map(|(id, _)| id)
        .filter(|id| id.parse::<i64>().is_ok())
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::{rule_id_of_key, runs_from_a_stage};
    use domain::api::RuleSummary;

    #[test]
    fn a_stage_offers_only_the_rules_it_may_run() {
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
        assert!(runs_from_a_stage(&summary("manual", Some("lead"))));
        assert!(runs_from_a_stage(&summary("entity_updated", Some("lead"))));
        assert!(runs_from_a_stage(&summary("entity_added", Some("lead"))));
        assert!(!runs_from_a_stage(&summary("manual", Some("contact"))));
        assert!(!runs_from_a_stage(&summary("tag_added", Some("lead"))));
        assert!(!runs_from_a_stage(&summary("status_changed", Some("lead"))));
        assert!(!runs_from_a_stage(&summary("inbound_webhook", None)));
    }

    #[test]
    fn the_rule_is_read_from_the_keys_prefix() {
        assert_eq!(rule_id_of_key("17-abcDEF"), "17");
        assert_eq!(rule_id_of_key(""), "");
        assert_eq!(rule_id_of_key("x-17"), "");
        assert_eq!(rule_id_of_key("17"), "");
    }
}
