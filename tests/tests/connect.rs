//! Connecting a Kommo account, against the emulator over real HTTP: the OAuth callback exchanges
//! a code the emulator minted, stores the pair sealed, subscribes the account's webhook (so a
//! change in the emulator reaches the backend's inbox); a reused code and a foreign referer fail
//! clearly; a forged revocation is refused, a replayed one (Kommo still accepts the token) keeps
//! the connection, and a real one forgets the tokens. Rotating the webhook secret moves Kommo's
//! webhook to the new URL. Also the private integration's long-lived token, checked against the
//! account it claims.

use kommo_emulator::{EmulatorClock, EmulatorConfig};
use ring::hmac;
use rulebook::{connect, store::accounts};
use rulebook_e2e::{
    connected::{Connecting, ACCOUNT_ID, SUBDOMAIN},
    stack::{Database, CLIENT_ID, CLIENT_SECRET, START_MS},
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use sqlx::Row;

use rulebook_e2e::on_both_databases;

on_both_databases!(
    an_account_connects_by_oauth_and_is_let_go_when_kommo_revokes_access,
    a_replayed_revocation_notice_keeps_a_working_connection,
    after_rotating_the_webhook_secret_a_lead_change_in_the_emulator_is_processed,
    a_long_lived_token_connects_only_the_account_it_belongs_to,
);

fn problem_code(status: u16, content_type: Option<String>, body: &str) -> (u16, String) {
    assert_eq!(
        content_type.as_deref(),
        Some("application/problem+json"),
        "{body}"
    );
    let body: Value = serde_json::from_str(body).expect("problem JSON");
    assert!(
        body["detail"].as_str().is_some_and(|d| d.ends_with('.')),
        "{body}"
    );
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

fn revocation_signature(secret: &str, account_id: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hmac::sign(&key, format!("{CLIENT_ID}|{account_id}").as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn an_account_connects_by_oauth_and_is_let_go_when_kommo_revokes_access(database: Database) {
    let c = Connecting::start(
        database,
        EmulatorConfig::default(),
        EmulatorClock::frozen(START_MS),
        6,
    )
    .await;
    let emulator = &c.kommo.emulator;
    let code = emulator
        .issue_auth_code(SUBDOMAIN, CLIENT_ID)
        .expect("auth code");
    let referer = format!("{SUBDOMAIN}.kommo.com");

    // Kommo's redirect: connected.
    let (status, content_type, body) = c.callback(&code, &referer).await;
    assert_eq!(status, 200, "{body}");
    assert!(content_type.is_some_and(|t| t.starts_with("text/html")));
    assert!(
        body.contains("is connected") && body.contains(&ACCOUNT_ID.to_string()),
        "{body}"
    );

    // The pair is stored, sealed: the row holds no plaintext, and it opens to a working token.
    let tokens = accounts::load_oauth_tokens(&c.app.db, &c.app.cipher, ACCOUNT_ID)
        .await
        .expect("load")
        .expect("tokens stored");
    let row = sqlx::query(
        "SELECT oauth_access_token, oauth_refresh_token, subdomain FROM accounts WHERE account_id = $1",
    )
    .bind(ACCOUNT_ID)
    .fetch_one(&c.app.db.pool)
    .await
    .expect("row");
    let (sealed_access, sealed_refresh, subdomain): (String, String, String) =
        (row.get(0), row.get(1), row.get(2));
    assert_eq!(subdomain, SUBDOMAIN);
    let access = tokens.access_token.expose_secret();
    let refresh = tokens.refresh_token.expose_secret();
    assert!(access.len() > 20 && !refresh.is_empty());
    for plain in [access, refresh] {
        assert!(!sealed_access.contains(plain) && !sealed_refresh.contains(plain));
    }
    let info = c
        .app
        .engine
        .account_client(ACCOUNT_ID)
        .await
        .expect("client")
        .account_info()
        .await
        .expect("the stored token works");
    assert_eq!(info.id, ACCOUNT_ID);

    // The webhook is registered in the emulator, at our hook URL with the account's secret.
    let secret = accounts::webhook_secret(&c.app.db, ACCOUNT_ID)
        .await
        .expect("secret")
        .expect("a secret");
    let (status, hooks) = emulator
        .call(SUBDOMAIN, "GET", "/api/v4/webhooks", None)
        .expect("webhooks");
    assert_eq!(status, 200);
    let hooks = hooks.expect("a list")["_embedded"]["webhooks"].clone();
    let hooks = hooks.as_array().expect("webhooks");
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert_eq!(
        hooks[0]["destination"],
        format!("{}/hooks/kommo/{ACCOUNT_ID}/{secret}", c.backend_url)
    );
    let events: Vec<&str> = hooks[0]["settings"]
        .as_array()
        .expect("settings")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for needed in [
        "add_lead",
        "update_lead",
        "status_lead",
        "add_contact",
        "add_task",
        "add_message",
    ] {
        assert!(events.contains(&needed), "{needed} missing from {events:?}");
    }

    // A change in the emulator reaches the backend's inbox.
    assert_eq!(c.inbox_count().await, 0);
    let (status, _) = emulator
        .call(
            SUBDOMAIN,
            "POST",
            "/api/v4/leads",
            Some(json!([{"name": "Via webhook"}])),
        )
        .expect("create lead");
    assert!(status < 300);
    assert!(emulator.deliver_due().await > 0);
    assert_eq!(c.inbox_count().await, 1);

    // The same code again: refused clearly.
    let (status, content_type, body) = c.callback(&code, &referer).await;
    assert_eq!(
        problem_code(status, content_type, &body),
        (400, "code_rejected".into())
    );
    // A referer that is no Kommo account host: refused before anything is sent anywhere.
    let fresh = emulator
        .issue_auth_code(SUBDOMAIN, CLIENT_ID)
        .expect("code");
    let (status, content_type, body) = c.callback(&fresh, "attacker.example.com").await;
    assert_eq!(
        problem_code(status, content_type, &body),
        (400, "unknown_referer".into())
    );
    // No code at all.
    let (status, content_type, body) = c
        .get("/oauth/kommo/callback", &[("referer", "x.kommo.com")])
        .await;
    assert_eq!(
        problem_code(status, content_type, &body),
        (400, "missing_code".into())
    );

    // A forged revocation (wrong key, or another account's signature) is refused; tokens stay.
    let forged = revocation_signature("not-the-secret", ACCOUNT_ID);
    let replayed = revocation_signature(CLIENT_SECRET, ACCOUNT_ID + 1);
    for signature in [forged.as_str(), replayed.as_str(), "zz"] {
        let (status, content_type, body) = c.revoked(ACCOUNT_ID, signature).await;
        assert_eq!(
            problem_code(status, content_type, &body),
            (401, "bad_signature".into())
        );
    }
    assert!(
        accounts::load_oauth_tokens(&c.app.db, &c.app.cipher, ACCOUNT_ID)
            .await
            .expect("load")
            .is_some()
    );

    // Kommo's real notification, after an admin disconnected the integration: the tokens are
    // forgotten, the account (and its rules) stay.
    assert!(
        emulator
            .revoke_access(SUBDOMAIN, CLIENT_ID)
            .expect("revoke")
            > 0
    );
    let signature = revocation_signature(CLIENT_SECRET, ACCOUNT_ID);
    let (status, _, body) = c.revoked(ACCOUNT_ID, &signature).await;
    assert_eq!(status, 204, "{body}");
    assert!(
        accounts::load_oauth_tokens(&c.app.db, &c.app.cipher, ACCOUNT_ID)
            .await
            .expect("load")
            .is_none()
    );
    let listed = accounts::list_accounts(&c.app.db).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].connected);
}

async fn a_replayed_revocation_notice_keeps_a_working_connection(database: Database) {
    let c = Connecting::start(
        database,
        EmulatorConfig::default(),
        // Real time: the emulator's rate-limit window must move.
        EmulatorClock::real(),
        6,
    )
    .await;
    c.connect_by_oauth().await;
    let signature = revocation_signature(CLIENT_SECRET, ACCOUNT_ID);

    // A notification recorded earlier (or sent by mistake) while Kommo still accepts the token.
    let (status, content_type, body) = c.revoked(ACCOUNT_ID, &signature).await;

    assert_eq!(
        problem_code(status, content_type, &body),
        (409, "access_not_revoked".into())
    );
    let info = c
        .app
        .engine
        .account_client(ACCOUNT_ID)
        .await
        .expect("client")
        .account_info()
        .await
        .expect("the connection still works");
    assert_eq!(info.id, ACCOUNT_ID);
    assert!(accounts::list_accounts(&c.app.db).await.expect("list")[0].connected);
    // Once access is really revoked, the same notification is honoured.
    c.kommo
        .emulator
        .revoke_access(SUBDOMAIN, CLIENT_ID)
        .expect("revoke");
    let (status, _, body) = c.revoked(ACCOUNT_ID, &signature).await;
    assert_eq!(status, 204, "{body}");
    assert!(!accounts::list_accounts(&c.app.db).await.expect("list")[0].connected);
}

async fn after_rotating_the_webhook_secret_a_lead_change_in_the_emulator_is_processed(
    database: Database,
) {
    let c = Connecting::start(
        database,
        EmulatorConfig::default(),
        // Real time: the emulator's rate-limit window must move.
        EmulatorClock::real(),
        6,
    )
    .await;
    c.connect_by_oauth().await;
    let emulator = &c.kommo.emulator;
    let (status, created) = c
        .post_as(
            201,
            "/api/v1/rules",
            &json!({"name": "Welcome", "rule": {
                "schema_version": 2, "name": "Welcome",
                "trigger": {"kind": "entity_added", "entity": "lead"},
                "blocks": [{"name": "note", "actions": [
                    {"do": {"type": "add_note", "entity": "lead", "text": "Welcome, {{lead.name}}"}}]}]
            }}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let old_secret = accounts::webhook_secret(&c.app.db, ACCOUNT_ID)
        .await
        .expect("secret")
        .expect("a secret");

    // A member may not rotate; an admin may.
    let (status, problem) = c
        .post_as(202, "/api/v1/account/hooks/rotate", &json!({}))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("admin_required"))
    );
    let (status, urls) = c
        .post_as(201, "/api/v1/account/hooks/rotate", &json!({}))
        .await;
    assert_eq!(status, 200, "{urls}");
    let new_secret = accounts::webhook_secret(&c.app.db, ACCOUNT_ID)
        .await
        .expect("secret")
        .expect("a secret");
    assert_ne!(new_secret, old_secret);
    let new_url = format!("{}/hooks/kommo/{ACCOUNT_ID}/{new_secret}", c.backend_url);
    assert_eq!(urls["kommo_webhook_url"], new_url);

    // Kommo's subscription moved: the new URL only.
    let (_, hooks) = emulator
        .call(SUBDOMAIN, "GET", "/api/v4/webhooks", None)
        .expect("webhooks");
    let destinations: Vec<Value> = hooks.expect("a list")["_embedded"]["webhooks"]
        .as_array()
        .expect("webhooks")
        .iter()
        .map(|h| h["destination"].clone())
        .collect();
    assert_eq!(destinations, vec![json!(new_url)]);

    // A lead added in Kommo reaches the backend and its rule runs.
    let (status, body) = emulator
        .call(
            SUBDOMAIN,
            "POST",
            "/api/v4/leads",
            Some(json!([{"name": "After rotation"}])),
        )
        .expect("create lead");
    assert!(status < 300);
    let lead = body.expect("created")["_embedded"]["leads"][0]["id"]
        .as_i64()
        .expect("lead id");
    assert!(emulator.deliver_due().await > 0);
    assert_eq!(c.inbox_count().await, 1);
    while !matches!(
        c.worker.try_run_one().await.expect("worker"),
        rulebook::queue::worker::Outcome::Idle
    ) {}
    let notes: Vec<Value> = emulator
        .notes(SUBDOMAIN)
        .into_iter()
        .filter(|n| n["entity_id"] == lead)
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["params"]["text"], "Welcome, After rotation");
    // The old URL is refused.
    let refused = reqwest::Client::new()
        .post(format!(
            "{}/hooks/kommo/{ACCOUNT_ID}/{old_secret}",
            c.backend_url
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("leads%5Badd%5D%5B0%5D%5Bid%5D=1")
        .send()
        .await
        .expect("answered");
    assert_eq!(refused.status(), 401);

    // With access revoked in Kommo there is nothing to move, and the secret still rotates.
    emulator
        .revoke_access(SUBDOMAIN, CLIENT_ID)
        .expect("revoke");
    let (status, urls) = c
        .post_as(201, "/api/v1/account/hooks/rotate", &json!({}))
        .await;
    assert_eq!(status, 200, "{urls}");
    assert_ne!(urls["kommo_webhook_url"], json!(new_url));
}

async fn a_long_lived_token_connects_only_the_account_it_belongs_to(database: Database) {
    let c = Connecting::start(
        database,
        EmulatorConfig::default(),
        EmulatorClock::frozen(START_MS),
        6,
    )
    .await;
    let token = SecretString::from(
        c.kommo
            .emulator
            .issue_long_lived_token(SUBDOMAIN, 86_400 * 365)
            .expect("long-lived token"),
    );
    let base = c.kommo.account_url(SUBDOMAIN);

    // Named as another account: refused, nothing stored.
    let err = connect::connect_with_long_lived_token(
        &c.app,
        ACCOUNT_ID + 5,
        SUBDOMAIN,
        Some(&base),
        &token,
    )
    .await
    .expect_err("the token is not that account's");
    assert!(
        matches!(err, connect::ConnectError::AccountMismatch { .. }),
        "{err}"
    );
    assert!(accounts::list_accounts(&c.app.db)
        .await
        .expect("list")
        .is_empty());

    let connected =
        connect::connect_with_long_lived_token(&c.app, ACCOUNT_ID, SUBDOMAIN, Some(&base), &token)
            .await
            .expect("connects");
    assert_eq!(connected.base_url, base);
    let stored = accounts::load_oauth_tokens(&c.app.db, &c.app.cipher, ACCOUNT_ID)
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(stored.access_token.expose_secret(), token.expose_secret());
    assert!(stored.refresh_token.expose_secret().is_empty());
    let (_, hooks) = c
        .kommo
        .emulator
        .call(SUBDOMAIN, "GET", "/api/v4/webhooks", None)
        .expect("webhooks");
    assert_eq!(
        hooks.expect("list")["_embedded"]["webhooks"][0]["destination"],
        connected.webhook_url.expose_secret()
    );
    // The engine's client uses it (no refresh attempted for a token without a refresh token).
    let info = c
        .app
        .engine
        .account_client(ACCOUNT_ID)
        .await
        .expect("client")
        .account_info()
        .await
        .expect("works");
    assert_eq!(info.subdomain, SUBDOMAIN);

    // A wrong token is refused clearly.
    let err = connect::connect_with_long_lived_token(
        &c.app,
        ACCOUNT_ID,
        SUBDOMAIN,
        Some(&base),
        &SecretString::from("not-a-token".to_owned()),
    )
    .await
    .expect_err("refused");
    assert!(matches!(err, connect::ConnectError::TokenRefused), "{err}");
}
