//! [`Error`]: what an action returns instead of a result.

use serde_json::Value;

use crate::bindings::weft::component::types as wit;

/// What kind of failure an [`Error`] is; retry policies and `on_error` handlers match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The inputs were not what the action takes (not retried).
    Input,
    /// The remote could not be reached (retried by default).
    Connection,
    /// The remote took too long (retried by default).
    Timeout,
    /// The remote answered 429 (retried by default).
    RateLimited,
    /// The remote answered 5xx (retried by default).
    ServerError,
    /// The remote answered another status >= 400.
    HttpStatus,
    /// The remote refused the credentials (401/403).
    Auth,
    /// The remote has no such object (404).
    NotFound,
    /// The host's egress guard refused the destination.
    EgressDenied,
    /// Anything else.
    Internal,
}

/// An error an action, trigger or data source reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub kind: ErrorKind,
    /// A message for the person reading the execution's log. Never include secrets.
    pub message: String,
    /// Extra data (e.g. the remote's status and body).
    pub details: Option<Value>,
    /// How long the remote asked to wait before a retry.
    pub retry_after_ms: Option<u64>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into(), details: None, retry_after_ms: None }
    }

    /// The inputs were wrong: `Error::input("query: expected a string")`.
    pub fn input(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Input, message)
    }

    /// Anything else that went wrong.
    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Internal, message)
    }

    /// The error for an action key the component does not have.
    pub fn unknown_action(action: &str) -> Error {
        Error::input(format!("unknown action '{action}'"))
    }

    /// A required input is missing or has the wrong type.
    pub fn missing_input(key: &str, expected: &str) -> Error {
        Error::input(format!("input '{key}' is required and must be {expected}"))
    }

    pub fn with_details(mut self, details: Value) -> Error {
        self.details = Some(details);
        self
    }

    pub fn with_retry_after_ms(mut self, ms: u64) -> Error {
        self.retry_after_ms = Some(ms);
        self
    }

    pub(crate) fn into_wit(self) -> wit::Error {
        let kind = match self.kind {
            ErrorKind::Input => wit::ErrorKind::Input,
            ErrorKind::Connection => wit::ErrorKind::Connection,
            ErrorKind::Timeout => wit::ErrorKind::Timeout,
            ErrorKind::RateLimited => wit::ErrorKind::RateLimited,
            ErrorKind::ServerError => wit::ErrorKind::ServerError,
            ErrorKind::HttpStatus => wit::ErrorKind::HttpStatus,
            ErrorKind::Auth => wit::ErrorKind::Auth,
            ErrorKind::NotFound => wit::ErrorKind::NotFound,
            ErrorKind::EgressDenied => wit::ErrorKind::EgressDenied,
            ErrorKind::Internal => wit::ErrorKind::Internal,
        };
        wit::Error {
            kind,
            message: self.message,
            details: self.details.map(|d| d.to_string()),
            retry_after_ms: self.retry_after_ms,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error::internal(format!("JSON: {e}"))
    }
}
