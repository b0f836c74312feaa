-- Users sign in: pending authorization requests, SSO sessions, consents, authorization codes,
-- grants (one per redeemed code, holding the refresh-token family state), login throttling.
-- Keep in step with sqlite/0002_user_flows.sql.

CREATE TABLE auth_requests (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    request TEXT NOT NULL,
    browser_hash TEXT NOT NULL,
    session_sid TEXT,
    login_done BIGINT NOT NULL DEFAULT 0,
    consent_done BIGINT NOT NULL DEFAULT 0,
    completed_at BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX auth_requests_expires ON auth_requests (expires_at);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    sid TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    amr TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE consents (
    user_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE TABLE authorization_codes (
    code_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    session_sid TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    redirect_uri_given BIGINT NOT NULL,
    scope TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX authorization_codes_expires ON authorization_codes (expires_at);

CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    session_sid TEXT,
    scope TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    refresh_hash TEXT UNIQUE,
    prev_refresh_hash TEXT,
    generation BIGINT NOT NULL DEFAULT 0,
    refresh_idle_expires_at BIGINT,
    refresh_expires_at BIGINT,
    rotated_at BIGINT,
    replay_response TEXT,
    replay_count BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoked_reason TEXT
);
CREATE INDEX grants_user_client ON grants (user_id, client_id);
CREATE INDEX grants_expires ON grants (expires_at);

CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY,
    attempts BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    locked_until BIGINT
);
