//! Concurrency limits: the queue mode a flow's executions are created with ([`QueuePolicy`],
//! stored on each execution row so claiming reads no definition) and the per-instance and
//! per-customer caps on running executions (settings, read by every claim). The claim itself
//! honours them: see `claimable` in `executions.rs`.

use crate::{Db, DbError};

/// How a flow's executions share the runners, copied onto each execution at creation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueuePolicy {
    /// At most this many executions of the flow run at once per instance; `None`: unlimited.
    pub limit: Option<i64>,
    /// One at a time per instance and strictly in arrival order: an execution is not claimed
    /// while an older one of its (instance, flow) is queued or running. Implies `limit: 1`.
    pub fifo: bool,
}

impl QueuePolicy {
    /// Unlimited, any order (the `parallel` default).
    pub const PARALLEL: QueuePolicy = QueuePolicy { limit: None, fifo: false };

    /// Whether this policy constrains claiming at all: such executions must go through the
    /// queue (no in-process bypass), since only the claim enforces it.
    pub fn is_limited(&self) -> bool {
        self.fifo || self.limit.is_some()
    }

    /// The `queue_limit` column: fifo is a limit of one.
    pub(crate) fn column(&self) -> Option<i64> {
        if self.fifo { Some(1) } else { self.limit }
    }
}

/// A flow's `queue` block as stored on its executions; every path that creates executions (API,
/// webhooks, scheduler, poller) goes through this so they all queue a flow alike.
impl From<&weft_model::QueueDef> for QueuePolicy {
    fn from(q: &weft_model::QueueDef) -> Self {
        QueuePolicy { limit: q.max_concurrency.map(i64::from), fifo: q.mode == weft_model::QueueMode::Fifo }
    }
}

fn check_limit(what: &str, limit: Option<i64>) -> Result<(), DbError> {
    match limit {
        Some(n) if n < 1 => Err(DbError::Invalid(format!("{what} max_concurrency must be at least 1, got {n}"))),
        _ => Ok(()),
    }
}

impl Db {
    /// Sets (or with `None` lifts) the cap on running executions of an instance.
    pub async fn set_instance_max_concurrency(
        &self,
        org: &str,
        instance_id: &str,
        limit: Option<i64>,
    ) -> Result<(), DbError> {
        check_limit("instance", limit)?;
        let done = sqlx::query("UPDATE instances SET max_concurrency = $1 WHERE org_id = $2 AND id = $3")
            .bind(limit)
            .bind(org)
            .bind(instance_id)
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!("instance {instance_id}")));
        }
        Ok(())
    }

    /// The instance's cap on running executions; `None`: unlimited.
    pub async fn instance_max_concurrency(&self, org: &str, instance_id: &str) -> Result<Option<i64>, DbError> {
        let row: Option<Option<i64>> =
            sqlx::query_scalar("SELECT max_concurrency FROM instances WHERE org_id = $1 AND id = $2")
                .bind(org)
                .bind(instance_id)
                .fetch_optional(&self.read)
                .await?;
        row.ok_or_else(|| DbError::NotFound(format!("instance {instance_id}")))
    }

    /// Sets (or with `None` lifts) the cap on running executions of all of a customer's instances.
    pub async fn set_customer_max_concurrency(
        &self,
        org: &str,
        customer_id: &str,
        limit: Option<i64>,
    ) -> Result<(), DbError> {
        check_limit("customer", limit)?;
        let done = sqlx::query("UPDATE customers SET max_concurrency = $1 WHERE org_id = $2 AND id = $3")
            .bind(limit)
            .bind(org)
            .bind(customer_id)
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!("customer {customer_id}")));
        }
        Ok(())
    }

    /// The customer's cap on running executions; `None`: unlimited.
    pub async fn customer_max_concurrency(&self, org: &str, customer_id: &str) -> Result<Option<i64>, DbError> {
        let row: Option<Option<i64>> =
            sqlx::query_scalar("SELECT max_concurrency FROM customers WHERE org_id = $1 AND id = $2")
                .bind(org)
                .bind(customer_id)
                .fetch_optional(&self.read)
                .await?;
        row.ok_or_else(|| DbError::NotFound(format!("customer {customer_id}")))
    }
}
