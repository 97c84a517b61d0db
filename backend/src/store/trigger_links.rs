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
                "/name",
                "too_long",
                format!("A link name has at most {MAX_LINK_NAME_CHARS} characters."),
            ));
        }
        if let Some(target) = &self.target_url {
            let web = url::Url::parse(target).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !web {
                return Err(InvalidInput::new(
                    "/target_url",
                    "bad_url",
                    "The page a link opens must be an http or https URL.",
                ));
            }
        }
        if let Some((kind, _)) = &self.entity {
            if !matches!(kind.as_str(), "leads" | "contacts" | "companies") {
                return Err(InvalidInput::new(
                    "/entity_type",
                    "bad_entity_type",
                    "A link can be about leads, contacts or companies.",
                ));
            }
        }
        Ok(())
    }
}

/// A created link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// A link as found by its id, with what is needed to check a presented token.
#[derive(Debug, Clone)]
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
    fn manual_link_kinds_are_contact_lead_company() {
        assert_eq!(entity_of_kind("1"), Some("contacts"));
        assert_eq!(entity_of_kind("2"), Some("leads"));
        assert_eq!(entity_of_kind("3"), Some("companies"));
        assert_eq!(entity_of_kind("4"), None);
    }
}
