//! [`WasmError`]: why a component could not be loaded or the host could not start. Failures of
//! an invocation are not `WasmError`s but `weft_model::StepError`s (they are step results).

/// Why [`crate::WasmHost::new`] or [`crate::WasmHost::load`] failed.
#[derive(Debug, thiserror::Error)]
pub enum WasmError {
    /// The bytes are not WebAssembly at all.
    #[error("not a WebAssembly component: {0}")]
    NotWasm(String),
    /// A core WebAssembly module, not a component.
    #[error(
        "a core WebAssembly module, not a component: build it with `cargo build --release --target wasm32-wasip2` (the Weft SDK does this)"
    )]
    CoreModule,
    /// Valid component bytes that wasmtime could not compile.
    #[error("the component could not be compiled: {0}")]
    Compile(String),
    /// The component does not implement the world `weft:component/component@0.1.0`.
    #[error("the component does not implement the Weft world weft:component/component@0.1.0: {0}")]
    WrongWorld(String),
    /// `describe()` failed (trapped, hit a limit).
    #[error("describe() failed: {0}")]
    Describe(String),
    /// The description breaks the rules: every problem, each naming what it is about.
    #[error("the component's description is invalid: {}", .0.join("; "))]
    InvalidDescription(Vec<String>),
    /// The host could not be set up (engine configuration, runtime threads, cache directory).
    #[error("the WebAssembly host could not start: {0}")]
    Setup(String),
}
