//! Runtime values: what a [`Path`] reads from a snapshot, an event, the variables and the clock,
//! plus the conversions between text, numbers, dates and lists that conditions and templates
//! share. Reading borrows from the snapshot, so evaluation does not copy field values.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::zone::Zone;
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{Direction, Event, EventKind};
use crate::path::{ClockField, EntityField, EventField, Path, TaskAggregate, TaskField};
use crate::snapshot::{EntitySnapshot, EnumValue, FieldValue, MultitextEntry, Snapshot};

/// The account's global variables (text values, at most 30,000 characters each).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Variables {
    /// Variable name to value.
    #[serde(default)]
    pub globals: BTreeMap<String, String>,
    /// The working URL of each trigger link (`{tglink:N}`) for the event at hand, by link number;
    /// a link not here is left as written.
    #[serde(default)]
    pub trigger_links: BTreeMap<u32, String>,
}

/// Everything a path or variable can be read from.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The entity snapshot.
    pub snapshot: &'a Snapshot,
    /// The event.
    pub event: &'a Event,
    /// Global variables.
    pub variables: &'a Variables,
    /// The clock reading for this evaluation.
    pub now: DateTime<Utc>,
}

/// A list read from a snapshot without copying it.
#[derive(Debug, Clone, PartialEq)]
pub enum ListValue<'a> {
    /// Plain strings (tags).
    Strings(&'a [String]),
    /// Chosen enum values (multiselect).
    Enums(&'a [EnumValue]),
    /// Phones or emails.
    Multitext(&'a [MultitextEntry]),
    /// An owned list (literals, parsed text).
    Owned(Vec<String>),
}

impl ListValue<'_> {
    /// The number of items.
    pub fn len(&self) -> usize {
        match self {
            ListValue::Strings(s) => s.len(),
            ListValue::Enums(s) => s.len(),
            ListValue::Multitext(s) => s.len(),
            ListValue::Owned(s) => s.len(),
        }
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The text of item `i`.
    pub fn get(&self, i: usize) -> &str {
        match self {
            ListValue::Strings(s) => &s[i],
            ListValue::Enums(s) => &s[i].value,
            ListValue::Multitext(s) => &s[i].value,
            ListValue::Owned(s) => &s[i],
        }
    }

    /// The items' texts.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }
}

/// A value read at runtime.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// The field, entity or datum does not exist.
    Missing,
    /// Text.
    Text(Cow<'a, str>),
    /// A number.
    Number(f64),
    /// A boolean.
    Bool(bool),
    /// An instant.
    Instant(DateTime<Utc>),
    /// A calendar date.
    Date(NaiveDate),
    /// A list of texts.
    List(ListValue<'a>),
}

/// The type of a value, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    /// No value.
    Missing,
    /// Text.
    Text,
    /// Number.
    Number,
    /// Boolean.
    Bool,
    /// Instant.
    Instant,
    /// Date.
    Date,
    /// List.
    List,
}

impl ValueKind {
    /// The name used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueKind::Missing => "missing",
            ValueKind::Text => "text",
            ValueKind::Number => "number",
            ValueKind::Bool => "boolean",
            ValueKind::Instant => "date and time",
            ValueKind::Date => "date",
            ValueKind::List => "list",
        }
    }
}

impl std::fmt::Display for ValueKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An owned, serialisable copy of a value, for traces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum TraceValue {
    /// No value.
    Missing,
    /// Text.
    Text(String),
    /// A number.
    Number(f64),
    /// A boolean.
    Bool(bool),
    /// An instant.
    Instant(DateTime<Utc>),
    /// A date.
    Date(NaiveDate),
    /// A list.
    List(Vec<String>),
}

/// Longest text a trace keeps of one value, in bytes; longer text is cut at a char boundary.
const TRACE_TEXT_CAP: usize = 256;

impl Value<'_> {
    /// The value's kind.
    pub fn kind(&self) -> ValueKind {
        match self {
            Value::Missing => ValueKind::Missing,
            Value::Text(_) => ValueKind::Text,
            Value::Number(_) => ValueKind::Number,
            Value::Bool(_) => ValueKind::Bool,
            Value::Instant(_) => ValueKind::Instant,
            Value::Date(_) => ValueKind::Date,
            Value::List(_) => ValueKind::List,
        }
    }

    /// Whether the value counts as empty (missing, blank text, empty list).
    pub fn is_empty(&self) -> bool {
        match self {
            Value::Missing => true,
            Value::Text(t) => t.trim().is_empty(),
            Value::List(l) => l.is_empty(),
            _ => false,
        }
    }

    /// An owned copy for a trace.
    pub fn to_trace(&self) -> TraceValue {
        match self {
            Value::Missing => TraceValue::Missing,
            Value::Text(t) => TraceValue::Text(cap_text(t).to_owned()),
            Value::Number(n) => TraceValue::Number(*n),
            Value::Bool(b) => TraceValue::Bool(*b),
            Value::Instant(i) => TraceValue::Instant(*i),
            Value::Date(d) => TraceValue::Date(*d),
            Value::List(l) => TraceValue::List(l.iter().map(|s| cap_text(s).to_owned()).collect()),
        }
    }

    /// The value as a number: numbers, numeric text, booleans as 0/1, dates as unix seconds.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            Value::Text(t) => parse_number(t),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Instant(i) => Some(i.timestamp() as f64),
            _ => None,
        }
    }

    /// The value as a boolean: booleans, numbers (non-zero), text `1/0/true/false/yes/no`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => Some(*n != 0.0),
            Value::Text(t) => parse_bool(t),
            _ => None,
        }
    }

    /// Writes the value as text, as templates print it (dates in the account's timezone).
    pub fn write_text(&self, out: &mut String, timezone: &Zone) {
        match self {
            Value::Missing => {}
            Value::Text(t) => out.push_str(t),
            Value::Number(n) => write_number(out, *n),
            Value::Bool(b) => out.push(if *b { '1' } else { '0' }),
            Value::Instant(i) => {
                let local = in_timezone(*i, timezone);
                let _ = write!(
                    out,
                    "{:02}.{:02}.{:04} {:02}:{:02}",
                    local.day(),
                    local.month(),
                    local.year(),
                    local.hour(),
                    local.minute()
                );
            }
            Value::Date(d) => {
                let _ = write!(out, "{:02}.{:02}.{:04}", d.day(), d.month(), d.year());
            }
            Value::List(l) => {
                for (i, item) in l.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(item);
                }
            }
        }
    }
}

fn cap_text(text: &str) -> &str {
    if text.len() <= TRACE_TEXT_CAP {
        return text;
    }
    let mut end = TRACE_TEXT_CAP;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Parses a number written as text: surrounding spaces, a decimal comma, and spaces as
/// thousands separators are allowed.
pub fn parse_number(text: &str) -> Option<f64> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return None;
    }
    let parsed = if trimmed.bytes().all(|b| {
        b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+' || b == b'e' || b == b'E'
    }) {
        trimmed.parse::<f64>().ok()
    } else {
        let cleaned: String = trimmed
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| if c == ',' { '.' } else { c })
            .collect();
        cleaned.parse::<f64>().ok()
    };
    parsed.filter(|n| n.is_finite())
}

/// Parses a boolean written as text.
pub fn parse_bool(text: &str) -> Option<bool> {
    let t = text.trim();
    if t == "1" || t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("yes") {
        Some(true)
    } else if t == "0" || t.eq_ignore_ascii_case("false") || t.eq_ignore_ascii_case("no") {
        Some(false)
    } else {
        None
    }
}

/// Writes a number the way people write it: integers without a fraction, others with at most
/// ten decimals and no trailing zeros.
pub fn write_number(out: &mut String, n: f64) {
    if !n.is_finite() {
        return;
    }
    if n.fract() == 0.0 && n.abs() < 1e15 {
        let _ = write!(out, "{}", n as i64);
        return;
    }
    let start = out.len();
    let _ = write!(out, "{:.10}", n);
    if out[start..].contains('.') {
        while out.ends_with('0') {
            out.pop();
        }
        if out.ends_with('.') {
            out.pop();
        }
    }
    if &out[start..] == "-0" {
        out.truncate(start);
        out.push('0');
    }
}

/// A date or instant read from text, as rules write them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParsedDate {
    /// A calendar date.
    Date(NaiveDate),
    /// An instant.
    Instant(DateTime<Utc>),
}

/// Parses a date written as text: `2024-05-01`, `2024-05-01 10:30[:00]`, `2024-05-01T10:30`,
/// RFC 3339, `01.05.2024`, `01.05.2024 10:30`, or unix seconds. Local times are read in the
/// account's timezone.
pub fn parse_date(text: &str, timezone: &Zone) -> Option<ParsedDate> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if t.bytes().all(|b| b.is_ascii_digit()) && t.len() >= 9 {
        let secs: i64 = t.parse().ok()?;
        return DateTime::from_timestamp(secs, 0).map(ParsedDate::Instant);
    }
    if let Ok(i) = DateTime::parse_from_rfc3339(t) {
        return Some(ParsedDate::Instant(i.with_timezone(&Utc)));
    }
    for format in ["%Y-%m-%d", "%d.%m.%Y"] {
        if let Ok(d) = NaiveDate::parse_from_str(t, format) {
            return Some(ParsedDate::Date(d));
        }
    }
    for format in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%d.%m.%Y %H:%M:%S",
        "%d.%m.%Y %H:%M",
    ] {
        if let Ok(local) = NaiveDateTime::parse_from_str(t, format) {
            return local_to_utc(local, timezone).map(ParsedDate::Instant);
        }
    }
    None
}

/// Converts a local date-time to UTC in a timezone. Ambiguous times (clocks going back) take
/// the earlier instant; times in a gap (clocks going forward) move forward by the gap.
pub fn local_to_utc(local: NaiveDateTime, timezone: &Zone) -> Option<DateTime<Utc>> {
    // chrono panics when an offset pushes a time past its representable range, so refuse the
    // last days of that range outright.
    if !(-260_000..=260_000).contains(&local.year()) {
        return None;
    }
    let to_utc = |offset: chrono::FixedOffset| {
        local
            .checked_sub_signed(chrono::Duration::seconds(i64::from(
                offset.local_minus_utc(),
            )))
            .map(|instant| Utc.from_utc_datetime(&instant))
    };
    match timezone.offset_from_local(&local) {
        chrono::LocalResult::Single(offset) => to_utc(offset),
        chrono::LocalResult::Ambiguous(early, _) => to_utc(early),
        chrono::LocalResult::None => {
            // A gap is at most a few hours. The offset in force just before it, applied to the
            // wall time, lands the same distance past the gap's end: 02:30 in a 02:00->03:00
            // gap becomes 03:30.
            for step in 1..=16 {
                let earlier = local.checked_sub_signed(chrono::Duration::minutes(15 * step))?;
                if let chrono::LocalResult::Single(offset)
                | chrono::LocalResult::Ambiguous(_, offset) =
                    timezone.offset_from_local(&earlier)
                {
                    return to_utc(offset);
                }
            }
            None
        }
    }
}

/// An instant in a timezone. chrono panics when reading the local time of an instant within
/// a day of the ends of its range, so such instants are first clamped two days inward.
pub fn in_timezone(at: DateTime<Utc>, timezone: &Zone) -> DateTime<chrono::FixedOffset> {
    let margin = chrono::Duration::days(2);
    let earliest = DateTime::<Utc>::MIN_UTC + margin;
    let latest = DateTime::<Utc>::MAX_UTC - margin;
    let at = at.clamp(earliest, latest);
    at.with_timezone(&timezone.offset_at(at))
}

/// The local date of an instant.
pub fn local_date(at: DateTime<Utc>, timezone: &Zone) -> NaiveDate {
    in_timezone(at, timezone).date_naive()
}

/// Midnight of a local date, as an instant.
pub fn start_of_day(date: NaiveDate, timezone: &Zone) -> Option<DateTime<Utc>> {
    local_to_utc(date.and_time(NaiveTime::MIN), timezone)
}

impl<'a> Scope<'a> {
    /// The account timezone.
    pub fn timezone(&self) -> &'a Zone {
        &self.snapshot.account.timezone
    }

    /// Reads a variable: the event's (webhook, parent rule) first, then the global one.
    pub fn variable(&self, name: &str) -> Option<&'a str> {
        self.event
            .vars
            .get(name)
            .or_else(|| self.variables.globals.get(name))
            .map(String::as_str)
    }

    /// Reads a global variable only.
    pub fn global(&self, name: &str) -> Option<&'a str> {
        self.variables.globals.get(name).map(String::as_str)
    }

    /// Reads an event variable only.
    pub fn webhook_var(&self, name: &str) -> Option<&'a str> {
        self.event.vars.get(name).map(String::as_str)
    }

    /// Reads the value a path names.
    pub fn read(&self, path: &Path) -> Value<'a> {
        match *path {
            Path::Entity(role, field) => {
                match self.snapshot.entity(role, self.event.entity_type()) {
                    Some(entity) => self.read_entity(entity, field),
                    None => Value::Missing,
                }
            }
            Path::Task(field) => match &self.snapshot.task {
                Some(task) => read_task(task, field),
                None => Value::Missing,
            },
            Path::Clock(field) => self.read_clock(field),
            Path::Event(field) => self.read_event(field),
        }
    }

    fn read_entity(&self, entity: &'a EntitySnapshot, field: EntityField) -> Value<'a> {
        let number = |n: Option<i64>| n.map_or(Value::Missing, |n| Value::Number(n as f64));
        let instant = |i: Option<DateTime<Utc>>| i.map_or(Value::Missing, Value::Instant);
        match field {
            EntityField::Id => Value::Number(entity.id as f64),
            EntityField::Name => Value::Text(Cow::Borrowed(&entity.name)),
            EntityField::Price => entity.price.map_or(Value::Missing, Value::Number),
            EntityField::StatusId => number(entity.status_id),
            EntityField::PipelineId => number(entity.pipeline_id),
            EntityField::ResponsibleUserId => number(entity.responsible_user_id),
            EntityField::ResponsibleName => entity
                .responsible_user_id
                .and_then(|id| self.snapshot.user_name(id))
                .map_or(Value::Missing, |n| Value::Text(Cow::Borrowed(n))),
            EntityField::Tags => Value::List(ListValue::Strings(&entity.tags)),
            EntityField::CreatedAt => instant(entity.created_at),
            EntityField::UpdatedAt => instant(entity.updated_at),
            EntityField::ClosedAt => instant(entity.closed_at),
            EntityField::Source => entity
                .source
                .as_deref()
                .map_or(Value::Missing, |s| Value::Text(Cow::Borrowed(s))),
            EntityField::Utm(utm) => entity
                .utm(utm)
                .map_or(Value::Missing, |s| Value::Text(Cow::Borrowed(s))),
            EntityField::Custom(id) => entity.custom_field(id).map_or(Value::Missing, read_field),
            EntityField::Tasks(aggregate) => {
                let open = entity.tasks.iter().filter(|t| !t.is_completed);
                match aggregate {
                    TaskAggregate::Nearest => instant(open.filter_map(|t| t.complete_till).min()),
                    TaskAggregate::Open => Value::Number(open.count() as f64),
                    TaskAggregate::Overdue => Value::Number(
                        open.filter(|t| t.complete_till.is_some_and(|d| d < self.now))
                            .count() as f64,
                    ),
                    TaskAggregate::Total => Value::Number(entity.tasks.len() as f64),
                }
            }
            EntityField::LinkedCount(kind) => {
                let count = match kind {
                    crate::path::EntityType::Lead => entity.linked.leads,
                    crate::path::EntityType::Contact => entity.linked.contacts,
                    crate::path::EntityType::Company => entity.linked.companies,
                    crate::path::EntityType::Task => entity.tasks.len() as u32,
                };
                Value::Number(f64::from(count))
            }
        }
    }

    fn read_clock(&self, field: ClockField) -> Value<'a> {
        let tz = self.timezone();
        match field {
            ClockField::Now => Value::Instant(self.now),
            ClockField::Today => Value::Date(local_date(self.now, tz)),
            ClockField::Time => {
                let local = in_timezone(self.now, tz);
                Value::Text(Cow::Owned(format!(
                    "{:02}:{:02}",
                    local.hour(),
                    local.minute()
                )))
            }
            ClockField::Weekday => Value::Number(f64::from(
                in_timezone(self.now, tz).weekday().number_from_monday(),
            )),
            ClockField::Timestamp => Value::Number(self.now.timestamp() as f64),
            ClockField::WorkingHours => Value::Bool(
                self.snapshot
                    .account
                    .working_hours
                    .contains_instant(self.now, tz),
            ),
        }
    }

    fn read_event(&self, field: EventField) -> Value<'a> {
        let text = |s: &'a str| Value::Text(Cow::Borrowed(s));
        let direction = |d: Direction| {
            Value::Text(Cow::Borrowed(match d {
                Direction::Incoming => "incoming",
                Direction::Outgoing => "outgoing",
            }))
        };
        let kind = &self.event.kind;
        match (field, kind) {
            (EventField::MessageText, EventKind::MessageReceived { message }) => {
                text(&message.text)
            }
            (EventField::Channel, EventKind::MessageReceived { message }) => text(&message.channel),
            (
                EventField::Channel,
                EventKind::ConversationStarted { channel, .. }
                | EventKind::ConversationClosed { channel }
                | EventKind::OutgoingMessageSeen { channel },
            ) => text(channel),
            (EventField::NoteType, EventKind::NoteAdded { note }) => text(note.note_type.as_str()),
            (EventField::NoteText, EventKind::NoteAdded { note }) => text(&note.text),
            (EventField::Direction, EventKind::NoteAdded { note }) => {
                note.direction.map_or(Value::Missing, direction)
            }
            (EventField::Direction, EventKind::MessageReceived { message }) => {
                direction(message.direction)
            }
            (EventField::Direction, EventKind::ConversationStarted { direction: d, .. }) => {
                direction(*d)
            }
            (EventField::CallDuration, EventKind::NoteAdded { note }) => note
                .call_duration_seconds
                .map_or(Value::Missing, |d| Value::Number(f64::from(d))),
            (EventField::CallStatus, EventKind::NoteAdded { note }) => note
                .call_status
                .map_or(Value::Missing, |s| text(s.as_str())),
            (EventField::EmailSubject, EventKind::NoteAdded { note }) => {
                note.email_subject.as_deref().map_or(Value::Missing, text)
            }
            (EventField::TaskResult, EventKind::TaskCompleted { result }) => result
                .as_deref()
                .or_else(|| {
                    self.snapshot
                        .task
                        .as_ref()
                        .and_then(|t| t.result.as_deref())
                })
                .map_or(Value::Missing, text),
            (EventField::Tag, EventKind::TagAdded { tag } | EventKind::TagRemoved { tag }) => {
                text(tag)
            }
            (EventField::FieldId, EventKind::FieldUpdated { field_id }) => {
                Value::Number(*field_id as f64)
            }
            (EventField::OldStatusId, EventKind::StatusChanged { old_status_id, .. }) => {
                old_status_id.map_or(Value::Missing, |n| Value::Number(n as f64))
            }
            (
                EventField::OldPipelineId,
                EventKind::StatusChanged {
                    old_pipeline_id, ..
                },
            ) => old_pipeline_id.map_or(Value::Missing, |n| Value::Number(n as f64)),
            (
                EventField::OldResponsibleUserId,
                EventKind::ResponsibleChanged { old_user_id, .. },
            ) => old_user_id.map_or(Value::Missing, |n| Value::Number(n as f64)),
            (EventField::EntityFound, EventKind::InboundWebhook { found, .. }) => {
                found.map_or(Value::Missing, Value::Bool)
            }
            _ => Value::Missing,
        }
    }
}

fn read_task(task: &crate::snapshot::TaskSnapshot, field: TaskField) -> Value<'_> {
    match field {
        TaskField::Id => Value::Number(task.id as f64),
        TaskField::Text => Value::Text(Cow::Borrowed(&task.text)),
        TaskField::TypeId => Value::Number(task.task_type_id as f64),
        TaskField::IsCompleted => Value::Bool(task.is_completed),
        TaskField::CompleteTill => task.complete_till.map_or(Value::Missing, Value::Instant),
        TaskField::StartsAt => task.starts_at().map_or(Value::Missing, Value::Instant),
        TaskField::CreatedAt => task.created_at.map_or(Value::Missing, Value::Instant),
        TaskField::Duration => task
            .duration_seconds
            .map_or(Value::Missing, |d| Value::Number(d as f64)),
        TaskField::Result => task
            .result
            .as_deref()
            .map_or(Value::Missing, |r| Value::Text(Cow::Borrowed(r))),
        TaskField::ResponsibleUserId => task
            .responsible_user_id
            .map_or(Value::Missing, |d| Value::Number(d as f64)),
        TaskField::EntityType => task
            .entity_type
            .map_or(Value::Missing, |t| Value::Text(Cow::Borrowed(t.as_str()))),
    }
}

/// The runtime value of a custom field value.
pub fn read_field(value: &FieldValue) -> Value<'_> {
    match value {
        FieldValue::Text(s) | FieldValue::Textarea(s) | FieldValue::Url(s) => {
            Value::Text(Cow::Borrowed(s))
        }
        FieldValue::Numeric(n) => Value::Number(*n),
        FieldValue::Checkbox(b) => Value::Bool(*b),
        FieldValue::Select(e) => Value::Text(Cow::Borrowed(&e.value)),
        FieldValue::Multiselect(list) => Value::List(ListValue::Enums(list)),
        FieldValue::Date(d) | FieldValue::Birthday(d) => Value::Date(*d),
        FieldValue::DateTime(i) => Value::Instant(*i),
        FieldValue::Multitext(list) => Value::List(ListValue::Multitext(list)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(n: f64) -> String {
        let mut s = String::new();
        write_number(&mut s, n);
        s
    }

    #[test]
    fn numbers_print_like_people_write_them() {
        assert_eq!(num(1000.0), "1000");
        assert_eq!(num(0.1 + 0.2), "0.3");
        assert_eq!(num(-2.5), "-2.5");
        assert_eq!(num(-0.0), "0");
    }

    #[test]
    fn numbers_parse_from_loose_text() {
        assert_eq!(parse_number(" 12 "), Some(12.0));
        assert_eq!(parse_number("1 000,5"), Some(1000.5));
        assert_eq!(parse_number("abc"), None);
        assert_eq!(parse_number("inf"), None);
    }

    #[test]
    fn dates_parse_in_every_documented_form() {
        let tz = &Zone::from(chrono_tz::Europe::Berlin);
        let d = NaiveDate::from_ymd_opt(1990, 5, 5).unwrap();
        assert_eq!(parse_date("1990-05-05", tz), Some(ParsedDate::Date(d)));
        assert_eq!(parse_date("05.05.1990", tz), Some(ParsedDate::Date(d)));
        let expected = Utc.with_ymd_and_hms(2024, 7, 1, 8, 30, 0).unwrap();
        assert_eq!(
            parse_date("01.07.2024 10:30", tz),
            Some(ParsedDate::Instant(expected))
        );
        assert_eq!(
            parse_date("2024-07-01T08:30:00Z", tz),
            Some(ParsedDate::Instant(expected))
        );
        assert_eq!(
            parse_date("1719822600", tz),
            Some(ParsedDate::Instant(expected))
        );
        assert_eq!(parse_date("soon", tz), None);
    }

    #[test]
    fn the_ends_of_time_read_in_a_timezone_without_panicking() {
        for at in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
            let mut out = String::new();
            Value::Instant(at).write_text(&mut out, &Zone::from(chrono_tz::Pacific::Kiritimati));
            assert!(!out.is_empty());
            let _ = local_date(at, &Zone::from(chrono_tz::America::Adak));
        }
    }

    #[test]
    fn local_times_in_a_dst_gap_move_forward_and_ambiguous_ones_take_the_first() {
        let tz = &Zone::from(chrono_tz::Europe::Berlin);
        // 2024-03-31 02:30 does not exist in Berlin: clocks jump 02:00 -> 03:00 (CEST, UTC+2).
        let gap = NaiveDate::from_ymd_opt(2024, 3, 31)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        assert_eq!(
            local_to_utc(gap, tz),
            Some(Utc.with_ymd_and_hms(2024, 3, 31, 1, 30, 0).unwrap())
        );
        // 2024-10-27 02:30 happens twice; the first is CEST (UTC+2).
        let twice = NaiveDate::from_ymd_opt(2024, 10, 27)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        assert_eq!(
            local_to_utc(twice, tz),
            Some(Utc.with_ymd_and_hms(2024, 10, 27, 0, 30, 0).unwrap())
        );
    }
}
