//! "Send webhook": an HTTP request to a URL a user typed, and its response parsed into variables.
//!
//! The URL is the user's, so the request must not reach our own network: the host is resolved
//! first, every address is checked (loopback, private, link-local, unique-local, unspecified and
//! shared ranges are refused), and the request is pinned to the checked address so a second DNS
//! answer cannot redirect it. Redirects are not followed. Tests that run a receiver on loopback
//! allow it explicitly ([`super::EngineConfig::allow_private_webhook_targets`]).
//!
//! A request cannot be sent exactly once: after a crash between the send and the record that it
//! was sent, it is sent again. So every request carries an `Idempotency-Key` header, the same for
//! every send of one action run ([`idempotency_key`]), and the receiver can drop the repeat. A
//! header of that name the user configured wins.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

use domain::rule::HttpMethod;

/// The longest response body read, in bytes; also the cap of `{webhook_data}`.
pub const MAX_RESPONSE_BYTES: usize = 30_000;

/// A request to send.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRequest {
    /// The method.
    pub method: HttpMethod,
    /// The URL.
    pub url: String,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body variables (the query string for GET).
    pub body: Vec<(String, String)>,
    /// Sent as `Idempotency-Key` unless `headers` has one.
    pub idempotency_key: Option<String>,
}

/// The header that lets a receiver recognise a repeated request.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

/// The idempotency key of an action run: the hex SHA-256 of the account and the action's key,
/// so every send of one run carries the same key and nothing about our storage shows.
pub fn idempotency_key(account_id: i64, action_key: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{account_id}:{action_key}").as_bytes(),
    );
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// What came back.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookResponse {
    /// The HTTP status.
    pub status: u16,
    /// The response as variables: JSON flattened to `parent_child` names, plus `webhook_data`.
    pub vars: BTreeMap<String, String>,
}

/// Why a webhook was not sent or failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// The URL does not parse or is not http(s).
    #[error("the webhook URL {0:?} is not a valid http(s) URL")]
    BadUrl(String),
    /// The host resolves to an address we must not call.
    #[error(
        "the webhook host {host} resolves to {addr}, a private or local address; it is refused"
    )]
    PrivateTarget {
        /// The host.
        host: String,
        /// The refused address.
        addr: IpAddr,
    },
    /// The host does not resolve.
    #[error("the webhook host {0} does not resolve")]
    Unresolved(String),
    /// The request failed.
    #[error("the webhook request failed: {0}")]
    Failed(String),
    /// The receiver answered with an error status.
    #[error("the webhook receiver answered {0}")]
    Status(u16),
}

fn private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || (a == 100 && (64..128).contains(&b))
        || a == 0
}

fn private_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return private_v4(v4);
    }
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
}

/// Whether an address is loopback, private, link-local, unique-local or otherwise not public.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => private_v4(v4),
        IpAddr::V6(v6) => private_v6(v6),
    }
}

/// Resolves the URL's host and returns the address to connect to, refusing private ones unless
/// `allow_private`.
pub async fn check_target(
    url: &url::Url,
    allow_private: bool,
) -> Result<SocketAddr, OutboundError> {
    let host = url
        .host_str()
        .ok_or_else(|| OutboundError::BadUrl(url.to_string()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url
        .port_or_known_default()
        .ok_or_else(|| OutboundError::BadUrl(url.to_string()))?;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|_| OutboundError::Unresolved(host.clone()))?
        .collect();
    let first = *addrs
        .first()
        .ok_or_else(|| OutboundError::Unresolved(host.clone()))?;
    if !allow_private {
        if let Some(bad) = addrs.iter().find(|a| is_private(a.ip())) {
            return Err(OutboundError::PrivateTarget {
                host,
                addr: bad.ip(),
            });
        }
    }
    Ok(first)
}

/// Flattens JSON into `parent_child` variables (array items by index).
pub fn flatten_json(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    let join = |key: &str| {
        if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}_{key}")
        }
    };
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                flatten_json(&join(k), v, out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten_json(&join(&i.to_string()), v, out);
            }
        }
        serde_json::Value::String(s) => {
            out.insert(prefix.to_owned(), s.clone());
        }
        serde_json::Value::Null => {
            out.insert(prefix.to_owned(), String::new());
        }
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}

/// Variables of a body: JSON flattened, or form pairs, plus the raw text as `webhook_data` (its
/// first [`MAX_RESPONSE_BYTES`]). The whole body is parsed: an inbound webhook's is bounded by the
/// HTTP limit ([`crate::http::MAX_BODY_BYTES`]), a response's by the caller.
pub fn body_vars(body: &[u8]) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    let capped = &body[..body.len().min(MAX_RESPONSE_BYTES)];
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        flatten_json("", &json, &mut vars);
    } else if let Ok(tree) = kommo::incoming::parse_form(body) {
        flatten_form("", &tree, &mut vars);
    }
    vars.retain(|k, _| !k.is_empty());
    vars.insert(
        "webhook_data".to_owned(),
        String::from_utf8_lossy(capped).into_owned(),
    );
    vars
}

fn flatten_form(
    prefix: &str,
    node: &kommo::incoming::FormNode,
    out: &mut BTreeMap<String, String>,
) {
    match node {
        kommo::incoming::FormNode::Leaf(text) => {
            out.insert(prefix.to_owned(), text.clone());
        }
        kommo::incoming::FormNode::Map(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}_{k}")
                };
                flatten_form(&key, v, out);
            }
        }
    }
}

/// Sends the request, after the private-network check, and parses the response.
pub async fn send(
    request: &WebhookRequest,
    allow_private: bool,
    timeout: Duration,
) -> Result<WebhookResponse, OutboundError> {
    let url = url::Url::parse(request.url.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| OutboundError::BadUrl(request.url.clone()))?;
    let addr = check_target(&url, allow_private).await?;
    let host = url.host_str().unwrap_or_default().to_owned();
    // A client per request, pinned to the address that passed the check.
    let http = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&host, addr)
        .build()
        .map_err(|e| OutboundError::Failed(e.to_string()))?;
    let method = match request.method {
        HttpMethod::Get => reqwest::Method::GET,
        HttpMethod::Post => reqwest::Method::POST,
        HttpMethod::Put => reqwest::Method::PUT,
        HttpMethod::Patch => reqwest::Method::PATCH,
        HttpMethod::Delete => reqwest::Method::DELETE,
    };
    let mut builder = http.request(method.clone(), url);
    let json_body = request.headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("content-type") && v.to_ascii_lowercase().contains("json")
    });
    for (k, v) in &request.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    if let Some(key) = &request.idempotency_key {
        if !request
            .headers
            .iter()
            .any(|(k, _)| k.trim().eq_ignore_ascii_case(IDEMPOTENCY_KEY_HEADER))
        {
            builder = builder.header(IDEMPOTENCY_KEY_HEADER, key.as_str());
        }
    }
    builder = if method == reqwest::Method::GET {
        builder.query(&request.body)
    } else if json_body {
        let object: serde_json::Map<String, serde_json::Value> = request
            .body
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        builder.body(serde_json::Value::Object(object).to_string())
    } else {
        builder.form(&request.body)
    };
    let response = builder
        .send()
        .await
        .map_err(|e| OutboundError::Failed(e.without_url().to_string()))?;
    let status = response.status().as_u16();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| OutboundError::Failed(e.without_url().to_string()))?;
    if status >= 400 {
        return Err(OutboundError::Status(status));
    }
    Ok(WebhookResponse {
        status,
        vars: body_vars(&bytes[..bytes.len().min(MAX_RESPONSE_BYTES)]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_local_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::",
        ] {
            assert!(is_private(ip.parse().expect("ip")), "{ip} must be private");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(!is_private(ip.parse().expect("ip")), "{ip} is public");
        }
    }

    #[tokio::test]
    async fn a_loopback_target_is_refused_unless_allowed() {
        let url = url::Url::parse("http://localhost:9/hook").expect("url");
        let refused = check_target(&url, false).await;
        assert!(
            matches!(refused, Err(OutboundError::PrivateTarget { .. })),
            "{refused:?}"
        );
        assert!(check_target(&url, true).await.is_ok());
    }

    #[test]
    fn the_idempotency_key_is_stable_per_action_run() {
        let key = idempotency_key(7, "e1:0:r3:0:1");
        assert_eq!(key, idempotency_key(7, "e1:0:r3:0:1"));
        assert_eq!(key.len(), 64);
        assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(key, idempotency_key(8, "e1:0:r3:0:1"));
        assert_ne!(key, idempotency_key(7, "e1:0:r3:0:2"));
    }

    #[test]
    fn json_responses_flatten_to_parent_child_variables() {
        let vars = body_vars(br#"{"order": {"id": 7, "items": [{"sku": "A"}]}, "ok": true}"#);
        assert_eq!(vars["order_id"], "7");
        assert_eq!(vars["order_items_0_sku"], "A");
        assert_eq!(vars["ok"], "true");
        assert!(vars["webhook_data"].starts_with("{\"order\""));
    }
}
