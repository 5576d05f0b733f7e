-- Named users of the dashboard and admin API (password: an Argon2id PHC string; NULL for
-- users who sign in only through OpenID Connect) and their sign-in sessions (the session
-- token is kept only as its SHA-256 digest).
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    password_hash TEXT,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'viewer')),
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at_ms BIGINT  NOT NULL
);

CREATE TABLE user_sessions (
    digest        BLOB    NOT NULL PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at_ms BIGINT  NOT NULL,
    expires_at_ms BIGINT  NOT NULL,
    last_seen_ms  BIGINT  NOT NULL
);
CREATE INDEX user_sessions_user ON user_sessions(user_id);
