-- Sign-in matches logins on Unicode lower-case forms computed by Keycard (store/logins.rs), not
-- with lower(): SQLite's lower() folds only ASCII. NULL until Keycard fills them in (at migration
-- and before each lookup); cleared whenever a username or e-mail changes.
ALTER TABLE users ADD COLUMN username_fold TEXT;
ALTER TABLE users ADD COLUMN email_fold TEXT;
CREATE INDEX users_username_fold ON users (username_fold);
CREATE INDEX users_email_fold ON users (email_fold);
CREATE TRIGGER users_fold_reset AFTER UPDATE OF username, email ON users
FOR EACH ROW WHEN OLD.username IS NOT NEW.username OR OLD.email IS NOT NEW.email
BEGIN
    UPDATE users SET username_fold = NULL, email_fold = NULL WHERE id = NEW.id;
END;
