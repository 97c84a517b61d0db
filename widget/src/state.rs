//! DOM-free state of the app's screens, so plain `cargo test` covers how answers become screens.

use serde::de::DeserializeOwned;

use crate::bridge::RawResponse;
use domain::api::{FieldError, Problem};

/// Something loaded from the backend.
#[derive(Debug, Clone, PartialEq)]
pub enum Remote<T> {
    /// The request is under way.
    Loading,
    /// The answer arrived.
    Ready(T),
    /// It failed; the error says how, for the user.
    Failed(UiError),
}

/// A failure as the user should see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiError {
    /// 401: the backend could not verify the Kommo token (wrong secret key, expired, other account).
    NotAuthorized {
        /// The backend's sentence.
        detail: String,
    },
    /// 403: the user may not do this (e.g. only administrators edit rules).
    Forbidden {
        /// The backend's sentence.
        detail: String,
    },
    /// No answer at all: the backend is down or unreachable from this browser.
    Unreachable,
    /// 422: the input is invalid; each error has a path to show it at its field.
    Invalid {
        /// The backend's sentence.
        detail: String,
        /// Field-level problems.
        errors: Vec<FieldError>,
    },
    /// Any other problem, with the backend's code and sentence.
    Problem {
        /// The machine-readable code.
        code: String,
        /// The sentence.
        detail: String,
    },
}

impl UiError {
    /// Classifies a non-2xx answer.
    pub fn from_response(raw: &RawResponse) -> Self {
        let problem: Option<Problem> = serde_json::from_str(&raw.body).ok();
        let detail = problem
            .as_ref()
            .map(|p| p.detail.clone())
            .unwrap_or_default();
        match raw.status {
            0 => Self::Unreachable,
            401 => Self::NotAuthorized { detail },
            403 => Self::Forbidden { detail },
            422 => Self::Invalid {
                detail,
                errors: problem.map(|p| p.errors).unwrap_or_default(),
            },
            status => Self::Problem {
                code: problem.map_or_else(|| format!("http_{status}"), |p| p.code),
                detail: if detail.is_empty() {
                    format!("The backend answered HTTP {status}.")
                } else {
                    detail
                },
            },
        }
    }
}

/// Turns a raw answer into a typed value or a user-facing error.
pub fn decode<T: DeserializeOwned>(raw: &RawResponse) -> Result<T, UiError> {
    if !(200..300).contains(&raw.status) {
        return Err(UiError::from_response(raw));
    }
    serde_json::from_str(&raw.body).map_err(|e| UiError::Problem {
        code: "bad_response".into(),
        detail: format!("The backend's answer could not be read: {e}."),
    })
}

impl<T> From<Result<T, UiError>> for Remote<T> {
    fn from(r: Result<T, UiError>) -> Self {
        match r {
            Ok(v) => Self::Ready(v),
            Err(e) => Self::Failed(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::api::Me;

    fn raw(status: u16, body: &str) -> RawResponse {
        RawResponse {
            status,
            body: body.into(),
        }
    }

    #[test]
    fn a_2xx_answer_decodes() {
        let me: Me = decode(&raw(
            200,
            r#"{"account_id":1,"subdomain":"acme","user_id":2,"is_admin":true}"#,
        ))
        .expect("me");
        assert_eq!(me.subdomain, "acme");
    }

    #[test]
    fn a_401_problem_becomes_not_authorized_with_the_backends_sentence() {
        let body = r#"{"type":"x","title":"Unauthorized","status":401,"detail":"Bad signature.","code":"token_bad_signature"}"#;
        assert_eq!(
            decode::<Me>(&raw(401, body)),
            Err(UiError::NotAuthorized {
                detail: "Bad signature.".into()
            })
        );
    }

    #[test]
    fn no_answer_is_unreachable_and_html_errors_keep_their_status() {
        assert_eq!(decode::<Me>(&raw(0, "")), Err(UiError::Unreachable));
        assert_eq!(
            decode::<Me>(&raw(502, "<html>bad gateway</html>")),
            Err(UiError::Problem {
                code: "http_502".into(),
                detail: "The backend answered HTTP 502.".into()
            })
        );
    }

    #[test]
    fn a_422_keeps_its_field_errors() {
        let body = r#"{"type":"x","title":"Unprocessable Entity","status":422,"detail":"The rule is invalid.","code":"invalid",
            "errors":[{"path":"/blocks/1/conditions/2","code":"operator_mismatch","message":"block 2, condition 3: no"}]}"#;
        match decode::<Me>(&raw(422, body)) {
            Err(UiError::Invalid { errors, .. }) => {
                assert_eq!(errors[0].path, "/blocks/1/conditions/2")
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_malformed_success_is_a_bad_response() {
        let err = decode::<Me>(&raw(200, "{}")).expect_err("missing fields");
        assert!(matches!(err, UiError::Problem { ref code, .. } if code == "bad_response"));
    }
}
