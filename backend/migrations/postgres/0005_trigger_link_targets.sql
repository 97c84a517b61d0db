-- Trigger links get a name and the page a click is sent on to; a click on a "manual" link
-- (/t/{token}/{entity_id}/{kind}) records the entity it names on the event.
ALTER TABLE trigger_links ADD COLUMN name TEXT;
ALTER TABLE trigger_links ADD COLUMN target_url TEXT;
ALTER TABLE events ADD COLUMN entity_type TEXT;
ALTER TABLE events ADD COLUMN entity_id BIGINT;
