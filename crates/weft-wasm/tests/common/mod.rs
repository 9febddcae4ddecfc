//! Shared test helpers: the guest components, built from `sdk/` source once per test process,
//! and hosts that load them.

#![allow(dead_code)]

// Shared with other crates' tests (`#[path]`), which run the same guests end to end.
mod guests;
#[allow(unused_imports)]
pub use guests::{GUEST_FILES, Guests, acme_crm_api, guests, prebuilt_dir};

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use serde_json::Value;
use weft_model::StepError;
use weft_wasm::{CallContext, Invocation, Limits, LoadedComponent, MemoryServices, WasmHost, WasmHostConfig};

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
