//! "Send webhook": an HTTP request to a URL a user typed, and its response parsed into variables.
//!
//! The URL is the user's, so the request must not reach our own network. The webhook client has
//! one resolver, [`resolve::Guarded`]: it resolves the host, checks every address against the
//! special-purpose ranges of IANA's registries ([`addresses::SPECIAL_RANGES`]) and hands the
//! client only the addresses it checked, so a second DNS answer cannot redirect the request. An
//! address written in the URL is checked the same way. No proxy from the environment is used, and
//! redirects are not followed. Tests that run a receiver on loopback allow it through the
//! deployment's setting ([`OutboundConfig::allow_private_targets`], from
//! `RULEBOOK_ALLOW_PRIVATE_WEBHOOK_TARGETS`), never through anything a rule or a tenant sets.
//!
//! One deadline ([`OutboundConfig::timeout`]) covers resolving, connecting, sending and reading.
//! The answer is read as it arrives and reading stops at [`OutboundConfig::max_response_bytes`],
//! so a receiver cannot make us hold more than that.
//!
//! A request cannot be sent exactly once: after a crash between the send and the record that it
//! was sent, it is sent again. So every request carries an `Idempotency-Key` header, the same for
//! every send of one action run ([`idempotency_key`]), and the receiver can drop the repeat. A
//! header of that name the user configured wins.

pub mod addresses;
pub mod resolve;

use std::{collections::BTreeMap, net::IpAddr, sync::Arc, time::Duration};

use domain::rule::HttpMethod;

use self::{
    addresses::SpecialRange,
    resolve::{Check, Guarded, SystemResolver, TargetError},
};

/// The default cap of a webhook answer read, in bytes; also the cap of `{webhook_data}` of an
/// inbound webhook.
pub const MAX_RESPONSE_BYTES: usize = 30_000;

/// The default deadline of a webhook, from resolving its host to the last byte read: the
/// manual's "the response is analyzed for a maximum of 5 seconds".
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How webhooks are sent; from the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundConfig {
    /// Lets webhooks reach loopback, private and every other special-purpose address (tests and
    /// sandboxes with a local receiver; `RULEBOOK_ALLOW_PRIVATE_WEBHOOK_TARGETS`).
    pub allow_private_targets: bool,
    /// The deadline of one webhook: resolving, connecting, sending and reading the answer
    /// (`RULEBOOK_WEBHOOK_TIMEOUT_S`).
    pub timeout: Duration,
    /// The most of an answer read, in bytes; the rest is never read
    /// (`RULEBOOK_WEBHOOK_MAX_RESPONSE_BYTES`).
    pub max_response_bytes: usize,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self {
            allow_private_targets: false,
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: MAX_RESPONSE_BYTES,
        }
    }
}

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
    /// Whether the answer was longer than the cap and only its start was read.
    pub truncated: bool,
}

/// Why a webhook was not sent or failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// The URL does not parse or is not http(s).
    #[error("the webhook URL {0:?} is not a valid http(s) URL")]
    BadUrl(String),
    /// The host is or resolves to an address we must not call.
    #[error(
        "the webhook host {host} resolves to {addr}, in {range}: not a public address, so it is \
         refused"
    )]
    PrivateTarget {
        /// The host.
        host: String,
        /// The refused address.
        addr: IpAddr,
        /// The special-purpose range the address is in.
        range: &'static SpecialRange,
    },
    /// The host does not resolve.
    #[error("the webhook host {0} does not resolve")]
    Unresolved(String),
    /// No answer within the deadline.
    #[error("the webhook got no complete answer within {} s", .0.as_secs_f64())]
    TimedOut(Duration),
    /// The request failed.
    #[error("the webhook request failed: {0}")]
    Failed(String),
    /// The receiver answered with an error status.
    #[error("the webhook receiver answered {0}")]
    Status(u16),
}

impl From<TargetError> for OutboundError {
    fn from(err: TargetError) -> Self {
        match err {
            TargetError::Refused { host, addr, range } => Self::PrivateTarget { host, addr, range },
            TargetError::Unresolved(host) => Self::Unresolved(host),
        }
    }
}

/// How many parts a variable's name has at most (`a_b_…`): a value nested deeper is given, as its
/// JSON text, to the variable of its ancestor at this depth, so nothing is lost and no name grows
/// without bound.
pub const MAX_VARIABLE_DEPTH: usize = 10;

/// Flattens JSON into `parent_child` variables (array items by index), at most
/// [`MAX_VARIABLE_DEPTH`] parts deep.
pub fn flatten_json(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    let depth = usize::from(!prefix.is_empty());
    flatten_json_at(prefix, depth, value, out);
}

fn joined(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}_{key}")
    }
}

fn flatten_json_at(
    prefix: &str,
    depth: usize,
    value: &serde_json::Value,
    out: &mut BTreeMap<String, String>,
) {
    match value {
        serde_json::Value::Object(_) | serde_json::Value::Array(_)
            if depth >= MAX_VARIABLE_DEPTH =>
        {
            out.insert(prefix.to_owned(), value.to_string());
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                flatten_json_at(&joined(prefix, k), depth + 1, v, out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten_json_at(&joined(prefix, &i.to_string()), depth + 1, v, out);
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

/// Variables of an inbound body: JSON flattened, or form pairs, plus the raw text as `webhook_data`
/// (its first [`MAX_RESPONSE_BYTES`]). The whole body is parsed: it is bounded by the HTTP limit
/// ([`crate::http::MAX_BODY_BYTES`]).
pub fn body_vars(body: &[u8]) -> BTreeMap<String, String> {
    request_vars(None, body)
}

/// Variables of an inbound request: its query string's pairs (`a[b]=1` is `a_b`), then its body's
/// ([`body_vars`]), which win over a query pair of the same name, plus `webhook_data`.
pub fn request_vars(query: Option<&str>, body: &[u8]) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    if let Some(Ok(tree)) = query.map(|q| kommo::incoming::parse_form(q.as_bytes())) {
        flatten_form("", 0, &tree, &mut vars);
    }
    vars.extend(parsed_vars(body));
    vars.retain(|k, _| !k.is_empty());
    vars.insert(
        "webhook_data".to_owned(),
        String::from_utf8_lossy(&body[..body.len().min(MAX_RESPONSE_BYTES)]).into_owned(),
    );
    vars
}

/// Variables of a webhook's answer, already cut at the configured cap by the reader.
fn vars_of(body: &[u8]) -> BTreeMap<String, String> {
    let mut vars = parsed_vars(body);
    vars.insert(
        "webhook_data".to_owned(),
        String::from_utf8_lossy(body).into_owned(),
    );
    vars
}

fn parsed_vars(body: &[u8]) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        flatten_json("", &json, &mut vars);
    } else if let Ok(tree) = kommo::incoming::parse_form(body) {
        flatten_form("", 0, &tree, &mut vars);
    }
    vars.retain(|k, _| !k.is_empty());
    vars
}

/// A form's subtree as JSON (leaves as strings), for a value nested past [`MAX_VARIABLE_DEPTH`].
fn form_json(node: &kommo::incoming::FormNode) -> serde_json::Value {
    match node {
        kommo::incoming::FormNode::Leaf(text) => serde_json::Value::String(text.clone()),
        kommo::incoming::FormNode::Map(map) => {
            serde_json::Value::Object(map.iter().map(|(k, v)| (k.clone(), form_json(v))).collect())
        }
    }
}

fn flatten_form(
    prefix: &str,
    depth: usize,
    node: &kommo::incoming::FormNode,
    out: &mut BTreeMap<String, String>,
) {
    match node {
        kommo::incoming::FormNode::Leaf(text) => {
            out.insert(prefix.to_owned(), text.clone());
        }
        kommo::incoming::FormNode::Map(_) if depth >= MAX_VARIABLE_DEPTH => {
            out.insert(prefix.to_owned(), form_json(node).to_string());
        }
        kommo::incoming::FormNode::Map(map) => {
            for (k, v) in map {
                flatten_form(&joined(prefix, k), depth + 1, v, out);
            }
        }
    }
}

/// Sends the request to a public address (or any, when the configuration allows private
/// targets) and parses the start of the answer.
pub async fn send(
    request: &WebhookRequest,
    config: &OutboundConfig,
) -> Result<WebhookResponse, OutboundError> {
    let check: Check = if config.allow_private_targets {
        resolve::any_address
    } else {
        resolve::public_only
    };
    send_through(request, config, Arc::new(SystemResolver), check).await
}

/// [`send`] with the resolver and the address check given: the seam tests use.
async fn send_through(
    request: &WebhookRequest,
    config: &OutboundConfig,
    resolver: Arc<dyn reqwest::dns::Resolve>,
    check: Check,
) -> Result<WebhookResponse, OutboundError> {
    let url = url::Url::parse(request.url.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| OutboundError::BadUrl(request.url.clone()))?;
    tokio::time::timeout(
        config.timeout,
        exchange(request, url, config, resolver, check),
    )
    .await
    .unwrap_or(Err(OutboundError::TimedOut(config.timeout)))
}

async fn exchange(
    request: &WebhookRequest,
    url: url::Url,
    config: &OutboundConfig,
    resolver: Arc<dyn reqwest::dns::Resolve>,
    check: Check,
) -> Result<WebhookResponse, OutboundError> {
    // An address in the URL is never resolved, so it is checked here; a name is checked by the
    // resolver, the only one the client has.
    let literal = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
        None => return Err(OutboundError::BadUrl(request.url.clone())),
    };
    if let Some(ip) = literal {
        resolve::check_address(url.host_str().unwrap_or_default(), ip, check)?;
    }
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(Guarded::new(resolver, check)))
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
    let mut response = builder.send().await.map_err(request_failed)?;
    let status = response.status().as_u16();
    if status >= 400 {
        return Err(OutboundError::Status(status));
    }
    let (body, truncated) = read_capped(&mut response, config.max_response_bytes).await?;
    Ok(WebhookResponse {
        status,
        vars: vars_of(&body),
        truncated,
    })
}

/// Reads the answer as it arrives and stops at `cap` bytes; dropping the response then closes
/// the connection, so the rest is never read. Whether there was more is known only when the
/// answer said its length or a further piece had arrived.
async fn read_capped(
    response: &mut reqwest::Response,
    cap: usize,
) -> Result<(Vec<u8>, bool), OutboundError> {
    let declared = response.content_length();
    let mut body = Vec::with_capacity(declared.map_or(0, |n| n.min(cap as u64) as usize));
    let mut truncated = declared.is_some_and(|n| n > cap as u64);
    while body.len() < cap {
        match response.chunk().await.map_err(request_failed)? {
            Some(chunk) => {
                let room = cap - body.len();
                truncated |= chunk.len() > room;
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            None => return Ok((body, truncated)),
        }
    }
    Ok((body, truncated))
}

fn request_failed(err: reqwest::Error) -> OutboundError {
    match resolve::target_error(&err) {
        Some(refused) => refused.into(),
        None => OutboundError::Failed(error_chain(&err.without_url())),
    }
}

/// An error and its causes, `: `-separated (reqwest's own message alone says little, e.g. "error
/// sending request").
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(e) = cause {
        let more = e.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::{
        net::{Ipv4Addr, SocketAddr},
        sync::{
            atomic::{AtomicUsize, Ordering},
            Mutex,
        },
    };

    use reqwest::dns::{Addrs, Name, Resolve, Resolving};
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpListener,
    };

    use super::*;

    const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    const OTHER_LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

    /// A DNS that gives its answers in turn (the last one again when they run out).
    struct Answers {
        answers: Vec<Vec<IpAddr>>,
        calls: AtomicUsize,
    }

    impl Answers {
        fn new(answers: Vec<Vec<IpAddr>>) -> Arc<Self> {
            Arc::new(Self {
                answers,
                calls: AtomicUsize::new(0),
            })
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    impl Resolve for Answers {
        fn resolve(&self, _: Name) -> Resolving {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            let ips = self.answers[call.min(self.answers.len() - 1)].clone();
            Box::pin(async move {
                Ok(Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0))) as Addrs)
            })
        }
    }

    /// A DNS that never answers.
    struct Silent;

    impl Resolve for Silent {
        fn resolve(&self, _: Name) -> Resolving {
            Box::pin(std::future::pending())
        }
    }

    /// A receiver on `ip` (port 0: any) that counts the requests it gets and answers its name.
    async fn receiver(ip: IpAddr, port: u16, name: &'static str) -> (u16, Arc<Mutex<usize>>) {
        let hits = Arc::new(Mutex::new(0));
        let counted = hits.clone();
        let app = axum::Router::new().fallback(move || {
            let counted = counted.clone();
            async move {
                *counted.lock().expect("lock") += 1;
                axum::Json(serde_json::json!({ "receiver": name }))
            }
        });
        let listener = TcpListener::bind((ip, port)).await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (port, hits)
    }

    fn post(url: String) -> WebhookRequest {
        WebhookRequest {
            method: HttpMethod::Post,
            url,
            headers: Vec::new(),
            body: vec![("a".into(), "1".into())],
            idempotency_key: None,
        }
    }

    fn allows_first_loopback_only(ip: IpAddr) -> Result<(), &'static SpecialRange> {
        if ip == LOOPBACK {
            Ok(())
        } else {
            resolve::public_only(ip)
        }
    }

    #[tokio::test]
    async fn a_host_that_resolves_to_loopback_is_refused_unless_the_deployment_allows_it() {
        let (port, hits) = receiver(LOOPBACK, 0, "local").await;
        let request = post(format!("http://localhost:{port}/hook"));
        let refused = send(&request, &OutboundConfig::default()).await;
        assert!(
            matches!(refused, Err(OutboundError::PrivateTarget { ref host, .. }) if host == "localhost"),
            "{refused:?}"
        );
        assert_eq!(*hits.lock().expect("lock"), 0);
        let allowed = OutboundConfig {
            allow_private_targets: true,
            ..OutboundConfig::default()
        };
        let answer = send(&request, &allowed).await.expect("allowed");
        assert_eq!(answer.vars["receiver"], "local");
        assert_eq!(*hits.lock().expect("lock"), 1);
    }

    #[tokio::test]
    async fn an_address_written_in_the_url_is_checked_like_a_resolved_one() {
        let (port, hits) = receiver(LOOPBACK, 0, "local").await;
        for url in [
            format!("http://127.0.0.1:{port}/"),
            format!("http://2130706433:{port}/"),
            format!("http://0x7f.1:{port}/"),
            format!("http://[::ffff:127.0.0.1]:{port}/"),
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "http://[fd00:ec2::254]/".to_owned(),
            "https://[64:ff9b::a9fe:a9fe]/".to_owned(),
        ] {
            let refused = send(&post(url.clone()), &OutboundConfig::default()).await;
            let Err(OutboundError::PrivateTarget { range, .. }) = &refused else {
                panic!("{url}: {refused:?}");
            };
            assert!(
                !range.name.is_empty(),
                "{url} names the range that refused it"
            );
        }
        assert_eq!(*hits.lock().expect("lock"), 0);
    }

    #[tokio::test]
    async fn an_answer_with_one_internal_address_among_public_ones_is_refused() {
        let (port, hits) = receiver(LOOPBACK, 0, "local").await;
        let dns = Answers::new(vec![vec!["93.184.215.14".parse().expect("ip"), LOOPBACK]]);
        let refused = send_through(
            &post(format!("http://mixed.test:{port}/")),
            &OutboundConfig::default(),
            dns,
            resolve::public_only,
        )
        .await;
        assert!(
            matches!(refused, Err(OutboundError::PrivateTarget { addr, .. }) if addr == LOOPBACK),
            "{refused:?}"
        );
        assert_eq!(*hits.lock().expect("lock"), 0);
    }

    #[tokio::test]
    async fn the_request_goes_to_the_address_that_was_checked_not_to_a_second_dns_answer() {
        // The first answer passes the check; every later one names an address it refuses.
        let (port, checked) = receiver(LOOPBACK, 0, "checked").await;
        let (_, rebound) = receiver(OTHER_LOOPBACK, port, "rebound").await;
        let dns = Answers::new(vec![vec![LOOPBACK], vec![OTHER_LOOPBACK]]);
        let request = post(format!("http://rebind.test:{port}/hook"));
        let config = OutboundConfig::default();
        let answer = send_through(&request, &config, dns.clone(), allows_first_loopback_only)
            .await
            .expect("sent");
        assert_eq!(answer.vars["receiver"], "checked");
        assert_eq!(dns.calls(), 1, "the name is resolved once per request");
        // The next request asks DNS again, gets the refused address, and does not connect.
        let again = send_through(&request, &config, dns.clone(), allows_first_loopback_only).await;
        assert!(
            matches!(again, Err(OutboundError::PrivateTarget { addr, .. }) if addr == OTHER_LOOPBACK),
            "{again:?}"
        );
        assert_eq!(*checked.lock().expect("lock"), 1);
        assert_eq!(*rebound.lock().expect("lock"), 0);
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_is_a_clear_error() {
        let dns = Answers::new(vec![vec![]]);
        let failed = send_through(
            &post("http://nowhere.test/".into()),
            &OutboundConfig::default(),
            dns,
            resolve::public_only,
        )
        .await;
        assert!(
            matches!(failed, Err(OutboundError::Unresolved(ref host)) if host == "nowhere.test"),
            "{failed:?}"
        );
    }

    #[tokio::test]
    async fn resolving_the_host_counts_against_the_deadline() {
        let config = OutboundConfig {
            timeout: Duration::from_millis(200),
            ..OutboundConfig::default()
        };
        let failed = send_through(
            &post("http://slow-dns.test/".into()),
            &config,
            Arc::new(Silent),
            resolve::public_only,
        )
        .await;
        assert!(
            matches!(failed, Err(OutboundError::TimedOut(_))),
            "{failed:?}"
        );
    }

    /// A receiver that answers 200 with a declared length of `total` bytes and streams them from
    /// one small buffer; the channel tells how many it wrote before the client hung up. With
    /// `stall`, it sends `stall` bytes and then nothing more, holding the connection open.
    async fn streaming_receiver(
        total: u64,
        stall: Option<usize>,
    ) -> (u16, tokio::sync::oneshot::Receiver<u64>) {
        let listener = TcpListener::bind((LOOPBACK, 0)).await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (report, written) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {total}\r\n\r\n"
            );
            if socket.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let piece = vec![b'x'; 64 * 1024];
            if let Some(stall) = stall {
                let _ = socket.write_all(&piece[..stall]).await;
                std::future::pending::<()>().await;
            }
            let mut sent = 0u64;
            while sent < total {
                let n = piece.len().min((total - sent) as usize);
                if socket.write_all(&piece[..n]).await.is_err() {
                    break;
                }
                sent += n as u64;
            }
            let _ = report.send(sent);
        });
        (port, written)
    }

    fn local() -> OutboundConfig {
        OutboundConfig {
            allow_private_targets: true,
            ..OutboundConfig::default()
        }
    }

    #[tokio::test]
    async fn reading_an_answer_stops_at_the_cap() {
        let total: u64 = 64 * 1024 * 1024;
        let (port, written) = streaming_receiver(total, None).await;
        let config = OutboundConfig {
            max_response_bytes: 1000,
            ..local()
        };
        let answer = send(&post(format!("http://127.0.0.1:{port}/")), &config)
            .await
            .expect("answer");
        assert_eq!(answer.vars["webhook_data"], "x".repeat(1000));
        assert!(answer.truncated);
        // The closed connection stops the receiver: it wrote what fits in the sockets' buffers,
        // far from the whole answer.
        let sent = written.await.expect("the receiver reports");
        assert!(
            sent < total / 4,
            "the receiver wrote {sent} of {total} bytes"
        );
    }

    #[tokio::test]
    async fn an_answer_within_the_cap_is_read_whole() {
        let (port, _) = streaming_receiver(5000, None).await;
        let answer = send(&post(format!("http://127.0.0.1:{port}/")), &local())
            .await
            .expect("answer");
        assert_eq!(answer.vars["webhook_data"].len(), 5000);
        assert!(!answer.truncated);
    }

    #[tokio::test]
    async fn reading_the_answer_counts_against_the_deadline() {
        let (port, _) = streaming_receiver(10_000, Some(100)).await;
        let config = OutboundConfig {
            timeout: Duration::from_millis(300),
            ..local()
        };
        let failed = send(&post(format!("http://127.0.0.1:{port}/")), &config).await;
        assert!(
            matches!(failed, Err(OutboundError::TimedOut(_))),
            "{failed:?}"
        );
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

    /// `{"l1":{"l2":…{"l12":"deep"}}}`: twelve levels of objects.
    fn nested(levels: usize) -> String {
        let mut json = "\"deep\"".to_owned();
        for level in (1..=levels).rev() {
            json = format!("{{\"l{level}\":{json}}}");
        }
        json
    }

    #[test]
    fn names_stop_at_ten_parts_and_the_rest_is_the_json_of_the_tenth() {
        let vars = body_vars(nested(12).as_bytes());
        let tenth = "l1_l2_l3_l4_l5_l6_l7_l8_l9_l10";
        assert_eq!(vars[tenth], r#"{"l11":{"l12":"deep"}}"#);
        assert_eq!(vars.len(), 2, "{vars:?}");
        let exactly_ten = body_vars(nested(10).as_bytes());
        assert_eq!(exactly_ten[tenth], "deep");

        let form = format!("{}=deep", "a[b]".to_owned() + &"[c]".repeat(9));
        let vars = body_vars(form.as_bytes());
        assert_eq!(vars["a_b_c_c_c_c_c_c_c_c"], r#"{"c":"deep"}"#, "{vars:?}");
    }

    #[test]
    fn a_requests_query_gives_variables_and_its_body_wins_over_it() {
        let vars = request_vars(
            Some("utm[source]=ads&name=from+query&page=2"),
            br#"{"name": "from body", "contact": {"address": {"city": "X"}}}"#,
        );
        assert_eq!(vars["utm_source"], "ads");
        assert_eq!(vars["page"], "2");
        assert_eq!(vars["name"], "from body");
        assert_eq!(vars["contact_address_city"], "X");
        let form = request_vars(Some("a=1"), b"contact[phone]=%2B1&b=2");
        assert_eq!(form["contact_phone"], "+1");
        assert_eq!(form["a"], "1");
        assert_eq!(form["webhook_data"], "contact[phone]=%2B1&b=2");
    }
}
