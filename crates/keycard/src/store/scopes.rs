//! Scopes and their descriptions (shown on the consent page).

use super::{Store, StoreResult};
use crate::clock::UnixTime;
use crate::model::ScopeDef;
use sqlx::Row;

impl Store {
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
        .execute(self.writer()?)
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
        .execute(self.writer()?)
        .await?;
        Ok(())
    }

    /// Every scope, ordered by name.
    pub async fn list_scopes(&self) -> StoreResult<Vec<ScopeDef>> {
        sqlx::query("SELECT name, description FROM scopes ORDER BY name")
            .fetch_all(self.reader()?)
            .await?
            .iter()
            .map(|r| Ok(ScopeDef { name: r.try_get("name")?, description: r.try_get("description")? }))
            .collect()
    }

    /// Deletes a scope; false when it did not exist.
    pub async fn delete_scope(&self, name: &str) -> StoreResult<bool> {
        Ok(sqlx::query("DELETE FROM scopes WHERE name = $1").bind(name).execute(self.writer()?).await?.rows_affected()
            > 0)
    }
}
