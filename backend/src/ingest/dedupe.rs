//! Dedupe keys: what makes two deliveries the same event.
//!
//! - Kommo account webhooks are retried with the same body, so the key is the body's SHA-256.
//! - Digital-pipeline requests are keyed by the rule their action runs, event type, lead id and
//!   event time (the fields Kommo repeats on a retry), read from the form or JSON body; if any is
//!   missing, by the rule and the body's SHA-256. Two actions (two rules) on one stage are two
//!   events.
//! - Inbound hooks use the sender's `Idempotency-Key` header when present; otherwise every request
//!   is a new event (a site form may legitimately send the same body twice).
//! - Every trigger-link click is a new event.

use ring::digest::{digest, SHA256};
use serde_json::Value;

/// The header an inbound-hook sender may set to make retries safe.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// The longest accepted idempotency key.
const MAX_IDEMPOTENCY_KEY_LEN: usize = 200;

/// `sha256:<hex>` of `body`.
pub fn body_digest(body: &[u8]) -> String {
    let hash = digest(&SHA256, body);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in hash.as_ref() {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// A key that never repeats.
pub fn unique() -> String {
    format!("once:{}", uuid::Uuid::new_v4())
}

/// The key of a Kommo account webhook.
pub fn kommo_webhook(body: &[u8]) -> String {
    body_digest(body)
}

/// The key of a digital-pipeline request (form-urlencoded with bracket keys, or JSON) for the rule
/// its action runs.
pub fn digital_pipeline(rule_id: i64, content_type: Option<&str>, body: &[u8]) -> String {
    let is_json = content_type.is_some_and(|c| c.trim_start().starts_with("application/json"));
    let fields = if is_json {
        dp_fields_from_json(body)
    } else {
        dp_fields_from_form(body)
    };
    match fields {
        Some((kind, id, time)) => format!("dp:r{rule_id}:{kind}:{id}:{time}"),
        None => format!("dp:r{rule_id}:{}", body_digest(body)),
    }
}

fn dp_fields_from_form(body: &[u8]) -> Option<(String, String, String)> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    let find = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    Some((
        find("event[type]").or_else(|| find("event[type_code]"))?,
        find("event[data][id]")?,
        find("event[time]")?,
    ))
}

fn dp_fields_from_json(body: &[u8]) -> Option<(String, String, String)> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let event = value.get("event")?;
    let text = |v: Option<&Value>| match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    Some((
        text(event.get("type")).or_else(|| text(event.get("type_code")))?,
        text(event.get("data").and_then(|d| d.get("id")))?,
        text(event.get("time"))?,
    ))
}

/// The key of an inbound-hook request: its `Idempotency-Key` header if usable, else unique.
pub fn inbound_hook(idempotency_key: Option<&str>) -> String {
    match idempotency_key.map(str::trim) {
        Some(key) if !key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY_LEN => {
            format!("key:{key}")
        }
        _ => unique(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_sha256_in_hex() {
        assert_eq!(
            body_digest(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_form_dp_request_is_keyed_by_type_lead_and_time() {
        let body = b"event%5Btype%5D=14&event%5Bdata%5D%5Bid%5D=555&event%5Btime%5D=1700000000&account_id=1";
        assert_eq!(
            digital_pipeline(7, Some("application/x-www-form-urlencoded"), body),
            "dp:r7:14:555:1700000000"
        );
    }

    #[test]
    fn a_json_dp_request_is_keyed_by_type_lead_and_time() {
        let body = br#"{"event":{"type":"lead_status_changed","data":{"id":555},"time":1700000000},"account_id":1}"#;
        assert_eq!(
            digital_pipeline(7, Some("application/json; charset=utf-8"), body),
            "dp:r7:lead_status_changed:555:1700000000"
        );
    }

    #[test]
    fn two_rules_on_one_stage_are_two_dp_events() {
        let body = b"event%5Btype%5D=14&event%5Bdata%5D%5Bid%5D=555&event%5Btime%5D=1700000000";
        assert_ne!(
            digital_pipeline(7, None, body),
            digital_pipeline(8, None, body)
        );
        assert_ne!(
            digital_pipeline(7, None, b"garbage"),
            digital_pipeline(8, None, b"garbage")
        );
    }

    #[test]
    fn a_dp_request_without_the_fields_is_keyed_by_its_digest() {
        assert_eq!(
            digital_pipeline(7, None, b"garbage"),
            format!("dp:r7:{}", body_digest(b"garbage"))
        );
        assert_eq!(
            digital_pipeline(7, Some("application/json"), b"{\"event\":{}}"),
            format!("dp:r7:{}", body_digest(b"{\"event\":{}}"))
        );
    }

    #[test]
    fn inbound_hooks_use_a_usable_idempotency_key_or_none() {
        assert_eq!(inbound_hook(Some("order-17")), "key:order-17");
        assert!(inbound_hook(None).starts_with("once:"));
        assert!(inbound_hook(Some("  ")).starts_with("once:"));
        assert!(inbound_hook(Some(&"k".repeat(201))).starts_with("once:"));
        assert_ne!(inbound_hook(None), inbound_hook(None));
    }
}
