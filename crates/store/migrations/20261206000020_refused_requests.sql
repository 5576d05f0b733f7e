-- Requests refused before routing (wrong access key, bad JSON, unknown path): the method and
-- path refused, NULL for routed requests.
ALTER TABLE request_log ADD COLUMN refused TEXT;
