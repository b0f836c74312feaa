//! Storage: one [`Store`] over SQLite (embedded default) or PostgreSQL (many nodes), chosen by the
//! database URL.
//!
//! Both backends run the SAME queries through sqlx's `Any` driver: every statement is written in
//! the common dialect (`$n` placeholders in order of first use, `RETURNING`, `ON CONFLICT`),
//! integers are 64-bit, booleans are 0/1 and binary data is base64 text, so one implementation
//! serves both and cannot drift. Only the DDL differs: `migrations/sqlite` and
//! `migrations/postgres` hold the same tables under the same numbers.
//!
//! State changes that must be atomic across nodes are single conditional statements
//! (`UPDATE … WHERE revoked_at IS NULL`), never read-then-write.
//!
//! Extending: add the method here, the table to both migration sets under a new number, and a test
//! to [`conformance`], which runs on both backends.

pub mod conformance;
mod migrate;

use crate::clock::UnixTime;
use crate::model::{
    AuthMethod, Client, ClientSettings, GrantType, ScopeDef, StoredAccessToken, StoredKey,
    TokenFormat, User,
};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::time::Duration;

/// Which database the store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite (WAL mode).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A storage failure. Callers map `Unavailable` to 503 and never to a protocol answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or timed out.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A unique constraint was violated (e.g. a client id or username already exists).
    #[error("already exists: {0}")]
    Conflict(String),
    /// A row could not be decoded into the model.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.message().to_owned())
            }
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e),
            _ => StoreError::Database(e),
        }
    }
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// Connection settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Pool size.
    pub max_connections: u32,
    /// How long to wait for a connection from the pool.
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// Cache epochs: counters bumped on every change so that every node can drop its caches
/// (see `cache.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Epochs {
    /// Bumped on every client change.
    pub clients: i64,
    /// Bumped on every signing-key change.
    pub keys: i64,
}

/// The storage handle; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

fn bool_i(b: bool) -> i64 {
    i64::from(b)
}

fn split_words(s: &str) -> Vec<String> {
    s.split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

macro_rules! client_columns {
    () => {
        "id, name, secret_hash, auth_method, grant_types, scopes, redirect_uris, access_token_ttl, token_format, disabled, settings, created_at, updated_at"
    };
}
macro_rules! user_columns {
    () => {
        "id, username, email, email_verified, name, password_hash, disabled, created_at, updated_at"
    };
}
macro_rules! key_columns {
    () => {
        "kid, alg, private_key, public_jwk, created_at, retired_at, publish_until"
    };
}

fn client_from_row(r: &AnyRow) -> StoreResult<Client> {
    let grant_types = split_words(&r.try_get::<String, _>("grant_types")?)
        .iter()
        .map(|g| g.parse::<GrantType>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| corrupt("client grant_types", e))?;
    let redirect_uris: Vec<String> =
        serde_json::from_str(&r.try_get::<String, _>("redirect_uris")?)
            .map_err(|e| corrupt("client redirect_uris", e))?;
    let settings: ClientSettings = serde_json::from_str(&r.try_get::<String, _>("settings")?)
        .map_err(|e| corrupt("client settings", e))?;
    Ok(Client {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        secret_hash: r.try_get("secret_hash")?,
        auth_method: r
            .try_get::<String, _>("auth_method")?
            .parse::<AuthMethod>()
            .map_err(|e| corrupt("client auth_method", e))?,
        grant_types,
        scopes: split_words(&r.try_get::<String, _>("scopes")?),
        redirect_uris,
        access_token_ttl: r.try_get("access_token_ttl")?,
        token_format: r
            .try_get::<String, _>("token_format")?
            .parse::<TokenFormat>()
            .map_err(|e| corrupt("client token_format", e))?,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        settings,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn user_from_row(r: &AnyRow) -> StoreResult<User> {
    Ok(User {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        email: r.try_get("email")?,
        email_verified: r.try_get::<i64, _>("email_verified")? != 0,
        name: r.try_get("name")?,
        password_hash: r.try_get("password_hash")?,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn key_from_row(r: &AnyRow) -> StoreResult<StoredKey> {
    Ok(StoredKey {
        kid: r.try_get("kid")?,
        alg: r.try_get("alg")?,
        private_key: r.try_get("private_key")?,
        public_jwk: r.try_get("public_jwk")?,
        created_at: r.try_get("created_at")?,
        retired_at: r.try_get("retired_at")?,
        publish_until: r.try_get("publish_until")?,
    })
}

fn token_from_row(r: &AnyRow) -> StoreResult<StoredAccessToken> {
    Ok(StoredAccessToken {
        token_hash: r.try_get("token_hash")?,
        jti: r.try_get("jti")?,
        client_id: r.try_get("client_id")?,
        subject: r.try_get("subject")?,
        scope: r.try_get("scope")?,
        audience: r.try_get("audience")?,
        grant_id: r.try_get("grant_id")?,
        issued_at: r.try_get("issued_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

impl Store {
    /// Connects to `url` (`sqlite://path`, `sqlite::memory:`, `postgres://…`). Does not retry:
    /// start-up wraps this in a bounded retry. SQLite files are created when missing and run in
    /// WAL mode with a busy timeout.
    pub async fn connect(url: &str, opts: &StoreOptions) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Corrupt(
                "database.url must start with sqlite:// or postgres://".into(),
            ));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") && !url.contains(":memory:") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let max = match backend {
            // SQLite has one writer; more connections only add lock contention for writes but
            // help concurrent reads in WAL mode.
            Backend::Sqlite => opts.max_connections.clamp(1, 8),
            Backend::Postgres => opts.max_connections.max(1),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(opts.acquire_timeout)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlx::raw_sql(
                            "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000; \
                             PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
                        )
                        .execute(conn)
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        Ok(Store { pool, backend })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations; safe to run from several nodes at once.
    pub async fn migrate(&self) -> StoreResult<Vec<String>> {
        migrate::run(&self.pool, self.backend).await
    }

    /// Is the database reachable? (`/readyz`)
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ── cache epochs ────────────────────────────────────────────────────────────────────────

    async fn bump_epoch(&self, name: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) WHERE key = $1",
        )
        .bind(format!("epoch:{name}"))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Current cache epochs.
    pub async fn epochs(&self) -> StoreResult<Epochs> {
        let rows = sqlx::query("SELECT key, value FROM meta WHERE key LIKE 'epoch:%'")
            .fetch_all(&self.pool)
            .await?;
        let mut e = Epochs::default();
        for r in rows {
            let key: String = r.try_get("key")?;
            let value: i64 = r
                .try_get::<String, _>("value")?
                .parse()
                .map_err(|e| corrupt("epoch", e))?;
            match key.as_str() {
                "epoch:clients" => e.clients = value,
                "epoch:keys" => e.keys = value,
                _ => {}
            }
        }
        Ok(e)
    }

    // ── clients ─────────────────────────────────────────────────────────────────────────────

    /// Inserts a client; `Conflict` when the id exists.
    pub async fn create_client(&self, c: &Client) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO clients (",
            client_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.secret_hash)
        .bind(c.auth_method.as_str())
        .bind(join_grants(&c.grant_types))
        .bind(c.scopes.join(" "))
        .bind(json(&c.redirect_uris))
        .bind(c.access_token_ttl)
        .bind(c.token_format.as_str())
        .bind(bool_i(c.disabled))
        .bind(json(&c.settings))
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(&self.pool)
        .await?;
        self.bump_epoch("clients").await
    }

    /// Replaces every field of an existing client; false when it does not exist.
    pub async fn update_client(&self, c: &Client) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE clients SET name = $2, secret_hash = $3, auth_method = $4, grant_types = $5, scopes = $6, \
             redirect_uris = $7, access_token_ttl = $8, token_format = $9, disabled = $10, settings = $11, \
             updated_at = $12 WHERE id = $1",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.secret_hash)
        .bind(c.auth_method.as_str())
        .bind(join_grants(&c.grant_types))
        .bind(c.scopes.join(" "))
        .bind(json(&c.redirect_uris))
        .bind(c.access_token_ttl)
        .bind(c.token_format.as_str())
        .bind(bool_i(c.disabled))
        .bind(json(&c.settings))
        .bind(c.updated_at)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0;
        self.bump_epoch("clients").await?;
        Ok(done)
    }

    /// A client by id.
    pub async fn get_client(&self, id: &str) -> StoreResult<Option<Client>> {
        sqlx::query(concat!(
            "SELECT ",
            client_columns!(),
            " FROM clients WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(client_from_row)
        .transpose()
    }

    /// Every client, ordered by id.
    pub async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        sqlx::query(concat!(
            "SELECT ",
            client_columns!(),
            " FROM clients ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(client_from_row)
        .collect()
    }

    /// Deletes a client and its opaque tokens; false when it did not exist.
    pub async fn delete_client(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM access_tokens WHERE client_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM clients WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        self.bump_epoch("clients").await?;
        Ok(n > 0)
    }

    /// The longest access-token lifetime of any client (for key rotation: how long an old key
    /// must stay published).
    pub async fn max_access_token_ttl(&self) -> StoreResult<i64> {
        let r = sqlx::query("SELECT COALESCE(MAX(access_token_ttl), 0) AS m FROM clients")
            .fetch_one(&self.pool)
            .await?;
        Ok(r.try_get::<i64, _>("m")?)
    }

    // ── users ───────────────────────────────────────────────────────────────────────────────

    /// Inserts a user; `Conflict` when the id, username or e-mail exists (case-insensitively).
    pub async fn create_user(&self, u: &User) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO users (",
            user_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(&u.id)
        .bind(&u.username)
        .bind(&u.email)
        .bind(bool_i(u.email_verified))
        .bind(&u.name)
        .bind(&u.password_hash)
        .bind(bool_i(u.disabled))
        .bind(u.created_at)
        .bind(u.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Replaces every field of an existing user; false when it does not exist.
    pub async fn update_user(&self, u: &User) -> StoreResult<bool> {
        Ok(sqlx::query(
            "UPDATE users SET username = $2, email = $3, email_verified = $4, name = $5, password_hash = $6, \
             disabled = $7, updated_at = $8 WHERE id = $1",
        )
        .bind(&u.id)
        .bind(&u.username)
        .bind(&u.email)
        .bind(bool_i(u.email_verified))
        .bind(&u.name)
        .bind(&u.password_hash)
        .bind(bool_i(u.disabled))
        .bind(u.updated_at)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    /// A user by id.
    pub async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
        sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(user_from_row)
        .transpose()
    }

    /// A user by username or e-mail, case-insensitively (the login form accepts either).
    pub async fn find_user(&self, login: &str) -> StoreResult<Option<User>> {
        sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE lower(username) = lower($1) OR lower(email) = lower($1) \
             ORDER BY CASE WHEN lower(username) = lower($1) THEN 0 ELSE 1 END LIMIT 1"
        ))
        .bind(login)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(user_from_row)
        .transpose()
    }

    /// Every user, ordered by username.
    pub async fn list_users(&self) -> StoreResult<Vec<User>> {
        sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users ORDER BY lower(username)"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(user_from_row)
        .collect()
    }

    /// Deletes a user; false when they did not exist.
    pub async fn delete_user(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM access_tokens WHERE subject = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    // ── scopes ──────────────────────────────────────────────────────────────────────────────

    /// Creates a scope or updates its description.
    pub async fn upsert_scope(&self, s: &ScopeDef, now: UnixTime) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO scopes (name, description, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET description = excluded.description",
        )
        .bind(&s.name)
        .bind(&s.description)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Creates a scope only if it does not exist yet (keeps an existing description).
    pub async fn ensure_scope(&self, name: &str, now: UnixTime) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO scopes (name, description, created_at) VALUES ($1, '', $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every scope, ordered by name.
    pub async fn list_scopes(&self) -> StoreResult<Vec<ScopeDef>> {
        sqlx::query("SELECT name, description FROM scopes ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(ScopeDef {
                    name: r.try_get("name")?,
                    description: r.try_get("description")?,
                })
            })
            .collect()
    }

    /// Deletes a scope; false when it did not exist.
    pub async fn delete_scope(&self, name: &str) -> StoreResult<bool> {
        Ok(sqlx::query("DELETE FROM scopes WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }

    // ── signing keys ────────────────────────────────────────────────────────────────────────

    /// Stores a new signing key.
    pub async fn insert_key(&self, k: &StoredKey) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO signing_keys (",
            key_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(&k.kid)
        .bind(&k.alg)
        .bind(&k.private_key)
        .bind(&k.public_jwk)
        .bind(k.created_at)
        .bind(k.retired_at)
        .bind(k.publish_until)
        .execute(&self.pool)
        .await?;
        self.bump_epoch("keys").await
    }

    /// Every key, newest first.
    pub async fn list_keys(&self) -> StoreResult<Vec<StoredKey>> {
        sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM signing_keys ORDER BY created_at DESC, kid"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(key_from_row)
        .collect()
    }

    /// Atomically installs `new` as the active key of its algorithm and retires the previous
    /// active key(s) of that algorithm, which stay published until `publish_until`.
    pub async fn rotate_key(
        &self,
        new: &StoredKey,
        now: UnixTime,
        publish_until: UnixTime,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE signing_keys SET retired_at = $1, publish_until = $2 WHERE alg = $3 AND retired_at IS NULL",
        )
        .bind(now)
        .bind(publish_until)
        .bind(&new.alg)
        .execute(&mut *tx)
        .await?;
        sqlx::query(concat!(
            "INSERT INTO signing_keys (",
            key_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, NULL, NULL)"
        ))
        .bind(&new.kid)
        .bind(&new.alg)
        .bind(&new.private_key)
        .bind(&new.public_jwk)
        .bind(new.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.bump_epoch("keys").await
    }

    /// Removes retired keys whose publication period has ended; returns how many.
    pub async fn purge_keys(&self, now: UnixTime) -> StoreResult<u64> {
        let n = sqlx::query(
            "DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND publish_until < $1",
        )
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n > 0 {
            self.bump_epoch("keys").await?;
        }
        Ok(n)
    }

    // ── access tokens and revocation ────────────────────────────────────────────────────────

    /// Stores an opaque access token (by hash).
    pub async fn insert_access_token(&self, t: &StoredAccessToken) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO access_tokens (token_hash, jti, client_id, subject, scope, audience, grant_id, \
             issued_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&t.token_hash)
        .bind(&t.jti)
        .bind(&t.client_id)
        .bind(&t.subject)
        .bind(&t.scope)
        .bind(&t.audience)
        .bind(&t.grant_id)
        .bind(t.issued_at)
        .bind(t.expires_at)
        .bind(t.revoked_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// An opaque access token by hash.
    pub async fn get_access_token(&self, hash: &str) -> StoreResult<Option<StoredAccessToken>> {
        sqlx::query(
            "SELECT token_hash, jti, client_id, subject, scope, audience, grant_id, issued_at, expires_at, \
             revoked_at FROM access_tokens WHERE token_hash = $1",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(token_from_row)
        .transpose()
    }

    /// Revokes an opaque access token if it belongs to `client_id`; true when this call revoked it.
    pub async fn revoke_access_token(
        &self,
        hash: &str,
        client_id: &str,
        now: UnixTime,
    ) -> StoreResult<bool> {
        Ok(sqlx::query(
            "UPDATE access_tokens SET revoked_at = $1 WHERE token_hash = $2 AND client_id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(hash)
        .bind(client_id)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    /// Puts a JWT's `jti` on the revocation list until the token's own expiry.
    pub async fn revoke_jti(&self, jti: &str, expires_at: UnixTime) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO revoked_jtis (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Is `jti` on the revocation list?
    pub async fn is_jti_revoked(&self, jti: &str) -> StoreResult<bool> {
        Ok(
            sqlx::query("SELECT 1 AS one FROM revoked_jtis WHERE jti = $1")
                .bind(jti)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// Deletes expired opaque tokens and revocation-list entries, at most `batch` rows of each
    /// per call so that a large backlog never holds a long lock; returns rows deleted.
    pub async fn purge_expired(&self, now: UnixTime, batch: i64) -> StoreResult<u64> {
        let a = sqlx::query(
            "DELETE FROM access_tokens WHERE token_hash IN \
             (SELECT token_hash FROM access_tokens WHERE expires_at < $1 LIMIT $2)",
        )
        .bind(now)
        .bind(batch)
        .execute(&self.pool)
        .await?
        .rows_affected();
        let b = sqlx::query(
            "DELETE FROM revoked_jtis WHERE jti IN (SELECT jti FROM revoked_jtis WHERE expires_at < $1 LIMIT $2)",
        )
        .bind(now)
        .bind(batch)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(a + b)
    }

    // ── audit ───────────────────────────────────────────────────────────────────────────────

    /// Records a security event (never with secrets in `detail`).
    pub async fn record_event(
        &self,
        now: UnixTime,
        kind: &str,
        client_id: Option<&str>,
        subject: Option<&str>,
        detail: &serde_json::Value,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_events (at, kind, client_id, subject, detail) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(now)
        .bind(kind)
        .bind(client_id)
        .bind(subject)
        .bind(detail.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The most recent events of `kind` (newest first).
    pub async fn recent_events(
        &self,
        kind: &str,
        limit: i64,
    ) -> StoreResult<Vec<(UnixTime, String)>> {
        sqlx::query("SELECT at, detail FROM audit_events WHERE kind = $1 ORDER BY id DESC LIMIT $2")
            .bind(kind)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("at")?, r.try_get("detail")?)))
            .collect()
    }
}

fn join_grants(g: &[GrantType]) -> String {
    g.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(" ")
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}
