//! The Kommo-like web page our widget runs in, for the sandbox and the browser tests.
//!
//! It imitates what Kommo's frontend gives a widget (kommo-platform.md §2): real RequireJS and jQuery
//! (from npm), the `APP`/`AMOCRM` global, the widget object with `params`, `get_settings`, `i18n`,
//! `render_template` and `$authorizedAjax` (which mints a disposable token, HS256 with the sandbox
//! client secret, claims of §6.2), and the lifecycle: `render`, then `init`, then `bind_actions`, then
//! the location's callback (`advancedSettings`, the right panel of a lead, contact or company card,
//! `dpSettings`, and in the Salesbot designer `salesbotDesignerSettings` and, on Save,
//! `onSalesbotDesignerSave`). `/settings/widgets/{code}/` is the widget's advanced-settings page, as
//! Kommo's address for it.
//!
//! The widget is served from the unpacked `widget.zip` (`widget_dir`), never from the source tree, and
//! `.wasm` files are served as `application/octet-stream`, as an arbitrary host might, so the widget's
//! loader is proven not to depend on the MIME type.

use std::path::PathBuf;

use axum::{
    extract::Request,
    http::{header, HeaderValue},
    middleware::{self, Next},
    response::{Html, IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde::Serialize;
use tower_http::services::{ServeDir, ServeFile};

/// Where the page finds the widget and the npm packages, and whom it pretends to be.
#[derive(Debug, Clone)]
pub struct HostPageConfig {
    /// The unpacked widget archive (the folder holding `manifest.json`).
    pub widget_dir: PathBuf,
    /// A `node_modules` folder with `requirejs` and `jquery`.
    pub node_modules: PathBuf,
    /// The account, user and integration the page pretends to be; each can be overridden per page
    /// load with a query parameter of the same name.
    pub identity: SandboxIdentity,
}

/// The sandbox account and integration. The page's query string may override every field.
#[derive(Debug, Clone, Serialize)]
pub struct SandboxIdentity {
    /// The account's subdomain.
    pub subdomain: String,
    /// The account id.
    pub account_id: i64,
    /// The user who "opened" the page.
    pub user_id: i64,
    /// Whether that user is an administrator.
    pub is_admin: bool,
    /// The integration's client id (`client_uuid` claim).
    pub client_uuid: String,
    /// The integration's secret key, which signs disposable tokens.
    pub client_secret: String,
    /// The `aud` claim: the backend's origin.
    pub audience: String,
    /// The widget code Kommo assigned.
    pub widget_code: String,
    /// The widget settings as saved in the account (e.g. `backend_url`).
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// Kommo's interface language.
    pub lang: String,
}

impl Default for SandboxIdentity {
    fn default() -> Self {
        Self {
            subdomain: "sandbox".into(),
            account_id: 31_000_001,
            user_id: 1001,
            is_admin: true,
            client_uuid: "00000000-0000-4000-8000-000000000001".into(),
            client_secret: "sandbox-client-secret-change-me".into(),
            audience: "http://127.0.0.1:8080".into(),
            widget_code: "rulebook".into(),
            settings: serde_json::Map::new(),
            lang: "en".into(),
        }
    }
}

const INDEX_HTML: &str = include_str!("../host/index.html");
const HOST_JS: &str = include_str!("../host/kommo-host.js");
const HOST_CSS: &str = include_str!("../host/kommo-host.css");

/// The host page's routes: `/`, `/settings/widgets/{code}/`, `/host/*`, `/vendor/*` and `/widget/*`.
pub fn router(config: HostPageConfig) -> Router {
    let identity = config.identity.clone();
    let widget = ServeDir::new(&config.widget_dir);
    Router::new()
        .route("/", get(|| async { Html(INDEX_HTML) }))
        // Kommo's advanced-settings page of a widget, where a card's link to the debugger leads.
        .route(
            "/settings/widgets/{code}/",
            get(|| async { Html(INDEX_HTML) }),
        )
        .route(
            "/host/kommo-host.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], HOST_JS) }),
        )
        .route(
            "/host/kommo-host.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css")], HOST_CSS) }),
        )
        .route(
            "/host/config.json",
            get(move || async move { Json(identity) }),
        )
        .route_service(
            "/vendor/require.js",
            ServeFile::new(config.node_modules.join("requirejs/require.js")),
        )
        .route_service(
            "/vendor/jquery.js",
            ServeFile::new(config.node_modules.join("jquery/dist/jquery.js")),
        )
        .nest_service("/widget", widget)
        .layer(middleware::from_fn(wasm_as_octet_stream))
}

/// Serves `.wasm` as `application/octet-stream`: Kommo's MIME type for it is unconfirmed.
async fn wasm_as_octet_stream(request: Request, next: Next) -> Response {
    let is_wasm = request.uri().path().ends_with(".wasm");
    let mut response = next.run(request).await.into_response();
    if is_wasm {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
    }
    response
}
