//! Pushed authorization requests (RFC 9126 §2–§4): stored under a keyed hash of the
//! `request_uri`'s random part (never the URI itself), bound to the pushing client, and consumed
//! by the first `/authorize` that presents it, in one conditional statement, so two concurrent
//! uses on any nodes cannot both win. Expired rows are purged by `purge_user_flows`.

use super::{Store, StoreResult};
use crate::clock::UnixTime;

/// One pushed authorization request (RFC 9126 §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedRequest {
    /// Keyed hash of the random part of the `request_uri`.
    pub uri_hash: String,
    /// The client that pushed it (RFC 9126 §4: only it may use the URI).
    pub client_id: String,
    /// The validated authorization request parameters, form-encoded (client credentials removed).
    pub params: String,
    /// When it was pushed.
    pub created_at: UnixTime,
    /// RFC 9126 §2.2 `expires_in` after `created_at`.
    pub expires_at: UnixTime,
}

impl Store {
    /// Stores a pushed request.
    pub async fn insert_pushed_request(&self, r: &PushedRequest) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO pushed_requests (uri_hash, client_id, params, created_at, expires_at, used_at) \
             VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(&r.uri_hash)
        .bind(&r.client_id)
        .bind(&r.params)
        .bind(r.created_at)
        .bind(r.expires_at)
        .execute(self.writer()?)
        .await?;
        Ok(())
    }

    /// RFC 9126 §4, §7.3: uses the pushed request `uri_hash` for `client_id` at `now`, once. Its
    /// parameters when this call is the first use of an unexpired request pushed by that client;
    /// `None` otherwise (unknown, expired, used, or pushed by another client; the last leaves it
    /// unused for its own client).
    pub async fn consume_pushed_request(
        &self,
        uri_hash: &str,
        client_id: &str,
        now: UnixTime,
    ) -> StoreResult<Option<String>> {
        use sqlx::Row;
        let row = sqlx::query(
            "UPDATE pushed_requests SET used_at = $3 \
             WHERE uri_hash = $1 AND client_id = $2 AND used_at IS NULL AND expires_at > $3 \
             RETURNING params",
        )
        .bind(uri_hash)
        .bind(client_id)
        .bind(now)
        .fetch_optional(self.writer()?)
        .await?;
        Ok(match row {
            Some(r) => Some(r.try_get("params")?),
            None => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::PushedRequest;
    use crate::store::conformance::on_both;

    fn row(hash: &str, client: &str, expires_at: i64) -> PushedRequest {
        PushedRequest {
            uri_hash: hash.into(),
            client_id: client.into(),
            params: "response_type=code&client_id=app".into(),
            created_at: 0,
            expires_at,
        }
    }

    /// RFC 9126 §4 / §7.3 (SECURITY A12): single use, bound to the client, expiring; two
    /// concurrent uses → exactly one wins.
    #[tokio::test]
    async fn a_pushed_request_is_used_once_by_its_client_before_it_expires() {
        on_both(|s| async move {
            s.insert_pushed_request(&row("h1", "app", 60)).await.unwrap();
            assert_eq!(s.consume_pushed_request("h1", "other", 10).await.unwrap(), None, "another client");
            assert_eq!(s.consume_pushed_request("nope", "app", 10).await.unwrap(), None, "unknown");
            let p = s.consume_pushed_request("h1", "app", 10).await.unwrap();
            assert_eq!(p.as_deref(), Some("response_type=code&client_id=app"));
            assert_eq!(s.consume_pushed_request("h1", "app", 11).await.unwrap(), None, "used");

            s.insert_pushed_request(&row("h2", "app", 60)).await.unwrap();
            assert_eq!(s.consume_pushed_request("h2", "app", 60).await.unwrap(), None, "expired");

            s.insert_pushed_request(&row("race", "app", 60)).await.unwrap();
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..16 {
                let s = s.clone();
                set.spawn(async move { s.consume_pushed_request("race", "app", 10).await.unwrap().is_some() });
            }
            let wins = set.join_all().await.into_iter().filter(|w| *w).count();
            assert_eq!(wins, 1, "one of the concurrent uses wins");

            assert!(s.purge_user_flows(1000, 0, 100).await.unwrap() >= 3);
            assert_eq!(s.consume_pushed_request("h2", "app", 1).await.unwrap(), None, "purged");
        })
        .await;
    }
}
