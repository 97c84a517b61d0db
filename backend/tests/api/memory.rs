//! What the engine remembers between events is forgotten in time, and not before.

use domain::{
    event::{EntityRef, EventKind},
    path::EntityType,
};
use rulebook::engine::{
    records::{prune_write_marks, TALK_MEMORY_MS},
    talks::{observe, TalkSeen, TalkSignal, FIRST_MESSAGE_SLACK_SECONDS},
};

use crate::helpers::{spawn_app, Backend, ACCOUNT, START_MS};

crate::on_both_databases!(a_talk_is_remembered_until_it_has_been_silent_too_long);

fn update(added: bool, open: bool, updated_at: i64) -> TalkSignal {
    TalkSignal {
        talk_id: 7,
        origin: "whatsapp".into(),
        entity: Some(EntityRef {
            entity_type: EntityType::Lead,
            id: 70,
        }),
        seen: TalkSeen::Talk {
            added,
            is_in_work: Some(open),
            updated_at: Some(updated_at),
            created_at: Some(100),
        },
    }
}

async fn a_talk_is_remembered_until_it_has_been_silent_too_long(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = app.db();
    let closes = |events: Vec<domain::event::Event>| {
        events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::ConversationClosed { .. }))
            .count()
    };
    let t0 = START_MS;
    observe(
        db,
        ACCOUNT,
        1,
        &update(true, true, 100),
        t0,
        FIRST_MESSAGE_SLACK_SECONDS,
    )
    .await
    .expect("add");
    let fired = observe(
        db,
        ACCOUNT,
        2,
        &update(false, false, 101),
        t0,
        FIRST_MESSAGE_SLACK_SECONDS,
    )
    .await
    .expect("close");
    assert_eq!(closes(fired), 1);

    let t1 = t0 + TALK_MEMORY_MS - 1;
    prune_write_marks(db, t1).await.expect("prune");
    let fired = observe(
        db,
        ACCOUNT,
        3,
        &update(false, false, 102),
        t1,
        FIRST_MESSAGE_SLACK_SECONDS,
    )
    .await
    .expect("update");
    assert_eq!(closes(fired), 0, "still known closed: no second close");

    let t2 = t1 + TALK_MEMORY_MS + 1;
    let pruned = prune_write_marks(db, t2).await.expect("prune");
    assert!(pruned >= 1, "the silent talk is forgotten");
    let fired = observe(
        db,
        ACCOUNT,
        4,
        &update(false, false, 103),
        t2,
        FIRST_MESSAGE_SLACK_SECONDS,
    )
    .await
    .expect("update");
    assert_eq!(closes(fired), 1, "a forgotten talk's close counts again");
}
