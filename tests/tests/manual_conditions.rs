//! Every condition operand family of the Triggers manual ("List of all conditions", "Rules by
//! trigger type", global and webhook variables), evaluated against real emulator entities and
//! events, with every operator of the family's type, on SQLite and on PostgreSQL.
//!
//! The table is one row per (operand family, operator, right operand, expected verdict, emulator
//! setup). Each family says what its operand reads in the fixture (a value of its type); the rows
//! of a family are its type's operators, each with a right operand that holds and, where one
//! exists, one that does not. Every row goes through the real path: its rows become the blocks of
//! a rule saved through the API (one condition each, so each block's status is that row's
//! verdict), checked against the account's schema as any save is, then either dry-run through the
//! API on a real entity (fields, related entities, tasks, clock, global variables) or run by a real
//! event from the emulator and read back from the rule's debugger log through the API (note,
//! message, tag, field, status, responsible and inbound-webhook data). One stack per database.

use chrono::{Datelike, Duration as Days, NaiveDate, TimeZone, Utc};
use domain::rule::Operator;
use domain::validate::{operator_applies, StaticType};
use rulebook_e2e::on_both_databases;
use rulebook_e2e::stack::{default_seed, Database, Stack, START_MS, SUBDOMAIN};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

on_both_databases!(every_condition_operand_family_of_the_manual_evaluates_on_a_real_entity);

/// The day the conditions are evaluated on (the clocks are moved here after the fixture is made):
/// Thursday, 13:00 in Berlin.
fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 26).expect("date")
}

/// The unix time of `days` days after the stack's start (2026-11-23 12:00 UTC), plus `hours`.
fn at(days: i64, hours: i64) -> i64 {
    START_MS / 1000 + days * 86_400 + hours * 3600
}

/// What a family's operand reads in the fixture, which decides its type and its rows.
#[derive(Debug, Clone)]
enum Known {
    /// Text without commas, and another text of the same kind (another list value for selects).
    Text(String, String),
    /// A number.
    Number(f64),
    /// Yes or no.
    Bool(bool),
    /// A date (in the account's timezone); `textual` when the operand is text that reads as a
    /// date (a variable holding a UNIX time), which `equals` compares as text.
    Date { day: NaiveDate, textual: bool },
    /// A list's items (at least one) and a value of the same kind that is not among them.
    List(Vec<String>, String),
    /// No value at all (an empty field): a text family's operand.
    Missing,
}

impl Known {
    fn static_type(&self) -> StaticType {
        match self {
            Known::Text(..) | Known::Missing => StaticType::Text,
            Known::Number(_) => StaticType::Number,
            Known::Bool(_) => StaticType::Bool,
            Known::Date { .. } => StaticType::Date,
            Known::List(..) => StaticType::List,
        }
    }
}

/// Where a row is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Setup {
    /// A dry run of a manual lead rule on the fixture's lead.
    Lead,
    /// A dry run of a manual lead rule on the won lead.
    WonLead,
    /// A dry run of a manual contact rule on the lead's main contact.
    Contact,
    /// A dry run of a manual company rule on the lead's company.
    Company,
    /// A dry run of a "task added" rule on the lead's open task.
    OpenTask,
    /// A dry run of a "task added" rule on the lead's completed task.
    DoneTask,
    /// An incoming call note on the lead.
    CallNote,
    /// An outgoing SMS note on the lead.
    SmsNote,
    /// A text note on the lead.
    TextNote,
    /// A WhatsApp message from the contact.
    Message,
    /// A tag added to the lead.
    TagAdded,
    /// The lead's comment field changed.
    FieldUpdated,
    /// The lead moved from stage 12 to stage 13.
    StatusChanged,
    /// The lead's responsible user changed from Anna to Boris.
    ResponsibleChanged,
    /// The manual's site form posted to a rule's inbound webhook, finding the contact by phone.
    SiteForm,
    /// A task whose result "Interested" runs the rule was completed with that result.
    TaskResult,
}

impl Setup {
    fn trigger(self) -> Value {
        match self {
            Setup::Lead | Setup::WonLead | Setup::TaskResult => {
                json!({"kind": "manual", "entity": "lead"})
            }
            Setup::Contact => json!({"kind": "manual", "entity": "contact"}),
            Setup::Company => json!({"kind": "manual", "entity": "company"}),
            Setup::OpenTask | Setup::DoneTask => json!({"kind": "entity_added", "entity": "task"}),
            Setup::CallNote => {
                json!({"kind": "note_added", "entity": "lead", "note_types": ["call"]})
            }
            Setup::SmsNote => {
                json!({"kind": "note_added", "entity": "lead", "note_types": ["sms"]})
            }
            Setup::TextNote => {
                json!({"kind": "note_added", "entity": "lead", "note_types": ["text"]})
            }
            Setup::Message => json!({"kind": "incoming_message", "channels": ["whatsapp"]}),
            Setup::TagAdded => json!({"kind": "tag_added", "entity": "lead"}),
            Setup::FieldUpdated => {
                json!({"kind": "field_updated", "entity": "lead", "field_id": 504})
            }
            Setup::StatusChanged => {
                json!({"kind": "status_changed", "status_id": 13, "entry": "moved"})
            }
            Setup::ResponsibleChanged => json!({"kind": "responsible_changed", "entity": "lead"}),
            Setup::SiteForm => json!({"kind": "inbound_webhook", "hook_id": "site", "search": {
                "entity": "contact", "by": [{"field": "phone", "value": "{phone}"}]}}),
        }
    }

    /// The entity a dry-run setup evaluates on; `None` for the setups a real event runs.
    fn dry_run_on(self, fx: &Fixture) -> Option<(&'static str, i64)> {
        match self {
            Setup::Lead => Some(("lead", fx.lead)),
            Setup::WonLead => Some(("lead", fx.won_lead)),
            Setup::Contact => Some(("contact", fx.contact)),
            Setup::Company => Some(("company", fx.company)),
            Setup::OpenTask => Some(("task", fx.open_task)),
            Setup::DoneTask => Some(("task", fx.done_task)),
            _ => None,
        }
    }

    /// Makes the event of an event setup happen in the emulator (or at the inbound webhook).
    async fn fire(self, stack: &Stack, fx: &Fixture, rule_ids: &[i64]) {
        let lead = fx.lead;
        let note = |note_type: &str, params: Value| {
            stack.kommo_call(
                "POST",
                "/api/v4/leads/notes",
                Some(json!([{"entity_id": lead, "note_type": note_type, "params": params}])),
            );
        };
        let patch = |body: Value| {
            let mut body = body;
            body["id"] = json!(lead);
            stack.kommo_call("PATCH", "/api/v4/leads", Some(json!([body])));
        };
        match self {
            Setup::CallNote => note(
                "call_in",
                json!({"uniq": "call-1", "duration": 95, "source": "pbx", "phone": "+4930555111",
                       "call_status": 4}),
            ),
            Setup::SmsNote => note(
                "sms_out",
                json!({"text": "Your order has shipped", "phone": "+4930555111"}),
            ),
            Setup::TextNote => note("common", json!({"text": "Client asked for a discount"})),
            Setup::Message => {
                stack
                    .emulator()
                    .receive_message(
                        SUBDOMAIN,
                        Some(fx.contact),
                        "Anna Schmidt",
                        "How much does it cost?",
                        "whatsapp",
                    )
                    .expect("message");
            }
            Setup::TagAdded => patch(json!({"tags_to_add": [{"name": "urgent"}]})),
            Setup::FieldUpdated => patch(json!({"custom_fields_values": [
                {"field_id": 504, "values": [{"value": "Call tomorrow"}]}]})),
            Setup::StatusChanged => patch(json!({"status_id": 13})),
            Setup::ResponsibleChanged => patch(json!({"responsible_user_id": 102})),
            Setup::SiteForm => {
                for rule in rule_ids {
                    let url = stack.inbound_hook_url(*rule).await;
                    let status = reqwest::Client::new()
                        .post(url)
                        .form(&[
                            ("phone", "+4930555111"),
                            ("form_name", "Contact us"),
                            ("amount", "250"),
                        ])
                        .send()
                        .await
                        .expect("answered")
                        .status();
                    assert_eq!(status.as_u16(), 200);
                }
            }
            Setup::TaskResult => {
                // The task's result option names the rule, as the manual's "create task" does.
                let setter = save(
                    stack,
                    "Set the call task",
                    json!({"schema_version": 3, "name": "Set the call task",
                           "trigger": {"kind": "manual", "entity": "lead"},
                           "blocks": [{"actions": [{"do": {"type": "create_task", "entity": "lead",
                               "task_type_id": 1, "complete_in_seconds": 600, "text": "Call about the offer",
                               "results": [{"text": "Interested", "rule_id": rule_ids[0]},
                                           {"text": "Not interested"}]}}]}]}),
                )
                .await;
                let (status, body) = stack
                    .api(
                        "POST",
                        &format!("/api/v1/rules/{setter}/run"),
                        Some(json!({"entity_type": "leads", "entity_ids": [lead]})),
                    )
                    .await;
                assert_eq!(status, 202, "{body}");
                stack.settle().await;
                let task = stack
                    .emulator()
                    .tasks(SUBDOMAIN)
                    .into_iter()
                    .find(|t| t["text"] == "Call about the offer")
                    .expect("the rule set the task");
                stack.kommo_call(
                    "PATCH",
                    "/api/v4/tasks",
                    Some(json!([{"id": task["id"], "is_completed": true,
                                 "result": {"text": "Interested"}}])),
                );
            }
            _ => unreachable!("{self:?} is a dry run"),
        }
    }
}

/// One operand family of the manual.
struct Family {
    name: &'static str,
    left: Value,
    setup: Setup,
    known: Known,
}

/// One row of the table.
#[derive(Debug, Clone)]
struct Row {
    family: &'static str,
    setup: Setup,
    left: Value,
    op: Value,
    right: Option<Value>,
    upper: Option<Value>,
    expected: bool,
}

/// The entities of the fixture.
struct Fixture {
    lead: i64,
    won_lead: i64,
    contact: i64,
    company: i64,
    open_task: i64,
    done_task: i64,
}

fn path(p: &str) -> Value {
    json!({"path": p})
}

/// The account: the default seed with a custom field of every type Kommo has for leads, UTM
/// fields, a company field, and a third list value for the multiselect.
fn seed() -> Value {
    let mut seed = default_seed();
    let leads = seed["custom_fields"]["leads"]
        .as_array_mut()
        .expect("lead fields");
    leads.extend([
        json!({"id": 507, "name": "Delivery notes", "type": "textarea"}),
        json!({"id": 508, "name": "Order page", "type": "url"}),
        json!({"id": 509, "name": "Channels", "type": "multiselect", "enums": [
            {"id": 5091, "value": "Email"}, {"id": 5092, "value": "Phone"}, {"id": 5093, "value": "SMS"}]}),
        json!({"id": 510, "name": "Order date", "type": "date"}),
        json!({"id": 512, "name": "Discount code", "type": "text"}),
    ]);
    for (id, code) in [
        (521, "UTM_SOURCE"),
        (522, "UTM_MEDIUM"),
        (523, "UTM_CAMPAIGN"),
        (524, "UTM_TERM"),
        (525, "UTM_CONTENT"),
    ] {
        leads.push(json!({"id": id, "name": code.to_lowercase(), "type": "text", "code": code}));
    }
    seed["custom_fields"]["companies"] = json!([{"id": 701, "name": "City", "type": "text"}]);
    seed
}

async fn fixture(stack: &Stack) -> Fixture {
    let company = stack.create(
        "companies",
        json!({"name": "Acme GmbH", "custom_fields_values": [
            {"field_id": 701, "values": [{"value": "Berlin"}]}]}),
    );
    let contact = stack.create(
        "contacts",
        json!({"name": "Anna Schmidt", "custom_fields_values": [
            {"field_id": 601, "values": [{"value": "+4930555111", "enum_code": "WORK"}]},
            {"field_id": 602, "values": [{"value": "anna@example.com", "enum_code": "WORK"}]},
            {"field_id": 603, "values": [{"value": Utc.with_ymd_and_hms(1990, 5, 5, 12, 0, 0).unwrap().timestamp()}]}]}),
    );
    let colleague = stack.create("contacts", json!({"name": "Boris Klein"}));
    let text = |id: i64, value: &str| json!({"field_id": id, "values": [{"value": value}]});
    let lead = stack.create(
        "leads",
        json!({
            "name": "WHOLESALE form order", "price": 1500, "pipeline_id": 10, "status_id": 12,
            "responsible_user_id": 101,
            "custom_fields_values": [
                {"field_id": 501, "values": [{"enum_id": 5011}]},
                {"field_id": 502, "values": [{"value": 42}]},
                {"field_id": 503, "values": [{"value": true}]},
                text(504, "Call after lunch"),
                // 2026-11-28 09:30 in Berlin.
                {"field_id": 506, "values": [{"value": at(5, -4) + 1800}]},
                text(507, "Leave it at the back door"),
                text(508, "https://shop.example.com/orders/7"),
                {"field_id": 509, "values": [{"enum_id": 5091}, {"enum_id": 5092}]},
                {"field_id": 510, "values": [{"value": at(-3, 0)}]},
                text(521, "google"), text(522, "cpc"), text(523, "black_friday"),
                text(524, "wholesale shoes"), text(525, "banner_a")
            ],
            "_embedded": {
                "tags": [{"name": "hot"}, {"name": "vip"}],
                "contacts": [{"id": contact, "is_main": true}, {"id": colleague}],
                "companies": [{"id": company}]
            }
        }),
    );
    let won_lead = stack.create(
        "leads",
        json!({"name": "Closed deal", "pipeline_id": 10, "status_id": 142}),
    );
    let task = |text: &str, type_id: i64, due: i64, responsible: i64| {
        let body = stack.kommo_call(
            "POST",
            "/api/v4/tasks",
            Some(
                json!([{"text": text, "task_type_id": type_id, "complete_till": due,
                         "entity_id": lead, "entity_type": "leads", "duration": 1800,
                         "responsible_user_id": responsible}]),
            ),
        );
        body["_embedded"]["tasks"][0]["id"]
            .as_i64()
            .expect("task id")
    };
    // Sunday 2026-11-29, open; Tuesday 2026-11-24, overdue by the time conditions are checked;
    // and one completed with a result.
    let open_task = task("Call back", 1, at(6, 0), 102);
    task("Send the offer", 2, at(1, 0), 101);
    let done_task = task("First call", 1, at(0, 2), 101);
    stack.kommo_call(
        "PATCH",
        "/api/v4/tasks",
        Some(json!([{"id": done_task, "is_completed": true, "result": {"text": "Interested"}}])),
    );
    stack.settle().await;
    // The lead last changes on Tuesday; the conditions are checked on Thursday.
    stack.advance(Duration::from_secs(86_400));
    stack.kommo_call(
        "PATCH",
        "/api/v4/leads",
        Some(json!([{"id": lead, "custom_fields_values": [text(504, "Call after lunch today")]}])),
    );
    stack.settle().await;
    stack.advance(Duration::from_secs(2 * 86_400));
    Fixture {
        lead,
        won_lead,
        contact,
        company,
        open_task,
        done_task,
    }
}

fn text(a: &str, b: &str) -> Known {
    Known::Text(a.into(), b.into())
}

fn date(y: i32, m: u32, d: u32) -> Known {
    Known::Date {
        day: NaiveDate::from_ymd_opt(y, m, d).expect("date"),
        textual: false,
    }
}

fn list(items: &[&str], other: &str) -> Known {
    Known::List(
        items.iter().map(|s| (*s).to_owned()).collect(),
        other.into(),
    )
}

/// Every operand family of the manual that Rulebook has, with what it reads in the fixture.
fn families(fx: &Fixture) -> Vec<Family> {
    use Setup as S;
    let f = |name: &'static str, left: Value, setup: Setup, known: Known| Family {
        name,
        left,
        setup,
        known,
    };
    vec![
        // Fields of the event's entity ("Tags, budget, responsible user, pipeline, status, etc.").
        f(
            "lead id",
            path("lead.id"),
            S::Lead,
            Known::Number(fx.lead as f64),
        ),
        f(
            "lead name",
            path("lead.name"),
            S::Lead,
            text("WHOLESALE form order", "RETAIL form order"),
        ),
        f(
            "lead budget",
            path("lead.price"),
            S::Lead,
            Known::Number(1500.0),
        ),
        f(
            "lead stage",
            path("lead.status_id"),
            S::Lead,
            Known::Number(12.0),
        ),
        f(
            "lead pipeline",
            path("lead.pipeline_id"),
            S::Lead,
            Known::Number(10.0),
        ),
        f(
            "responsible user",
            path("lead.responsible_user_id"),
            S::Lead,
            Known::Number(101.0),
        ),
        f(
            "responsible user's name",
            path("lead.responsible.name"),
            S::Lead,
            text("Anna", "Boris"),
        ),
        f(
            "tags",
            path("lead.tags"),
            S::Lead,
            list(&["hot", "vip"], "cold"),
        ),
        f(
            "created",
            path("lead.created_at"),
            S::Lead,
            date(2026, 11, 23),
        ),
        f(
            "last changed",
            path("lead.updated_at"),
            S::Lead,
            date(2026, 11, 24),
        ),
        f(
            "closed",
            path("lead.closed_at"),
            S::WonLead,
            date(2026, 11, 23),
        ),
        // Custom fields of each type.
        f(
            "text field",
            path("lead.cf(504)"),
            S::Lead,
            text("Call after lunch today", "Send the invoice"),
        ),
        f(
            "textarea field",
            path("lead.cf(507)"),
            S::Lead,
            text("Leave it at the back door", "Ring twice"),
        ),
        f(
            "url field",
            path("lead.cf(508)"),
            S::Lead,
            text("https://shop.example.com/orders/7", "https://example.org"),
        ),
        f(
            "numeric field",
            path("lead.cf(502)"),
            S::Lead,
            Known::Number(42.0),
        ),
        f(
            "checkbox field",
            path("lead.cf(503)"),
            S::Lead,
            Known::Bool(true),
        ),
        f(
            "select field",
            path("lead.cf(501)"),
            S::Lead,
            text("WHOLESALE", "RETAIL"),
        ),
        f(
            "multiselect field",
            path("lead.cf(509)"),
            S::Lead,
            list(&["Email", "Phone"], "SMS"),
        ),
        f(
            "date field",
            path("lead.cf(510)"),
            S::Lead,
            date(2026, 11, 20),
        ),
        f(
            "date and time field",
            path("lead.cf(506)"),
            S::Lead,
            date(2026, 11, 28),
        ),
        f("empty field", path("lead.cf(512)"), S::Lead, Known::Missing),
        // UTM fields.
        f(
            "utm_source",
            path("lead.utm_source"),
            S::Lead,
            text("google", "facebook"),
        ),
        f(
            "utm_medium",
            path("lead.utm_medium"),
            S::Lead,
            text("cpc", "email"),
        ),
        f(
            "utm_campaign",
            path("lead.utm_campaign"),
            S::Lead,
            text("black_friday", "spring_sale"),
        ),
        f(
            "utm_term",
            path("lead.utm_term"),
            S::Lead,
            text("wholesale shoes", "boots"),
        ),
        f(
            "utm_content",
            path("lead.utm_content"),
            S::Lead,
            text("banner_a", "banner_b"),
        ),
        // Related entities ("the lead field compares with the related company field").
        f(
            "main contact's name",
            path("contact.name"),
            S::Lead,
            text("Anna Schmidt", "Boris Klein"),
        ),
        f(
            "main contact's phone (multitext)",
            path("contact.cf(601)"),
            S::Lead,
            list(&["+4930555111"], "+4930999000"),
        ),
        f(
            "main contact's birthday",
            path("contact.cf(603)"),
            S::Lead,
            date(1990, 5, 5),
        ),
        f(
            "company's name",
            path("company.name"),
            S::Lead,
            text("Acme GmbH", "Globex"),
        ),
        f(
            "company's field",
            path("company.cf(701)"),
            S::Lead,
            text("Berlin", "Munich"),
        ),
        f(
            "the event's entity (client)",
            path("client.name"),
            S::Contact,
            text("Anna Schmidt", "Boris Klein"),
        ),
        // Tasks: date of the nearest task, number of tasks (open, overdue, total).
        f(
            "nearest task",
            path("lead.tasks.nearest"),
            S::Lead,
            date(2026, 11, 24),
        ),
        f(
            "open tasks",
            path("lead.tasks.open"),
            S::Lead,
            Known::Number(2.0),
        ),
        f(
            "overdue tasks",
            path("lead.tasks.overdue"),
            S::Lead,
            Known::Number(1.0),
        ),
        f(
            "all tasks",
            path("lead.tasks.total"),
            S::Lead,
            Known::Number(3.0),
        ),
        // Number of attached leads, contacts, companies.
        f(
            "lead's contacts",
            path("lead.contacts.count"),
            S::Lead,
            Known::Number(2.0),
        ),
        f(
            "lead's companies",
            path("lead.companies.count"),
            S::Lead,
            Known::Number(1.0),
        ),
        f(
            "contact's leads",
            path("contact.leads.count"),
            S::Contact,
            Known::Number(1.0),
        ),
        f(
            "company's leads",
            path("company.leads.count"),
            S::Company,
            Known::Number(1.0),
        ),
        // The task of a task event: its entity's type, type, completion, finish, duration.
        f(
            "task id",
            path("task.id"),
            S::OpenTask,
            Known::Number(fx.open_task as f64),
        ),
        f(
            "task text",
            path("task.text"),
            S::OpenTask,
            text("Call back", "Send the offer"),
        ),
        f(
            "task type",
            path("task.type_id"),
            S::OpenTask,
            Known::Number(1.0),
        ),
        f(
            "task completed (open task)",
            path("task.is_completed"),
            S::OpenTask,
            Known::Bool(false),
        ),
        f(
            "task completed (done task)",
            path("task.is_completed"),
            S::DoneTask,
            Known::Bool(true),
        ),
        f(
            "task finish",
            path("task.complete_till"),
            S::OpenTask,
            date(2026, 11, 29),
        ),
        f(
            "task duration",
            path("task.duration"),
            S::OpenTask,
            Known::Number(1800.0),
        ),
        f(
            "task result",
            path("task.result"),
            S::DoneTask,
            text("Interested", "Not interested"),
        ),
        f(
            "task responsible",
            path("task.responsible_user_id"),
            S::OpenTask,
            Known::Number(102.0),
        ),
        f(
            "task's entity type",
            path("task.entity_type"),
            S::OpenTask,
            text("lead", "contact"),
        ),
        // The clock, in the account's timezone (Thursday 2026-11-26, 13:00 in Berlin).
        f(
            "current date and time",
            path("date.now"),
            S::Lead,
            date(2026, 11, 26),
        ),
        f("today", path("date.today"), S::Lead, date(2026, 11, 26)),
        f(
            "time of day",
            path("date.time"),
            S::Lead,
            text("13:00", "09:00"),
        ),
        f(
            "day of the week",
            path("date.weekday"),
            S::Lead,
            Known::Number(4.0),
        ),
        f(
            "unix time",
            path("date.timestamp"),
            S::Lead,
            Known::Number(at(3, 0) as f64),
        ),
        f(
            "working hours",
            path("date.working_hours"),
            S::Lead,
            Known::Bool(true),
        ),
        // Global variables: text, numbers, dates as UNIX time and 1/0 switches, as the manual says.
        f(
            "global variable (text)",
            json!({"global": "promo"}),
            S::Lead,
            text("Black Friday", "Cyber Monday"),
        ),
        f(
            "global variable (number)",
            json!({"global": "order_count"}),
            S::Lead,
            Known::Number(12.0),
        ),
        f(
            "global variable (date as UNIX time)",
            json!({"global": "last_order"}),
            S::Lead,
            Known::Date {
                day: NaiveDate::from_ymd_opt(2026, 11, 23).expect("date"),
                textual: true,
            },
        ),
        f(
            "global variable (1/0 switch)",
            json!({"global": "vip_mode"}),
            S::Lead,
            Known::Bool(true),
        ),
        // Event data.
        f(
            "note type",
            path("event.note_type"),
            S::CallNote,
            text("call", "sms"),
        ),
        f(
            "call direction",
            path("event.direction"),
            S::CallNote,
            text("incoming", "outgoing"),
        ),
        f(
            "call duration",
            path("event.call_duration"),
            S::CallNote,
            Known::Number(95.0),
        ),
        f(
            "call status",
            path("event.call_status"),
            S::CallNote,
            text("held", "busy"),
        ),
        f(
            "SMS direction",
            path("event.direction"),
            S::SmsNote,
            text("outgoing", "incoming"),
        ),
        f(
            "SMS text",
            path("event.note_text"),
            S::SmsNote,
            text("Your order has shipped", "Payment received"),
        ),
        f(
            "note text",
            path("event.note_text"),
            S::TextNote,
            text("Client asked for a discount", "Call me"),
        ),
        f(
            "message text",
            path("event.message_text"),
            S::Message,
            text("How much does it cost?", "Thank you"),
        ),
        f(
            "message channel",
            path("event.channel"),
            S::Message,
            text("whatsapp", "telegram"),
        ),
        f(
            "message direction",
            path("event.direction"),
            S::Message,
            text("incoming", "outgoing"),
        ),
        f(
            "tag added",
            path("event.tag"),
            S::TagAdded,
            text("urgent", "cold"),
        ),
        f(
            "field changed",
            path("event.field_id"),
            S::FieldUpdated,
            Known::Number(504.0),
        ),
        f(
            "previous stage",
            path("event.old_status_id"),
            S::StatusChanged,
            Known::Number(12.0),
        ),
        f(
            "previous pipeline",
            path("event.old_pipeline_id"),
            S::StatusChanged,
            Known::Number(10.0),
        ),
        f(
            "previous responsible",
            path("event.old_responsible_user_id"),
            S::ResponsibleChanged,
            Known::Number(101.0),
        ),
        // The manual's site form: webhook variables and whether the search found the entity.
        f(
            "webhook variable (text)",
            json!({"webhook": "form_name"}),
            S::SiteForm,
            text("Contact us", "Newsletter"),
        ),
        f(
            "webhook variable (number)",
            json!({"webhook": "amount"}),
            S::SiteForm,
            Known::Number(250.0),
        ),
        f(
            "entity found by the webhook's search",
            path("event.entity_found"),
            S::SiteForm,
            Known::Bool(true),
        ),
        // A task's result starting a rule.
        f(
            "task result chosen",
            path("event.task_result"),
            S::TaskResult,
            text("Interested", "Not interested"),
        ),
    ]
}

fn op(name: &str) -> Value {
    json!({"is": name})
}

fn lit(v: impl Into<Value>) -> Option<Value> {
    Some(json!({"literal": v.into()}))
}

/// A number as a person writes it in a list ("12", "2.5").
fn number_text(n: f64) -> String {
    if n.fract() == 0.0 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

fn prefix(s: &str) -> String {
    let n = s.chars().count();
    s.chars().take((n / 2).max(1)).collect()
}

fn suffix(s: &str) -> String {
    let n = s.chars().count();
    let keep = (n / 2).max(1);
    s.chars().skip(n - keep).collect()
}

fn weekday_name(day: NaiveDate) -> &'static str {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][day.weekday().num_days_from_monday() as usize]
}

/// The rows of one family: each operator of its type, with a right operand that holds and one
/// that does not (where the fixture's value allows one).
fn rows_of(family: &Family) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut row = |op: Value, right: Option<Value>, upper: Option<Value>, expected: bool| {
        rows.push(Row {
            family: family.name,
            setup: family.setup,
            left: family.left.clone(),
            op,
            right,
            upper,
            expected,
        })
    };
    match &family.known {
        Known::Text(k, o) => {
            row(op("equals"), lit(k.as_str()), None, true);
            row(op("equals"), lit(o.as_str()), None, false);
            row(op("not_equals"), lit(o.as_str()), None, true);
            row(op("not_equals"), lit(k.as_str()), None, false);
            row(op("contains"), lit(prefix(k)), None, true);
            row(op("contains"), lit(o.as_str()), None, false);
            row(op("not_contains"), lit(o.as_str()), None, true);
            row(op("not_contains"), lit(suffix(k)), None, false);
            row(op("starts_with"), lit(prefix(k)), None, true);
            row(op("starts_with"), lit(o.as_str()), None, false);
            row(op("ends_with"), lit(suffix(k)), None, true);
            row(op("ends_with"), lit(o.as_str()), None, false);
            let exact = |s: &str| format!("^{}$", regex::escape(s));
            row(op("matches_regex"), lit(exact(k)), None, true);
            row(op("matches_regex"), lit(exact(o)), None, false);
            row(op("is_empty"), None, None, false);
            row(op("is_not_empty"), None, None, true);
            row(op("has_any"), lit(json!([o, k])), None, true);
            row(op("has_any"), lit(json!([o])), None, false);
            row(op("has_all"), lit(json!([k])), None, true);
            row(op("has_all"), lit(json!([k, o])), None, false);
            row(op("has_none"), lit(json!([o])), None, true);
            row(op("has_none"), lit(json!([k])), None, false);
            row(op("is_one_of"), lit(json!([o, k])), None, true);
            row(op("is_one_of"), lit(json!([o])), None, false);
        }
        Known::Missing => {
            row(op("is_empty"), None, None, true);
            row(op("is_not_empty"), None, None, false);
            row(op("equals"), lit(""), None, true);
            row(op("equals"), lit("SPRING10"), None, false);
            row(op("not_equals"), lit("SPRING10"), None, true);
            row(op("contains"), lit("SPRING"), None, false);
            row(op("not_contains"), lit("SPRING"), None, true);
            row(op("starts_with"), lit("S"), None, false);
            row(op("ends_with"), lit("0"), None, false);
            row(op("matches_regex"), lit("."), None, false);
            row(op("has_any"), lit(json!(["SPRING10"])), None, false);
            row(op("has_all"), lit(json!(["SPRING10"])), None, false);
            row(op("has_none"), lit(json!(["SPRING10"])), None, true);
            row(op("is_one_of"), lit(json!(["SPRING10"])), None, false);
        }
        Known::Number(n) => {
            let n = *n;
            row(op("equals"), lit(n), None, true);
            row(op("equals"), lit(n + 1.0), None, false);
            row(op("not_equals"), lit(n + 1.0), None, true);
            row(op("not_equals"), lit(n), None, false);
            row(op("less"), lit(n + 1.0), None, true);
            row(op("less"), lit(n), None, false);
            row(op("less_or_equal"), lit(n), None, true);
            row(op("less_or_equal"), lit(n - 1.0), None, false);
            row(op("greater"), lit(n - 1.0), None, true);
            row(op("greater"), lit(n), None, false);
            row(op("greater_or_equal"), lit(n), None, true);
            row(op("greater_or_equal"), lit(n + 1.0), None, false);
            row(op("between"), lit(n - 1.0), lit(n + 1.0), true);
            row(op("between"), lit(n + 1.0), lit(n + 2.0), false);
            let listed =
                |items: &[f64]| json!(items.iter().map(|x| number_text(*x)).collect::<Vec<_>>());
            row(op("is_one_of"), lit(listed(&[n + 5.0, n])), None, true);
            row(op("is_one_of"), lit(listed(&[n + 5.0])), None, false);
            row(op("is_empty"), None, None, false);
            row(op("is_not_empty"), None, None, true);
        }
        Known::Bool(b) => {
            let b = *b;
            row(op("equals"), lit(b), None, true);
            row(op("equals"), lit(!b), None, false);
            row(op("not_equals"), lit(!b), None, true);
            row(op("not_equals"), lit(b), None, false);
            row(op("is_true"), None, None, b);
            row(op("is_false"), None, None, !b);
            row(op("is_empty"), None, None, false);
            row(op("is_not_empty"), None, None, true);
        }
        Known::Date { day, textual } => {
            let day = *day;
            let iso = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
            let next = day + Days::days(1);
            let prev = day - Days::days(1);
            if !textual {
                row(op("equals"), lit(iso(day)), None, true);
                row(op("equals"), lit(iso(next)), None, false);
                row(op("not_equals"), lit(iso(next)), None, true);
                row(op("not_equals"), lit(iso(day)), None, false);
            }
            row(op("before"), lit(iso(next)), None, true);
            row(op("before"), lit(iso(day)), None, false);
            row(op("after"), lit(iso(prev)), None, true);
            row(op("after"), lit(iso(day)), None, false);
            row(op("on"), lit(iso(day)), None, true);
            row(op("on"), lit(iso(next)), None, false);
            let within = |name: &str, amount: i64| json!({"is": name, "amount": u32::try_from(amount).expect("amount"), "unit": "days"});
            let ago = (today() - day).num_days();
            if ago >= 0 {
                row(within("within_last", ago + 1), None, None, true);
                if ago >= 2 {
                    row(within("within_last", ago - 1), None, None, false);
                }
                if ago > 0 {
                    row(within("within_next", ago + 30), None, None, false);
                }
            }
            if ago <= 0 {
                row(within("within_next", 1 - ago), None, None, true);
                if ago <= -2 {
                    row(within("within_next", -ago - 1), None, None, false);
                }
                if ago < 0 {
                    row(within("within_last", 30 - ago), None, None, false);
                }
            }
            row(
                op("day_of_week"),
                lit(json!([weekday_name(day)])),
                None,
                true,
            );
            row(
                op("day_of_week"),
                lit(json!([weekday_name(next)])),
                None,
                false,
            );
            row(op("is_empty"), None, None, false);
            row(op("is_not_empty"), None, None, true);
        }
        Known::List(items, o) => {
            let first = items[0].as_str();
            let mut reversed = items.clone();
            reversed.reverse();
            let mut with_other = vec![first.to_owned(), o.clone()];
            row(op("equals"), lit(json!(reversed)), None, true);
            row(op("equals"), lit(json!([o])), None, false);
            row(op("not_equals"), lit(json!([o])), None, true);
            row(op("not_equals"), lit(json!(items)), None, false);
            row(op("contains"), lit(first), None, true);
            row(op("contains"), lit(o.as_str()), None, false);
            row(op("not_contains"), lit(o.as_str()), None, true);
            row(op("not_contains"), lit(first), None, false);
            row(op("starts_with"), lit(prefix(first)), None, true);
            row(op("starts_with"), lit(o.as_str()), None, false);
            row(op("ends_with"), lit(suffix(first)), None, true);
            row(op("ends_with"), lit(o.as_str()), None, false);
            row(op("matches_regex"), lit(regex::escape(first)), None, true);
            row(op("matches_regex"), lit(regex::escape(o)), None, false);
            row(op("has_any"), lit(json!(with_other)), None, true);
            row(op("has_any"), lit(json!([o])), None, false);
            row(op("has_all"), lit(json!(items)), None, true);
            row(op("has_all"), lit(json!(with_other)), None, false);
            row(op("has_none"), lit(json!([o])), None, true);
            row(op("has_none"), lit(json!([first])), None, false);
            with_other = items.clone();
            with_other.push(o.clone());
            row(op("is_one_of"), lit(json!(with_other)), None, true);
            row(op("is_one_of"), lit(json!([o])), None, false);
            row(op("is_empty"), None, None, false);
            row(op("is_not_empty"), None, None, true);
        }
    }
    rows
}

/// The manual: "You can compare everything with anything, including values from related
/// entities … In the comparison settings, both lower and upper fields have the same data, the
/// result does not change when you rearrange them." Fields against fields and values against
/// fields, each way round.
fn rearranged_rows() -> Vec<Row> {
    const FAMILY: &str = "fields and values compared either way round";
    let cases = [
        (
            json!({"literal": "wholesale form order"}),
            "equals",
            path("lead.name"),
            true,
        ),
        (path("lead.name"), "equals", path("contact.name"), false),
        (
            json!({"literal": "2026-11-23"}),
            "equals",
            path("lead.created_at"),
            true,
        ),
        (
            path("lead.created_at"),
            "equals",
            json!({"literal": "2026-11-23"}),
            true,
        ),
        (
            json!({"literal": "2026-11-24"}),
            "equals",
            path("lead.created_at"),
            false,
        ),
        (
            json!({"literal": "2026-11-24"}),
            "not_equals",
            path("lead.created_at"),
            true,
        ),
        (
            json!({"literal": "20.11.2026"}),
            "equals",
            path("lead.cf(510)"),
            true,
        ),
        (
            json!({"literal": "vip, hot"}),
            "equals",
            path("lead.tags"),
            true,
        ),
        (
            path("lead.tags"),
            "equals",
            json!({"literal": "vip, hot"}),
            true,
        ),
        (
            json!({"literal": ["vip", "hot"]}),
            "equals",
            path("lead.tags"),
            true,
        ),
        (json!({"literal": 1500}), "equals", path("lead.price"), true),
        (
            json!({"literal": true}),
            "equals",
            path("lead.cf(503)"),
            true,
        ),
        (path("lead.cf(502)"), "less", path("lead.price"), true),
        (path("lead.price"), "less", path("lead.cf(502)"), false),
        (
            json!({"global": "order_count"}),
            "less",
            path("lead.cf(502)"),
            true,
        ),
        (
            path("lead.created_at"),
            "before",
            path("lead.cf(506)"),
            true,
        ),
        (
            path("lead.cf(506)"),
            "before",
            path("lead.created_at"),
            false,
        ),
        (
            path("company.cf(701)"),
            "equals",
            path("lead.cf(504)"),
            false,
        ),
        (
            path("lead.responsible.name"),
            "equals",
            json!({"literal": "ANNA"}),
            true,
        ),
    ];
    cases
        .into_iter()
        .map(|(left, name, right, expected)| Row {
            family: FAMILY,
            setup: Setup::Lead,
            left,
            op: op(name),
            right: Some(right),
            upper: None,
            expected,
        })
        .collect()
}

/// Every operator, one of each variant, for the coverage check.
fn all_operators() -> Vec<Operator> {
    use domain::rule::TimeUnit;
    vec![
        Operator::Equals,
        Operator::NotEquals,
        Operator::Contains,
        Operator::NotContains,
        Operator::StartsWith,
        Operator::EndsWith,
        Operator::MatchesRegex,
        Operator::IsEmpty,
        Operator::IsNotEmpty,
        Operator::Less,
        Operator::LessOrEqual,
        Operator::Greater,
        Operator::GreaterOrEqual,
        Operator::Between,
        Operator::Before,
        Operator::After,
        Operator::On,
        Operator::WithinLast {
            amount: 1,
            unit: TimeUnit::Days,
        },
        Operator::WithinNext {
            amount: 1,
            unit: TimeUnit::Days,
        },
        Operator::DayOfWeek,
        Operator::HasAny,
        Operator::HasAll,
        Operator::HasNone,
        Operator::IsOneOf,
        Operator::IsTrue,
        Operator::IsFalse,
    ]
}

/// The table's promise: each family has a row that holds and one that does not, and each family
/// has a row for every operator its type allows (`domain::validate::operator_applies`, the same
/// check a save makes); a date held as text skips `equals`, which compares it as text.
fn check_coverage(families: &[Family], rows: &[Row]) {
    for family in families {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.family == family.name).collect();
        assert!(
            mine.iter().any(|r| r.expected) && mine.iter().any(|r| !r.expected),
            "{} needs a passing and a failing row",
            family.name
        );
        let covered: BTreeSet<String> = mine
            .iter()
            .map(|r| r.op["is"].as_str().expect("op").to_owned())
            .collect();
        let textual = matches!(family.known, Known::Date { textual: true, .. });
        for operator in all_operators() {
            let applies = operator_applies(&operator, family.known.static_type());
            let skipped = textual && matches!(operator, Operator::Equals | Operator::NotEquals);
            if applies && !skipped {
                assert!(
                    covered.contains(operator.name()),
                    "{} has no row for '{}'",
                    family.name,
                    operator.name()
                );
            }
        }
    }
}

/// Saves a rule through the API, as the builder does, and returns its id.
async fn save(stack: &Stack, name: &str, rule: Value) -> i64 {
    let (status, saved) = stack
        .api(
            "POST",
            "/api/v1/rules",
            Some(json!({"name": name, "rule": rule})),
        )
        .await;
    assert_eq!(status, 201, "{name}: {saved}");
    saved["id"].as_i64().expect("rule id")
}

/// The rules of one setup's rows: at most 50 blocks each (the rule limit), one row per block.
fn rules_of(setup: Setup, rows: &[Row]) -> Vec<(String, Value)> {
    rows.chunks(domain::validate::MAX_BLOCKS)
        .enumerate()
        .map(|(index, chunk)| {
            let name = format!("Conditions {setup:?} {}", index + 1);
            let blocks: Vec<Value> = chunk
                .iter()
                .map(|row| {
                    let mut condition = json!({"left": row.left, "op": row.op});
                    if let Some(right) = &row.right {
                        condition["right"] = right.clone();
                    }
                    if let Some(upper) = &row.upper {
                        condition["right_upper"] = upper.clone();
                    }
                    json!({"name": row.family, "conditions": [condition]})
                })
                .collect();
            let rule = json!({"schema_version": 3, "name": name, "trigger": setup.trigger(),
                              "blocks": blocks});
            (name, rule)
        })
        .collect()
}

/// Evaluates one setup's rows and returns each row's block trace, in row order.
async fn evaluate(stack: &Stack, fx: &Fixture, setup: Setup, rows: &[Row]) -> Vec<Value> {
    let mut ids = Vec::new();
    for (name, rule) in rules_of(setup, rows) {
        ids.push(save(stack, &name, rule).await);
    }
    let mut traces = Vec::new();
    if let Some((entity_type, entity_id)) = setup.dry_run_on(fx) {
        for id in &ids {
            let (status, dry) = stack
                .api(
                    "POST",
                    &format!("/api/v1/rules/{id}/dry-run"),
                    Some(json!({"entity_type": entity_type, "entity_id": entity_id})),
                )
                .await;
            assert_eq!(status, 200, "{setup:?}: {dry}");
            traces.push(dry["trace"].clone());
        }
    } else {
        setup.fire(stack, fx, &ids).await;
        stack.settle().await;
        for id in &ids {
            let (status, log) = stack
                .api("GET", &format!("/api/v1/rules/{id}/log"), None)
                .await;
            assert_eq!(status, 200, "{log}");
            let runs = log.as_array().expect("runs");
            assert_eq!(runs.len(), 1, "{setup:?} runs the rule once: {log}");
            traces.push(runs[0]["trace"]["trace"].clone());
        }
        // The next setup's event must not run these rules.
        for id in &ids {
            let (status, body) = stack
                .api("POST", &format!("/api/v1/rules/{id}/disable"), None)
                .await;
            assert_eq!(status, 200, "{body}");
        }
        stack.advance(Duration::from_secs(10));
    }
    traces
        .iter()
        .flat_map(|trace| trace["blocks"].as_array().expect("blocks").clone())
        .collect()
}

async fn every_condition_operand_family_of_the_manual_evaluates_on_a_real_entity(
    database: Database,
) {
    let stack = Stack::start(database, seed()).await;
    let fx = fixture(&stack).await;
    // Working hours: Monday to Friday, 09:00 to 18:00 in Berlin.
    let days = ["mon", "tue", "wed", "thu", "fri"];
    let hours = json!({"working_hours": {"intervals": days.iter()
        .map(|d| json!({"day": d, "from": "09:00:00", "to": "18:00:00"})).collect::<Vec<_>>()}});
    let (status, body) = stack
        .api("PUT", "/api/v1/account/settings", Some(hours))
        .await;
    assert_eq!(status, 200, "{body}");
    for (name, value) in [
        ("promo", "Black Friday"),
        ("order_count", "12"),
        ("last_order", "1795435200"),
        ("vip_mode", "1"),
    ] {
        let (status, body) = stack
            .api(
                "PUT",
                &format!("/api/v1/variables/{name}"),
                Some(json!({"value": value})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    let families = families(&fx);
    let mut rows: Vec<Row> = families.iter().flat_map(rows_of).collect();
    check_coverage(&families, &rows);
    rows.extend(rearranged_rows());

    let mut by_setup: BTreeMap<Setup, Vec<Row>> = BTreeMap::new();
    for row in &rows {
        by_setup.entry(row.setup).or_default().push(row.clone());
    }
    let mut wrong = Vec::new();
    for (setup, rows) in &by_setup {
        let blocks = evaluate(&stack, &fx, *setup, rows).await;
        assert_eq!(blocks.len(), rows.len(), "{setup:?}");
        for (row, block) in rows.iter().zip(&blocks) {
            let held = match block["status"].as_str() {
                Some("completed") => true,
                Some("conditions_not_met") => false,
                other => panic!("{setup:?} {}: block status {other:?}", row.family),
            };
            if held != row.expected {
                wrong.push(format!(
                    "{} {} {} (expected {}): read {}",
                    row.family,
                    row.op,
                    row.right.as_ref().map_or(String::new(), |r| r.to_string()),
                    row.expected,
                    block["conditions"][0]
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} rows disagree with the manual:\n{}",
        wrong.len(),
        rows.len(),
        wrong.join("\n")
    );
}
