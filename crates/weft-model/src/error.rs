//! Step errors: the one error shape every step, component and the engine agree on. It is data
//! (stored with the execution, shown by the API, matched by retry policies), not a Rust error
//! hierarchy.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What went wrong, as far as retry policies and `on_error` handlers care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The step (or the flow) ran over its time limit.
    Timeout,
    /// The remote could not be reached (DNS, connect, reset, TLS).
    Connection,
    /// The remote answered 429 Too Many Requests.
    RateLimited,
    /// The remote answered 5xx.
    ServerError,
    /// The remote answered another status >= 400.
    HttpStatus,
    /// The egress guard refused the destination.
    EgressDenied,
    /// The step's inputs were not what the action takes.
    Input,
    /// An expression failed to evaluate (undefined value, type error, out of fuel).
    Expression,
    /// A platform limit was hit (output size, log lines, loop size).
    Limit,
    /// A `fail` step ran.
    Failed,
    /// Any other component failure.
    Component,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::Timeout,
        ErrorKind::Connection,
        ErrorKind::RateLimited,
        ErrorKind::ServerError,
        ErrorKind::HttpStatus,
        ErrorKind::EgressDenied,
        ErrorKind::Input,
        ErrorKind::Expression,
        ErrorKind::Limit,
        ErrorKind::Failed,
        ErrorKind::Component,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connection => "connection",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::ServerError => "server_error",
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::EgressDenied => "egress_denied",
            ErrorKind::Input => "input",
            ErrorKind::Expression => "expression",
            ErrorKind::Limit => "limit",
            ErrorKind::Failed => "failed",
            ErrorKind::Component => "component",
        }
    }

    pub fn from_name(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Kinds a retry policy without an explicit `on` list retries: transient ones only.
    pub fn retryable_by_default(self) -> bool {
        matches!(
            self,
            ErrorKind::Timeout
                | ErrorKind::Connection
                | ErrorKind::RateLimited
                | ErrorKind::ServerError
                | ErrorKind::Component
        )
    }
}

/// A failed step, as stored and as bound to `error` in `on_error` steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepError {
    pub kind: ErrorKind,
    pub message: String,
    /// Extra data (e.g. the HTTP status and body of a failed request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    /// Milliseconds the remote asked us to wait (`Retry-After`); overrides the backoff when longer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl StepError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> StepError {
        StepError { kind, message: message.into(), details: None, retry_after_ms: None }
    }

    pub fn with_details(mut self, details: Value) -> StepError {
        self.details = Some(details);
        self
    }
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.message)
    }
}

/// Severity of an execution log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }

    pub fn from_name(name: &str) -> Option<LogLevel> {
        [LogLevel::Debug, LogLevel::Info, LogLevel::Warn, LogLevel::Error].into_iter().find(|l| l.name() == name)
    }
}
