//! The host side of the WIT world `weft:component/component` (`wit/weft-component.wit` at the
//! repository root): one `bindgen!` call, so the contract is defined in exactly one place.
//!
//! Every import and export is async: host calls (HTTP, state) await IO, and guests run on
//! fibers so that epoch deadlines can make a busy guest yield.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "component",
    imports: { default: async },
    exports: { default: async },
});

pub use exports::weft::component::guest::Guest;
pub use weft::component::host::{HttpError, HttpErrorKind, HttpRequest, HttpResponse, Level};
pub use weft::component::types::{
    ActionSpec, Choice, ComponentInfo, ConnectionKind, ConnectionSpec, Context, DataSourceSpec, Error, ErrorKind,
    InputSpec, InputType, Oauth2Spec, TriggerSpec,
};
