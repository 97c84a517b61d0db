//! Hooks that load backend data into [`Remote`] state.

use std::future::Future;

use yew::prelude::*;

use crate::{bridge::Backend, services, state::Remote, state::UiError};
use domain::api::Me;

/// What [`use_remote`] gives: the state, and a way to load it again.
pub struct RemoteHandle<T> {
    /// Loading, ready or failed.
    pub state: UseStateHandle<Remote<T>>,
    /// Loads again (after a change elsewhere).
    pub reload: Callback<()>,
}

/// Loads `fetch(backend)` on mount, whenever `deps` change, and on `reload`; every screen's loading
/// goes through here, so each shows the same loading and error states.
#[hook]
pub fn use_remote<T, D, F, Fut>(backend: &Backend, deps: D, fetch: F) -> RemoteHandle<T>
where
    T: 'static,
    D: PartialEq + Clone + 'static,
    F: Fn(Backend, D) -> Fut + 'static,
    Fut: Future<Output = Result<T, UiError>> + 'static,
{
    let state = use_state(|| Remote::Loading);
    let generation = use_state(|| 0u32);
    {
        let state = state.clone();
        let backend = backend.clone();
        use_effect_with((deps, *generation), move |(deps, _)| {
            let future = fetch(backend, deps.clone());
            wasm_bindgen_futures::spawn_local(async move {
                state.set(future.await.into());
            });
        });
    }
    let reload = {
        let generation = generation.clone();
        Callback::from(move |_| generation.set(generation.wrapping_add(1)))
    };
    RemoteHandle { state, reload }
}

/// Loads `GET /api/v1/me` once per mount.
#[hook]
pub fn use_me(backend: &Backend) -> UseStateHandle<Remote<Me>> {
    use_remote(backend, (), |b, ()| async move { services::me(&b).await }).state
}
