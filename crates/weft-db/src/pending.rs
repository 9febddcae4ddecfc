//! Executions whose creation is not awaited. A sync webhook's execution runs in the process
//! that accepted it (see weft-api's `wait`); waiting for the creation's commit before its first
//! step would put one whole group transaction in every request's path. Instead the create is
//! queued for the next group transaction and the run starts at once, and every write about the
//! execution goes after that commit:
//!
//! - its finish, when the create job has not started yet, **rides in the create's own job**:
//!   the row is inserted already ended (one commit and one row version per execution instead of
//!   two of each); otherwise it waits for the create's commit;
//! - its checkpoints, requeue, lease release and recorded `state` operations wait for the commit;
//! - the HTTP answer waits for it too ([`Creation::committed`]): nothing is acknowledged before
//!   the execution is durable, as DESIGN.md's execution semantics require.
//!
//! A crash before that commit loses a run nobody was answered for, like a crash before the
//! request was read; its calls so far may have happened, as calls in flight at a crash are
//! repeated on resume. Creates with an idempotency key are always awaited: their answer (a new
//! execution, or the earlier one with that key) is known only after the insert.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{oneshot, watch};

use crate::executions::{GuardedWrite, NewRow, guarded_write, insert_execution, insert_finished};
use crate::group::Job;
use crate::{Db, DbError};

/// What the create job writes: decided at its first run and kept for a replay (a failed batch
/// runs each of its jobs again alone, see `group`).
enum Plan {
    /// Not started: a finish may still ride along.
    Waiting,
    /// Started with the row alone; later writes wait for the commit.
    Insert,
    /// The row and, in the same transaction, the execution's end.
    InsertFinished(Arc<GuardedWrite>),
}

pub(crate) struct Pending {
    plan: Mutex<Plan>,
    /// The create's outcome once committed (or failed); the error as its message.
    outcome: watch::Receiver<Option<Result<(), String>>>,
}

impl Pending {
    /// The finish to write along with the row, if one was attached before the job started.
    fn start(&self) -> Option<Arc<GuardedWrite>> {
        let mut plan = self.plan.lock().expect("pending create lock");
        match &*plan {
            Plan::Waiting => {
                *plan = Plan::Insert;
                None
            }
            Plan::Insert => None,
            Plan::InsertFinished(w) => Some(w.clone()),
        }
    }

    /// Hands `finish` to the create job if it has not started; false when too late.
    fn attach(&self, finish: &Arc<GuardedWrite>) -> bool {
        let mut plan = self.plan.lock().expect("pending create lock");
        if matches!(*plan, Plan::Waiting) {
            *plan = Plan::InsertFinished(finish.clone());
            return true;
        }
        false
    }

    async fn committed(&self, id: &str) -> Result<(), DbError> {
        let mut outcome = self.outcome.clone();
        let not_created = |cause: &str| DbError::NotCreated(format!("execution {id} was not stored: {cause}"));
        let result = match outcome.wait_for(Option::is_some).await {
            Ok(done) => done.clone().expect("waited for an outcome"),
            Err(_) => Err("the database writer stopped".to_string()),
        };
        result.map_err(|cause| not_created(&cause))
    }
}

/// The commit of an execution created unawaited, for whoever acknowledges it.
pub struct Creation {
    id: String,
    pending: Arc<Pending>,
}

impl Creation {
    /// Waits until the execution is stored; [`DbError::NotCreated`] if its creation failed.
    pub async fn committed(self) -> Result<(), DbError> {
        self.pending.committed(&self.id).await
    }
}

/// The creates of this process not committed yet, by execution id.
#[derive(Default)]
pub(crate) struct PendingCreates(Mutex<HashMap<String, Arc<Pending>>>);

impl PendingCreates {
    fn get(&self, id: &str) -> Option<Arc<Pending>> {
        self.0.lock().expect("pending creates lock").get(id).cloned()
    }
}

impl Db {
    /// Queues the insert of `row` (created claimed by this process, no idempotency key) and
    /// returns without waiting for its commit; see the module docs.
    pub(crate) fn create_unawaited(&self, row: NewRow) -> Creation {
        let id = row.id.clone();
        let (tx, outcome) = watch::channel(None);
        let pending = Arc::new(Pending { plan: Mutex::new(Plan::Waiting), outcome });
        self.pending.0.lock().expect("pending creates lock").insert(id.clone(), pending.clone());
        let creation = Creation { id: id.clone(), pending: pending.clone() };
        let row = Arc::new(row);
        let job: Job = Arc::new(move |conn| {
            let (row, pending) = (row.clone(), pending.clone());
            Box::pin(async move {
                match pending.start() {
                    Some(finish) => insert_finished(conn, &row, &finish).await,
                    None => insert_execution(conn, &row).await,
                }
            })
        });
        let done: oneshot::Receiver<Result<(), DbError>> = self.group.submit(job);
        let creates = self.pending.clone();
        tokio::spawn(async move {
            let result = match done.await {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(_) => Err("the database writer stopped before committing".to_string()),
            };
            if let Err(cause) = &result {
                tracing::warn!(execution = %id, error = %cause, "an execution started before its creation committed was not stored");
            }
            let _ = tx.send(Some(result));
            creates.0.lock().expect("pending creates lock").remove(&id);
        });
        creation
    }

    /// Whether execution `id` was created unawaited by this process and is not stored yet.
    pub fn is_creating(&self, id: &str) -> bool {
        self.pending.get(id).is_some()
    }

    /// Waits until execution `id`, if this process created it unawaited and it is not stored
    /// yet, is stored. [`DbError::NotCreated`] if its creation failed.
    pub(crate) async fn created(&self, id: &str) -> Result<(), DbError> {
        match self.pending.get(id) {
            Some(p) => p.committed(id).await,
            None => Ok(()),
        }
    }

    /// Runs a lease-guarded write (checkpoint, finish, requeue) after the execution's creation
    /// committed — a finish rides in the creation's own transaction when that has not started.
    /// Returns whether a cancel was asked for (see `guarded_write`).
    pub(crate) async fn guarded(&self, w: Arc<GuardedWrite>) -> Result<bool, DbError> {
        if let Some(p) = self.pending.get(w.id()) {
            if w.is_finish() && p.attach(&w) {
                // A fresh row cannot have been asked to cancel: nobody could see it.
                return p.committed(w.id()).await.map(|()| false);
            }
            p.committed(w.id()).await?;
        }
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        self.write_job(Arc::new(move |conn| {
            let (w, flag) = (w.clone(), flag.clone());
            Box::pin(async move {
                // Set on every run: a replayed batch must not keep an earlier run's answer.
                flag.store(guarded_write(conn, &w).await?, Ordering::Relaxed);
                Ok(())
            })
        }))
        .await?;
        Ok(cancel.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> Pending {
        Pending { plan: Mutex::new(Plan::Waiting), outcome: watch::channel(None).1 }
    }

    /// A finish attached before the create job runs is written by it, on every run of the job;
    /// once the job started with the row alone, a finish comes too late and must wait.
    #[test]
    fn a_finish_rides_only_on_a_create_not_started() {
        let finish = Arc::new(GuardedWrite::requeue("exe_1", "node", 0, None, &[], &[]));
        let early = pending();
        assert!(early.attach(&finish));
        assert!(early.start().is_some());
        assert!(early.start().is_some(), "a replayed job writes the finish again");

        let late = pending();
        assert!(late.start().is_none());
        assert!(!late.attach(&finish));
        assert!(late.start().is_none(), "a replayed job still writes the row alone");
    }
}
