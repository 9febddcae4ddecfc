//! Group commit for the hot writes. On SQLite (one writer) every transaction costs a
//! `BEGIN`/`COMMIT` round trip through the driver's worker thread; on PostgreSQL every commit
//! waits for its WAL flush. Either bounds how many executions per second one node can create and
//! finish, so concurrent writes (webhooks arriving together, executions finishing together) are
//! queued to one writer task per process that runs everything waiting in ONE transaction.
//!
//! On PostgreSQL several writer tasks take batches from the same queue, each on its own
//! connection: a batch is a string of statement round trips (`BEGIN`, one per create, checkpoint
//! or finish, `COMMIT`), so one writer spends most of its time waiting on the network, not on
//! the WAL flush. Two
//! batches touch different rows (fresh executions, leased ones) except in rare cases (the same
//! idempotency key or state key written in two batches in opposite orders): PostgreSQL then
//! detects the deadlock, one batch fails and its jobs run again alone, as below. SQLite has one
//! writer connection, so one writer task.
//!
//! Each job is re-runnable: if any job fails with an unexpected error, the batch is rolled back
//! and every job runs again in a transaction of its own, so one bad write never takes the
//! others down with it. Jobs whose failure is an expected answer (a lost lease: the guarded
//! UPDATE matched nothing and wrote nothing) report it without spoiling the batch.

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use sqlx::{AnyConnection, AnyPool, Connection};
use tokio::sync::{mpsc, oneshot};

use crate::DbError;

/// A write that can run (again) inside any open transaction.
pub(crate) type Job = Arc<dyn for<'c> Fn(&'c mut AnyConnection) -> BoxFuture<'c, Result<(), DbError>> + Send + Sync>;

type Pending = (Job, oneshot::Sender<Result<(), DbError>>);

/// Most jobs one transaction takes; more wait for the next one.
const MAX_BATCH: usize = 256;

#[derive(Clone)]
pub(crate) struct GroupWriter {
    tx: mpsc::UnboundedSender<Pending>,
    /// Ids of finished executions to announce on `weft_finished` (PostgreSQL), gathered so that
    /// one `pg_notify` in the next group transaction announces them all (see `notify`).
    pub(crate) finished: Arc<Mutex<Vec<String>>>,
}

/// How a group transaction starts: SQLite takes its write lock up front (`BEGIN IMMEDIATE`).
#[derive(Clone, Copy)]
pub(crate) enum Begin {
    Immediate,
    Plain,
}

impl Begin {
    fn sql(self) -> &'static str {
        match self {
            Begin::Immediate => "BEGIN IMMEDIATE",
            Begin::Plain => "BEGIN",
        }
    }
}

impl GroupWriter {
    /// Starts `writers` writer tasks on the current tokio runtime, sharing one queue (each needs
    /// a connection of `pool`). They end when every handle is gone.
    pub(crate) fn start(pool: AnyPool, begin: Begin, writers: usize) -> GroupWriter {
        let (tx, rx) = mpsc::unbounded_channel();
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..writers.max(1) {
            tokio::spawn(run(pool.clone(), begin, rx.clone()));
        }
        GroupWriter { tx, finished: Arc::default() }
    }

    /// Queues `job` for the next group transaction without waiting for it (its outcome is only
    /// logged): for best-effort writes nobody waits on.
    pub(crate) fn send(&self, job: Job) {
        let (done, _) = oneshot::channel();
        if self.tx.send((job, done)).is_err() {
            tracing::debug!("the database writer has stopped; a best-effort write is dropped");
        }
    }

    /// Runs `job` in the next group transaction; returns once that transaction committed.
    pub(crate) async fn write(&self, job: Job) -> Result<(), DbError> {
        self.submit(job).await.map_err(|_| DbError::Invalid("the database writer stopped before committing".into()))?
    }

    /// Queues `job` for the next group transaction now; the receiver yields its outcome once
    /// that transaction committed (or failed). Dropped unanswered if the writer has stopped.
    pub(crate) fn submit(&self, job: Job) -> oneshot::Receiver<Result<(), DbError>> {
        let (done, wait) = oneshot::channel();
        if self.tx.send((job, done)).is_err() {
            tracing::debug!("the database writer has stopped (runtime shutting down)");
        }
        wait
    }
}

/// Failures a job reports as its answer, having written nothing — and without an SQL error, so
/// the transaction stays usable on PostgreSQL too (a guarded UPDATE that matched no row).
fn expected(e: &DbError) -> bool {
    matches!(e, DbError::LeaseLost(_) | DbError::NotFound(_) | DbError::Invalid(_))
}

async fn run(pool: AnyPool, begin: Begin, rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>>) {
    loop {
        // Hold the queue only while taking a batch: the other writers take the next ones.
        let batch = {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else { return };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            batch
        };
        let results = match run_batch(&pool, begin, &batch).await {
            Ok(results) => results,
            // Something unexpected: isolate every job in its own transaction.
            Err(_) => {
                let mut results = Vec::with_capacity(batch.len());
                for (job, _) in &batch {
                    results.push(run_alone(&pool, begin, job).await);
                }
                results
            }
        };
        for ((_, done), result) in batch.into_iter().zip(results) {
            if let Err(Err(e)) = done.send(result) {
                // Nobody waits for this one (see `send`): say what went wrong.
                tracing::warn!(error = %e, "a best-effort group write failed");
            }
        }
    }
}

/// All jobs in one transaction. `Err` means the batch was rolled back.
async fn run_batch(pool: &AnyPool, begin: Begin, batch: &[Pending]) -> Result<Vec<Result<(), DbError>>, DbError> {
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin_with(begin.sql()).await?;
    let mut results = Vec::with_capacity(batch.len());
    for (job, _) in batch {
        match job(&mut tx).await {
            Ok(()) => results.push(Ok(())),
            Err(e) if expected(&e) => results.push(Err(e)),
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(e);
            }
        }
    }
    tx.commit().await?;
    Ok(results)
}

async fn run_alone(pool: &AnyPool, begin: Begin, job: &Job) -> Result<(), DbError> {
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin_with(begin.sql()).await?;
    job(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Executor;

    fn insert(x: i64) -> Job {
        Arc::new(move |conn| {
            Box::pin(async move {
                sqlx::query("INSERT INTO t (x) VALUES ($1)").bind(x).execute(&mut *conn).await?;
                Ok(())
            })
        })
    }

    /// Jobs sent together commit together; a job that fails unexpectedly fails alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_bad_job_does_not_spoil_its_batch() {
        let db = crate::Db::open("sqlite::memory:").await.unwrap();
        db.write.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)").await.unwrap();
        let group = db.group.clone();
        group.write(insert(7)).await.unwrap();
        let mut tasks = Vec::new();
        for x in 0..40 {
            let g = group.clone();
            // 7 exists already: that insert violates the primary key.
            tasks.push(tokio::spawn(async move { (x, g.write(insert(x)).await) }));
        }
        for t in tasks {
            let (x, res) = t.await.unwrap();
            assert_eq!(res.is_err(), x == 7, "job {x}: {res:?}");
        }
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t").fetch_one(&db.read).await.unwrap();
        assert_eq!(n, 40);
    }
}
