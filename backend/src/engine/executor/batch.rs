//! Entity updates batched into few `PATCH` requests: across the rules of one event
//! ([`WriteBatch`]) and across concurrent jobs of one account ([`UpdateCoalescer`]).

use std::{collections::HashMap, sync::Arc};

use kommo::{
    models::{EntityKind, EntityWrite},
    AccountClient,
};

/// Where a batched update's result goes: (rule run index, action result index).
pub type Owner = (usize, usize);

/// Entity updates collected over the rules of an event, sent together.
#[derive(Debug, Default)]
pub struct WriteBatch {
    pub(super) updates: Vec<(EntityKind, EntityWrite, Owner)>,
}

impl WriteBatch {
    /// Nothing collected.
    pub fn new() -> Self {
        Self::default()
    }

    pub(super) fn push(&mut self, kind: EntityKind, write: EntityWrite, owner: Owner) {
        self.updates.push((kind, write, owner));
    }

    /// Whether nothing was collected.
    pub fn is_empty(&self) -> bool {
        self.updates.is_empty()
    }

    /// Sends the updates through `coalescer` (together with other jobs' updates of the account
    /// that are waiting at the same moment); returns each owner with its error, if any.
    pub async fn flush(
        self,
        account_id: i64,
        client: &AccountClient,
        coalescer: &UpdateCoalescer,
    ) -> Vec<(Owner, Option<String>)> {
        let (writes, owners): (Vec<_>, Vec<_>) = self
            .updates
            .into_iter()
            .map(|(kind, write, owner)| ((kind, write), owner))
            .unzip();
        let results = coalescer.update(account_id, client, writes).await;
        owners.into_iter().zip(results).collect()
    }
}

/// Where the result of one update goes.
type ResultSender = tokio::sync::oneshot::Sender<Option<String>>;

type PendingUpdate = (EntityKind, EntityWrite, ResultSender);

/// One account's updates waiting to be sent, and the gate of the one sender at a time.
#[derive(Default)]
struct AccountUpdates {
    pending: std::sync::Mutex<Vec<PendingUpdate>>,
    sending: tokio::sync::Mutex<()>,
}

/// Entity updates of concurrent jobs, batched across events: while one job's `PATCH` is on its
/// way (or waits for the rate limit), the updates other jobs of the same account flush meanwhile
/// pile up and leave together in the next request, merged per entity. An idle account pays no
/// extra delay.
#[derive(Default)]
pub struct UpdateCoalescer {
    accounts: std::sync::Mutex<HashMap<i64, Arc<AccountUpdates>>>,
}

impl std::fmt::Debug for UpdateCoalescer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateCoalescer").finish_non_exhaustive()
    }
}

impl UpdateCoalescer {
    /// Sends `writes` (possibly together with other jobs' writes) and returns, per write, the
    /// error of the request that carried it.
    pub async fn update(
        &self,
        account_id: i64,
        client: &AccountClient,
        writes: Vec<(EntityKind, EntityWrite)>,
    ) -> Vec<Option<String>> {
        let account = self
            .accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(account_id)
            .or_default()
            .clone();
        let mut receivers = Vec::with_capacity(writes.len());
        {
            let mut pending = account
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (kind, write) in writes {
                let (tx, rx) = tokio::sync::oneshot::channel();
                pending.push((kind, write, tx));
                receivers.push(rx);
            }
        }
        {
            // Whoever holds the gate sends everything pending; ours may already have gone with
            // the previous holder's request.
            let _gate = account.sending.lock().await;
            let batch = std::mem::take(
                &mut *account
                    .pending
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
            send_merged(client, batch).await;
        }
        let mut results = Vec::with_capacity(receivers.len());
        for rx in receivers {
            results.push(
                rx.await
                    .unwrap_or_else(|_| Some("the update was not sent".to_owned())),
            );
        }
        results
    }
}

async fn send_merged(client: &AccountClient, batch: Vec<PendingUpdate>) {
    let mut by_kind: HashMap<EntityKind, Vec<(EntityWrite, ResultSender)>> = HashMap::new();
    for (kind, write, tx) in batch {
        by_kind.entry(kind).or_default().push((write, tx));
    }
    for (kind, items) in by_kind {
        let (writes, senders): (Vec<_>, Vec<_>) = items.into_iter().unzip();
        let error = client
            .update_entities(kind, writes)
            .await
            .err()
            .map(|e| e.to_string());
        for tx in senders {
            let _ = tx.send(error.clone());
        }
    }
}
