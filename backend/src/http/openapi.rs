//! `GET /api/v1/openapi.json`: the API described as OpenAPI 3.1, generated from the route table
//! ([`super::routes`]) and the Rust types of each handler.
//!
//! Nothing here is written by hand per route. A route's path, method and who may call it come from
//! its [`Route`]; its parameters, query, body and answer from its handler's signature: every
//! extractor a handler takes says what it reads ([`ApiInput`]), and every type a handler returns
//! says what it answers ([`ApiOutput`]), with JSON Schemas (2020-12, the dialect of OpenAPI 3.1)
//! derived by `schemars` from the same types serde reads and writes. A handler that takes or returns
//! a type without a description does not compile. Every error is `application/problem+json`, with
//! the codes of [`super::error::CODES`].

use std::{future::Future, sync::OnceLock};

use axum::{
    body::Bytes,
    extract::{MatchedPath, Path, Query, RawQuery, Request, State},
    http::{request::Parts, HeaderMap, Method, StatusCode, Uri},
    response::{Html, Redirect, Response},
    Json,
};
use schemars::{generate::SchemaSettings, JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

use super::{
    body::{ApiJson, ApiPath, ApiQuery, RawBody},
    error::CODES,
    page::{PageParameters, Paged},
    routes::{Access, Route, Verb},
    ApiError,
};
use crate::auth::Caller;

pub(super) fn routes() -> Vec<Route> {
    vec![Route::new(
        Verb::Get,
        "/api/v1/openapi.json",
        Access::Public,
        openapi_json,
    )]
}

/// The document, built once per process from the route table.
async fn openapi_json() -> Json<Document> {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    Json(Document(
        DOCUMENT.get_or_init(|| document(&super::routes())).clone(),
    ))
}

/// The OpenAPI document itself (its schema is OpenAPI's, not ours).
#[derive(Debug, serde::Serialize)]
#[serde(transparent)]
pub struct Document(Value);

impl JsonSchema for Document {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "OpenApiDocument".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "description": "An OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0)."
        })
    }
}

/// What one operation reads and answers, gathered from its handler's types.
#[derive(Debug, Default)]
pub struct OperationDoc {
    /// `parameters` (path and query).
    parameters: Vec<Value>,
    /// `requestBody`.
    request_body: Option<Value>,
    /// The answer on success: status and content.
    success: Option<(u16, Value)>,
}

impl OperationDoc {
    fn respond(&mut self, status: u16, response: Value) {
        self.success.get_or_insert((status, response));
    }
}

/// An extractor a handler takes: what it reads from the request.
pub trait ApiInput {
    /// Adds what it reads to `op`.
    fn describe(_op: &mut OperationDoc, _generator: &mut SchemaGenerator) {}
}

/// A type a handler returns: what it answers on success.
pub trait ApiOutput {
    /// Adds the answer to `op`.
    fn describe(op: &mut OperationDoc, generator: &mut SchemaGenerator);
}

/// A handler whose every input and output is described: implemented for every function whose
/// arguments are [`ApiInput`]s and whose answer is an [`ApiOutput`] (`T` is axum's tuple of the
/// handler's extractors).
pub trait Documented<T> {
    /// The operation the handler performs.
    fn operation(generator: &mut SchemaGenerator) -> OperationDoc;
}

impl<F, Fut> Documented<((),)> for F
where
    F: FnOnce() -> Fut,
    Fut: Future,
    Fut::Output: ApiOutput,
{
    fn operation(generator: &mut SchemaGenerator) -> OperationDoc {
        let mut op = OperationDoc::default();
        <Fut::Output as ApiOutput>::describe(&mut op, generator);
        op
    }
}

macro_rules! documented {
    ($($input:ident),+) => {
        impl<F, Fut, M, $($input,)+> Documented<(M, $($input,)+)> for F
        where
            F: FnOnce($($input,)+) -> Fut,
            Fut: Future,
            Fut::Output: ApiOutput,
            $($input: ApiInput,)+
        {
            fn operation(generator: &mut SchemaGenerator) -> OperationDoc {
                let mut op = OperationDoc::default();
                $(<$input as ApiInput>::describe(&mut op, generator);)+
                <Fut::Output as ApiOutput>::describe(&mut op, generator);
                op
            }
        }
    };
}

documented!(T1);
documented!(T1, T2);
documented!(T1, T2, T3);
documented!(T1, T2, T3, T4);
documented!(T1, T2, T3, T4, T5);
documented!(T1, T2, T3, T4, T5, T6);
documented!(T1, T2, T3, T4, T5, T6, T7);
documented!(T1, T2, T3, T4, T5, T6, T7, T8);

// Inputs that add nothing to the document: the state, the verified caller (the route's security
// says who), and the raw request parts a hook reads as its sender sends them.
impl<S> ApiInput for State<S> {}
impl ApiInput for Caller {}
impl ApiInput for HeaderMap {}
impl ApiInput for Method {}
impl ApiInput for Uri {}
impl ApiInput for MatchedPath {}
impl ApiInput for Request {}
impl<T> ApiInput for axum::extract::ConnectInfo<T> {}
impl ApiInput for Parts {}
/// A hook's query string, read as its sender wrote it.
impl ApiInput for RawQuery {}
impl<T> ApiInput for Path<T> {}

/// A hook's raw body: whatever its sender sends.
impl ApiInput for Bytes {
    fn describe(op: &mut OperationDoc, _: &mut SchemaGenerator) {
        op.request_body = Some(json!({
            "description": "The request as its sender sends it (JSON, a form or anything else).",
            "content": { "*/*": { "schema": {} } }
        }));
    }
}

/// Path parameters are described from the route's path; their type is checked by the handler.
impl<T> ApiInput for ApiPath<T> {}

/// The query parameters of `T`, each a property of its schema.
fn query_parameters<T: JsonSchema>(op: &mut OperationDoc) {
    let mut settings = SchemaSettings::draft2020_12();
    settings.inline_subschemas = true;
    settings.meta_schema = None;
    let schema = SchemaGenerator::new(settings).into_root_schema_for::<T>();
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            let mut parameter = json!({
                "name": name,
                "in": "query",
                "required": required.contains(&name.as_str()),
                "schema": property,
            });
            if let Some(description) = property.get("description") {
                parameter["description"] = description.clone();
            }
            op.parameters.push(parameter);
        }
    }
}

impl<T: JsonSchema> ApiInput for ApiQuery<T> {
    fn describe(op: &mut OperationDoc, _: &mut SchemaGenerator) {
        query_parameters::<T>(op);
    }
}

impl<T: JsonSchema> ApiInput for Query<T> {
    fn describe(op: &mut OperationDoc, _: &mut SchemaGenerator) {
        query_parameters::<T>(op);
    }
}

impl ApiInput for Paged {
    fn describe(op: &mut OperationDoc, _: &mut SchemaGenerator) {
        query_parameters::<PageParameters>(op);
    }
}

/// A hook's raw body: whatever its sender sends.
impl ApiInput for RawBody {
    fn describe(op: &mut OperationDoc, generator: &mut SchemaGenerator) {
        <Bytes as ApiInput>::describe(op, generator);
    }
}

impl<T: JsonSchema> ApiInput for ApiJson<T> {
    fn describe(op: &mut OperationDoc, generator: &mut SchemaGenerator) {
        op.request_body = Some(json!({
            "required": true,
            "content": { "application/json": { "schema": generator.subschema_for::<T>() } }
        }));
    }
}

impl<T: ApiOutput> ApiOutput for Result<T, ApiError> {
    fn describe(op: &mut OperationDoc, generator: &mut SchemaGenerator) {
        T::describe(op, generator);
    }
}

impl ApiOutput for ApiError {
    fn describe(_: &mut OperationDoc, _: &mut SchemaGenerator) {}
}

impl<T: JsonSchema> ApiOutput for Json<T> {
    fn describe(op: &mut OperationDoc, generator: &mut SchemaGenerator) {
        op.respond(
            200,
            json!({
                "description": "OK",
                "content": { "application/json": { "schema": generator.subschema_for::<T>() } }
            }),
        );
    }
}

impl<T: JsonSchema> ApiOutput for (StatusCode, Json<T>) {
    fn describe(op: &mut OperationDoc, generator: &mut SchemaGenerator) {
        op.respond(
            201,
            json!({
                "description": "Created (or 200 when nothing new was made)",
                "content": { "application/json": { "schema": generator.subschema_for::<T>() } }
            }),
        );
    }
}

impl ApiOutput for StatusCode {
    fn describe(op: &mut OperationDoc, _: &mut SchemaGenerator) {
        op.respond(204, json!({ "description": "Done; no content" }));
    }
}

impl ApiOutput for Html<String> {
    fn describe(op: &mut OperationDoc, _: &mut SchemaGenerator) {
        op.respond(
            200,
            json!({
                "description": "A page for the person's browser",
                "content": { "text/html": { "schema": { "type": "string" } } }
            }),
        );
    }
}

impl ApiOutput for Redirect {
    fn describe(op: &mut OperationDoc, _: &mut SchemaGenerator) {
        op.respond(
            303,
            json!({ "description": "Sends the browser on (Location)" }),
        );
    }
}

/// A handler that shapes its answer itself (a hook's acknowledgement, a page, the metrics).
impl ApiOutput for Response {
    fn describe(op: &mut OperationDoc, _: &mut SchemaGenerator) {
        op.respond(
            200,
            json!({
                "description": "OK; the content type depends on the request",
                "content": { "*/*": { "schema": {} } }
            }),
        );
    }
}

/// The schema generator: JSON Schema 2020-12 with definitions under `#/components/schemas`.
fn generator() -> SchemaGenerator {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    settings.meta_schema = None;
    SchemaGenerator::new(settings)
}

/// The OpenAPI 3.1 document of `routes`.
pub fn document(routes: &[Route]) -> Value {
    let mut generator = generator();
    let problem = generator.subschema_for::<domain::api::Problem>();
    let mut paths = Map::new();
    for route in routes {
        let mut op = (route.doc)(&mut generator);
        op.parameters.splice(0..0, path_parameters(route.path));
        let operation = operation(route, op);
        let item = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        for method in methods(route.verb) {
            item[method] = operation.clone();
        }
    }
    let mut schemas = generator.take_definitions(true);
    if let Some(Value::Object(problem)) = schemas.get_mut("Problem") {
        problem.insert(
            "description".into(),
            json!(format!(
                "Every error (RFC 9457 problem details). Its codes: {}.",
                CODES
                    .iter()
                    .map(|(code, meaning)| format!("`{code}` {meaning}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
        );
        if let Some(Value::Object(properties)) = problem.get_mut("properties") {
            if let Some(Value::Object(code)) = properties.get_mut("code") {
                code.insert(
                    "examples".into(),
                    CODES.iter().map(|(c, _)| json!(c)).collect(),
                );
            }
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Rulebook API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Rules automation for Kommo CRM: the API the Rulebook widget calls, \
                and the hooks Kommo and outside services call. Every error is \
                application/problem+json with a stable `code`."
        },
        "servers": [{ "url": "/" }],
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "kommoDisposableToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Auth-Token",
                    "description": "The disposable token Kommo's $authorizedAjax adds: a JWT signed \
                        with the integration's secret key, naming the account and the user. It is \
                        accepted once."
                }
            },
            "responses": {
                "Problem": {
                    "description": "An error, as problem+json with a code and a sentence",
                    "content": { "application/problem+json": { "schema": problem } }
                }
            }
        },
        "paths": paths,
    })
}

fn operation(route: &Route, op: OperationDoc) -> Value {
    let (status, success) = op.success.unwrap_or((200, json!({ "description": "OK" })));
    let mut responses = Map::new();
    responses.insert(status.to_string(), success);
    responses.insert(
        "default".into(),
        json!({ "$ref": "#/components/responses/Problem" }),
    );
    let (who, security) = match route.access {
        Access::Public => ("Anyone.", json!([])),
        Access::Hook => (
            "Kommo or an outside service; the secret in the path names the account.",
            json!([]),
        ),
        Access::Member => (
            "Any user of the account (reads).",
            json!([{ "kommoDisposableToken": [] }]),
        ),
        Access::MemberAction => (
            "Any user of the account (an action that changes no rule or setting).",
            json!([{ "kommoDisposableToken": [] }]),
        ),
        Access::Admin => (
            "An administrator of the account.",
            json!([{ "kommoDisposableToken": [] }]),
        ),
    };
    let mut operation = json!({
        "operationId": operation_id(route),
        "description": format!("Who may call it: {who}"),
        "x-rulebook-access": format!("{:?}", route.access).to_lowercase(),
        "security": security,
        "responses": responses,
    });
    if !op.parameters.is_empty() {
        operation["parameters"] = Value::Array(op.parameters);
    }
    if let Some(body) = op.request_body {
        operation["requestBody"] = body;
    }
    operation
}

/// The methods `verb` stands for, as OpenAPI names them.
fn methods(verb: Verb) -> &'static [&'static str] {
    match verb {
        Verb::Get => &["get"],
        Verb::Post => &["post"],
        Verb::Put => &["put"],
        Verb::Delete => &["delete"],
        Verb::Any => &["get", "post", "put", "patch", "delete"],
    }
}

/// `verb` and path, e.g. `post_api_v1_rules_id_enable`: unique because the table's routes are.
fn operation_id(route: &Route) -> String {
    let path: String = route
        .path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let path = path
        .split('_')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    format!(
        "{}_{path}",
        route.verb.as_str().replace('*', "any").to_lowercase()
    )
}

/// The `{name}` placeholders of `path`, each a required string path parameter.
fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            json!({
                "name": name,
                "in": "path",
                "required": true,
                "schema": { "type": "string" },
                "description": parameter_meaning(name),
            })
        })
        .collect()
}

fn parameter_meaning(name: &str) -> &'static str {
    match name {
        "id" => "The id of the resource the path names.",
        "entity_type" => "leads, contacts or companies.",
        "entity_id" => "The Kommo id of the entity.",
        "name" => "The global variable's name.",
        _ => "A secret or key that names the account or the rule; given out by the API.",
    }
}
