//! The Weft domain model: integration definitions, their parsing and validation, expressions and
//! the shared step error shape. This crate does no IO: it cannot touch the network, the disk or
//! the clock, so everything here is deterministic and testable with plain values.

pub mod catalog;
pub mod config;
pub mod definition;
pub mod diag;
pub mod error;
pub mod expr;
pub mod parse;
pub mod redact;
pub mod role;
pub mod validate;

pub use catalog::{ActionSpec, ConnectionInfo, InputSpec, InputType, OAuth2Endpoints, OperationKind};
pub use definition::*;
pub use diag::Diagnostic;
pub use error::{ErrorKind, LogLevel, StepError};
pub use parse::{Document, SourceFormat, parse_document};
pub use role::{Permission, Role};
pub use validate::{check_definition, definition_from_json, load_definition};
