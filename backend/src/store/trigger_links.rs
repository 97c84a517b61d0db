//! Trigger links: URLs (`/t/{id}-{secret}`) that record a click as an event of a rule, optionally
//! about one entity (e.g. a link sent to a contact).

use serde::Serialize;
use sqlx::Row;

use super::{secrets, StoreError};
use crate::{clock::Millis, db::Db};

/// A created link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TriggerLink {
    /// The link's id.
    pub id: i64,
    /// The rule it triggers.
    pub rule_id: i64,
    /// The last path segment of the link (`/t/{token}`).
    pub token: String,
}

/// A link as found by its id, with what is needed to check a presented token.
#[derive(Debug, Clone)]
pub struct StoredLink {
    /// The tenant.
    pub account_id: i64,
    /// The rule it triggers.
    pub rule_id: i64,
    /// The secret half of the token.
    pub secret: String,
}

/// Creates a link to one of the account's rules, about `entity` if given.
pub async fn create_link(
    db: &Db,
    account_id: i64,
    rule_id: i64,
    entity: Option<(&str, i64)>,
    now: Millis,
) -> Result<TriggerLink, StoreError> {
    let secret = secrets::new_url_secret();
    let row = sqlx::query(
        "INSERT INTO trigger_links (account_id, rule_id, secret, entity_type, entity_id, created_at)
         SELECT $1, $2, $3, $4, $5, $6 FROM rules WHERE account_id = $1 AND id = $2 RETURNING id",
    )
    .bind(account_id)
    .bind(rule_id)
    .bind(&secret)
    .bind(entity.map(|(t, _)| t))
    .bind(entity.map(|(_, id)| id))
    .bind(now)
    .fetch_optional(&db.pool)
    .await?
    .ok_or(StoreError::NotFound("rule"))?;
    let id: i64 = row.try_get(0)?;
    Ok(TriggerLink {
        id,
        rule_id,
        token: format!("{id}-{secret}"),
    })
}

/// The link with id `link_id`, if any.
pub async fn find_link(db: &Db, link_id: i64) -> Result<Option<StoredLink>, StoreError> {
    let row = sqlx::query("SELECT account_id, rule_id, secret FROM trigger_links WHERE id = $1")
        .bind(link_id)
        .fetch_optional(&db.pool)
        .await?;
    row.map(|r| {
        Ok(StoredLink {
            account_id: r.try_get(0)?,
            rule_id: r.try_get(1)?,
            secret: r.try_get(2)?,
        })
    })
    .transpose()
}
