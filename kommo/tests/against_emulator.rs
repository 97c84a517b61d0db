//! The client against the emulator over real HTTP on loopback: reads, writes, exactly-once writes
//! under injected faults, single-flight token refresh, and the 403 alert.

use std::sync::Arc;
use std::time::Duration;

use kommo::limiter::BoxFuture;
use kommo::models::{
    EntityKind, EntityWrite, Link, NewNote, NoteContent, SalesbotRun, TagRef, TaskWrite,
};
use kommo::{
    AccountAlert, AccountClient, AccountEndpoint, ClientConfig, FieldValue, FieldWrite,
    InMemoryTokenStore, KommoClient, KommoError, ListQuery, OAuthApp, PendingUpdates, RateLimiter,
    RetryPolicy, StoredToken,
};
use kommo_emulator::{
    spawn_on_loopback, Emulator, EmulatorConfig, Fault, FaultRule, RunningEmulator,
};
use serde_json::{json, Value};

const ACCOUNT: &str = "acme";

fn seed() -> Value {
    json!({
        "subdomain": ACCOUNT, "id": 1001,
        "users": [{"id": 7, "name": "Ann"}, {"id": 8, "name": "Bob"}],
        "pipelines": [{"id": 10, "name": "Sales", "statuses": [{"id": 100, "name": "New"}, {"id": 101, "name": "Qualified"}]}],
        "custom_fields": {"leads": [
            {"id": 501, "name": "Budget", "type": "numeric"},
            {"id": 502, "name": "Source", "type": "select", "enums": [{"id": 1, "value": "Web"}, {"id": 2, "value": "Ads"}]},
            {"id": 503, "name": "Comment", "type": "text"},
            {"id": 504, "name": "Paid", "type": "checkbox"},
            {"id": 505, "name": "Products", "type": "multiselect", "enums": [{"id": 11, "value": "A"}, {"id": 12, "value": "B"}, {"id": 13, "value": "C"}]},
            {"id": 506, "name": "Due", "type": "date"},
            {"id": 507, "name": "Meeting", "type": "date_time"},
            {"id": 508, "name": "Birthday", "type": "birthday"},
            {"id": 509, "name": "Site", "type": "url"},
            {"id": 510, "name": "Notes", "type": "textarea"}
        ]},
        "integrations": [{"client_id": "cid", "client_secret": "sec", "redirect_uri": "https://api.example/oauth"}],
        "user_groups": [{"id": 70, "name": "Sales team"}],
        "loss_reasons": [{"id": 1, "name": "Price"}, {"id": 2, "name": "Timing"}, {"id": 3, "name": "Rival"},
                         {"id": 4, "name": "Silence"}, {"id": 5, "name": "Other"}],
        "bots": [{"id": 51, "name": "Hello"}, {"id": 52, "name": "Bye", "active": false}, {"id": 53, "name": "Ask"}]
    })
}

/// The time the client under test reads (it is built with the default clock).
fn now_unix() -> i64 {
    kommo::Clock::now_unix(&kommo::SystemClock)
}

struct Harness {
    server: RunningEmulator,
    client: KommoClient,
    account: AccountClient,
    tokens: Arc<InMemoryTokenStore>,
}

impl Harness {
    fn emulator(&self) -> &Emulator {
        &self.server.emulator
    }
}

fn fast_config() -> ClientConfig {
    ClientConfig {
        retry: RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(40),
        },
        request_timeout: Duration::from_millis(400),
        ..ClientConfig::default()
    }
}

async fn harness_with(
    emulator_config: EmulatorConfig,
    config: ClientConfig,
    limiter: Option<Arc<dyn RateLimiter>>,
) -> Harness {
    let emulator = Emulator::new(emulator_config);
    emulator
        .seed_json(seed())
        .unwrap_or_else(|e| panic!("seed: {e}"));
    let server = spawn_on_loopback(emulator)
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let pair = server
        .emulator
        .issue_tokens(ACCOUNT, None)
        .unwrap_or_else(|e| panic!("tokens: {e}"));
    let tokens = Arc::new(InMemoryTokenStore::new());
    tokens.insert(
        ACCOUNT,
        StoredToken {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            expires_at: now_unix() + pair.expires_in,
        },
    );
    let mut builder = KommoClient::builder(tokens.clone()).config(config);
    if let Some(limiter) = limiter {
        builder = builder.limiter(limiter);
    }
    let client = builder.build().unwrap_or_else(|e| panic!("client: {e}"));
    let oauth = OAuthApp {
        client_id: "cid".into(),
        client_secret: "sec".into(),
        redirect_uri: "https://api.example/oauth".into(),
    };
    let endpoint = AccountEndpoint::at(ACCOUNT, &server.account_url(ACCOUNT), Some(oauth))
        .unwrap_or_else(|e| panic!("{e}"));
    let account = client.account(endpoint);
    Harness {
        server,
        client,
        account,
        tokens,
    }
}

async fn harness() -> Harness {
    harness_with(EmulatorConfig::default(), fast_config(), None).await
}

fn fault(fault: Fault, count: u32, method: &str) -> FaultRule {
    FaultRule {
        fault,
        count,
        method: Some(method.into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_writes_cover_the_api_and_show_in_the_emulator_state() {
    let h = harness().await;
    let a = &h.account;
    let info = a.account_info().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((info.id, info.subdomain.as_str()), (1001, ACCOUNT));
    assert_eq!(a.users().await.unwrap_or_default().len(), 2);
    let pipelines = a.pipelines().await.unwrap_or_default();
    let statuses: Vec<i64> = pipelines[0]
        .embedded
        .statuses
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(statuses, vec![100, 101, 142, 143]);
    let fields = a.custom_fields(EntityKind::Leads).await.unwrap_or_default();
    assert_eq!(
        fields.iter().map(|f| f.id).collect::<Vec<_>>(),
        vec![501, 502, 503, 504, 505, 506, 507, 508, 509, 510]
    );

    let contact = a
        .create_entities(
            EntityKind::Contacts,
            vec![EntityWrite {
                first_name: Some("Eve".into()),
                last_name: Some("Stone".into()),
                ..Default::default()
            }],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))[0];
    let new_leads: Vec<EntityWrite> = (0..3)
        .map(|i| EntityWrite {
            name: Some(format!("Deal {i}")),
            price: Some(100 * i),
            ..Default::default()
        })
        .collect();
    let ids = a
        .create_entities(EntityKind::Leads, new_leads)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ids.len(), 3);

    // Two updates of the same lead coalesce into one item; one request in all.
    let mut pending = PendingUpdates::new();
    pending.push(
        EntityKind::Leads,
        EntityWrite {
            custom_fields_values: vec![FieldWrite::set(501, FieldValue::Number(1500.0))],
            ..EntityWrite::update(ids[0])
        },
    );
    pending.push(
        EntityKind::Leads,
        EntityWrite {
            status_id: Some(101),
            tags_to_add: vec![TagRef::name("vip")],
            ..EntityWrite::update(ids[0])
        },
    );
    pending.push(
        EntityKind::Leads,
        EntityWrite {
            custom_fields_values: vec![FieldWrite::set(502, FieldValue::EnumId(2))],
            ..EntityWrite::update(ids[1])
        },
    );
    let before = h.client.stats().requests;
    assert_eq!(pending.flush(a).await.unwrap_or_else(|e| panic!("{e}")), 1);
    assert_eq!(h.client.stats().requests - before, 1);
    let lead = a
        .entity(EntityKind::Leads, ids[0], &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lead.status_id, Some(101));
    assert_eq!(
        lead.embedded
            .tags
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        vec!["vip"]
    );
    assert_eq!(
        lead.custom_fields_values[0].typed(),
        vec![FieldValue::Number(1500.0)]
    );

    // Filters.
    let qualified = a
        .entities(EntityKind::Leads, &ListQuery::new().status(10, 101))
        .await
        .unwrap_or_default();
    assert_eq!(
        qualified.iter().map(|l| l.id).collect::<Vec<_>>(),
        vec![ids[0]]
    );
    let by_field = a
        .entities(EntityKind::Leads, &ListQuery::new().custom_field(502, "2"))
        .await
        .unwrap_or_default();
    assert_eq!(
        by_field.iter().map(|l| l.id).collect::<Vec<_>>(),
        vec![ids[1]]
    );
    let searched = a
        .entities(EntityKind::Leads, &ListQuery::new().search("deal 2"))
        .await
        .unwrap_or_default();
    assert_eq!(
        searched.iter().map(|l| l.id).collect::<Vec<_>>(),
        vec![ids[2]]
    );

    // Links, notes, tasks, events, webhooks, salesbot.
    a.link(
        EntityKind::Leads,
        &[Link {
            entity_id: ids[0],
            to_entity_id: contact,
            to_entity_type: "contacts".into(),
        }],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let with_contacts = a
        .entity(EntityKind::Leads, ids[0], &["contacts"])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        with_contacts
            .embedded
            .contacts
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>(),
        vec![contact]
    );
    let notes = a
        .add_notes(
            EntityKind::Leads,
            vec![NewNote {
                entity_id: ids[0],
                content: NoteContent::Common {
                    text: "Called".into(),
                },
            }],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        a.notes(EntityKind::Leads, ids[0])
            .await
            .unwrap_or_default()
            .iter()
            .map(|n| n.id)
            .collect::<Vec<_>>(),
        notes
    );
    let task_ids = a
        .create_tasks(vec![TaskWrite {
            text: Some("Call back".into()),
            complete_till: Some(now_unix() + 3600),
            entity_id: Some(ids[0]),
            entity_type: Some(EntityKind::Leads),
            ..Default::default()
        }])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    a.update_tasks(vec![TaskWrite {
        id: Some(task_ids[0]),
        is_completed: Some(true),
        result: Some(kommo::models::TaskResult {
            text: "Done".into(),
        }),
        ..Default::default()
    }])
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let tasks = a
        .tasks(&ListQuery::new().raw("filter[is_completed]", "1"))
        .await
        .unwrap_or_default();
    assert_eq!(tasks.iter().map(|t| t.id).collect::<Vec<_>>(), task_ids);
    let events = a
        .events(&ListQuery::new().raw("filter[type]", "lead_status_changed"))
        .await
        .unwrap_or_default();
    assert_eq!(
        events.iter().map(|e| e.entity_id).collect::<Vec<_>>(),
        vec![ids[0]]
    );
    let hook = a
        .subscribe_webhook("https://hooks.example/k", &["add_lead", "status_lead"], 5)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.webhooks().await.unwrap_or_default(), vec![hook]);
    a.unsubscribe_webhook("https://hooks.example/k")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(a.webhooks().await.unwrap_or_default().is_empty());
    a.run_salesbot(&[SalesbotRun {
        bot_id: 3,
        entity_id: ids[1],
        entity_type: 2,
    }])
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(h.emulator().salesbot_runs(ACCOUNT).len(), 1);

    // Bad input comes back as Kommo's validation errors.
    let refused = a
        .update_entities(
            EntityKind::Leads,
            vec![EntityWrite {
                status_id: Some(999),
                ..EntityWrite::update(ids[0])
            }],
        )
        .await;
    match refused {
        Err(KommoError::Rejected(problem)) => assert_eq!(
            problem.validation_errors[0].errors[0].code,
            "NotSupportedChoice"
        ),
        other => panic!("expected a rejection, got {other:?}"),
    }
    let counters = h.emulator().counters(ACCOUNT).unwrap_or_default();
    assert_eq!((counters.rate_limit_excess, counters.responses_429), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_reads_every_page_until_kommo_answers_204() {
    let config = ClientConfig {
        page_size: 4,
        ..fast_config()
    };
    let h = harness_with(EmulatorConfig::default(), config, None).await;
    let items: Vec<Value> = (0..8).map(|i| json!({"name": format!("L{i}")})).collect();
    h.emulator()
        .call(ACCOUNT, "POST", "v4/leads", Some(Value::Array(items)))
        .unwrap_or_else(|e| panic!("{e}"));
    let all = h
        .account
        .entities(EntityKind::Leads, &ListQuery::new())
        .await
        .unwrap_or_default();
    assert_eq!(all.len(), 8);
    let log: Vec<String> = h
        .emulator()
        .request_log()
        .into_iter()
        .map(|r| format!("{} {}", r.status, r.path))
        .collect();
    // Two full pages, each linking to the next, then the empty third page.
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(log[2].starts_with("204 "), "{log:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_lands_exactly_once_under_429_bursts_5xx_and_timeouts() {
    let config = ClientConfig {
        write_batch: 5,
        ..fast_config()
    };
    let h = harness_with(EmulatorConfig::default(), config, None).await;
    let emulator = h.emulator();
    // Creations: a 429 burst, a 503, a timeout before applying and one after applying.
    for rule in [
        fault(Fault::TooManyRequests, 2, "POST"),
        fault(Fault::Status { status: 503 }, 1, "POST"),
        fault(Fault::Timeout { after_apply: true }, 1, "POST"),
        fault(Fault::Timeout { after_apply: false }, 1, "POST"),
        fault(Fault::TooManyRequests, 1, "POST"),
        fault(Fault::Timeout { after_apply: true }, 1, "POST"),
    ] {
        emulator
            .inject_fault(ACCOUNT, rule)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let names: Vec<String> = (0..12).map(|i| format!("Order {i}")).collect();
    let writes = names
        .iter()
        .map(|n| EntityWrite {
            name: Some(n.clone()),
            price: Some(10),
            ..Default::default()
        })
        .collect();
    let ids = h
        .account
        .create_entities(EntityKind::Leads, writes)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let leads = emulator.entities(ACCOUNT, "leads");
    let mut stored: Vec<String> = leads
        .iter()
        .filter_map(|l| l["name"].as_str().map(str::to_owned))
        .collect();
    stored.sort();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(stored, expected, "each lead exists exactly once");
    let mut unique_ids = ids.clone();
    unique_ids.sort();
    unique_ids.dedup();
    assert_eq!(unique_ids.len(), 12);

    // Updates: absolute values and tag additions, replayed after a timeout that applied them.
    for rule in [
        fault(Fault::TooManyRequests, 3, "PATCH"),
        fault(Fault::Status { status: 502 }, 1, "PATCH"),
        fault(Fault::Timeout { after_apply: true }, 1, "PATCH"),
    ] {
        emulator
            .inject_fault(ACCOUNT, rule)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let updates = ids
        .iter()
        .map(|&id| EntityWrite {
            custom_fields_values: vec![FieldWrite::set(501, FieldValue::Number(42.0))],
            tags_to_add: vec![TagRef::name("paid")],
            ..EntityWrite::update(id)
        })
        .collect();
    assert_eq!(
        h.account
            .update_entities(EntityKind::Leads, updates)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        3
    );
    for id in &ids {
        let lead = emulator.entity(ACCOUNT, "leads", *id).unwrap_or_default();
        assert_eq!(
            lead["_embedded"]["tags"].as_array().map(Vec::len),
            Some(1),
            "{lead}"
        );
        assert_eq!(
            lead["custom_fields_values"][0]["values"],
            json!([{"value": "42"}])
        );
    }

    // Notes: not idempotent in Kommo, so they rely on read-back after a timeout.
    for rule in [
        fault(Fault::Timeout { after_apply: true }, 1, "POST"),
        fault(Fault::Status { status: 500 }, 1, "POST"),
    ] {
        emulator
            .inject_fault(ACCOUNT, rule)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let notes = ids
        .iter()
        .take(6)
        .map(|&id| NewNote {
            entity_id: id,
            content: NoteContent::Common {
                text: format!("paid {id}"),
            },
        })
        .collect();
    h.account
        .add_notes(EntityKind::Leads, notes)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let stored_notes = emulator.notes(ACCOUNT);
    assert_eq!(stored_notes.len(), 6);
    for id in ids.iter().take(6) {
        assert_eq!(
            stored_notes
                .iter()
                .filter(|n| n["entity_id"] == json!(id))
                .count(),
            1
        );
    }

    let counters = emulator.counters(ACCOUNT).unwrap_or_default();
    assert_eq!(counters.injected_429, 6);
    assert_eq!(counters.injected_timeouts, 5);
    assert_eq!(counters.injected_5xx, 3);
    assert_eq!(
        counters.rate_limit_excess, 0,
        "the emulator never saw the rate limit exceeded: {counters:?}"
    );
    assert_eq!(counters.responses_429, 0);
    assert!(counters.max_requests_in_window <= 7, "{counters:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_tasks_hitting_an_expired_token_cause_exactly_one_refresh() {
    let h = harness().await;
    // Kommo's clock passes the 24 h lifetime; our store still believes the token is good.
    h.emulator().clock().advance(25 * 3_600_000);
    let calls = (0..10).map(|_| {
        let account = h.account.clone();
        tokio::spawn(async move { account.account_info().await })
    });
    for call in calls {
        let info = call
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(info.id, 1001);
    }
    assert_eq!(
        h.emulator().counters(ACCOUNT).map(|c| c.token_refreshes),
        Some(1)
    );
    assert_eq!(h.client.stats().refreshes, 1);
    // Ten tasks share the account's limiter: Kommo never sees more than its limit. Requests leave
    // 1/6 s apart; network jitter may bring 7 into one second, never the 8th that would be excess.
    let counters = h.emulator().counters(ACCOUNT).unwrap_or_default();
    assert_eq!(
        (counters.rate_limit_excess, counters.responses_429),
        (0, 0),
        "{counters:?}"
    );
    assert!(counters.max_requests_in_window <= 7, "{counters:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_tasks_seeing_the_token_expire_by_our_clock_refresh_once_and_store_the_new_pair() {
    let h = harness().await;
    let mut stored = kommo::TokenStore::load(h.tokens.as_ref(), ACCOUNT)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("token"));
    stored.expires_at = now_unix() - 10;
    h.tokens.insert(ACCOUNT, stored.clone());
    let calls = (0..10).map(|_| {
        let account = h.account.clone();
        tokio::spawn(async move { account.users().await.map(|u| u.len()) })
    });
    for call in calls {
        assert_eq!(
            call.await
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|e| panic!("{e}")),
            2
        );
    }
    assert_eq!(
        h.emulator().counters(ACCOUNT).map(|c| c.token_refreshes),
        Some(1)
    );
    let fresh = kommo::TokenStore::load(h.tokens.as_ref(), ACCOUNT)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("token"));
    assert_ne!(fresh.refresh_token, stored.refresh_token);
    assert!(fresh.expires_at > now_unix());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_works_once_and_a_refused_refresh_raises_the_alert() {
    let h = harness().await;
    let old = kommo::TokenStore::load(h.tokens.as_ref(), ACCOUNT)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("token"));
    h.account
        .refresh(Some(&old.access_token))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Someone replays the old pair (e.g. a restored backup): Kommo refuses the used refresh token.
    h.tokens.insert(
        ACCOUNT,
        StoredToken {
            expires_at: now_unix() - 1,
            ..old
        },
    );
    match h.account.account_info().await {
        Err(KommoError::RefreshRejected(hint)) => assert_eq!(hint, "Token has been revoked"),
        other => panic!("expected a refused refresh, got {other:?}"),
    }
    assert!(matches!(
        h.account.alert(),
        Some(AccountAlert::RefreshRejected(_))
    ));
}

struct Unlimited;

impl RateLimiter for Unlimited {
    fn acquire<'a>(&'a self, _account: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_account_stops_the_client_and_raises_the_alert() {
    let emulator_config = EmulatorConfig {
        block_after_excess: 3,
        ..EmulatorConfig::default()
    };
    let config = ClientConfig {
        retry: RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        },
        ..fast_config()
    };
    let h = harness_with(emulator_config, config, Some(Arc::new(Unlimited))).await;
    let mut blocked = None;
    for _ in 0..20 {
        match h.account.account_info().await {
            Err(KommoError::AccountBlocked(account)) => {
                blocked = Some(account);
                break;
            }
            Ok(_) | Err(KommoError::RetriesExhausted { .. }) => {}
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(blocked.as_deref(), Some(ACCOUNT));
    assert_eq!(h.account.alert(), Some(AccountAlert::Blocked));
    let seen = h.emulator().counters(ACCOUNT).map(|c| c.requests);
    assert!(matches!(
        h.account.users().await,
        Err(KommoError::AccountBlocked(_))
    ));
    assert_eq!(
        h.emulator().counters(ACCOUNT).map(|c| c.requests),
        seen,
        "a stopped account sends nothing"
    );
    let counters = h.emulator().counters(ACCOUNT).unwrap_or_default();
    assert_eq!((counters.responses_429, counters.responses_403), (2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_custom_field_values_round_trip_through_kommo() {
    let h = harness().await;
    let writes = vec![
        FieldWrite::set(501, FieldValue::Number(12.5)),
        FieldWrite::set(502, FieldValue::EnumValue("Ads".into())),
        FieldWrite::set(503, FieldValue::Text("short".into())),
        FieldWrite::set(504, FieldValue::Checkbox(true)),
        FieldWrite {
            field: kommo::FieldRef::Id(505),
            values: Some(vec![FieldValue::EnumId(11), FieldValue::EnumId(13)]),
        },
        FieldWrite::set(506, FieldValue::Date(1_700_006_400)),
        FieldWrite::set(507, FieldValue::Date(1_700_010_000)),
        FieldWrite::set(508, FieldValue::Date(631_152_000)),
        FieldWrite::set(509, FieldValue::Text("https://example.com".into())),
        FieldWrite::set(510, FieldValue::Text("long\ntext".into())),
    ];
    let lead = EntityWrite {
        name: Some("Typed".into()),
        custom_fields_values: writes,
        ..Default::default()
    };
    let id = h
        .account
        .create_entities(EntityKind::Leads, vec![lead])
        .await
        .unwrap_or_else(|e| panic!("{e}"))[0];
    let read = h
        .account
        .entity(EntityKind::Leads, id, &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let typed: Vec<(i64, Vec<FieldValue>)> = read
        .custom_fields_values
        .iter()
        .map(|f| (f.field_id, f.typed()))
        .collect();
    assert_eq!(
        typed,
        vec![
            (501, vec![FieldValue::Number(12.5)]),
            (502, vec![FieldValue::EnumId(2)]),
            (503, vec![FieldValue::Text("short".into())]),
            (504, vec![FieldValue::Checkbox(true)]),
            (505, vec![FieldValue::EnumId(11), FieldValue::EnumId(13)]),
            (506, vec![FieldValue::Date(1_700_006_400)]),
            (507, vec![FieldValue::Date(1_700_010_000)]),
            (508, vec![FieldValue::Date(631_152_000)]),
            (509, vec![FieldValue::Text("https://example.com".into())]),
            (510, vec![FieldValue::Text("long\ntext".into())]),
        ]
    );
    // Phones and emails are multitext fields addressed by code, with enum codes.
    let contact = EntityWrite {
        name: Some("Maria".into()),
        custom_fields_values: vec![
            FieldWrite {
                field: kommo::FieldRef::Code("PHONE".into()),
                values: Some(vec![FieldValue::Multitext {
                    value: "+55 11 5555".into(),
                    enum_code: "MOB".into(),
                }]),
            },
            FieldWrite {
                field: kommo::FieldRef::Code("EMAIL".into()),
                values: Some(vec![FieldValue::Multitext {
                    value: "m@example.com".into(),
                    enum_code: "PRIV".into(),
                }]),
            },
        ],
        ..Default::default()
    };
    let contact_id = h
        .account
        .create_entities(EntityKind::Contacts, vec![contact])
        .await
        .unwrap_or_else(|e| panic!("{e}"))[0];
    let read = h
        .account
        .entity(EntityKind::Contacts, contact_id, &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let phones: Vec<(Option<String>, Vec<FieldValue>)> = read
        .custom_fields_values
        .iter()
        .map(|f| (f.field_code.clone(), f.typed()))
        .collect();
    assert_eq!(
        phones,
        vec![
            (
                Some("PHONE".into()),
                vec![FieldValue::Multitext {
                    value: "+55 11 5555".into(),
                    enum_code: "MOB".into()
                }]
            ),
            (
                Some("EMAIL".into()),
                vec![FieldValue::Multitext {
                    value: "m@example.com".into(),
                    enum_code: "PRIV".into()
                }]
            ),
        ]
    );
    // A wrong type is refused with Kommo's validation error, and clearing removes the value.
    let wrong = h
        .account
        .update_entities(
            EntityKind::Leads,
            vec![EntityWrite {
                custom_fields_values: vec![FieldWrite::set(504, FieldValue::Text("yes".into()))],
                ..EntityWrite::update(id)
            }],
        )
        .await;
    assert!(
        matches!(wrong, Err(KommoError::Rejected(ref p)) if p.validation_errors[0].errors[0].path == "custom_fields_values.0.values.0.value"),
        "{wrong:?}"
    );
    h.account
        .update_entities(
            EntityKind::Leads,
            vec![EntityWrite {
                custom_fields_values: vec![FieldWrite::clear(501)],
                ..EntityWrite::update(id)
            }],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let read = h
        .account
        .entity(EntityKind::Leads, id, &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(read.custom_fields_values.iter().all(|f| f.field_id != 501));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorization_code_is_exchanged_once_for_a_working_pair() {
    let h = harness().await;
    let code = h
        .emulator()
        .issue_auth_code(ACCOUNT, "cid")
        .unwrap_or_else(|e| panic!("code: {e}"));
    let oauth = OAuthApp {
        client_id: "cid".into(),
        client_secret: "sec".into(),
        redirect_uri: "https://api.example/oauth".into(),
    };
    let endpoint = AccountEndpoint::at("new", &h.server.account_url(ACCOUNT), Some(oauth))
        .unwrap_or_else(|e| panic!("{e}"));
    let pair = h
        .client
        .exchange_code(&endpoint, &code)
        .await
        .unwrap_or_else(|e| panic!("exchange: {e}"));
    assert!(!pair.refresh_token.is_empty());
    assert!(pair.expires_at > now_unix());
    // The pair works: stored under the endpoint's key, it reads the account.
    h.tokens.insert("new", pair);
    let info = h
        .client
        .account(endpoint.clone())
        .account_info()
        .await
        .unwrap_or_else(|e| panic!("account: {e}"));
    assert_eq!(info.id, 1001);
    // Codes are single-use.
    match h.client.exchange_code(&endpoint, &code).await {
        Err(KommoError::CodeRejected(hint)) => {
            assert_eq!(hint, "Authorization code has been revoked")
        }
        other => panic!("expected a refused code, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_client_reads_and_refuses_every_write_before_sending_it() {
    let h = harness().await;
    let lead = h
        .account
        .create_entities(
            EntityKind::Leads,
            vec![EntityWrite {
                name: Some("Deal".into()),
                ..Default::default()
            }],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))[0];
    let reader = h.account.read_only();
    assert!(reader.is_read_only() && !h.account.is_read_only());
    let requests_before = h.emulator().request_log().len();

    let read = reader
        .entity(EntityKind::Leads, lead, &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read.name, "Deal");
    let refusals = [
        reader
            .create_entities(
                EntityKind::Contacts,
                vec![EntityWrite {
                    name: Some("Eve".into()),
                    ..Default::default()
                }],
            )
            .await
            .map(drop),
        reader
            .update_entities(
                EntityKind::Leads,
                vec![EntityWrite {
                    id: Some(lead),
                    name: Some("Renamed".into()),
                    ..Default::default()
                }],
            )
            .await
            .map(drop),
        reader
            .add_notes(
                EntityKind::Leads,
                vec![NewNote {
                    entity_id: lead,
                    content: NoteContent::Common {
                        text: "hello".into(),
                    },
                }],
            )
            .await
            .map(drop),
        reader
            .run_salesbot(&[SalesbotRun {
                bot_id: 1,
                entity_id: lead,
                entity_type: 2,
            }])
            .await,
    ];

    for refused in refusals {
        assert!(
            matches!(refused, Err(KommoError::ReadOnly(_))),
            "{refused:?}"
        );
    }
    let log = h.emulator().request_log();
    let after: Vec<&str> = log[requests_before..]
        .iter()
        .map(|r| r.method.as_str())
        .collect();
    assert_eq!(after, ["GET"], "only the read reached Kommo");
    assert_eq!(h.emulator().entities(ACCOUNT, "contacts").len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_lists_are_read_over_every_page() {
    let config = ClientConfig {
        page_size: 2,
        ..fast_config()
    };
    let h = harness_with(EmulatorConfig::default(), config, None).await;

    let reasons = h.account.loss_reasons().await.unwrap_or_default();
    let bots = h.account.salesbots().await.unwrap_or_default();
    let account = h
        .account
        .account_with_types()
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(
        reasons.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(
        bots.iter().map(|b| (b.id, b.active)).collect::<Vec<_>>(),
        vec![(51, true), (52, false), (53, true)]
    );
    assert_eq!(
        account
            .embedded
            .task_types
            .iter()
            .map(|t| t.code.as_deref())
            .collect::<Vec<_>>(),
        vec![Some("FOLLOW_UP"), Some("MEETING")]
    );
    assert_eq!(account.embedded.users_groups[0].name, "Sales team");
    assert_eq!(account.language, "en");
    let paths: Vec<String> = h
        .emulator()
        .request_log()
        .into_iter()
        .map(|r| r.path)
        .collect();
    let loss_pages = paths.iter().filter(|p| p.contains("/loss_reasons")).count();
    let bot_pages = paths.iter().filter(|p| p.contains("/bots")).count();
    // 5 reasons in pages of 2: three pages, the last short; 3 bots: two pages.
    assert_eq!((loss_pages, bot_pages), (3, 2), "{paths:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_client_writes_down_each_refused_request_as_it_would_have_sent_it() {
    let h = harness().await;
    let (recorder_client, recorder) = h.account.recording();
    assert!(recorder_client.is_read_only());
    let requests_before = h.emulator().request_log().len();

    let refused = recorder_client
        .create_tasks(vec![TaskWrite {
            text: Some("Call back".into()),
            entity_id: Some(7),
            entity_type: Some(EntityKind::Leads),
            ..Default::default()
        }])
        .await;
    assert!(
        matches!(refused, Err(KommoError::ReadOnly(_))),
        "{refused:?}"
    );
    let recorded = recorder.take();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0].method, "POST");
    assert_eq!(recorded[0].path, "/api/v4/tasks");
    let body = recorded[0].body.clone().unwrap_or_default();
    assert_eq!(body[0]["text"], "Call back");
    assert_eq!(body[0]["entity_id"], 7);
    assert!(recorder.take().is_empty(), "taking empties the recorder");
    assert_eq!(
        h.emulator().request_log().len(),
        requests_before,
        "nothing reached Kommo"
    );
}
