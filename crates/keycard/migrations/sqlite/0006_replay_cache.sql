-- One-time values seen by any node (RFC 7523 §3 assertion `jti`, RFC 9449 §11.1 DPoP proof
-- `jti`, ...): a row per (namespace, keyed hash of the value) until the value could no longer be
-- accepted anyway. Keep in step with the other backend's 0006_replay_cache.sql.
CREATE TABLE replay_cache (
    ns TEXT NOT NULL,
    value_hash TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (ns, value_hash)
);
CREATE INDEX replay_cache_expires ON replay_cache (expires_at);
