//! Signing keys (RFC 7517): rotation installs the new key and retires the old one atomically; every
//! change bumps the `keys` cache epoch.

use super::{Store, StoreResult};
use crate::clock::UnixTime;
use crate::model::StoredKey;
use sqlx::{Row, any::AnyRow};

macro_rules! key_columns {
    () => {
        "kid, alg, private_key, public_jwk, created_at, retired_at, publish_until"
    };
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

impl Store {
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
            .execute(self.writer()?)
            .await?;
        self.bump_epoch("keys").await
    }

    /// Every key, newest first.
    pub async fn list_keys(&self) -> StoreResult<Vec<StoredKey>> {
        sqlx::query(concat!("SELECT ", key_columns!(), " FROM signing_keys ORDER BY created_at DESC, kid"))
            .fetch_all(self.reader()?)
            .await?
            .iter()
            .map(key_from_row)
            .collect()
    }

    /// Atomically installs `new` as the active key of its algorithm and retires the previous
    /// active key(s) of that algorithm, which stay published until `publish_until`.
    pub async fn rotate_key(&self, new: &StoredKey, now: UnixTime, publish_until: UnixTime) -> StoreResult<()> {
        let mut tx = self.writer()?.begin().await?;
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
            .execute(self.writer()?)
            .await?
            .rows_affected();
        if n > 0 {
            self.bump_epoch("keys").await?;
        }
        Ok(n)
    }
}
