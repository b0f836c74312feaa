//! A small migration runner: numbered SQL files embedded in the binary, one set per backend,
//! applied in order inside a transaction each, recorded in `schema_migrations`. On PostgreSQL an
//! advisory lock makes concurrent start-up of several nodes safe; on SQLite the write lock does.

use super::{Backend, StoreResult};
use sqlx::AnyPool;

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

/// Every migration, in order of version. Add new ones at the end, with the same number in both
/// folders. (Numbers 9–11 were reserved for work on other branches when 12 was written; every
/// missing version is applied, whatever its place, so a gap is harmless.)
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "foundation",
        sqlite: include_str!("../../migrations/sqlite/0001_foundation.sql"),
        postgres: include_str!("../../migrations/postgres/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        name: "user_flows",
        sqlite: include_str!("../../migrations/sqlite/0002_user_flows.sql"),
        postgres: include_str!("../../migrations/postgres/0002_user_flows.sql"),
    },
    Migration {
        version: 3,
        name: "device_codes",
        sqlite: include_str!("../../migrations/sqlite/0003_device_codes.sql"),
        postgres: include_str!("../../migrations/postgres/0003_device_codes.sql"),
    },
    Migration {
        version: 4,
        name: "refresh_families",
        sqlite: include_str!("../../migrations/sqlite/0004_refresh_families.sql"),
        postgres: include_str!("../../migrations/postgres/0004_refresh_families.sql"),
    },
    Migration {
        version: 5,
        name: "login_fold",
        sqlite: include_str!("../../migrations/sqlite/0005_login_fold.sql"),
        postgres: include_str!("../../migrations/postgres/0005_login_fold.sql"),
    },
    Migration {
        version: 6,
        name: "replay_cache",
        sqlite: include_str!("../../migrations/sqlite/0006_replay_cache.sql"),
        postgres: include_str!("../../migrations/postgres/0006_replay_cache.sql"),
    },
    Migration {
        version: 7,
        name: "pushed_requests",
        sqlite: include_str!("../../migrations/sqlite/0007_pushed_requests.sql"),
        postgres: include_str!("../../migrations/postgres/0007_pushed_requests.sql"),
    },
    Migration {
        version: 8,
        name: "dpop",
        sqlite: include_str!("../../migrations/sqlite/0008_dpop.sql"),
        postgres: include_str!("../../migrations/postgres/0008_dpop.sql"),
    },
    Migration {
        version: 11,
        name: "mail_tokens",
        sqlite: include_str!("../../migrations/sqlite/0011_mail_tokens.sql"),
        postgres: include_str!("../../migrations/postgres/0011_mail_tokens.sql"),
    },
    Migration {
        version: 12,
        name: "token_rows",
        sqlite: include_str!("../../migrations/sqlite/0012_token_rows.sql"),
        postgres: include_str!("../../migrations/postgres/0012_token_rows.sql"),
    },
];

/// Applies pending migrations; returns the names applied.
pub(super) async fn run(pool: &AnyPool, backend: Backend) -> StoreResult<Vec<String>> {
    let mut conn = pool.acquire().await?;
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_lock(7400101)").execute(&mut *conn).await?;
    }
    let result = apply(&mut conn, backend).await;
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_unlock(7400101)").execute(&mut *conn).await?;
    }
    // Outside the lock and with the connection back in the pool (SQLite writes through one):
    // folding login forms is idempotent, so nodes may do it at once.
    drop(conn);
    let applied = result?;
    super::logins::fill_login_folds(pool, pool).await?;
    Ok(applied)
}

/// The newest migration this binary knows.
pub fn latest_known() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

async fn apply(conn: &mut sqlx::AnyConnection, backend: Backend) -> StoreResult<Vec<String>> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    // An older binary never runs on a schema migrated by a newer one: it would not know what the
    // new columns mean (a rolling upgrade runs old nodes on the new schema, but only nodes that
    // were running before it; a node that starts must be the newer binary).
    let found: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations").fetch_one(&mut *conn).await?;
    if let Some(found) = found.filter(|f| *f > latest_known()) {
        return Err(super::StoreError::SchemaTooNew { found, known: latest_known() });
    }
    let mut applied = Vec::new();
    for m in MIGRATIONS {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let done = sqlx::query("SELECT version FROM schema_migrations WHERE version = $1")
            .bind(m.version)
            .fetch_optional(&mut *tx)
            .await?;
        if done.is_some() {
            tx.rollback().await?;
            continue;
        }
        let sql = match backend {
            Backend::Sqlite => m.sqlite,
            Backend::Postgres => m.postgres,
        };
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
            .bind(m.version)
            .bind(m.name)
            .bind(0_i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        applied.push(format!("{:04}_{}", m.version, m.name));
    }
    Ok(applied)
}
