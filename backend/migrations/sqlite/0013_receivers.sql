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
