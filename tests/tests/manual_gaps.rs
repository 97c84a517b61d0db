//! The Triggers manual's behaviours that issue 14 found missing, end to end against the emulator:
//! the site form's search for its entity with found / not-found branches, "execute rule" passing
//! the caller's variables and entities, "send webhook" always naming the run's entity, rule and
//! block, "change tags" removing every tag when no tag is named, and Kommo webhook bodies that do
//! not name their account. Every test runs on SQLite and on PostgreSQL.

use rulebook_e2e::stack::{
    default_seed, field, manual, tags, Database, Stack, ACCOUNT_ID, SUBDOMAIN,
};
use serde_json::{json, Value};

use rulebook_e2e::on_both_databases;

on_both_databases!(
    a_site_form_finds_its_contact_by_phone_or_email_and_creates_it_in_the_not_found_branch,
    execute_rule_passes_the_callers_variables_and_entities,
    send_webhook_always_names_the_entity_the_rule_and_the_block,
    removing_tags_with_no_tag_named_removes_every_tag,
    a_kommo_webhook_without_its_account_id_is_the_urls_and_one_naming_another_account_is_refused,
);

async fn stack(database: Database) -> Stack {
    Stack::start(database, default_seed()).await
}

/// Checks a rule as the backend's save would (limits, without an account schema) and stores it.
async fn rule(stack: &Stack, name: &str, body: Value) -> i64 {
    let parsed = domain::rule::Rule::from_json(&body.to_string()).expect("the rule parses");
    let problems = domain::validate::validate_limits(&parsed);
    assert!(problems.is_empty(), "{problems:?}");
    stack.rule(name, body).await
}

async fn post_form(url: &str, form: &[(&str, &str)]) -> u16 {
    reqwest::Client::new()
        .post(url)
        .form(form)
        .send()
        .await
        .expect("answered")
        .status()
        .as_u16()
}

fn contacts_named(stack: &Stack, name: &str) -> Vec<Value> {
    stack
        .emulator()
        .entities(SUBDOMAIN, "contacts")
        .into_iter()
        .filter(|c| c["name"] == name)
        .collect()
}

fn tasks_of(stack: &Stack, entity_id: i64) -> Vec<Value> {
    stack
        .emulator()
        .tasks(SUBDOMAIN)
        .into_iter()
        .filter(|t| t["entity_id"] == entity_id)
        .collect()
}

/// The manual's site form: "search for a contact by phone, if there is no contact, create a new
/// one, if there is, update and set a task", by phone or else by email.
async fn a_site_form_finds_its_contact_by_phone_or_email_and_creates_it_in_the_not_found_branch(
    database: Database,
) {
    let stack = stack(database).await;
    let found = |value: bool| json!([{"left": {"path": "event.entity_found"}, "op": {"is": if value { "is_true" } else { "is_false" }}}]);
    let site_form = rule(
        &stack,
        "Site form",
        json!({
            "schema_version": 3,
            "name": "Site form",
            "trigger": {"kind": "inbound_webhook", "hook_id": "site", "search": {
                "entity": "contact",
                "by": [{"field": "phone", "value": "{phone}"}, {"field": "email", "value": "{email}"}]}},
            "blocks": [
                {"id": 1, "name": "Known client", "conditions": found(true), "actions": [
                    {"do": {"type": "change_fields", "entity": "contact", "fields": [
                        {"field": "name", "value": "{name}"}]}},
                    {"do": {"type": "create_task", "entity": "contact", "task_type_id": 1,
                            "complete_in_seconds": 3600, "text": "Call back about {form_name}"}}]},
                {"id": 2, "name": "New client", "conditions": found(false), "actions": [
                    {"do": {"type": "create_contact", "attach_to": "lead", "name": "{name}", "fields": [
                        {"field": {"custom": 601}, "value": "{phone}"},
                        {"field": {"custom": 602}, "value": "{email}"}]}}]}
            ]
        }),
    )
    .await;
    let by_phone = stack.create(
        "contacts",
        json!({"name": "Known client", "custom_fields_values": [
            {"field_id": 601, "values": [{"value": "+4930555111", "enum_code": "WORK"}]},
            {"field_id": 602, "values": [{"value": "known@example.com", "enum_code": "WORK"}]}]}),
    );
    let by_email = stack.create(
        "contacts",
        json!({"name": "Mail client", "custom_fields_values": [
            {"field_id": 601, "values": [{"value": "+4930111222", "enum_code": "WORK"}]},
            {"field_id": 602, "values": [{"value": "mail@example.com", "enum_code": "WORK"}]}]}),
    );
    stack.settle().await;
    let url = stack.inbound_hook_url(site_form).await;

    // A known phone (the email names nobody): that contact is updated and gets a task.
    let status = post_form(
        &url,
        &[
            ("phone", "+4930555111"),
            ("email", "nobody@example.com"),
            ("name", "Known client, updated"),
            ("form_name", "Contact us"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    stack.settle().await;
    assert_eq!(stack.contact(by_phone)["name"], "Known client, updated");
    let tasks = tasks_of(&stack, by_phone);
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0]["text"], "Call back about Contact us");

    // An unknown phone and email: the not-found branch creates the contact, and no task is set.
    let contacts_before = stack.emulator().entities(SUBDOMAIN, "contacts").len();
    let status = post_form(
        &url,
        &[
            ("phone", "+4930999000"),
            ("email", "new@example.com"),
            ("name", "New client"),
            ("form_name", "Contact us"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    stack.settle().await;
    assert_eq!(
        stack.emulator().entities(SUBDOMAIN, "contacts").len(),
        contacts_before + 1
    );
    let created = contacts_named(&stack, "New client");
    assert_eq!(created.len(), 1, "{created:?}");
    let created = stack.contact(created[0]["id"].as_i64().expect("id"));
    assert_eq!(field(&created, 601), "+4930999000");
    assert_eq!(field(&created, 602), "new@example.com");
    assert!(tasks_of(&stack, created["id"].as_i64().expect("id")).is_empty());

    // The email matches but the phone does not: the contact is found by its email.
    let status = post_form(
        &url,
        &[
            ("phone", "+4930000001"),
            ("email", "mail@example.com"),
            ("name", "Mail client, updated"),
            ("form_name", "Newsletter"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    stack.settle().await;
    assert_eq!(stack.contact(by_email)["name"], "Mail client, updated");
    let tasks = tasks_of(&stack, by_email);
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0]["text"], "Call back about Newsletter");
    assert!(contacts_named(&stack, "Mail client, updated").len() == 1);

    // The debugger shows each run's entity and whether the search found it.
    let log = stack.log(site_form).await;
    assert_eq!(log.len(), 3, "{log:?}");
    let found_flags: Vec<(Value, Value)> = log
        .iter()
        .map(|e| {
            (
                e.trace["event"]["entity"]["id"].clone(),
                e.trace["event"]["kind"]["found"].clone(),
            )
        })
        .collect();
    assert!(
        found_flags.contains(&(json!(by_phone), json!(true))),
        "{found_flags:?}"
    );
    assert!(
        found_flags.contains(&(json!(by_email), json!(true))),
        "{found_flags:?}"
    );
    assert!(
        found_flags.contains(&(Value::Null, json!(false))),
        "{found_flags:?}"
    );
}

/// "Execute rule": the called rule reads the caller's webhook variables, and the caller's lead
/// rather than its contact's newest one.
async fn execute_rule_passes_the_callers_variables_and_entities(database: Database) {
    let stack = stack(database).await;
    let contact = stack.create("contacts", json!({"name": "Client"}));
    let first = stack.create(
        "leads",
        json!({"name": "First deal", "_embedded": {"contacts": [{"id": contact, "is_main": true}]}}),
    );
    let second = stack.create(
        "leads",
        json!({"name": "Second deal", "_embedded": {"contacts": [{"id": contact, "is_main": true}]}}),
    );
    assert!(second > first);
    stack.settle().await;
    let child = rule(
        &stack,
        "Note on the contact",
        json!({
            "schema_version": 3,
            "name": "Note on the contact",
            "trigger": {"kind": "manual", "entity": "contact"},
            "blocks": [{"actions": [{"do": {"type": "add_note", "entity": "contact",
                "text": "{form_name} from {source} about {{lead.name}} ({{contact.name}})"}}]}]
        }),
    )
    .await;
    let parent = rule(
        &stack,
        "Callback request",
        json!({
            "schema_version": 3,
            "name": "Callback request",
            "trigger": {"kind": "inbound_webhook", "hook_id": "crm", "search": {
                "entity": "lead", "by": [{"field": "id", "value": "{lead_id}"}]}},
            "blocks": [{"actions": [{"do": {"type": "execute_rule", "entity": "contact", "rule_id": child}}]}]
        }),
    )
    .await;
    let url = stack.inbound_hook_url(parent).await;
    let lead_id = first.to_string();
    let status = post_form(
        &url,
        &[
            ("lead_id", lead_id.as_str()),
            ("form_name", "Callback"),
            ("source", "site"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    stack.settle().await;

    let notes = stack.notes_of(contact);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(
        notes[0]["params"]["text"],
        "Callback from site about First deal (Client)"
    );
    let log = stack.log(child).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].trace["event"]["kind"]["kind"], "rule_call");
    assert_eq!(
        log[0].trace["event"]["kind"]["parent_entity"],
        json!({"type": "lead", "id": first})
    );
}

async fn send_webhook_always_names_the_entity_the_rule_and_the_block(database: Database) {
    let stack = stack(database).await;
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let seen = received.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let seen = seen.clone();
            async move {
                seen.lock().expect("lock").push(body);
                axum::Json(json!({"ok": true}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, receiver).await;
    });
    let sender = rule(
        &stack,
        "Notify",
        json!({
            "schema_version": 3,
            "name": "Notify",
            "trigger": {"kind": "entity_added", "entity": "lead"},
            "blocks": [{"id": 7, "name": "Every lead", "actions": [{"do": {"type": "send_webhook",
                "method": "POST", "url": url,
                "headers": [{"key": "Content-Type", "value": "application/json"}],
                "body": [{"key": "name", "value": "{{lead.name}}"},
                         {"key": "rule_id", "value": "the admin's value gives way"}]}}]}]
        }),
    )
    .await;
    let lead = stack.create("leads", json!({"name": "Webshop"}));
    stack.settle().await;
    let bodies = received.lock().expect("lock").clone();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let body = &bodies[0];
    assert_eq!(body["name"], "Webshop");
    assert_eq!(body["entity_id"], lead.to_string());
    assert_eq!(body["entity_type"], "lead");
    assert_eq!(body["rule_id"], sender.to_string());
    assert_eq!(body["block_id"], "7");
}

/// The manual: "To delete all tags, leave the field «Tag Values» blank."
async fn removing_tags_with_no_tag_named_removes_every_tag(database: Database) {
    let stack = stack(database).await;
    rule(
        &stack,
        "Clear tags",
        manual(
            "Clear tags",
            json!([{"do": {"type": "change_tags", "entity": "lead", "change": "remove", "tags": ""}}]),
        ),
    )
    .await;
    let clear = rule(
        &stack,
        "Clear on stage",
        json!({
            "schema_version": 3,
            "name": "Clear on stage",
            "trigger": {"kind": "status_changed", "status_id": 12, "entry": "moved"},
            "blocks": [{"actions": [{"do": {"type": "change_tags", "entity": "lead", "change": "remove"}}]}]
        }),
    )
    .await;
    let lead = stack.create(
        "leads",
        json!({"name": "Tagged", "pipeline_id": 10, "status_id": 11,
               "_embedded": {"tags": [{"name": "hot"}, {"name": "site"}, {"name": "vip"}]}}),
    );
    stack.settle().await;
    assert_eq!(tags(&stack.lead(lead)).len(), 3);

    stack.kommo_call(
        "PATCH",
        "/api/v4/leads",
        Some(json!([{"id": lead, "status_id": 12}])),
    );
    stack.settle().await;
    assert!(tags(&stack.lead(lead)).is_empty(), "{}", stack.lead(lead));
    let log = stack.log(clear).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].trace["actions"][0]["status"], "ok");
}

/// Older amoCRM accounts, and Kommo's own task samples, send no `account[id]`: the account is the
/// one whose webhook URL was called. A body naming another account is refused.
async fn a_kommo_webhook_without_its_account_id_is_the_urls_and_one_naming_another_account_is_refused(
    database: Database,
) {
    let stack = stack(database).await;
    let lead = stack.create("leads", json!({"name": "Old style"}));
    stack.settle().await;
    let noted = rule(
        &stack,
        "Note new leads",
        json!({
            "schema_version": 3,
            "name": "Note new leads",
            "trigger": {"kind": "entity_added", "entity": "lead"},
            "blocks": [{"actions": [{"do": {"type": "add_note", "entity": "lead", "text": "Added {{lead.name}}"}}]}]
        }),
    )
    .await;
    let lead_id = lead.to_string();
    let body = |account: Option<&str>| {
        let mut pairs = vec![
            ("leads[add][0][id]", lead_id.as_str()),
            ("leads[add][0][name]", "Old style"),
            ("leads[add][0][date_create]", "1795435200"),
            ("leads[add][0][last_modified]", "1795435200"),
            ("account[subdomain]", SUBDOMAIN),
        ];
        if let Some(account) = account {
            pairs.push(("account[id]", account));
        }
        serde_urlencoded::to_string(&pairs).expect("form")
    };
    let send = |body: String| {
        let url = stack.hook_url.clone();
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .expect("answered");
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };

    let (status, answer) = send(body(Some("31999999"))).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["code"], "other_account");
    stack.settle().await;
    assert!(stack.notes_of(lead).is_empty());

    let (status, answer) = send(body(None)).await;
    assert_eq!(status, 200, "{answer}");
    stack.settle().await;
    let notes = stack.notes_of(lead);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["params"]["text"], "Added Old style");
    let log = stack.log(noted).await;
    assert_eq!(log.len(), 1);

    let own = ACCOUNT_ID.to_string();
    let (status, answer) = send(body(Some(own.as_str()))).await;
    assert_eq!(status, 200, "{answer}");
}
