-- Operators (users, tokens) and the audit log.
-- Portable types only: TEXT, BIGINT (unix milliseconds, booleans 0/1).

CREATE TABLE users (
    username      TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    scope_key     TEXT,
    scope_value   TEXT,
    created_at    BIGINT NOT NULL
);

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    role        TEXT NOT NULL,
    scope_key   TEXT,
    scope_value TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT,
    revoked     BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX tokens_subject ON tokens (kind, subject);

CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     BIGINT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);
