//! Browser sessions (SSO) and the consents users gave to clients.

use super::{Store, StoreResult};
use crate::clock::UnixTime;
use crate::model::Session;
use sqlx::{Row, any::AnyRow};

macro_rules! session_columns {
    () => {
        "token_hash, sid, user_id, auth_time, amr, created_at, last_seen_at, idle_expires_at, expires_at, revoked_at"
    };
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

impl Store {
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
        .execute(self.writer()?)
        .await?;
        Ok(())
    }

    /// A session by the hash of its cookie.
    pub async fn get_session(&self, token_hash: &str) -> StoreResult<Option<Session>> {
        sqlx::query(concat!("SELECT ", session_columns!(), " FROM sessions WHERE token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(self.reader()?)
            .await?
            .as_ref()
            .map(session_from_row)
            .transpose()
    }

    /// A session by its public id.
    pub async fn get_session_by_sid(&self, sid: &str) -> StoreResult<Option<Session>> {
        sqlx::query(concat!("SELECT ", session_columns!(), " FROM sessions WHERE sid = $1"))
            .bind(sid)
            .fetch_optional(self.reader()?)
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
        .execute(self.writer()?)
        .await?;
        Ok(())
    }

    /// Ends a session (logout); true when it was active.
    pub async fn revoke_session(&self, sid: &str, now: UnixTime) -> StoreResult<bool> {
        Ok(sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE sid = $1 AND revoked_at IS NULL")
            .bind(sid)
            .bind(now)
            .execute(self.writer()?)
            .await?
            .rows_affected()
            > 0)
    }

    /// Ends every session of a user; returns how many.
    pub async fn revoke_user_sessions(&self, user_id: &str, now: UnixTime) -> StoreResult<u64> {
        Ok(sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
            .bind(user_id)
            .bind(now)
            .execute(self.writer()?)
            .await?
            .rows_affected())
    }

    // ── consents ────────────────────────────────────────────────────────────────────────────

    /// The scope a user consented to for a client.
    pub async fn get_consent(&self, user_id: &str, client_id: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::query("SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .fetch_optional(self.reader()?)
            .await?
            .map(|r| r.try_get::<String, _>("scope"))
            .transpose()?)
    }

    /// The scope a user consented to for a client and when that consent was first given (a
    /// consent withdrawn and given again starts anew): a code issued before it does not redeem.
    pub async fn get_consent_record(&self, user_id: &str, client_id: &str) -> StoreResult<Option<(String, UnixTime)>> {
        sqlx::query("SELECT scope, created_at FROM consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .fetch_optional(self.reader()?)
            .await?
            .map(|r| Ok((r.try_get::<String, _>("scope")?, r.try_get::<i64, _>("created_at")?)))
            .transpose()
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
        .execute(self.writer()?)
        .await?;
        Ok(())
    }

    /// Every (client_id, scope) a user consented to.
    pub async fn list_consents(&self, user_id: &str) -> StoreResult<Vec<(String, String)>> {
        sqlx::query("SELECT client_id, scope FROM consents WHERE user_id = $1 ORDER BY client_id")
            .bind(user_id)
            .fetch_all(self.reader()?)
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
            .execute(self.writer()?)
            .await?
            .rows_affected()
            > 0)
    }
}
