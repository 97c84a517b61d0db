-- Talks not heard of for a long time are forgotten (engine/records.rs prune_write_marks); this
-- index keeps that cheap. Keep equivalent to migrations/postgres/0009_talk_memory_pruning.sql.
CREATE INDEX talk_memory_seen ON talk_memory (seen_at);
