//! Opaque access tokens (by hash) and the JWT revocation list (RFC 7009), with their batched purge.
//!
//! Inserts use group commit (`batch.rs`): under load, every opaque-token request of a node is
//! written by one multi-row `INSERT` per batch instead of one commit each, which on SQLite's single
//! writer is the difference between the commit rate and many times it (docs/reliability.md §8).
//! A failed batch is retried row by row, so a row that cannot be stored fails alone.

use super::batch::{GroupCommit, unavailable, unavailable_error, values_placeholders};
use super::{Store, StoreError, StoreResult};
use crate::clock::UnixTime;
use crate::model::StoredAccessToken;
use sqlx::{AnyPool, Row, any::AnyRow};
use tokio::sync::oneshot;

const INSERT: &str = "INSERT INTO access_tokens (token_hash, jti, client_id, subject, scope, audience, grant_id, \
     issued_at, expires_at, revoked_at, dpop_jkt) VALUES ";
const COLUMNS: usize = 11;

pub(super) struct Job {
    token: StoredAccessToken,
    reply: oneshot::Sender<StoreResult<()>>,
}

/// The opaque-token batcher, for the `Store`.
pub(super) fn batcher() -> GroupCommit<Job> {
    GroupCommit::new(|pool, jobs| Box::pin(write_batch(pool, jobs)))
}

fn bind_token<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    t: &'q StoredAccessToken,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    q.bind(&t.token_hash)
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
}

async fn insert_one(pool: &AnyPool, t: &StoredAccessToken) -> StoreResult<()> {
    let sql = format!("{INSERT}{}", values_placeholders(1, COLUMNS, 1));
    bind_token(sqlx::query(sqlx::AssertSqlSafe(sql)), t).execute(pool).await?;
    Ok(())
}

async fn write_batch(pool: AnyPool, jobs: Vec<Job>) {
    if jobs.len() == 1 {
        let j = jobs.into_iter().next().expect("one job");
        let r = insert_one(&pool, &j.token).await;
        let _ = j.reply.send(r);
        return;
    }
    let sql = format!("{INSERT}{}", values_placeholders(jobs.len(), COLUMNS, 1));
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for j in &jobs {
        q = bind_token(q, &j.token);
    }
    let failed = match q.execute(&pool).await {
        Ok(_) => None,
        Err(e) => Some(StoreError::from(e)),
    };
    match failed {
        None => {
            for j in jobs {
                let _ = j.reply.send(Ok(()));
            }
        }
        Some(e) => match unavailable(&e) {
            Some(msg) => {
                for j in jobs {
                    let _ = j.reply.send(Err(unavailable_error(&msg)));
                }
            }
            // One bad row (a duplicate hash) failed the statement: each row on its own.
            None => {
                for j in jobs {
                    let r = insert_one(&pool, &j.token).await;
                    let _ = j.reply.send(r);
                }
            }
        },
    }
}

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

    /// Stores an opaque access token (by hash). Answered once the row is committed; concurrent
    /// calls share one multi-row `INSERT` (group commit, see the module doc).
    pub async fn insert_access_token(&self, t: &StoredAccessToken) -> StoreResult<()> {
        let pool = self.writer()?;
        let (reply, answer) = oneshot::channel();
        if let Err(job) = self.tokens.send(pool, Job { token: t.clone(), reply }) {
            return insert_one(pool, &job.token).await;
        }
        match answer.await {
            Ok(r) => r,
            // The batching task's runtime ended with the job queued: write it here. (A row that
            // did reach the database answers Conflict, as a duplicate hash would.)
            Err(_) => insert_one(pool, t).await,
        }
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

#[cfg(test)]
mod tests {
    use crate::model::StoredAccessToken;
    use crate::store::{Store, StoreError, conformance::on_both};

    fn token(i: usize) -> StoredAccessToken {
        StoredAccessToken {
            token_hash: format!("h{i}"),
            jti: format!("j{i}"),
            client_id: "c1".into(),
            subject: "c1".into(),
            scope: "a".into(),
            audience: "https://api.example".into(),
            grant_id: None,
            issued_at: 10,
            expires_at: 20 + i as i64,
            revoked_at: None,
            dpop_jkt: None,
        }
    }

    async fn insert_all(s: &Store, tokens: Vec<StoredAccessToken>) -> Vec<Result<(), StoreError>> {
        let mut set = tokio::task::JoinSet::new();
        for (i, t) in tokens.into_iter().enumerate() {
            let s = s.clone();
            set.spawn(async move { (i, s.insert_access_token(&t).await) });
        }
        let mut out: Vec<_> = set.join_all().await;
        out.sort_by_key(|(i, _)| *i);
        out.into_iter().map(|(_, r)| r).collect()
    }

    #[tokio::test]
    async fn concurrent_inserts_share_statements_and_each_row_is_stored_as_given() {
        on_both(|s| async move {
            // Far more than one batch at once: every caller answered Ok only for a stored row.
            let results = insert_all(&s, (0..300).map(token).collect()).await;
            assert!(results.iter().all(Result::is_ok), "{results:?}");
            for i in [0, 1, 127, 128, 299] {
                assert_eq!(s.get_access_token(&format!("h{i}")).await.unwrap(), Some(token(i)), "row {i}");
            }
            // A batch holding rows that cannot be stored (a hash already there, and the same
            // hash twice in one batch): those callers alone get Conflict, the others are stored.
            let mut batch: Vec<_> = (300..340).map(token).collect();
            batch.push(token(5));
            let mut twin = token(320);
            twin.jti = "j-twin".into();
            batch.push(twin);
            let results = insert_all(&s, batch).await;
            let conflicts = results.iter().filter(|r| matches!(r, Err(StoreError::Conflict(_)))).count();
            assert_eq!(conflicts, 2, "{results:?}");
            assert!(matches!(results[40], Err(StoreError::Conflict(_))), "the existing hash");
            for i in 300..340 {
                if i != 320 {
                    assert!(results[i - 300].is_ok(), "row {i}: {:?}", results[i - 300]);
                }
                assert!(s.get_access_token(&format!("h{i}")).await.unwrap().is_some(), "row {i}");
            }
            assert_eq!(s.get_access_token("h5").await.unwrap(), Some(token(5)), "the first row is untouched");
        })
        .await;
    }
}
