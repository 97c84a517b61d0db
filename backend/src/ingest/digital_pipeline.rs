//! Routing of digital-pipeline requests that arrive at the widget's static `dp.webhook_url`
//! (`/hooks/dp`, the same for every account): the account is read from the body's `account_id`,
//! and the proof is the action's hidden `rule_id` setting, which must hold the rule's DP key, so a
//! request cannot be forged by guessing account and rule ids.
//!
//! A DP key is `{rule_id}-{mac}`: the rule it runs, and an HMAC of (account, rule) keyed by the
//! account's webhook secret ([`crate::store::secrets::url_mac`]). It is not the rule's inbound
//! webhook key, and a key is good for one rule of one account only. Rotating the account's hook
//! secret changes every DP key (each DP action must choose its rule again).

use serde_json::Value;

use crate::{
    db::Db,
    store::{
        accounts,
        secrets::{url_mac, url_mac_matches},
        StoreError,
    },
};

/// The dp setting that carries the rule's key.
pub const RULE_SETTING: &str = "rule_id";

/// What the MAC of a DP key is for.
const DP_KEY_PURPOSE: &str = "rulebook dp key";

/// The DP key of rule `rule_id` of account `account_id`, whose webhook secret is `account_secret`.
pub fn key_for(account_secret: &str, account_id: i64, rule_id: i64) -> String {
    let mac = url_mac(
        account_secret,
        DP_KEY_PURPOSE,
        &[&account_id.to_string(), &rule_id.to_string()],
    );
    format!("{rule_id}-{mac}")
}

/// The DP key of a rule, as the widget writes it into a DP action (the account's webhook secret
/// is created on first use).
pub async fn key_of_rule(db: &Db, account_id: i64, rule_id: i64) -> Result<String, StoreError> {
    let secret = accounts::ensure_webhook_secret(db, account_id).await?;
    Ok(key_for(&secret, account_id, rule_id))
}

/// The rule a DP key names, if the key was made for that rule of this account (the MAC compared
/// in constant time); `None` for anything else, whatever its shape.
pub fn rule_of_key(account_secret: &str, account_id: i64, key: &str) -> Option<i64> {
    let (rule, mac) = key.trim().split_once('-')?;
    let rule_id: i64 = rule.parse().ok()?;
    // The id is read back exactly as it was written, so "+7" or "07" cannot name rule 7.
    if rule_id.to_string() != rule {
        return None;
    }
    url_mac_matches(
        account_secret,
        DP_KEY_PURPOSE,
        &[&account_id.to_string(), &rule_id.to_string()],
        mac,
    )
    .then_some(rule_id)
}

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
    use super::{key_for, routing, rule_of_key};

    #[test]
    fn a_dp_key_names_its_rule_and_only_its_account_and_rule() {
        let key = key_for("secret", 42, 7);
        assert!(key.starts_with("7-"), "{key}");
        assert_eq!(rule_of_key("secret", 42, &key), Some(7));
        let mac = key.strip_prefix("7-").expect("mac");
        for forged in [
            format!("8-{mac}"),
            format!("07-{mac}"),
            format!("+7-{mac}"),
            format!("7-{mac}x"),
            "7".to_string(),
            String::new(),
            "-".to_string(),
        ] {
            assert_eq!(rule_of_key("secret", 42, &forged), None, "{forged}");
        }
        assert_eq!(rule_of_key("secret", 43, &key), None, "another account");
        assert_eq!(rule_of_key("other", 42, &key), None, "another secret");
    }

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
