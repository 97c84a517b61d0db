//! A Salesbot's `widget_request` step, as it reaches `POST /hooks/salesbot`.
//!
//! Kommo's side (kommo-platform.md §6.3 and §7): a bot step `{handler: "widget_request", params:
//! {url, data}}` makes Kommo POST to `url` the bot's token, the step's `data` and a `return_url`
//! (the continue endpoint, `/api/v4/salesbot/{bot_id}/continue/{continue_id}`). The token is a JWT
//! signed HS512 with the integration's client secret; its claims name the account (`account_id`,
//! `subdomain`), the integration (`client_uuid`), the entity the bot runs on (`entity_id`,
//! `entity_type`), the bot type and `exp` (amocrm-api-php `parseBotDisposableToken`,
//! `BotDisposableTokenModel`). The widget saves its steps with `data: {rule_id: "<id>"}`.
//!
//! The tenant is the verified token's `account_id`. The `return_url` is not signed, so only its
//! bot and continue ids are read from it: the bot is continued through the account's own Kommo
//! address (never at a host the body names, which would receive the account's OAuth token).

use jsonwebtoken::{decode, errors::ErrorKind, Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Map, Value};

use crate::config::Settings;

/// The step's `data` key that names the rule to run.
pub const RULE_KEY: &str = "rule_id";

/// Why a request to `/hooks/salesbot` is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SalesbotError {
    /// The body is not a widget request: no token, or nothing to continue.
    #[error("{0}")]
    Malformed(String),
    /// The token does not verify: signature, algorithm, expiry or integration.
    #[error("{0}")]
    BadToken(&'static str),
}

/// A number Kommo may send as a number or as a string of digits.
fn flexible_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| serde::de::Error::custom("not an integer")),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom("not an integer")),
        _ => Err(serde::de::Error::custom("not an integer")),
    }
}

/// An id or a name, as text: `entity_type` may be `2`, `"2"`, `"leads"` or `"lead"`.
fn flexible_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => Ok(n.to_string()),
        Value::String(s) => Ok(s),
        _ => Err(serde::de::Error::custom("not a name or number")),
    }
}

/// The claims of a bot token (kommo-platform.md §6.3).
#[derive(Debug, Clone, Deserialize)]
pub struct BotClaims {
    /// Expires at, Unix seconds.
    #[serde(deserialize_with = "flexible_i64")]
    pub exp: i64,
    /// The Kommo account.
    #[serde(deserialize_with = "flexible_i64")]
    pub account_id: i64,
    /// The account's subdomain.
    #[serde(default)]
    pub subdomain: String,
    /// The integration the token was issued for.
    pub client_uuid: String,
    /// The entity the bot runs on.
    #[serde(deserialize_with = "flexible_i64")]
    pub entity_id: i64,
    /// Its type: `leads`/`contacts` or Kommo's element type (2 lead, 1 contact).
    #[serde(deserialize_with = "flexible_text")]
    pub entity_type: String,
    /// `salesbot` or `marketingbot`.
    #[serde(default)]
    pub bot_type: String,
}

/// Verifies bot tokens: HS512 with the integration's client secret, current by the injected
/// clock (with the disposable token's leeway), issued for this integration.
#[derive(Clone)]
pub struct BotTokenVerifier {
    key: DecodingKey,
    validation: Validation,
    leeway_s: i64,
    client_id: String,
}

impl std::fmt::Debug for BotTokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotTokenVerifier")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl BotTokenVerifier {
    /// A verifier for the integration described by `settings`.
    pub fn new(settings: &Settings) -> Self {
        Self::for_integration(
            &settings.kommo_client_id,
            settings.kommo_client_secret.expose_secret(),
            settings.token_leeway_s,
        )
    }

    /// A verifier for the integration `client_id` whose secret key is `secret`.
    pub fn for_integration(client_id: &str, secret: &str, leeway_s: u64) -> Self {
        // Only HS512: `none` and every other algorithm are refused by the library.
        let mut validation = Validation::new(Algorithm::HS512);
        // `aud` is optional in bot tokens; `exp` is checked below against the injected clock.
        validation.validate_aud = false;
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["exp"]);
        Self {
            key: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            leeway_s: i64::try_from(leeway_s).unwrap_or(i64::MAX),
            client_id: client_id.to_owned(),
        }
    }

    /// Verifies `token` at `now` (Unix seconds).
    pub fn verify(&self, token: &str, now: i64) -> Result<BotClaims, SalesbotError> {
        let data = decode::<BotClaims>(token, &self.key, &self.validation).map_err(|e| {
            SalesbotError::BadToken(match e.kind() {
                ErrorKind::InvalidSignature => {
                    "The Salesbot's token is not signed with this integration's secret key."
                }
                ErrorKind::InvalidAlgorithm => "The Salesbot's token must be signed with HS512.",
                _ => "The Salesbot's token could not be read.",
            })
        })?;
        let claims = data.claims;
        if claims.exp.saturating_add(self.leeway_s) < now {
            return Err(SalesbotError::BadToken("The Salesbot's token has expired."));
        }
        if claims.client_uuid != self.client_id {
            return Err(SalesbotError::BadToken(
                "The Salesbot's token was issued for another integration.",
            ));
        }
        Ok(claims)
    }
}

/// A widget request as it arrives, before its token is verified.
#[derive(Debug, Clone, PartialEq)]
pub struct WidgetRequest {
    /// The bot token.
    pub token: String,
    /// The step's `data`.
    pub data: Map<String, Value>,
    /// `salesbot` or `marketingbot`: the continue path's first segment.
    pub bot_type: String,
    /// The bot.
    pub bot_id: i64,
    /// The step waiting to be continued.
    pub continue_id: i64,
}

/// The bot type, bot id and continue id of a continue URL or path
/// (`…/api/v4/{salesbot|marketingbot}/{bot_id}/continue/{continue_id}`).
pub fn continue_target(url: &str) -> Option<(String, i64, i64)> {
    let path = match url::Url::parse(url) {
        Ok(parsed) => parsed.path().to_owned(),
        Err(_) => url.to_owned(),
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let at = segments.iter().position(|s| *s == "continue")?;
    if at < 2 || segments.len() != at + 2 {
        return None;
    }
    let bot_type = segments[at - 2];
    if !matches!(bot_type, "salesbot" | "marketingbot") {
        return None;
    }
    let id = |s: &str| {
        s.parse::<i64>()
            .ok()
            .filter(|n| *n > 0 && n.to_string() == s)
    };
    Some((
        bot_type.to_owned(),
        id(segments[at - 1])?,
        id(segments[at + 1])?,
    ))
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads a widget request from a JSON or form body (`token`, `data` as an object or the JSON
/// text of one, `return_url`; `bot_id` and `continue_id` beside them are read when there is no
/// `return_url`).
pub fn parse_request(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<WidgetRequest, SalesbotError> {
    let malformed = |why: &str| SalesbotError::Malformed(why.to_owned());
    let is_form = content_type.is_some_and(|c| {
        c.trim_start()
            .starts_with("application/x-www-form-urlencoded")
    });
    let document: Map<String, Value> = if is_form {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|_| malformed("The body is not a form."))?;
        let mut map = Map::new();
        let mut data = Map::new();
        for (key, value) in pairs {
            match key.strip_prefix("data[").and_then(|k| k.strip_suffix(']')) {
                Some(name) if !name.contains('[') => {
                    data.insert(name.to_owned(), Value::String(value));
                }
                _ => {
                    map.insert(key, Value::String(value));
                }
            }
        }
        if !data.is_empty() && !map.contains_key("data") {
            map.insert("data".into(), Value::Object(data));
        }
        map
    } else {
        match serde_json::from_slice(body) {
            Ok(Value::Object(map)) => map,
            _ => return Err(malformed("The body is not a JSON object.")),
        }
    };
    let token = document
        .get("token")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| malformed("The request carries no `token`."))?
        .to_owned();
    let data = match document.get("data") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(Value::String(text)) if text.trim().is_empty() => Map::new(),
        Some(Value::String(text)) => match serde_json::from_str(text) {
            Ok(Value::Object(map)) => map,
            _ => return Err(malformed("`data` is not a JSON object.")),
        },
        Some(_) => return Err(malformed("`data` is not an object.")),
    };
    let target = match document.get("return_url").and_then(Value::as_str) {
        Some(url) => continue_target(url),
        None => {
            let id = |k: &str| {
                document
                    .get(k)
                    .and_then(text_of)
                    .and_then(|s| s.trim().parse::<i64>().ok())
                    .filter(|n| *n > 0)
            };
            id("bot_id")
                .zip(id("continue_id"))
                .map(|(bot, step)| ("salesbot".to_owned(), bot, step))
        }
    };
    let (bot_type, bot_id, continue_id) = target.ok_or_else(|| {
        malformed(
            "The request names no bot step to continue: `return_url` must be \
             …/api/v4/salesbot/{bot_id}/continue/{continue_id}.",
        )
    })?;
    Ok(WidgetRequest {
        token,
        data,
        bot_type,
        bot_id,
        continue_id,
    })
}

/// The Kommo entity table of a bot token's `entity_type`, if it is one a rule can run on.
pub fn entity_table(entity_type: &str) -> Option<&'static str> {
    match entity_type.trim().to_ascii_lowercase().as_str() {
        "2" | "lead" | "leads" => Some("leads"),
        "1" | "contact" | "contacts" => Some("contacts"),
        "3" | "company" | "companies" => Some("companies"),
        _ => None,
    }
}

/// The rule a step's `data` names (`rule_id`, a number or its digits), if it names one.
pub fn rule_of(data: &Map<String, Value>) -> Option<i64> {
    let text = text_of(data.get(RULE_KEY)?)?;
    let text = text.trim();
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0 && id.to_string() == text)
}

/// What is stored of a verified widget request (the token itself is not kept: it is not needed
/// once verified, and it would let a reader of the database pose as the bot until it expires).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCall {
    /// `salesbot` or `marketingbot`.
    pub bot_type: String,
    /// The bot.
    pub bot_id: i64,
    /// The step waiting to be continued.
    pub continue_id: i64,
    /// The entity type the token named, as sent.
    pub entity_type: String,
    /// The entity id the token named.
    pub entity_id: i64,
    /// The step's `data`.
    pub data: Map<String, Value>,
}

impl StoredCall {
    /// The stored form of a verified request.
    pub fn new(request: &WidgetRequest, claims: &BotClaims) -> Self {
        Self {
            bot_type: request.bot_type.clone(),
            bot_id: request.bot_id,
            continue_id: request.continue_id,
            entity_type: claims.entity_type.clone(),
            entity_id: claims.entity_id,
            data: request.data.clone(),
        }
    }

    /// The dedupe key: one event per bot step execution.
    pub fn dedupe_key(&self) -> String {
        format!(
            "salesbot:{}:{}:{}",
            self.bot_type, self.bot_id, self.continue_id
        )
    }

    /// The path of the continue endpoint on the account's Kommo address.
    pub fn continue_path(&self) -> String {
        format!(
            "/api/v4/{}/{}/continue/{}",
            self.bot_type, self.bot_id, self.continue_id
        )
    }

    /// The JSON of the stored body.
    pub fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(&json!(self)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{encode, EncodingKey, Header};

    use super::*;

    const SECRET: &str = "bot-secret";
    const CLIENT: &str = "00000000-0000-4000-8000-000000000b07";

    fn token(alg: Algorithm, claims: Value, secret: &str) -> String {
        encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("sign")
    }

    fn claims(exp: i64) -> Value {
        json!({"iss": "https://acme.kommo.com", "subdomain": "acme", "account_id": 42,
               "client_uuid": CLIENT, "entity_id": "5", "entity_type": "leads",
               "bot_type": "salesbot", "exp": exp})
    }

    #[test]
    fn a_bot_token_is_verified_hs512_current_and_for_this_integration() {
        let verifier = BotTokenVerifier::for_integration(CLIENT, SECRET, 5);
        let ok = verifier
            .verify(&token(Algorithm::HS512, claims(1000), SECRET), 1000)
            .expect("valid");
        assert_eq!((ok.account_id, ok.entity_id), (42, 5));
        assert_eq!(entity_table(&ok.entity_type), Some("leads"));
        for (what, bad) in [
            ("HS256", token(Algorithm::HS256, claims(1000), SECRET)),
            ("another secret", token(Algorithm::HS512, claims(1000), "x")),
            ("expired", token(Algorithm::HS512, claims(994), SECRET)),
            (
                "another integration",
                token(
                    Algorithm::HS512,
                    json!({"account_id": 42, "client_uuid": "x", "entity_id": 5, "entity_type": 2, "exp": 2000}),
                    SECRET,
                ),
            ),
            ("garbage", "a.b.c".to_owned()),
        ] {
            assert!(verifier.verify(&bad, 1000).is_err(), "{what}");
        }
    }

    #[test]
    fn a_request_names_its_token_data_and_the_step_to_continue() {
        let body = br#"{"token":"t","data":{"rule_id":"7","lead":"5"},
            "return_url":"https://acme.kommo.com/api/v4/salesbot/3/continue/99"}"#;
        let request = parse_request(Some("application/json"), body).expect("parses");
        assert_eq!(
            (
                request.bot_type.as_str(),
                request.bot_id,
                request.continue_id
            ),
            ("salesbot", 3, 99)
        );
        assert_eq!(rule_of(&request.data), Some(7));
        let form = b"token=t&data%5Brule_id%5D=7&return_url=https%3A%2F%2Facme.kommo.com%2Fapi%2Fv4%2Fsalesbot%2F3%2Fcontinue%2F99";
        let from_form =
            parse_request(Some("application/x-www-form-urlencoded"), form).expect("a form");
        assert_eq!(from_form.data.get("rule_id"), Some(&json!("7")));
        assert_eq!(from_form.data.len(), 1);
        assert_eq!(from_form.continue_id, 99);
    }

    #[test]
    fn a_request_without_token_or_step_is_refused() {
        for body in [
            &br#"{"data":{},"return_url":"https://a.kommo.com/api/v4/salesbot/3/continue/9"}"#[..],
            br#"{"token":"t","return_url":"https://a.kommo.com/api/v4/leads/3"}"#,
            br#"{"token":"t","return_url":"https://a.kommo.com/api/v4/salesbot/03/continue/9"}"#,
            br#"{"token":"t","data":[1],"bot_id":3,"continue_id":9}"#,
            b"not json",
        ] {
            assert!(parse_request(Some("application/json"), body).is_err());
        }
        assert!(parse_request(None, br#"{"token":"t","bot_id":"3","continue_id":9}"#).is_ok());
        assert_eq!(rule_of(&Map::new()), None);
        let mut data = Map::new();
        data.insert(RULE_KEY.into(), json!("07"));
        assert_eq!(rule_of(&data), None, "an id is read exactly as written");
    }
}
