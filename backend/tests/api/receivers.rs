//! Inbound webhook receivers and trigger links as objects administrators manage: a receiver is
//! created, renamed, rotated and deleted, and its URL follows; its last 100 requests show their
//! method, content type, capped body and the variables read from JSON, form and query; trigger
//! links are created (auto and manual), edited, listed with `{tglink:N}`, URL and clicks, and
//! deleted.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    spawn_app, spawn_app_migrated_from, spawn_app_with, Backend, TestApp, ACCOUNT, ADMIN, MEMBER,
    OTHER_ADMIN, PUBLIC_URL,
};

crate::on_both_databases!(
    receivers_are_created_renamed_rotated_and_deleted_by_admins_only,
    a_receivers_requests_show_the_variables_of_json_form_and_query,
    a_receiver_keeps_its_last_100_requests_and_caps_their_bodies,
    a_receivers_request_is_an_event_a_dry_run_takes,
    trigger_links_are_created_edited_listed_with_clicks_and_deleted,
    an_inbound_rule_gets_a_receiver_with_its_key_and_both_urls_work_after_the_migration,
);

/// The path of a URL of ours.
fn path_of(url: &Value) -> String {
    url.as_str()
        .expect("url")
        .strip_prefix(PUBLIC_URL)
        .expect("our origin")
        .to_owned()
}

async fn create_receiver(app: &TestApp, name: &str) -> Value {
    app.send_json(
        Method::POST,
        "/api/v1/receivers",
        ADMIN,
        &json!({ "name": name }),
    )
    .await
    .expect(StatusCode::CREATED)
}

async fn call(app: &TestApp, method: Method, path: &str, body: &[u8], content_type: &str) -> u16 {
    app.send(
        method,
        path,
        None,
        Some(body.to_vec()),
        Some(content_type),
        &[],
    )
    .await
    .status
    .as_u16()
}

async fn requests_of(app: &TestApp, receiver: i64, query: &str) -> Value {
    app.get(
        &format!("/api/v1/receivers/{receiver}/requests{query}"),
        ADMIN,
    )
    .await
    .expect(StatusCode::OK)
}

async fn receivers_are_created_renamed_rotated_and_deleted_by_admins_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = create_receiver(&app, "Site form").await;
    let id = created["id"].as_i64().expect("id");
    let url = path_of(&created["url"]);
    assert!(
        url.starts_with(&format!("/hooks/in/{ACCOUNT}/r{id}-")),
        "{url}"
    );
    // 192 random bits: 32 base64url characters after the id.
    let key = url.rsplit('/').next().expect("key");
    let secret = key.split_once('-').expect("r{id}-{secret}").1;
    assert!(secret.len() >= 32, "{secret}");

    // URLs are secrets and bodies customer data: members see neither, not even the names.
    for path in [
        "/api/v1/receivers".to_owned(),
        format!("/api/v1/receivers/{id}/requests"),
    ] {
        app.get(&path, MEMBER)
            .await
            .expect_problem(StatusCode::FORBIDDEN, "admin_required");
    }
    app.send_json(
        Method::POST,
        "/api/v1/receivers",
        MEMBER,
        &json!({"name": "x"}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "admin_required");
    app.send_json(
        Method::POST,
        "/api/v1/receivers",
        ADMIN,
        &json!({"name": "Site form"}),
    )
    .await
    .expect_problem(StatusCode::CONFLICT, "duplicate");
    let refused = app
        .send_json(
            Method::POST,
            "/api/v1/receivers",
            ADMIN,
            &json!({"name": " "}),
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.to_string().contains("/name"), "{refused}");

    let renamed = app
        .send_json(
            Method::PUT,
            &format!("/api/v1/receivers/{id}"),
            ADMIN,
            &json!({"name": "Landing page"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(renamed["name"], "Landing page");
    assert_eq!(renamed["url"], created["url"], "a rename keeps the URL");
    let listed = app
        .get("/api/v1/receivers", ADMIN)
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["name"], "Landing page");
    assert_eq!(listed[0]["url"], created["url"]);
    assert_eq!(
        app.get("/api/v1/receivers", OTHER_ADMIN)
            .await
            .expect(StatusCode::OK),
        json!([])
    );

    assert_eq!(
        call(&app, Method::POST, &url, b"{}", "application/json").await,
        200
    );
    let rotated = app
        .send(
            Method::POST,
            &format!("/api/v1/receivers/{id}/rotate"),
            Some(ADMIN),
            None,
            None,
            &[],
        )
        .await
        .expect(StatusCode::OK);
    let new_url = path_of(&rotated["url"]);
    assert_ne!(new_url, url);
    app.post_hook(&url, b"{}", "application/json", &[])
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        call(&app, Method::POST, &new_url, b"{}", "application/json").await,
        200
    );
    // The same key under another account names nothing there.
    let elsewhere = new_url.replace(&format!("/{ACCOUNT}/"), "/31000002/");
    assert_eq!(
        call(&app, Method::POST, &elsewhere, b"{}", "application/json").await,
        404
    );

    app.send(
        Method::DELETE,
        &format!("/api/v1/receivers/{id}"),
        Some(ADMIN),
        None,
        None,
        &[],
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    assert_eq!(
        call(&app, Method::POST, &new_url, b"{}", "application/json").await,
        404
    );
    app.get(&format!("/api/v1/receivers/{id}/requests"), ADMIN)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM receiver_requests").await,
        0,
        "its requests went with it"
    );
}

/// `{"l1":{"l2":…"deep"}}` nested `levels` deep.
fn nested(levels: usize) -> String {
    (1..=levels)
        .rev()
        .fold("\"deep\"".to_owned(), |inner, level| {
            format!("{{\"l{level}\":{inner}}}")
        })
}

async fn a_receivers_requests_show_the_variables_of_json_form_and_query(backend: Backend) {
    let app = spawn_app(backend).await;
    let receiver = create_receiver(&app, "Leads").await;
    let id = receiver["id"].as_i64().expect("id");
    let url = path_of(&receiver["url"]);

    let json_body = br#"{"contact":{"phone":"+1","address":{"city":"X"}},"items":[{"sku":"A"}]}"#;
    assert_eq!(
        call(&app, Method::POST, &url, json_body, "application/json").await,
        200
    );
    let form = b"contact%5Bphone%5D=%2B2&name=Ann";
    assert_eq!(
        call(
            &app,
            Method::PUT,
            &url,
            form,
            "application/x-www-form-urlencoded"
        )
        .await,
        200
    );
    let query = format!("{url}?utm%5Bsource%5D=ads&page=3");
    assert_eq!(
        app.send(Method::GET, &query, None, None, None, &[])
            .await
            .status,
        StatusCode::OK
    );
    app.clock.advance(std::time::Duration::from_secs(1));
    assert_eq!(
        call(
            &app,
            Method::POST,
            &url,
            nested(12).as_bytes(),
            "application/json"
        )
        .await,
        200
    );

    let listed = requests_of(&app, id, "").await;
    let listed = listed.as_array().expect("a list");
    assert_eq!(listed.len(), 4, "{listed:?}");
    let (deep, get, form, json) = (&listed[0], &listed[1], &listed[2], &listed[3]);

    assert_eq!(json["method"], "POST");
    assert_eq!(json["content_type"], "application/json");
    assert_eq!(json["body"], String::from_utf8_lossy(json_body).as_ref());
    assert_eq!(json["truncated"], false);
    assert_eq!(json["variables"]["contact_phone"], "+1");
    assert_eq!(json["variables"]["contact_address_city"], "X");
    assert_eq!(json["variables"]["items_0_sku"], "A");
    assert!(json["event_id"].as_i64().is_some(), "{json}");

    assert_eq!(form["method"], "PUT");
    assert_eq!(form["content_type"], "application/x-www-form-urlencoded");
    assert_eq!(form["variables"]["contact_phone"], "+2");
    assert_eq!(form["variables"]["name"], "Ann");

    assert_eq!(get["method"], "GET");
    assert_eq!(get["query"], "utm%5Bsource%5D=ads&page=3");
    assert_eq!(get["variables"]["utm_source"], "ads");
    assert_eq!(get["variables"]["page"], "3");

    // Twelve levels: names stop at ten parts; the tenth holds the rest as JSON.
    let vars = deep["variables"].as_object().expect("variables");
    assert_eq!(
        vars["l1_l2_l3_l4_l5_l6_l7_l8_l9_l10"],
        r#"{"l11":{"l12":"deep"}}"#
    );
    assert!(vars.keys().all(|k| k.split('_').count() <= 10), "{vars:?}");
    assert_eq!(
        deep["received_at"].as_i64(),
        json["received_at"].as_i64().map(|t| t + 1_000)
    );
}

async fn a_receiver_keeps_its_last_100_requests_and_caps_their_bodies(backend: Backend) {
    let app = spawn_app_with(
        backend,
        json!({ "receiver_log_max_body_bytes": 20, "inbound_requests_per_minute": 0 }),
    )
    .await;
    let receiver = create_receiver(&app, "Busy").await;
    let id = receiver["id"].as_i64().expect("id");
    let url = path_of(&receiver["url"]);
    let other = create_receiver(&app, "Quiet").await;
    let other_url = path_of(&other["url"]);
    assert_eq!(
        call(&app, Method::POST, &other_url, b"{}", "application/json").await,
        200
    );

    for n in 0..101 {
        let body = format!(r#"{{"n":{n}}}"#);
        assert_eq!(
            call(
                &app,
                Method::POST,
                &url,
                body.as_bytes(),
                "application/json"
            )
            .await,
            200
        );
    }
    let page = requests_of(&app, id, "?limit=500").await;
    let page = page.as_array().expect("a list");
    assert_eq!(page.len(), 100);
    assert_eq!(page[0]["variables"]["n"], "100", "newest first");
    assert_eq!(
        page[99]["variables"]["n"], "1",
        "the first request was pushed out"
    );
    let first_kept = page[99]["id"].as_i64().expect("id");
    app.get(
        &format!("/api/v1/receivers/{id}/requests/{}", first_kept - 1),
        ADMIN,
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        requests_of(&app, other["id"].as_i64().expect("id"), "")
            .await
            .as_array()
            .map(Vec::len),
        Some(1),
        "another receiver's requests are not pruned with these"
    );

    let long = format!(r#"{{"text":"{}","tail":"kept"}}"#, "x".repeat(40));
    assert_eq!(
        call(
            &app,
            Method::POST,
            &url,
            long.as_bytes(),
            "application/json"
        )
        .await,
        200
    );
    let newest = &requests_of(&app, id, "?limit=1").await[0];
    assert_eq!(newest["truncated"], true);
    assert_eq!(newest["body"], &long[..20]);
    assert_eq!(newest["body_bytes"], long.len());
    assert_eq!(
        newest["variables"]["tail"], "kept",
        "the variables come from the whole body"
    );
    assert_eq!(
        requests_of(&app, id, "?limit=500")
            .await
            .as_array()
            .map(Vec::len),
        Some(100)
    );
}

async fn a_receivers_request_is_an_event_a_dry_run_takes(backend: Backend) {
    let app = spawn_app(backend).await;
    let receiver = create_receiver(&app, "Orders").await;
    let id = receiver["id"].as_i64().expect("id");
    let url = path_of(&receiver["url"]);
    assert_eq!(
        call(
            &app,
            Method::POST,
            &url,
            br#"{"order":{"id":7}}"#,
            "application/json"
        )
        .await,
        200
    );
    let request_id = requests_of(&app, id, "").await[0]["id"]
        .as_i64()
        .expect("id");

    let shown = app
        .get(
            &format!("/api/v1/receivers/{id}/requests/{request_id}"),
            ADMIN,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(shown["variables"]["order_id"], "7");
    let event: domain::event::Event =
        serde_json::from_value(shown["event"].clone()).expect("a dry run's event");
    assert_eq!(event.vars["order_id"], "7");
    assert_eq!(
        event.kind,
        domain::event::EventKind::InboundWebhook {
            hook_id: String::new(),
            receiver_id: Some(id),
            found: None,
        }
    );
    // The event runs a rule on this receiver, not one on another.
    let on = |receiver_id: i64| -> domain::rule::Trigger {
        serde_json::from_value(
            json!({"kind": "inbound_webhook", "hook_id": "", "receiver_id": receiver_id}),
        )
        .expect("trigger")
    };
    assert!(domain::eval::trigger_matches(&on(id), &event));
    assert!(!domain::eval::trigger_matches(&on(id + 1), &event));

    app.get(
        &format!("/api/v1/receivers/{id}/requests/{request_id}"),
        MEMBER,
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "admin_required");
    app.get(
        &format!("/api/v1/receivers/{id}/requests/{request_id}"),
        OTHER_ADMIN,
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not_found");
}

async fn trigger_links_are_created_edited_listed_with_clicks_and_deleted(backend: Backend) {
    let app = spawn_app(backend).await;
    let rule = app.given_a_rule("Clicked").await;
    let other_rule = app.given_a_rule("Other").await;

    let manual = app
        .send_json(
            Method::POST,
            "/api/v1/links",
            ADMIN,
            &json!({"rule_id": rule, "kind": "manual", "name": "Prices"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let auto = app
        .send_json(
            Method::POST,
            "/api/v1/links",
            ADMIN,
            &json!({"rule_id": rule, "name": "Lead 5", "entity_type": "leads", "entity_id": 5,
                    "target_url": "https://example.com/thanks"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let manual_id = manual["id"].as_i64().expect("id");
    let auto_id = auto["id"].as_i64().expect("id");
    assert_eq!(manual["kind"], "manual");
    assert_eq!(auto["kind"], "auto");
    assert_eq!(manual["variable"], format!("{{tglink:{manual_id}}}"));
    assert_eq!(auto["variable"], format!("{{tglink:{auto_id}}}"));
    assert_eq!(manual["clicks"], 0);

    for (body, code) in [
        (json!({"rule_id": rule, "kind": "auto"}), "entity_required"),
        (
            json!({"rule_id": rule, "kind": "manual", "entity_type": "leads", "entity_id": 1}),
            "entity_not_allowed",
        ),
        (json!({"rule_id": rule, "kind": "sometimes"}), "bad_kind"),
        (
            json!({"rule_id": rule, "entity_type": "leads"}),
            "incomplete_entity",
        ),
    ] {
        let refused = app
            .send_json(Method::POST, "/api/v1/links", ADMIN, &body)
            .await
            .expect(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(refused.to_string().contains(code), "{body}: {refused}");
    }
    app.send_json(
        Method::POST,
        "/api/v1/links",
        OTHER_ADMIN,
        &json!({"rule_id": rule}),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.send_json(
        Method::POST,
        "/api/v1/links",
        MEMBER,
        &json!({"rule_id": rule}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "admin_required");

    // Clicks grow as links are followed.
    let manual_path = path_of(&manual["url"]);
    let auto_path = path_of(&auto["url"]);
    app.click(&manual_path).await.expect(StatusCode::OK);
    app.click(&manual_path).await.expect(StatusCode::OK);
    assert_eq!(app.click(&auto_path).await.status, StatusCode::SEE_OTHER);
    let listed = app.get("/api/v1/links", ADMIN).await.expect(StatusCode::OK);
    let by_id = |id: i64| {
        listed
            .as_array()
            .expect("list")
            .iter()
            .find(|l| l["id"] == id)
            .cloned()
            .expect("listed")
    };
    assert_eq!(by_id(manual_id)["clicks"], 2);
    assert_eq!(by_id(auto_id)["clicks"], 1);
    assert_eq!(by_id(auto_id)["url"], auto["url"]);
    assert_eq!(by_id(auto_id)["variable"], auto["variable"]);
    assert_eq!(by_id(auto_id)["entity_id"], 5);

    // An edit changes the link, its rule and its kind; the URL and the clicks stay.
    let edited = app
        .send_json(
            Method::PUT,
            &format!("/api/v1/links/{manual_id}"),
            ADMIN,
            &json!({"rule_id": other_rule, "name": "Price list", "entity_type": "contacts",
                    "entity_id": 9}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(edited["name"], "Price list");
    assert_eq!(edited["rule_id"], other_rule);
    assert_eq!(edited["kind"], "auto");
    assert_eq!(edited["url"], manual["url"]);
    assert_eq!(edited["clicks"], 2);
    app.click(&manual_path).await.expect(StatusCode::OK);
    let event_rule = app
        .count("SELECT rule_id FROM events WHERE source = 'link' ORDER BY id DESC LIMIT 1")
        .await;
    assert_eq!(event_rule, other_rule, "a click runs the link's new rule");
    app.send_json(
        Method::PUT,
        &format!("/api/v1/links/{manual_id}"),
        OTHER_ADMIN,
        &json!({"rule_id": rule}),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.send_json(
        Method::PUT,
        &format!("/api/v1/links/{manual_id}"),
        ADMIN,
        &json!({"rule_id": 999_999}),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let unchanged = app
        .get(&format!("/api/v1/links?rule_id={other_rule}"), ADMIN)
        .await
        .expect(StatusCode::OK);
    assert_eq!(unchanged[0]["name"], "Price list");
    assert_eq!(unchanged[0]["clicks"], 3);

    app.send(
        Method::DELETE,
        &format!("/api/v1/links/{manual_id}"),
        Some(ADMIN),
        None,
        None,
        &[],
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    app.click(&manual_path)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "hook_unauthorized");
    let left = app.get("/api/v1/links", ADMIN).await.expect(StatusCode::OK);
    assert_eq!(left.as_array().map(Vec::len), Some(1), "{left}");
    assert_eq!(left[0]["id"], auto_id);
}

async fn an_inbound_rule_gets_a_receiver_with_its_key_and_both_urls_work_after_the_migration(
    backend: Backend,
) {
    let secret = "S3cretS3cretS3cretS3cretS3cret12";
    let inbound = r#"{"schema_version": 2, "name": "Site form", "trigger": {"kind": "inbound_webhook", "hook_id": "site"}}"#;
    let manual = r#"{"schema_version": 2, "name": "Button", "trigger": {"kind": "manual", "entity": "lead"}}"#;
    let account = format!(
        "INSERT INTO accounts (account_id, subdomain, created_at, last_seen_at) VALUES ({ACCOUNT}, 'acme', 0, 0)"
    );
    let rules = format!(
        "INSERT INTO rules (account_id, name, enabled, version, body, hook_secret, created_at, updated_at)
         VALUES ({ACCOUNT}, 'Site form', 1, 1, '{inbound}', '{secret}', 0, 0),
                ({ACCOUNT}, 'Button', 1, 1, '{manual}', 'OtherS3cretOtherS3cretOtherS3cre', 0, 0)"
    );
    let versions = format!(
        "INSERT INTO rule_versions (rule_id, version, name, body, saved_by, saved_at)
         SELECT id, 1, name, body, 1, 0 FROM rules WHERE account_id = {ACCOUNT}"
    );
    let app = spawn_app_migrated_from(backend, 13, &[&account, &rules, &versions]).await;

    let listed = app
        .get("/api/v1/receivers", ADMIN)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(1),
        "only the inbound rule: {listed}"
    );
    let receiver = &listed[0];
    let receiver_id = receiver["id"].as_i64().expect("id");
    assert_eq!(receiver["name"], "Site form");
    assert_eq!(
        receiver["key"],
        format!("r{receiver_id}-{secret}"),
        "the rule's own secret"
    );

    let rules = app.list_rules(ADMIN).await.expect(StatusCode::OK);
    let site = rules
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["name"] == "Site form")
        .expect("the rule")
        .clone();
    let rule = app
        .get_rule(ADMIN, site["id"].as_i64().expect("id"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        rule["rule"]["trigger"]["receiver_id"], receiver_id,
        "{rule}"
    );
    assert_eq!(rule["rule"]["trigger"]["hook_id"], "site");

    // The rule's old URL still works, and so does the receiver's.
    let old = format!(
        "/hooks/in/{ACCOUNT}/{}",
        rule["inbound_hook_key"].as_str().expect("key")
    );
    assert!(old.ends_with(secret), "{old}");
    assert_eq!(
        call(&app, Method::POST, &old, b"{}", "application/json").await,
        200
    );
    assert_eq!(
        call(
            &app,
            Method::POST,
            &path_of(&receiver["url"]),
            b"{}",
            "application/json"
        )
        .await,
        200
    );
    assert_eq!(
        requests_of(&app, receiver_id, "")
            .await
            .as_array()
            .map(Vec::len),
        Some(1),
        "the receiver logs what reaches its own URL"
    );
}
