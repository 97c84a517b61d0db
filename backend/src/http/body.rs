//! Reading request bodies and path segments so that bad input answers problem+json, not axum's
//! plain-text rejections.

use axum::body::Bytes;
use serde::de::DeserializeOwned;

use super::{ApiError, ApiResult};
use crate::auth::Caller;

/// Parses a JSON body into `T`, or answers 400 with serde's explanation.
pub(super) fn json_body<T: DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
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
