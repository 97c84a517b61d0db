-- The rule engine's own state. Keep equivalent to migrations/sqlite/0003_engine.sql.
-- Times are Unix milliseconds; flags are 0/1.

-- Where the account's Kommo API lives: https://{subdomain}.kommo.com by default, another base URL
-- (the emulator, a proxy) when set.
ALTER TABLE accounts ADD COLUMN kommo_base_url TEXT;

-- Per rule and entity: when the rule last ran for it and whether it ever fired (frequency limit and
-- "once per entity").
CREATE TABLE rule_entity_state (
    account_id  BIGINT NOT NULL,
    rule_id     BIGINT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id   BIGINT NOT NULL,
    last_run_at BIGINT,
    fired_once  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (rule_id, entity_type, entity_id)
);

-- The last tags and custom field values seen of each entity, to tell which fields and tags an
-- update webhook (which carries the new state only) changed.
CREATE TABLE entity_memory (
    account_id  BIGINT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id   BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    tags        TEXT NOT NULL,
    fields      TEXT NOT NULL,
    PRIMARY KEY (account_id, entity_type, entity_id)
);

-- Our own writes to Kommo: an event about an entity we wrote to a moment ago is part of the chain
-- that caused the write, one step deeper (loop protection).
CREATE TABLE engine_writes (
    account_id  BIGINT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id   BIGINT NOT NULL,
    depth       BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX engine_writes_entity ON engine_writes (account_id, entity_type, entity_id);

-- Rule runs already done, by a key naming the event (or job) and the rule: a job run again after a
-- crash skips them.
CREATE TABLE rule_runs (
    account_id BIGINT NOT NULL,
    run_key    TEXT NOT NULL,
    done_at    BIGINT NOT NULL,
    PRIMARY KEY (account_id, run_key)
);

-- Tasks created with result options: closing one with a result starts that option's rule.
CREATE TABLE task_results (
    account_id BIGINT NOT NULL,
    task_id    BIGINT NOT NULL,
    options    TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id  BIGINT NOT NULL,
    PRIMARY KEY (account_id, task_id)
);
