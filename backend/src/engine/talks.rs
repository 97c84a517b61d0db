//! Conversations (Kommo's talks): `talk[add]`, `talk[update]` and the `message[add]`s of a talk
//! become "conversation started" and "conversation closed" events. Webhooks arrive in any order, so
//! what was seen of each talk is remembered per (account, talk) in `talk_memory`:
//!
//! - a conversation starts once, when both its `talk[add]` and its first message were seen (a
//!   talk whose `talk[add]` we never saw predates us and never starts). The first message is the
//!   one that opened the talk: created no later than a few seconds (the engine's
//!   `talk_first_message_slack_s`, by default [`FIRST_MESSAGE_SLACK_SECONDS`]) after the talk, so a later reply that arrives before it does not count. The direction is that
//!   message's, the channel the talk's origin;
//! - it closes when an update shows it closed (`is_in_work` 0) while it was last known open, or
//!   not known at all; an older update than the one remembered changes nothing.
//!
//! The event that fired a start or a close is remembered too, so a job retried after a failure
//! produces the same events again (its rule runs are deduplicated by their run keys).

use domain::{
    event::{Direction, EntityRef, Event, EventKind},
    path::EntityType,
};
use sqlx::Row;

use crate::db::{Db, Dialect};

/// By default, how much later than its talk the message that opened it may be stamped (Kommo's
/// times are whole seconds, taken apart; how far apart is not documented, so it is a setting).
pub const FIRST_MESSAGE_SLACK_SECONDS: i64 = 5;

/// What an incoming item tells about a talk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TalkSignal {
    /// The talk.
    pub talk_id: i64,
    /// The talk's channel (its origin), or the message's.
    pub origin: String,
    /// The talk's lead, else its contact.
    pub entity: Option<EntityRef>,
    /// What was seen.
    pub seen: TalkSeen,
}

/// The talk itself, or one of its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TalkSeen {
    /// `talk[add]` (`added`) or `talk[update]`.
    Talk {
        /// `talk[add]`.
        added: bool,
        /// Open (`Some(true)`), closed, or not said.
        is_in_work: Option<bool>,
        /// Kommo's `updated_at`, Unix seconds.
        updated_at: Option<i64>,
        /// Kommo's `created_at`, Unix seconds.
        created_at: Option<i64>,
    },
    /// A `message[add]` of the talk.
    Message {
        /// Its direction.
        direction: Direction,
        /// Its `created_at`, Unix seconds.
        created_at: Option<i64>,
    },
}

/// What is remembered of a talk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TalkMemory {
    /// Its `talk[add]` was seen.
    pub added: bool,
    /// Its `created_at`, from `talk[add]`.
    pub created_at: Option<i64>,
    /// Its channel.
    pub origin: String,
    /// Its entity.
    pub entity: Option<EntityRef>,
    /// The direction of the earliest message seen before the start.
    pub first_direction: Option<Direction>,
    /// That message's `created_at` (`i64::MAX` when it had none).
    pub first_at: Option<i64>,
    /// The stored event that started the conversation.
    pub started_by: Option<i64>,
    /// Open, closed, or unknown.
    pub open: Option<bool>,
    /// The newest `updated_at` applied (-1: none).
    pub updated_at: i64,
    /// The stored event of the last close.
    pub closed_by: Option<i64>,
}

/// Applies a signal seen in stored event `event_id` to the memory of its talk: the new memory and
/// the conversation events it fires. A message counts as the one that opened the talk when it is
/// stamped at most `first_message_slack_s` after the talk.
pub fn step(
    memory: &TalkMemory,
    signal: &TalkSignal,
    event_id: i64,
    first_message_slack_s: i64,
) -> (TalkMemory, Vec<Event>) {
    let mut next = memory.clone();
    let mut fired = Vec::new();
    if next.origin.is_empty() {
        next.origin = signal.origin.clone();
    }
    match &signal.seen {
        TalkSeen::Talk {
            added,
            is_in_work,
            updated_at,
            created_at,
        } => {
            if *added {
                next.added = true;
                next.created_at = *created_at;
                // The talk's own entity wins over one a message named.
                if signal.entity.is_some() {
                    next.entity = signal.entity;
                }
                if !signal.origin.is_empty() {
                    next.origin = signal.origin.clone();
                }
            } else if next.entity.is_none() {
                next.entity = signal.entity;
            }
            let at = updated_at.unwrap_or(0);
            if at >= next.updated_at {
                next.updated_at = at;
                match is_in_work {
                    Some(false) if !*added && next.open != Some(false) => {
                        next.open = Some(false);
                        next.closed_by = Some(event_id);
                    }
                    Some(open) => next.open = Some(*open),
                    None => {}
                }
            }
            if next.closed_by == Some(event_id) && !*added {
                fired.push(EventKind::ConversationClosed {
                    channel: next.origin.clone(),
                });
            }
        }
        TalkSeen::Message {
            direction,
            created_at,
        } => {
            if next.entity.is_none() {
                next.entity = signal.entity;
            }
            let at = created_at.unwrap_or(i64::MAX);
            if next.started_by.is_none() && next.first_at.is_none_or(|first| at < first) {
                next.first_direction = Some(*direction);
                next.first_at = Some(at);
            }
        }
    }
    let opened_the_talk = match (next.first_at, next.created_at) {
        (Some(first), Some(created)) => {
            first == i64::MAX || first <= created.saturating_add(first_message_slack_s)
        }
        (Some(_), None) => true,
        (None, _) => false,
    };
    if next.started_by.is_none() && next.added && opened_the_talk {
        next.started_by = Some(event_id);
    }
    if next.started_by == Some(event_id) {
        if let Some(direction) = next.first_direction {
            fired.insert(
                0,
                EventKind::ConversationStarted {
                    channel: next.origin.clone(),
                    direction,
                },
            );
        }
    }
    let events = fired
        .into_iter()
        .map(|kind| Event {
            entity: next.entity,
            kind,
            vars: Default::default(),
        })
        .collect();
    (next, events)
}

fn entity_text(entity: Option<EntityRef>) -> (Option<String>, Option<i64>) {
    match entity {
        Some(e) => (Some(e.entity_type.as_str().to_owned()), Some(e.id)),
        None => (None, None),
    }
}

fn entity_type_of(name: &str) -> Option<EntityType> {
    [EntityType::Lead, EntityType::Contact]
        .into_iter()
        .find(|t| t.as_str() == name)
}

fn direction_text(direction: Direction) -> &'static str {
    match direction {
        Direction::Incoming => "incoming",
        Direction::Outgoing => "outgoing",
    }
}

async fn read(
    conn: &mut sqlx::AnyConnection,
    account_id: i64,
    talk_id: i64,
    lock: &str,
) -> Result<Option<TalkMemory>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT added, origin, entity_type, entity_id, first_direction, first_at, started_by,
                open_state, updated_at, closed_by, created_at
         FROM talk_memory WHERE account_id = $1 AND talk_id = $2{lock}"
    ))
    .bind(account_id)
    .bind(talk_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let entity_type: Option<String> = row.try_get(2)?;
    let entity_id: Option<i64> = row.try_get(3)?;
    let first_direction: Option<String> = row.try_get(4)?;
    let open: i64 = row.try_get(7)?;
    Ok(Some(TalkMemory {
        added: row.try_get::<i64, _>(0)? != 0,
        origin: row.try_get(1)?,
        entity: match (entity_type.as_deref().and_then(entity_type_of), entity_id) {
            (Some(entity_type), Some(id)) => Some(EntityRef { entity_type, id }),
            _ => None,
        },
        first_direction: first_direction.map(|d| {
            if d == "outgoing" {
                Direction::Outgoing
            } else {
                Direction::Incoming
            }
        }),
        first_at: row.try_get(5)?,
        started_by: row.try_get(6)?,
        open: match open {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        },
        updated_at: row.try_get(8)?,
        closed_by: row.try_get(9)?,
        created_at: row.try_get(10)?,
    }))
}

/// Applies a signal of stored event `event_id` to its talk's memory, serialised with concurrent
/// workers (the row is written first so SQLite holds the write lock; PostgreSQL locks the row),
/// and returns the conversation events it fires.
pub async fn observe(
    db: &Db,
    account_id: i64,
    event_id: i64,
    signal: &TalkSignal,
    now_ms: i64,
    first_message_slack_s: i64,
) -> Result<Vec<Event>, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    sqlx::query(
        "INSERT INTO talk_memory (account_id, talk_id, added, origin, open_state, updated_at, seen_at)
         VALUES ($1, $2, 0, '', -1, -1, $3) ON CONFLICT (account_id, talk_id) DO NOTHING",
    )
    .bind(account_id)
    .bind(signal.talk_id)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    let lock = match db.dialect {
        Dialect::Postgres => " FOR UPDATE",
        Dialect::Sqlite => "",
    };
    let memory = read(&mut tx, account_id, signal.talk_id, lock)
        .await?
        .unwrap_or_default();
    let (next, events) = step(&memory, signal, event_id, first_message_slack_s);
    if next != memory {
        let (entity_type, entity_id) = entity_text(next.entity);
        sqlx::query(
            "UPDATE talk_memory SET added = $3, origin = $4, entity_type = $5, entity_id = $6,
                 first_direction = $7, first_at = $8, started_by = $9, open_state = $10,
                 updated_at = $11, closed_by = $12, seen_at = $13, created_at = $14
             WHERE account_id = $1 AND talk_id = $2",
        )
        .bind(account_id)
        .bind(signal.talk_id)
        .bind(i64::from(next.added))
        .bind(&next.origin)
        .bind(entity_type)
        .bind(entity_id)
        .bind(next.first_direction.map(direction_text))
        .bind(next.first_at)
        .bind(next.started_by)
        .bind(match next.open {
            Some(true) => 1_i64,
            Some(false) => 0,
            None => -1,
        })
        .bind(next.updated_at)
        .bind(next.closed_by)
        .bind(now_ms)
        .bind(next.created_at)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(events)
}

/// The conversation events stored event `event_id` fired for a signal, read without changing
/// anything (for replays).
pub async fn fired_by(
    db: &Db,
    account_id: i64,
    event_id: i64,
    signal: &TalkSignal,
) -> Result<Vec<Event>, sqlx::Error> {
    let mut conn = db.pool.acquire().await?;
    let Some(memory) = read(&mut conn, account_id, signal.talk_id, "").await? else {
        return Ok(Vec::new());
    };
    let mut events = Vec::new();
    if memory.started_by == Some(event_id) {
        if let Some(direction) = memory.first_direction {
            events.push(EventKind::ConversationStarted {
                channel: memory.origin.clone(),
                direction,
            });
        }
    }
    if memory.closed_by == Some(event_id)
        && matches!(signal.seen, TalkSeen::Talk { added: false, .. })
    {
        events.push(EventKind::ConversationClosed {
            channel: memory.origin.clone(),
        });
    }
    Ok(events
        .into_iter()
        .map(|kind| Event {
            entity: memory.entity,
            kind,
            vars: Default::default(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead() -> Option<EntityRef> {
        Some(EntityRef {
            entity_type: EntityType::Lead,
            id: 9,
        })
    }

    fn talk(added: bool, open: bool, at: i64) -> TalkSignal {
        TalkSignal {
            talk_id: 1,
            origin: "whatsapp".into(),
            entity: lead(),
            seen: TalkSeen::Talk {
                added,
                is_in_work: Some(open),
                updated_at: Some(at),
                created_at: Some(at),
            },
        }
    }

    fn message(direction: Direction, at: i64) -> TalkSignal {
        TalkSignal {
            talk_id: 1,
            origin: "whatsapp".into(),
            entity: Some(EntityRef {
                entity_type: EntityType::Contact,
                id: 4,
            }),
            seen: TalkSeen::Message {
                direction,
                created_at: Some(at),
            },
        }
    }

    fn run(signals: &[(i64, TalkSignal)]) -> (TalkMemory, Vec<(i64, Event)>) {
        let mut memory = TalkMemory {
            updated_at: -1,
            ..TalkMemory::default()
        };
        let mut out = Vec::new();
        for (event_id, signal) in signals {
            let (next, events) = step(&memory, signal, *event_id, FIRST_MESSAGE_SLACK_SECONDS);
            memory = next;
            out.extend(events.into_iter().map(|e| (*event_id, e)));
        }
        (memory, out)
    }

    fn started(direction: Direction) -> Event {
        Event {
            entity: lead(),
            kind: EventKind::ConversationStarted {
                channel: "whatsapp".into(),
                direction,
            },
            vars: Default::default(),
        }
    }

    #[test]
    fn a_conversation_starts_once_when_its_talk_and_first_message_are_seen_in_either_order() {
        let (_, fired) = run(&[
            (1, talk(true, true, 100)),
            (2, message(Direction::Incoming, 100)),
            (3, message(Direction::Outgoing, 101)),
            (4, talk(false, true, 101)),
        ]);
        assert_eq!(fired, vec![(2, started(Direction::Incoming))]);
        let (_, fired) = run(&[
            (2, message(Direction::Outgoing, 100)),
            (3, message(Direction::Incoming, 101)),
            (1, talk(true, true, 100)),
        ]);
        assert_eq!(fired, vec![(1, started(Direction::Outgoing))]);
        // The message that opened the talk is the first even when a reply arrives before it.
        let (_, fired) = run(&[
            (3, message(Direction::Incoming, 160)),
            (2, message(Direction::Outgoing, 100)),
            (1, talk(true, true, 100)),
        ]);
        assert_eq!(fired, vec![(1, started(Direction::Outgoing))]);
        let (_, fired) = run(&[
            (1, talk(true, true, 100)),
            (3, message(Direction::Incoming, 160)),
            (2, message(Direction::Outgoing, 101)),
        ]);
        assert_eq!(fired, vec![(2, started(Direction::Outgoing))]);
    }

    #[test]
    fn a_talk_whose_add_was_never_seen_never_starts() {
        let (_, fired) = run(&[
            (1, message(Direction::Incoming, 100)),
            (2, talk(false, true, 100)),
            (3, message(Direction::Incoming, 101)),
        ]);
        assert!(fired.is_empty(), "{fired:?}");
    }

    #[test]
    fn a_close_fires_once_and_a_reopened_talk_can_close_again() {
        let closed = |id| {
            (
                id,
                Event {
                    entity: lead(),
                    kind: EventKind::ConversationClosed {
                        channel: "whatsapp".into(),
                    },
                    vars: Default::default(),
                },
            )
        };
        let (_, fired) = run(&[
            (1, talk(false, false, 100)),
            (2, talk(false, false, 101)),
            (3, talk(false, true, 102)),
            (4, talk(false, true, 90)),
            (5, talk(false, false, 103)),
            (6, talk(false, false, 104)),
        ]);
        assert_eq!(fired, vec![closed(1), closed(5)]);
        // An older update than the close does not reopen it.
        let (_, fired) = run(&[
            (1, talk(false, false, 100)),
            (2, talk(false, true, 99)),
            (3, talk(false, false, 100)),
        ]);
        assert_eq!(fired, vec![closed(1)]);
    }

    #[test]
    fn how_late_the_opening_message_may_be_is_the_slack_setting() {
        let memory = TalkMemory {
            updated_at: -1,
            ..TalkMemory::default()
        };
        for (slack, starts) in [(5, false), (15, true)] {
            let (after_talk, _) = step(&memory, &talk(true, true, 100), 1, slack);
            let (_, fired) = step(&after_talk, &message(Direction::Incoming, 110), 2, slack);
            assert_eq!(fired.len(), usize::from(starts), "slack {slack}: {fired:?}");
        }
    }

    #[test]
    fn the_event_that_fired_fires_again_when_its_job_is_retried() {
        let (memory, _) = run(&[
            (1, talk(true, true, 100)),
            (2, message(Direction::Incoming, 100)),
            (3, talk(false, false, 101)),
        ]);
        let (_, again) = step(
            &memory,
            &message(Direction::Incoming, 100),
            2,
            FIRST_MESSAGE_SLACK_SECONDS,
        );
        assert_eq!(again, vec![started(Direction::Incoming)]);
        let (_, again) = step(
            &memory,
            &talk(false, false, 101),
            3,
            FIRST_MESSAGE_SLACK_SECONDS,
        );
        assert!(matches!(
            again.as_slice(),
            [Event {
                kind: EventKind::ConversationClosed { .. },
                ..
            }]
        ));
    }
}
