-- Requests captured by the inspector (opt-in). The capture itself is sealed with the
-- secrets file's AEAD under a key kept in the secret store; only its request id, times and
-- size are plain.
CREATE TABLE captures (
    request_id    TEXT    PRIMARY KEY,
    started_at_ms INTEGER NOT NULL,
    stored_at_ms  INTEGER NOT NULL,
    size_bytes    INTEGER NOT NULL,
    nonce         BLOB    NOT NULL,
    sealed        BLOB    NOT NULL
);
CREATE INDEX captures_started ON captures (started_at_ms);
