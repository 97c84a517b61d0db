//! The execution pipeline end to end: a change in the emulated Kommo account, the webhook the
//! emulator sends to the backend over loopback HTTP, the rule the backend runs, and the action
//! visible in the emulator afterwards. Every test runs on SQLite and on PostgreSQL.

use std::time::Duration;

use rulebook::{
    ingest::digital_pipeline,
    queue::JobFilter,
    store::{
        execution_log::ExecutionOutcome,
        receivers, rules,
        trigger_links::{self, NewTriggerLink},
        variables,
    },
};
use rulebook_e2e::stack::{
    default_seed, field, manual, tags, Database, Stack, ACCOUNT_ID, START_MS, SUBDOMAIN,
};
use serde_json::{json, Value};

use rulebook_e2e::on_both_databases;

on_both_databases!(
    wholesale_and_retail_leads_go_to_their_managers,
    a_stage_change_sets_fields_tags_stage_and_notes,
    a_rule_that_triggers_itself_stops_at_the_chain_limit_and_is_logged_as_a_loop,
    a_delayed_action_runs_later_against_a_fresh_snapshot_and_waits_while_its_rule_is_disabled,
    replace_pending_keeps_one_job_and_cancel_delayed_jobs_removes_it,
    the_birthday_greeting_starts_a_salesbot_on_the_next_birthday,
    the_missed_call_counter_counts_in_a_global_variable,
    a_site_form_finds_the_contact_by_phone_or_creates_it,
    a_webhook_response_feeds_the_follow_up_rule,
    the_first_bytes_of_a_200_mib_webhook_answer_feed_the_follow_up_rule,
    execute_rule_and_a_task_result_start_the_next_rules,
    creations_copies_and_task_changes_land_in_kommo,
    every_entity_event_type_starts_its_rule,
    scheduled_rules_fire_in_the_account_timezone_and_before_a_date_in_a_field,
    a_dry_run_and_a_replay_show_the_plan_and_trace_without_writing,
    updates_of_concurrent_events_leave_in_one_request,
    a_rule_copying_leads_into_its_own_stage_stops_at_the_chain_limit,
    a_conversation_started_by_an_incoming_whatsapp_message_adds_one_note,
    a_closed_talk_adds_its_note_once,
    a_delayed_talk_closed_rule_waits_for_the_clock,
    a_digital_pipeline_stage_runs_the_rule_its_action_names,
    a_dp_request_for_one_rule_runs_only_that_rule,
    two_dp_actions_on_one_stage_both_run,
    a_trigger_link_written_into_a_note_works_when_followed,
    a_rule_on_a_date_and_time_fires_once_in_the_account_timezone,
    send_email_records_the_mailer_email_on_the_lead,
    a_large_nested_inbound_json_body_near_the_http_limit_yields_its_variables_to_the_rule,
    a_receivers_request_runs_every_rule_on_it_until_its_url_is_rotated_or_deleted,
);

async fn stack(database: Database) -> Stack {
    Stack::start(database, default_seed()).await
}

fn wholesale_retail_rule() -> Value {
    let assign = |user: i64, block: &str, text: &str| {
        json!({
            "name": block,
            "conditions": [{"left": {"path": "lead.name"}, "op": {"is": "equals"}, "right": {"literal": text}}],
            "actions": [
                {"do": {"type": "change_responsible", "entity": "lead", "user": {"user": user}, "in_contacts": true}},
                {"do": {"type": "create_task", "entity": "lead", "responsible": {"user": user}, "task_type_id": 1,
                        "complete_in_seconds": 3600, "text": "Process {{lead.name}} for {{lead.price}}"}}
            ]
        })
    };
    json!({
        "schema_version": 2,
        "name": "Task to handle",
        "trigger": {"kind": "entity_added", "entity": "lead"},
        "blocks": [assign(101, "If wholesale", "WHOLESALE form order"), assign(102, "If retail", "RETAIL form order")],
        "else_scenario": {"actions": [{"do": {"type": "add_note", "entity": "lead", "text": "Neither: {{lead.name}}"}}]}
    })
}

async fn wholesale_and_retail_leads_go_to_their_managers(database: Database) {
    let stack = stack(database).await;
    let rule = stack.rule("Task to handle", wholesale_retail_rule()).await;
    let lead = |name: &str| {
        let contact = stack.create(
            "contacts",
            json!({"name": "Client", "responsible_user_id": 102}),
        );
        let lead = stack.create(
            "leads",
            json!({"name": name, "price": 1500, "responsible_user_id": 102,
                   "_embedded": {"contacts": [{"id": contact, "is_main": true}]}}),
        );
        (lead, contact)
    };
    let (wholesale, wholesale_contact) = lead("WHOLESALE form order");
    let (retail, _) = lead("RETAIL form order");
    let (other, other_contact) = lead("Something else");

    stack.settle().await;

    assert_eq!(stack.lead(wholesale)["responsible_user_id"], 101);
    assert_eq!(stack.lead(retail)["responsible_user_id"], 102);
    let tasks = stack.emulator().tasks(SUBDOMAIN);
    let task_of = |lead: i64| tasks.iter().find(|t| t["entity_id"] == lead).cloned();
    let task = task_of(wholesale).expect("the wholesale lead got a task");
    assert_eq!(task["responsible_user_id"], 101);
    assert_eq!(task["text"], "Process WHOLESALE form order for 1500");
    assert_eq!(
        task_of(retail).expect("the retail lead got a task")["responsible_user_id"],
        102
    );
    assert!(task_of(other).is_none());
    let notes = stack.notes_of(other);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["params"]["text"], "Neither: Something else");
    // The change of responsible reached the lead's contact too; the else scenario changed nothing.
    assert_eq!(stack.contact(wholesale_contact)["responsible_user_id"], 101);
    assert_eq!(stack.contact(other_contact)["responsible_user_id"], 102);

    let log = stack.log(rule).await;
    assert_eq!(log.len(), 3, "one run per lead");
    assert!(
        log.iter().all(|e| e.outcome == ExecutionOutcome::Ok),
        "{log:?}"
    );
    let first = log
        .iter()
        .find(|e| e.trace["event"]["entity"]["id"] == wholesale)
        .expect("the wholesale run");
    assert_eq!(first.trace["trace"]["blocks"][0]["status"], "completed");
    assert_eq!(
        first.trace["trace"]["blocks"][1]["status"],
        "conditions_not_met"
    );
    assert_eq!(
        first.trace["trace"]["blocks"][1]["conditions"][0]["left"],
        json!({"type": "text", "value": "WHOLESALE form order"})
    );
    assert_eq!(first.trace["actions"][1]["kind"], "create_task");
    assert_eq!(first.trace["actions"][1]["status"], "ok");
}

async fn a_stage_change_sets_fields_tags_stage_and_notes(database: Database) {
    let stack = stack(database).await;
    stack
        .rule(
            "Qualified",
            json!({
                "schema_version": 2,
                "name": "Qualified",
                "trigger": {"kind": "status_changed", "pipeline_id": 10, "status_id": 12, "entry": "moved"},
                "blocks": [{"name": "all", "actions": [
                    {"do": {"type": "change_fields", "entity": "lead", "fields": [
                        {"field": {"custom": 501}, "value": "RETAIL"},
                        {"field": {"custom": 502}, "value": "{{ (lead.price*2):calc }}"},
                        {"field": {"custom": 503}, "value": "1"},
                        {"field": {"custom": 504}, "value": "Call {{contact.cf(601)}}"},
                        {"field": "price", "value": "2500"}
                    ]}},
                    {"do": {"type": "change_tags", "entity": "lead", "change": "add", "tags": "hot, qualified"}},
                    {"do": {"type": "change_tags", "entity": "lead", "change": "remove", "tags": "cold"}},
                    {"do": {"type": "add_note", "entity": "lead", "text": "Qualified by {{lead.responsible.name}}"}},
                    {"do": {"type": "change_status", "pipeline_id": 10, "status_id": 13}}
                ]}]
            }),
        )
        .await;
    let contact = stack.create(
        "contacts",
        json!({"name": "Client", "custom_fields_values": [
            {"field_id": 601, "values": [{"value": "+49 30 1234", "enum_code": "WORK"}]}]}),
    );
    let lead = stack.create(
        "leads",
        json!({"name": "Deal", "price": 700, "pipeline_id": 10, "status_id": 11, "responsible_user_id": 101,
               "_embedded": {"contacts": [{"id": contact}], "tags": [{"name": "cold"}]}}),
    );
    stack.settle().await;
    assert_eq!(
        stack.lead(lead)["status_id"],
        11,
        "created in stage 11: the rule waits for a move"
    );

    stack.kommo_call(
        "PATCH",
        "/api/v4/leads",
        Some(json!([{"id": lead, "status_id": 12}])),
    );
    stack.settle().await;

    let after = stack.lead(lead);
    assert_eq!(after["status_id"], 13);
    assert_eq!(after["price"], 2500);
    assert_eq!(field(&after, 501), "RETAIL");
    assert_eq!(field(&after, 502), "1400", "Kommo keeps numbers as text");
    assert_eq!(field(&after, 503), true);
    assert_eq!(field(&after, 504), "Call +49 30 1234");
    assert_eq!(tags(&after), vec!["hot".to_owned(), "qualified".to_owned()]);
    let notes = stack.notes_of(lead);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["params"]["text"], "Qualified by Anna");
}

async fn a_rule_that_triggers_itself_stops_at_the_chain_limit_and_is_logged_as_a_loop(
    database: Database,
) {
    let stack = stack(database).await;
    let rule = stack
        .rule(
            "Echo",
            json!({
                "schema_version": 2,
                "name": "Echo",
                "trigger": {"kind": "entity_updated", "entity": "lead"},
                "blocks": [{"name": "note", "actions": [
                    {"do": {"type": "add_note", "entity": "lead", "text": "Updated"}}]}]
            }),
        )
        .await;
    let lead = stack.create("leads", json!({"name": "Deal"}));
    stack.settle().await;
    stack.kommo_call(
        "PATCH",
        "/api/v4/leads",
        Some(json!([{"id": lead, "name": "Deal 2"}])),
    );

    // Each round delivers what Kommo sent, then lets the rule's minimum interval (5 s) pass before
    // the backend handles it, so only the chain limit can stop the echo.
    for _ in 0..12 {
        stack.emulator().deliver_due().await;
        stack.advance(Duration::from_secs(6));
        while !matches!(
            stack.worker.try_run_one().await.expect("worker"),
            rulebook::queue::worker::Outcome::Idle
        ) {}
    }
    assert_eq!(
        stack.settle().await,
        0,
        "nothing is left to do: the echo stopped"
    );

    let notes = stack.notes_of(lead);
    assert_eq!(
        notes.len(),
        6,
        "the person's change and 5 echoes of our own: {notes:?}"
    );
    let log = stack.log(rule).await;
    let newest = log.first().expect("logged");
    assert_eq!(newest.outcome, ExecutionOutcome::Loop);
    assert_eq!(newest.trace["depth"], 6);
    assert!(
        newest.trace["loop"]
            .as_str()
            .is_some_and(|r| r.contains("limit of 5")),
        "{}",
        newest.trace
    );
    assert_eq!(
        log.iter()
            .filter(|e| e.outcome == ExecutionOutcome::Ok)
            .count(),
        6
    );
}

/// The value of a global variable, if it is set.
async fn variable(stack: &Stack, name: &str) -> Option<String> {
    variables::get_variable(&stack.app.db, ACCOUNT_ID, name)
        .await
        .expect("read")
        .map(|v| v.value)
}

async fn all_jobs(stack: &Stack) -> Vec<rulebook::queue::JobInfo> {
    stack
        .app
        .queue
        .list_jobs(ACCOUNT_ID, &JobFilter::default())
        .await
        .expect("jobs")
}

async fn pending_jobs(stack: &Stack, rule_id: i64) -> Vec<rulebook::queue::JobInfo> {
    let filter = JobFilter {
        rule_id: Some(rule_id),
        ..JobFilter::default()
    };
    stack
        .app
        .queue
        .list_jobs(ACCOUNT_ID, &filter)
        .await
        .expect("jobs")
}

async fn a_delayed_action_runs_later_against_a_fresh_snapshot_and_waits_while_its_rule_is_disabled(
    database: Database,
) {
    let stack = stack(database).await;
    let rule = stack
        .rule(
            "Reminder",
            json!({
                "schema_version": 2,
                "name": "Reminder",
                "trigger": {"kind": "entity_added", "entity": "lead"},
                "blocks": [{"id": 1, "name": "remind", "actions": [
                    {"id": 7, "timer": {"kind": "after", "amount": 1, "unit": "hours"},
                     "do": {"type": "add_note", "entity": "lead", "text": "Reminder: {{lead.name}}"}}]}]
            }),
        )
        .await;
    let lead = stack.create("leads", json!({"name": "First name"}));
    stack.settle().await;
    assert!(
        stack.notes_of(lead).is_empty(),
        "nothing happens before the timer"
    );
    let jobs = pending_jobs(&stack, rule).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].run_at, START_MS + 3_600_000);
    assert_eq!(jobs[0].entity_id, Some(lead));
    assert_eq!(jobs[0].block_id.as_deref(), Some("1"));
    assert_eq!(jobs[0].action_id.as_deref(), Some("7"));

    stack.kommo_call(
        "PATCH",
        "/api/v4/leads",
        Some(json!([{"id": lead, "name": "Renamed"}])),
    );
    stack.settle().await;
    rules::set_enabled(&stack.app.db, ACCOUNT_ID, rule, false, stack.clock_ms())
        .await
        .expect("disable");
    stack.advance(Duration::from_secs(3_700));
    stack.settle().await;
    assert!(
        stack.notes_of(lead).is_empty(),
        "a disabled rule's job waits"
    );
    assert_eq!(pending_jobs(&stack, rule).await.len(), 1);

    rules::set_enabled(&stack.app.db, ACCOUNT_ID, rule, true, stack.clock_ms())
        .await
        .expect("enable");
    stack.settle().await;
    let notes = stack.notes_of(lead);
    assert_eq!(notes.len(), 1);
    assert_eq!(
        notes[0]["params"]["text"], "Reminder: Renamed",
        "rendered against a fresh snapshot"
    );
    assert!(pending_jobs(&stack, rule).await.is_empty());
    let log = stack.log(rule).await;
    assert_eq!(log[0].trace["source"], "timer");
    assert_eq!(log[0].trace["actions"][0]["status"], "ok");
}

async fn replace_pending_keeps_one_job_and_cancel_delayed_jobs_removes_it(database: Database) {
    let stack = stack(database).await;
    let follow_up = stack
        .rule(
            "Follow up",
            json!({
                "schema_version": 2,
                "name": "Follow up",
                "trigger": {"kind": "entity_updated", "entity": "lead"},
                "blocks": [{"id": 1, "actions": [
                    {"id": 2, "replace_pending": true, "timer": {"kind": "after", "amount": 2, "unit": "days"},
                     "do": {"type": "add_note", "entity": "lead", "text": "No news for two days"}}]}]
            }),
        )
        .await;
    stack
        .rule(
            "Stop",
            json!({
                "schema_version": 2,
                "name": "Stop",
                "trigger": {"kind": "tag_added", "entity": "lead", "tags": ["won"]},
                "blocks": [{"actions": [{"do": {"type": "cancel_delayed", "rule_id": follow_up}}]}]
            }),
        )
        .await;
    let lead = stack.create("leads", json!({"name": "Deal"}));
    stack.settle().await;
    for price in [100, 200, 300] {
        stack.advance(Duration::from_secs(10));
        stack.kommo_call(
            "PATCH",
            "/api/v4/leads",
            Some(json!([{"id": lead, "price": price}])),
        );
        stack.settle().await;
    }
    let jobs = pending_jobs(&stack, follow_up).await;
    assert_eq!(
        jobs.len(),
        1,
        "each update replaced the waiting job: {jobs:?}"
    );
    assert_eq!(jobs[0].run_at, START_MS + 30_000 + 2 * 86_400_000);

    stack.advance(Duration::from_secs(10));
    stack.kommo_call(
        "PATCH",
        "/api/v4/leads",
        Some(json!([{"id": lead, "tags_to_add": [{"name": "won"}]}])),
    );
    stack.settle().await;
    assert!(
        pending_jobs(&stack, follow_up).await.is_empty(),
        "cancelled"
    );
    stack.advance(Duration::from_secs(3 * 86_400));
    stack.settle().await;
    assert!(stack.notes_of(lead).is_empty());
}

async fn the_birthday_greeting_starts_a_salesbot_on_the_next_birthday(database: Database) {
    let stack = stack(database).await;
    stack
        .rule(
            "Birthday greeting",
            json!({
                "schema_version": 2,
                "name": "Birthday greeting",
                "trigger": {"kind": "entity_updated", "entity": "contact"},
                "blocks": [{"id": 1, "name": "Has a birthday",
                    "conditions": [{"left": {"path": "contact.cf(603)"}, "op": {"is": "is_not_empty"}}],
                    "actions": [{"id": 10, "replace_pending": true,
                        "timer": {"kind": "yearly_from_field", "field": "contact.cf(603)", "at": "09:00:00"},
                        "do": {"type": "run_salesbot", "entity": "contact", "bot_id": 77}}]}]
            }),
        )
        .await;
    let contact = stack.create("contacts", json!({"name": "Birthday person"}));
    stack.settle().await;
    // Born on 5 January 1990 (midnight in the account's timezone, as Kommo stores birthdays).
    let birthday = 631_494_000;
    stack.kommo_call(
        "PATCH",
        "/api/v4/contacts",
        Some(json!([{"id": contact, "custom_fields_values": [{"field_id": 603, "values": [{"value": birthday}]}]}])),
    );
    stack.settle().await;
    let jobs = all_jobs(&stack).await;
    assert_eq!(jobs.len(), 1);
    // 5 January 2027, 09:00 in Berlin (UTC+1).
    assert_eq!(jobs[0].run_at, 1_799_136_000_000);
    stack.advance(Duration::from_millis(
        u64::try_from(1_799_136_000_000 - START_MS).expect("future"),
    ));
    stack.settle().await;
    let runs = stack.emulator().salesbot_runs(SUBDOMAIN);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["bot_id"], 77);
    assert_eq!(runs[0]["entity_id"], contact);
}

async fn the_missed_call_counter_counts_in_a_global_variable(database: Database) {
    let stack = stack(database).await;
    stack
        .rule(
            "Missed calls",
            json!({
                "schema_version": 2,
                "name": "Missed calls",
                "trigger": {"kind": "note_added", "entity": "lead", "note_types": ["call"]},
                "blocks": [
                    {"name": "Too many missed calls",
                     "conditions": [{"left": {"global": "missed_calls"}, "op": {"is": "greater_or_equal"}, "right": {"literal": 2}}],
                     "actions": [{"do": {"type": "add_note", "entity": "lead", "text": "{missed_calls} missed calls so far"}}]},
                    {"name": "Count a missed call",
                     "conditions": [
                        {"left": {"path": "event.direction"}, "op": {"is": "equals"}, "right": {"literal": "incoming"}},
                        {"left": {"path": "event.call_status"}, "op": {"is": "is_one_of"}, "right": {"literal": ["no_answer", "busy", "unavailable"]}}
                     ],
                     "actions": [{"do": {"type": "change_global_variable", "name": "missed_calls", "change": "calculate",
                                         "value": "{{ ({missed_calls}+1):calc }}"}}]}
                ]
            }),
        )
        .await;
    let lead = stack.create("leads", json!({"name": "Caller"}));
    stack.settle().await;
    let call = |status: i64| {
        stack.kommo_call(
            "POST",
            "/api/v4/leads/notes",
            Some(
                json!([{"entity_id": lead, "note_type": "call_in", "params": {
                "uniq": format!("u{status}-{}", stack.clock_ms()), "duration": 0, "source": "pbx",
                "phone": "+1555", "call_status": status}}]),
            ),
        );
    };
    for status in [6, 4, 7, 3] {
        stack.advance(Duration::from_secs(10));
        call(status);
        stack.settle().await;
    }
    let counter = variables::get_variable(&stack.app.db, ACCOUNT_ID, "missed_calls")
        .await
        .expect("read")
        .expect("the counter exists");
    assert_eq!(
        counter.value, "3",
        "no answer, busy and unavailable count; a held call does not"
    );
    let texts: Vec<String> = stack
        .notes_of(lead)
        .iter()
        .filter(|n| n["note_type"] == "common")
        .map(|n| n["params"]["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(texts, vec!["2 missed calls so far".to_owned()]);
}

async fn a_site_form_finds_the_contact_by_phone_or_creates_it(database: Database) {
    let stack = stack(database).await;
    let rule = stack
        .rule(
            "Site form",
            json!({
                "schema_version": 2,
                "name": "Site form",
                "trigger": {"kind": "inbound_webhook", "hook_id": "site"},
                "blocks": [{"actions": [
                    {"do": {"type": "create_lead", "name": "Order from {form_name}", "tags": "site"}},
                    {"do": {"type": "add_note", "entity": "contact", "text": "{form_name}: {{contact.name}} wrote {comment}"}}
                ]}]
            }),
        )
        .await;
    let known = stack.create(
        "contacts",
        json!({"name": "Known client", "custom_fields_values": [
            {"field_id": 601, "values": [{"value": "+4930555111", "enum_code": "WORK"}]}]}),
    );
    stack.settle().await;
    let url = stack.inbound_hook_url(rule).await;
    let http = reqwest::Client::new();
    for (phone, name) in [
        ("+4930555111", "Known client"),
        ("+4930999000", "New client"),
    ] {
        let response = http
            .post(&url)
            .form(&[
                ("phone", phone),
                ("name", name),
                ("form_name", "Contact us"),
                ("comment", "hello"),
            ])
            .send()
            .await
            .expect("hook answered");
        assert!(response.status().is_success(), "{}", response.status());
    }
    stack.settle().await;

    let known_notes = stack.notes_of(known);
    assert_eq!(known_notes.len(), 1, "{known_notes:?}");
    assert_eq!(
        known_notes[0]["params"]["text"],
        "Contact us: Known client wrote hello"
    );
    let contacts = stack.emulator().entities(SUBDOMAIN, "contacts");
    let created = contacts
        .iter()
        .find(|c| c["name"] == "New client")
        .expect("the unknown phone created a contact");
    let created_id = created["id"].as_i64().expect("id");
    assert_eq!(field(&stack.contact(created_id), 601), "+4930999000");
    assert_eq!(
        stack.notes_of(created_id)[0]["params"]["text"],
        "Contact us: New client wrote hello"
    );
    let leads = stack.emulator().entities(SUBDOMAIN, "leads");
    assert_eq!(leads.len(), 2);
    for lead in &leads {
        assert_eq!(lead["name"], "Order from Contact us");
        assert_eq!(tags(lead), vec!["site".to_owned()]);
        let full = stack.lead(lead["id"].as_i64().expect("id"));
        let linked = full["_embedded"]["contacts"][0]["id"].as_i64();
        assert!(
            linked == Some(known) || linked == Some(created_id),
            "{full}"
        );
    }
}

async fn a_webhook_response_feeds_the_follow_up_rule(database: Database) {
    let stack = stack(database).await;
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = received.clone();
    let receiver = axum::Router::new().route(
        "/orders",
        axum::routing::post(move |body: String| {
            let seen = seen.clone();
            async move {
                seen.lock().expect("lock").push(body);
                axum::Json(json!({"order": {"id": 42, "state": "created"}}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let receiver_url = format!("http://{}/orders", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, receiver).await;
    });
    let follow_up = stack
        .rule(
            "Store order",
            manual(
                "Store order",
                json!([
                {"do": {"type": "change_fields", "entity": "lead", "fields": [
                    {"field": {"custom": 504}, "value": "Order {order_id} is {order_state}"}]}}]),
            ),
        )
        .await;
    let sender = stack
        .rule(
            "Send order",
            json!({
                "schema_version": 2,
                "name": "Send order",
                "trigger": {"kind": "entity_added", "entity": "lead"},
                "blocks": [{"actions": [{"do": {"type": "send_webhook", "method": "POST", "url": receiver_url,
                    "headers": [{"key": "X-Source", "value": "rulebook"}],
                    "body": [{"key": "lead", "value": "{{lead.id}}"}, {"key": "name", "value": "{{lead.name}}"}],
                    "parse_response": true, "follow_up_rule_id": follow_up}}]}]
            }),
        )
        .await;
    let lead = stack.create("leads", json!({"name": "Webshop"}));
    stack.settle().await;
    let bodies = received.lock().expect("lock").clone();
    // Beside the admin's body: the entity, the rule and the block (none: 0), always.
    assert_eq!(
        bodies,
        vec![format!(
            "lead={lead}&name=Webshop&entity_id={lead}&entity_type=lead&rule_id={sender}&block_id=0"
        )]
    );
    assert_eq!(field(&stack.lead(lead), 504), "Order 42 is created");
}

/// A receiver that answers every request with a form-encoded body of `total` bytes,
/// `order=42&state=created&pad=xxx…`, streamed from one small buffer; the channel tells how many
/// bytes it wrote before the client hung up.
async fn endless_receiver(total: u64) -> (String, tokio::sync::oneshot::Receiver<u64>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/orders", listener.local_addr().expect("addr"));
    let (report, written) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let mut request = [0u8; 8192];
        let _ = socket.read(&mut request).await;
        let start = b"order=42&state=created&pad=";
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {total}\r\n\r\n"
        );
        if socket.write_all(head.as_bytes()).await.is_err()
            || socket.write_all(start).await.is_err()
        {
            return;
        }
        let piece = vec![b'x'; 64 * 1024];
        let mut sent = start.len() as u64;
        while sent < total {
            let n = (piece.len() as u64).min(total - sent) as usize;
            if socket.write_all(&piece[..n]).await.is_err() {
                break;
            }
            sent += n as u64;
        }
        let _ = report.send(sent);
    });
    (url, written)
}

async fn the_first_bytes_of_a_200_mib_webhook_answer_feed_the_follow_up_rule(database: Database) {
    let stack = stack(database).await;
    let total: u64 = 200 * 1024 * 1024;
    let (receiver_url, written) = endless_receiver(total).await;
    let follow_up = stack
        .rule(
            "Store order",
            manual(
                "Store order",
                json!([
                {"do": {"type": "change_fields", "entity": "lead", "fields": [
                    {"field": {"custom": 504}, "value": "Order {order} is {state}"}]}}]),
            ),
        )
        .await;
    let sender = stack
        .rule(
            "Send order",
            json!({
                "schema_version": 2,
                "name": "Send order",
                "trigger": {"kind": "entity_added", "entity": "lead"},
                "blocks": [{"actions": [{"do": {"type": "send_webhook", "method": "POST", "url": receiver_url,
                    "body": [{"key": "lead", "value": "{{lead.id}}"}],
                    "parse_response": true, "follow_up_rule_id": follow_up}}]}]
            }),
        )
        .await;
    let lead = stack.create("leads", json!({"name": "Webshop"}));
    stack.settle().await;
    assert_eq!(field(&stack.lead(lead), 504), "Order 42 is created");
    let sent = written.await.expect("the receiver reports");
    assert!(
        sent < total / 4,
        "reading stopped at the cap: the receiver wrote {sent} of {total} bytes"
    );
    let log = stack.log(sender).await;
    assert_eq!(log.len(), 1);
    let trace = log[0].trace.to_string();
    assert!(
        trace.contains("HTTP 200; only the first 30000 bytes of the answer were read"),
        "{trace}"
    );
}

async fn execute_rule_and_a_task_result_start_the_next_rules(database: Database) {
    let stack = stack(database).await;
    let interested = stack
        .rule(
            "Interested",
            manual("Interested", json!([
                {"do": {"type": "change_tags", "entity": "lead", "change": "add", "tags": "interested"}}])),
        )
        .await;
    let welcome = stack
        .rule(
            "Welcome",
            manual("Welcome", json!([
                {"do": {"type": "add_note", "entity": "lead", "text": "Welcome ran for {{lead.name}}"}}])),
        )
        .await;
    stack
        .rule(
            "Call",
            json!({
                "schema_version": 2,
                "name": "Call",
                "trigger": {"kind": "entity_added", "entity": "lead"},
                "blocks": [{"actions": [
                    {"do": {"type": "create_task", "entity": "lead", "task_type_id": 1, "complete_in_seconds": 600,
                            "text": "Call the client", "results": [
                                {"text": "Interested", "rule_id": interested},
                                {"text": "Not interested"}]}},
                    {"do": {"type": "execute_rule", "entity": "lead", "rule_id": welcome}}
                ]}]
            }),
        )
        .await;
    let lead = stack.create("leads", json!({"name": "Prospect"}));
    stack.settle().await;
    let notes = stack.notes_of(lead);
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["params"]["text"], "Welcome ran for Prospect");
    let task = stack
        .emulator()
        .tasks(SUBDOMAIN)
        .into_iter()
        .find(|t| t["entity_id"] == lead)
        .expect("the task");
    assert!(tags(&stack.lead(lead)).is_empty());

    stack.kommo_call(
        "PATCH",
        "/api/v4/tasks",
        Some(json!([{"id": task["id"], "is_completed": true, "result": {"text": "Interested"}}])),
    );
    stack.settle().await;
    assert_eq!(tags(&stack.lead(lead)), vec!["interested".to_owned()]);
    let log = stack.log(interested).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].trace["event"]["kind"]["kind"], "task_completed");
}

async fn creations_copies_and_task_changes_land_in_kommo(database: Database) {
    let stack = stack(database).await;
    stack
        .rule(
            "Offer",
            json!({
                "schema_version": 2,
                "name": "Offer",
                "trigger": {"kind": "status_changed", "status_id": 13, "entry": "moved"},
                "blocks": [{"actions": [
                    {"do": {"type": "create_company", "attach_to": "lead", "name": "{{lead.name}} Inc"}},
                    {"do": {"type": "create_contact", "attach_to": "lead", "name": "Buyer of {{lead.name}}",
                            "fields": [{"field": {"custom": 602}, "value": "buyer@example.com"}]}},
                    {"do": {"type": "copy_lead", "name": "Copy of {{lead.name}}"}},
                    {"do": {"type": "change_task", "entity": "lead", "scope": "all", "completed": true,
                            "text": "Closed by the offer"}},
                    {"do": {"type": "change_responsible", "entity": "lead", "user": {"user": 102}, "in_open_tasks": true}},
                    {"do": {"type": "run_salesbot", "entity": "lead", "bot_id": 9}}
                ]}]
            }),
        )
        .await;
    let lead = stack.create(
        "leads",
        json!({"name": "Big deal", "price": 900, "pipeline_id": 10, "status_id": 11,
               "custom_fields_values": [{"field_id": 504, "values": [{"value": "keep me"}]}]}),
    );
    stack.kommo_call(
        "POST",
        "/api/v4/tasks",
        Some(
            json!([{"text": "Prepare offer", "complete_till": START_MS / 1000 + 3600,
                     "entity_id": lead, "entity_type": "leads", "task_type_id": 1}]),
        ),
    );
    stack.settle().await;
    stack.kommo_call(
        "PATCH",
        "/api/v4/leads",
        Some(json!([{"id": lead, "status_id": 13}])),
    );
    stack.settle().await;

    let after = stack.lead(lead);
    assert_eq!(after["responsible_user_id"], 102);
    let companies = stack.emulator().entities(SUBDOMAIN, "companies");
    assert_eq!(companies.len(), 1);
    assert_eq!(companies[0]["name"], "Big deal Inc");
    assert_eq!(after["_embedded"]["companies"][0]["id"], companies[0]["id"]);
    let contacts = stack.emulator().entities(SUBDOMAIN, "contacts");
    let buyer = contacts
        .iter()
        .find(|c| c["name"] == "Buyer of Big deal")
        .expect("contact created");
    assert_eq!(field(buyer, 602), "buyer@example.com");
    assert!(after["_embedded"]["contacts"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["id"] == buyer["id"])));
    let leads = stack.emulator().entities(SUBDOMAIN, "leads");
    let copy = leads
        .iter()
        .find(|l| l["name"] == "Copy of Big deal")
        .expect("lead copied");
    assert_eq!(copy["price"], 900);
    assert_eq!(field(copy, 504), "keep me");
    let task = stack
        .emulator()
        .tasks(SUBDOMAIN)
        .into_iter()
        .find(|t| t["entity_id"] == lead)
        .expect("task");
    assert_eq!(task["is_completed"], true);
    assert_eq!(task["text"], "Closed by the offer");
    let runs = stack.emulator().salesbot_runs(SUBDOMAIN);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["entity_id"], lead);
}

async fn every_entity_event_type_starts_its_rule(database: Database) {
    let stack = stack(database).await;
    let note_rule = |name: &str, trigger: Value, entity: &str, text: &str| {
        json!({"schema_version": 2, "name": name, "trigger": trigger,
               "blocks": [{"actions": [{"do": {"type": "add_note", "entity": entity, "text": text}}]}]})
    };
    let rules = [
        (
            "responsible",
            json!({"kind": "responsible_changed", "entity": "lead"}),
            "lead",
            "Now {{lead.responsible.name}}",
        ),
        (
            "field",
            json!({"kind": "field_updated", "entity": "lead", "field_id": 504}),
            "lead",
            "Comment: {{lead.cf(504)}}",
        ),
        (
            "tag off",
            json!({"kind": "tag_removed", "entity": "lead", "tags": ["cold"]}),
            "lead",
            "Warmed up",
        ),
        (
            "contact added",
            json!({"kind": "entity_added", "entity": "contact"}),
            "contact",
            "Hello {{contact.name}}",
        ),
        (
            "company updated",
            json!({"kind": "entity_updated", "entity": "company"}),
            "company",
            "Company {{company.name}}",
        ),
        (
            "message",
            json!({"kind": "incoming_message", "channels": ["whatsapp"]}),
            "client",
            "Got: {{event.message_text}}",
        ),
    ];
    for (name, trigger, entity, text) in rules {
        stack
            .rule(name, note_rule(name, trigger, entity, text))
            .await;
    }
    let lead = stack.create(
        "leads",
        json!({"name": "Deal", "responsible_user_id": 101, "_embedded": {"tags": [{"name": "cold"}]}}),
    );
    let company = stack.create("companies", json!({"name": "Acme"}));
    let contact = stack.create("contacts", json!({"name": "Ann"}));
    stack.settle().await;
    assert_eq!(stack.notes_of(contact).len(), 1, "contact added");

    stack.advance(Duration::from_secs(10));
    stack.kommo_call(
        "PATCH",
        "/api/v4/leads",
        Some(json!([{"id": lead, "responsible_user_id": 102}])),
    );
    stack.settle().await;
    stack.advance(Duration::from_secs(10));
    stack.kommo_call(
        "PATCH",
        "/api/v4/leads",
        Some(json!([{"id": lead, "custom_fields_values": [{"field_id": 504, "values": [{"value": "urgent"}]}]}])),
    );
    stack.settle().await;
    stack.advance(Duration::from_secs(10));
    stack.kommo_call(
        "PATCH",
        "/api/v4/leads",
        Some(json!([{"id": lead, "tags_to_delete": [{"name": "cold"}]}])),
    );
    stack.settle().await;
    stack.kommo_call(
        "PATCH",
        "/api/v4/companies",
        Some(json!([{"id": company, "name": "Acme 2"}])),
    );
    stack
        .emulator()
        .receive_message(
            SUBDOMAIN,
            Some(contact),
            "Ann",
            "Is it in stock?",
            "whatsapp",
        )
        .expect("message");
    stack.settle().await;

    let texts = |id: i64| -> Vec<String> {
        stack
            .notes_of(id)
            .iter()
            .map(|n| n["params"]["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(
        texts(lead),
        vec![
            "Now Boris".to_owned(),
            "Comment: urgent".to_owned(),
            "Warmed up".to_owned()
        ]
    );
    assert_eq!(texts(company), vec!["Company Acme 2".to_owned()]);
    assert_eq!(
        texts(contact),
        vec!["Hello Ann".to_owned(), "Got: Is it in stock?".to_owned()]
    );
}

async fn scheduled_rules_fire_in_the_account_timezone_and_before_a_date_in_a_field(
    database: Database,
) {
    let stack = stack(database).await;
    stack
        .rule(
            "Daily",
            json!({"schema_version": 2, "name": "Daily",
                   "trigger": {"kind": "recurring", "schedule": {"every": "daily", "at": "09:00:00"}},
                   "blocks": [{"actions": [{"do": {"type": "change_global_variable", "name": "ticks",
                                                   "change": "append", "value": "x"}}]}]}),
        )
        .await;
    stack
        .rule(
            "Meeting",
            json!({"schema_version": 2, "name": "Meeting",
                   "trigger": {"kind": "relative_to_date_field", "entity": "lead", "field_id": 506, "offset_hours": -2},
                   "blocks": [{"actions": [{"do": {"type": "add_note", "entity": "lead", "text": "Meeting in 2 hours"}}]}]}),
        )
        .await;
    let hour = 3_600_000;
    let meeting_at = |ms: i64| json!([{"field_id": 506, "values": [{"value": ms / 1000}]}]);
    let lead = stack.create(
        "leads",
        json!({"name": "Deal", "custom_fields_values": meeting_at(START_MS + 72 * hour)}),
    );
    stack.settle().await;
    let due: Vec<i64> = all_jobs(&stack).await.iter().map(|j| j.run_at).collect();
    // 09:00 in Berlin (UTC+1) on the next day, and two hours before the meeting.
    assert_eq!(due, vec![START_MS + 20 * hour, START_MS + 70 * hour]);

    stack.advance(Duration::from_millis(20 * 3_600_000));
    stack.settle().await;
    assert_eq!(variable(&stack, "ticks").await.as_deref(), Some("x"));
    stack.advance(Duration::from_millis(24 * 3_600_000));
    stack.settle().await;
    assert_eq!(
        variable(&stack, "ticks").await.as_deref(),
        Some("xx"),
        "and again the next day"
    );

    stack.kommo_call(
        "PATCH",
        "/api/v4/leads",
        Some(json!([{"id": lead, "custom_fields_values": meeting_at(START_MS + 120 * hour)}])),
    );
    stack.settle().await;
    stack.advance(Duration::from_millis(28 * 3_600_000));
    stack.settle().await;
    assert!(
        stack.notes_of(lead).is_empty(),
        "the meeting moved; the old firing is gone"
    );
    stack.advance(Duration::from_millis(47 * 3_600_000));
    stack.settle().await;
    let notes = stack.notes_of(lead);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["params"]["text"], "Meeting in 2 hours");
}

async fn a_dry_run_and_a_replay_show_the_plan_and_trace_without_writing(database: Database) {
    let stack = stack(database).await;
    let rule = stack
        .rule(
            "Qualified",
            json!({"schema_version": 2, "name": "Qualified",
                   "trigger": {"kind": "status_changed", "status_id": 12, "entry": "moved"},
                   "blocks": [{"name": "mark", "actions": [{"do": {"type": "change_fields", "entity": "lead",
                       "fields": [{"field": {"custom": 504}, "value": "Qualified {{lead.name}}"}]}}]}]}),
        )
        .await;
    let lead = stack.create(
        "leads",
        json!({"name": "Deal", "pipeline_id": 10, "status_id": 11}),
    );
    stack.settle().await;
    let http = reqwest::Client::new();
    // A fresh disposable token per request, as `$authorizedAjax` mints them: a used one is refused.
    let post = |path: String, body: String| {
        let token = stack
            .emulator()
            .mint_disposable_token(SUBDOMAIN, 101, Some(rulebook_e2e::stack::CLIENT_ID))
            .expect("token");
        http.post(format!("{}{path}", stack.backend_url))
            .header("X-Auth-Token", token)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let writes_before = stack
        .emulator()
        .request_log()
        .iter()
        .filter(|r| r.method != "GET")
        .count();

    let response = post(
        format!("/api/v1/rules/{rule}/dry-run"),
        json!({"entity_id": lead}).to_string(),
    )
    .await
    .expect("dry run");
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "ran");
    assert_eq!(body["event"]["kind"]["kind"], "status_changed");
    assert_eq!(body["trace"]["blocks"][0]["status"], "completed");
    assert_eq!(body["plan"][0]["action"]["type"], "change_fields");
    assert_eq!(
        body["plan"][0]["action"]["fields"][0]["value"],
        "Qualified Deal"
    );
    assert_eq!(
        field(&stack.lead(lead), 504),
        Value::Null,
        "a dry run writes nothing"
    );
    let writes_after = stack
        .emulator()
        .request_log()
        .iter()
        .filter(|r| r.method != "GET")
        .count();
    assert_eq!(writes_before, writes_after);

    let event_id: i64 = sqlx::query_scalar("SELECT MAX(id) FROM events")
        .fetch_one(&stack.app.db.pool)
        .await
        .expect("an event was stored");
    let response = post(
        format!("/api/v1/rules/{rule}/replay"),
        json!({"event_id": event_id}).to_string(),
    )
    .await
    .expect("replay");
    assert_eq!(response.status(), 200);
    let replayed: Vec<Value> = response.json().await.expect("json");
    let stage = replayed
        .iter()
        .find(|r| r["event"]["kind"]["kind"] == "status_changed")
        .expect("the lead's creation in a stage");
    assert_eq!(
        stage["outcome"], "event_does_not_match",
        "created in the stage, not moved to it"
    );

    let missing = post(
        "/api/v1/rules/999999/dry-run".into(),
        json!({"entity_id": lead}).to_string(),
    )
    .await
    .expect("answered");
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers()["content-type"]
            .to_str()
            .unwrap_or_default(),
        "application/problem+json"
    );
    let bad = post(
        format!("/api/v1/rules/{rule}/dry-run"),
        "{\"entity\": ".into(),
    )
    .await
    .expect("answered");
    assert_eq!(bad.status(), 400);
    let gone = post(
        format!("/api/v1/rules/{rule}/dry-run"),
        json!({"entity_id": 424242}).to_string(),
    )
    .await
    .expect("answered");
    assert_eq!(gone.status(), 404, "an entity Kommo does not have");
}

async fn updates_of_concurrent_events_leave_in_one_request(database: Database) {
    let stack = stack(database).await;
    stack
        .rule(
            "Seen",
            json!({"schema_version": 2, "name": "Seen",
                   "trigger": {"kind": "entity_added", "entity": "lead"},
                   "blocks": [{"actions": [{"do": {"type": "change_fields", "entity": "lead",
                       "fields": [{"field": {"custom": 504}, "value": "seen {{lead.id}}"}]}}]}]}),
        )
        .await;
    let leads: Vec<i64> = (0..20)
        .map(|i| stack.create("leads", json!({"name": format!("Lead {i}")})))
        .collect();
    assert_eq!(
        stack.emulator().deliver_due().await,
        20,
        "one webhook per lead"
    );
    // The first update is slow to answer, so the other events' updates queue up behind it.
    stack
        .emulator()
        .inject_fault(
            SUBDOMAIN,
            serde_json::from_value(json!({"kind": "latency", "ms": 300, "method": "PATCH"}))
                .expect("fault"),
        )
        .expect("inject");
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let worker = stack.worker.clone();
        workers.spawn(async move {
            while !matches!(
                worker.try_run_one().await.expect("worker"),
                rulebook::queue::worker::Outcome::Idle
            ) {}
        });
    }
    while workers.join_next().await.is_some() {}

    let left = all_jobs(&stack).await;
    assert!(left.is_empty(), "{left:?}");
    for lead in &leads {
        assert_eq!(field(&stack.lead(*lead), 504), format!("seen {lead}"));
    }
    let patches = stack
        .emulator()
        .request_log()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.contains("/api/v4/leads"))
        .count();
    assert!(patches <= 3, "20 events' updates took {patches} requests");
}

async fn a_rule_copying_leads_into_its_own_stage_stops_at_the_chain_limit(database: Database) {
    let stack = stack(database).await;
    let rule = stack
        .rule(
            "Copier",
            json!({"schema_version": 2, "name": "Copier",
                   "trigger": {"kind": "status_changed", "status_id": 13},
                   "blocks": [{"actions": [{"do": {"type": "copy_lead", "name": "{{lead.name}}+"}}]}]}),
        )
        .await;
    let lead = stack.create(
        "leads",
        json!({"name": "L", "pipeline_id": 10, "status_id": 11}),
    );
    stack.settle().await;
    stack.kommo_call(
        "PATCH",
        "/api/v4/leads",
        Some(json!([{"id": lead, "status_id": 13}])),
    );
    stack.settle().await;

    let mut names: Vec<String> = stack
        .emulator()
        .entities(SUBDOMAIN, "leads")
        .iter()
        .map(|l| l["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    names.sort_by_key(String::len);
    assert_eq!(
        names,
        vec!["L", "L+", "L++", "L+++", "L++++", "L+++++", "L++++++"],
        "the person's move and 5 copies of copies, each created by us one step deeper"
    );
    let log = stack.log(rule).await;
    assert_eq!(log[0].outcome, ExecutionOutcome::Loop);
}

/// A chat message in the emulator on a lead: a new talk when the chat has none open.
fn chat(
    stack: &Stack,
    lead: i64,
    text: &str,
    origin: &str,
    outgoing: bool,
) -> kommo_emulator::outbound::ChatMessage {
    stack
        .emulator()
        .chat_message(
            SUBDOMAIN,
            &kommo_emulator::ChatMessageRequest {
                lead_id: Some(lead),
                author_name: "Ann".into(),
                text: text.into(),
                origin: origin.into(),
                outgoing,
                ..Default::default()
            },
        )
        .expect("chat message")
}

fn note_texts(stack: &Stack, entity_id: i64) -> Vec<String> {
    stack
        .notes_of(entity_id)
        .iter()
        .map(|n| n["params"]["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn note_rule(name: &str, trigger: Value, text: &str) -> Value {
    json!({"schema_version": 2, "name": name, "trigger": trigger,
           "blocks": [{"actions": [{"do": {"type": "add_note", "entity": "lead", "text": text}}]}]})
}

async fn a_conversation_started_by_an_incoming_whatsapp_message_adds_one_note(database: Database) {
    let stack = stack(database).await;
    let trigger =
        json!({"kind": "conversation_started", "by": "incoming", "channels": ["whatsapp"]});
    let rule = stack
        .rule(
            "Started",
            note_rule("Started", trigger, "Started by {{event.channel}}"),
        )
        .await;
    let lead = stack.create("leads", json!({"name": "Chat lead"}));
    stack.settle().await;

    let first = chat(&stack, lead, "Hello", "whatsapp", false);
    stack.settle().await;
    assert_eq!(note_texts(&stack, lead), vec!["Started by whatsapp"]);

    // A second message in the same talk is no new conversation.
    let second = chat(&stack, lead, "Are you there?", "whatsapp", false);
    assert_eq!(second.talk_id, first.talk_id);
    stack.settle().await;
    assert_eq!(note_texts(&stack, lead), vec!["Started by whatsapp"]);
    assert_eq!(stack.log(rule).await.len(), 1);

    // A conversation we started does not match `by: incoming`, even when the client answers.
    let ours = stack.create("leads", json!({"name": "Outreach"}));
    // (The answer comes a minute later; its webhook may still arrive before ours.)
    chat(&stack, ours, "Hi from us", "whatsapp", true);
    stack.advance(Duration::from_secs(60));
    chat(&stack, ours, "Hi back", "whatsapp", false);
    stack.settle().await;
    assert!(note_texts(&stack, ours).is_empty());

    // Another channel does not match either.
    let telegram = stack.create("leads", json!({"name": "Telegram lead"}));
    chat(&stack, telegram, "Hello", "telegram", false);
    stack.settle().await;
    assert!(note_texts(&stack, telegram).is_empty());
    assert_eq!(stack.log(rule).await.len(), 1);
}

async fn a_closed_talk_adds_its_note_once(database: Database) {
    let stack = stack(database).await;
    let trigger = json!({"kind": "conversation_closed", "delay_seconds": 0});
    stack
        .rule("Closed", note_rule("Closed", trigger, "Closed"))
        .await;
    let lead = stack.create("leads", json!({"name": "Chat lead"}));
    let first = chat(&stack, lead, "Hello", "whatsapp", false);
    chat(&stack, lead, "Anyone?", "whatsapp", false);
    stack.settle().await;
    assert!(note_texts(&stack, lead).is_empty(), "the talk is open");

    stack.kommo_call(
        "POST",
        &format!("/api/v4/talks/{}/close", first.talk_id),
        Some(json!({"force_close": true})),
    );
    stack.settle().await;
    assert_eq!(note_texts(&stack, lead), vec!["Closed"]);

    // Reading the closed talk updates it again; closing it again changes nothing.
    stack
        .emulator()
        .read_talk(SUBDOMAIN, first.talk_id)
        .expect("read");
    stack.kommo_call(
        "POST",
        &format!("/api/v4/talks/{}/close", first.talk_id),
        None,
    );
    stack.settle().await;
    assert_eq!(note_texts(&stack, lead), vec!["Closed"]);

    // The chat's next message opens a new talk, which closes in its turn (past the rule's
    // shortest run interval per entity).
    stack.advance(Duration::from_secs(10));
    let next = chat(&stack, lead, "One more thing", "whatsapp", false);
    assert_ne!(next.talk_id, first.talk_id);
    stack.settle().await;
    stack
        .emulator()
        .close_talk(SUBDOMAIN, next.talk_id)
        .expect("close");
    stack.settle().await;
    assert_eq!(note_texts(&stack, lead), vec!["Closed", "Closed"]);
}

async fn a_delayed_talk_closed_rule_waits_for_the_clock(database: Database) {
    let stack = stack(database).await;
    let trigger =
        json!({"kind": "conversation_closed", "channels": ["telegram"], "delay_seconds": 300});
    let rule = stack
        .rule(
            "Closed later",
            note_rule("Closed later", trigger, "Closed later"),
        )
        .await;
    let lead = stack.create("leads", json!({"name": "Chat lead"}));
    let talk = chat(&stack, lead, "Hello", "telegram", false);
    stack.settle().await;
    stack
        .emulator()
        .close_talk(SUBDOMAIN, talk.talk_id)
        .expect("close");
    let closed_at = stack.clock_ms();
    stack.settle().await;
    assert!(
        note_texts(&stack, lead).is_empty(),
        "nothing before the delay"
    );
    let jobs = pending_jobs(&stack, rule).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].run_at, closed_at + 300_000);

    stack.advance(Duration::from_secs(299));
    stack.settle().await;
    assert!(note_texts(&stack, lead).is_empty());
    stack.advance(Duration::from_secs(1));
    stack.settle().await;
    assert_eq!(note_texts(&stack, lead), vec!["Closed later"]);
    assert!(pending_jobs(&stack, rule).await.is_empty());
}

/// The widget's static `dp.webhook_url` at the backend.
fn dp_webhook_url(stack: &Stack) -> String {
    format!("{}/hooks/dp", stack.backend_url)
}

/// An admin saves our widget's action on stage `status_id` of pipeline 10, with the rule key
/// `dpSettings` wrote into its hidden setting.
fn save_dp_action(stack: &Stack, status_id: i64, rule_key: &str) {
    let action: kommo_emulator::seed::DpActionSeed = serde_json::from_value(json!({
        "pipeline_id": 10, "status_id": status_id, "webhook_url": dp_webhook_url(stack),
        "settings": {"rule_id": rule_key}}))
    .expect("dp action");
    stack
        .emulator()
        .save_dp_action(SUBDOMAIN, &action)
        .expect("save the pipeline");
}

/// The DP key the widget writes for a rule.
async fn dp_key(stack: &Stack, rule: i64) -> String {
    digital_pipeline::key_of_rule(&stack.app.db, ACCOUNT_ID, rule)
        .await
        .expect("dp key")
}

/// The statuses the backend answered the emulator's digital-pipeline requests with.
fn dp_answers(stack: &Stack) -> Vec<Option<u16>> {
    let url = dp_webhook_url(stack);
    stack
        .emulator()
        .deliveries()
        .iter()
        .filter(|d| d.url == url)
        .flat_map(|d| d.attempts.iter().map(|a| a.status))
        .collect()
}

async fn a_digital_pipeline_stage_runs_the_rule_its_action_names(database: Database) {
    let stack = stack(database).await;
    let rule = stack
        .rule(
            "Offer stage",
            manual(
                "Offer stage",
                json!([{"do": {"type": "add_note", "entity": "lead", "text": "Offer for {{lead.name}}"}}]),
            ),
        )
        .await;
    save_dp_action(&stack, 13, &dp_key(&stack, rule).await);
    save_dp_action(&stack, 12, &format!("{rule}-not-the-mac"));

    let moved = stack.create(
        "leads",
        json!({"name": "Moved", "pipeline_id": 10, "status_id": 11}),
    );
    stack.settle().await;
    assert!(stack.notes_of(moved).is_empty(), "no action on stage 11");

    stack.kommo_call(
        "PATCH",
        "/api/v4/leads",
        Some(json!([{"id": moved, "status_id": 12}])),
    );
    stack.settle().await;
    assert!(
        stack.notes_of(moved).is_empty(),
        "a forged rule key runs nothing"
    );
    assert_eq!(
        dp_answers(&stack),
        vec![Some(401)],
        "the forged request was refused"
    );

    stack.kommo_call(
        "PATCH",
        "/api/v4/leads",
        Some(json!([{"id": moved, "status_id": 13}])),
    );
    let born = stack.create(
        "leads",
        json!({"name": "Born there", "pipeline_id": 10, "status_id": 13}),
    );
    stack.settle().await;
    for (lead, name) in [(moved, "Moved"), (born, "Born there")] {
        let notes = stack.notes_of(lead);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!(notes[0]["params"]["text"], format!("Offer for {name}"));
    }
    let runs = stack.log(rule).await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(
        runs.iter().all(|r| r.outcome == ExecutionOutcome::Ok),
        "{runs:?}"
    );
}

async fn a_dp_request_for_one_rule_runs_only_that_rule(database: Database) {
    let stack = stack(database).await;
    let note = |text: &str| json!([{"do": {"type": "add_note", "entity": "lead", "text": text}}]);
    let a = stack.rule("Rule A", manual("Rule A", note("A ran"))).await;
    let b = stack.rule("Rule B", manual("Rule B", note("B ran"))).await;
    let tagged = stack
        .rule(
            "Tagged",
            note_rule(
                "Tagged",
                json!({"kind": "tag_added", "entity": "lead"}),
                "Tagged ran",
            ),
        )
        .await;
    let inbound_key = rules::get(&stack.app.db, ACCOUNT_ID, b)
        .await
        .expect("rule")
        .inbound_hook_key;
    save_dp_action(&stack, 12, &dp_key(&stack, a).await);
    // A tag rule is not one a stage may run, and an inbound webhook key is not a DP key.
    save_dp_action(&stack, 13, &dp_key(&stack, tagged).await);
    save_dp_action(&stack, 13, &inbound_key);

    let lead = stack.create(
        "leads",
        json!({"name": "Lead", "pipeline_id": 10, "status_id": 11}),
    );
    stack.settle().await;
    stack.kommo_call(
        "PATCH",
        "/api/v4/leads",
        Some(json!([{"id": lead, "status_id": 12}])),
    );
    stack.settle().await;
    assert_eq!(note_texts(&stack, lead), vec!["A ran"]);
    stack.kommo_call(
        "PATCH",
        "/api/v4/leads",
        Some(json!([{"id": lead, "status_id": 13}])),
    );
    stack.settle().await;

    assert_eq!(
        note_texts(&stack, lead),
        vec!["A ran"],
        "only the rule the action names ran"
    );
    assert_eq!(stack.log(a).await.len(), 1);
    assert!(stack.log(b).await.is_empty(), "the unrelated manual rule");
    let refused = stack.log(tagged).await;
    assert_eq!(
        refused.len(),
        1,
        "the tag rule's log says why it did not run"
    );
    assert_eq!(refused[0].outcome, ExecutionOutcome::Error);
    assert!(refused[0].trace["actions"]
        .as_array()
        .is_some_and(Vec::is_empty));
    let mut answers = dp_answers(&stack);
    answers.sort_unstable();
    assert_eq!(
        answers,
        vec![Some(200), Some(200), Some(401)],
        "the inbound key was refused"
    );
}

async fn two_dp_actions_on_one_stage_both_run(database: Database) {
    let stack = stack(database).await;
    let note = |text: &str| json!([{"do": {"type": "add_note", "entity": "lead", "text": text}}]);
    let a = stack.rule("Rule A", manual("Rule A", note("A ran"))).await;
    let b = stack.rule("Rule B", manual("Rule B", note("B ran"))).await;
    let (key_a, key_b) = (dp_key(&stack, a).await, dp_key(&stack, b).await);
    save_dp_action(&stack, 13, &key_a);
    save_dp_action(&stack, 13, &key_b);
    // Saving the same action again keeps one.
    save_dp_action(&stack, 13, &key_a);

    let lead = stack.create(
        "leads",
        json!({"name": "Lead", "pipeline_id": 10, "status_id": 13}),
    );
    stack.settle().await;

    let mut notes = note_texts(&stack, lead);
    notes.sort();
    assert_eq!(notes, vec!["A ran", "B ran"]);
    assert_eq!(stack.log(a).await.len(), 1);
    assert_eq!(stack.log(b).await.len(), 1);
}

async fn a_trigger_link_written_into_a_note_works_when_followed(database: Database) {
    let stack = stack(database).await;
    let clicked = stack
        .rule(
            "Clicked",
            manual(
                "Clicked",
                json!([{"do": {"type": "add_note", "entity": "lead", "text": "Clicked by {{lead.name}}"}}]),
            ),
        )
        .await;
    let link = trigger_links::create_link(
        &stack.app.db,
        ACCOUNT_ID,
        clicked,
        &NewTriggerLink {
            name: Some("Offer".into()),
            target_url: Some("https://example.com/offer".into()),
            entity: None,
        },
        stack.clock_ms(),
    )
    .await
    .expect("link");
    stack
        .rule(
            "Send the offer",
            note_rule(
                "Send the offer",
                json!({"kind": "entity_added", "entity": "lead"}),
                &format!("Offer: {{tglink:{}}}", link.id),
            ),
        )
        .await;
    let ann = stack.create("leads", json!({"name": "Ann"}));
    let bob = stack.create("leads", json!({"name": "Bob"}));
    stack.settle().await;
    let written = note_texts(&stack, ann);
    let url = written[0]
        .strip_prefix("Offer: ")
        .expect("the note")
        .to_owned();
    // The link is written under the backend's public URL; here that is the test's backend.
    let public = stack.app.settings.public_url.as_str().trim_end_matches('/');
    let path = url.strip_prefix(public).expect("under the public URL");
    assert!(
        path.starts_with(&format!("/t/{}/{ann}/2/", link.token)),
        "{url}"
    );
    let url = format!("{}{path}", stack.backend_url);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    let followed = http.get(&url).send().await.expect("follow");
    let forged = http
        .get(url.replace(&format!("/{ann}/2/"), &format!("/{bob}/2/")))
        .send()
        .await
        .expect("forged");
    stack.settle().await;

    assert_eq!(followed.status(), 303);
    assert_eq!(followed.headers()["location"], "https://example.com/offer");
    assert_eq!(forged.status(), 404);
    assert_eq!(
        note_texts(&stack, ann),
        vec![written[0].clone(), "Clicked by Ann".to_owned()]
    );
    assert_eq!(note_texts(&stack, bob).len(), 1, "only Bob's own offer");
    assert_eq!(stack.log(clicked).await.len(), 1);
}

async fn a_rule_on_a_date_and_time_fires_once_in_the_account_timezone(database: Database) {
    let stack = stack(database).await;
    stack
        .rule(
            "Launch day",
            json!({"schema_version": 2, "name": "Launch day",
                   "trigger": {"kind": "at_date_time", "date": "2026-11-25", "at": "09:30:00"},
                   "blocks": [{"actions": [{"do": {"type": "change_global_variable", "name": "launched",
                                                   "change": "append", "value": "x"}}]}]}),
        )
        .await;
    // What saving a rule through the API starts in the background.
    let planned = stack
        .app
        .engine
        .sync_schedules(ACCOUNT_ID)
        .await
        .expect("plan schedules");
    assert_eq!(planned, 1);
    stack.settle().await;
    let due: Vec<i64> = all_jobs(&stack).await.iter().map(|j| j.run_at).collect();
    // START_MS is 12:00 UTC on 2026-11-23; 09:30 in Berlin (UTC+1) two days later is 08:30 UTC.
    let minute = 60_000;
    let due_at = START_MS + 44 * 60 * minute + 30 * minute;
    assert_eq!(due, vec![due_at]);
    stack.advance(Duration::from_millis(
        u64::try_from(due_at - START_MS - minute).expect("positive"),
    ));
    stack.settle().await;
    assert_eq!(
        variable(&stack, "launched").await,
        None,
        "not a minute early"
    );
    stack.advance(Duration::from_millis(
        u64::try_from(minute).expect("positive"),
    ));
    stack.settle().await;
    assert_eq!(variable(&stack, "launched").await.as_deref(), Some("x"));
    assert_eq!(
        stack
            .app
            .engine
            .sync_schedules(ACCOUNT_ID)
            .await
            .expect("plan"),
        0,
        "a date that has passed is not planned again"
    );
    stack.advance(Duration::from_millis(400 * 24 * 3_600_000));
    stack.settle().await;
    assert_eq!(
        variable(&stack, "launched").await.as_deref(),
        Some("x"),
        "once, not yearly"
    );
    let left = all_jobs(&stack).await;
    assert!(left.is_empty(), "{left:?}");
}

async fn send_email_records_the_mailer_email_on_the_lead(database: Database) {
    let stack = stack(database).await;
    let rule = stack
        .rule(
            "Proposal mail",
            json!({"schema_version": 2, "name": "Proposal mail",
                   "trigger": {"kind": "status_changed", "status_id": 12, "entry": "moved"},
                   "blocks": [{"actions": [{"do": {"type": "send_email", "sender_user_id": 102,
                                                   "recipient": "main_contact", "template_id": 77}}]}]}),
        )
        .await;
    let with_mail = stack.create(
        "contacts",
        json!({"name": "Mia", "custom_fields_values": [
            {"field_id": 602, "values": [{"value": "mia@example.com", "enum_code": "WORK"}]}]}),
    );
    let without_mail = stack.create("contacts", json!({"name": "Noah"}));
    let mut leads = Vec::new();
    for contact in [with_mail, without_mail] {
        leads.push(stack.create(
            "leads",
            json!({"name": "Deal", "pipeline_id": 10, "status_id": 11,
                   "_embedded": {"contacts": [{"id": contact, "is_main": true}]}}),
        ));
    }
    stack.settle().await;
    for lead in &leads {
        stack.kommo_call(
            "PATCH",
            "/api/v4/leads",
            Some(json!([{"id": lead, "status_id": 12}])),
        );
    }
    stack.settle().await;

    let notes = stack.notes_of(leads[0]);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["note_type"], "service_message");
    assert_eq!(
        notes[0]["params"]["text"],
        "Email (Mailer template 77) from user 102 to mia@example.com"
    );
    assert!(stack.notes_of(leads[1]).is_empty());
    let runs = stack.log(rule).await;
    let failed: Vec<_> = runs
        .iter()
        .filter(|r| r.outcome == ExecutionOutcome::Error)
        .collect();
    assert_eq!(failed.len(), 1, "the contact without an address: {runs:?}");
    assert!(
        failed[0].trace.to_string().contains("no email address"),
        "{}",
        failed[0].trace
    );
}

async fn a_large_nested_inbound_json_body_near_the_http_limit_yields_its_variables_to_the_rule(
    database: Database,
) {
    let stack = stack(database).await;
    let rule = stack
        .rule(
            "Import",
            json!({
                "schema_version": 2,
                "name": "Import",
                "trigger": {"kind": "inbound_webhook", "hook_id": "import"},
                "blocks": [{"actions": [
                    {"do": {"type": "add_note", "entity": "contact",
                            "text": "{form_name}: first {form_order_items_0_sku}, last {form_order_items_last_sku} ({form_order_items_last_meta_size_h_1_deep})"}}
                ]}]
            }),
        )
        .await;
    let item = |n: usize| {
        json!({"sku": format!("SKU-{n:05}"), "meta": {"size": {"w": n, "h": [n, {"deep": format!("d{n:05}")}]}},
               "note": "x".repeat(200)})
    };
    // As many items as fit a body just under the HTTP limit; the last one is keyed `last`, so the
    // rule can name it.
    let per_item = item(99_999).to_string().len() + r#""99999":,"#.len();
    let n = (rulebook::http::MAX_BODY_BYTES - 2_000) / per_item;
    let mut items = serde_json::Map::new();
    for i in 0..n - 1 {
        items.insert(i.to_string(), item(i));
    }
    items.insert("last".into(), item(n - 1));
    let body = json!({"phone": "+4930777000", "name": "Importer",
                      "form": {"name": "Bulk order", "order": {"items": items}}})
    .to_string();
    assert!(
        body.len() > rulebook::http::MAX_BODY_BYTES * 9 / 10
            && body.len() <= rulebook::http::MAX_BODY_BYTES,
        "{}",
        body.len()
    );

    let response = reqwest::Client::new()
        .post(stack.inbound_hook_url(rule).await)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("hook answered");
    assert_eq!(response.status(), 200);
    stack.settle().await;

    let contact = stack
        .emulator()
        .entities(SUBDOMAIN, "contacts")
        .into_iter()
        .find(|c| c["name"] == "Importer")
        .expect("the hook's contact was created");
    let notes = stack.notes_of(contact["id"].as_i64().expect("id"));
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(
        notes[0]["params"]["text"],
        format!(
            "Bulk order: first SKU-00000, last SKU-{:05} (d{:05})",
            n - 1,
            n - 1
        )
    );
}

async fn a_receivers_request_runs_every_rule_on_it_until_its_url_is_rotated_or_deleted(
    database: Database,
) {
    let stack = stack(database).await;
    let now = stack.clock_ms();
    let orders = receivers::create(&stack.app.db, ACCOUNT_ID, "Orders", now)
        .await
        .expect("receiver");
    let other = receivers::create(&stack.app.db, ACCOUNT_ID, "Other", now)
        .await
        .expect("receiver");
    let on = |receiver: i64, name: &str| {
        json!({
            "schema_version": 2,
            "name": name,
            "trigger": {"kind": "inbound_webhook", "receiver_id": receiver},
            "blocks": [{"actions": [
                {"do": {"type": "create_lead", "name": name.to_owned() + " {order_id} to {contact_address_city} via {utm_source}"}}
            ]}]
        })
    };
    stack.rule("First", on(orders.id, "First")).await;
    stack.rule("Second", on(orders.id, "Second")).await;
    stack.rule("Elsewhere", on(other.id, "Elsewhere")).await;
    stack
        .rule(
            "Manual",
            manual(
                "Manual",
                json!([{"do": {"type": "create_lead", "name": "Manual"}}]),
            ),
        )
        .await;
    stack.settle().await;
    let url = |key: &str| format!("{}/hooks/in/{ACCOUNT_ID}/{key}", stack.backend_url);
    let http = reqwest::Client::new();
    let send = |url: String, order: &'static str| {
        let http = http.clone();
        async move {
            http.post(format!("{url}?utm%5Bsource%5D=ads"))
                .json(&json!({"order": {"id": order}, "contact": {"address": {"city": "Berlin"}}}))
                .send()
                .await
                .expect("answered")
                .status()
                .as_u16()
        }
    };
    let lead_names = || {
        let mut names: Vec<String> = stack
            .emulator()
            .entities(SUBDOMAIN, "leads")
            .iter()
            .map(|l| l["name"].as_str().unwrap_or_default().to_owned())
            .collect();
        names.sort();
        names
    };

    assert_eq!(send(url(&orders.key), "17").await, 200);
    stack.settle().await;
    assert_eq!(
        lead_names(),
        vec![
            "First 17 to Berlin via ads".to_owned(),
            "Second 17 to Berlin via ads".to_owned()
        ],
        "both rules on the receiver ran, with the flattened body and query; no other rule did"
    );

    let rotated = receivers::rotate(&stack.app.db, ACCOUNT_ID, orders.id)
        .await
        .expect("rotate");
    assert_eq!(
        send(url(&orders.key), "18").await,
        404,
        "the old URL is gone"
    );
    assert_eq!(send(url(&rotated.key), "19").await, 200);
    stack.settle().await;
    let names = lead_names();
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(
        names.contains(&"First 19 to Berlin via ads".to_owned()),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.contains(" 18 ")), "{names:?}");

    receivers::delete(&stack.app.db, ACCOUNT_ID, orders.id)
        .await
        .expect("delete");
    assert_eq!(send(url(&rotated.key), "20").await, 404);
    stack.settle().await;
    assert_eq!(lead_names().len(), 4);
}
