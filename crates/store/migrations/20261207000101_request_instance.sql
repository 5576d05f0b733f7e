-- The Switchboard instance that served each request (NULL for rows from before instances
-- were named).
ALTER TABLE request_log ADD COLUMN instance TEXT;
