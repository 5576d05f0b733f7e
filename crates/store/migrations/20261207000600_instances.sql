-- The running Switchboard instances: each writes its own row every few seconds (its
-- heartbeat) and removes it when it stops. In SQLite mode there is only the one.
CREATE TABLE instances (
    id                TEXT    PRIMARY KEY,
    version           TEXT    NOT NULL,
    address           TEXT    NOT NULL,
    started_at_ms     INTEGER NOT NULL,
    last_heartbeat_ms INTEGER NOT NULL,
    in_flight         INTEGER NOT NULL
);
