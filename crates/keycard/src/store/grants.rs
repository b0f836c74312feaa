//! Authorization codes and grants (refresh-token families, RFC 6749 §4.1.3 and §6, RFC 9700
//! §4.14.2): redemption, rotation, reuse detection and revocation, each one conditional statement.

use super::{Store, StoreResult, bool_i};
use crate::clock::UnixTime;
use crate::model::{AuthCode, Grant};
use sqlx::{Row, any::AnyRow};

macro_rules! code_columns {
    () => {
        "code_hash, grant_id, client_id, user_id, session_sid, redirect_uri, redirect_uri_given, scope, nonce, code_challenge, auth_time, created_at, expires_at, dpop_jkt"
    };
}

macro_rules! grant_columns {
    () => {
        "id, client_id, user_id, session_sid, scope, auth_time, refresh_hash, prev_refresh_hash, generation, refresh_idle_expires_at, refresh_expires_at, rotated_at, replay_response, replay_count, created_at, expires_at, revoked_at, revoked_reason, dpop_jkt"
    };
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
        dpop_jkt: r.try_get("dpop_jkt")?,
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
        dpop_jkt: r.try_get("dpop_jkt")?,
    })
}

impl Store {
    // ── authorization codes and grants ──────────────────────────────────────────────────────

    /// Stores an authorization code (by hash).
    pub async fn insert_code(&self, c: &AuthCode) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO authorization_codes (",
            code_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
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
        .bind(&c.dpop_jkt)
        .execute(self.writer()?)
        .await?;
        Ok(())
    }

    /// An authorization code by hash.
    pub async fn get_code(&self, code_hash: &str) -> StoreResult<Option<AuthCode>> {
        sqlx::query(concat!("SELECT ", code_columns!(), " FROM authorization_codes WHERE code_hash = $1"))
            .bind(code_hash)
            .fetch_optional(self.reader()?)
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
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) \
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
        .bind(&g.dpop_jkt)
        .execute(self.writer()?)
        .await?
        .rows_affected()
            > 0)
    }

    /// A grant by id.
    pub async fn get_grant(&self, id: &str) -> StoreResult<Option<Grant>> {
        sqlx::query(concat!("SELECT ", grant_columns!(), " FROM grants WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.reader()?)
            .await?
            .as_ref()
            .map(grant_from_row)
            .transpose()
    }

    /// Rotates a refresh token in one conditional statement: succeeds (true) only if the grant
    /// is not revoked and its current token is still `old_hash` at `generation`, so of N
    /// concurrent refreshes with one token exactly one wins, across nodes. The winner records
    /// `old_hash` as retired in the same transaction (see [`Store::is_retired_refresh`]).
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
        let mut tx = self.writer()?.begin().await?;
        let won = sqlx::query(
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
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if won {
            sqlx::query(
                "INSERT INTO retired_refresh_tokens (token_hash, grant_id, generation, retired_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(old_hash)
            .bind(grant_id)
            .bind(generation)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(won)
    }

    /// Was `hash` a refresh token of family `grant_id` that has since been rotated away? Only
    /// then is presenting it reuse (RFC 9700 §4.14.2); anything else is merely invalid.
    pub async fn is_retired_refresh(&self, grant_id: &str, hash: &str) -> StoreResult<bool> {
        Ok(sqlx::query("SELECT 1 AS one FROM retired_refresh_tokens WHERE token_hash = $1 AND grant_id = $2")
            .bind(hash)
            .bind(grant_id)
            .fetch_optional(self.reader()?)
            .await?
            .is_some())
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
        .execute(self.writer()?)
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
        .fetch_optional(self.writer()?)
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
            .execute(self.writer()?)
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
        Ok(q.execute(self.writer()?).await?.rows_affected())
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
        .execute(self.writer()?)
        .await?
        .rows_affected())
    }
}
