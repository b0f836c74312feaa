-- Opaque access tokens: the jti needs no unique index (a random 128-bit value that nothing looks
-- up; revocation by jti is the revoked_jtis table); one index less to write per token.
ALTER TABLE access_tokens DROP CONSTRAINT IF EXISTS access_tokens_jti_key;
