//! Persisted key-value state of steps (the `state.*` actions the worker serves).
//!
//! Two kinds of write, with different commit points:
//! - `set` / `delete` are *deferred*: the worker buffers them and hands them to the next
//!   [`Db::checkpoint`] / [`Db::finish_execution`] as [`StateWrite`]s, which apply them in the
//!   same transaction as the step records, after the lease check. So such a write is durable
//!   exactly when the step that made it is, and a runner that lost its lease writes nothing.
//! - `increment` / `compare_and_set` answer with a value that depends on what other executions
//!   wrote, so they run at call time, atomically, in a short transaction of their own
//!   ([`Db::state_increment`], [`Db::state_compare_and_set`]). Their answer is recorded under
//!   the execution id and the step's idempotency key in the same transaction: a step run again
//!   after a crash gets its first answer back and never applies the operation twice.
//!
//! Scopes are named by the caller (the worker derives them from the execution, never from step
//! input), always within an organization.

use serde_json::{Number, Value};
use sqlx::{AnyConnection, Row};

use crate::util::json_text;
use crate::{Backend, Db, DbError, Millis};

/// What a state scope belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeKind {
    Instance,
    /// One flow of one instance.
    Flow,
    Customer,
    /// A custom component's own state in one instance (`instance_id:component_key`): what the
    /// component reads and writes through `host.state-*`.
    Component,
}

impl ScopeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::Instance => "instance",
            ScopeKind::Flow => "flow",
            ScopeKind::Customer => "customer",
            ScopeKind::Component => "component",
        }
    }

    pub fn from_name(name: &str) -> Option<ScopeKind> {
        [ScopeKind::Instance, ScopeKind::Flow, ScopeKind::Customer, ScopeKind::Component]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
}

/// One key space: `id` is an instance id, `instance_id:flow_key`, a customer id, or
/// `instance_id:component_key`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StateScope {
    pub org_id: String,
    pub kind: ScopeKind,
    pub id: String,
}

/// A deferred write, applied with a checkpoint: `value: None` deletes the key.
#[derive(Debug, Clone, PartialEq)]
pub struct StateWrite {
    pub scope: StateScope,
    pub key: String,
    pub value: Option<Value>,
    pub at: Millis,
}

/// Why a call-time state operation was refused (nothing was written).
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A size or count limit; the message names it.
    #[error("{0}")]
    Limit(String),
    /// The stored value does not fit the operation (incrementing a string, …).
    #[error("{0}")]
    Type(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for StateError {
    fn from(e: sqlx::Error) -> StateError {
        StateError::Db(e.into())
    }
}

/// The answer of [`Db::state_compare_and_set`]: whether it swapped, and the value stored now.
#[derive(Debug, Clone, PartialEq)]
pub struct CasOutcome {
    pub swapped: bool,
    pub value: Option<Value>,
}

/// Identifies a call-time operation for exactly-once replay: the execution and the step's
/// idempotency key.
#[derive(Debug, Clone, Copy)]
pub struct StateOp<'a> {
    pub execution_id: &'a str,
    pub key: &'a str,
}

/// Applies a deferred write inside the caller's transaction (the checkpoint's).
pub(crate) async fn apply_write(conn: &mut AnyConnection, w: &StateWrite) -> Result<(), DbError> {
    match &w.value {
        Some(v) => upsert(conn, &w.scope, &w.key, &json_text(v), w.at).await,
        None => {
            sqlx::query("DELETE FROM state WHERE org_id = $1 AND scope_kind = $2 AND scope_id = $3 AND key = $4")
                .bind(&w.scope.org_id)
                .bind(w.scope.kind.as_str())
                .bind(&w.scope.id)
                .bind(&w.key)
                .execute(&mut *conn)
                .await?;
            Ok(())
        }
    }
}

/// Forgets the call-time answers of a finished execution (it never runs a step again).
async fn forget_ops(conn: &mut AnyConnection, execution_id: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM state_ops WHERE execution_id = $1").bind(execution_id).execute(&mut *conn).await?;
    Ok(())
}

impl crate::Db {
    /// Drops the recorded answers of an execution's `increment`/`compare_and_set` calls once it
    /// has finished (they only serve replays after a crash). Not part of the finish itself, so
    /// executions that never used them pay nothing; rows left by a crash go with retention.
    pub async fn forget_state_ops(&self, execution_id: &str) -> Result<(), DbError> {
        let id: std::sync::Arc<str> = execution_id.into();
        self.write_job(std::sync::Arc::new(move |conn| {
            let id = id.clone();
            Box::pin(async move { forget_ops(conn, &id).await })
        }))
        .await
    }
}

async fn upsert(conn: &mut AnyConnection, s: &StateScope, key: &str, value: &str, at: Millis) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO state (org_id, scope_kind, scope_id, key, value, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (org_id, scope_kind, scope_id, key)
         DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(&s.org_id)
    .bind(s.kind.as_str())
    .bind(&s.id)
    .bind(key)
    .bind(value)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn read(conn: &mut AnyConnection, s: &StateScope, key: &str, lock: bool) -> Result<Option<Value>, DbError> {
    // SQLite writers are serialized by BEGIN IMMEDIATE; PostgreSQL locks the row.
    let sql = if lock {
        "SELECT value FROM state WHERE org_id = $1 AND scope_kind = $2 AND scope_id = $3 AND key = $4 FOR UPDATE"
    } else {
        "SELECT value FROM state WHERE org_id = $1 AND scope_kind = $2 AND scope_id = $3 AND key = $4"
    };
    let text: Option<String> = sqlx::query_scalar(sql)
        .bind(&s.org_id)
        .bind(s.kind.as_str())
        .bind(&s.id)
        .bind(key)
        .fetch_optional(conn)
        .await?;
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| DbError::Invalid(format!("state key `{key}` holds invalid JSON: {e}")))
    })
    .transpose()
}

async fn count(conn: &mut AnyConnection, s: &StateScope) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM state WHERE org_id = $1 AND scope_kind = $2 AND scope_id = $3")
        .bind(&s.org_id)
        .bind(s.kind.as_str())
        .bind(&s.id)
        .fetch_one(conn)
        .await?)
}

fn add(current: Option<&Value>, by: &Number, key: &str) -> Result<Value, StateError> {
    let cur = match current {
        None | Some(Value::Null) => Number::from(0),
        Some(Value::Number(n)) => n.clone(),
        Some(other) => {
            let kind = match other {
                Value::Bool(_) => "a boolean",
                Value::String(_) => "a string",
                Value::Array(_) => "an array",
                _ => "an object",
            };
            return Err(StateError::Type(format!("state key `{key}` holds {kind}, not a number: cannot increment it")));
        }
    };
    if let (Some(a), Some(b)) = (cur.as_i64(), by.as_i64()) {
        return a
            .checked_add(b)
            .map(Value::from)
            .ok_or_else(|| StateError::Limit(format!("incrementing state key `{key}` overflows a 64-bit integer")));
    }
    let sum = cur.as_f64().unwrap_or(0.0) + by.as_f64().unwrap_or(0.0);
    Number::from_f64(sum)
        .map(Value::Number)
        .ok_or_else(|| StateError::Limit(format!("incrementing state key `{key}` gives a non-finite number")))
}

impl Db {
    /// A key's value as committed, `None` when unset.
    pub async fn state_get(&self, scope: &StateScope, key: &str) -> Result<Option<Value>, DbError> {
        let mut conn = self.read.acquire().await?;
        read(&mut conn, scope, key, false).await
    }

    /// How many keys a scope holds.
    pub async fn state_key_count(&self, scope: &StateScope) -> Result<i64, DbError> {
        let mut conn = self.read.acquire().await?;
        count(&mut conn, scope).await
    }

    /// Writes (`Some`) or deletes (`None`) a key at once, in a transaction of its own — for
    /// administration and tests; steps write through checkpoints (see the module docs).
    pub async fn state_write(&self, w: &StateWrite) -> Result<(), DbError> {
        let mut tx = self.begin_write().await?;
        apply_write(&mut tx, w).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds `by` to a numeric key (a missing key counts as 0) and returns the new value,
    /// committed before it returns. `pending` is this execution's own deferred write of the
    /// same key, not yet checkpointed: it is applied first, in the same transaction. A new key
    /// counts against `max_keys`. With `op`, a repeated call returns the first answer.
    #[allow(clippy::too_many_arguments)]
    pub async fn state_increment(
        &self,
        scope: &StateScope,
        key: &str,
        by: &Number,
        pending: Option<&StateWrite>,
        max_keys: i64,
        op: Option<StateOp<'_>>,
        now: Millis,
    ) -> Result<Value, StateError> {
        // Recorded against the execution: not before it is stored (see `pending`).
        if let Some(op) = &op {
            self.created(op.execution_id).await?;
        }
        let mut tx = self.begin_write().await?;
        if let Some(done) = replayed(&mut tx, op).await? {
            return Ok(done);
        }
        if let Some(p) = pending {
            apply_write(&mut tx, p).await?;
        }
        let current = self.lock_or_create(&mut tx, scope, key, max_keys, now).await?;
        let next = add(current.as_ref(), by, key)?;
        upsert(&mut tx, scope, key, &json_text(&next), now).await?;
        record(&mut tx, op, &next).await?;
        tx.commit().await?;
        Ok(next)
    }

    /// Stores `value` if the key holds `expected` now (`None`: the key is unset), atomically.
    /// Otherwise nothing changes. Returns whether it swapped and the value stored afterwards.
    /// `pending`, `max_keys` and `op` as for [`Db::state_increment`].
    #[allow(clippy::too_many_arguments)]
    pub async fn state_compare_and_set(
        &self,
        scope: &StateScope,
        key: &str,
        expected: Option<&Value>,
        value: &Value,
        pending: Option<&StateWrite>,
        max_keys: i64,
        op: Option<StateOp<'_>>,
        now: Millis,
    ) -> Result<CasOutcome, StateError> {
        // Recorded against the execution: not before it is stored (see `pending`).
        if let Some(op) = &op {
            self.created(op.execution_id).await?;
        }
        let mut tx = self.begin_write().await?;
        if let Some(done) = replayed(&mut tx, op).await? {
            return Ok(CasOutcome {
                swapped: done.get("swapped").and_then(Value::as_bool).unwrap_or(false),
                value: done.get("value").cloned().filter(|v| !v.is_null()),
            });
        }
        if let Some(p) = pending {
            apply_write(&mut tx, p).await?;
        }
        let mut current = read(&mut tx, scope, key, self.backend == Backend::Postgres).await?;
        if current.is_none() && expected.is_none() {
            check_room(&mut tx, scope, key, max_keys).await?;
            let inserted = sqlx::query(
                "INSERT INTO state (org_id, scope_kind, scope_id, key, value, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(&scope.org_id)
            .bind(scope.kind.as_str())
            .bind(&scope.id)
            .bind(key)
            .bind(json_text(value))
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !inserted {
                // Another transaction created it meanwhile (PostgreSQL): compare with that.
                current = read(&mut tx, scope, key, true).await?;
            } else {
                let out = CasOutcome { swapped: true, value: Some(value.clone()) };
                record(&mut tx, op, &cas_json(&out)).await?;
                tx.commit().await?;
                return Ok(out);
            }
        }
        let out = if current.as_ref() == expected {
            upsert(&mut tx, scope, key, &json_text(value), now).await?;
            CasOutcome { swapped: true, value: Some(value.clone()) }
        } else {
            CasOutcome { swapped: false, value: current }
        };
        record(&mut tx, op, &cas_json(&out)).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// The key's value, locked for this transaction; a missing key is created as `0` (after
    /// the key-count check) and reported as `None`. On PostgreSQL two creators race on the
    /// primary key: the loser reads (and locks) the winner's row.
    async fn lock_or_create(
        &self,
        conn: &mut AnyConnection,
        scope: &StateScope,
        key: &str,
        max_keys: i64,
        now: Millis,
    ) -> Result<Option<Value>, StateError> {
        let lock = self.backend == Backend::Postgres;
        if let Some(v) = read(conn, scope, key, lock).await? {
            return Ok(Some(v));
        }
        check_room(conn, scope, key, max_keys).await?;
        let inserted = sqlx::query(
            "INSERT INTO state (org_id, scope_kind, scope_id, key, value, updated_at)
             VALUES ($1, $2, $3, $4, '0', $5) ON CONFLICT DO NOTHING",
        )
        .bind(&scope.org_id)
        .bind(scope.kind.as_str())
        .bind(&scope.id)
        .bind(key)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1;
        if inserted { Ok(None) } else { Ok(read(conn, scope, key, lock).await?) }
    }
}

async fn check_room(conn: &mut AnyConnection, scope: &StateScope, key: &str, max_keys: i64) -> Result<(), StateError> {
    if count(conn, scope).await? >= max_keys {
        return Err(StateError::Limit(format!(
            "cannot add state key `{key}`: the {} scope already holds the limit of {max_keys} keys",
            scope.kind.as_str()
        )));
    }
    Ok(())
}

fn cas_json(out: &CasOutcome) -> Value {
    serde_json::json!({"swapped": out.swapped, "value": out.value.clone().unwrap_or(Value::Null)})
}

async fn replayed(conn: &mut AnyConnection, op: Option<StateOp<'_>>) -> Result<Option<Value>, DbError> {
    let Some(op) = op else { return Ok(None) };
    let row = sqlx::query("SELECT result FROM state_ops WHERE execution_id = $1 AND op_key = $2")
        .bind(op.execution_id)
        .bind(op.key)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| {
        let text: String = r.try_get("result")?;
        serde_json::from_str(&text).map_err(|e| DbError::Invalid(format!("stored state answer is invalid JSON: {e}")))
    })
    .transpose()
}

async fn record(conn: &mut AnyConnection, op: Option<StateOp<'_>>, result: &Value) -> Result<(), DbError> {
    let Some(op) = op else { return Ok(()) };
    sqlx::query("INSERT INTO state_ops (execution_id, op_key, result) VALUES ($1, $2, $3)")
        .bind(op.execution_id)
        .bind(op.key)
        .bind(json_text(result))
        .execute(&mut *conn)
        .await?;
    Ok(())
}
