//! The security audit log (never with secrets in `detail`).

use super::{Store, StoreResult};
use crate::clock::UnixTime;
use sqlx::Row;

impl Store {
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
            .execute(self.writer()?)
            .await?;
        Ok(())
    }

    /// The most recent events of `kind` (newest first).
    pub async fn recent_events(&self, kind: &str, limit: i64) -> StoreResult<Vec<(UnixTime, String)>> {
        sqlx::query("SELECT at, detail FROM audit_events WHERE kind = $1 ORDER BY id DESC LIMIT $2")
            .bind(kind)
            .bind(limit)
            .fetch_all(self.reader()?)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("at")?, r.try_get("detail")?)))
            .collect()
    }
}
