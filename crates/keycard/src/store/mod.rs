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
//! This file holds the [`Store`] handle, [`Store::connect`], [`StoreError`] and the cache
//! [`Epochs`]; every aggregate has its own file with its own `impl Store` block, its column list
//! and its row decoder: `clients`, `users`, `scopes`, `keys`, `access_tokens`, `events` (audit),
//! `auth_requests`, `sessions` (and consents), `grants` (and codes), `throttle`, `devices`,
//! `cleanup` (the user-flow purge), `wal` (SQLite checkpoints off the write path), `logins`
//! (case-folded sign-in lookups and the lockout counter),
//! `replay` (single-use values shared by every node: assertion and DPoP `jti`s), `batch` (group
//! commit of concurrent writes: replay-cache values and opaque access tokens), `mail_tokens`
//! (single-use links mailed to users: verification, password reset, invitation).
//!
//! Extending: add the method to its aggregate's file (a new aggregate gets a new file and one
//! `mod` line below), the table to both migration sets under a new number, and a test to
//! [`conformance`], which runs on both backends.

mod access_tokens;
mod auth_requests;
mod batch;
mod cleanup;
mod clients;
pub mod conformance;
mod devices;
mod events;
mod grants;
pub mod health;
mod keys;
mod logins;
mod mail_tokens;
mod migrate;
mod par;
mod replay;
mod scopes;
mod sessions;
mod throttle;
mod users;
pub mod wal;

pub use logins::fold_login;
pub use mail_tokens::{MailToken, PASSWORD_LINK_PURPOSES};
pub use par::PushedRequest;
pub use throttle::Attempt;

use sqlx::any::AnyPoolOptions;
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
    /// The database was migrated by a newer Keycard than this one: refusing to run on a schema
    /// it does not know (docs/reliability.md §4).
    #[error(
        "the database schema is at version {found}, newer than this Keycard knows (up to {known}): run the newer Keycard, or restore a backup taken before the upgrade"
    )]
    SchemaTooNew {
        /// The highest migration recorded in the database.
        found: i64,
        /// The highest migration this binary has.
        known: i64,
    },
    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(db.message().to_owned()),
            sqlx::Error::Database(db) if db.code().is_some_and(|c| code_means_unavailable(&c)) => {
                StoreError::Unavailable(e)
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

/// Database errors that say "not now" rather than "never": the request may succeed once the
/// database is back, so they are answered 503 with `Retry-After` (docs/reliability.md §3).
/// PostgreSQL reports a five-character SQLSTATE: connection exceptions (class 08), insufficient
/// resources (class 53: disk full, out of memory, too many connections), the server shutting
/// down or starting (57P01–57P03) and a read-only transaction (25006, a failover to a standby).
/// SQLite reports its (extended) result code as a number, whose low byte is the primary code:
/// BUSY, LOCKED, NOMEM, READONLY, IOERR, FULL (disk full), CANTOPEN, PROTOCOL.
fn code_means_unavailable(code: &str) -> bool {
    if code.len() == 5 {
        // A PostgreSQL SQLSTATE (SQLite's extended codes have at most four digits).
        return code.starts_with("08")
            || code.starts_with("53")
            || matches!(code, "57P01" | "57P02" | "57P03" | "25006");
    }
    code.parse::<u32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 7 | 8 | 10 | 13 | 14 | 15))
}

#[cfg(test)]
mod error_tests {
    #[test]
    fn unavailable_codes() {
        use super::code_means_unavailable as u;
        // PostgreSQL: admin shutdown, cannot connect now, disk full, too many connections, a
        // standby after failover; not a syntax error, a serialization failure or a unique violation.
        for c in ["57P01", "57P03", "53100", "53300", "08006", "25006"] {
            assert!(u(c), "{c}");
        }
        for c in ["42601", "40001", "23505", "22P02"] {
            assert!(!u(c), "{c}");
        }
        // SQLite: BUSY, LOCKED, READONLY, IOERR_WRITE (778), FULL, CANTOPEN; not CONSTRAINT_UNIQUE
        // (2067), CORRUPT or a plain ERROR.
        for c in ["5", "6", "8", "778", "13", "14"] {
            assert!(u(c), "{c}");
        }
        for c in ["2067", "11", "1", "", "x"] {
            assert!(!u(c), "{c}");
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
    /// SQLite: sync every commit (`PRAGMA synchronous=FULL`; `database.sqlite_synchronous`).
    pub sqlite_full_sync: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self { max_connections: 16, acquire_timeout: Duration::from_secs(5), sqlite_full_sync: false }
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
    /// Gathers concurrent replay-cache writes into one statement (`replay.rs`, `batch.rs`).
    replay: std::sync::Arc<batch::GroupCommit<replay::Job>>,
    /// Gathers concurrent opaque access-token inserts into one statement (`access_tokens.rs`).
    tokens: std::sync::Arc<batch::GroupCommit<access_tokens::Job>>,
    /// The URL (it may hold a password), for the health probe's own connection.
    url: crate::secret::Redacted<String>,
    /// What the health probe last saw (`health.rs`).
    health: std::sync::Arc<health::Health>,
}

type PoolMeta = sqlx::pool::PoolConnectionMetadata;
type ConnectFuture<'c> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), sqlx::Error>> + Send + 'c>>;

/// Per-connection SQLite settings: WAL (readers never block the writer), a busy timeout for
/// other processes (the CLI), `synchronous` as configured (NORMAL by default: safe in WAL mode
/// against a process crash; FULL syncs every commit), foreign keys, and checkpoints left to a
/// background task (`wal.rs`; the threshold here is `wal::AUTOCHECKPOINT_PAGES`).
fn sqlite_pragmas(full_sync: bool) -> impl Fn(&mut sqlx::AnyConnection, PoolMeta) -> ConnectFuture<'_> + Send + Sync {
    move |conn, _| {
        Box::pin(async move {
            let sql = if full_sync {
                "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; \
                 PRAGMA wal_autocheckpoint=10000;"
            } else {
                "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; \
                 PRAGMA wal_autocheckpoint=10000;"
            };
            sqlx::raw_sql(sql).execute(conn).await?;
            Ok(())
        })
    }
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
            if backend == Backend::Sqlite { o.after_connect(sqlite_pragmas(opts.sqlite_full_sync)) } else { o }
        };
        let pool = options(writers).connect(&url).await?;
        let read = if readers > 0 { options(readers).connect(&url).await? } else { pool.clone() };
        Ok(Store {
            pool,
            read,
            backend,
            replay: std::sync::Arc::new(replay::batcher()),
            tokens: std::sync::Arc::new(access_tokens::batcher()),
            url: url.into(),
            health: Default::default(),
        })
    }

    /// The pool for writes, unless the health probe says the database is down
    /// ([`health`]: fail at once rather than wait for a connection that cannot come).
    fn writer(&self) -> StoreResult<&AnyPool> {
        self.check_up(true)?;
        Ok(&self.pool)
    }

    /// The pool for plain reads, likewise (on SQLite reads are never refused: a full disk or a
    /// held write lock does not stop them).
    fn reader(&self) -> StoreResult<&AnyPool> {
        self.check_up(false)?;
        Ok(&self.read)
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
            .execute(self.writer()?)
            .await?;
        Ok(())
    }

    /// Current cache epochs.
    pub async fn epochs(&self) -> StoreResult<Epochs> {
        let rows =
            sqlx::query("SELECT key, value FROM meta WHERE key LIKE 'epoch:%'").fetch_all(self.reader()?).await?;
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
}
