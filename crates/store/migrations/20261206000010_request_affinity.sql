-- What session affinity did for a request: `kept`, `moved: <why>`, or NULL (new conversation).
ALTER TABLE request_log ADD COLUMN affinity TEXT;
