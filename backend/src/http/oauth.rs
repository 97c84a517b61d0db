//! `/oauth/kommo/…`: Kommo's OAuth redirect (a user granted access, or a public integration was
//! installed) and its "access revoked" notification. Neither carries a disposable token: the
//! callback is proved by the code exchange, the revocation by its HMAC signature (and Kommo's
//! refusal of the stored token). The callback, which makes us call Kommo, is capped per client
//! address (`RULEBOOK_OAUTH_CALLBACKS_PER_MINUTE`, behind `RULEBOOK_TRUSTED_PROXY_HOPS` proxies).

use axum::{
    extract::State,
    http::{request::Parts, StatusCode},
    response::Html,
};
use serde::Deserialize;

use super::{
    body::ApiQuery,
    routes::{Access, Route, Verb},
    ApiError, ApiResult,
};
use crate::{
    connect::{self, ConnectError, Revocation, RevocationError},
    startup::AppState,
};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new(Verb::Get, "/oauth/kommo/callback", Access::Public, callback),
        Route::new(Verb::Get, "/oauth/kommo/revoked", Access::Public, revoked),
    ]
}

/// The query of Kommo's redirect. `state` and `from_widget` are accepted and not needed: see
/// [`crate::connect`] on CSRF.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct Callback {
    code: Option<String>,
    referer: Option<String>,
    #[allow(dead_code)]
    state: Option<String>,
    #[allow(dead_code)]
    from_widget: Option<String>,
    error: Option<String>,
}

async fn callback(
    State(state): State<AppState>,
    parts: Parts,
    ApiQuery(query): ApiQuery<Callback>,
) -> ApiResult<Html<String>> {
    state.oauth_throttle.check(&parts)?;
    if let Some(error) = query.error {
        return Err(ApiError::bad_request(
            "access_denied",
            format!("Kommo did not grant access ({}).", escape(&error)),
        ));
    }
    let (Some(code), Some(referer)) = (query.code, query.referer) else {
        return Err(ApiError::bad_request(
            "missing_code",
            "Kommo's redirect must carry `code` and `referer`.",
        ));
    };
    let connected = connect::connect_with_code(&state, &referer, &code)
        .await
        .map_err(connect_error)?;
    Ok(Html(format!(
        "<!doctype html><meta charset=\"utf-8\"><title>Rulebook connected</title>\
         <h1>Rulebook is connected</h1><p>Kommo account {} ({}) is connected. \
         You can close this window and build rules in the Rulebook widget.</p>",
        connected.account_id,
        escape(&connected.subdomain)
    )))
}

/// The problem a failed connection answers with.
pub(super) fn connect_error(err: ConnectError) -> ApiError {
    match err {
        ConnectError::UnknownReferer(_) => ApiError::bad_request(
            "unknown_referer",
            "The referer is not the host of a Kommo account.",
        ),
        ConnectError::CodeRejected(hint) => ApiError::bad_request(
            "code_rejected",
            format!(
                "Kommo refused the authorization code ({}): it expired or was used already; \
                 grant access again.",
                hint.trim_end_matches('.')
            ),
        ),
        ConnectError::TokenRefused | ConnectError::AccountMismatch { .. } => ApiError::bad_request(
            "token_refused",
            format!("{}.", capitalize(&err.to_string())),
        ),
        ConnectError::BaseUrlOverride => ApiError::bad_request(
            "base_url_refused",
            "The Kommo API base can be overridden only in a sandbox.",
        ),
        ConnectError::Kommo(e) => {
            tracing::warn!(error = %e, "connecting an account failed at Kommo");
            ApiError::bad_gateway(
                "kommo_unavailable",
                "Kommo could not be reached to connect the account; try again.",
            )
        }
        ConnectError::Store(e) => e.into(),
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn revoked(
    State(state): State<AppState>,
    ApiQuery(revocation): ApiQuery<Revocation>,
) -> ApiResult<StatusCode> {
    match connect::forget_revoked_account(&state, &revocation).await {
        Ok(_) => Ok(StatusCode::NO_CONTENT),
        Err(RevocationError::BadSignature) => Err(ApiError::unauthorized(
            "bad_signature",
            "The notification is not signed by Kommo for this integration.",
        )),
        Err(RevocationError::StillAuthorized) => Err(ApiError::conflict(
            "access_not_revoked",
            "Kommo still accepts this account's token, so the notification was not acted on.",
        )),
        Err(RevocationError::Unconfirmed(e)) => {
            tracing::warn!(error = %e, "could not confirm a revocation with Kommo; tokens kept");
            Err(ApiError::bad_gateway(
                "kommo_unavailable",
                "Kommo could not be reached to confirm the revocation; the connection is kept.",
            ))
        }
        Err(RevocationError::Store(e)) => Err(e.into()),
    }
}
