//! Secrets stay with administrators and limits are consistent: members see no inbound keys and no
//! webhook headers; inbound keys and trigger links are listed, rotated and revoked; a disposable
//! token is used once; the OAuth callback is capped per client address; Kommo's requests past their
//! parser's limit get 413; a large inbound JSON body yields its variables; lists are paged.

use std::net::SocketAddr;

use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{Method, Request, StatusCode},
};
use rulebook::{
    clock::Clock as _,
    engine::outbound::body_vars,
    ingest,
    store::{execution_log, seen_tokens},
};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::helpers::{
    connect_state, spawn_app, spawn_app_with, token, Backend, TestApp, ACCOUNT, ADMIN, MEMBER,
    OTHER_ADMIN,
};

crate::on_both_databases!(
    a_replayed_disposable_token_is_refused_in_every_process,
    used_token_ids_are_pruned_once_their_token_has_expired,
    a_members_view_shows_no_inbound_key_and_no_webhook_headers,
    inbound_keys_are_listed_rotated_and_revoked_by_admins_only,
    trigger_links_are_listed_rotated_and_revoked_by_admins_only,
    the_oauth_callback_answers_429_past_its_per_address_rate,
    a_kommo_webhook_over_the_parsers_limit_gets_413,
    a_large_nested_inbound_json_body_near_the_http_limit_yields_its_variables,
    lists_histories_and_logs_are_paged,
    an_https_backend_refuses_a_kommo_base_url_override,
);

const FORM: &str = "application/x-www-form-urlencoded";

async fn me_with(app: &TestApp, token: &str) -> crate::helpers::TestResponse {
    app.send(
        Method::GET,
        "/api/v1/me",
        None,
        None,
        None,
        &[("x-auth-token", token)],
    )
    .await
}

async fn a_replayed_disposable_token_is_refused_in_every_process(backend: Backend) {
    let app = spawn_app(backend).await;
    let used = token(ADMIN, app.clock.now_ms().div_euclid(1000));

    me_with(&app, &used).await.expect(StatusCode::OK);
    let again = me_with(&app, &used).await;
    let fresh = me_with(&app, &token(ADMIN, app.clock.now_ms().div_euclid(1000))).await;

    again.expect_problem(StatusCode::UNAUTHORIZED, "token_replayed");
    fresh.expect(StatusCode::OK);
    // Another process on the same database knows the token too.
    let other = connect_state(&app.database_url, &app.clock).await;
    let response = rulebook::startup::router(other)
        .oneshot(
            Request::get("/api/v1/me")
                .header("x-auth-token", &used)
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

async fn used_token_ids_are_pruned_once_their_token_has_expired(backend: Backend) {
    let app = spawn_app(backend).await;
    assert!(seen_tokens::first_use(app.db(), "a", 1_000)
        .await
        .expect("a"));
    assert!(seen_tokens::first_use(app.db(), "b", 2_000)
        .await
        .expect("b"));
    assert!(!seen_tokens::first_use(app.db(), "a", 1_000)
        .await
        .expect("a again"));

    assert_eq!(seen_tokens::prune(app.db(), 1_000).await.expect("prune"), 0);
    assert_eq!(seen_tokens::prune(app.db(), 1_001).await.expect("prune"), 1);

    assert_eq!(app.count("SELECT COUNT(*) FROM seen_tokens").await, 1);
    assert!(seen_tokens::first_use(app.db(), "a", 3_000)
        .await
        .expect("a after"));
}

fn webhook_rule() -> Value {
    json!({
        "schema_version": 2,
        "name": "Notify",
        "trigger": { "kind": "entity_added", "entity": "lead" },
        "blocks": [{"actions": [{"do": {"type": "send_webhook", "method": "POST",
            "url": "https://hooks.example.com/orders",
            "headers": [{"key": "Authorization", "value": "Bearer hdr-s3cret"}],
            "body": [{"key": "lead", "value": "{{lead.id}}"}]}}]}]
    })
}

async fn a_members_view_shows_no_inbound_key_and_no_webhook_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app
        .create_rule(ADMIN, "Notify", webhook_rule())
        .await
        .expect(StatusCode::CREATED)["id"]
        .as_i64()
        .expect("id");

    // A run of the rule, logged with its plan (the rendered action, headers included).
    execution_log::record_execution(
        app.db(),
        &execution_log::NewExecution {
            account_id: ACCOUNT,
            rule_id: id,
            event_id: None,
            entity: Some(("leads".into(), 77)),
            outcome: execution_log::ExecutionOutcome::Ok,
            verdict: domain::api::Verdict::Fired,
            started_at: crate::helpers::START_MS,
            duration_ms: 3,
            operations: 1,
            trace: json!({"plan": [{"action": {"type": "send_webhook", "method": "POST",
                "url": "https://hooks.example.com/orders",
                "headers": [{"key": "Authorization", "value": "Bearer hdr-s3cret"}]}}]}),
        },
    )
    .await
    .expect("record");

    let admin = app.get_rule(ADMIN, id).await.expect(StatusCode::OK);
    let admin_log = app.rule_log(ADMIN, id).await.expect(StatusCode::OK);
    let member = app.get_rule(MEMBER, id).await.expect(StatusCode::OK);
    let history = app.rule_history(MEMBER, id).await.expect(StatusCode::OK);
    let log = app.rule_log(MEMBER, id).await.expect(StatusCode::OK);
    // The lead's runs carry the same trace, shown to a member the same way.
    let runs = app
        .get("/api/v1/entities/leads/77/runs", MEMBER)
        .await
        .expect(StatusCode::OK);
    let admin_runs = app
        .get("/api/v1/entities/leads/77/runs", ADMIN)
        .await
        .expect(StatusCode::OK);
    assert!(admin_runs.to_string().contains("hdr-s3cret"));
    let keys = app.get("/api/v1/inbound-keys", MEMBER).await;
    let links = app.get("/api/v1/links", MEMBER).await;
    let hooks = app.hook_urls(MEMBER).await;

    let key = admin["inbound_hook_key"].as_str().expect("key");
    assert!(key.len() > 10, "{admin}");
    assert!(admin.to_string().contains("hdr-s3cret"));
    assert!(admin_log.to_string().contains("hdr-s3cret"));
    for shown in [&member, &history, &log, &runs] {
        let text = shown.to_string();
        assert!(!text.contains("hdr-s3cret"), "{text}");
        assert!(!text.contains(key), "{text}");
        assert!(
            text.contains("Authorization"),
            "the header's name stays: {text}"
        );
    }
    assert_eq!(member["inbound_hook_key"], "");
    keys.expect_problem(StatusCode::FORBIDDEN, "admin_required");
    links.expect_problem(StatusCode::FORBIDDEN, "admin_required");
    hooks.expect_problem(StatusCode::FORBIDDEN, "admin_required");
}

async fn inbound_keys_are_listed_rotated_and_revoked_by_admins_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.given_a_rule("Site form").await;
    let hook = |key: &str| format!("/hooks/in/{ACCOUNT}/{key}");
    let body = br#"{"name":"Ann"}"#;

    let listed = app
        .get("/api/v1/inbound-keys", ADMIN)
        .await
        .expect(StatusCode::OK);
    let old = listed[0]["inbound_hook_key"]
        .as_str()
        .expect("key")
        .to_owned();
    assert_eq!(listed[0]["rule_id"], id);
    assert_eq!(
        listed[0]["url"],
        format!("{}{}", crate::helpers::PUBLIC_URL, hook(&old))
    );
    app.post_hook(&hook(&old), body, "application/json", &[])
        .await
        .expect(StatusCode::OK);

    let rotate = format!("/api/v1/rules/{id}/inbound-key/rotate");
    app.send(Method::POST, &rotate, Some(MEMBER), None, None, &[])
        .await
        .expect_problem(StatusCode::FORBIDDEN, "admin_required");
    app.send(Method::POST, &rotate, Some(OTHER_ADMIN), None, None, &[])
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let rotated = app
        .send(Method::POST, &rotate, Some(ADMIN), None, None, &[])
        .await
        .expect(StatusCode::OK);
    let new = rotated["inbound_hook_key"]
        .as_str()
        .expect("key")
        .to_owned();
    assert_ne!(new, old);
    app.post_hook(&hook(&old), body, "application/json", &[])
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "hook_unauthorized");
    app.post_hook(&hook(&new), b"{\"n\":2}", "application/json", &[])
        .await
        .expect(StatusCode::OK);

    let revoke = format!("/api/v1/rules/{id}/inbound-key");
    app.send(Method::DELETE, &revoke, Some(MEMBER), None, None, &[])
        .await
        .expect_problem(StatusCode::FORBIDDEN, "admin_required");
    app.send(Method::DELETE, &revoke, Some(ADMIN), None, None, &[])
        .await
        .expect(StatusCode::NO_CONTENT);
    app.post_hook(&hook(&new), b"{\"n\":3}", "application/json", &[])
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "hook_unauthorized");
    let listed = app
        .get("/api/v1/inbound-keys", ADMIN)
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed[0]["inbound_hook_key"], Value::Null);
    assert_eq!(listed[0]["url"], Value::Null);
    assert_eq!(
        app.get_rule(ADMIN, id).await.expect(StatusCode::OK)["inbound_hook_key"],
        ""
    );
    let again = app
        .send(Method::POST, &rotate, Some(ADMIN), None, None, &[])
        .await
        .expect(StatusCode::OK);
    app.post_hook(
        &hook(again["inbound_hook_key"].as_str().expect("key")),
        b"{\"n\":4}",
        "application/json",
        &[],
    )
    .await
    .expect(StatusCode::OK);
}

async fn trigger_links_are_listed_rotated_and_revoked_by_admins_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.given_a_rule("Price list").await;
    let other_rule = app.given_a_rule("Other").await;
    let created = app
        .create_trigger_link(ADMIN, id, &json!({"name": "Prices"}))
        .await
        .expect(StatusCode::CREATED);
    app.create_trigger_link(ADMIN, other_rule, &json!({}))
        .await
        .expect(StatusCode::CREATED);
    let link_id = created["id"].as_i64().expect("id");
    let path = |url: &Value| {
        url.as_str()
            .expect("url")
            .strip_prefix(crate::helpers::PUBLIC_URL)
            .expect("our origin")
            .to_owned()
    };

    let listed = app
        .get(&format!("/api/v1/links?rule_id={id}"), ADMIN)
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["url"], created["url"]);
    assert_eq!(listed[0]["name"], "Prices");
    let all = app.get("/api/v1/links", ADMIN).await.expect(StatusCode::OK);
    assert_eq!(all.as_array().map(Vec::len), Some(2));
    let old = path(&created["url"]);
    app.click(&old).await.expect(StatusCode::OK);

    let rotate = format!("/api/v1/links/{link_id}/rotate");
    app.send(Method::POST, &rotate, Some(MEMBER), None, None, &[])
        .await
        .expect_problem(StatusCode::FORBIDDEN, "admin_required");
    app.send(Method::POST, &rotate, Some(OTHER_ADMIN), None, None, &[])
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let rotated = app
        .send(Method::POST, &rotate, Some(ADMIN), None, None, &[])
        .await
        .expect(StatusCode::OK);
    let new = path(&rotated["url"]);
    assert_ne!(new, old);
    assert_eq!(rotated["name"], "Prices");
    app.click(&old)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "hook_unauthorized");
    app.click(&new).await.expect(StatusCode::OK);

    let revoke = format!("/api/v1/links/{link_id}");
    app.send(Method::DELETE, &revoke, Some(MEMBER), None, None, &[])
        .await
        .expect_problem(StatusCode::FORBIDDEN, "admin_required");
    app.send(Method::DELETE, &revoke, Some(ADMIN), None, None, &[])
        .await
        .expect(StatusCode::NO_CONTENT);
    app.click(&new)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "hook_unauthorized");
    let listed = app
        .get(&format!("/api/v1/links?rule_id={id}"), ADMIN)
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed, json!([]));
    app.send(Method::DELETE, &revoke, Some(ADMIN), None, None, &[])
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
}

/// The OAuth callback from `peer`, optionally forwarded; Kommo's "access denied" redirect, which
/// is answered without calling Kommo.
async fn callback_from(app: &TestApp, peer: &str, forwarded: Option<&str>) -> (StatusCode, Value) {
    let mut request = Request::get("/oauth/kommo/callback?error=access_denied")
        .extension(ConnectInfo(peer.parse::<SocketAddr>().expect("addr")));
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    let response = app
        .router
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("answer");
    let status = response.status();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn the_oauth_callback_answers_429_past_its_per_address_rate(backend: Backend) {
    let app = spawn_app_with(backend, json!({ "oauth_callbacks_per_minute": 2 })).await;
    for _ in 0..2 {
        assert_eq!(
            callback_from(&app, "203.0.113.7:5000", None).await.0,
            StatusCode::BAD_REQUEST
        );
    }
    let (status, problem) = callback_from(&app, "203.0.113.7:5001", None).await;
    let other = callback_from(&app, "198.51.100.9:5000", None).await;
    let forged = callback_from(&app, "203.0.113.7:5002", Some("192.0.2.1")).await;

    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{problem}");
    assert_eq!(problem["code"], "too_many_requests");
    assert!(problem["detail"].as_str().is_some_and(|d| d.ends_with('.')));
    assert_eq!(
        other.0,
        StatusCode::BAD_REQUEST,
        "another address has its own share"
    );
    assert_eq!(
        forged.0,
        StatusCode::TOO_MANY_REQUESTS,
        "with no trusted proxy, X-Forwarded-For is ignored"
    );

    // Behind one trusted proxy, the address it forwards is the client.
    let proxied = spawn_app_with(
        backend,
        json!({ "oauth_callbacks_per_minute": 1, "trusted_proxy_hops": 1 }),
    )
    .await;
    let proxy = "10.0.0.2:443";
    assert_eq!(
        callback_from(&proxied, proxy, Some("203.0.113.7")).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        callback_from(&proxied, proxy, Some("203.0.113.7")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        callback_from(&proxied, proxy, Some("198.51.100.9")).await.0,
        StatusCode::BAD_REQUEST
    );
}

async fn a_kommo_webhook_over_the_parsers_limit_gets_413(backend: Backend) {
    let app = spawn_app(backend).await;
    let (hook, dp) = app.given_webhook_path(ADMIN).await;
    let limit = kommo::incoming::MAX_BODY_BYTES;
    let mut over = b"a=".to_vec();
    over.resize(limit + 1, b'x');
    let mut at = b"a=".to_vec();
    at.resize(limit, b'x');

    for path in [hook.as_str(), dp.as_str(), "/hooks/dp"] {
        app.post_hook(path, &over, FORM, &[])
            .await
            .expect_problem(StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM events").await, 0);
    app.post_hook(&hook, &at, FORM, &[])
        .await
        .expect(StatusCode::OK);
    assert!(
        kommo::incoming::parse_form(&at).is_ok(),
        "at the limit it parses"
    );
}

async fn a_large_nested_inbound_json_body_near_the_http_limit_yields_its_variables(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let rule = app
        .get_rule(ADMIN, app.given_a_rule("Import").await)
        .await
        .expect(StatusCode::OK);
    let path = format!(
        "/hooks/in/{ACCOUNT}/{}",
        rule["inbound_hook_key"].as_str().expect("key")
    );
    let item = |n: usize| {
        json!({"sku": format!("SKU-{n:05}"), "meta": {"size": {"w": n, "h": [n, {"deep": format!("d{n:05}")}]}},
               "note": "x".repeat(200)})
    };
    // As many items as fit a body just under the HTTP limit (sized by the longest).
    let per_item = item(99_999).to_string().len() + 1;
    let n = (rulebook::http::MAX_BODY_BYTES - 1_000) / per_item;
    let items: Vec<Value> = (0..n).map(item).collect();
    let body = json!({"form": {"email": "ann@example.com", "order": {"items": items}}}).to_string();
    assert!(
        body.len() <= rulebook::http::MAX_BODY_BYTES,
        "{}",
        body.len()
    );
    assert!(
        body.len() > rulebook::http::MAX_BODY_BYTES * 95 / 100,
        "{}",
        body.len()
    );
    let last = n - 1;

    let answer = app
        .post_hook(&path, body.as_bytes(), "application/json", &[])
        .await
        .expect(StatusCode::OK);
    let event = ingest::load_event(app.db(), ACCOUNT, answer["event_id"].as_i64().expect("id"))
        .await
        .expect("load")
        .expect("stored");
    let vars = body_vars(&event.body);

    assert_eq!(event.body.len(), body.len());
    assert_eq!(vars["form_email"], "ann@example.com");
    assert_eq!(
        vars[&format!("form_order_items_{last}_meta_size_h_1_deep")],
        format!("d{last:05}")
    );
    assert_eq!(
        vars[&format!("form_order_items_{last}_sku")],
        format!("SKU-{last:05}")
    );
    assert!(vars["webhook_data"].len() <= rulebook::engine::outbound::MAX_RESPONSE_BYTES);
}

async fn lists_histories_and_logs_are_paged(backend: Backend) {
    let app = spawn_app(backend).await;
    for name in ["A", "B", "C"] {
        app.given_a_rule(name).await;
    }
    let a = app.list_rules(ADMIN).await.expect(StatusCode::OK)[0]["id"]
        .as_i64()
        .expect("id");
    for description in ["v2", "v3"] {
        app.save_rule(
            ADMIN,
            a,
            &json!({"name": "A", "rule": crate::helpers::rule_json(description)}),
        )
        .await
        .expect(StatusCode::OK);
    }
    for name in ["x", "y", "z"] {
        app.put_variable(ADMIN, name, "1")
            .await
            .expect(StatusCode::OK);
    }
    let names = |v: &Value, key: &str| -> Vec<Value> {
        v.as_array()
            .expect("a list")
            .iter()
            .map(|r| r[key].clone())
            .collect()
    };

    let first = app
        .get("/api/v1/rules?limit=2", MEMBER)
        .await
        .expect(StatusCode::OK);
    let rest = app
        .get("/api/v1/rules?limit=2&offset=2", MEMBER)
        .await
        .expect(StatusCode::OK);
    let newest = app
        .get(&format!("/api/v1/rules/{a}/history?limit=1"), MEMBER)
        .await
        .expect(StatusCode::OK);
    let oldest = app
        .get(
            &format!("/api/v1/rules/{a}/history?limit=1&offset=2"),
            MEMBER,
        )
        .await
        .expect(StatusCode::OK);
    let variables = app
        .get("/api/v1/variables?limit=2&offset=1", MEMBER)
        .await
        .expect(StatusCode::OK);
    let log = app
        .get(&format!("/api/v1/rules/{a}/log?limit=5"), MEMBER)
        .await
        .expect(StatusCode::OK);
    let dead = app
        .get("/api/v1/jobs/dead?limit=5", MEMBER)
        .await
        .expect(StatusCode::OK);

    assert_eq!(names(&first, "name"), vec![json!("A"), json!("B")]);
    assert_eq!(names(&rest, "name"), vec![json!("C")]);
    assert_eq!(names(&newest, "version"), vec![json!(3)]);
    assert_eq!(names(&oldest, "version"), vec![json!(1)]);
    assert_eq!(names(&variables, "name"), vec![json!("y"), json!("z")]);
    assert_eq!((log, dead), (json!([]), json!([])));
    for bad in ["limit=ten", "offset=-1"] {
        app.get(&format!("/api/v1/rules?{bad}"), MEMBER)
            .await
            .expect_problem(StatusCode::BAD_REQUEST, "bad_page");
    }
}

async fn an_https_backend_refuses_a_kommo_base_url_override(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.state.settings.public_url.scheme(), "https");

    let refused = rulebook::connect::connect_with_long_lived_token(
        &app.state,
        ACCOUNT,
        "acme",
        Some("http://127.0.0.1:9/acme"),
        &secrecy::SecretString::from("long-lived"),
    )
    .await;

    assert!(
        matches!(
            refused,
            Err(rulebook::connect::ConnectError::BaseUrlOverride)
        ),
        "{refused:?}"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM accounts").await, 0);
}
