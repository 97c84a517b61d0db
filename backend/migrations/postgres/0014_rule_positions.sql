-- The place of each rule in its account's list (http/rules.rs: list, position): the list is
-- ordered by it, then by name. Existing rules keep the order they were shown in (by name).
-- Keep equivalent to migrations/sqlite/0014_rule_positions.sql.
ALTER TABLE rules ADD COLUMN position BIGINT NOT NULL DEFAULT 0;
UPDATE rules SET position = (
    SELECT COUNT(*) FROM rules AS earlier
    WHERE earlier.account_id = rules.account_id
      AND (earlier.name < rules.name OR (earlier.name = rules.name AND earlier.id < rules.id))
);
CREATE INDEX rules_position ON rules (account_id, position);
