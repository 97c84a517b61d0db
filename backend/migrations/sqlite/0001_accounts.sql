-- Kommo accounts that have used Rulebook. The account id is the tenant of every other row.
CREATE TABLE accounts (
    account_id  BIGINT PRIMARY KEY,
    subdomain   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
