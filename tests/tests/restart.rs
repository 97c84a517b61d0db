//! After a crash, no action is done twice. A job repeated after a restart finds, for every action
//! that is not safe to repeat, a row in `action_runs`: `done` (skip it) or `started` (the crash
//! came between the call and its record). These tests write that `started` row themselves, under
//! the key the executor uses (`e{event}:{item}:r{rule}:{block}:{action}` for an event's run), before
//! the event is processed; or replay an event whose run was already done, as a job that crashed
//! before it finished would be. Then they look at what reached the emulator or the receiver.
//! Every test runs on SQLite and on PostgreSQL.

use rulebook::{
    engine::executor::SALESBOT_NOT_REPEATED,
    queue::{kinds, NewJob},
    store::execution_log::ExecutionOutcome,
};
use rulebook_e2e::{
    on_both_databases,
    stack::{default_seed, manual, Database, Stack, ACCOUNT_ID, SUBDOMAIN},
};
use serde_json::{json, Value};
use sqlx::Row;
use std::time::Duration;

on_both_databases!(
    an_execute_rule_started_before_a_restart_calls_its_rule_once,
    a_webhook_carries_one_idempotency_key_per_action_run,
    an_email_started_before_a_restart_leaves_one_note,
    a_salesbot_started_before_a_restart_is_not_started_again,
    a_delayed_action_queued_before_a_restart_is_queued_and_done_once,
    a_rule_call_queued_by_an_older_build_still_runs,
);

fn on_lead_added(name: &str, actions: Value) -> Value {
    json!({"schema_version": 2, "name": name, "trigger": {"kind": "entity_added", "entity": "lead"},
           "blocks": [{"actions": actions}]})
}

/// Creates a lead and delivers its webhook, without running any job: returns the lead and the
/// stored event the backend will process.
async fn lead_arrives(stack: &Stack, lead: Value) -> (i64, i64) {
    let lead = stack.create("leads", lead);
    stack.emulator().deliver_due().await;
    let rows = sqlx::query(
        "SELECT id FROM events WHERE account_id = $1 AND processed_at IS NULL ORDER BY id",
    )
    .bind(ACCOUNT_ID)
    .fetch_all(&stack.app.db.pool)
    .await
    .expect("events");
    assert_eq!(rows.len(), 1, "one webhook for the new lead");
    (lead, rows[0].try_get(0).expect("id"))
}

/// The key of action `action` of block 0 of `rule`'s run for the first item of `event`.
fn action_key(event: i64, rule: i64, action: usize) -> String {
    format!("e{event}:0:r{rule}:0:{action}")
}

/// What a crash between an action's call and its record leaves behind.
async fn crashed_after_start(stack: &Stack, key: &str) {
    sqlx::query(
        "INSERT INTO action_runs (account_id, action_key, state, started_at)
         VALUES ($1, $2, 'started', $3)
         ON CONFLICT (account_id, action_key) DO UPDATE SET state = 'started', detail = NULL",
    )
    .bind(ACCOUNT_ID)
    .bind(key)
    .bind(stack.clock_ms())
    .execute(&stack.app.db.pool)
    .await
    .expect("action run");
}

/// The action runs of an event: (key, state, detail), by key.
async fn action_runs(stack: &Stack, event: i64) -> Vec<(String, String, Option<String>)> {
    let rows = sqlx::query(
        "SELECT action_key, state, detail FROM action_runs
         WHERE account_id = $1 AND action_key LIKE $2 ORDER BY action_key",
    )
    .bind(ACCOUNT_ID)
    .bind(format!("e{event}:%"))
    .fetch_all(&stack.app.db.pool)
    .await
    .expect("action runs");
    rows.iter()
        .map(|r| {
            (
                r.try_get(0).expect("key"),
                r.try_get(1).expect("state"),
                r.try_get(2).expect("detail"),
            )
        })
        .collect()
}

/// Processes `event` again for `rule`, as a job that crashed before its rule run was recorded
/// done (with the rule's state for the entity) would be: every action of the run meets its record
/// in `action_runs`.
async fn replay(stack: &Stack, event: i64, rule: i64) {
    sqlx::query("DELETE FROM rule_runs WHERE account_id = $1 AND run_key = $2")
        .bind(ACCOUNT_ID)
        .bind(format!("e{event}:0:r{rule}"))
        .execute(&stack.app.db.pool)
        .await
        .expect("forget the rule run");
    sqlx::query("DELETE FROM rule_entity_state WHERE account_id = $1 AND rule_id = $2")
        .bind(ACCOUNT_ID)
        .bind(rule)
        .execute(&stack.app.db.pool)
        .await
        .expect("forget the rule's state");
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
    stack.settle().await;
}

fn note_texts(stack: &Stack, entity: i64) -> Vec<String> {
    stack
        .notes_of(entity)
        .iter()
        .map(|n| n["params"]["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn an_execute_rule_started_before_a_restart_calls_its_rule_once(database: Database) {
    let stack = Stack::start(database, default_seed()).await;
    let welcome = stack
        .rule(
            "Welcome",
            manual("Welcome", json!([
                {"do": {"type": "add_note", "entity": "lead", "text": "Welcome ran for {{lead.name}}"}}])),
        )
        .await;
    let caller = stack
        .rule(
            "Caller",
            on_lead_added(
                "Caller",
                json!([{"do": {"type": "execute_rule", "entity": "lead", "rule_id": welcome}}]),
            ),
        )
        .await;
    let (lead, event) = lead_arrives(&stack, json!({"name": "Prospect"})).await;
    // Started, but the transaction that queues the call and records it done never committed.
    let key = action_key(event, caller, 0);
    crashed_after_start(&stack, &key).await;
    stack.settle().await;

    assert_eq!(note_texts(&stack, lead), vec!["Welcome ran for Prospect"]);
    assert_eq!(stack.log(welcome).await.len(), 1);
    assert_eq!(
        action_runs(&stack, event).await,
        vec![(key, "done".into(), Some(format!("rule {welcome} queued")))]
    );

    // The call was queued and recorded in one transaction: a repeat of the event finds it done.
    replay(&stack, event, caller).await;
    assert_eq!(note_texts(&stack, lead), vec!["Welcome ran for Prospect"]);
    assert_eq!(stack.log(welcome).await.len(), 1);
    let log = stack.log(caller).await;
    assert_eq!(log.len(), 2, "the first run and the replay");
    assert_eq!(log[0].trace["actions"][0]["status"], "ok");
    assert_eq!(
        log[0].trace["actions"][0]["detail"],
        format!("already done before a restart (rule {welcome} queued)")
    );
}

/// The hex SHA-256 of `account:action_key`, as the receiver sees it.
fn expected_key(action_key: &str) -> String {
    ring::digest::digest(
        &ring::digest::SHA256,
        format!("{ACCOUNT_ID}:{action_key}").as_bytes(),
    )
    .as_ref()
    .iter()
    .map(|b| format!("{b:02x}"))
    .collect()
}

/// A receiver on loopback that records (path, every `Idempotency-Key` value) of each request.
async fn receiver() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<String>)>>>,
) {
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = received.clone();
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let seen = seen.clone();
        async move {
            let keys = request
                .headers()
                .get_all("idempotency-key")
                .iter()
                .map(|v| v.to_str().unwrap_or_default().to_owned())
                .collect();
            seen.lock()
                .expect("lock")
                .push((request.uri().path().to_owned(), keys));
            axum::Json(json!({"ok": true}))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, received)
}

async fn a_webhook_carries_one_idempotency_key_per_action_run(database: Database) {
    let stack = Stack::start(database, default_seed()).await;
    let (url, received) = receiver().await;
    let follow_up = stack
        .rule(
            "Follow-up",
            manual("Follow-up", json!([
                {"do": {"type": "add_note", "entity": "lead", "text": "Follow-up for {{lead.name}}"}}])),
        )
        .await;
    let sender = stack
        .rule(
            "Sender",
            on_lead_added(
                "Sender",
                json!([
                    {"do": {"type": "send_webhook", "method": "POST", "url": format!("{url}/orders"),
                            "body": [{"key": "lead", "value": "{{lead.id}}"}],
                            "follow_up_rule_id": follow_up}},
                    {"do": {"type": "send_webhook", "method": "POST", "url": format!("{url}/plain")}},
                    {"do": {"type": "send_webhook", "method": "POST", "url": format!("{url}/custom"),
                            "headers": [{"key": "Idempotency-Key", "value": "mine"}]}}
                ]),
            ),
        )
        .await;
    let (lead, event) = lead_arrives(&stack, json!({"name": "Webshop"})).await;
    // The first webhook was started before a crash: whether it reached the receiver is unknown.
    let orders = action_key(event, sender, 0);
    crashed_after_start(&stack, &orders).await;
    stack.settle().await;

    let plain = action_key(event, sender, 1);
    let first = received.lock().expect("lock").clone();
    assert_eq!(
        first,
        vec![
            ("/orders".to_owned(), vec![expected_key(&orders)]),
            ("/plain".to_owned(), vec![expected_key(&plain)]),
            // The user's own header wins, and is the only one.
            ("/custom".to_owned(), vec!["mine".to_owned()]),
        ]
    );
    assert_ne!(expected_key(&orders), expected_key(&plain));
    assert_eq!(note_texts(&stack, lead), vec!["Follow-up for Webshop"]);
    let runs = action_runs(&stack, event).await;
    assert_eq!(runs.len(), 3, "{runs:?}");
    assert!(runs.iter().all(|(_, state, _)| state == "done"), "{runs:?}");

    // The second webhook crashed between its send and its record: it is sent again, with the same
    // key; the others, recorded done, are not, and the follow-up rule is not called again.
    crashed_after_start(&stack, &plain).await;
    replay(&stack, event, sender).await;
    let all = received.lock().expect("lock").clone();
    assert_eq!(all.len(), 4, "{all:?}");
    assert_eq!(all[3], ("/plain".to_owned(), vec![expected_key(&plain)]));
    assert_eq!(note_texts(&stack, lead), vec!["Follow-up for Webshop"]);
    assert_eq!(stack.log(follow_up).await.len(), 1);
}

async fn an_email_started_before_a_restart_leaves_one_note(database: Database) {
    let stack = Stack::start(database, default_seed()).await;
    let contact = stack.create(
        "contacts",
        json!({"name": "Client", "custom_fields_values": [
            {"field_id": 602, "values": [{"value": "client@example.com", "enum_code": "WORK"}]}]}),
    );
    stack.settle().await;
    let mailer = stack
        .rule(
            "Mailer",
            on_lead_added(
                "Mailer",
                json!([{"do": {"type": "send_email", "sender_user_id": 101, "template_id": 5}}]),
            ),
        )
        .await;
    let text = "Email (Mailer template 5) from user 101 to client@example.com";
    let with_contact = |name: &str| json!({"name": name, "_embedded": {"contacts": [{"id": contact, "is_main": true}]}});

    // The note landed in Kommo, then the process crashed before recording it.
    let (landed, event) = lead_arrives(&stack, with_contact("Landed")).await;
    stack.kommo_call(
        "POST",
        "/api/v4/leads/notes",
        Some(json!([{"entity_id": landed, "note_type": "service_message",
                     "params": {"service": "Rulebook Mailer", "text": text}}])),
    );
    crashed_after_start(&stack, &action_key(event, mailer, 0)).await;
    stack.settle().await;
    assert_eq!(note_texts(&stack, landed), vec![text]);
    let log = stack.log(mailer).await;
    assert_eq!(log.len(), 1);
    assert_eq!(
        log[0].trace["actions"][0]["detail"],
        "found in Kommo after a restart"
    );

    // The process crashed before the note reached Kommo: it is written once.
    let (lost, event) = lead_arrives(&stack, with_contact("Lost")).await;
    crashed_after_start(&stack, &action_key(event, mailer, 0)).await;
    stack.settle().await;
    assert_eq!(note_texts(&stack, lost), vec![text]);
    assert_eq!(
        action_runs(&stack, event).await,
        vec![(
            action_key(event, mailer, 0),
            "done".into(),
            Some("to client@example.com".into())
        )]
    );
}

async fn a_salesbot_started_before_a_restart_is_not_started_again(database: Database) {
    let stack = Stack::start(database, default_seed()).await;
    let bot = stack
        .rule(
            "Bot",
            on_lead_added(
                "Bot",
                json!([{"do": {"type": "run_salesbot", "entity": "lead", "bot_id": 9}}]),
            ),
        )
        .await;

    // The normal path starts the bot once.
    let (normal, _) = lead_arrives(&stack, json!({"name": "Normal"})).await;
    stack.settle().await;
    let runs = stack.emulator().salesbot_runs(SUBDOMAIN);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["entity_id"], normal);
    assert_eq!(stack.log(bot).await[0].outcome, ExecutionOutcome::Ok);

    // Started before a crash: Kommo cannot tell whether the bot ran, so it is not started again,
    // and the debugger says so.
    let (interrupted, event) = lead_arrives(&stack, json!({"name": "Interrupted"})).await;
    let key = action_key(event, bot, 0);
    crashed_after_start(&stack, &key).await;
    stack.settle().await;
    let runs = stack.emulator().salesbot_runs(SUBDOMAIN);
    assert_eq!(runs.len(), 1, "no second start: {runs:?}");
    assert!(runs.iter().all(|r| r["entity_id"] != interrupted));
    let log = stack.log(bot).await;
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].trace["event"]["entity"]["id"], interrupted);
    assert_eq!(log[0].outcome, ExecutionOutcome::Error);
    let action = &log[0].trace["actions"][0];
    assert_eq!(action["kind"], "run_salesbot");
    assert_eq!(action["status"], "error");
    assert_eq!(action["error"], SALESBOT_NOT_REPEATED);
    assert!(SALESBOT_NOT_REPEATED.starts_with("not repeated after a restart"));
    assert_eq!(
        action_runs(&stack, event).await,
        vec![(key, "done".into(), Some(SALESBOT_NOT_REPEATED.into()))]
    );

    // A further repeat says the same and still starts nothing.
    replay(&stack, event, bot).await;
    assert_eq!(stack.emulator().salesbot_runs(SUBDOMAIN).len(), 1);
    let log = stack.log(bot).await;
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].trace["actions"][0]["error"], SALESBOT_NOT_REPEATED);
}

/// The `run_delayed_action` jobs waiting.
async fn delayed_jobs(stack: &Stack) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE account_id = $1 AND kind = $2")
        .bind(ACCOUNT_ID)
        .bind(kinds::RUN_DELAYED_ACTION)
        .fetch_one(&stack.app.db.pool)
        .await
        .expect("jobs")
}

async fn a_delayed_action_queued_before_a_restart_is_queued_and_done_once(database: Database) {
    let stack = Stack::start(database, default_seed()).await;
    let later = stack
        .rule(
            "Later",
            on_lead_added(
                "Later",
                json!([{"id": 1, "timer": {"kind": "after", "amount": 1, "unit": "hours"},
                        "do": {"type": "add_note", "entity": "lead", "text": "Later for {{lead.name}}"}}]),
            ),
        )
        .await;

    // The run queued its delayed action, then crashed before it was recorded done: the repeat
    // queues nothing more.
    let (lead, event) = lead_arrives(&stack, json!({"name": "Prospect"})).await;
    stack.settle().await;
    assert_eq!(delayed_jobs(&stack).await, 1);
    replay(&stack, event, later).await;
    assert_eq!(delayed_jobs(&stack).await, 1, "queued again by the repeat");
    stack.advance(Duration::from_secs(3_700));
    stack.settle().await;
    assert_eq!(note_texts(&stack, lead), vec!["Later for Prospect"]);
    assert_eq!(delayed_jobs(&stack).await, 0);

    // The repeat comes after the action fell due: it is done once, by its job.
    let (late, event) = lead_arrives(&stack, json!({"name": "Latecomer"})).await;
    stack.settle().await;
    stack.advance(Duration::from_secs(3_700));
    replay(&stack, event, later).await;
    assert_eq!(note_texts(&stack, late), vec!["Later for Latecomer"]);
    assert_eq!(delayed_jobs(&stack).await, 0);
}

/// A `run_rule` job written by an older build, whose handler read its payload as untyped JSON:
/// the row as that build stored it (the payload's text) runs as the typed job it now is.
async fn a_rule_call_queued_by_an_older_build_still_runs(database: Database) {
    let stack = Stack::start(database, default_seed()).await;
    let older = stack
        .rule(
            "Older",
            manual("Older", json!([
                {"do": {"type": "add_note", "entity": "lead", "text": "Queued before the upgrade"}}])),
        )
        .await;
    let (lead, _) = lead_arrives(&stack, json!({"name": "Prospect"})).await;
    stack.settle().await;
    let payload = format!(
        r#"{{"rule_id":{older},"event":{{"entity":{{"type":"lead","id":{lead}}},"kind":{{"kind":"manual","user_id":null}},"vars":{{}}}},"depth":0}}"#
    );
    sqlx::query(
        "INSERT INTO jobs (account_id, kind, payload, state, run_at, attempts, max_attempts,
                           rule_id, entity_type, entity_id, created_at)
         VALUES ($1, 'run_rule', $2, 'pending', $3, 0, 5, $4, 'leads', $5, $3)",
    )
    .bind(ACCOUNT_ID)
    .bind(&payload)
    .bind(stack.clock_ms())
    .bind(older)
    .bind(lead)
    .execute(&stack.app.db.pool)
    .await
    .expect("an old row");
    stack.settle().await;

    assert_eq!(note_texts(&stack, lead), vec!["Queued before the upgrade"]);
    let log = stack.log(older).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].trace["actions"][0]["status"], "ok");
}
