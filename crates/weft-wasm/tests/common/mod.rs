//! Shared test helpers: the guest components, built from `sdk/` source once per test process,
//! and hosts that load them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use serde_json::Value;
use weft_model::StepError;
use weft_wasm::{CallContext, Invocation, Limits, LoadedComponent, MemoryServices, WasmHost, WasmHostConfig};

/// The compiled guests of `sdk/` (`.wasm` component bytes).
pub struct Guests {
    pub hostile: Vec<u8>,
    pub transform: Vec<u8>,
    /// The CRM connector example (`sdk/examples/crm`).
    pub crm: Vec<u8>,
    pub not_weft: Vec<u8>,
    pub bad_describe: Vec<u8>,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// `$CARGO_TARGET_DIR/wasm-guests`, else `<repo>/target/wasm-guests`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => repo().join(d).join("wasm-guests"),
        None => repo().join("target").join("wasm-guests"),
    }
}

/// Builds the sdk workspace for `wasm32-wasip2` (once per process; cargo's own lock on the
/// target directory serializes test processes) and reads the components.
pub fn guests() -> &'static Guests {
    static GUESTS: OnceLock<Guests> = OnceLock::new();
    GUESTS.get_or_init(|| {
        let target = target_dir();
        let out = Command::new(env!("CARGO"))
            .args(["build", "--release", "--locked", "--target", "wasm32-wasip2", "--target-dir"])
            .arg(&target)
            .current_dir(repo().join("sdk"))
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .output()
            .expect("cargo runs");
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let missing = stderr.contains("may not be installed")
                || stderr.contains("can't find crate for `core`")
                || stderr.contains("can't find crate for `std`");
            if missing {
                panic!(
                    "the Rust target wasm32-wasip2 is not installed, so the test components cannot be built: run `rustup target add wasm32-wasip2`\n{stderr}"
                );
            }
            panic!("building the sdk/ components failed:\n{stderr}");
        }
        let dir = target.join("wasm32-wasip2/release");
        let read = |name: &str| std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        Guests {
            hostile: read("hostile.wasm"),
            transform: read("transform.wasm"),
            crm: read("acme_crm.wasm"),
            not_weft: read("not-weft.wasm"),
            bad_describe: read("bad_describe.wasm"),
        }
    })
}

/// A host with a private cache directory (kept for the process) and `config` otherwise.
pub fn host_with(mut config: WasmHostConfig) -> WasmHost {
    if config.cache_dir.is_none() {
        config.cache_dir = Some(shared_cache_dir());
    }
    WasmHost::new(config).expect("host starts")
}

/// One cache directory per test process, so each binary compiles each guest once.
pub fn shared_cache_dir() -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temp dir")).path().to_path_buf()
}

/// The hostile component, loaded into a default host (once per process).
pub async fn hostile() -> LoadedComponent {
    static HOSTILE: tokio::sync::OnceCell<LoadedComponent> = tokio::sync::OnceCell::const_new();
    HOSTILE
        .get_or_init(|| async {
            let host = host_with(WasmHostConfig::default());
            host.load(&guests().hostile).await.expect("hostile component loads")
        })
        .await
        .clone()
}

pub fn call(inputs: Value) -> Invocation {
    Invocation {
        inputs,
        connection: None,
        context: CallContext {
            execution_id: "exe_1".into(),
            instance_id: "ins_1".into(),
            customer_id: "cus_1".into(),
            flow_key: "flow".into(),
            step_path: "step".into(),
            idempotency_key: "exe_1:step".into(),
            attempt: 1,
            webhook_urls: Vec::new(),
        },
    }
}

/// Runs `action` of `component` with `inputs` and `limits`; returns the result and the services.
pub async fn run(
    component: &LoadedComponent,
    action: &str,
    inputs: Value,
    limits: &Limits,
) -> (Result<Value, StepError>, Arc<MemoryServices>) {
    let services = Arc::new(MemoryServices::new("instance:ins_1"));
    let r = component.invoke_action(action, call(inputs), limits, services.clone()).await;
    (r, services)
}
