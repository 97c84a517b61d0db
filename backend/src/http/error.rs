//! The one error type of the HTTP layer, answered as `application/problem+json`.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use domain::api::{FieldError, Problem};

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
