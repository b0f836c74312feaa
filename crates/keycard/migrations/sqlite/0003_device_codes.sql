-- RFC 8628 device authorization requests. Keep in step with postgres/0003_device_codes.sql.
CREATE TABLE device_codes (
    device_hash TEXT PRIMARY KEY,
    user_code_hash TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    status TEXT NOT NULL,
    user_id TEXT,
    session_sid TEXT,
    auth_time INTEGER,
    poll_interval INTEGER NOT NULL,
    last_polled_at INTEGER,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX device_codes_expires ON device_codes (expires_at);
