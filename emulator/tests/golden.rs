//! Golden fixtures: every wire format the emulator accepts or emits is pinned against a sample in
//! `tests/fixtures/`, whose source is written beside it in a `.source` file.

use std::collections::BTreeSet;
use std::path::PathBuf;

use kommo_emulator::{spawn_on_loopback, Emulator, EmulatorConfig};
use serde_json::{json, Value};

const SUB: &str = "example";

fn fixture(name: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let source = dir.join(name).with_extension("source");
    assert!(
        source.exists(),
        "{name} needs a .source file naming where it comes from"
    );
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn json_fixture(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Keys of a form body with list indexes replaced by `N`.
fn form_keys_of_pairs(pairs: impl Iterator<Item = String>) -> BTreeSet<String> {
    pairs
        .map(|key| {
            let mut out = String::new();
            for part in key.split('[') {
                if out.is_empty() && !key.starts_with('[') {
                    out.push_str(part);
                    continue;
                }
                let inner = part.trim_end_matches(']');
                if !inner.is_empty() && inner.chars().all(|c| c.is_ascii_digit()) {
                    out.push_str("[N]");
                } else {
                    out.push('[');
                    out.push_str(part);
                }
            }
            out
        })
        .collect()
}

fn fixture_form_keys(name: &str) -> BTreeSet<String> {
    form_keys_of_pairs(
        fixture(name)
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split_once('=').map(|(k, _)| k).unwrap_or(l).to_owned()),
    )
}

fn body_form_keys(body: &str) -> BTreeSet<String> {
    form_keys_of_pairs(form_urlencoded::parse(body.as_bytes()).map(|(k, _)| k.into_owned()))
}

/// The JSON type of every path in `sample` must be the same in `actual`.
fn assert_shape(sample: &Value, actual: &Value, path: &str) {
    match (sample, actual) {
        (Value::Object(s), Value::Object(a)) => {
            for (key, value) in s {
                let child = a
                    .get(key)
                    .unwrap_or_else(|| panic!("{path}.{key} is missing in {actual}"));
                assert_shape(value, child, &format!("{path}.{key}"));
            }
        }
        (Value::Array(s), Value::Array(a)) => {
            if let (Some(s0), Some(a0)) = (s.first(), a.first()) {
                assert_shape(s0, a0, &format!("{path}[0]"));
            }
        }
        (Value::Null, _) => {}
        (s, a) => assert_eq!(
            std::mem::discriminant(s),
            std::mem::discriminant(a),
            "{path}: {s} vs {a}"
        ),
    }
}

fn seeded() -> Emulator {
    let emulator = Emulator::new(EmulatorConfig::default());
    emulator
        .seed_json(json!({
            "subdomain": SUB, "id": 7039099,
            "users": [{"id": 3, "name": "Ann"}],
            "pipelines": [{"id": 3104, "name": "Sales", "statuses": [{"id": 7039100, "name": "New"}, {"id": 7039101, "name": "Talks"}]}],
            "custom_fields": {"leads": [{"id": 501, "name": "Budget", "type": "numeric"}]},
            "integrations": [{"client_id": "0c82ba13", "client_secret": "s3cret", "redirect_uri": "https://api.example/oauth/callback"}],
            "dp_actions": [{"pipeline_id": 3104, "status_id": 7039101, "webhook_url": "https://api.example/dp", "settings": {"rule_id": "r-42"}}],
            "entities": {"leads": [{"name": "Lead title"}, {"name": "Second"}, {"name": "Third"}]}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
    emulator
}

fn subscribe(emulator: &Emulator, events: &[&str]) {
    let (status, _) = emulator
        .call(
            SUB,
            "POST",
            "v4/webhooks",
            Some(json!({"destination": "https://api.example/hooks", "settings": events})),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, 200);
}

fn lead_ids(emulator: &Emulator) -> Vec<i64> {
    emulator
        .entities(SUB, "leads")
        .iter()
        .filter_map(|l| l["id"].as_i64())
        .collect()
}

fn delivery_body(emulator: &Emulator, event: &str) -> String {
    emulator
        .deliveries()
        .into_iter()
        .find(|d| d.event == event)
        .map(|d| d.body)
        .unwrap_or_else(|| panic!("no {event} delivery in {:?}", emulator.deliveries()))
}

#[test]
fn lead_status_webhook_has_the_documented_keys() {
    let emulator = seeded();
    subscribe(&emulator, &["status_lead"]);
    let id = lead_ids(&emulator)[0];
    let patch = json!([{"id": id, "status_id": 142, "tags_to_add": [{"name": "hot"}], "custom_fields_values": [{"field_id": 501, "values": [{"value": 1500}]}]}]);
    emulator
        .call(SUB, "PATCH", "v4/leads", Some(patch))
        .unwrap_or_else(|e| panic!("{e}"));
    let body = delivery_body(&emulator, "status_lead");
    assert_eq!(
        body_form_keys(&body),
        fixture_form_keys("webhook_lead_status.txt")
    );
}

#[test]
fn company_webhook_arrives_under_contacts_with_its_type() {
    let emulator = seeded();
    subscribe(&emulator, &["add_company"]);
    emulator
        .call(
            SUB,
            "POST",
            "v4/companies",
            Some(json!([{"name": "Acme Ltd"}])),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let body = delivery_body(&emulator, "add_company");
    assert_eq!(
        body_form_keys(&body),
        fixture_form_keys("webhook_company_add.txt")
    );
    assert!(
        body.contains("contacts%5Badd%5D%5B0%5D%5Btype%5D=company"),
        "{body}"
    );
}

#[test]
fn task_webhook_uses_the_singular_section() {
    let emulator = seeded();
    subscribe(&emulator, &["add_task"]);
    let id = lead_ids(&emulator)[0];
    let task = json!([{"text": "Call the client", "complete_till": 1413676740, "entity_id": id, "entity_type": "leads"}]);
    emulator
        .call(SUB, "POST", "v4/tasks", Some(task))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        body_form_keys(&delivery_body(&emulator, "add_task")),
        fixture_form_keys("webhook_task_add.txt")
    );
}

#[test]
fn task_responsible_webhook_names_the_user_before() {
    let emulator = seeded();
    subscribe(&emulator, &["responsible_task"]);
    let id = lead_ids(&emulator)[0];
    let task = json!([{"text": "Call the client", "complete_till": 1413676740, "entity_id": id,
                       "entity_type": "leads", "responsible_user_id": 2}]);
    let (_, created) = emulator
        .call(SUB, "POST", "v4/tasks", Some(task))
        .unwrap_or_else(|e| panic!("{e}"));
    let task_id = created
        .as_ref()
        .and_then(|b| b["_embedded"]["tasks"][0]["id"].as_i64());
    let patch = json!([{"id": task_id, "responsible_user_id": 3}]);
    emulator
        .call(SUB, "PATCH", "v4/tasks", Some(patch))
        .unwrap_or_else(|e| panic!("{e}"));
    let body = delivery_body(&emulator, "responsible_task");
    assert_eq!(
        body_form_keys(&body),
        fixture_form_keys("webhook_task_responsible.txt")
    );
    assert!(
        body.contains("task%5Bresponsible%5D%5B0%5D%5Bold_responsible_user_id%5D=2"),
        "{body}"
    );
}

#[test]
fn incoming_message_webhook_has_the_documented_keys() {
    let emulator = seeded();
    subscribe(&emulator, &["add_message"]);
    emulator
        .receive_message(SUB, None, "Maria", "Hello", "whatsapp")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        body_form_keys(&delivery_body(&emulator, "add_message")),
        fixture_form_keys("webhook_message_add.txt")
    );
}

#[test]
fn digital_pipeline_request_has_the_documented_keys() {
    let emulator = seeded();
    let id = lead_ids(&emulator)[0];
    emulator
        .call(
            SUB,
            "PATCH",
            &format!("v4/leads/{id}"),
            Some(json!({"status_id": 7039101})),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let body = delivery_body(&emulator, "lead_status_changed");
    assert_eq!(
        body_form_keys(&body),
        fixture_form_keys("dp_request_form.txt")
    );
    assert!(
        body.contains("action%5Bsettings%5D%5Bwidget%5D%5Bsettings%5D%5Brule_id%5D=r-42"),
        "{body}"
    );
}

#[test]
fn lead_and_list_responses_have_the_documented_shape() {
    let emulator = seeded();
    let id = lead_ids(&emulator)[0];
    emulator
        .call(SUB, "PATCH", "v4/leads", Some(json!([{"id": id, "custom_fields_values": [{"field_id": 501, "values": [{"value": 3}]}]}])))
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, lead) = emulator
        .call(SUB, "GET", &format!("v4/leads/{id}"), None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_shape(
        &json_fixture("lead_get.json"),
        &lead.unwrap_or_default(),
        "lead",
    );
    let (status, list) = emulator
        .call(SUB, "GET", "v4/leads?limit=2", None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, 200);
    assert_shape(
        &json_fixture("leads_list.json"),
        &list.unwrap_or_default(),
        "list",
    );
    let (status, empty) = emulator
        .call(SUB, "GET", "v4/leads?limit=2&page=3", None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((status, empty), (204, None));
}

#[test]
fn the_documented_bulk_patch_is_accepted_with_its_tag_semantics() {
    let emulator = seeded();
    let ids = lead_ids(&emulator);
    let text = fixture("leads_patch_request.json")
        .replace("\"id\": 1,", &format!("\"id\": {},", ids[0]))
        .replace("\"id\": 2,", &format!("\"id\": {},", ids[1]));
    let request: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let (status, response) = emulator
        .call(SUB, "PATCH", "v4/leads", Some(request))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, 200);
    let response = response.unwrap_or_default();
    assert_shape(
        &json_fixture("leads_patch_response.json"),
        &response,
        "patch",
    );
    assert_eq!(response["_embedded"]["leads"][1]["request_id"], json!("a2"));
    let first = emulator.entity(SUB, "leads", ids[0]).unwrap_or_default();
    assert_eq!(first["price"], json!(5000));
    assert_eq!(first["_embedded"]["tags"][0]["name"], json!("vip"));
    assert_eq!(
        first["custom_fields_values"][0]["values"][0]["value"],
        json!("1500")
    );
    let second = emulator.entity(SUB, "leads", ids[1]).unwrap_or_default();
    assert_eq!(second["status_id"], json!(143));
    assert!(second["closed_at"].is_i64());
    // `_embedded.tags` replaces: a later replacement with another tag drops "lost".
    emulator
        .call(
            SUB,
            "PATCH",
            "v4/leads",
            Some(json!([{"id": ids[1], "_embedded": {"tags": [{"name": "again"}]}}])),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<Value> = emulator.entity(SUB, "leads", ids[1]).unwrap_or_default()["_embedded"]
        ["tags"]
        .as_array()
        .map(|t| t.iter().map(|t| t["name"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(names, vec![json!("again")]);
}

#[tokio::test]
async fn validation_errors_and_the_429_page_look_like_kommo() {
    let emulator = seeded();
    let id = lead_ids(&emulator)[0];
    let server = spawn_on_loopback(emulator.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let token = emulator
        .issue_tokens(SUB, None)
        .unwrap_or_else(|e| panic!("{e}"))
        .access_token;
    let http = reqwest::Client::new();
    let url = format!("{}/api/v4/leads", server.account_url(SUB));
    let refused = http
        .patch(&url)
        .bearer_auth(&token)
        .json(&json!([{"id": id, "status_id": 1}]))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(refused.status(), 400);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = refused.json().await.unwrap_or_default();
    assert_shape(&json_fixture("validation_error.json"), &body, "problem");
    let mut last = None;
    for _ in 0..8 {
        last = Some(
            http.get(&url)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    let limited = last.unwrap_or_else(|| panic!("no response"));
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().get("retry-after").is_none());
    assert_eq!(limited.headers()["content-type"], "text/html");
    let text = limited.text().await.unwrap_or_default();
    assert_eq!(text.replace("\r\n", "\n"), fixture("rate_limit_429.txt"));
}

#[test]
fn oauth_token_response_and_disposable_token_have_the_documented_fields() {
    let emulator = seeded();
    let pair = emulator
        .issue_tokens(SUB, None)
        .unwrap_or_else(|e| panic!("{e}"));
    let refreshed = emulator
        .oauth_token(SUB, &json!({"client_id": "0c82ba13", "client_secret": "s3cret", "grant_type": "refresh_token", "refresh_token": pair.refresh_token, "redirect_uri": "https://api.example/oauth/callback"}))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let as_json = serde_json::to_value(&refreshed).unwrap_or_default();
    let keys = |v: &Value| {
        v.as_object()
            .map(|m| m.keys().cloned().collect::<BTreeSet<_>>())
            .unwrap_or_default()
    };
    assert_eq!(
        keys(&as_json),
        keys(&json_fixture("oauth_token_response.json"))
    );
    assert_eq!(refreshed.expires_in, 86_400);

    let token = emulator
        .mint_disposable_token(SUB, 3, None)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&["https://api.example"]);
    let claims = jsonwebtoken::decode::<Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_secret(b"s3cret"),
        &validation,
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .claims;
    assert_eq!(
        keys(&claims),
        keys(&json_fixture("disposable_token_claims.json"))
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0),
        1800
    );
    assert_eq!(
        (
            claims["account_id"].clone(),
            claims["is_admin"].clone(),
            claims["client_uuid"].clone()
        ),
        (json!(7039099), json!(true), json!("0c82ba13"))
    );
}

#[test]
fn webhook_subscription_has_the_documented_model() {
    let emulator = seeded();
    let (status, body) = emulator
        .call(SUB, "POST", "v4/webhooks", Some(json!({"destination": "https://api.example/hooks/kommo", "settings": ["add_lead"], "sort": 10})))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, 200);
    let keys = |v: &Value| {
        v.as_object()
            .map(|m| m.keys().cloned().collect::<BTreeSet<_>>())
            .unwrap_or_default()
    };
    assert_eq!(
        keys(&body.unwrap_or_default()),
        keys(&json_fixture("webhook_create_response.json"))
    );
}

#[test]
fn talk_webhooks_and_the_talk_model_have_the_documented_keys() {
    let emulator = seeded();
    subscribe(&emulator, &["add_talk", "update_talk", "add_message"]);
    let lead = lead_ids(&emulator)[0];
    let request = kommo_emulator::ChatMessageRequest {
        lead_id: Some(lead),
        author_name: "Maria".into(),
        text: "Hello".into(),
        origin: "whatsapp".into(),
        ..Default::default()
    };
    let first = emulator
        .chat_message(SUB, &request)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        body_form_keys(&delivery_body(&emulator, "add_talk")),
        fixture_form_keys("webhook_talk_add.txt")
    );
    assert_eq!(
        body_form_keys(&delivery_body(&emulator, "add_message")),
        fixture_form_keys("webhook_message_add.txt")
    );
    emulator
        .chat_message(SUB, &request)
        .unwrap_or_else(|e| panic!("{e}"));
    let update = fixture_form_keys("webhook_talk_add.txt")
        .into_iter()
        .map(|k| k.replace("talk[add]", "talk[update]"))
        .collect::<BTreeSet<_>>();
    assert_eq!(
        body_form_keys(&delivery_body(&emulator, "update_talk")),
        update
    );
    let (status, body) = emulator
        .call(SUB, "GET", &format!("v4/talks/{}", first.talk_id), None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, 200);
    assert_shape(
        &json_fixture("talk_get.json"),
        &body.unwrap_or_default(),
        "talk",
    );
    let (status, body) = emulator
        .call(
            SUB,
            "POST",
            &format!("v4/talks/{}/close", first.talk_id),
            Some(json!({"force_close": true})),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((status, body), (202, None));
}

/// An account with everything the account schema reads: groups, loss reasons, bots, a select field.
fn seeded_with_schema() -> Emulator {
    let emulator = Emulator::new(EmulatorConfig::default());
    emulator
        .seed_json(json!({
            "subdomain": SUB, "id": 7039099, "timezone": "America/New_York",
            "users": [{"id": 3, "name": "Ann", "group_id": 7}, {"id": 4, "name": "Bob", "is_active": false}],
            "user_groups": [{"id": 7, "name": "Sales team"}],
            "pipelines": [{"id": 3104, "name": "Sales", "statuses": [{"id": 7039100, "name": "Incoming leads"}]}],
            "custom_fields": {"leads": [{"id": 501, "name": "Order type", "type": "select", "enums": [{"id": 11, "value": "Wholesale"}]}]},
            "loss_reasons": [{"id": 4111, "name": "Too expensive"}],
            "bots": [{"id": 5501, "name": "Welcome"}],
            "entities": {"leads": [{"name": "Lead", "_embedded": {"tags": [{"name": "vip"}]}}]}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
    emulator
}

fn get(emulator: &Emulator, path: &str) -> Value {
    let (status, body) = emulator
        .call(SUB, "GET", path, None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, 200, "{path}");
    body.unwrap_or_default()
}

#[test]
fn the_lists_the_account_schema_reads_have_the_documented_shape() {
    let emulator = seeded_with_schema();
    let account = get(
        &emulator,
        "v4/account?with=task_types,users_groups,datetime_settings",
    );
    assert_shape(
        &json_fixture("account_with_types.json"),
        &account,
        "account",
    );
    assert_eq!(account["_embedded"]["users_groups"][0]["id"], json!(7));
    assert!(get(&emulator, "v4/account").get("_embedded").is_none());

    let users = get(&emulator, "v4/users?with=role,group");
    assert_shape(&json_fixture("users_list.json"), &users, "users");
    assert_eq!(
        users["_embedded"]["users"][0]["rights"]["group_id"],
        json!(7)
    );
    assert_eq!(
        users["_embedded"]["users"][1]["rights"]["is_active"],
        json!(false)
    );
    for (path, fixture_name) in [
        ("v4/leads/pipelines", "pipelines_list.json"),
        ("v4/leads/custom_fields", "custom_fields_list.json"),
        ("v4/leads/tags", "tags_list.json"),
        ("v4/leads/loss_reasons", "loss_reasons_list.json"),
        ("v4/bots", "bots_list.json"),
    ] {
        assert_shape(&json_fixture(fixture_name), &get(&emulator, path), path);
    }
}

#[test]
fn a_deleted_custom_field_leaves_the_list_and_kommos_own_fields_stay() {
    let emulator = seeded_with_schema();
    let (status, body) = emulator
        .call(SUB, "DELETE", "v4/leads/custom_fields/501", None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((status, body), (204, None));
    let (status, _) = emulator
        .call(SUB, "GET", "v4/leads/custom_fields", None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, 204, "no lead fields are left");
    let phone = get(&emulator, "v4/contacts/custom_fields")["_embedded"]["custom_fields"][0]["id"]
        .as_i64()
        .unwrap_or_default();
    let (status, _) = emulator
        .call(
            SUB,
            "DELETE",
            &format!("v4/contacts/custom_fields/{phone}"),
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, 400);
}

#[test]
fn the_documented_query_searches_the_filled_fields_of_contacts() {
    let emulator = seeded();
    let create = |contact: Value| {
        let (status, body) = emulator
            .call(SUB, "POST", "v4/contacts", Some(json!([contact])))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status, 200);
        body.unwrap_or_default()["_embedded"]["contacts"][0]["id"]
            .as_i64()
            .unwrap_or_default()
    };
    let maria = create(json!({"name": "Maria Silva", "custom_fields_values": [
        {"field_code": "PHONE", "values": [{"value": "+55 11 98765-4321", "enum_code": "WORK"}]},
        {"field_code": "EMAIL", "values": [{"value": "maria@example.com", "enum_code": "WORK"}]}]}));
    create(json!({"name": "Joao Souza"}));
    let found = |query: &str| {
        let path = format!(
            "v4/contacts?query={}",
            form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>()
        );
        let (status, body) = emulator
            .call(SUB, "GET", &path, None)
            .unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<i64> = body
            .as_ref()
            .and_then(|b| b["_embedded"]["contacts"].as_array())
            .map(|list| list.iter().filter_map(|c| c["id"].as_i64()).collect())
            .unwrap_or_default();
        (status, ids, body)
    };

    let (status, ids, body) = found("maria");
    assert_eq!((status, ids), (200, vec![maria]));
    assert_shape(
        &json_fixture("contacts_search.json"),
        &body.unwrap_or_default(),
        "search",
    );
    assert_eq!(found("98765-4321").1, vec![maria], "by phone");
    assert_eq!(found("MARIA@example.com").1, vec![maria], "by email");
    assert_eq!(found(&maria.to_string()).1, vec![maria], "by id");
    let (status, ids, _) = found("nobody");
    assert_eq!((status, ids), (204, vec![]));
}

#[test]
fn a_bots_widget_step_sends_the_documented_request_and_takes_the_documented_continue() {
    let emulator = seeded();
    let lead = lead_ids(&emulator)[0];
    emulator
        .seed_json(json!({"subdomain": "botty", "id": 7039100,
            "bots": [{"id": 321, "name": "Ask Rulebook",
                      "widget_request": {"url": "https://api.example/hooks/salesbot", "data": {"rule_id": "17"}}}],
            "integrations": [{"client_id": "0c82ba13", "client_secret": "s3cret", "redirect_uri": "https://api.example/oauth/callback"}],
            "entities": {"leads": [{"name": "Bot lead"}]}}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        emulator.run_bot(SUB, 321, "leads", lead, None).is_err(),
        "the first account has no such bot"
    );
    let bot_lead = emulator.entities("botty", "leads")[0]["id"]
        .as_i64()
        .unwrap_or(0);
    let continue_id = emulator
        .run_bot("botty", 321, "leads", bot_lead, None)
        .unwrap_or_else(|e| panic!("{e}"));
    let delivery = emulator
        .deliveries()
        .into_iter()
        .find(|d| d.event == "widget_request")
        .unwrap_or_else(|| panic!("no widget request in {:?}", emulator.deliveries()));
    assert_eq!(delivery.url, "https://api.example/hooks/salesbot");
    assert_eq!(delivery.content_type, "application/json");
    let body: Value = serde_json::from_str(&delivery.body).unwrap_or_default();
    let keys = |v: &Value| {
        v.as_object()
            .map(|m| m.keys().cloned().collect::<BTreeSet<_>>())
            .unwrap_or_default()
    };
    let sample = json_fixture("salesbot_widget_request.json");
    assert_eq!(keys(&body), keys(&sample));
    assert_eq!(
        body["data"], sample["data"],
        "the step's data as configured"
    );
    assert_eq!(
        body["return_url"],
        format!("https://botty.kommo.com/api/v4/salesbot/321/continue/{continue_id}")
    );
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS512);
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<Value>(
        body["token"].as_str().unwrap_or_default(),
        &jsonwebtoken::DecodingKey::from_secret(b"s3cret"),
        &validation,
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .claims;
    assert_eq!(keys(&claims), keys(&json_fixture("bot_token_claims.json")));
    assert_eq!(
        (claims["account_id"].clone(), claims["entity_id"].clone()),
        (json!(7039100), json!(bot_lead))
    );

    let path = format!("v4/salesbot/321/continue/{continue_id}");
    let continued = json_fixture("salesbot_continue_request.json");
    let (status, _) = emulator
        .call("botty", "POST", &path, Some(continued.clone()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, 200);
    let (again, _) = emulator
        .call("botty", "POST", &path, Some(continued.clone()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again, 400, "a step is continued once");
    let (unknown, _) = emulator
        .call(
            "botty",
            "POST",
            "v4/salesbot/321/continue/1",
            Some(continued.clone()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(unknown, 404);
    let long = json!({"execute_handlers": [{"handler": "show", "params": {"type": "text", "value": "x".repeat(81)}}]});
    let (too_long, _) = emulator
        .call("botty", "POST", &path, Some(long))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(too_long, 400);
    let steps = emulator.bot_steps("botty");
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].status, "continued");
    assert_eq!(steps[0].continued_data, Some(continued["data"].clone()));
    assert_eq!(steps[0].refused_continues, 1);
}
