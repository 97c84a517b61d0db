//! Connecting Kommo accounts to Rulebook, and letting them go.
//!
//! - **OAuth** ([`connect_with_code`]): Kommo sends the user (or a public integration's install) to
//!   our redirect URI with a single-use code and the account's host (`referer`). We exchange the
//!   code, learn the account from Kommo itself (`GET /api/v4/account`), store the pair sealed, and
//!   subscribe the account's webhook to our hook URL.
//! - **Private integrations** ([`connect_with_long_lived_token`]): an operator hands us a
//!   long-lived token; the same steps follow, with the token checked against the account id given.
//! - **Revocation** ([`forget_revoked_account`]): Kommo's "access revoked" notification, signed with
//!   the client secret, makes us forget the account's tokens, once Kommo confirms that the stored
//!   token no longer works. The notification carries no time or nonce, so a recorded one can be
//!   replayed at will; the check with Kommo keeps a replay from cutting off a working connection.
//! - **Rotation** ([`rotate_webhook_secret`]): a new secret for the account's webhook URLs, with
//!   Kommo's webhook moved to the new URL before the old one stops working.
//!
//! CSRF: the callback starts no session and trusts no browser state. The tenant is whatever
//! account Kommo says the code belongs to (the exchange needs our client secret), so a forged or
//! replayed callback can at most connect the forger's own account to itself, which they could do
//! anyway; a reused code fails. We issue no `state` (Kommo's widget install sends none) and ignore
//! one if present.
//!
//! The referer is attacker-controlled: it must be an account host of Kommo (the configured host
//! suffixes), so a callback can never make us send our client secret elsewhere.

use std::sync::Arc;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use kommo::{AccountEndpoint, InMemoryTokenStore, KommoClient, KommoError, OAuthApp, StoredToken};
use ring::hmac;
use secrecy::{ExposeSecret, SecretString};

use crate::{
    engine::{self, EngineError},
    startup::AppState,
    store::{accounts, StoreError},
};

/// The account webhook events the engine consumes, subscribed on connection.
pub const WEBHOOK_EVENTS: &[&str] = &[
    "add_lead",
    "update_lead",
    "delete_lead",
    "restore_lead",
    "status_lead",
    "responsible_lead",
    "note_lead",
    "add_contact",
    "update_contact",
    "delete_contact",
    "responsible_contact",
    "note_contact",
    "add_company",
    "update_company",
    "delete_company",
    "responsible_company",
    "note_company",
    "add_task",
    "update_task",
    "delete_task",
    "responsible_task",
    "add_message",
    "add_talk",
    "update_talk",
];

/// Why an account could not be connected.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The referer is not a Kommo account host.
    #[error("{0:?} is not the host of a Kommo account")]
    UnknownReferer(String),
    /// Kommo refused the authorization code.
    #[error("Kommo refused the authorization code ({0})")]
    CodeRejected(String),
    /// The token belongs to another account than the one named.
    #[error("the token belongs to account {found}, not {expected}")]
    AccountMismatch {
        /// The account named by the operator.
        expected: i64,
        /// The account Kommo says the token is for.
        found: i64,
    },
    /// Kommo does not accept the token.
    #[error("Kommo does not accept the token")]
    TokenRefused,
    /// A Kommo API base other than Kommo's own hosts was asked for on a public (https) backend.
    #[error("the Kommo API base can be overridden only in a sandbox (public_url not https)")]
    BaseUrlOverride,
    /// Kommo failed otherwise.
    #[error("Kommo: {0}")]
    Kommo(KommoError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<KommoError> for ConnectError {
    fn from(err: KommoError) -> Self {
        match err {
            KommoError::CodeRejected(hint) => Self::CodeRejected(hint),
            KommoError::Unauthorized | KommoError::RefreshRejected(_) => Self::TokenRefused,
            other => Self::Kommo(other),
        }
    }
}

impl From<EngineError> for ConnectError {
    fn from(err: EngineError) -> Self {
        match err {
            EngineError::Store(e) => Self::Store(e),
            EngineError::Kommo(e) => e.into(),
            other => Self::Kommo(KommoError::Decode(other.to_string())),
        }
    }
}

/// A connected account.
#[derive(Debug, Clone)]
pub struct Connected {
    /// The Kommo account id.
    pub account_id: i64,
    /// Its subdomain.
    pub subdomain: String,
    /// Where its API is called.
    pub base_url: String,
    /// The webhook destination subscribed in Kommo (it carries the account's secret).
    pub webhook_url: SecretString,
}

/// The subdomain and API base URL of a Kommo account host such as `acme.kommo.com`.
pub fn account_host(state: &AppState, referer: &str) -> Result<(String, String), ConnectError> {
    let unknown = || ConnectError::UnknownReferer(referer.to_owned());
    let host = referer
        .trim()
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_ascii_lowercase();
    let suffix = state
        .settings
        .cors_origin_suffixes
        .iter()
        .find(|s| host.ends_with(s.as_str()) && host.len() > s.len())
        .ok_or_else(unknown)?;
    let subdomain = &host[..host.len() - suffix.len()];
    let valid = subdomain
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
    if !valid || subdomain.starts_with('-') {
        return Err(unknown());
    }
    let base = match &state.settings.kommo_base_url_template {
        Some(template) => template.replace("{subdomain}", subdomain),
        None => format!("https://{host}"),
    };
    Ok((subdomain.to_owned(), base))
}

/// The integration's OAuth identity, with our callback as redirect URI.
fn oauth_app(state: &AppState) -> OAuthApp {
    OAuthApp {
        client_id: state.settings.kommo_client_id.clone(),
        client_secret: state
            .settings
            .kommo_client_secret
            .expose_secret()
            .to_owned(),
        redirect_uri: state.settings.oauth_redirect_uri(),
    }
}

/// Asks Kommo which account a fresh token belongs to, before anything is stored.
async fn account_of(
    state: &AppState,
    base_url: &str,
    token: &StoredToken,
) -> Result<kommo::models::AccountInfo, ConnectError> {
    let store = Arc::new(InMemoryTokenStore::new());
    store.insert("connecting", token.clone());
    // The process's clock, not the client's default: a fresh token is checked against the same time
    // as everything else.
    let client = KommoClient::builder(store)
        .clock(crate::clock::for_kommo(&state.clock))
        .build()?;
    // No OAuth identity here: a refused fresh token is refused, not refreshed.
    let endpoint = AccountEndpoint::at("connecting", base_url, None)?;
    Ok(client.account(endpoint).account_info().await?)
}

/// Connects the account an authorization code was issued for (the OAuth callback).
pub async fn connect_with_code(
    state: &AppState,
    referer: &str,
    code: &str,
) -> Result<Connected, ConnectError> {
    let (subdomain, base_url) = account_host(state, referer)?;
    let endpoint = AccountEndpoint::at(&subdomain, &base_url, Some(oauth_app(state)))?;
    let token = state.engine.kommo().exchange_code(&endpoint, code).await?;
    let account = account_of(state, &base_url, &token).await?;
    store_and_subscribe(state, account.id, &subdomain, &base_url, &token).await
}

/// Connects a private integration's account with a long-lived token, checking that the token is
/// the account's. `base_url` overrides where its API lives (the emulator, a proxy).
pub async fn connect_with_long_lived_token(
    state: &AppState,
    account_id: i64,
    subdomain: &str,
    base_url: Option<&str>,
    token: &SecretString,
) -> Result<Connected, ConnectError> {
    let base_url = match base_url {
        // Tokens would go wherever the override points: a sandbox's emulator, never production's.
        Some(_) if state.settings.public_url.scheme() == "https" => {
            return Err(ConnectError::BaseUrlOverride)
        }
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => account_host(state, &format!("{subdomain}.kommo.com"))?.1,
    };
    let token = StoredToken {
        access_token: token.expose_secret().to_owned(),
        // A long-lived token has no refresh token; the client never tries to refresh it.
        refresh_token: String::new(),
        expires_at: jwt_expiry(token.expose_secret()).unwrap_or(i64::MAX / 1000),
    };
    let account = account_of(state, &base_url, &token).await?;
    if account.id != account_id {
        return Err(ConnectError::AccountMismatch {
            expected: account_id,
            found: account.id,
        });
    }
    store_and_subscribe(state, account_id, subdomain, &base_url, &token).await
}

/// Stores the account, its sealed tokens and base URL, then subscribes its webhook.
async fn store_and_subscribe(
    state: &AppState,
    account_id: i64,
    subdomain: &str,
    base_url: &str,
    token: &StoredToken,
) -> Result<Connected, ConnectError> {
    let now = state.clock.now_ms();
    accounts::ensure_account(&state.db, account_id, subdomain, now).await?;
    accounts::save_oauth_tokens(
        &state.db,
        &state.cipher,
        account_id,
        &accounts::OAuthTokens {
            access_token: SecretString::from(token.access_token.clone()),
            refresh_token: SecretString::from(token.refresh_token.clone()),
            expires_at: token.expires_at.saturating_mul(1000),
        },
    )
    .await?;
    engine::set_kommo_base_url(&state.db, account_id, Some(base_url)).await?;
    let secret = accounts::ensure_webhook_secret(&state.db, account_id).await?;
    let webhook_url = kommo_webhook_url(state, account_id, &secret);
    let client = state.engine.account_client(account_id).await?;
    client.clear_alert();
    client
        .subscribe_webhook(&webhook_url, WEBHOOK_EVENTS, 10)
        .await?;
    tracing::info!(account.id = account_id, subdomain, "account connected");
    Ok(Connected {
        account_id,
        subdomain: subdomain.to_owned(),
        base_url: base_url.to_owned(),
        webhook_url: SecretString::from(webhook_url),
    })
}

/// The URL Kommo posts the account's webhooks to; it carries the account's secret.
pub fn kommo_webhook_url(state: &AppState, account_id: i64, secret: &str) -> String {
    format!(
        "{}/hooks/kommo/{account_id}/{secret}",
        state.settings.public_url.as_str().trim_end_matches('/')
    )
}

/// Replaces the secret of the account's webhook URLs and returns the new one. A connected account
/// (tokens stored) has Kommo's webhook subscribed to the new URL first, so Kommo never posts to a
/// URL we refuse; if Kommo cannot be reached, nothing changes. The old subscription is then
/// removed (if that fails, Kommo's posts to it are refused, and Kommo disables it in time). An
/// account not connected, or whose token Kommo refuses, only gets the new secret.
pub async fn rotate_webhook_secret(
    state: &AppState,
    account_id: i64,
) -> Result<String, ConnectError> {
    let connected = accounts::load_oauth_tokens(&state.db, &state.cipher, account_id)
        .await?
        .is_some();
    if !connected {
        return Ok(accounts::rotate_webhook_secret(&state.db, account_id).await?);
    }
    let old = accounts::webhook_secret(&state.db, account_id).await?;
    let secret = crate::store::secrets::new_url_secret();
    let client = state.engine.account_client(account_id).await?;
    let subscribed = client
        .subscribe_webhook(
            &kommo_webhook_url(state, account_id, &secret),
            WEBHOOK_EVENTS,
            10,
        )
        .await;
    match subscribed {
        Ok(_) => {}
        // Kommo no longer lets us in: there is no subscription of ours to move, and a leaked
        // secret must still be replaceable.
        Err(KommoError::Unauthorized | KommoError::RefreshRejected(_)) => {
            tracing::warn!(
                account.id = account_id,
                "Kommo refuses the account's token; webhook secret rotated without re-subscribing"
            );
            accounts::set_webhook_secret(&state.db, account_id, &secret).await?;
            return Ok(secret);
        }
        Err(other) => return Err(other.into()),
    }
    accounts::set_webhook_secret(&state.db, account_id, &secret).await?;
    if let Some(old) = old.filter(|old| *old != secret) {
        if let Err(error) = client
            .unsubscribe_webhook(&kommo_webhook_url(state, account_id, &old))
            .await
        {
            tracing::warn!(account.id = account_id, %error, "the old webhook URL stays subscribed in Kommo; its posts are refused");
        }
    }
    tracing::info!(
        account.id = account_id,
        "webhook secret rotated; Kommo's webhook moved to the new URL"
    );
    Ok(secret)
}

/// The `exp` claim of a JWT, read without verifying it (only to show when a token runs out).
fn jwt_expiry(token: &str) -> Option<i64> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()?
        .get("exp")?
        .as_i64()
}

/// Kommo's "access revoked" notification, as its query string carries it.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
pub struct Revocation {
    /// The account that revoked access.
    pub account_id: i64,
    /// The integration's id.
    pub client_uuid: String,
    /// Hex HMAC-SHA256 of `client_uuid|account_id` with the client secret.
    pub signature: String,
}

/// Why a revocation notification was refused.
#[derive(Debug, thiserror::Error)]
pub enum RevocationError {
    /// It is not signed by Kommo for our integration.
    #[error("the signature does not match")]
    BadSignature,
    /// Kommo still accepts the account's token: the notification is stale or replayed.
    #[error("Kommo still accepts the account's token")]
    StillAuthorized,
    /// Kommo could not be asked whether the token still works; the tokens are kept.
    #[error("Kommo could not confirm the revocation: {0}")]
    Unconfirmed(KommoError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether `signature` is Kommo's for `account_id`: hex HMAC-SHA256 of `client_id|account_id`
/// keyed with the client secret, compared in constant time.
pub fn revocation_signed(
    client_id: &str,
    client_secret: &SecretString,
    account_id: i64,
    signature: &str,
) -> bool {
    let Some(tag) = decode_hex(signature) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, client_secret.expose_secret().as_bytes());
    hmac::verify(&key, format!("{client_id}|{account_id}").as_bytes(), &tag).is_ok()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    // Hex digits only: `from_str_radix` alone would also take a sign (`+f`).
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Forgets the tokens of an account whose access Kommo revoked, once the notification is proved
/// to be Kommo's and Kommo refuses the stored token (a cheap account request answers 401, or the
/// refresh is refused). `false` when we did not know the account or held no tokens for it.
pub async fn forget_revoked_account(
    state: &AppState,
    revocation: &Revocation,
) -> Result<bool, RevocationError> {
    let ours = revocation.client_uuid == state.settings.kommo_client_id;
    if !ours
        || !revocation_signed(
            &state.settings.kommo_client_id,
            &state.settings.kommo_client_secret,
            revocation.account_id,
            &revocation.signature,
        )
    {
        return Err(RevocationError::BadSignature);
    }
    let account_id = revocation.account_id;
    let held = match accounts::load_oauth_tokens(&state.db, &state.cipher, account_id).await {
        Ok(tokens) => tokens.is_some(),
        Err(StoreError::NotFound(_)) => false,
        Err(e) => return Err(e.into()),
    };
    if !held {
        return Ok(false);
    }
    let client =
        state
            .engine
            .account_client(account_id)
            .await
            .map_err(|e| match ConnectError::from(e) {
                ConnectError::Store(e) => RevocationError::Store(e),
                ConnectError::Kommo(e) => RevocationError::Unconfirmed(e),
                other => RevocationError::Unconfirmed(KommoError::Decode(other.to_string())),
            })?;
    match client.account_info().await {
        Ok(_) => {
            tracing::warn!(
                account.id = account_id,
                "access-revoked notification ignored: Kommo still accepts the token"
            );
            return Err(RevocationError::StillAuthorized);
        }
        Err(KommoError::Unauthorized | KommoError::RefreshRejected(_) | KommoError::NoToken(_)) => {
        }
        Err(other) => return Err(RevocationError::Unconfirmed(other)),
    }
    let known = accounts::forget_oauth_tokens(&state.db, account_id).await?;
    tracing::info!(
        account.id = revocation.account_id,
        "Kommo access revoked; tokens forgotten"
    );
    Ok(known)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_secret_holder_can_sign_a_revocation() {
        let secret = SecretString::from("s3cret");
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"s3cret");
        let tag = hmac::sign(&key, b"cid|42");
        let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert!(revocation_signed("cid", &secret, 42, &hex));
        assert!(revocation_signed("cid", &secret, 42, &hex.to_uppercase()));
        assert!(!revocation_signed("cid", &secret, 43, &hex));
        assert!(!revocation_signed(
            "cid",
            &SecretString::from("other"),
            42,
            &hex
        ));
        assert!(!revocation_signed("cid", &secret, 42, &hex[..62]));
        assert!(!revocation_signed("cid", &secret, 42, "zz"));
        assert!(!revocation_signed("cid", &secret, 42, ""));
    }

    #[test]
    fn a_signature_with_a_sign_for_a_zero_digit_is_refused() {
        let secret = SecretString::from("s3cret");
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"s3cret");
        // An account whose signature has a byte written `0x`, which `+x` would also parse to.
        let (account, hex, at) = (1..)
            .find_map(|account: i64| {
                let tag = hmac::sign(&key, format!("cid|{account}").as_bytes());
                let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
                let at = (0..hex.len()).step_by(2).find(|&i| &hex[i..=i] == "0")?;
                Some((account, hex, at))
            })
            .expect("some signature has a zero digit");
        assert!(revocation_signed("cid", &secret, account, &hex));
        let signed_plus = format!("{}+{}", &hex[..at], &hex[at + 1..]);
        assert!(!revocation_signed("cid", &secret, account, &signed_plus));
    }

    #[test]
    fn a_jwt_expiry_is_read_and_anything_else_is_none() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"exp": 1900000000}"#);
        assert_eq!(jwt_expiry(&format!("h.{payload}.s")), Some(1_900_000_000));
        assert_eq!(jwt_expiry("not-a-jwt"), None);
    }
}
