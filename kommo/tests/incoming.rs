//! The parser of Kommo's incoming traffic: pinned to the documented samples, and proven against the
//! emulator: webhooks the emulator emits parse back into the changes that caused them.

use std::path::PathBuf;

use kommo::incoming::{parse_account_webhook, parse_dp_request, EntityAction, WebhookEvent};
use kommo_emulator::{Emulator, EmulatorClock, EmulatorConfig};
use proptest::prelude::*;
use serde_json::{json, Value};

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../emulator/tests/fixtures")
        .join(name);
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A fixture of decoded `key=value` lines, encoded as Kommo sends it.
fn form_fixture(name: &str) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for line in fixture(name).lines().filter(|l| !l.is_empty()) {
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        serializer.append_pair(key, value);
    }
    serializer.finish()
}

#[test]
fn the_documented_lead_status_webhook_parses_into_a_typed_event() {
    let hook = parse_account_webhook(form_fixture("webhook_lead_status.txt").as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (hook.account_id, hook.subdomain.as_deref()),
        (Some(7039099), Some("example"))
    );
    let [WebhookEvent::Lead(EntityAction::Status, lead)] = hook.events.as_slice() else {
        panic!("{:?}", hook.events)
    };
    assert_eq!(
        (
            lead.id,
            lead.status_id,
            lead.old_status_id,
            lead.pipeline_id
        ),
        (25399013, Some(142), Some(7039101), Some(3104))
    );
    assert_eq!(lead.tags[0].name, "hot");
    assert_eq!(
        (
            lead.custom_fields[0].id,
            lead.custom_fields[0].values[0].value.as_str()
        ),
        (427493, "1500")
    );
}

#[test]
fn companies_tasks_and_messages_parse_from_the_documented_samples() {
    let company = parse_account_webhook(form_fixture("webhook_company_add.txt").as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(company.events.as_slice(), [WebhookEvent::Company(EntityAction::Add, c)] if c.name == "Acme Ltd")
    );
    let task = parse_account_webhook(form_fixture("webhook_task_add.txt").as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(task.events.as_slice(), [WebhookEvent::Task(EntityAction::Add, t)] if t.element_id == Some(25399013) && t.complete_before == Some(1413676740) && !t.completed)
    );
    let message = parse_account_webhook(form_fixture("webhook_message_add.txt").as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let [WebhookEvent::Message(m)] = message.events.as_slice() else {
        panic!("{:?}", message.events)
    };
    assert_eq!(
        (
            m.contact_id,
            m.direction.as_str(),
            m.author_name.as_str(),
            m.origin.as_str()
        ),
        (Some(40012), "incoming", "Maria", "whatsapp")
    );
}

#[test]
fn a_body_without_the_account_id_parses_and_old_and_new_time_names_read_alike() {
    // Kommo's own task samples name the account only by subdomain, with the current names.
    let task =
        parse_account_webhook(form_fixture("webhook_task_add_without_account.txt").as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (task.account_id, task.subdomain.as_deref()),
        (None, Some("example"))
    );
    let [WebhookEvent::Task(EntityAction::Add, t)] = task.events.as_slice() else {
        panic!("{:?}", task.events)
    };
    assert_eq!(
        (t.id, t.element_id, t.created_at, t.updated_at),
        (8012, Some(25399013), Some(1413554349), Some(1413554350))
    );
    // The documented task sample with account[id] sends the older names: read the same way.
    let named = parse_account_webhook(form_fixture("webhook_task_add.txt").as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let [WebhookEvent::Task(_, old)] = named.events.as_slice() else {
        panic!("{:?}", named.events)
    };
    assert_eq!(named.account_id, Some(7039099));
    assert_eq!(
        (old.created_at, old.updated_at),
        (Some(1413554349), Some(1413554349))
    );
    // An older amoCRM account's lead: no account id, only date_create/last_modified.
    let lead = parse_account_webhook(form_fixture("webhook_lead_add_amocrm.txt").as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lead.account_id, None);
    let [WebhookEvent::Lead(EntityAction::Add, l)] = lead.events.as_slice() else {
        panic!("{:?}", lead.events)
    };
    assert_eq!(
        (l.created_at, l.updated_at),
        (Some(1413554349), Some(1413554372))
    );
    assert_eq!(
        kommo::incoming::webhook_account_id(form_fixture("webhook_lead_status.txt").as_bytes()),
        Ok(Some(7039099))
    );
}

#[test]
fn digital_pipeline_requests_parse_from_form_and_json_alike() {
    let form = parse_dp_request(
        Some("application/x-www-form-urlencoded"),
        form_fixture("dp_request_form.txt").as_bytes(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (form.account.id, form.event.entity_id, form.event.type_id),
        (7039099, 25399013, Some(14))
    );
    assert_eq!(form.event.type_code, "lead_status_changed");
    assert_eq!(
        form.settings.get("rule_id").map(String::as_str),
        Some("r-42")
    );
    let json = parse_dp_request(
        Some("application/json"),
        fixture("dp_request.json").as_bytes(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (json.event.type_id, json.event.type_code.as_str()),
        (Some(15), "lead_appeared_in_status")
    );
    assert_eq!(
        json.event.direction_of_movement.as_deref(),
        Some("went_to_trigger")
    );
    assert_eq!(
        (
            json.event.status_id,
            json.event.pipeline_id,
            json.event.time
        ),
        (Some(7039101), Some(3104), Some(1700000000))
    );
    assert_eq!(json.settings, form.settings);
}

const SUB: &str = "prop";

fn emulator() -> Emulator {
    let emulator = Emulator::with_clock(
        EmulatorConfig::default(),
        EmulatorClock::frozen(1_700_000_000_000),
    );
    emulator
        .seed_json(json!({
            "subdomain": SUB, "id": 555,
            "users": [{"id": 7, "name": "Ann"}],
            "pipelines": [{"id": 10, "name": "Sales", "statuses": [{"id": 100, "name": "New"}, {"id": 101, "name": "Won soon"}]}],
            "custom_fields": {"leads": [
                {"id": 501, "name": "Budget", "type": "numeric"},
                {"id": 502, "name": "Source", "type": "select", "enums": [{"id": 1, "value": "Web"}, {"id": 2, "value": "Ads & more"}]},
                {"id": 503, "name": "Comment", "type": "textarea"}
            ]},
            "dp_actions": [{"pipeline_id": 10, "status_id": 101, "webhook_url": "https://api.example/dp", "settings": {"rule_id": "r[1]=&x"}}]
        }))
        .unwrap_or_else(|e| panic!("{e}"));
    emulator
        .call(SUB, "POST", "v4/webhooks", Some(json!({"destination": "https://api.example/hooks", "settings": ["add_lead", "update_lead", "status_lead"]})))
        .unwrap_or_else(|e| panic!("{e}"));
    emulator
}

#[derive(Debug, Clone)]
struct LeadChange {
    name: String,
    price: i64,
    tags: Vec<String>,
    budget: Option<i64>,
    source: Option<usize>,
    comment: Option<String>,
    renamed: String,
    move_to: i64,
}

fn lead_change() -> impl Strategy<Value = LeadChange> {
    (
        "\\PC{1,24}",
        0i64..10_000_000,
        proptest::collection::vec("[a-zA-Z0-9&=\\[\\] ]{0,9}[a-z]", 0..4),
        proptest::option::of(-1_000_000i64..1_000_000),
        proptest::option::of(0usize..2),
        proptest::option::of("\\PC{1,40}"),
        "\\PC{1,24}",
        prop_oneof![Just(100i64), Just(101), Just(142), Just(143)],
    )
        .prop_map(
            |(name, price, tags, budget, source, comment, renamed, move_to)| LeadChange {
                name,
                price,
                tags,
                budget,
                source,
                comment,
                renamed,
                move_to,
            },
        )
}

fn events_of(emulator: &Emulator, event: &str) -> Vec<WebhookEvent> {
    emulator
        .deliveries()
        .into_iter()
        .filter(|d| d.event == event)
        .flat_map(|d| match parse_account_webhook(d.body.as_bytes()) {
            Ok(hook) => {
                assert_eq!(
                    (hook.account_id, hook.subdomain.as_deref()),
                    (Some(555), Some(SUB))
                );
                hook.events
            }
            Err(e) => panic!("emitted {event} did not parse: {e}\n{}", d.body),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn webhooks_the_emulator_emits_parse_back_into_the_changes_that_caused_them(change in lead_change()) {
        let emulator = emulator();
        let mut fields = Vec::new();
        if let Some(budget) = change.budget {
            fields.push(json!({"field_id": 501, "values": [{"value": budget}]}));
        }
        if let Some(source) = change.source {
            fields.push(json!({"field_id": 502, "values": [{"enum_id": source as i64 + 1}]}));
        }
        if let Some(comment) = &change.comment {
            fields.push(json!({"field_id": 503, "values": [{"value": comment}]}));
        }
        let tags: Vec<Value> = change.tags.iter().map(|t| json!({"name": t})).collect();
        let create = json!([{"name": change.name, "price": change.price, "tags_to_add": tags, "custom_fields_values": fields}]);
        let (status, body) = emulator.call(SUB, "POST", "v4/leads", Some(create)).unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(status, 200);
        let id = body.and_then(|b| b["_embedded"]["leads"][0]["id"].as_i64()).unwrap_or(0);

        let added = events_of(&emulator, "add_lead");
        prop_assert_eq!(added.len(), 1);
        let WebhookEvent::Lead(EntityAction::Add, lead) = &added[0] else { panic!("{added:?}") };
        prop_assert_eq!(lead.id, id);
        prop_assert_eq!(&lead.name, &change.name);
        prop_assert_eq!(lead.price, Some(change.price));
        prop_assert_eq!((lead.pipeline_id, lead.status_id), (Some(10), Some(100)));
        let mut expected_tags: Vec<&str> = Vec::new();
        for tag in &change.tags {
            if !expected_tags.contains(&tag.as_str()) {
                expected_tags.push(tag);
            }
        }
        prop_assert_eq!(lead.tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), expected_tags);
        let mut expected_fields: Vec<(i64, String, Option<i64>)> = Vec::new();
        if let Some(budget) = change.budget {
            expected_fields.push((501, budget.to_string(), None));
        }
        if let Some(source) = change.source {
            expected_fields.push((502, ["Web", "Ads & more"][source].to_owned(), Some(source as i64 + 1)));
        }
        if let Some(comment) = &change.comment {
            expected_fields.push((503, comment.clone(), None));
        }
        let parsed_fields: Vec<(i64, String, Option<i64>)> = lead
            .custom_fields
            .iter()
            .flat_map(|f| f.values.iter().map(move |v| (f.id, v.value.clone(), v.enum_id)))
            .collect();
        prop_assert_eq!(parsed_fields, expected_fields);

        // Then a rename and a move: `update` carries the new name, `status` the old and new stage.
        emulator
            .call(SUB, "PATCH", "v4/leads", Some(json!([{"id": id, "name": change.renamed, "status_id": change.move_to}])))
            .unwrap_or_else(|e| panic!("{e}"));
        let updated = events_of(&emulator, "update_lead");
        if change.renamed != change.name {
            let [WebhookEvent::Lead(EntityAction::Update, lead)] = updated.as_slice() else { panic!("{updated:?}") };
            prop_assert_eq!(&lead.name, &change.renamed);
        } else {
            prop_assert!(updated.is_empty());
        }
        let moved = events_of(&emulator, "status_lead");
        if change.move_to != 100 {
            let [WebhookEvent::Lead(EntityAction::Status, lead)] = moved.as_slice() else { panic!("{moved:?}") };
            prop_assert_eq!((lead.id, lead.status_id, lead.old_status_id), (id, Some(change.move_to), Some(100)));
            prop_assert_eq!((lead.pipeline_id, lead.old_pipeline_id), (Some(10), Some(10)));
        } else {
            prop_assert!(moved.is_empty());
        }
        // Entering the stage with our widget's action sends a digital-pipeline request.
        let dp: Vec<_> = emulator.deliveries().into_iter().filter(|d| d.event == "lead_status_changed").collect();
        prop_assert_eq!(dp.len(), usize::from(change.move_to == 101));
        for request in dp {
            let parsed = parse_dp_request(Some(&request.content_type), request.body.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
            prop_assert_eq!((parsed.event.entity_id, parsed.event.status_id, parsed.account.id), (id, Some(101), 555));
            prop_assert_eq!(parsed.settings.get("rule_id").map(String::as_str), Some("r[1]=&x"));
        }
    }

    #[test]
    fn talks_and_messages_the_emulator_emits_parse_back(
        text in "\\PC{1,40}",
        origin in "[a-z_]{1,12}",
        outgoing in any::<bool>(),
        replies in 0usize..3,
        on_lead in any::<bool>(),
    ) {
        let emulator = emulator();
        emulator
            .call(SUB, "POST", "v4/webhooks", Some(json!({"destination": "https://api.example/talks", "settings": ["add_talk", "update_talk", "add_message"]})))
            .unwrap_or_else(|e| panic!("{e}"));
        let lead = if on_lead {
            let (_, body) = emulator
                .call(SUB, "POST", "v4/leads", Some(json!([{"name": "Chat"}])))
                .unwrap_or_else(|e| panic!("{e}"));
            body.and_then(|b| b["_embedded"]["leads"][0]["id"].as_i64())
        } else {
            None
        };
        let mut request = kommo_emulator::ChatMessageRequest {
            lead_id: lead,
            author_name: "Ann".into(),
            text: text.clone(),
            origin: origin.clone(),
            outgoing,
            ..Default::default()
        };
        let first = emulator.chat_message(SUB, &request).unwrap_or_else(|e| panic!("{e}"));
        // Without a contact the first message made one; the replies are in its chat.
        request.contact_id = Some(first.contact_id);
        for _ in 0..replies {
            emulator.chat_message(SUB, &request).unwrap_or_else(|e| panic!("{e}"));
        }
        let (status, _) = emulator
            .call(SUB, "POST", &format!("v4/talks/{}/close", first.talk_id), None)
            .unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(status, 202);

        let added = events_of(&emulator, "add_talk");
        let [WebhookEvent::Talk(EntityAction::Add, talk)] = added.as_slice() else { panic!("{added:?}") };
        prop_assert_eq!(talk.talk_id, first.talk_id);
        prop_assert_eq!(&talk.origin, &origin);
        prop_assert_eq!(&talk.chat_id, &first.chat_id);
        prop_assert_eq!(talk.contact_id, Some(first.contact_id));
        prop_assert_eq!(talk.is_in_work, Some(true));
        prop_assert_eq!(talk.is_read, Some(outgoing));
        prop_assert_eq!(talk.entity_id, lead);
        prop_assert_eq!(talk.entity_type.as_str(), if on_lead { "lead" } else { "" });

        let messages = events_of(&emulator, "add_message");
        prop_assert_eq!(messages.len(), replies + 1);
        for message in &messages {
            let WebhookEvent::Message(m) = message else { panic!("{message:?}") };
            prop_assert_eq!(m.talk_id, Some(first.talk_id));
            prop_assert_eq!(&m.text, &text);
            prop_assert_eq!(m.direction.as_str(), if outgoing { "outgoing" } else { "incoming" });
            prop_assert_eq!(m.entity_id, Some(lead.unwrap_or(first.contact_id)));
        }

        let updates = events_of(&emulator, "update_talk");
        prop_assert_eq!(updates.len(), replies + 1);
        for (i, update) in updates.iter().enumerate() {
            let WebhookEvent::Talk(EntityAction::Update, t) = update else { panic!("{update:?}") };
            prop_assert_eq!(t.talk_id, first.talk_id);
            prop_assert_eq!(t.is_in_work, Some(i < replies));
        }
    }

    #[test]
    fn the_parser_never_panics_on_arbitrary_forms(body in proptest::collection::vec(any::<u8>(), 0..512), keys in "(([a-z]{1,4})(\\[[a-z0-9]{0,3}\\]){0,14}=[^&]{0,6}&){0,12}") {
        let _ = parse_account_webhook(&body);
        let _ = parse_dp_request(None, &body);
        let _ = parse_account_webhook(keys.as_bytes());
        let _ = parse_dp_request(Some("application/json"), keys.as_bytes());
    }
}
