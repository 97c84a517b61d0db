//! The Kommo client's [`TokenStore`] over the accounts table: tokens are opened on load and sealed
//! on save, and a refreshed pair replaces the old one only if the stored refresh token is still the
//! one that was used (compare-and-swap on the sealed text).

use std::sync::Arc;

use kommo::{limiter::BoxFuture, tokens::TokenStoreError, StoredToken, TokenStore};
use secrecy::{ExposeSecret, SecretString};
use sqlx::Row;

use crate::{db::Db, store::token_cipher::TokenCipher};

/// Tokens of accounts, as the accounts table keeps them (the client's account key is the id).
#[derive(Clone)]
pub struct DbTokenStore {
    db: Db,
    cipher: Arc<TokenCipher>,
}

impl std::fmt::Debug for DbTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbTokenStore").finish_non_exhaustive()
    }
}

fn account_id(key: &str) -> Result<i64, TokenStoreError> {
    key.parse()
        .map_err(|_| TokenStoreError(format!("{key:?} is not an account id")))
}

fn failed(err: impl std::fmt::Display) -> TokenStoreError {
    TokenStoreError(err.to_string())
}

impl DbTokenStore {
    /// A store over `db`, opening tokens with `cipher`.
    pub fn new(db: Db, cipher: Arc<TokenCipher>) -> Self {
        Self { db, cipher }
    }

    async fn load_token(&self, key: &str) -> Result<Option<StoredToken>, TokenStoreError> {
        let account = account_id(key)?;
        let row = sqlx::query(
            "SELECT oauth_access_token, oauth_refresh_token, oauth_expires_at FROM accounts WHERE account_id = $1",
        )
        .bind(account)
        .fetch_optional(&self.db.pool)
        .await
        .map_err(failed)?;
        let Some(row) = row else { return Ok(None) };
        let (Some(access), Some(refresh), Some(expires_at)) = (
            row.try_get::<Option<String>, _>(0).map_err(failed)?,
            row.try_get::<Option<String>, _>(1).map_err(failed)?,
            row.try_get::<Option<i64>, _>(2).map_err(failed)?,
        ) else {
            return Ok(None);
        };
        Ok(Some(StoredToken {
            access_token: self
                .cipher
                .open(account, &access)
                .map_err(failed)?
                .expose_secret()
                .to_owned(),
            refresh_token: self
                .cipher
                .open(account, &refresh)
                .map_err(failed)?
                .expose_secret()
                .to_owned(),
            expires_at: expires_at.div_euclid(1000),
        }))
    }

    async fn replace_token(
        &self,
        key: &str,
        previous_refresh: &str,
        new: StoredToken,
    ) -> Result<bool, TokenStoreError> {
        let account = account_id(key)?;
        let sealed_refresh: Option<String> =
            sqlx::query("SELECT oauth_refresh_token FROM accounts WHERE account_id = $1")
                .bind(account)
                .fetch_optional(&self.db.pool)
                .await
                .map_err(failed)?
                .map(|r| r.try_get::<Option<String>, _>(0))
                .transpose()
                .map_err(failed)?
                .flatten();
        let Some(sealed_refresh) = sealed_refresh else {
            return Ok(false);
        };
        let current = self.cipher.open(account, &sealed_refresh).map_err(failed)?;
        if current.expose_secret() != previous_refresh {
            return Ok(false);
        }
        let access = self
            .cipher
            .seal(account, &SecretString::from(new.access_token))
            .map_err(failed)?;
        let refresh = self
            .cipher
            .seal(account, &SecretString::from(new.refresh_token))
            .map_err(failed)?;
        // The sealed text fences the write: a concurrent refresh that won first changed it.
        let done = sqlx::query(
            "UPDATE accounts SET oauth_access_token = $2, oauth_refresh_token = $3, oauth_expires_at = $4
             WHERE account_id = $1 AND oauth_refresh_token = $5",
        )
        .bind(account)
        .bind(access)
        .bind(refresh)
        .bind(new.expires_at.saturating_mul(1000))
        .bind(sealed_refresh)
        .execute(&self.db.pool)
        .await
        .map_err(failed)?;
        Ok(done.rows_affected() == 1)
    }
}

impl TokenStore for DbTokenStore {
    fn load<'a>(
        &'a self,
        account: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredToken>, TokenStoreError>> {
        Box::pin(self.load_token(account))
    }

    fn replace<'a>(
        &'a self,
        account: &'a str,
        previous_refresh: &'a str,
        new: StoredToken,
    ) -> BoxFuture<'a, Result<bool, TokenStoreError>> {
        Box::pin(self.replace_token(account, previous_refresh, new))
    }
}
