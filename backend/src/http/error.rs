//! The one error type of the HTTP layer, answered as `application/problem+json`.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use domain::api::{FieldError, Problem};

/// Every code an error of the API can carry, with what it means: the list the OpenAPI document
/// gives. A test fails when the code names one that is not here.
pub const CODES: &[(&str, &str)] = &[
    (
        "access_denied",
        "the Kommo user declined to install the integration",
    ),
    (
        "access_not_revoked",
        "Kommo's notice names an account whose access is still valid",
    ),
    (
        "admin_required",
        "only an administrator of the account may do this",
    ),
    ("bad_json", "the body is not JSON of the expected shape"),
    ("bad_page", "`limit` or `offset` is out of range"),
    ("bad_path", "a path parameter is not of its type"),
    ("bad_query", "the query string cannot be read"),
    (
        "bot_token_invalid",
        "the Salesbot's token does not verify (signature, algorithm, expiry or integration)",
    ),
    (
        "bad_shape",
        "(in `errors`) the value is not a rule Rulebook can read",
    ),
    (
        "bad_signature",
        "the signature of Kommo's notice does not verify",
    ),
    (
        "base_url_refused",
        "the account's address is not a Kommo host",
    ),
    ("code_rejected", "Kommo refused the authorization code"),
    ("duplicate", "something of that name or key already exists"),
    (
        "empty_interval",
        "(in `errors`) a working-hours interval starts and ends at the same time",
    ),
    (
        "hook_unauthorized",
        "the hook's secret or key does not name an account or rule",
    ),
    ("internal", "a fault on our side, logged; try again"),
    (
        "invalid",
        "the body is understood but invalid; `errors` holds a JSON pointer per problem",
    ),
    ("invalid_entities", "the entities named cannot be run on"),
    (
        "kommo_unavailable",
        "Kommo could not be reached or read just now",
    ),
    ("method_not_allowed", "the path does not take this method"),
    ("metrics_token", "`/metrics` needs its bearer token"),
    (
        "missing_code",
        "Kommo's redirect carries no authorization code",
    ),
    (
        "not_connected",
        "the account has not connected Rulebook to Kommo yet",
    ),
    ("not_found", "nothing is there for this account"),
    ("not_manual", "the rule cannot be run by hand"),
    (
        "other_account",
        "the Kommo webhook's body names another account than its URL",
    ),
    ("rule_disabled", "the rule is disabled"),
    (
        "salesbot_request_invalid",
        "the Salesbot's request carries no token or no bot step to continue",
    ),
    (
        "rule_unreadable",
        "the stored rule cannot be read by this version",
    ),
    ("token_expired", "the disposable token has expired"),
    ("token_invalid", "the disposable token does not verify"),
    ("token_missing", "no disposable token was sent"),
    (
        "token_not_yet_valid",
        "the disposable token is not valid yet",
    ),
    ("token_refused", "Kommo refused to issue a token"),
    ("token_replayed", "the disposable token was used before"),
    (
        "token_wrong_client",
        "the disposable token is for another integration",
    ),
    ("too_large", "the body is larger than the endpoint accepts"),
    (
        "too_many_intervals",
        "(in `errors`) the working hours have more intervals than Rulebook keeps",
    ),
    (
        "too_many_requests",
        "more requests than the account's share; try again later",
    ),
    (
        "unknown_referer",
        "the account's address is missing or unknown",
    ),
    ("unreadable_body", "the body cannot be read"),
    (
        "unsupported_media_type",
        "the body is not of a media type the endpoint reads",
    ),
];

/// A result whose error answers as problem+json.
pub type ApiResult<T, E = ApiError> = Result<T, E>;

/// An error the API answers with: a status, a stable code and a sentence.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    errors: Vec<FieldError>,
}

impl ApiError {
    /// 401: the caller could not be verified.
    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code,
            detail: detail.into(),
            errors: vec![],
        }
    }

    /// 404: nothing is there for this tenant.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            detail: detail.into(),
            errors: vec![],
        }
    }

    /// 422: the body is understood but invalid, with a path per problem.
    pub fn invalid(detail: impl Into<String>, errors: Vec<FieldError>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid",
            detail: detail.into(),
            errors,
        }
    }

    /// 422 with a code of its own: the request is well-formed but cannot apply (e.g. running a
    /// rule that is not manual).
    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code,
            detail: detail.into(),
            errors: vec![],
        }
    }

    /// This error with field-level problems, each with a path into the request body.
    #[must_use]
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    /// 400: the request cannot be read (e.g. malformed JSON).
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            detail: detail.into(),
            errors: vec![],
        }
    }

    /// 403: the caller is known but may not do this (e.g. a non-admin editing rules).
    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            code,
            detail: detail.into(),
            errors: vec![],
        }
    }

    /// 409: the request conflicts with the stored state (a duplicate, a stale version).
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::CONFLICT,
            code,
            detail: detail.into(),
            errors: vec![],
        }
    }

    /// 413: the body is larger than the endpoint accepts.
    pub fn payload_too_large(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "too_large",
            detail: detail.into(),
            errors: vec![],
        }
    }

    /// 405: the path exists, the method does not.
    pub fn method_not_allowed(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "method_not_allowed",
            detail: detail.into(),
            errors: vec![],
        }
    }

    /// 415: the body is not of a media type the endpoint reads.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "unsupported_media_type",
            detail: detail.into(),
            errors: vec![],
        }
    }

    /// 429: the caller sent more than its share; it may try again later.
    pub fn too_many_requests(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            code,
            detail: detail.into(),
            errors: vec![],
        }
    }

    /// 502: Kommo, which we depend on for this request, failed.
    pub fn bad_gateway(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_GATEWAY,
            code,
            detail: detail.into(),
            errors: vec![],
        }
    }

    /// 500: logged once here, opaque to the client.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::opaque()
    }

    /// 500 saying nothing of its cause, which the caller logs.
    fn opaque() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            detail: "Something went wrong on our side; it has been logged.".into(),
            errors: vec![],
        }
    }

    /// The answer to a request whose handler panicked: the opaque 500, the panic's text kept out of
    /// it (the panic hook has printed it, and this logs that it happened). For
    /// `tower_http::catch_panic::CatchPanicLayer::custom`.
    pub fn for_panic(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
        tracing::error!("a request handler panicked; answered 500");
        Self::opaque().into_response()
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Its field-level problems.
    pub fn field_errors(&self) -> &[FieldError] {
        &self.errors
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        Self::internal(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: format!("https://rulebook.dev/problems/{}", self.code),
            title: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_string(),
            errors: self.errors,
        };
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match err {
            StoreError::NotFound(what) => Self::not_found(format!("No {what} with this id exists in your account.")),
            StoreError::VersionConflict { expected, found } => Self::conflict(
                "version_conflict",
                format!("This was changed by someone else (version {found}, you edited version {expected}); reload it."),
            ),
            StoreError::Duplicate(what) => Self::conflict("duplicate", format!("{what} already exists.")),
            StoreError::Invalid(invalid) => Self::invalid(
                invalid.message.clone(),
                vec![FieldError { path: invalid.path, code: invalid.code.to_string(), message: invalid.message }],
            ),
            StoreError::Cipher(err) => Self::internal(err),
            StoreError::Db(err) => Self::internal(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CODES;

    /// The codes written as string literals where an [`super::ApiError`] is made in `source`: the
    /// first argument of one of its constructors, or the value of its `code` field.
    fn codes_in(source: &str) -> Vec<String> {
        let mut found = Vec::new();
        for (marker, after_paren) in [("ApiError::", true), ("code: \"", false)] {
            for (at, _) in source.match_indices(marker) {
                let whole_word = source[..at]
                    .chars()
                    .next_back()
                    .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
                if !whole_word {
                    continue;
                }
                let rest = &source[at + marker.len()..];
                let literal = if after_paren {
                    let Some(open) = rest.find('(') else { continue };
                    let constructor = &rest[..open];
                    if !constructor
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_')
                        || DETAIL_FIRST.contains(&constructor)
                    {
                        continue;
                    }
                    let after = rest[open + 1..].trim_start();
                    match after.strip_prefix('"') {
                        Some(literal) => literal,
                        None => continue,
                    }
                } else {
                    rest
                };
                if let Some(end) = literal.find('"') {
                    found.push(literal[..end].to_owned());
                }
            }
        }
        found
    }

    /// The constructors that take no code (theirs is fixed): their first argument is the sentence.
    const DETAIL_FIRST: &[&str] = &[
        "not_found",
        "invalid",
        "payload_too_large",
        "method_not_allowed",
        "unsupported_media_type",
        "internal",
    ];

    fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read the source folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_error_code_the_backend_uses_is_documented() {
        let mut files = Vec::new();
        sources(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let mut used = Vec::new();
        for file in files {
            let source = std::fs::read_to_string(&file).expect("read a source file");
            used.extend(codes_in(&source));
        }
        assert!(
            used.iter().any(|c| c == "not_connected"),
            "the scan finds codes"
        );
        let missing: Vec<_> = used
            .iter()
            .filter(|code| !CODES.iter().any(|(known, _)| known == code))
            .collect();
        assert!(
            missing.is_empty(),
            "add these codes to error::CODES: {missing:?}"
        );
    }

    #[test]
    fn the_scan_reads_codes_split_over_lines() {
        let source = "ApiError::conflict(\n    \"a_code\",\n) ApiError::not_found(\"No.\") enum_code: \"X\" code: \"b\"";
        assert_eq!(codes_in(source), vec!["a_code".to_owned(), "b".to_owned()]);
    }
}
