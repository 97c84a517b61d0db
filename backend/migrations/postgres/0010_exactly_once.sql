-- Each claim of a job gets the next number of its row (`lease_seq`, never reset, unlike
-- `attempts`): the claim's heartbeat, its settling and the actions it starts are fenced on it, so a
-- worker whose lease ran out and was taken over changes nothing of the new owner's.
-- An action run remembers the claim that started it (`owner_job`, `owner_lease`): a performer that
-- finds it `started` while that claim's lease still holds leaves it alone; one whose lease is gone
-- (a crash) is taken over, and its after-a-crash rule applies. Rows written before this have no owner.
-- Keep equivalent to migrations/sqlite/0010_exactly_once.sql.
ALTER TABLE jobs ADD COLUMN lease_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE action_runs ADD COLUMN owner_job BIGINT;
ALTER TABLE action_runs ADD COLUMN owner_lease BIGINT;
