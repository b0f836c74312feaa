-- Pushed authorization requests (RFC 9126): the pushed parameters under a keyed hash of the
-- request_uri's random part, bound to the pushing client, single use (`used_at`), short-lived.
-- Keep in step with the other backend's 0007_pushed_requests.sql.
CREATE TABLE pushed_requests (
    uri_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    params TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX pushed_requests_expires ON pushed_requests (expires_at);
