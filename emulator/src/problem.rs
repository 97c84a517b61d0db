//! Error responses as Kommo gives them: `application/problem+json` with `validation-errors` for bad
//! input, and the HTML pages nginx serves for rate-limit excess (429) and a blocked account (403).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// One entry of Kommo's `validation-errors[].errors[]`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Kommo's machine code, e.g. `NotSupportedChoice` or `InvalidType`.
    pub code: &'static str,
    /// The dotted path of the offending field, e.g. `custom_fields_values.0.values.0.enum_id`.
    pub path: String,
    /// A human sentence.
    pub detail: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(code: &'static str, path: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            code,
            path: path.into(),
            detail: detail.into(),
        }
    }
}

/// A failed API call, rendered the way Kommo renders it.
#[derive(Debug, Clone)]
pub enum ApiFailure {
    /// 400 with `validation-errors`, grouped by the `request_id` (or array index) of the item.
    Validation(Vec<(String, Vec<FieldError>)>),
    /// 400 for a body that is not the JSON shape the endpoint takes.
    BadRequest(String),
    /// 401: missing, unknown, revoked or expired token.
    Unauthorized(&'static str),
    /// 404.
    NotFound,
    /// 405 for a method the resource does not have.
    MethodNotAllowed,
    /// 429 past the per-account request rate: an HTML body and no `Retry-After`.
    TooManyRequests,
    /// 403 once the account is blocked for repeated excess: an HTML body on every request.
    Blocked,
    /// An injected server error with the given status.
    Injected(StatusCode),
}

fn problem(status: StatusCode, detail: &str, extra: Option<(&str, Value)>) -> Response {
    let mut body = json!({
        "title": status.canonical_reason().unwrap_or("Error"),
        "type": format!("https://httpstatus.es/{}", status.as_u16()),
        "status": status.as_u16(),
        "detail": detail,
    });
    if let (Some((key, value)), Some(map)) = (extra, body.as_object_mut()) {
        map.insert(key.to_owned(), value);
    }
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

fn html(status: StatusCode, title: &str) -> Response {
    let body = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    response
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        match self {
            ApiFailure::Validation(groups) => {
                let groups: Vec<Value> = groups
                    .into_iter()
                    .map(|(request_id, errors)| {
                        json!({
                            "request_id": request_id,
                            "errors": errors.into_iter().map(|e| json!({
                                "code": e.code, "path": e.path, "detail": e.detail,
                            })).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                problem(
                    StatusCode::BAD_REQUEST,
                    "Request validation failed",
                    Some(("validation-errors", Value::Array(groups))),
                )
            }
            ApiFailure::BadRequest(detail) => problem(StatusCode::BAD_REQUEST, &detail, None),
            ApiFailure::Unauthorized(hint) => problem(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                Some(("hint", json!(hint))),
            ),
            ApiFailure::NotFound => problem(StatusCode::NOT_FOUND, "Not Found", None),
            ApiFailure::MethodNotAllowed => {
                problem(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed", None)
            }
            ApiFailure::TooManyRequests => {
                html(StatusCode::TOO_MANY_REQUESTS, "429 Too Many Requests")
            }
            ApiFailure::Blocked => html(StatusCode::FORBIDDEN, "403 Forbidden"),
            ApiFailure::Injected(status) => problem(status, "Injected fault", None),
        }
    }
}
