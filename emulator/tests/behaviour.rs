//! Behaviour of the emulator that tests elsewhere rely on: tokens, refresh single use, the webhook
//! retry schedule on the emulator clock, the control API.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::routing::post;
use kommo_emulator::{spawn_on_loopback, Emulator, EmulatorClock, EmulatorConfig};
use serde_json::{json, Value};

const SUB: &str = "acme";

fn seeded(clock: EmulatorClock) -> Emulator {
    let emulator = Emulator::with_clock(EmulatorConfig::default(), clock);
    emulator
        .seed_json(json!({
            "subdomain": SUB,
            "integrations": [{"client_id": "cid", "client_secret": "sec", "redirect_uri": "https://api.example/cb"}],
            "entities": {"leads": [{"name": "One"}]}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
    emulator
}

#[test]
fn a_refresh_token_is_single_use_and_codes_are_exchanged_once() {
    let emulator = seeded(EmulatorClock::frozen(1_700_000_000_000));
    let pair = emulator
        .issue_tokens(SUB, None)
        .unwrap_or_else(|e| panic!("{e}"));
    let grant = json!({"client_id": "cid", "client_secret": "sec", "grant_type": "refresh_token", "refresh_token": pair.refresh_token, "redirect_uri": "https://api.example/cb"});
    assert!(emulator.oauth_token(SUB, &grant).is_ok());
    let second = emulator.oauth_token(SUB, &grant);
    assert_eq!(
        second.map_err(|(status, body)| (status, body["hint"].clone())),
        Err((400, json!("Token has been revoked")))
    );
    let code = emulator
        .issue_auth_code(SUB, "cid")
        .unwrap_or_else(|e| panic!("{e}"));
    let exchange = json!({"client_id": "cid", "client_secret": "sec", "grant_type": "authorization_code", "code": code, "redirect_uri": "https://api.example/cb"});
    assert!(emulator.oauth_token(SUB, &exchange).is_ok());
    assert!(emulator.oauth_token(SUB, &exchange).is_err());
    let wrong_secret = json!({"client_id": "cid", "client_secret": "nope", "grant_type": "refresh_token", "refresh_token": "x"});
    assert_eq!(
        emulator
            .oauth_token(SUB, &wrong_secret)
            .map_err(|(s, _)| s)
            .err(),
        Some(401)
    );
    assert_eq!(emulator.counters(SUB).map(|c| c.token_refreshes), Some(1));
}

#[tokio::test]
async fn revoking_an_integrations_access_stops_its_tokens_and_only_its_own() {
    let emulator = seeded(EmulatorClock::frozen(1_700_000_000_000));
    let server = spawn_on_loopback(emulator.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let pair = emulator
        .issue_tokens(SUB, Some("cid"))
        .unwrap_or_else(|e| panic!("{e}"));
    let long_lived = emulator
        .issue_long_lived_token(SUB, 86_400)
        .unwrap_or_else(|e| panic!("{e}"));
    let url = format!("{}/api/v4/account", server.account_url(SUB));
    let status = |t: String| {
        let url = url.clone();
        async move {
            reqwest::Client::new()
                .get(&url)
                .bearer_auth(t)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    assert_eq!(status(pair.access_token.clone()).await, 200);
    assert_eq!(
        emulator
            .revoke_access(SUB, "cid")
            .unwrap_or_else(|e| panic!("{e}")),
        2
    );
    assert_eq!(status(pair.access_token.clone()).await, 401);
    let refresh = json!({"client_id": "cid", "client_secret": "sec", "grant_type": "refresh_token", "refresh_token": pair.refresh_token, "redirect_uri": "https://api.example/cb"});
    assert_eq!(
        emulator
            .oauth_token(SUB, &refresh)
            .map_err(|(status, body)| (status, body["hint"].clone())),
        Err((400, json!("Token has been revoked")))
    );
    assert_eq!(
        status(long_lived).await,
        200,
        "another integration's token still works"
    );
    assert!(emulator.revoke_access("nobody", "cid").is_err());
}

#[tokio::test]
async fn access_tokens_expire_after_24_hours_of_emulator_time() {
    let emulator = seeded(EmulatorClock::real());
    let server = spawn_on_loopback(emulator.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let token = emulator
        .issue_tokens(SUB, None)
        .unwrap_or_else(|e| panic!("{e}"))
        .access_token;
    let long_lived = emulator
        .issue_long_lived_token(SUB, 5 * 86_400)
        .unwrap_or_else(|e| panic!("{e}"));
    let http = reqwest::Client::new();
    let url = format!("{}/api/v4/account", server.account_url(SUB));
    let status = |t: String| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            http.get(&url)
                .bearer_auth(t)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    assert_eq!(status(token.clone()).await, 200);
    emulator.clock().advance(24 * 3_600_000 + 1_000);
    assert_eq!(status(token.clone()).await, 401);
    assert_eq!(status(long_lived.clone()).await, 200);
    // A token of one account does not open another.
    emulator
        .seed_json(json!({"subdomain": "other"}))
        .unwrap_or_else(|e| panic!("{e}"));
    let other_url = format!("{}/api/v4/account", server.account_url("other"));
    let other = http
        .get(&other_url)
        .bearer_auth(&long_lived)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    assert_eq!(other, 401);
}

#[tokio::test]
async fn failed_webhooks_are_retried_on_kommos_schedule_by_the_emulator_clock() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        post(move |body: String| {
            let counter = counter.clone();
            async move {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                assert!(body.contains("leads%5Bupdate%5D"));
                if n < 2 {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    let emulator = seeded(EmulatorClock::frozen(1_700_000_000_000));
    emulator
        .call(
            SUB,
            "POST",
            "v4/webhooks",
            Some(
                json!({"destination": format!("http://{addr}/hook"), "settings": ["update_lead"]}),
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let id = emulator.entities(SUB, "leads")[0]["id"]
        .as_i64()
        .unwrap_or(0);
    emulator
        .call(
            SUB,
            "PATCH",
            &format!("v4/leads/{id}"),
            Some(json!({"name": "Renamed"})),
        )
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(emulator.deliver_due().await, 1, "first attempt at once");
    assert_eq!(
        emulator.deliver_due().await,
        0,
        "nothing due before 5 minutes"
    );
    emulator.clock().advance(5 * 60_000 - 1);
    assert_eq!(emulator.deliver_due().await, 0);
    emulator.clock().advance(1);
    assert_eq!(
        emulator.deliver_due().await,
        1,
        "second attempt after 5 minutes"
    );
    emulator.clock().advance(15 * 60_000);
    assert_eq!(
        emulator.deliver_due().await,
        1,
        "third attempt 15 minutes later succeeds"
    );
    emulator.clock().advance(3_600_000);
    assert_eq!(
        emulator.deliver_due().await,
        0,
        "delivered: no more attempts"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    let delivery = emulator
        .deliveries()
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("delivery"));
    let statuses: Vec<Option<u16>> = delivery.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, vec![Some(500), Some(500), Some(200)]);
}

#[tokio::test]
async fn the_control_api_seeds_mints_injects_and_reports() {
    let emulator = Emulator::new(EmulatorConfig::default());
    let server = spawn_on_loopback(emulator.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let http = reqwest::Client::new();
    let seed = json!({"subdomain": "ctl", "integrations": [{"client_id": "c", "client_secret": "s", "redirect_uri": "https://x.example/cb"}]});
    let created = http
        .post(format!("{}/_control/accounts", server.url))
        .json(&seed)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(created.status(), 201);
    let duplicate = http
        .post(format!("{}/_control/accounts", server.url))
        .json(&seed)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(duplicate.status(), 422);
    let problem: Value = duplicate.json().await.unwrap_or_default();
    assert_eq!(problem["code"], json!("invalid_seed"));
    let pair: Value = http
        .post(format!("{}/_control/accounts/ctl/tokens", server.url))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    let token = pair["access_token"].as_str().unwrap_or_default().to_owned();
    let fault = json!({"kind": "status", "status": 503, "count": 1});
    let injected = http
        .post(format!("{}/_control/accounts/ctl/faults", server.url))
        .json(&fault)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(injected.status(), 204);
    let url = format!("{}/api/v4/account", server.account_url("ctl"));
    assert_eq!(
        http.get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0),
        503
    );
    assert_eq!(
        http.get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0),
        200
    );
    let counters: Value = http
        .get(format!("{}/_control/accounts/ctl/counters", server.url))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(
        (
            counters["requests"].clone(),
            counters["injected_5xx"].clone()
        ),
        (json!(2), json!(1))
    );
    let log: Value = http
        .get(format!("{}/_control/requests", server.url))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(log["requests"].as_array().map(Vec::len), Some(2));
    let before = emulator.clock().now_ms();
    let moved: Value = http
        .post(format!("{}/_control/clock/advance", server.url))
        .json(&json!({"ms": 60_000}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    assert!(moved["now_ms"].as_i64().unwrap_or(0) >= before + 60_000);
    let disposable: Value = http
        .post(format!(
            "{}/_control/accounts/ctl/disposable_tokens",
            server.url
        ))
        .json(&json!({"user_id": 1}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(
        disposable["token"].as_str().map(|t| t.split('.').count()),
        Some(3)
    );
}

/// The talk events delivered so far, as (event code, talk_id, is_in_work) and message talk ids.
fn talk_traffic(emulator: &Emulator) -> Vec<(String, String, String)> {
    emulator
        .deliveries()
        .into_iter()
        .map(|d| {
            let pairs: Vec<(String, String)> = form_urlencoded::parse(d.body.as_bytes())
                .into_owned()
                .collect();
            let get = |suffix: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| k.ends_with(suffix))
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            (d.event.clone(), get("[talk_id]"), get("[is_in_work]"))
        })
        .collect()
}

#[test]
fn chat_messages_open_a_talk_update_it_and_a_closed_talk_gives_way_to_a_new_one() {
    let emulator = seeded(EmulatorClock::frozen(1_700_000_000_000));
    emulator
        .call(
            SUB,
            "POST",
            "v4/webhooks",
            Some(json!({"destination": "https://api.example/hooks", "settings": ["add_talk", "update_talk", "add_message"]})),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let lead = emulator.entities(SUB, "leads")[0]["id"]
        .as_i64()
        .unwrap_or_default();
    let request = kommo_emulator::ChatMessageRequest {
        lead_id: Some(lead),
        author_name: "Ann".into(),
        text: "Hi".into(),
        origin: "telegram".into(),
        ..Default::default()
    };
    let first = emulator
        .chat_message(SUB, &request)
        .unwrap_or_else(|e| panic!("{e}"));
    let talk = first.talk_id.to_string();
    assert_eq!(
        talk_traffic(&emulator),
        vec![
            ("add_talk".into(), talk.clone(), "1".into()),
            ("add_message".into(), talk.clone(), String::new()),
        ]
    );
    let second = emulator
        .chat_message(SUB, &request)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(second.talk_id, first.talk_id);
    assert_eq!(
        talk_traffic(&emulator)[2..],
        [
            ("add_message".into(), talk.clone(), String::new()),
            ("update_talk".into(), talk.clone(), "1".into()),
        ]
    );
    let the_talk = emulator.talk(SUB, first.talk_id).unwrap_or_default();
    assert_eq!(
        (
            &the_talk["entity_id"],
            &the_talk["entity_type"],
            &the_talk["is_in_work"]
        ),
        (&json!(lead), &json!("lead"), &json!(true))
    );

    // A malformed close is refused; a close through the API closes once.
    let path = format!("v4/talks/{}/close", first.talk_id);
    let bad = emulator
        .call(SUB, "POST", &path, Some(json!({"force_close": "yes"})))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bad.0, 400);
    for _ in 0..2 {
        let (status, _) = emulator
            .call(SUB, "POST", &path, None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status, 202);
    }
    assert_eq!(
        talk_traffic(&emulator)[4..],
        [("update_talk".into(), talk.clone(), "0".into())]
    );
    assert_eq!(
        emulator.talk(SUB, first.talk_id).unwrap_or_default()["is_in_work"],
        json!(false)
    );
    let missing = emulator
        .call(SUB, "GET", "v4/talks/1", None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(missing.0, 404);

    // The next message opens a new talk in the same chat, which a manager closes in the UI.
    let third = emulator
        .chat_message(SUB, &request)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(third.talk_id, first.talk_id);
    assert_eq!(third.chat_id, first.chat_id);
    emulator
        .read_talk(SUB, third.talk_id)
        .unwrap_or_else(|e| panic!("{e}"));
    emulator
        .close_talk(SUB, third.talk_id)
        .unwrap_or_else(|e| panic!("{e}"));
    let new = third.talk_id.to_string();
    assert_eq!(
        talk_traffic(&emulator)[5..],
        [
            ("add_talk".into(), new.clone(), "1".into()),
            ("add_message".into(), new.clone(), String::new()),
            ("update_talk".into(), new.clone(), "1".into()),
            ("update_talk".into(), new.clone(), "0".into()),
        ]
    );
    assert!(emulator.close_talk(SUB, 1).is_err());
}

#[tokio::test]
async fn a_full_request_log_keeps_the_latest_requests_and_counts_the_dropped_ones() {
    let emulator = Emulator::with_clock(
        EmulatorConfig {
            request_log_capacity: 3,
            requests_per_second: 1_000,
            ..EmulatorConfig::default()
        },
        EmulatorClock::real(),
    );
    emulator
        .seed_json(json!({"subdomain": SUB, "entities": {"leads": [{"name": "One"}]}}))
        .unwrap_or_else(|e| panic!("{e}"));
    let server = spawn_on_loopback(emulator.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let token = emulator
        .issue_tokens(SUB, None)
        .unwrap_or_else(|e| panic!("{e}"))
        .access_token;
    let http = reqwest::Client::new();
    for page in 1..=5 {
        http.get(format!(
            "{}/api/v4/leads?page={page}",
            server.account_url(SUB)
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let pages: Vec<String> = emulator
        .request_log()
        .iter()
        .map(|entry| entry.path.rsplit('=').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(pages, ["3", "4", "5"]);
    assert_eq!(emulator.request_log_dropped(), 2);
}
