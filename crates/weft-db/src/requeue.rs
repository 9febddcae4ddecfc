//! Execution-level retry: a failed execution whose flow has a `retry` policy goes back to the
//! queue, due at a later time, instead of finishing. It keeps its checkpoint, so the next claim
//! resumes it after its last completed step exactly as after a crash; `attempts` (bumped by
//! every claim) counts the tries.

use std::sync::Arc;

use crate::executions::GuardedWrite;
use crate::util::json_text;
use crate::{Db, DbError, LogRow, Millis, StepRow};

impl Db {
    /// Returns `owner`'s running execution `id` to the queue, due at `run_at`, with engine state
    /// `state` (the checkpoint to resume from; `None`: none, the next try starts afresh) and the failed try's steps and log lines appended,
    /// in one transaction; only while `owner` holds the lease ([`DbError::LeaseLost`]).
    pub async fn requeue_execution(
        &self,
        id: &str,
        owner: &str,
        run_at: Millis,
        state: Option<&serde_json::Value>,
        steps: &[StepRow],
        logs: &[LogRow],
    ) -> Result<(), DbError> {
        let w = Arc::new(GuardedWrite::requeue(id, owner, run_at, state.map(json_text), steps, logs));
        self.guarded(w).await.map(|_| ())
    }
}
