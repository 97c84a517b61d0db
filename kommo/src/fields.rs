//! Typed custom field values: what we write (`custom_fields_values` items) and what we read back.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// How a field is addressed in a write: by id, or by code (`PHONE`, `EMAIL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldRef {
    /// `field_id`.
    Id(i64),
    /// `field_code`.
    Code(String),
}

/// One value to write, typed by the kind of field it goes to.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// text, textarea, url, streetaddress.
    Text(String),
    /// numeric.
    Number(f64),
    /// checkbox.
    Checkbox(bool),
    /// date, date_time, birthday: unix seconds.
    Date(i64),
    /// select, radiobutton, multiselect: an enum option by id.
    EnumId(i64),
    /// An enum option by its value text.
    EnumValue(String),
    /// multitext (phone, email): a value with its enum code (`WORK`, `MOB`, ...).
    Multitext {
        /// The phone number or address.
        value: String,
        /// The enum code.
        enum_code: String,
    },
}

impl FieldValue {
    fn to_json(&self) -> Value {
        match self {
            FieldValue::Text(s) => json!({"value": s}),
            FieldValue::Number(n) => {
                if n.fract() == 0.0 && n.abs() < 9.0e15 {
                    json!({"value": *n as i64})
                } else {
                    json!({"value": n})
                }
            }
            FieldValue::Checkbox(b) => json!({"value": b}),
            FieldValue::Date(t) => json!({"value": t}),
            FieldValue::EnumId(id) => json!({"enum_id": id}),
            FieldValue::EnumValue(v) => json!({"value": v}),
            FieldValue::Multitext { value, enum_code } => {
                json!({"value": value, "enum_code": enum_code})
            }
        }
    }
}

/// One `custom_fields_values` item to write; `values: None` clears the field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldWrite {
    /// The field.
    pub field: FieldRef,
    /// New values, or `None` to clear.
    pub values: Option<Vec<FieldValue>>,
}

impl FieldWrite {
    /// Sets a field (by id) to one value.
    pub fn set(field_id: i64, value: FieldValue) -> Self {
        Self {
            field: FieldRef::Id(field_id),
            values: Some(vec![value]),
        }
    }

    /// Clears a field (by id).
    pub fn clear(field_id: i64) -> Self {
        Self {
            field: FieldRef::Id(field_id),
            values: None,
        }
    }
}

impl Serialize for FieldWrite {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serde_json::Map::new();
        match &self.field {
            FieldRef::Id(id) => out.insert("field_id".into(), json!(id)),
            FieldRef::Code(code) => out.insert("field_code".into(), json!(code)),
        };
        out.insert(
            "values".into(),
            match &self.values {
                None => Value::Null,
                Some(values) => Value::Array(values.iter().map(FieldValue::to_json).collect()),
            },
        );
        Value::Object(out).serialize(serializer)
    }
}

/// A custom field value as Kommo returns it on an entity.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct FieldValues {
    /// Field id.
    pub field_id: i64,
    /// Field name.
    #[serde(default)]
    pub field_name: Option<String>,
    /// Field code.
    #[serde(default)]
    pub field_code: Option<String>,
    /// Field type (`text`, `numeric`, ...).
    #[serde(default)]
    pub field_type: Option<String>,
    /// The values.
    #[serde(default)]
    pub values: Vec<StoredFieldValue>,
}

/// One stored value.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct StoredFieldValue {
    /// The raw value.
    #[serde(default)]
    pub value: Value,
    /// Enum id, for enum fields.
    #[serde(default)]
    pub enum_id: Option<i64>,
    /// Enum code, for multitext fields.
    #[serde(default)]
    pub enum_code: Option<String>,
}

impl FieldValues {
    /// The values typed by the field's type.
    pub fn typed(&self) -> Vec<FieldValue> {
        let kind = self.field_type.as_deref().unwrap_or("text");
        self.values
            .iter()
            .filter_map(|v| {
                let text = match &v.value {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                };
                match kind {
                    "numeric" => text.and_then(|t| t.parse().ok()).map(FieldValue::Number),
                    "checkbox" => v.value.as_bool().map(FieldValue::Checkbox),
                    "date" | "date_time" | "birthday" => v
                        .value
                        .as_i64()
                        .or_else(|| text.and_then(|t| t.parse().ok()))
                        .map(FieldValue::Date),
                    "select" | "multiselect" | "radiobutton" => v.enum_id.map(FieldValue::EnumId),
                    "multitext" => Some(FieldValue::Multitext {
                        value: text.unwrap_or_default(),
                        enum_code: v.enum_code.clone().unwrap_or_default(),
                    }),
                    _ => text.map(FieldValue::Text),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_serialize_to_kommo_shapes() {
        let writes = vec![
            FieldWrite::set(1, FieldValue::Number(1500.0)),
            FieldWrite::set(2, FieldValue::EnumId(7)),
            FieldWrite {
                field: FieldRef::Code("PHONE".into()),
                values: Some(vec![FieldValue::Multitext {
                    value: "+1 555".into(),
                    enum_code: "WORK".into(),
                }]),
            },
            FieldWrite::clear(3),
        ];
        assert_eq!(
            serde_json::to_value(&writes).unwrap_or_default(),
            json!([
                {"field_id": 1, "values": [{"value": 1500}]},
                {"field_id": 2, "values": [{"enum_id": 7}]},
                {"field_code": "PHONE", "values": [{"value": "+1 555", "enum_code": "WORK"}]},
                {"field_id": 3, "values": null},
            ])
        );
    }

    #[test]
    fn read_values_are_typed_by_field_type() {
        let read: FieldValues = serde_json::from_value(json!({
            "field_id": 5, "field_type": "numeric", "values": [{"value": "42.5"}]
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read.typed(), vec![FieldValue::Number(42.5)]);
    }
}
