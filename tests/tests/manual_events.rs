//! Every event kind of the Triggers manual starts its rule, end to end (issue 14's proof): one
//! table, a row per kind. Each row saves a rule whose one block adds a note `ran: <row>`, makes
//! its event happen in the emulated Kommo account (an API change, a note, a chat message, an
//! email, a digital-pipeline stage, a Salesbot step) or calls the backend as Kommo or the widget
//! would (a launch from a card or a list, a trigger link, an inbound webhook), and checks that the
//! rule's run on the row's entity completed in the debugger log and that its note landed in the
//! emulator. All rows share one stack per database; each rule's conditions name its own entity, so
//! rows do not start each other's rules. Runs on SQLite and on PostgreSQL.

use std::collections::BTreeMap;

use rulebook::{
    connect::WEBHOOK_EVENTS,
    ingest::digital_pipeline,
    store::{
        execution_log::ExecutionOutcome,
        trigger_links::{self, LinkKeys, NewTriggerLink},
    },
};
use rulebook_e2e::{
    on_both_databases,
    stack::{default_seed, Database, Stack, ACCOUNT_ID, CLIENT_ID, START_MS, SUBDOMAIN},
};
use serde_json::{json, Value};

on_both_databases!(every_event_kind_of_the_manual_starts_its_rule,);

/// The entity types the manual's events are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Lead,
    Contact,
    Company,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Lead, Kind::Contact, Kind::Company];

    fn singular(self) -> &'static str {
        match self {
            Kind::Lead => "lead",
            Kind::Contact => "contact",
            Kind::Company => "company",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Kind::Lead => "leads",
            Kind::Contact => "contacts",
            Kind::Company => "companies",
        }
    }
}

/// A note as Kommo files it: the manual's note types, each way.
#[derive(Debug, Clone, Copy)]
enum NoteCase {
    Text,
    CallIn,
    CallOut,
    SmsIn,
    SmsOut,
    EmailIn,
    EmailOut,
}

impl NoteCase {
    const ALL: [NoteCase; 7] = [
        NoteCase::Text,
        NoteCase::CallIn,
        NoteCase::CallOut,
        NoteCase::SmsIn,
        NoteCase::SmsOut,
        NoteCase::EmailIn,
        NoteCase::EmailOut,
    ];

    fn label(self) -> &'static str {
        match self {
            NoteCase::Text => "text",
            NoteCase::CallIn => "incoming call",
            NoteCase::CallOut => "outgoing call",
            NoteCase::SmsIn => "incoming SMS",
            NoteCase::SmsOut => "outgoing SMS",
            NoteCase::EmailIn => "incoming email",
            NoteCase::EmailOut => "outgoing email",
        }
    }

    /// The trigger's note-type filter value (the manual's "call, letter, sms, system, text").
    fn note_type(self) -> &'static str {
        match self {
            NoteCase::Text => "text",
            NoteCase::CallIn | NoteCase::CallOut => "call",
            NoteCase::SmsIn | NoteCase::SmsOut => "sms",
            NoteCase::EmailIn | NoteCase::EmailOut => "email",
        }
    }

    fn direction(self) -> Option<&'static str> {
        match self {
            NoteCase::Text => None,
            NoteCase::CallIn | NoteCase::SmsIn | NoteCase::EmailIn => Some("incoming"),
            NoteCase::CallOut | NoteCase::SmsOut | NoteCase::EmailOut => Some("outgoing"),
        }
    }

    /// The conditions only this note meets: its direction, and a call's status and duration, an
    /// SMS's text or an email's subject (the manual: "By calls: type of call, call duration in
    /// seconds, call status").
    fn conditions(self) -> Vec<Value> {
        let mut conditions: Vec<Value> = self
            .direction()
            .map(|d| condition("event.direction", "equals", d))
            .into_iter()
            .collect();
        match self {
            NoteCase::Text => {
                conditions.push(condition("event.note_text", "equals", "Spoke at the fair"))
            }
            NoteCase::CallIn => {
                conditions.push(condition("event.call_status", "equals", "held"));
                conditions.push(condition("event.call_duration", "greater", "60"));
            }
            NoteCase::CallOut => {
                conditions.push(condition("event.call_status", "equals", "no_answer"));
                conditions.push(condition("event.call_duration", "equals", "0"));
            }
            NoteCase::SmsIn => {
                conditions.push(condition("event.note_text", "equals", "Is it in stock?"))
            }
            NoteCase::SmsOut => {
                conditions.push(condition("event.note_text", "equals", "Yes, 3 left"))
            }
            NoteCase::EmailIn => {
                conditions.push(condition("event.email_subject", "equals", "Order 17"))
            }
            NoteCase::EmailOut => {
                conditions.push(condition("event.email_subject", "equals", "Re: Order 17"))
            }
        }
        conditions
    }

    /// Files the note on the entity as Kommo would: through the notes API, or (email, which the
    /// API cannot create) through the emulator's mail integration.
    fn file(self, stack: &Stack, kind: Kind, entity_id: i64) {
        let (note_type, params) = match self {
            NoteCase::Text => ("common", json!({"text": "Spoke at the fair"})),
            NoteCase::CallIn => (
                "call_in",
                json!({"uniq": "call-in-1", "duration": 95, "source": "telephony",
                       "phone": "+4930555111", "call_status": 4}),
            ),
            NoteCase::CallOut => (
                "call_out",
                json!({"uniq": "call-out-1", "duration": 0, "source": "telephony",
                       "phone": "+4930555111", "call_status": 6}),
            ),
            NoteCase::SmsIn => (
                "sms_in",
                json!({"text": "Is it in stock?", "phone": "+4930555111"}),
            ),
            NoteCase::SmsOut => (
                "sms_out",
                json!({"text": "Yes, 3 left", "phone": "+4930555111"}),
            ),
            NoteCase::EmailIn | NoteCase::EmailOut => {
                let income = matches!(self, NoteCase::EmailIn);
                let subject = if income { "Order 17" } else { "Re: Order 17" };
                stack
                    .emulator()
                    .receive_email(
                        SUBDOMAIN,
                        kind.plural(),
                        entity_id,
                        income,
                        subject,
                        "About the order",
                    )
                    .expect("the email is filed");
                return;
            }
        };
        stack.kommo_call(
            "POST",
            &format!("/api/v4/{}/notes", kind.plural()),
            Some(json!([{"entity_id": entity_id, "note_type": note_type, "params": params}])),
        );
    }
}

/// One event kind of the manual.
#[derive(Debug, Clone, Copy)]
enum Row {
    Added(Kind),
    Updated(Kind),
    ResponsibleChanged(Kind),
    TaskAdded,
    TaskUpdated,
    TaskResponsibleChanged,
    Note(Kind, NoteCase),
    IncomingMessage,
    DigitalPipeline,
    Salesbot,
    /// A card's button: a launch on one entity.
    Card(Kind),
    /// A list's bulk run: a launch on several entities.
    List(Kind),
    RuleToRule,
    Link(Kind),
    InboundWebhook,
}

impl Row {
    /// Every row.
    fn table() -> Vec<Row> {
        let mut rows = Vec::new();
        for kind in Kind::ALL {
            rows.extend([
                Row::Added(kind),
                Row::Updated(kind),
                Row::ResponsibleChanged(kind),
            ]);
        }
        rows.extend([
            Row::TaskAdded,
            Row::TaskUpdated,
            Row::TaskResponsibleChanged,
        ]);
        for kind in Kind::ALL {
            rows.extend(NoteCase::ALL.map(|case| Row::Note(kind, case)));
        }
        rows.extend([Row::IncomingMessage, Row::DigitalPipeline, Row::Salesbot]);
        for kind in Kind::ALL {
            rows.extend([Row::Card(kind), Row::List(kind)]);
        }
        rows.push(Row::RuleToRule);
        rows.extend(Kind::ALL.map(Row::Link));
        rows.push(Row::InboundWebhook);
        rows
    }

    /// The row's name: its entities' name, and the note its rule adds says it.
    fn name(self) -> String {
        match self {
            Row::Added(k) => format!("{} added", k.singular()),
            Row::Updated(k) => format!("{} updated", k.singular()),
            Row::ResponsibleChanged(k) => format!("{} responsible changed", k.singular()),
            Row::TaskAdded => "task added".into(),
            Row::TaskUpdated => "task updated".into(),
            Row::TaskResponsibleChanged => "task responsible changed".into(),
            Row::Note(k, case) => format!("{} note in {}", case.label(), k.singular()),
            Row::IncomingMessage => "incoming message".into(),
            Row::DigitalPipeline => "digital pipeline".into(),
            Row::Salesbot => "salesbot".into(),
            Row::Card(k) => format!("{} card", k.singular()),
            Row::List(k) => format!("{} list", k.singular()),
            Row::RuleToRule => "rule to rule".into(),
            Row::Link(k) => format!("{} link", k.singular()),
            Row::InboundWebhook => "inbound webhook".into(),
        }
    }
}

fn condition(path: &str, op: &str, literal: &str) -> Value {
    json!({"left": {"path": path}, "op": {"is": op}, "right": {"literal": literal}})
}

/// A rule whose one block, when `conditions` hold, adds the note `ran: <name>` to `entity`.
fn rule_body(name: &str, trigger: Value, conditions: Vec<Value>, entity: Kind) -> Value {
    json!({
        "schema_version": 3,
        "name": name,
        "trigger": trigger,
        "blocks": [{"id": 1, "name": "mark", "conditions": conditions, "actions": [
            {"do": {"type": "add_note", "entity": entity.singular(), "text": format!("ran: {name}")}}]}]
    })
}

/// A manual rule on `kind` that marks the entities named `name`.
fn manual_rule(name: &str, kind: Kind) -> Value {
    rule_body(
        name,
        json!({"kind": "manual", "entity": kind.singular()}),
        vec![named(kind, name)],
        kind,
    )
}

/// The condition "the entity is the row's": its name is the row's name.
fn named(kind: Kind, name: &str) -> Value {
    condition(&format!("{}.name", kind.singular()), "equals", name)
}

/// What a row expects: the rule's completed run on each entity (type, id), and its note on each
/// entity (plural, id).
struct Expect {
    rule: i64,
    runs: Vec<(&'static str, i64)>,
    notes: Vec<i64>,
}

/// The rows' shared state: the entities several rows file notes on.
#[derive(Default)]
struct Shared {
    note_entities: BTreeMap<Kind, i64>,
}

const BOT: i64 = 900;
const DP_STAGE: i64 = 13;

/// Subscribes the backend to every event production subscribes (the stack's list lacks some,
/// such as `responsible_company`).
fn subscribe_as_production(stack: &Stack) {
    stack.kommo_call(
        "POST",
        "/api/v4/webhooks",
        Some(json!({"destination": stack.hook_url, "settings": WEBHOOK_EVENTS})),
    );
}

async fn every_event_kind_of_the_manual_starts_its_rule(database: Database) {
    let stack = Stack::start(database, default_seed()).await;
    subscribe_as_production(&stack);
    let mut shared = Shared::default();
    let mut failures = Vec::new();
    let rows = Row::table();
    for row in &rows {
        if let Err(why) = run_row(&stack, &mut shared, *row).await {
            failures.push(format!("{}: {why}", row.name()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

/// Arranges a row, fires its event, and checks that its rule ran.
async fn run_row(stack: &Stack, shared: &mut Shared, row: Row) -> Result<(), String> {
    // A person acts a while after the last row's rule wrote: past the time the backend counts
    // an entity's change as caused by its own write (the loop guard's chain).
    let quiet = stack.app.settings.engine_write_mark_ttl_s + 1;
    stack.advance(std::time::Duration::from_secs(quiet));
    let expect = fire(stack, shared, row).await?;
    stack.settle().await;
    check(stack, row, &expect).await
}

async fn save(stack: &Stack, name: &str, body: Value) -> i64 {
    let parsed = domain::rule::Rule::from_json(&body.to_string()).expect("the rule parses");
    let problems = domain::validate::validate_limits(&parsed);
    assert!(problems.is_empty(), "{name}: {problems:?}");
    stack.rule(name, body).await
}

fn create(stack: &Stack, kind: Kind, name: &str) -> i64 {
    stack.create(
        kind.plural(),
        json!({"name": name, "responsible_user_id": 101}),
    )
}

fn create_task(stack: &Stack, text: &str, lead: i64) -> i64 {
    let body = stack.kommo_call(
        "POST",
        "/api/v4/tasks",
        Some(
            json!([{"text": text, "complete_till": START_MS / 1000 + 3600, "entity_id": lead,
                     "entity_type": "leads", "task_type_id": 1, "responsible_user_id": 101}]),
        ),
    );
    body["_embedded"]["tasks"][0]["id"]
        .as_i64()
        .expect("created task id")
}

async fn launch(stack: &Stack, rule: i64, kind: Kind, ids: &[i64]) -> Result<(), String> {
    let (status, body) = stack
        .api(
            "POST",
            &format!("/api/v1/rules/{rule}/run"),
            Some(json!({"entity_type": kind.plural(), "entity_ids": ids})),
        )
        .await;
    if status == 202 {
        Ok(())
    } else {
        Err(format!("the launch answered {status}: {body}"))
    }
}

/// Saves the row's rule, arranges its entities, and makes its event happen.
async fn fire(stack: &Stack, shared: &mut Shared, row: Row) -> Result<Expect, String> {
    let name = row.name();
    let name = name.as_str();
    let on = |kind: Kind, id: i64| (kind.singular(), id);
    Ok(match row {
        Row::Added(kind) => {
            let rule = save(
                stack,
                name,
                rule_body(
                    name,
                    json!({"kind": "entity_added", "entity": kind.singular()}),
                    vec![named(kind, name)],
                    kind,
                ),
            )
            .await;
            let id = create(stack, kind, name);
            Expect {
                rule,
                runs: vec![on(kind, id)],
                notes: vec![id],
            }
        }
        Row::Updated(kind) => {
            let id = create(stack, kind, &format!("draft of {name}"));
            stack.settle().await;
            let rule = save(
                stack,
                name,
                rule_body(
                    name,
                    json!({"kind": "entity_updated", "entity": kind.singular()}),
                    vec![named(kind, name)],
                    kind,
                ),
            )
            .await;
            stack.kommo_call(
                "PATCH",
                &format!("/api/v4/{}", kind.plural()),
                Some(json!([{"id": id, "name": name}])),
            );
            Expect {
                rule,
                runs: vec![on(kind, id)],
                notes: vec![id],
            }
        }
        Row::ResponsibleChanged(kind) => {
            let id = create(stack, kind, name);
            stack.settle().await;
            let rule = save(
                stack,
                name,
                rule_body(
                    name,
                    json!({"kind": "responsible_changed", "entity": kind.singular()}),
                    vec![
                        named(kind, name),
                        condition("event.old_responsible_user_id", "equals", "101"),
                    ],
                    kind,
                ),
            )
            .await;
            stack.kommo_call(
                "PATCH",
                &format!("/api/v4/{}", kind.plural()),
                Some(json!([{"id": id, "responsible_user_id": 102}])),
            );
            Expect {
                rule,
                runs: vec![on(kind, id)],
                notes: vec![id],
            }
        }
        Row::TaskAdded | Row::TaskUpdated | Row::TaskResponsibleChanged => {
            let lead = create(stack, Kind::Lead, name);
            stack.settle().await;
            let trigger = match row {
                Row::TaskAdded => "entity_added",
                Row::TaskUpdated => "entity_updated",
                _ => "responsible_changed",
            };
            let rule = save(
                stack,
                name,
                rule_body(
                    name,
                    json!({"kind": trigger, "entity": "task"}),
                    vec![condition("task.text", "equals", name)],
                    Kind::Lead,
                ),
            )
            .await;
            let task = if matches!(row, Row::TaskAdded) {
                create_task(stack, name, lead)
            } else {
                // The rule is saved after the task exists, so only the change starts it.
                let task = create_task(stack, name, lead);
                let change = if matches!(row, Row::TaskUpdated) {
                    json!({"id": task, "complete_till": START_MS / 1000 + 7200})
                } else {
                    json!({"id": task, "responsible_user_id": 102})
                };
                stack.settle().await;
                stack.kommo_call("PATCH", "/api/v4/tasks", Some(json!([change])));
                task
            };
            Expect {
                rule,
                runs: vec![("task", task)],
                notes: vec![lead],
            }
        }
        Row::Note(kind, case) => {
            // The notes of one entity type land on one entity: the trigger's note-type filter and
            // each rule's conditions tell them apart.
            let entity_name = format!("notes in {}", kind.singular());
            let id = match shared.note_entities.get(&kind) {
                Some(id) => *id,
                None => {
                    let id = create(stack, kind, &entity_name);
                    stack.settle().await;
                    shared.note_entities.insert(kind, id);
                    id
                }
            };
            let mut conditions = vec![named(kind, &entity_name)];
            conditions.extend(case.conditions());
            let rule = save(
                stack,
                name,
                rule_body(
                    name,
                    json!({"kind": "note_added", "entity": kind.singular(),
                           "note_types": [case.note_type()]}),
                    conditions,
                    kind,
                ),
            )
            .await;
            case.file(stack, kind, id);
            Expect {
                rule,
                runs: vec![on(kind, id)],
                notes: vec![id],
            }
        }
        Row::IncomingMessage => {
            let contact = create(stack, Kind::Contact, "Client of the chat");
            let lead = stack.create(
                "leads",
                json!({"name": name, "_embedded": {"contacts": [{"id": contact, "is_main": true}]}}),
            );
            stack.settle().await;
            let rule = save(
                stack,
                name,
                rule_body(
                    name,
                    json!({"kind": "incoming_message", "channels": ["whatsapp"]}),
                    vec![
                        named(Kind::Lead, name),
                        condition("event.message_text", "equals", "Do you ship to Lisbon?"),
                        condition("event.channel", "equals", "whatsapp"),
                    ],
                    Kind::Lead,
                ),
            )
            .await;
            stack
                .emulator()
                .chat_message(
                    SUBDOMAIN,
                    &kommo_emulator::ChatMessageRequest {
                        lead_id: Some(lead),
                        author_name: "Client of the chat".into(),
                        text: "Do you ship to Lisbon?".into(),
                        origin: "whatsapp".into(),
                        outgoing: false,
                        ..Default::default()
                    },
                )
                .map_err(|e| format!("the message was refused: {e}"))?;
            Expect {
                rule,
                runs: vec![on(Kind::Lead, lead)],
                notes: vec![lead],
            }
        }
        Row::DigitalPipeline => {
            let rule = save(stack, name, manual_rule(name, Kind::Lead)).await;
            let key = digital_pipeline::key_of_rule(&stack.app.db, ACCOUNT_ID, rule)
                .await
                .expect("dp key");
            // An admin adds our widget's action on a stage, with the rule's key in its settings.
            let action: kommo_emulator::seed::DpActionSeed = serde_json::from_value(json!({
                "pipeline_id": 10, "status_id": DP_STAGE,
                "webhook_url": format!("{}/hooks/dp", stack.backend_url),
                "settings": {"rule_id": key}}))
            .expect("dp action");
            stack
                .emulator()
                .save_dp_action(SUBDOMAIN, &action)
                .expect("save the pipeline");
            let lead = stack.create(
                "leads",
                json!({"name": name, "pipeline_id": 10, "status_id": 11}),
            );
            stack.settle().await;
            stack.kommo_call(
                "PATCH",
                "/api/v4/leads",
                Some(json!([{"id": lead, "status_id": DP_STAGE}])),
            );
            Expect {
                rule,
                runs: vec![on(Kind::Lead, lead)],
                notes: vec![lead],
            }
        }
        Row::Salesbot => {
            let rule = save(stack, name, manual_rule(name, Kind::Lead)).await;
            let step: kommo_emulator::model::WidgetRequestStep = serde_json::from_value(json!({
                "url": format!("{}/hooks/salesbot", stack.backend_url),
                "data": {"rule_id": rule.to_string()}
            }))
            .expect("a step");
            stack
                .emulator()
                .save_bot(SUBDOMAIN, BOT, "Ask Rulebook", step)
                .expect("save the bot");
            let lead = create(stack, Kind::Lead, name);
            stack.settle().await;
            let continue_id = stack
                .emulator()
                .run_bot(SUBDOMAIN, BOT, "leads", lead, Some(CLIENT_ID))
                .map_err(|e| format!("the bot did not run: {e}"))?;
            stack.settle().await;
            let step = stack
                .emulator()
                .bot_steps(SUBDOMAIN)
                .into_iter()
                .find(|s| s.continue_id == continue_id)
                .ok_or("the bot's step was not sent")?;
            if step.status != "continued" {
                return Err(format!("the bot was not continued: {step:?}"));
            }
            if step.continued_data.as_ref().map(|d| &d["status"]) != Some(&json!("done")) {
                return Err(format!("the bot was continued without done: {step:?}"));
            }
            Expect {
                rule,
                runs: vec![on(Kind::Lead, lead)],
                notes: vec![lead],
            }
        }
        Row::Card(kind) | Row::List(kind) => {
            let count = if matches!(row, Row::Card(_)) { 1 } else { 3 };
            let ids: Vec<i64> = (0..count).map(|_| create(stack, kind, name)).collect();
            stack.settle().await;
            let rule = save(stack, name, manual_rule(name, kind)).await;
            launch(stack, rule, kind, &ids).await?;
            Expect {
                rule,
                runs: ids.iter().map(|id| on(kind, *id)).collect(),
                notes: ids,
            }
        }
        Row::RuleToRule => {
            let lead = create(stack, Kind::Lead, name);
            stack.settle().await;
            let child = save(stack, name, manual_rule(name, Kind::Lead)).await;
            let parent_name = format!("{name} (caller)");
            let parent = save(
                stack,
                &parent_name,
                json!({"schema_version": 3, "name": parent_name,
                       "trigger": {"kind": "manual", "entity": "lead"},
                       "blocks": [{"actions": [
                           {"do": {"type": "execute_rule", "entity": "lead", "rule_id": child}}]}]}),
            )
            .await;
            launch(stack, parent, Kind::Lead, &[lead]).await?;
            Expect {
                rule: child,
                runs: vec![on(Kind::Lead, lead)],
                notes: vec![lead],
            }
        }
        Row::Link(kind) => {
            let id = create(stack, kind, name);
            stack.settle().await;
            let rule = save(stack, name, manual_rule(name, kind)).await;
            let link = trigger_links::create_link(
                &stack.app.db,
                ACCOUNT_ID,
                rule,
                &NewTriggerLink {
                    name: Some(name.into()),
                    target_url: Some("https://example.com/offer".into()),
                    entity: None,
                },
                stack.clock_ms(),
            )
            .await
            .expect("link");
            // The URL `{tglink:N}` writes for this entity, as a client follows it.
            let url = LinkKeys::load(&stack.app.db, ACCOUNT_ID, &stack.backend_url)
                .await
                .expect("link keys")
                .url(link.id, Some((kind.plural(), id)))
                .ok_or("no URL for the link")?;
            let followed = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client")
                .get(&url)
                .send()
                .await
                .map_err(|e| format!("following {url}: {e}"))?;
            if followed.status() != 303 {
                return Err(format!("following {url} answered {}", followed.status()));
            }
            Expect {
                rule,
                runs: vec![on(kind, id)],
                notes: vec![id],
            }
        }
        Row::InboundWebhook => {
            let lead = create(stack, Kind::Lead, name);
            stack.settle().await;
            let rule = save(
                stack,
                name,
                rule_body(
                    name,
                    json!({"kind": "inbound_webhook", "hook_id": "crm", "search": {
                        "entity": "lead", "by": [{"field": "id", "value": "{lead_id}"}]}}),
                    vec![
                        json!({"left": {"path": "event.entity_found"}, "op": {"is": "is_true"}}),
                        named(Kind::Lead, name),
                    ],
                    Kind::Lead,
                ),
            )
            .await;
            let url = stack.inbound_hook_url(rule).await;
            let lead_id = lead.to_string();
            let status = reqwest::Client::new()
                .post(&url)
                .form(&[("lead_id", lead_id.as_str()), ("source", "site")])
                .send()
                .await
                .map_err(|e| format!("posting the form: {e}"))?
                .status();
            if status != 200 {
                return Err(format!("the inbound webhook answered {status}"));
            }
            Expect {
                rule,
                runs: vec![on(Kind::Lead, lead)],
                notes: vec![lead],
            }
        }
    })
}

/// The rule completed one run on each expected entity, and its note is on each entity once.
async fn check(stack: &Stack, row: Row, expect: &Expect) -> Result<(), String> {
    let log = stack.log(expect.rule).await;
    let summary = || {
        log.iter()
            .map(|e| {
                format!(
                    "{:?} on {} {}: {}",
                    e.outcome,
                    e.trace["event"]["entity"]["type"],
                    e.trace["event"]["entity"]["id"],
                    e.trace["trace"]["blocks"][0]["status"]
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    for (entity_type, id) in &expect.runs {
        let completed = log
            .iter()
            .filter(|e| {
                e.outcome == ExecutionOutcome::Ok
                    && e.trace["event"]["entity"]["type"] == *entity_type
                    && e.trace["event"]["entity"]["id"] == *id
                    && e.trace["trace"]["blocks"][0]["status"] == "completed"
            })
            .count();
        if completed != 1 {
            return Err(format!(
                "{completed} completed runs on {entity_type} {id}; the log: [{}]",
                summary()
            ));
        }
    }
    let marker = format!("ran: {}", row.name());
    for id in &expect.notes {
        let notes = stack.notes_of(*id);
        let count = notes
            .iter()
            .filter(|n| n["params"]["text"] == marker.as_str())
            .count();
        if count != 1 {
            return Err(format!(
                "{count} notes {marker:?} on {id}; its notes: {notes:?}; the log: [{}]",
                summary()
            ));
        }
    }
    match row {
        // The trigger's note-type filter: the rule ran only for notes of its type.
        Row::Note(_, case) => {
            let others: Vec<&Value> = log
                .iter()
                .map(|e| &e.trace["event"]["kind"]["note"]["note_type"])
                .filter(|t| **t != case.note_type())
                .collect();
            if !others.is_empty() {
                return Err(format!("the rule ran for notes of types {others:?}"));
            }
        }
        Row::RuleToRule if log[0].trace["event"]["kind"]["kind"] != "rule_call" => {
            return Err(format!(
                "the called rule's event: {}",
                log[0].trace["event"]
            ));
        }
        _ => {}
    }
    Ok(())
}
