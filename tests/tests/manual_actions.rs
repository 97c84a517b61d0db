//! Every action of the Triggers manual with every option it lists, end to end: one table, one row
//! per (action, option). Each row saves a manual rule through the API, launches it by hand on a
//! fresh lead, contact or company of the emulator (`POST /api/v1/rules/{id}/run`), drains the
//! queues, and reads the emulator's state back (entities, links, tasks, notes, Salesbot runs), or
//! what a local receiver got, the account's global variables and the queue's delayed jobs. Timer
//! rows move the injected clocks to the job's due time instead of waiting. The rows share one
//! stack per database; both SQLite and PostgreSQL run them.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{Datelike, NaiveDate, NaiveTime, TimeZone, Utc};
use rulebook::{
    queue::JobFilter,
    store::{execution_log::ExecutionOutcome, variables, Page},
};
use rulebook_e2e::stack::{default_seed, field, tags, Database, Stack, ACCOUNT_ID, SUBDOMAIN};
use serde_json::{json, Value};

rulebook_e2e::on_both_databases!(every_action_of_the_manual_with_every_option_lands_in_kommo);

const BERLIN: chrono_tz::Tz = chrono_tz::Europe::Berlin;

/// The default seed, plus what the rows need: a third user, a second pipeline, Salesbots, list,
/// date, URL and long-text lead fields, and company fields.
fn seed() -> Value {
    let mut seed = default_seed();
    seed["users"]
        .as_array_mut()
        .expect("users")
        .push(json!({"id": 103, "name": "Clara"}));
    seed["pipelines"]
        .as_array_mut()
        .expect("pipelines")
        .push(json!({"id": 20, "name": "Service", "statuses": [
            {"id": 21, "name": "Request"}, {"id": 22, "name": "Visit"}]}));
    let leads = seed["custom_fields"]["leads"]
        .as_array_mut()
        .expect("fields");
    leads.extend([
        json!({"id": 507, "name": "Colours", "type": "multiselect", "enums": [
            {"id": 5071, "value": "Red"}, {"id": 5072, "value": "Green"}, {"id": 5073, "value": "Blue"}]}),
        json!({"id": 508, "name": "Delivery", "type": "date"}),
        json!({"id": 509, "name": "Site", "type": "url"}),
        json!({"id": 510, "name": "Details", "type": "textarea"}),
    ]);
    seed["bots"] = json!([
        {"id": 31, "name": "Lead greeting"}, {"id": 32, "name": "Contact greeting"},
        {"id": 33, "name": "Company greeting"}, {"id": 34, "name": "Birthday greeting"}
    ]);
    seed["custom_fields"]["companies"] = json!([
        {"id": 701, "name": "Email", "type": "multitext", "code": "EMAIL"},
        {"id": 702, "name": "Revenue", "type": "numeric"}
    ]);
    seed
}

/// Rules every row may call: the rules "execute rule", a task result and a webhook's answer run,
/// and a rule that leaves delayed jobs for "cancel delayed jobs".
struct Shared {
    child: BTreeMap<&'static str, i64>,
    follow_up: i64,
    reminder: i64,
}

/// What one row runs against: fresh entities, linked as a lead with its main contact and company
/// (the company has a second contact), three open tasks on the lead, and the shared rules.
struct World {
    lead: i64,
    contact: i64,
    colleague: i64,
    company: i64,
    /// A call due in an hour, a call due in two hours, a meeting due in half an hour.
    tasks: [i64; 3],
    /// The lead's meeting (field 506), Unix seconds: three days ahead at 15:30 Berlin time.
    meeting: i64,
    /// The contact's birthday (field 603), ten days ahead in 1990, Unix seconds.
    birthday: i64,
    /// The backend's clock when the row started, Unix milliseconds.
    now_ms: i64,
    /// The receiver's origin, `http://127.0.0.1:PORT`.
    receiver: String,
    shared: Arc<Shared>,
    /// The row's number, to tell its data from the other rows'.
    row: usize,
}

impl World {
    fn id(&self, kind: On) -> i64 {
        match kind {
            On::Lead => self.lead,
            On::Contact => self.contact,
            On::Company => self.company,
        }
    }
}

/// What a row observed after its rule ran, read from the backend's store.
struct Seen {
    /// The account's global variables.
    variables: BTreeMap<String, String>,
    /// Jobs still waiting, of any rule, on the row's entities.
    jobs: Vec<rulebook::queue::JobInfo>,
    /// The requests the receiver got during the row.
    requests: Vec<Received>,
    /// The row rule's debugger entries, newest first.
    log: Vec<rulebook::store::execution_log::Execution>,
}

#[derive(Clone, Debug)]
struct Received {
    method: String,
    path: String,
    query: String,
    headers: BTreeMap<String, String>,
    body: String,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum On {
    Lead,
    Contact,
    Company,
}

impl On {
    fn singular(self) -> &'static str {
        match self {
            On::Lead => "lead",
            On::Contact => "contact",
            On::Company => "company",
        }
    }
    fn plural(self) -> &'static str {
        match self {
            On::Lead => "leads",
            On::Contact => "contacts",
            On::Company => "companies",
        }
    }
}

/// A delayed row: the job's due time, Unix milliseconds, and how many jobs wait for it.
struct Due {
    at: fn(&World) -> i64,
    jobs: usize,
}

struct Row {
    /// "action: option".
    name: &'static str,
    /// The entity the rule is launched on.
    on: On,
    /// The block's actions (rule model JSON).
    actions: fn(&World) -> Value,
    /// Changes made in Kommo before the launch.
    given: fn(&Stack, &World),
    /// A shared rule launched on the same entity before the row's rule.
    first: Option<fn(&Shared) -> i64>,
    /// How many times the rule is launched.
    launches: usize,
    /// For timers: when the job is due (the clocks move there before the check).
    due: Option<Due>,
    /// Changes made in Kommo after the run (before the check).
    then: fn(&Stack, &World),
    /// The debugger's outcome of the row rule's runs.
    outcome: ExecutionOutcome,
    /// What the emulator, the receiver, the variables or the queue must show.
    check: fn(&Stack, &World, &Seen),
    /// The problem code of a rule the API refuses to save (one error per action, nothing runs).
    refused: Option<&'static str>,
}

const ROW: Row = Row {
    name: "",
    on: On::Lead,
    actions: |_| json!([]),
    given: |_, _| {},
    first: None,
    launches: 1,
    due: None,
    then: |_, _| {},
    outcome: ExecutionOutcome::Ok,
    check: |_, _, _| {},
    refused: None,
};

// ------------------------------------------------------------------------------- reading Kommo

fn entity(stack: &Stack, kind: &str, id: i64) -> Value {
    stack
        .emulator()
        .entity(SUBDOMAIN, kind, id)
        .unwrap_or_else(|| panic!("{kind} {id} exists"))
}

fn named(stack: &Stack, kind: &str, name: &str) -> Value {
    let found: Vec<Value> = stack
        .emulator()
        .entities(SUBDOMAIN, kind)
        .into_iter()
        .filter(|e| e["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "one of {kind} named {name:?}: {found:?}");
    let id = found[0]["id"].as_i64().expect("id");
    entity(stack, kind, id)
}

fn linked(entity: &Value, plural: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = entity["_embedded"][plural]
        .as_array()
        .map(|l| l.iter().filter_map(|e| e["id"].as_i64()).collect())
        .unwrap_or_default();
    ids.sort_unstable();
    ids
}

/// A custom field's values, each as text (`value`, or `enum_id` where asked).
fn values(entity: &Value, field_id: i64) -> Vec<String> {
    entity["custom_fields_values"]
        .as_array()
        .and_then(|fields| fields.iter().find(|f| f["field_id"] == field_id))
        .and_then(|f| f["values"].as_array())
        .map(|vs| vs.iter().map(|v| text(&v["value"])).collect())
        .unwrap_or_default()
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn task(stack: &Stack, id: i64) -> Value {
    stack
        .emulator()
        .tasks(SUBDOMAIN)
        .into_iter()
        .find(|t| t["id"] == id)
        .expect("the task exists")
}

fn tasks_on(stack: &Stack, entity_id: i64) -> Vec<Value> {
    let mut tasks: Vec<Value> = stack
        .emulator()
        .tasks(SUBDOMAIN)
        .into_iter()
        .filter(|t| t["entity_id"] == entity_id)
        .collect();
    tasks.sort_by_key(|t| t["id"].as_i64());
    tasks
}

fn note_texts(stack: &Stack, entity_id: i64) -> Vec<(String, String)> {
    stack
        .notes_of(entity_id)
        .iter()
        .map(|n| (text(&n["note_type"]), text(&n["params"]["text"])))
        .collect()
}

fn common_notes(stack: &Stack, entity_id: i64) -> Vec<String> {
    note_texts(stack, entity_id)
        .into_iter()
        .filter(|(kind, _)| kind == "common")
        .map(|(_, text)| text)
        .collect()
}

fn responsible(stack: &Stack, kind: &str, id: i64) -> i64 {
    entity(stack, kind, id)["responsible_user_id"]
        .as_i64()
        .expect("responsible")
}

/// Midnight of `day` in Berlin, Unix seconds.
fn berlin_midnight(day: NaiveDate) -> i64 {
    local(day, NaiveTime::MIN) / 1000
}

/// `day` at `time` in Berlin, Unix milliseconds.
fn local(day: NaiveDate, time: NaiveTime) -> i64 {
    BERLIN
        .from_local_datetime(&day.and_time(time))
        .single()
        .expect("an unambiguous local time")
        .timestamp_millis()
}

fn berlin_day(unix_s: i64) -> NaiveDate {
    Utc.timestamp_opt(unix_s, 0)
        .single()
        .expect("a time")
        .with_timezone(&BERLIN)
        .date_naive()
}

fn hm(hour: u32, minute: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(hour, minute, 0).expect("a time")
}

// ------------------------------------------------------------------------------- the table

fn rows() -> Vec<Row> {
    vec![
        // 1. Create lead.
        Row {
            name: "create lead: name and tags with variables, the entity's responsible",
            actions: |_| {
                json!([{"do": {"type": "create_lead", "name": "Follow-up of {{lead.name}}",
                                        "tags": "repeat, {{contact.name}}"}}])
            },
            check: |stack, w, _| {
                let lead = named(stack, "leads", &format!("Follow-up of Deal {}", w.row));
                assert_eq!(
                    tags(&lead),
                    vec![format!("Client {}", w.row), "repeat".into()]
                );
                assert_eq!(lead["responsible_user_id"], 102, "the lead's responsible");
                assert_eq!(linked(&lead, "contacts"), vec![w.contact]);
                assert_eq!(linked(&lead, "companies"), vec![w.company]);
                assert_eq!(lead["pipeline_id"], 10, "the main pipeline by default");
            },
            ..ROW
        },
        Row {
            name: "create lead: a chosen responsible, pipeline and stage",
            actions: |_| {
                json!([{"do": {"type": "create_lead", "name": "Service for {{lead.name}}",
                "responsible": {"user": 101}, "pipeline_id": 20, "status_id": 22}}])
            },
            check: |stack, w, _| {
                let lead = named(stack, "leads", &format!("Service for Deal {}", w.row));
                assert_eq!(lead["responsible_user_id"], 101);
                assert_eq!(
                    (lead["pipeline_id"].clone(), lead["status_id"].clone()),
                    (json!(20), json!(22))
                );
            },
            ..ROW
        },
        Row {
            name: "create lead: from a contact, its responsible",
            on: On::Contact,
            actions: |_| {
                json!([{"do": {"type": "create_lead", "name": "Lead of {{contact.name}}",
                "responsible": "responsible"}}])
            },
            check: |stack, w, _| {
                let lead = named(stack, "leads", &format!("Lead of Client {}", w.row));
                assert_eq!(
                    lead["responsible_user_id"], 103,
                    "the contact's responsible"
                );
                assert!(linked(&lead, "contacts").contains(&w.contact));
            },
            ..ROW
        },
        Row {
            name: "create lead: fields of each kind",
            actions: |_| {
                json!([{"do": {"type": "create_lead", "name": "Fields of {{lead.name}}", "fields": [
                {"field": "price", "value": "{{ (lead.price*3):calc }}"},
                {"field": {"custom": 501}, "value": "RETAIL"},
                {"field": {"custom": 502}, "value": "42"},
                {"field": {"custom": 503}, "value": "1"},
                {"field": {"custom": 504}, "value": "From {{lead.name}}"}]}}])
            },
            check: |stack, w, _| {
                let lead = named(stack, "leads", &format!("Fields of Deal {}", w.row));
                assert_eq!(lead["price"], 300);
                assert_eq!(values(&lead, 501), vec!["RETAIL"]);
                assert_eq!(values(&lead, 502), vec!["42"]);
                assert_eq!(values(&lead, 503), vec!["true"]);
                assert_eq!(values(&lead, 504), vec![format!("From Deal {}", w.row)]);
            },
            ..ROW
        },
        Row {
            name: "create lead: in a company, with the company's existing contacts",
            on: On::Company,
            actions: |_| {
                json!([{"do": {"type": "create_lead", "name": "New deal of {{company.name}}",
                "attach_company_contacts": true}}])
            },
            check: |stack, w, _| {
                let lead = named(stack, "leads", &format!("New deal of Acme {}", w.row));
                assert_eq!(linked(&lead, "companies"), vec![w.company]);
                let mut both = vec![w.contact, w.colleague];
                both.sort_unstable();
                assert_eq!(linked(&lead, "contacts"), both);
            },
            ..ROW
        },
        Row {
            name: "create lead: in a company, without its contacts",
            on: On::Company,
            actions: |_| json!([{"do": {"type": "create_lead", "name": "Bare deal of {{company.name}}"}}]),
            check: |stack, w, _| {
                let lead = named(stack, "leads", &format!("Bare deal of Acme {}", w.row));
                assert_eq!(linked(&lead, "companies"), vec![w.company]);
                assert!(!linked(&lead, "contacts").contains(&w.colleague), "{lead}");
            },
            ..ROW
        },
        // 2. Create contact.
        Row {
            name: "create contact: attached to the lead, with fields",
            actions: |_| {
                json!([{"do": {"type": "create_contact", "attach_to": "lead",
                "name": "Buyer of {{lead.name}}", "fields": [
                    {"field": {"custom": 601}, "value": "+4930123"},
                    {"field": {"custom": 602}, "value": "buyer@example.com"}]}}])
            },
            check: |stack, w, _| {
                let contact = named(stack, "contacts", &format!("Buyer of Deal {}", w.row));
                assert_eq!(values(&contact, 601), vec!["+4930123"]);
                assert_eq!(values(&contact, 602), vec!["buyer@example.com"]);
                assert_eq!(
                    contact["responsible_user_id"], 102,
                    "the lead's responsible"
                );
                let id = contact["id"].as_i64().expect("id");
                assert!(linked(&entity(stack, "leads", w.lead), "contacts").contains(&id));
            },
            ..ROW
        },
        Row {
            name: "create contact: attached to the company, a chosen responsible",
            actions: |_| {
                json!([{"do": {"type": "create_contact", "attach_to": "company",
                "name": "Accountant of {{company.name}}", "responsible": {"user": 101}}}])
            },
            check: |stack, w, _| {
                let contact = named(stack, "contacts", &format!("Accountant of Acme {}", w.row));
                assert_eq!(contact["responsible_user_id"], 101);
                let id = contact["id"].as_i64().expect("id");
                assert!(linked(&entity(stack, "companies", w.company), "contacts").contains(&id));
                assert!(!linked(&entity(stack, "leads", w.lead), "contacts").contains(&id));
            },
            ..ROW
        },
        // 3. Create company.
        Row {
            name: "create company: attached to the lead",
            actions: |_| {
                json!([{"do": {"type": "create_company", "attach_to": "lead",
                "name": "{{lead.name}} Inc"}}])
            },
            check: |stack, w, _| {
                let company = named(stack, "companies", &format!("Deal {} Inc", w.row));
                let id = company["id"].as_i64().expect("id");
                assert!(linked(&entity(stack, "leads", w.lead), "companies").contains(&id));
            },
            ..ROW
        },
        Row {
            name: "create company: attached to the contact, with fields",
            on: On::Contact,
            actions: |_| {
                json!([{"do": {"type": "create_company", "attach_to": "contact",
                "name": "{{contact.name}} Ltd", "fields": [{"field": {"custom": 701}, "value": "ltd@example.com"}]}}])
            },
            check: |stack, w, _| {
                let company = named(stack, "companies", &format!("Client {} Ltd", w.row));
                assert_eq!(values(&company, 701), vec!["ltd@example.com"]);
                let id = company["id"].as_i64().expect("id");
                assert!(linked(&entity(stack, "contacts", w.contact), "companies").contains(&id));
            },
            ..ROW
        },
        // 4. Copy lead.
        Row {
            name: "copy lead: the default name, every field, tag and link",
            actions: |_| json!([{"do": {"type": "copy_lead"}}]),
            check: |stack, w, _| {
                let copy = named(stack, "leads", &format!("Deal {} (copy)", w.row));
                let original = entity(stack, "leads", w.lead);
                assert_eq!(copy["price"], original["price"]);
                assert_eq!(values(&copy, 504), values(&original, 504));
                assert_eq!(values(&copy, 506), values(&original, 506));
                assert_eq!(tags(&copy), tags(&original));
                assert_eq!(copy["status_id"], original["status_id"]);
                assert_eq!(linked(&copy, "contacts"), linked(&original, "contacts"));
                assert_eq!(linked(&copy, "companies"), linked(&original, "companies"));
            },
            ..ROW
        },
        Row {
            name: "copy lead: a name with variables",
            actions: |_| json!([{"do": {"type": "copy_lead", "name": "Renewal of {{lead.name}}"}}]),
            check: |stack, w, _| {
                let copy = named(stack, "leads", &format!("Renewal of Deal {}", w.row));
                assert_eq!(copy["price"], 100);
            },
            ..ROW
        },
        // 5. Change fields.
        Row {
            name: "change fields: name and budget (a calculation), several in one action",
            actions: |_| {
                json!([{"do": {"type": "change_fields", "entity": "lead", "fields": [
                {"field": "name", "value": "{{lead.name}} (checked)"},
                {"field": "price", "value": "{{ (lead.price+50):calc }}"}]}}])
            },
            check: |stack, w, _| {
                let lead = entity(stack, "leads", w.lead);
                assert_eq!(lead["name"], format!("Deal {} (checked)", w.row));
                assert_eq!(lead["price"], 150);
            },
            ..ROW
        },
        Row {
            name: "change fields: text set, text appended to itself, long text, URL",
            actions: |_| {
                json!([{"do": {"type": "change_fields", "entity": "lead", "fields": [
                {"field": {"custom": 504}, "value": "{{lead.cf(504)}}, again"},
                {"field": {"custom": 509}, "value": "https://example.com/{{lead.id}}"},
                {"field": {"custom": 510}, "value": "Line for {{contact.name}}"}]}}])
            },
            check: |stack, w, _| {
                let lead = entity(stack, "leads", w.lead);
                assert_eq!(values(&lead, 504), vec!["Hello, again"]);
                assert_eq!(
                    values(&lead, 509),
                    vec![format!("https://example.com/{}", w.lead)]
                );
                assert_eq!(
                    values(&lead, 510),
                    vec![format!("Line for Client {}", w.row)]
                );
            },
            ..ROW
        },
        Row {
            name: "change fields: numeric and select by its value",
            actions: |_| {
                json!([{"do": {"type": "change_fields", "entity": "lead", "fields": [
                {"field": {"custom": 502}, "value": "12.5"},
                {"field": {"custom": 501}, "value": "wholesale"}]}}])
            },
            check: |stack, w, _| {
                let lead = entity(stack, "leads", w.lead);
                assert_eq!(values(&lead, 502), vec!["12.5"]);
                assert_eq!(values(&lead, 501), vec!["WHOLESALE"]);
            },
            ..ROW
        },
        Row {
            name: "change fields: multiselect, values separated by commas",
            actions: |_| {
                json!([{"do": {"type": "change_fields", "entity": "lead", "fields": [
                {"field": {"custom": 507}, "value": "Red, Blue"}]}}])
            },
            check: |stack, w, _| {
                let lead = entity(stack, "leads", w.lead);
                assert_eq!(values(&lead, 507), vec!["Red", "Blue"]);
            },
            ..ROW
        },
        Row {
            name: "change fields: {reset} clears a list, a blank value clears a text",
            given: |stack, w| {
                stack.kommo_call(
                    "PATCH",
                    "/api/v4/leads",
                    Some(json!([{"id": w.lead, "custom_fields_values": [
                    {"field_id": 507, "values": [{"enum_id": 5072}]}]}])),
                );
            },
            actions: |_| {
                json!([{"do": {"type": "change_fields", "entity": "lead", "fields": [
                {"field": {"custom": 507}, "value": "{reset}"},
                {"field": {"custom": 504}, "value": ""}]}}])
            },
            check: |stack, w, _| {
                let lead = entity(stack, "leads", w.lead);
                assert!(values(&lead, 507).is_empty(), "{lead}");
                assert!(values(&lead, 504).is_empty(), "{lead}");
            },
            ..ROW
        },
        Row {
            name: "change fields: a checkbox switched on with 1",
            actions: |_| {
                json!([{"do": {"type": "change_fields", "entity": "lead", "fields": [
                {"field": {"custom": 503}, "value": "1"}]}}])
            },
            check: |stack, w, _| {
                assert_eq!(values(&entity(stack, "leads", w.lead), 503), vec!["true"]);
            },
            ..ROW
        },
        Row {
            name: "change fields: a checkbox switched off with 0",
            given: |stack, w| {
                stack.kommo_call(
                    "PATCH",
                    "/api/v4/leads",
                    Some(json!([{"id": w.lead, "custom_fields_values": [
                    {"field_id": 503, "values": [{"value": true}]}]}])),
                );
            },
            actions: |_| {
                json!([{"do": {"type": "change_fields", "entity": "lead", "fields": [
                {"field": {"custom": 503}, "value": "0"}]}}])
            },
            check: |stack, w, _| {
                assert_eq!(values(&entity(stack, "leads", w.lead), 503), vec!["false"]);
            },
            ..ROW
        },
        Row {
            name: "change fields: a date and a date-time",
            actions: |_| {
                json!([{"do": {"type": "change_fields", "entity": "lead", "fields": [
                {"field": {"custom": 508}, "value": "24.12.2026"},
                {"field": {"custom": 506}, "value": "2026-12-24 18:30"}]}}])
            },
            check: |stack, w, _| {
                let lead = entity(stack, "leads", w.lead);
                let eve = NaiveDate::from_ymd_opt(2026, 12, 24).expect("date");
                assert_eq!(values(&lead, 508), vec![berlin_midnight(eve).to_string()]);
                assert_eq!(
                    values(&lead, 506),
                    vec![(local(eve, hm(18, 30)) / 1000).to_string()]
                );
            },
            ..ROW
        },
        Row {
            name: "change fields: a lead field from the contact's field",
            actions: |_| {
                json!([{"do": {"type": "change_fields", "entity": "lead", "fields": [
                {"field": {"custom": 504}, "value": "Write to {{contact.cf(602)}}"}]}}])
            },
            check: |stack, w, _| {
                assert_eq!(
                    values(&entity(stack, "leads", w.lead), 504),
                    vec![format!("Write to client{}@example.com", w.row)]
                );
            },
            ..ROW
        },
        Row {
            name: "change fields: the contact's name and phones",
            on: On::Contact,
            actions: |_| {
                json!([{"do": {"type": "change_fields", "entity": "contact", "fields": [
                {"field": "name", "value": "{{contact.name}} Smith"},
                {"field": {"custom": 601}, "value": "+4930111, +4930222"}]}}])
            },
            check: |stack, w, _| {
                let contact = entity(stack, "contacts", w.contact);
                assert_eq!(contact["name"], format!("Client {} Smith", w.row));
                assert_eq!(values(&contact, 601), vec!["+4930111", "+4930222"]);
            },
            ..ROW
        },
        Row {
            name: "change fields: the lead's budget into the company's field",
            actions: |_| {
                json!([{"do": {"type": "change_fields", "entity": "company", "fields": [
                {"field": {"custom": 702}, "value": "{{lead.price}}"}]}}])
            },
            check: |stack, w, _| {
                assert_eq!(
                    values(&entity(stack, "companies", w.company), 702),
                    vec!["100"]
                );
            },
            ..ROW
        },
        // 6. Create task.
        Row {
            name: "create task: on the lead, its responsible by default",
            actions: |_| {
                json!([{"do": {"type": "create_task", "entity": "lead", "task_type_id": 1,
                "complete_in_seconds": 3600, "text": "Call {{contact.name}} about {{lead.name}}"}}])
            },
            check: |stack, w, _| {
                let tasks = tasks_on(stack, w.lead);
                let new = tasks.last().expect("a task");
                assert_eq!(tasks.len(), 4);
                assert_eq!(
                    new["text"],
                    format!("Call Client {} about Deal {}", w.row, w.row)
                );
                assert_eq!(new["responsible_user_id"], 102);
                assert_eq!(new["task_type_id"], 1);
                assert_eq!(new["entity_type"], "leads");
                assert_eq!(new["complete_till"], w.now_ms / 1000 + 3600);
            },
            ..ROW
        },
        Row {
            name: "create task: on the contact, a chosen responsible and type",
            actions: |_| {
                json!([{"do": {"type": "create_task", "entity": "contact", "responsible": {"user": 101},
                "task_type_id": 2, "complete_in_seconds": 86400, "text": "Meet {{contact.name}}"}}])
            },
            check: |stack, w, _| {
                let tasks = tasks_on(stack, w.contact);
                assert_eq!(tasks.len(), 1, "{tasks:?}");
                assert_eq!(tasks[0]["entity_type"], "contacts");
                assert_eq!(tasks[0]["responsible_user_id"], 101);
                assert_eq!(tasks[0]["task_type_id"], 2);
                assert_eq!(tasks[0]["complete_till"], w.now_ms / 1000 + 86400);
            },
            ..ROW
        },
        Row {
            name: "create task: on the company, the company's responsible",
            actions: |_| {
                json!([{"do": {"type": "create_task", "entity": "company", "responsible": "responsible",
                "task_type_id": 1, "complete_in_seconds": 600, "text": "Check {{company.name}}"}}])
            },
            check: |stack, w, _| {
                let tasks = tasks_on(stack, w.company);
                assert_eq!(tasks.len(), 1, "{tasks:?}");
                assert_eq!(tasks[0]["entity_type"], "companies");
                assert_eq!(tasks[0]["responsible_user_id"], 102);
                assert_eq!(tasks[0]["text"], format!("Check Acme {}", w.row));
            },
            ..ROW
        },
        Row {
            name: "create task: with results, the chosen result runs its rule",
            actions: |w| {
                json!([{"do": {"type": "create_task", "entity": "lead", "task_type_id": 1,
                "complete_in_seconds": 600, "text": "Ask for a decision", "results": [
                    {"text": "Agreed", "rule_id": w.shared.child["lead"]}, {"text": "Refused"}]}}])
            },
            then: |stack, w| {
                let task = tasks_on(stack, w.lead).pop().expect("the task");
                assert_eq!(task["text"], "Ask for a decision");
                stack.kommo_call(
                    "PATCH",
                    "/api/v4/tasks",
                    Some(json!([
                    {"id": task["id"], "is_completed": true, "result": {"text": "Agreed"}}])),
                );
            },
            check: |stack, w, _| {
                assert_eq!(
                    common_notes(stack, w.lead),
                    vec![format!("Child rule ran on Deal {}", w.row)]
                );
            },
            ..ROW
        },
        // 7. Change task.
        Row {
            name: "change task: close every task of a type",
            actions: |_| {
                json!([{"do": {"type": "change_task", "entity": "lead", "task_type_id": 1,
                "scope": "all", "completed": true}}])
            },
            check: |stack, w, _| {
                let closed: Vec<bool> = w
                    .tasks
                    .iter()
                    .map(|t| task(stack, *t)["is_completed"] == true)
                    .collect();
                assert_eq!(closed, vec![true, true, false]);
            },
            ..ROW
        },
        Row {
            name: "change task: the text of the last task of any type",
            actions: |_| {
                json!([{"do": {"type": "change_task", "entity": "lead", "scope": "last",
                "text": "Add task result! ({{lead.name}})"}}])
            },
            check: |stack, w, _| {
                let texts: Vec<Value> = w
                    .tasks
                    .iter()
                    .map(|t| task(stack, *t)["text"].clone())
                    .collect();
                assert_eq!(
                    texts,
                    vec![
                        json!("Call"),
                        json!(format!("Add task result! (Deal {})", w.row)),
                        json!("Meet")
                    ]
                );
            },
            ..ROW
        },
        Row {
            name: "change task: responsible and type of the last task of a type",
            actions: |_| {
                json!([{"do": {"type": "change_task", "entity": "lead", "task_type_id": 1,
                "scope": "last", "responsible": {"user": 101}, "new_task_type_id": 2}}])
            },
            check: |stack, w, _| {
                let first = task(stack, w.tasks[0]);
                let last = task(stack, w.tasks[1]);
                assert_eq!(
                    (
                        first["responsible_user_id"].clone(),
                        first["task_type_id"].clone()
                    ),
                    (json!(102), json!(1))
                );
                assert_eq!(
                    (
                        last["responsible_user_id"].clone(),
                        last["task_type_id"].clone()
                    ),
                    (json!(101), json!(2))
                );
            },
            ..ROW
        },
        Row {
            name: "change task: reopen a closed task",
            given: |stack, w| {
                stack.kommo_call(
                    "PATCH",
                    "/api/v4/tasks",
                    Some(json!([
                    {"id": w.tasks[2], "is_completed": true, "result": {"text": "Done"}}])),
                );
            },
            actions: |_| {
                json!([{"do": {"type": "change_task", "entity": "lead", "task_type_id": 2,
                "scope": "all", "completed": false}}])
            },
            check: |stack, w, _| {
                assert_eq!(task(stack, w.tasks[2])["is_completed"], false);
            },
            ..ROW
        },
        // 8. Add note.
        Row {
            name: "add note: on the lead, with variables",
            actions: |_| {
                json!([{"do": {"type": "add_note", "entity": "lead",
                "text": "The {{lead.name}} deal is done! Congratulations, {{lead.responsible.name}}!"}}])
            },
            check: |stack, w, _| {
                assert_eq!(
                    note_texts(stack, w.lead),
                    vec![(
                        "common".into(),
                        format!("The Deal {} deal is done! Congratulations, Boris!", w.row)
                    )]
                );
            },
            ..ROW
        },
        Row {
            name: "add note: on the contact",
            actions: |_| json!([{"do": {"type": "add_note", "entity": "contact", "text": "Seen {{contact.name}}"}}]),
            check: |stack, w, _| {
                assert_eq!(
                    common_notes(stack, w.contact),
                    vec![format!("Seen Client {}", w.row)]
                );
            },
            ..ROW
        },
        Row {
            name: "add note: a system note on the company",
            on: On::Company,
            actions: |_| {
                json!([{"do": {"type": "add_note", "entity": "company", "text": "Checked {{company.name}}",
                "system": true}}])
            },
            check: |stack, w, _| {
                assert_eq!(
                    note_texts(stack, w.company),
                    vec![("service_message".into(), format!("Checked Acme {}", w.row))]
                );
            },
            ..ROW
        },
        // 9. Change tags.
        Row {
            name: "change tags: add several, with variables",
            actions: |_| {
                json!([{"do": {"type": "change_tags", "entity": "lead", "change": "add",
                "tags": "hot, {{contact.name}}"}}])
            },
            check: |stack, w, _| {
                assert_eq!(
                    tags(&entity(stack, "leads", w.lead)),
                    vec![
                        format!("Client {}", w.row),
                        "hot".into(),
                        "old1".into(),
                        "old2".into()
                    ]
                );
            },
            ..ROW
        },
        Row {
            name: "change tags: remove one by name",
            actions: |_| json!([{"do": {"type": "change_tags", "entity": "lead", "change": "remove", "tags": "old1"}}]),
            check: |stack, w, _| {
                assert_eq!(
                    tags(&entity(stack, "leads", w.lead)),
                    vec!["old2".to_owned()]
                );
            },
            ..ROW
        },
        Row {
            name: "change tags: remove with the values blank removes every tag",
            actions: |_| json!([{"do": {"type": "change_tags", "entity": "lead", "change": "remove", "tags": ""}}]),
            check: |stack, w, _| {
                assert!(tags(&entity(stack, "leads", w.lead)).is_empty());
            },
            ..ROW
        },
        Row {
            name: "change tags: remove all, on the contact",
            on: On::Contact,
            actions: |_| json!([{"do": {"type": "change_tags", "entity": "contact", "change": "remove_all"}}]),
            check: |stack, w, _| {
                assert!(tags(&entity(stack, "contacts", w.contact)).is_empty());
                assert_eq!(
                    tags(&entity(stack, "leads", w.lead)).len(),
                    2,
                    "the lead keeps its tags"
                );
            },
            ..ROW
        },
        Row {
            name: "change tags: add on the company",
            on: On::Company,
            actions: |_| json!([{"do": {"type": "change_tags", "entity": "company", "change": "add", "tags": "partner"}}]),
            check: |stack, w, _| {
                assert_eq!(
                    tags(&entity(stack, "companies", w.company)),
                    vec!["ktag".to_owned(), "partner".to_owned()]
                );
            },
            ..ROW
        },
        // 10. Change status of the lead.
        Row {
            name: "change status: a stage of the same pipeline",
            actions: |_| json!([{"do": {"type": "change_status", "pipeline_id": 10, "status_id": 13}}]),
            check: |stack, w, _| {
                let lead = entity(stack, "leads", w.lead);
                assert_eq!(
                    (lead["pipeline_id"].clone(), lead["status_id"].clone()),
                    (json!(10), json!(13))
                );
            },
            ..ROW
        },
        Row {
            name: "change status: a stage of another pipeline",
            actions: |_| json!([{"do": {"type": "change_status", "pipeline_id": 20, "status_id": 21}}]),
            check: |stack, w, _| {
                let lead = entity(stack, "leads", w.lead);
                assert_eq!(
                    (lead["pipeline_id"].clone(), lead["status_id"].clone()),
                    (json!(20), json!(21))
                );
            },
            ..ROW
        },
        // The manual's first example: change responsible user.
        Row {
            name: "change responsible: the lead only",
            actions: |_| json!([{"do": {"type": "change_responsible", "entity": "lead", "user": {"user": 101}}}]),
            check: |stack, w, _| {
                assert_eq!(responsible(stack, "leads", w.lead), 101);
                assert_eq!(responsible(stack, "contacts", w.contact), 103);
                assert_eq!(responsible(stack, "companies", w.company), 102);
                assert_eq!(task(stack, w.tasks[0])["responsible_user_id"], 102);
            },
            ..ROW
        },
        Row {
            name: "change responsible: also in contacts, companies and open tasks",
            given: |stack, w| {
                stack.kommo_call(
                    "PATCH",
                    "/api/v4/tasks",
                    Some(json!([
                    {"id": w.tasks[2], "is_completed": true, "result": {"text": "Done"}}])),
                );
            },
            actions: |_| {
                json!([{"do": {"type": "change_responsible", "entity": "lead", "user": {"user": 101},
                "in_contacts": true, "in_companies": true, "in_open_tasks": true}}])
            },
            check: |stack, w, _| {
                assert_eq!(responsible(stack, "leads", w.lead), 101);
                assert_eq!(responsible(stack, "contacts", w.contact), 101);
                assert_eq!(responsible(stack, "companies", w.company), 101);
                let users: Vec<Value> = w
                    .tasks
                    .iter()
                    .map(|t| task(stack, *t)["responsible_user_id"].clone())
                    .collect();
                assert_eq!(
                    users,
                    vec![json!(101), json!(101), json!(102)],
                    "closed tasks keep theirs"
                );
            },
            ..ROW
        },
        Row {
            name: "change responsible: the contact's, from a contact",
            on: On::Contact,
            actions: |_| json!([{"do": {"type": "change_responsible", "entity": "contact", "user": {"user": 102}}}]),
            check: |stack, w, _| {
                assert_eq!(responsible(stack, "contacts", w.contact), 102);
                assert_eq!(responsible(stack, "leads", w.lead), 102);
            },
            ..ROW
        },
        // 11. Execute rule.
        Row {
            name: "execute rule: for the lead",
            actions: |w| json!([{"do": {"type": "execute_rule", "entity": "lead", "rule_id": w.shared.child["lead"]}}]),
            check: |stack, w, _| {
                assert_eq!(
                    common_notes(stack, w.lead),
                    vec![format!("Child rule ran on Deal {}", w.row)]
                );
            },
            ..ROW
        },
        Row {
            name: "execute rule: for the contact",
            actions: |w| json!([{"do": {"type": "execute_rule", "entity": "contact", "rule_id": w.shared.child["contact"]}}]),
            check: |stack, w, _| {
                assert_eq!(
                    common_notes(stack, w.contact),
                    vec![format!("Child rule ran on Client {}", w.row)]
                );
                assert!(common_notes(stack, w.lead).is_empty());
            },
            ..ROW
        },
        Row {
            name: "execute rule: for the company",
            on: On::Contact,
            actions: |w| json!([{"do": {"type": "execute_rule", "entity": "company", "rule_id": w.shared.child["company"]}}]),
            check: |stack, w, _| {
                assert_eq!(
                    common_notes(stack, w.company),
                    vec![format!("Child rule ran on Acme {}", w.row)]
                );
            },
            ..ROW
        },
        // 12. Salesbot: run bot.
        Row {
            name: "run Salesbot: on the lead",
            actions: |_| json!([{"do": {"type": "run_salesbot", "entity": "lead", "bot_id": 31}}]),
            check: |stack, w, _| {
                let runs = stack.emulator().salesbot_runs(SUBDOMAIN);
                assert!(
                    runs.iter()
                        .any(|r| r["bot_id"] == 31 && r["entity_id"] == w.lead),
                    "{runs:?}"
                );
            },
            ..ROW
        },
        Row {
            name: "run Salesbot: on the contact",
            on: On::Contact,
            actions: |_| json!([{"do": {"type": "run_salesbot", "entity": "contact", "bot_id": 32}}]),
            check: |stack, w, _| {
                let runs = stack.emulator().salesbot_runs(SUBDOMAIN);
                assert!(
                    runs.iter()
                        .any(|r| r["bot_id"] == 32 && r["entity_id"] == w.contact),
                    "{runs:?}"
                );
            },
            ..ROW
        },
        Row {
            // Kommo's run endpoint takes a lead or a contact (kommo-platform.md §7): on a company
            // the action fails and says so in the debugger.
            name: "run Salesbot: on the company, refused with a reason",
            on: On::Company,
            actions: |_| json!([{"do": {"type": "run_salesbot", "entity": "company", "bot_id": 33}}]),
            outcome: ExecutionOutcome::Error,
            check: |stack, _, seen| {
                let runs = stack.emulator().salesbot_runs(SUBDOMAIN);
                assert!(!runs.iter().any(|r| r["bot_id"] == 33), "{runs:?}");
                let trace = seen.log[0].trace.to_string();
                assert!(
                    trace.contains("a Salesbot runs on a lead or a contact"),
                    "{trace}"
                );
            },
            ..ROW
        },
        // 13. Send webhook to URL.
        Row {
            name: "send webhook: GET with headers, the body in the query",
            actions: |w| {
                json!([{"do": {"type": "send_webhook", "method": "GET",
                "url": format!("{}/get/{{{{lead.id}}}}", w.receiver),
                "headers": [{"key": "X-Source", "value": "rulebook {{lead.name}}"}],
                "body": [{"key": "name", "value": "{{lead.name}}"}]}}])
            },
            check: |_, w, seen| {
                let [request] = seen.requests.as_slice() else {
                    panic!("{:?}", seen.requests)
                };
                assert_eq!(
                    (request.method.as_str(), request.path.clone()),
                    ("GET", format!("/get/{}", w.lead))
                );
                assert_eq!(
                    request.headers.get("x-source"),
                    Some(&format!("rulebook Deal {}", w.row))
                );
                let query: BTreeMap<String, String> =
                    serde_urlencoded::from_str(&request.query).expect("query");
                assert_eq!(query.get("name"), Some(&format!("Deal {}", w.row)));
                assert_eq!(query.get("entity_id"), Some(&w.lead.to_string()));
                assert_eq!(query.get("entity_type").map(String::as_str), Some("lead"));
                assert_eq!(query.get("block_id").map(String::as_str), Some("1"));
                assert!(query.contains_key("rule_id"));
            },
            ..ROW
        },
        Row {
            name: "send webhook: POST, a form body with the run's ids",
            actions: |w| {
                json!([{"do": {"type": "send_webhook", "method": "POST",
                "url": format!("{}/post", w.receiver),
                "body": [{"key": "budget", "value": "{{lead.price}}"}]}}])
            },
            check: |_, w, seen| {
                let [request] = seen.requests.as_slice() else {
                    panic!("{:?}", seen.requests)
                };
                assert_eq!(request.method, "POST");
                let body: BTreeMap<String, String> =
                    serde_urlencoded::from_str(&request.body).expect("form");
                assert_eq!(body.get("budget").map(String::as_str), Some("100"));
                assert_eq!(body.get("entity_id"), Some(&w.lead.to_string()));
                assert_eq!(body.get("entity_type").map(String::as_str), Some("lead"));
            },
            ..ROW
        },
        Row {
            name: "send webhook: PUT, a JSON body",
            actions: |w| {
                json!([{"do": {"type": "send_webhook", "method": "PUT",
                "url": format!("{}/put", w.receiver),
                "headers": [{"key": "Content-Type", "value": "application/json"}],
                "body": [{"key": "name", "value": "{{lead.name}}"}]}}])
            },
            check: |_, w, seen| {
                let [request] = seen.requests.as_slice() else {
                    panic!("{:?}", seen.requests)
                };
                assert_eq!(request.method, "PUT");
                let body: Value = serde_json::from_str(&request.body).expect("JSON");
                assert_eq!(body["name"], format!("Deal {}", w.row));
                assert_eq!(body["entity_id"], w.lead.to_string());
            },
            ..ROW
        },
        Row {
            name: "send webhook: PATCH and DELETE",
            actions: |w| {
                json!([
                {"do": {"type": "send_webhook", "method": "PATCH", "url": format!("{}/patch", w.receiver),
                        "body": [{"key": "k", "value": "v"}]}},
                {"do": {"type": "send_webhook", "method": "DELETE", "url": format!("{}/delete", w.receiver)}}])
            },
            check: |_, _, seen| {
                let methods: Vec<(&str, &str)> = seen
                    .requests
                    .iter()
                    .map(|r| (r.method.as_str(), r.path.as_str()))
                    .collect();
                assert_eq!(methods, vec![("PATCH", "/patch"), ("DELETE", "/delete")]);
            },
            ..ROW
        },
        Row {
            name: "send webhook: the answer's variables run the follow-up rule",
            actions: |w| {
                json!([{"do": {"type": "send_webhook", "method": "POST",
                "url": format!("{}/order", w.receiver), "parse_response": true,
                "follow_up_rule_id": w.shared.follow_up}}])
            },
            check: |stack, w, seen| {
                assert_eq!(seen.requests.len(), 1);
                assert_eq!(
                    field(&entity(stack, "leads", w.lead), 504),
                    "Order 42 is created"
                );
            },
            ..ROW
        },
        // 14. Mailer: send an email.
        Row {
            name: "send email: recipients chosen automatically (contact and company)",
            actions: |_| json!([{"do": {"type": "send_email", "sender_user_id": 101, "template_id": 5}}]),
            check: |stack, w, _| {
                let notes = note_texts(stack, w.lead);
                assert_eq!(notes.len(), 1, "{notes:?}");
                assert_eq!(notes[0].0, "service_message");
                assert!(
                    notes[0].1.contains("template 5") && notes[0].1.contains("user 101"),
                    "{notes:?}"
                );
                assert!(
                    notes[0].1.contains(&format!("client{}@example.com", w.row)),
                    "{notes:?}"
                );
                assert!(
                    notes[0].1.contains(&format!("office{}@example.com", w.row)),
                    "{notes:?}"
                );
            },
            ..ROW
        },
        Row {
            name: "send email: the main contact only",
            actions: |_| {
                json!([{"do": {"type": "send_email", "sender_user_id": 102, "template_id": 6,
                "recipient": "main_contact"}}])
            },
            check: |stack, w, _| {
                let notes = note_texts(stack, w.lead);
                assert_eq!(notes.len(), 1, "{notes:?}");
                assert!(
                    notes[0].1.contains(&format!("client{}@example.com", w.row)),
                    "{notes:?}"
                );
                assert!(!notes[0].1.contains("office"), "{notes:?}");
            },
            ..ROW
        },
        // 15. Subscribe to the lead.
        Row {
            // Kommo's public API has no call that subscribes users to a lead's chat: the save is
            // refused, each such action named with the reason.
            name: "chat subscription: subscribe and unsubscribe are refused with the reason",
            actions: |_| {
                json!([
                {"do": {"type": "chat_subscription", "subscribe": true, "user_ids": [101]}},
                {"do": {"type": "chat_subscription", "subscribe": false, "user_ids_from": "{{lead.responsible_user_id}}"}}])
            },
            refused: Some("unavailable_in_kommo"),
            ..ROW
        },
        // 16. Cancel delayed jobs.
        Row {
            name: "cancel delayed jobs: every job of a rule on the entity",
            first: Some(|s| s.reminder),
            actions: |w| json!([{"do": {"type": "cancel_delayed", "rule_id": w.shared.reminder}}]),
            check: |_, w, seen| {
                assert!(reminders(w, seen).is_empty(), "{:?}", seen.jobs);
            },
            ..ROW
        },
        Row {
            name: "cancel delayed jobs: of one block",
            first: Some(|s| s.reminder),
            actions: |w| json!([{"do": {"type": "cancel_delayed", "rule_id": w.shared.reminder, "block_id": 1}}]),
            check: |_, w, seen| {
                assert_eq!(reminders(w, seen), vec![(2, 3)]);
            },
            ..ROW
        },
        Row {
            name: "cancel delayed jobs: of one action",
            first: Some(|s| s.reminder),
            actions: |w| {
                json!([{"do": {"type": "cancel_delayed", "rule_id": w.shared.reminder, "block_id": 1,
                "action_id": 2}}])
            },
            check: |_, w, seen| {
                assert_eq!(reminders(w, seen), vec![(1, 1), (2, 3)]);
            },
            ..ROW
        },
        // 17. Change global variable.
        Row {
            name: "global variable: set",
            actions: |_| {
                json!([{"do": {"type": "change_global_variable", "name": "last_lead", "change": "set",
                "value": "{{lead.name}}"}}])
            },
            check: |_, w, seen| {
                assert_eq!(
                    seen.variables.get("last_lead"),
                    Some(&format!("Deal {}", w.row))
                );
            },
            ..ROW
        },
        Row {
            name: "global variable: append",
            launches: 2,
            actions: |_| {
                json!([{"do": {"type": "change_global_variable", "name": "visits", "change": "append",
                "value": "{{lead.id}};"}}])
            },
            check: |_, w, seen| {
                assert_eq!(
                    seen.variables.get("visits"),
                    Some(&format!("{};{};", w.lead, w.lead))
                );
            },
            ..ROW
        },
        Row {
            name: "global variable: calculate",
            actions: |_| {
                json!([{"do": {"type": "change_global_variable", "name": "doubled", "change": "calculate",
                "value": "{{ (lead.price*2):calc }}"}}])
            },
            check: |_, _, seen| {
                assert_eq!(
                    seen.variables.get("doubled").map(String::as_str),
                    Some("200")
                );
            },
            ..ROW
        },
        Row {
            name: "global variable: erased by an empty value",
            actions: |_| {
                json!([
                {"do": {"type": "change_global_variable", "name": "erased", "change": "set", "value": "x"}},
                {"do": {"type": "change_global_variable", "name": "erased", "change": "set", "value": ""}}])
            },
            check: |_, _, seen| {
                assert_eq!(
                    seen.variables.get("erased").map(String::as_str),
                    Some(""),
                    "no value left"
                );
            },
            ..ROW
        },
        // Timers: seconds, minutes, hours, days; a date from a field; a day of the year.
        Row {
            name: "timer: 30 seconds",
            actions: |_| {
                json!([{"id": 1, "timer": {"kind": "after", "amount": 30, "unit": "seconds"},
                "do": {"type": "add_note", "entity": "lead", "text": "30 s later"}}])
            },
            due: Some(Due {
                at: |w| w.now_ms + 30_000,
                jobs: 1,
            }),
            check: |stack, w, _| assert_eq!(common_notes(stack, w.lead), vec!["30 s later"]),
            ..ROW
        },
        Row {
            name: "timer: 5 minutes",
            actions: |_| {
                json!([{"id": 1, "timer": {"kind": "after", "amount": 5, "unit": "minutes"},
                "do": {"type": "add_note", "entity": "lead", "text": "5 min later"}}])
            },
            due: Some(Due {
                at: |w| w.now_ms + 300_000,
                jobs: 1,
            }),
            check: |stack, w, _| assert_eq!(common_notes(stack, w.lead), vec!["5 min later"]),
            ..ROW
        },
        Row {
            name: "timer: 2 hours",
            actions: |_| {
                json!([{"id": 1, "timer": {"kind": "after", "amount": 2, "unit": "hours"},
                "do": {"type": "add_note", "entity": "lead", "text": "2 h later"}}])
            },
            due: Some(Due {
                at: |w| w.now_ms + 7_200_000,
                jobs: 1,
            }),
            check: |stack, w, _| assert_eq!(common_notes(stack, w.lead), vec!["2 h later"]),
            ..ROW
        },
        Row {
            name: "timer: 1 day",
            actions: |_| {
                json!([{"id": 1, "timer": {"kind": "after", "amount": 1, "unit": "days"},
                "do": {"type": "add_note", "entity": "lead", "text": "A day later"}}])
            },
            due: Some(Due {
                at: |w| w.now_ms + 86_400_000,
                jobs: 1,
            }),
            check: |stack, w, _| assert_eq!(common_notes(stack, w.lead), vec!["A day later"]),
            ..ROW
        },
        Row {
            name: "timer: the date in a field, a day before, at 10:00",
            actions: |_| {
                json!([{"id": 1, "timer": {"kind": "date_field", "field": "lead.cf(506)",
                "shift_days": -1, "at": "10:00:00"},
                "do": {"type": "create_task", "entity": "lead", "task_type_id": 1, "complete_in_seconds": 3600,
                       "text": "Remind about the meeting"}}])
            },
            due: Some(Due {
                at: |w| local(berlin_day(w.meeting).pred_opt().expect("day"), hm(10, 0)),
                jobs: 1,
            }),
            check: |stack, w, _| {
                let task = tasks_on(stack, w.lead).pop().expect("a task");
                assert_eq!(task["text"], "Remind about the meeting");
            },
            ..ROW
        },
        Row {
            name: "timer: the date in a field at the field's own time",
            actions: |_| {
                json!([{"id": 1, "timer": {"kind": "date_field", "field": "lead.cf(506)"},
                "do": {"type": "add_note", "entity": "lead", "text": "Meeting now"}}])
            },
            due: Some(Due {
                at: |w| w.meeting * 1000,
                jobs: 1,
            }),
            check: |stack, w, _| assert_eq!(common_notes(stack, w.lead), vec!["Meeting now"]),
            ..ROW
        },
        Row {
            name: "timer: every year on the day in a field, at 09:00",
            on: On::Contact,
            actions: |_| {
                json!([{"id": 1, "timer": {"kind": "yearly_from_field", "field": "contact.cf(603)",
                "at": "09:00:00"}, "do": {"type": "run_salesbot", "entity": "contact", "bot_id": 34}}])
            },
            due: Some(Due {
                at: |w| {
                    let born = berlin_day(w.birthday);
                    let today = berlin_day(w.now_ms / 1000);
                    let this_year = NaiveDate::from_ymd_opt(today.year(), born.month(), born.day())
                        .expect("day");
                    let day = if this_year > today {
                        this_year
                    } else {
                        NaiveDate::from_ymd_opt(today.year() + 1, born.month(), born.day())
                            .expect("day")
                    };
                    local(day, hm(9, 0))
                },
                jobs: 1,
            }),
            check: |stack, w, _| {
                let runs = stack.emulator().salesbot_runs(SUBDOMAIN);
                assert!(
                    runs.iter()
                        .any(|r| r["bot_id"] == 34 && r["entity_id"] == w.contact),
                    "{runs:?}"
                );
            },
            ..ROW
        },
        // «Replace delayed actions from the entity».
        Row {
            name: "replace delayed actions: two launches leave one job and one note",
            launches: 2,
            actions: |_| {
                json!([{"id": 1, "replace_pending": true, "timer": {"kind": "after", "amount": 1, "unit": "hours"},
                "do": {"type": "add_note", "entity": "lead", "text": "Replaced"}}])
            },
            due: Some(Due {
                at: |w| w.now_ms + 5_000 + 3_600_000,
                jobs: 1,
            }),
            check: |stack, w, _| assert_eq!(common_notes(stack, w.lead), vec!["Replaced"]),
            ..ROW
        },
        Row {
            name: "replace delayed actions off: two launches leave two jobs and two notes",
            launches: 2,
            actions: |_| {
                json!([{"id": 1, "timer": {"kind": "after", "amount": 1, "unit": "hours"},
                "do": {"type": "add_note", "entity": "lead", "text": "Added twice"}}])
            },
            due: Some(Due {
                at: |w| w.now_ms + 5_000 + 3_600_000,
                jobs: 2,
            }),
            check: |stack, w, _| {
                assert_eq!(
                    common_notes(stack, w.lead),
                    vec!["Added twice", "Added twice"]
                )
            },
            ..ROW
        },
    ]
}

/// The reminder rule's jobs waiting on the row's lead, as (block, action).
fn reminders(w: &World, seen: &Seen) -> Vec<(u32, u32)> {
    let mut left: Vec<(u32, u32)> = seen
        .jobs
        .iter()
        .filter(|j| j.rule_id == Some(w.shared.reminder) && j.entity_id == Some(w.lead))
        .map(|j| {
            let number =
                |s: &Option<String>| s.as_deref().and_then(|s| s.parse().ok()).unwrap_or(0);
            (number(&j.block_id), number(&j.action_id))
        })
        .collect();
    left.sort_unstable();
    left
}

// ------------------------------------------------------------------------------- the run

/// A receiver that records every request and answers `{"order": {"id": 42, "state": "created"}}`.
async fn receiver() -> (String, Arc<Mutex<Vec<Received>>>) {
    let received = Arc::new(Mutex::new(Vec::<Received>::new()));
    let seen = received.clone();
    let app = axum::Router::new().fallback(
        move |method: axum::http::Method,
              uri: axum::http::Uri,
              headers: axum::http::HeaderMap,
              body: String| {
            let seen = seen.clone();
            async move {
                seen.lock().expect("lock").push(Received {
                    method: method.to_string(),
                    path: uri.path().to_owned(),
                    query: uri.query().unwrap_or_default().to_owned(),
                    headers: headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
                        .collect(),
                    body,
                });
                axum::Json(json!({"order": {"id": 42, "state": "created"}}))
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, received)
}

/// Saves a rule as the widget does; its id.
async fn save(stack: &Stack, name: &str, rule: Value) -> i64 {
    let (status, created) = stack
        .api(
            "POST",
            "/api/v1/rules",
            Some(json!({"name": name, "rule": rule})),
        )
        .await;
    assert_eq!(status, 201, "{name}: {created}");
    created["id"].as_i64().expect("rule id")
}

fn manual_on(on: On, name: &str, blocks: Value) -> Value {
    json!({"schema_version": 3, "name": name, "trigger": {"kind": "manual", "entity": on.singular()},
           "blocks": blocks})
}

async fn shared_rules(stack: &Stack) -> Shared {
    let mut child = BTreeMap::new();
    for (on, name) in [
        (On::Lead, "{{lead.name}}"),
        (On::Contact, "{{contact.name}}"),
        (On::Company, "{{company.name}}"),
    ] {
        let title = format!("Child on {}", on.singular());
        let rule = manual_on(
            on,
            &title,
            json!([{"actions": [{"do": {"type": "add_note", "entity": on.singular(),
                "text": format!("Child rule ran on {name}")}}]}]),
        );
        child.insert(on.singular(), save(stack, &title, rule).await);
    }
    let follow_up = save(
        stack,
        "Store order",
        manual_on(
            On::Lead,
            "Store order",
            json!([{"actions": [{"do": {"type": "change_fields", "entity": "lead", "fields": [
                {"field": {"custom": 504}, "value": "Order {order_id} is {order_state}"}]}}]}]),
        ),
    )
    .await;
    let later = |id: u32, text: &str| {
        json!({"id": id, "timer": {"kind": "after", "amount": 1, "unit": "days"},
               "do": {"type": "add_note", "entity": "lead", "text": text}})
    };
    let reminder = save(
        stack,
        "Reminders",
        manual_on(
            On::Lead,
            "Reminders",
            json!([
                {"id": 1, "actions": [later(1, "Reminder A"), later(2, "Reminder B")]},
                {"id": 2, "actions": [later(3, "Reminder C")]}
            ]),
        ),
    )
    .await;
    Shared {
        child,
        follow_up,
        reminder,
    }
}

/// Fresh entities for row `row`, linked and with tasks, and the webhooks of their creation drained.
async fn world(stack: &Stack, row: usize, receiver: &str, shared: &Arc<Shared>) -> World {
    let now_ms = stack.clock_ms();
    let now = now_ms / 1000;
    let meeting = local(berlin_day(now) + chrono::Days::new(3), hm(15, 30)) / 1000;
    let birthday_day = berlin_day(now) + chrono::Days::new(10);
    let birthday = berlin_midnight(
        NaiveDate::from_ymd_opt(1990, birthday_day.month(), birthday_day.day()).expect("day"),
    );
    let company = stack.create(
        "companies",
        json!({"name": format!("Acme {row}"), "responsible_user_id": 102,
               "custom_fields_values": [{"field_id": 701, "values": [
                   {"value": format!("office{row}@example.com"), "enum_code": "WORK"}]}],
               "_embedded": {"tags": [{"name": "ktag"}]}}),
    );
    let contact = stack.create(
        "contacts",
        json!({"name": format!("Client {row}"), "responsible_user_id": 103,
               "custom_fields_values": [
                   {"field_id": 601, "values": [{"value": "+4930555000", "enum_code": "WORK"}]},
                   {"field_id": 602, "values": [{"value": format!("client{row}@example.com"), "enum_code": "WORK"}]},
                   {"field_id": 603, "values": [{"value": birthday}]}],
               "_embedded": {"tags": [{"name": "ctag"}], "companies": [{"id": company}]}}),
    );
    let colleague = stack.create(
        "contacts",
        json!({"name": format!("Colleague {row}"), "responsible_user_id": 102,
               "_embedded": {"companies": [{"id": company}]}}),
    );
    let lead = stack.create(
        "leads",
        json!({"name": format!("Deal {row}"), "price": 100, "pipeline_id": 10, "status_id": 11,
               "responsible_user_id": 102,
               "custom_fields_values": [
                   {"field_id": 504, "values": [{"value": "Hello"}]},
                   {"field_id": 506, "values": [{"value": meeting}]}],
               "_embedded": {"tags": [{"name": "old1"}, {"name": "old2"}],
                             "contacts": [{"id": contact, "is_main": true}],
                             "companies": [{"id": company}]}}),
    );
    let task = |text: &str, type_id: i64, due_in: i64| {
        let body = stack.kommo_call(
            "POST",
            "/api/v4/tasks",
            Some(json!([{"text": text, "complete_till": now + due_in, "entity_id": lead,
                         "entity_type": "leads", "task_type_id": type_id, "responsible_user_id": 102}])),
        );
        body["_embedded"]["tasks"][0]["id"]
            .as_i64()
            .expect("task id")
    };
    let tasks = [
        task("Call", 1, 3600),
        task("Call", 1, 7200),
        task("Meet", 2, 1800),
    ];
    stack.settle().await;
    World {
        lead,
        contact,
        colleague,
        company,
        tasks,
        meeting,
        birthday,
        now_ms,
        receiver: receiver.to_owned(),
        shared: shared.clone(),
        row,
    }
}

async fn launch(stack: &Stack, rule_id: i64, on: On, id: i64) {
    let (status, queued) = stack
        .api(
            "POST",
            &format!("/api/v1/rules/{rule_id}/run"),
            Some(json!({"entity_type": on.plural(), "entity_ids": [id]})),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    stack.settle().await;
}

async fn waiting_jobs(stack: &Stack) -> Vec<rulebook::queue::JobInfo> {
    stack
        .app
        .queue
        .list_jobs(ACCOUNT_ID, &JobFilter::default())
        .await
        .expect("jobs")
}

async fn every_action_of_the_manual_with_every_option_lands_in_kommo(database: Database) {
    let stack = Stack::start(database, seed()).await;
    let (receiver_url, received) = receiver().await;
    let shared = Arc::new(shared_rules(&stack).await);
    let rows = rows();
    let mut failures = Vec::new();
    for (number, row) in rows.iter().enumerate() {
        let row_number = number + 1;
        let w = world(&stack, row_number, &receiver_url, &shared).await;
        received.lock().expect("lock").clear();
        let title = format!("Row {row_number}");
        let actions = (row.actions)(&w);
        let count = actions.as_array().map_or(0, Vec::len);
        let body = manual_on(
            row.on,
            &title,
            json!([{"id": 1, "name": row.name, "actions": actions}]),
        );
        if let Some(code) = row.refused {
            let (status, problem) = stack
                .api(
                    "POST",
                    "/api/v1/rules",
                    Some(json!({"name": title, "rule": body})),
                )
                .await;
            let errors = problem["errors"].as_array().map_or(0, Vec::len);
            if (status, problem["code"].as_str(), errors) != (422, Some(code), count) {
                failures.push(format!("row {row_number} ({}): {problem}", row.name));
            }
            continue;
        }
        let rule = save(&stack, &title, body).await;
        (row.given)(&stack, &w);
        stack.settle().await;
        if let Some(first) = row.first {
            launch(&stack, first(&shared), row.on, w.id(row.on)).await;
        }
        for launch_number in 0..row.launches {
            // The button is pressed again once the rule's run frequency allows (the manual's
            // "no more than 1 time per XX sec", at least 5 s; sooner, the run is refused).
            if launch_number > 0 {
                stack.advance(Duration::from_secs(5));
            }
            launch(&stack, rule, row.on, w.id(row.on)).await;
        }
        if let Some(due) = &row.due {
            let filter = JobFilter {
                rule_id: Some(rule),
                ..JobFilter::default()
            };
            let jobs = stack
                .app
                .queue
                .list_jobs(ACCOUNT_ID, &filter)
                .await
                .expect("jobs");
            let expected = (due.at)(&w);
            let last = jobs.iter().map(|j| j.run_at).max().unwrap_or(0);
            if jobs.len() != due.jobs || last != expected {
                failures.push(format!(
                    "row {row_number} ({}): {} job(s) due at {expected} expected: {jobs:?}",
                    row.name, due.jobs
                ));
                continue;
            }
            let wait = u64::try_from(expected - stack.clock_ms()).expect("ahead");
            stack.advance(Duration::from_millis(wait - 1));
            stack.settle().await;
            let waiting = stack
                .app
                .queue
                .list_jobs(ACCOUNT_ID, &filter)
                .await
                .expect("jobs");
            if waiting.is_empty() {
                failures.push(format!(
                    "row {row_number} ({}): the job ran before its time",
                    row.name
                ));
            }
            stack.advance(Duration::from_millis(1));
            stack.settle().await;
        }
        (row.then)(&stack, &w);
        stack.settle().await;
        let seen = Seen {
            variables: variables::list_variables(&stack.app.db, ACCOUNT_ID, Page::ALL)
                .await
                .expect("variables")
                .into_iter()
                .map(|v| (v.name, v.value))
                .collect(),
            jobs: waiting_jobs(&stack).await,
            log: stack.log(rule).await,
            requests: received.lock().expect("lock").clone(),
        };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert!(!seen.log.is_empty(), "the rule ran");
            for entry in &seen.log {
                assert_eq!(entry.outcome, row.outcome, "{}", entry.trace);
            }
            (row.check)(&stack, &w, &seen);
        }));
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failures.push(format!("row {row_number} ({}): {message}", row.name));
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
