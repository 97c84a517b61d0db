-- The Kommo request rate limit shared by every backend process on this database: per key (the
-- account), the earliest time the next request may be sent, Unix milliseconds.
CREATE TABLE rate_limits (
    limit_key    TEXT PRIMARY KEY,
    next_free_at BIGINT NOT NULL
);
