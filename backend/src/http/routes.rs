//! The route table: every route of the HTTP API with who may call it. The router is built from this
//! table and nothing else, and the tenant-isolation and member-rights tests read the same table, so a
//! route added later is under them without editing the tests.

use axum::{
    extract::{MatchedPath, Request, State},
    handler::Handler,
    middleware::{self, Next},
    response::Response,
    routing::{on, MethodFilter, MethodRouter},
};

use schemars::SchemaGenerator;

use super::{
    body::require_admin,
    openapi::{Documented, OperationDoc},
    ApiResult,
};
use crate::{auth::Caller, startup::AppState};

/// The HTTP method a route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `GET` (reads).
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `DELETE`.
    Delete,
    /// Any method (an inbound webhook takes what the outside service sends).
    Any,
}

impl Verb {
    /// The method's name, `*` for any.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
            Self::Any => "*",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Self::Get => MethodFilter::GET,
            Self::Post => MethodFilter::POST,
            Self::Put => MethodFilter::PUT,
            Self::Delete => MethodFilter::DELETE,
            Self::Any => MethodFilter::GET
                .or(MethodFilter::POST)
                .or(MethodFilter::PUT)
                .or(MethodFilter::PATCH)
                .or(MethodFilter::DELETE),
        }
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: health, and Kommo's OAuth redirect and notices (each checked by its own proof).
    Public,
    /// Kommo or an outside service, authenticated by a secret in the URL; the account comes from it.
    Hook,
    /// Any user of the account (a verified disposable token): reads only.
    Member,
    /// Any user of the account, for an action every user may take without changing rules, variables
    /// or settings: pressing a rule's button, a dry run.
    MemberAction,
    /// An account administrator: every change.
    Admin,
}

/// One route: method, path, who may call it, and its handler.
pub struct Route {
    /// The method.
    pub verb: Verb,
    /// The path, with `{name}` placeholders as axum reads them.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// What it reads and answers, from its handler's types (the OpenAPI document's operation).
    pub(super) doc: fn(&mut SchemaGenerator) -> OperationDoc,
    endpoint: MethodRouter<AppState>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("verb", &self.verb)
            .field("path", &self.path)
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}

impl Route {
    /// A route answering `verb` at `path` with `handler`, callable by `access`.
    pub fn new<H, T>(verb: Verb, path: &'static str, access: Access, handler: H) -> Self
    where
        H: Handler<T, AppState> + Documented<T>,
        T: 'static,
    {
        Self {
            verb,
            path,
            access,
            doc: <H as Documented<T>>::operation,
            endpoint: on(verb.filter(), handler),
        }
    }

    /// `GET` for any member of the account.
    pub fn read<H, T>(path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState> + Documented<T>,
        T: 'static,
    {
        Self::new(Verb::Get, path, Access::Member, handler)
    }

    /// A change only an administrator may make.
    pub fn admin<H, T>(verb: Verb, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState> + Documented<T>,
        T: 'static,
    {
        Self::new(verb, path, Access::Admin, handler)
    }

    /// A request from Kommo or an outside service, authenticated by its URL's secret.
    pub fn hook<H, T>(verb: Verb, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState> + Documented<T>,
        T: 'static,
    {
        Self::new(verb, path, Access::Hook, handler)
    }

    /// Refuses bodies over `bytes` with 413 (tighter than the API's limit).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.endpoint = self
            .endpoint
            .layer(axum::extract::DefaultBodyLimit::max(bytes));
        self
    }

    /// The path and the handler, guarded as its access says: a route for users verifies the caller
    /// once (the handler's [`Caller`] reads it back), and an administrators' route refuses anyone else
    /// before its handler runs.
    pub(super) fn into_parts(self, state: &AppState) -> (&'static str, MethodRouter<AppState>) {
        let endpoint = match self.access {
            Access::Public => self.endpoint,
            Access::Hook => self.endpoint.route_layer(middleware::from_fn(acknowledged)),
            Access::Member | Access::MemberAction => self
                .endpoint
                .route_layer(middleware::from_fn_with_state(state.clone(), any_user)),
            Access::Admin => self
                .endpoint
                .route_layer(middleware::from_fn_with_state(state.clone(), admin_only)),
        };
        (self.path, endpoint)
    }
}

/// Counts and times the answer to a webhook, DP request, inbound call or trigger link (the path
/// template names the route; its secrets are placeholders there).
async fn acknowledged(path: MatchedPath, request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let route = path.as_str().to_owned();
    metrics::histogram!("rulebook_webhook_ack_seconds", "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(
        "rulebook_webhooks_total",
        "route" => route,
        "status" => response.status().as_u16().to_string()
    )
    .increment(1);
    response
}

async fn any_user(
    State(_): State<AppState>,
    caller: Caller,
    mut request: Request,
    next: Next,
) -> Response {
    request.extensions_mut().insert(caller);
    next.run(request).await
}

async fn admin_only(
    State(_): State<AppState>,
    caller: Caller,
    mut request: Request,
    next: Next,
) -> ApiResult<Response> {
    require_admin(&caller)?;
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}
