//! Poll trigger state: per (instance, flow) a JSON value (the cursor and the ids of the records
//! emitted last; its shape is the scheduler's business), and [`Db::fire_poll`], which fires a
//! poll schedule exactly once and stores that state together with the executions it stands for.
//!
//! Exactly once and nothing lost: the compare-and-set on `next_fire_at` (as in
//! [`Db::fire_schedule`]), the executions and the new state are one transaction. A scheduler that
//! crashes before the commit stored none of them, so the next poll sees the old cursor and finds
//! the same records again; a scheduler that loses the race stores none of them either. The
//! state lives in its own table keyed by (instance, flow), not in the schedule row, because
//! schedule rows are replaced on every deploy, upgrade and resume.

use serde_json::Value;
use sqlx::Row;

use crate::executions::{NewRow, insert_execution};
use crate::util::json_text;
use crate::{Db, DbError, Execution, Millis, NewExecution, QueuePolicy};

impl Db {
    /// The stored state of the poll trigger of `flow_key` in `instance_id`; `None` before its
    /// first successful poll.
    pub async fn poll_state(&self, instance_id: &str, flow_key: &str) -> Result<Option<Value>, DbError> {
        let row = sqlx::query("SELECT state FROM poll_state WHERE instance_id = $1 AND flow_key = $2")
            .bind(instance_id)
            .bind(flow_key)
            .fetch_optional(&self.read)
            .await?;
        match row {
            Some(r) => {
                let text: String = r.try_get("state")?;
                Ok(Some(serde_json::from_str(&text).map_err(|e| DbError::Invalid(format!("poll state: {e}")))?))
            }
            None => Ok(None),
        }
    }

    /// Fires poll schedule `id` for the due time `due_at` the caller read: in one transaction,
    /// moves `next_fire_at` from `due_at` to `next_fire_at`, stores `new_state` as the poll
    /// state of the schedule's (instance, flow) (`None` keeps the stored one: a failed poll)
    /// and queues `executions` (none claimed; their idempotency keys are not used) under their
    /// flow's queue `policy`, in order (a fifo flow runs them in record order). Returns
    /// the queued executions, or `None`, storing nothing, when the schedule is no longer due at
    /// `due_at` (another scheduler fired it, it was replaced or deleted, or its instance was
    /// paused).
    // Each argument is one part of the single transaction; a struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub async fn fire_poll(
        &self,
        id: &str,
        due_at: Millis,
        next_fire_at: Millis,
        new_state: Option<&Value>,
        executions: &[NewExecution],
        policy: QueuePolicy,
        now: Millis,
    ) -> Result<Option<Vec<Execution>>, DbError> {
        if let Some(owner) = executions.iter().find_map(|n| n.claimed_by.as_ref()) {
            return Err(DbError::Invalid(format!(
                "an execution fired by a schedule or poll is queued for any runner, not claimed (by `{owner}`)"
            )));
        }
        if next_fire_at <= due_at {
            return Err(DbError::Invalid(format!(
                "schedule {id}: the next fire time {next_fire_at} must be after the due time {due_at}"
            )));
        }
        let mut tx = self.begin_write().await?;
        let moved = sqlx::query(
            "UPDATE schedules SET next_fire_at = $1, updated_at = $2
             WHERE id = $3 AND next_fire_at = $4
               AND EXISTS (SELECT 1 FROM instances i WHERE i.id = schedules.instance_id AND i.enabled = 1)",
        )
        .bind(next_fire_at)
        .bind(now)
        .bind(id)
        .bind(due_at)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 0 {
            return Ok(None);
        }
        if let Some(state) = new_state {
            let row = sqlx::query("SELECT instance_id, flow_key FROM schedules WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            let (instance_id, flow_key): (String, String) = (row.try_get("instance_id")?, row.try_get("flow_key")?);
            sqlx::query(
                "INSERT INTO poll_state (instance_id, flow_key, state, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (instance_id, flow_key) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            )
            .bind(&instance_id)
            .bind(&flow_key)
            .bind(json_text(state))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let mut out = Vec::with_capacity(executions.len());
        for new in executions {
            let row = NewRow::new(new, policy, now)?;
            insert_execution(&mut tx, &row).await?;
            out.push(row.execution(new.trigger.clone()));
        }
        tx.commit().await?;
        Ok(Some(out))
    }
}
