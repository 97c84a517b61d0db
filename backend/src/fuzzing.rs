//! The bodies of the fuzz targets of `backend/fuzz`: the backend's parsers of outside input, as
//! plain functions so that the same code runs under libFuzzer (`cargo xtask fuzz <target>`,
//! nightly) and, on stable, as a test over each target's committed seeds
//! (`backend/fuzz/seeds/<target>/`). Each takes any bytes and panics only when a property of the
//! parser does not hold. Each is a thin call of the functions the request handlers and jobs use.

use std::sync::OnceLock;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use ring::hmac;
use secrecy::SecretString;

use crate::{
    auth::TokenVerifier,
    config::Settings,
    connect::{revocation_signed, Revocation},
    engine::{events, outbound},
    http::{parse_every_request, redact_secret_path},
    ingest::{authenticate::split_token, dedupe, digital_pipeline, salesbot},
    store::trigger_links,
};

/// The integration the fuzzed tokens and revocations are checked against.
pub const CLIENT_ID: &str = "00000000-0000-4000-8000-00000000f022";
/// Its secret key.
pub const CLIENT_SECRET: &str = "fuzz-client-secret";
/// Its public origin, the `aud` of its disposable tokens.
pub const PUBLIC_URL: &str = "https://rulebook.example.com";
/// The time tokens are verified at (2026-11-23T12:00:00Z): fixed, so a run means the same on any
/// date.
pub const NOW: i64 = 1_795_435_200;

fn verifier() -> &'static TokenVerifier {
    static VERIFIER: OnceLock<TokenVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let settings: Settings = figment::Figment::new()
            .merge(figment::providers::Serialized::defaults(
                serde_json::json!({
                    "bind": "127.0.0.1:0",
                    "database_url": "sqlite::memory:",
                    "public_url": PUBLIC_URL,
                    "kommo_client_id": CLIENT_ID,
                    "kommo_client_secret": CLIENT_SECRET,
                    "cors_origin_suffixes": [".kommo.com"],
                    "cors_extra_origins": [],
                    "token_leeway_s": 5,
                }),
            ))
            .extract()
            .expect("the fuzzing settings are valid");
        TokenVerifier::new(&settings)
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A JWT of `claims`, signed HS256 with the integration's secret.
fn signed(claims: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims));
    let key = hmac::Key::new(hmac::HMAC_SHA256, CLIENT_SECRET.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(hmac::sign(&key, signing_input.as_bytes()));
    format!("{signing_input}.{signature}")
}

/// `token_verify`: the verifier of the disposable `X-Auth-Token`. Input starting with `{` is a
/// claims set, signed HS256 with the integration's secret so that the claim checks are reached;
/// anything else is the header's text as sent. Nothing panics, and a token is accepted only for
/// this integration, naming the account the claims name.
pub fn token_verify(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if !text.starts_with('{') {
        let _ = verifier().verify(text, NOW);
        return;
    }
    if let Ok(caller) = verifier().verify(&signed(data), NOW) {
        let claims: serde_json::Value =
            serde_json::from_slice(data).expect("accepted claims are JSON");
        assert_eq!(
            claims["client_uuid"], CLIENT_ID,
            "another integration's token"
        );
        assert_eq!(
            claims["account_id"].as_i64(),
            Some(caller.account_id),
            "the tenant is not the account the token names"
        );
    }
}

fn bot_verifier() -> &'static salesbot::BotTokenVerifier {
    static VERIFIER: OnceLock<salesbot::BotTokenVerifier> = OnceLock::new();
    VERIFIER
        .get_or_init(|| salesbot::BotTokenVerifier::for_integration(CLIENT_ID, CLIENT_SECRET, 5))
}

/// A JWT of `claims`, signed HS512 with the integration's secret, as Kommo signs bot tokens.
fn signed_hs512(claims: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS512","typ":"JWT"}"#);
    let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims));
    let key = hmac::Key::new(hmac::HMAC_SHA512, CLIENT_SECRET.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(hmac::sign(&key, signing_input.as_bytes()));
    format!("{signing_input}.{signature}")
}

/// `salesbot_request`: a Salesbot's `widget_request` as `/hooks/salesbot` reads it. The body under
/// each content type: read only with a token and a bot step to continue (positive ids, a
/// `salesbot` or `marketingbot` path). The token: input starting with `{` is also a claims set,
/// signed HS512 with the integration's secret so that the claim checks are reached; anything else
/// is verified as the token's text. Nothing panics, and a token is accepted only for this
/// integration, naming the account the claims name.
pub fn salesbot_request(data: &[u8]) {
    for content_type in [
        None,
        Some("application/json"),
        Some("application/x-www-form-urlencoded"),
    ] {
        if let Ok(request) = salesbot::parse_request(content_type, data) {
            assert!(!request.token.is_empty(), "a request without a token");
            assert!(request.bot_id > 0 && request.continue_id > 0);
            assert!(matches!(
                request.bot_type.as_str(),
                "salesbot" | "marketingbot"
            ));
            let _ = salesbot::rule_of(&request.data);
            let _ = bot_verifier().verify(&request.token, NOW);
        }
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some((bot_type, bot, step)) = salesbot::continue_target(text) {
        assert!(bot > 0 && step > 0, "{text:?}");
        assert!(matches!(bot_type.as_str(), "salesbot" | "marketingbot"));
    }
    let _ = salesbot::entity_table(text);
    if !text.starts_with('{') {
        let _ = bot_verifier().verify(text, NOW);
        return;
    }
    if let Ok(claims) = bot_verifier().verify(&signed_hs512(data), NOW) {
        let sent: serde_json::Value =
            serde_json::from_slice(data).expect("accepted claims are JSON");
        assert_eq!(
            sent["client_uuid"], CLIENT_ID,
            "another integration's token"
        );
        assert!(
            claims.exp.saturating_add(5) >= NOW,
            "an expired token is accepted"
        );
    }
}

/// `dp_request`: a digital-pipeline request as the backend reads it, under each content type: its
/// routing at the static `/hooks/dp` URL (account and rule key), its dedupe key, Kommo's parser
/// and the event it becomes.
pub fn dp_request(data: &[u8]) {
    for content_type in [
        None,
        Some("application/x-www-form-urlencoded"),
        Some("application/json"),
        Some("application/json; charset=utf-8"),
    ] {
        let _ = digital_pipeline::routing(content_type, data);
        let key = dedupe::digital_pipeline(1, content_type, data);
        assert!(
            key.starts_with("dp:") || key.starts_with("sha256:"),
            "dedupe key {key:?}"
        );
        if let Ok(request) = kommo::incoming::parse_dp_request(content_type, data) {
            let _ = events::from_dp_request(&request);
        }
    }
}

/// `hook_token`: the `{id}-{secret}` tokens of inbound hook and trigger-link URLs (and the
/// `r{id}-{secret}` keys of receivers), the entity kind
/// of a manual link, and the redaction of their paths for logs: an id is only ever the digits
/// before the first `-`, and no secret reaches a log line.
pub fn hook_token(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some((id, secret)) = split_token(text) {
        let (head, tail) = text.split_once('-').expect("a split token has a dash");
        assert_eq!(head.parse::<i64>().ok(), Some(id));
        assert_eq!(tail, secret);
    }
    if let Some((id, secret)) = crate::store::receivers::split_key(text) {
        assert!(id > 0);
        assert_eq!(
            text,
            format!("r{id}-{secret}"),
            "a receiver key is r{{id}}-{{secret}}"
        );
    }
    let _ = trigger_links::entity_of_kind(text);
    for prefix in ["/hooks/kommo/", "/hooks/dp/", "/hooks/in/"] {
        assert_eq!(
            redact_secret_path(&format!("{prefix}42/{text}")),
            format!("{prefix}42/***"),
            "a hook secret reaches the log"
        );
    }
    assert_eq!(
        redact_secret_path(&format!("/t/{text}")),
        "/t/***",
        "a link token reaches the log"
    );
}

/// `inbound_body`: the variables of an inbound webhook's body (JSON flattened, or a form; a query
/// string has the form's format): every variable is named, `webhook_data` is the raw text,
/// capped, and the body's variables win over a query's.
pub fn inbound_body(data: &[u8]) {
    let vars = outbound::body_vars(data);
    let capped = &data[..data.len().min(outbound::MAX_RESPONSE_BYTES)];
    assert_eq!(
        vars.get("webhook_data").map(String::as_str),
        Some(&*String::from_utf8_lossy(capped))
    );
    assert!(
        vars.keys().all(|name| !name.is_empty()),
        "an unnamed variable"
    );
    // The same bytes as a receiver request's query string too: the body's variables win.
    if let Ok(query) = std::str::from_utf8(data) {
        let both = outbound::request_vars(Some(query), data);
        for (name, value) in &vars {
            assert_eq!(both.get(name), Some(value), "the body's {name} wins");
        }
    }
}

/// `revocation`: Kommo's "access revoked" notification, a query string: it is refused unless its
/// signature is the hex HMAC-SHA256 of `client_uuid|account_id` under the integration's secret.
pub fn revocation(data: &[u8]) {
    let secret = SecretString::from(CLIENT_SECRET);
    if let Ok(notice) = serde_urlencoded::from_bytes::<Revocation>(data) {
        let signed = revocation_signed(CLIENT_ID, &secret, notice.account_id, &notice.signature);
        let key = hmac::Key::new(hmac::HMAC_SHA256, CLIENT_SECRET.as_bytes());
        let expected = hex(hmac::sign(
            &key,
            format!("{CLIENT_ID}|{}", notice.account_id).as_bytes(),
        )
        .as_ref());
        assert_eq!(
            signed,
            notice.signature.trim().eq_ignore_ascii_case(&expected),
            "signature {:?} for account {}",
            notice.signature,
            notice.account_id
        );
    }
    let _ = revocation_signed(CLIENT_ID, &secret, 42, &String::from_utf8_lossy(data));
}

/// `api_bodies`: every request body (and path segment) of the widget's API, parsed as its handler
/// parses it: accepted, or refused with a 4xx problem and a code; never a panic or a 500.
pub fn api_bodies(data: &[u8]) {
    for (what, result) in parse_every_request(data) {
        if let Err(problem) = result {
            assert!(
                problem.status().is_client_error(),
                "{what} answers {} to bad input",
                problem.status()
            );
            assert!(!problem.code().is_empty(), "{what} answers without a code");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn seed(target: &str, name: &str) -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fuzz/seeds")
                .join(target)
                .join(name),
        )
        .expect("the seed exists")
    }

    /// Runs `target` over every file of its committed seeds; a seed that panics fails with its
    /// name, and a target without seeds fails too (it would test nothing).
    fn each_seed(target: &str, run: fn(&[u8])) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/seeds")
            .join(target);
        let mut seeds: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("a seed").path())
            .filter(|path| path.is_file())
            .collect();
        seeds.sort();
        assert!(!seeds.is_empty(), "{} holds no seed", dir.display());
        for seed in seeds {
            let data = std::fs::read(&seed).expect("a readable seed");
            if std::panic::catch_unwind(|| run(&data)).is_err() {
                panic!("the {target} seed {} crashes", seed.display());
            }
        }
    }

    #[test]
    fn every_token_seed_is_verified_for_this_integration_only_or_refused() {
        each_seed("token_verify", token_verify);
        // The seeds reach both sides of the checks.
        let verify = |name| verifier().verify(&signed(&seed("token_verify", name)), NOW);
        let caller = verify("valid_admin.json").expect("the valid seed is accepted");
        assert_eq!((caller.account_id, caller.is_admin), (31_000_001, true));
        assert!(verify("audience_list_member.json").is_ok());
        for refused in [
            "another_integration.json",
            "another_audience.json",
            "expired.json",
            "wrong_claim_types.json",
        ] {
            assert!(verify(refused).is_err(), "{refused} is accepted");
        }
    }

    #[test]
    fn every_salesbot_seed_is_read_and_its_token_verified_for_this_integration_only() {
        each_seed("salesbot_request", salesbot_request);
        let verify =
            |name| bot_verifier().verify(&signed_hs512(&seed("salesbot_request", name)), NOW);
        let claims = verify("claims_valid.json").expect("the valid claims are accepted");
        assert_eq!((claims.account_id, claims.entity_id), (31_000_001, 5));
        for refused in ["claims_another_integration.json", "claims_expired.json"] {
            assert!(verify(refused).is_err(), "{refused} is accepted");
        }
        let request = salesbot::parse_request(
            Some("application/json"),
            &seed("salesbot_request", "request.json"),
        )
        .expect("the request seed reads");
        assert_eq!((request.bot_id, request.continue_id), (321, 4567));
        assert_eq!(salesbot::rule_of(&request.data), Some(17));
    }

    #[test]
    fn every_digital_pipeline_seed_is_routed_keyed_and_parsed_without_panicking() {
        each_seed("dp_request", dp_request);
    }

    #[test]
    fn every_hook_token_seed_splits_at_its_first_dash_and_never_reaches_a_log() {
        each_seed("hook_token", hook_token);
    }

    #[test]
    fn every_inbound_body_seed_becomes_named_variables_with_its_raw_text() {
        each_seed("inbound_body", inbound_body);
    }

    #[test]
    fn every_revocation_seed_is_accepted_exactly_when_kommo_signed_it() {
        each_seed("revocation", revocation);
        let secret = SecretString::from(CLIENT_SECRET);
        let signed = |name| {
            let notice: Revocation =
                serde_urlencoded::from_bytes(&seed("revocation", name)).expect("a notice");
            revocation_signed(CLIENT_ID, &secret, notice.account_id, &notice.signature)
        };
        assert!(signed("signed.txt"));
        assert!(signed("signed_upper_case.txt"));
        assert!(!signed("signed_for_another_account.txt"));
        assert!(!signed("not_hex.txt"));
    }

    #[test]
    fn every_api_body_seed_is_accepted_or_refused_with_a_client_error() {
        each_seed("api_bodies", api_bodies);
        let outcome = |name, what| {
            parse_every_request(&seed("api_bodies", name))
                .into_iter()
                .find(|(w, _)| *w == what)
                .map(|(_, result)| result.map_err(|e| e.code()))
                .expect("a parser of that name")
        };
        assert_eq!(outcome("save_rule.json", "POST /api/v1/rules"), Ok(()));
        assert_eq!(
            outcome("save_rule_unavailable_in_kommo.json", "POST /api/v1/rules"),
            Err("invalid"),
            "a blank name"
        );
        assert_eq!(
            outcome("run_rule.json", "POST /api/v1/rules/{id}/run"),
            Err("invalid_entities")
        );
        assert_eq!(
            outcome("new_link.json", "POST /api/v1/rules/{id}/links"),
            Err("invalid")
        );
        assert_eq!(
            outcome("replay.json", "POST /api/v1/rules/{id}/replay"),
            Err("bad_json")
        );
        assert_eq!(
            outcome("draft_dry_run.json", "POST /api/v1/rules/dry-run"),
            Ok(())
        );
        assert_eq!(
            outcome("dry_run.json", "POST /api/v1/rules/dry-run"),
            Err("bad_json"),
            "a draft's dry run needs the rule"
        );
        assert_eq!(outcome("import.json", "POST /api/v1/rules/import"), Ok(()));
        assert_eq!(
            outcome("position.json", "PUT /api/v1/rules/{id}/position"),
            Ok(())
        );
        let search = "GET /api/v1/entities/{entity_type}/search?q=";
        assert_eq!(outcome("entity_search.txt", search), Ok(()));
        assert_eq!(outcome("entity_search_blank.txt", search), Err("bad_query"));
    }
}
