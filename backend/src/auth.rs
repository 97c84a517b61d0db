//! Verification of Kommo's disposable token, the `X-Auth-Token` header that `$authorizedAjax` adds.
//!
//! The token is a JWT signed HS256 with the integration's client secret. It must be addressed to us
//! (`aud` is our origin), be current (`exp`, `nbf`, with a little leeway) and be issued for our
//! integration (`client_uuid`). The account it names is the tenant of the request.

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
    client_id: String,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier").field("client_id", &self.client_id).finish_non_exhaustive()
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
        validation.validate_nbf = true;
        validation.leeway = settings.token_leeway_s;
        Self { key, validation, client_id: settings.kommo_client_id.clone() }
    }

    /// Verifies `token` and returns who it speaks for.
    pub fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        let data = decode::<DisposableClaims>(token, &self.key, &self.validation).map_err(|e| {
            let (code, detail) = match e.kind() {
                ErrorKind::ExpiredSignature => ("token_expired", "The Kommo token has expired."),
                ErrorKind::ImmatureSignature => ("token_not_yet_valid", "The Kommo token is not valid yet."),
                ErrorKind::InvalidAudience => {
                    ("token_wrong_audience", "The Kommo token was issued for another service.")
                }
                ErrorKind::InvalidSignature => (
                    "token_bad_signature",
                    "The Kommo token's signature does not match this integration's secret key.",
                ),
                ErrorKind::InvalidAlgorithm => ("token_bad_algorithm", "The Kommo token must be signed with HS256."),
                _ => ("token_invalid", "The Kommo token could not be read."),
            };
            tracing::info!(reason = code, "disposable token rejected");
            ApiError::unauthorized(code, detail)
        })?;
        let claims = data.claims;
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

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(AUTH_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("token_missing", "This request needs Kommo's X-Auth-Token header.")
            })?;
        state.verifier.verify(token)
    }
}
