//! Rules are checked against what the backend knows of the Kommo account before they are stored
//! or enabled: once it has read the account's custom fields and users (for an event or a dry run),
//! a rule naming a field or user the account does not have is refused with 422 at its JSON
//! pointer. Before, saving does not ask Kommo, and only the rule's limits are checked. Runs on
//! SQLite and on PostgreSQL, against the emulator.

use kommo_emulator::{EmulatorClock, EmulatorConfig};
use rulebook_e2e::{connected::Connecting, stack::Database};
use serde_json::{json, Value};

rulebook_e2e::on_both_databases!(
    a_rule_naming_a_field_or_user_the_account_lacks_is_refused_at_its_pointer_once_the_account_is_read
);

/// An administrator of the connected account.
const ADMIN: i64 = 201;
/// The lead date field of the connected account.
const MEETING: i64 = 701;

/// A save of a lead rule whose condition reads custom field `field` and whose action gives the lead
/// to `user`.
fn save(name: &str, field: i64, user: i64) -> Value {
    json!({"name": name, "rule": {
        "schema_version": 2, "name": name,
        "trigger": {"kind": "entity_updated", "entity": "lead"},
        "blocks": [{
            "conditions": [{"left": {"path": format!("lead.cf({field})")}, "op": {"is": "is_not_empty"}}],
            "actions": [{"do": {"type": "change_responsible", "entity": "lead", "user": {"user": user}}}]
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

async fn a_rule_naming_a_field_or_user_the_account_lacks_is_refused_at_its_pointer_once_the_account_is_read(
    database: Database,
) {
    let c = Connecting::start(
        database,
        EmulatorConfig::default(),
        EmulatorClock::real(),
        60,
    )
    .await;
    c.connect_by_oauth().await;

    // Not read yet: saving does not ask Kommo, only the limits are checked.
    let (status, unread) = c
        .post_as(ADMIN, "/api/v1/rules", &save("Unread", 999_999, 999))
        .await;
    assert_eq!(status, 201, "{unread}");
    let unread_id = unread["id"].as_i64().expect("rule id");
    // A dry run reads the account's fields and users.
    let (status, dry_run) = c
        .post_as(
            ADMIN,
            &format!("/api/v1/rules/{unread_id}/dry-run"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{dry_run}");

    let (field_status, field) = c
        .post_as(ADMIN, "/api/v1/rules", &save("Field", 999_999, ADMIN))
        .await;
    let (user_status, user) = c
        .post_as(ADMIN, "/api/v1/rules", &save("User", MEETING, 999))
        .await;
    let (known_status, known) = c
        .post_as(ADMIN, "/api/v1/rules", &save("Known", MEETING, ADMIN))
        .await;
    let (status, _) = c
        .post_as(
            ADMIN,
            &format!("/api/v1/rules/{unread_id}/disable"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (enable_status, enable) = c
        .post_as(
            ADMIN,
            &format!("/api/v1/rules/{unread_id}/enable"),
            &json!({}),
        )
        .await;

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
    assert_eq!(known_status, 201, "{known}");
    assert_eq!(enable_status, 422, "{enable}");
    assert_eq!(
        paths_and_codes(&enable),
        vec![
            at("/blocks/0/conditions/0/left", "unknown_field"),
            at("/blocks/0/actions/0/do/user", "unknown_user"),
        ]
    );
}
