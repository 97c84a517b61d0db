-- Actions that are not safe to repeat (notes, tasks, creations, calls out), by a key naming the
-- rule run and the action: 'started' before the Kommo call, 'done' after it. A job repeated after a
-- crash skips what is done and checks Kommo for what was started. Keep equivalent to
-- migrations/postgres/0006_action_runs.sql.
CREATE TABLE action_runs (
    account_id BIGINT NOT NULL,
    action_key TEXT NOT NULL,
    state      TEXT NOT NULL,
    detail     TEXT,
    started_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, action_key)
);
