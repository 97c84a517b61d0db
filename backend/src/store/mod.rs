//! The stores: every table the backend keeps, each behind a module of service functions that take a
//! [`Db`](crate::db::Db) or a connection inside the caller's transaction.
//!
//! Every function is scoped to an account id that the caller got from a verified token or a
//! verified webhook secret; none of them trusts an id from a request body.

pub mod account_settings;
pub mod accounts;
pub mod execution_log;
pub mod launches;
pub mod rate_limit;
pub mod receivers;
pub mod rules;
pub mod schema;
pub mod secrets;
pub mod seen_tokens;
pub mod token_cipher;
pub mod trigger_links;
pub mod variables;

/// A slice of a list: at most `limit` items after skipping `offset`, in the list's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// The most items.
    pub limit: i64,
    /// Items skipped from the start.
    pub offset: i64,
}

impl Page {
    /// Everything.
    pub const ALL: Page = Page {
        limit: i64::MAX,
        offset: 0,
    };
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Nothing with that id exists for this account.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The row changed since the caller read it.
    #[error("expected version {expected}, but the stored version is {found}")]
    VersionConflict {
        /// The version the caller based its change on.
        expected: i64,
        /// The version stored now.
        found: i64,
    },
    /// A unique constraint refused the write, e.g. a second rule with the same name.
    #[error("{0} already exists")]
    Duplicate(&'static str),
    /// The input is well-formed but not acceptable.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// Sealing or opening a secret failed.
    #[error(transparent)]
    Cipher(#[from] token_cipher::CipherError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// A value refused by a store, with the path of the offending field.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct InvalidInput {
    /// Where the problem is: a JSON pointer into the request's body (`/name`), or for a rule
    /// definition into the definition (`""` is all of it).
    pub path: String,
    /// A stable code, e.g. `too_long`.
    pub code: &'static str,
    /// A sentence for the user.
    pub message: String,
}

impl InvalidInput {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            code,
            message: message.into(),
        }
    }
}

/// Whether `err` is a unique-constraint violation, on either database.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

/// Maps a unique violation to [`StoreError::Duplicate`] and passes other errors through.
pub(crate) fn duplicate_as(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |err| {
        if is_unique_violation(&err) {
            StoreError::Duplicate(what)
        } else {
            StoreError::Db(err)
        }
    }
}
