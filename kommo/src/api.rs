//! The API v4 operations of [`AccountClient`]: reads with paging and filters, batched and coalesced
//! writes, and creations made exactly-once by checking what landed after an ambiguous failure.

use std::collections::{HashMap, HashSet};

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::client::{AccountClient, Outcome, Replay};
use crate::error::KommoError;
use crate::models::{
    AccountInfo, CustomField, Entity, EntityKind, EntityWrite, Event, Link, LossReason, NewNote,
    Note, Pipeline, Salesbot, SalesbotRun, Status, Tag, Task, TaskWrite, User, Webhook,
};

/// Filters, ordering and `with` of a list request, in Kommo's query syntax.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pairs: Vec<(String, String)>,
}

impl ListQuery {
    /// No filter.
    pub fn new() -> Self {
        Self::default()
    }

    fn push_list(mut self, key: &str, values: &[i64]) -> Self {
        for v in values {
            self.pairs.push((format!("{key}[]"), v.to_string()));
        }
        self
    }

    /// `filter[id][]`.
    pub fn ids(self, ids: &[i64]) -> Self {
        self.push_list("filter[id]", ids)
    }

    /// `filter[responsible_user_id][]`.
    pub fn responsible_users(self, ids: &[i64]) -> Self {
        self.push_list("filter[responsible_user_id]", ids)
    }

    /// `filter[pipeline_id][]` (leads).
    pub fn pipelines(self, ids: &[i64]) -> Self {
        self.push_list("filter[pipeline_id]", ids)
    }

    /// `filter[entity_id][]` (tasks, notes, links, events).
    pub fn entity_ids(self, ids: &[i64]) -> Self {
        self.push_list("filter[entity_id]", ids)
    }

    /// `filter[statuses][i][pipeline_id|status_id]` (leads; one stage per pipeline).
    pub fn status(mut self, pipeline_id: i64, status_id: i64) -> Self {
        let i = self
            .pairs
            .iter()
            .filter(|(k, _)| k.ends_with("[pipeline_id]") && k.starts_with("filter[statuses]"))
            .count();
        self.pairs.push((
            format!("filter[statuses][{i}][pipeline_id]"),
            pipeline_id.to_string(),
        ));
        self.pairs.push((
            format!("filter[statuses][{i}][status_id]"),
            status_id.to_string(),
        ));
        self
    }

    /// `filter[created_at][from|to]`.
    pub fn created_between(self, from: Option<i64>, to: Option<i64>) -> Self {
        self.range("created_at", from, to)
    }

    /// `filter[updated_at][from|to]`.
    pub fn updated_between(self, from: Option<i64>, to: Option<i64>) -> Self {
        self.range("updated_at", from, to)
    }

    fn range(mut self, field: &str, from: Option<i64>, to: Option<i64>) -> Self {
        if let Some(from) = from {
            self.pairs
                .push((format!("filter[{field}][from]"), from.to_string()));
        }
        if let Some(to) = to {
            self.pairs
                .push((format!("filter[{field}][to]"), to.to_string()));
        }
        self
    }

    /// `filter[custom_fields_values][<id>][]=value`.
    pub fn custom_field(mut self, field_id: i64, value: &str) -> Self {
        self.pairs.push((
            format!("filter[custom_fields_values][{field_id}][]"),
            value.to_owned(),
        ));
        self
    }

    /// `query=` full-text search.
    pub fn search(mut self, text: &str) -> Self {
        self.pairs.push(("query".into(), text.to_owned()));
        self
    }

    /// `with=a,b`.
    pub fn with(mut self, with: &[&str]) -> Self {
        self.pairs.push(("with".into(), with.join(",")));
        self
    }

    /// `order[field]=asc|desc`.
    pub fn order(mut self, field: &str, ascending: bool) -> Self {
        self.pairs.push((
            format!("order[{field}]"),
            if ascending { "asc" } else { "desc" }.into(),
        ));
        self
    }

    /// Any other pair, e.g. `filter[type]` for events.
    pub fn raw(mut self, key: &str, value: &str) -> Self {
        self.pairs.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The pairs.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

fn decode<T: DeserializeOwned>(value: Value) -> Result<T, KommoError> {
    serde_json::from_value(value).map_err(|e| KommoError::Decode(e.to_string()))
}

fn embedded(body: Option<Value>, key: &str) -> Vec<Value> {
    match body {
        Some(mut v) => match v
            .get_mut("_embedded")
            .and_then(|e| e.get_mut(key))
            .map(Value::take)
        {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        None => Vec::new(),
    }
}

/// How to find what a creation left behind after an ambiguous failure.
#[derive(Debug, Clone, Copy)]
enum ReadBack {
    Entities(EntityKind),
    Notes(EntityKind),
    Tasks,
}

/// Keys not compared when matching a created item against what Kommo holds.
const UNCOMPARED: [&str; 8] = [
    "request_id",
    "custom_fields_values",
    "tags_to_add",
    "tags_to_delete",
    "_embedded",
    "entity_type",
    "result",
    "link",
];

/// Whether everything `wanted` says is also in `found` (objects compared key by key).
fn content_matches(wanted: &Value, found: &Value) -> bool {
    match (wanted, found) {
        (Value::Object(w), Value::Object(f)) => w.iter().all(|(k, v)| {
            UNCOMPARED.contains(&k.as_str())
                || v.is_null()
                || f.get(k).is_some_and(|fv| content_matches(v, fv))
        }),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

impl AccountClient {
    async fn get(
        &self,
        path: &str,
        query: &[(String, String)],
    ) -> Result<Option<Value>, KommoError> {
        match self
            .send(Method::GET, path, query, None, Replay::Safe)
            .await?
        {
            Outcome::Done(body) => Ok(body),
            Outcome::Ambiguous(why) => Err(KommoError::RetriesExhausted {
                attempts: 1,
                last: why,
            }),
        }
    }

    async fn write_safe(
        &self,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<Option<Value>, KommoError> {
        match self
            .send(method, path, &[], Some(body), Replay::Safe)
            .await?
        {
            Outcome::Done(body) => Ok(body),
            Outcome::Ambiguous(why) => Err(KommoError::RetriesExhausted {
                attempts: 1,
                last: why,
            }),
        }
    }

    /// Reads every page of a list (`limit` = the configured page size) until a short or empty page.
    async fn list_all(
        &self,
        path: &str,
        key: &str,
        query: &ListQuery,
    ) -> Result<Vec<Value>, KommoError> {
        let limit = self.config().page_size.clamp(1, 250);
        let mut out = Vec::new();
        for page in 1.. {
            let mut pairs = query.pairs().to_vec();
            pairs.push(("limit".into(), limit.to_string()));
            pairs.push(("page".into(), page.to_string()));
            let body = self.get(path, &pairs).await?;
            let has_next = body
                .as_ref()
                .and_then(|b| b.pointer("/_links/next"))
                .is_some();
            let items = embedded(body, key);
            let short = items.len() < limit;
            out.extend(items);
            if short || !has_next {
                break;
            }
        }
        Ok(out)
    }

    /// `GET /api/v4/account`.
    pub async fn account_info(&self) -> Result<AccountInfo, KommoError> {
        decode(self.get("/api/v4/account", &[]).await?.unwrap_or_default())
    }

    /// `GET /api/v4/account?with=task_types,users_groups,datetime_settings`: the account with its
    /// task types and user groups.
    pub async fn account_with_types(&self) -> Result<AccountInfo, KommoError> {
        let query = [(
            "with".to_owned(),
            "task_types,users_groups,datetime_settings".to_owned(),
        )];
        decode(
            self.get("/api/v4/account", &query)
                .await?
                .unwrap_or_default(),
        )
    }

    /// `GET /api/v4/leads/loss_reasons`, all pages.
    pub async fn loss_reasons(&self) -> Result<Vec<LossReason>, KommoError> {
        self.list_all(
            "/api/v4/leads/loss_reasons",
            "loss_reasons",
            &ListQuery::new(),
        )
        .await?
        .into_iter()
        .map(decode)
        .collect()
    }

    /// `GET /api/v4/bots`, all pages: the account's Salesbots.
    pub async fn salesbots(&self) -> Result<Vec<Salesbot>, KommoError> {
        self.list_all("/api/v4/bots", "bots", &ListQuery::new())
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    /// `GET /api/v4/users?with=role,group`, all pages.
    pub async fn users(&self) -> Result<Vec<User>, KommoError> {
        self.list_all(
            "/api/v4/users",
            "users",
            &ListQuery::new().with(&["role", "group"]),
        )
        .await?
        .into_iter()
        .map(decode)
        .collect()
    }

    /// `GET /api/v4/leads/pipelines`.
    pub async fn pipelines(&self) -> Result<Vec<Pipeline>, KommoError> {
        embedded(self.get("/api/v4/leads/pipelines", &[]).await?, "pipelines")
            .into_iter()
            .map(decode)
            .collect()
    }

    /// `GET /api/v4/leads/pipelines/{id}/statuses`.
    pub async fn statuses(&self, pipeline_id: i64) -> Result<Vec<Status>, KommoError> {
        let path = format!("/api/v4/leads/pipelines/{pipeline_id}/statuses");
        embedded(self.get(&path, &[]).await?, "statuses")
            .into_iter()
            .map(decode)
            .collect()
    }

    /// `GET /api/v4/{kind}/custom_fields`, all pages.
    pub async fn custom_fields(&self, kind: EntityKind) -> Result<Vec<CustomField>, KommoError> {
        let path = format!("/api/v4/{}/custom_fields", kind.plural());
        self.list_all(&path, "custom_fields", &ListQuery::new())
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    /// `GET /api/v4/{kind}/{id}`.
    pub async fn entity(
        &self,
        kind: EntityKind,
        id: i64,
        with: &[&str],
    ) -> Result<Entity, KommoError> {
        let path = format!("/api/v4/{}/{id}", kind.plural());
        let query = if with.is_empty() {
            Vec::new()
        } else {
            vec![("with".to_owned(), with.join(","))]
        };
        decode(self.get(&path, &query).await?.ok_or(KommoError::NotFound)?)
    }

    /// `GET /api/v4/{kind}` with filters, all pages.
    pub async fn entities(
        &self,
        kind: EntityKind,
        query: &ListQuery,
    ) -> Result<Vec<Entity>, KommoError> {
        let path = format!("/api/v4/{}", kind.plural());
        self.list_all(&path, kind.plural(), query)
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    /// `GET /api/v4/{kind}` with filters: the first page only, at most `limit` (1 to 250) items.
    pub async fn entities_first_page(
        &self,
        kind: EntityKind,
        query: &ListQuery,
        limit: usize,
    ) -> Result<Vec<Entity>, KommoError> {
        let path = format!("/api/v4/{}", kind.plural());
        let mut pairs = query.pairs().to_vec();
        pairs.push(("limit".into(), limit.clamp(1, 250).to_string()));
        pairs.push(("page".into(), "1".into()));
        embedded(self.get(&path, &pairs).await?, kind.plural())
            .into_iter()
            .map(decode)
            .collect()
    }

    /// Updates entities with as few `PATCH` requests as the batch limit allows: updates of the same
    /// entity are merged first, then sent `write_batch` at a time. Returns the requests made.
    /// Updates are absolute (set values, add/delete tags), so a retry after a timeout is harmless.
    pub async fn update_entities(
        &self,
        kind: EntityKind,
        updates: Vec<EntityWrite>,
    ) -> Result<usize, KommoError> {
        let mut order: Vec<i64> = Vec::new();
        let mut merged: HashMap<i64, EntityWrite> = HashMap::new();
        for update in updates {
            let Some(id) = update.id else {
                return Err(KommoError::Decode("an update needs an id".into()));
            };
            match merged.get_mut(&id) {
                Some(existing) => existing.merge(update),
                None => {
                    order.push(id);
                    merged.insert(id, update);
                }
            }
        }
        let path = format!("/api/v4/{}", kind.plural());
        let batch = self.config().write_batch.max(1);
        let mut requests = 0;
        for chunk in order.chunks(batch) {
            let items: Vec<Value> = chunk
                .iter()
                .filter_map(|id| merged.get(id))
                .map(|w| serde_json::to_value(w).unwrap_or(Value::Null))
                .collect();
            self.write_safe(Method::PATCH, &path, &Value::Array(items))
                .await?;
            requests += 1;
        }
        Ok(requests)
    }

    /// Creates entities, `write_batch` per request; returns their ids in input order. Exactly once:
    /// after a timeout or 5xx the client reads back what was created since the attempt and only
    /// re-sends the items that did not land.
    pub async fn create_entities(
        &self,
        kind: EntityKind,
        items: Vec<EntityWrite>,
    ) -> Result<Vec<i64>, KommoError> {
        let values = items
            .iter()
            .map(|w| serde_json::to_value(w).unwrap_or(Value::Null))
            .collect();
        let path = format!("/api/v4/{}", kind.plural());
        self.create_exactly_once(&path, kind.plural(), values, ReadBack::Entities(kind))
            .await
    }

    /// Creates tasks (exactly once, like [`AccountClient::create_entities`]).
    pub async fn create_tasks(&self, tasks: Vec<TaskWrite>) -> Result<Vec<i64>, KommoError> {
        let values = tasks
            .iter()
            .map(|t| serde_json::to_value(t).unwrap_or(Value::Null))
            .collect();
        self.create_exactly_once("/api/v4/tasks", "tasks", values, ReadBack::Tasks)
            .await
    }

    /// Updates tasks (absolute values; batched).
    pub async fn update_tasks(&self, tasks: Vec<TaskWrite>) -> Result<usize, KommoError> {
        let batch = self.config().write_batch.max(1);
        let mut requests = 0;
        for chunk in tasks.chunks(batch) {
            let body =
                serde_json::to_value(chunk).map_err(|e| KommoError::Decode(e.to_string()))?;
            self.write_safe(Method::PATCH, "/api/v4/tasks", &body)
                .await?;
            requests += 1;
        }
        Ok(requests)
    }

    /// `GET /api/v4/tasks` with filters, all pages.
    pub async fn tasks(&self, query: &ListQuery) -> Result<Vec<Task>, KommoError> {
        self.list_all("/api/v4/tasks", "tasks", query)
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    /// Adds notes to entities of `kind` (exactly once).
    pub async fn add_notes(
        &self,
        kind: EntityKind,
        notes: Vec<NewNote>,
    ) -> Result<Vec<i64>, KommoError> {
        let values = notes
            .iter()
            .map(|n| json!({"entity_id": n.entity_id, "note_type": n.content.note_type(), "params": n.content.params()}))
            .collect();
        let path = format!("/api/v4/{}/notes", kind.plural());
        self.create_exactly_once(&path, "notes", values, ReadBack::Notes(kind))
            .await
    }

    /// Notes of one entity.
    pub async fn notes(&self, kind: EntityKind, entity_id: i64) -> Result<Vec<Note>, KommoError> {
        let path = format!("/api/v4/{}/{entity_id}/notes", kind.plural());
        self.list_all(&path, "notes", &ListQuery::new())
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    /// Tags of a kind.
    pub async fn tags(&self, kind: EntityKind) -> Result<Vec<Tag>, KommoError> {
        let path = format!("/api/v4/{}/tags", kind.plural());
        self.list_all(&path, "tags", &ListQuery::new())
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    /// Creates tags by name (an existing name returns the existing tag).
    pub async fn create_tags(
        &self,
        kind: EntityKind,
        names: &[&str],
    ) -> Result<Vec<Tag>, KommoError> {
        let path = format!("/api/v4/{}/tags", kind.plural());
        let body = Value::Array(names.iter().map(|n| json!({"name": n})).collect());
        // Creating a tag by name is idempotent in Kommo: the same name yields the same tag.
        embedded(self.write_safe(Method::POST, &path, &body).await?, "tags")
            .into_iter()
            .map(decode)
            .collect()
    }

    /// Links of entities.
    pub async fn links(
        &self,
        kind: EntityKind,
        entity_ids: &[i64],
    ) -> Result<Vec<Link>, KommoError> {
        let path = format!("/api/v4/{}/links", kind.plural());
        let query = ListQuery::new().entity_ids(entity_ids);
        embedded(self.get(&path, query.pairs()).await?, "links")
            .into_iter()
            .map(decode)
            .collect()
    }

    /// Links entities (idempotent).
    pub async fn link(&self, kind: EntityKind, links: &[Link]) -> Result<(), KommoError> {
        let path = format!("/api/v4/{}/link", kind.plural());
        let body = serde_json::to_value(links).map_err(|e| KommoError::Decode(e.to_string()))?;
        self.write_safe(Method::POST, &path, &body).await.map(drop)
    }

    /// Unlinks entities (idempotent).
    pub async fn unlink(&self, kind: EntityKind, links: &[Link]) -> Result<(), KommoError> {
        let path = format!("/api/v4/{}/unlink", kind.plural());
        let body = serde_json::to_value(links).map_err(|e| KommoError::Decode(e.to_string()))?;
        self.write_safe(Method::POST, &path, &body).await.map(drop)
    }

    /// `GET /api/v4/events` with filters (e.g. `raw("filter[type]", "lead_status_changed")`).
    pub async fn events(&self, query: &ListQuery) -> Result<Vec<Event>, KommoError> {
        self.list_all("/api/v4/events", "events", query)
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    /// Webhook subscriptions.
    pub async fn webhooks(&self) -> Result<Vec<Webhook>, KommoError> {
        embedded(self.get("/api/v4/webhooks", &[]).await?, "webhooks")
            .into_iter()
            .map(decode)
            .collect()
    }

    /// Subscribes `destination` to event codes (same destination = update; idempotent).
    pub async fn subscribe_webhook(
        &self,
        destination: &str,
        settings: &[&str],
        sort: i64,
    ) -> Result<Webhook, KommoError> {
        let body = json!({"destination": destination, "settings": settings, "sort": sort});
        decode(
            self.write_safe(Method::POST, "/api/v4/webhooks", &body)
                .await?
                .unwrap_or_default(),
        )
    }

    /// Removes the subscription of `destination`.
    pub async fn unsubscribe_webhook(&self, destination: &str) -> Result<(), KommoError> {
        let body = json!({"destination": destination});
        match self
            .write_safe(Method::DELETE, "/api/v4/webhooks", &body)
            .await
        {
            Ok(_) | Err(KommoError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Starts Salesbots (`POST /api/v2/salesbot/run`). Not idempotent in Kommo: a timeout is
    /// reported, not replayed.
    pub async fn run_salesbot(&self, runs: &[SalesbotRun]) -> Result<(), KommoError> {
        let body = serde_json::to_value(runs).map_err(|e| KommoError::Decode(e.to_string()))?;
        match self
            .send(
                Method::POST,
                "/api/v2/salesbot/run",
                &[],
                Some(&body),
                Replay::Unsafe,
            )
            .await?
        {
            Outcome::Done(_) => Ok(()),
            Outcome::Ambiguous(why) => Err(KommoError::RetriesExhausted {
                attempts: 1,
                last: why,
            }),
        }
    }

    /// Continues a bot waiting in a `widget_request` step
    /// (`POST /api/v4/{bot_type}/{bot_id}/continue/{continue_id}`, `bot_type` `salesbot` or
    /// `marketingbot`) with `{"data": …, "execute_handlers": …}`; later steps read `data` as
    /// `{{json.<key>}}`. Not idempotent: a timeout is reported, not replayed.
    pub async fn continue_salesbot(
        &self,
        bot_type: &str,
        bot_id: i64,
        continue_id: i64,
        body: &Value,
    ) -> Result<(), KommoError> {
        let bot_type = if bot_type == "marketingbot" {
            "marketingbot"
        } else {
            "salesbot"
        };
        let path = format!("/api/v4/{bot_type}/{bot_id}/continue/{continue_id}");
        match self
            .send(Method::POST, &path, &[], Some(body), Replay::Unsafe)
            .await?
        {
            Outcome::Done(_) => Ok(()),
            Outcome::Ambiguous(why) => Err(KommoError::RetriesExhausted {
                attempts: 1,
                last: why,
            }),
        }
    }

    async fn create_exactly_once(
        &self,
        path: &str,
        key: &str,
        items: Vec<Value>,
        readback: ReadBack,
    ) -> Result<Vec<i64>, KommoError> {
        let mut ids: Vec<Option<i64>> = vec![None; items.len()];
        let mut claimed: HashSet<i64> = HashSet::new();
        let batch = self.config().write_batch.max(1);
        let max_rounds = self.config().retry.max_attempts.max(1);
        let all: Vec<usize> = (0..items.len()).collect();
        for chunk in all.chunks(batch) {
            let mut pending: Vec<usize> = chunk.to_vec();
            let mut round = 0;
            while !pending.is_empty() {
                round += 1;
                let body = Value::Array(
                    pending
                        .iter()
                        .map(|&i| {
                            let mut item = items[i].clone();
                            if let Some(map) = item.as_object_mut() {
                                map.insert("request_id".into(), json!(i.to_string()));
                            }
                            item
                        })
                        .collect(),
                );
                // Kommo stamps created_at by its own clock, so the read-back window uses it too.
                let since = self.server_now().map(|t| t - 2);
                match self
                    .send(Method::POST, path, &[], Some(&body), Replay::Unsafe)
                    .await?
                {
                    Outcome::Done(reply) => {
                        for created in embedded(reply, key) {
                            let index = created.get("request_id").and_then(|r| match r {
                                Value::String(s) => s.parse::<usize>().ok(),
                                Value::Number(n) => n.as_u64().map(|n| n as usize),
                                _ => None,
                            });
                            if let (Some(index), Some(id)) =
                                (index, created.get("id").and_then(Value::as_i64))
                            {
                                if let Some(slot) = ids.get_mut(index) {
                                    *slot = Some(id);
                                    claimed.insert(id);
                                }
                            }
                        }
                        pending.clear();
                    }
                    Outcome::Ambiguous(why) => {
                        tracing::warn!(account = %self.account(), failure = %why, "creation may have landed; reading back");
                        let candidates = self.read_back(readback, since, &pending, &items).await?;
                        pending.retain(|&i| {
                            let found = candidates.iter().find(|c| {
                                c.get("id")
                                    .and_then(Value::as_i64)
                                    .is_some_and(|id| !claimed.contains(&id))
                                    && content_matches(&items[i], c)
                            });
                            match found.and_then(|c| c.get("id").and_then(Value::as_i64)) {
                                Some(id) => {
                                    ids[i] = Some(id);
                                    claimed.insert(id);
                                    false
                                }
                                None => true,
                            }
                        });
                        if !pending.is_empty() {
                            if round >= max_rounds {
                                return Err(KommoError::RetriesExhausted {
                                    attempts: round,
                                    last: why,
                                });
                            }
                            self.pause(round).await;
                        }
                    }
                }
            }
        }
        ids.into_iter()
            .map(|id| {
                id.ok_or_else(|| {
                    KommoError::Decode("Kommo did not return an id for every item".into())
                })
            })
            .collect()
    }

    async fn read_back(
        &self,
        readback: ReadBack,
        since: Option<i64>,
        pending: &[usize],
        items: &[Value],
    ) -> Result<Vec<Value>, KommoError> {
        let entity_ids: Vec<i64> = pending
            .iter()
            .filter_map(|&i| items[i].get("entity_id").and_then(Value::as_i64))
            .collect();
        match readback {
            ReadBack::Entities(kind) => {
                let query = ListQuery::new()
                    .created_between(since, None)
                    .order("id", false);
                let path = format!("/api/v4/{}", kind.plural());
                self.list_all(&path, kind.plural(), &query).await
            }
            ReadBack::Notes(kind) => {
                let query = ListQuery::new()
                    .entity_ids(&entity_ids)
                    .updated_between(since, None);
                let path = format!("/api/v4/{}/notes", kind.plural());
                self.list_all(&path, "notes", &query).await
            }
            ReadBack::Tasks => {
                let query = ListQuery::new()
                    .entity_ids(&entity_ids)
                    .updated_between(since, None);
                self.list_all("/api/v4/tasks", "tasks", &query).await
            }
        }
    }
}

/// Entity updates collected over time and sent together: many rule actions on many entities become
/// as few `PATCH` requests as the batch limit allows.
#[derive(Debug, Default)]
pub struct PendingUpdates {
    updates: Vec<(EntityKind, EntityWrite)>,
}

impl PendingUpdates {
    /// Nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an update.
    pub fn push(&mut self, kind: EntityKind, update: EntityWrite) {
        self.updates.push((kind, update));
    }

    /// How many updates are waiting.
    pub fn len(&self) -> usize {
        self.updates.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.updates.is_empty()
    }

    /// Sends everything; returns the requests made.
    pub async fn flush(&mut self, client: &AccountClient) -> Result<usize, KommoError> {
        let mut requests = 0;
        for kind in [
            EntityKind::Leads,
            EntityKind::Contacts,
            EntityKind::Companies,
        ] {
            let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.updates)
                .into_iter()
                .partition(|(k, _)| *k == kind);
            self.updates = rest;
            if mine.is_empty() {
                continue;
            }
            requests += client
                .update_entities(kind, mine.into_iter().map(|(_, u)| u).collect())
                .await?;
        }
        Ok(requests)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_match_ignores_write_only_keys_and_compares_numbers_by_value() {
        let wanted =
            json!({"name": "A", "price": 10, "tags_to_add": [{"name": "x"}], "request_id": "0"});
        assert!(content_matches(
            &wanted,
            &json!({"id": 1, "name": "A", "price": 10.0})
        ));
        assert!(!content_matches(
            &wanted,
            &json!({"id": 1, "name": "A", "price": 11})
        ));
        let note = json!({"entity_id": 5, "note_type": "common", "params": {"text": "hi"}});
        assert!(content_matches(
            &note,
            &json!({"id": 9, "entity_id": 5, "note_type": "common", "params": {"text": "hi"}})
        ));
        assert!(!content_matches(
            &note,
            &json!({"id": 9, "entity_id": 5, "note_type": "common", "params": {"text": "other"}})
        ));
    }
}
