//! Rulebook's Kommo widget: a Yew app that `script.js` mounts into Kommo's pages.
//!
//! Architecture Invariant: the app never handles Kommo credentials and never talks to the network by
//! itself. Every backend call goes through the [`bridge::Bridge`] that `script.js` builds on Kommo's
//! `$authorizedAjax`, which adds the disposable `X-Auth-Token`. The app knows the DOM it is given and
//! nothing about SQL or the Kommo REST API; the page belongs to Kommo, so it never touches the URL.
//!
//! # Layout
//! - [`bridge`]: the JS object script.js hands over (backend requests, digital-pipeline settings).
//! - [`context`]: where the app is mounted and what Kommo told script.js (location, lead, language).
//! - [`hooks`]: hooks that load backend data into screen state.
//! - [`json`]: reading a `serde_json::Value` through its text (one reader per type in the wasm).
//! - [`services`]: one generic request function and one short function per backend endpoint.
//! - [`state`]: DOM-free app state, reducers covered by plain `cargo test`.
//! - [`runs`]: the debugger's runs, outcomes, Kommo links and replay differences (DOM-free).
//! - [`progress`]: a launch's progress and how often the list dialog asks for it (DOM-free).
//! - [`app`]: one page per Kommo location; [`components`]: shared pieces.

pub mod app;
pub mod bridge;
pub mod components;
pub mod context;
pub mod editor;
pub mod hooks;
pub mod i18n;
pub mod json;
pub mod progress;
pub mod runs;
pub mod services;
pub mod state;

use wasm_bindgen::prelude::*;

/// A mounted app; script.js keeps it and calls `destroy()` when Kommo leaves the page.
#[wasm_bindgen]
pub struct MountedApp {
    handle: Option<yew::AppHandle<app::Root>>,
}

#[wasm_bindgen]
impl MountedApp {
    /// Unmounts the app and frees its resources. Calling it twice is harmless.
    pub fn destroy(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.destroy();
        }
    }
}

/// Mounts the app into `root`. `context_json` describes the location (see [`context::WidgetContext`]);
/// `bridge` is the object that performs authorized requests. A context that cannot be read is shown
/// as an error inside `root` instead of failing silently.
#[wasm_bindgen]
pub fn mount(root: web_sys::Element, context_json: &str, bridge: bridge::Bridge) -> MountedApp {
    let props = match context::WidgetContext::from_json(context_json) {
        Ok(context) => app::RootProps {
            context: Ok(context),
            backend: bridge::Backend::new(bridge),
        },
        Err(err) => app::RootProps {
            context: Err(err.to_string()),
            backend: bridge::Backend::new(bridge),
        },
    };
    let handle = yew::Renderer::<app::Root>::with_root_and_props(root, props).render();
    MountedApp {
        handle: Some(handle),
    }
}
