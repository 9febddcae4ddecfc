//! Schedules: one row per (instance, flow) with a schedule trigger, holding the resolved cron
//! expression, its time zone and the next due time. This crate does not evaluate cron (the
//! scheduler in weft-worker does); it stores due times and fires them exactly once.
//!
//! Exactly once across any number of schedulers: [`Db::fire_schedule`] moves `next_fire_at`
//! forward with a compare-and-set on the due time the caller read, and inserts the execution in
//! the same transaction only when that matched. Two schedulers that read the same due row both
//! try; the database lets one UPDATE match (PostgreSQL re-checks the WHERE clause after the
//! winner commits; SQLite has a single writer), and the loser inserts nothing.
//!
//! A paused instance's schedules stay stored but are neither listed as due nor fired (the
//! instance's `enabled` is checked in the same statements), so pause and resume need no write
//! here; schedules of a deleted instance are deleted with it.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::util::new_id;
use crate::{Db, DbError, Execution, Millis, NewExecution, QueuePolicy};

/// A stored schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub id: String,
    pub org_id: String,
    pub instance_id: String,
    pub customer_id: String,
    pub integration_id: String,
    /// The instance's version when the schedule was stored (replaced on upgrade).
    pub version: i64,
    pub flow_key: String,
    /// The cron expression after evaluating `{{ … }}` against the instance's config.
    pub cron: String,
    /// IANA time zone name (`UTC` when the trigger names none).
    pub timezone: String,
    /// The next due time.
    pub next_fire_at: Millis,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A schedule to store for an instance by [`Db::replace_schedules`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSchedule {
    pub customer_id: String,
    pub integration_id: String,
    pub version: i64,
    pub flow_key: String,
    pub cron: String,
    pub timezone: String,
    /// The first due time (computed by the caller from its clock).
    pub next_fire_at: Millis,
}

const SCHEDULE_COLS: &str = "s.id, s.org_id, s.instance_id, s.customer_id, s.integration_id, s.version, \
     s.flow_key, s.cron, s.timezone, s.next_fire_at, s.created_at, s.updated_at";

fn schedule_from_row(row: &AnyRow) -> Result<Schedule, DbError> {
    Ok(Schedule {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        instance_id: row.try_get("instance_id")?,
        customer_id: row.try_get("customer_id")?,
        integration_id: row.try_get("integration_id")?,
        version: row.try_get("version")?,
        flow_key: row.try_get("flow_key")?,
        cron: row.try_get("cron")?,
        timezone: row.try_get("timezone")?,
        next_fire_at: row.try_get("next_fire_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Db {
    /// Replaces all schedules of an instance (deploy, upgrade, resume) in one transaction: a
    /// scheduler sees either the old set or the new one. Returns the new rows, by flow key.
    pub async fn replace_schedules(
        &self,
        org: &str,
        instance_id: &str,
        schedules: &[NewSchedule],
        now: Millis,
    ) -> Result<Vec<Schedule>, DbError> {
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT id FROM instances WHERE org_id = $1 AND id = $2")
            .bind(org)
            .bind(instance_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(DbError::NotFound(format!("instance {instance_id}")));
        }
        sqlx::query("DELETE FROM schedules WHERE instance_id = $1").bind(instance_id).execute(&mut *tx).await?;
        let mut out = Vec::with_capacity(schedules.len());
        for n in schedules {
            let s = Schedule {
                id: new_id("sch"),
                org_id: org.to_string(),
                instance_id: instance_id.to_string(),
                customer_id: n.customer_id.clone(),
                integration_id: n.integration_id.clone(),
                version: n.version,
                flow_key: n.flow_key.clone(),
                cron: n.cron.clone(),
                timezone: n.timezone.clone(),
                next_fire_at: n.next_fire_at,
                created_at: now,
                updated_at: now,
            };
            sqlx::query(
                "INSERT INTO schedules (id, org_id, instance_id, customer_id, integration_id, version,
                     flow_key, cron, timezone, next_fire_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(&s.id)
            .bind(&s.org_id)
            .bind(&s.instance_id)
            .bind(&s.customer_id)
            .bind(&s.integration_id)
            .bind(s.version)
            .bind(&s.flow_key)
            .bind(&s.cron)
            .bind(&s.timezone)
            .bind(s.next_fire_at)
            .bind(s.created_at)
            .bind(s.updated_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if DbError::is_unique_violation(&e) {
                    DbError::Conflict(format!("instance {instance_id} has two schedules for flow `{}`", n.flow_key))
                } else {
                    e.into()
                }
            })?;
            out.push(s);
        }
        tx.commit().await?;
        out.sort_by(|a, b| a.flow_key.cmp(&b.flow_key));
        Ok(out)
    }

    /// The schedules of an instance (paused or not), by flow key.
    pub async fn list_schedules(&self, org: &str, instance_id: &str) -> Result<Vec<Schedule>, DbError> {
        let sql = format!(
            "SELECT {SCHEDULE_COLS} FROM schedules s WHERE s.org_id = $1 AND s.instance_id = $2 ORDER BY s.flow_key"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org).bind(instance_id).fetch_all(&self.read).await?;
        rows.iter().map(schedule_from_row).collect()
    }

    /// Up to `limit` schedules of enabled instances due at `now`, most overdue first.
    pub async fn due_schedules(&self, now: Millis, limit: u32) -> Result<Vec<Schedule>, DbError> {
        let sql = format!(
            "SELECT {SCHEDULE_COLS} FROM schedules s JOIN instances i ON i.id = s.instance_id
             WHERE s.next_fire_at <= $1 AND i.enabled = 1 ORDER BY s.next_fire_at, s.id LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(i64::from(limit)).fetch_all(&self.read).await?;
        rows.iter().map(schedule_from_row).collect()
    }

    /// Fires schedule `id` for the due time `due_at` the caller read: in one transaction, moves
    /// `next_fire_at` from `due_at` to `next_fire_at` and queues `new` (which must not be
    /// claimed; its idempotency key is not used: the due time is the key) under its flow's queue
    /// `policy`. Returns `None`, storing nothing, when the schedule is no longer due at
    /// `due_at` — another scheduler fired it, it was replaced or deleted, or its instance was
    /// paused.
    pub async fn fire_schedule(
        &self,
        id: &str,
        due_at: Millis,
        next_fire_at: Millis,
        new: &NewExecution,
        policy: QueuePolicy,
        now: Millis,
    ) -> Result<Option<Execution>, DbError> {
        // A scheduled firing is a poll firing with one execution and no poll state.
        let fired = self.fire_poll(id, due_at, next_fire_at, None, std::slice::from_ref(new), policy, now).await?;
        Ok(fired.and_then(|mut v| v.pop()))
    }
}
