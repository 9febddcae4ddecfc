//! Weft's persistence: every SQL statement of the platform lives in this crate.
//!
//! # Storage model
//!
//! One schema, two engines: an embedded SQLite file (the default, `weft serve` with a data
//! directory) and PostgreSQL (several nodes sharing one database). Both are driven through
//! `sqlx::Any` with the same portable SQL (`$1` placeholders); only the queue's claim statement
//! differs (PostgreSQL adds `FOR UPDATE SKIP LOCKED`). Column types are kept to what both engines
//! and `Any` agree on: ids are `TEXT` (a type prefix plus a UUIDv7, so ids sort by creation time
//! and `ORDER BY id` is a stable creation order usable as a pagination cursor), timestamps are
//! `BIGINT` unix milliseconds ([`Millis`]) handed in by the caller (this crate never reads the
//! clock, so tests control time), JSON documents are `TEXT`, booleans are `0`/`1`.
//!
//! Everything belongs to an organization; every read and write of an organization's objects
//! takes the organization id, so one tenant can never reach another's rows by guessing an id.
//! Secrets that authenticate callers are stored only as hashes (API tokens: SHA-256 of the
//! plaintext, which is returned exactly once). Webhook tokens are random 256-bit values: they are
//! part of a URL the vendor hands out, so they are stored as is and can be shown again.
//!
//! Integrations have one mutable *draft* (the last imported source) and immutable numbered
//! *versions* copied from it by [`Db::publish_version`]; instances pin a version.
//!
//! # The queue
//!
//! The `executions` table is the work queue; there is no broker. An execution is created
//! `queued` (or already claimed, for in-process dispatch of a sync webhook) and committed before
//! [`Db::create_execution`] returns, so an accepted webhook survives a crash of any process.
//! Runners call [`Db::claim_executions`], which atomically turns due executions into `running`
//! with a *lease* (`lease_owner`, `lease_until`) and bumps `attempts`. A runner keeps its lease
//! alive with [`Db::renew_leases`]; if it dies, the lease expires and the next claim picks the
//! execution up again, resuming from the engine state saved by the last [`Db::checkpoint`].
//! Checkpoints and [`Db::finish_execution`] only succeed for the current lease owner
//! ([`DbError::LeaseLost`] otherwise), so a runner that lost its lease can never overwrite the
//! work of the runner that took over.
//!
//! One column, `run_at`, says when an execution may next be claimed: its creation time while
//! queued, its lease expiry while running. One partial index over the queued and running rows,
//! `executions_fair` (customer_id, run_at, id), serves both "queued and due" and "running with
//! an expired lease", customer by customer (see the fair claim in `executions.rs`). On
//! PostgreSQL concurrent claimers skip each other's locked rows (`FOR UPDATE SKIP LOCKED`);
//! SQLite has a single writer, so the claim is one `UPDATE … RETURNING` statement. Step results and log lines are appended with per-execution
//! sequence numbers handed out by the execution row itself, inside the checkpoint's transaction.
//!
//! # Concurrency on SQLite
//!
//! SQLite serializes writers anyway; letting several connections race for the write lock only
//! adds busy-waiting. So a SQLite [`Db`] has a one-connection write pool (all writes and
//! read-then-write transactions, begun with `BEGIN IMMEDIATE` so another process holding the
//! file can never cause a lock-upgrade deadlock) and a small read pool; the WAL journal lets
//! readers proceed while the writer commits.

mod components;
mod customers;
mod db;
mod error;
mod executions;
mod group;
mod instances;
mod integrations;
mod leases;
mod limits;
mod model;
mod notify;
mod oauth;
mod orgs;
mod pending;
mod poll;
mod requeue;
mod retention;
mod schedules;
mod secrets;
mod state;
mod util;

pub use db::{Backend, Db, KEY_RECHECK};
pub use error::DbError;
pub use limits::QueuePolicy;
pub use model::*;
pub use notify::{Listener, Notification};
pub use oauth::{Connection, ConnectionStatus, OAuthClient, OAuthState, Owner, Tokens};
pub use pending::Creation;
pub use retention::{OMITTED_TRIGGER, PruneReport};
pub use schedules::{NewSchedule, Schedule};
pub use state::{CasOutcome, ScopeKind, StateError, StateOp, StateScope, StateWrite};
