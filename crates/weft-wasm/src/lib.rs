//! The WebAssembly sandbox for custom components: the host side of the WIT world
//! `weft:component/component` (`wit/weft-component.wit`).
//!
//! - [`WasmHost`] holds one wasmtime engine (component model, epoch interruption, pooling
//!   allocator, optional fuel), a runtime of its own where guests run, an epoch ticker thread,
//!   and an optional on-disk cache of compiled components.
//! - [`WasmHost::load`] checks that bytes are a component of the Weft world, compiles (or loads
//!   from the cache) and pre-instantiates it once, calls `describe()` in a sandbox and validates
//!   the description.
//! - [`LoadedComponent`] runs actions, poll triggers and data sources, each in a **fresh
//!   store** with the [`Limits`] given (memory, wall time, fuel, output and log caps) and the
//!   [`HostServices`] of the call (logs, state of the component's scope). Outbound HTTP goes
//!   through the egress guard only.
//!
//! Every failure of a call is a `weft_model::StepError`: exceeded limits are of kind `limit`
//! and name the limit and its value; errors the guest returns keep their kind; traps (panics,
//! stack overflow) say the component trapped and why.
//!
//! Invariant: every store has a memory limit and a deadline; nothing a guest does runs on the
//! caller's runtime.

mod bindings;
mod cache;
mod config;
mod description;
mod error;
mod host;
mod invoke;
mod outbound;
mod services;
mod validate;

pub use cache::LoadOutcome;
pub use config::{Limits, WasmHostConfig};
pub use description::{Choice, Connection, Description, Input, Oauth2, Operation};
pub use error::WasmError;
pub use host::{CacheStats, CallContext, Invocation, LoadedComponent, PollOutput, WasmHost};
pub use services::{HostServices, MemoryServices};

/// The description types of the WIT contract (`component-info` and its parts), as the host
/// sees them.
pub mod wit {
    pub use crate::bindings::{
        ActionSpec, Choice, ComponentInfo, ConnectionKind, ConnectionSpec, DataSourceSpec, InputSpec, InputType,
        Oauth2Spec, TriggerSpec,
    };
}
