//! The account's schema: read from Kommo through the client (the account with its task types and
//! user groups, users, pipelines, the custom fields and tags of leads, contacts and companies,
//! Salesbots, loss reasons), stored in `account_schemas` for every backend process, and kept in
//! memory in front of the database. One read serves the API (`GET /api/v1/account/schema`), rule
//! validation and the engine's account facts until it is older than
//! [`super::EngineConfig::schema_max_age_ms`] or refreshed on demand.
//!
//! Concurrent callers that find no fresh schema wait for one read per account and process
//! (single flight); the first reads Kommo, the others take what it stored.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use domain::{
    path::EntityType,
    schema::{
        Schema, SchemaEnum, SchemaField, SchemaLossReason, SchemaPipeline, SchemaSalesbot,
        SchemaStage, SchemaTag, SchemaTaskType, SchemaUser, SchemaUserGroup, StageKind,
        LOST_STATUS_ID, WON_STATUS_ID,
    },
};
use kommo::{models::EntityKind, AccountClient, KommoError};

use super::{
    snapshot::{schema_field_type, AccountFacts},
    Engine, EngineError,
};
use crate::{clock::Millis, store};

/// A schema as read at one instant, with the engine's facts drawn from it.
#[derive(Debug)]
pub struct CachedSchema {
    /// The schema.
    pub schema: Arc<Schema>,
    /// When it was read from Kommo, Unix milliseconds.
    pub fetched_at: Millis,
    /// The engine's account facts of this schema.
    pub facts: Arc<AccountFacts>,
}

impl CachedSchema {
    fn new(mut schema: Schema, fetched_at: Millis) -> Self {
        schema.fetched_at = Some(fetched_at.div_euclid(1000));
        let facts = Arc::new(AccountFacts::from_schema(&schema));
        Self {
            schema: Arc::new(schema),
            fetched_at,
            facts,
        }
    }
}

/// The in-process layer: the last schema seen per account, and one lock per account that makes
/// concurrent reads of a cold or stale schema one read of Kommo.
#[derive(Debug, Default)]
pub struct SchemaCache {
    memory: Mutex<HashMap<i64, Arc<CachedSchema>>>,
    flights: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

impl SchemaCache {
    fn remembered(&self, account_id: i64) -> Option<Arc<CachedSchema>> {
        self.memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&account_id)
            .cloned()
    }

    fn remember(&self, account_id: i64, cached: Arc<CachedSchema>) {
        self.memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(account_id, cached);
    }

    fn flight(&self, account_id: i64) -> Arc<tokio::sync::Mutex<()>> {
        self.flights
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(account_id)
            .or_default()
            .clone()
    }
}

impl Engine {
    /// The account's schema: the stored one while it is younger than the configured maximum age,
    /// else read from Kommo now (once for all concurrent callers) and stored.
    pub async fn account_schema(&self, account_id: i64) -> Result<Arc<CachedSchema>, EngineError> {
        let oldest = self.clock.now_ms() - self.config.schema_max_age_ms;
        self.schema_read_since(account_id, oldest, None).await
    }

    /// The account's schema read from Kommo now, whatever is stored.
    pub async fn refresh_account_schema(
        &self,
        account_id: i64,
    ) -> Result<Arc<CachedSchema>, EngineError> {
        let after = self.clock.now_ms().saturating_add(1);
        self.schema_read_since(account_id, after, None).await
    }

    /// The stored schema however old, without asking Kommo; `None` when it was never read.
    pub async fn stored_account_schema(
        &self,
        account_id: i64,
    ) -> Result<Option<Arc<CachedSchema>>, EngineError> {
        self.stored_since(account_id, Millis::MIN).await
    }

    /// The account's facts (timezone, users, field definitions), from its schema: read from
    /// Kommo through `client` when no schema younger than the maximum age is stored.
    pub async fn account_facts(
        &self,
        account_id: i64,
        client: &AccountClient,
    ) -> Result<Arc<AccountFacts>, EngineError> {
        let oldest = self.clock.now_ms() - self.config.schema_max_age_ms;
        Ok(self
            .schema_read_since(account_id, oldest, Some(client))
            .await?
            .facts
            .clone())
    }

    /// The schema stored at or after `oldest`, or else read from Kommo.
    async fn schema_read_since(
        &self,
        account_id: i64,
        oldest: Millis,
        client: Option<&AccountClient>,
    ) -> Result<Arc<CachedSchema>, EngineError> {
        if let Some(cached) = self.stored_since(account_id, oldest).await? {
            return Ok(cached);
        }
        let flight = self.schemas.flight(account_id);
        let _one_read = flight.lock().await;
        // Whoever held the lock before may have read it meanwhile.
        if let Some(cached) = self.stored_since(account_id, oldest).await? {
            return Ok(cached);
        }
        let schema = match client {
            Some(client) => read_schema(client).await?,
            None => read_schema(&self.account_client(account_id).await?).await?,
        };
        let fetched_at = self.clock.now_ms();
        store::schema::put(&self.db, account_id, &schema, fetched_at).await?;
        let cached = Arc::new(CachedSchema::new(schema, fetched_at));
        self.schemas.remember(account_id, cached.clone());
        tracing::info!(
            account.id = account_id,
            "the account's schema was read from Kommo"
        );
        Ok(cached)
    }

    /// The stored schema if it was read at or after `oldest`: from memory when the database holds
    /// the same read (one small query), else from the database.
    async fn stored_since(
        &self,
        account_id: i64,
        oldest: Millis,
    ) -> Result<Option<Arc<CachedSchema>>, EngineError> {
        let Some(fetched_at) = store::schema::fetched_at(&self.db, account_id).await? else {
            return Ok(None);
        };
        if fetched_at < oldest {
            return Ok(None);
        }
        if let Some(cached) = self.schemas.remembered(account_id) {
            if cached.fetched_at == fetched_at {
                return Ok(Some(cached));
            }
        }
        let Some(stored) = store::schema::get(&self.db, account_id).await? else {
            return Ok(None);
        };
        if stored.fetched_at < oldest {
            return Ok(None);
        }
        let cached = Arc::new(CachedSchema::new(stored.schema, stored.fetched_at));
        self.schemas.remember(account_id, cached.clone());
        Ok(Some(cached))
    }
}

/// The domain entity type of a Kommo entity kind.
fn entity_of(kind: EntityKind) -> EntityType {
    match kind {
        EntityKind::Leads => EntityType::Lead,
        EntityKind::Contacts => EntityType::Contact,
        EntityKind::Companies => EntityType::Company,
    }
}

const KINDS: [EntityKind; 3] = [
    EntityKind::Leads,
    EntityKind::Contacts,
    EntityKind::Companies,
];

/// Reads the account's schema from Kommo: one request per endpoint (and page). Salesbots are
/// unknown (`None`) and loss reasons empty when Kommo does not serve their list.
pub async fn read_schema(client: &AccountClient) -> Result<Schema, KommoError> {
    let account = client.account_with_types().await?;
    let users = client.users().await?;
    let pipelines = client.pipelines().await?;
    let mut fields = Vec::new();
    let mut tags = Vec::new();
    for kind in KINDS {
        let entity = entity_of(kind);
        fields.extend(client.custom_fields(kind).await?.into_iter().map(|f| {
            SchemaField {
                entity,
                id: f.id,
                name: f.name,
                field_type: schema_field_type(&f.field_type),
                kommo_type: f.field_type,
                code: f.code,
                sort: f.sort,
                enums: f
                    .enums
                    .into_iter()
                    .map(|e| SchemaEnum {
                        id: e.id,
                        value: e.value,
                        code: e.code,
                        sort: e.sort,
                    })
                    .collect(),
            }
        }));
        tags.extend(client.tags(kind).await?.into_iter().map(|t| SchemaTag {
            entity,
            id: t.id,
            name: t.name,
            color: t.color,
        }));
    }
    let salesbots = match client.salesbots().await {
        Ok(bots) => Some(
            bots.into_iter()
                .map(|b| SchemaSalesbot {
                    id: b.id,
                    name: b.name,
                    active: b.active,
                })
                .collect(),
        ),
        Err(KommoError::NotFound) => None,
        Err(err) => return Err(err),
    };
    let loss_reasons = match client.loss_reasons().await {
        Ok(reasons) => reasons
            .into_iter()
            .map(|r| SchemaLossReason {
                id: r.id,
                name: r.name,
                sort: r.sort,
            })
            .collect(),
        Err(KommoError::NotFound) => Vec::new(),
        Err(err) => return Err(err),
    };
    Ok(Schema {
        timezone: account.timezone,
        // Added when the schema is served (`http::schema`): they depend on the day.
        utc_offsets: None,
        currency: account.currency,
        language: account.language,
        pipelines: Some(
            pipelines
                .into_iter()
                .map(|p| SchemaPipeline {
                    id: p.id,
                    name: p.name,
                    sort: p.sort,
                    is_main: p.is_main,
                    stages: p
                        .embedded
                        .statuses
                        .into_iter()
                        .map(|s| SchemaStage {
                            kind: match (s.id, s.status_type) {
                                (WON_STATUS_ID, _) => StageKind::Won,
                                (LOST_STATUS_ID, _) => StageKind::Lost,
                                (_, 1) => StageKind::Unsorted,
                                _ => StageKind::Open,
                            },
                            id: s.id,
                            name: s.name,
                            color: s.color,
                            sort: s.sort,
                        })
                        .collect(),
                })
                .collect(),
        ),
        users: Some(
            users
                .iter()
                .map(|u| SchemaUser {
                    id: u.id,
                    name: u.name.clone(),
                    active: u.is_active(),
                    admin: u.is_admin(),
                    group_id: u.group_id(),
                })
                .collect(),
        ),
        user_groups: account
            .embedded
            .users_groups
            .into_iter()
            .map(|g| SchemaUserGroup {
                id: g.id,
                name: g.name,
            })
            .collect(),
        fields,
        task_types: account
            .embedded
            .task_types
            .into_iter()
            .map(|t| SchemaTaskType {
                id: t.id,
                name: t.name,
                color: t.color,
                icon_id: t.icon_id,
                code: t.code,
            })
            .collect(),
        tags,
        salesbots,
        loss_reasons,
        fetched_at: None,
    })
}
