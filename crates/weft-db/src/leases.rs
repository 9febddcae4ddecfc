//! Handing a lease back: a runner that shuts down gracefully with executions it could not
//! finish in time returns them to the queue, so another node resumes them at once (from their
//! last checkpoint) instead of waiting for the lease to expire.

use crate::{Db, DbError, Millis};

impl Db {
    /// Returns `owner`'s running execution `id` to the queue, due at `now`. Its checkpoint, steps
    /// and attempts are kept; the next claim resumes it after its last completed step. Any
    /// later write by `owner` fails with [`DbError::LeaseLost`]. False if `owner` did not hold
    /// the lease (already finished, or taken over).
    pub async fn release_lease(&self, id: &str, owner: &str, now: Millis) -> Result<bool, DbError> {
        self.created(id).await?;
        let done = sqlx::query(
            "UPDATE executions SET status = 'queued', lease_owner = NULL, lease_until = NULL, run_at = $1
             WHERE id = $2 AND lease_owner = $3 AND status = 'running'",
        )
        .bind(now)
        .bind(id)
        .bind(owner)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
