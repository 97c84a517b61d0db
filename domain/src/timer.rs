//! Time arithmetic in the account's timezone: action timers resolved to UTC instants, and the
//! next due instant of scheduled triggers. Days are calendar days (a "1 day" timer set at 10:00
//! the day before a DST change still runs at 10:00 local time); seconds, minutes and hours are
//! exact durations.

use crate::zone::Zone;
use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, NaiveTime, Utc, Weekday};

use crate::path::Path;
use crate::rule::{Recurrence, TimeUnit, Timer, Trigger};
use crate::value::{local_date, local_to_utc, parse_date, ParsedDate, Scope, Value};

/// Why a timer could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimerError {
    /// The timer's field has no value.
    #[error("the timer's field {path} has no value")]
    MissingField {
        /// The field.
        path: String,
    },
    /// The timer's field is not a date.
    #[error("the timer's field {path} does not hold a date")]
    NotADate {
        /// The field.
        path: String,
    },
    /// The resulting instant is out of range.
    #[error("the timer lands outside the supported range of dates")]
    OutOfRange,
}

/// Adds an amount of a unit to an instant; days are calendar days in `timezone`.
pub fn add_units(
    base: DateTime<Utc>,
    amount: i64,
    unit: TimeUnit,
    timezone: &Zone,
) -> Option<DateTime<Utc>> {
    match unit {
        TimeUnit::Seconds => base.checked_add_signed(Duration::try_seconds(amount)?),
        TimeUnit::Minutes => base.checked_add_signed(Duration::try_minutes(amount)?),
        TimeUnit::Hours => base.checked_add_signed(Duration::try_hours(amount)?),
        TimeUnit::Days => {
            let local = crate::value::in_timezone(base, timezone).naive_local();
            let shifted = local.checked_add_signed(Duration::try_days(amount)?)?;
            local_to_utc(shifted, timezone)
        }
    }
}

/// When an action with `timer` runs, counted from `base`. `None` means at once (`base` is now).
pub fn resolve(
    timer: &Timer,
    base: DateTime<Utc>,
    scope: &Scope<'_>,
) -> Result<Option<DateTime<Utc>>, TimerError> {
    let timezone = scope.timezone();
    match timer {
        Timer::None => Ok((base > scope.now).then_some(base)),
        Timer::After { amount, unit } => add_units(base, i64::from(*amount), *unit, timezone)
            .map(Some)
            .ok_or(TimerError::OutOfRange),
        Timer::DateField {
            field,
            shift_days,
            at,
        } => {
            let (date, field_time) = read_date(field, scope)?;
            let date = date
                .checked_add_signed(
                    Duration::try_days(i64::from(*shift_days)).ok_or(TimerError::OutOfRange)?,
                )
                .ok_or(TimerError::OutOfRange)?;
            let time = at.or(field_time).unwrap_or(NaiveTime::MIN);
            local_to_utc(date.and_time(time), timezone)
                .map(Some)
                .ok_or(TimerError::OutOfRange)
        }
        Timer::YearlyFromField { field, at } => {
            let (date, _) = read_date(field, scope)?;
            next_yearly(date.month(), date.day(), *at, base, timezone)
                .map(Some)
                .ok_or(TimerError::OutOfRange)
        }
    }
}

/// Reads a date from a field: the local date and, for instants, the local time.
fn read_date(
    field: &Path,
    scope: &Scope<'_>,
) -> Result<(NaiveDate, Option<NaiveTime>), TimerError> {
    let timezone = scope.timezone();
    let from_instant = |i: DateTime<Utc>| {
        let local = crate::value::in_timezone(i, timezone);
        (local.date_naive(), Some(local.time()))
    };
    match scope.read(field) {
        Value::Date(d) => Ok((d, None)),
        Value::Instant(i) => Ok(from_instant(i)),
        Value::Number(n) => DateTime::from_timestamp(n as i64, 0)
            .map(from_instant)
            .ok_or(TimerError::OutOfRange),
        Value::Text(t) if !t.trim().is_empty() => match parse_date(&t, timezone) {
            Some(ParsedDate::Date(d)) => Ok((d, None)),
            Some(ParsedDate::Instant(i)) => Ok(from_instant(i)),
            None => Err(TimerError::NotADate {
                path: field.to_string(),
            }),
        },
        Value::Missing | Value::Text(_) => Err(TimerError::MissingField {
            path: field.to_string(),
        }),
        Value::Bool(_) | Value::List(_) => Err(TimerError::NotADate {
            path: field.to_string(),
        }),
    }
}

/// The date of `month`/`day` in `year`; 29 February falls on 28 February in other years.
fn yearly_date(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, day).or_else(|| {
        (month == 2 && day == 29)
            .then(|| NaiveDate::from_ymd_opt(year, 2, 28))
            .flatten()
    })
}

/// The first local `month`/`day` at `at` strictly after `after`.
pub fn next_yearly(
    month: u32,
    day: u32,
    at: NaiveTime,
    after: DateTime<Utc>,
    timezone: &Zone,
) -> Option<DateTime<Utc>> {
    let year = local_date(after, timezone).year();
    (year..=year + 1).find_map(|y| {
        let instant = local_to_utc(yearly_date(y, month, day)?.and_time(at), timezone)?;
        (instant > after).then_some(instant)
    })
}

/// The first occurrence of a recurrence strictly after `after`.
pub fn next_recurrence(
    schedule: &Recurrence,
    after: DateTime<Utc>,
    timezone: &Zone,
) -> Option<DateTime<Utc>> {
    let today = local_date(after, timezone);
    let at_time = |date: NaiveDate, at: NaiveTime| {
        local_to_utc(date.and_time(at), timezone).filter(|i| *i > after)
    };
    match *schedule {
        Recurrence::Daily { at } => {
            (0..=1).find_map(|d| at_time(today.checked_add_signed(Duration::days(d))?, at))
        }
        Recurrence::Weekly { weekday, at } => (0..=7)
            .filter_map(|d| today.checked_add_signed(Duration::days(d)))
            .filter(|date| date.weekday() == weekday)
            .find_map(|date| at_time(date, at)),
        Recurrence::Monthly { day, at } => {
            let first = today.with_day(1)?;
            (0..=1).find_map(|m| {
                let month_start = first.checked_add_months(Months::new(m))?;
                let last_day = month_start
                    .checked_add_months(Months::new(1))?
                    .pred_opt()?
                    .day();
                at_time(month_start.with_day(day.clamp(1, last_day))?, at)
            })
        }
        Recurrence::Yearly { month, day, at } => next_yearly(month, day, at, after, timezone),
    }
}

/// When a scheduled trigger (`at_date_time`, `recurring`) is next due after `after`; `None`
/// for other triggers and for a date that has passed.
pub fn next_due(trigger: &Trigger, after: DateTime<Utc>, timezone: &Zone) -> Option<DateTime<Utc>> {
    match trigger {
        Trigger::AtDateTime { date, at } => {
            local_to_utc(date.and_time(*at), timezone).filter(|i| *i > after)
        }
        Trigger::Recurring { schedule } => next_recurrence(schedule, after, timezone),
        _ => None,
    }
}

/// When a `relative_to_date_field` trigger is due for a field value: the field's instant (local
/// midnight for dates) plus `offset_hours`.
pub fn due_relative_to(
    value: &Value<'_>,
    offset_hours: i32,
    timezone: &Zone,
) -> Option<DateTime<Utc>> {
    let instant = match value {
        Value::Instant(i) => *i,
        Value::Date(d) => crate::value::start_of_day(*d, timezone)?,
        Value::Text(t) => match parse_date(t, timezone)? {
            ParsedDate::Instant(i) => i,
            ParsedDate::Date(d) => crate::value::start_of_day(d, timezone)?,
        },
        _ => return None,
    };
    instant.checked_add_signed(Duration::try_hours(i64::from(offset_hours))?)
}

/// When a `relative_to_date_field` trigger is due for the entity in a snapshot; `None` for other
/// triggers or when the field is empty.
pub fn due_for_snapshot(
    trigger: &Trigger,
    snapshot: &crate::snapshot::Snapshot,
) -> Option<DateTime<Utc>> {
    let Trigger::RelativeToDateField {
        entity,
        field_id,
        offset_hours,
    } = trigger
    else {
        return None;
    };
    let role = match entity {
        crate::path::EntityType::Lead => crate::path::EntityRole::Lead,
        crate::path::EntityType::Contact => crate::path::EntityRole::Contact,
        crate::path::EntityType::Company => crate::path::EntityRole::Company,
        crate::path::EntityType::Task => return None,
    };
    let value = snapshot
        .entity(role, Some(*entity))?
        .custom_field(*field_id)?;
    due_relative_to(
        &crate::value::read_field(value),
        *offset_hours,
        &snapshot.account.timezone,
    )
}

/// Parses a weekday written as a name (`mon`, `Monday`) or ISO number (1 = Monday).
pub fn parse_weekday(text: &str) -> Option<Weekday> {
    let t = text.trim();
    if let Ok(n) = t.parse::<u8>() {
        return match n {
            1 => Some(Weekday::Mon),
            2 => Some(Weekday::Tue),
            3 => Some(Weekday::Wed),
            4 => Some(Weekday::Thu),
            5 => Some(Weekday::Fri),
            6 => Some(Weekday::Sat),
            7 | 0 => Some(Weekday::Sun),
            _ => None,
        };
    }
    t.parse::<Weekday>().ok()
}
