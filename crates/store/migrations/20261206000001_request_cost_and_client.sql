-- What each request cost (micro-dollars, NULL when unpriced) and which client sent it.
ALTER TABLE request_log ADD COLUMN cost_micros INTEGER;
ALTER TABLE request_log ADD COLUMN client TEXT;
CREATE INDEX request_log_client ON request_log(client, started_at_ms);
