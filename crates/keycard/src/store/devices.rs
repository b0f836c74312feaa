//! Device authorization requests (RFC 8628 §3.2–3.5): decided once while pending, delivered exactly
//! once.

use super::{Store, StoreResult, corrupt};
use crate::clock::UnixTime;
use crate::model::{DeviceRequest, DeviceStatus};
use sqlx::{Row, any::AnyRow};

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
        .execute(self.writer()?)
        .await?;
        Ok(())
    }

    /// A device request by the hash of its device code.
    pub async fn get_device(&self, device_hash: &str) -> StoreResult<Option<DeviceRequest>> {
        sqlx::query(concat!("SELECT ", device_columns!(), " FROM device_codes WHERE device_hash = $1"))
            .bind(device_hash)
            .fetch_optional(self.reader()?)
            .await?
            .as_ref()
            .map(device_from_row)
            .transpose()
    }

    /// A device request by the hash of its user code.
    pub async fn get_device_by_user_code(&self, user_code_hash: &str) -> StoreResult<Option<DeviceRequest>> {
        sqlx::query(concat!("SELECT ", device_columns!(), " FROM device_codes WHERE user_code_hash = $1"))
            .bind(user_code_hash)
            .fetch_optional(self.reader()?)
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
        .execute(self.writer()?)
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
            .execute(self.writer()?)
            .await?;
        Ok(())
    }

    /// Takes an approved request for token delivery: true exactly once, across nodes.
    pub async fn consume_device(&self, device_hash: &str) -> StoreResult<bool> {
        Ok(sqlx::query("UPDATE device_codes SET status = 'consumed' WHERE device_hash = $1 AND status = 'approved'")
            .bind(device_hash)
            .execute(self.writer()?)
            .await?
            .rows_affected()
            > 0)
    }
}
