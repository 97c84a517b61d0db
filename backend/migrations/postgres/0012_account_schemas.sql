-- The account's schema (pipelines, users, custom fields, task types, tags, Salesbots, loss reasons,
-- timezone) as last read from Kommo: the JSON of `domain::schema::Schema` and when it was read
-- (Unix milliseconds), shared by every backend process (engine/schema.rs, store/schema.rs).
-- Keep equivalent to migrations/sqlite/0012_account_schemas.sql.
CREATE TABLE account_schemas (
    account_id  BIGINT PRIMARY KEY,
    schema_json TEXT NOT NULL,
    fetched_at  BIGINT NOT NULL
);
