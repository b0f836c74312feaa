//! Opaque access tokens (by hash) and the JWT revocation list (RFC 7009), with their batched purge.

use super::{Store, StoreResult};
use crate::clock::UnixTime;
use crate::model::StoredAccessToken;
use sqlx::{Row, any::AnyRow};

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
        dpop_jkt: r.try_get("dpop_jkt")?,
    })
}

impl Store {
    // ── access tokens and revocation ────────────────────────────────────────────────────────

    /// Stores an opaque access token (by hash).
    pub async fn insert_access_token(&self, t: &StoredAccessToken) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO access_tokens (token_hash, jti, client_id, subject, scope, audience, grant_id, \
             issued_at, expires_at, revoked_at, dpop_jkt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
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
        .bind(&t.dpop_jkt)
        .execute(self.writer()?)
        .await?;
        Ok(())
    }

    /// An opaque access token by hash.
    pub async fn get_access_token(&self, hash: &str) -> StoreResult<Option<StoredAccessToken>> {
        sqlx::query(
            "SELECT token_hash, jti, client_id, subject, scope, audience, grant_id, issued_at, expires_at, \
             revoked_at, dpop_jkt FROM access_tokens WHERE token_hash = $1",
        )
        .bind(hash)
        .fetch_optional(self.reader()?)
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
        .execute(self.writer()?)
        .await?
        .rows_affected()
            > 0)
    }

    /// Puts a JWT's `jti` on the revocation list until the token's own expiry.
    pub async fn revoke_jti(&self, jti: &str, expires_at: UnixTime) -> StoreResult<()> {
        sqlx::query("INSERT INTO revoked_jtis (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING")
            .bind(jti)
            .bind(expires_at)
            .execute(self.writer()?)
            .await?;
        Ok(())
    }

    /// Is `jti` on the revocation list?
    pub async fn is_jti_revoked(&self, jti: &str) -> StoreResult<bool> {
        Ok(sqlx::query("SELECT 1 AS one FROM revoked_jtis WHERE jti = $1")
            .bind(jti)
            .fetch_optional(self.reader()?)
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
        .execute(self.writer()?)
        .await?
        .rows_affected();
        let b = sqlx::query(
            "DELETE FROM revoked_jtis WHERE jti IN (SELECT jti FROM revoked_jtis WHERE expires_at < $1 LIMIT $2)",
        )
        .bind(now)
        .bind(batch)
        .execute(self.writer()?)
        .await?
        .rows_affected();
        Ok(a + b)
    }
}
