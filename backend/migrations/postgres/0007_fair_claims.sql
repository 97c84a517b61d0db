-- Fair claiming (queue/worker.rs): each account's oldest due job, found by a seek per account, and
-- the number of an account's jobs under a lease, found among the few leased rows.
CREATE INDEX jobs_account_due ON jobs (account_id, run_at, id) WHERE state = 'pending';
CREATE INDEX jobs_leased ON jobs (account_id, locked_until) WHERE locked_until IS NOT NULL;
