-- Thinking-safe switching is on by default: providers saved while it was off by default get it.
UPDATE providers
SET data = json_set(data, '$.quirks.strip_foreign_signatures', json('true'))
WHERE json_type(data, '$.quirks') = 'object';
