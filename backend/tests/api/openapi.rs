//! `/api/v1/openapi.json`: an OpenAPI 3.1 document of every route of the table, with its
//! parameters, bodies, answers and who may call it, and problem+json errors with their codes.

use axum::http::StatusCode;
use rulebook::http::routes::{Access, Verb};
use serde_json::Value;

use crate::helpers::{spawn_app, Backend, TestApp, ADMIN};

crate::on_both_databases!(
    the_document_is_openapi_3_1_and_names_every_route_of_the_table,
    every_reference_of_the_document_resolves,
    bodies_answers_and_errors_are_described_from_the_types,
);

async fn document(app: &TestApp) -> Value {
    let answer = app.get("/api/v1/openapi.json", ADMIN).await;
    assert_eq!(answer.status, StatusCode::OK);
    answer.body
}

fn methods(verb: Verb) -> &'static [&'static str] {
    match verb {
        Verb::Get => &["get"],
        Verb::Post => &["post"],
        Verb::Put => &["put"],
        Verb::Delete => &["delete"],
        Verb::Any => &["get", "post", "put", "patch", "delete"],
    }
}

async fn the_document_is_openapi_3_1_and_names_every_route_of_the_table(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = document(&app).await;

    let parsed = oas3::from_json(doc.to_string()).expect("an OpenAPI 3.1 document");
    assert!(parsed.openapi.starts_with("3.1"));
    let mut missing = Vec::new();
    for route in rulebook::http::routes() {
        for method in methods(route.verb) {
            let operation = &doc["paths"][route.path][*method];
            if !operation.is_object() {
                missing.push(format!("{method} {}", route.path));
                continue;
            }
            let secured = operation["security"]
                .as_array()
                .is_some_and(|s| !s.is_empty());
            let needs_token = matches!(
                route.access,
                Access::Member | Access::MemberAction | Access::Admin
            );
            assert_eq!(
                secured, needs_token,
                "{method} {}: its security",
                route.path
            );
            assert!(
                operation["responses"]["default"]["$ref"] == "#/components/responses/Problem",
                "{method} {}: errors are problem+json",
                route.path
            );
        }
    }
    assert!(
        missing.is_empty(),
        "routes missing from the document: {missing:?}"
    );
    let operations = doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|item| item.as_object().expect("path item").values())
        .count();
    let expected: usize = rulebook::http::routes()
        .iter()
        .map(|r| methods(r.verb).len())
        .sum();
    assert_eq!(
        operations, expected,
        "the document has no operation the table lacks"
    );
}

/// Every `$ref` in `value`.
fn references<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => out.push(target),
                    _ => references(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

async fn every_reference_of_the_document_resolves(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = document(&app).await;

    let mut refs = Vec::new();
    references(&doc, &mut refs);

    assert!(refs.len() > 10, "the document uses shared schemas");
    for target in refs {
        let pointer = target.strip_prefix('#').expect("a local reference");
        assert!(
            doc.pointer(pointer).is_some(),
            "{target} is not in the document"
        );
    }
}

async fn bodies_answers_and_errors_are_described_from_the_types(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = document(&app).await;

    let create = &doc["paths"]["/api/v1/rules"]["post"];
    assert!(create["requestBody"]["content"]["application/json"]["schema"].is_object());
    let read = &doc["paths"]["/api/v1/rules/{id}"]["get"];
    assert_eq!(read["parameters"][0]["name"], "id");
    assert_eq!(read["parameters"][0]["in"], "path");
    assert!(read["responses"]["200"]["content"]["application/json"]["schema"].is_object());
    let list = &doc["paths"]["/api/v1/links"]["get"];
    let query: Vec<&str> = list["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter(|p| p["in"] == "query")
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        query.contains(&"limit") && query.contains(&"offset"),
        "{query:?}"
    );
    let problem = &doc["components"]["schemas"]["Problem"];
    assert!(problem["properties"]["code"].is_object());
    let codes = problem["properties"]["code"]["examples"]
        .as_array()
        .expect("codes");
    for code in ["invalid", "not_found", "admin_required", "token_expired"] {
        assert!(codes.iter().any(|c| c == code), "{code} is documented");
    }
    let rule = &doc["components"]["schemas"]["SaveRule"]["properties"]["rule"]["$ref"];
    assert_eq!(
        rule, "#/components/schemas/Rule",
        "a rule's body is the rule model"
    );
    let trigger = doc["components"]["schemas"]["Rule"]["properties"]["trigger"].to_string();
    assert!(
        trigger.contains("Trigger"),
        "the model names its parts: {trigger}"
    );
}
