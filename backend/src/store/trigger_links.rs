//! Trigger links: URLs (`/t/{id}-{secret}`) that record a click as an event of a rule and send the
//! visitor on to a page. A link may be about one entity; a "manual" link names the entity in the
//! URL instead (`/t/{token}/{entity_id}/{kind}`, kind 1 contact, 2 lead, 3 company), so one link
//! serves every entity through a template such as `{{lead.id}}`.

use serde::Serialize;
use sqlx::Row;

use super::{secrets, InvalidInput, StoreError};
use crate::{clock::Millis, db::Db};

/// The longest link name, in characters.
const MAX_LINK_NAME_CHARS: usize = 200;

/// A link to create.
#[derive(Debug, Clone, Default)]
pub struct NewTriggerLink {
    /// A name for people.
    pub name: Option<String>,
    /// Where a click is sent on to (`http` or `https`).
    pub target_url: Option<String>,
    /// The entity every click is about, as (`leads`|`contacts`|`companies`, id).
    pub entity: Option<(String, i64)>,
}

impl NewTriggerLink {
    /// Checks the name and the target URL.
    pub fn check(&self) -> Result<(), InvalidInput> {
        if self
            .name
            .as_deref()
            .is_some_and(|n| n.chars().count() > MAX_LINK_NAME_CHARS)
        {
            return Err(InvalidInput::new(
                "name",
                "too_long",
                format!("A link name has at most {MAX_LINK_NAME_CHARS} characters."),
            ));
        }
        if let Some(target) = &self.target_url {
            let web = url::Url::parse(target).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !web {
                return Err(InvalidInput::new(
                    "target_url",
                    "bad_url",
                    "The page a link opens must be an http or https URL.",
                ));
            }
        }
        if let Some((kind, _)) = &self.entity {
            if !matches!(kind.as_str(), "leads" | "contacts" | "companies") {
                return Err(InvalidInput::new(
                    "entity_type",
                    "bad_entity_type",
                    "A link can be about leads, contacts or companies.",
                ));
            }
        }
        Ok(())
    }
}

/// A created link. Its `Debug` does not show the token.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct TriggerLink {
    /// The link's id.
    pub id: i64,
    /// The rule it triggers.
    pub rule_id: i64,
    /// The last path segment of the link (`/t/{token}`).
    pub token: String,
    /// Its name.
    pub name: Option<String>,
    /// Where a click is sent on to.
    pub target_url: Option<String>,
}

/// A link as found by its id, with what is needed to check a presented token. Its `Debug` does
/// not show the secret.
#[derive(Clone)]
pub struct StoredLink {
    /// The tenant.
    pub account_id: i64,
    /// The rule it triggers.
    pub rule_id: i64,
    /// The secret half of the token.
    pub secret: String,
    /// Where a click is sent on to.
    pub target_url: Option<String>,
}

impl std::fmt::Debug for TriggerLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TriggerLink")
            .field("id", &self.id)
            .field("rule_id", &self.rule_id)
            .field("token", &"***")
            .field("name", &self.name)
            .field("target_url", &self.target_url)
            .finish()
    }
}

impl std::fmt::Debug for StoredLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredLink")
            .field("account_id", &self.account_id)
            .field("rule_id", &self.rule_id)
            .field("secret", &"***")
            .field("target_url", &self.target_url)
            .finish()
    }
}

/// The table name of a manual link's entity kind: 1 contact, 2 lead, 3 company.
pub fn entity_of_kind(kind: &str) -> Option<&'static str> {
    match kind {
        "1" => Some("contacts"),
        "2" => Some("leads"),
        "3" => Some("companies"),
        _ => None,
    }
}

/// Creates a link to one of the account's rules.
pub async fn create_link(
    db: &Db,
    account_id: i64,
    rule_id: i64,
    link: &NewTriggerLink,
    now: Millis,
) -> Result<TriggerLink, StoreError> {
    link.check()?;
    let secret = secrets::new_url_secret();
    let row = sqlx::query(
        "INSERT INTO trigger_links (account_id, rule_id, secret, entity_type, entity_id, created_at, name, target_url)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8 FROM rules WHERE account_id = $1 AND id = $2 RETURNING id",
    )
    .bind(account_id)
    .bind(rule_id)
    .bind(&secret)
    .bind(link.entity.as_ref().map(|(t, _)| t.as_str()))
    .bind(link.entity.as_ref().map(|(_, id)| *id))
    .bind(now)
    .bind(link.name.as_deref())
    .bind(link.target_url.as_deref())
    .fetch_optional(&db.pool)
    .await?
    .ok_or(StoreError::NotFound("rule"))?;
    let id: i64 = row.try_get(0)?;
    Ok(TriggerLink {
        id,
        rule_id,
        token: format!("{id}-{secret}"),
        name: link.name.clone(),
        target_url: link.target_url.clone(),
    })
}

/// The link with id `link_id`, if any.
pub async fn find_link(db: &Db, link_id: i64) -> Result<Option<StoredLink>, StoreError> {
    let row = sqlx::query(
        "SELECT account_id, rule_id, secret, target_url FROM trigger_links WHERE id = $1",
    )
    .bind(link_id)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| {
        Ok(StoredLink {
            account_id: r.try_get(0)?,
            rule_id: r.try_get(1)?,
            secret: r.try_get(2)?,
            target_url: r.try_get(3)?,
        })
    })
    .transpose()
}

/// A page of the account's links, newest first, optionally of one rule.
pub async fn list_links(
    db: &Db,
    account_id: i64,
    rule_id: Option<i64>,
    page: super::Page,
) -> Result<Vec<TriggerLink>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, rule_id, secret, name, target_url FROM trigger_links
         WHERE account_id = $1 AND ($2 < 0 OR rule_id = $2) ORDER BY id DESC LIMIT $3 OFFSET $4",
    )
    .bind(account_id)
    .bind(rule_id.unwrap_or(-1))
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let id: i64 = r.try_get(0)?;
            let secret: String = r.try_get(2)?;
            Ok(TriggerLink {
                id,
                rule_id: r.try_get(1)?,
                token: format!("{id}-{secret}"),
                name: r.try_get(3)?,
                target_url: r.try_get(4)?,
            })
        })
        .collect()
}

/// Gives a link a new token and returns the link; the old token stops working at once.
pub async fn rotate_link(
    db: &Db,
    account_id: i64,
    link_id: i64,
) -> Result<TriggerLink, StoreError> {
    let secret = secrets::new_url_secret();
    let row = sqlx::query(
        "UPDATE trigger_links SET secret = $3 WHERE account_id = $1 AND id = $2
         RETURNING rule_id, name, target_url",
    )
    .bind(account_id)
    .bind(link_id)
    .bind(&secret)
    .fetch_optional(&db.pool)
    .await?
    .ok_or(StoreError::NotFound("link"))?;
    Ok(TriggerLink {
        id: link_id,
        rule_id: row.try_get(0)?,
        token: format!("{link_id}-{secret}"),
        name: row.try_get(1)?,
        target_url: row.try_get(2)?,
    })
}

/// Revokes (deletes) a link: its URL stops working for good. Clicks already recorded stay.
pub async fn revoke_link(db: &Db, account_id: i64, link_id: i64) -> Result<(), StoreError> {
    let done = sqlx::query("DELETE FROM trigger_links WHERE account_id = $1 AND id = $2")
        .bind(account_id)
        .bind(link_id)
        .execute(&db.pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound("link"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_open_web_pages_only_and_name_known_entity_types() {
        let ok = NewTriggerLink {
            name: Some("Price list".into()),
            target_url: Some("https://example.com/prices".into()),
            entity: Some(("leads".into(), 5)),
        };
        assert!(ok.check().is_ok());
        let script = NewTriggerLink {
            target_url: Some("javascript:alert(1)".into()),
            ..Default::default()
        };
        assert_eq!(script.check().expect_err("refused").code, "bad_url");
        let entity = NewTriggerLink {
            entity: Some(("tasks".into(), 1)),
            ..Default::default()
        };
        assert_eq!(entity.check().expect_err("refused").code, "bad_entity_type");
    }

    #[test]
    fn debug_output_of_links_contains_no_secret() {
        let link = TriggerLink {
            id: 3,
            rule_id: 1,
            token: "3-linkS3cret".into(),
            name: Some("Prices".into()),
            target_url: None,
        };
        let stored = StoredLink {
            account_id: 42,
            rule_id: 1,
            secret: "linkS3cret".into(),
            target_url: None,
        };
        let shown = format!("{link:?} {link:#?} {stored:?}");
        assert!(!shown.contains("linkS3cret"), "{shown}");
        assert!(shown.contains("Prices"), "{shown}");
    }

    #[test]
    fn manual_link_kinds_are_contact_lead_company() {
        assert_eq!(entity_of_kind("1"), Some("contacts"));
        assert_eq!(entity_of_kind("2"), Some("leads"));
        assert_eq!(entity_of_kind("3"), Some("companies"));
        assert_eq!(entity_of_kind("4"), None);
    }
}
