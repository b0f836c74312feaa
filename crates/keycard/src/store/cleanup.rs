//! The batched purge of ended user-flow rows (requests, codes, sessions, grants with their retired
//! refresh tokens, device requests, pushed authorization requests, replay-cache entries, throttle counters).

use super::{Store, StoreResult};
use crate::clock::UnixTime;

impl Store {
    /// Deletes, in batches of at most `batch` rows per table, the user-flow rows whose life
    /// ended more than `retention` seconds before `now`; returns rows deleted.
    pub async fn purge_user_flows(&self, now: UnixTime, retention: i64, batch: i64) -> StoreResult<u64> {
        let cutoff = now - retention;
        let mut n = 0;
        for sql in [
            "DELETE FROM auth_requests WHERE id IN (SELECT id FROM auth_requests WHERE expires_at < $1 LIMIT $2)",
            "DELETE FROM authorization_codes WHERE code_hash IN (SELECT code_hash FROM authorization_codes WHERE expires_at < $1 LIMIT $2)",
            "DELETE FROM sessions WHERE token_hash IN (SELECT token_hash FROM sessions WHERE expires_at < $1 OR revoked_at < $1 LIMIT $2)",
            // Retired refresh tokens go with their family (before it, and any left orphaned).
            "DELETE FROM retired_refresh_tokens WHERE token_hash IN (SELECT r.token_hash FROM retired_refresh_tokens r \
             LEFT JOIN grants g ON g.id = r.grant_id WHERE g.id IS NULL OR g.expires_at < $1 OR g.revoked_at < $1 LIMIT $2)",
            "DELETE FROM grants WHERE id IN (SELECT id FROM grants WHERE expires_at < $1 OR revoked_at < $1 LIMIT $2)",
            "DELETE FROM device_codes WHERE device_hash IN (SELECT device_hash FROM device_codes WHERE expires_at < $1 LIMIT $2)",
            "DELETE FROM pushed_requests WHERE uri_hash IN (SELECT uri_hash FROM pushed_requests WHERE expires_at < $1 LIMIT $2)",
            "DELETE FROM replay_cache WHERE (ns, value_hash) IN (SELECT ns, value_hash FROM replay_cache WHERE expires_at < $1 LIMIT $2)",
            "DELETE FROM mail_tokens WHERE token_hash IN (SELECT token_hash FROM mail_tokens WHERE expires_at < $1 OR used_at < $1 LIMIT $2)",
            "DELETE FROM login_throttle WHERE key IN (SELECT key FROM login_throttle WHERE window_start < $1 AND (locked_until IS NULL OR locked_until < $1) LIMIT $2)",
        ] {
            n += sqlx::query(sql).bind(cutoff).bind(batch).execute(self.writer()?).await?.rows_affected();
        }
        Ok(n)
    }
}
