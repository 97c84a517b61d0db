//! Settings of an account that Kommo's API does not expose. Its working hours: Kommo's account
//! endpoint (`GET /api/v4/account`, with `amojo_id`, `amojo_rights`, `users_groups`, `task_types`,
//! `version`, `entity_names`, `datetime_settings`; kommo-platform.md §5, S13) names the timezone
//! but no working hours, so an administrator sets them here, and the condition "inside working
//! hours / day off" reads them.

pub use domain::api::AccountSettings;
use domain::api::FieldError;
use sqlx::Row;

use super::StoreError;
use crate::{clock::Millis, db::Db};

/// The most intervals the working hours may have (a few per weekday).
pub const MAX_INTERVALS: usize = 50;

/// Why settings are refused: one problem per field, each with a JSON pointer into the request
/// body (`/working_hours/intervals/2/to`), so the widget shows it at the field. Empty: they can
/// be kept.
pub fn check(settings: &AccountSettings) -> Vec<FieldError> {
    let intervals = &settings.working_hours.intervals;
    if intervals.len() > MAX_INTERVALS {
        return vec![FieldError {
            path: "/working_hours/intervals".into(),
            code: "too_many_intervals".into(),
            message: format!(
                "Working hours have at most {MAX_INTERVALS} intervals, not {}.",
                intervals.len()
            ),
        }];
    }
    intervals
        .iter()
        .enumerate()
        .filter(|(_, interval)| interval.from == interval.to)
        .map(|(i, _)| FieldError {
            path: format!("/working_hours/intervals/{i}/to"),
            code: "empty_interval".into(),
            message: format!(
                "Interval {} starts and ends at the same time; give it a length.",
                i + 1
            ),
        })
        .collect()
}

/// The account's settings (the defaults when none were saved).
pub async fn get(db: &Db, account_id: i64) -> Result<AccountSettings, StoreError> {
    let row = sqlx::query("SELECT working_hours FROM account_settings WHERE account_id = $1")
        .bind(account_id)
        .fetch_optional(&db.pool)
        .await?;
    let Some(row) = row else {
        return Ok(AccountSettings::default());
    };
    let hours: String = row.try_get(0)?;
    Ok(AccountSettings {
        working_hours: serde_json::from_str(&hours).unwrap_or_default(),
    })
}

/// Saves the account's settings.
pub async fn put(
    db: &Db,
    account_id: i64,
    settings: &AccountSettings,
    now: Millis,
) -> Result<(), StoreError> {
    let hours = serde_json::to_string(&settings.working_hours).unwrap_or_default();
    sqlx::query(
        "INSERT INTO account_settings (account_id, working_hours, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (account_id) DO UPDATE
         SET working_hours = excluded.working_hours, updated_at = excluded.updated_at",
    )
    .bind(account_id)
    .bind(hours)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(())
}
