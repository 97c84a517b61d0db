//! The REST API v4 operations on one account: request routing inside `/api/`, validation with
//! Kommo's `validation-errors`, paging, filters, and the list of changes each write made (from which
//! the outbound webhooks are built).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use crate::model::{
    Account, CustomFieldDef, EntityKind, Note, Record, StoredValue, Task, WebhookSubscription,
};
use crate::problem::{ApiFailure, FieldError};

/// Limits of the emulated API.
#[derive(Debug, Clone, Copy)]
pub struct ApiLimits {
    /// Largest `limit` for a page (Kommo: 250); larger values are clamped.
    pub max_page: usize,
    /// Most items in one POST/PATCH array; more is a 400.
    pub max_write_batch: usize,
}

/// One call into the account's API, already authenticated.
#[derive(Debug)]
pub struct ApiCall<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path segments after `/api/`, e.g. `["v4", "leads", "12"]`.
    pub segments: Vec<&'a str>,
    /// Query pairs, decoded.
    pub query: Vec<(String, String)>,
    /// Parsed JSON body, if any.
    pub body: Option<Value>,
    /// `scheme://host/{subdomain}` for `_links`.
    pub base: String,
    /// Emulator time, unix seconds.
    pub now: i64,
    /// The user acting (from the token).
    pub user_id: i64,
}

/// What a write did to one object; outbound webhooks and events are built from these.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// An entity was created or updated.
    Entity {
        /// Kind.
        kind: EntityKind,
        /// Id.
        id: i64,
        /// True for creation.
        added: bool,
        /// `(pipeline_id, status_id)` before, when a lead changed stage.
        old_status: Option<(i64, i64)>,
        /// Responsible user before, when it changed.
        old_responsible: Option<i64>,
        /// True when any field other than stage changed (or on creation).
        fields_changed: bool,
    },
    /// A task was created or updated.
    Task {
        /// Id.
        id: i64,
        /// True for creation.
        added: bool,
        /// Responsible user before, when an update changed it.
        old_responsible: Option<i64>,
    },
    /// A note was added.
    Note {
        /// Id.
        id: i64,
    },
    /// A talk was created or updated.
    Talk {
        /// Talk id.
        id: i64,
        /// True for creation.
        added: bool,
    },
}

/// The result of one API call.
#[derive(Debug)]
pub struct ApiOutcome {
    /// HTTP status.
    pub status: StatusCode,
    /// JSON body, or none (204, 202 without body).
    pub body: Option<Value>,
    /// What changed.
    pub changes: Vec<Change>,
}

impl ApiOutcome {
    fn ok(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            body: Some(body),
            changes: Vec::new(),
        }
    }
    fn no_content() -> Self {
        Self {
            status: StatusCode::NO_CONTENT,
            body: None,
            changes: Vec::new(),
        }
    }
}

type ApiResult = Result<ApiOutcome, ApiFailure>;

/// Routes and runs one call.
pub fn dispatch(account: &mut Account, limits: ApiLimits, call: &ApiCall<'_>) -> ApiResult {
    let segs: Vec<&str> = call
        .segments
        .iter()
        .copied()
        .filter(|s| !s.is_empty())
        .collect();
    let m = call.method;
    match segs.as_slice() {
        ["v4", "account"] => only_get(m).map(|_| ApiOutcome::ok(render_account(account, call))),
        ["v4", "users"] => {
            only_get(m)?;
            let with = with_list(&call.query);
            let items: Vec<Value> = account
                .users
                .iter()
                .map(|u| {
                    let mut user = account.render_user(u, &call.base);
                    let mut embedded = Map::new();
                    if with.contains(&"role") {
                        embedded.insert("roles".into(), json!([]));
                    }
                    if with.contains(&"group") {
                        let groups: Vec<Value> = account
                            .user_groups
                            .iter()
                            .filter(|g| g.id == u.group_id)
                            .map(|g| json!({"id": g.id, "name": g.name}))
                            .collect();
                        embedded.insert("groups".into(), Value::Array(groups));
                    }
                    if !embedded.is_empty() {
                        user["_embedded"] = Value::Object(embedded);
                    }
                    user
                })
                .collect();
            page_out("users", items, call, limits)
        }
        ["v4", "users", id] => {
            only_get(m)?;
            let id = parse_id(id)?;
            let user = account
                .users
                .iter()
                .find(|u| u.id == id)
                .ok_or(ApiFailure::NotFound)?;
            Ok(ApiOutcome::ok(account.render_user(user, &call.base)))
        }
        ["v4", "leads", "loss_reasons"] => {
            only_get(m)?;
            let items: Vec<Value> = account
                .loss_reasons
                .iter()
                .map(|r| {
                    json!({
                        "id": r.id,
                        "name": r.name,
                        "sort": r.sort,
                        "created_at": 1_600_000_000,
                        "updated_at": 1_600_000_000,
                        "_links": {"self": {"href": format!("{}/api/v4/leads/loss_reasons/{}", call.base, r.id)}},
                    })
                })
                .collect();
            page_out("loss_reasons", items, call, limits)
        }
        ["v4", "bots"] => {
            only_get(m)?;
            let items: Vec<Value> = account
                .bots
                .iter()
                .map(|b| {
                    json!({
                        "id": b.id,
                        "name": b.name,
                        "type_functionality": 0,
                        "active": b.active,
                        "_links": {"self": {"href": format!("{}/api/v4/bots/{}", call.base, b.id)}},
                    })
                })
                .collect();
            page_out("bots", items, call, limits)
        }
        ["v4", "leads", "pipelines"] => {
            only_get(m)?;
            let items: Vec<Value> = account
                .pipelines
                .iter()
                .map(|p| account.render_pipeline(p, &call.base))
                .collect();
            Ok(ApiOutcome::ok(json!({
                "_total_items": items.len(),
                "_links": {"self": {"href": format!("{}/api/v4/leads/pipelines", call.base)}},
                "_embedded": {"pipelines": items},
            })))
        }
        ["v4", "leads", "pipelines", pid, rest @ ..] => {
            only_get(m)?;
            let pid = parse_id(pid)?;
            let pipeline = account
                .pipelines
                .iter()
                .find(|p| p.id == pid)
                .ok_or(ApiFailure::NotFound)?;
            match rest {
                [] => Ok(ApiOutcome::ok(
                    account.render_pipeline(pipeline, &call.base),
                )),
                ["statuses"] => Ok(ApiOutcome::ok(json!({
                    "_total_items": pipeline.statuses.len(),
                    "_embedded": {"statuses": pipeline.statuses.iter().map(|s| account.render_status(pid, s, &call.base)).collect::<Vec<_>>()},
                }))),
                ["statuses", sid] => {
                    let sid = parse_id(sid)?;
                    let status = pipeline
                        .statuses
                        .iter()
                        .find(|s| s.id == sid)
                        .ok_or(ApiFailure::NotFound)?;
                    Ok(ApiOutcome::ok(
                        account.render_status(pid, status, &call.base),
                    ))
                }
                _ => Err(ApiFailure::NotFound),
            }
        }
        ["v4", "tasks"] => match m {
            "GET" => list_tasks(account, call, limits),
            "POST" => write_tasks(account, call, limits, None, true),
            "PATCH" => write_tasks(account, call, limits, None, false),
            _ => Err(ApiFailure::MethodNotAllowed),
        },
        ["v4", "tasks", id] => {
            let id = parse_id(id)?;
            match m {
                "GET" => {
                    let task = account.tasks.get(&id).ok_or(ApiFailure::NotFound)?;
                    Ok(ApiOutcome::ok(account.render_task(task, &call.base)))
                }
                "PATCH" => write_tasks(account, call, limits, Some(id), false),
                _ => Err(ApiFailure::MethodNotAllowed),
            }
        }
        ["v4", "events"] => {
            only_get(m)?;
            list_events(account, call, limits)
        }
        ["v4", "webhooks"] => webhooks(account, call),
        ["v4", "talks", id] => {
            only_get(m)?;
            let id = parse_id(id)?;
            let talk = account.talks.get(&id).ok_or(ApiFailure::NotFound)?;
            Ok(ApiOutcome::ok(account.render_talk(talk, &call.base)))
        }
        ["v4", "talks", id, "close"] => {
            only_post(m)?;
            let id = parse_id(id)?;
            close_talk_call(account, call, id)
        }
        ["v2", "salesbot", "run"] | ["v4", "bots", "run"] => {
            only_post(m)?;
            salesbot_run(account, call, None)
        }
        ["v4", "bots", bot_id, "run"] => {
            only_post(m)?;
            let bot_id = parse_id(bot_id)?;
            salesbot_run(account, call, Some(bot_id))
        }
        ["v4", bot_type @ ("salesbot" | "marketingbot"), bot_id, "continue", continue_id] => {
            only_post(m)?;
            let (bot_id, continue_id) = (parse_id(bot_id)?, parse_id(continue_id)?);
            continue_bot(account, call, bot_type, bot_id, continue_id)
        }
        ["v4", kind, rest @ ..] => {
            let kind = EntityKind::parse(kind).ok_or(ApiFailure::NotFound)?;
            entity_routes(account, limits, call, kind, rest)
        }
        _ => Err(ApiFailure::NotFound),
    }
}

fn entity_routes(
    account: &mut Account,
    limits: ApiLimits,
    call: &ApiCall<'_>,
    kind: EntityKind,
    rest: &[&str],
) -> ApiResult {
    let m = call.method;
    match rest {
        [] => match m {
            "GET" => list_records(account, call, limits, kind),
            "POST" => write_records(account, call, limits, kind, None, true),
            "PATCH" => write_records(account, call, limits, kind, None, false),
            _ => Err(ApiFailure::MethodNotAllowed),
        },
        ["custom_fields"] => {
            only_get(m)?;
            let items: Vec<Value> = account
                .fields(kind)
                .iter()
                .map(|d| account.render_field(kind, d, &call.base))
                .collect();
            page_out("custom_fields", items, call, limits)
        }
        ["custom_fields", id] if m == "DELETE" => {
            let id = parse_id(id)?;
            let fields = account.custom_fields.entry(kind).or_default();
            let at = fields
                .iter()
                .position(|d| d.id == id)
                .ok_or(ApiFailure::NotFound)?;
            if fields[at].code.is_some() {
                // Kommo's own fields (PHONE, EMAIL, UTM_*) cannot be deleted.
                return Err(ApiFailure::BadRequest(
                    "This field cannot be deleted".into(),
                ));
            }
            fields.remove(at);
            for record in account.records.entry(kind).or_default().values_mut() {
                record.custom_fields.retain(|(field, _)| *field != id);
            }
            Ok(ApiOutcome::no_content())
        }
        ["custom_fields", id] => {
            only_get(m)?;
            let id = parse_id(id)?;
            let def = account
                .fields(kind)
                .iter()
                .find(|d| d.id == id)
                .ok_or(ApiFailure::NotFound)?;
            Ok(ApiOutcome::ok(account.render_field(kind, def, &call.base)))
        }
        ["tags"] => match m {
            "GET" => {
                let items: Vec<Value> = account
                    .tags
                    .get(&kind)
                    .map(|t| {
                        t.iter()
                            .map(|(id, name)| json!({"id": id, "name": name, "color": null}))
                            .collect()
                    })
                    .unwrap_or_default();
                page_out("tags", items, call, limits)
            }
            "POST" => {
                let items = body_array(call, limits)?;
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let name = item.get("name").and_then(Value::as_str).ok_or_else(|| {
                        ApiFailure::Validation(vec![(
                            request_id(item, i),
                            vec![FieldError::new(
                                "FieldMissing",
                                "name",
                                "The tag needs a name",
                            )],
                        )])
                    })?;
                    let id = account.tag_by_name(kind, name);
                    out.push(json!({"id": id, "name": name, "request_id": request_id(item, i)}));
                }
                Ok(ApiOutcome::ok(json!({"_embedded": {"tags": out}})))
            }
            _ => Err(ApiFailure::MethodNotAllowed),
        },
        ["links"] => {
            only_get(m)?;
            let ids = filter_ints(&call.query, "filter[entity_id]");
            list_links(account, call, kind, &ids)
        }
        [id, "links"] => {
            only_get(m)?;
            let id = parse_id(id)?;
            list_links(account, call, kind, &[id])
        }
        ["link"] | ["unlink"] => {
            only_post(m)?;
            link(account, call, limits, kind, None, rest[0] == "link")
        }
        [id, "link"] | [id, "unlink"] => {
            only_post(m)?;
            let id = parse_id(id)?;
            link(account, call, limits, kind, Some(id), rest[1] == "link")
        }
        ["notes"] => match m {
            "GET" => list_notes(account, call, limits, kind, None),
            "POST" => add_notes(account, call, limits, kind, None),
            _ => Err(ApiFailure::MethodNotAllowed),
        },
        ["notes", nid] => {
            only_get(m)?;
            let nid = parse_id(nid)?;
            let note = account
                .notes
                .get(&nid)
                .filter(|n| n.entity.0 == kind)
                .ok_or(ApiFailure::NotFound)?;
            Ok(ApiOutcome::ok(account.render_note(note, &call.base)))
        }
        ["notes", nid, action @ ("pin" | "unpin")] => {
            only_post(m)?;
            let nid = parse_id(nid)?;
            let pin = *action == "pin";
            let note = account
                .notes
                .get_mut(&nid)
                .filter(|n| n.entity.0 == kind)
                .ok_or(ApiFailure::NotFound)?;
            note.is_pinned = pin;
            Ok(ApiOutcome::no_content())
        }
        [id, "notes"] => {
            let id = parse_id(id)?;
            if !account
                .records
                .get(&kind)
                .is_some_and(|r| r.contains_key(&id))
            {
                return Err(ApiFailure::NotFound);
            }
            match m {
                "GET" => list_notes(account, call, limits, kind, Some(id)),
                "POST" => add_notes(account, call, limits, kind, Some(id)),
                _ => Err(ApiFailure::MethodNotAllowed),
            }
        }
        [id, "notes", nid] => {
            only_get(m)?;
            let (id, nid) = (parse_id(id)?, parse_id(nid)?);
            let note = account
                .notes
                .get(&nid)
                .filter(|n| n.entity == (kind, id))
                .ok_or(ApiFailure::NotFound)?;
            Ok(ApiOutcome::ok(account.render_note(note, &call.base)))
        }
        [id] => {
            let id = parse_id(id)?;
            match m {
                "GET" => {
                    let with = with_list(&call.query);
                    let record = account
                        .records
                        .get(&kind)
                        .and_then(|r| r.get(&id))
                        .ok_or(ApiFailure::NotFound)?;
                    Ok(ApiOutcome::ok(
                        account.render_record(kind, record, &call.base, &with),
                    ))
                }
                "PATCH" => write_records(account, call, limits, kind, Some(id), false),
                _ => Err(ApiFailure::MethodNotAllowed),
            }
        }
        _ => Err(ApiFailure::NotFound),
    }
}

/// `POST /api/v4/talks/{id}/close`: `{"force_close": bool}` is optional; the emulator runs no NPS
/// bot, so every close closes. 202 without a body.
fn close_talk_call(account: &mut Account, call: &ApiCall<'_>, id: i64) -> ApiResult {
    match &call.body {
        None | Some(Value::Null) => {}
        Some(Value::Object(body)) => {
            if body.get("force_close").is_some_and(|f| !f.is_boolean()) {
                return Err(ApiFailure::Validation(vec![(
                    "0".into(),
                    vec![FieldError {
                        code: "InvalidType",
                        path: "force_close".into(),
                        detail: "This value should be of type bool.".into(),
                    }],
                )]));
            }
        }
        Some(_) => return Err(ApiFailure::BadRequest("The body must be one object".into())),
    }
    let changes = close_talk(account, id, call.now)?;
    Ok(ApiOutcome {
        status: StatusCode::ACCEPTED,
        body: None,
        changes,
    })
}

/// Closes a talk (a manager in the UI or the API): `update_talk` when it was open, nothing when it
/// was closed already.
pub fn close_talk(account: &mut Account, id: i64, now: i64) -> Result<Vec<Change>, ApiFailure> {
    let talk = account.talks.get_mut(&id).ok_or(ApiFailure::NotFound)?;
    if !talk.is_in_work {
        return Ok(Vec::new());
    }
    talk.is_in_work = false;
    talk.updated_at = now;
    Ok(vec![Change::Talk { id, added: false }])
}

fn only_get(method: &str) -> Result<(), ApiFailure> {
    if method == "GET" {
        Ok(())
    } else {
        Err(ApiFailure::MethodNotAllowed)
    }
}

fn only_post(method: &str) -> Result<(), ApiFailure> {
    if method == "POST" {
        Ok(())
    } else {
        Err(ApiFailure::MethodNotAllowed)
    }
}

fn parse_id(segment: &str) -> Result<i64, ApiFailure> {
    segment.parse().map_err(|_| ApiFailure::NotFound)
}

fn render_account(account: &Account, call: &ApiCall<'_>) -> Value {
    let mut body = json!({
        "id": account.id,
        "name": account.name,
        "subdomain": account.subdomain,
        "created_at": 1_600_000_000,
        "created_by": account.users.first().map(|u| u.id).unwrap_or(0),
        "updated_at": 1_600_000_000,
        "updated_by": account.users.first().map(|u| u.id).unwrap_or(0),
        "current_user_id": call.user_id,
        "country": "US",
        "currency": account.currency,
        "currency_symbol": "$",
        "customers_mode": "disabled",
        "is_unsorted_on": true,
        "mobile_feature_version": 0,
        "is_loss_reason_enabled": true,
        "is_helpbot_enabled": false,
        "is_technical_account": false,
        "contact_name_display_order": 1,
        "timezone": account.timezone,
        "language": account.language,
        "_links": {"self": {"href": format!("{}/api/v4/account", call.base)}},
    });
    let with = with_list(&call.query);
    let mut embedded = Map::new();
    if with.contains(&"task_types") {
        let types: Vec<Value> = account
            .task_types
            .iter()
            .map(|t| json!({"id": t.id, "name": t.name, "color": t.color, "icon_id": t.icon_id, "code": t.code}))
            .collect();
        embedded.insert("task_types".into(), Value::Array(types));
    }
    if with.contains(&"users_groups") {
        let groups: Vec<Value> = account
            .user_groups
            .iter()
            .map(|g| json!({"id": g.id, "name": g.name, "uuid": null}))
            .collect();
        embedded.insert("users_groups".into(), Value::Array(groups));
    }
    if with.contains(&"datetime_settings") {
        embedded.insert(
            "datetime_settings".into(),
            json!({
                "date_pattern": "d.m.Y H:i",
                "short_date_pattern": "d.m.Y",
                "short_time_pattern": "H:i",
                "date_format": "d.m.Y",
                "time_format": "H:i:s",
                "timezone": account.timezone,
                "timezone_offset": "+00:00",
            }),
        );
    }
    if !embedded.is_empty() {
        body["_embedded"] = Value::Object(embedded);
    }
    body
}

// ---------------------------------------------------------------- query helpers

/// Values of `key`, `key[]` and `key[N]` (also comma lists).
pub fn filter_values(query: &[(String, String)], key: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in query {
        let matches = k == key
            || k.strip_prefix(key).is_some_and(|rest| {
                rest.starts_with('[')
                    && rest.ends_with(']')
                    && rest[1..rest.len() - 1].chars().all(|c| c.is_ascii_digit())
                    && rest.matches('[').count() == 1
            });
        if matches {
            out.extend(
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            );
        }
    }
    out
}

fn filter_ints(query: &[(String, String)], key: &str) -> Vec<i64> {
    filter_values(query, key)
        .iter()
        .filter_map(|v| v.parse().ok())
        .collect()
}

fn query_value<'q>(query: &'q [(String, String)], key: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn range(query: &[(String, String)], field: &str) -> (Option<i64>, Option<i64>) {
    let base = format!("filter[{field}]");
    let from = query_value(query, &format!("{base}[from]")).and_then(|v| v.parse().ok());
    let to = query_value(query, &format!("{base}[to]")).and_then(|v| v.parse().ok());
    let exact = query_value(query, &base).and_then(|v| v.parse().ok());
    match exact {
        Some(at) => (Some(at), Some(at)),
        None => (from, to),
    }
}

fn in_range(value: i64, (from, to): (Option<i64>, Option<i64>)) -> bool {
    from.is_none_or(|f| value >= f) && to.is_none_or(|t| value <= t)
}

fn with_list(query: &[(String, String)]) -> Vec<&str> {
    query_value(query, "with")
        .map(|w| w.split(',').map(str::trim).collect())
        .unwrap_or_default()
}

fn paging(query: &[(String, String)], limits: ApiLimits) -> (usize, usize) {
    let limit = query_value(query, "limit")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(50)
        .clamp(1, limits.max_page);
    let page = query_value(query, "page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    (page, limit)
}

/// Pages `items` (already filtered and ordered) into Kommo's HAL list shape; 204 when empty.
fn page_out(name: &str, items: Vec<Value>, call: &ApiCall<'_>, limits: ApiLimits) -> ApiResult {
    let (page, limit) = paging(&call.query, limits);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * limit)
        .take(limit)
        .collect();
    if slice.is_empty() {
        return Ok(ApiOutcome::no_content());
    }
    let path = call.segments.join("/");
    let other: Vec<String> = call
        .query
        .iter()
        .filter(|(k, _)| k != "page" && k != "limit")
        .map(|(k, v)| {
            form_urlencoded::Serializer::new(String::new())
                .append_pair(k, v)
                .finish()
        })
        .collect();
    let href = |p: usize| {
        let mut q = format!("page={p}&limit={limit}");
        for pair in &other {
            q.push('&');
            q.push_str(pair);
        }
        json!({"href": format!("{}/api/{path}?{q}", call.base)})
    };
    let mut links = Map::new();
    links.insert("self".into(), href(page));
    // Kommo does not count: a full page always links to the next one, which may be empty (204).
    if slice.len() == limit {
        links.insert("next".into(), href(page + 1));
    }
    if page > 1 {
        links.insert("prev".into(), href(page - 1));
    }
    Ok(ApiOutcome::ok(json!({
        "_page": page,
        "_links": Value::Object(links),
        "_embedded": {name: slice},
    })))
}

fn body_array<'c>(call: &'c ApiCall<'_>, limits: ApiLimits) -> Result<Vec<&'c Value>, ApiFailure> {
    let items: Vec<&Value> = match &call.body {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(item @ Value::Object(_)) => vec![item],
        _ => {
            return Err(ApiFailure::BadRequest(
                "The body must be a JSON array of objects".into(),
            ))
        }
    };
    if items.is_empty() {
        return Err(ApiFailure::BadRequest("The body must not be empty".into()));
    }
    if items.len() > limits.max_write_batch {
        return Err(ApiFailure::Validation(vec![(
            "0".into(),
            vec![FieldError::new(
                "TooManyEntities",
                "",
                format!("At most {} entities per request", limits.max_write_batch),
            )],
        )]));
    }
    if items.iter().any(|i| !i.is_object()) {
        return Err(ApiFailure::BadRequest(
            "Every item must be a JSON object".into(),
        ));
    }
    Ok(items)
}

fn request_id(item: &Value, index: usize) -> String {
    match item.get("request_id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => index.to_string(),
    }
}

// ---------------------------------------------------------------- field readers

struct Reader<'v> {
    item: &'v Value,
    errors: Vec<FieldError>,
}

impl<'v> Reader<'v> {
    fn new(item: &'v Value) -> Self {
        Self {
            item,
            errors: Vec::new(),
        }
    }

    fn int(&mut self, key: &str) -> Option<i64> {
        match self.item.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64(),
            Some(_) => {
                self.errors.push(FieldError::new(
                    "InvalidType",
                    key,
                    "This value should be of type int",
                ));
                None
            }
        }
    }

    fn string(&mut self, key: &str) -> Option<String> {
        match self.item.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.errors.push(FieldError::new(
                    "InvalidType",
                    key,
                    "This value should be of type string",
                ));
                None
            }
        }
    }

    fn bool(&mut self, key: &str) -> Option<bool> {
        match self.item.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.errors.push(FieldError::new(
                    "InvalidType",
                    key,
                    "This value should be of type bool",
                ));
                None
            }
        }
    }
}

// ---------------------------------------------------------------- custom fields

/// Validates custom field values against the definitions of `kind`; `None` values clear a field.
pub fn normalize_custom_fields(
    defs: &[CustomFieldDef],
    input: &Value,
    errors: &mut Vec<FieldError>,
) -> Vec<(i64, Option<Vec<StoredValue>>)> {
    let Some(items) = input.as_array() else {
        errors.push(FieldError::new(
            "InvalidType",
            "custom_fields_values",
            "This value should be of type array",
        ));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("custom_fields_values.{i}");
        let def = match (item.get("field_id"), item.get("field_code")) {
            (Some(Value::Number(n)), _) => defs.iter().find(|d| Some(d.id) == n.as_i64()),
            (_, Some(Value::String(code))) => defs
                .iter()
                .find(|d| d.code.as_deref() == Some(code.as_str())),
            _ => {
                errors.push(FieldError::new(
                    "FieldMissing",
                    format!("{path}.field_id"),
                    "field_id or field_code is required",
                ));
                continue;
            }
        };
        let Some(def) = def else {
            errors.push(FieldError::new(
                "NotSupportedChoice",
                format!("{path}.field_id"),
                "The field does not exist",
            ));
            continue;
        };
        match item.get("values") {
            Some(Value::Null) => out.push((def.id, None)),
            Some(Value::Array(values)) => {
                let mut stored = Vec::new();
                for (j, value) in values.iter().enumerate() {
                    let vpath = format!("{path}.values.{j}");
                    if let Some(v) = normalize_value(def, value, &vpath, errors) {
                        stored.push(v);
                    }
                }
                let single = !matches!(def.field_type.as_str(), "multiselect" | "multitext");
                if single && stored.len() > 1 {
                    errors.push(FieldError::new(
                        "NotSupportedChoice",
                        format!("{path}.values"),
                        "This field takes one value",
                    ));
                } else if stored.is_empty() {
                    out.push((def.id, None));
                } else {
                    out.push((def.id, Some(stored)));
                }
            }
            _ => errors.push(FieldError::new(
                "InvalidType",
                format!("{path}.values"),
                "values must be an array or null",
            )),
        }
    }
    out
}

fn normalize_value(
    def: &CustomFieldDef,
    input: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Option<StoredValue> {
    let value = input.get("value");
    let plain = |value: Value| {
        Some(StoredValue {
            value,
            enum_id: None,
            enum_code: None,
        })
    };
    let mut invalid = |what: &str| {
        errors.push(FieldError::new(
            "InvalidType",
            format!("{path}.value"),
            format!("This value should be {what}"),
        ));
        None
    };
    match def.field_type.as_str() {
        "text" | "textarea" | "url" | "streetaddress" => match value {
            Some(Value::String(s)) => plain(json!(s)),
            _ => invalid("a string"),
        },
        "numeric" => match value {
            Some(Value::Number(n)) => plain(json!(n.to_string())),
            Some(Value::String(s)) if s.trim().parse::<f64>().is_ok() => plain(json!(s.trim())),
            _ => invalid("a number"),
        },
        "checkbox" => match value {
            Some(Value::Bool(b)) => plain(json!(b)),
            _ => invalid("a boolean"),
        },
        "date" | "date_time" | "birthday" => match value {
            Some(Value::Number(n)) if n.as_i64().is_some() => plain(json!(n.as_i64())),
            _ => invalid("a unix timestamp"),
        },
        "select" | "multiselect" | "radiobutton" | "multitext" => {
            let by_id = input.get("enum_id").and_then(Value::as_i64);
            let by_code = input.get("enum_code").and_then(Value::as_str);
            let option = if let Some(id) = by_id {
                def.enums.iter().find(|e| e.id == id)
            } else if let Some(code) = by_code {
                def.enums.iter().find(|e| e.code.as_deref() == Some(code))
            } else if def.field_type == "multitext" {
                def.enums.first()
            } else {
                value
                    .and_then(Value::as_str)
                    .and_then(|v| def.enums.iter().find(|e| e.value == v))
            };
            let Some(option) = option else {
                errors.push(FieldError::new(
                    "NotSupportedChoice",
                    format!("{path}.enum_id"),
                    "The enum option does not exist",
                ));
                return None;
            };
            if def.field_type == "multitext" {
                match value {
                    Some(Value::String(s)) => Some(StoredValue {
                        value: json!(s),
                        enum_id: Some(option.id),
                        enum_code: option.code.clone(),
                    }),
                    _ => invalid("a string"),
                }
            } else {
                Some(StoredValue {
                    value: json!(option.value),
                    enum_id: Some(option.id),
                    enum_code: None,
                })
            }
        }
        _ => invalid("of a supported type"),
    }
}

fn apply_custom_fields(record: &mut Record, values: Vec<(i64, Option<Vec<StoredValue>>)>) -> bool {
    let mut changed = false;
    for (field_id, value) in values {
        let position = record
            .custom_fields
            .iter()
            .position(|(id, _)| *id == field_id);
        match (position, value) {
            (Some(pos), None) => {
                record.custom_fields.remove(pos);
                changed = true;
            }
            (Some(pos), Some(v)) => {
                if record.custom_fields[pos].1 != v {
                    record.custom_fields[pos].1 = v;
                    changed = true;
                }
            }
            (None, Some(v)) => {
                record.custom_fields.push((field_id, v));
                changed = true;
            }
            (None, None) => {}
        }
    }
    changed
}

// ---------------------------------------------------------------- entities

fn record_matches(account: &Account, kind: EntityKind, r: &Record, q: &[(String, String)]) -> bool {
    let ids = filter_ints(q, "filter[id]");
    if !ids.is_empty() && !ids.contains(&r.id) {
        return false;
    }
    let users = filter_ints(q, "filter[responsible_user_id]");
    if !users.is_empty() && !users.contains(&r.responsible_user_id) {
        return false;
    }
    let names = filter_values(q, "filter[name]");
    if !names.is_empty() && !names.contains(&r.name) {
        return false;
    }
    if !in_range(r.created_at, range(q, "created_at"))
        || !in_range(r.updated_at, range(q, "updated_at"))
    {
        return false;
    }
    if kind == EntityKind::Leads {
        let pipelines = filter_ints(q, "filter[pipeline_id]");
        if !pipelines.is_empty() && !pipelines.contains(&r.pipeline_id) {
            return false;
        }
        let mut stages: BTreeMap<&str, (Option<i64>, Option<i64>)> = BTreeMap::new();
        for (k, v) in q {
            if let Some(rest) = k.strip_prefix("filter[statuses][") {
                if let Some((index, field)) = rest.split_once("][") {
                    let entry = stages.entry(index).or_default();
                    match field {
                        "pipeline_id]" => entry.0 = v.parse().ok(),
                        "status_id]" => entry.1 = v.parse().ok(),
                        _ => {}
                    }
                }
            }
        }
        if !stages.is_empty()
            && !stages.values().any(|(p, s)| {
                p.is_none_or(|p| p == r.pipeline_id) && s.is_none_or(|s| s == r.status_id)
            })
        {
            return false;
        }
    }
    // filter[custom_fields_values][<field_id>][]=value, or [from]/[to] for numbers and dates.
    let mut by_field: BTreeMap<i64, FieldFilter> = BTreeMap::new();
    for (k, v) in q {
        let Some(rest) = k.strip_prefix("filter[custom_fields_values][") else {
            continue;
        };
        let Some((id, tail)) = rest.split_once(']') else {
            continue;
        };
        let Ok(id) = id.parse::<i64>() else { continue };
        let entry = by_field.entry(id).or_default();
        match tail {
            "[from]" => entry.1 = v.parse().ok(),
            "[to]" => entry.2 = v.parse().ok(),
            _ => entry.0.push(v.clone()),
        }
    }
    for (field_id, (wanted, from, to)) in by_field {
        let stored = r
            .custom_fields
            .iter()
            .find(|(id, _)| *id == field_id)
            .map(|(_, v)| v);
        let Some(stored) = stored else { return false };
        let texts: Vec<String> = stored.iter().map(|s| value_text(&s.value)).collect();
        if !wanted.is_empty()
            && !texts.iter().any(|t| wanted.contains(t))
            && !stored
                .iter()
                .any(|s| s.enum_id.is_some_and(|e| wanted.contains(&e.to_string())))
        {
            return false;
        }
        if from.is_some() || to.is_some() {
            let hit = texts
                .iter()
                .filter_map(|t| t.parse::<f64>().ok())
                .any(|n| from.is_none_or(|f| n >= f) && to.is_none_or(|t| n <= t));
            if !hit {
                return false;
            }
        }
    }
    if let Some(needle) = query_value(q, "query")
        .map(str::to_lowercase)
        .filter(|s| !s.is_empty())
    {
        let hay_name = r.name.to_lowercase().contains(&needle) || r.id.to_string() == needle;
        let hay_fields = r
            .custom_fields
            .iter()
            .flat_map(|(_, values)| values.iter())
            .any(|s| value_text(&s.value).to_lowercase().contains(&needle));
        let hay_contact = format!("{} {}", r.first_name, r.last_name)
            .to_lowercase()
            .contains(&needle);
        if !(hay_name || hay_fields || hay_contact) {
            return false;
        }
    }
    let _ = account;
    true
}

/// Wanted values and a numeric range of one `filter[custom_fields_values][id]`.
type FieldFilter = (Vec<String>, Option<f64>, Option<f64>);

/// The text of a stored JSON value (strings without quotes).
pub fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn list_records(
    account: &Account,
    call: &ApiCall<'_>,
    limits: ApiLimits,
    kind: EntityKind,
) -> ApiResult {
    let with = with_list(&call.query);
    let mut records: Vec<&Record> = account
        .records
        .get(&kind)
        .map(|r| {
            r.values()
                .filter(|r| record_matches(account, kind, r, &call.query))
                .collect()
        })
        .unwrap_or_default();
    order_by(&mut records, &call.query, |r, field| match field {
        "created_at" => r.created_at,
        "updated_at" => r.updated_at,
        _ => r.id,
    });
    let items = records
        .into_iter()
        .map(|r| account.render_record(kind, r, &call.base, &with))
        .collect();
    page_out(kind.plural(), items, call, limits)
}

fn order_by<T>(items: &mut [&T], query: &[(String, String)], key: impl Fn(&T, &str) -> i64) {
    for field in ["id", "created_at", "updated_at", "complete_till"] {
        if let Some(direction) = query_value(query, &format!("order[{field}]")) {
            items.sort_by_key(|item| key(item, field));
            if direction.eq_ignore_ascii_case("desc") {
                items.reverse();
            }
            return;
        }
    }
}

fn write_records(
    account: &mut Account,
    call: &ApiCall<'_>,
    limits: ApiLimits,
    kind: EntityKind,
    path_id: Option<i64>,
    create: bool,
) -> ApiResult {
    let items = body_array(call, limits)?;
    if path_id.is_some() && items.len() != 1 {
        return Err(ApiFailure::BadRequest("The body must be one object".into()));
    }
    // Validate everything first: Kommo rejects the whole request on any invalid item.
    let mut prepared = Vec::new();
    let mut invalid = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let rid = request_id(item, i);
        match prepare_record(account, kind, item, create, path_id, call) {
            Ok(p) => prepared.push((rid, p)),
            Err(errors) => invalid.push((rid, errors)),
        }
    }
    if !invalid.is_empty() {
        return Err(ApiFailure::Validation(invalid));
    }
    let mut out_items = Vec::new();
    let mut changes = Vec::new();
    for (rid, p) in prepared {
        let (id, change) = apply_record(account, kind, p, call);
        let mut item = json!({"id": id, "request_id": rid, "_links": {"self": {"href": format!("{}/api/v4/{}/{id}", call.base, kind.plural())}}});
        if !create {
            let updated_at = account
                .records
                .get(&kind)
                .and_then(|r| r.get(&id))
                .map(|r| r.updated_at);
            item["updated_at"] = json!(updated_at);
        }
        out_items.push(item);
        changes.extend(change);
    }
    let body = if path_id.is_some() {
        out_items.pop().unwrap_or(Value::Null)
    } else {
        json!({"_links": {"self": {"href": format!("{}/api/v4/{}", call.base, kind.plural())}}, "_embedded": {kind.plural(): out_items}})
    };
    Ok(ApiOutcome {
        status: StatusCode::OK,
        body: Some(body),
        changes,
    })
}

/// A validated write of one entity.
struct PreparedRecord {
    id: Option<i64>,
    name: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    price: Option<i64>,
    stage: Option<(i64, i64)>,
    responsible_user_id: Option<i64>,
    loss_reason_id: Option<i64>,
    created_by: Option<i64>,
    custom_fields: Vec<(i64, Option<Vec<StoredValue>>)>,
    tags_replace: Option<Vec<TagRef>>,
    tags_add: Vec<TagRef>,
    tags_delete: Vec<TagRef>,
    links: Vec<(EntityKind, i64, bool)>,
}

enum TagRef {
    Id(i64),
    Name(String),
}

fn tag_refs(
    value: Option<&Value>,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Vec<TagRef>> {
    match value {
        None => None,
        Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .enumerate()
                .filter_map(|(i, t)| {
                    match (
                        t.get("id").and_then(Value::as_i64),
                        t.get("name").and_then(Value::as_str),
                    ) {
                        (Some(id), _) => Some(TagRef::Id(id)),
                        (None, Some(name)) if !name.trim().is_empty() => {
                            Some(TagRef::Name(name.to_owned()))
                        }
                        _ => {
                            errors.push(FieldError::new(
                                "FieldMissing",
                                format!("{path}.{i}"),
                                "A tag needs an id or a name",
                            ));
                            None
                        }
                    }
                })
                .collect(),
        ),
        Some(_) => {
            errors.push(FieldError::new(
                "InvalidType",
                path,
                "This value should be an array",
            ));
            None
        }
    }
}

fn prepare_record(
    account: &Account,
    kind: EntityKind,
    item: &Value,
    create: bool,
    path_id: Option<i64>,
    call: &ApiCall<'_>,
) -> Result<PreparedRecord, Vec<FieldError>> {
    let mut r = Reader::new(item);
    let id = if create {
        None
    } else {
        path_id.or_else(|| r.int("id"))
    };
    let existing = id.and_then(|id| account.records.get(&kind).and_then(|m| m.get(&id)));
    if !create && existing.is_none() {
        let detail = if id.is_some() {
            "The entity does not exist"
        } else {
            "id is required"
        };
        r.errors.push(FieldError::new("NotFound", "id", detail));
    }
    let name = r.string("name");
    let first_name = r.string("first_name");
    let last_name = r.string("last_name");
    let price = r.int("price");
    let pipeline_id = r.int("pipeline_id");
    let status_id = r.int("status_id");
    let responsible_user_id = r.int("responsible_user_id");
    let loss_reason_id = r.int("loss_reason_id");
    let created_by = r.int("created_by");
    let mut errors = std::mem::take(&mut r.errors);
    if let Some(user) = responsible_user_id {
        if !account.users.iter().any(|u| u.id == user) {
            errors.push(FieldError::new(
                "NotSupportedChoice",
                "responsible_user_id",
                "The user does not exist",
            ));
        }
    }
    let mut stage = None;
    if kind == EntityKind::Leads && (create || pipeline_id.is_some() || status_id.is_some()) {
        let current_pipeline = existing.map(|e| e.pipeline_id);
        match (pipeline_id.or(current_pipeline), status_id) {
            (pipeline, Some(status)) => match account.find_status(pipeline, status) {
                Some((pid, _)) => stage = Some((pid, status)),
                None => errors.push(FieldError::new(
                    "NotSupportedChoice",
                    "status_id",
                    "The status does not exist in the pipeline",
                )),
            },
            (Some(pid), None) => match account.pipelines.iter().find(|p| p.id == pid) {
                Some(p) => {
                    stage = p
                        .statuses
                        .iter()
                        .find(|s| s.id != 142 && s.id != 143)
                        .map(|s| (pid, s.id))
                }
                None => errors.push(FieldError::new(
                    "NotSupportedChoice",
                    "pipeline_id",
                    "The pipeline does not exist",
                )),
            },
            (None, None) => {
                stage = account.main_pipeline().and_then(|p| {
                    p.statuses
                        .iter()
                        .find(|s| s.id != 142 && s.id != 143)
                        .map(|s| (p.id, s.id))
                });
            }
        }
    }
    let custom_fields = match item.get("custom_fields_values") {
        None | Some(Value::Null) => Vec::new(),
        Some(values) => normalize_custom_fields(account.fields(kind), values, &mut errors),
    };
    let embedded = item.get("_embedded");
    let tags_replace = tag_refs(
        embedded.and_then(|e| e.get("tags")),
        "_embedded.tags",
        &mut errors,
    );
    let tags_add =
        tag_refs(item.get("tags_to_add"), "tags_to_add", &mut errors).unwrap_or_default();
    let tags_delete =
        tag_refs(item.get("tags_to_delete"), "tags_to_delete", &mut errors).unwrap_or_default();
    let mut links = Vec::new();
    for other in EntityKind::ALL {
        if other == kind {
            continue;
        }
        if let Some(Value::Array(targets)) = embedded.and_then(|e| e.get(other.plural())) {
            for (i, t) in targets.iter().enumerate() {
                match t.get("id").and_then(Value::as_i64) {
                    Some(to)
                        if account
                            .records
                            .get(&other)
                            .is_some_and(|m| m.contains_key(&to)) =>
                    {
                        links.push((
                            other,
                            to,
                            t.get("is_main").and_then(Value::as_bool).unwrap_or(false),
                        ));
                    }
                    _ => errors.push(FieldError::new(
                        "NotFound",
                        format!("_embedded.{}.{i}.id", other.plural()),
                        "The linked entity does not exist",
                    )),
                }
            }
        }
    }
    let _ = call;
    if errors.is_empty() {
        Ok(PreparedRecord {
            id,
            name,
            first_name,
            last_name,
            price,
            stage,
            responsible_user_id,
            loss_reason_id,
            created_by,
            custom_fields,
            tags_replace,
            tags_add,
            tags_delete,
            links,
        })
    } else {
        Err(errors)
    }
}

fn resolve_tags(account: &mut Account, kind: EntityKind, refs: &[TagRef]) -> Vec<i64> {
    refs.iter()
        .filter_map(|t| match t {
            TagRef::Id(id) => account.tag_name(kind, *id).map(|_| *id),
            TagRef::Name(name) => Some(account.tag_by_name(kind, name)),
        })
        .collect()
}

fn apply_record(
    account: &mut Account,
    kind: EntityKind,
    p: PreparedRecord,
    call: &ApiCall<'_>,
) -> (i64, Option<Change>) {
    let added = p.id.is_none();
    let id = match p.id {
        Some(id) => id,
        None => account.allocate_id(),
    };
    let replace = p
        .tags_replace
        .as_ref()
        .map(|refs| resolve_tags(account, kind, refs));
    let add = resolve_tags(account, kind, &p.tags_add);
    let delete: Vec<i64> = p
        .tags_delete
        .iter()
        .filter_map(|t| match t {
            TagRef::Id(id) => Some(*id),
            TagRef::Name(name) => account
                .tags
                .get(&kind)
                .and_then(|tags| tags.iter().find(|(_, n)| *n == name).map(|(id, _)| *id)),
        })
        .collect();
    let default_user = account.users.first().map(|u| u.id).unwrap_or(0);
    let records = account.records.entry(kind).or_default();
    let record = records.entry(id).or_insert_with(|| Record {
        id,
        name: String::new(),
        responsible_user_id: p
            .responsible_user_id
            .unwrap_or(call.user_id.max(default_user)),
        created_by: p.created_by.unwrap_or(call.user_id),
        created_at: call.now,
        ..Record::default()
    });
    let before = (
        record.name.clone(),
        record.first_name.clone(),
        record.last_name.clone(),
        record.price,
        record.tags.clone(),
        record.loss_reason_id,
    );
    let old_stage = (record.pipeline_id, record.status_id);
    let old_responsible = record.responsible_user_id;
    if let Some(name) = p.name {
        record.name = name;
    }
    if let Some(v) = p.first_name {
        record.first_name = v;
    }
    if let Some(v) = p.last_name {
        record.last_name = v;
    }
    if kind == EntityKind::Contacts && record.name.is_empty() {
        record.name = format!("{} {}", record.first_name, record.last_name)
            .trim()
            .to_owned();
    }
    if let Some(v) = p.price {
        record.price = v;
    }
    if let Some(v) = p.loss_reason_id {
        record.loss_reason_id = Some(v);
    }
    if let Some(v) = p.responsible_user_id {
        record.responsible_user_id = v;
    }
    if let Some((pipeline_id, status_id)) = p.stage {
        record.pipeline_id = pipeline_id;
        record.status_id = status_id;
        if status_id == 142 || status_id == 143 {
            record.closed_at.get_or_insert(call.now);
        } else {
            record.closed_at = None;
        }
    }
    let fields_changed = apply_custom_fields(record, p.custom_fields);
    if let Some(tags) = replace {
        record.tags = tags;
    }
    for tag in add {
        if !record.tags.contains(&tag) {
            record.tags.push(tag);
        }
    }
    record.tags.retain(|t| !delete.contains(t));
    let after = (
        record.name.clone(),
        record.first_name.clone(),
        record.last_name.clone(),
        record.price,
        record.tags.clone(),
        record.loss_reason_id,
    );
    let stage_changed = !added && (record.pipeline_id, record.status_id) != old_stage;
    let responsible_changed = !added && record.responsible_user_id != old_responsible;
    let fields_changed = added || fields_changed || before != after;
    let any = fields_changed || stage_changed || responsible_changed || !p.links.is_empty();
    if any {
        record.updated_at = call.now;
        record.updated_by = call.user_id;
    }
    let (status_now, tags_before, tags_after) =
        ((record.pipeline_id, record.status_id), before.4, after.4);
    for (other, to, is_main) in p.links {
        account.links.insert(((kind, id), (other, to)), is_main);
    }
    // Events, as `/api/v4/events` reports them.
    let push_event = |account: &mut Account, event_type: String, before: Value, after: Value| {
        let event_id = account.allocate_id();
        account.events.push(json!({
            "id": format!("{event_id:x}"),
            "type": event_type,
            "entity_id": id,
            "entity_type": kind.singular(),
            "created_by": call.user_id,
            "created_at": call.now,
            "value_after": after,
            "value_before": before,
            "account_id": account.id,
        }));
    };
    if added {
        push_event(
            account,
            format!("{}_added", kind.singular()),
            json!([]),
            json!([]),
        );
    }
    if stage_changed {
        push_event(
            account,
            "lead_status_changed".into(),
            json!([{"lead_status": {"id": old_stage.1, "pipeline_id": old_stage.0}}]),
            json!([{"lead_status": {"id": status_now.1, "pipeline_id": status_now.0}}]),
        );
    }
    if responsible_changed {
        push_event(
            account,
            "entity_responsible_changed".into(),
            json!([{"responsible_user": {"id": old_responsible}}]),
            json!([]),
        );
    }
    if !added {
        for tag in tags_after.iter().filter(|t| !tags_before.contains(t)) {
            push_event(
                account,
                "entity_tag_added".into(),
                json!([]),
                json!([{"tag": {"name": account.tag_name(kind, *tag)}}]),
            );
        }
        for tag in tags_before.iter().filter(|t| !tags_after.contains(t)) {
            push_event(
                account,
                "entity_tag_deleted".into(),
                json!([{"tag": {"name": account.tag_name(kind, *tag)}}]),
                json!([]),
            );
        }
    }
    if !any {
        return (id, None);
    }
    (
        id,
        Some(Change::Entity {
            kind,
            id,
            added,
            old_status: stage_changed.then_some(old_stage),
            old_responsible: responsible_changed.then_some(old_responsible),
            fields_changed,
        }),
    )
}

// ---------------------------------------------------------------- links

fn list_links(account: &Account, call: &ApiCall<'_>, kind: EntityKind, ids: &[i64]) -> ApiResult {
    let mut links = Vec::new();
    for &id in ids {
        for other in EntityKind::ALL {
            if other == kind {
                continue;
            }
            for (to, is_main) in account.linked(kind, id, other) {
                let metadata = if other == EntityKind::Contacts {
                    json!({"is_main": is_main})
                } else {
                    Value::Null
                };
                links.push(json!({"entity_id": id, "entity_type": kind.plural(), "to_entity_id": to, "to_entity_type": other.plural(), "metadata": metadata}));
            }
        }
    }
    if links.is_empty() {
        return Ok(ApiOutcome::no_content());
    }
    Ok(ApiOutcome::ok(json!({
        "_total_items": links.len(),
        "_links": {"self": {"href": format!("{}/api/v4/{}/links", call.base, kind.plural())}},
        "_embedded": {"links": links},
    })))
}

fn link(
    account: &mut Account,
    call: &ApiCall<'_>,
    limits: ApiLimits,
    kind: EntityKind,
    path_id: Option<i64>,
    attach: bool,
) -> ApiResult {
    let items = body_array(call, limits)?;
    let mut invalid = Vec::new();
    let mut planned = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let mut r = Reader::new(item);
        let from = path_id.or_else(|| r.int("entity_id"));
        let to = r.int("to_entity_id");
        let to_kind = r
            .string("to_entity_type")
            .and_then(|t| EntityKind::parse(&t));
        let is_main = item
            .pointer("/metadata/is_main")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut errors = r.errors;
        match (from, to, to_kind) {
            (Some(from), Some(to), Some(to_kind))
                if account
                    .records
                    .get(&kind)
                    .is_some_and(|m| m.contains_key(&from))
                    && account
                        .records
                        .get(&to_kind)
                        .is_some_and(|m| m.contains_key(&to)) =>
            {
                planned.push((from, to_kind, to, is_main));
            }
            _ => errors.push(FieldError::new(
                "NotFound",
                "to_entity_id",
                "Both entities must exist",
            )),
        }
        if !errors.is_empty() {
            invalid.push((request_id(item, i), errors));
        }
    }
    if !invalid.is_empty() {
        return Err(ApiFailure::Validation(invalid));
    }
    let mut out = Vec::new();
    let mut changes = Vec::new();
    for (from, to_kind, to, is_main) in planned {
        let key = ((kind, from), (to_kind, to));
        let reverse = ((to_kind, to), (kind, from));
        if attach {
            account.links.insert(key, is_main);
        } else {
            account.links.remove(&key);
            account.links.remove(&reverse);
        }
        out.push(json!({"entity_id": from, "entity_type": kind.plural(), "to_entity_id": to, "to_entity_type": to_kind.plural()}));
        changes.push(Change::Entity {
            kind,
            id: from,
            added: false,
            old_status: None,
            old_responsible: None,
            fields_changed: true,
        });
    }
    if !attach {
        return Ok(ApiOutcome {
            status: StatusCode::NO_CONTENT,
            body: None,
            changes,
        });
    }
    Ok(ApiOutcome {
        status: StatusCode::OK,
        body: Some(json!({"_embedded": {"links": out}})),
        changes,
    })
}

// ---------------------------------------------------------------- tasks

fn list_tasks(account: &Account, call: &ApiCall<'_>, limits: ApiLimits) -> ApiResult {
    let q = &call.query;
    let ids = filter_ints(q, "filter[id]");
    let users = filter_ints(q, "filter[responsible_user_id]");
    let entity_ids = filter_ints(q, "filter[entity_id]");
    let entity_type = query_value(q, "filter[entity_type]").and_then(EntityKind::parse);
    let task_types = filter_ints(q, "filter[task_type]");
    let completed = query_value(q, "filter[is_completed]").map(|v| v == "1" || v == "true");
    let updated = range(q, "updated_at");
    let mut tasks: Vec<&Task> = account
        .tasks
        .values()
        .filter(|t| ids.is_empty() || ids.contains(&t.id))
        .filter(|t| users.is_empty() || users.contains(&t.responsible_user_id))
        .filter(|t| {
            entity_ids.is_empty() || t.entity.is_some_and(|(_, id)| entity_ids.contains(&id))
        })
        .filter(|t| entity_type.is_none_or(|k| t.entity.is_some_and(|(kind, _)| kind == k)))
        .filter(|t| task_types.is_empty() || task_types.contains(&t.task_type_id))
        .filter(|t| completed.is_none_or(|c| t.is_completed == c))
        .filter(|t| in_range(t.updated_at, updated))
        .collect();
    order_by(&mut tasks, q, |t, field| match field {
        "created_at" => t.created_at,
        "updated_at" => t.updated_at,
        "complete_till" => t.complete_till,
        _ => t.id,
    });
    let items = tasks
        .into_iter()
        .map(|t| account.render_task(t, &call.base))
        .collect();
    page_out("tasks", items, call, limits)
}

fn write_tasks(
    account: &mut Account,
    call: &ApiCall<'_>,
    limits: ApiLimits,
    path_id: Option<i64>,
    create: bool,
) -> ApiResult {
    let items = body_array(call, limits)?;
    let mut invalid = Vec::new();
    let mut planned = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let mut r = Reader::new(item);
        let id = if create {
            None
        } else {
            path_id.or_else(|| r.int("id"))
        };
        let text = r.string("text");
        let complete_till = r.int("complete_till");
        let entity_id = r.int("entity_id");
        let entity_type = r.string("entity_type");
        let task_type_id = r.int("task_type_id");
        let responsible = r.int("responsible_user_id");
        let duration = r.int("duration");
        let is_completed = r.bool("is_completed");
        let result_text = item
            .pointer("/result/text")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut errors = r.errors;
        if create && text.is_none() {
            errors.push(FieldError::new("FieldMissing", "text", "text is required"));
        }
        if create && complete_till.is_none() {
            errors.push(FieldError::new(
                "FieldMissing",
                "complete_till",
                "complete_till is required",
            ));
        }
        if !create && !id.is_some_and(|id| account.tasks.contains_key(&id)) {
            errors.push(FieldError::new("NotFound", "id", "The task does not exist"));
        }
        let entity = match (entity_id, entity_type.as_deref()) {
            (Some(eid), Some(t)) => match EntityKind::parse(t) {
                Some(kind)
                    if account
                        .records
                        .get(&kind)
                        .is_some_and(|m| m.contains_key(&eid)) =>
                {
                    Some((kind, eid))
                }
                _ => {
                    errors.push(FieldError::new(
                        "NotFound",
                        "entity_id",
                        "The entity does not exist",
                    ));
                    None
                }
            },
            (None, None) => None,
            _ => {
                errors.push(FieldError::new(
                    "FieldMissing",
                    "entity_type",
                    "entity_id and entity_type go together",
                ));
                None
            }
        };
        if errors.is_empty() {
            planned.push((
                request_id(item, i),
                id,
                text,
                complete_till,
                entity,
                task_type_id,
                responsible,
                duration,
                is_completed,
                result_text,
            ));
        } else {
            invalid.push((request_id(item, i), errors));
        }
    }
    if !invalid.is_empty() {
        return Err(ApiFailure::Validation(invalid));
    }
    let default_user = account.users.first().map(|u| u.id).unwrap_or(0);
    let mut out = Vec::new();
    let mut changes = Vec::new();
    for (
        rid,
        id,
        text,
        complete_till,
        entity,
        task_type_id,
        responsible,
        duration,
        is_completed,
        result_text,
    ) in planned
    {
        let added = id.is_none();
        let id = id.unwrap_or_else(|| account.allocate_id());
        let task = account.tasks.entry(id).or_insert_with(|| Task {
            id,
            task_type_id: 1,
            responsible_user_id: call.user_id.max(default_user),
            created_by: call.user_id,
            created_at: call.now,
            ..Task::default()
        });
        let was_completed = task.is_completed;
        let old_responsible = task.responsible_user_id;
        if let Some(v) = text {
            task.text = v;
        }
        if let Some(v) = complete_till {
            task.complete_till = v;
        }
        if entity.is_some() {
            task.entity = entity;
        }
        if let Some(v) = task_type_id {
            task.task_type_id = v;
        }
        if let Some(v) = responsible {
            task.responsible_user_id = v;
        }
        if let Some(v) = duration {
            task.duration = v;
        }
        if let Some(v) = is_completed {
            task.is_completed = v;
        }
        if result_text.is_some() {
            task.result_text = result_text;
        }
        task.updated_at = call.now;
        let task_responsible = task.responsible_user_id;
        let entity = task.entity;
        let completed_now = task.is_completed && !was_completed;
        let event_id = account.allocate_id();
        let event_type = if added {
            Some("task_added")
        } else if completed_now {
            Some("task_completed")
        } else {
            None
        };
        if let Some(event_type) = event_type {
            account.events.push(json!({
                "id": format!("{event_id:x}"), "type": event_type, "entity_id": id, "entity_type": "task",
                "created_by": call.user_id, "created_at": call.now, "value_after": [], "value_before": [],
                "account_id": account.id,
                "_embedded": {"entity": {"id": entity.map(|(_, id)| id)}},
            }));
        }
        out.push(json!({"id": id, "request_id": rid, "_links": {"self": {"href": format!("{}/api/v4/tasks/{id}", call.base)}}}));
        let responsible_changed = !added && task_responsible != old_responsible;
        changes.push(Change::Task {
            id,
            added,
            old_responsible: responsible_changed.then_some(old_responsible),
        });
    }
    let body = if path_id.is_some() {
        out.pop().unwrap_or(Value::Null)
    } else {
        json!({"_links": {"self": {"href": format!("{}/api/v4/tasks", call.base)}}, "_embedded": {"tasks": out}})
    };
    Ok(ApiOutcome {
        status: StatusCode::OK,
        body: Some(body),
        changes,
    })
}

// ---------------------------------------------------------------- notes

/// Note types the emulator accepts, with the params each one requires.
const NOTE_TYPES: [(&str, &[&str]); 8] = [
    ("common", &["text"]),
    ("call_in", &["uniq", "duration", "source", "phone"]),
    ("call_out", &["uniq", "duration", "source", "phone"]),
    ("service_message", &["service", "text"]),
    ("extended_service_message", &["service", "text"]),
    ("sms_in", &["text", "phone"]),
    ("sms_out", &["text", "phone"]),
    ("geolocation", &["text", "address", "longitude", "latitude"]),
];

fn list_notes(
    account: &Account,
    call: &ApiCall<'_>,
    limits: ApiLimits,
    kind: EntityKind,
    entity_id: Option<i64>,
) -> ApiResult {
    let q = &call.query;
    let ids = filter_ints(q, "filter[id]");
    let entity_ids = filter_ints(q, "filter[entity_id]");
    let types = filter_values(q, "filter[note_type]");
    let updated = range(q, "updated_at");
    let mut notes: Vec<&Note> = account
        .notes
        .values()
        .filter(|n| n.entity.0 == kind && entity_id.is_none_or(|id| n.entity.1 == id))
        .filter(|n| ids.is_empty() || ids.contains(&n.id))
        .filter(|n| entity_ids.is_empty() || entity_ids.contains(&n.entity.1))
        .filter(|n| types.is_empty() || types.contains(&n.note_type))
        .filter(|n| in_range(n.updated_at, updated))
        .collect();
    order_by(&mut notes, q, |n, field| match field {
        "updated_at" | "created_at" => n.updated_at,
        _ => n.id,
    });
    let items = notes
        .into_iter()
        .map(|n| account.render_note(n, &call.base))
        .collect();
    page_out("notes", items, call, limits)
}

fn add_notes(
    account: &mut Account,
    call: &ApiCall<'_>,
    limits: ApiLimits,
    kind: EntityKind,
    path_entity: Option<i64>,
) -> ApiResult {
    let items = body_array(call, limits)?;
    let mut invalid = Vec::new();
    let mut planned = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let mut r = Reader::new(item);
        let entity_id = path_entity.or_else(|| r.int("entity_id"));
        let note_type = r.string("note_type");
        let mut errors = r.errors;
        if !entity_id.is_some_and(|id| {
            account
                .records
                .get(&kind)
                .is_some_and(|m| m.contains_key(&id))
        }) {
            errors.push(FieldError::new(
                "NotFound",
                "entity_id",
                "The entity does not exist",
            ));
        }
        let params = item.get("params").cloned().unwrap_or(Value::Null);
        match NOTE_TYPES
            .iter()
            .find(|(t, _)| Some(*t) == note_type.as_deref())
        {
            None => errors.push(FieldError::new(
                "NotSupportedChoice",
                "note_type",
                "Unsupported note type",
            )),
            Some((_, required)) => {
                for key in *required {
                    if params.get(key).is_none_or(Value::is_null) {
                        errors.push(FieldError::new(
                            "FieldMissing",
                            format!("params.{key}"),
                            format!("params.{key} is required"),
                        ));
                    }
                }
            }
        }
        if errors.is_empty() {
            planned.push((
                request_id(item, i),
                entity_id.unwrap_or(0),
                note_type.unwrap_or_default(),
                params,
            ));
        } else {
            invalid.push((request_id(item, i), errors));
        }
    }
    if !invalid.is_empty() {
        return Err(ApiFailure::Validation(invalid));
    }
    let mut out = Vec::new();
    let mut changes = Vec::new();
    for (rid, entity_id, note_type, params) in planned {
        let id = account.allocate_id();
        let event_type = format!("{note_type}_note_added");
        account.notes.insert(
            id,
            Note {
                id,
                entity: (kind, entity_id),
                note_type,
                params,
                created_by: call.user_id,
                created_at: call.now,
                updated_at: call.now,
                is_pinned: false,
            },
        );
        let event_id = account.allocate_id();
        account.events.push(json!({
            "id": format!("{event_id:x}"), "type": event_type, "entity_id": entity_id, "entity_type": kind.singular(),
            "created_by": call.user_id, "created_at": call.now, "value_after": [{"note": {"id": id}}], "value_before": [],
            "account_id": account.id,
        }));
        out.push(json!({"id": id, "entity_id": entity_id, "request_id": rid, "_links": {"self": {"href": format!("{}/api/v4/{}/{entity_id}/notes/{id}", call.base, kind.plural())}}}));
        changes.push(Change::Note { id });
    }
    Ok(ApiOutcome {
        status: StatusCode::OK,
        body: Some(
            json!({"_links": {"self": {"href": format!("{}/api/v4/{}/notes", call.base, kind.plural())}}, "_embedded": {"notes": out}}),
        ),
        changes,
    })
}

// ---------------------------------------------------------------- events

fn list_events(account: &Account, call: &ApiCall<'_>, limits: ApiLimits) -> ApiResult {
    let q = &call.query;
    let types = filter_values(q, "filter[type]");
    let entities = filter_values(q, "filter[entity]");
    let entity_ids = filter_ints(q, "filter[entity_id]");
    let created = range(q, "created_at");
    let items: Vec<Value> = account
        .events
        .iter()
        .rev()
        .filter(|e| {
            types.is_empty()
                || e["type"]
                    .as_str()
                    .is_some_and(|t| types.iter().any(|w| w == t))
        })
        .filter(|e| {
            entities.is_empty()
                || e["entity_type"].as_str().is_some_and(|t| {
                    entities.iter().any(|w| {
                        w == t
                            || w.trim_end_matches('s') == t
                            || (w == "companies" && t == "company")
                    })
                })
        })
        .filter(|e| {
            entity_ids.is_empty()
                || e["entity_id"]
                    .as_i64()
                    .is_some_and(|id| entity_ids.contains(&id))
        })
        .filter(|e| {
            e["created_at"]
                .as_i64()
                .is_some_and(|at| in_range(at, created))
        })
        .cloned()
        .collect();
    page_out("events", items, call, limits)
}

// ---------------------------------------------------------------- webhooks

fn webhooks(account: &mut Account, call: &ApiCall<'_>) -> ApiResult {
    match call.method {
        "GET" => {
            let wanted = query_value(&call.query, "filter[destination]");
            let items: Vec<Value> = account
                .webhooks
                .iter()
                .filter(|h| wanted.is_none_or(|d| d == h.destination))
                .map(|h| account.render_webhook(h))
                .collect();
            if items.is_empty() {
                return Ok(ApiOutcome::no_content());
            }
            Ok(ApiOutcome::ok(
                json!({"_total_items": items.len(), "_embedded": {"webhooks": items}}),
            ))
        }
        "POST" => {
            let body = call
                .body
                .as_ref()
                .ok_or_else(|| ApiFailure::BadRequest("A JSON object is required".into()))?;
            let mut r = Reader::new(body);
            let destination = r.string("destination");
            let sort = r.int("sort").unwrap_or(1);
            let mut errors = r.errors;
            let settings: Vec<String> = match body.get("settings") {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                _ => Vec::new(),
            };
            let destination = match destination {
                Some(d)
                    if url::Url::parse(&d)
                        .is_ok_and(|u| u.scheme() == "https" || u.scheme() == "http") =>
                {
                    Some(d)
                }
                _ => {
                    errors.push(FieldError::new(
                        "InvalidType",
                        "destination",
                        "destination must be a URL",
                    ));
                    None
                }
            };
            if settings.is_empty() {
                errors.push(FieldError::new(
                    "FieldMissing",
                    "settings",
                    "settings must list at least one event",
                ));
            }
            let (Some(destination), true) = (destination, errors.is_empty()) else {
                return Err(ApiFailure::Validation(vec![("0".into(), errors)]));
            };
            let now = call.now;
            let index = match account
                .webhooks
                .iter()
                .position(|h| h.destination == destination)
            {
                Some(i) => {
                    let hook = &mut account.webhooks[i];
                    hook.settings = settings;
                    hook.sort = sort;
                    hook.disabled = false;
                    hook.invalid_responses.clear();
                    hook.updated_at = now;
                    i
                }
                None => {
                    let id = account.allocate_id();
                    account.webhooks.push(WebhookSubscription {
                        id,
                        destination,
                        settings,
                        sort,
                        disabled: false,
                        created_at: now,
                        updated_at: now,
                        invalid_responses: Default::default(),
                    });
                    account.webhooks.len() - 1
                }
            };
            Ok(ApiOutcome::ok(
                account.render_webhook(&account.webhooks[index]),
            ))
        }
        "DELETE" => {
            let destination = call
                .body
                .as_ref()
                .and_then(|b| b.get("destination"))
                .and_then(Value::as_str);
            let Some(destination) = destination else {
                return Err(ApiFailure::Validation(vec![(
                    "0".into(),
                    vec![FieldError::new(
                        "FieldMissing",
                        "destination",
                        "destination is required",
                    )],
                )]));
            };
            let before = account.webhooks.len();
            account.webhooks.retain(|h| h.destination != destination);
            if account.webhooks.len() == before {
                return Err(ApiFailure::NotFound);
            }
            Ok(ApiOutcome::no_content())
        }
        _ => Err(ApiFailure::MethodNotAllowed),
    }
}

// ---------------------------------------------------------------- salesbot

/// `POST /api/v4/salesbot/{bot_id}/continue/{continue_id}`: continues a bot waiting in its widget
/// step (developers.kommo.com/reference/salesbot-widget-block-execution-confirmation, S17): body
/// `{"data": {…}, "execute_handlers": [...]}`, both optional; `data` must be an object (later steps
/// read it as `{{json.<key>}}`); at most 10 handlers; a `show` handler's `value` at most 80
/// characters; at most 25 buttons. Kommo documents no answer body; this one answers 200 `{}`. A
/// step that was continued already is refused (400): the step no longer waits.
fn continue_bot(
    account: &mut Account,
    call: &ApiCall<'_>,
    bot_type: &str,
    bot_id: i64,
    continue_id: i64,
) -> ApiResult {
    let body = call.body.clone().unwrap_or_else(|| json!({}));
    let Value::Object(body) = body else {
        return Err(ApiFailure::BadRequest(
            "The body must be a JSON object".into(),
        ));
    };
    let data = body.get("data").cloned().unwrap_or_else(|| json!({}));
    if !data.is_object() {
        return Err(ApiFailure::BadRequest("`data` must be an object".into()));
    }
    let handlers = body.get("execute_handlers").cloned();
    if let Some(list) = &handlers {
        let Some(items) = list.as_array() else {
            return Err(ApiFailure::BadRequest(
                "`execute_handlers` must be an array".into(),
            ));
        };
        if items.len() > 10 {
            return Err(ApiFailure::BadRequest(
                "At most 10 handlers may be executed".into(),
            ));
        }
        for item in items {
            let params = &item["params"];
            if item["handler"] == "show" {
                let too_long = params["value"]
                    .as_str()
                    .is_some_and(|v| v.chars().count() > 80);
                let buttons = params["buttons"].as_array().map_or(0, Vec::len);
                if too_long || buttons > 25 {
                    return Err(ApiFailure::BadRequest(
                        "A show handler's value is at most 80 characters, with at most 25 buttons"
                            .into(),
                    ));
                }
            }
        }
    }
    let step = account
        .bot_steps
        .iter_mut()
        .find(|s| s.bot_type == bot_type && s.bot_id == bot_id && s.continue_id == continue_id)
        .ok_or(ApiFailure::NotFound)?;
    if step.status != "waiting" {
        step.refused_continues += 1;
        return Err(ApiFailure::BadRequest(
            "This bot step was continued already".into(),
        ));
    }
    step.status = "continued".into();
    step.continued_data = Some(data);
    step.execute_handlers = handlers;
    step.continued_at = Some(call.now);
    Ok(ApiOutcome::ok(json!({})))
}

fn salesbot_run(account: &mut Account, call: &ApiCall<'_>, path_bot: Option<i64>) -> ApiResult {
    let items: Vec<Value> = match &call.body {
        Some(Value::Array(items)) => items.clone(),
        Some(item @ Value::Object(_)) => vec![item.clone()],
        _ => {
            return Err(ApiFailure::BadRequest(
                "The body must be a JSON object or array".into(),
            ))
        }
    };
    let mut invalid = Vec::new();
    let mut runs = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let mut r = Reader::new(item);
        let bot_id = path_bot.or_else(|| r.int("bot_id"));
        let entity_id = r.int("entity_id");
        let entity_type = match item.get("entity_type") {
            Some(Value::Number(n)) => match n.as_i64() {
                Some(1) => Some(EntityKind::Contacts),
                Some(2) => Some(EntityKind::Leads),
                _ => None,
            },
            Some(Value::String(s)) => EntityKind::parse(s),
            _ => None,
        };
        let mut errors = r.errors;
        match (bot_id, entity_id, entity_type) {
            (Some(bot_id), Some(entity_id), Some(kind))
                if account
                    .records
                    .get(&kind)
                    .is_some_and(|m| m.contains_key(&entity_id)) =>
            {
                runs.push(json!({"bot_id": bot_id, "entity_id": entity_id, "entity_type": kind.plural(), "at": call.now}));
            }
            _ => errors.push(FieldError::new(
                "NotFound",
                "entity_id",
                "bot_id, entity_id and entity_type must name an existing entity",
            )),
        }
        if !errors.is_empty() {
            invalid.push((i.to_string(), errors));
        }
    }
    if !invalid.is_empty() {
        return Err(ApiFailure::Validation(invalid));
    }
    account.salesbot_runs.extend(runs);
    Ok(ApiOutcome {
        status: StatusCode::ACCEPTED,
        body: Some(json!({"success": true})),
        changes: Vec::new(),
    })
}
