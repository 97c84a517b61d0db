//! Inbound webhook receivers: named URLs of an account (`/hooks/in/{account_id}/r{id}-{secret}`,
//! 192 random bits in the secret) that an outside service calls. Every enabled rule whose
//! inbound-webhook trigger names a receiver runs on its requests. Administrators create, rename,
//! rotate and delete them; the last [`KEPT_REQUESTS`] requests of each are kept, their bodies up
//! to a cap, with the variables read from them, so a rule can be previewed against a real one.
//!
//! A receiver's URL is a secret and a request's body is customer data: only administrators see
//! either (the HTTP layer enforces it).

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use super::{duplicate_as, secrets, InvalidInput, Page, StoreError};
use crate::{clock::Millis, db::Db};

/// The longest receiver name, in characters.
pub const MAX_RECEIVER_NAME_CHARS: usize = 200;

/// How many requests of a receiver are kept; storing one more drops the oldest.
pub const KEPT_REQUESTS: i64 = 100;

/// A receiver. Its `Debug` does not show the key.
#[derive(Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Receiver {
    /// The receiver's id.
    pub id: i64,
    /// Its name, unique in the account.
    pub name: String,
    /// The last path segment of its URL, `r{id}-{secret}`.
    pub key: String,
    /// When it was created, Unix milliseconds.
    pub created_at: Millis,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("key", &"***")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A stored request to a receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ReceiverRequest {
    /// The request's id.
    pub id: i64,
    /// The receiver it came to.
    pub receiver_id: i64,
    /// The HTTP method.
    pub method: String,
    /// Its `Content-Type`, if it had one.
    pub content_type: Option<String>,
    /// Its query string, if it had one.
    pub query: Option<String>,
    /// The start of the body as text (invalid UTF-8 replaced), up to the cap.
    pub body: String,
    /// The size of the whole body, in bytes.
    pub body_bytes: i64,
    /// Whether the body was longer than the cap and only its start is kept.
    pub truncated: bool,
    /// The variables read from the whole request (query and body, `parent_child` names).
    pub variables: BTreeMap<String, String>,
    /// The event it became (none for a repeated `Idempotency-Key`).
    pub event_id: Option<i64>,
    /// When it arrived, Unix milliseconds.
    pub received_at: Millis,
}

/// A request to log, as it arrived.
#[derive(Debug, Clone, Copy)]
pub struct IncomingRequest<'a> {
    /// The receiver.
    pub receiver_id: i64,
    /// The HTTP method.
    pub method: &'a str,
    /// Its `Content-Type`.
    pub content_type: Option<&'a str>,
    /// Its query string.
    pub query: Option<&'a str>,
    /// The whole body.
    pub body: &'a [u8],
    /// How much of the body is kept, in bytes.
    pub body_cap: usize,
}

/// Checks and trims a receiver's name: 1 to [`MAX_RECEIVER_NAME_CHARS`] characters, no control
/// characters.
pub fn check_name(name: &str) -> Result<String, InvalidInput> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_RECEIVER_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(InvalidInput::new(
            "/name",
            "bad_name",
            format!(
                "A receiver's name has 1 to {MAX_RECEIVER_NAME_CHARS} characters and no control \
                 characters."
            ),
        ));
    }
    Ok(name.to_owned())
}

/// The receiver id and secret of a receiver key (`r{id}-{secret}`), if it is one.
pub fn split_key(key: &str) -> Option<(i64, &str)> {
    let (id, secret) = key.strip_prefix('r')?.split_once('-')?;
    // The id exactly as written: `r+5` or `r05` is not receiver 5.
    let parsed: i64 = id.parse().ok()?;
    (parsed.to_string() == id && parsed > 0).then_some((parsed, secret))
}

fn key_of(id: i64, secret: &str) -> String {
    format!("r{id}-{secret}")
}

fn receiver_of(row: &sqlx::any::AnyRow) -> Result<Receiver, StoreError> {
    let id: i64 = row.try_get(0)?;
    let secret: String = row.try_get(2)?;
    Ok(Receiver {
        id,
        name: row.try_get(1)?,
        key: key_of(id, &secret),
        created_at: row.try_get(3)?,
    })
}

/// Creates a receiver with a new key.
pub async fn create(
    db: &Db,
    account_id: i64,
    name: &str,
    now: Millis,
) -> Result<Receiver, StoreError> {
    let name = check_name(name)?;
    let secret = secrets::new_url_secret();
    let row = sqlx::query(
        "INSERT INTO receivers (account_id, name, secret, created_at) VALUES ($1, $2, $3, $4)
         RETURNING id, name, secret, created_at",
    )
    .bind(account_id)
    .bind(&name)
    .bind(&secret)
    .bind(now)
    .fetch_one(&db.pool)
    .await
    .map_err(duplicate_as("receiver"))?;
    receiver_of(&row)
}

/// A page of the account's receivers, by name.
pub async fn list(db: &Db, account_id: i64, page: Page) -> Result<Vec<Receiver>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, name, secret, created_at FROM receivers WHERE account_id = $1
         ORDER BY name, id LIMIT $2 OFFSET $3",
    )
    .bind(account_id)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(receiver_of).collect()
}

/// The account's receiver `id`.
pub async fn get(db: &Db, account_id: i64, id: i64) -> Result<Receiver, StoreError> {
    let row = sqlx::query(
        "SELECT id, name, secret, created_at FROM receivers WHERE account_id = $1 AND id = $2",
    )
    .bind(account_id)
    .bind(id)
    .fetch_optional(&db.pool)
    .await?
    .ok_or(StoreError::NotFound("receiver"))?;
    receiver_of(&row)
}

/// Renames a receiver; its URL stays.
pub async fn rename(db: &Db, account_id: i64, id: i64, name: &str) -> Result<Receiver, StoreError> {
    let name = check_name(name)?;
    let row = sqlx::query(
        "UPDATE receivers SET name = $3 WHERE account_id = $1 AND id = $2
         RETURNING id, name, secret, created_at",
    )
    .bind(account_id)
    .bind(id)
    .bind(&name)
    .fetch_optional(&db.pool)
    .await
    .map_err(duplicate_as("receiver"))?
    .ok_or(StoreError::NotFound("receiver"))?;
    receiver_of(&row)
}

/// Gives a receiver a new key; the old URL stops working at once.
pub async fn rotate(db: &Db, account_id: i64, id: i64) -> Result<Receiver, StoreError> {
    let row = sqlx::query(
        "UPDATE receivers SET secret = $3 WHERE account_id = $1 AND id = $2
         RETURNING id, name, secret, created_at",
    )
    .bind(account_id)
    .bind(id)
    .bind(secrets::new_url_secret())
    .fetch_optional(&db.pool)
    .await?
    .ok_or(StoreError::NotFound("receiver"))?;
    receiver_of(&row)
}

/// Deletes a receiver and its stored requests; its URL stops working. Rules that name it stay,
/// and no request reaches them until their trigger names another receiver.
pub async fn delete(db: &Db, account_id: i64, id: i64) -> Result<(), StoreError> {
    let mut tx = db.pool.begin().await?;
    let done = sqlx::query("DELETE FROM receivers WHERE account_id = $1 AND id = $2")
        .bind(account_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound("receiver"));
    }
    sqlx::query("DELETE FROM receiver_requests WHERE account_id = $1 AND receiver_id = $2")
        .bind(account_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The secret of the account's receiver `id`, if it exists.
pub async fn secret(db: &Db, account_id: i64, id: i64) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT secret FROM receivers WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

/// Stores a request in the caller's transaction (the one that stores its event), and drops the
/// receiver's requests beyond the newest [`KEPT_REQUESTS`].
pub async fn record_request(
    conn: &mut sqlx::AnyConnection,
    account_id: i64,
    request: &IncomingRequest<'_>,
    event_id: Option<i64>,
    now: Millis,
) -> Result<i64, sqlx::Error> {
    let variables = crate::engine::outbound::request_vars(request.query, request.body);
    let kept = &request.body[..request.body.len().min(request.body_cap)];
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO receiver_requests (account_id, receiver_id, method, content_type, query, body,
                                        body_bytes, truncated, variables, event_id, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(account_id)
    .bind(request.receiver_id)
    .bind(request.method)
    .bind(request.content_type)
    .bind(request.query)
    .bind(kept.to_vec())
    .bind(i64::try_from(request.body.len()).unwrap_or(i64::MAX))
    .bind(i64::from(kept.len() < request.body.len()))
    .bind(serde_json::to_string(&variables).unwrap_or_else(|_| "{}".into()))
    .bind(event_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "DELETE FROM receiver_requests WHERE account_id = $1 AND receiver_id = $2 AND id NOT IN (
             SELECT id FROM receiver_requests WHERE account_id = $1 AND receiver_id = $2
             ORDER BY id DESC LIMIT $3)",
    )
    .bind(account_id)
    .bind(request.receiver_id)
    .bind(KEPT_REQUESTS)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

const REQUEST_COLUMNS: &str = "id, receiver_id, method, content_type, query, body, body_bytes, \
                               truncated, variables, event_id, received_at";

fn request_of(row: &sqlx::any::AnyRow) -> Result<ReceiverRequest, StoreError> {
    let body: Vec<u8> = row.try_get(5)?;
    let variables: String = row.try_get(8)?;
    Ok(ReceiverRequest {
        id: row.try_get(0)?,
        receiver_id: row.try_get(1)?,
        method: row.try_get(2)?,
        content_type: row.try_get(3)?,
        query: row.try_get(4)?,
        body: String::from_utf8_lossy(&body).into_owned(),
        body_bytes: row.try_get(6)?,
        truncated: row.try_get::<i64, _>(7)? != 0,
        variables: serde_json::from_str(&variables).unwrap_or_default(),
        event_id: row.try_get(9)?,
        received_at: row.try_get(10)?,
    })
}

/// A page of a receiver's stored requests, newest first.
pub async fn list_requests(
    db: &Db,
    account_id: i64,
    receiver_id: i64,
    page: Page,
) -> Result<Vec<ReceiverRequest>, StoreError> {
    get(db, account_id, receiver_id).await?;
    let rows = sqlx::query(&format!(
        "SELECT {REQUEST_COLUMNS} FROM receiver_requests WHERE account_id = $1 AND receiver_id = $2
         ORDER BY id DESC LIMIT $3 OFFSET $4"
    ))
    .bind(account_id)
    .bind(receiver_id)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(request_of).collect()
}

/// One stored request of a receiver.
pub async fn get_request(
    db: &Db,
    account_id: i64,
    receiver_id: i64,
    request_id: i64,
) -> Result<ReceiverRequest, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {REQUEST_COLUMNS} FROM receiver_requests
         WHERE account_id = $1 AND receiver_id = $2 AND id = $3"
    ))
    .bind(account_id)
    .bind(receiver_id)
    .bind(request_id)
    .fetch_optional(&db.pool)
    .await?
    .ok_or(StoreError::NotFound("request"))?;
    request_of(&row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receiver_keys_name_a_positive_id_written_plainly() {
        assert_eq!(split_key("r12-abc-def"), Some((12, "abc-def")));
        for bad in [
            "12-abc", "r-abc", "r+5-abc", "r05-abc", "r0-abc", "rx-abc", "r12", "",
        ] {
            assert_eq!(split_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(check_name("  Site form ").expect("ok"), "Site form");
        for bad in ["", "   ", "a\nb"] {
            assert_eq!(check_name(bad).expect_err("refused").code, "bad_name");
        }
        assert!(check_name(&"n".repeat(MAX_RECEIVER_NAME_CHARS)).is_ok());
        assert!(check_name(&"n".repeat(MAX_RECEIVER_NAME_CHARS + 1)).is_err());
    }

    #[test]
    fn the_debug_of_a_receiver_hides_its_key() {
        let receiver = Receiver {
            id: 3,
            name: "Site".into(),
            key: "r3-S3cret".into(),
            created_at: 0,
        };
        let shown = format!("{receiver:?}");
        assert!(
            !shown.contains("S3cret") && shown.contains("Site"),
            "{shown}"
        );
    }
}
