//! Paging of lists and histories: `?limit=&offset=`. A list answers at most `limit` items (default
//! [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]) starting at `offset` in its order; a page shorter than
//! the limit is the last one.

use axum::{
    extract::{FromRequestParts, Query},
    http::request::Parts,
};
use serde::Deserialize;

use super::ApiError;
use crate::store::Page;

/// Items of a page when the request names no `limit`.
pub const DEFAULT_LIMIT: i64 = 100;
/// The most items of one page.
pub const MAX_LIMIT: i64 = 500;

/// The paging parameters as the query holds them (numbers are checked by [`Paged`], so that a bad
/// one answers with its own sentence).
#[derive(Debug, Deserialize)]
struct RawPage {
    limit: Option<String>,
    offset: Option<String>,
}

/// The paging parameters as documented.
#[allow(dead_code)] // read only for its schema
#[derive(schemars::JsonSchema)]
pub(super) struct PageParameters {
    /// How many items to answer: 1 to 500, 100 when absent.
    #[schemars(range(min = 1, max = 500))]
    limit: Option<i64>,
    /// How many items of the list to skip first; 0 when absent.
    #[schemars(range(min = 0))]
    offset: Option<i64>,
}

/// The page a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Paged(pub Page);

fn number(raw: Option<&str>, name: &str, default: i64, max: i64) -> Result<i64, ApiError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .map(|n| n.min(max))
        .ok_or_else(|| {
            ApiError::bad_request(
                "bad_page",
                format!(
                    "`{name}` must be a whole number from 0 up; `limit` goes up to {MAX_LIMIT}."
                ),
            )
        })
}

impl<S: Send + Sync> FromRequestParts<S> for Paged {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(raw) = Query::<RawPage>::from_request_parts(parts, state)
            .await
            .map_err(|_| {
                ApiError::bad_request("bad_page", "The query string could not be read.")
            })?;
        let limit = number(raw.limit.as_deref(), "limit", DEFAULT_LIMIT, MAX_LIMIT)?.max(1);
        let offset = number(raw.offset.as_deref(), "offset", 0, i64::MAX)?;
        Ok(Self(Page { limit, offset }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_defaults_caps_and_refuses_what_is_not_a_count() {
        assert_eq!(number(None, "limit", 100, 500).ok(), Some(100));
        assert_eq!(number(Some("20"), "limit", 100, 500).ok(), Some(20));
        assert_eq!(number(Some("100000"), "limit", 100, 500).ok(), Some(500));
        assert!(number(Some("-1"), "offset", 0, i64::MAX).is_err());
        assert!(number(Some("ten"), "offset", 0, i64::MAX).is_err());
    }
}
