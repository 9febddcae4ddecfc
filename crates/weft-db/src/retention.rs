//! Retention: how long finished executions (trigger, result, steps, logs) are kept, and the
//! pruning that deletes them once that time has passed.
//!
//! Each organization has a default (`organizations.retention_days`, 30 days unless set), and
//! an instance may override it (`instances.retention_days`). An execution is due when it
//! finished (succeeded, failed or canceled) longer ago than its instance's override, else its
//! organization's default; executions of deleted instances follow the organization's default.
//! Queued and running executions are never pruned, however old.
//!
//! [`Db::prune`] deletes at most one batch per call in one short transaction, so writers (the
//! queue on SQLite shares one write connection) wait at most for one small batch; a caller
//! (the scheduler) calls it again until a batch comes back short. Finding the batch reads
//! through two partial indexes over finished executions only: `(instance_id, finished_at)` for
//! each instance with an override and `(org_id, finished_at)` for each organization's default,
//! each an index range below its cutoff. The one range that can hold rows that are not due is
//! an organization's: executions of an instance whose override is *longer* than the default
//! are skipped over there.
//!
//! An instance with `store_payloads` off keeps its payloads only while they are needed: the
//! trigger stays in the row while the execution is queued or running (a runner that takes over
//! after a crash needs it), and [`Db::finish_execution`] replaces it with
//! [`OMITTED_TRIGGER`] and drops the result and the engine checkpoint in the same statement
//! that finishes the execution. Step inputs and outputs are never written (the worker leaves
//! them out). The sync webhook response is kept: an api node answering a caller for an
//! execution that ran elsewhere reads it from the row.

use sqlx::{Any, AssertSqlSafe, Row};

use crate::{Db, DbError, Millis};

/// What a finished execution's trigger reads when its instance does not store payloads.
pub const OMITTED_TRIGGER: &str = r#"{"omitted":true}"#;

/// Retention is a whole number of days in this range (one day to about a hundred years).
const DAYS: std::ops::RangeInclusive<i64> = 1..=36_500;
const DAY_MS: i64 = 86_400_000;

/// What one [`Db::prune`] call deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub executions: u64,
    pub steps: u64,
    pub logs: u64,
}

fn check_days(days: i64) -> Result<(), DbError> {
    if DAYS.contains(&days) {
        Ok(())
    } else {
        Err(DbError::Invalid(format!("retention_days must be between {} and {}, got {days}", DAYS.start(), DAYS.end())))
    }
}

/// `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

impl Db {
    /// The organization's default retention in days.
    pub async fn org_retention(&self, org: &str) -> Result<i64, DbError> {
        sqlx::query_scalar("SELECT retention_days FROM organizations WHERE id = $1")
            .bind(org)
            .fetch_optional(&self.read)
            .await?
            .ok_or_else(|| DbError::NotFound(format!("organization {org}")))
    }

    /// Sets the organization's default retention (1 to 36,500 days).
    pub async fn set_org_retention(&self, org: &str, days: i64) -> Result<(), DbError> {
        check_days(days)?;
        let done = sqlx::query("UPDATE organizations SET retention_days = $1 WHERE id = $2")
            .bind(days)
            .bind(org)
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!("organization {org}")));
        }
        Ok(())
    }

    /// Sets an instance's retention override (`None`: the organization's default) and whether
    /// its finished executions keep their payloads. Applies to executions that finish from now
    /// on (payloads) and to the next pruning (retention).
    pub async fn set_instance_retention(
        &self,
        org: &str,
        instance_id: &str,
        days: Option<i64>,
        store_payloads: bool,
    ) -> Result<(), DbError> {
        if let Some(days) = days {
            check_days(days)?;
        }
        let done =
            sqlx::query("UPDATE instances SET retention_days = $1, store_payloads = $2 WHERE org_id = $3 AND id = $4")
                .bind(days)
                .bind(i64::from(store_payloads))
                .bind(org)
                .bind(instance_id)
                .execute(&self.write)
                .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!("instance {instance_id}")));
        }
        Ok(())
    }

    /// Deletes up to `batch` finished executions that are due at `now` (see the module docs),
    /// with their steps and log lines, in one transaction. A report with fewer than `batch`
    /// executions means nothing more was due.
    pub async fn prune(&self, now: Millis, batch: u32) -> Result<PruneReport, DbError> {
        let ids = self.due_executions(now, batch as usize).await?;
        if ids.is_empty() {
            return Ok(PruneReport::default());
        }
        let list = placeholders(1, ids.len());
        let mut tx = self.begin_write().await?;
        let mut report = PruneReport::default();
        for (table, column) in [
            ("execution_logs", "execution_id"),
            ("execution_steps", "execution_id"),
            ("state_ops", "execution_id"),
            ("executions", "id"),
        ] {
            let mut sql = format!("DELETE FROM {table} WHERE {column} IN ({list})");
            if table == "executions" {
                // Finished executions never change status again; the check only guards the rule.
                sql.push_str(" AND status IN ('succeeded', 'failed', 'canceled')");
            }
            let mut query = sqlx::query::<Any>(AssertSqlSafe(sql)).persistent(false);
            for id in &ids {
                query = query.bind(id);
            }
            let deleted = query.execute(&mut *tx).await?.rows_affected();
            match table {
                "execution_logs" => report.logs = deleted,
                "execution_steps" => report.steps = deleted,
                "state_ops" => {}
                _ => report.executions = deleted,
            }
        }
        tx.commit().await?;
        Ok(report)
    }

    /// Ids of up to `limit` due executions, oldest first per range: instances with an override,
    /// then each organization's default (for executions of instances without one).
    async fn due_executions(&self, now: Millis, limit: usize) -> Result<Vec<String>, DbError> {
        let mut ids: Vec<String> = Vec::new();
        let overrides = sqlx::query("SELECT id, retention_days FROM instances WHERE retention_days IS NOT NULL")
            .fetch_all(&self.read)
            .await?;
        for row in &overrides {
            if ids.len() >= limit {
                return Ok(ids);
            }
            let instance: String = row.try_get("id")?;
            let days: i64 = row.try_get("retention_days")?;
            let found: Vec<String> = sqlx::query_scalar(
                "SELECT id FROM executions
                 WHERE instance_id = $1 AND status IN ('succeeded', 'failed', 'canceled') AND finished_at < $2
                 ORDER BY finished_at LIMIT $3",
            )
            .bind(&instance)
            .bind(now - days * DAY_MS)
            .bind((limit - ids.len()) as i64)
            .fetch_all(&self.read)
            .await?;
            ids.extend(found);
        }
        let orgs = sqlx::query("SELECT id, retention_days FROM organizations").fetch_all(&self.read).await?;
        for row in &orgs {
            if ids.len() >= limit {
                break;
            }
            let org: String = row.try_get("id")?;
            let days: i64 = row.try_get("retention_days")?;
            let found: Vec<String> = sqlx::query_scalar(
                "SELECT e.id FROM executions e
                 WHERE e.org_id = $1 AND e.status IN ('succeeded', 'failed', 'canceled') AND e.finished_at < $2
                     AND NOT EXISTS (SELECT 1 FROM instances i
                                     WHERE i.id = e.instance_id AND i.retention_days IS NOT NULL)
                 ORDER BY e.finished_at LIMIT $3",
            )
            .bind(&org)
            .bind(now - days * DAY_MS)
            .bind((limit - ids.len()) as i64)
            .fetch_all(&self.read)
            .await?;
            ids.extend(found);
        }
        Ok(ids)
    }
}
