-- Switchboard's store. Secrets never live here: keys hold a reference into the secret store
-- (`secret_ref`) or to an environment variable (`env_ref`), exactly one of the two.

CREATE TABLE providers (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    kind          TEXT    NOT NULL,
    base_url      TEXT    NOT NULL,
    enabled       INTEGER NOT NULL,
    priority      INTEGER NOT NULL,
    weight        INTEGER NOT NULL,
    -- The whole `Provider` as JSON (headers, timeouts, drop_params, models, …); the columns
    -- above repeat the fields worth querying.
    data          TEXT    NOT NULL,
    updated_at_ms INTEGER NOT NULL
);

CREATE TABLE keys (
    -- AUTOINCREMENT: a deleted key's id is never reused, since health rows and the request
    -- log refer to keys by id.
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    provider_id   INTEGER NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
    label         TEXT    NOT NULL,
    weight        INTEGER NOT NULL,
    enabled       INTEGER NOT NULL,
    fingerprint   TEXT    NOT NULL,
    last4         TEXT    NOT NULL,
    env_ref       TEXT,
    secret_ref    TEXT,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    CHECK ((env_ref IS NULL) <> (secret_ref IS NULL))
);
CREATE INDEX keys_provider ON keys(provider_id);

CREATE TABLE routes (
    id            INTEGER PRIMARY KEY,
    alias         TEXT    NOT NULL UNIQUE,
    strategy      TEXT    NOT NULL,
    targets       TEXT    NOT NULL,
    updated_at_ms INTEGER NOT NULL
);

CREATE TABLE settings (
    name          TEXT    PRIMARY KEY,
    value         TEXT    NOT NULL,
    updated_at_ms INTEGER NOT NULL
);

CREATE TABLE health (
    key_id        INTEGER NOT NULL REFERENCES keys(id) ON DELETE CASCADE,
    scope         TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (key_id, scope)
);

CREATE TABLE request_log (
    id               TEXT    PRIMARY KEY,
    started_at_ms    INTEGER NOT NULL,
    dialect          TEXT    NOT NULL,
    alias            TEXT    NOT NULL,
    provider         TEXT,
    key_id           INTEGER,
    upstream_model   TEXT,
    status           INTEGER NOT NULL,
    stream           INTEGER NOT NULL,
    latency_ms       INTEGER NOT NULL,
    ttfb_ms          INTEGER,
    tokens_in        INTEGER NOT NULL,
    tokens_out       INTEGER NOT NULL,
    tokens_cached    INTEGER NOT NULL,
    tokens_reasoning INTEGER NOT NULL,
    error            TEXT,
    attempts         TEXT    NOT NULL
);
CREATE INDEX request_log_time     ON request_log(started_at_ms);
CREATE INDEX request_log_alias    ON request_log(alias, started_at_ms);
CREATE INDEX request_log_provider ON request_log(provider, started_at_ms);
CREATE INDEX request_log_status   ON request_log(status, started_at_ms);
