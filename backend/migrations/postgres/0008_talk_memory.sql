-- What was seen of each conversation (Kommo's talk), to fire "conversation started" once when both
-- its talk[add] and its first message were seen (in either order) and "conversation closed" when
-- it goes from open (or unknown) to closed (engine/talks.rs). Keep equivalent to
-- migrations/sqlite/0008_talk_memory.sql.
-- created_at: the talk's, from talk[add]; first_direction / first_at: the earliest message seen;
-- open_state: 1 open, 0 closed, -1 unknown; updated_at: the talk's newest updated_at applied (-1:
-- none); started_by / closed_by: the stored event that fired; seen_at: our clock, Unix ms.
CREATE TABLE talk_memory (
    account_id      BIGINT NOT NULL,
    talk_id         BIGINT NOT NULL,
    added           BIGINT NOT NULL,
    created_at      BIGINT,
    origin          TEXT NOT NULL,
    entity_type     TEXT,
    entity_id       BIGINT,
    first_direction TEXT,
    first_at        BIGINT,
    started_by      BIGINT,
    open_state      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    closed_by       BIGINT,
    seen_at         BIGINT NOT NULL,
    PRIMARY KEY (account_id, talk_id)
);
