-- Sign-in matches logins on Unicode lower-case forms computed by Keycard (store/logins.rs), not
-- with lower(): PostgreSQL's lower() follows the database locale (and folds only ASCII under C).
-- NULL until Keycard fills them in (at migration and before each lookup); cleared whenever a
-- username or e-mail changes.
ALTER TABLE users ADD COLUMN username_fold TEXT;
ALTER TABLE users ADD COLUMN email_fold TEXT;
CREATE INDEX users_username_fold ON users (username_fold);
CREATE INDEX users_email_fold ON users (email_fold);
CREATE FUNCTION users_fold_reset() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.username_fold := NULL;
    NEW.email_fold := NULL;
    RETURN NEW;
END
$$;
CREATE TRIGGER users_fold_reset BEFORE UPDATE OF username, email ON users
FOR EACH ROW WHEN (OLD.username IS DISTINCT FROM NEW.username OR OLD.email IS DISTINCT FROM NEW.email)
EXECUTE FUNCTION users_fold_reset();
