-- Disposable tokens already used (auth.rs): a `jti` seen before is a replay. Each row lives until
-- its token expires, then is pruned. When a job was dead-lettered, so dead jobs can be pruned after
-- their retention (queue/mod.rs). Keep equivalent to migrations/postgres/0010_seen_tokens_dead_jobs.sql.
CREATE TABLE seen_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX seen_tokens_expiry ON seen_tokens (expires_at);

ALTER TABLE jobs ADD COLUMN dead_at BIGINT;
UPDATE jobs SET dead_at = run_at WHERE state = 'dead';
CREATE INDEX jobs_dead ON jobs (dead_at) WHERE state = 'dead';
