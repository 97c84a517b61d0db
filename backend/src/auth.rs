//! Verification of Kommo's disposable token, the `X-Auth-Token` header that `$authorizedAjax` adds.
//!
//! The token is a JWT signed HS256 with the integration's client secret. It must be addressed to us
//! (`aud` is our origin), be current (`exp`, `nbf`, with a little leeway) and be issued for our
//! integration (`client_uuid`). The account it names is the tenant of the request. A token is
//! accepted once: its `jti` is recorded until it expires, and a second use is refused
//! ([`refuse_replay`]), in every process on the database.

use axum::{extract::FromRequestParts, http::request::Parts};
use jsonwebtoken::{decode, errors::ErrorKind, Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::{config::Settings, http::ApiError, startup::AppState};

/// The header Kommo's `$authorizedAjax` sets.
pub const AUTH_HEADER: &str = "x-auth-token";

/// The claims of a disposable token (kommo-platform.md §6.2).
#[derive(Debug, Clone, Deserialize)]
pub struct DisposableClaims {
    /// The account URL, e.g. `https://acme.kommo.com`.
    pub iss: String,
    /// The token's id.
    pub jti: String,
    /// Expires at, unix seconds.
    pub exp: i64,
    /// Not valid before, unix seconds.
    pub nbf: i64,
    /// The Kommo account id.
    pub account_id: i64,
    /// The account's subdomain.
    pub subdomain: String,
    /// The integration the token was issued for.
    pub client_uuid: String,
    /// The Kommo user.
    pub user_id: i64,
    /// Whether the user is an account administrator.
    #[serde(default)]
    pub is_admin: bool,
}

/// The verified caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The tenant.
    pub account_id: i64,
    /// The account's subdomain.
    pub subdomain: String,
    /// The Kommo user.
    pub user_id: i64,
    /// Whether the user is an account administrator.
    pub is_admin: bool,
}

/// Verifies disposable tokens against the integration's settings.
#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
    leeway_s: i64,
    client_id: String,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl TokenVerifier {
    /// A verifier for the integration described by `settings`.
    pub fn new(settings: &Settings) -> Self {
        let key = DecodingKey::from_secret(settings.kommo_client_secret.expose_secret().as_bytes());
        // Only HS256: a token announcing `none` or any other algorithm is refused by the library.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[settings.audience()]);
        validation.set_required_spec_claims(&["exp", "nbf", "aud"]);
        // `exp` and `nbf` are checked below against the injected clock, not the library's wall clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = settings.token_leeway_s;
        Self {
            key,
            validation,
            leeway_s: i64::try_from(settings.token_leeway_s).unwrap_or(i64::MAX),
            client_id: settings.kommo_client_id.clone(),
        }
    }

    /// Verifies `token` at `now` (unix seconds) and returns who it speaks for.
    pub fn verify(&self, token: &str, now: i64) -> Result<Caller, ApiError> {
        let data = decode::<DisposableClaims>(token, &self.key, &self.validation).map_err(|e| {
            let (code, detail) = match e.kind() {
                ErrorKind::ExpiredSignature => ("token_expired", "The Kommo token has expired."),
                ErrorKind::ImmatureSignature => {
                    ("token_not_yet_valid", "The Kommo token is not valid yet.")
                }
                ErrorKind::InvalidAudience => (
                    "token_wrong_audience",
                    "The Kommo token was issued for another service.",
                ),
                ErrorKind::InvalidSignature => (
                    "token_bad_signature",
                    "The Kommo token's signature does not match this integration's secret key.",
                ),
                ErrorKind::InvalidAlgorithm => (
                    "token_bad_algorithm",
                    "The Kommo token must be signed with HS256.",
                ),
                _ => ("token_invalid", "The Kommo token could not be read."),
            };
            tracing::info!(reason = code, "disposable token rejected");
            ApiError::unauthorized(code, detail)
        })?;
        let claims = data.claims;
        if claims.exp.saturating_add(self.leeway_s) < now {
            tracing::info!(reason = "token_expired", "disposable token rejected");
            return Err(ApiError::unauthorized(
                "token_expired",
                "The Kommo token has expired.",
            ));
        }
        if claims.nbf.saturating_sub(self.leeway_s) > now {
            tracing::info!(reason = "token_not_yet_valid", "disposable token rejected");
            return Err(ApiError::unauthorized(
                "token_not_yet_valid",
                "The Kommo token is not valid yet.",
            ));
        }
        if claims.client_uuid != self.client_id {
            tracing::info!(reason = "token_wrong_client", "disposable token rejected");
            return Err(ApiError::unauthorized(
                "token_wrong_client",
                "The Kommo token was issued for another integration.",
            ));
        }
        Ok(Caller {
            account_id: claims.account_id,
            subdomain: claims.subdomain,
            user_id: claims.user_id,
            is_admin: claims.is_admin,
        })
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Verified once per request: the route's guard (http::routes) leaves the caller here.
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let token = parts
            .headers
            .get(AUTH_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "token_missing",
                    "This request needs Kommo's X-Auth-Token header.",
                )
            })?;
        let caller = state
            .verifier
            .verify(token, state.clock.now_ms().div_euclid(1000))?;
        refuse_replay(state, token).await?;
        Ok(caller)
    }
}

/// The `jti` and `exp` of a token whose signature was verified (so its payload is trusted).
fn token_id(token: &str) -> Option<(String, i64)> {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
    #[derive(Deserialize)]
    struct Id {
        jti: String,
        exp: i64,
    }
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let id: Id = serde_json::from_slice(&bytes).ok()?;
    Some((id.jti, id.exp))
}

/// Refuses a verified token whose `jti` was used before (401 `token_replayed`), and records its
/// first use until the verifier would refuse it anyway (`exp` plus the leeway).
pub async fn refuse_replay(state: &AppState, token: &str) -> Result<(), ApiError> {
    let (jti, exp) = token_id(token).ok_or_else(|| {
        ApiError::unauthorized("token_invalid", "The Kommo token could not be read.")
    })?;
    let leeway = i64::try_from(state.settings.token_leeway_s).unwrap_or(i64::MAX);
    let first = crate::store::seen_tokens::first_use(&state.db, &jti, exp.saturating_add(leeway))
        .await
        .map_err(ApiError::from)?;
    if first {
        Ok(())
    } else {
        tracing::info!(reason = "token_replayed", "disposable token rejected");
        Err(ApiError::unauthorized(
            "token_replayed",
            "This Kommo token was used already; each request needs a fresh one.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::{json, Value};

    use super::*;

    const SECRET: &str = "sandbox-client-secret";
    const CLIENT_ID: &str = "00000000-0000-4000-8000-000000000001";

    fn settings() -> Settings {
        figment::Figment::new()
            .merge(figment::providers::Serialized::defaults(json!({
                "bind": "127.0.0.1:0",
                "database_url": "sqlite::memory:",
                "public_url": "https://rulebook.example.com/",
                "kommo_client_id": CLIENT_ID,
                "kommo_client_secret": SECRET,
                "cors_origin_suffixes": [".kommo.com"],
                "cors_extra_origins": [],
                "token_leeway_s": 5,
            })))
            .extract()
            .expect("test settings")
    }

    fn claims(now: i64) -> Value {
        json!({
            "iss": "https://acme.kommo.com",
            "aud": "https://rulebook.example.com",
            "jti": "6f0b0b1e-4c1e-4d56-9a8a-9d1f3c2b7a10",
            "iat": now, "nbf": now, "exp": now + 1800,
            "account_id": 31_000_001, "subdomain": "acme",
            "client_uuid": CLIENT_ID, "user_id": 7, "is_admin": true,
        })
    }

    fn sign(claims: &Value, secret: &str) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("sign")
    }

    /// 2026-11-23T12:00:00Z: the verifier is handed the time, so the tests hold on any date.
    const NOW: i64 = 1_795_435_200;

    fn now() -> i64 {
        NOW
    }

    fn rejection(token: &str) -> &'static str {
        TokenVerifier::new(&settings())
            .verify(token, NOW)
            .expect_err("token must be rejected")
            .code()
    }

    #[test]
    fn a_valid_token_yields_the_account_and_user() {
        let caller = TokenVerifier::new(&settings())
            .verify(&sign(&claims(now()), SECRET), NOW)
            .expect("valid");
        assert_eq!(
            caller,
            Caller {
                account_id: 31_000_001,
                subdomain: "acme".into(),
                user_id: 7,
                is_admin: true
            }
        );
    }

    #[test]
    fn a_token_signed_with_another_secret_is_rejected() {
        assert_eq!(
            rejection(&sign(&claims(now()), "wrong-secret")),
            "token_bad_signature"
        );
    }

    #[test]
    fn an_expired_token_is_rejected_beyond_the_leeway() {
        let mut c = claims(now() - 3600);
        c["exp"] = json!(now() - 6);
        assert_eq!(rejection(&sign(&c, SECRET)), "token_expired");
    }

    #[test]
    fn a_token_just_inside_the_leeway_is_accepted() {
        let mut c = claims(now() - 3600);
        c["exp"] = json!(now() - 2);
        assert!(TokenVerifier::new(&settings())
            .verify(&sign(&c, SECRET), NOW)
            .is_ok());
    }

    #[test]
    fn a_token_from_the_future_is_rejected() {
        let mut c = claims(now());
        c["nbf"] = json!(now() + 60);
        assert_eq!(rejection(&sign(&c, SECRET)), "token_not_yet_valid");
    }

    #[test]
    fn a_token_for_another_audience_is_rejected() {
        let mut c = claims(now());
        c["aud"] = json!("https://someone-else.example.com");
        assert_eq!(rejection(&sign(&c, SECRET)), "token_wrong_audience");
    }

    #[test]
    fn a_token_for_another_integration_is_rejected() {
        let mut c = claims(now());
        c["client_uuid"] = json!("11111111-1111-4111-8111-111111111111");
        assert_eq!(rejection(&sign(&c, SECRET)), "token_wrong_client");
    }

    #[test]
    fn an_unsigned_alg_none_token_is_rejected() {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(claims(now()).to_string());
        let code = rejection(&format!("{header}.{body}."));
        assert!(
            matches!(code, "token_bad_algorithm" | "token_invalid"),
            "{code}"
        );
    }

    #[test]
    fn a_token_signed_with_another_hmac_algorithm_is_rejected() {
        let token = encode(
            &Header::new(Algorithm::HS512),
            &claims(now()),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .expect("sign");
        assert_eq!(rejection(&token), "token_bad_algorithm");
    }

    #[test]
    fn a_verified_tokens_id_and_expiry_are_read_from_its_payload() {
        let token = sign(&claims(1_900_000_000), SECRET);
        assert_eq!(
            token_id(&token),
            Some((
                "6f0b0b1e-4c1e-4d56-9a8a-9d1f3c2b7a10".to_owned(),
                1_900_001_800
            ))
        );
        assert_eq!(token_id("a.b.c"), None);
        assert_eq!(token_id(""), None);
    }

    #[test]
    fn garbage_is_rejected_without_panicking() {
        for token in ["", "a.b.c", "....", "eyJhbGciOiJIUzI1NiJ9", "\u{0}\u{1}"] {
            assert!(TokenVerifier::new(&settings()).verify(token, NOW).is_err());
        }
    }
}
