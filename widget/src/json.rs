//! JSON read from an in-memory `serde_json::Value` through its text.
//!
//! Every answer of the backend is read with serde_json's text reader, and serde's derived readers
//! are generic over the reader: reading a type from a `Value` as well would put a second copy of
//! its reader (and of everything it holds) in the wasm. The text round trip costs microseconds
//! on the sizes the app handles.

use serde::de::DeserializeOwned;

/// `serde_json::from_value`, through the value's text.
pub fn from_value<T: DeserializeOwned>(value: &serde_json::Value) -> serde_json::Result<T> {
    serde_json::from_str(&serde_json::to_string(value)?)
}

/// A value written as a JSON string (an enum's name), read as `T`.
pub fn from_name<T: DeserializeOwned>(name: &str) -> serde_json::Result<T> {
    serde_json::from_str(&serde_json::to_string(name)?)
}
