//! Pending authorization requests (RFC 6749 §4.1.1): signed in, consented and completed exactly
//! once.

use super::{Store, StoreResult, bool_i};
use crate::clock::UnixTime;
use crate::model::PendingRequest;
use sqlx::{Row, any::AnyRow};

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
        .execute(self.writer()?)
        .await?;
        Ok(())
    }

    /// A pending request by id.
    pub async fn get_auth_request(&self, id: &str) -> StoreResult<Option<PendingRequest>> {
        sqlx::query(concat!("SELECT ", request_columns!(), " FROM auth_requests WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.reader()?)
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
        .execute(self.writer()?)
        .await?
        .rows_affected()
            > 0)
    }

    /// Records that the user consented during this request.
    pub async fn auth_request_consented(&self, id: &str) -> StoreResult<bool> {
        Ok(sqlx::query("UPDATE auth_requests SET consent_done = 1 WHERE id = $1 AND completed_at IS NULL")
            .bind(id)
            .execute(self.writer()?)
            .await?
            .rows_affected()
            > 0)
    }

    /// Completes a request exactly once; false when it was already completed.
    pub async fn complete_auth_request(&self, id: &str, now: UnixTime) -> StoreResult<bool> {
        Ok(sqlx::query("UPDATE auth_requests SET completed_at = $2 WHERE id = $1 AND completed_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(self.writer()?)
            .await?
            .rows_affected()
            > 0)
    }
}
