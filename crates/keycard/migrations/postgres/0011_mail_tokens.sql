-- Single-use links mailed to users (e-mail verification, password reset, invitation): a keyed
-- hash of the token, never the token; its purpose and user; the address it was mailed to (a link
-- verifies that address only); a short life; `used_at` set once by one conditional UPDATE, so a
-- link works once across every node. Issuing a reset or invitation link, and any password
-- change, mark the user's other password links used.
-- Keep in step with the other backend's 0011_mail_tokens.sql.
CREATE TABLE mail_tokens (
    token_hash TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    user_id TEXT NOT NULL,
    email TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX mail_tokens_user ON mail_tokens (user_id);
CREATE INDEX mail_tokens_expires ON mail_tokens (expires_at);
