//! Random secrets for URLs (webhook paths, inbound hook keys, trigger links), the MACs derived
//! from them (digital-pipeline keys, the entity of a manual trigger link), and their constant-time
//! comparison.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;
use ring::hmac;
use subtle::ConstantTimeEq;

/// The bytes of a URL MAC kept (HMAC-SHA256 truncated to 128 bits, 22 characters in base64url).
const URL_MAC_BYTES: usize = 16;

/// A new URL-safe secret carrying 192 random bits.
pub fn new_url_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Compares a presented secret with the stored one without revealing, through timing, where they
/// differ.
pub fn secrets_match(presented: &str, stored: &str) -> bool {
    presented.as_bytes().ct_eq(stored.as_bytes()).into()
}

/// A MAC for a URL: HMAC-SHA256 keyed by `key` over `purpose` and `parts` (each after a NUL, so
/// no two lists of parts sign the same bytes), truncated to 128 bits, in base64url. `purpose`
/// keeps the MACs of different uses apart.
pub fn url_mac(key: &str, purpose: &str, parts: &[&str]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes());
    let mut context = hmac::Context::with_key(&key);
    context.update(purpose.as_bytes());
    for part in parts {
        context.update(b"\0");
        context.update(part.as_bytes());
    }
    let tag = context.sign();
    URL_SAFE_NO_PAD.encode(&tag.as_ref()[..URL_MAC_BYTES])
}

/// Whether `presented` is the [`url_mac`] of `parts`, compared in constant time.
pub fn url_mac_matches(key: &str, purpose: &str, parts: &[&str], presented: &str) -> bool {
    secrets_match(presented, &url_mac(key, purpose, parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_mac_depends_on_key_purpose_and_every_part() {
        let mac = url_mac("k", "link", &["1", "leads", "5"]);
        assert_eq!(mac.len(), 22);
        assert!(url_mac_matches("k", "link", &["1", "leads", "5"], &mac));
        for (key, purpose, parts) in [
            ("k2", "link", ["1", "leads", "5"]),
            ("k", "dp", ["1", "leads", "5"]),
            ("k", "link", ["1", "leads", "6"]),
            ("k", "link", ["1", "contacts", "5"]),
            ("k", "link", ["2", "leads", "5"]),
        ] {
            assert!(
                !url_mac_matches(key, purpose, &parts, &mac),
                "{key} {purpose} {parts:?}"
            );
        }
        assert_ne!(
            url_mac("k", "p", &["ab", "c"]),
            url_mac("k", "p", &["a", "bc"])
        );
        assert!(!url_mac_matches("k", "link", &["1", "leads", "5"], ""));
    }

    #[test]
    fn new_secrets_are_url_safe_and_distinct() {
        let a = new_url_secret();
        let b = new_url_secret();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
            "{a}"
        );
    }

    #[test]
    fn only_the_exact_secret_matches() {
        assert!(secrets_match("abc", "abc"));
        assert!(!secrets_match("abd", "abc"));
        assert!(!secrets_match("ab", "abc"));
        assert!(!secrets_match("", "abc"));
    }
}
