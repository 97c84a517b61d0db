//! Bodies of the backend's HTTP API, shared so that the widget and the backend cannot drift apart.

use serde::{Deserialize, Serialize};

/// `GET /api/v1/me`: who the verified disposable token says the caller is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    /// The Kommo account id: the tenant.
    pub account_id: i64,
    /// The account's subdomain, e.g. `acme` for `acme.kommo.com`.
    pub subdomain: String,
    /// The Kommo user who opened the widget.
    pub user_id: i64,
    /// Whether that user is an account administrator (only admins edit rules).
    pub is_admin: bool,
}

/// An `application/problem+json` body (RFC 9457) with a machine-readable `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// A URI reference naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short, human-readable summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// A sentence explaining this occurrence.
    pub detail: String,
    /// A stable, machine-readable code such as `token_expired`.
    pub code: String,
    /// Field-level problems, each with a path into the request body.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One problem at one place of a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Where the problem is, e.g. `blocks[1].conditions[2]`.
    pub path: String,
    /// A stable code for the problem.
    pub code: String,
    /// A sentence for the user.
    pub message: String,
}
