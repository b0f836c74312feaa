-- Keycard foundation schema (SQLite). Keep in step with postgres/0001_foundation.sql:
-- same tables, same columns; integers are 64-bit, booleans 0/1, binary data base64 text.
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('epoch:clients', '0'), ('epoch:keys', '0');

CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT,
    auth_method TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    scopes TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    access_token_ttl INTEGER NOT NULL,
    token_format TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    settings TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    email TEXT,
    email_verified INTEGER NOT NULL DEFAULT 0,
    name TEXT,
    password_hash TEXT,
    disabled INTEGER NOT NULL DEFAULT 0,
    claims TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_username_lower ON users (lower(username));
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));

CREATE TABLE scopes (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT INTO scopes (name, description, created_at) VALUES
    ('openid', 'Sign you in with your account', 0),
    ('profile', 'See your name and profile', 0),
    ('email', 'See your e-mail address', 0),
    ('offline_access', 'Stay signed in and access your data while you are away', 0);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    private_key TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER,
    publish_until INTEGER
);

CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY,
    jti TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    scope TEXT NOT NULL,
    audience TEXT NOT NULL,
    grant_id TEXT,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX access_tokens_expires ON access_tokens (expires_at);
CREATE INDEX access_tokens_grant ON access_tokens (grant_id);

CREATE TABLE revoked_jtis (
    jti TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX revoked_jtis_expires ON revoked_jtis (expires_at);

CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    client_id TEXT,
    subject TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at ON audit_events (at);
