//! Accounts, the tenants: a row per Kommo account, the secret of its webhook URLs and its OAuth
//! tokens, encrypted at rest with [`TokenCipher`].

use secrecy::SecretString;
use sqlx::Row;

use super::{secrets, token_cipher::TokenCipher, StoreError};
use crate::{clock::Millis, db::Db};

/// Records that the account exists (creating it on first sight) and refreshes its subdomain.
pub async fn ensure_account(
    db: &Db,
    account_id: i64,
    subdomain: &str,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO accounts (account_id, subdomain, created_at, last_seen_at) VALUES ($1, $2, $3, $3)
         ON CONFLICT (account_id) DO UPDATE SET subdomain = excluded.subdomain, last_seen_at = excluded.last_seen_at",
    )
    .bind(account_id)
    .bind(subdomain)
    .bind(now / 1000)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Whether the account is known (connected once, by OAuth or a long-lived token).
pub async fn is_known(db: &Db, account_id: i64) -> Result<bool, StoreError> {
    let row = sqlx::query("SELECT 1 FROM accounts WHERE account_id = $1")
        .bind(account_id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.is_some())
}

/// The secret of the account's webhook URLs, if the account exists and has one.
pub async fn webhook_secret(db: &Db, account_id: i64) -> Result<Option<String>, StoreError> {
    let row = sqlx::query("SELECT webhook_secret FROM accounts WHERE account_id = $1")
        .bind(account_id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.and_then(|r| r.get::<Option<String>, _>(0)))
}

/// The secret of the account's webhook URLs, created on first use. The account must exist.
pub async fn ensure_webhook_secret(db: &Db, account_id: i64) -> Result<String, StoreError> {
    sqlx::query(
        "UPDATE accounts SET webhook_secret = $2 WHERE account_id = $1 AND webhook_secret IS NULL",
    )
    .bind(account_id)
    .bind(secrets::new_url_secret())
    .execute(&db.pool)
    .await?;
    webhook_secret(db, account_id)
        .await?
        .ok_or(StoreError::NotFound("account"))
}

/// Replaces the secret of the account's webhook URLs; the old URLs stop working at once.
pub async fn rotate_webhook_secret(db: &Db, account_id: i64) -> Result<String, StoreError> {
    let secret = secrets::new_url_secret();
    let done = sqlx::query("UPDATE accounts SET webhook_secret = $2 WHERE account_id = $1")
        .bind(account_id)
        .bind(&secret)
        .execute(&db.pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound("account"));
    }
    Ok(secret)
}

/// Sets the secret of the account's webhook URLs to `secret` (made by
/// [`secrets::new_url_secret`]); the old URLs stop working at once.
pub async fn set_webhook_secret(db: &Db, account_id: i64, secret: &str) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE accounts SET webhook_secret = $2 WHERE account_id = $1")
        .bind(account_id)
        .bind(secret)
        .execute(&db.pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound("account"));
    }
    Ok(())
}

/// An account's Kommo OAuth tokens, in the clear only in memory.
#[derive(Debug)]
pub struct OAuthTokens {
    /// The bearer token for API calls.
    pub access_token: SecretString,
    /// The single-use token that obtains the next pair.
    pub refresh_token: SecretString,
    /// When the access token expires, Unix milliseconds.
    pub expires_at: Millis,
}

/// Stores the account's tokens, sealed; replaces the previous pair in one statement.
pub async fn save_oauth_tokens(
    db: &Db,
    cipher: &TokenCipher,
    account_id: i64,
    tokens: &OAuthTokens,
) -> Result<(), StoreError> {
    let access = cipher.seal(account_id, &tokens.access_token)?;
    let refresh = cipher.seal(account_id, &tokens.refresh_token)?;
    let done = sqlx::query(
        "UPDATE accounts SET oauth_access_token = $2, oauth_refresh_token = $3, oauth_expires_at = $4
         WHERE account_id = $1",
    )
    .bind(account_id)
    .bind(access)
    .bind(refresh)
    .bind(tokens.expires_at)
    .execute(&db.pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound("account"));
    }
    Ok(())
}

/// The account's tokens, opened; `None` if the account has not connected yet.
pub async fn load_oauth_tokens(
    db: &Db,
    cipher: &TokenCipher,
    account_id: i64,
) -> Result<Option<OAuthTokens>, StoreError> {
    let row = sqlx::query(
        "SELECT oauth_access_token, oauth_refresh_token, oauth_expires_at FROM accounts WHERE account_id = $1",
    )
    .bind(account_id)
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else {
        return Err(StoreError::NotFound("account"));
    };
    let (Some(access), Some(refresh), Some(expires_at)) = (
        row.get::<Option<String>, _>(0),
        row.get::<Option<String>, _>(1),
        row.get::<Option<i64>, _>(2),
    ) else {
        return Ok(None);
    };
    Ok(Some(OAuthTokens {
        access_token: cipher.open(account_id, &access)?,
        refresh_token: cipher.open(account_id, &refresh)?,
        expires_at,
    }))
}

/// Forgets the account's tokens (Kommo revoked our access); its rules and secrets stay, so a
/// reconnection picks up where it left off. `false` when the account is unknown.
pub async fn forget_oauth_tokens(db: &Db, account_id: i64) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE accounts SET oauth_access_token = NULL, oauth_refresh_token = NULL, oauth_expires_at = NULL
         WHERE account_id = $1",
    )
    .bind(account_id)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// One account as `rulebook account list` shows it; no secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSummary {
    /// The Kommo account id.
    pub account_id: i64,
    /// Its subdomain.
    pub subdomain: String,
    /// Whether tokens are stored.
    pub connected: bool,
    /// Where its API is called when not at `https://{subdomain}.kommo.com`.
    pub kommo_base_url: Option<String>,
    /// When it was last seen, Unix seconds.
    pub last_seen_at: i64,
}

/// Every account, by id.
pub async fn list_accounts(db: &Db) -> Result<Vec<AccountSummary>, StoreError> {
    let rows = sqlx::query(
        "SELECT account_id, subdomain,
                CAST(CASE WHEN oauth_access_token IS NULL THEN 0 ELSE 1 END AS BIGINT), kommo_base_url, last_seen_at
         FROM accounts ORDER BY account_id",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(AccountSummary {
                account_id: r.try_get(0)?,
                subdomain: r.try_get(1)?,
                connected: r.try_get::<i64, _>(2)? != 0,
                kommo_base_url: r.try_get(3)?,
                last_seen_at: r.try_get(4)?,
            })
        })
        .collect()
}
