//! Group commit: the writes of concurrent requests gathered into one statement (one commit).
//!
//! On SQLite every write queues for the one writer connection and every commit is a WAL append
//! (and, with `synchronous=FULL`, an fsync), so a write per request caps the write rate at the
//! commit rate. A [`GroupCommit`] owns one task per kind of write: the first job to arrive is
//! taken at once, and every job that arrived while that statement ran is written by the next one
//! (at most [`MAX_BATCH`]), so a lone request waits for nobody and a crowd shares commits. Each
//! caller is answered only after the statement that holds its row has committed: an answer is
//! never ahead of the database. On PostgreSQL the same batching saves round trips and commits.
//!
//! Used by the replay cache (`replay.rs`, one `INSERT … ON CONFLICT … RETURNING` per batch) and
//! opaque access tokens (`access_tokens.rs`, one multi-row `INSERT`). Adding a kind: a job type
//! carrying its reply channel, an `async fn write(pool, Vec<Job>)` that answers every job (on a
//! failed batch, retry one by one so each caller gets its own answer, except when the database is
//! unavailable: see [`unavailable`]), and a `GroupCommit<Job>` field on the `Store`.

use super::StoreError;
use sqlx::AnyPool;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use tokio::sync::mpsc;

/// Most jobs written by one statement (an opaque-token batch binds 11 values per row, far under
/// SQLite's 32,766 and PostgreSQL's 65,535 parameters).
pub const MAX_BATCH: usize = 128;

/// Writes one batch and answers every job in it.
pub(super) type WriteFn<J> = fn(AnyPool, Vec<J>) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// The inbox of one kind's batching task (started on first use, restarted when its runtime ended,
/// as happens between `#[tokio::test]`s sharing a store).
pub(super) struct GroupCommit<J> {
    tx: Mutex<Option<mpsc::UnboundedSender<J>>>,
    write: WriteFn<J>,
}

impl<J> std::fmt::Debug for GroupCommit<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupCommit")
    }
}

impl<J: Send + 'static> GroupCommit<J> {
    pub(super) fn new(write: WriteFn<J>) -> Self {
        Self { tx: Mutex::new(None), write }
    }

    /// Queues `job` for the next batch; gives it back when no batching task can run (no Tokio
    /// runtime), for the caller to write alone.
    pub(super) fn send(&self, pool: &AnyPool, job: J) -> Result<(), J> {
        let mut tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        let job = match tx.as_ref() {
            Some(t) => match t.send(job) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::SendError(job)) => job,
            },
            None => job,
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return Err(job) };
        let (new_tx, rx) = mpsc::unbounded_channel();
        rt.spawn(run(pool.clone(), rx, self.write));
        let r = new_tx.send(job).map_err(|mpsc::error::SendError(j)| j);
        *tx = Some(new_tx);
        r
    }
}

async fn run<J>(pool: AnyPool, mut rx: mpsc::UnboundedReceiver<J>, write: WriteFn<J>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        write(pool.clone(), batch).await;
    }
}

/// `Some(message)` when a failed batch failed because the database is unavailable: then every
/// job gets that answer at once (retrying each alone would only wait out the same outage N times).
pub(super) fn unavailable(e: &StoreError) -> Option<String> {
    match e {
        StoreError::Unavailable(inner) => Some(inner.to_string()),
        _ => None,
    }
}

/// A fresh `Unavailable` error for one caller of a batch that failed with `message`.
pub(super) fn unavailable_error(message: &str) -> StoreError {
    StoreError::Unavailable(sqlx::Error::Io(std::io::Error::other(message.to_owned())))
}

/// `$a, $b, …` placeholders for `rows` rows of `cols` values each, numbered from `first`:
/// `(…), (…)`.
pub(super) fn values_placeholders(rows: usize, cols: usize, first: usize) -> String {
    let mut sql = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(first + r * cols + c).to_string());
        }
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders() {
        assert_eq!(super::values_placeholders(2, 3, 1), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(super::values_placeholders(1, 2, 5), "($5, $6)");
    }
}
