//! Rules run from a Salesbot's `widget_request` step and from digital-pipeline actions, end to
//! end: the emulator plays Kommo (a bot whose step POSTs to `/hooks/salesbot` with its HS512 token,
//! the continue endpoint that logs what the bot was continued with; a pipeline stage whose widget
//! action names a rule), the backend runs the rule on the bot's lead or contact and continues the
//! bot once with the outcome, or says in the rule's log why a misconfigured action did not run.
//! Also the account's working hours (a Rulebook setting: Kommo's API does not expose them) as the
//! condition "inside working hours / day off", with the clock moved inside and outside them.
//! Every test runs on SQLite and on PostgreSQL.

use rulebook::{
    ingest::digital_pipeline,
    store::{execution_log::ExecutionOutcome, rules},
};
use rulebook_e2e::{
    on_both_databases,
    stack::{default_seed, manual, Database, Stack, ACCOUNT_ID, CLIENT_ID, SUBDOMAIN},
};
use serde_json::{json, Value};

on_both_databases!(
    a_salesbot_step_runs_its_rule_and_the_bot_continues_once_with_the_outcome,
    a_misconfigured_salesbot_step_continues_the_bot_with_an_error,
    a_salesbot_request_without_a_valid_token_runs_nothing,
    a_misconfigured_dp_action_fails_with_a_note_in_the_debugger,
    the_working_hours_condition_reads_the_accounts_hours_at_the_injected_time,
);

const BOT: i64 = 900;

fn note(text: &str) -> Value {
    json!([{"do": {"type": "add_note", "entity": "lead", "text": text}}])
}

/// An admin saves bot `bot_id` whose widget step names `rule` (as the widget's Salesbot designer
/// saves it: `url: "<backend>/hooks/salesbot"`, `data: {rule_id: "<id>"}`).
fn save_bot(stack: &Stack, bot_id: i64, rule: &str) {
    let step: kommo_emulator::model::WidgetRequestStep = serde_json::from_value(json!({
        "url": format!("{}/hooks/salesbot", stack.backend_url),
        "data": {"rule_id": rule}
    }))
    .expect("a step");
    stack
        .emulator()
        .save_bot(SUBDOMAIN, bot_id, "Ask Rulebook", step)
        .expect("save the bot");
}

/// Runs the bot on an entity and lets everything settle; returns the step's continue id.
async fn run_bot(stack: &Stack, bot_id: i64, entity_type: &str, entity_id: i64) -> i64 {
    let continue_id = stack
        .emulator()
        .run_bot(SUBDOMAIN, bot_id, entity_type, entity_id, Some(CLIENT_ID))
        .expect("the bot runs");
    stack.settle().await;
    continue_id
}

/// The bot step with this continue id, as the emulator logged it.
fn step(stack: &Stack, continue_id: i64) -> kommo_emulator::model::BotStep {
    stack
        .emulator()
        .bot_steps(SUBDOMAIN)
        .into_iter()
        .find(|s| s.continue_id == continue_id)
        .expect("the step was sent")
}

/// The statuses the backend answered the emulator's widget requests with.
fn widget_request_answers(stack: &Stack) -> Vec<Option<u16>> {
    stack
        .emulator()
        .deliveries()
        .iter()
        .filter(|d| d.event == "widget_request")
        .flat_map(|d| d.attempts.iter().map(|a| a.status))
        .collect()
}

fn note_texts(stack: &Stack, entity_id: i64) -> Vec<String> {
    stack
        .notes_of(entity_id)
        .iter()
        .filter_map(|n| n["params"]["text"].as_str().map(str::to_owned))
        .collect()
}

async fn a_salesbot_step_runs_its_rule_and_the_bot_continues_once_with_the_outcome(
    database: Database,
) {
    let stack = Stack::start(database, default_seed()).await;
    let rule = stack
        .rule(
            "Bot asks",
            json!({"schema_version": 2, "name": "Bot asks", "trigger": {"kind": "manual", "entity": "lead"},
                   "blocks": [{"conditions": [{"left": {"path": "lead.price"}, "op": {"is": "greater"}, "right": {"literal": "100"}}],
                               "actions": note("Asked by the bot about {{lead.name}}")}]}),
        )
        .await;
    save_bot(&stack, BOT, &rule.to_string());
    let big = stack.create("leads", json!({"name": "Big deal", "price": 5000}));
    let small = stack.create("leads", json!({"name": "Small deal", "price": 10}));
    stack.settle().await;

    let first = run_bot(&stack, BOT, "leads", big).await;
    assert_eq!(
        note_texts(&stack, big),
        vec!["Asked by the bot about Big deal"]
    );
    let continued = step(&stack, first);
    assert_eq!(continued.status, "continued");
    assert_eq!(
        continued.continued_data,
        Some(json!({"status": "done", "rule_id": rule.to_string()})),
        "later steps read {{{{json.status}}}}"
    );

    // Conditions that do not hold: the rule did nothing, and the bot hears why.
    let second = run_bot(&stack, BOT, "leads", small).await;
    assert!(note_texts(&stack, small).is_empty());
    let skipped = step(&stack, second).continued_data.expect("continued");
    assert_eq!(skipped["status"], "skipped");
    assert_eq!(skipped["reason"], "did_not_match");

    // Kommo delivering the same step again changes nothing: no second run, no second continue.
    let delivery = stack
        .emulator()
        .deliveries()
        .into_iter()
        .find(|d| d.event == "widget_request")
        .expect("a widget request");
    let again = reqwest::Client::new()
        .post(&delivery.url)
        .header("Content-Type", "application/json")
        .body(delivery.body.clone())
        .send()
        .await
        .expect("the backend answers");
    assert_eq!(again.status().as_u16(), 200);
    let answer: Value = again.json().await.expect("json");
    assert_eq!(answer["status"], "duplicate");
    stack.settle().await;
    assert_eq!(note_texts(&stack, big).len(), 1);
    for s in stack.emulator().bot_steps(SUBDOMAIN) {
        assert_eq!(s.refused_continues, 0, "a bot was continued twice: {s:?}");
    }
    assert_eq!(widget_request_answers(&stack), vec![Some(200), Some(200)]);

    let log = stack.log(rule).await;
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log.iter().all(|e| e.outcome == ExecutionOutcome::Ok),
        "{log:?}"
    );
    let ran = log
        .iter()
        .find(|e| e.trace["event"]["entity"]["id"] == big)
        .expect("the run on the big deal");
    assert_eq!(ran.trace["source"], "salesbot");
    let continue_result = ran.trace["actions"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["kind"] == "continue_salesbot"))
        .expect("the continue is in the run's trace");
    assert_eq!(continue_result["status"], "ok");
    // The continue went to the account's Kommo, once per step.
    let continues = stack
        .emulator()
        .request_log()
        .into_iter()
        .filter(|r| r.path.contains("/continue/"))
        .count();
    assert_eq!(continues, 2);
}

async fn a_misconfigured_salesbot_step_continues_the_bot_with_an_error(database: Database) {
    let stack = Stack::start(database, default_seed()).await;
    let disabled = stack.rule("Disabled", manual("Disabled", note("x"))).await;
    rules::set_enabled(&stack.app.db, ACCOUNT_ID, disabled, false, stack.clock_ms())
        .await
        .expect("disable");
    let deleted = stack.rule("Deleted", manual("Deleted", note("x"))).await;
    rules::delete(&stack.app.db, ACCOUNT_ID, deleted)
        .await
        .expect("delete");
    let tagged = stack
        .rule(
            "Tagged",
            json!({"schema_version": 2, "name": "Tagged", "trigger": {"kind": "tag_added", "entity": "lead"},
                   "blocks": [{"actions": note("x")}]}),
        )
        .await;
    let on_contacts = stack
        .rule(
            "On contacts",
            json!({"schema_version": 2, "name": "On contacts", "trigger": {"kind": "manual", "entity": "contact"},
                   "blocks": [{"actions": [{"do": {"type": "add_note", "entity": "contact", "text": "Contact asked"}}]}]}),
        )
        .await;
    let lead = stack.create("leads", json!({"name": "Lead"}));
    let contact = stack.create("contacts", json!({"name": "Client"}));
    stack.settle().await;

    let cases = [
        (BOT, disabled.to_string(), "the rule is disabled"),
        (BOT + 1, deleted.to_string(), "does not exist"),
        (
            BOT + 2,
            tagged.to_string(),
            "this rule's trigger is tag_added",
        ),
        (
            BOT + 3,
            on_contacts.to_string(),
            "the rule runs on contacts",
        ),
        (BOT + 4, "not a rule".to_string(), "names no rule"),
    ];
    for (bot, rule, why) in &cases {
        save_bot(&stack, *bot, rule);
        let continue_id = run_bot(&stack, *bot, "leads", lead).await;
        let data = step(&stack, continue_id)
            .continued_data
            .expect("the bot was continued");
        assert_eq!(data["status"], "error", "{rule}: {data}");
        let reason = data["reason"].as_str().unwrap_or_default();
        assert!(reason.contains(why), "{rule}: {reason:?} lacks {why:?}");
    }
    assert!(
        note_texts(&stack, lead).is_empty(),
        "nothing ran on the lead"
    );
    // The debugger says why, in the rule's own log.
    for rule in [disabled, tagged, on_contacts] {
        let log = stack.log(rule).await;
        assert_eq!(log.len(), 1, "{log:?}");
        assert_eq!(log[0].outcome, ExecutionOutcome::Error);
        assert!(log[0].trace["error"].is_string(), "{:?}", log[0].trace);
    }

    // The contact rule runs when the bot runs on a contact.
    let continue_id = run_bot(&stack, BOT + 3, "contacts", contact).await;
    assert_eq!(note_texts(&stack, contact), vec!["Contact asked"]);
    assert_eq!(
        step(&stack, continue_id).continued_data,
        Some(json!({"status": "done", "rule_id": on_contacts.to_string()}))
    );
}

async fn a_salesbot_request_without_a_valid_token_runs_nothing(database: Database) {
    let stack = Stack::start(database, default_seed()).await;
    let rule = stack
        .rule("Bot asks", manual("Bot asks", note("ran")))
        .await;
    let lead = stack.create("leads", json!({"name": "Lead"}));
    stack.settle().await;
    let url = format!("{}/hooks/salesbot", stack.backend_url);
    let now = stack.clock_ms() / 1000;
    let sign = |claims: Value, alg: jsonwebtoken::Algorithm, secret: &str| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(alg),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("sign")
    };
    let claims = |client: &str, exp: i64| {
        json!({"iss": "https://acme.kommo.com", "subdomain": SUBDOMAIN, "account_id": ACCOUNT_ID,
               "client_uuid": client, "entity_id": lead, "entity_type": "leads", "bot_type": "salesbot", "exp": exp})
    };
    let secret = rulebook_e2e::stack::CLIENT_SECRET;
    let body = |token: &str| {
        json!({"token": token, "data": {"rule_id": rule.to_string()},
               "return_url": format!("https://acme.kommo.com/api/v4/salesbot/{BOT}/continue/77")})
        .to_string()
    };
    let post = |body: String| {
        let url = url.clone();
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .await
                .expect("the backend answers");
            let status = response.status().as_u16();
            let problem: Value = response.json().await.unwrap_or(Value::Null);
            (
                status,
                problem["code"].as_str().unwrap_or_default().to_owned(),
            )
        }
    };
    use jsonwebtoken::Algorithm::{HS256, HS512};
    for (what, token) in [
        (
            "another secret",
            sign(claims(CLIENT_ID, now + 600), HS512, "forged"),
        ),
        ("HS256", sign(claims(CLIENT_ID, now + 600), HS256, secret)),
        ("expired", sign(claims(CLIENT_ID, now - 60), HS512, secret)),
        (
            "another integration",
            sign(claims("someone-else", now + 600), HS512, secret),
        ),
    ] {
        assert_eq!(
            post(body(&token)).await,
            (401, "bot_token_invalid".to_owned()),
            "{what}"
        );
    }
    let valid = sign(claims(CLIENT_ID, now + 600), HS512, secret);
    let no_step = json!({"token": valid, "data": {"rule_id": rule.to_string()}}).to_string();
    assert_eq!(
        post(no_step).await,
        (400, "salesbot_request_invalid".to_owned())
    );
    let other_account = sign(
        json!({"account_id": 99, "client_uuid": CLIENT_ID, "entity_id": lead, "entity_type": "leads", "exp": now + 600}),
        HS512,
        secret,
    );
    assert_eq!(
        post(body(&other_account)).await,
        (409, "not_connected".to_owned())
    );
    stack.settle().await;
    assert!(note_texts(&stack, lead).is_empty());
    assert!(stack.log(rule).await.is_empty());
}

/// The DP key the widget writes for a rule.
async fn dp_key(stack: &Stack, rule: i64) -> String {
    digital_pipeline::key_of_rule(&stack.app.db, ACCOUNT_ID, rule)
        .await
        .expect("dp key")
}

async fn a_misconfigured_dp_action_fails_with_a_note_in_the_debugger(database: Database) {
    let stack = Stack::start(database, default_seed()).await;
    let tagged = stack
        .rule(
            "Tagged",
            json!({"schema_version": 2, "name": "Tagged", "trigger": {"kind": "tag_added", "entity": "lead"},
                   "blocks": [{"actions": note("tagged")}]}),
        )
        .await;
    let disabled = stack
        .rule("Disabled", manual("Disabled", note("disabled")))
        .await;
    let deleted = stack
        .rule("Deleted", manual("Deleted", note("deleted")))
        .await;
    let updated = stack
        .rule(
            "Lead updated",
            json!({"schema_version": 2, "name": "Lead updated", "trigger": {"kind": "entity_updated", "entity": "lead"},
                   "blocks": [{"actions": note("updated rule ran")}]}),
        )
        .await;
    for (status, rule) in [(12, tagged), (12, disabled), (12, deleted), (13, updated)] {
        let key = dp_key(&stack, rule).await;
        let action: kommo_emulator::seed::DpActionSeed = serde_json::from_value(json!({
            "pipeline_id": 10, "status_id": status, "webhook_url": format!("{}/hooks/dp", stack.backend_url),
            "settings": {"rule_id": key}}))
        .expect("dp action");
        stack
            .emulator()
            .save_dp_action(SUBDOMAIN, &action)
            .expect("save the pipeline");
    }
    rules::set_enabled(&stack.app.db, ACCOUNT_ID, disabled, false, stack.clock_ms())
        .await
        .expect("disable");
    rules::delete(&stack.app.db, ACCOUNT_ID, deleted)
        .await
        .expect("delete");
    // The "lead updated" rule runs for Kommo's webhooks too; its DP runs are told by their source.
    let lead = stack.create(
        "leads",
        json!({"name": "Lead", "pipeline_id": 10, "status_id": 11}),
    );
    stack.settle().await;
    let updated_runs_before = stack.log(updated).await.len();
    stack.kommo_call(
        "PATCH",
        "/api/v4/leads",
        Some(json!([{"id": lead, "status_id": 12}])),
    );
    stack.settle().await;
    assert!(
        !note_texts(&stack, lead)
            .iter()
            .any(|t| t == "tagged" || t == "disabled"),
        "{:?}",
        note_texts(&stack, lead)
    );
    for (rule, why) in [
        (tagged, "a digital-pipeline stage runs only lead added or updated rules and manual rules on leads; this rule's trigger is tag_added"),
        (disabled, "the rule is disabled"),
    ] {
        let log = stack.log(rule).await;
        assert_eq!(log.len(), 1, "{log:?}");
        assert_eq!(log[0].outcome, ExecutionOutcome::Error);
        assert_eq!(log[0].trace["source"], "dp");
        let error = log[0].trace["error"].as_str().unwrap_or_default();
        assert!(error.contains(why), "{error:?} lacks {why:?}");
    }
    // A deleted rule's entry stays with the lead's runs ("why not" per entity).
    let (status, runs) = stack
        .api("GET", &format!("/api/v1/entities/leads/{lead}/runs"), None)
        .await;
    assert_eq!(status, 200, "{runs}");
    assert!(
        runs.to_string().contains("does not exist"),
        "the lead's runs say the rule was deleted: {runs}"
    );

    // A "lead updated" rule is one a stage may run.
    stack.kommo_call(
        "PATCH",
        "/api/v4/leads",
        Some(json!([{"id": lead, "status_id": 13}])),
    );
    stack.settle().await;
    let runs = stack.log(updated).await;
    let from_dp: Vec<_> = runs.iter().filter(|e| e.trace["source"] == "dp").collect();
    assert_eq!(from_dp.len(), 1, "{runs:?}");
    assert_eq!(from_dp[0].outcome, ExecutionOutcome::Ok);
    assert!(runs.len() > updated_runs_before);
}

async fn the_working_hours_condition_reads_the_accounts_hours_at_the_injected_time(
    database: Database,
) {
    let stack = Stack::start(database, default_seed()).await;
    stack
        .rule(
            "Office hours",
            json!({"schema_version": 2, "name": "Office hours", "trigger": {"kind": "entity_added", "entity": "lead"},
                   "blocks": [{"conditions": [{"left": {"path": "date.working_hours"}, "op": {"is": "is_true"}}],
                               "actions": note("inside working hours")}],
                   "else_scenario": {"actions": note("day off")}}),
        )
        .await;
    let lead_now = |name: &str| stack.create("leads", json!({"name": name}));

    // No hours saved: every moment is outside them.
    let (status, settings) = stack.api("GET", "/api/v1/account/settings", None).await;
    assert_eq!(
        (status, settings),
        (200, json!({"working_hours": {"intervals": []}}))
    );
    let before = lead_now("Before the hours were set");
    stack.settle().await;
    assert_eq!(note_texts(&stack, before), vec!["day off"]);

    // Monday to Friday, 09:00 to 18:00 in the account's timezone (Europe/Berlin).
    let days = ["mon", "tue", "wed", "thu", "fri"];
    let hours = json!({"working_hours": {"intervals": days.iter().map(|d| json!({"day": d, "from": "09:00:00", "to": "18:00:00"})).collect::<Vec<_>>()}});
    let (status, saved) = stack
        .api("PUT", "/api/v1/account/settings", Some(hours.clone()))
        .await;
    assert_eq!(status, 200, "{saved}");
    let (_, read) = stack.api("GET", "/api/v1/account/settings", None).await;
    assert_eq!(
        read["working_hours"]["intervals"].as_array().map(Vec::len),
        Some(5)
    );
    let (status, problem) = stack
        .api(
            "PUT",
            "/api/v1/account/settings",
            Some(json!({"working_hours": {"intervals": [{"day": "mon", "from": "09:00:00", "to": "09:00:00"}]}})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].clone()),
        (422, json!("invalid")),
        "{problem}"
    );
    // The problem points at its field, so the Settings tab shows it there.
    assert_eq!(
        (
            problem["errors"][0]["path"].clone(),
            problem["errors"][0]["code"].clone()
        ),
        (
            json!("/working_hours/intervals/0/to"),
            json!("empty_interval")
        ),
        "{problem}"
    );

    // 2026-11-23 is a Monday: 13:00 in Berlin is inside.
    let monday = lead_now("Monday 13:00");
    stack.settle().await;
    assert_eq!(note_texts(&stack, monday), vec!["inside working hours"]);
    // 19:30 the same day is outside.
    stack.advance(std::time::Duration::from_secs(6 * 3600 + 1800));
    let evening = lead_now("Monday 19:30");
    stack.settle().await;
    assert_eq!(note_texts(&stack, evening), vec!["day off"]);
    // Saturday 13:00 is a day off.
    stack.advance(std::time::Duration::from_secs(
        4 * 86_400 + 17 * 3600 + 1800,
    ));
    let saturday = lead_now("Saturday 13:00");
    stack.settle().await;
    assert_eq!(note_texts(&stack, saturday), vec!["day off"]);
}
