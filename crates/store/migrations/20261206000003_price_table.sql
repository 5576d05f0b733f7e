-- The model price table loaded by `switchboard prices update` (the bundled one when empty).
CREATE TABLE price_table (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    source       TEXT    NOT NULL,
    loaded_at_ms INTEGER NOT NULL,
    body         BLOB    NOT NULL
);
