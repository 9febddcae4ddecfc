//! The imperative shell around the pure flow engine: it claims executions, feeds the engine
//! events, carries out the engine's commands through components, enforces timeouts and limits,
//! and persists checkpoints, step results and log lines.
//!
//! Two ways in: [`Worker::dispatch`] runs an execution that the caller (the webhook handler)
//! created already claimed by this node, returning a channel for the sync webhook response;
//! [`Worker::run_loop`] claims queued executions (and executions whose runner stopped renewing its
//! lease) until shutdown. Either way an execution is driven by [`Worker::execute`].
//!
//! [`Scheduler`] (the scheduler role) queues executions of schedule triggers when they are due;
//! [`schedule`] is its pure cron logic (next fire time, DST, missed runs).

mod cache;
mod custom;
mod execute;
pub mod oauth;
pub mod schedule;
mod scheduler;

pub use cache::{FlowCache, LoadError, LoadedVersion};
pub use custom::{CustomComponents, PinError};
pub use execute::{SyncOutcome, Worker, WorkerConfig};
pub use oauth::{OAuth, OAuthError};
pub use schedule::{CronSchedule, Firing, ScheduleError};
pub use scheduler::{PruneConfig, Scheduler, SchedulerConfig, prune_pass};
