-- Requests captured by the inspector (opt-in). The capture itself is sealed with the
-- secrets' AEAD under a key kept in the secret store; only its request id, times and size
-- are plain.
CREATE TABLE captures (
    request_id    TEXT   PRIMARY KEY,
    started_at_ms BIGINT NOT NULL,
    stored_at_ms  BIGINT NOT NULL,
    size_bytes    BIGINT NOT NULL,
    nonce         BYTEA  NOT NULL,
    sealed        BYTEA  NOT NULL
);
CREATE INDEX captures_started ON captures (started_at_ms);
