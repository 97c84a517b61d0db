//! Ingest: turns an authenticated incoming request into a stored event and its queued work, in one
//! durable transaction (shared with the requests that arrive at the same moment: [`commit`]), before
//! the request is answered. Nothing here parses a payload beyond what its dedupe key needs; parsing
//! and rule matching happen later, in the `process_event` job.
//!
//! # Layout
//! - [`dedupe`]: the dedupe key of each source.
//! - [`commit`]: group commit — the events that arrive together stored in one durable transaction.
//! - [`authenticate`]: the secrets in hook URLs and trigger links, compared in constant time.
//! - [`digital_pipeline`]: the account and DP key of a digital-pipeline request, and the DP keys
//!   themselves.
//! - [`salesbot`]: a Salesbot's `widget_request`: its bot token, its data and the step to continue.

pub mod authenticate;
pub mod commit;
pub mod dedupe;
pub mod digital_pipeline;
pub mod salesbot;

use serde::Serialize;
use serde_json::json;
use sqlx::Row;

use crate::{
    queue::{kinds, NewJob, Queue},
    store::receivers,
};

/// Where an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventSource {
    /// A Kommo account webhook (`/hooks/kommo/…`).
    KommoWebhook,
    /// A digital-pipeline widget request (`/hooks/dp/…`).
    DigitalPipeline,
    /// A user's inbound webhook: a rule's own URL or a receiver's (`/hooks/in/…`).
    InboundHook,
    /// A click on a trigger link (`/t/…`).
    TriggerLink,
    /// A Salesbot's `widget_request` step (`/hooks/salesbot`).
    Salesbot,
}

impl EventSource {
    /// The name stored in `events.source`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KommoWebhook => "kommo",
            Self::DigitalPipeline => "dp",
            Self::InboundHook => "inbound",
            Self::TriggerLink => "link",
            Self::Salesbot => "salesbot",
        }
    }
}

/// An authenticated request, as it will be stored.
#[derive(Debug, Clone)]
pub struct RawEvent<'a> {
    /// The tenant, verified by the URL's secret.
    pub account_id: i64,
    /// Where it came from.
    pub source: EventSource,
    /// Requests with the same key (per account and source) are the same event.
    pub dedupe_key: String,
    /// The rule a digital-pipeline action (by its DP key), inbound hook or trigger link addresses.
    pub rule_id: Option<i64>,
    /// The trigger link clicked.
    pub link_id: Option<i64>,
    /// The entity a manual trigger link names in its URL, as (`leads`|`contacts`|`companies`, id).
    pub entity: Option<(&'a str, i64)>,
    /// The request's `Content-Type`.
    pub content_type: Option<&'a str>,
    /// The request's query string (an inbound hook's variables come from it too).
    pub query: Option<&'a str>,
    /// The request body, untouched.
    pub body: &'a [u8],
    /// The receiver an inbound request came through, with what its request log keeps.
    pub receiver: Option<ReceiverCall<'a>>,
}

/// A request to a receiver: it is logged in the transaction that stores its event.
#[derive(Debug, Clone, Copy)]
pub struct ReceiverCall<'a> {
    /// The receiver.
    pub receiver_id: i64,
    /// The HTTP method.
    pub method: &'a str,
    /// How much of the body its log keeps, in bytes.
    pub body_cap: usize,
}

/// What [`commit::Ingest::accept`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Accepted {
    /// Stored, and its `process_event` job queued.
    Stored {
        /// The event's id.
        event_id: i64,
    },
    /// An event with the same dedupe key was stored before; nothing was done.
    Duplicate,
}

/// An event as the committer holds it: [`RawEvent`] with its borrowed parts copied.
#[derive(Debug, Clone)]
pub(crate) struct OwnedEvent {
    account_id: i64,
    source: EventSource,
    dedupe_key: String,
    rule_id: Option<i64>,
    link_id: Option<i64>,
    entity: Option<(String, i64)>,
    content_type: Option<String>,
    query: Option<String>,
    body: Vec<u8>,
    receiver: Option<(i64, String, usize)>,
}

impl From<&RawEvent<'_>> for OwnedEvent {
    fn from(event: &RawEvent<'_>) -> Self {
        Self {
            account_id: event.account_id,
            source: event.source,
            dedupe_key: event.dedupe_key.clone(),
            rule_id: event.rule_id,
            link_id: event.link_id,
            entity: event.entity.map(|(kind, id)| (kind.to_owned(), id)),
            content_type: event.content_type.map(str::to_owned),
            query: event.query.map(str::to_owned),
            body: event.body.to_vec(),
            receiver: event
                .receiver
                .map(|call| (call.receiver_id, call.method.to_owned(), call.body_cap)),
        }
    }
}

/// Stores `event` under its dedupe key and enqueues its processing, in the committer's
/// transaction `conn`. A repeated delivery changes nothing. A receiver's request is logged (and its
/// log pruned) and a trigger link's click counted in the same transaction.
async fn store_one(
    queue: &Queue,
    conn: &mut sqlx::AnyConnection,
    event: &OwnedEvent,
    now: i64,
) -> Result<Accepted, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO events (account_id, source, dedupe_key, rule_id, link_id, content_type, body, received_at,
                             entity_type, entity_id, receiver_id, query)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (account_id, source, dedupe_key) DO NOTHING RETURNING id",
    )
    .bind(event.account_id)
    .bind(event.source.as_str())
    .bind(&event.dedupe_key)
    .bind(event.rule_id)
    .bind(event.link_id)
    .bind(event.content_type.as_deref())
    .bind(&event.body)
    .bind(now)
    .bind(event.entity.as_ref().map(|(t, _)| t.as_str()))
    .bind(event.entity.as_ref().map(|(_, id)| *id))
    .bind(event.receiver.as_ref().map(|(id, _, _)| *id))
    .bind(event.query.as_deref())
    .fetch_optional(&mut *conn)
    .await?;
    let event_id = inserted.map(|row| row.try_get::<i64, _>(0)).transpose()?;
    if let Some((receiver_id, method, body_cap)) = &event.receiver {
        let request = receivers::IncomingRequest {
            receiver_id: *receiver_id,
            method,
            content_type: event.content_type.as_deref(),
            query: event.query.as_deref(),
            body: &event.body,
            body_cap: *body_cap,
        };
        receivers::record_request(conn, event.account_id, &request, event_id, now).await?;
    }
    let Some(event_id) = event_id else {
        return Ok(Accepted::Duplicate);
    };
    if let (EventSource::TriggerLink, Some(link_id)) = (event.source, event.link_id) {
        sqlx::query(
            "UPDATE trigger_links SET clicks = clicks + 1 WHERE account_id = $1 AND id = $2",
        )
        .bind(event.account_id)
        .bind(link_id)
        .execute(&mut *conn)
        .await?;
    }
    let job = NewJob::new(
        event.account_id,
        kinds::PROCESS_EVENT,
        json!({ "event_id": event_id }),
        now,
    );
    queue.enqueue_in(conn, &job).await?;
    Ok(Accepted::Stored { event_id })
}

/// A stored event, as the worker reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// The event's id.
    pub id: i64,
    /// The tenant.
    pub account_id: i64,
    /// `kommo`, `dp`, `inbound`, `link` or `salesbot`.
    pub source: String,
    /// The rule a digital-pipeline action (by its DP key), inbound hook or trigger link addresses.
    pub rule_id: Option<i64>,
    /// The request's `Content-Type`.
    pub content_type: Option<String>,
    /// The request body, untouched.
    pub body: Vec<u8>,
    /// When it arrived, Unix milliseconds.
    pub received_at: i64,
    /// The entity a manual trigger link named, as (`leads`|`contacts`|`companies`, id).
    pub entity: Option<(String, i64)>,
    /// The receiver an inbound request came through.
    pub receiver_id: Option<i64>,
    /// The request's query string.
    pub query: Option<String>,
}

/// The stored event `event_id` of `account_id`, if any.
pub async fn load_event(
    db: &crate::db::Db,
    account_id: i64,
    event_id: i64,
) -> Result<Option<StoredEvent>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, account_id, source, rule_id, content_type, body, received_at, entity_type, entity_id,
                receiver_id, query FROM events
         WHERE account_id = $1 AND id = $2",
    )
    .bind(account_id)
    .bind(event_id)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| {
        Ok(StoredEvent {
            id: r.try_get(0)?,
            account_id: r.try_get(1)?,
            source: r.try_get(2)?,
            rule_id: r.try_get(3)?,
            content_type: r.try_get(4)?,
            body: r.try_get(5)?,
            received_at: r.try_get(6)?,
            entity: r
                .try_get::<Option<String>, _>(7)?
                .zip(r.try_get::<Option<i64>, _>(8)?),
            receiver_id: r.try_get(9)?,
            query: r.try_get(10)?,
        })
    })
    .transpose()
}

/// How long a processed event stays in the inbox: long enough for any redelivery to be recognised
/// as a duplicate and for the debugger to show it, short enough for the inbox not to grow forever.
pub const PROCESSED_EVENT_RETENTION_MS: i64 = 30 * 24 * 3600 * 1000;

/// Marks an event as processed (in the caller's transaction), which starts its retention period.
pub async fn mark_processed(
    conn: &mut sqlx::AnyConnection,
    account_id: i64,
    event_id: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE events SET processed_at = $3 WHERE account_id = $1 AND id = $2 AND processed_at IS NULL")
        .bind(account_id)
        .bind(event_id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes events processed more than [`PROCESSED_EVENT_RETENTION_MS`] before `now`; unprocessed
/// events are never deleted. Returns how many went.
pub async fn purge_processed_events(db: &crate::db::Db, now: i64) -> Result<u64, sqlx::Error> {
    let done =
        sqlx::query("DELETE FROM events WHERE processed_at IS NOT NULL AND processed_at < $1")
            .bind(now - PROCESSED_EVENT_RETENTION_MS)
            .execute(&db.pool)
            .await?;
    Ok(done.rows_affected())
}
