//! Routing of digital-pipeline requests that arrive at the widget's static `dp.webhook_url`
//! (`/hooks/dp`, the same for every account): the account is read from the body's `account_id`,
//! and the proof is the action's hidden `rule_id` setting, which must hold the rule's key
//! (`{rule_id}-{secret}`, the rule's `inbound_hook_key`), so a request cannot be forged by
//! guessing account and rule ids.

use serde_json::Value;

/// The dp setting that carries the rule's key.
pub const RULE_SETTING: &str = "rule_id";

/// The account and the rule key a digital-pipeline request names, from a form (bracket keys) or a
/// JSON body; `None` if either is missing.
pub fn routing(content_type: Option<&str>, body: &[u8]) -> Option<(i64, String)> {
    let is_json = content_type.is_some_and(|c| c.trim_start().starts_with("application/json"));
    if is_json {
        let value: Value = serde_json::from_slice(body).ok()?;
        let account = match value.get("account_id")? {
            Value::Number(n) => n.as_i64()?,
            Value::String(s) => s.trim().parse().ok()?,
            _ => return None,
        };
        let key = value
            .pointer(&format!("/action/settings/widget/settings/{RULE_SETTING}"))?
            .as_str()?;
        Some((account, key.to_string()))
    } else {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
        let find = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let account = find("account_id")?.trim().parse().ok()?;
        let key = find(&format!(
            "action[settings][widget][settings][{RULE_SETTING}]"
        ))?;
        Some((account, key.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::routing;

    #[test]
    fn the_account_and_rule_key_are_read_from_a_form() {
        let body = b"event%5Btype%5D=14&account_id=42&action%5Bsettings%5D%5Bwidget%5D%5Bsettings%5D%5Brule_id%5D=7-abc";
        assert_eq!(
            routing(Some("application/x-www-form-urlencoded"), body),
            Some((42, "7-abc".into()))
        );
    }

    #[test]
    fn the_account_and_rule_key_are_read_from_json() {
        let body = br#"{"account_id":"42","action":{"settings":{"widget":{"settings":{"rule_id":"7-abc"}}}}}"#;
        assert_eq!(
            routing(Some("application/json"), body),
            Some((42, "7-abc".into()))
        );
    }

    #[test]
    fn a_request_missing_either_names_nothing() {
        assert_eq!(routing(None, b"account_id=42"), None);
        assert_eq!(
            routing(Some("application/json"), br#"{"account_id":42}"#),
            None
        );
        assert_eq!(routing(Some("application/json"), b"not json"), None);
    }
}
