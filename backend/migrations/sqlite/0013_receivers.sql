-- Inbound webhook receivers: named URLs (/hooks/in/{account_id}/r{id}-{secret}) that feed every
-- enabled rule whose inbound-webhook trigger names them, and the last requests of each (pruned to
-- 100 per receiver when one is stored). Trigger links count their clicks. Keep equivalent to
-- migrations/postgres/0013_receivers.sql.
CREATE TABLE receivers (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT NOT NULL,
    name       TEXT NOT NULL,
    secret     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (account_id, name)
);

-- The body is kept up to a cap (`truncated` says it was cut; `body_bytes` is its full size); the
-- variables (JSON object text) were read from the whole request.
CREATE TABLE receiver_requests (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id   BIGINT NOT NULL,
    receiver_id  BIGINT NOT NULL,
    method       TEXT NOT NULL,
    content_type TEXT,
    query        TEXT,
    body         BLOB NOT NULL,
    body_bytes   BIGINT NOT NULL,
    truncated    BIGINT NOT NULL,
    variables    TEXT NOT NULL,
    event_id     BIGINT,
    received_at  BIGINT NOT NULL
);
CREATE INDEX receiver_requests_receiver ON receiver_requests (account_id, receiver_id, id);

-- The receiver an inbound event came through, and the request's query string (its variables too).
ALTER TABLE events ADD COLUMN receiver_id BIGINT;
ALTER TABLE events ADD COLUMN query TEXT;

ALTER TABLE trigger_links ADD COLUMN clicks BIGINT NOT NULL DEFAULT 0;

-- Each rule with an inbound-webhook trigger (and a key not revoked) gets a receiver named after it,
-- with the secret of the rule's own key, and its trigger names that receiver (the current version
-- in the history too). The rule's own URL keeps running it as well.
INSERT INTO receivers (account_id, name, secret, created_at)
SELECT account_id, name, hook_secret, updated_at FROM rules
WHERE json_valid(body) AND json_extract(body, '$.trigger.kind') = 'inbound_webhook'
  AND json_extract(body, '$.trigger.receiver_id') IS NULL AND hook_secret NOT LIKE '!%';
UPDATE rule_versions SET body = json_set(body, '$.trigger.receiver_id',
    (SELECT r.id FROM receivers r JOIN rules ru ON r.account_id = ru.account_id AND r.name = ru.name
     WHERE ru.id = rule_versions.rule_id))
WHERE json_valid(body) AND EXISTS (
    SELECT 1 FROM receivers r JOIN rules ru ON r.account_id = ru.account_id AND r.name = ru.name
    WHERE ru.id = rule_versions.rule_id AND ru.version = rule_versions.version);
UPDATE rules SET body = json_set(body, '$.trigger.receiver_id',
    (SELECT r.id FROM receivers r WHERE r.account_id = rules.account_id AND r.name = rules.name))
WHERE json_valid(body) AND EXISTS (
    SELECT 1 FROM receivers r WHERE r.account_id = rules.account_id AND r.name = rules.name);
