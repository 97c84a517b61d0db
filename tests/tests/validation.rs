//! Rules are checked against the account's schema before they are stored or enabled: the first
//! save reads it from Kommo (then it is cached), and a rule naming a field or user the account does
//! not have, or a value a field cannot hold, is refused with 422 at its JSON pointer. Runs on
//! SQLite and on PostgreSQL, against the emulator.

use rulebook_e2e::stack::{default_seed, Database, Stack, CLIENT_ID, SUBDOMAIN};
use serde_json::{json, Value};

rulebook_e2e::on_both_databases!(
    a_rule_naming_a_field_or_user_the_account_lacks_is_refused_at_its_pointer
);

/// An administrator of the seeded account (its first user).
const ADMIN: i64 = 101;
/// The seeded lead fields: a date-time, a text, and a list of WHOLESALE and RETAIL.
const MEETING: i64 = 506;
const COMMENT: i64 = 504;
const ORDER_TYPE: i64 = 501;

/// A save of a lead rule whose condition applies `op` to custom field `field` and whose actions
/// give the lead to `user` and set the order type to `order_type`.
fn save(name: &str, field: i64, op: &str, user: i64, order_type: &str) -> Value {
    json!({"name": name, "rule": {
        "schema_version": 2, "name": name,
        "trigger": {"kind": "entity_updated", "entity": "lead"},
        "blocks": [{
            "conditions": [{"left": {"path": format!("lead.cf({field})")}, "op": {"is": op}}],
            "actions": [
                {"do": {"type": "change_responsible", "entity": "lead", "user": {"user": user}}},
                {"do": {"type": "change_fields", "entity": "lead",
                        "fields": [{"field": {"custom": ORDER_TYPE}, "value": order_type}]}}
            ]
        }]
    }})
}

/// The (path, code) of each field error of a problem.
fn paths_and_codes(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .expect("field errors")
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap_or_default().to_owned(),
                e["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn at(path: &str, code: &str) -> (String, String) {
    (path.to_owned(), code.to_owned())
}

async fn a_rule_naming_a_field_or_user_the_account_lacks_is_refused_at_its_pointer(
    database: Database,
) {
    let stack = Stack::start(database, default_seed()).await;
    let http = reqwest::Client::new();
    let post = |path: String, body: Value| {
        // A fresh disposable token per request, as `$authorizedAjax` sends (a used one is refused).
        let token = stack
            .emulator()
            .mint_disposable_token(SUBDOMAIN, ADMIN, Some(CLIENT_ID))
            .expect("token");
        let request = http
            .post(format!("{}{path}", stack.backend_url))
            .header("X-Auth-Token", token)
            .json(&body);
        async move {
            let response = request.send().await.expect("backend answers");
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };

    // A rule stored before the check (or by an older version) is checked again when enabled.
    let stored_id = stack
        .rule(
            "Stored",
            save("Stored", 999_999, "is_not_empty", 999, "GOLD")["rule"].clone(),
        )
        .await;

    let (field_status, field) = post(
        "/api/v1/rules".into(),
        save("Field", 999_999, "is_not_empty", ADMIN, "RETAIL"),
    )
    .await;
    let (user_status, user) = post(
        "/api/v1/rules".into(),
        save("User", MEETING, "is_not_empty", 999, "RETAIL"),
    )
    .await;
    let (typed_status, typed) = post(
        "/api/v1/rules".into(),
        save("Typed", COMMENT, "is_true", ADMIN, "GOLD"),
    )
    .await;
    let (known_status, known) = post(
        "/api/v1/rules".into(),
        save("Known", MEETING, "is_not_empty", ADMIN, "wholesale"),
    )
    .await;
    let (status, _) = post(format!("/api/v1/rules/{stored_id}/disable"), json!({})).await;
    assert_eq!(status, 200);
    let (enable_status, enable) =
        post(format!("/api/v1/rules/{stored_id}/enable"), json!({})).await;

    assert_eq!(field_status, 422, "{field}");
    assert_eq!(field["code"], "invalid");
    assert_eq!(
        paths_and_codes(&field),
        vec![at("/blocks/0/conditions/0/left", "unknown_field")]
    );
    assert_eq!(
        field["errors"][0]["message"],
        "block 1, condition 1: the lead has no field 999999"
    );
    assert_eq!(user_status, 422, "{user}");
    assert_eq!(
        paths_and_codes(&user),
        vec![at("/blocks/0/actions/0/do/user", "unknown_user")]
    );
    assert_eq!(typed_status, 422, "{typed}");
    assert_eq!(
        paths_and_codes(&typed),
        vec![
            at("/blocks/0/conditions/0/op", "operator_not_applicable"),
            at("/blocks/0/actions/1/do/fields/0/value", "bad_field_value"),
        ]
    );
    assert_eq!(known_status, 201, "{known}");
    assert_eq!(enable_status, 422, "{enable}");
    assert_eq!(
        paths_and_codes(&enable),
        vec![
            at("/blocks/0/conditions/0/left", "unknown_field"),
            at("/blocks/0/actions/0/do/user", "unknown_user"),
            at("/blocks/0/actions/1/do/fields/0/value", "bad_field_value"),
        ]
    );
}
