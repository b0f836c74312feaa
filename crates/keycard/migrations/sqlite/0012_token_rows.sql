-- Opaque access tokens: the jti needs no unique index (a random 128-bit value that nothing looks
-- up; revocation by jti is the revoked_jtis table). Each index is one more random B-tree page
-- written per token, and on SQLite's single writer those pages are the cost of a token
-- (docs/reliability.md §8). SQLite cannot drop a column's UNIQUE constraint: the table is rebuilt.
CREATE TABLE access_tokens_0012 (
    token_hash TEXT PRIMARY KEY,
    jti TEXT NOT NULL,
    client_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    scope TEXT NOT NULL,
    audience TEXT NOT NULL,
    grant_id TEXT,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    dpop_jkt TEXT
);
INSERT INTO access_tokens_0012 (token_hash, jti, client_id, subject, scope, audience, grant_id, issued_at,
    expires_at, revoked_at, dpop_jkt)
SELECT token_hash, jti, client_id, subject, scope, audience, grant_id, issued_at, expires_at, revoked_at, dpop_jkt
FROM access_tokens;
DROP TABLE access_tokens;
ALTER TABLE access_tokens_0012 RENAME TO access_tokens;
CREATE INDEX access_tokens_expires ON access_tokens (expires_at);
CREATE INDEX access_tokens_grant ON access_tokens (grant_id);
