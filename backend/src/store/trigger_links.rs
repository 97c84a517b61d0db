//! Trigger links: URLs (`/t/{id}-{secret}`) that record a click as an event of a rule and send the
//! visitor on to a page. A link may be about one entity; a "manual" link names the entity in the
//! URL instead (`/t/{id}-{secret}/{entity_id}/{kind}/{mac}`, kind 1 contact, 2 lead, 3 company),
//! so one link serves every entity. The MAC is an HMAC of (link, entity type, entity id) keyed by
//! the account's webhook secret, which no link URL carries, so a link made for one lead cannot be
//! turned into one for another; `{tglink:N}` renders these URLs ([`LinkKeys`]).

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use super::{
    accounts,
    secrets::{self, url_mac, url_mac_matches},
    InvalidInput, StoreError,
};
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
            // The URL parser drops tabs and line breaks silently; a target is taken as written.
            if target.chars().any(char::is_control) {
                return Err(InvalidInput::new(
                    "target_url",
                    "control_character",
                    "The page a link opens must not contain control characters (line breaks, tabs…).",
                ));
            }
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

/// A created link. Its `Debug` does not show the token.
#[derive(Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
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
    /// The entity every click is about (`leads`|`contacts`|`companies`), if the link has one.
    pub entity_type: Option<String>,
    /// Its id.
    pub entity_id: Option<i64>,
    /// How many clicks were accepted (each queued a run of the rule).
    pub clicks: i64,
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
            .field("entity_type", &self.entity_type)
            .field("entity_id", &self.entity_id)
            .field("clicks", &self.clicks)
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

/// The manual kind number of an entity table: contacts 1, leads 2, companies 3.
pub fn kind_of_entity(table: &str) -> Option<u8> {
    match table {
        "contacts" => Some(1),
        "leads" => Some(2),
        "companies" => Some(3),
        _ => None,
    }
}

/// What the MAC of a manual link's entity is for.
const ENTITY_MAC_PURPOSE: &str = "rulebook trigger link entity";

/// The MAC of a manual link's entity (`leads`|`contacts`|`companies`, id), keyed by the account's
/// webhook secret.
pub fn entity_mac(account_secret: &str, link_id: i64, entity_type: &str, entity_id: i64) -> String {
    url_mac(
        account_secret,
        ENTITY_MAC_PURPOSE,
        &[&link_id.to_string(), entity_type, &entity_id.to_string()],
    )
}

/// Whether `presented` is the MAC of this link and entity (compared in constant time).
pub fn entity_mac_matches(
    account_secret: &str,
    link_id: i64,
    entity_type: &str,
    entity_id: i64,
    presented: &str,
) -> bool {
    url_mac_matches(
        account_secret,
        ENTITY_MAC_PURPOSE,
        &[&link_id.to_string(), entity_type, &entity_id.to_string()],
        presented,
    )
}

/// What it takes to write the working URLs of an account's links: the public base, the account's
/// webhook secret and each link's token.
#[derive(Clone)]
pub struct LinkKeys {
    base: String,
    account_secret: String,
    /// Link id → (token, whether the link is about one entity of its own).
    links: BTreeMap<i64, (String, bool)>,
}

impl std::fmt::Debug for LinkKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkKeys")
            .field("base", &self.base)
            .field("links", &self.links.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl LinkKeys {
    /// The account's links under the public URL `base` (the account's webhook secret is created
    /// on first use).
    pub async fn load(db: &Db, account_id: i64, base: &str) -> Result<LinkKeys, StoreError> {
        let account_secret = accounts::ensure_webhook_secret(db, account_id).await?;
        let rows = sqlx::query(
            "SELECT id, secret, entity_type FROM trigger_links WHERE account_id = $1 ORDER BY id",
        )
        .bind(account_id)
        .fetch_all(&db.pool)
        .await?;
        let mut links = BTreeMap::new();
        for row in rows {
            let id: i64 = row.try_get(0)?;
            let secret: String = row.try_get(1)?;
            let own: Option<String> = row.try_get(2)?;
            links.insert(id, (format!("{id}-{secret}"), own.is_some()));
        }
        Ok(LinkKeys {
            base: base.trim_end_matches('/').to_owned(),
            account_secret,
            links,
        })
    }

    /// The working URL of link `link_id` for a click about `entity` (`leads`|`contacts`|
    /// `companies`, id): a manual link names the entity with its MAC; a link about an entity of
    /// its own, or a click about no contact, lead or company, is the plain link. `None` if the
    /// account has no such link.
    pub fn url(&self, link_id: i64, entity: Option<(&str, i64)>) -> Option<String> {
        let (token, own) = self.links.get(&link_id)?;
        let plain = format!("{}/t/{token}", self.base);
        let manual = entity
            .filter(|_| !own)
            .and_then(|(table, id)| kind_of_entity(table).map(|kind| (table, id, kind)));
        Some(match manual {
            Some((table, id, kind)) => {
                let mac = entity_mac(&self.account_secret, link_id, table, id);
                format!("{plain}/{id}/{kind}/{mac}")
            }
            None => plain,
        })
    }

    /// The working URLs of every link for a click about `entity`, by link number.
    pub fn urls(&self, entity: Option<(&str, i64)>) -> BTreeMap<u32, String> {
        self.links
            .keys()
            .filter_map(|id| Some((u32::try_from(*id).ok()?, self.url(*id, entity)?)))
            .collect()
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
        entity_type: link.entity.as_ref().map(|(t, _)| t.clone()),
        entity_id: link.entity.as_ref().map(|(_, id)| *id),
        clicks: 0,
    })
}

/// The columns [`link_of`] reads.
const LINK_COLUMNS: &str = "id, rule_id, secret, name, target_url, entity_type, entity_id, clicks";

fn link_of(r: &sqlx::any::AnyRow) -> Result<TriggerLink, StoreError> {
    let id: i64 = r.try_get(0)?;
    let secret: String = r.try_get(2)?;
    Ok(TriggerLink {
        id,
        rule_id: r.try_get(1)?,
        token: format!("{id}-{secret}"),
        name: r.try_get(3)?,
        target_url: r.try_get(4)?,
        entity_type: r.try_get(5)?,
        entity_id: r.try_get(6)?,
        clicks: r.try_get(7)?,
    })
}

/// Changes a link: the rule it runs, its name, its page and its entity (none makes it a manual
/// link); its URL and click count stay.
pub async fn update_link(
    db: &Db,
    account_id: i64,
    link_id: i64,
    rule_id: i64,
    link: &NewTriggerLink,
) -> Result<TriggerLink, StoreError> {
    link.check()?;
    let rule: Option<i64> =
        sqlx::query_scalar("SELECT id FROM rules WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(rule_id)
            .fetch_optional(&db.pool)
            .await?;
    // The rule is checked first: a link may only run a rule of its own account.
    if rule.is_none() {
        return match find_link(db, link_id).await? {
            Some(found) if found.account_id == account_id => Err(StoreError::NotFound("rule")),
            _ => Err(StoreError::NotFound("link")),
        };
    }
    let sql = format!(
        "UPDATE trigger_links SET rule_id = $3, name = $4, target_url = $5, entity_type = $6,
                                  entity_id = $7
         WHERE account_id = $1 AND id = $2 RETURNING {LINK_COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(account_id)
        .bind(link_id)
        .bind(rule_id)
        .bind(link.name.as_deref())
        .bind(link.target_url.as_deref())
        .bind(link.entity.as_ref().map(|(t, _)| t.as_str()))
        .bind(link.entity.as_ref().map(|(_, id)| *id))
        .fetch_optional(&db.pool)
        .await?
        .ok_or(StoreError::NotFound("link"))?;
    link_of(&row)
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
    let rows = sqlx::query(&format!(
        "SELECT {LINK_COLUMNS} FROM trigger_links
         WHERE account_id = $1 AND ($2 < 0 OR rule_id = $2) ORDER BY id DESC LIMIT $3 OFFSET $4"
    ))
    .bind(account_id)
    .bind(rule_id.unwrap_or(-1))
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(link_of).collect()
}

/// Gives a link a new token and returns the link; the old token stops working at once.
pub async fn rotate_link(
    db: &Db,
    account_id: i64,
    link_id: i64,
) -> Result<TriggerLink, StoreError> {
    let secret = secrets::new_url_secret();
    let row = sqlx::query(&format!(
        "UPDATE trigger_links SET secret = $3 WHERE account_id = $1 AND id = $2
         RETURNING {LINK_COLUMNS}"
    ))
    .bind(account_id)
    .bind(link_id)
    .bind(&secret)
    .fetch_optional(&db.pool)
    .await?
    .ok_or(StoreError::NotFound("link"))?;
    link_of(&row)
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
        for target in [
            "https://example.com/\r\nSet-Cookie: a=b",
            "https://example.com/\tx",
            "https://example.com/\u{7f}",
            "https://example.com/\u{85}",
        ] {
            let control = NewTriggerLink {
                target_url: Some(target.into()),
                ..Default::default()
            };
            assert_eq!(
                control.check().expect_err("refused").code,
                "control_character",
                "{target:?}"
            );
        }
    }

    #[test]
    fn a_manual_links_entity_mac_is_for_that_link_and_entity_only() {
        let mac = entity_mac("s", 9, "leads", 5);
        assert!(entity_mac_matches("s", 9, "leads", 5, &mac));
        assert!(!entity_mac_matches("s", 9, "leads", 6, &mac));
        assert!(!entity_mac_matches("s", 9, "contacts", 5, &mac));
        assert!(!entity_mac_matches("s", 10, "leads", 5, &mac));
        assert!(!entity_mac_matches("t", 9, "leads", 5, &mac));
    }

    #[test]
    fn link_urls_name_the_entity_of_a_manual_link_only() {
        let keys = LinkKeys {
            base: "https://rb.example".into(),
            account_secret: "s".into(),
            links: BTreeMap::from([(9, ("9-abc".into(), false)), (10, ("10-def".into(), true))]),
        };
        let mac = entity_mac("s", 9, "leads", 5);
        assert_eq!(
            keys.url(9, Some(("leads", 5))).as_deref(),
            Some(format!("https://rb.example/t/9-abc/5/2/{mac}").as_str())
        );
        assert_eq!(
            keys.url(9, None).as_deref(),
            Some("https://rb.example/t/9-abc")
        );
        assert_eq!(
            keys.url(9, Some(("tasks", 5))).as_deref(),
            Some("https://rb.example/t/9-abc")
        );
        assert_eq!(
            keys.url(10, Some(("leads", 5))).as_deref(),
            Some("https://rb.example/t/10-def")
        );
        assert_eq!(keys.url(11, None), None);
        assert_eq!(keys.urls(None).len(), 2);
    }

    #[test]
    fn debug_output_of_links_contains_no_secret() {
        let link = TriggerLink {
            id: 3,
            rule_id: 1,
            token: "3-linkS3cret".into(),
            name: Some("Prices".into()),
            target_url: None,
            entity_type: None,
            entity_id: None,
            clicks: 0,
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
        for table in ["contacts", "leads", "companies"] {
            let kind = kind_of_entity(table).expect("kind").to_string();
            assert_eq!(entity_of_kind(&kind), Some(table));
        }
        assert_eq!(kind_of_entity("tasks"), None);
    }
}
