-- Clients: named holders of access keys (one per tool or teammate), with their limits.
-- Keys are stored as SHA-256 digests only; the key itself is shown once, at creation.
CREATE TABLE clients (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    name                  TEXT    NOT NULL UNIQUE,
    enabled               INTEGER NOT NULL DEFAULT 1,
    -- JSON array of the aliases/models the client may ask for; NULL: any.
    models                TEXT,
    rpm                   INTEGER,
    tpm                   INTEGER,
    daily_budget_micros   INTEGER,
    monthly_budget_micros INTEGER,
    soft_limit_pct        INTEGER NOT NULL DEFAULT 80,
    expires_at_ms         INTEGER,
    created_at_ms         INTEGER NOT NULL
);

CREATE TABLE client_keys (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id     INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    hash          BLOB    NOT NULL UNIQUE,
    fingerprint   TEXT    NOT NULL,
    last4         TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX client_keys_client ON client_keys(client_id);

-- The access keys Switchboard had before clients existed (the stored one,
-- SWITCHBOARD_ACCESS_KEY, `[server] access_keys`) keep working as this client's.
INSERT INTO clients (name, enabled, created_at_ms) VALUES ('default', 1, 0);
