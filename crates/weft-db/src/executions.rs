//! Executions: the durable work queue (create, claim with a lease, renew, checkpoint, finish)
//! and the execution history (listing, steps, log lines). See the crate docs for the model.

use std::sync::{Arc, Mutex};

use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Row};

use crate::util::{
    Filters, get_json, get_opt_json, id_cursor, json_text, new_id, numeric_cursor, paginate, values_placeholders,
};
use crate::{
    Backend, Checkpoint, Db, DbError, Execution, ExecutionFilter, ExecutionStatus, Finish, LogRow, Millis,
    NewExecution, Page, Paged, QueuePolicy, StateWrite, StepRow,
};

macro_rules! execution_cols {
    () => {
        "id, org_id, instance_id, customer_id, integration_id, version, flow_key, status, \
         trigger_data, result, error, response, state, attempts, replay_of, lease_owner, \
         lease_until, created_at, started_at, finished_at, log_seq"
    };
}

/// Whether execution `e` may start now as far as its flow's queue mode and the instance and
/// customer limits go, given the executions already running with a live lease ($3 = now).
macro_rules! claimable {
    () => {
        " AND (e.queue_limit IS NULL OR (
               (SELECT COUNT(*) FROM executions r WHERE r.instance_id = e.instance_id
                    AND r.flow_key = e.flow_key AND r.status = 'running' AND r.lease_until > $3)
                   < e.queue_limit
               AND (e.fifo = 0 OR NOT EXISTS (SELECT 1 FROM executions o
                    WHERE o.instance_id = e.instance_id AND o.flow_key = e.flow_key
                        AND o.status IN ('queued', 'running')
                        AND (o.created_at < e.created_at OR (o.created_at = e.created_at AND o.id < e.id))))))
           AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = e.instance_id
               AND i.max_concurrency IS NOT NULL AND i.max_concurrency <=
                   (SELECT COUNT(*) FROM executions r WHERE r.instance_id = e.instance_id
                        AND r.status = 'running' AND r.lease_until > $3))
           AND NOT EXISTS (SELECT 1 FROM customers cu WHERE cu.id = e.customer_id
               AND cu.max_concurrency IS NOT NULL AND cu.max_concurrency <=
                   (SELECT COUNT(*) FROM executions r WHERE r.customer_id = e.customer_id
                        AND r.status = 'running' AND r.lease_until > $3)) "
    };
}

/// The walk checks each candidate against what already runs; this checks a batch against
/// itself: `ranked` numbers the candidates within their (instance, flow), instance and
/// customer in claim order, and a candidate is taken only if the running ones plus those
/// before it in the batch stay within each limit.
macro_rules! ranked_within_limits {
    ($cand_join:literal) => {
        concat!(
            "ranked AS (SELECT x.id, w.r, x.run_at, x.instance_id, x.customer_id, x.flow_key, x.queue_limit,
                 ROW_NUMBER() OVER (PARTITION BY x.instance_id, x.flow_key ORDER BY w.r, x.run_at, x.id) AS fr,
                 ROW_NUMBER() OVER (PARTITION BY x.instance_id ORDER BY w.r, x.run_at, x.id) AS ir,
                 ROW_NUMBER() OVER (PARTITION BY x.customer_id ORDER BY w.r, x.run_at, x.id) AS cr
             FROM cand w ",
            $cand_join,
            "),
         ok AS (SELECT k.id, k.r, k.run_at FROM ranked k
             WHERE (k.queue_limit IS NULL OR k.fr + (SELECT COUNT(*) FROM executions r
                     WHERE r.instance_id = k.instance_id AND r.flow_key = k.flow_key
                         AND r.status = 'running' AND r.lease_until > $3) <= k.queue_limit)
               AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = k.instance_id
                   AND i.max_concurrency IS NOT NULL AND i.max_concurrency < k.ir +
                       (SELECT COUNT(*) FROM executions r WHERE r.instance_id = k.instance_id
                            AND r.status = 'running' AND r.lease_until > $3))
               AND NOT EXISTS (SELECT 1 FROM customers cu WHERE cu.id = k.customer_id
                   AND cu.max_concurrency IS NOT NULL AND cu.max_concurrency < k.cr +
                       (SELECT COUNT(*) FROM executions r WHERE r.customer_id = k.customer_id
                            AND r.status = 'running' AND r.lease_until > $3))) "
        )
    };
}

/// The fair claim, as one statement. `run_at` is the creation time of a queued execution and
/// the lease expiry of a running one, so `run_at <= now` covers both "due" and "lease expired".
///
/// Round-robin across customers: every due execution gets a rank within its customer (1 for
/// its oldest, 2 for the next, …) and the claim takes rank 1 of every customer before rank 2 of
/// any, oldest first within a rank. So if at most `limit` customers have due work, each of them
/// gets at least one execution in every claim, however big another customer's backlog is.
///
/// It never reads a whole backlog: `cust` finds the customers with due work by one index seek
/// each (a loose index scan over `executions_fair`), and `walk` steps through each customer's
/// due executions in order, one seek per row, breadth first (rank by rank), stopping after
/// `$5` ranks and as soon as it has enough candidates: `$5` plus one more full rank. Cost:
/// O((customers with due work + candidates) · log n).
///
/// Queue modes and concurrency limits (see `queue_ok`/`limits_ok`): the walk skips an
/// execution whose (instance, flow), instance or customer is already at its limit, counting
/// running executions with a live lease, and a `fifo` one while an older execution of its
/// (instance, flow) is queued or running. Unlimited executions pay one primary-key read of their
/// instance and customer; a blocked backlog is stepped over row by row (by its own index).
///
/// Parameters: $1 owner, $2 lease until, $3 now, $4 limit, $5 candidate depth.
macro_rules! claim_walk {
    ($customer_index:literal, $next_in_customer:literal, $walk_limit:literal, $join_open:literal, $join_close:literal) => {
        concat!(
            "WITH RECURSIVE
             cust(cid) AS (
                 SELECT (SELECT e.customer_id FROM executions e ",
            $customer_index,
            "
                         WHERE e.status IN ('queued', 'running') AND e.run_at <= $3
                         ORDER BY e.customer_id, e.run_at, e.id LIMIT 1)
                 UNION ALL
                 SELECT (SELECT e.customer_id FROM executions e ",
            $customer_index,
            "
                         WHERE e.status IN ('queued', 'running') AND e.run_at <= $3 AND e.customer_id > c.cid
                         ORDER BY e.customer_id, e.run_at, e.id LIMIT 1)
                 FROM cust c WHERE c.cid IS NOT NULL
             ),
             walk(cid, id, run_at, r) AS (
                 SELECT c.cid, h.id, h.run_at, 1 FROM cust c ",
            $join_open,
            " WHERE e.customer_id = c.cid AND e.status IN ('queued', 'running') AND e.run_at <= $3",
            claimable!(),
            "
                      ORDER BY e.customer_id, e.run_at, e.id LIMIT 1",
            $join_close,
            "
                 UNION ALL
                 SELECT w.cid, h.id, h.run_at, w.r + 1 FROM walk w ",
            $join_open,
            " WHERE e.customer_id = w.cid AND e.status IN ('queued', 'running') AND e.run_at <= $3
                          AND ",
            $next_in_customer,
            claimable!(),
            "
                      ORDER BY e.customer_id, e.run_at, e.id LIMIT 1",
            $join_close,
            "
                 WHERE w.r < $5 ",
            $walk_limit,
            "
             ) "
        )
    };
}

/// SQLite has one writer, so the statement is atomic as is. `INDEXED BY` because its planner
/// would otherwise walk `executions_customer`, which also holds every finished execution; the
/// 2-column row value is what SQLite turns into an index range. A LIMIT in the recursive CTE
/// stops the walk early.
const CLAIM_SQLITE: &str = concat!(
    claim_walk!(
        "INDEXED BY executions_fair",
        "(e.run_at, e.id) > (w.run_at, w.id)",
        "LIMIT $5 + (SELECT COUNT(*) FROM cust)",
        "JOIN executions h ON h.id = (SELECT e.id FROM executions e",
        ")"
    ),
    ", cand AS (SELECT id, r FROM walk), ",
    ranked_within_limits!("JOIN executions x ON x.id = w.id"),
    "UPDATE executions SET status = 'running', lease_owner = $1, lease_until = $2,
         run_at = $2, attempts = attempts + 1, started_at = COALESCE(started_at, $3)
     WHERE id IN (SELECT id FROM ok ORDER BY r, run_at, id LIMIT $4)
     RETURNING ",
    execution_cols!()
);

/// PostgreSQL evaluates a recursive CTE only as far as its reader fetches, so the LIMIT on
/// `cand` stops the walk (a LIMIT inside a recursive CTE is not allowed there). The candidates
/// are re-checked and locked in fair order; concurrent claimers skip rows another claimer has
/// locked instead of waiting for them, so N runners claim N disjoint batches in parallel (the
/// candidate depth is a few times the limit for that reason). The walk steps and the candidates
/// are read through `LATERAL (… LIMIT 1)`: joined plainly, PostgreSQL planned hash joins over a
/// sequential scan of the whole table (finished history included), so every claim got slower
/// as the table grew.
///
/// The limits need no lock between concurrent claimers although each reads its own snapshot:
/// every claimer ranks the same queue front (oldest first within each limit), so two claimers
/// that both see a slot free pick the same execution for it, and the one that loses the row lock
/// skips it (a row claimed meanwhile fails the re-check under `FOR UPDATE`). A stale snapshot
/// only over-counts running executions. `racing_claimers_never_exceed_limits` races eight.
const CLAIM_POSTGRES: &str = concat!(
    claim_walk!(
        "",
        "(e.customer_id, e.run_at, e.id) > (w.cid, w.run_at, w.id)",
        "",
        "CROSS JOIN LATERAL (SELECT e.id, e.run_at FROM executions e",
        ") h"
    ),
    ", cand AS (SELECT id, r FROM walk LIMIT $5 + (SELECT COUNT(*) FROM cust)), ",
    ranked_within_limits!("CROSS JOIN LATERAL (SELECT * FROM executions x WHERE x.id = w.id LIMIT 1) x"),
    "UPDATE executions SET status = 'running', lease_owner = $1, lease_until = $2,
         run_at = $2, attempts = attempts + 1, started_at = COALESCE(started_at, $3)
     WHERE id IN (SELECT x.id FROM executions x JOIN ok c ON c.id = x.id
         WHERE x.status IN ('queued', 'running') AND x.run_at <= $3
         ORDER BY c.r, x.run_at, x.id LIMIT $4
         FOR UPDATE OF x SKIP LOCKED)
     RETURNING ",
    execution_cols!()
);

/// Candidates per claimed execution on PostgreSQL: spare ones for concurrent claimers to take
/// when the first choices are locked.
const POSTGRES_CANDIDATES_PER_CLAIM: i64 = 4;

fn execution_from_row(row: &AnyRow) -> Result<Execution, DbError> {
    let id: String = row.try_get("id")?;
    let status: String = row.try_get("status")?;
    let status = ExecutionStatus::from_name(&status)
        .ok_or_else(|| DbError::Invalid(format!("execution {id} has unknown status `{status}`")))?;
    Ok(Execution {
        id,
        org_id: row.try_get("org_id")?,
        instance_id: row.try_get("instance_id")?,
        customer_id: row.try_get("customer_id")?,
        integration_id: row.try_get("integration_id")?,
        version: row.try_get("version")?,
        flow_key: row.try_get("flow_key")?,
        status,
        trigger: get_json(row, "trigger_data")?,
        result: get_opt_json(row, "result")?,
        error: get_opt_json(row, "error")?,
        response: get_opt_json(row, "response")?,
        state: get_opt_json(row, "state")?,
        attempts: row.try_get("attempts")?,
        replay_of: row.try_get("replay_of")?,
        lease_owner: row.try_get("lease_owner")?,
        lease_until: row.try_get("lease_until")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        log_lines: row.try_get("log_seq")?,
    })
}

fn step_from_row(row: &AnyRow) -> Result<StepRow, DbError> {
    Ok(StepRow {
        seq: row.try_get("seq")?,
        path: row.try_get("path")?,
        key: row.try_get("key")?,
        kind: row.try_get("kind")?,
        action: row.try_get("action")?,
        status: row.try_get("status")?,
        input: get_opt_json(row, "input")?,
        output: get_opt_json(row, "output")?,
        error: get_opt_json(row, "error")?,
        attempts: row.try_get("attempts")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

fn log_from_row(row: &AnyRow) -> Result<LogRow, DbError> {
    Ok(LogRow {
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        level: row.try_get("level")?,
        step_path: row.try_get("step_path")?,
        message: row.try_get("message")?,
    })
}

/// Rows per multi-row INSERT: few statements per checkpoint, far below both engines' limits on
/// bound parameters.
const INSERT_CHUNK: usize = 64;
/// Statements for up to this many rows stay prepared (the common checkpoint carries one or two
/// steps); bigger one-off batches are not worth a slot in the statement cache.
const PERSISTENT_ROWS: usize = 8;

type AnyQuery<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>;

/// A row appended to an execution's history (`execution_steps`, `execution_logs`), numbered by
/// a per-execution counter on `executions`.
trait Appended {
    const TABLE: &'static str;
    /// Its columns, `execution_id` and `seq` first, in the order `bind` binds them.
    const COLS: &'static [&'static str];
    /// The `executions` column that hands out its seqs.
    const COUNTER: &'static str;
    fn bind<'q>(&'q self, query: AnyQuery<'q>, execution_id: &'q str, seq: i64) -> AnyQuery<'q>;
}

impl Appended for StepRow {
    const TABLE: &'static str = "execution_steps";
    const COLS: &'static [&'static str] = &[
        "execution_id",
        "seq",
        "path",
        "key",
        "kind",
        "action",
        "status",
        "input",
        "output",
        "error",
        "attempts",
        "started_at",
        "finished_at",
    ];
    const COUNTER: &'static str = "step_seq";
    fn bind<'q>(&'q self, query: AnyQuery<'q>, execution_id: &'q str, seq: i64) -> AnyQuery<'q> {
        query
            .bind(execution_id)
            .bind(seq)
            .bind(&self.path)
            .bind(&self.key)
            .bind(&self.kind)
            .bind(self.action.as_deref())
            .bind(&self.status)
            .bind(self.input.as_ref().map(json_text))
            .bind(self.output.as_ref().map(json_text))
            .bind(self.error.as_ref().map(json_text))
            .bind(self.attempts)
            .bind(self.started_at)
            .bind(self.finished_at)
    }
}

impl Appended for LogRow {
    const TABLE: &'static str = "execution_logs";
    const COLS: &'static [&'static str] = &["execution_id", "seq", "at", "level", "step_path", "message"];
    const COUNTER: &'static str = "log_seq";
    fn bind<'q>(&'q self, query: AnyQuery<'q>, execution_id: &'q str, seq: i64) -> AnyQuery<'q> {
        query
            .bind(execution_id)
            .bind(seq)
            .bind(self.at)
            .bind(&self.level)
            .bind(self.step_path.as_deref())
            .bind(&self.message)
    }
}

/// Appends `rows` with seqs `first_seq`, `first_seq + 1`, … (the incoming seqs are ignored), in
/// multi-row INSERTs of up to `INSERT_CHUNK` rows.
async fn insert_rows<R: Appended>(
    conn: &mut AnyConnection,
    execution_id: &str,
    first_seq: i64,
    rows: &[R],
) -> Result<(), DbError> {
    let mut seq = first_seq;
    for chunk in rows.chunks(INSERT_CHUNK) {
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {}",
            R::TABLE,
            R::COLS.join(", "),
            values_placeholders(chunk.len(), R::COLS.len(), 1)
        );
        let mut query = sqlx::query::<Any>(AssertSqlSafe(sql)).persistent(chunk.len() <= PERSISTENT_ROWS);
        for row in chunk {
            query = row.bind(query, execution_id, seq);
            seq += 1;
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// `, <name> AS (INSERT …)`: the part of a PostgreSQL data-modifying `WITH` whose first CTE `u`
/// is the guarded UPDATE, inserting `rows` rows (placeholders from `$first`, each row's seq
/// bound as its ordinal 1, 2, …) numbered after `u`'s counter, which already counts `total`
/// new rows. Inserts nothing when `u` matched nothing.
fn inline_insert<R: Appended>(name: &str, total: usize, rows: usize, first: usize) -> String {
    let v: Vec<String> = (1..=R::COLS.len()).map(|c| format!("c{c}")).collect();
    let picked: Vec<String> = v
        .iter()
        .enumerate()
        .map(|(i, c)| if i == 1 { format!("u.{} - {total} + v.{c}", R::COUNTER) } else { format!("v.{c}") })
        .collect();
    format!(
        ", {name} AS (INSERT INTO {} ({}) SELECT {} FROM u, (VALUES {}) AS v ({}))",
        R::TABLE,
        R::COLS.join(", "),
        picked.join(", "),
        values_placeholders(rows, R::COLS.len(), first),
        v.join(", ")
    )
}

/// After a lease-guarded UPDATE matched nothing: says why (missing, or leased by whom).
async fn lease_error(conn: &mut AnyConnection, id: &str, owner: &str) -> DbError {
    let row = sqlx::query("SELECT status, lease_owner FROM executions WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await;
    match row {
        Ok(None) => DbError::NotFound(format!("execution {id}")),
        Ok(Some(row)) => {
            let status: String = row.try_get("status").unwrap_or_default();
            let holder: Option<String> = row.try_get("lease_owner").unwrap_or_default();
            let holder = match holder {
                Some(h) => format!("leased by `{h}`"),
                None => "not leased".to_string(),
            };
            DbError::LeaseLost(format!("execution {id} is {status} and {holder}, not by `{owner}`"))
        }
        Err(e) => e.into(),
    }
}

/// An execution row to insert, owned so the insert can run in a group transaction.
pub(crate) struct NewRow {
    pub(crate) id: String,
    pub(crate) org_id: String,
    pub(crate) instance_id: String,
    pub(crate) customer_id: String,
    pub(crate) integration_id: String,
    pub(crate) version: i64,
    pub(crate) flow_key: String,
    pub(crate) status: ExecutionStatus,
    pub(crate) trigger: String,
    pub(crate) attempts: i64,
    pub(crate) replay_of: Option<String>,
    pub(crate) lease_owner: Option<String>,
    pub(crate) lease_until: Option<Millis>,
    pub(crate) run_at: Millis,
    pub(crate) created_at: Millis,
    pub(crate) started_at: Option<Millis>,
    /// [`crate::QueuePolicy`] as stored: `queue_limit`, `fifo`.
    pub(crate) queue_limit: Option<i64>,
    pub(crate) fifo: bool,
}

impl NewRow {
    /// The row for `new`: queued, or running with a lease when created claimed.
    pub(crate) fn new(new: &NewExecution, policy: QueuePolicy, now: Millis) -> Result<NewRow, DbError> {
        let (status, lease_until, attempts, started_at, run_at) = match &new.claimed_by {
            Some(owner) => {
                if new.lease_ms <= 0 {
                    return Err(DbError::Invalid(format!(
                        "execution claimed by `{owner}` needs a positive lease_ms, got {}",
                        new.lease_ms
                    )));
                }
                let until = now + new.lease_ms;
                (ExecutionStatus::Running, Some(until), 1, Some(now), until)
            }
            None => (ExecutionStatus::Queued, None, 0, None, now),
        };
        Ok(NewRow {
            id: new_id("exe"),
            org_id: new.org_id.clone(),
            instance_id: new.instance_id.clone(),
            customer_id: new.customer_id.clone(),
            integration_id: new.integration_id.clone(),
            version: new.version,
            flow_key: new.flow_key.clone(),
            status,
            trigger: json_text(&new.trigger),
            attempts,
            replay_of: new.replay_of.clone(),
            lease_owner: new.claimed_by.clone(),
            lease_until,
            run_at,
            created_at: now,
            started_at,
            queue_limit: policy.column(),
            fifo: policy.fifo,
        })
    }

    /// The execution this row stores once inserted (`trigger` is the row's, unserialized).
    pub(crate) fn execution(&self, trigger: serde_json::Value) -> Execution {
        Execution {
            id: self.id.clone(),
            org_id: self.org_id.clone(),
            instance_id: self.instance_id.clone(),
            customer_id: self.customer_id.clone(),
            integration_id: self.integration_id.clone(),
            version: self.version,
            flow_key: self.flow_key.clone(),
            status: self.status,
            trigger,
            result: None,
            error: None,
            response: None,
            state: None,
            attempts: self.attempts,
            replay_of: self.replay_of.clone(),
            lease_owner: self.lease_owner.clone(),
            lease_until: self.lease_until,
            created_at: self.created_at,
            started_at: self.started_at,
            finished_at: None,
            log_lines: 0,
        }
    }
}

pub(crate) async fn insert_execution(conn: &mut AnyConnection, r: &NewRow) -> Result<(), DbError> {
    match insert_keyed(conn, r, None).await? {
        true => Ok(()),
        // Without a key only the primary key could conflict: fresh ids never do.
        false => Err(DbError::Conflict(format!("execution {} exists already", r.id))),
    }
}

/// Inserts the row (with its idempotency key, if any); false (and nothing written) when the
/// instance used the key already. A conflict is an answer here, not an error: an error would
/// make a group batch replay job by job.
async fn insert_keyed(conn: &mut AnyConnection, r: &NewRow, key: Option<&str>) -> Result<bool, DbError> {
    let query = sqlx::query(
        "INSERT INTO executions (id, org_id, instance_id, customer_id, integration_id, version,
             flow_key, status, trigger_data, attempts, replay_of, lease_owner, lease_until,
             run_at, step_seq, log_seq, created_at, started_at, idempotency_key, queue_limit, fifo)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 0, 0, $15, $16, $17, $18, $19)
         ON CONFLICT DO NOTHING",
    );
    let done = bind_identity(query, r)
        .bind(r.status.as_str())
        .bind(&r.trigger)
        .bind(r.attempts)
        .bind(r.replay_of.as_deref())
        .bind(r.lease_owner.as_deref())
        .bind(r.lease_until)
        .bind(r.run_at)
        .bind(r.created_at)
        .bind(r.started_at)
        .bind(key)
        .bind(r.queue_limit)
        .bind(i64::from(r.fifo))
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Inserts the row, or (when its idempotency key is taken) reads the execution that has it.
async fn insert_or_find(conn: &mut AnyConnection, r: &NewRow, key: Option<&str>) -> Result<Option<Execution>, DbError> {
    let Some(key) = key else {
        insert_execution(conn, r).await?;
        return Ok(None);
    };
    if insert_keyed(conn, r, Some(key)).await? {
        return Ok(None);
    }
    let row = sqlx::query(concat!(
        "SELECT ",
        execution_cols!(),
        " FROM executions WHERE instance_id = $1 AND idempotency_key = $2"
    ))
    .bind(&r.instance_id)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => Ok(Some(execution_from_row(&row)?)),
        // Only a uniqueness conflict skips the insert; the id is fresh, so the key has a row.
        None => Err(DbError::Conflict(format!("execution {} conflicts with an existing one", r.id))),
    }
}

/// A checkpoint (`finish: None`), the end of an execution, or its return to the queue for a
/// retry (`requeue_at`), guarded by the lease owner.
pub(crate) struct GuardedWrite {
    id: String,
    owner: String,
    finish: Option<FinishFields>,
    /// Back to `queued`, due then (see `requeue`); `finish` is `None` then.
    requeue_at: Option<Millis>,
    /// The checkpoint a requeued execution resumes from (`None`: it starts afresh).
    requeue_state: Option<String>,
    state: String,
    response: Option<String>,
    steps: Vec<StepRow>,
    logs: Vec<LogRow>,
    /// Deferred `state.set` / `state.delete` writes of the steps this write records.
    state_writes: Vec<StateWrite>,
}

struct FinishFields {
    status: ExecutionStatus,
    result: Option<String>,
    error: Option<String>,
    now: Millis,
}

impl GuardedWrite {
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn is_finish(&self) -> bool {
        self.finish.is_some()
    }

    pub(crate) fn requeue(
        id: &str,
        owner: &str,
        run_at: Millis,
        state: Option<String>,
        steps: &[StepRow],
        logs: &[LogRow],
    ) -> GuardedWrite {
        GuardedWrite {
            id: id.to_string(),
            owner: owner.to_string(),
            finish: None,
            requeue_at: Some(run_at),
            requeue_state: state,
            state: String::new(),
            response: None,
            steps: steps.to_vec(),
            logs: logs.to_vec(),
            state_writes: Vec::new(),
        }
    }
}

/// The lease-guarded UPDATE of a [`GuardedWrite`] (placeholders `$1`…`$n`, returned with `n`):
/// bumps the step and log counters and returns them, with the cancel flag.
fn guarded_update_sql(w: &GuardedWrite) -> (&'static str, usize) {
    match &w.finish {
        None if w.requeue_at.is_some() => (
            "UPDATE executions SET status = 'queued', state = $1, lease_owner = NULL, lease_until = NULL,
                 run_at = $2, step_seq = step_seq + $3, log_seq = log_seq + $4
             WHERE id = $5 AND lease_owner = $6 AND status = 'running'
             RETURNING step_seq, log_seq, cancel_requested",
            6,
        ),
        None => (
            "UPDATE executions SET state = $1, response = COALESCE($2, response),
                 step_seq = step_seq + $3, log_seq = log_seq + $4
             WHERE id = $5 AND lease_owner = $6
             RETURNING step_seq, log_seq, cancel_requested",
            6,
        ),
        // An instance that stores no payloads keeps the trigger only while it may be needed to
        // resume (see `retention`): it is replaced, and result and checkpoint dropped, here.
        Some(_) => (
            "UPDATE executions SET status = $1,
                 result = CASE WHEN EXISTS (SELECT 1 FROM instances i
                     WHERE i.id = executions.instance_id AND i.store_payloads = 0) THEN NULL ELSE $2 END,
                 error = $3,
                 state = CASE WHEN EXISTS (SELECT 1 FROM instances i
                     WHERE i.id = executions.instance_id AND i.store_payloads = 0) THEN NULL ELSE $4 END,
                 trigger_data = CASE WHEN EXISTS (SELECT 1 FROM instances i
                     WHERE i.id = executions.instance_id AND i.store_payloads = 0)
                     THEN '{\"omitted\":true}' ELSE trigger_data END,
                 response = COALESCE($5, response), finished_at = $6,
                 started_at = COALESCE(started_at, $6), lease_owner = NULL, lease_until = NULL,
                 step_seq = step_seq + $7, log_seq = log_seq + $8
             WHERE id = $9 AND lease_owner = $10
             RETURNING step_seq, log_seq, cancel_requested",
            10,
        ),
    }
}

/// Binds the placeholders of [`guarded_update_sql`].
fn bind_guarded_update<'q>(query: AnyQuery<'q>, w: &'q GuardedWrite) -> AnyQuery<'q> {
    let (steps, logs) = (w.steps.len() as i64, w.logs.len() as i64);
    match &w.finish {
        None if w.requeue_at.is_some() => {
            query.bind(w.requeue_state.as_deref()).bind(w.requeue_at).bind(steps).bind(logs).bind(&w.id).bind(&w.owner)
        }
        None => query.bind(&w.state).bind(w.response.as_deref()).bind(steps).bind(logs).bind(&w.id).bind(&w.owner),
        Some(f) => query
            .bind(f.status.as_str())
            .bind(f.result.as_deref())
            .bind(f.error.as_deref())
            .bind(&w.state)
            .bind(w.response.as_deref())
            .bind(f.now)
            .bind(steps)
            .bind(logs)
            .bind(&w.id)
            .bind(&w.owner),
    }
}

/// Stores state, steps and logs (and, when finishing, the outcome, releasing the lease) — only
/// while `owner` holds the lease. Returns whether a cancel was asked for the execution (see
/// [`Db::cancel_requested`]). One statement on PostgreSQL (see `write_with_rows`).
pub(crate) async fn guarded_write(conn: &mut AnyConnection, w: &GuardedWrite) -> Result<bool, DbError> {
    let (update, params) = guarded_update_sql(w);
    match write_with_rows(conn, update, params, |q| bind_guarded_update(q, w), w).await? {
        Some(cancel_requested) => Ok(cancel_requested),
        None => Err(lease_error(conn, &w.id, &w.owner).await),
    }
}

/// The row of an execution created claimed (`r`) inserted directly as `w` (a finish) ends it,
/// with `w`'s steps, logs and state writes: what the create followed by `guarded_write(w)`
/// would store, with one row version instead of two (an UPDATE of `executions` writes a new
/// entry in each of its indexes). See `pending` for when a finish is known before its create
/// runs. Like the finish, an instance that stores no payloads keeps no trigger, result or state.
pub(crate) async fn insert_finished(conn: &mut AnyConnection, r: &NewRow, w: &GuardedWrite) -> Result<(), DbError> {
    let Some(f) = &w.finish else {
        return Err(DbError::Invalid(format!("execution {}: only a finish can be inserted with its row", r.id)));
    };
    let head = "INSERT INTO executions (id, org_id, instance_id, customer_id, integration_id, version,
             flow_key, status, trigger_data, result, error, state, response, attempts, replay_of,
             lease_owner, lease_until, run_at, step_seq, log_seq, created_at, started_at, finished_at,
             queue_limit, fifo)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8,
             CASE WHEN k.omit THEN '{\"omitted\":true}' ELSE $9 END,
             CASE WHEN k.omit THEN NULL ELSE $10 END, $11,
             CASE WHEN k.omit THEN NULL ELSE $12 END, $13, $14, $15, NULL, NULL, $16, $17, $18, $19,
             $20, $21, $22, $23
         FROM (SELECT EXISTS (SELECT 1 FROM instances i WHERE i.id = $3 AND i.store_payloads = 0) AS omit) k
         RETURNING step_seq, log_seq, cancel_requested";
    match write_with_rows(conn, head, 23, |q| bind_finished_insert(q, r, w, f), w).await? {
        Some(_) => Ok(()),
        None => Err(DbError::Conflict(format!("execution {} exists already", r.id))),
    }
}

/// Binds `$1`…`$7` of an INSERT into `executions`: the execution's id, where it belongs
/// (organization, instance, customer, integration version) and its flow.
fn bind_identity<'q>(q: AnyQuery<'q>, r: &'q NewRow) -> AnyQuery<'q> {
    q.bind(&r.id)
        .bind(&r.org_id)
        .bind(&r.instance_id)
        .bind(&r.customer_id)
        .bind(&r.integration_id)
        .bind(r.version)
        .bind(&r.flow_key)
}

/// Binds the placeholders of [`insert_finished`]'s statement.
fn bind_finished_insert<'q>(q: AnyQuery<'q>, r: &'q NewRow, w: &'q GuardedWrite, f: &'q FinishFields) -> AnyQuery<'q> {
    bind_identity(q, r)
        .bind(f.status.as_str())
        .bind(&r.trigger)
        .bind(f.result.as_deref())
        .bind(f.error.as_deref())
        .bind(&w.state)
        .bind(w.response.as_deref())
        .bind(r.attempts)
        .bind(r.replay_of.as_deref())
        .bind(r.run_at)
        .bind(w.steps.len() as i64)
        .bind(w.logs.len() as i64)
        .bind(r.created_at)
        .bind(r.started_at.unwrap_or(f.now))
        .bind(f.now)
        .bind(r.queue_limit)
        .bind(i64::from(r.fifo))
}

/// Runs `head` (placeholders `$1`…`$params`, bound by `bind_head`; it returns the execution's
/// `step_seq`, `log_seq` and `cancel_requested` after counting `w`'s new steps and logs in them)
/// and stores `w`'s steps, logs and state writes after it. `None` when `head` matched no row.
///
/// On PostgreSQL the first `INSERT_CHUNK` steps and log lines ride in `head`'s own statement (a
/// data-modifying `WITH`, inserting only when `head` returned its row), so a checkpoint or a
/// finish is one round trip instead of three; SQLite has no INSERT inside `WITH` and runs them
/// after.
async fn write_with_rows<'q>(
    conn: &mut AnyConnection,
    head: &str,
    params: usize,
    bind_head: impl FnOnce(AnyQuery<'q>) -> AnyQuery<'q>,
    w: &'q GuardedWrite,
) -> Result<Option<bool>, DbError> {
    let (steps, logs) = (w.steps.len(), w.logs.len());
    let inline = conn.backend_name() == "PostgreSQL";
    let (inline_steps, inline_logs) = if inline { (steps.min(INSERT_CHUNK), logs.min(INSERT_CHUNK)) } else { (0, 0) };
    let sql = if inline {
        let mut sql = format!("WITH u AS ({head})");
        let mut next = params + 1;
        if inline_steps > 0 {
            sql.push_str(&inline_insert::<StepRow>("s", steps, inline_steps, next));
            next += inline_steps * StepRow::COLS.len();
        }
        if inline_logs > 0 {
            sql.push_str(&inline_insert::<LogRow>("l", logs, inline_logs, next));
        }
        sql.push_str(" SELECT step_seq, log_seq, cancel_requested FROM u");
        sql
    } else {
        head.to_string()
    };
    let mut query = bind_head(sqlx::query::<Any>(AssertSqlSafe(sql)))
        .persistent(inline_steps <= PERSISTENT_ROWS && inline_logs <= PERSISTENT_ROWS);
    for (ordinal, step) in (1..).zip(&w.steps[..inline_steps]) {
        query = step.bind(query, &w.id, ordinal);
    }
    for (ordinal, log) in (1..).zip(&w.logs[..inline_logs]) {
        query = log.bind(query, &w.id, ordinal);
    }
    let Some(row) = query.fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    let first_step = row.try_get::<i64, _>("step_seq")? - steps as i64 + 1;
    let first_log = row.try_get::<i64, _>("log_seq")? - logs as i64 + 1;
    let cancel_requested = row.try_get::<i64, _>("cancel_requested")? != 0;
    insert_rows(conn, &w.id, first_step + inline_steps as i64, &w.steps[inline_steps..]).await?;
    insert_rows(conn, &w.id, first_log + inline_logs as i64, &w.logs[inline_logs..]).await?;
    // After the lease check: state written by a runner that lost its lease never lands.
    for sw in &w.state_writes {
        crate::state::apply_write(conn, sw).await?;
    }
    Ok(Some(cancel_requested))
}

impl Db {
    /// Enqueues an execution (or creates it already claimed by `claimed_by`). Returns after the
    /// commit: the execution survives any crash from then on. With an idempotency key that the
    /// instance already used, returns that execution instead (see [`Db::create_execution_once`]).
    pub async fn create_execution(&self, new: &NewExecution, now: Millis) -> Result<Execution, DbError> {
        Ok(self.create_execution_once(new, now).await?.0)
    }

    /// Like [`Db::create_execution`], and says whether the execution was created (`true`) or
    /// already existed with the same `(instance, idempotency_key)` (`false`: nothing was
    /// written; the existing execution is returned as it is now, possibly running elsewhere or
    /// finished).
    pub async fn create_execution_once(&self, new: &NewExecution, now: Millis) -> Result<(Execution, bool), DbError> {
        self.create_execution_with(new, QueuePolicy::PARALLEL, now).await
    }

    /// [`Db::create_execution_once`] for a flow with a queue mode: the policy is stored on the
    /// execution and honoured by every claim. A limited execution should be created queued
    /// (`claimed_by: None`): one created claimed bypasses the limits.
    pub async fn create_execution_with(
        &self,
        new: &NewExecution,
        policy: QueuePolicy,
        now: Millis,
    ) -> Result<(Execution, bool), DbError> {
        let row = Arc::new(NewRow::new(new, policy, now)?);
        let created_row = row.clone();
        let key = new.idempotency_key.clone();
        let found: Arc<Mutex<Option<Execution>>> = Arc::default();
        let slot = found.clone();
        self.write_job(Arc::new(move |conn| {
            let (row, key, slot) = (row.clone(), key.clone(), slot.clone());
            Box::pin(async move {
                // Set on every run: a replayed batch must not keep an earlier run's answer.
                let existing = insert_or_find(conn, &row, key.as_deref()).await?;
                *slot.lock().expect("idempotency slot lock") = existing;
                Ok(())
            })
        }))
        .await?;
        if let Some(existing) = found.lock().expect("idempotency slot lock").take() {
            return Ok((existing, false));
        }
        let created = created_row.execution(new.trigger.clone());
        Ok((created, true))
    }

    /// [`Db::create_execution`] for an execution created claimed by this process (`claimed_by`
    /// set, no idempotency key) that it starts driving at once: returns without waiting for the
    /// commit. Every later write about the execution waits for it (its finish may ride in the
    /// same transaction), and so must whatever acknowledges it: [`crate::Creation::committed`].
    pub fn create_execution_unawaited(
        &self,
        new: &NewExecution,
        policy: QueuePolicy,
        now: Millis,
    ) -> Result<(Execution, crate::Creation), DbError> {
        if new.claimed_by.is_none() || new.idempotency_key.is_some() {
            return Err(DbError::Invalid(
                "only an execution claimed by its creator and without an idempotency key can be created unawaited"
                    .into(),
            ));
        }
        let row = NewRow::new(new, policy, now)?;
        let created = row.execution(new.trigger.clone());
        Ok((created, self.create_unawaited(row)))
    }

    /// Cancels an execution: a queued one becomes `canceled` at once; a running one is marked
    /// `cancel_requested` and its runner ends it as `canceled` after its next completed call
    /// (see [`Db::cancel_requested`]). Asking again is harmless. A finished execution cannot be
    /// canceled ([`DbError::Conflict`]). Returns the execution as it is afterwards.
    pub async fn cancel_execution(&self, org: &str, id: &str, now: Millis) -> Result<Execution, DbError> {
        let mut tx = self.begin_write().await?;
        let canceled = sqlx::query(
            "UPDATE executions SET status = 'canceled', finished_at = $1, lease_owner = NULL,
                 lease_until = NULL
             WHERE org_id = $2 AND id = $3 AND status = 'queued'",
        )
        .bind(now)
        .bind(org)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !canceled {
            // Running (on PostgreSQL a concurrent claim is waited for, then the status re-read).
            sqlx::query(
                "UPDATE executions SET cancel_requested = 1
                 WHERE org_id = $1 AND id = $2 AND status = 'running'",
            )
            .bind(org)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            execution_cols!(),
            ", cancel_requested FROM executions WHERE org_id = $1 AND id = $2"
        ))
        .bind(org)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        let Some(row) = row else {
            return Err(DbError::NotFound(format!("execution {id}")));
        };
        let exe = execution_from_row(&row)?;
        let requested: i64 = row.try_get("cancel_requested")?;
        // Canceled by a cancel (now or before) is an answer; any other end is a conflict.
        let by_cancel =
            exe.status == ExecutionStatus::Canceled && (canceled || requested != 0 || exe.started_at.is_none());
        if exe.status.is_terminal() && !by_cancel {
            return Err(DbError::Conflict(format!("execution {id} already finished ({})", exe.status)));
        }
        Ok(exe)
    }

    /// Whether a cancel was asked for this execution while it ran: one primary-key read. (The
    /// runner learns it from each checkpoint instead, see [`Db::checkpoint`].)
    pub async fn cancel_requested(&self, id: &str) -> Result<bool, DbError> {
        let flag: Option<i64> = sqlx::query_scalar("SELECT cancel_requested FROM executions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        Ok(flag.is_some_and(|f| f != 0))
    }

    /// Claims up to `limit` due executions for `owner`, round-robin across customers and oldest
    /// first within each (see `claim_walk`): queued ones whose time has come and running ones
    /// whose lease expired (their runner is presumed dead). Each becomes
    /// `running` with a lease until `now + lease_ms` and one more attempt. Safe with any number
    /// of concurrent claimers: an execution is never handed to two of them for the same lease.
    pub async fn claim_executions(
        &self,
        owner: &str,
        limit: u32,
        lease_ms: i64,
        now: Millis,
    ) -> Result<Vec<Execution>, DbError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        if lease_ms <= 0 {
            return Err(DbError::Invalid(format!("lease_ms must be positive, got {lease_ms}")));
        }
        let sql = match self.backend {
            Backend::Sqlite => CLAIM_SQLITE,
            Backend::Postgres => CLAIM_POSTGRES,
        };
        let depth = match self.backend {
            Backend::Sqlite => i64::from(limit),
            Backend::Postgres => i64::from(limit) * POSTGRES_CANDIDATES_PER_CLAIM,
        };
        let query = sqlx::query(sql).bind(owner).bind(now + lease_ms).bind(now).bind(i64::from(limit)).bind(depth);
        let rows = match self.backend {
            Backend::Sqlite => query.fetch_all(&self.write).await?,
            Backend::Postgres => {
                // The planner's estimate for this statement is far above `jit_above_cost` (it
                // cannot see that the walk stops early), and compiling it took longer than
                // running it: tens of milliseconds per claim, on the runner's critical path.
                let mut tx = self.write.begin().await?;
                sqlx::query("SET LOCAL jit = off").execute(&mut *tx).await?;
                let rows = query.fetch_all(&mut *tx).await?;
                tx.commit().await?;
                rows
            }
        };
        let mut claimed = rows.iter().map(execution_from_row).collect::<Result<Vec<_>, _>>()?;
        // RETURNING has no defined order.
        claimed.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(claimed)
    }

    /// Extends every lease `owner` holds to `now + lease_ms`, in one statement (a runner's
    /// heartbeat); returns the ids of the executions renewed. One missing from them that the
    /// runner still drives was taken over (its lease had expired): that runner must stop it.
    pub async fn renew_leases(&self, owner: &str, lease_ms: i64, now: Millis) -> Result<Vec<String>, DbError> {
        let ids = sqlx::query_scalar(
            "UPDATE executions SET lease_until = $1, run_at = $1
             WHERE lease_owner = $2 AND status = 'running'
             RETURNING id",
        )
        .bind(now + lease_ms)
        .bind(owner)
        .fetch_all(&self.write)
        .await?;
        Ok(ids)
    }

    /// Saves the engine state and appends steps and logs (and the sync response, if given) in
    /// one transaction, only while `owner` holds the lease ([`DbError::LeaseLost`] otherwise).
    /// Returns whether a cancel was asked for the execution meanwhile (as
    /// [`Db::cancel_requested`] would, without another query).
    pub async fn checkpoint(&self, cp: &Checkpoint<'_>) -> Result<bool, DbError> {
        self.checkpoint_with_state(cp, &[]).await
    }

    /// [`Db::checkpoint`] that also applies the steps' deferred state writes, in order, in the
    /// same transaction (see `state`).
    pub async fn checkpoint_with_state(
        &self,
        cp: &Checkpoint<'_>,
        state_writes: &[StateWrite],
    ) -> Result<bool, DbError> {
        let w = Arc::new(GuardedWrite {
            id: cp.id.to_string(),
            owner: cp.owner.to_string(),
            finish: None,
            requeue_at: None,
            requeue_state: None,
            state: json_text(cp.state),
            response: cp.response.map(json_text),
            steps: cp.steps.to_vec(),
            logs: cp.logs.to_vec(),
            state_writes: state_writes.to_vec(),
        });
        self.guarded(w).await
    }

    /// Ends an execution: final status, result, error, state, remaining steps and logs in one
    /// transaction, releasing the lease; only while `owner` holds it ([`DbError::LeaseLost`]).
    pub async fn finish_execution(&self, fin: &Finish<'_>) -> Result<(), DbError> {
        self.finish_execution_with_state(fin, &[]).await
    }

    /// [`Db::finish_execution`] that also applies the steps' deferred state writes in the same
    /// transaction (and forgets the execution's recorded `state` answers: it runs no more steps).
    pub async fn finish_execution_with_state(
        &self,
        fin: &Finish<'_>,
        state_writes: &[StateWrite],
    ) -> Result<(), DbError> {
        if !fin.status.is_terminal() {
            return Err(DbError::Invalid(format!(
                "execution {} cannot finish with status `{}`: use succeeded, failed or canceled",
                fin.id, fin.status
            )));
        }
        let w = Arc::new(GuardedWrite {
            id: fin.id.to_string(),
            owner: fin.owner.to_string(),
            finish: Some(FinishFields {
                status: fin.status,
                result: fin.result.map(json_text),
                error: fin.error.map(json_text),
                now: fin.now,
            }),
            requeue_at: None,
            requeue_state: None,
            state: json_text(fin.state),
            response: fin.response.map(json_text),
            steps: fin.steps.to_vec(),
            logs: fin.logs.to_vec(),
            state_writes: state_writes.to_vec(),
        });
        self.guarded(w).await.map(|_| ())
    }

    pub async fn get_execution(&self, org: &str, id: &str) -> Result<Option<Execution>, DbError> {
        let row = sqlx::query(concat!("SELECT ", execution_cols!(), " FROM executions WHERE org_id = $1 AND id = $2"))
            .bind(org)
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(execution_from_row).transpose()
    }

    /// Executions, newest first, filtered by any combination of the filter's fields.
    pub async fn list_executions(
        &self,
        org: &str,
        filter: &ExecutionFilter,
        page: &Page,
    ) -> Result<Paged<Execution>, DbError> {
        let limit = page.effective_limit();
        let mut f = Filters::new(1);
        if filter.instance_id.is_some() {
            f.push("instance_id", "=");
        }
        if filter.customer_id.is_some() {
            f.push("customer_id", "=");
        }
        if filter.flow_key.is_some() {
            f.push("flow_key", "=");
        }
        if filter.status.is_some() {
            f.push("status", "=");
        }
        if filter.since.is_some() {
            f.push("created_at", ">=");
        }
        if filter.until.is_some() {
            f.push("created_at", "<");
        }
        if page.cursor.is_some() {
            f.push("id", "<");
        }
        let limit_param = f.placeholder();
        let sql = format!(
            concat!("SELECT ", execution_cols!(), " FROM executions WHERE org_id = $1{} ORDER BY id DESC LIMIT {}"),
            f.sql, limit_param
        );
        let mut query = sqlx::query::<Any>(AssertSqlSafe(sql)).bind(org);
        if let Some(v) = &filter.instance_id {
            query = query.bind(v);
        }
        if let Some(v) = &filter.customer_id {
            query = query.bind(v);
        }
        if let Some(v) = &filter.flow_key {
            query = query.bind(v);
        }
        if let Some(v) = filter.status {
            query = query.bind(v.as_str());
        }
        if let Some(v) = filter.since {
            query = query.bind(v);
        }
        if let Some(v) = filter.until {
            query = query.bind(v);
        }
        if let Some(c) = id_cursor(page, "exe")? {
            query = query.bind(c);
        }
        let rows = query.bind(i64::from(limit) + 1).fetch_all(&self.read).await?;
        let items = rows.iter().map(execution_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(paginate(items, limit, |e| e.id.clone()))
    }

    /// Every recorded step of an execution, in the order they were saved.
    pub async fn list_steps(&self, execution_id: &str) -> Result<Vec<StepRow>, DbError> {
        let rows = sqlx::query(
            "SELECT seq, path, key, kind, action, status, input, output, error, attempts,
                 started_at, finished_at
             FROM execution_steps WHERE execution_id = $1 ORDER BY seq",
        )
        .bind(execution_id)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(step_from_row).collect()
    }

    /// An execution's log lines, oldest first.
    pub async fn list_logs(&self, execution_id: &str, page: &Page) -> Result<Paged<LogRow>, DbError> {
        let limit = page.effective_limit();
        let after = numeric_cursor(page)?.unwrap_or(0);
        let rows = sqlx::query(
            "SELECT seq, at, level, step_path, message FROM execution_logs
             WHERE execution_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(execution_id)
        .bind(after)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let items = rows.iter().map(log_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(paginate(items, limit, |l| l.seq.to_string()))
    }
}
