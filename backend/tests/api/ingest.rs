//! Ingest: each hook authenticates, stores the raw request under a dedupe key and queues its
//! processing in one transaction before answering.

use axum::http::StatusCode;
use rulebook::{ingest, store::trigger_links};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, Backend, TestApp, ACCOUNT, ADMIN, OTHER_ADMIN};

crate::on_both_databases!(
    a_kommo_webhook_is_stored_and_queued_before_the_answer,
    a_repeated_kommo_webhook_is_stored_once,
    a_webhook_with_a_wrong_secret_stores_nothing,
    a_digital_pipeline_request_is_deduplicated_by_its_event,
    an_inbound_hook_reaches_its_rule_and_honours_idempotency_keys,
    a_trigger_link_click_is_an_event_of_its_rule,
    an_oversized_body_is_refused_with_a_problem_and_stores_nothing,
    processed_events_are_purged_after_their_retention_and_unprocessed_ones_kept,
    a_request_to_the_static_dp_url_is_authenticated_by_the_rule_key_in_its_settings,
    two_dp_actions_on_one_stage_are_two_events_of_their_rules,
    a_trigger_link_sends_the_visitor_on_and_a_manual_link_names_its_entity,
    a_manual_link_whose_entity_is_forged_or_unsigned_gets_404,
    a_control_character_in_a_link_target_gets_422,
    inbound_hooks_and_links_are_capped_per_account_and_kommo_webhooks_are_not,
);

const FORM: &str = "application/x-www-form-urlencoded";
const LEAD_ADDED: &[u8] =
    b"leads%5Badd%5D%5B0%5D%5Bid%5D=555&account%5Bid%5D=31000001&account%5Bsubdomain%5D=acme";

async fn events_and_jobs(app: &TestApp) -> (i64, i64) {
    (
        app.count("SELECT COUNT(*) FROM events").await,
        app.count("SELECT COUNT(*) FROM jobs WHERE kind = 'process_event'")
            .await,
    )
}

async fn a_kommo_webhook_is_stored_and_queued_before_the_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let (path, _) = app.given_webhook_path(ADMIN).await;

    let answer = app.post_hook(&path, LEAD_ADDED, FORM, &[]).await;

    let body = answer.expect(StatusCode::OK);
    assert_eq!(body["status"], "stored");
    let event_id = body["event_id"].as_i64().expect("event id");
    let stored = ingest::load_event(app.db(), ACCOUNT, event_id)
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(stored.body, LEAD_ADDED);
    assert_eq!(stored.source, "kommo");
    assert_eq!(stored.content_type.as_deref(), Some(FORM));
    let payload = app
        .queue()
        .list_jobs(ACCOUNT, &Default::default())
        .await
        .expect("jobs");
    assert_eq!(payload.len(), 1);
    assert_eq!(payload[0].kind, "process_event");
    let row = sqlx::query("SELECT payload FROM jobs")
        .fetch_one(&app.db().pool)
        .await
        .expect("job");
    let payload: Value = serde_json::from_str(&sqlx::Row::get::<String, _>(&row, 0)).expect("json");
    assert_eq!(payload, json!({ "event_id": event_id }));
}

async fn a_repeated_kommo_webhook_is_stored_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (path, _) = app.given_webhook_path(ADMIN).await;

    let first = app
        .post_hook(&path, LEAD_ADDED, FORM, &[])
        .await
        .expect(StatusCode::OK);
    let retry = app
        .post_hook(&path, LEAD_ADDED, FORM, &[])
        .await
        .expect(StatusCode::OK);
    app.post_hook(&path, b"leads%5Badd%5D%5B0%5D%5Bid%5D=556", FORM, &[])
        .await
        .expect(StatusCode::OK);

    assert_eq!(first["status"], "stored");
    assert_eq!(retry["status"], "duplicate");
    assert_eq!(events_and_jobs(&app).await, (2, 2));
}

async fn a_webhook_with_a_wrong_secret_stores_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (path, dp) = app.given_webhook_path(ADMIN).await;
    let (other_path, _) = app.given_webhook_path(OTHER_ADMIN).await;
    let other_secret = other_path.rsplit('/').next().expect("secret");
    let wrong_secret = format!("{}x", path.trim_end_matches(|c| c != '/'));

    for bad in [
        wrong_secret,
        format!("/hooks/kommo/{ACCOUNT}/{other_secret}"),
        "/hooks/kommo/999/whatever".to_string(),
        "/hooks/kommo/not-a-number/whatever".to_string(),
        format!("{}x", dp),
    ] {
        app.post_hook(&bad, LEAD_ADDED, FORM, &[])
            .await
            .expect_problem(StatusCode::UNAUTHORIZED, "hook_unauthorized");
    }

    assert_eq!(events_and_jobs(&app).await, (0, 0));
}

async fn a_digital_pipeline_request_is_deduplicated_by_its_event(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, dp) = app.given_webhook_path(ADMIN).await;
    let key = dp_key_of(&app, app.given_a_rule("Stage rule").await).await;
    let form = dp_form(ACCOUNT, &key, 77, 1700000000);
    let json_body = json!({
        "event": { "type": 14, "data": { "id": 77 }, "time": 1700000000 },
        "action": { "settings": { "widget": { "settings": { "rule_id": key } } } },
        "account_id": 31000001
    });
    let json_retry_with_more_fields = json!({
        "event": { "type": 14, "data": { "id": 77, "status_id": 5 }, "time": 1700000000 },
        "action": { "settings": { "widget": { "settings": { "rule_id": key } } } },
        "subdomain": "acme",
        "account_id": 31000001
    });

    let first = app
        .post_hook(&dp, form.as_bytes(), FORM, &[])
        .await
        .expect(StatusCode::OK);
    let as_json = app
        .post_hook(
            &dp,
            json_body.to_string().as_bytes(),
            "application/json",
            &[],
        )
        .await
        .expect(StatusCode::OK);
    let retry = app
        .post_hook(
            &dp,
            json_retry_with_more_fields.to_string().as_bytes(),
            "application/json",
            &[],
        )
        .await
        .expect(StatusCode::OK);
    let later = app
        .post_hook(
            &dp,
            dp_form(ACCOUNT, &key, 77, 1700000099).as_bytes(),
            FORM,
            &[],
        )
        .await
        .expect(StatusCode::OK);
    // The account's own DP URL still needs the action's DP key, for this account.
    for refused in [
        b"event%5Btype%5D=14&event%5Bdata%5D%5Bid%5D=77&event%5Btime%5D=1700000000&account_id=31000001"
            .to_vec(),
        dp_form(crate::helpers::OTHER_ACCOUNT, &key, 77, 1).into_bytes(),
    ] {
        app.post_hook(&dp, &refused, FORM, &[])
            .await
            .expect_problem(StatusCode::UNAUTHORIZED, "hook_unauthorized");
    }

    assert_eq!(first["status"], "stored");
    assert_eq!(
        as_json["status"], "duplicate",
        "the same event in JSON is the same event"
    );
    assert_eq!(retry["status"], "duplicate");
    assert_eq!(later["status"], "stored");
    assert_eq!(events_and_jobs(&app).await, (2, 2));
}

/// The rule of the event a hook answer says was stored.
async fn rule_of_event(app: &TestApp, answer: &Value) -> Option<i64> {
    let id = answer["event_id"]
        .as_i64()
        .expect("stored, not a duplicate");
    ingest::load_event(app.db(), ACCOUNT, id)
        .await
        .expect("load")
        .expect("event")
        .rule_id
}

/// The DP key the widget writes into a DP action for a rule.
async fn dp_key_of(app: &TestApp, rule_id: i64) -> String {
    app.get_rule(ADMIN, rule_id).await.expect(StatusCode::OK)["dp_key"]
        .as_str()
        .expect("dp key")
        .to_string()
}

/// A digital-pipeline request as Kommo sends it: lead `lead` reached a stage at `time`, and the
/// action's hidden setting holds `setting`.
fn dp_form(account: i64, setting: &str, lead: i64, time: i64) -> String {
    serde_urlencoded::to_string([
        ("event[type]", "14".to_string()),
        ("event[data][id]", lead.to_string()),
        ("event[time]", time.to_string()),
        ("account_id", account.to_string()),
        (
            "action[settings][widget][settings][rule_id]",
            setting.to_string(),
        ),
    ])
    .expect("form")
}

async fn an_inbound_hook_reaches_its_rule_and_honours_idempotency_keys(backend: Backend) {
    let app = spawn_app(backend).await;
    let rule = app
        .get_rule(ADMIN, app.given_a_rule("Site form").await)
        .await
        .expect(StatusCode::OK);
    let rule_id = rule["id"].as_i64().expect("id");
    let path = format!(
        "/hooks/in/{ACCOUNT}/{}",
        rule["inbound_hook_key"].as_str().expect("key")
    );
    let form = br#"{"name":"Ann","phone":"+1 555 0100"}"#;

    let first = app
        .post_hook(&path, form, "application/json", &[])
        .await
        .expect(StatusCode::OK);
    let same_again = app
        .post_hook(&path, form, "application/json", &[])
        .await
        .expect(StatusCode::OK);
    let keyed = app
        .post_hook(&path, b"x", "text/plain", &[("idempotency-key", "order-1")])
        .await
        .expect(StatusCode::OK);
    let keyed_retry = app
        .post_hook(&path, b"x", "text/plain", &[("idempotency-key", "order-1")])
        .await
        .expect(StatusCode::OK);
    let wrong = format!("/hooks/in/{ACCOUNT}/{rule_id}-wrongsecret");
    app.post_hook(&wrong, form, "application/json", &[])
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "hook_unauthorized");
    let other_account = format!(
        "/hooks/in/31000002/{}",
        rule["inbound_hook_key"].as_str().expect("key")
    );
    app.post_hook(&other_account, form, "application/json", &[])
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "hook_unauthorized");

    assert_eq!(
        same_again["status"], "stored",
        "without a key, two submissions are two events"
    );
    assert_eq!(keyed["status"], "stored");
    assert_eq!(keyed_retry["status"], "duplicate");
    let event = ingest::load_event(app.db(), ACCOUNT, first["event_id"].as_i64().expect("id"))
        .await
        .expect("load")
        .expect("event");
    assert_eq!(event.rule_id, Some(rule_id));
    assert_eq!(event.source, "inbound");
    assert_eq!(events_and_jobs(&app).await, (3, 3));
}

async fn a_trigger_link_click_is_an_event_of_its_rule(backend: Backend) {
    let app = spawn_app(backend).await;
    let rule_id = app.given_a_rule("Clicked").await;
    let link = app
        .create_trigger_link(
            ADMIN,
            rule_id,
            &json!({ "entity_type": "leads", "entity_id": 5 }),
        )
        .await
        .expect(StatusCode::CREATED);
    let path = link["url"]
        .as_str()
        .expect("url")
        .strip_prefix(crate::helpers::PUBLIC_URL)
        .expect("ours")
        .to_string();

    let clicked = app.click(&path).await.expect(StatusCode::OK);
    app.click(&path).await.expect(StatusCode::OK);
    app.click(&format!("{path}x"))
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "hook_unauthorized");
    app.click("/t/garbage")
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "hook_unauthorized");
    app.create_trigger_link(OTHER_ADMIN, rule_id, &json!({}))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");

    let event = ingest::load_event(app.db(), ACCOUNT, clicked["event_id"].as_i64().expect("id"))
        .await
        .expect("load")
        .expect("event");
    assert_eq!(event.rule_id, Some(rule_id));
    assert_eq!(event.source, "link");
    assert_eq!(events_and_jobs(&app).await, (2, 2));
}

async fn an_oversized_body_is_refused_with_a_problem_and_stores_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (path, _) = app.given_webhook_path(ADMIN).await;
    let huge = vec![b'a'; 3 * 1024 * 1024];

    let answer = app.post_hook(&path, &huge, FORM, &[]).await;

    answer.expect_problem(StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    assert_eq!(events_and_jobs(&app).await, (0, 0));
}

async fn processed_events_are_purged_after_their_retention_and_unprocessed_ones_kept(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (path, _) = app.given_webhook_path(ADMIN).await;
    let processed = app
        .post_hook(&path, b"a=1", FORM, &[])
        .await
        .expect(StatusCode::OK)["event_id"]
        .as_i64()
        .expect("id");
    app.post_hook(&path, b"a=2", FORM, &[])
        .await
        .expect(StatusCode::OK);
    let now = crate::helpers::START_MS;
    let mut conn = app.db().pool.acquire().await.expect("conn");
    ingest::mark_processed(&mut conn, ACCOUNT, processed, now)
        .await
        .expect("mark");
    drop(conn);

    let too_soon =
        ingest::purge_processed_events(app.db(), now + ingest::PROCESSED_EVENT_RETENTION_MS).await;
    let later =
        ingest::purge_processed_events(app.db(), now + ingest::PROCESSED_EVENT_RETENTION_MS + 1)
            .await;

    assert_eq!(too_soon.expect("purge"), 0);
    assert_eq!(later.expect("purge"), 1);
    assert!(ingest::load_event(app.db(), ACCOUNT, processed)
        .await
        .expect("load")
        .is_none());
    assert_eq!(
        app.count("SELECT COUNT(*) FROM events").await,
        1,
        "the unprocessed event stays"
    );
}

async fn a_request_to_the_static_dp_url_is_authenticated_by_the_rule_key_in_its_settings(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let rule = app
        .get_rule(ADMIN, app.given_a_rule("Stage rule").await)
        .await
        .expect(StatusCode::OK);
    let rule_id = rule["id"].as_i64().expect("id");
    let other_rule = app.given_a_rule("Another rule").await;
    let key = rule["dp_key"].as_str().expect("key").to_string();
    let inbound_key = rule["inbound_hook_key"].as_str().expect("key").to_string();
    let mac = key
        .strip_prefix(&format!("{rule_id}-"))
        .expect("the key names its rule")
        .to_string();
    let as_json = json!({
        "event": { "type": 14, "data": { "id": 78 }, "time": 1700000000 },
        "action": { "settings": { "widget": { "settings": { "rule_id": key } } } },
        "account_id": ACCOUNT,
    });

    let stored = app
        .post_hook(
            "/hooks/dp",
            dp_form(ACCOUNT, &key, 77, 1).as_bytes(),
            FORM,
            &[],
        )
        .await
        .expect(StatusCode::OK);
    let retry = app
        .post_hook(
            "/hooks/dp",
            dp_form(ACCOUNT, &key, 77, 1).as_bytes(),
            FORM,
            &[],
        )
        .await
        .expect(StatusCode::OK);
    app.post_hook(
        "/hooks/dp",
        as_json.to_string().as_bytes(),
        "application/json",
        &[],
    )
    .await
    .expect(StatusCode::OK);
    for forged in [
        dp_form(ACCOUNT, &rule_id.to_string(), 77, 2),
        dp_form(ACCOUNT, &format!("{rule_id}-guess"), 77, 2),
        dp_form(ACCOUNT, &format!("{other_rule}-{mac}"), 77, 2),
        dp_form(ACCOUNT, &inbound_key, 77, 2),
        dp_form(crate::helpers::OTHER_ACCOUNT, &key, 77, 2),
        "account_id=31000001".to_string(),
    ] {
        app.post_hook("/hooks/dp", forged.as_bytes(), FORM, &[])
            .await
            .expect_problem(StatusCode::UNAUTHORIZED, "hook_unauthorized");
    }

    assert_ne!(key, inbound_key, "a DP key is not the inbound webhook key");
    assert_eq!(retry["status"], "duplicate");
    let event = ingest::load_event(app.db(), ACCOUNT, stored["event_id"].as_i64().expect("id"))
        .await
        .expect("load")
        .expect("event");
    assert_eq!(
        (event.source.as_str(), event.rule_id),
        ("dp", Some(rule_id))
    );
    assert_eq!(events_and_jobs(&app).await, (2, 2));
}

async fn two_dp_actions_on_one_stage_are_two_events_of_their_rules(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.given_a_rule("First action").await;
    let second = app.given_a_rule("Second action").await;
    let (first_key, second_key) = (dp_key_of(&app, first).await, dp_key_of(&app, second).await);

    // One lead reaching one stage: Kommo sends the same event once per action.
    let a = app
        .post_hook(
            "/hooks/dp",
            dp_form(ACCOUNT, &first_key, 77, 1).as_bytes(),
            FORM,
            &[],
        )
        .await
        .expect(StatusCode::OK);
    let b = app
        .post_hook(
            "/hooks/dp",
            dp_form(ACCOUNT, &second_key, 77, 1).as_bytes(),
            FORM,
            &[],
        )
        .await
        .expect(StatusCode::OK);

    assert_eq!(rule_of_event(&app, &a).await, Some(first));
    assert_eq!(rule_of_event(&app, &b).await, Some(second));
    assert_eq!(events_and_jobs(&app).await, (2, 2));
}

async fn a_trigger_link_sends_the_visitor_on_and_a_manual_link_names_its_entity(backend: Backend) {
    let app = spawn_app(backend).await;
    let rule_id = app.given_a_rule("Price list").await;
    let link = app
        .create_trigger_link(
            ADMIN,
            rule_id,
            &json!({ "name": "Prices", "target_url": "https://example.com/prices" }),
        )
        .await
        .expect(StatusCode::CREATED);
    let path = link["url"]
        .as_str()
        .expect("url")
        .strip_prefix(crate::helpers::PUBLIC_URL)
        .expect("ours")
        .to_string();
    let manual_path = rendered_link_path(&app, link["id"].as_i64().expect("id"), 555).await;

    let plain = app.click(&path).await;
    let manual = app.click(&manual_path).await;
    app.click(&format!(
        "{path}x/555/2/{}",
        manual_path.rsplit('/').next().unwrap_or("")
    ))
    .await
    .expect_problem(StatusCode::UNAUTHORIZED, "hook_unauthorized");
    app.create_trigger_link(
        ADMIN,
        rule_id,
        &json!({ "target_url": "javascript:alert(1)" }),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");

    assert_eq!(plain.status, StatusCode::SEE_OTHER);
    assert_eq!(
        plain.location.as_deref(),
        Some("https://example.com/prices")
    );
    assert_eq!(manual.status, StatusCode::SEE_OTHER, "{}", manual.body);
    assert_eq!(link["name"], "Prices");
    let newest = app.count("SELECT MAX(id) FROM events").await;
    let event = ingest::load_event(app.db(), ACCOUNT, newest)
        .await
        .expect("load")
        .expect("event");
    assert_eq!(event.entity, Some(("leads".to_string(), 555)));
    assert_eq!(event.rule_id, Some(rule_id));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM events WHERE entity_id IS NOT NULL")
            .await,
        1
    );
    assert_eq!(events_and_jobs(&app).await, (2, 2));
}

/// The path of link `link_id` for lead `lead`, as `{tglink:N}` renders it.
async fn rendered_link_path(app: &TestApp, link_id: i64, lead: i64) -> String {
    let keys = trigger_links::LinkKeys::load(app.db(), ACCOUNT, crate::helpers::PUBLIC_URL)
        .await
        .expect("links");
    keys.url(link_id, Some(("leads", lead)))
        .expect("the account's link")
        .strip_prefix(crate::helpers::PUBLIC_URL)
        .expect("ours")
        .to_string()
}

async fn a_manual_link_whose_entity_is_forged_or_unsigned_gets_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let rule_id = app.given_a_rule("Offer").await;
    let link = app
        .create_trigger_link(ADMIN, rule_id, &json!({ "name": "Offer" }))
        .await
        .expect(StatusCode::CREATED);
    let link_id = link["id"].as_i64().expect("id");
    let token = link["token"].as_str().expect("token").to_string();
    let for_a = rendered_link_path(&app, link_id, 555).await;
    let mac_of_a = for_a.rsplit('/').next().expect("mac").to_string();
    let other_link = app
        .create_trigger_link(ADMIN, rule_id, &json!({}))
        .await
        .expect(StatusCode::CREATED);

    for forged in [
        // Lead B with the link made for lead A.
        format!("/t/{token}/556/2/{mac_of_a}"),
        // A's id as a contact.
        format!("/t/{token}/555/1/{mac_of_a}"),
        // A's MAC on another link of the account.
        format!(
            "/t/{}/555/2/{mac_of_a}",
            other_link["token"].as_str().expect("token")
        ),
        // No MAC: the old form.
        format!("/t/{token}/555/2"),
        format!("/t/{token}/555/2/{mac_of_a}x"),
        format!("/t/{token}/+555/2/{mac_of_a}"),
        format!("/t/{token}/555/9/{mac_of_a}"),
        format!("/t/{token}/99999999999999999999999/2/{mac_of_a}"),
        format!("/t/{token}/%00/2/%41"),
    ] {
        app.click(&forged)
            .await
            .expect_problem(StatusCode::NOT_FOUND, "not_found");
    }
    let followed = app.click(&for_a).await.expect(StatusCode::OK);

    assert_eq!(followed["status"], "stored");
    assert_eq!(events_and_jobs(&app).await, (1, 1), "only the real link");
}

async fn a_control_character_in_a_link_target_gets_422(backend: Backend) {
    let app = spawn_app(backend).await;
    let rule_id = app.given_a_rule("Offer").await;

    for target in [
        "https://example.com/\r\nSet-Cookie: a=b",
        "https://example.com/\tpage",
        "https://example.com/\u{0}",
    ] {
        let refused = app
            .create_trigger_link(ADMIN, rule_id, &json!({ "target_url": target }))
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        assert_eq!(
            refused["errors"][0]["code"], "control_character",
            "{refused}"
        );
    }

    assert_eq!(
        app.count("SELECT COUNT(*) FROM trigger_links").await,
        0,
        "nothing stored"
    );
}

async fn inbound_hooks_and_links_are_capped_per_account_and_kommo_webhooks_are_not(
    backend: Backend,
) {
    let app = spawn_app_with(backend, json!({"inbound_requests_per_minute": 3})).await;
    let rule = app
        .get_rule(ADMIN, app.given_a_rule("Site form").await)
        .await
        .expect(StatusCode::OK);
    let rule_id = rule["id"].as_i64().expect("id");
    let hook = format!(
        "/hooks/in/{ACCOUNT}/{}",
        rule["inbound_hook_key"].as_str().expect("key")
    );
    let link = app
        .create_trigger_link(ADMIN, rule_id, &json!({}))
        .await
        .expect(StatusCode::CREATED);
    let link = link["url"]
        .as_str()
        .expect("url")
        .strip_prefix(crate::helpers::PUBLIC_URL)
        .expect("ours")
        .to_string();

    for _ in 0..2 {
        app.post_hook(&hook, b"{}", "application/json", &[])
            .await
            .expect(StatusCode::OK);
    }
    app.click(&link).await.expect(StatusCode::OK);
    app.post_hook(&hook, b"{}", "application/json", &[])
        .await
        .expect_problem(StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    app.click(&link)
        .await
        .expect_problem(StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    // A wrong key is refused as such, not counted against the account.
    app.post_hook(
        &format!("/hooks/in/{ACCOUNT}/{rule_id}-wrongsecret"),
        b"{}",
        "application/json",
        &[],
    )
    .await
    .expect_problem(StatusCode::UNAUTHORIZED, "hook_unauthorized");
    let (kommo, _) = app.given_webhook_path(ADMIN).await;
    app.post_hook(&kommo, LEAD_ADDED, FORM, &[])
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        events_and_jobs(&app).await,
        (4, 4),
        "three inbound calls and Kommo's webhook; the refused ones stored nothing"
    );
}
