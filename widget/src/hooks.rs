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

/// What a listed item's rotate or delete button asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowAction {
    /// A new URL (the old one stops working).
    Rotate,
    /// Gone.
    Delete,
}

/// What [`use_row_actions`] gives: confirmed rotate and delete buttons of a list's rows.
pub struct RowActions {
    run: Callback<(RowAction, i64)>,
}

impl RowActions {
    /// A click that asks `question` and, once confirmed, performs `action` on the item `id`.
    pub fn on_confirmed(
        &self,
        action: RowAction,
        id: i64,
        question: String,
    ) -> Callback<MouseEvent> {
        let run = self.run.clone();
        Callback::from(move |_| {
            if gloo::dialogs::confirm(&question) {
                run.emit((action, id));
            }
        })
    }
}

/// Rotates or deletes an item of a list loaded by [`use_remote`]: `perform` calls the backend;
/// success clears `error` and reloads the list, failure shows in `error`. The webhook receivers
/// and trigger links share it.
#[hook]
pub fn use_row_actions<F, Fut>(
    backend: &Backend,
    reload: Callback<()>,
    error: UseStateHandle<Option<UiError>>,
    perform: F,
) -> RowActions
where
    F: Fn(Backend, RowAction, i64) -> Fut + 'static,
    Fut: Future<Output = Result<(), UiError>> + 'static,
{
    let backend = backend.clone();
    let run = Callback::from(move |(action, id): (RowAction, i64)| {
        let done = perform(backend.clone(), action, id);
        let (reload, error) = (reload.clone(), error.clone());
        wasm_bindgen_futures::spawn_local(async move {
            match done.await {
                Ok(()) => {
                    error.set(None);
                    reload.emit(());
                }
                Err(e) => error.set(Some(e)),
            }
        });
    });
    RowActions { run }
}

/// Loads `GET /api/v1/me` once per mount.
#[hook]
pub fn use_me(backend: &Backend) -> UseStateHandle<Remote<Me>> {
    use_remote(backend, (), |b, ()| async move { services::me(&b).await }).state
}
