-- Storage for rules, variables, the events inbox, the durable job queue and the execution log.
-- Keep equivalent to migrations/postgres/0002_storage.sql. Times are Unix milliseconds; flags are 0/1.

-- The per-account secret in webhook URLs, and the account's Kommo OAuth tokens, encrypted at rest
-- (base64 of nonce || ciphertext || tag, see store::token_cipher).
ALTER TABLE accounts ADD COLUMN webhook_secret TEXT;
ALTER TABLE accounts ADD COLUMN oauth_access_token TEXT;
ALTER TABLE accounts ADD COLUMN oauth_refresh_token TEXT;
ALTER TABLE accounts ADD COLUMN oauth_expires_at BIGINT;

CREATE TABLE rules (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  BIGINT NOT NULL REFERENCES accounts (account_id),
    name        TEXT NOT NULL,
    enabled     BIGINT NOT NULL DEFAULT 1,
    version     BIGINT NOT NULL,
    body        TEXT NOT NULL,
    hook_secret TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (account_id, name)
);

-- Every save of a rule, the current one included.
CREATE TABLE rule_versions (
    rule_id  BIGINT NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
    version  BIGINT NOT NULL,
    name     TEXT NOT NULL,
    body     TEXT NOT NULL,
    saved_by BIGINT NOT NULL,
    saved_at BIGINT NOT NULL,
    PRIMARY KEY (rule_id, version)
);

-- Global variables; a NULL value is a row reserved by an update in progress, not a variable.
CREATE TABLE variables (
    account_id BIGINT NOT NULL,
    name       TEXT NOT NULL,
    value      TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, name)
);

-- The events inbox: every accepted request, raw, once per dedupe key.
CREATE TABLE events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id   BIGINT NOT NULL,
    source       TEXT NOT NULL,
    dedupe_key   TEXT NOT NULL,
    rule_id      BIGINT,
    link_id      BIGINT,
    content_type TEXT,
    body         BLOB NOT NULL,
    received_at  BIGINT NOT NULL,
    processed_at BIGINT,
    UNIQUE (account_id, source, dedupe_key)
);

-- The durable job queue. Finished and cancelled jobs are deleted; failed ones end as state 'dead'.
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id   BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'pending',
    run_at       BIGINT NOT NULL,
    locked_until BIGINT,
    attempts     BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    last_error   TEXT,
    job_key      TEXT,
    rule_id      BIGINT,
    block_id     TEXT,
    action_id    TEXT,
    entity_type  TEXT,
    entity_id    BIGINT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (run_at, id) WHERE state = 'pending';
CREATE INDEX jobs_key ON jobs (account_id, job_key) WHERE job_key IS NOT NULL;
CREATE INDEX jobs_rule ON jobs (account_id, rule_id);
CREATE INDEX jobs_entity ON jobs (account_id, entity_type, entity_id);

-- Trigger links: /t/{id}-{secret} records a click as an event of the rule.
CREATE TABLE trigger_links (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  BIGINT NOT NULL,
    rule_id     BIGINT NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
    secret      TEXT NOT NULL,
    entity_type TEXT,
    entity_id   BIGINT,
    created_at  BIGINT NOT NULL
);

-- The debugger log: the last executions of each rule with their trace (JSON).
CREATE TABLE execution_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  BIGINT NOT NULL,
    rule_id     BIGINT NOT NULL,
    event_id    BIGINT,
    outcome     TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    operations  BIGINT NOT NULL,
    trace       TEXT NOT NULL
);
CREATE INDEX execution_log_rule ON execution_log (rule_id, id);

-- Per-account counters per calendar month (UTC), e.g. '2026-11'.
CREATE TABLE account_usage (
    account_id BIGINT NOT NULL,
    month      TEXT NOT NULL,
    operations BIGINT NOT NULL DEFAULT 0,
    errors     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, month)
);
