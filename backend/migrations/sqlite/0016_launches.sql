-- Launches: a manual run by hand (a card's button, a list's bulk run) and how each of its runs
-- went. Keep equivalent to migrations/postgres/0016_launches.sql.

CREATE TABLE launches (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id   BIGINT NOT NULL,
    rule_id      BIGINT NOT NULL,
    entity_type  TEXT NOT NULL,
    user_id      BIGINT NOT NULL,
    total        BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    cancelled_at BIGINT
);
CREATE INDEX launches_account ON launches (account_id, id);

-- One row per entity of a launch: its run_rule job while it waits, then the run's verdict as the
-- engine recorded it. status: pending, done, skipped (reason: did_not_match, frequency_exceeded,
-- once_already_fired, outside_active_hours, loop, cancelled, rule_deleted) or failed (error).
CREATE TABLE launch_runs (
    launch_id   BIGINT NOT NULL,
    entity_id   BIGINT NOT NULL,
    account_id  BIGINT NOT NULL,
    job_id      BIGINT,
    status      TEXT NOT NULL DEFAULT 'pending',
    reason      TEXT,
    error       TEXT,
    finished_at BIGINT,
    PRIMARY KEY (launch_id, entity_id)
);
