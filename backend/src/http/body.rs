//! Reading request bodies and path segments so that bad input answers problem+json, not axum's
//! plain-text rejections.

use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, FromRequest, Request},
    http::StatusCode,
};
use serde::de::DeserializeOwned;

use super::{ApiError, ApiResult};
use crate::auth::Caller;

/// A request body read whole, whose failures (too large, cut off) answer problem+json.
#[derive(Debug)]
pub(super) struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(Self)
            .map_err(|rejection: BytesRejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::payload_too_large(
                        "The request body is larger than this endpoint accepts.",
                    )
                } else {
                    ApiError::bad_request("unreadable_body", "The request body could not be read.")
                }
            })
    }
}

/// Parses a JSON body into `T`, or answers 400 with serde's explanation.
pub(super) fn json_body<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
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
    use super::{dry_run, launch, rules, variables};
    use crate::store::{variables as stored_variables, StoreError};

    let text = String::from_utf8_lossy(data);
    vec![
        ("POST /api/v1/rules", rules::parse_save(data).map(drop)),
        (
            "POST /api/v1/rules/{id}/links",
            rules::parse_new_link(data)
                .and_then(|link| link.check().map_err(|e| StoreError::from(e).into())),
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
    ]
}
