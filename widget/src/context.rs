//! What script.js tells the app about the place it is mounted in.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The Kommo location the app is mounted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// The widget's own page under Settings: rule builder, debugger, variables.
    AdvancedSettings,
    /// The right panel of a lead card: manual-launch buttons, pending timers, last runs.
    Lcard,
    /// The right panel of a contact card: the same for the contact.
    Ccard,
    /// The right panel of a company card: the same for the company.
    Comcard,
    /// A dialog over the leads list: run a rule on the ticked leads.
    Llist,
    /// A dialog over the contacts list (contacts and companies): run a rule on the ticked rows.
    Clist,
    /// The action modal of a digital-pipeline stage: which rule the stage runs.
    DigitalPipeline,
    /// Our step's settings in the Salesbot designer: which rule the bot runs.
    SalesbotDesigner,
}

/// The mount context, as JSON from script.js.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WidgetContext {
    /// Where we are.
    pub location: Location,
    /// The widget's code in this account (`params.widget_code`).
    pub widget_code: String,
    /// The lead open in the card, on `lcard`.
    #[serde(default)]
    pub lead_id: Option<i64>,
    /// The entity open in the card, on `lcard`, `ccard` and `comcard`.
    #[serde(default)]
    pub entity_id: Option<i64>,
    /// Where Kommo shows the widget's advanced-settings page (its debugger), for links out of a card.
    #[serde(default)]
    pub advanced_settings_url: Option<String>,
    /// The rule whose runs the advanced-settings page opens on (a card's link chose it).
    #[serde(default)]
    pub open_runs_of: Option<i64>,
    /// The ticked rows: leads on `llist`, contacts on `clist`.
    #[serde(default)]
    pub selected_ids: Vec<i64>,
    /// The ticked companies, on `clist` (Kommo lists contacts and companies together there).
    #[serde(default)]
    pub selected_company_ids: Vec<i64>,
    /// Kommo's interface language (`APP.lang_id`), e.g. `en`.
    #[serde(default = "default_lang")]
    pub lang: String,
    /// The `ui` section of the widget's i18n file for that language, if script.js found one.
    #[serde(default)]
    pub messages: BTreeMap<String, String>,
}

fn default_lang() -> String {
    "en".into()
}

/// Why a context could not be read.
#[derive(Debug, thiserror::Error)]
#[error("the widget was mounted with an unreadable context: {0}")]
pub struct ContextError(#[from] serde_json::Error);

impl WidgetContext {
    /// Reads the context script.js passed.
    pub fn from_json(json: &str) -> Result<Self, ContextError> {
        Ok(serde_json::from_str(json)?)
    }

    /// The entity open in a card (a lead card may say it as `lead_id` only).
    pub fn card_entity(&self) -> Option<i64> {
        self.entity_id
            .or(if self.location == Location::Lcard {
                self.lead_id
            } else {
                None
            })
            .filter(|id| *id > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lead_card_context_is_read() {
        let c = WidgetContext::from_json(
            r#"{"location":"lcard","widget_code":"rulebook","lead_id":42,"lang":"es","messages":{"title":"Reglas"}}"#,
        )
        .expect("context");
        assert_eq!(c.location, Location::Lcard);
        assert_eq!(c.lead_id, Some(42));
        assert_eq!(c.messages.get("title").map(String::as_str), Some("Reglas"));
    }

    #[test]
    fn a_contact_or_company_card_names_its_entity() {
        let c = WidgetContext::from_json(
            r#"{"location":"ccard","widget_code":"rulebook","entity_id":77,"advanced_settings_url":"/settings/widgets/rulebook/"}"#,
        )
        .expect("context");
        assert_eq!(c.location, Location::Ccard);
        assert_eq!(c.card_entity(), Some(77));
        assert_eq!(
            c.advanced_settings_url.as_deref(),
            Some("/settings/widgets/rulebook/")
        );
        let lead =
            WidgetContext::from_json(r#"{"location":"lcard","widget_code":"x","lead_id":5}"#)
                .expect("context");
        assert_eq!(lead.card_entity(), Some(5));
        let unsaved =
            WidgetContext::from_json(r#"{"location":"comcard","widget_code":"x","lead_id":5}"#)
                .expect("context");
        assert_eq!(
            unsaved.card_entity(),
            None,
            "a lead id means nothing in a company card"
        );
        let designer =
            WidgetContext::from_json(r#"{"location":"salesbot_designer","widget_code":"x"}"#)
                .expect("context");
        assert_eq!(designer.location, Location::SalesbotDesigner);
    }

    #[test]
    fn a_contacts_list_context_names_contacts_and_companies() {
        let c = WidgetContext::from_json(
            r#"{"location":"clist","widget_code":"rulebook","selected_ids":[1,2],"selected_company_ids":[9]}"#,
        )
        .expect("context");
        assert_eq!(c.location, Location::Clist);
        assert_eq!(
            (c.selected_ids, c.selected_company_ids),
            (vec![1, 2], vec![9])
        );
        let leads =
            WidgetContext::from_json(r#"{"location":"llist","widget_code":"x"}"#).expect("context");
        assert!(leads.selected_company_ids.is_empty());
    }

    #[test]
    fn an_unknown_location_is_an_error() {
        let err =
            WidgetContext::from_json(r#"{"location":"mars","widget_code":"x"}"#).expect_err("bad");
        assert!(err.to_string().contains("unknown variant"), "{err}");
    }
}
