-- The running Switchboard instances: each writes its own row every few seconds (its
-- heartbeat) and removes it when it stops.
CREATE TABLE instances (
    id                TEXT   PRIMARY KEY,
    version           TEXT   NOT NULL,
    address           TEXT   NOT NULL,
    started_at_ms     BIGINT NOT NULL,
    last_heartbeat_ms BIGINT NOT NULL,
    in_flight         BIGINT NOT NULL
);
