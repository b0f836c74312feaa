-- Every refresh token a family rotated away from, by keyed hash: only a token Keycard really
-- issued for a family can trigger its reuse revocation (RFC 9700 §4.14.2); a forged token with
-- a known grant id and an old generation is a plain invalid_grant. Rows go with their family
-- (client deletion, the user-flow purge). Keep in step with postgres/0004_refresh_families.sql.
CREATE TABLE retired_refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    generation INTEGER NOT NULL,
    retired_at INTEGER NOT NULL
);
CREATE INDEX retired_refresh_tokens_grant ON retired_refresh_tokens (grant_id);
-- The previous token of every family rotated before this migration is known: keep it.
INSERT INTO retired_refresh_tokens (token_hash, grant_id, generation, retired_at)
    SELECT prev_refresh_hash, id, generation - 1, COALESCE(rotated_at, created_at) FROM grants
    WHERE prev_refresh_hash IS NOT NULL;
CREATE INDEX grants_client ON grants (client_id);
