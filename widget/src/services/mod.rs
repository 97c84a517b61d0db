//! Backend calls: one generic request function and one short function per endpoint.

use serde::de::DeserializeOwned;

use crate::{
    bridge::Backend,
    state::{decode, UiError},
};
use domain::api::Me;

/// Sends a request through the bridge and decodes the answer.
pub async fn request<T: DeserializeOwned>(
    backend: &Backend,
    method: &str,
    path: &str,
    body: Option<String>,
) -> Result<T, UiError> {
    decode(&backend.send(method, path, body).await)
}

/// `GET /api/v1/me`.
pub async fn me(backend: &Backend) -> Result<Me, UiError> {
    request(backend, "GET", "/api/v1/me", None).await
}
