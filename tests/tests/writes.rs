//! What reaches Kommo, and how often. A dry run and a replay write nothing: the emulator's write log
//! (its requests other than `GET`) is the same after them as before. Two performers of one action
//! at the same moment send it once. Every test runs on SQLite and on PostgreSQL.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use rulebook::{
    engine,
    queue::{kinds, worker::Outcome, NewJob},
};
use rulebook_e2e::{
    on_both_databases,
    stack::{default_seed, Database, Stack, ACCOUNT_ID, CLIENT_ID, SUBDOMAIN},
};
use serde_json::{json, Value};
use tokio::sync::Notify;

on_both_databases!(
    a_members_replay_of_an_inbound_webhook_creates_no_contact_and_writes_nothing,
    a_dry_run_and_a_replay_of_a_rule_that_creates_and_notes_write_nothing,
    two_concurrent_performers_of_one_action_send_one_note,
);

/// Kommo's member of the seeded account (user 101 is its admin).
const MEMBER: i64 = 102;

/// The requests that reached the emulator and could change it, in order.
fn write_log(stack: &Stack) -> Vec<String> {
    stack
        .emulator()
        .request_log()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// `POST {path}` to the backend as `user`, with a disposable token the emulator minted.
async fn post_as(stack: &Stack, user: i64, path: &str, body: Value) -> (u16, Value) {
    let token = stack
        .emulator()
        .mint_disposable_token(SUBDOMAIN, user, Some(CLIENT_ID))
        .expect("token");
    let response = reqwest::Client::new()
        .post(format!("{}{path}", stack.backend_url))
        .header("X-Auth-Token", token)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("answered");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The newest stored event.
async fn newest_event(stack: &Stack) -> i64 {
    sqlx::query_scalar("SELECT MAX(id) FROM events")
        .fetch_one(&stack.app.db.pool)
        .await
        .expect("an event was stored")
}

async fn a_members_replay_of_an_inbound_webhook_creates_no_contact_and_writes_nothing(
    database: Database,
) {
    let stack = Stack::start(database, default_seed()).await;
    let rule = stack
        .rule(
            "Site form",
            json!({"schema_version": 2, "name": "Site form",
                   "trigger": {"kind": "inbound_webhook", "hook_id": "site"},
                   "blocks": [{"actions": [
                       {"do": {"type": "add_note", "entity": "contact", "text": "{name} wrote {comment}"}}]}]}),
        )
        .await;
    let response = reqwest::Client::new()
        .post(stack.inbound_hook_url(rule).await)
        .form(&[
            ("phone", "+4930999000"),
            ("name", "New client"),
            ("comment", "hello"),
        ])
        .send()
        .await
        .expect("hook answered");
    assert!(response.status().is_success(), "{}", response.status());
    let event = newest_event(&stack).await;
    let writes_before = write_log(&stack);

    // Replayed before the event is processed: no contact has the phone yet, so a live run would
    // create one.
    let (status, replayed) = post_as(
        &stack,
        MEMBER,
        &format!("/api/v1/rules/{rule}/replay"),
        json!({"event_id": event}),
    )
    .await;

    assert_eq!(status, 200, "{replayed}");
    assert_eq!(replayed[0]["event"]["kind"]["kind"], "inbound_webhook");
    assert_eq!(
        replayed[0]["event"]["entity"],
        Value::Null,
        "the contact is only looked up, and there is none"
    );
    assert_eq!(write_log(&stack), writes_before);
    assert!(
        stack.emulator().entities(SUBDOMAIN, "contacts").is_empty(),
        "the replay created no contact"
    );

    // The live run of the same event creates the contact and notes it: what the replay did not do.
    stack.settle().await;
    let contacts = stack.emulator().entities(SUBDOMAIN, "contacts");
    assert_eq!(contacts.len(), 1, "{contacts:?}");
    let contact = contacts[0]["id"].as_i64().expect("id");
    assert_eq!(
        stack.notes_of(contact)[0]["params"]["text"],
        "New client wrote hello"
    );
    assert_ne!(write_log(&stack), writes_before);
}

async fn a_dry_run_and_a_replay_of_a_rule_that_creates_and_notes_write_nothing(database: Database) {
    let stack = Stack::start(database, default_seed()).await;
    let rule = stack
        .rule(
            "Welcome",
            json!({"schema_version": 2, "name": "Welcome",
                   "trigger": {"kind": "entity_added", "entity": "lead"},
                   "blocks": [{"actions": [
                       {"do": {"type": "add_note", "entity": "lead", "text": "Welcome {{lead.name}}"}},
                       {"do": {"type": "create_task", "entity": "lead", "task_type_id": 1,
                               "complete_in_seconds": 3600, "text": "Call {{lead.name}}"}},
                       {"do": {"type": "create_contact", "attach_to": "lead",
                               "name": "Contact of {{lead.name}}"}}]}]}),
        )
        .await;
    // The rule is off while the lead arrives, so the event is stored and processed without running
    // it; it is replayed as it is now.
    sqlx::query("UPDATE rules SET enabled = 0 WHERE id = $1")
        .bind(rule)
        .execute(&stack.app.db.pool)
        .await
        .expect("disable");
    let lead = stack.create("leads", json!({"name": "Deal"}));
    stack.settle().await;
    let event = newest_event(&stack).await;
    let writes_before = write_log(&stack);
    let notes_before = stack.emulator().notes(SUBDOMAIN).len();

    let (status, dry) = post_as(
        &stack,
        MEMBER,
        &format!("/api/v1/rules/{rule}/dry-run"),
        json!({"entity_id": lead}),
    )
    .await;
    assert_eq!(status, 200, "{dry}");
    let planned: Vec<&str> = dry["plan"]
        .as_array()
        .expect("a plan")
        .iter()
        .filter_map(|p| p["action"]["type"].as_str())
        .collect();
    assert_eq!(planned, ["add_note", "create_task", "create_contact"]);
    let (status, replayed) = post_as(
        &stack,
        MEMBER,
        &format!("/api/v1/rules/{rule}/replay"),
        json!({"event_id": event}),
    )
    .await;
    assert_eq!(status, 200, "{replayed}");
    let added = replayed
        .as_array()
        .expect("evaluations")
        .iter()
        .find(|r| r["event"]["kind"]["kind"] == "entity_added")
        .expect("the lead's addition");
    assert_eq!(added["outcome"], "ran");

    assert_eq!(write_log(&stack), writes_before);
    assert_eq!(stack.emulator().notes(SUBDOMAIN).len(), notes_before);
    assert!(stack.emulator().tasks(SUBDOMAIN).is_empty());
    assert!(stack.emulator().entities(SUBDOMAIN, "contacts").is_empty());
    assert_eq!(stack.settle().await, 0, "nothing was queued");
    assert!(
        stack.log(rule).await.is_empty(),
        "nothing was logged as run"
    );
}

/// A pass-through to the emulated account's API that holds the first `POST` of notes until
/// `release`, after ringing `arrived`: the note is on its way, and nobody knows yet whether it
/// landed.
async fn holding_proxy(target: String) -> (String, Arc<Notify>, Arc<Notify>) {
    let arrived = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let held = Arc::new(AtomicBool::new(false));
    let http = reqwest::Client::new();
    let (ring, wait) = (arrived.clone(), release.clone());
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let (http, target, ring, wait, held) = (
            http.clone(),
            target.clone(),
            ring.clone(),
            wait.clone(),
            held.clone(),
        );
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX)
                .await
                .expect("request body");
            if parts.method == axum::http::Method::POST
                && parts.uri.path().ends_with("/notes")
                && !held.swap(true, Ordering::SeqCst)
            {
                ring.notify_one();
                wait.notified().await;
            }
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let mut forward = http.request(parts.method.clone(), format!("{target}{path}"));
            for (name, value) in &parts.headers {
                if name != axum::http::header::HOST {
                    forward = forward.header(name, value);
                }
            }
            let answer = forward
                .body(body)
                .send()
                .await
                .expect("the emulator answered");
            let mut response = axum::response::Response::builder().status(answer.status());
            for (name, value) in answer.headers() {
                if name != axum::http::header::TRANSFER_ENCODING
                    && name != axum::http::header::CONTENT_LENGTH
                {
                    response = response.header(name, value);
                }
            }
            let bytes = answer.bytes().await.expect("the emulator's body");
            response
                .body(axum::body::Body::from(bytes))
                .expect("response")
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, arrived, release)
}

async fn two_concurrent_performers_of_one_action_send_one_note(database: Database) {
    let stack = Stack::start(database, default_seed()).await;
    let rule = stack
        .rule(
            "Hello",
            json!({"schema_version": 2, "name": "Hello",
                   "trigger": {"kind": "entity_added", "entity": "lead"},
                   "blocks": [{"actions": [
                       {"do": {"type": "add_note", "entity": "lead", "text": "Hello {{lead.name}}"}}]}]}),
        )
        .await;
    let (proxy, arrived, release) = holding_proxy(stack.kommo.account_url(SUBDOMAIN)).await;
    engine::set_kommo_base_url(&stack.app.db, ACCOUNT_ID, Some(&proxy))
        .await
        .expect("base url");
    let lead = stack.create("leads", json!({"name": "Prospect"}));
    stack.emulator().deliver_due().await;
    let event = newest_event(&stack).await;
    // The event's job twice, as a job delivered again would be: two performers of its run's note.
    stack
        .app
        .queue
        .enqueue(&NewJob::new(
            ACCOUNT_ID,
            kinds::PROCESS_EVENT,
            json!({ "event_id": event }),
            stack.clock_ms(),
        ))
        .await
        .expect("enqueue");

    let first = tokio::spawn({
        let worker = stack.worker.clone();
        async move { worker.try_run_one().await }
    });
    arrived.notified().await;
    // The first performer's note is on its way; the second meets it.
    let second = stack.worker.try_run_one().await.expect("worker");
    assert!(
        matches!(second, Outcome::Retrying { .. }),
        "the second performer does not send the note, and tries again later: {second:?}"
    );
    release.notify_one();
    let first = first.await.expect("task").expect("worker");
    assert!(matches!(first, Outcome::Completed { .. }), "{first:?}");
    // The second job's retry finds the run done.
    stack.advance(Duration::from_secs(3600));
    stack.settle().await;

    let notes: Vec<Value> = stack.notes_of(lead);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["params"]["text"], "Hello Prospect");
    let sent = write_log(&stack)
        .iter()
        .filter(|w| w.starts_with("POST") && w.contains("/notes"))
        .count();
    assert_eq!(sent, 1, "one request carried the note");
    assert_eq!(stack.log(rule).await.len(), 1, "one run is recorded");
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs")
        .fetch_one(&stack.app.db.pool)
        .await
        .expect("jobs");
    assert_eq!(left, 0);
}
