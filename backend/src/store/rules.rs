//! Rules and their version history. A rule's JSON is stored as text; every save writes a new version
//! row, so the history holds the current version too.

use serde::Serialize;
use serde_json::Value;
use sqlx::{any::AnyRow, Row};

use domain::rule::RuleParseError;

use super::{duplicate_as, secrets, InvalidInput, Page, StoreError};
use crate::{clock::Millis, db::Db};

/// The longest rule name, in characters.
pub const MAX_RULE_NAME_CHARS: usize = 200;

/// A rule's name: trimmed, not empty, at most [`MAX_RULE_NAME_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleName(String);

impl RuleName {
    /// Parses a name typed by a user.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(InvalidInput::new(
                "/name",
                "required",
                "A rule needs a name.",
            ));
        }
        if name.chars().count() > MAX_RULE_NAME_CHARS {
            return Err(InvalidInput::new(
                "/name",
                "too_long",
                format!("A rule name has at most {MAX_RULE_NAME_CHARS} characters."),
            ));
        }
        Ok(Self(name.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A rule's definition that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleBody(Value);

impl RuleBody {
    /// The definition as JSON.
    pub fn as_json(&self) -> &Value {
        &self.0
    }
}

/// The one place where a rule definition from outside is validated before it is stored.
///
/// The definition is read with [`domain::rule::Rule::from_json`], which migrates older schema
/// versions, and stored in the current version's JSON. `domain::validate` (the rule's limits, and
/// the custom fields and users it names) is run by the HTTP layer before a create, a save or an
/// enable, where the account's fields and users are at hand (`http::rules`).
pub fn parse_rule_body(value: Value) -> Result<RuleBody, InvalidInput> {
    if !value.is_object() {
        return Err(InvalidInput::new(
            "",
            "not_an_object",
            "A rule definition must be a JSON object.",
        ));
    }
    let rule = domain::rule::Rule::from_json(&value.to_string()).map_err(|err| {
        let code = match err {
            RuleParseError::UnsupportedVersion { .. } => "unsupported_version",
            RuleParseError::Syntax { .. } | RuleParseError::Shape { .. } => "bad_shape",
        };
        InvalidInput::new(
            "",
            code,
            format!("This is not a rule Rulebook can read: {err}."),
        )
    })?;
    let canonical = serde_json::from_str(&rule.to_json()).map_err(|e| {
        InvalidInput::new(
            "",
            "bad_shape",
            format!("The rule could not be stored: {e}."),
        )
    })?;
    Ok(RuleBody(canonical))
}

/// A stored rule. Its `Debug` shows neither the inbound key nor webhook header values.
#[derive(Clone, PartialEq, Serialize)]
pub struct Rule {
    /// The rule's id.
    pub id: i64,
    /// Its name, unique within the account.
    pub name: String,
    /// Whether its events and jobs run; the jobs of a disabled rule wait.
    pub enabled: bool,
    /// The current version; starts at 1 and grows with each save.
    pub version: i64,
    /// The definition.
    pub rule: Value,
    /// The last path segment of the rule's inbound webhook URL (`/hooks/in/{account}/{key}`).
    pub inbound_hook_key: String,
    /// Creation time, Unix milliseconds.
    pub created_at: Millis,
    /// Last save or switch, Unix milliseconds.
    pub updated_at: Millis,
}

/// The definition as `Debug` shows it: webhook header values redacted.
fn shown(definition: &Value) -> Value {
    let mut shown = definition.clone();
    domain::api::redact_webhook_headers(&mut shown);
    shown
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("enabled", &self.enabled)
            .field("version", &self.version)
            .field("rule", &shown(&self.rule))
            .field("inbound_hook_key", &domain::api::REDACTED)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// A rule in a list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleSummary {
    /// The rule's id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Whether it runs.
    pub enabled: bool,
    /// Its current version.
    pub version: i64,
    /// Last save or switch, Unix milliseconds.
    pub updated_at: Millis,
    /// The kind of its trigger (`manual`, `entity_added`, …).
    pub trigger: String,
    /// The entity type its trigger is about, if any (`lead`, …).
    pub entity: Option<String>,
    /// The trigger itself, when this version can read it.
    pub trigger_definition: Option<domain::rule::Trigger>,
}

/// The trigger kind and entity type of a stored rule body (`status_changed` is about a lead);
/// a trigger this version cannot read gives its kind as written and no entity.
pub fn trigger_of(body: &Value) -> (String, Option<String>) {
    let trigger = &body["trigger"];
    match serde_json::from_value::<domain::rule::Trigger>(trigger.clone()) {
        Ok(parsed) => (
            parsed.name().to_owned(),
            parsed.entity_type().map(|e| e.as_str().to_owned()),
        ),
        Err(_) => (
            trigger["kind"].as_str().unwrap_or_default().to_owned(),
            None,
        ),
    }
}

/// One saved version of a rule. Its `Debug` shows no webhook header value.
#[derive(Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct RuleVersion {
    /// The version number.
    pub version: i64,
    /// The name at that version.
    pub name: String,
    /// The definition at that version.
    pub rule: Value,
    /// The Kommo user who saved it.
    pub saved_by: i64,
    /// When, Unix milliseconds.
    pub saved_at: Millis,
}

impl std::fmt::Debug for RuleVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleVersion")
            .field("version", &self.version)
            .field("name", &self.name)
            .field("rule", &shown(&self.rule))
            .field("saved_by", &self.saved_by)
            .field("saved_at", &self.saved_at)
            .finish()
    }
}

impl From<Rule> for domain::api::RuleRecord {
    fn from(rule: Rule) -> Self {
        Self {
            id: rule.id,
            name: rule.name,
            enabled: rule.enabled,
            version: rule.version,
            rule: rule.rule,
            inbound_hook_key: rule.inbound_hook_key,
            // Derived from the account's secret by the API ([`crate::ingest::digital_pipeline`]).
            dp_key: String::new(),
            created_at: rule.created_at,
            updated_at: rule.updated_at,
        }
    }
}

impl From<RuleSummary> for domain::api::RuleSummary {
    fn from(rule: RuleSummary) -> Self {
        Self {
            id: rule.id,
            name: rule.name,
            enabled: rule.enabled,
            version: rule.version,
            updated_at: rule.updated_at,
            trigger: rule.trigger,
            entity: rule.entity,
            trigger_definition: rule.trigger_definition,
        }
    }
}

const RULE_COLUMNS: &str = "id, name, enabled, version, body, hook_secret, created_at, updated_at";

fn rule_from_row(row: &AnyRow) -> Result<Rule, StoreError> {
    let id: i64 = row.try_get(0)?;
    let hook_secret: String = row.try_get(5)?;
    let inbound_hook_key = if is_revoked(&hook_secret) {
        String::new()
    } else {
        format!("{id}-{hook_secret}")
    };
    Ok(Rule {
        id,
        name: row.try_get(1)?,
        enabled: row.try_get::<i64, _>(2)? != 0,
        version: row.try_get(3)?,
        rule: parse_stored_json(&row.try_get::<String, _>(4)?)?,
        inbound_hook_key,
        created_at: row.try_get(6)?,
        updated_at: row.try_get(7)?,
    })
}

fn parse_stored_json(text: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Db(sqlx::Error::Decode(Box::new(e))))
}

/// A page of the account's rules, in their order (see [`move_to`]).
pub async fn list(db: &Db, account_id: i64, page: Page) -> Result<Vec<RuleSummary>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, name, enabled, version, updated_at, body FROM rules WHERE account_id = $1
         ORDER BY position, name, id LIMIT $2 OFFSET $3",
    )
    .bind(account_id)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let body = parse_stored_json(&r.try_get::<String, _>(5)?)?;
            let (trigger, entity) = trigger_of(&body);
            let trigger_definition = serde_json::from_value(body["trigger"].clone()).ok();
            Ok(RuleSummary {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                enabled: r.try_get::<i64, _>(2)? != 0,
                version: r.try_get(3)?,
                updated_at: r.try_get(4)?,
                trigger,
                entity,
                trigger_definition,
            })
        })
        .collect()
}

/// One of the account's rules.
pub async fn get(db: &Db, account_id: i64, rule_id: i64) -> Result<Rule, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {RULE_COLUMNS} FROM rules WHERE account_id = $1 AND id = $2"
    ))
    .bind(account_id)
    .bind(rule_id)
    .fetch_optional(&db.pool)
    .await?
    .ok_or(StoreError::NotFound("rule"))?;
    rule_from_row(&row)
}

/// Creates an enabled rule at version 1, last in the account's list.
pub async fn create(
    db: &Db,
    account_id: i64,
    user_id: i64,
    name: &RuleName,
    body: &RuleBody,
    now: Millis,
) -> Result<Rule, StoreError> {
    let mut tx = db.pool.begin().await?;
    let rule = create_in(&mut tx, account_id, user_id, name, body, true, now).await?;
    tx.commit().await?;
    Ok(rule)
}

/// Creates a rule at version 1, last in the account's list, in the caller's transaction.
pub async fn create_in(
    conn: &mut sqlx::AnyConnection,
    account_id: i64,
    user_id: i64,
    name: &RuleName,
    body: &RuleBody,
    enabled: bool,
    now: Millis,
) -> Result<Rule, StoreError> {
    let text = body.as_json().to_string();
    let row = sqlx::query(&format!(
        "INSERT INTO rules (account_id, name, enabled, version, body, hook_secret, created_at, updated_at, position)
         VALUES ($1, $2, $6, 1, $3, $4, $5, $5,
                 (SELECT COALESCE(MAX(position), -1) + 1 FROM rules WHERE account_id = $1))
         RETURNING {RULE_COLUMNS}"
    ))
    .bind(account_id)
    .bind(name.as_str())
    .bind(&text)
    .bind(secrets::new_url_secret())
    .bind(now)
    .bind(i64::from(enabled))
    .fetch_one(&mut *conn)
    .await
    .map_err(duplicate_as("a rule with this name"))?;
    let rule = rule_from_row(&row)?;
    insert_version(conn, rule.id, 1, name.as_str(), &text, user_id, now).await?;
    Ok(rule)
}

/// Whether the account has a rule of this name.
pub async fn name_taken(db: &Db, account_id: i64, name: &str) -> Result<bool, StoreError> {
    let row = sqlx::query("SELECT 1 FROM rules WHERE account_id = $1 AND name = $2")
        .bind(account_id)
        .bind(name)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.is_some())
}

/// Moves a rule to `position` (0 is first) in the account's list; a position past the end puts
/// it last. The others keep their order. Returns the rule's new position.
pub async fn move_to(
    db: &Db,
    account_id: i64,
    rule_id: i64,
    position: u64,
) -> Result<i64, StoreError> {
    let mut tx = db.pool.begin().await?;
    // Written first, so SQLite takes its write lock before the order is read.
    let found =
        sqlx::query("UPDATE rules SET position = position WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(rule_id)
            .execute(&mut *tx)
            .await?;
    if found.rows_affected() == 0 {
        return Err(StoreError::NotFound("rule"));
    }
    let rows = sqlx::query(
        "SELECT id FROM rules WHERE account_id = $1 AND id <> $2 ORDER BY position, name, id",
    )
    .bind(account_id)
    .bind(rule_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut order: Vec<i64> = rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let at = usize::try_from(position)
        .unwrap_or(usize::MAX)
        .min(order.len());
    order.insert(at, rule_id);
    for (index, id) in order.iter().enumerate() {
        sqlx::query("UPDATE rules SET position = $3 WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(*id)
            .bind(i64::try_from(index).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(i64::try_from(at).unwrap_or(i64::MAX))
}

/// One saved version of one of the account's rules.
pub async fn version(
    db: &Db,
    account_id: i64,
    rule_id: i64,
    version: i64,
) -> Result<RuleVersion, StoreError> {
    get(db, account_id, rule_id).await?;
    let row = sqlx::query(
        "SELECT version, name, body, saved_by, saved_at FROM rule_versions WHERE rule_id = $1 AND version = $2",
    )
    .bind(rule_id)
    .bind(version)
    .fetch_optional(&db.pool)
    .await?
    .ok_or(StoreError::NotFound("version of this rule"))?;
    Ok(RuleVersion {
        version: row.try_get(0)?,
        name: row.try_get(1)?,
        rule: parse_stored_json(&row.try_get::<String, _>(2)?)?,
        saved_by: row.try_get(3)?,
        saved_at: row.try_get(4)?,
    })
}

/// Every rule of the account, in their order (an export).
pub async fn all(db: &Db, account_id: i64) -> Result<Vec<Rule>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {RULE_COLUMNS} FROM rules WHERE account_id = $1 ORDER BY position, name, id"
    ))
    .bind(account_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(rule_from_row).collect()
}

/// Creates rules together, disabled (an import): all of them or none.
pub async fn create_disabled_all(
    db: &Db,
    account_id: i64,
    user_id: i64,
    rules: &[(RuleName, RuleBody)],
    now: Millis,
) -> Result<Vec<Rule>, StoreError> {
    let mut tx = db.pool.begin().await?;
    let mut created = Vec::with_capacity(rules.len());
    for (name, body) in rules {
        created.push(create_in(&mut tx, account_id, user_id, name, body, false, now).await?);
    }
    tx.commit().await?;
    Ok(created)
}

async fn insert_version(
    conn: &mut sqlx::AnyConnection,
    rule_id: i64,
    version: i64,
    name: &str,
    body: &str,
    user_id: i64,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO rule_versions (rule_id, version, name, body, saved_by, saved_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(rule_id)
    .bind(version)
    .bind(name)
    .bind(body)
    .bind(user_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A save of an existing rule.
#[derive(Debug, Clone)]
pub struct RuleEdit {
    /// The new name.
    pub name: RuleName,
    /// The new definition.
    pub body: RuleBody,
    /// The version the edit started from; if set and no longer current, the save is refused.
    pub expected_version: Option<i64>,
}

/// Saves a new version of a rule. With `expected_version`, refuses if someone saved in between.
pub async fn update(
    db: &Db,
    account_id: i64,
    user_id: i64,
    rule_id: i64,
    edit: &RuleEdit,
    now: Millis,
) -> Result<Rule, StoreError> {
    let RuleEdit {
        name,
        body,
        expected_version,
    } = edit;
    let expected_version = *expected_version;
    let text = body.as_json().to_string();
    let mut tx = db.pool.begin().await?;
    // The UPDATE comes first so SQLite takes its write lock before reading anything.
    let row = sqlx::query(&format!(
        "UPDATE rules SET name = $3, body = $4, version = version + 1, updated_at = $5
         WHERE account_id = $1 AND id = $2 AND ($6 < 0 OR version = $6) RETURNING {RULE_COLUMNS}"
    ))
    .bind(account_id)
    .bind(rule_id)
    .bind(name.as_str())
    .bind(&text)
    .bind(now)
    .bind(expected_version.unwrap_or(-1))
    .fetch_optional(&mut *tx)
    .await
    .map_err(duplicate_as("a rule with this name"))?;
    let Some(row) = row else {
        let found = sqlx::query("SELECT version FROM rules WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(rule_id)
            .fetch_optional(&mut *tx)
            .await?;
        return Err(match (found, expected_version) {
            (Some(row), Some(expected)) => StoreError::VersionConflict {
                expected,
                found: row.try_get(0)?,
            },
            _ => StoreError::NotFound("rule"),
        });
    };
    let rule = rule_from_row(&row)?;
    insert_version(
        &mut tx,
        rule.id,
        rule.version,
        name.as_str(),
        &text,
        user_id,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(rule)
}

/// Enables or disables a rule. Disabling holds its jobs; enabling lets them run again.
pub async fn set_enabled(
    db: &Db,
    account_id: i64,
    rule_id: i64,
    enabled: bool,
    now: Millis,
) -> Result<Rule, StoreError> {
    let row = sqlx::query(&format!(
        "UPDATE rules SET enabled = $3, updated_at = $4 WHERE account_id = $1 AND id = $2 RETURNING {RULE_COLUMNS}"
    ))
    .bind(account_id)
    .bind(rule_id)
    .bind(i64::from(enabled))
    .bind(now)
    .fetch_optional(&db.pool)
    .await?
    .ok_or(StoreError::NotFound("rule"))?;
    rule_from_row(&row)
}

/// Deletes a rule with its history, its jobs, its trigger links, its log and its counters.
pub async fn delete(db: &Db, account_id: i64, rule_id: i64) -> Result<(), StoreError> {
    let mut tx = db.pool.begin().await?;
    let done = sqlx::query("DELETE FROM rules WHERE account_id = $1 AND id = $2")
        .bind(account_id)
        .bind(rule_id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound("rule"));
    }
    sqlx::query("DELETE FROM rule_versions WHERE rule_id = $1")
        .bind(rule_id)
        .execute(&mut *tx)
        .await?;
    for table in ["jobs", "trigger_links", "execution_log", "rule_stats"] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE account_id = $1 AND rule_id = $2"
        ))
        .bind(account_id)
        .bind(rule_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A page of the saved versions of a rule, newest first.
pub async fn history(
    db: &Db,
    account_id: i64,
    rule_id: i64,
    page: Page,
) -> Result<Vec<RuleVersion>, StoreError> {
    get(db, account_id, rule_id).await?;
    let rows = sqlx::query(
        "SELECT version, name, body, saved_by, saved_at FROM rule_versions WHERE rule_id = $1 ORDER BY version DESC
         LIMIT $2 OFFSET $3",
    )
    .bind(rule_id)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(RuleVersion {
                version: r.try_get(0)?,
                name: r.try_get(1)?,
                rule: parse_stored_json(&r.try_get::<String, _>(2)?)?,
                saved_by: r.try_get(3)?,
                saved_at: r.try_get(4)?,
            })
        })
        .collect()
}

/// A revoked inbound key is stored as `!` and a secret no one was told: URL secrets never hold
/// `!`, and no presented key can match it.
const REVOKED_MARK: char = '!';

fn is_revoked(stored_secret: &str) -> bool {
    stored_secret.starts_with(REVOKED_MARK)
}

/// A rule's inbound key, as administrators list them.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct InboundKey {
    /// The rule.
    pub rule_id: i64,
    /// Its name.
    pub name: String,
    /// The last path segment of its inbound webhook URL; `None` when revoked.
    pub inbound_hook_key: Option<String>,
}

impl std::fmt::Debug for InboundKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundKey")
            .field("rule_id", &self.rule_id)
            .field("name", &self.name)
            .field("revoked", &self.inbound_hook_key.is_none())
            .finish_non_exhaustive()
    }
}

/// A page of the account's inbound keys, by rule name.
pub async fn list_inbound_keys(
    db: &Db,
    account_id: i64,
    page: Page,
) -> Result<Vec<InboundKey>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, name, hook_secret FROM rules WHERE account_id = $1 ORDER BY name, id LIMIT $2 OFFSET $3",
    )
    .bind(account_id)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let id: i64 = r.try_get(0)?;
            let secret: String = r.try_get(2)?;
            Ok(InboundKey {
                rule_id: id,
                name: r.try_get(1)?,
                inbound_hook_key: (!is_revoked(&secret)).then(|| format!("{id}-{secret}")),
            })
        })
        .collect()
}

async fn set_hook_secret(
    db: &Db,
    account_id: i64,
    rule_id: i64,
    secret: &str,
) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE rules SET hook_secret = $3 WHERE account_id = $1 AND id = $2")
        .bind(account_id)
        .bind(rule_id)
        .bind(secret)
        .execute(&db.pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound("rule"));
    }
    Ok(())
}

/// Gives a rule's inbound webhook a new key (also after a revocation) and returns it; the old key
/// stops working at once.
pub async fn rotate_inbound_key(
    db: &Db,
    account_id: i64,
    rule_id: i64,
) -> Result<String, StoreError> {
    let secret = secrets::new_url_secret();
    set_hook_secret(db, account_id, rule_id, &secret).await?;
    Ok(format!("{rule_id}-{secret}"))
}

/// Revokes a rule's inbound key: no key reaches the rule until it is rotated.
pub async fn revoke_inbound_key(db: &Db, account_id: i64, rule_id: i64) -> Result<(), StoreError> {
    let unknowable = format!("{REVOKED_MARK}{}", secrets::new_url_secret());
    set_hook_secret(db, account_id, rule_id, &unknowable).await
}

/// The secret of a rule's inbound webhook, if the rule exists in that account.
pub async fn inbound_hook_secret(
    db: &Db,
    account_id: i64,
    rule_id: i64,
) -> Result<Option<String>, StoreError> {
    let row = sqlx::query("SELECT hook_secret FROM rules WHERE account_id = $1 AND id = $2")
        .bind(account_id)
        .bind(rule_id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_of_a_rule_and_its_versions_contains_no_secret() {
        let definition = serde_json::json!({"blocks": [{"actions": [{"do": {"type": "send_webhook",
            "headers": [{"key": "Authorization", "value": "Bearer hdrS3cret"}]}}]}]});
        let rule = Rule {
            id: 4,
            name: "Hook".into(),
            enabled: true,
            version: 2,
            rule: definition.clone(),
            inbound_hook_key: "4-keyS3cret".into(),
            created_at: 0,
            updated_at: 0,
        };
        let version = RuleVersion {
            version: 2,
            name: "Hook".into(),
            rule: definition,
            saved_by: 7,
            saved_at: 0,
        };
        let shown = format!("{rule:?} {rule:#?} {version:?}");
        assert!(
            !shown.contains("hdrS3cret") && !shown.contains("keyS3cret"),
            "{shown}"
        );
        assert!(shown.contains("Authorization"), "{shown}");
    }

    #[test]
    fn rule_names_are_trimmed_and_bounded() {
        assert_eq!(
            RuleName::parse("  Wholesale ").expect("valid").as_str(),
            "Wholesale"
        );
        assert_eq!(RuleName::parse("   ").expect_err("blank").code, "required");
        assert_eq!(
            RuleName::parse(&"x".repeat(201)).expect_err("long").code,
            "too_long"
        );
        assert!(RuleName::parse(&"я".repeat(200)).is_ok());
    }

    #[test]
    fn a_rule_definition_must_be_an_object() {
        for bad in [
            serde_json::json!([]),
            serde_json::json!("x"),
            serde_json::json!(null),
        ] {
            assert_eq!(
                parse_rule_body(bad).expect_err("refused").code,
                "not_an_object"
            );
        }
    }

    #[test]
    fn a_rule_definition_is_read_by_the_domain_and_stored_in_the_current_schema() {
        let v1 = serde_json::json!({
            "name": "Old", "trigger": { "kind": "entity_added", "entity": "lead" }, "run_every_seconds": 60
        });
        let body = parse_rule_body(v1).expect("a version 1 rule is migrated");
        assert_eq!(
            body.as_json()["schema_version"],
            domain::rule::CURRENT_SCHEMA_VERSION
        );
        assert!(body.as_json().get("run_every_seconds").is_none());
        let unknown = serde_json::json!({ "schema_version": 2, "name": "x", "trigger": { "kind": "no_such" } });
        assert_eq!(
            parse_rule_body(unknown).expect_err("refused").code,
            "bad_shape"
        );
        let future = serde_json::json!({ "schema_version": 99, "name": "x" });
        assert_eq!(
            parse_rule_body(future).expect_err("refused").code,
            "unsupported_version"
        );
    }
}
