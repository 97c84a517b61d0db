-- "Why not" for an entity and the statistics screens. Keep equivalent to
-- migrations/sqlite/0015_entity_runs_and_counters.sql.

-- Each logged run names the entity of its event and its verdict (fired, did_not_match, …), so the
-- runs of one entity are read newest first through one index.
ALTER TABLE execution_log ADD COLUMN entity_type TEXT;
ALTER TABLE execution_log ADD COLUMN entity_id BIGINT;
ALTER TABLE execution_log ADD COLUMN verdict TEXT;
CREATE INDEX execution_log_entity ON execution_log (account_id, entity_type, entity_id, id);

-- Per-account counters per calendar day (UTC), e.g. '2026-11-21'.
CREATE TABLE account_usage_daily (
    account_id BIGINT NOT NULL,
    day        TEXT NOT NULL,
    operations BIGINT NOT NULL DEFAULT 0,
    errors     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, day)
);

-- Per-rule counters since the rule was created: the log keeps only the last runs, these count all.
CREATE TABLE rule_stats (
    account_id  BIGINT NOT NULL,
    rule_id     BIGINT NOT NULL,
    runs        BIGINT NOT NULL DEFAULT 0,
    fires       BIGINT NOT NULL DEFAULT 0,
    errors      BIGINT NOT NULL DEFAULT 0,
    last_run_at BIGINT,
    PRIMARY KEY (account_id, rule_id)
);
