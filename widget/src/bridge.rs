//! The bridge script.js hands to the app: the only way out of the wasm.
//!
//! `request` is built on Kommo's `$authorizedAjax`, so the disposable token is added by Kommo and the
//! app never sees it. Its promise resolves to `{status, body}` for every HTTP answer (errors included)
//! and to `{status: 0, body: <reason>}` when the network failed.

use std::rc::Rc;

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// The JS bridge object.
    pub type Bridge;

    #[wasm_bindgen(method, js_name = request)]
    fn request(this: &Bridge, method: &str, path: &str, body: Option<String>) -> js_sys::Promise;

    #[wasm_bindgen(method, js_name = setDpSetting)]
    fn set_dp_setting(this: &Bridge, key: &str, value: &str);

    #[wasm_bindgen(method, js_name = getDpSetting)]
    fn get_dp_setting(this: &Bridge, key: &str) -> Option<String>;

    #[wasm_bindgen(method, js_name = openRunsOf)]
    fn open_runs_of(this: &Bridge, rule_id: f64);
}

/// A raw answer from the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// The HTTP status, or 0 when the request never got an answer.
    pub status: u16,
    /// The body as text.
    pub body: String,
}

/// A cheap, comparable handle on the bridge for component props.
#[derive(Clone)]
pub struct Backend(Rc<Bridge>);

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Backend")
    }
}

impl PartialEq for Backend {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl Backend {
    /// Wraps the bridge script.js gave us.
    pub fn new(bridge: Bridge) -> Self {
        Self(Rc::new(bridge))
    }

    /// Sends one request through `$authorizedAjax`.
    pub async fn send(&self, method: &str, path: &str, body: Option<String>) -> RawResponse {
        let answer = wasm_bindgen_futures::JsFuture::from(self.0.request(method, path, body)).await;
        let value = match answer {
            Ok(v) | Err(v) => v,
        };
        let status = js_sys::Reflect::get(&value, &JsValue::from_str("status"))
            .ok()
            .and_then(|v| v.as_f64())
            .map_or(0, |s| s.clamp(0.0, 999.0) as u16);
        let body = js_sys::Reflect::get(&value, &JsValue::from_str("body"))
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default();
        RawResponse { status, body }
    }

    /// Writes a digital-pipeline action setting back into Kommo's form.
    pub fn set_dp_setting(&self, key: &str, value: &str) {
        self.0.set_dp_setting(key, value);
    }

    /// Remembers which rule's runs the advanced-settings page should open on, just before a link
    /// leaves a card for it (script.js keeps it for the page's next mount; the URL stays Kommo's).
    pub fn open_runs_of(&self, rule_id: i64) {
        self.0.open_runs_of(rule_id as f64);
    }

    /// Reads a digital-pipeline action setting from Kommo's form.
    pub fn dp_setting(&self, key: &str) -> Option<String> {
        self.0.get_dp_setting(key)
    }
}
