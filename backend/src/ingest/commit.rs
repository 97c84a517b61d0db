//! Group commit: the webhooks that arrive together are stored and enqueued in one transaction, and
//! each request is answered only after that transaction is durable.
//!
//! Every commit is synced to disk (SQLite `synchronous = FULL` in WAL mode, PostgreSQL's default
//! synchronous commit), so throughput cannot come from weaker syncs; it comes from paying one sync
//! for many events. One task per process, the committer, owns the writing: a request hands its event
//! over and waits for the outcome. While a transaction is being written and synced, the next requests
//! gather in the channel; the committer then takes all of them (up to [`MAX_BATCH`]) into the next
//! transaction. A lone request pays one commit, as before; a burst pays one commit per batch.
//!
//! A batch that fails as a whole (one event's statement failing aborts the transaction) is written
//! again one event per transaction, so one bad event fails only its own request.

use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot};

use super::{store_one, Accepted, OwnedEvent, RawEvent};
use crate::queue::Queue;

/// The most events one transaction takes.
pub const MAX_BATCH: usize = 256;

/// How many handed-over events may wait for the committer before a request waits to hand its own.
const BACKLOG: usize = 4 * MAX_BATCH;

/// An event waiting to be stored, and where its outcome goes.
struct Pending {
    event: OwnedEvent,
    done: oneshot::Sender<Result<Accepted, sqlx::Error>>,
}

/// The handle requests store their events through. Cheap to clone; the committer task starts with
/// the first event and stops when the last handle is dropped.
#[derive(Clone)]
pub struct Ingest {
    queue: Queue,
    sender: Arc<OnceLock<mpsc::Sender<Pending>>>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest").finish_non_exhaustive()
    }
}

impl Ingest {
    /// Stores events into `queue`'s database and enqueues their processing there.
    pub fn new(queue: Queue) -> Self {
        Self {
            queue,
            sender: Arc::new(OnceLock::new()),
        }
    }

    /// Stores `event` under its dedupe key and enqueues its processing, in a transaction shared
    /// with the events that arrive at the same moment; returns once that transaction is committed.
    /// A repeated delivery changes nothing.
    pub async fn accept(&self, event: &RawEvent<'_>) -> Result<Accepted, sqlx::Error> {
        let sender = self.sender.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(BACKLOG);
            tokio::spawn(run(self.queue.clone(), receiver));
            sender
        });
        let (done, outcome) = oneshot::channel();
        let event = OwnedEvent::from(event);
        sender
            .send(Pending { event, done })
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        outcome.await.map_err(|_| sqlx::Error::PoolClosed)?
    }
}

/// The committer: takes what has gathered, writes it in one transaction, answers each request.
async fn run(queue: Queue, mut receiver: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        match write_batch(&queue, &batch).await {
            Ok(outcomes) => {
                for (pending, outcome) in batch.drain(..).zip(outcomes) {
                    let _ = pending.done.send(Ok(outcome));
                }
            }
            Err(err) if batch.len() == 1 => {
                let _ = batch.remove(0).done.send(Err(err));
            }
            Err(_) => {
                // Someone's event broke the shared transaction: each one alone, so only that
                // request fails.
                for pending in batch.drain(..) {
                    let outcome = write_batch(&queue, std::slice::from_ref(&pending))
                        .await
                        .map(|mut outcomes| outcomes.remove(0));
                    let _ = pending.done.send(outcome);
                }
            }
        }
        queue.wake_workers();
    }
}

/// Stores `batch` in one transaction; the outcomes are in the batch's order.
async fn write_batch(queue: &Queue, batch: &[Pending]) -> Result<Vec<Accepted>, sqlx::Error> {
    let now = queue.clock().now_ms();
    let mut tx = queue.db().pool.begin().await?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for pending in batch {
        outcomes.push(store_one(queue, &mut tx, &pending.event, now).await?);
    }
    tx.commit().await?;
    Ok(outcomes)
}
