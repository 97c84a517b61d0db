-- Settings of an account that Kommo's API does not expose: its working hours (the condition
-- "inside working hours / day off"), as the JSON of domain::snapshot::WeeklyHours.
CREATE TABLE account_settings (
    account_id    BIGINT PRIMARY KEY,
    working_hours TEXT NOT NULL,
    updated_at    BIGINT NOT NULL
);
