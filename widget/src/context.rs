//! What script.js tells the app about the place it is mounted in.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The Kommo location the app is mounted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// The widget's own page under Settings: rule builder, debugger, variables.
    AdvancedSettings,
    /// The right panel of a lead card: manual-launch buttons and pending timers.
    Lcard,
    /// A dialog over the leads list: run a rule on the ticked leads.
    Llist,
    /// A dialog over the contacts list (contacts and companies): run a rule on the ticked rows.
    Clist,
    /// The action modal of a digital-pipeline stage: which rule the stage runs.
    DigitalPipeline,
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
