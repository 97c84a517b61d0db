//! The client's errors: what went wrong talking to Kommo, in terms a caller can act on.

use serde::Deserialize;

/// One entry of Kommo's `validation-errors[].errors[]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FieldProblem {
    /// Kommo's code, e.g. `NotSupportedChoice`.
    #[serde(default)]
    pub code: String,
    /// Path of the offending field.
    #[serde(default)]
    pub path: String,
    /// Kommo's sentence.
    #[serde(default)]
    pub detail: String,
}

/// The problems of one item of a batch, keyed by its `request_id`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ItemProblems {
    /// The item's `request_id` (or index).
    #[serde(default)]
    pub request_id: String,
    /// Its problems.
    #[serde(default)]
    pub errors: Vec<FieldProblem>,
}

/// Kommo's `application/problem+json` body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct Problem {
    /// Title.
    #[serde(default)]
    pub title: String,
    /// Status.
    #[serde(default)]
    pub status: u16,
    /// Detail sentence.
    #[serde(default)]
    pub detail: String,
    /// Per-item validation problems.
    #[serde(default, rename = "validation-errors")]
    pub validation_errors: Vec<ItemProblems>,
}

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum KommoError {
    /// Kommo answered 403: the account is blocked (usually for rate-limit excess). The client stops
    /// calling it until an operator clears the alert.
    #[error("Kommo blocked account {0} (403); calls stay stopped until the alert is cleared")]
    AccountBlocked(String),
    /// Kommo refused the input (400).
    #[error("Kommo refused the request: {} {:?}", .0.detail, .0.validation_errors)]
    Rejected(Problem),
    /// 404.
    #[error("not found in Kommo")]
    NotFound,
    /// The token is invalid even after a refresh.
    #[error("Kommo does not accept the account's token (401)")]
    Unauthorized,
    /// The refresh token was refused (revoked, used twice, or the integration was removed).
    #[error("Kommo refused the token refresh: {0}")]
    RefreshRejected(String),
    /// The authorization code was refused (expired, used already, or for another integration).
    #[error("Kommo refused the authorization code: {0}")]
    CodeRejected(String),
    /// No token is stored for the account.
    #[error("no token is stored for account {0}")]
    NoToken(String),
    /// Retries ran out.
    #[error("gave up after {attempts} attempts; last failure: {last}")]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// An unexpected status.
    #[error("Kommo answered {status}: {body}")]
    UnexpectedStatus {
        /// HTTP status.
        status: u16,
        /// Start of the body.
        body: String,
    },
    /// The body did not have the documented shape.
    #[error("Kommo's response did not have the expected shape: {0}")]
    Decode(String),
    /// The token store failed.
    #[error("token store failed: {0}")]
    TokenStore(String),
    /// The configured base URL is not usable.
    #[error("invalid base URL: {0}")]
    BaseUrl(String),
    /// A read-only client (a dry run, a replay) was asked to change something; nothing was sent.
    #[error("a read-only Kommo client refused to send {0}: dry runs and replays change nothing")]
    ReadOnly(String),
}
