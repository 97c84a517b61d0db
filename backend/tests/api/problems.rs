//! Every error is problem+json with a code: bodies that are not JSON or not sent as JSON, path
//! segments and query strings that cannot be read, paths and methods that do not exist, and a
//! handler that panics (an opaque 500 that does not leak the panic's text).

use axum::{
    body::Body,
    http::{header, Method, Request, StatusCode},
    routing::get,
    Router,
};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::helpers::{rule_json, spawn_app, Backend, ADMIN};

crate::on_both_databases!(
    a_malformed_json_body_answers_a_problem_with_a_code,
    a_body_not_sent_as_json_answers_415_problem,
    a_path_parameter_that_cannot_be_read_answers_a_problem_with_a_code,
    a_malformed_query_on_oauth_answers_a_problem_not_plain_text,
    an_unknown_path_answers_404_problem_and_an_unknown_method_405_problem,
    a_handler_panic_answers_an_opaque_500_problem,
);

async fn a_malformed_json_body_answers_a_problem_with_a_code(backend: Backend) {
    let app = spawn_app(backend).await;

    let syntax = app
        .send(
            Method::POST,
            "/api/v1/rules",
            Some(ADMIN),
            Some(b"{\"name\": ".to_vec()),
            Some("application/json"),
            &[],
        )
        .await;
    let shape = app
        .send_json(
            Method::PUT,
            "/api/v1/variables/greeting",
            ADMIN,
            &json!({ "value": 42 }),
        )
        .await;

    syntax.expect_problem(StatusCode::BAD_REQUEST, "bad_json");
    let shape = shape.expect_problem(StatusCode::BAD_REQUEST, "bad_json");
    assert!(
        shape["detail"]
            .as_str()
            .is_some_and(|d| d.contains("value")),
        "the detail names what is wrong: {shape}"
    );
}

async fn a_body_not_sent_as_json_answers_415_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = json!({ "name": "Plain", "rule": rule_json("plain") })
        .to_string()
        .into_bytes();

    let plain = app
        .send(
            Method::POST,
            "/api/v1/rules",
            Some(ADMIN),
            Some(body.clone()),
            Some("text/plain"),
            &[],
        )
        .await;
    let untyped = app
        .send(
            Method::POST,
            "/api/v1/rules",
            Some(ADMIN),
            Some(body),
            None,
            &[],
        )
        .await;
    let id = app.given_a_rule("Linked").await;
    let link = app
        .send(
            Method::POST,
            &format!("/api/v1/rules/{id}/links"),
            Some(ADMIN),
            Some(b"name=x".to_vec()),
            Some("application/x-www-form-urlencoded"),
            &[],
        )
        .await;

    plain.expect_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    untyped.expect_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    link.expect_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    assert_eq!(
        app.list_rules(ADMIN)
            .await
            .expect(StatusCode::OK)
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

async fn a_path_parameter_that_cannot_be_read_answers_a_problem_with_a_code(backend: Backend) {
    let app = spawn_app(backend).await;

    // %FF decodes to a byte that is not UTF-8.
    let not_utf8 = app.get("/api/v1/rules/%FF", ADMIN).await;
    let variable = app.get("/api/v1/variables/%C3%28", ADMIN).await;
    let not_a_number = app.get("/api/v1/rules/abc", ADMIN).await;

    not_utf8.expect_problem(StatusCode::BAD_REQUEST, "bad_path");
    variable.expect_problem(StatusCode::BAD_REQUEST, "bad_path");
    not_a_number.expect_problem(StatusCode::NOT_FOUND, "not_found");
}

async fn a_malformed_query_on_oauth_answers_a_problem_not_plain_text(backend: Backend) {
    let app = spawn_app(backend).await;

    let revoked = app
        .send(
            Method::GET,
            "/oauth/kommo/revoked?account_id=not-a-number&client_uuid=x&signature=y",
            None,
            None,
            None,
            &[],
        )
        .await;
    let missing = app
        .send(
            Method::GET,
            "/oauth/kommo/revoked?client_uuid=x",
            None,
            None,
            None,
            &[],
        )
        .await;
    let twice = app
        .send(
            Method::GET,
            "/oauth/kommo/callback?code=a&code=b&referer=x.kommo.com",
            None,
            None,
            None,
            &[],
        )
        .await;

    revoked.expect_problem(StatusCode::BAD_REQUEST, "bad_query");
    missing.expect_problem(StatusCode::BAD_REQUEST, "bad_query");
    twice.expect_problem(StatusCode::BAD_REQUEST, "bad_query");
}

async fn an_unknown_path_answers_404_problem_and_an_unknown_method_405_problem(backend: Backend) {
    let app = spawn_app(backend).await;

    let nowhere = app.get("/api/v1/nowhere", ADMIN).await;
    let anonymous = app
        .send(Method::GET, "/favicon.ico", None, None, None, &[])
        .await;
    let wrong_method = app
        .send(Method::DELETE, "/api/v1/me", Some(ADMIN), None, None, &[])
        .await;

    nowhere.expect_problem(StatusCode::NOT_FOUND, "not_found");
    anonymous.expect_problem(StatusCode::NOT_FOUND, "not_found");
    let body = wrong_method.expect_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("DELETE")),
        "{body}"
    );
}

async fn boom() -> &'static str {
    panic!("the password is hunter2")
}

async fn a_handler_panic_answers_an_opaque_500_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    // The app's routes and middleware, plus one route whose handler panics.
    let routes = Router::new()
        .route("/boom", get(boom))
        .merge(rulebook::http::router(&app.state));
    let router = rulebook::startup::with_middleware(routes, app.state.clone());

    let response = router
        .clone()
        .oneshot(
            Request::builder()
                .uri("/boom")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible router");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let after = router
        .oneshot(
            Request::builder()
                .uri("/health")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible router");

    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    let body: Value = serde_json::from_str(&text).expect("a JSON problem");
    assert_eq!(body["code"], "internal");
    assert_eq!(body["status"], 500);
    assert!(!text.contains("hunter2"), "the panic's text leaked: {text}");
    assert!(!text.contains("panic"), "the panic leaked: {text}");
    assert_eq!(after.status(), StatusCode::OK, "the app keeps serving");
}
