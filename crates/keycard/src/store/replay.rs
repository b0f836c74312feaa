//! The replay cache: values that may be accepted once across every node (RFC 7523 §3 assertion
//! `jti`, RFC 9449 §11.1 DPoP proof `jti`). One conditional statement decides, so two nodes that
//! see the same value at the same instant cannot both accept it. Callers store a keyed hash of
//! the value, never the value, under a namespace of their own (one per kind of value and client).

use super::{Store, StoreResult};
use crate::clock::UnixTime;

impl Store {
    /// Records `value_hash` in namespace `ns` until `expires_at`; `true` when this call is the
    /// first to see it (or the earlier record has expired), `false` for a replay. Expired rows are
    /// taken over by the same statement and purged by `purge_user_flows`.
    pub async fn consume_once(
        &self,
        ns: &str,
        value_hash: &str,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "INSERT INTO replay_cache (ns, value_hash, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (ns, value_hash) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE replay_cache.expires_at <= $4",
        )
        .bind(ns)
        .bind(value_hash)
        .bind(expires_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::conformance::on_both;

    #[tokio::test]
    async fn a_value_is_accepted_once_until_it_expires() {
        on_both(|s| async move {
            assert!(s.consume_once("assertion:app", "h1", 100, 10).await.unwrap());
            assert!(!s.consume_once("assertion:app", "h1", 100, 11).await.unwrap(), "replay");
            assert!(s.consume_once("assertion:other", "h1", 100, 11).await.unwrap(), "namespaces are apart");
            assert!(s.consume_once("assertion:app", "h1", 300, 100).await.unwrap(), "an expired row is taken over");
            assert!(!s.consume_once("assertion:app", "h1", 300, 150).await.unwrap());
            // Concurrent first sightings: exactly one wins.
            let wins = futures_join(&s).await;
            assert_eq!(wins, 1);
            assert!(s.purge_user_flows(10_000, 0, 100).await.unwrap() >= 1);
            assert!(s.consume_once("assertion:app", "h1", 20_000, 10_000).await.unwrap(), "purged");
        })
        .await;
    }

    async fn futures_join(s: &crate::store::Store) -> usize {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let s = s.clone();
            set.spawn(async move { s.consume_once("dpop", "race", 100, 10).await.unwrap() });
        }
        set.join_all().await.into_iter().filter(|w| *w).count()
    }
}
