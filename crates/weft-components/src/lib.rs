//! Weft's components: the [`Component`] trait every action provider implements (built-in Rust
//! code here, sandboxed WebAssembly elsewhere), the [`Registry`] the worker runs actions through,
//! the [`EgressGuard`] that keeps outbound HTTP away from internal networks, and the built-in
//! components `http`, `data`, `datetime`, `crypto` and `log`.
//!
//! Components do IO (network, clock, randomness) but hold no state between calls: everything an
//! action needs arrives in its JSON input and its [`ActionContext`]. Failures are always a
//! [`StepError`] whose kind retry policies and `on_error` handlers can match on.

pub mod code;
pub mod crypto;
pub mod data;
pub mod datetime;
pub mod egress;
pub mod http;
mod input;
pub mod log;
mod registry;
pub mod state;
mod xml;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use weft_model::{ActionSpec, LogLevel, StepError};

pub use egress::EgressGuard;
pub use registry::Registry;

/// A boxed, sendable future: what [`Component::run`] returns, so the trait stays object safe.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Per-call context given to an action.
#[derive(Clone)]
pub struct ActionContext {
    /// The execution the step belongs to (for log correlation).
    pub execution_id: String,
    /// The step's display path, e.g. `decide.forward`.
    pub step_path: String,
    /// Stable across retries and resumptions of the same step: remote APIs de-duplicate on it.
    pub idempotency_key: String,
    /// 1 for the first attempt; retries of the step count up.
    pub attempt: u32,
    /// The step's time limit, when the flow sets one; actions that wait on the network bound
    /// themselves by it so they fail with a clear `timeout` error rather than being cut off.
    pub timeout: Option<Duration>,
    /// Where the action's log lines go.
    pub log: LogSink,
}

impl ActionContext {
    /// A context for ad-hoc runs and tests: fresh ids, first attempt, logs discarded.
    pub fn new(execution_id: impl Into<String>, step_path: impl Into<String>) -> ActionContext {
        let execution_id = execution_id.into();
        let step_path = step_path.into();
        ActionContext {
            idempotency_key: format!("{execution_id}:{step_path}"),
            execution_id,
            step_path,
            attempt: 1,
            timeout: None,
            log: LogSink::discard(),
        }
    }
}

impl std::fmt::Debug for ActionContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionContext")
            .field("execution_id", &self.execution_id)
            .field("step_path", &self.step_path)
            .field("idempotency_key", &self.idempotency_key)
            .field("attempt", &self.attempt)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Where an action's log lines go (the worker collects them into the execution's log).
#[derive(Clone)]
pub struct LogSink(Arc<dyn Fn(LogLevel, String) + Send + Sync>);

impl LogSink {
    pub fn new(f: impl Fn(LogLevel, String) + Send + Sync + 'static) -> LogSink {
        LogSink(Arc::new(f))
    }

    /// A sink that drops every line.
    pub fn discard() -> LogSink {
        LogSink::new(|_, _| {})
    }

    pub fn write(&self, level: LogLevel, msg: impl Into<String>) {
        (self.0)(level, msg.into())
    }
}

impl std::fmt::Debug for LogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogSink(..)")
    }
}

/// An action provider: built-in Rust code or a sandboxed custom component.
pub trait Component: Send + Sync {
    /// The component key, the part of an action name before the dot (`http`).
    fn key(&self) -> &'static str;
    /// Every action this component offers, with fully qualified names (`http.request`).
    fn actions(&self) -> Vec<ActionSpec>;
    /// Runs one action. `action` is the fully qualified name.
    fn run<'a>(
        &'a self,
        action: &'a str,
        input: Value,
        cx: &'a ActionContext,
    ) -> BoxFuture<'a, Result<Value, StepError>>;
}

/// Installs rustls' `ring` crypto provider as the process default. reqwest is built without a
/// provider of its own, so this must run before the first HTTP client is built. Idempotent.
pub fn install_crypto_provider() {
    // An Err only means a provider is already installed, which is all we need.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
