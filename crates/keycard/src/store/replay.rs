//! The replay cache: values that may be accepted once across every node (RFC 7523 §3 assertion
//! `jti`, RFC 9449 §11.1 DPoP proof `jti`, RFC 9101 request-object `jti`). One conditional
//! statement decides, so two nodes that see the same value at the same instant cannot both accept
//! it. Callers store a keyed hash of the value, never the value, under a namespace of their own
//! (one per kind of value and client).
//!
//! Group commit (`batch.rs`): every strong-client token request records one or two values, and
//! on SQLite all writes queue for one connection. Concurrent [`Store::consume_once`] calls of a
//! node are therefore written by one multi-row `INSERT … ON CONFLICT … RETURNING` per batch, and
//! each caller is answered only after the statement that holds its value has committed. A value
//! sent twice within one batch is accepted at most once (the later copies are answered "replay"
//! without reaching the database). When the batch statement fails, its values are retried one by
//! one so that each caller gets its own answer (all at once "unavailable" in an outage).

use super::batch::{GroupCommit, unavailable, unavailable_error, values_placeholders};
use super::{Store, StoreError, StoreResult};
use crate::clock::UnixTime;
use sqlx::{AnyPool, Row};
use std::collections::HashSet;
use tokio::sync::oneshot;

pub(super) struct Job {
    ns: String,
    value_hash: String,
    expires_at: UnixTime,
    now: UnixTime,
    reply: oneshot::Sender<StoreResult<bool>>,
}

/// The replay cache's batcher, for the `Store`.
pub(super) fn batcher() -> GroupCommit<Job> {
    GroupCommit::new(|pool, jobs| Box::pin(write_batch(pool, jobs)))
}

async fn write_batch(pool: AnyPool, batch: Vec<Job>) {
    let pool = &pool;
    // Duplicates within the batch: the first copy goes to the database, the others are replays.
    let mut seen = HashSet::with_capacity(batch.len());
    let mut unique = Vec::with_capacity(batch.len());
    for job in batch {
        if seen.insert((job.ns.clone(), job.value_hash.clone())) {
            unique.push(job);
        } else {
            let _ = job.reply.send(Ok(false));
        }
    }
    if unique.len() == 1 {
        let j = unique.pop().expect("one job");
        let r = consume_one(pool, &j.ns, &j.value_hash, j.expires_at, j.now).await;
        let _ = j.reply.send(r);
        return;
    }
    let now = unique.iter().map(|j| j.now).min().unwrap_or_default();
    let mut sql = String::from("INSERT INTO replay_cache (ns, value_hash, expires_at) VALUES ");
    sql.push_str(&values_placeholders(unique.len(), 3, 1));
    sql.push_str(&format!(
        " ON CONFLICT (ns, value_hash) DO UPDATE SET expires_at = excluded.expires_at \
         WHERE replay_cache.expires_at <= ${} RETURNING ns, value_hash",
        3 * unique.len() + 1
    ));
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for j in &unique {
        q = q.bind(j.ns.as_str()).bind(j.value_hash.as_str()).bind(j.expires_at);
    }
    match q.bind(now).fetch_all(pool).await {
        Ok(rows) => {
            let mut won = HashSet::with_capacity(rows.len());
            for r in rows {
                if let (Ok(ns), Ok(h)) = (r.try_get::<String, _>("ns"), r.try_get::<String, _>("value_hash")) {
                    won.insert((ns, h));
                }
            }
            for j in unique {
                let first = won.contains(&(j.ns, j.value_hash));
                let _ = j.reply.send(Ok(first));
            }
        }
        Err(e) => {
            if let Some(msg) = unavailable(&StoreError::from(e)) {
                for j in unique {
                    let _ = j.reply.send(Err(unavailable_error(&msg)));
                }
                return;
            }
            for j in unique {
                let r = consume_one(pool, &j.ns, &j.value_hash, j.expires_at, j.now).await;
                let _ = j.reply.send(r);
            }
        }
    }
}

async fn consume_one(
    pool: &AnyPool,
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
    .execute(pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

impl Store {
    /// Records `value_hash` in namespace `ns` until `expires_at`; `true` when this call is the
    /// first to see it (or the earlier record has expired), `false` for a replay. Answered once
    /// the value is committed (batched with concurrent calls, see the module doc). Expired rows
    /// are taken over by the same statement and purged by `purge_user_flows`.
    pub async fn consume_once(
        &self,
        ns: &str,
        value_hash: &str,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> StoreResult<bool> {
        self.check_up(true)?;
        let (reply, answer) = oneshot::channel();
        let job = Job { ns: ns.to_owned(), value_hash: value_hash.to_owned(), expires_at, now, reply };
        if let Err(job) = self.replay.send(&self.pool, job) {
            return consume_one(&self.pool, &job.ns, &job.value_hash, job.expires_at, job.now).await;
        }
        match answer.await {
            Ok(r) => r,
            // The task's runtime ended with the job queued: decide it here.
            Err(_) => consume_one(&self.pool, ns, value_hash, expires_at, now).await,
        }
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
            // Many distinct values at once (one batch statement): each accepted once.
            assert_eq!(distinct(&s).await, 200);
            assert_eq!(distinct(&s).await, 0, "all replays the second time");
            assert!(s.purge_user_flows(10_000, 0, 100).await.unwrap() >= 1);
            assert!(s.consume_once("assertion:app", "h1", 20_000, 10_000).await.unwrap(), "purged");
        })
        .await;
    }

    async fn distinct(s: &crate::store::Store) -> usize {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..200 {
            let s = s.clone();
            set.spawn(async move { s.consume_once("batch", &format!("v{i}"), 100, 10).await.unwrap() });
        }
        set.join_all().await.into_iter().filter(|w| *w).count()
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
