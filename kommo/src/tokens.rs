//! OAuth tokens of accounts: the [`TokenStore`] trait the backend implements over its database
//! (with an in-memory implementation here), and the pair Kommo returns.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::limiter::BoxFuture;

/// A stored access/refresh pair. A long-lived token has an empty `refresh_token`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredToken {
    /// The access token.
    pub access_token: String,
    /// The single-use refresh token.
    pub refresh_token: String,
    /// When the access token expires, unix seconds.
    pub expires_at: i64,
}

impl std::fmt::Debug for StoredToken {
    // Tokens are secrets: never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TokenStoreError(pub String);

/// Where tokens live. `replace` must be atomic: it stores `new` only if the stored refresh token is
/// still `previous_refresh` (compare-and-swap), so two refreshes can never both win.
pub trait TokenStore: Send + Sync + 'static {
    /// The account's current token.
    fn load<'a>(
        &'a self,
        account: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredToken>, TokenStoreError>>;
    /// Atomically replaces the pair whose refresh token is `previous_refresh`; `Ok(false)` when
    /// another writer replaced it first.
    fn replace<'a>(
        &'a self,
        account: &'a str,
        previous_refresh: &'a str,
        new: StoredToken,
    ) -> BoxFuture<'a, Result<bool, TokenStoreError>>;
}

/// Tokens in memory, for tests and single-process tools.
#[derive(Debug, Default)]
pub struct InMemoryTokenStore {
    tokens: Mutex<HashMap<String, StoredToken>>,
}

impl InMemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores a token unconditionally (first installation).
    pub fn insert(&self, account: &str, token: StoredToken) {
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(account.to_owned(), token);
    }
}

impl TokenStore for InMemoryTokenStore {
    fn load<'a>(
        &'a self,
        account: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredToken>, TokenStoreError>> {
        let token = self
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(account)
            .cloned();
        Box::pin(async move { Ok(token) })
    }

    fn replace<'a>(
        &'a self,
        account: &'a str,
        previous_refresh: &'a str,
        new: StoredToken,
    ) -> BoxFuture<'a, Result<bool, TokenStoreError>> {
        let mut tokens = self
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let swapped = match tokens.get(account) {
            Some(current) if current.refresh_token == previous_refresh => {
                tokens.insert(account.to_owned(), new);
                true
            }
            _ => false,
        };
        Box::pin(async move { Ok(swapped) })
    }
}
