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
mod logins;
mod migrate;

pub use logins::fold_login;

use crate::clock::UnixTime;
use crate::model::{
    AuthCode, AuthMethod, Client, ClientSettings, DeviceRequest, DeviceStatus, Grant, GrantType, PendingRequest,
    ScopeDef, Session, StoredAccessToken, StoredKey, TokenFormat, User,
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
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(db.message().to_owned()),
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
        Self { max_connections: 16, acquire_timeout: Duration::from_secs(5) }
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
    /// Writes (and reads that must see their own writes inside a transaction).
    pool: AnyPool,
    /// Plain reads. On SQLite a separate pool: SQLite has one writer, so writes go through one
    /// connection (no busy-wait storms, and WAL checkpoints can complete) while reads run in
    /// parallel. On PostgreSQL the same pool.
    read: AnyPool,
    backend: Backend,
}

/// Per-connection SQLite settings: WAL (readers never block the writer), a busy timeout for
/// other processes (the CLI), NORMAL sync (safe in WAL mode), foreign keys.
fn sqlite_pragmas(
    conn: &mut sqlx::AnyConnection,
    _: sqlx::pool::PoolConnectionMetadata,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), sqlx::Error>> + Send + '_>> {
    Box::pin(async move {
        sqlx::raw_sql(
            "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        )
        .execute(conn)
        .await?;
        Ok(())
    })
}

fn bool_i(b: bool) -> i64 {
    i64::from(b)
}

fn split_words(s: &str) -> Vec<String> {
    s.split(' ').filter(|w| !w.is_empty()).map(str::to_owned).collect()
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
    let redirect_uris: Vec<String> = serde_json::from_str(&r.try_get::<String, _>("redirect_uris")?)
        .map_err(|e| corrupt("client redirect_uris", e))?;
    let settings: ClientSettings =
        serde_json::from_str(&r.try_get::<String, _>("settings")?).map_err(|e| corrupt("client settings", e))?;
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
            return Err(StoreError::Corrupt("database.url must start with sqlite:// or postgres://".into()));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") && !url.contains(":memory:") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let (writers, readers) = match backend {
            Backend::Sqlite => (1, opts.max_connections.clamp(1, 8)),
            Backend::Postgres => (opts.max_connections.max(1), 0),
        };
        let options = |max: u32| {
            let o = AnyPoolOptions::new().max_connections(max).acquire_timeout(opts.acquire_timeout);
            if backend == Backend::Sqlite { o.after_connect(sqlite_pragmas) } else { o }
        };
        let pool = options(writers).connect(&url).await?;
        let read = if readers > 0 { options(readers).connect(&url).await? } else { pool.clone() };
        Ok(Store { pool, read, backend })
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
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
        self.read.close().await;
    }

    // ── cache epochs ────────────────────────────────────────────────────────────────────────

    async fn bump_epoch(&self, name: &str) -> StoreResult<()> {
        sqlx::query("UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) WHERE key = $1")
            .bind(format!("epoch:{name}"))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Current cache epochs.
    pub async fn epochs(&self) -> StoreResult<Epochs> {
        let rows = sqlx::query("SELECT key, value FROM meta WHERE key LIKE 'epoch:%'").fetch_all(&self.read).await?;
        let mut e = Epochs::default();
        for r in rows {
            let key: String = r.try_get("key")?;
            let value: i64 = r.try_get::<String, _>("value")?.parse().map_err(|e| corrupt("epoch", e))?;
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
        sqlx::query(concat!("SELECT ", client_columns!(), " FROM clients WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .as_ref()
            .map(client_from_row)
            .transpose()
    }

    /// Every client, ordered by id.
    pub async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        sqlx::query(concat!("SELECT ", client_columns!(), " FROM clients ORDER BY id"))
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(client_from_row)
            .collect()
    }

    /// Deletes a client and its opaque tokens; false when it did not exist.
    pub async fn delete_client(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM access_tokens WHERE client_id = $1").bind(id).execute(&mut *tx).await?;
        let n = sqlx::query("DELETE FROM clients WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        self.bump_epoch("clients").await?;
        Ok(n > 0)
    }

    /// The longest access-token lifetime of any client (for key rotation: how long an old key
    /// must stay published).
    pub async fn max_access_token_ttl(&self) -> StoreResult<i64> {
        let r =
            sqlx::query("SELECT COALESCE(MAX(access_token_ttl), 0) AS m FROM clients").fetch_one(&self.read).await?;
        Ok(r.try_get::<i64, _>("m")?)
    }

    // ── users ───────────────────────────────────────────────────────────────────────────────

    /// Inserts a user; `Conflict` when the id, username or e-mail exists (case-insensitively).
    pub async fn create_user(&self, u: &User) -> StoreResult<()> {
        sqlx::query(concat!("INSERT INTO users (", user_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
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
        sqlx::query(concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.read)
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
        .fetch_optional(&self.read)
        .await?
        .as_ref()
        .map(user_from_row)
        .transpose()
    }

    /// Every user, ordered by username.
    pub async fn list_users(&self) -> StoreResult<Vec<User>> {
        sqlx::query(concat!("SELECT ", user_columns!(), " FROM users ORDER BY lower(username)"))
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(user_from_row)
            .collect()
    }

    /// Deletes a user; false when they did not exist.
    pub async fn delete_user(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM access_tokens WHERE subject = $1").bind(id).execute(&mut *tx).await?;
        let n = sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
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
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|r| Ok(ScopeDef { name: r.try_get("name")?, description: r.try_get("description")? }))
            .collect()
    }

    /// Deletes a scope; false when it did not exist.
    pub async fn delete_scope(&self, name: &str) -> StoreResult<bool> {
        Ok(sqlx::query("DELETE FROM scopes WHERE name = $1").bind(name).execute(&self.pool).await?.rows_affected() > 0)
    }

    // ── signing keys ────────────────────────────────────────────────────────────────────────

    /// Stores a new signing key.
    pub async fn insert_key(&self, k: &StoredKey) -> StoreResult<()> {
        sqlx::query(concat!("INSERT INTO signing_keys (", key_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7)"))
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
        sqlx::query(concat!("SELECT ", key_columns!(), " FROM signing_keys ORDER BY created_at DESC, kid"))
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(key_from_row)
            .collect()
    }

    /// Atomically installs `new` as the active key of its algorithm and retires the previous
    /// active key(s) of that algorithm, which stay published until `publish_until`.
    pub async fn rotate_key(&self, new: &StoredKey, now: UnixTime, publish_until: UnixTime) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE signing_keys SET retired_at = $1, publish_until = $2 WHERE alg = $3 AND retired_at IS NULL",
        )
        .bind(now)
        .bind(publish_until)
        .bind(&new.alg)
        .execute(&mut *tx)
        .await?;
        sqlx::query(concat!("INSERT INTO signing_keys (", key_columns!(), ") VALUES ($1, $2, $3, $4, $5, NULL, NULL)"))
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
        let n = sqlx::query("DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND publish_until < $1")
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
        .fetch_optional(&self.read)
        .await?
        .as_ref()
        .map(token_from_row)
        .transpose()
    }

    /// Revokes an opaque access token if it belongs to `client_id`; true when this call revoked it.
    pub async fn revoke_access_token(&self, hash: &str, client_id: &str, now: UnixTime) -> StoreResult<bool> {
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
        sqlx::query("INSERT INTO revoked_jtis (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING")
            .bind(jti)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Is `jti` on the revocation list?
    pub async fn is_jti_revoked(&self, jti: &str) -> StoreResult<bool> {
        Ok(sqlx::query("SELECT 1 AS one FROM revoked_jtis WHERE jti = $1")
            .bind(jti)
            .fetch_optional(&self.read)
            .await?
            .is_some())
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
        sqlx::query("INSERT INTO audit_events (at, kind, client_id, subject, detail) VALUES ($1, $2, $3, $4, $5)")
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
    pub async fn recent_events(&self, kind: &str, limit: i64) -> StoreResult<Vec<(UnixTime, String)>> {
        sqlx::query("SELECT at, detail FROM audit_events WHERE kind = $1 ORDER BY id DESC LIMIT $2")
            .bind(kind)
            .bind(limit)
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("at")?, r.try_get("detail")?)))
            .collect()
    }
}

macro_rules! session_columns {
    () => {
        "token_hash, sid, user_id, auth_time, amr, created_at, last_seen_at, idle_expires_at, expires_at, revoked_at"
    };
}
macro_rules! code_columns {
    () => {
        "code_hash, grant_id, client_id, user_id, session_sid, redirect_uri, redirect_uri_given, scope, nonce, code_challenge, auth_time, created_at, expires_at"
    };
}
macro_rules! grant_columns {
    () => {
        "id, client_id, user_id, session_sid, scope, auth_time, refresh_hash, prev_refresh_hash, generation, refresh_idle_expires_at, refresh_expires_at, rotated_at, replay_response, replay_count, created_at, expires_at, revoked_at, revoked_reason"
    };
}
macro_rules! request_columns {
    () => {
        "id, client_id, request, browser_hash, session_sid, login_done, consent_done, completed_at, created_at, expires_at"
    };
}

fn request_from_row(r: &AnyRow) -> StoreResult<PendingRequest> {
    Ok(PendingRequest {
        id: r.try_get("id")?,
        client_id: r.try_get("client_id")?,
        request: r.try_get("request")?,
        browser_hash: r.try_get("browser_hash")?,
        session_sid: r.try_get("session_sid")?,
        login_done: r.try_get::<i64, _>("login_done")? != 0,
        consent_done: r.try_get::<i64, _>("consent_done")? != 0,
        completed_at: r.try_get("completed_at")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

fn session_from_row(r: &AnyRow) -> StoreResult<Session> {
    Ok(Session {
        token_hash: r.try_get("token_hash")?,
        sid: r.try_get("sid")?,
        user_id: r.try_get("user_id")?,
        auth_time: r.try_get("auth_time")?,
        amr: r.try_get("amr")?,
        created_at: r.try_get("created_at")?,
        last_seen_at: r.try_get("last_seen_at")?,
        idle_expires_at: r.try_get("idle_expires_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

fn code_from_row(r: &AnyRow) -> StoreResult<AuthCode> {
    Ok(AuthCode {
        code_hash: r.try_get("code_hash")?,
        grant_id: r.try_get("grant_id")?,
        client_id: r.try_get("client_id")?,
        user_id: r.try_get("user_id")?,
        session_sid: r.try_get("session_sid")?,
        redirect_uri: r.try_get("redirect_uri")?,
        redirect_uri_given: r.try_get::<i64, _>("redirect_uri_given")? != 0,
        scope: r.try_get("scope")?,
        nonce: r.try_get("nonce")?,
        code_challenge: r.try_get("code_challenge")?,
        auth_time: r.try_get("auth_time")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

fn grant_from_row(r: &AnyRow) -> StoreResult<Grant> {
    Ok(Grant {
        id: r.try_get("id")?,
        client_id: r.try_get("client_id")?,
        user_id: r.try_get("user_id")?,
        session_sid: r.try_get("session_sid")?,
        scope: r.try_get("scope")?,
        auth_time: r.try_get("auth_time")?,
        refresh_hash: r.try_get("refresh_hash")?,
        prev_refresh_hash: r.try_get("prev_refresh_hash")?,
        generation: r.try_get("generation")?,
        refresh_idle_expires_at: r.try_get("refresh_idle_expires_at")?,
        refresh_expires_at: r.try_get("refresh_expires_at")?,
        rotated_at: r.try_get("rotated_at")?,
        replay_response: r.try_get("replay_response")?,
        replay_count: r.try_get("replay_count")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
        revoked_reason: r.try_get("revoked_reason")?,
    })
}

/// Result of reserving a login attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// Attempts in the current window, this one included.
    pub attempts: i64,
    /// The key is locked until then.
    pub locked_until: Option<UnixTime>,
}

impl Store {
    // ── pending authorization requests ──────────────────────────────────────────────────────

    /// Stores a pending authorization request.
    pub async fn insert_auth_request(&self, r: &PendingRequest) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO auth_requests (",
            request_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(&r.id)
        .bind(&r.client_id)
        .bind(&r.request)
        .bind(&r.browser_hash)
        .bind(&r.session_sid)
        .bind(bool_i(r.login_done))
        .bind(bool_i(r.consent_done))
        .bind(r.completed_at)
        .bind(r.created_at)
        .bind(r.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A pending request by id.
    pub async fn get_auth_request(&self, id: &str) -> StoreResult<Option<PendingRequest>> {
        sqlx::query(concat!("SELECT ", request_columns!(), " FROM auth_requests WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .as_ref()
            .map(request_from_row)
            .transpose()
    }

    /// Records that the user signed in for this request (with session `sid`).
    pub async fn auth_request_logged_in(&self, id: &str, sid: &str) -> StoreResult<bool> {
        Ok(sqlx::query(
            "UPDATE auth_requests SET session_sid = $2, login_done = 1 WHERE id = $1 AND completed_at IS NULL",
        )
        .bind(id)
        .bind(sid)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    /// Records that the user consented during this request.
    pub async fn auth_request_consented(&self, id: &str) -> StoreResult<bool> {
        Ok(sqlx::query("UPDATE auth_requests SET consent_done = 1 WHERE id = $1 AND completed_at IS NULL")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }

    /// Completes a request exactly once; false when it was already completed.
    pub async fn complete_auth_request(&self, id: &str, now: UnixTime) -> StoreResult<bool> {
        Ok(sqlx::query("UPDATE auth_requests SET completed_at = $2 WHERE id = $1 AND completed_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }

    // ── sessions ────────────────────────────────────────────────────────────────────────────

    /// Stores a new session.
    pub async fn insert_session(&self, s: &Session) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO sessions (",
            session_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(&s.token_hash)
        .bind(&s.sid)
        .bind(&s.user_id)
        .bind(s.auth_time)
        .bind(&s.amr)
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .bind(s.idle_expires_at)
        .bind(s.expires_at)
        .bind(s.revoked_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A session by the hash of its cookie.
    pub async fn get_session(&self, token_hash: &str) -> StoreResult<Option<Session>> {
        sqlx::query(concat!("SELECT ", session_columns!(), " FROM sessions WHERE token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(&self.read)
            .await?
            .as_ref()
            .map(session_from_row)
            .transpose()
    }

    /// A session by its public id.
    pub async fn get_session_by_sid(&self, sid: &str) -> StoreResult<Option<Session>> {
        sqlx::query(concat!("SELECT ", session_columns!(), " FROM sessions WHERE sid = $1"))
            .bind(sid)
            .fetch_optional(&self.read)
            .await?
            .as_ref()
            .map(session_from_row)
            .transpose()
    }

    /// Extends a session's idle expiry.
    pub async fn touch_session(&self, token_hash: &str, now: UnixTime, idle_expires_at: UnixTime) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sessions SET last_seen_at = $2, idle_expires_at = $3 WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .bind(now)
        .bind(idle_expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ends a session (logout); true when it was active.
    pub async fn revoke_session(&self, sid: &str, now: UnixTime) -> StoreResult<bool> {
        Ok(sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE sid = $1 AND revoked_at IS NULL")
            .bind(sid)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }

    /// Ends every session of a user; returns how many.
    pub async fn revoke_user_sessions(&self, user_id: &str, now: UnixTime) -> StoreResult<u64> {
        Ok(sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
            .bind(user_id)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    // ── consents ────────────────────────────────────────────────────────────────────────────

    /// The scope a user consented to for a client.
    pub async fn get_consent(&self, user_id: &str, client_id: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::query("SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .fetch_optional(&self.read)
            .await?
            .map(|r| r.try_get::<String, _>("scope"))
            .transpose()?)
    }

    /// Records consent (replacing the stored scope with `scope`, which the caller merged).
    pub async fn upsert_consent(&self, user_id: &str, client_id: &str, scope: &str, now: UnixTime) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO consents (user_id, client_id, scope, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(scope)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every (client_id, scope) a user consented to.
    pub async fn list_consents(&self, user_id: &str) -> StoreResult<Vec<(String, String)>> {
        sqlx::query("SELECT client_id, scope FROM consents WHERE user_id = $1 ORDER BY client_id")
            .bind(user_id)
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("client_id")?, r.try_get("scope")?)))
            .collect()
    }

    /// Withdraws consent; true when there was one.
    pub async fn delete_consent(&self, user_id: &str, client_id: &str) -> StoreResult<bool> {
        Ok(sqlx::query("DELETE FROM consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }

    // ── authorization codes and grants ──────────────────────────────────────────────────────

    /// Stores an authorization code (by hash).
    pub async fn insert_code(&self, c: &AuthCode) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO authorization_codes (",
            code_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&c.code_hash)
        .bind(&c.grant_id)
        .bind(&c.client_id)
        .bind(&c.user_id)
        .bind(&c.session_sid)
        .bind(&c.redirect_uri)
        .bind(bool_i(c.redirect_uri_given))
        .bind(&c.scope)
        .bind(&c.nonce)
        .bind(&c.code_challenge)
        .bind(c.auth_time)
        .bind(c.created_at)
        .bind(c.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// An authorization code by hash.
    pub async fn get_code(&self, code_hash: &str) -> StoreResult<Option<AuthCode>> {
        sqlx::query(concat!("SELECT ", code_columns!(), " FROM authorization_codes WHERE code_hash = $1"))
            .bind(code_hash)
            .fetch_optional(&self.read)
            .await?
            .as_ref()
            .map(code_from_row)
            .transpose()
    }

    /// Creates a grant. This is the atomic redemption of its authorization code: the id is the
    /// code's grant id, so of two concurrent redemptions exactly one insert succeeds (true), on
    /// any number of nodes. False when the grant already exists (the code was used).
    pub async fn create_grant(&self, g: &Grant) -> StoreResult<bool> {
        Ok(sqlx::query(concat!(
            "INSERT INTO grants (",
            grant_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
             ON CONFLICT (id) DO NOTHING"
        ))
        .bind(&g.id)
        .bind(&g.client_id)
        .bind(&g.user_id)
        .bind(&g.session_sid)
        .bind(&g.scope)
        .bind(g.auth_time)
        .bind(&g.refresh_hash)
        .bind(&g.prev_refresh_hash)
        .bind(g.generation)
        .bind(g.refresh_idle_expires_at)
        .bind(g.refresh_expires_at)
        .bind(g.rotated_at)
        .bind(&g.replay_response)
        .bind(g.replay_count)
        .bind(g.created_at)
        .bind(g.expires_at)
        .bind(g.revoked_at)
        .bind(&g.revoked_reason)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    /// A grant by id.
    pub async fn get_grant(&self, id: &str) -> StoreResult<Option<Grant>> {
        sqlx::query(concat!("SELECT ", grant_columns!(), " FROM grants WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .as_ref()
            .map(grant_from_row)
            .transpose()
    }

    /// Rotates a refresh token in one conditional statement: succeeds (true) only if the grant
    /// is not revoked and its current token is still `old_hash` at `generation`, so of N
    /// concurrent refreshes with one token exactly one wins, across nodes.
    #[allow(clippy::too_many_arguments)]
    pub async fn rotate_refresh(
        &self,
        grant_id: &str,
        generation: i64,
        old_hash: &str,
        new_hash: &str,
        now: UnixTime,
        idle_expires_at: UnixTime,
        replay_response: Option<&str>,
    ) -> StoreResult<bool> {
        Ok(sqlx::query(
            "UPDATE grants SET refresh_hash = $4, prev_refresh_hash = $3, generation = generation + 1, \
             rotated_at = $5, refresh_idle_expires_at = $6, replay_response = $7, replay_count = 0 \
             WHERE id = $1 AND generation = $2 AND refresh_hash = $3 AND revoked_at IS NULL",
        )
        .bind(grant_id)
        .bind(generation)
        .bind(old_hash)
        .bind(new_hash)
        .bind(now)
        .bind(idle_expires_at)
        .bind(replay_response)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    /// Extends the idle expiry of a refresh token that is not rotated (confidential clients
    /// with rotation off): one conditional statement as well.
    pub async fn touch_refresh(&self, grant_id: &str, hash: &str, idle_expires_at: UnixTime) -> StoreResult<bool> {
        Ok(sqlx::query(
            "UPDATE grants SET refresh_idle_expires_at = $3 WHERE id = $1 AND refresh_hash = $2 AND revoked_at IS NULL",
        )
        .bind(grant_id)
        .bind(hash)
        .bind(idle_expires_at)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    /// Claims one replay of the last rotation: only for the immediately previous token, within
    /// the window, and at most `max` times; returns the sealed response given then.
    pub async fn replay_refresh(
        &self,
        grant_id: &str,
        prev_hash: &str,
        not_before: UnixTime,
        max: i64,
    ) -> StoreResult<Option<String>> {
        let row = sqlx::query(
            "UPDATE grants SET replay_count = replay_count + 1 WHERE id = $1 AND prev_refresh_hash = $2 \
             AND rotated_at >= $3 AND replay_count < $4 AND revoked_at IS NULL AND replay_response IS NOT NULL \
             RETURNING replay_response",
        )
        .bind(grant_id)
        .bind(prev_hash)
        .bind(not_before)
        .bind(max)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get::<String, _>("replay_response")).transpose()?)
    }

    /// Revokes a grant (its refresh token family and, through introspection, its access
    /// tokens); true when this call revoked it.
    pub async fn revoke_grant(&self, id: &str, reason: &str, now: UnixTime) -> StoreResult<bool> {
        Ok(sqlx::query("UPDATE grants SET revoked_at = $2, revoked_reason = $3, replay_response = NULL WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .bind(reason)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }

    /// Revokes every grant of a user (for one client, or all); returns how many.
    pub async fn revoke_user_grants(
        &self,
        user_id: &str,
        client_id: Option<&str>,
        reason: &str,
        now: UnixTime,
    ) -> StoreResult<u64> {
        let q = match client_id {
            Some(c) => sqlx::query(
                "UPDATE grants SET revoked_at = $2, revoked_reason = $3, replay_response = NULL WHERE user_id = $1 AND client_id = $4 AND revoked_at IS NULL",
            )
            .bind(user_id)
            .bind(now)
            .bind(reason)
            .bind(c.to_owned()),
            None => sqlx::query(
                "UPDATE grants SET revoked_at = $2, revoked_reason = $3, replay_response = NULL WHERE user_id = $1 AND revoked_at IS NULL",
            )
            .bind(user_id)
            .bind(now)
            .bind(reason),
        };
        Ok(q.execute(&self.pool).await?.rows_affected())
    }

    /// Revokes the grants created from a session that are not `offline_access` (logout).
    pub async fn revoke_session_grants(&self, sid: &str, reason: &str, now: UnixTime) -> StoreResult<u64> {
        Ok(sqlx::query(
            "UPDATE grants SET revoked_at = $2, revoked_reason = $3, replay_response = NULL \
             WHERE session_sid = $1 AND revoked_at IS NULL AND (' ' || scope || ' ') NOT LIKE '% offline_access %'",
        )
        .bind(sid)
        .bind(now)
        .bind(reason)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    // ── login throttling ────────────────────────────────────────────────────────────────────

    /// Counts a login attempt for `key` BEFORE the password is checked (so parallel guesses on
    /// many nodes cannot all slip under the threshold); the window restarts after `window` s.
    /// When a lock has run out, the first attempt after it is let through as attempt number
    /// `limit` (one more try, so `Retry-After` tells the truth) and clears the lock; any attempt
    /// racing with it counts past the limit and locks again.
    pub async fn reserve_login_attempt(
        &self,
        key: &str,
        now: UnixTime,
        window: i64,
        limit: i64,
    ) -> StoreResult<Attempt> {
        let r = sqlx::query(
            "INSERT INTO login_throttle (key, attempts, window_start, locked_until) VALUES ($1, 1, $2, NULL) \
             ON CONFLICT (key) DO UPDATE SET \
             attempts = CASE \
               WHEN login_throttle.window_start < $3 AND (login_throttle.locked_until IS NULL OR login_throttle.locked_until <= $2) THEN 1 \
               WHEN login_throttle.locked_until IS NOT NULL AND login_throttle.locked_until <= $2 THEN $4 \
               ELSE login_throttle.attempts + 1 END, \
             window_start = CASE WHEN login_throttle.window_start < $3 AND (login_throttle.locked_until IS NULL OR login_throttle.locked_until <= $2) THEN $2 ELSE login_throttle.window_start END, \
             locked_until = CASE WHEN login_throttle.locked_until IS NOT NULL AND login_throttle.locked_until <= $2 THEN NULL ELSE login_throttle.locked_until END \
             RETURNING attempts, locked_until",
        )
        .bind(key)
        .bind(now)
        .bind(now - window)
        .bind(limit)
        .fetch_one(&self.pool)
        .await?;
        Ok(Attempt { attempts: r.try_get("attempts")?, locked_until: r.try_get("locked_until")? })
    }

    /// Locks `key` until `until`.
    pub async fn lock_login(&self, key: &str, until: UnixTime) -> StoreResult<()> {
        sqlx::query("UPDATE login_throttle SET locked_until = $2 WHERE key = $1")
            .bind(key)
            .bind(until)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Takes one attempt back (a successful sign-in from this address), so the per-IP counter
    /// counts failures and a busy NAT is not locked out by its own users.
    pub async fn release_login_attempt(&self, key: &str) -> StoreResult<()> {
        sqlx::query("UPDATE login_throttle SET attempts = attempts - 1 WHERE key = $1 AND attempts > 0")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets the attempts of `key` (after a successful login).
    pub async fn reset_login(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM login_throttle WHERE key = $1").bind(key).execute(&self.pool).await?;
        Ok(())
    }

    /// Deletes, in batches of at most `batch` rows per table, the user-flow rows whose life
    /// ended more than `retention` seconds before `now`; returns rows deleted.
    pub async fn purge_user_flows(&self, now: UnixTime, retention: i64, batch: i64) -> StoreResult<u64> {
        let cutoff = now - retention;
        let mut n = 0;
        for sql in [
            "DELETE FROM auth_requests WHERE id IN (SELECT id FROM auth_requests WHERE expires_at < $1 LIMIT $2)",
            "DELETE FROM authorization_codes WHERE code_hash IN (SELECT code_hash FROM authorization_codes WHERE expires_at < $1 LIMIT $2)",
            "DELETE FROM sessions WHERE token_hash IN (SELECT token_hash FROM sessions WHERE expires_at < $1 OR revoked_at < $1 LIMIT $2)",
            "DELETE FROM grants WHERE id IN (SELECT id FROM grants WHERE expires_at < $1 OR revoked_at < $1 LIMIT $2)",
            "DELETE FROM device_codes WHERE device_hash IN (SELECT device_hash FROM device_codes WHERE expires_at < $1 LIMIT $2)",
            "DELETE FROM login_throttle WHERE key IN (SELECT key FROM login_throttle WHERE window_start < $1 AND (locked_until IS NULL OR locked_until < $1) LIMIT $2)",
        ] {
            n += sqlx::query(sql).bind(cutoff).bind(batch).execute(&self.pool).await?.rows_affected();
        }
        Ok(n)
    }
}

macro_rules! device_columns {
    () => {
        "device_hash, user_code_hash, client_id, scope, status, user_id, session_sid, auth_time, poll_interval, last_polled_at, created_at, expires_at"
    };
}

fn device_from_row(r: &AnyRow) -> StoreResult<DeviceRequest> {
    let status: String = r.try_get("status")?;
    Ok(DeviceRequest {
        device_hash: r.try_get("device_hash")?,
        user_code_hash: r.try_get("user_code_hash")?,
        client_id: r.try_get("client_id")?,
        scope: r.try_get("scope")?,
        status: DeviceStatus::parse(&status).ok_or_else(|| corrupt("device status", status))?,
        user_id: r.try_get("user_id")?,
        session_sid: r.try_get("session_sid")?,
        auth_time: r.try_get("auth_time")?,
        poll_interval: r.try_get("poll_interval")?,
        last_polled_at: r.try_get("last_polled_at")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

impl Store {
    // ── device authorization (RFC 8628) ─────────────────────────────────────────────────────

    /// Stores a device request; `Conflict` when the user code collides (the caller retries).
    pub async fn insert_device(&self, d: &DeviceRequest) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO device_codes (",
            device_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(&d.device_hash)
        .bind(&d.user_code_hash)
        .bind(&d.client_id)
        .bind(&d.scope)
        .bind(d.status.as_str())
        .bind(&d.user_id)
        .bind(&d.session_sid)
        .bind(d.auth_time)
        .bind(d.poll_interval)
        .bind(d.last_polled_at)
        .bind(d.created_at)
        .bind(d.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A device request by the hash of its device code.
    pub async fn get_device(&self, device_hash: &str) -> StoreResult<Option<DeviceRequest>> {
        sqlx::query(concat!("SELECT ", device_columns!(), " FROM device_codes WHERE device_hash = $1"))
            .bind(device_hash)
            .fetch_optional(&self.read)
            .await?
            .as_ref()
            .map(device_from_row)
            .transpose()
    }

    /// A device request by the hash of its user code.
    pub async fn get_device_by_user_code(&self, user_code_hash: &str) -> StoreResult<Option<DeviceRequest>> {
        sqlx::query(concat!("SELECT ", device_columns!(), " FROM device_codes WHERE user_code_hash = $1"))
            .bind(user_code_hash)
            .fetch_optional(&self.read)
            .await?
            .as_ref()
            .map(device_from_row)
            .transpose()
    }

    /// Records the user's decision, once, while the request is pending and unexpired.
    pub async fn decide_device(
        &self,
        user_code_hash: &str,
        approve: bool,
        user_id: &str,
        session_sid: &str,
        auth_time: UnixTime,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let status = if approve { DeviceStatus::Approved } else { DeviceStatus::Denied };
        Ok(sqlx::query(
            "UPDATE device_codes SET status = $2, user_id = $3, session_sid = $4, auth_time = $5 \
             WHERE user_code_hash = $1 AND status = 'pending' AND expires_at > $6",
        )
        .bind(user_code_hash)
        .bind(status.as_str())
        .bind(user_id)
        .bind(session_sid)
        .bind(auth_time)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    /// Records a poll (and a grown interval after `slow_down`).
    pub async fn device_polled(&self, device_hash: &str, now: UnixTime, interval: i64) -> StoreResult<()> {
        sqlx::query("UPDATE device_codes SET last_polled_at = $2, poll_interval = $3 WHERE device_hash = $1")
            .bind(device_hash)
            .bind(now)
            .bind(interval)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Takes an approved request for token delivery: true exactly once, across nodes.
    pub async fn consume_device(&self, device_hash: &str) -> StoreResult<bool> {
        Ok(sqlx::query("UPDATE device_codes SET status = 'consumed' WHERE device_hash = $1 AND status = 'approved'")
            .bind(device_hash)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }
}

fn join_grants(g: &[GrantType]) -> String {
    g.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(" ")
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}
