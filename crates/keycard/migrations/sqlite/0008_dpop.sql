-- RFC 9449 DPoP: the RFC 7638 thumbprint a value is bound to. On an authorization code, the
-- `dpop_jkt` of the authorization request (§10); on a grant, the key a public client's refresh
-- tokens are bound to (§5); on an opaque access token, its `cnf.jkt` (§6.2). NULL: not bound.
-- Keep in step with the other backend's 0008_dpop.sql.
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT;
ALTER TABLE grants ADD COLUMN dpop_jkt TEXT;
ALTER TABLE access_tokens ADD COLUMN dpop_jkt TEXT;
