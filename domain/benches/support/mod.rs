//! What the benchmarks share: a lead snapshot like a real account's, and writing the flat JSON
//! result where `cargo xtask bench` expects it.
#![allow(dead_code)]

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use domain::snapshot::{
    Account, CustomFieldValue, EntitySnapshot, EnumValue, FieldValue, LinkedCounts, MultitextEntry,
    Snapshot, TaskSnapshot, User, Utm, WeeklyHours,
};

pub fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

fn cf(field_id: i64, value: FieldValue) -> CustomFieldValue {
    CustomFieldValue { field_id, value }
}

/// A lead with twelve custom fields, tags, tasks, a main contact and a company.
pub fn lead_snapshot() -> Snapshot {
    let mut custom_fields = vec![
        cf(101, FieldValue::Text("Blue widgets, 40 boxes".into())),
        cf(102, FieldValue::Numeric(42.5)),
        cf(103, FieldValue::Checkbox(true)),
        cf(
            104,
            FieldValue::Select(EnumValue {
                enum_id: 1,
                value: "Gold".into(),
            }),
        ),
        cf(
            105,
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
        cf(
            106,
            FieldValue::Date(NaiveDate::from_ymd_opt(2024, 6, 20).unwrap()),
        ),
        cf(107, FieldValue::DateTime(utc(2024, 6, 20, 13, 30))),
    ];
    for id in 108..113 {
        custom_fields.push(cf(id, FieldValue::Text(format!("value {id}"))));
    }
    let lead = EntitySnapshot {
        id: 5001,
        name: "WHOLESALE form order".into(),
        price: Some(1500.0),
        status_id: Some(142),
        pipeline_id: Some(7),
        responsible_user_id: Some(11),
        created_at: Some(utc(2024, 6, 1, 9, 0)),
        updated_at: Some(utc(2024, 6, 10, 9, 0)),
        source: Some("Website form".into()),
        utm: Utm {
            source: Some("google".into()),
            campaign: Some("summer_sale".into()),
            ..Utm::default()
        },
        tags: vec!["VIP".into(), "wholesale".into(), "2024".into()],
        custom_fields,
        tasks: (0..4)
            .map(|i| TaskSnapshot {
                id: i,
                is_completed: i == 3,
                complete_till: Some(utc(2024, 6, 12 + i as u32, 10, 0)),
                ..TaskSnapshot::default()
            })
            .collect(),
        linked: LinkedCounts {
            leads: 0,
            contacts: 2,
            companies: 1,
        },
        ..EntitySnapshot::default()
    };
    let contact = EntitySnapshot {
        id: 6001,
        name: "Ana Souza".into(),
        responsible_user_id: Some(12),
        custom_fields: vec![
            cf(
                201,
                FieldValue::Birthday(NaiveDate::from_ymd_opt(1990, 5, 5).unwrap()),
            ),
            cf(
                202,
                FieldValue::Multitext(vec![MultitextEntry {
                    value: "+55 11 5555-0101".into(),
                    enum_code: "MOB".into(),
                }]),
            ),
        ],
        ..EntitySnapshot::default()
    };
    let company = EntitySnapshot {
        id: 7001,
        name: "Acme Ltda".into(),
        ..EntitySnapshot::default()
    };
    Snapshot {
        account: Account {
            timezone: chrono_tz::Europe::Berlin.into(),
            users: vec![
                User {
                    id: 11,
                    name: "Henrique".into(),
                },
                User {
                    id: 12,
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

/// Writes a flat JSON object to `RULEBOOK_BENCH_OUT`, or to `target/bench/<name>.json` under the
/// workspace root, creating the directory.
pub fn write_result(name: &str, fields: &[(&str, f64)]) {
    let path = std::env::var_os("RULEBOOK_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
                .join("bench")
                .join(format!("{name}.json"))
        });
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create the bench output directory");
    }
    let object: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::json!(v)))
        .collect();
    std::fs::write(&path, serde_json::Value::Object(object).to_string())
        .expect("write the bench result");
    println!("wrote {}", path.display());
}
