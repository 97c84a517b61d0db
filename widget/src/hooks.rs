//! Hooks that load backend data into [`Remote`] state.

use yew::prelude::*;

use crate::{bridge::Backend, services, state::Remote};
use domain::api::Me;

/// Loads `GET /api/v1/me` once per mount.
#[hook]
pub fn use_me(backend: &Backend) -> UseStateHandle<Remote<Me>> {
    let me = use_state(|| Remote::Loading);
    {
        let me = me.clone();
        use_effect_with(backend.clone(), move |backend| {
            let backend = backend.clone();
            wasm_bindgen_futures::spawn_local(async move {
                me.set(services::me(&backend).await.into());
            });
        });
    }
    me
}
