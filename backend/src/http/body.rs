//! Reading request bodies, path segments and query strings so that bad input answers
//! problem+json, not axum's plain-text rejections. Handlers take [`ApiJson`], [`ApiPath`],
//! [`ApiQuery`] and [`RawBody`], never axum's `Json`, `Path` or `Query` themselves.

use axum::{
    body::Bytes,
    extract::{
        rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection},
        FromRequest, FromRequestParts, Request,
    },
    http::{header, HeaderMap, StatusCode},
};
use serde::de::DeserializeOwned;

use super::{ApiError, ApiResult};
use crate::auth::Caller;

/// A JSON body read as `T`. Without `Content-Type: application/json` it answers 415
/// `unsupported_media_type`; malformed JSON, or JSON of another shape, 400 `bad_json`.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub(super) struct ApiJson<T>(pub T);

/// Path parameters read as `T`; a segment that cannot be read (not UTF-8 once decoded, not of
/// the type) answers 400 `bad_path`.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub(super) struct ApiPath<T>(pub T);

/// A query string read as `T`; one that cannot be read answers 400 `bad_query`.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub(super) struct ApiQuery<T>(pub T);

/// The sentence of an axum rejection, ending with a full stop.
fn sentence(text: &str) -> String {
    format!("{}.", text.trim().trim_end_matches('.'))
}

fn unreadable_body(rejection: &BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::payload_too_large("The request body is larger than this endpoint accepts.")
    } else {
        ApiError::bad_request("unreadable_body", "The request body could not be read.")
    }
}

fn json_content_type_needed() -> ApiError {
    ApiError::unsupported_media_type(
        "This endpoint reads JSON: send the body with the header Content-Type: application/json.",
    )
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => json_content_type_needed(),
            JsonRejection::BytesRejection(inner) => unreadable_body(&inner),
            JsonRejection::JsonSyntaxError(_) | JsonRejection::JsonDataError(_) => {
                ApiError::bad_request(
                    "bad_json",
                    sentence(&format!(
                        "The request body is not the JSON expected: {}",
                        rejection.body_text()
                    )),
                )
            }
            other => ApiError::bad_request(
                "bad_json",
                sentence(&format!(
                    "The request body could not be read as JSON: {}",
                    other.body_text()
                )),
            ),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        match rejection {
            PathRejection::FailedToDeserializePathParams(inner) => ApiError::bad_request(
                "bad_path",
                sentence(&format!(
                    "A part of the URL path could not be read: {}",
                    inner.body_text()
                )),
            ),
            // A route that names no such parameter: our mistake, not the caller's.
            other => ApiError::internal(other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request(
            "bad_query",
            sentence(&format!(
                "The query string could not be read: {}",
                rejection.body_text()
            )),
        )
    }
}

/// Whether the request says its body is JSON (`application/json` or `application/*+json`).
fn says_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses an optional JSON body: an empty body gives `T::default()`, any other must be sent as
/// JSON (else 415) and parse as `T` (else 400).
pub(super) fn optional_json_body<T: DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<T> {
    if body.is_empty() {
        return Ok(T::default());
    }
    if !says_json(headers) {
        return Err(json_content_type_needed());
    }
    json_body(body)
}

/// A request body read whole, whose failures (too large, cut off) answer problem+json.
#[derive(Debug)]
pub(super) struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(Self)
            .map_err(|rejection: BytesRejection| unreadable_body(&rejection))
    }
}

/// Parses a JSON body into `T`, or answers 400 with serde's explanation.
fn json_body<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "bad_json",
            format!("The request body is not the JSON expected: {e}."),
        )
    })
}

/// Parses a numeric id from the path; anything else names nothing (404).
pub(super) fn path_id(raw: &str, what: &str) -> ApiResult<i64> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("No {what} with this id exists in your account.")))
}

/// Only account administrators change rules, variables and jobs.
pub(super) fn require_admin(caller: &Caller) -> ApiResult<()> {
    if caller.is_admin {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "admin_required",
            "Only an account administrator can change this.",
        ))
    }
}

/// Every request body and path segment the API reads, parsed from `data` as its handler
/// parses it before touching the database, each named by what reads it: `Ok` when accepted, else
/// the problem it answers. The `api_bodies` fuzz target checks that each refusal is a 4xx with a
/// code, never a panic or a 500.
pub(crate) fn parse_every_request(data: &[u8]) -> Vec<(&'static str, ApiResult<()>)> {
    use super::{dry_run, entities, launch, links, receivers, rule_ops, rules, variables};
    use crate::store::{variables as stored_variables, StoreError};

    let text = String::from_utf8_lossy(data);
    vec![
        (
            "POST /api/v1/rules",
            json_body::<domain::api::SaveRule>(data)
                .and_then(|input| rules::parse_save_body(&input))
                .map(drop),
        ),
        (
            "POST /api/v1/rules/{id}/links",
            json_body::<rules::NewLink>(data).and_then(|input| {
                rules::new_link(input)
                    .check()
                    .map_err(|e| StoreError::from(e).into())
            }),
        ),
        (
            "POST /api/v1/rules/{id}/dry-run",
            json_body::<dry_run::DryRunRequest>(data).map(drop),
        ),
        (
            "POST /api/v1/rules/{id}/replay",
            json_body::<dry_run::ReplayRequest>(data).map(drop),
        ),
        (
            "POST /api/v1/rules/dry-run",
            json_body::<dry_run::DraftDryRunRequest>(data)
                .and_then(|draft| dry_run::draft_rule(draft.rule))
                .map(drop),
        ),
        (
            "POST /api/v1/rules/replay",
            json_body::<dry_run::DraftReplayRequest>(data)
                .and_then(|draft| dry_run::draft_rule(draft.rule))
                .map(drop),
        ),
        (
            "PUT /api/v1/rules/{id}/position",
            json_body::<rule_ops::MoveRule>(data).map(drop),
        ),
        (
            "POST /api/v1/rules/import",
            json_body::<domain::portable::Document>(data).and_then(|document| {
                rule_ops::check_format(&document)?;
                // Every rule read as the import reads it, matched against no account.
                for matched in domain::portable::match_document(&document, 0, None)
                    .into_iter()
                    .flatten()
                {
                    let definition = serde_json::from_str(&matched.rule.to_json())
                        .map_err(|e| ApiError::unprocessable("invalid", format!("{e}.")))?;
                    rules::parse_rule_body_checked(definition)?;
                }
                Ok(())
            }),
        ),
        (
            "POST /api/v1/rules/{id}/run",
            json_body::<domain::api::RunRule>(data).and_then(|run| {
                crate::launch::entity_type(&run.entity_type)
                    .and_then(|_| crate::launch::entity_ids(&run.entity_ids))
                    .map(drop)
                    .map_err(launch::launch_error)
            }),
        ),
        (
            "PUT /api/v1/variables/{name}",
            json_body::<variables::WriteVariable>(data).and_then(|write| {
                stored_variables::check_value(&write.value).map_err(|e| StoreError::from(e).into())
            }),
        ),
        (
            "/api/v1/variables/{name}",
            stored_variables::check_name(&text).map_err(|e| StoreError::from(e).into()),
        ),
        ("/api/v1/rules/{id}", path_id(&text, "rule").map(drop)),
        (
            "POST /api/v1/links",
            json_body::<links::LinkBody>(data).and_then(|input| {
                links::parse_link_body(input)
                    .map(drop)
                    .map_err(ApiError::from)
            }),
        ),
        (
            "POST /api/v1/receivers",
            json_body::<receivers::NameReceiver>(data).and_then(|input| {
                crate::store::receivers::check_name(&input.name)
                    .map(drop)
                    .map_err(|e| StoreError::from(e).into())
            }),
        ),
        (
            "PUT /api/v1/account/settings",
            json_body::<crate::store::account_settings::AccountSettings>(data)
                .and_then(super::account::checked_settings)
                .map(drop),
        ),
        (
            "/api/v1/entities/{entity_type}/search",
            entities::kommo_entity(&text).map(drop),
        ),
        (
            "GET /api/v1/entities/{entity_type}/search?q=",
            entities::search_query(&text).map(drop),
        ),
    ]
}
