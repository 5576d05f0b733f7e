-- Alert webhooks. The URL (Slack's carries a token) and the signing secret live in the
-- secret store; the row keeps references and a hint to show.
CREATE TABLE webhooks (
    id            INTEGER PRIMARY KEY,
    label         TEXT    NOT NULL,
    format        TEXT    NOT NULL,
    enabled       INTEGER NOT NULL,
    url_hint      TEXT    NOT NULL,
    url_ref       TEXT    NOT NULL,
    signing_ref   TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
);
