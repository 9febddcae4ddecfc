//! The Weft SDK: write a Weft custom component in Rust.
//!
//! A component is a type implementing [`Component`]: it describes itself (its actions, poll
//! triggers, data sources and connection types, with typed inputs) and runs them. The macro
//! [`export_component!`] turns it into a WebAssembly component of the world
//! `weft:component/component` when built with `cargo build --release --target wasm32-wasip2`.
//!
//! Inside an action, the host's services are plain functions: [`http`] (outbound requests
//! through the host's egress guard), [`log`] (the execution's log) and [`state`] (persisted
//! key-value state of the component's scope).
//!
//! On a non-WebAssembly target (`cargo test`), those functions talk to a
//! [`testing::FakeHost`] instead: a fake HTTP responder, captured logs and in-memory state, so
//! a component's actions are unit-tested natively, without a server.
//!
//! ```ignore
//! use weft_sdk::{Action, Component, ComponentInfo, Context, Error, Input, Value, json};
//!
//! struct Hello;
//!
//! impl Component for Hello {
//!     fn describe() -> ComponentInfo {
//!         ComponentInfo::new("hello", "Hello", "1.0.0")
//!             .action(Action::new("greet", "Greet").input(Input::string("name").required()))
//!     }
//!     fn run_action(action: &str, inputs: Value, _cx: &Context) -> Result<Value, Error> {
//!         match action {
//!             "greet" => Ok(json!({"greeting": format!("Hello, {}!", inputs["name"].as_str().unwrap_or("?"))})),
//!             other => Err(Error::unknown_action(other)),
//!         }
//!     }
//! }
//!
//! weft_sdk::export_component!(Hello);
//! ```

// The generated bindings name this crate by its path (`weft_sdk::...`), also from inside it.
extern crate self as weft_sdk;

#[doc(hidden)]
pub mod bindings;
mod context;
mod error;
pub mod http;
pub mod log;
pub mod state;
mod sys;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
mod types;

pub use context::Context;
pub use error::{Error, ErrorKind};
pub use serde_json::{self, Value, json};
pub use types::{
    Action, Choice, ComponentInfo, Connection, ConnectionKind, DataSource, Input, InputType, OAuth2, PollResult,
    Trigger,
};

/// A Weft custom component. All functions are associated functions: a component holds no state
/// between calls (each call runs in a fresh sandbox); what must persist goes to [`state`].
pub trait Component {
    /// Describes the component. Must be pure: no host calls.
    fn describe() -> ComponentInfo;

    /// Runs action `action` with its `inputs` (a JSON object). The step's connection values,
    /// if any, are in [`Context::connection`].
    fn run_action(action: &str, inputs: Value, cx: &Context) -> Result<Value, Error>;

    /// Runs poll trigger `trigger` once, from `cursor` (none on the first poll).
    fn poll(trigger: &str, inputs: Value, cursor: Option<Value>, cx: &Context) -> Result<PollResult, Error> {
        let _ = (inputs, cursor, cx);
        Err(Error::new(ErrorKind::Input, format!("this component has no poll trigger '{trigger}'")))
    }

    /// Runs data source `key`; a picklist's data source returns a list of `{value, label}`.
    fn data_source(key: &str, inputs: Value, cx: &Context) -> Result<Value, Error> {
        let _ = (inputs, cx);
        Err(Error::new(ErrorKind::Input, format!("this component has no data source '{key}'")))
    }
}

/// Exports a [`Component`] implementation as the component's entry points.
///
/// Use it once per crate, at the top level: `weft_sdk::export_component!(MyComponent);`. On a
/// non-WebAssembly target it expands to nothing, so the crate's unit tests build natively.
#[macro_export]
macro_rules! export_component {
    ($component:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __WeftExport;
            impl $crate::bindings::exports::weft::component::guest::Guest for __WeftExport {
                fn describe() -> $crate::bindings::weft::component::types::ComponentInfo {
                    $crate::__private::describe::<$component>()
                }
                fn run_action(
                    action: ::std::string::String,
                    inputs: ::std::string::String,
                    connection: ::std::option::Option<::std::string::String>,
                    ctx: $crate::bindings::weft::component::types::Context,
                ) -> ::std::result::Result<::std::string::String, $crate::bindings::weft::component::types::Error>
                {
                    $crate::__private::run_action::<$component>(action, inputs, connection, ctx)
                }
                fn poll(
                    trigger: ::std::string::String,
                    inputs: ::std::string::String,
                    connection: ::std::option::Option<::std::string::String>,
                    cursor: ::std::option::Option<::std::string::String>,
                    ctx: $crate::bindings::weft::component::types::Context,
                ) -> ::std::result::Result<
                    $crate::bindings::weft::component::types::PollResult,
                    $crate::bindings::weft::component::types::Error,
                > {
                    $crate::__private::poll::<$component>(trigger, inputs, connection, cursor, ctx)
                }
                fn data_source(
                    key: ::std::string::String,
                    inputs: ::std::string::String,
                    connection: ::std::option::Option<::std::string::String>,
                    ctx: $crate::bindings::weft::component::types::Context,
                ) -> ::std::result::Result<::std::string::String, $crate::bindings::weft::component::types::Error>
                {
                    $crate::__private::data_source::<$component>(key, inputs, connection, ctx)
                }
            }
    $crate::bindings::__export_raw!(__WeftExport with_types_in $crate::bindings);
        };
    };
}

/// What [`export_component!`] expands to calls; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;

    use crate::bindings::weft::component::types as wit;
    use crate::{Component, Context, Error, Value};

    fn parse(what: &str, text: &str) -> Result<Value, Error> {
        serde_json::from_str(text).map_err(|e| Error::input(format!("the host passed {what} that is not JSON: {e}")))
    }

    fn to_text(v: &Value) -> String {
        serde_json::to_string(v).expect("JSON values serialize")
    }

    fn context(connection: Option<String>, ctx: wit::Context) -> Result<Context, wit::Error> {
        let connection = match connection {
            Some(c) => Some(parse("connection values", &c).map_err(Error::into_wit)?),
            None => None,
        };
        Ok(Context::from_wit(ctx, connection))
    }

    pub fn describe<C: Component>() -> wit::ComponentInfo {
        C::describe().into_wit()
    }

    pub fn run_action<C: Component>(
        action: String,
        inputs: String,
        connection: Option<String>,
        ctx: wit::Context,
    ) -> Result<String, wit::Error> {
        let cx = context(connection, ctx)?;
        let inputs = parse("inputs", &inputs).map_err(Error::into_wit)?;
        C::run_action(&action, inputs, &cx).map(|v| to_text(&v)).map_err(Error::into_wit)
    }

    pub fn poll<C: Component>(
        trigger: String,
        inputs: String,
        connection: Option<String>,
        cursor: Option<String>,
        ctx: wit::Context,
    ) -> Result<wit::PollResult, wit::Error> {
        let cx = context(connection, ctx)?;
        let inputs = parse("inputs", &inputs).map_err(Error::into_wit)?;
        let cursor = match cursor {
            Some(c) => Some(parse("a cursor", &c).map_err(Error::into_wit)?),
            None => None,
        };
        let out = C::poll(&trigger, inputs, cursor, &cx).map_err(Error::into_wit)?;
        Ok(wit::PollResult {
            records: out.records.iter().map(to_text).collect(),
            next_cursor: out.next_cursor.as_ref().map(to_text),
        })
    }

    pub fn data_source<C: Component>(
        key: String,
        inputs: String,
        connection: Option<String>,
        ctx: wit::Context,
    ) -> Result<String, wit::Error> {
        let cx = context(connection, ctx)?;
        let inputs = parse("inputs", &inputs).map_err(Error::into_wit)?;
        C::data_source(&key, inputs, &cx).map(|v| to_text(&v)).map_err(Error::into_wit)
    }
}
