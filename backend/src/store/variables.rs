//! Global variables of an account: named text values of at most [`MAX_VARIABLE_CHARS`] characters,
//! changed only through [`update_variable`], an atomic read-modify-write that concurrent rules and
//! processes can use without losing each other's writes.

use serde::Serialize;
use sqlx::Row;

use super::{InvalidInput, StoreError};
use crate::{
    clock::Millis,
    db::{Db, Dialect},
};

/// The longest value of a variable, in characters.
pub const MAX_VARIABLE_CHARS: usize = 30_000;

/// The longest variable name, in characters.
pub const MAX_VARIABLE_NAME_CHARS: usize = 100;

/// A variable and its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Variable {
    /// The name, unique within the account.
    pub name: String,
    /// The value.
    pub value: String,
    /// Last change, Unix milliseconds.
    pub updated_at: Millis,
}

impl From<Variable> for domain::api::Variable {
    fn from(v: Variable) -> Self {
        Self {
            name: v.name,
            value: v.value,
            updated_at: v.updated_at,
        }
    }
}

/// Why [`update_variable`] changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum UpdateVariableError<E> {
    /// The update function refused, e.g. a formula that does not compute.
    #[error("the update was refused: {0}")]
    Refused(E),
    /// The name or the new value is not acceptable.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a variable name: not empty, at most [`MAX_VARIABLE_NAME_CHARS`] characters, no control
/// characters.
pub fn check_name(name: &str) -> Result<(), InvalidInput> {
    if name.is_empty()
        || name.chars().count() > MAX_VARIABLE_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(InvalidInput::new(
            "/name",
            "bad_name",
            format!("A variable name has 1 to {MAX_VARIABLE_NAME_CHARS} characters and no control characters."),
        ));
    }
    Ok(())
}

/// Checks a variable value: at most [`MAX_VARIABLE_CHARS`] characters.
pub fn check_value(value: &str) -> Result<(), InvalidInput> {
    let chars = value.chars().count();
    if chars > MAX_VARIABLE_CHARS {
        return Err(InvalidInput::new(
            "/value",
            "too_long",
            format!(
                "A variable holds at most {MAX_VARIABLE_CHARS} characters; this value has {chars}."
            ),
        ));
    }
    Ok(())
}

/// Atomically replaces the value of `name` with `update(current)`, where `current` is `None` if the
/// variable does not exist yet, and returns the new value.
///
/// Concurrent calls on the same variable are serialised: each sees the value the previous one wrote.
/// If `update` fails, or its result is too long, nothing changes.
pub async fn update_variable<E>(
    db: &Db,
    account_id: i64,
    name: &str,
    now: Millis,
    update: impl FnOnce(Option<&str>) -> Result<String, E>,
) -> Result<String, UpdateVariableError<E>> {
    check_name(name).map_err(StoreError::from)?;
    let mut tx = db.pool.begin().await.map_err(StoreError::from)?;
    // Reserve the row first: on SQLite this write takes the database's write lock before anything
    // is read; on PostgreSQL a concurrent reservation waits until this transaction ends.
    sqlx::query(
        "INSERT INTO variables (account_id, name, value, updated_at) VALUES ($1, $2, NULL, $3)
         ON CONFLICT (account_id, name) DO NOTHING",
    )
    .bind(account_id)
    .bind(name)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    let lock = match db.dialect {
        Dialect::Postgres => " FOR UPDATE",
        Dialect::Sqlite => "",
    };
    let current: Option<String> = sqlx::query(&format!(
        "SELECT value FROM variables WHERE account_id = $1 AND name = $2{lock}"
    ))
    .bind(account_id)
    .bind(name)
    .fetch_one(&mut *tx)
    .await
    .and_then(|row| row.try_get(0))
    .map_err(StoreError::from)?;
    let next = update(current.as_deref()).map_err(UpdateVariableError::Refused)?;
    check_value(&next).map_err(StoreError::from)?;
    sqlx::query(
        "UPDATE variables SET value = $3, updated_at = $4 WHERE account_id = $1 AND name = $2",
    )
    .bind(account_id)
    .bind(name)
    .bind(&next)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(next)
}

/// Sets `name` to `value`.
pub async fn set_variable(
    db: &Db,
    account_id: i64,
    name: &str,
    value: &str,
    now: Millis,
) -> Result<(), StoreError> {
    check_value(value)?;
    update_variable(db, account_id, name, now, |_| {
        Ok::<_, std::convert::Infallible>(value.to_string())
    })
    .await
    .map(|_| ())
    .map_err(|e| match e {
        UpdateVariableError::Store(e) => e,
        UpdateVariableError::Refused(never) => match never {},
    })
}

/// Appends `suffix` to `name` (an absent variable counts as empty) and returns the new value.
pub async fn append_to_variable(
    db: &Db,
    account_id: i64,
    name: &str,
    suffix: &str,
    now: Millis,
) -> Result<String, StoreError> {
    update_variable(db, account_id, name, now, |current| {
        Ok::<_, std::convert::Infallible>(format!("{}{suffix}", current.unwrap_or("")))
    })
    .await
    .map_err(|e| match e {
        UpdateVariableError::Store(e) => e,
        UpdateVariableError::Refused(never) => match never {},
    })
}

/// One variable, if it exists.
pub async fn get_variable(
    db: &Db,
    account_id: i64,
    name: &str,
) -> Result<Option<Variable>, StoreError> {
    let row = sqlx::query(
        "SELECT name, value, updated_at FROM variables WHERE account_id = $1 AND name = $2 AND value IS NOT NULL",
    )
    .bind(account_id)
    .bind(name)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| {
        Ok(Variable {
            name: r.try_get(0)?,
            value: r.try_get(1)?,
            updated_at: r.try_get(2)?,
        })
    })
    .transpose()
}

/// A page of the account's variables, by name ([`super::Page::ALL`]: every one).
pub async fn list_variables(
    db: &Db,
    account_id: i64,
    page: super::Page,
) -> Result<Vec<Variable>, StoreError> {
    let rows = sqlx::query(
        "SELECT name, value, updated_at FROM variables WHERE account_id = $1 AND value IS NOT NULL ORDER BY name
         LIMIT $2 OFFSET $3",
    )
    .bind(account_id)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Variable {
                name: r.try_get(0)?,
                value: r.try_get(1)?,
                updated_at: r.try_get(2)?,
            })
        })
        .collect()
}

/// Deletes a variable; `false` if there was none.
pub async fn delete_variable(db: &Db, account_id: i64, name: &str) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "DELETE FROM variables WHERE account_id = $1 AND name = $2 AND value IS NOT NULL",
    )
    .bind(account_id)
    .bind(name)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() > 0)
}
