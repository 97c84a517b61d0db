//! The account's schema as last read from Kommo (`account_schemas`): one row per account, the JSON
//! of [`domain::schema::Schema`] and when it was read, so that every backend process reuses one
//! read. The cache in front of it is `engine::schema`.

use domain::schema::Schema;
use sqlx::Row;

use super::StoreError;
use crate::{clock::Millis, db::Db};

/// A stored schema and when it was read from Kommo.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSchema {
    /// The schema.
    pub schema: Schema,
    /// When it was read, Unix milliseconds.
    pub fetched_at: Millis,
}

/// When the account's schema was last read, without reading it; `None` when it never was.
pub async fn fetched_at(db: &Db, account_id: i64) -> Result<Option<Millis>, StoreError> {
    let row = sqlx::query("SELECT fetched_at FROM account_schemas WHERE account_id = $1")
        .bind(account_id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// The account's stored schema; `None` when it was never read, or its JSON no longer reads (an
/// older shape), so that it is read again.
pub async fn get(db: &Db, account_id: i64) -> Result<Option<StoredSchema>, StoreError> {
    let row =
        sqlx::query("SELECT schema_json, fetched_at FROM account_schemas WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(&db.pool)
            .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let json: String = row.try_get(0)?;
    let fetched_at: Millis = row.try_get(1)?;
    match serde_json::from_str(&json) {
        Ok(schema) => Ok(Some(StoredSchema { schema, fetched_at })),
        Err(err) => {
            tracing::warn!(account.id = account_id, error = %err, "the stored account schema does not read; it is read again");
            Ok(None)
        }
    }
}

/// Stores the account's schema read at `fetched_at`, unless a newer one is stored already.
pub async fn put(
    db: &Db,
    account_id: i64,
    schema: &Schema,
    fetched_at: Millis,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(schema)
        .map_err(|e| StoreError::Db(sqlx::Error::Encode(Box::new(e))))?;
    sqlx::query(
        "INSERT INTO account_schemas (account_id, schema_json, fetched_at) VALUES ($1, $2, $3) \
         ON CONFLICT (account_id) DO UPDATE SET schema_json = excluded.schema_json, \
         fetched_at = excluded.fetched_at WHERE account_schemas.fetched_at <= excluded.fetched_at",
    )
    .bind(account_id)
    .bind(json)
    .bind(fetched_at)
    .execute(&db.pool)
    .await?;
    Ok(())
}
