//! Shared fixtures for the domain tests: a lead snapshot with a main contact and company, and
//! helpers to build events and scopes.
#![allow(dead_code)]

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use domain::event::{Event, EventKind};
use domain::path::EntityType;
use domain::snapshot::{
    Account, CustomFieldValue, EntitySnapshot, EnumValue, FieldValue, LinkedCounts, MultitextEntry,
    Snapshot, TaskSnapshot, User, Utm, WeeklyHours,
};

pub const TEXT_FIELD: i64 = 101;
pub const NUMBER_FIELD: i64 = 102;
pub const CHECKBOX_FIELD: i64 = 103;
pub const SELECT_FIELD: i64 = 104;
pub const MULTISELECT_FIELD: i64 = 105;
pub const DATE_FIELD: i64 = 106;
pub const DATE_TIME_FIELD: i64 = 107;
pub const URL_FIELD: i64 = 108;
pub const TEXTAREA_FIELD: i64 = 109;
pub const BIRTHDAY_FIELD: i64 = 201;
pub const PHONE_FIELD: i64 = 202;

pub const HENRIQUE: i64 = 11;
pub const DAVID: i64 = 12;

pub fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn cf(field_id: i64, value: FieldValue) -> CustomFieldValue {
    CustomFieldValue { field_id, value }
}

/// A lead named `name` in Europe/Berlin with one value of every custom field type.
pub fn lead_snapshot(name: &str) -> Snapshot {
    lead_snapshot_in(name, chrono_tz::Europe::Berlin)
}

pub fn lead_snapshot_in(name: &str, timezone: Tz) -> Snapshot {
    let lead = EntitySnapshot {
        id: 5001,
        name: name.to_owned(),
        price: Some(1500.0),
        status_id: Some(142),
        pipeline_id: Some(7),
        responsible_user_id: Some(HENRIQUE),
        created_at: Some(utc(2024, 6, 1, 9, 0)),
        updated_at: Some(utc(2024, 6, 10, 9, 0)),
        closed_at: None,
        source: Some("Website form".into()),
        utm: Utm {
            source: Some("google".into()),
            medium: Some("cpc".into()),
            campaign: Some("summer_sale".into()),
            term: None,
            content: Some("banner_top".into()),
        },
        tags: vec!["VIP".into(), "wholesale".into()],
        custom_fields: vec![
            cf(TEXT_FIELD, FieldValue::Text("Blue widgets".into())),
            cf(NUMBER_FIELD, FieldValue::Numeric(42.5)),
            cf(CHECKBOX_FIELD, FieldValue::Checkbox(true)),
            cf(
                SELECT_FIELD,
                FieldValue::Select(EnumValue {
                    enum_id: 1,
                    value: "Gold".into(),
                }),
            ),
            cf(
                MULTISELECT_FIELD,
                FieldValue::Multiselect(vec![
                    EnumValue {
                        enum_id: 2,
                        value: "Red".into(),
                    },
                    EnumValue {
                        enum_id: 3,
                        value: "Green".into(),
                    },
                ]),
            ),
            cf(DATE_FIELD, FieldValue::Date(date(2024, 6, 20))),
            cf(
                DATE_TIME_FIELD,
                FieldValue::DateTime(utc(2024, 6, 20, 13, 30)),
            ),
            cf(URL_FIELD, FieldValue::Url("https://example.com/p".into())),
            cf(
                TEXTAREA_FIELD,
                FieldValue::Textarea("line one\nline two".into()),
            ),
        ],
        tasks: vec![
            TaskSnapshot {
                id: 1,
                is_completed: false,
                complete_till: Some(utc(2024, 6, 14, 10, 0)),
                ..TaskSnapshot::default()
            },
            TaskSnapshot {
                id: 2,
                is_completed: false,
                complete_till: Some(utc(2024, 6, 18, 10, 0)),
                ..TaskSnapshot::default()
            },
            TaskSnapshot {
                id: 3,
                is_completed: true,
                complete_till: Some(utc(2024, 6, 1, 10, 0)),
                ..TaskSnapshot::default()
            },
        ],
        linked: LinkedCounts {
            leads: 0,
            contacts: 2,
            companies: 1,
        },
    };
    let contact = EntitySnapshot {
        id: 6001,
        name: "Ana Souza".into(),
        responsible_user_id: Some(DAVID),
        custom_fields: vec![
            cf(BIRTHDAY_FIELD, FieldValue::Birthday(date(1990, 5, 5))),
            cf(
                PHONE_FIELD,
                FieldValue::Multitext(vec![MultitextEntry {
                    value: "+55 11 5555-0101".into(),
                    enum_code: "MOB".into(),
                }]),
            ),
        ],
        linked: LinkedCounts {
            leads: 3,
            contacts: 0,
            companies: 1,
        },
        ..EntitySnapshot::default()
    };
    let company = EntitySnapshot {
        id: 7001,
        name: "Acme Ltda".into(),
        linked: LinkedCounts {
            leads: 4,
            contacts: 2,
            companies: 0,
        },
        ..EntitySnapshot::default()
    };
    Snapshot {
        account: Account {
            timezone: timezone.into(),
            users: vec![
                User {
                    id: HENRIQUE,
                    name: "Henrique".into(),
                },
                User {
                    id: DAVID,
                    name: "David".into(),
                },
            ],
            working_hours: WeeklyHours::default(),
        },
        lead: Some(lead),
        contact: Some(contact),
        company: Some(company),
        task: None,
    }
}

pub fn lead_event(kind: EventKind) -> Event {
    Event::about(EntityType::Lead, 5001, kind)
}

pub fn contact_event(kind: EventKind) -> Event {
    Event::about(EntityType::Contact, 6001, kind)
}
